"""Redevelopment: potential, distances, exact zonal statistics, constraint shares, suitability,
modes and contiguous clusters — each on a geometry small enough to check by hand."""
from __future__ import annotations

import dataclasses

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin
from scipy.sparse.csgraph import connected_components

from analysis import low_efficiency, redevelopment
from analysis.params import load_preset
from tests.analysis_frames import CRS, X0, Y0, constraints, infrastructure, parks, plot, plots

AS_OF = pd.Timestamp("2026-06-30")


@pytest.fixture(scope="module")
def preset():
    return load_preset("huangyan_2022")


@pytest.fixture(scope="module")
def rp(preset):
    # every industrial plot is a candidate, so each case below is assessed
    return dataclasses.replace(preset.redevelopment, candidates="industrial")


def assessed(preset, rows, **kw):
    return low_efficiency.assess(plots(rows), preset.low_efficiency, as_of=AS_OF, parks=kw.pop("parks", None))


def write_raster(path, array, *, x0=X0, y0=Y0 + 1000, res=100.0, nodata=-9999.0):
    with rasterio.open(path, "w", driver="GTiff", width=array.shape[1], height=array.shape[0], count=1,
                       dtype="float32", crs=CRS, transform=from_origin(x0, y0, res, res), nodata=nodata) as ds:
        ds.write(array.astype("float32"), 1)
    return path


def test_added_floor_and_release(preset, rp):
    le = assessed(preset, [plot("A", 0, 0, far=0.5), plot("B", 200, 0, far=2.5)])
    red = redevelopment.assess(le, rp).plots.set_index("plot_id")
    assert red.loc["A", "added_floor_m2"] == pytest.approx((2.0 - 0.5) * 10_000)   # (target − FAR) × area
    assert red.loc["B", "added_floor_m2"] == 0.0                                    # already above target
    assert red.loc["A", "release_m2"] == pytest.approx(10_000)
    assert red.loc["A", "area_mu"] == pytest.approx(15.0)


def test_distances_by_kind(preset, rp):
    le = assessed(preset, [plot("A", 0, 0), plot("B", 1000, 0)])
    infra = infrastructure([("R1", "expressway", ((-500, 400), (2000, 400))),        # 300 m above both plots
                            ("R2", "provincial_road", ((1050, -1000), (1050, 1000))),  # crosses B
                            ("L1", "logistics_centre", (0, -100))])
    pk = parks([("IP1", "industrial_park", False, -50, -50, 150, 150)])             # A inside
    cons = constraints([("H1", "residential", 1300, 0, 1400, 100)])
    red = redevelopment.assess(le, rp, parks=pk, infrastructure=infra, constraints=cons).plots.set_index("plot_id")
    assert red.loc["A", "dist_expressway_m"] == pytest.approx(300)
    assert red.loc["A", "dist_park_m"] == 0.0
    assert red.loc["B", "dist_park_m"] == pytest.approx(850)
    assert red.loc["B", "dist_provincial_road_m"] == 0.0                            # the road crosses B
    assert red.loc["B", "dist_road_m"] == 0.0 and red.loc["A", "dist_road_m"] == pytest.approx(300)
    assert red.loc["A", "dist_logistics_centre_m"] == pytest.approx(100)
    assert red.loc["B", "dist_residential_m"] == pytest.approx(200)
    assert np.isnan(red.loc["A", "dist_port_m"])                                   # no port in the data


def test_exact_zonal_statistics(preset, rp, tmp_path):
    # 100 m cells; row 9 (the plots' row, y 0–100) holds 1, 2, 3, 4 …; plot A spans half of cell 0
    # and half of cell 1 → exact mean 1.5 (a centroid-in-cell method would give 1 or 2).
    slope = np.tile(np.arange(1, 11, dtype=float), (10, 1))
    flood = np.zeros((10, 10))
    flood[9, 3] = 0.8
    flood[9, 4] = 0.3
    s = write_raster(tmp_path / "slope.tif", slope)
    f = write_raster(tmp_path / "flood.tif", flood)
    le = assessed(preset, [plot("A", 50, 0), plot("B", 300, 0, w=200)])
    red = redevelopment.assess(le, rp, rasters={"slope": s, "flood_depth": f}).plots.set_index("plot_id")
    assert red.loc["A", "slope_mean"] == pytest.approx(1.5)
    assert red.loc["B", "slope_mean"] == pytest.approx(4.5)
    assert red.loc["B", "flood_depth_max"] == pytest.approx(0.8)


