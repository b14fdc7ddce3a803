"""Park performance: land accounting, 亩均 aggregates, the ≥ 70 % leading-industry rule, capacity."""
from __future__ import annotations

import dataclasses

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

from analysis import parks as parks_mod, per_mu
from analysis.params import load_preset
from geo.units import M2_PER_MU
from tests.analysis_frames import CRS, X0, Y0, firm, firms, plot, plots


@pytest.fixture(scope="module")
def preset():
    return load_preset("huangyan_2022")


def industrial():
    # 1000 × 1000 m = 1500 亩
    return gpd.GeoDataFrame({"park_id": ["IP1"], "name": ["测试园区"], "leading_industries": ["36,3360"]},
                            geometry=[box(X0, Y0, X0 + 1000, Y0 + 1000)], crs=CRS)


def micro():
    return gpd.GeoDataFrame({"park_id": ["MP1", "MP2"], "name": ["小微园", "空园"], "leading_industry": ["33", "34"]},
                            geometry=[box(X0, Y0, X0 + 300, Y0 + 300), box(X0 + 5000, Y0, X0 + 5100, Y0 + 100)],
                            crs=CRS)


def case_plots():
    return plots([plot("P1", 0, 0, far=1.0), plot("P2", 150, 0, far=1.0), plot("P3", 500, 500, far=1.0),
                  plot("P4", 700, 700, status="idle", far=0.0), plot("OUT", 3000, 0)])


def case_firms():
    rows = [firm("A1", plot_id="P1", industry_code="3670", tax_10k=300), firm("A2", plot_id="P2", industry_code="3311"),
            firm("A3", plot_id="P3", industry_code="3360", tax_10k=150, land_area_m2=15 * M2_PER_MU)]
    # tenants on P1: 3 leading (36), 2 not (33, 29); on P2 two 33 tenants
    for i, code in enumerate(["3610", "3620", "3630", "3312", "2929"]):
        rows.append(firm(f"T{i}", plot_id="P1", industry_code=code, is_land_holder=False, land_holder="A1",
                         land_area_m2=np.nan, above_scale=False))
    rows.append(firm("T5", plot_id="P2", industry_code="3313", is_land_holder=False, land_holder="A2",
                     land_area_m2=np.nan, above_scale=False))
    rows.append(firm("X", plot_id="OUT"))
    return firms(rows)


def test_land_accounting_and_capacity(preset):
    out = parks_mod.assess(industrial(), preset.parks, plots=case_plots()).iloc[0]
    assert out["area_m2"] == pytest.approx(1e6) and out["area_mu"] == pytest.approx(1500)
    assert out["n_plots"] == 4
    assert out["plots_m2"] == pytest.approx(40_000)
    assert out["developed_m2"] == pytest.approx(30_000)
    assert out["idle_m2"] == pytest.approx(10_000)
    assert out["vacant_m2"] == pytest.approx(960_000 + 10_000)
    assert out["capacity_mu"] == pytest.approx(970_000 / M2_PER_MU)
    # vacant × 2.0 + developed plots raised from FAR 1.0 to 2.0: 3 × 10 000 m²
    assert out["capacity_floor_m2"] == pytest.approx(970_000 * 2 + 30_000)


def test_leading_share_rule_and_shortfall(preset):
    out = parks_mod.assess(industrial(), preset.parks, plots=case_plots(), enterprises=case_firms()).iloc[0]
    # firms on P1–P4: A1, A2, A3, T0–T5 = 9; leading (36xx or 3360): A1, A3, T0, T1, T2 = 5
    assert out["n_firms"] == 9 and out["n_leading_firms"] == 5
    assert out["leading_share"] == pytest.approx(5 / 9)
    assert out["leading_status"] == "fail"
    assert out["leading_shortfall_firms"] == 2          # ⌈0.7 × 9 − 5⌉ = ⌈1.3⌉
    loose = dataclasses.replace(preset.parks, leading_share_min=0.5)
    out2 = parks_mod.assess(industrial(), loose, plots=case_plots(), enterprises=case_firms()).iloc[0]
    assert out2["leading_status"] == "pass" and out2["leading_shortfall_firms"] == 0


def test_micro_park_inside_industrial_park_counts_for_both(preset):
    out = parks_mod.assess(micro(), preset.parks, plots=case_plots(), enterprises=case_firms()).set_index("park_id")
    # MP1 (300 × 300 m) holds P1 and P2: 8 firms, 33xx leading: A2, T3, T5 = 3
    assert out.loc["MP1", "n_plots"] == 2 and out.loc["MP1", "n_firms"] == 8
    assert out.loc["MP1", "n_leading_firms"] == 3 and out.loc["MP1", "leading_status"] == "fail"
    assert out.loc["MP2", "leading_status"] == "no_firms" and out.loc["MP2", "n_firms"] == 0
    assert np.isnan(out.loc["MP2", "leading_share"]) and out.loc["MP2", "leading_shortfall_firms"] == 0


def test_per_mu_aggregates_and_class_mix(preset):
    f = case_firms()
    ev = per_mu.evaluate(f, preset.per_mu, plots=case_plots())
    out = parks_mod.assess(industrial(), preset.parks, plots=case_plots(), enterprises=f, evaluation=ev).iloc[0]
    units = ev.loc[(ev["status"] == "evaluated") & ev["plot_id"].isin(["P1", "P2", "P3", "P4"])]
    assert out["n_evaluated"] == len(units) == 3
    assert out["tax_per_mu"] == pytest.approx(units["unit_tax_10k"].sum() / units["land_mu"].sum())
    assert sum(out[f"n_{c}"] for c in "ABCD") == 3


def test_no_leading_industry_declared(preset):
    ip = industrial().assign(leading_industries=[None])
    out = parks_mod.assess(ip, preset.parks, plots=case_plots(), enterprises=case_firms()).iloc[0]
    assert out["leading_status"] == "no_leading_industry"


def test_same_index_and_empty(preset):
    ip = industrial()
    ip.index = [42]
    out = parks_mod.assess(ip, preset.parks, plots=case_plots())
    assert out.index.tolist() == [42] and out.crs == CRS
    empty = parks_mod.assess(ip.iloc[:0], preset.parks, plots=case_plots())
    assert len(empty) == 0 and "leading_status" in empty.columns
    no_plots = parks_mod.assess(ip, preset.parks, plots=case_plots().iloc[:0]).iloc[0]
    assert no_plots["n_plots"] == 0 and no_plots["vacant_m2"] == pytest.approx(1e6)
