"""Every rule at its threshold: just below, exactly on, just above — and reasons that show why.

Issue 11 item 4: years by calendar anniversary (dateutil's rule), idle land as its own flag,
半停产 and the 50 %-of-contract rule, one polluting list, digits enough to see a boundary case,
a tolerance on area thresholds (a cluster of exactly 50 亩), names instead of codes.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from dateutil.relativedelta import relativedelta

from analysis import integration, low_efficiency, parks as parks_mod, per_mu, redevelopment, siting
from analysis._common import at_least, below, calendar_years, fmt_against
from analysis.params import load_preset
from geo.units import M2_PER_MU
from layers.codes import POLLUTING_PREFIXES, is_polluting, parse_code_list
from tests.analysis_frames import firm, firms, parks, plot, plots

AS_OF = pd.Timestamp("2026-06-30")
DAY = pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def preset():
    return load_preset("ruian_default")


def assess(preset, rows, **kw):
    kw.setdefault("as_of", AS_OF)
    return low_efficiency.assess(plots(rows), preset.low_efficiency, **kw).set_index("plot_id")


# --- calendar years -------------------------------------------------------------------------
@pytest.mark.parametrize("start, end, years", [
    ("2025-06-30", "2026-06-30", 1.0),          # the anniversary itself: exactly one year
    ("2025-07-01", "2026-06-30", 364 / 365),    # one day short
    ("2024-02-29", "2025-02-28", 1.0),          # 29 Feb: its anniversary in a common year is 28 Feb
    ("2024-02-29", "2025-02-27", 364 / 365),    # 364 days of the 365 to that anniversary
    ("2024-06-30", "2026-06-30", 2.0),          # across a leap day: still exactly two years
])
def test_calendar_years_by_anniversary(start, end, years):
    assert calendar_years([start], end)[0] == pytest.approx(years, abs=1e-12)


def test_calendar_years_agree_with_relativedelta():
    rng = np.random.default_rng(4)
    starts = pd.Timestamp("2015-01-01") + pd.to_timedelta(rng.integers(0, 4000, 300), unit="D")
    ends = starts + pd.to_timedelta(rng.integers(0, 3000, 300), unit="D")
    got = calendar_years(starts, ends)
    whole = np.array([relativedelta(e.to_pydatetime(), s.to_pydatetime()).years for s, e in zip(starts, ends)])
    assert (np.floor(got + 1e-12) == whole).all()
    # the k-th anniversary by relativedelta gives exactly k
    for s, k in zip(starts[:50], rng.integers(1, 5, 50)):
        ann = pd.Timestamp(s.to_pydatetime() + relativedelta(years=int(k)))
        assert calendar_years([s], ann)[0] == k
    assert np.isnan(calendar_years([None], AS_OF)[0])


# --- halted / half-halted, overdue, contract ------------------------------------------------------
@pytest.mark.parametrize("status", ["halted", "half_halted"])
@pytest.mark.parametrize("since, fires, shown", [(AS_OF - pd.DateOffset(years=1) + DAY, False, None),
                                                 (AS_OF - pd.DateOffset(years=1), True, "1.0"),
                                                 (AS_OF - pd.DateOffset(years=1) - DAY, True, "1.003")])
def test_halted_one_year_on_the_anniversary(preset, status, since, fires, shown):
    le = assess(preset, [plot("H", 0, 0, status=status, halted_since=since)])
    assert bool(le.loc["H", "rule_halted"]) is fires
    if fires:
        word = "半停产" if status == "half_halted" else "停产"
        assert le.loc["H", "reasons_zh"] == f"{word} {shown} 年 ≥ 1 年"


def test_halted_reason_shows_digits_at_the_boundary(preset):
    le = assess(preset, [plot("H", 0, 0, status="halted", halted_since=AS_OF - pd.DateOffset(years=1) + DAY)],
                )
    assert not le.loc["H", "rule_halted"] and le.loc["H", "halted_years"] < 1
    # a fraction of a day over 0.99 years must not print as "1.0 年"
    assert fmt_against(np.array([le.loc["H", "halted_years"]]), 1.0, 1)[0] == "0.997"


@pytest.mark.parametrize("due, fires", [(AS_OF - pd.DateOffset(years=2) + DAY, False),
                                        (AS_OF - pd.DateOffset(years=2), True)])
def test_completion_overdue_two_years(preset, due, fires):
    le = assess(preset, [plot("U", 0, 0, status="under_construction", completion_date=None,
                              contract_completion_date=due)])
    assert bool(le.loc["U", "rule_completion_overdue"]) is fires


@pytest.mark.parametrize("completed, invest, output, fires", [
    (AS_OF - pd.DateOffset(years=2), 500.0, 1000.0, False),        # exactly 50 % of 1000: not below
    (AS_OF - pd.DateOffset(years=2), 499.9, 1000.0, True),         # investment 49.99 %
    (AS_OF - pd.DateOffset(years=2), 1000.0, 499.9, True),         # output 49.99 %
    (AS_OF - pd.DateOffset(years=2) + DAY, 100.0, 100.0, False),   # completed a day under 2 years
    (AS_OF - pd.DateOffset(years=3), np.nan, np.nan, False),       # no figures: the rule cannot fire
])
def test_contract_shortfall(preset, completed, invest, output, fires):
    le = assess(preset, [plot("C", 0, 0, completion_date=completed, contract_investment_10k=1000.0,
                              investment_10k=invest, contract_output_10k=1000.0, output_10k=output)])
    assert bool(le.loc["C", "rule_contract_shortfall"]) is fires
    if fires:
        assert "49.99" in le.loc["C", "reasons_en"] and "of the land contract" in le.loc["C", "reasons_en"]
        assert "(占出让合同约定)" in le.loc["C", "reasons_zh"]


# --- building rules and tax: below, on, above --------------------------------------------------------
@pytest.mark.parametrize("far, fires, shown", [(0.6999, True, "0.6999"), (0.70, False, None), (0.7001, False, None)])
def test_far_at_the_minimum(preset, far, fires, shown):
    le = assess(preset, [plot("F", 0, 0, far=far, industry_code="3670")])   # 36: minimum 0.70
    assert bool(le.loc["F", "rule_far_below_min"]) is fires
    if fires:
        assert le.loc["F", "reasons_en"] == f"FAR {shown} < 0.70 (industry 36)"
        assert le.loc["F", "reasons_zh"] == f"容积率 {shown} < 0.70(行业 36 汽车制造业)"


@pytest.mark.parametrize("cov, fires", [(0.2999, True), (0.30, False), (0.3001, False)])
def test_coverage_at_the_minimum(preset, cov, fires):
    le = assess(preset, [plot("B", 0, 0, building_coverage=cov)])
    assert bool(le.loc["B", "rule_coverage_below_min"]) is fires
    if fires:
        assert le.loc["B", "reasons_en"] == "building coverage 29.99 % < 30 %"


@pytest.mark.parametrize("tax, fires", [(14.97, True), (15.0, False), (15.03, False)])
def test_tax_per_mu_at_one(preset, tax, fires):
    # 100 × 100 m = 15 亩: 15 万元 is exactly 1 万元/亩
    le = assess(preset, [plot("T", 0, 0)], enterprises=firms([firm("F", plot_id="T", tax_10k=tax)]))
    assert bool(le.loc["T", "rule_tax_below_abs"]) is fires
    if fires:
        assert le.loc["T", "reasons_en"].startswith("tax 0.998 万元/亩 < 1")


def test_tax_share_of_average_on_the_line(preset):
    p = dataclasses.replace(preset.low_efficiency, tax_share_of_average=0.5)
    le = low_efficiency.assess(plots([plot("A", 0, 0), plot("B", 200, 0)]), p, as_of=AS_OF, tax_average=2.0,
                               enterprises=firms([firm("FA", plot_id="A", tax_10k=15.0),
                                                  firm("FB", plot_id="B", tax_10k=14.97)])).set_index("plot_id")
    assert not le.loc["A", "rule_tax_below_share"]                  # 1.0 = 50 % of 2.0: on the line
    assert le.loc["B", "rule_tax_below_share"]
    assert "0.998 万元/亩 < 50% of average 2.00 = 1.00" in le.loc["B", "reasons_en"]


def test_helpers_tolerance_and_digits():
    assert at_least([49.99999999999999, 50.0, 50.00000000000001], 50).all()
    assert not below([49.99999999999999], 50)[0] and below([49.99], 50)[0]
    assert not at_least([np.nan], 50)[0] and not below([np.nan], 50)[0]
    assert fmt_against(np.array([0.995, 0.9999]), 1.0).tolist() == ["0.995", "0.9999"]


# --- areas: a cluster of exactly 50 亩 --------------------------------------------------------------
def test_cluster_of_exactly_50_mu_is_a_candidate(preset):
    half = 25 * M2_PER_MU                              # two touching plots of 25 亩
    rows = [plot("A", 0, 0, h=half / 100), plot("B", 100, 0, h=half / 100)]
    frame = plots(rows)
    frame["area_m2"] = half
    assert np.bincount([0, 0], weights=frame["area_m2"])[0] / M2_PER_MU < 50   # 49.99999999999999
    le = low_efficiency.assess(frame, preset.low_efficiency, as_of=AS_OF)
    rp = dataclasses.replace(preset.redevelopment, candidates="industrial")
    red = redevelopment.assess(le, rp)
    assert len(red.clusters) == 1 and bool(red.clusters["is_candidate_site"].iloc[0])


def test_small_firm_of_exactly_3_mu_is_in_scope(preset):
    f = firms([firm("S", above_scale=False, land_area_m2=3 * M2_PER_MU),
               firm("T", above_scale=False, land_area_m2=2.99 * M2_PER_MU)])
    ev = per_mu.evaluate(f, preset.per_mu).set_index("credit_code")
    assert ev.loc["S", "status"] == "evaluated"
    assert ev.loc["T", "status"] == "excluded" and "2.99 亩 < 3 亩" in ev.loc["T", "reason_zh"]


# --- idle land --------------------------------------------------------------------------------------
def test_idle_land_is_its_own_flag_and_leads_the_reasons(preset):
    le = assess(preset, [plot("I", 0, 0, status="idle", land_holder="913303816107991557", far=0.1),
                         plot("R", 200, 0, status="idle", land_holder=None),          # reserve land
                         plot("N", 400, 0, status="idle", land_holder="913303816107991557", land_use="0701")])
    assert le.loc["I", "is_idle_land"] and not le.loc["R", "is_idle_land"] and not le.loc["N", "is_idle_land"]
    assert le.loc["I", "reasons_zh"].startswith("闲置土地:") and "容积率" in le.loc["I", "reasons_zh"]
    # a separate category: it does not by itself make the plot low-efficiency
    only_idle = assess(preset, [plot("J", 0, 0, status="idle", land_holder="913303816107991557")])
    assert only_idle.loc["J", "is_idle_land"] and not only_idle.loc["J", "is_low_efficiency"]
    assert only_idle.loc["J", "n_rules"] == 0 and only_idle.loc["J", "reasons_en"].startswith("idle land")


# --- one polluting list, one code parser -------------------------------------------------------------
def test_one_polluting_list_with_the_2002_code():
    assert "3460" in POLLUTING_PREFIXES and "3360" in POLLUTING_PREFIXES
    for name in ("ruian_default", "huangyan_2022"):
        assert load_preset(name).low_efficiency.polluting_codes == POLLUTING_PREFIXES
    assert siting.load_siting_params().polluting_codes == POLLUTING_PREFIXES
    assert is_polluting(["3460", "3461", "3360"]).tolist() == [True, False, True]


def test_polluting_3460_fires_the_low_efficiency_rule(preset):
    pk = parks([("IP1", "industrial_park", False, -50, -50, 500, 500)])
    le = assess(preset, [plot("P", 0, 0, industry_code="3460")], parks=pk)
    assert le.loc["P", "rule_polluting_outside_park"]
    assert le.loc["P", "reasons_zh"] == "污染行业位于IP1(该园区不接纳污染行业)"


@pytest.mark.parametrize("cell", ["36,34", "36，34", "36、34", "36;34", "36；34", "36 34", "36/34", "C36、C34"])
def test_leading_codes_any_separator(cell, preset):
    assert parse_code_list([cell]) == [("36", "34")]
    # parks page and siting read the cell the same way: a 34xx firm is leading in both
    pk = parks([("MP1", "micro_park", False, -50, -50, 500, 500)])
    pk["leading_industry"] = cell
    pk["name"] = "园"
    frame = plots([plot("A", 0, 0, park_id="MP1")])
    f = firms([firm("F", plot_id="A", industry_code="3443"), firm("G", plot_id="A", industry_code="1713")])
    out = parks_mod.assess(pk, preset.parks, plots=frame, enterprises=f)
    assert out["n_leading_firms"].iloc[0] == 1 and out["leading_share"].iloc[0] == 0.5
    sites = pk.assign(leading_industries=cell)
    lead = siting.eligibility.leading_matrix(f["industry_code"], sites)
    assert lead[:, 0].tolist() == [True, False]


def test_park_share_exactly_at_70_percent_passes(preset):
    pk = parks([("MP1", "micro_park", False, -50, -50, 2000, 500)])
    pk["leading_industry"] = "34"
    rows = [plot(f"P{i}", 150 * i, 0, park_id="MP1") for i in range(10)]
    codes = ["3443"] * 7 + ["1713"] * 3
    f = firms([firm(f"F{i}", plot_id=f"P{i}", industry_code=c) for i, c in enumerate(codes)])
    out = parks_mod.assess(pk, preset.parks, plots=plots(rows), enterprises=f)
    assert out["leading_share"].iloc[0] == pytest.approx(0.7) and out["leading_status"].iloc[0] == "pass"
    assert out["leading_land_status"].iloc[0] == "pass"
    f.loc[6, "industry_code"] = "1713"                      # 6 of 10
    out = parks_mod.assess(pk, preset.parks, plots=plots(rows), enterprises=f)
    assert out["leading_status"].iloc[0] == "fail" and out["leading_shortfall_firms"].iloc[0] == 1


# --- names, not codes --------------------------------------------------------------------------------
def test_joint_zone_reasons_name_the_townships():
    import geopandas as gpd
    from shapely.geometry import LineString, Point, box

    crs = "EPSG:4549"
    zones = gpd.GeoDataFrame({"park_id": ["A", "B"], "name": ["甲功能区", "乙功能区"], "kind": ["镇街工业功能区"] * 2,
                              "township_code": ["330381101", "330381102"]},
                             geometry=[box(0, 0, 1000, 1000), box(1000, 0, 2000, 1000)], crs=crs)
    towns = gpd.GeoDataFrame({"code": ["330381101", "330381102"], "name": ["塘下镇", "马屿镇"]},
                             geometry=[box(-10, -10, 1000, 1010), box(1000, -10, 2010, 1010)], crs=crs)
    ents = gpd.GeoDataFrame({"industry_code": ["3411", "3412"]}, geometry=[Point(500, 500), Point(1500, 500)], crs=crs)
    roads = gpd.GeoDataFrame({"feature_id": ["R"], "kind": ["national_road"], "name": ["G104"]},
                             geometry=[LineString([(0, 1100), (2000, 1100)])], crs=crs)
    res = integration.find_joint_zones(zones, params=integration.IntegrationParams(), enterprises=ents,
                                       infrastructure=roads, townships=towns)
    link = res.links.iloc[0]
    assert "跨镇街 塘下镇/马屿镇" in link["reason_zh"] and "塘下镇/马屿镇" in link["reason"]
    assert "330381" not in link["reason_zh"] + link["reason"]
    jz = res.joint_zones.iloc[0]
    assert jz["townships"] == "塘下镇, 马屿镇" and "甲功能区–乙功能区" in jz["links"]
