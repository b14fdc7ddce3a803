"""亩均 evaluation page: every firm's indicators, score and class; the class mix; weights; re-grades.

Screen: sidebar — run (or "run the analyses"), shared filters (township and class apply to
firms); main — counts per class → tabs (only the open one is drawn):

* 评价结果: the table under Chinese labels (indicators with units, score, computed class,
  re-grade and final class, county rank); firms not evaluated with their reason on request;
* 类别构成: class mix (100 % bars, every row labelled with its firm count) by township and by
  GB/T 4754 division;
* 权重调整: what the weights mean (points out of the total; a firm at the county average of
  every indicator scores the total; each ratio counts up to its cap) with a table of weight,
  benchmark and cap per indicator; the indicator weights of each group, renormalised to the
  preset's total, then
  recomputed by :func:`analysis.per_mu.evaluate` (cached by the parameter object) and set
  beside the run — class changes as a table, score shifts as a chart; "save as a run" stores
  a full run with these weights;
* 重新评级: one firm's score with its parts, and a re-grade with a reason.  Re-grades are
  kept in the workspace table ``regrades`` (one row per change: who, when, the computed
  class beside the new one) and applied with :func:`analysis.per_mu.apply_regrade` on
  display and in every new run.
"""
from __future__ import annotations

import dataclasses

import altair as alt
import pandas as pd
import streamlit as st

from analysis import per_mu
from analysis.params import ABOVE_INDICATORS, BELOW_INDICATORS, CLASSES, PerMuParams
from exports.formatting import DASH, industry_label, number, percent, unit_label
from geo.errors import ConflictError, ParameterError, PlannerError
from layers import regrades as regrades_store
from layers.store import WorkspaceBase as Workspace, open_workspace as _open_store
from ui import data
from ui.filters import filter_sidebar
from ui.format import Col, label_axis, show, tall, tooltip
from ui.i18n import t
from ui.pages._common import (
    REGRADES_TABLE,
    acting_user,
    effective_regrades,
    page_start,
    permitted,
    plain,
    regrade_log as _regrade_log,
    run_params,
    show_error,
    writable,
)
from ui.shell import current_lang, layer_stamp

__all__ = ["render", "REGRADES_TABLE", "CLASS_COLORS", "effective_regrades", "reweighted", "recompute", "COLUMNS",
           "TABS_KEY"]

TABS_KEY = "ev_tabs"

CLASS_COLORS = {"A": "#1a9850", "B": "#91cf60", "C": "#fc8d59", "D": "#d73027"}
_GROUPS = {"above_scale": ABOVE_INDICATORS, "below_scale": BELOW_INDICATORS}


MOVED_COLUMNS = (
    Col("credit_code", "ev_col_credit_code", "id"), Col("name", "ev_col_name"),
    Col("score_run", "ev_score_run", "num", 1, "points"), Col("score", "ev_score_new", "num", 1, "points"),
    Col("computed_class_run", "ev_class_run"), Col("computed_class", "ev_class_new"),
)
REGRADE_COLUMNS = (
    Col("at", "ev_rg_at", "time"), Col("credit_code", "ev_rg_credit_code", "id"), Col("name", "ev_rg_name"),
    Col("computed_class", "ev_rg_computed_class"), Col("new_class", "ev_rg_new_class"),
    Col("reason", "ev_rg_reason", "wide"), Col("run_id", "ev_rg_run_id", "id"), Col("who", "ev_rg_who"),
)


# --- re-grades (stored in the workspace) ------------------------------------------------------
def _with_regrades(ev: pd.DataFrame, regrades: pd.DataFrame) -> pd.DataFrame:
    """The run's evaluation with the stored re-grades applied (only firms evaluated in this run)."""
    if not len(regrades):
        return ev
    evaluated = set(ev.loc[ev["status"] == "evaluated", "credit_code"].astype(str))
    rg = regrades[regrades["credit_code"].astype(str).isin(evaluated)]
    return per_mu.apply_regrade(ev, rg) if len(rg) else ev


def _save_regrade(ws: Workspace, ev: pd.DataFrame, code: str, new_class: str | None, reason: str, run_id: str,
                  actor, *, seen_id: int | None) -> None:
    """Validate (apply_regrade on the run), then record the re-grade (:func:`layers.regrades.record`).

    ``seen_id`` is the firm's latest re-grade when the form was shown: if someone re-graded the
    firm since, nothing is saved and a ``ConflictError`` says who and when.
    """
    row = ev.loc[ev["credit_code"].astype(str) == code].iloc[0]
    if new_class is not None and reason.strip():
        per_mu.apply_regrade(ev, pd.DataFrame({"credit_code": [code], "new_class": [new_class], "reason": [reason]}))
    regrades_store.record(writable(ws), actor=actor, credit_code=code, new_class=new_class, reason=reason,
                          name=str(row.get("name", "")), computed_class=str(row["computed_class"]), run_id=run_id,
                          expected_id=seen_id, check_expected=True)


