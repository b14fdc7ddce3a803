"""亩均效益综合评价: formulas worked by hand, scope rules, classes, re-grades, ledger, aggregates."""
from __future__ import annotations

import dataclasses

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from analysis import per_mu
from analysis.params import load_preset
from geo.errors import ParameterError, SchemaError
from geo.units import M2_PER_MU
from tests.analysis_frames import CRS, empty_firms, firm, firms


@pytest.fixture(scope="module")
def huangyan():
    return load_preset("huangyan_2022")


@pytest.fixture(scope="module")
def ruian():
    return load_preset("ruian_default")


def three_firms():
    """H1, H2 规上 (H2 without emission data), H3 规下 — the Huangyan table worked by hand below."""
    return firms([
        firm("H1", land_area_m2=10 * M2_PER_MU, tax_10k=300, value_added_10k=1500, energy_tce=500, emissions_t=0.3,
             employees=100, rd_10k=60, revenue_10k=3000),
        firm("H2", land_area_m2=20 * M2_PER_MU, tax_10k=400, value_added_10k=2000, energy_tce=1000, emissions_t=np.nan,
             employees=200, rd_10k=50, revenue_10k=5000),
        firm("H3", above_scale=False, land_area_m2=5 * M2_PER_MU, tax_10k=50, electricity_10k_kwh=200,
             value_added_10k=np.nan, energy_tce=np.nan, emissions_t=np.nan),
    ])


def test_huangyan_formula_three_firms_by_hand(huangyan):
    ev = per_mu.evaluate(three_firms(), huangyan.per_mu).set_index("credit_code")
    # H1: 亩均税收 300/10 = 30 → 30/24.097×30 = 37.3490;  亩均增加值 150 → 150/136.16×20 = 22.0329
    #     单位能耗增加值 1500/500 = 3 → 3/2.694×20 = 22.2717; 单位排放增加值 1500/0.3 = 5000 → 5000/4929.81×10 = 10.1424
    #     劳动生产率 1500/100 = 15 → 15/18.14×10 = 8.2690;  R&D 60/3000 = 0.02 → 0.02/0.0302×10 = 6.6225
    #     score = 106.6876
    h1 = ev.loc["H1"]
    assert h1["ind_tax_per_mu"] == pytest.approx(30.0)
    assert h1["sub_tax_per_mu"] == pytest.approx(37.3490, abs=1e-4)
    assert h1["sub_va_per_mu"] == pytest.approx(22.0329, abs=1e-4)
    assert h1["sub_va_per_energy"] == pytest.approx(22.2717, abs=1e-4)
    assert h1["sub_va_per_emission"] == pytest.approx(10.1424, abs=1e-4)
    assert h1["sub_labour_productivity"] == pytest.approx(8.2690, abs=1e-4)
    assert h1["sub_rd_share"] == pytest.approx(6.6225, abs=1e-4)
    assert h1["score"] == pytest.approx(106.6876, abs=1e-3)
    # H2: 20 → 24.8994; 100 → 14.6886; 2 → 14.8478; emission missing → group average sub-score
    #     = H1's 10.1424 (the only 规上 firm with data); 10 → 5.5127; 0.01 → 3.3113; score = 73.4021
    h2 = ev.loc["H2"]
    assert h2["imputed"] == "va_per_emission"
    assert np.isnan(h2["ind_va_per_emission"])
    assert h2["sub_va_per_emission"] == pytest.approx(h1["sub_va_per_emission"])
    assert h2["score"] == pytest.approx(73.4021, abs=1e-3)
    # H3 (规下): 亩均税收 50/5 = 10 → 10/11.5932×50 = 43.1287; 单位用电税收 50/200 = 0.25 → 0.25/0.2352×50 = 53.1463
    h3 = ev.loc["H3"]
    assert h3["group"] == "below_scale"
    assert h3["sub_tax_per_electricity"] == pytest.approx(53.1463, abs=1e-4)
    assert h3["score"] == pytest.approx(96.2750, abs=1e-3)
    assert (ev["status"] == "evaluated").all()
    assert ev["final_class"].notna().all()


def test_output_is_geodataframe_on_same_index(huangyan):
    f = three_firms()
    f.index = [10, 20, 30]
    ev = per_mu.evaluate(f, huangyan.per_mu)
    assert isinstance(ev, gpd.GeoDataFrame)
    assert list(ev.index) == [10, 20, 30]
    assert ev.crs == f.crs
    assert f.columns.tolist() == three_firms().columns.tolist()  # input untouched


def test_group_average_benchmark_and_all_equal(ruian):
    # Identical firms: every ratio to the group average is 1, so every score is the weight total.
    f = firms([firm(f"E{i}") for i in range(5)])
    ev = per_mu.evaluate(f, ruian.per_mu)
    assert ev["score"].to_numpy() == pytest.approx(np.full(5, 100.0))
    assert ev["bench_tax_per_mu"].iloc[0] == pytest.approx(30.0)  # Σ tax / Σ land = 1500 / 50


