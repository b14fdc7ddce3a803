"""One park-membership rule (analysis.membership): attribute when it names a park, else the outline;
a report where they disagree; and on the sample, a plots layer without park_id gives the same analyses."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from analysis import low_efficiency, membership, parks as parks_mod, per_mu, siting
from analysis._common import combine_parks
from analysis.params import load_preset
from tests.analysis_frames import firm, firms, parks, plot, plots


def park_frame():
    # IP1 (industrial, 0..2000) holds micro-park MP1 (0..500); IP2 (3000..4000) apart
    pk = parks([("IP1", "industrial_park", False, 0, 0, 2000, 1000),
                ("MP1", "micro_park", False, 0, 0, 500, 500),
                ("IP2", "industrial_park", True, 3000, 0, 4000, 1000)])
    pk["name"] = ["一号园", "小微园", "二号园"]
    return pk


def case_plots():
    return plots([
        plot("A", 100, 100, park_id=None),      # in MP1 (and IP1): micro-park wins
        plot("B", 1000, 100, park_id=None),     # in IP1
        plot("C", 5000, 0, park_id=None),       # outside
        plot("D", 1200, 100, park_id="IP1"),    # attribute agrees
        plot("E", 1400, 100, park_id="IP2"),    # attribute names a park whose outline is elsewhere
        plot("F", 3100, 100, park_id="XX9"),    # unknown park id: the outline decides (IP2)
        plot("G", 200, 200, park_id="IP1"),     # attribute IP1, outline MP1 inside IP1: agrees
    ])


def test_attribute_else_outline():
    m = membership.plot_membership(case_plots(), park_frame())
    m.index = case_plots()["plot_id"]
    assert m["park_id"].fillna("-").to_dict() == {"A": "MP1", "B": "IP1", "C": "-", "D": "IP1", "E": "IP2",
                                                   "F": "IP2", "G": "IP1"}
    assert m["park_source"].to_dict() == {"A": "geometry", "B": "geometry", "C": "none", "D": "attribute",
                                          "E": "attribute", "F": "geometry", "G": "attribute"}
    assert m["park_check"].to_dict() == {"A": "from_geometry", "B": "from_geometry", "C": "outside", "D": "agrees",
                                         "E": "outside_named_park", "F": "unknown_park", "G": "agrees"}


def test_report_lists_disagreements_with_names():
    rep = membership.membership_report(case_plots(), park_frame()).set_index("plot_id")
    assert sorted(rep.index) == ["E", "F"]
    assert rep.loc["E", "problem_zh"] == "园区属性“二号园”:属性所填园区的范围不包含该地块;按范围属于一号园"
    assert rep.loc["F", "park_check"] == "unknown_park" and rep.loc["F", "park_name_geometry"] == "二号园"
    assert "XX9" in rep.loc["F", "problem"]


def test_pairs_count_a_micro_park_plot_for_both_parks():
    pk = park_frame()
    park, plot_pos = membership.plot_park_pairs(pk, case_plots())
    ids = pk["park_id"].to_numpy()[park]
    pids = case_plots()["plot_id"].to_numpy()[plot_pos]
    pairs = set(zip(pids, ids))
    assert {("A", "IP1"), ("A", "MP1"), ("G", "IP1"), ("G", "MP1")} <= pairs
    assert ("E", "IP2") in pairs and ("E", "IP1") not in pairs       # the attribute wins alone
    assert ("F", "IP2") in pairs and not any(p == "C" for p, _ in pairs)


def test_firm_parks_through_the_plot_or_the_point():
    pk = park_frame()
    f = firms([firm("F1", plot_id="A"), firm("F2", plot_id=None), firm("F3", plot_id="nope")])
    f.geometry = gpd.points_from_xy(f.geometry.x + np.array([3200, 1100, 9000]), f.geometry.y + 100, crs=f.crs)
    out = membership.firm_parks(f, case_plots(), pk)
    assert out.fillna("-").tolist() == ["MP1", "IP1", "-"]


def test_low_efficiency_reads_the_outline_when_the_attribute_is_empty():
    p = load_preset("huangyan_2022").low_efficiency
    frame = case_plots()
    frame["park_id"] = pd.Series(pd.NA, index=frame.index, dtype="string")    # as a 三调 import gives it
    le = low_efficiency.assess(frame, p, parks=park_frame(),
                               as_of="2026-06-30").set_index("plot_id")
    assert le.loc["A", "park_id"] == "MP1" and not le.loc["A", "rule_scattered"]
    assert le.loc["C", "rule_scattered"] and le["rule_scattered"].sum() == 1


# --- the sample: with and without park_id -----------------------------------------------------------
@pytest.fixture(scope="module")
def layers(sample_ws):
    return {n: sample_ws.read(n) for n in ("plots", "enterprises", "industrial_parks", "micro_parks", "constraints")}


@pytest.fixture(scope="module")
def without_park_id(layers):
    null = layers["plots"].copy()
    null["park_id"] = pd.Series(pd.NA, index=null.index, dtype="string")
    return null


def test_sample_attribute_and_outlines_agree(layers):
    pk = combine_parks(layers["industrial_parks"], layers["micro_parks"])
    assert membership.membership_report(layers["plots"], pk).empty


@pytest.mark.parametrize("preset", ["ruian_default", "huangyan_2022"])
def test_sample_low_efficiency_same_without_park_id(layers, without_park_id, preset):
    p = load_preset(preset).low_efficiency
    pk = combine_parks(layers["industrial_parks"], layers["micro_parks"])
    kw = dict(enterprises=layers["enterprises"], parks=pk, as_of="2026-06-30")
    a = low_efficiency.assess(layers["plots"], p, **kw)
    b = low_efficiency.assess(without_park_id, p, **kw)
    cols = [c for c in a.columns if c.startswith("rule_")] + ["park_id", "is_low_efficiency", "is_idle_land",
                                                              "reasons_zh", "reasons_en"]
    pd.testing.assert_frame_equal(pd.DataFrame(a[cols]), pd.DataFrame(b[cols]))
    # the numbers: 579 polluting outside a park; huangyan's scattered 1,755 (not all 5,000)
    assert int(b["rule_polluting_outside_park"].sum()) == 579
    if preset == "huangyan_2022":
        assert int(b["rule_scattered"].sum()) == 1755


def test_sample_parks_per_mu_and_siting_same_without_park_id(layers, without_park_id):
    params = load_preset("ruian_default")
    for kind in ("industrial_parks", "micro_parks"):
        a = parks_mod.assess(layers[kind], params.parks, plots=layers["plots"], enterprises=layers["enterprises"])
        b = parks_mod.assess(layers[kind], params.parks, plots=without_park_id, enterprises=layers["enterprises"])
        pd.testing.assert_frame_equal(pd.DataFrame(a.drop(columns="geometry")), pd.DataFrame(b.drop(columns="geometry")))
    pk = combine_parks(layers["industrial_parks"], layers["micro_parks"])
    ev_a = per_mu.evaluate(layers["enterprises"], params.per_mu, plots=layers["plots"], parks=pk)
    ev_b = per_mu.evaluate(layers["enterprises"], params.per_mu, plots=without_park_id, parks=pk)
    assert ev_a["park_id"].equals(ev_b["park_id"])
    sp = siting.load_siting_params()
    for rule in ("polluting", "midwest"):
        da = siting.select_demand(layers["enterprises"], sp, rule=rule, plots=layers["plots"], parks=pk)
        db = siting.select_demand(layers["enterprises"], sp, rule=rule, plots=without_park_id, parks=pk)
        assert da.index.equals(db.index) and len(da) == {"polluting": 360, "midwest": 643}[rule]

    def supply(pl):
        s = siting.supply_from_layers(sp, industrial_parks=layers["industrial_parks"], micro_parks=layers["micro_parks"],
                                      plots=pl, enterprises=layers["enterprises"], constraints=layers["constraints"])
        return pd.DataFrame(s.drop(columns="geometry"))

    a, b = supply(layers["plots"]), supply(without_park_id)
    assert len(a) > 100                        # sites are land: vacant plot clusters, not 18 park points
    pd.testing.assert_frame_equal(a, b)


def test_cli_membership_reports_disagreements(sample_path, tmp_path, capsys):
    import shutil

    import cli
    from layers.access import SYSTEM
    from layers.store import open_workspace

    assert cli.main(["membership", "--workspace", str(sample_path)]) == 0
    out = capsys.readouterr().out
    assert "0 plot(s) where attribute and outline disagree" in out and "from the outline: 0" in out
    ws_path = tmp_path / "ruian.gpkg"
    shutil.copy(sample_path, ws_path)
    ws = open_workspace(ws_path, readonly=False)
    plots_ = ws.read("plots")
    inside = plots_.index[plots_["park_id"] == "IP01"][0]
    plots_.loc[inside, "park_id"] = "IP02"                       # a wrong attribute
    plots_.loc[plots_["park_id"] == "MP06", "park_id"] = pd.NA    # and a 三调-style gap
    ws.write("plots", plots_, source="test", actor=SYSTEM)
    csv = tmp_path / "report.csv"
    assert cli.main(["--lang", "zh", "membership", "--workspace", str(ws_path), "--out", str(csv)]) == 0
    out = capsys.readouterr().out
    assert "1 plot(s) where attribute and outline disagree" in out
    assert f"{plots_.loc[inside, 'plot_id']}: 园区属性“国际汽摩配产业新城”:属性所填园区的范围不包含该地块;按范围属于瑞安经济开发区飞云新区" in out
    report = pd.read_csv(csv, encoding="utf-8-sig", dtype=str)
    assert report["park_check"].tolist() == ["outside_named_park"]