# --- weights and recompute ---------------------------------------------------------------------
def reweighted(params: PerMuParams, weights: dict[str, dict[str, float]]) -> PerMuParams:
    """``params`` with new indicator weights per group, renormalised so each group sums to ``weight_total``.

    Raises ``ParameterError`` when a group's weights are all zero.
    """
    groups = {}
    for group, given in weights.items():
        scoring = getattr(params, group)
        total = sum(max(float(given.get(i.key, i.weight)), 0.0) for i in scoring.indicators)
        if total <= 0:
            raise ParameterError(f"the weights of group {group} are all zero; give at least one a positive weight",
                                 message_zh=f"{t('ev_group_' + group, 'zh')}的权重全为 0,请至少给一个指标正权重。")
        inds = tuple(dataclasses.replace(i, weight=max(float(given.get(i.key, i.weight)), 0.0) * params.weight_total
                                         / total) for i in scoring.indicators)
        groups[group] = dataclasses.replace(scoring, indicators=inds)
    return dataclasses.replace(params, **groups)


@st.cache_data(show_spinner=False, max_entries=8)
def _recompute(path: str, stamps: tuple, params: PerMuParams) -> pd.DataFrame:
    ws = _open_store(path)
    ents = data.read_layer(ws, "enterprises", scoped=False)  # a shared cache: the whole county
    plots = data.read_layer(ws, "plots", scoped=False) if ws.has_layer("plots") else None
    micro = data.read_layer(ws, "micro_parks", scoped=False) if ws.has_layer("micro_parks") else None
    ev = per_mu.evaluate(ents, params, plots=plots, micro_parks=micro)
    return pd.DataFrame(ev.drop(columns=ev.geometry.name))


def recompute(ws: Workspace, params: PerMuParams) -> pd.DataFrame:
    """:func:`analysis.per_mu.evaluate` on the workspace with ``params`` (cached by layer stamps and params)."""
    from ui.scope import visible

    stamps = tuple(layer_stamp(ws, n) if ws.has_layer(n) else None for n in ("enterprises", "plots", "micro_parks"))
    return visible(_recompute(ws.location, stamps, params))


# --- sections ----------------------------------------------------------------------------------
def _class_counts(ev: pd.DataFrame, lang: str) -> None:
    done = ev[ev["status"] == "evaluated"]
    cols = st.columns(6)
    # six metrics in a row: the English unit goes into the label ("Class A (firms)"), the Chinese 家 fits the value
    unit = "firms" if lang == "zh" else None
    cols[0].metric(t("ev_evaluated", lang), number(len(done), 0, unit, lang))
    for col, c in zip(cols[1:5], CLASSES):
        col.metric(t("ev_class_n", lang, c=c), number(int((done["final_class"] == c).sum()), 0, unit, lang),
                   help=t(f"ev_class_{c}", lang))
    cols[5].metric(t("ev_not_evaluated", lang), number(int((ev["status"] != "evaluated").sum()), 0, unit, lang))


#: Indicator → unit of its value (ev_col_ind_* labels name them too).
IND_UNITS = {"tax_per_mu": "10k_yuan_per_mu", "va_per_mu": "10k_yuan_per_mu", "va_per_energy": "10k_yuan_per_tce",
             "va_per_emission": "10k_yuan_per_t", "labour_productivity": "10k_yuan_per_person", "rd_share": "percent",
             "tax_per_electricity": "yuan_per_kwh", "sales_per_mu": "10k_yuan_per_mu"}
#: The results table's columns.
COLUMNS = (
    Col("credit_code", "ev_col_credit_code", "id"), Col("name", "ev_col_name"),
    Col("township_name", "ev_col_township_name"), Col("industry_code", "ev_col_industry_code", "industry"),
    Col("group", "ev_col_group", "enum"), Col("land_mu", "ev_col_land_mu", "num", 1, "mu"),
    *(Col(f"ind_{k}", f"ev_col_ind_{k}", "share" if k == "rd_share" else "num", 1 if k == "rd_share" else 2)
      for k in IND_UNITS),
    Col("score", "ev_col_score", "num", 1, "points"), Col("computed_class", "ev_col_computed_class"),
    Col("regraded_class", "ev_col_regraded_class"), Col("regrade_reason", "ev_col_regrade_reason", "wide"),
    Col("final_class", "ev_col_final_class"), Col("rank_county", "ev_col_rank_county", "int"),
)


