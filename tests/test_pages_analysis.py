"""AppTest of the analysis pages on a copy of the sample with one stored run (made once for this module).

Pages: 亩均 evaluation (table, recompute with other weights, re-grade with reason), low-efficiency
list (reasons, rules, add to shortlist), redevelopment (weights renormalised, clusters), siting
(run on a small rule, single-firm ranking), joint zones, park dashboards.  Never writes into
``data/ruian``.  Each runs once on a GeoPackage and once in PostGIS, signed in as a planner.
"""
from __future__ import annotations

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analysis import pipeline
from layers import shortlist
from layers.access import Actor
from layers.store import open_workspace
from tests.apptest import sign_in

TIMEOUT = 90
TESTER = Actor("测试员", "planner")


@pytest.fixture(scope="module")
def run_ws(module_sample) -> tuple[str, str]:
    """A sample copy with one analysis run (ruian_default), on each backend."""
    run_id, _ = pipeline.run(module_sample, "ruian_default", run_id="pages_test", actor=TESTER)
    return module_sample.location, run_id


@pytest.fixture
def ws_path(run_ws, monkeypatch) -> str:
    monkeypatch.setenv("PLANNER_WORKSPACE", run_ws[0])
    return run_ws[0]


def _page_evaluation():
    from ui.pages import evaluation

    evaluation.render()


def _page_low_efficiency():
    from ui.pages import low_efficiency

    low_efficiency.render()


def _page_redevelopment():
    from ui.pages import redevelopment

    redevelopment.render()


def _page_siting():
    from ui.pages import siting

    siting.render()


def _page_integration():
    from ui.pages import integration

    integration.render()


def _page_parks():
    from ui.pages import parks

    parks.render()


def _app(page, lang: str = "zh") -> AppTest:
    at = AppTest.from_function(page, default_timeout=TIMEOUT)
    at.session_state["lang"] = lang
    sign_in(at, TESTER)
    at.run()
    _ok(at)
    return at


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _by_label(widgets, label):
    hits = [w for w in widgets if w.label == label]
    assert hits, f"no widget labelled {label!r}; have {[w.label for w in widgets]}"
    return hits[0]


def _charts(at: AppTest) -> int:
    return len(at.get("vega_lite_chart"))


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def _count(at: AppTest, label: str) -> int:
    """A metric's number without its unit and thousands separators ("2,233 家" → 2233)."""
    return int(_metric(at, label).split()[0].replace(",", ""))


def _open_tab(at: AppTest, key: str, index: int) -> AppTest:
    """Open tab ``index`` of the tabs ``key`` (pages draw only the open tab) and rerun."""
    at.session_state[key] = at.tabs[index].label
    at.run()
    _ok(at)
    return at


def _tick(at: AppTest, table: str, rows: list[int]) -> None:
    """Tick rows of a table drawn by ui.pages._common.pick_rows (its widget key carries a digest)."""
    at.session_state[at.session_state[f"{table}__widget"]] = {"selection": {"rows": rows, "columns": [], "cells": []}}


# --- evaluation ------------------------------------------------------------------------------
def test_evaluation_table_and_class_mix(ws_path):
    at = _app(_page_evaluation)
    table = at.dataframe[0].value
    assert {"统一社会信用代码", "亩均税收(万元/亩)", "综合得分(分)", "计算类别", "最终类别"} <= set(table.columns)
    assert set(table["最终类别"].dropna()) <= {"A", "B", "C", "D"}
    assert table["综合得分(分)"].is_monotonic_decreasing
    run = pipeline.load_run(open_workspace(ws_path), "pages_test")["per_mu"]
    assert _count(at, "参评企业") == int((run["status"] == "evaluated").sum())
    assert _charts(at) == 0  # only the open tab is drawn
    _open_tab(at, "ev_tabs", 1)
    assert _charts(at) == 2  # class mix by township, by industry
    _open_tab(at, "ev_tabs", 3)
    assert _charts(at) == 1  # the selected firm's score parts


