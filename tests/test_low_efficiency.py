"""低效用地认定: one plot per rule, each flag with its reason; thresholds and rule sets as settings."""
from __future__ import annotations

import dataclasses

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from analysis import low_efficiency
from analysis.params import LOW_EFFICIENCY_RULES, load_preset
from geo.errors import CRSMismatchError, MissingCRSError
from tests.analysis_frames import firm, firms, parks, plot, plots

AS_OF = pd.Timestamp("2026-06-30")


@pytest.fixture(scope="module")
def params():
    return load_preset("huangyan_2022").low_efficiency


def park_frame():
    return parks([("IP1", "industrial_park", False, 0, 0, 2000, 1000),
                  ("IP2", "industrial_park", True, 3000, 0, 4000, 1000)])


def case_plots():
    # every plot 100 × 100 m = 15 亩, in IP1 unless said otherwise; P1 passes every rule
    return plots([
        plot("P1", 0, 0, park_id="IP1"),
        plot("P2", 200, 0, far=0.5, park_id="IP1"),                       # FAR 0.5 < 0.7 (industry 36)
        plot("P3", 400, 0, building_coverage=0.2, park_id="IP1"),         # coverage 20 % < 30 %
        plot("P4", 600, 0, park_id="IP1"),                                # tax 10 万元 / 15 亩 = 0.67 < 1
        plot("P5", 800, 0, status="halted", halted_since=AS_OF - pd.Timedelta(days=800), park_id="IP1"),
        plot("P6", 1000, 0, status="halted", halted_since=AS_OF - pd.Timedelta(days=100), park_id="IP1"),
        plot("P7", 1200, 0, status="under_construction", completion_date=None,
             contract_completion_date=AS_OF - pd.Timedelta(days=3 * 365), park_id="IP1"),
        plot("P8", 1400, 0, industry_code="3360", park_id="IP1"),          # electroplating, park not designated
        plot("P9", 3200, 0, industry_code="3360", park_id="IP2"),          # electroplating in a designated park
        plot("P10", 5000, 0, park_id=None),                               # scattered
        plot("P11", 5200, 0, land_use="0701", far=0.1, park_id=None),     # housing: out of scope
        plot("P12", 1600, 0, far=np.nan, floor_area_m2=np.nan, park_id="IP1"),  # FAR unknown
    ])


def case_firms():
    rows = [firm(f"F{p}", plot_id=p, tax_10k=600.0) for p in ("P1", "P2", "P3", "P5", "P6", "P7", "P8", "P9", "P10",
                                                                "P11", "P12")]
    rows.append(firm("FP4", plot_id="P4", tax_10k=10.0))
    return firms(rows)


def run(params, **kw):
    kw.setdefault("enterprises", case_firms())
    kw.setdefault("parks", park_frame())
    return low_efficiency.assess(case_plots(), params, as_of=AS_OF, **kw).set_index("plot_id")


def test_one_plot_per_rule(params):
    le = run(params)
    fired = {pid: sorted(r for r in LOW_EFFICIENCY_RULES if le.loc[pid, f"rule_{r}"]) for pid in le.index}
    assert fired["P1"] == []
    assert fired["P2"] == ["far_below_min"]
    assert fired["P3"] == ["coverage_below_min"]
    assert fired["P4"] == ["tax_below_abs", "tax_below_share"]
    assert fired["P5"] == ["halted"]
    assert fired["P6"] == []                      # halted only 100 days
    assert fired["P7"] == ["completion_overdue"]
    assert fired["P8"] == ["polluting_outside_park"]
    assert fired["P9"] == []                      # in a park that accepts polluting industries
    assert fired["P10"] == ["scattered"]
    assert fired["P11"] == [] and not le.loc["P11", "in_scope"]
    assert fired["P12"] == [] and np.isnan(le.loc["P12", "far"])
    assert le["is_low_efficiency"].to_dict() == {p: bool(v) for p, v in fired.items()}
    assert (le["n_rules"] == [len(v) for v in fired.values()]).all()


def test_reasons_are_readable_and_carry_the_numbers(params):
    le = run(params)
    assert le.loc["P2", "reasons_en"] == "FAR 0.50 < 0.70 (industry 36)"
    assert le.loc["P2", "reasons_zh"] == "容积率 0.50 < 0.70(行业 36 汽车制造业)"
    assert le.loc["P3", "reasons_en"] == "building coverage 20 % < 30 %"
    assert le.loc["P4", "reasons_en"].startswith("tax 0.67 万元/亩 < 1")
    assert "; " in le.loc["P4", "reasons_en"] and ";" in le.loc["P4", "reasons_zh"]
    assert le.loc["P5", "reasons_zh"] == "停产 2.2 年 ≥ 1 年"
    assert pd.isna(le.loc["P1", "reasons_en"])