def _table(ev: pd.DataFrame, lang: str) -> None:
    show_all = st.toggle(t("ev_show_all", lang), key="ev_show_all")
    df = ev if show_all else ev[ev["status"] == "evaluated"]
    cols = COLUMNS
    if show_all:
        df = df.assign(why=df["reason_zh" if lang == "zh" else "reason_en"])
        cols = (*COLUMNS, Col("status", "ev_col_status", "enum"), Col("why", "ev_col_reason_zh", "wide"))
    out = df.sort_values("score", ascending=False, na_position="last")
    st.caption(t("ev_rows", lang, n=f"{len(out):,}"))
    show(out, cols, lang, height=420)


def _mix_chart(ev: pd.DataFrame, by: str, title: str, lang: str) -> alt.Chart:
    """Class shares (100 % bars) per township or industry, every row labelled with its firm count."""
    done = ev[ev["status"] == "evaluated"]
    if by == "industry_div":
        names = done[by].map(lambda c: industry_label(c, lang))
    else:
        names = done[by].fillna(DASH).astype(str)
    counts = names.value_counts()
    unit = unit_label("firms", lang)
    row = names.map(lambda n: f"{n}({counts[n]} {unit})" if lang == "zh" else f"{n} ({counts[n]} {unit})")
    mix = done.assign(row=row).groupby(["row", "final_class"]).size().rename("n").reset_index()
    order = [f"{n}({c} {unit})" if lang == "zh" else f"{n} ({c} {unit})" for n, c in counts.items()]
    high = tall(len(order), per=22)
    firms = t("ev_firms", lang)
    return alt.Chart(mix, title=title).mark_bar().encode(
        y=alt.Y("row:N", sort=order, axis=label_axis()),
        x=alt.X("n:Q", stack="normalize", title=t("ev_share", lang), axis=alt.Axis(format="%")),
        color=alt.Color("final_class:N", scale=alt.Scale(domain=list(CLASSES), range=list(CLASS_COLORS.values())),
                        title=t("ev_col_final_class", lang)),
        order=alt.Order("final_class:N"),
        tooltip=[tooltip("row", t("ev_row", lang), kind="N"), tooltip("final_class", t("ev_col_final_class", lang), kind="N"),
                 tooltip("n", firms, digits=0, unit="firms", lang=lang)],
    ).properties(height=high)


def _mix(ev: pd.DataFrame, lang: str) -> None:
    for by, title in (("township_name", t("ev_mix_township", lang)), ("industry_div", t("ev_mix_industry", lang))):
        chart = _mix_chart(ev, by, title, lang)
        st.altair_chart(chart, width="stretch", height=int(chart.height) + 80)


def _scoring_table(params: PerMuParams, ev: pd.DataFrame, lang: str) -> pd.DataFrame:
    """One row per indicator: its weight (points), the benchmark it is divided by, the cap and the most it can give."""
    rows = []
    for group in _GROUPS:
        scoring = getattr(params, group)
        for ind in scoring.indicators:
            bench = ev.loc[ev["group"] == group, f"bench_{ind.key}"].dropna() if f"bench_{ind.key}" in ev else pd.Series()
            unit = IND_UNITS.get(ind.key)
            value = (percent(bench.iloc[0], 2) if unit == "percent" else number(bench.iloc[0], 2, unit, lang)) \
                if len(bench) else DASH
            basis = t("ev_bench_average", lang) if ind.benchmark is None else t("ev_bench_fixed", lang)
            rows.append({
                t("ev_col_group", lang): t(f"ev_group_{group}", lang),
                t("ev_indicator", lang): t(f"ev_col_ind_{ind.key}", lang),
                t("ev_weight", lang): number(ind.weight, 0, "points", lang),
                t("ev_benchmark", lang): f"{basis}:{value}" if lang == "zh" else f"{basis}: {value}",
                t("ev_cap", lang): t("ev_cap_none", lang) if ind.cap is None else t("ev_cap_times", lang, x=f"{ind.cap:g}"),
                t("ev_max_points", lang): t("ev_cap_none", lang) if ind.cap is None
                else number(ind.weight * ind.cap, 0, "points", lang),
            })
    return pd.DataFrame(rows)