def test_group_average_is_ratio_of_sums(ruian):
    f = firms([firm("A", tax_10k=100, land_area_m2=10 * M2_PER_MU), firm("B", tax_10k=500, land_area_m2=30 * M2_PER_MU)])
    ev = per_mu.evaluate(f, ruian.per_mu).set_index("credit_code")
    assert ev.loc["A", "bench_tax_per_mu"] == pytest.approx(600 / 40)
    # A: 10 / 15 × 40 points
    assert ev.loc["A", "sub_tax_per_mu"] == pytest.approx(10 / 15 * 40)


@pytest.mark.parametrize("tax", [100.0, 200.0, 400.0, 800.0])
def test_score_rises_with_tax(huangyan, tax):
    base = per_mu.evaluate(firms([firm("F", tax_10k=tax)]), huangyan.per_mu)["score"].iloc[0]
    more = per_mu.evaluate(firms([firm("F", tax_10k=tax * 1.5)]), huangyan.per_mu)["score"].iloc[0]
    assert more > base
    assert more - base == pytest.approx(tax * 0.5 / 10 / 24.097 * 30)


def test_cap_bounds_the_ratio(huangyan):
    p = huangyan.per_mu
    capped = dataclasses.replace(p.above_scale, indicators=tuple(
        dataclasses.replace(i, cap=2.0) if i.key == "tax_per_mu" else i for i in p.above_scale.indicators))
    params = dataclasses.replace(p, above_scale=capped)
    ev = per_mu.evaluate(firms([firm("F", tax_10k=2000)]), params)  # 200 万元/亩 ≫ 2 × 24.097
    assert ev["sub_tax_per_mu"].iloc[0] == pytest.approx(2.0 * 30)


def test_scope_rules_and_reasons(huangyan):
    f = firms([
        firm("OK"),
        firm("NP", producing=False),
        firm("SMALL", above_scale=False, land_area_m2=2 * M2_PER_MU),
        firm("SVC", industry_code="5810"),
        firm("BADCODE", industry_code="C34"),
        firm("ZERO", land_area_m2=0.0),
        firm("NEG", tax_10k=-5.0),
        firm("NOVA", value_added_10k=np.nan),
        firm("NOLAND", land_area_m2=np.nan),
    ])
    ev = per_mu.evaluate(f, huangyan.per_mu).set_index("credit_code")
    expect = {"OK": "evaluated", "NP": "excluded", "SMALL": "excluded", "SVC": "excluded", "BADCODE": "not_evaluated",
              "ZERO": "not_evaluated", "NEG": "not_evaluated", "NOVA": "not_evaluated", "NOLAND": "not_evaluated"}
    assert ev["status"].to_dict() == expect
    assert "not yet producing" in ev.loc["NP", "reason_en"]
    assert "2.00 亩 < 3 亩" in ev.loc["SMALL", "reason_en"]
    assert "06–46" in ev.loc["SVC", "reason_en"]
    assert "'C34'" not in ev.loc["BADCODE", "reason_en"] and "C34" in ev.loc["BADCODE", "reason_en"]
    assert "land_mu is 0" in ev.loc["ZERO", "reason_en"]
    assert "tax_10k negative" in ev.loc["NEG", "reason_en"]
    assert "value_added_10k missing" in ev.loc["NOVA", "reason_en"]
    assert "land_mu missing" in ev.loc["NOLAND", "reason_en"]
    others = ev.drop(index="OK")
    # never a silent NaN: no score/class without evaluation, and always a reason (en and zh)
    assert others["score"].isna().all() and others["final_class"].isna().all()
    assert others["reason_en"].notna().all() and others["reason_zh"].notna().all()


def test_tenant_merged_into_land_holder(huangyan):
    f = firms([
        firm("HOLD", plot_id="P1", tax_10k=300),
        firm("TEN", plot_id="P1", is_land_holder=False, land_holder="HOLD", land_area_m2=np.nan, tax_10k=60,
             above_scale=False, major_incident=True),
    ])
    ev = per_mu.evaluate(f, huangyan.per_mu).set_index("credit_code")
    assert ev.loc["TEN", "status"] == "merged"
    assert ev.loc["TEN", "unit_code"] == "HOLD"
    assert ev.loc["HOLD", "unit_tax_10k"] == pytest.approx(360)
    assert ev.loc["HOLD", "ind_tax_per_mu"] == pytest.approx(36.0)
    # the merged tenant's incident vetoes the legal-person unit
    assert ev.loc["HOLD", "veto"] and ev.loc["HOLD", "final_class"] == "D"


