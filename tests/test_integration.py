"""Joint-development zones: links with reasons on tiny geometries, components, the sample."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString, Point, box

from analysis import integration
from geo.errors import ParameterError
from geo.units import M2_PER_MU

CRS = "EPSG:4549"


def params(**kw):
    base = integration.integration_params_from_dict({"integration": {
        "max_gap_m": 500.0, "min_similarity": 0.8, "road_distance_m": 200.0, "road_kinds": ["national_road"]}})
    return dataclass_replace(base, **kw)


def dataclass_replace(p, **kw):
    import dataclasses

    return dataclasses.replace(p, **kw)


@pytest.fixture
def world():
    # Four 1 km squares along x: A|B touch (townships T1/T2), C is 300 m right of B (T3), D 2 km away (T4).
    zones = gpd.GeoDataFrame({
        "park_id": ["A", "B", "C", "D", "X"], "name": ["za", "zb", "zc", "zd", "logistics"],
        "kind": ["镇街工业功能区"] * 4 + ["物流园区"],
        "township_code": ["T1", "T2", "T3", "T4", "T2"],
    }, geometry=[box(0, 0, 1000, 1000), box(1000, 0, 2000, 1000), box(2300, 0, 3300, 1000),
                 box(5300, 0, 6300, 1000), box(1000, 1000, 2000, 2000)], crs=CRS)
    # firms: A and B are machinery (34) heavy, C is textiles (17), D machinery
    pts, codes = [], []
    for (x0, mix) in ((0, ["3411"] * 8 + ["3311"] * 2), (1000, ["3412"] * 9 + ["3312"]),
                      (2300, ["1711"] * 10), (5300, ["3411"] * 10)):
        for k, c in enumerate(mix):
            pts.append(Point(x0 + 50 + 90 * k, 500))
            codes.append(c)
    ents = gpd.GeoDataFrame({"industry_code": codes, "land_area_m2": 1000.0}, geometry=pts, crs=CRS)
    roads = gpd.GeoDataFrame({"feature_id": ["R1", "R2"], "kind": ["national_road", "expressway"],
                              "name": ["G104", "G15"]},
                             geometry=[LineString([(-500, 1100), (7000, 1100)]), LineString([(0, -300), (7000, -300)])],
                             crs=CRS)
    return zones, ents, roads


def test_links_with_reasons(world):
    zones, ents, roads = world
    res = integration.find_joint_zones(zones, params=params(), enterprises=ents, infrastructure=roads)
    links = res.links.set_index(["zone_a", "zone_b"])
    # only pairs within 500 m are candidates: A–B (touch) and B–C (300 m); the logistics park is filtered out
    assert set(links.index) == {("A", "B"), ("B", "C")}
    ab, bc = links.loc[("A", "B")], links.loc[("B", "C")]
    assert ab["touches"] and ab["distance_m"] == 0
    # cos([8,2],[9,1]) = (72 + 2) / (√68 · √82)
    assert ab["similarity"] == pytest.approx(74 / np.sqrt(68 * 82))
    assert ab["shared_roads"] == "G104" and ab["linked"]
    assert "touching" in ab["reason"] and "G104" in ab["reason"] and ab["reason"].startswith("linked")
    assert bc["distance_m"] == pytest.approx(300)
    assert bc["similarity"] == pytest.approx(0.0) and not bc["linked"]
    assert "industries differ" in bc["reason"]
    assert ab["reason_zh"] == "关联:间距 0 米 ≤ 500 米(相邻);跨镇街 T1/T2;产业相似度 0.99 ≥ 0.8;两区 200 米内均有 G104"
    assert bc["reason_zh"].startswith("未关联(产业不相似):间距 300 米") and "产业相似度 0.00 < 0.8" in bc["reason_zh"]
    assert res.links.geom_type.eq("LineString").all()
    # one joint zone from A and B
    jz = res.joint_zones
    assert len(jz) == 1
    row = jz.iloc[0]
    assert row["zones"] == "A, B" and row["townships"] == "T1, T2" and row["n_firms"] == 20
    assert row["area_mu"] == pytest.approx(2e6 / M2_PER_MU)
    assert row["dominant_industries"].startswith("34 85%")
    assert jz.geometry.iloc[0].area == pytest.approx(2e6)
    z = res.zones.set_index("park_id")
    assert z.loc["A", "joint_zone"] == 1 and z.loc["B", "joint_zone"] == 1 and pd.isna(z.loc["C", "joint_zone"])
    assert res.zones.index.equals(zones.index[zones["kind"] == "镇街工业功能区"])


def test_each_condition_can_block(world):
    zones, ents, roads = world
    # same township → no link when cross-township is required
    z2 = zones.copy()
    z2.loc[1, "township_code"] = "T1"
    res = integration.find_joint_zones(z2, params=params(), enterprises=ents, infrastructure=roads)
    ab = res.links.set_index(["zone_a", "zone_b"]).loc[("A", "B")]
    assert not ab["linked"] and "same township" in ab["reason"] and len(res.joint_zones) == 0
    assert ab["reason_zh"].startswith("未关联(同一镇街):") and ";同一镇街;" in ab["reason_zh"]
    res = integration.find_joint_zones(z2, params=params(require_cross_township=False), enterprises=ents,
                                       infrastructure=roads)
    assert len(res.joint_zones) == 1
    # no shared road within 200 m: only the expressway at y = -300 counts
    res = integration.find_joint_zones(zones, params=params(road_kinds=("expressway",)), enterprises=ents,
                                       infrastructure=roads)
    ab = res.links.set_index(["zone_a", "zone_b"]).loc[("A", "B")]
    assert not ab["linked"] and "no shared road" in ab["reason"]
    assert ab["reason_zh"].startswith("未关联(无共同道路):") and ab["reason_zh"].endswith("两区 200 米内无共同道路")
    res = integration.find_joint_zones(zones, params=params(road_kinds=("expressway",), road_distance_m=400.0),
                                       enterprises=ents, infrastructure=roads)
    assert res.links.set_index(["zone_a", "zone_b"]).loc[("A", "B"), "shared_roads"] == "G15"
    # a wider gap makes C–D a candidate (2 km) and chains nothing new (different industries)
    res = integration.find_joint_zones(zones, params=params(max_gap_m=2500.0, min_similarity=0.0), enterprises=ents,
                                       infrastructure=roads)
    assert set(res.joint_zones["zones"]) == {"A, B, C, D"}


def test_params_and_empty_inputs(world):
    zones, _, _ = world
    with pytest.raises(ParameterError, match=r"2 problem\(s\)"):
        integration.integration_params_from_dict({"integration": {"min_similarity": 2, "industry_weight": "tax"}})
    res = integration.find_joint_zones(zones.iloc[:0], params=params())
    assert len(res.links) == 0 and len(res.joint_zones) == 0 and "reason_zh" in res.links.columns
    res = integration.find_joint_zones(zones, params=params())  # no firms, no roads: nothing links, reasons say why
    assert (~res.links["linked"]).all() and res.links["reason"].str.contains("industries differ").all()
    assert res.links["reason_zh"].str.startswith("未关联(产业不相似、无共同道路)").all()


@pytest.mark.slow
def test_sample_end_to_end_cli(sample_copy, capsys):
    """The CLI on a copy of the sample, once as a GeoPackage and once in PostGIS."""
    import cli
    from layers.store import open_workspace

    ws_path = sample_copy.location
    assert cli.main(["integrate", "--workspace", ws_path, "--run-id", "t1"]) == 0
    out = capsys.readouterr().out
    assert "candidate pairs" in out
    ws = open_workspace(ws_path)
    zones = ws.read("integration_t1_zones")
    links = ws.read("integration_t1_links")
    assert set(zones["kind"]) == {"镇街工业功能区"}
    assert links["reason"].notna().all()
    if links["linked"].any():
        joint = ws.read("integration_t1_joint")
        assert (joint["n_townships"] >= 2).all()
    assert "integration_t1" in set(ws.read_table("runs")["run_id"])