def _weights(ws: Workspace, ev: pd.DataFrame, run_id: str, lang: str) -> None:
    base = run_params(ws, run_id)
    st.markdown(t("ev_weights_explain", lang, total=f"{base.per_mu.weight_total:g}"))
    st.dataframe(_scoring_table(base.per_mu, ev, lang), hide_index=True, width="stretch", placeholder=DASH)
    st.caption(t("ev_weights_intro", lang, preset=base.name, total=f"{base.per_mu.weight_total:g}"))
    with st.form("ev_weights"):
        given: dict[str, dict[str, float]] = {}
        for group in _GROUPS:
            scoring = getattr(base.per_mu, group)
            st.markdown(f"**{t('ev_group_' + group, lang)}**")
            cols = st.columns(len(scoring.indicators))
            given[group] = {
                i.key: col.number_input(t("ev_weight_of", lang, ind=t(f"ev_col_ind_{i.key}", lang)), min_value=0.0,
                                        max_value=1000.0, value=float(i.weight), step=1.0, format="%.0f",
                                        key=f"ev_w_{group}_{i.key}")
                for col, i in zip(cols, scoring.indicators)}
        go = st.form_submit_button(t("ev_recompute", lang), type="primary")
    if go:
        try:
            st.session_state["ev_params"] = reweighted(base.per_mu, given)
        except PlannerError as exc:
            show_error(exc, lang)
    params = st.session_state.get("ev_params")
    if params is None:
        return
    st.markdown(t("ev_weights_used", lang) + " " + "; ".join(
        f"{t('ev_group_' + g, lang)}: " + ", ".join(
            f"{t('ev_col_ind_' + i.key, lang)} {number(i.weight, 1, 'points', lang)}"
            for i in getattr(params, g).indicators) for g in _GROUPS))
    try:
        with st.spinner(t("ev_recomputing", lang)):
            new = recompute(ws, params)
    except PlannerError as exc:
        show_error(exc, lang)
        return
    old = ev.set_index("credit_code")
    both = new.set_index("credit_code")[["name", "score", "computed_class"]].join(
        old[["score", "computed_class"]].add_suffix("_run"), how="inner")
    both = both[both["computed_class"].notna() & both["computed_class_run"].notna()]
    changed = both["computed_class"] != both["computed_class_run"]
    c1, c2 = st.columns(2)
    c1.metric(t("ev_changed", lang), f"{int(changed.sum()):,}", help=t("ev_changed_help", lang))
    c2.metric(t("ev_mean_shift", lang), number((both["score"] - both["score_run"]).abs().mean(), 1, "points", lang))
    cross = pd.crosstab(both["computed_class_run"].rename(t("ev_class_run", lang)),
                        both["computed_class"].rename(t("ev_class_new", lang)))
    st.dataframe(cross, width="content")
    moved = both[changed].assign(shift=both["score"] - both["score_run"]).sort_values("shift", key=abs, ascending=False)
    show(moved.reset_index(), MOVED_COLUMNS, lang, height=300)
    if st.button(t("ev_save_run", lang), key="ev_save_run", **permitted("run.chain", lang)):
        custom = dataclasses.replace(base, per_mu=params, name=f"{base.name}_custom")
        with st.status(t("pg_running", lang)) as box:
            try:
                rid, _ = data.run_chain_stored(writable(ws), custom, actor=acting_user())
            except PlannerError as exc:
                box.update(label=t("pg_run_failed", lang), state="error")
                show_error(exc, lang)
                return
            box.update(label=t("ev_saved_run", lang, run=rid), state="complete")
        st.session_state["planner_run"] = rid


def _parts_chart(row: pd.Series, lang: str) -> alt.Chart | None:
    keys = [k for k in _GROUPS.get(str(row.get("group")), {}) if pd.notna(row.get(f"sub_{k}"))]
    if not keys:
        return None

    def shown(k, prefix):
        v = row.get(f"{prefix}_{k}")
        if pd.isna(v):
            return DASH
        unit = IND_UNITS.get(k)
        return percent(v, 2) if unit == "percent" else number(v, 2, unit, lang)

    parts = pd.DataFrame({"indicator": [t(f"ev_col_ind_{k}", lang) for k in keys],
                          "points": [float(row[f"sub_{k}"]) for k in keys],
                          "value": [shown(k, "ind") for k in keys],
                          "benchmark": [shown(k, "bench") for k in keys]})
    points = t("ev_points", lang)
    return alt.Chart(parts, title=t("ev_parts", lang, score=number(row["score"], 1, "points", lang))).mark_bar().encode(
        y=alt.Y("indicator:N", sort=None, axis=label_axis()), x=alt.X("points:Q", title=points),
        tooltip=[tooltip("indicator", t("ev_indicator", lang), kind="N"), tooltip("points", points, unit="points", lang=lang),
                 tooltip("value", t("ev_value", lang), kind="N"), tooltip("benchmark", t("ev_benchmark", lang), kind="N")],
    ).properties(height=40 * len(keys) + 40)