def test_constraint_shares_count_overlaps_once(preset, rp):
    le = assessed(preset, [plot("A", 0, 0)])
    cons = constraints([("F1", "flood_zone", 0, 0, 50, 100), ("F2", "flood_zone", 0, 0, 50, 100),   # same half twice
                        ("E1", "ecological_red_line", 90, 0, 200, 100)])                           # 10 % of A
    red = redevelopment.assess(le, rp, constraints=cons).plots.iloc[0]
    assert red["share_flood_zone"] == pytest.approx(0.5)
    assert red["soft_constraint_share"] == pytest.approx(0.5)
    assert red["share_ecological_red_line"] == pytest.approx(0.1)
    assert red["restricted"] and red["restricted_by"] == "ecological_red_line"
    assert red["suitability"] == 0.0 and red["suitability_raw"] > 0      # contributions kept
    assert red["mode"] == "限制开发" and red["suitability_status"] == "restricted"


def test_sliver_below_tolerance_is_not_restricted(preset, rp):
    le = assessed(preset, [plot("A", 0, 0)])
    cons = constraints([("E1", "ecological_red_line", 97, 0, 200, 100)])   # 3 % ≤ 5 % tolerance
    red = redevelopment.assess(le, rp, constraints=cons).plots.iloc[0]
    assert not red["restricted"] and red["suitability"] == red["suitability_raw"]


def test_suitability_contributions_by_hand(preset, rp):
    le = assessed(preset, [plot("A", 0, 0)])
    infra = infrastructure([("R1", "national_road", ((-500, 1600), (500, 1600)))])   # 1500 m away
    red = redevelopment.assess(le, rp, infrastructure=infra).plots.iloc[0]
    # road: 1500 m between best 0 and worst 3000 → 0.5 × 0.20 × 100 = 10 points
    assert red["crit_road"] == pytest.approx(10.0)
    # size: 15 亩 between worst 0 and best 50 → 0.3 × 0.15 × 100 = 4.5
    assert red["crit_size"] == pytest.approx(4.5)
    # soft constraints: none → full 10 points; park, logistics, slope, flood missing → 0 and listed
    assert red["crit_soft"] == pytest.approx(10.0)
    assert red["missing_criteria"] == "park,logistics,slope,flood"
    assert red["suitability"] == pytest.approx(24.5)
    crit = [c for c in red.index if c.startswith("crit_")]
    assert sum(red[c] for c in crit) == pytest.approx(red["suitability_raw"])


def test_suitability_monotone_in_distance(preset, rp):
    le = assessed(preset, [plot("A", 0, 0), plot("B", 0, 1000)])
    infra = infrastructure([("R1", "expressway", ((-500, -100), (500, -100)))])
    red = redevelopment.assess(le, rp, infrastructure=infra).plots.set_index("plot_id")
    assert red.loc["A", "crit_road"] > red.loc["B", "crit_road"]


def cluster_rows():
    return [plot("A", 0, 0), plot("B", 100, 0),      # touching
            plot("C", 220, 0),                        # 20 m from B: across a road
            plot("D", 600, 0),                        # 280 m away: alone
            plot("E", 0, 500, w=300, h=300)]          # 135 亩 on its own


def test_clusters_by_gap(preset, rp):
    le = assessed(preset, cluster_rows())
    red = redevelopment.assess(le, rp)
    p = red.plots.set_index("plot_id")
    assert p.loc["A", "cluster_id"] == p.loc["B", "cluster_id"] == p.loc["C", "cluster_id"]
    assert p.loc["D", "cluster_id"] != p.loc["A", "cluster_id"] != p.loc["E", "cluster_id"]
    cl = red.clusters.set_index("cluster_id")
    abc = cl.loc[p.loc["A", "cluster_id"]]
    assert abc["n_plots"] == 3 and abc["members"] == "A,B,C"
    assert abc["area_mu"] == pytest.approx(45.0) and not abc["is_candidate_site"]
    assert abc["added_floor_m2"] == pytest.approx(3 * (2.0 - 1.2) * 10_000)
    assert abc.geometry.area == pytest.approx(30_000)   # below 50 亩: the member polygons, not dissolved
    assert len(shapely.get_parts(abc.geometry)) == 3
    assert cl.loc[p.loc["E", "cluster_id"], "is_candidate_site"]               # 135 亩 ≥ 50
    assert cl["area_mu"].sum() == pytest.approx(p["area_mu"].sum())
    assert isinstance(red.clusters, gpd.GeoDataFrame) and red.clusters.crs == CRS