def test_evaluation_recompute_with_other_weights_changes_scores(ws_path):
    at = _open_tab(_app(_page_evaluation), "ev_tabs", 2)
    # all weight on 亩均税收 for 规上 firms: renormalised to 100 points
    for w in at.number_input:
        if w.key.startswith("ev_w_above_scale_"):
            w.set_value(1.0 if w.key.endswith("tax_per_mu") else 0.0)
    at.button(key="FormSubmitter:ev_weights-重新计算").click().run()
    _ok(at)
    params = at.session_state["ev_params"]
    weights = {i.key: i.weight for i in params.above_scale.indicators}
    assert weights["tax_per_mu"] == pytest.approx(100.0)
    assert sum(weights.values()) == pytest.approx(100.0)
    assert _count(at, "类别变化的企业") > 0
    from ui.pages.evaluation import recompute

    new = recompute(open_workspace(ws_path), params).set_index("credit_code")
    old = pipeline.load_run(open_workspace(ws_path), "pages_test")["per_mu"].set_index("credit_code")
    above = new.index[(new["status"] == "evaluated") & (new["group"] == "above_scale")]
    assert not new.loc[above, "score"].round(6).equals(old.loc[above, "score"].round(6))
    # the 规上 score is now 亩均税收 ÷ benchmark × 100, by hand
    firm = above[0]
    expected = min(new.at[firm, "ind_tax_per_mu"] / new.at[firm, "bench_tax_per_mu"],
                   float("inf")) * 100.0
    assert new.at[firm, "score"] == pytest.approx(expected, rel=1e-6) or new.at[firm, "imputed"]


def test_regrade_needs_a_reason_and_is_stored_beside_the_computed_class(ws_path):
    at = _open_tab(_app(_page_evaluation), "ev_tabs", 3)
    code = at.selectbox(key="ev_firm").value
    ws = open_workspace(ws_path)
    computed = pipeline.load_run(ws, "pages_test")["per_mu"].set_index("credit_code").at[code, "computed_class"]
    other = next(c for c in "ABCD" if c != computed)
    _by_label(at.selectbox, "调整为").set_value(other)
    at.button(key="FormSubmitter:ev_regrade_form-保存重新评级").click().run()
    assert at.error and "原因" in at.error[0].value
    assert code not in set(open_workspace(ws_path).read_table("regrades")["credit_code"])
    _by_label(at.text_input, "调整原因(必填)").input("现场核查:已完成技改")
    at.button(key="FormSubmitter:ev_regrade_form-保存重新评级").click().run()
    _ok(at)
    log = open_workspace(ws_path).read_table("regrades")
    row = log[log["credit_code"] == code].iloc[-1]
    assert (row["new_class"], row["computed_class"], row["reason"], row["who"]) == (other, computed, "现场核查:已完成技改", "测试员")
    _open_tab(at, "ev_tabs", 0)
    table = at.dataframe[0].value.set_index("统一社会信用代码")
    assert table.at[code, "最终类别"] == other and table.at[code, "计算类别"] == computed
    assert table.at[code, "调整原因"] == "现场核查:已完成技改"


