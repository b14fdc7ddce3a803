"""Files as offices really send them (issue 13): 三调 and 宗地 fields, missing fields supplied, explicit modes
with their change and confirmation, join semantics, title rows, units in values, DMS coordinates, hygiene.

Every fixture is built here: a GBK Shapefile through pyogrio, a zip whose GBK member names lack the
UTF-8 flag, workbooks with merged title rows through openpyxl, rasters through rasterio.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import warnings
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.errors import CRSError, ImportDataError, MissingCRSError, SchemaError
from geo.units import M2_PER_MU
from layers.access import SYSTEM
from layers.imports import commit_import, load_mapping, plan_import
from layers.imports.catalogue import CATALOGUES
from layers.imports.columns import auto_map
from layers.imports.coords import parse_coordinates
from layers.schema import SPECS, get_spec
from layers.store import open_workspace
from tests.office_files import GbkName as _GbkName, park_place, sandiao_shapefile, xlsx


@pytest.fixture
def ws(tmp_path, sample_path):
    path = tmp_path / "ws.gpkg"
    shutil.copyfile(sample_path, path)
    return open_workspace(path, readonly=False)


@pytest.fixture(scope="module")
def place(sample_path):
    return park_place(sample_path)


# ----------------------------------------------------------------------------- 1. catalogues
def test_catalogue_entries_name_real_fields_with_sources():
    for name, (layer, entries) in CATALOGUES.items():
        spec = get_spec(layer)
        for e in entries:
            assert e.field is None or e.field in spec.field_names, (name, e)
            assert e.source, e


def test_sandiao_codes_map_onto_plots_best_ranked_first():
    cols = ["BSM", "TBBH", "DLBM", "DLMC", "ZLDWDM", "TBMJ", "TBDLMJ", "KCMJ"]
    m = auto_map(cols, SPECS["plots"])
    got = {c.field: c for c in m.maps}
    assert got["plot_id"].source == "BSM" and got["land_use"].source == "DLBM"
    assert got["area_m2"].source == "TBMJ" and got["area_m2"].unit == "平方米"  # TBMJ outranks TBDLMJ
    assert got["township_code"].source == "ZLDWDM" and got["township_code"].take == 9
    assert {"TBBH", "DLMC", "TBDLMJ", "KCMJ"} <= set(m.recognised) and not m.problems_en


def test_zongdi_and_department_headers():
    zd = {c.field: c.source for c in auto_map(["BSM", "ZDDM", "BDCDYH", "ZDMJ", "YT", "RJL", "JZMD", "QLR"],
                                              SPECS["plots"]).maps}
    assert zd == {"plot_id": "ZDDM", "area_m2": "ZDMJ", "land_use": "YT", "far": "RJL", "building_coverage": "JZMD"}
    dept = {c.field: c.source for c in auto_map(["纳税人识别号", "纳税人名称", "实缴税金(万元)", "年均职工人数",
                                                 "综合能源消费量(吨标准煤)"], SPECS["enterprises"]).maps}
    assert dept == {"credit_code": "纳税人识别号", "name": "纳税人名称", "tax_10k": "实缴税金(万元)",
                    "employees": "年均职工人数", "energy_tce": "综合能源消费量(吨标准煤)"}


# ----------------------------------------------------------------------------- 2. supplying fields
def test_sandiao_without_status_is_blocked_but_complete(ws, tmp_path, place):
    shp = sandiao_shapefile(tmp_path / "s", place)
    plan = plan_import(shp, layer="plots", workspace=ws)
    assert plan.encoding.encoding == "GB18030" and plan.missing == ["status"] and not plan.ready
    assert {m.field for m in plan.mapping} >= {"plot_id", "land_use", "area_m2", "township_code"}  # the mapping step has it
    assert "--set status=in_use" in plan.summary("en") and "利用状态" in plan.summary("zh")
    with pytest.raises(SchemaError, match="required column"):
        commit_import(ws, plan, actor=SYSTEM, confirm_removal=True)


def test_sandiao_imports_from_the_cli_with_set_and_derive(ws, tmp_path, place, capsys):
    import cli

    shp = sandiao_shapefile(tmp_path / "s", place)
    before = len(ws.read("plots"))
    assert cli.main(["import", "--workspace", str(ws.path), "--layer", "plots", "--file", str(shp), "--mode", "upsert",
                     "--set", "status=in_use", "--derive", "park_id", "--save-mapping", "sandiao"]) == 0
    out = capsys.readouterr().out
    assert "added 3" in out and "removed 0" in out
    got = ws.read("plots").set_index("plot_id")
    assert len(got) == before + 3
    new = got.loc[["330381200000", "330381200001", "330381200002"]]
    assert new["status"].tolist() == ["in_use"] * 3 and new["land_use"].tolist() == ["0601"] * 3
    assert new["township_code"].tolist() == [place["township"]] * 3  # the first 9 digits of ZLDWDM
    assert new["park_id"].tolist() == [place["park"]] * 3  # derived from the park polygons
    assert new["area_m2"].tolist() == [400.0] * 3  # TBMJ, m²
    meta = ws.metadata("plots")["extra"]["importer"]
    assert meta["supplied"] == {"status": "constant in_use", "park_id": "derived"} and meta["change"]["added"] == 3
    saved = load_mapping(ws, "sandiao")  # next year's 三调 file: the same constants and derived fields
    assert saved["set"] == {"status": "in_use"} and saved["derive"] == ["park_id"]
    again = plan_import(sandiao_shapefile(tmp_path / "t", place, start=10), layer="plots", workspace=ws, mode="upsert",
                        mapping=saved)
    assert again.ready and set(again.frame["status"]) == {"in_use"} and set(again.frame["park_id"]) == {"IP01"}


@pytest.mark.parametrize("value,match", [("abc", "in_use"), ("", "in_use")])
def test_bad_constant_lists_the_values(tmp_path, place, value, match):
    shp = sandiao_shapefile(tmp_path / "s", place)
    with pytest.raises(ImportDataError, match=match):
        plan_import(shp, layer="plots", constants=[f"status={value}"])
    with pytest.raises(ImportDataError, match="has no field 'nosuch'"):
        plan_import(shp, layer="plots", constants=["nosuch=1"])


def test_derive_township_by_largest_overlap_and_area(ws, tmp_path, place):
    towns = ws.read("townships")
    a, b = towns.iloc[0], towns.iloc[1]
    line = shapely.intersection(a.geometry.boundary, b.geometry.boundary)
    p = shapely.get_coordinates(line)[0]
    # 30 × 10 m straddling the border, more of it on a's side; and a plot deep inside b.
    inside_a = shapely.box(p[0] - 15, p[1] - 5, p[0] + 15, p[1] + 5)
    share = inside_a.intersection(a.geometry).area / inside_a.area
    deep = shapely.box(*shapely.buffer(b.geometry.representative_point(), 10).bounds)
    g = gpd.GeoDataFrame({"地块编号": ["D1", "D2"], "用地分类": ["0601"] * 2, "利用状态": ["在用"] * 2},
                         geometry=[inside_a, deep], crs="EPSG:4549")
    g.to_file(tmp_path / "d.geojson", driver="GeoJSON")
    plan = plan_import(tmp_path / "d.geojson", layer="plots", workspace=ws, derive=["township_code"], mode="upsert")
    overlaps = towns.geometry.intersection(inside_a).area  # by hand: the township holding most of the plot
    assert share > 0 and plan.frame["township_code"].tolist() == [towns["code"].iloc[int(overlaps.argmax())], b["code"]]
    assert plan.frame["area_m2"].tolist() == pytest.approx([300.0, 400.0])


# ----------------------------------------------------------------------------- 3. modes
def one_township_file(ws, tmp_path, n=2) -> tuple[Path, str]:
    plots = ws.read("plots")
    town = plots["township_code"].value_counts().index[-1]
    rows = plots[plots["township_code"] == town].head(n)
    g = gpd.GeoDataFrame({"地块编号": rows["plot_id"].tolist(), "用地分类": ["0601"] * n, "利用状态": ["闲置"] * n,
                          "所在镇街": [town] * n}, geometry=rows.geometry.tolist(), crs=plots.crs)
    path = tmp_path / "one_town.geojson"
    g.to_file(path, driver="GeoJSON")
    return path, str(town)


def test_a_small_file_never_silently_replaces_the_layer(ws, tmp_path, capsys):
    import cli

    path, town = one_township_file(ws, tmp_path)
    before = ws.path.read_bytes()
    n = len(ws.read("plots"))
    plan = plan_import(path, layer="plots", workspace=ws)  # auto
    assert plan.mode == "replace" and plan.change().removed == n - 2 and plan.change().after == 2
    with pytest.raises(ImportDataError, match=f"would remove {n - 2:,} of the {n:,} rows"):
        commit_import(ws, plan, actor=SYSTEM)
    assert cli.main(["import", "--workspace", str(ws.path), "--layer", "plots", "--file", str(path)]) == 2
    assert "--yes" in capsys.readouterr().err and ws.path.read_bytes() == before
    assert cli.main(["import", "--workspace", str(ws.path), "--layer", "plots", "--file", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"{n:,} → 2 row(s); added 0, changed 2, removed {n - 2:,}" in out and ws.path.read_bytes() == before


def test_replace_within_one_township(ws, tmp_path, capsys):
    import cli

    path, town = one_township_file(ws, tmp_path)
    plots = ws.read("plots")
    in_town = int((plots["township_code"] == town).sum())
    args = ["import", "--workspace", str(ws.path), "--layer", "plots", "--file", str(path),
            "--mode", "replace_township", "--township", town]
    assert cli.main(args) == 2  # removes the township's other plots: needs --yes
    assert f"would remove {in_town - 2:,}" in capsys.readouterr().err
    assert cli.main(args + ["--yes"]) == 0
    after = ws.read("plots")
    assert len(after) == len(plots) - in_town + 2
    others = plots[plots["township_code"] != town]
    kept = after.set_index("plot_id").loc[others["plot_id"]]
    assert kept["status"].tolist() == others["status"].tolist()  # other townships untouched
    assert after.loc[after["township_code"] == town, "status"].tolist() == ["idle", "idle"]


def test_replace_township_refuses_rows_of_another_township(ws, tmp_path):
    path, town = one_township_file(ws, tmp_path)
    g = gpd.read_file(path)
    g.loc[0, "所在镇街"] = "330381001" if town != "330381001" else "330381002"
    g.to_file(path, driver="GeoJSON")
    plan = plan_import(path, layer="plots", workspace=ws, mode="replace_township", township=town)
    assert set(plan.counts()) == {"other_township"}


def test_append_and_upsert(ws, tmp_path):
    plots = ws.read("plots")
    first = plots.iloc[0]
    g = gpd.GeoDataFrame({"地块编号": [first["plot_id"], "NEW1"], "用地分类": ["0601", "0601"],
                          "利用状态": ["停产", "在用"], "容积率": [2.5, 1.0]},
                         geometry=[first.geometry, shapely.box(560_000, 3_070_000, 560_050, 3_070_050)], crs=plots.crs)
    g.to_file(tmp_path / "u.geojson", driver="GeoJSON")
    append = plan_import(tmp_path / "u.geojson", layer="plots", workspace=ws, mode="append")
    assert append.counts() == {"key_exists": 1}
    upsert = plan_import(tmp_path / "u.geojson", layer="plots", workspace=ws, mode="upsert")
    change = upsert.change()
    assert (change.added, change.changed, change.removed) == (1, 1, 0)
    cells = change.cells.set_index("field")
    assert cells.loc["status", "old"] == first["status"] and cells.loc["status", "new"] == "halted"
    commit_import(ws, upsert, actor=SYSTEM)
    after = ws.read("plots").set_index("plot_id")
    assert len(after) == len(plots) + 1
    assert after.loc[first["plot_id"], "far"] == 2.5
    assert after.loc[first["plot_id"], "land_holder"] == first["land_holder"]  # a field the file lacks is kept


# ----------------------------------------------------------------------------- 4. join semantics
def test_join_fix_empties_the_bad_cell_and_lists_each_change(ws, tmp_path):
    e = ws.read("enterprises", columns=["credit_code", "tax_10k", "employees"]).head(3)
    codes = e["credit_code"].tolist()
    text = ("统一社会信用代码,税收(万元),年均职工人数\n"
            f"{codes[0]},abc,10\n{codes[1]},,11\n{codes[2]},5,12\n")
    (tmp_path / "tax.csv").write_text(text, encoding="utf-8")
    plan = plan_import(tmp_path / "tax.csv", layer="enterprises", workspace=ws)
    assert plan.mode == "join" and plan.counts() == {"bad_value": 1}
    change = plan.change("fix")
    cells = change.cells.set_index(["key", "field"])
    assert pd.isna(cells.loc[(codes[0], "tax_10k"), "new"])  # emptied, not last year's value
    assert cells.loc[(codes[0], "tax_10k"), "old"] == e["tax_10k"].iloc[0]
    assert (codes[1], "tax_10k") not in cells.index  # an empty cell keeps the stored value
    assert cells.loc[(codes[2], "tax_10k"), "new"] == 5.0
    result = commit_import(ws, plan, actor=SYSTEM, on_problems="fix")
    got = ws.read("enterprises").set_index("credit_code")
    assert pd.isna(got.loc[codes[0], "tax_10k"]) and got.loc[codes[1], "tax_10k"] == e["tax_10k"].iloc[1]
    assert got.loc[codes, "employees"].tolist() == [10, 11, 12]
    assert len(result.cells) == len(change.cells) and result.changed == 3
    stored = ws.metadata("enterprises")["extra"]["importer"]["cells_changed"]
    assert [codes[0], "tax_10k", f"{e['tax_10k'].iloc[0]:g}", "(empty)"] in stored


# ----------------------------------------------------------------------------- 5. headers and values
def tax_book(ws, year: int, path: Path, *, caption: bool = False) -> Path:
    e = ws.read("enterprises", columns=["credit_code", "name"]).head(3)
    rows = [[f"{year}年度规上工业企业实缴税金明细表(税务局)"]]
    if caption:
        rows.append(["填报单位:瑞安市税务局", None, None, "单位:万元"])
    rows.append(["统一社会信用代码", "企业名称", f"{year}年实缴税金(万元)", "年均职工人数"])
    rows += [[c, n, 10 + i, 20 + i] for i, (c, n) in enumerate(zip(e["credit_code"], e["name"]))]
    xlsx(rows, merges=("A1:C1",), path=path)
    return path


def test_title_rows_are_left_out_and_next_years_file_matches_the_mapping(ws, tmp_path):
    plan = plan_import(tax_book(ws, 2025, tmp_path / "t2025.xlsx"), layer="enterprises", workspace=ws,
                       mapping={"columns": {"2025年实缴税金(万元)": "tax_10k"}})
    assert {m.source: m.field for m in plan.mapping} == {"统一社会信用代码": "credit_code", "企业名称": "name",
                                                         "2025年实缴税金(万元)": "tax_10k", "年均职工人数": "employees"}
    commit_import(ws, plan, actor=SYSTEM, save_mapping_as="tax")
    nxt = plan_import(tax_book(ws, 2026, tmp_path / "t2026.xlsx", caption=True), layer="enterprises", workspace=ws,
                      mapping=load_mapping(ws, "tax"))
    assert nxt.ready and {m.source: m.field for m in nxt.mapping}["2026年实缴税金(万元)"] == "tax_10k"


def test_a_failing_mapping_lists_the_columns_once_and_short(ws, tmp_path):
    cols = [f"指标{i:02d}(万元)" for i in range(40)]
    xlsx([["统一社会信用代码", *cols], ["x", *range(40)]], path=tmp_path / "wide.xlsx")
    plan = plan_import(tmp_path / "wide.xlsx", layer="enterprises", workspace=ws,
                       mapping={f"旧列{i}": "tax_10k" for i in range(6)})
    msg = plan.blocking[0][0]
    assert msg.count("指标00") == 1 and "(+29)" in msg and len(msg) < 500  # 41 columns: 12 shown


@pytest.mark.parametrize("cell,header,field,expected", [
    ("300万元", "税收(万元)", "tax_10k", 300.0),
    ("1.2亿", "税收(万元)", "tax_10k", 12_000.0),
    ("3000000元", "税收(万元)", "tax_10k", 300.0),
    ("300万", "税收(元)", "tax_10k", 300.0),
    ("5亩", "用地面积(平方米)", "land_area_m2", 5 * M2_PER_MU),
    ("2公顷", "用地面积", "land_area_m2", 20_000.0),
    ("1,200平方米", "用地面积(亩)", "land_area_m2", 1_200.0),
    ("１２．５", "税收(万元)", "tax_10k", 12.5),  # full-width digits and point
    ("50人", "年均职工人数", "employees", 50),
])
def test_units_in_values_agreeing_with_the_column(ws, tmp_path, cell, header, field, expected):
    code = ws.read("enterprises", columns=["credit_code"])["credit_code"].iloc[0]
    xlsx([["统一社会信用代码", header], [code, cell]], path=tmp_path / "u.xlsx")
    plan = plan_import(tmp_path / "u.xlsx", layer="enterprises", workspace=ws)
    assert plan.problems.empty, plan.problems
    assert plan.frame[field].iloc[0] == pytest.approx(expected)


@pytest.mark.parametrize("cell,header,suggestion", [
    ("约50", "年均职工人数", "50"), ("50左右", "税收(万元)", "50"), ("近3亩", "用地面积", f"{3 * M2_PER_MU:g}"),
    ("50万元", "年均职工人数", "50"), ("三百", "税收(万元)", None),
])
def test_other_values_are_flagged_with_a_suggestion(ws, tmp_path, cell, header, suggestion):
    code = ws.read("enterprises", columns=["credit_code"])["credit_code"].iloc[0]
    xlsx([["统一社会信用代码", header], [code, cell]], path=tmp_path / "s.xlsx")
    plan = plan_import(tmp_path / "s.xlsx", layer="enterprises", workspace=ws)
    row = plan.problems.iloc[0]
    assert row["code"] == "bad_value" and row["suggestion"] == suggestion
    if suggestion:
        assert f"({suggestion}?)" in row["message"] and f"应为 {suggestion}?" in row["message_zh"]


def test_full_width_codes_and_labels(ws, tmp_path):
    code = ws.read("enterprises", columns=["credit_code"])["credit_code"].iloc[1]  # ends in letters
    wide = code.translate({ord(c): ord(c) + 0xFEE0 for c in code if c.isalnum()})
    xlsx([["统一社会信用代码", "税收（万元）"], [wide, "１６．３５"]], path=tmp_path / "fw.xlsx")
    plan = plan_import(tmp_path / "fw.xlsx", layer="enterprises", workspace=ws)
    assert plan.problems.empty and plan.frame["credit_code"].iloc[0] == code
    assert plan.frame["tax_10k"].iloc[0] == 16.35


def test_dms_coordinates(tmp_path):
    assert parse_coordinates(pd.Series(["120°39'00\"E", "E120°39′36″", "120度39分00秒", "北纬27°48'",
                                        "27°48'S", "120.65", ""])).round(6).tolist()[:6] == \
        [120.65, 120.66, 120.65, 27.8, -27.8, 120.65]
    text = "地块编号,用地分类,利用状态,经度,纬度\nA,0601,在用,120°39'00\"E,27°48'00\"N\n"
    (tmp_path / "dms.csv").write_text(text, encoding="utf-8")
    with pytest.raises(MissingCRSError, match="EPSG:4490"):  # read as degrees; the CRS is still never guessed
        plan_import(tmp_path / "dms.csv", layer="plots")
    plan = plan_import(tmp_path / "dms.csv", layer="plots", crs="EPSG:4490")
    pt = plan.frame.to_crs("EPSG:4490").geometry.iloc[0]
    assert (pt.x, pt.y) == pytest.approx((120.65, 27.8))
    (tmp_path / "bad.csv").write_text("地块编号,用地分类,利用状态,经度,纬度\nA,0601,在用,东边,北边\n", encoding="utf-8")
    with pytest.raises(ImportDataError, match="no row has readable coordinates.*度分秒|no row has readable coordinates"):
        plan_import(tmp_path / "bad.csv", layer="plots", crs="EPSG:4490")


# ----------------------------------------------------------------------------- 6. hygiene
def test_messages_name_the_file_not_the_server_folder(tmp_path):
    upload = tmp_path / "planner-upload-abc123"
    upload.mkdir()
    import rasterio
    from rasterio.transform import from_origin

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(upload / "dem.tif", "w", driver="GTiff", width=4, height=4, count=1, dtype="uint8",
                           transform=from_origin(560_000, 3_070_100, 10, 10)) as d:
            d.write(np.ones((1, 4, 4), "uint8"))
    with pytest.raises(MissingCRSError) as info:
        plan_import(upload / "dem.tif", layer="dem")
    text = info.value.message + info.value.message_zh + repr(info.value.details)
    assert "dem.tif" in text and str(upload) not in text and "planner-upload" not in text


def test_gaode_hint(tmp_path):
    feature = {"type": "Feature", "properties": {"地块编号": "G1", "用地分类": "0601", "利用状态": "在用",
                                                 "source": "gaode"},
               "geometry": {"type": "Point", "coordinates": [120.65, 27.78]}}
    doc = {"type": "FeatureCollection", "features": [feature]}
    (tmp_path / "g.geojson").write_text(json.dumps(doc), encoding="utf-8")
    plan = plan_import(tmp_path / "g.geojson", layer="g_points")
    assert plan.hints and "--gcj02" in plan.summary("en") and "GCJ-02" in plan.summary("zh")
    assert not plan_import(tmp_path / "g.geojson", layer="g_points", gcj02=True).hints
    (tmp_path / "g.csv").write_text("名称,来源,经度,纬度\n甲,高德地图,120.65,27.78\n", encoding="utf-8")
    with pytest.raises(MissingCRSError, match="GCJ-02") as info:
        plan_import(tmp_path / "g.csv", layer="g_points")
    assert "高德" in info.value.message_zh


@pytest.mark.parametrize("content", ["", "   ", "{}", "[]", '{"type": "FeatureCollection"}',
                                     '{"type": "FeatureCollection", "features": []}'])
def test_empty_geojson_says_so(tmp_path, content):
    (tmp_path / "e.geojson").write_text(content, encoding="utf-8")
    with pytest.raises(ImportDataError, match=r"e\.geojson: (an empty GeoJSON|the file is empty \(0 bytes\))") as info:
        plan_import(tmp_path / "e.geojson", layer="plots")
    assert "为空" in info.value.message_zh


def _tif(path: Path, **profile) -> Path:
    import rasterio

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NotGeoreferencedWarning: that is the point of these files
        with rasterio.open(path, "w", driver="GTiff", width=10, height=10, count=1, dtype="float32", **profile) as d:
            d.write(np.ones((1, 10, 10), "float32"))
    return path


@pytest.mark.parametrize("kind", ["nothing", "crs_only", "transform_only"])
def test_half_georeferenced_rasters_get_a_hint_that_works(tmp_path, kind):
    from rasterio.transform import from_origin

    x0, y0 = 560_000.0, 3_070_100.0
    profile = {"nothing": {}, "crs_only": {"crs": "EPSG:4549"},
               "transform_only": {"transform": from_origin(x0, y0, 10, 10)}}[kind]
    src = _tif(tmp_path / "in.tif", **profile)
    with pytest.raises(CRSError) as info:
        plan_import(src, layer="dem")
    message = info.value.message
    if kind == "transform_only":
        assert "--crs EPSG:4549" in message
        assert plan_import(src, layer="dem", crs="EPSG:4549").raster_info["bands"] == 1  # the hint works
        command = ["gdal_translate", "-q", "-a_srs", "EPSG:4549", str(src), str(tmp_path / "out.tif")]
    else:
        assert "-a_ullr" in message
        with pytest.raises(CRSError, match="-a_ullr"):  # declaring a CRS is not enough, and says so
            plan_import(src, layer="dem", crs="EPSG:4549")
        srs = ["-a_srs", "EPSG:4549"] if kind == "nothing" else []
        command = ["gdal_translate", "-q", *srs, "-a_ullr", str(x0), str(y0), str(x0 + 100), str(y0 - 100), str(src),
                   str(tmp_path / "out.tif")]
    subprocess.run(command, check=True)  # follow the hint with GDAL itself
    plan = plan_import(tmp_path / "out.tif", layer="dem")
    assert plan.raster_info["bounds"] == pytest.approx([x0, y0 - 100, x0 + 100, y0])


def test_gbk_member_names_without_the_utf8_flag(tmp_path, place):
    shp = sandiao_shapefile(tmp_path / "s", place)
    z = tmp_path / "三调.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in sorted(shp.parent.glob("DLTB.*")):
            zf.writestr(_GbkName(f"瑞安市/地类图斑{f.suffix}"), f.read_bytes())
    with zipfile.ZipFile(z) as zf:
        assert all(not (i.flag_bits & 0x800) for i in zf.infolist())
        assert "地类图斑" not in zf.namelist()[0]  # Python itself shows mojibake
    plan = plan_import(z, layer="plots", constants={"status": "在用"})
    assert plan.source_name == "三调.zip/瑞安市/地类图斑.shp" and plan.rows == 3
    again = plan_import(z, layer="plots", member="瑞安市/地类图斑.shp", constants={"status": "在用"})
    assert again.rows == 3
    with pytest.raises(ImportDataError, match="瑞安市/地类图斑.shp"):
        plan_import(z, layer="plots", member="nope.shp")