def test_tenants_evaluated_alone_when_not_merging(huangyan):
    params = dataclasses.replace(huangyan.per_mu, merge_tenants=False)
    f = firms([firm("HOLD"), firm("TEN", is_land_holder=False, land_holder="HOLD", land_area_m2=np.nan)])
    ev = per_mu.evaluate(f, params).set_index("credit_code")
    assert ev.loc["TEN", "status"] == "not_evaluated"  # a tenant without land cannot be scored per mu
    assert ev.loc["HOLD", "unit_tax_10k"] == 300


def test_firm_without_plot_uses_its_land_area(huangyan, ):
    from tests.analysis_frames import plot, plots

    pl = plots([plot("P1", 0, 0)])  # 15 亩
    f = firms([firm("A", plot_id=None), firm("B", plot_id="P1", land_area_m2=np.nan), firm("C", plot_id="P9",
                                                                                       land_area_m2=np.nan)])
    ev = per_mu.evaluate(f, huangyan.per_mu, plots=pl).set_index("credit_code")
    assert ev.loc["A", "status"] == "evaluated" and ev.loc["A", "land_mu"] == pytest.approx(10)
    assert ev.loc["B", "land_mu"] == pytest.approx(15)     # filled from its plot
    assert ev.loc["C", "status"] == "not_evaluated"        # unknown plot, no land


def test_veto_forces_class_d(huangyan):
    f = firms([firm(f"F{i}", tax_10k=300 + 100 * i) for i in range(10)])
    f.loc[f["credit_code"] == "F9", "major_incident"] = True
    ev = per_mu.evaluate(f, huangyan.per_mu).set_index("credit_code")
    assert ev.loc["F9", "score_class"] != "D" and ev.loc["F9", "final_class"] == "D"
    assert "veto" in ev.loc["F9", "reason_en"]


@pytest.mark.parametrize("method", ["quotas", "cutoffs"])
@pytest.mark.parametrize("n", [1, 7, 20, 101])
def test_quotas_respected(huangyan, method, n):
    rng = np.random.default_rng(n)
    f = firms([firm(f"F{i:03d}", tax_10k=float(t)) for i, t in enumerate(rng.lognormal(5, 1, n))])
    params = dataclasses.replace(huangyan.per_mu, class_method=method, cutoffs=(50.0, 20.0, 10.0))
    ev = per_mu.evaluate(f, params)
    counts = ev["final_class"].value_counts()
    assert counts.get("A", 0) <= np.floor(0.20 * n + 1e-9)
    assert counts.get("D", 0) >= np.ceil(0.05 * n - 1e-9)
    assert counts.sum() == n
    # classes follow the score order: no A below a B, no D above a C
    order = {"A": 0, "B": 1, "C": 2, "D": 3}
    ranked = ev.sort_values("score", ascending=False)["final_class"].map(order).to_numpy()
    assert (np.diff(ranked) >= 0).all()


def test_all_firms_equal_quota_shares_exact(huangyan):
    f = firms([firm(f"F{i:02d}") for i in range(20)])
    ev = per_mu.evaluate(f, huangyan.per_mu)  # quotas 0.107/0.352/0.461/0.080
    counts = ev["final_class"].value_counts().to_dict()
    # ⌊0.107·20⌋ = 2 A, round(0.352·20) = 7 B, ⌈0.08·20⌉ = 2 D, C the rest
    assert counts == {"A": 2, "B": 7, "C": 9, "D": 2}


def test_emission_missing_for_whole_group_is_not_evaluated(huangyan):
    f = firms([firm("A", emissions_t=np.nan), firm("B", emissions_t=np.nan)])
    ev = per_mu.evaluate(f, huangyan.per_mu)
    assert (ev["status"] == "not_evaluated").all()
    assert ev["reason_en"].str.contains("no firm of the group").all()


def test_empty_input_gives_typed_empty_output(huangyan):
    ev = per_mu.evaluate(empty_firms(), huangyan.per_mu)
    assert isinstance(ev, gpd.GeoDataFrame) and len(ev) == 0 and ev.crs == CRS
    for col in ("status", "score", "final_class", "sub_tax_per_mu", "rank_county"):
        assert col in ev.columns
    assert len(per_mu.price_ledger(ev, huangyan.prices)) == 0
    assert len(per_mu.aggregate(ev, "township_code")) == 0


def test_missing_required_column_raises(huangyan):
    f = three_firms().drop(columns="above_scale")
    with pytest.raises(SchemaError, match="above_scale"):
        per_mu.evaluate(f, huangyan.per_mu)


def test_duplicate_credit_codes_raise(huangyan):
    with pytest.raises(SchemaError, match="unique"):
        per_mu.evaluate(firms([firm("A"), firm("A")]), huangyan.per_mu)