def _regrade(ws: Workspace, ev: pd.DataFrame, run_id: str, actor, lang: str) -> None:
    done = ev[ev["status"] == "evaluated"].sort_values("score", ascending=False)
    if not len(done):
        st.info(t("ev_none", lang))
        return
    names = dict(zip(done["credit_code"].astype(str), done["name"].astype(str)))
    code = st.selectbox(t("ev_firm", lang), list(names), key="ev_firm",
                        format_func=lambda c: f"{names[c]} ({c})")
    row = done.loc[done["credit_code"].astype(str) == code].iloc[0]
    seen_key = f"ev_seen|{code}"  # the firm's latest re-grade when this user first saw it
    if seen_key not in st.session_state:
        st.session_state[seen_key] = regrades_store.latest_id(ws, code)
    c1, c2 = st.columns([3, 2])
    chart = _parts_chart(row, lang)
    if chart is not None:
        c1.altair_chart(chart, width="stretch", height=int(chart.height) + 70)
    c2.markdown(t("ev_firm_classes", lang, computed=row["computed_class"], final=row["final_class"],
                  reason=plain(row["regrade_reason"]) if pd.notna(row.get("regrade_reason")) else DASH))
    with c2.form("ev_regrade_form"):
        options = [*CLASSES, "__withdraw__"]
        new_class = st.selectbox(t("ev_new_class", lang), options, key=f"ev_new_class|{code}",
                                 format_func=lambda c: t("ev_withdraw", lang) if c == "__withdraw__" else c)
        reason = st.text_input(t("ev_regrade_reason", lang), key=f"ev_regrade_reason|{code}")
        go = st.form_submit_button(t("ev_regrade_save", lang), type="primary", **permitted("regrade", lang))
    if go:
        try:
            _save_regrade(ws, ev, code, None if new_class == "__withdraw__" else new_class, reason, run_id, actor,
                          seen_id=st.session_state[seen_key])
        except ConflictError as exc:
            st.session_state[seen_key] = exc.current.get("regrade_id")  # the user has now seen the current state
            show_error(exc, lang)
        except PlannerError as exc:
            show_error(exc, lang)
        else:
            st.session_state.pop(seen_key, None)
            st.session_state["ev_flash"] = t("ev_regrade_saved", lang, name=names[code])
            st.rerun()
    log = _regrade_log(ws)
    if len(log):
        st.markdown(f"**{t('ev_regrade_log', lang)}**")
        show(log.iloc[::-1], REGRADE_COLUMNS, lang)


def render() -> None:
    """Draw the 亩均 evaluation page."""
    lang = current_lang()
    if (started := page_start("page_evaluation", lang, run_key="ev")) is None:
        return
    ws, actor, run_id = started
    if (msg := st.session_state.pop("ev_flash", None)):
        st.success(plain(msg))
    try:
        run = data.load_run(ws, run_id)
        view = data.plot_view(ws, run_id)
        filters = filter_sidebar(view, lang)
        ev = _with_regrades(pd.DataFrame(run["per_mu"]).drop(columns="geometry", errors="ignore"), effective_regrades(ws))
    except PlannerError as exc:
        show_error(exc, lang)
        return
    tn = data.township_names(ws)
    ev = ev.assign(township_name=ev["township_code"].astype("object").map(tn).fillna(ev["township_code"]))
    if filters.townships:
        ev = ev[ev["township_code"].astype(str).isin(filters.townships)]
    if filters.parks:
        ev = ev[ev["park_id"].astype(str).isin(filters.parks) | (ev["park_id"].isna() & ("none" in filters.parks))]
    if filters.classes:
        ev = ev[ev["final_class"].astype(str).isin(filters.classes) | (ev["status"] != "evaluated")]
    _class_counts(ev, lang)
    # Only the open tab is drawn: the weights tab re-evaluates every firm, the others need not wait for it.
    tabs = st.tabs([t("ev_tab_table", lang), t("ev_tab_mix", lang), t("ev_tab_weights", lang), t("ev_tab_regrade", lang)],
                   key=TABS_KEY, on_change="rerun")
    sections = (lambda: _table(ev, lang), lambda: _mix(ev, lang), lambda: _weights(ws, ev, run_id, lang),
                lambda: _regrade(ws, ev, run_id, actor, lang))
    for tab, draw in zip(tabs, sections):
        if tab.open:
            with tab:
                draw()