# --- low efficiency --------------------------------------------------------------------------
def test_low_efficiency_list_shows_every_reason_and_adds_to_shortlist(ws_path):
    at = _app(_page_low_efficiency)
    table = at.dataframe[1].value
    assert len(table) and table["列入理由"].notna().all() and (table["命中规则数"] >= 1).all()
    run = pipeline.load_run(open_workspace(ws_path), "pages_test")["plots"]
    assert len(table) == int(run["is_low_efficiency"].sum())
    rules = at.dataframe[0].value
    assert len(rules) == 10 and rules["地块数"].sum() >= len(table)
    assert "建筑系数低于 30%" in set(rules["判定条件"])
    assert _charts(at) == 2
    # idle land (闲置土地) is its own list, not folded into the low-efficiency one
    idle = at.dataframe[2].value
    assert any(h.value.startswith(f"闲置土地({int(run['is_idle_land'].sum())} 块") for h in at.subheader)
    assert len(idle) == int(run["is_idle_land"].sum()) > 0 and idle["列入理由"].str.startswith("闲置土地").all()
    _tick(at, "le_idle_table", [0])
    at.run()
    at.button(key="le_idle_add").click().run()
    _ok(at)
    items = shortlist.load(open_workspace(ws_path))
    idle_item = items[items["source"] == "idle_land:pages_test"]
    assert len(idle_item) == 1 and idle_item["reasons"].iloc[0].startswith("闲置土地:")   # the export's reason text
    _tick(at, "le_table", [0, 1])
    at.run()
    at.button(key="le_add").click().run()
    _ok(at)
    items = shortlist.load(open_workspace(ws_path))
    picked = set(table["地块编号"].iloc[:2])
    listed = items[items["item_id"].isin(picked)]
    assert len(listed) == 2 and listed["reasons"].notna().all()
    assert set(listed["source"]) == {"low_efficiency:pages_test"}


def test_low_efficiency_rule_filter(ws_path):
    at = _app(_page_low_efficiency)
    at.multiselect(key="le_only_rules").set_value(["halted"]).run()
    _ok(at)
    table = at.dataframe[1].value
    assert len(table) and table["列入理由"].str.contains("停产").all()


# --- redevelopment ---------------------------------------------------------------------------
def test_redevelopment_weights_are_renormalised(ws_path):
    at = _app(_page_redevelopment)
    for s in at.slider:
        if s.key and s.key.startswith("rd_w_"):
            s.set_value(0.5 if s.key == "rd_w_road" else 0.0)
    at.run()
    _ok(at)
    assert any("道路 100%" in m.value for m in at.markdown)
    table = at.dataframe[0].value
    scored = table[table["受限约束"].isna()]
    assert (scored["适宜性得分(分)"] - scored["道路(分)"]).abs().max() < 0.051  # both shown to 0.1 point
    assert (table.loc[table["受限约束"].notna(), "适宜性得分(分)"] == 0).all()
    # constraint kinds read as their names, not as stored keys
    assert not table["受限约束"].dropna().str.contains("_").any()


def test_redevelopment_clusters_listed_and_addable(ws_path):
    at = _open_tab(_app(_page_redevelopment), "rd_tabs", 1)
    clusters = at.dataframe[0].value
    assert len(clusters) and (clusters["面积(亩)"] >= 50).all()
    assert not clusters["连片区"].str.contains(r"\.").any()  # ids read "44", never "44.00"
    _tick(at, "rd_clusters", [0])
    at.run()
    at.button(key="rd_add_clusters").click().run()
    _ok(at)
    items = shortlist.load(open_workspace(ws_path))
    assert (items["item_kind"] == "cluster").sum() >= 1


# --- siting ----------------------------------------------------------------------------------
def test_siting_runs_and_shows_assignments(ws_path):
    at = _app(_page_siting)
    assert any("尚无选址结果" in i.value for i in at.info) or at.sidebar.selectbox
    at.selectbox(key="st_rule").set_value("d_class")
    at.slider(key="st_time_limit").set_value(5)
    at.button(key="FormSubmitter:st_run_form-运行选址").click().run()
    _ok(at)
    firms = _count(at, "搬迁企业")
    placed, unplaced_n = _count(at, "已安置"), _count(at, "未安置")
    assert firms > 0 and placed + unplaced_n == firms
    assert _charts(at) >= 1
    sites = at.dataframe[-1].value
    assert "用地利用率" in sites.columns and "所含地块" in sites.columns   # sites are land: their plots
    # the micro-parks' 70 % rule before and after, by firms and by land, with the policy applied
    shares = next(d.value for d in at.dataframe if "适用政策" in d.value.columns)
    assert {"主导产业占比(前)", "主导产业占比(后)", "用地占比(前)", "用地占比(后)", "运行后"} <= set(shares.columns)
    assert shares["适用政策"].str.contains("[\u4e00-\u9fff]").all()
    # an unplaced firm's reason names the parks (by name, not code) and why
    unplaced = next((d.value for d in at.dataframe if "可选园区数" in d.value.columns), pd.DataFrame())
    assert unplaced_n == 0 or len(unplaced) == unplaced_n
    if len(unplaced):
        assert unplaced["原因"].str.contains("各园区:").all()
        assert not unplaced["原因"].str.contains(r"\b(?:IP|IZ|MP)\d\d\b").any()
    _tick(at, "st_sites", [0])
    at.run()
    at.button(key="st_add").click().run()
    _ok(at)
    assert (shortlist.load(open_workspace(ws_path))["item_kind"] == "site").sum() >= 1