def test_tax_per_mu_and_county_average(params):
    le = run(params)
    assert le.loc["P4", "tax_per_mu"] == pytest.approx(10 / 15)
    # in-scope plots with firms: 10 × 600 + 10 on 11 × 15 亩 (P11 is housing, out of scope)
    assert le["tax_per_mu_average"].iloc[0] == pytest.approx((10 * 600 + 10) / (11 * 15))


def test_class_d_rule_from_evaluation(params):
    ev = pd.DataFrame({"plot_id": ["P1", "P3"], "status": ["evaluated", "evaluated"], "final_class": ["D", "B"]})
    le = run(params, evaluation=ev)
    assert le.loc["P1", "rule_class_d"] and not le.loc["P3", "rule_class_d"]


def test_polluting_tenant_counts(params):
    f = pd.concat([case_firms(), firms([firm("T", plot_id="P1", industry_code="1713", is_land_holder=False,
                                             land_holder="FP1")])])
    le = run(params, enterprises=f)
    assert le.loc["P1", "rule_polluting_outside_park"]


@pytest.mark.parametrize("rule", LOW_EFFICIENCY_RULES)
def test_disabled_rule_never_fires(params, rule):
    p = dataclasses.replace(params, rules=tuple(r for r in LOW_EFFICIENCY_RULES if r != rule))
    assert not run(p)[f"rule_{rule}"].any()


def test_thresholds_are_settings(params):
    strict = dataclasses.replace(params, coverage_min=0.5, halted_years=0.1)
    le = run(strict)
    assert le.loc["P1", "rule_coverage_below_min"]      # 45 % < 50 %
    assert le.loc["P6", "rule_halted"]                  # 100 days ≥ 0.1 year


def test_far_from_floor_area_when_far_missing(params):
    pl = plots([plot("Q", 0, 0, far=np.nan, floor_area_m2=5000.0, park_id="IP1")])
    le = low_efficiency.assess(pl, params, parks=park_frame(), as_of=AS_OF)
    assert le["far"].iloc[0] == pytest.approx(0.5) and le["rule_far_below_min"].iloc[0]


def test_unknown_industry_has_no_far_minimum(params):
    pl = plots([plot("Q", 0, 0, far=0.1, industry_code="9999", park_id="IP1")])
    le = low_efficiency.assess(pl, params, parks=park_frame(), as_of=AS_OF)
    assert np.isnan(le["far_min"].iloc[0]) and not le["rule_far_below_min"].iloc[0]


def test_spatial_park_lookup_without_park_id(params):
    pl = case_plots().drop(columns="park_id")
    le = low_efficiency.assess(pl, params, enterprises=case_firms(), parks=park_frame(), as_of=AS_OF).set_index("plot_id")
    assert le.loc["P1", "park_id"] == "IP1" and le.loc["P9", "park_id"] == "IP2" and pd.isna(le.loc["P10", "park_id"])
    assert le.loc["P10", "rule_scattered"] and not le.loc["P1", "rule_scattered"]


def test_same_index_geometry_and_crs(params):
    pl = case_plots()
    pl.index = np.arange(100, 100 + len(pl))
    le = low_efficiency.assess(pl, params, as_of=AS_OF)
    assert isinstance(le, gpd.GeoDataFrame) and le.index.equals(pl.index) and le.crs == pl.crs
    assert le.geometry.geom_equals(pl.geometry).all()


def test_empty_plots(params):
    le = low_efficiency.assess(case_plots().iloc[:0], params, as_of=AS_OF)
    assert len(le) == 0 and "rule_far_below_min" in le.columns and le["is_low_efficiency"].dtype == bool


def test_crs_problems(params):
    pl = case_plots()
    with pytest.raises(MissingCRSError, match="naive"):
        low_efficiency.assess(pl.set_crs(None, allow_override=True), params, as_of=AS_OF)
    with pytest.raises(CRSMismatchError, match="parks is in EPSG:4326"):
        low_efficiency.assess(pl, params, parks=park_frame().to_crs(4326), as_of=AS_OF)


def test_plot_under_construction_is_judged_by_completion_not_far(params):
    frame = plots([plot("U1", 0, 0, status="under_construction", far=0.0, building_coverage=0.0, park_id="IP1",
                        completion_date=None, contract_completion_date=AS_OF + pd.Timedelta(days=100))])
    out = low_efficiency.assess(frame, params, enterprises=firms([firm("FU1", plot_id="U1", tax_10k=600.0)]),
                                parks=park_frame(), as_of=AS_OF).set_index("plot_id")
    assert not out.loc["U1", "rule_far_below_min"] and not out.loc["U1", "rule_coverage_below_min"]
    assert not out.loc["U1", "is_low_efficiency"]
