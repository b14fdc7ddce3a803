"""The bundled Ruian sample workspace: specs, CRS, counts, distributions, determinism."""
from __future__ import annotations

import pandas as pd
import pytest
import shapely

from geo.units import M2_PER_MU
from layers import sample
from layers.codes import is_polluting, is_valid_credit_code
from layers.schema import SPECS, conform


def test_every_core_layer_meets_its_spec(sample_ws):
    assert set(SPECS) <= set(sample_ws.layers())
    for name in SPECS:
        gdf = sample_ws.read(name)
        assert gdf.crs.to_epsg() == 4549, name
        conform(gdf, name)  # raises on any problem
        assert shapely.is_valid(gdf.geometry.values).all(), name


def test_counts_and_names(sample_ws):
    townships = sample_ws.read("townships")
    assert len(townships) == 23
    assert {"安阳街道", "塘下镇", "北麂乡", "湖岭镇"} <= set(townships["name"])
    parks = set(sample_ws.read("industrial_parks")["name"])
    assert {"瑞安经济开发区飞云新区", "国际汽摩配产业新城", "瑞安高新技术产业园区", "江南现代物流产业园区"} <= parks
    micro = sample_ws.read("micro_parks").set_index("park_id")
    assert {"湖岭农产品加工小微企业创业园", "锦湖机械锻造小微企业创业园"} <= set(micro["name"])
    assert micro.loc["MP03", "area_m2"] / M2_PER_MU == pytest.approx(690, abs=1)
    assert set(micro["status"]) == {"planned", "under_construction", "operating"}
    assert len(sample_ws.read("plots")) == 5000
    assert 3500 <= len(sample_ws.read("enterprises")) <= 4500


def test_townships_tile_the_real_outline(sample_ws):
    outline = sample_ws.read("county_outline").geometry.iloc[0]
    towns = sample_ws.read("townships")
    assert towns.geometry.union_all().symmetric_difference(outline).area < 1e-6 * outline.area
    assert towns.geometry.area.sum() == pytest.approx(outline.area, rel=1e-9)
    # Ruian is about 1,300 km² of land (the outline includes the islands).
    assert 1.2e9 < outline.area < 1.45e9


def test_enterprise_distributions(sample_ws):
    ent = sample_ws.read("enterprises")
    assert is_valid_credit_code(ent["credit_code"]).all()
    assert ent["credit_code"].is_unique
    holders = ent[ent["is_land_holder"] & ent["above_scale"]]
    per_mu = holders["tax_10k"] / (holders["land_area_m2"] / M2_PER_MU)
    aggregate = holders["tax_10k"].sum() / (holders["land_area_m2"].sum() / M2_PER_MU)
    assert 22 < aggregate < 35  # around Zhejiang's 28.1 万元/亩
    assert per_mu.quantile(0.99) > 3 * per_mu.median()  # a long tail
    small = ent[ent["is_land_holder"] & ~ent["above_scale"]]
    assert ((small["tax_10k"] / (small["land_area_m2"] / M2_PER_MU)) < 1).mean() > 0.05
    tenants = ent[~ent["is_land_holder"]]
    assert len(tenants) > 200
    assert tenants["land_holder"].isin(ent.loc[ent["is_land_holder"], "credit_code"]).all()
    assert is_polluting(ent["industry_code"]).sum() > 100
    assert ent["emissions_t"].isna().any() and (~ent["producing"]).any() and ent["major_incident"].any()


def test_plot_distributions(sample_ws):
    plots = sample_ws.read("plots")
    assert {"in_use", "halted", "half_halted", "idle", "under_construction"} == set(plots["status"])
    assert plots["far"].between(0, 10).all()
    assert plots.loc[plots["status"].isin(["halted", "half_halted"]), "halted_since"].notna().all()
    # land-contract figures on supplied park plots, some under half of the contract (DOMAIN §4)
    has = plots["contract_investment_10k"].notna()
    assert 300 < has.sum() < 3000 and plots.loc[has, "park_id"].notna().all()
    assert ((plots["investment_10k"] / plots["contract_investment_10k"])[has] < 0.5).mean() > 0.03
    assert ((plots["output_10k"] / plots["contract_output_10k"])[has] < 0.5).mean() > 0.05
    assert (plots["park_id"].isna()).mean() > 0.2  # scattered industry outside parks
    assert plots["land_holder"].isna().sum() > 50  # vacant land in parks
    ent = sample_ws.read("enterprises")
    held = plots["land_holder"].dropna()
    assert held.isin(ent["credit_code"]).all()
    # Enterprise points lie in their plot.
    joined = ent.merge(plots[["plot_id", "geometry"]].rename(columns={"geometry": "plot_geom"}), on="plot_id")
    assert shapely.within(joined.geometry.values, joined["plot_geom"].values).all()


def test_sample_ships_with_an_analysis_run(sample_ws):
    from analysis import pipeline

    runs = pipeline.list_runs(sample_ws, kind="chain")
    assert runs["run_id"].tolist() == ["sample"] and runs["preset"].tolist() == ["ruian_default"]
    assert runs["as_of"].tolist() == [sample.REFERENCE_DATE.date().isoformat()]
    assert len(sample_ws.read("run_sample_plots")) == 5000


def test_reference_date_recorded(sample_ws):
    assert sample_ws.info["reference_date"] == sample.REFERENCE_DATE.date().isoformat()


def test_constraints_and_infrastructure(sample_ws):
    kinds = set(sample_ws.read("constraints")["kind"])
    assert kinds == {"ecological_red_line", "basic_farmland", "water_source", "river_corridor", "flood_zone", "residential"}
    infra = set(sample_ws.read("infrastructure")["kind"])
    assert {"expressway", "national_road", "rail_station", "port", "logistics_centre"} <= infra


def test_rasters_registered_in_working_crs(sample_ws):
    import rasterio

    paths = sample_ws.rasters()
    assert set(paths) == {"dem", "slope", "flood_depth"}
    with rasterio.open(paths["dem"]) as ds:
        assert ds.crs.to_epsg() == 4549
        dem = ds.read(1, masked=True)
        cols = dem.shape[1]
        west, east = dem[:, : cols // 4].mean(), dem[:, -cols // 4:].mean()
        assert west > 5 * east  # rises to the west
    with rasterio.open(paths["flood_depth"]) as ds:
        assert ds.read(1, masked=True).max() > 0.5


def test_same_seed_same_content(sample_ws):
    """The generator is deterministic: a fresh run equals the committed sample layer by layer."""
    fresh = sample.generate()
    for name in ("plots", "enterprises", "townships", "constraints"):
        committed = sample_ws.read(name)
        new = conform(fresh[name], name) if name in SPECS else fresh[name]
        cols = [c for c in SPECS[name].field_names]
        pd.testing.assert_frame_equal(committed[cols].reset_index(drop=True), new[cols].reset_index(drop=True),
                                      check_dtype=False, check_exact=False, rtol=1e-9)
        assert shapely.equals_exact(committed.geometry.values, new.geometry.values, tolerance=1e-6).all(), name


def test_other_seed_differs_and_size_is_honoured():
    small = sample.generate(n_plots=300, seed=7)
    assert len(small["plots"]) == 300
    assert small["plots"]["plot_id"].is_unique


@pytest.mark.slow
def test_scale_mode_reaches_requested_size():
    big = sample.generate(n_plots=20000, seed=3)
    assert 19000 <= len(big["plots"]) <= 20000