def test_candidate_site_outline_is_dissolved(preset, rp):
    le = assessed(preset, cluster_rows())
    red = redevelopment.assess(le, dataclasses.replace(rp, cluster_min_mu=40.0))
    abc = red.clusters.loc[red.clusters["members"] == "A,B,C"].iloc[0]
    assert abc["is_candidate_site"]
    parts = shapely.get_parts(abc.geometry)
    assert len(parts) == 2                                   # A∪B one polygon, C across the road
    assert sorted(shapely.area(parts)) == pytest.approx([10_000, 20_000])


def test_cluster_gap_is_a_setting(preset, rp):
    le = assessed(preset, cluster_rows())
    tight = dataclasses.replace(rp, cluster_gap_m=10.0)
    p = redevelopment.assess(le, tight).plots.set_index("plot_id")
    assert p.loc["A", "cluster_id"] == p.loc["B", "cluster_id"] != p.loc["C", "cluster_id"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cluster_membership_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 2000, size=(60, 2))
    geoms = shapely.box(xy[:, 0], xy[:, 1], xy[:, 0] + rng.uniform(20, 120, 60), xy[:, 1] + rng.uniform(20, 120, 60))
    labels = redevelopment.clusters(geoms, 30.0)
    d = shapely.distance(geoms[:, None], geoms[None, :])                      # the naive O(n²) answer
    _, ref = connected_components(d <= 30.0, directed=False)
    same = labels[:, None] == labels[None, :]
    assert (same == (ref[:, None] == ref[None, :])).all()
    assert (same == same.T).all()                                             # symmetric membership


def test_suggested_modes(preset, rp):
    rows = [plot("NEARHOME", 0, 0), plot("HALTED", 400, 0, status="halted",
                                          halted_since=AS_OF - pd.Timedelta(days=900)),
            plot("SMALL1", 0, 1000, w=60, h=60), plot("BIG", 60, 1000, w=300, h=200),       # cluster ≈ 95 亩
            plot("ALONE", 2000, 2000)]
    le = assessed(preset, rows)
    cons = constraints([("H", "residential", -150, 0, -50, 100)])                             # 50 m from NEARHOME
    p = redevelopment.assess(le, rp, constraints=cons).plots.set_index("plot_id")
    assert p.loc["NEARHOME", "mode"] == "退二进三" and "50 m" in p.loc["NEARHOME", "mode_rule_en"]
    assert p.loc["HALTED", "mode"] == "腾退收储" and "halted" in p.loc["HALTED", "mode_rule_en"]
    assert p.loc["SMALL1", "mode"] == "连片整合"
    assert p.loc["BIG", "mode"] == "零增地技改"                                                # 90 亩 ≥ 15 亩
    assert p.loc["ALONE", "mode"] == "零增地技改"
    assert p["mode_rule_zh"].notna().all()


def test_candidates_default_to_low_efficiency(preset):
    le = assessed(preset, [plot("GOOD", 0, 0, park_id="IP1"), plot("LOW", 400, 0, far=0.3, park_id="IP1")])
    red = redevelopment.assess(le, preset.redevelopment)
    p = red.plots.set_index("plot_id")
    assert not p.loc["GOOD", "candidate"] and p.loc["GOOD", "suitability_status"] == "not_candidate"
    assert p.loc["LOW", "candidate"] and p.loc["LOW", "suitability_status"] == "scored"
    assert red.plots.index.equals(le.index)


def test_empty_input(preset, rp):
    le = assessed(preset, [plot("A", 0, 0)]).iloc[:0]
    red = redevelopment.assess(le, rp)
    assert len(red.plots) == 0 and len(red.clusters) == 0
    assert "cluster_id" in red.clusters.columns and red.clusters.crs == CRS


def test_needs_low_efficiency_columns(rp):
    with pytest.raises(ValueError, match="low-efficiency result"):
        redevelopment.assess(plots([plot("A", 0, 0)]), rp)


def test_union_by_label_equals_dissolve():
    # one vectorised union per size class gives each label exactly GeoDataFrame.dissolve's union
    rng = np.random.default_rng(3)
    sizes = [1, 2, 3, 5, 9, 17, 4]
    labels = np.repeat(np.arange(len(sizes)), sizes)
    rng.shuffle(labels)
    x = rng.uniform(0, 400, len(labels))
    geoms = shapely.box(x, 0, x + rng.uniform(20, 90, len(labels)), 50)
    wanted = np.array([True, True, False, True, True, True, True])
    got = redevelopment._union_by_label(geoms, labels, wanted, shapely.union_all)
    frame = gpd.GeoDataFrame({"label": labels}, geometry=geoms, crs=CRS)
    want = frame.dissolve(by="label").geometry.to_numpy()[wanted]
    assert shapely.equals_exact(got, want, tolerance=0).all()
