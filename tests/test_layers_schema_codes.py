"""Layer specs, conform(), GB/T 4754 and GB 32100 codes."""
from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import Point, box

from geo.errors import LayerNotFoundError, SchemaError
from layers.codes import credit_code_check_char, is_industrial, is_polluting, is_valid_credit_code
from layers.schema import LAYER_NAMES, SPECS, conform, get_spec, labels


def test_every_design_layer_has_a_spec():
    assert set(LAYER_NAMES) >= {"townships", "industrial_parks", "micro_parks", "plots", "enterprises",
                                "constraints", "infrastructure"}
    for spec in SPECS.values():
        assert spec.key in spec.field_names
        assert all(f.label_zh and f.label_en for f in spec.fields)


def test_labels_carry_units():
    assert labels("plots")["area_m2"] == "用地面积(m²)"
    assert labels("enterprises", "en")["tax_10k"] == "Tax(万元)"


def test_unknown_spec_lists_known():
    with pytest.raises(LayerNotFoundError, match="known layers: townships"):
        get_spec("parcels")


def test_conform_casts_and_adds_optional_fields():
    gdf = gpd.GeoDataFrame({"constraint_id": ["C1"], "kind": ["flood_zone"]}, geometry=[box(0, 0, 1, 1)], crs=4549)
    out = conform(gdf, "constraints")
    assert "name" in out.columns and out["name"].isna().all()


def test_conform_collects_every_problem():
    gdf = gpd.GeoDataFrame(
        {"constraint_id": ["C1", "C1", None], "kind": ["flood_zone", "swamp", "residential"]},
        geometry=[box(0, 0, 1, 1), Point(0, 0), box(0, 0, 2, 2)], crs=4549)
    with pytest.raises(SchemaError) as err:
        conform(gdf, "constraints")
    text = str(err.value)
    assert "'swamp'" in text and "duplicate key" in text and "required but empty" in text and "Point" in text
    assert len(err.value.details) == 4


def test_conform_missing_required_fields():
    with pytest.raises(SchemaError, match=r"missing required field\(s\) \['kind'\]"):
        conform(gpd.GeoDataFrame({"constraint_id": ["C1"]}, geometry=[box(0, 0, 1, 1)], crs=4549), "constraints")


def test_credit_code_check_character():
    # A published code (PetroChina) and one with its last character changed.
    assert is_valid_credit_code(["91110000710925462X", "91110000710925462Y", "9111000071092546", None]).tolist() == [
        True, False, False, False]
    assert credit_code_check_char(["91110000710925462"]).tolist() == ["X"]


def test_industry_classification():
    codes = ["3360", "1713", "2614", "3130", "3391", "4220", "3670", "1952", None]
    assert is_polluting(codes).tolist() == [True, True, True, True, True, True, False, False, False]
    assert is_industrial(["0610", "3670", "4690", "5920", None]).tolist() == [True, True, True, False, False]


def test_leading_industries_checked_on_conform():
    """Leading codes are read with any separator; text that is not a GB/T 4754 code is a problem."""
    ok = gpd.GeoDataFrame({"park_id": ["A", "B"], "name": ["甲", "乙"], "leading_industries": ["36、34", "C36；34 / 38"]},
                          geometry=[box(0, 0, 1, 1), box(2, 0, 3, 1)], crs=4549)
    conform(ok, "industrial_parks")
    bad = ok.assign(leading_industries=["汽车,36", "36"])
    with pytest.raises(SchemaError, match=r"leading_industries: 1 value\(s\) hold text that is not a GB/T 4754 code"
                                          r", e.g. '汽车'"):
        conform(bad, "industrial_parks")
    micro = gpd.GeoDataFrame({"park_id": ["M"], "name": ["小微园"], "status": ["operating"], "leading_industry": ["机械"]},
                             geometry=[box(0, 0, 1, 1)], crs=4549)
    with pytest.raises(SchemaError, match="leading_industry"):
        conform(micro, "micro_parks")


def test_leading_industries_checked_on_import(tmp_path):
    from layers.importers import plan_import

    parks = gpd.GeoDataFrame({"园区编号": ["A", "B"], "园区名称": ["甲", "乙"], "主导产业": ["36、34", "汽车、36"]},
                             geometry=[box(500_000, 3_080_000, 500_100, 3_080_100),
                                       box(500_200, 3_080_000, 500_300, 3_080_100)], crs=4549)
    parks.to_file(tmp_path / "parks.gpkg", driver="GPKG")
    plan = plan_import(tmp_path / "parks.gpkg", layer="industrial_parks")
    bad = plan.problems[plan.problems["code"] == "bad_industry_code"]
    assert len(bad) == 1 and bad["row"].iloc[0] == 2 and bad["value"].iloc[0] == "汽车"
    assert "不是 GB/T 4754 行业代码" in bad["message_zh"].iloc[0]