def test_ranks_within_county_township_industry(huangyan):
    f = firms([firm("A", tax_10k=900, township_code="T1", industry_code="3670"),
               firm("B", tax_10k=600, township_code="T2", industry_code="3670"),
               firm("C", tax_10k=300, township_code="T2", industry_code="3360")])
    ev = per_mu.evaluate(f, huangyan.per_mu).set_index("credit_code")
    assert ev["rank_county"].tolist() == [1, 2, 3]
    assert ev["rank_township"].tolist() == [1, 1, 2]
    assert ev["rank_industry"].tolist() == [1, 2, 1]


def test_regrade_keeps_computed_class(huangyan):
    ev = per_mu.evaluate(three_firms(), huangyan.per_mu)
    before = ev.set_index("credit_code")["computed_class"]
    out = per_mu.apply_regrade(ev, pd.DataFrame({"credit_code": ["H2"], "new_class": ["B"],
                                                 "reason": ["新设备投产,数据滞后"]})).set_index("credit_code")
    assert out.loc["H2", "final_class"] == "B" and out.loc["H2", "regrade_reason"] == "新设备投产,数据滞后"
    assert out.loc["H2", "computed_class"] == before["H2"]
    assert out.loc["H1", "final_class"] == before["H1"] and pd.isna(out.loc["H1", "regraded_class"])


def test_regrade_refuses_bad_rows_all_at_once(huangyan):
    ev = per_mu.evaluate(three_firms(), huangyan.per_mu)
    bad = pd.DataFrame({"credit_code": ["H1", "NOPE", "H3"], "new_class": ["E", "A", "B"], "reason": ["x", "y", " "]})
    with pytest.raises(ParameterError) as err:
        per_mu.apply_regrade(ev, bad)
    msg = str(err.value)
    assert "NOPE" in msg and "'E'" in msg and "without a reason" in msg


def test_price_ledger_by_class(huangyan):
    ev = per_mu.evaluate(three_firms(), huangyan.per_mu)
    ev = per_mu.apply_regrade(ev, pd.DataFrame({"credit_code": ["H1", "H2", "H3"], "new_class": ["A", "D", "C"],
                                                "reason": ["t", "t", "t"]}))
    led = per_mu.price_ledger(ev, huangyan.prices).set_index("credit_code")
    # D: 800 万kWh × 0.3 元/kWh = 240 万元; A: no electricity surcharge
    assert led.loc["H2", "electricity_10k"] == pytest.approx(240.0)
    assert led.loc["H1", "electricity_10k"] == 0.0
    # A: land-use tax relief 100 % × 4 元/m² × 6666.67 m² = 2.6667 万元 (negative = relief)
    assert led.loc["H1", "land_tax_10k"] == pytest.approx(-4.0 * 10 * M2_PER_MU / 1e4)
    # no water volumes in the layer: rate shown, amount not computed, reason given
    assert (led["water_status"] == "not_computed").all() and led["water_10k"].isna().all()
    assert led.loc["H3", "water_rate_yuan_per_m3"] == pytest.approx(0.1)
    assert "no water volume" in led.loc["H3", "water_note"]
    assert led.loc["H2", "total_10k"] == pytest.approx(240.0)


def test_price_ledger_with_water_and_repeat_d(huangyan):
    ev = per_mu.evaluate(three_firms(), huangyan.per_mu)
    ev = per_mu.apply_regrade(ev, pd.DataFrame({"credit_code": ["H2"], "new_class": ["D"], "reason": ["t"]}))
    ev["water_10k_m3"] = [1.0, 2.0, np.nan]
    led = per_mu.price_ledger(ev, huangyan.prices, years_in_d=pd.Series([0, 3, 0], index=ev.index))
    led = led.set_index("credit_code")
    assert led.loc["H2", "water_10k"] == pytest.approx(2.0 * 0.3)        # 2 万m³ × 0.3 元/m³
    assert led.loc["H2", "electricity_rate_yuan_per_kwh"] == pytest.approx(0.4)  # D three years running
    assert led.loc["H3", "water_status"] == "not_computed"


def test_aggregates_are_ratios_of_sums(huangyan):
    f = firms([firm("A", tax_10k=100, land_area_m2=10 * M2_PER_MU, township_code="T1"),
               firm("B", tax_10k=500, land_area_m2=30 * M2_PER_MU, township_code="T1"),
               firm("C", tax_10k=50, land_area_m2=5 * M2_PER_MU, township_code="T2", producing=False)])
    ev = per_mu.evaluate(f, huangyan.per_mu)
    agg = per_mu.aggregate(ev, "township_code")
    assert agg.loc["T1", "tax_per_mu"] == pytest.approx(600 / 40)
    assert agg.loc["T1", "n_evaluated"] == 2
    assert "T2" not in agg.index  # no evaluated firm there
    assert agg[[f"n_{c}" for c in "ABCD"]].sum(axis=1).loc["T1"] == 2