def test_where_can_one_firm_go(ws_path):
    at = _open_tab(_app(_page_siting), "st_tabs", 1)
    at.number_input(key="st_need_mu").set_value(10.0)
    at.button(key="FormSubmitter:st_rank_form-查找可选园区").click().run()
    _ok(at)
    ranked = at.dataframe[-1].value
    assert {"排名", "可选", "原因"} <= set(ranked.columns)
    assert set(ranked["可选"]) <= {"是", "否"}  # booleans read as words
    yes = ranked["可选"] == "是"
    eligible = ranked[yes]
    assert list(eligible["排名"]) == sorted(eligible["排名"])
    assert ranked.loc[~yes, "原因"].str.len().gt(0).all()
    # the Chinese UI shows the Chinese reasons (reason_zh), not the English ones
    assert ranked["原因"].str.contains("[\u4e00-\u9fff]").all()
    assert not ranked["原因"].str.contains("site|industry|eligible").any()


# --- integration and parks -------------------------------------------------------------------
def test_integration_run_and_tables(ws_path):
    at = _app(_page_integration)
    at.sidebar.button(key="ig_run_button").click().run()
    _ok(at)
    links = at.dataframe[-1].value
    assert {"距离(米)", "产业相似度(0–1)", "可联合", "理由", "镇街甲"} <= set(links.columns)
    assert not links["镇街甲"].str.fullmatch(r"\d+").any()  # township names, not codes
    assert not links["理由"].str.contains(r"3303\d{5}").any()
    assert links["理由"].str.len().gt(0).all()
    assert links["理由"].str.match("^(关联|未关联)").all()   # reason_zh in the Chinese UI
    assert _count(at, "候选组合") == len(links)


def test_parks_dashboard_with_70_percent_rule(ws_path):
    at = _app(_page_parks)
    table = at.dataframe[0].value
    run = pipeline.load_run(open_workspace(ws_path), "pages_test")["parks"]
    micro = run[run["park_kind"] == "micro_parks"]
    assert len(table) == len(micro)
    assert set(table["是否达标"]) <= {"达标", "未达标", "无企业", "未设主导产业"}
    failing = table[table["是否达标"] == "未达标"]
    assert (failing["主导产业占比(企业数)"] < 70).all() and (failing["差额(家)"] > 0).all()  # shown in %
    # the share by land beside it, with its own pass / fail
    land = table.loc[table["是否达标"] != "无企业", "主导产业占比(用地)"]
    assert land.notna().all() and land.between(0, 100).all()
    assert set(table["按用地是否达标"]) <= {"达标", "未达标", "无企业", "未设主导产业"}
    assert _charts(at) == 3
    at.radio(key="pk_kind").set_value("industrial_parks").run()
    _ok(at)
    assert len(at.dataframe[0].value) == int((run["park_kind"] == "industrial_parks").sum())


def test_english_pages(ws_path):
    for page in (_page_evaluation, _page_parks, _page_low_efficiency):
        at = _app(page, "en")
        assert at.header[0].value in {"Per-mu evaluation", "Park dashboards", "Low-efficiency land"}
