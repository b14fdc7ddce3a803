"""亩均 evaluation page: every firm's indicators, score and class; the class mix; weights; re-grades.

Screen: sidebar — run (or "run the analyses"), shared filters (township and class apply to
firms); main — counts per class → tabs:

* 评价结果: the table under Chinese labels (indicators with units, score, computed class,
  re-grade and final class, county rank); firms not evaluated with their reason on request;
* 类别构成: class mix by township and by 2-digit industry as stacked bar charts;
* 权重调整: the indicator weights of each group, renormalised to the preset's total, then
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

from analysis import per_mu, pipeline
from analysis.params import ABOVE_INDICATORS, BELOW_INDICATORS, CLASSES, PerMuParams
from geo.errors import ConflictError, ParameterError, PlannerError
from layers import regrades as regrades_store
from layers.store import WorkspaceBase as Workspace
from layers.store import open_workspace as _open_store
from ui import data
from ui.filters import filter_sidebar
from ui.i18n import STRINGS, t
from ui.pages._common import (REGRADE_FIELDS, REGRADES_TABLE, acting_user, effective_regrades, page_start, plain,
                              regrade_log as _regrade_log, run_params, show_error, writable)
from ui.shell import current_lang, layer_stamp

__all__ = ["render", "REGRADES_TABLE", "CLASS_COLORS", "effective_regrades", "reweighted", "recompute"]

CLASS_COLORS = {"A": "#1a9850", "B": "#91cf60", "C": "#fc8d59", "D": "#d73027"}
_GROUPS = {"above_scale": ABOVE_INDICATORS, "below_scale": BELOW_INDICATORS}
_TABLE = ("credit_code", "name", "township_name", "industry_code", "group", "land_mu", "ind_tax_per_mu", "ind_va_per_mu",
          "ind_va_per_energy", "ind_va_per_emission", "ind_labour_productivity", "ind_rd_share",
          "ind_tax_per_electricity", "ind_sales_per_mu", "score", "computed_class", "regraded_class", "regrade_reason",
          "final_class", "rank_county")


def _label(col: str, lang: str) -> str:
    return t(f"ev_col_{col}", lang)


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
    ents = data.read_layer(ws, "enterprises")
    plots = data.read_layer(ws, "plots") if ws.has_layer("plots") else None
    micro = data.read_layer(ws, "micro_parks") if ws.has_layer("micro_parks") else None
    ev = per_mu.evaluate(ents, params, plots=plots, micro_parks=micro)
    return pd.DataFrame(ev.drop(columns=ev.geometry.name))


def recompute(ws: Workspace, params: PerMuParams) -> pd.DataFrame:
    """:func:`analysis.per_mu.evaluate` on the workspace with ``params`` (cached by layer stamps and params)."""
    stamps = tuple(layer_stamp(ws, n) if ws.has_layer(n) else None for n in ("enterprises", "plots", "micro_parks"))
    return _recompute(ws.location, stamps, params)


# --- sections ----------------------------------------------------------------------------------
def _class_counts(ev: pd.DataFrame, lang: str) -> None:
    done = ev[ev["status"] == "evaluated"]
    cols = st.columns(6)
    cols[0].metric(t("ev_evaluated", lang), f"{len(done):,}")
    for col, c in zip(cols[1:5], CLASSES):
        col.metric(t("ev_class_n", lang, c=c), f"{int((done['final_class'] == c).sum()):,}",
                   help=t(f"ev_class_{c}", lang))
    cols[5].metric(t("ev_not_evaluated", lang), f"{int((ev['status'] != 'evaluated').sum()):,}")


def _table(ev: pd.DataFrame, lang: str) -> None:
    show_all = st.toggle(t("ev_show_all", lang), key="ev_show_all")
    df = ev if show_all else ev[ev["status"] == "evaluated"]
    cols = [c for c in _TABLE if c in df.columns]
    if show_all:
        cols += ["status", "reason_zh" if lang == "zh" else "reason_en"]
    out = pd.DataFrame(df[cols]).sort_values("score", ascending=False, na_position="last")
    out["group"] = out["group"].map(lambda g: t(f"ev_group_{g}", lang) if isinstance(g, str) and g in _GROUPS else g)
    st.caption(t("ev_rows", lang, n=len(out)))
    st.dataframe(out.rename(columns={c: _label(c, lang) for c in out.columns if f"ev_col_{c}" in STRINGS}),
                 hide_index=True, width="stretch", height=420,
                 column_config={_label("score", lang): st.column_config.NumberColumn(format="%.1f"),
                                _label("land_mu", lang): st.column_config.NumberColumn(format="%.1f")})


def _mix_chart(ev: pd.DataFrame, by: str, title: str, lang: str) -> alt.Chart:
    done = ev[ev["status"] == "evaluated"]
    mix = done.groupby([by, "final_class"]).size().rename("n").reset_index()
    mix[by] = mix[by].astype(str)
    order = done[by].astype(str).value_counts().index.tolist()
    return alt.Chart(mix, title=title).mark_bar().encode(
        x=alt.X(f"{by}:N", sort=order, title=None),
        y=alt.Y("n:Q", stack="normalize", title=t("ev_share", lang), axis=alt.Axis(format="%")),
        color=alt.Color("final_class:N", scale=alt.Scale(domain=list(CLASSES), range=list(CLASS_COLORS.values())),
                        title=t("ev_col_final_class", lang)),
        order=alt.Order("final_class:N"),
        tooltip=[alt.Tooltip(f"{by}:N"), alt.Tooltip("final_class:N"), alt.Tooltip("n:Q")],
    ).properties(height=320)


def _mix(ev: pd.DataFrame, lang: str) -> None:
    st.altair_chart(_mix_chart(ev, "township_name", t("ev_mix_township", lang), lang), width="stretch",
                    height=400)
    st.altair_chart(_mix_chart(ev, "industry_div", t("ev_mix_industry", lang), lang), width="stretch", height=400)


def _weights(ws: Workspace, ev: pd.DataFrame, run_id: str, lang: str) -> None:
    base = run_params(ws, run_id)
    st.caption(t("ev_weights_intro", lang, preset=base.name, total=f"{base.per_mu.weight_total:g}"))
    with st.form("ev_weights"):
        given: dict[str, dict[str, float]] = {}
        for group in _GROUPS:
            scoring = getattr(base.per_mu, group)
            st.markdown(f"**{t('ev_group_' + group, lang)}**")
            cols = st.columns(len(scoring.indicators))
            given[group] = {
                i.key: col.number_input(t(f"ev_col_ind_{i.key}", lang), min_value=0.0, max_value=1000.0,
                                        value=float(i.weight), step=1.0, key=f"ev_w_{group}_{i.key}")
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
        f"{t('ev_group_' + g, lang)}: " + ", ".join(f"{t('ev_col_ind_' + i.key, lang)} {i.weight:.1f}"
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
    c2.metric(t("ev_mean_shift", lang), f"{(both['score'] - both['score_run']).abs().mean():.2f}")
    cross = pd.crosstab(both["computed_class_run"].rename(t("ev_class_run", lang)),
                        both["computed_class"].rename(t("ev_class_new", lang)))
    st.dataframe(cross, width="content")
    moved = both[changed].assign(shift=both["score"] - both["score_run"]).sort_values("shift", key=abs, ascending=False)
    moved = moved.reset_index()[["credit_code", "name", "score_run", "score", "computed_class_run", "computed_class"]]
    st.dataframe(moved.rename(columns={"credit_code": _label("credit_code", lang), "name": _label("name", lang),
                                       "score_run": t("ev_score_run", lang), "score": t("ev_score_new", lang),
                                       "computed_class_run": t("ev_class_run", lang),
                                       "computed_class": t("ev_class_new", lang)}),
                 hide_index=True, width="stretch", height=300)
    if st.button(t("ev_save_run", lang), key="ev_save_run"):
        custom = dataclasses.replace(base, per_mu=params, name=f"{base.name}_custom")
        with st.status(t("pg_running", lang)) as box:
            try:
                rid, _ = pipeline.run(writable(ws), custom, actor=acting_user())
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
    parts = pd.DataFrame({"indicator": [t(f"ev_col_ind_{k}", lang) for k in keys],
                          "points": [float(row[f"sub_{k}"]) for k in keys],
                          "value": [float(row[f"ind_{k}"]) if pd.notna(row.get(f"ind_{k}")) else None for k in keys],
                          "benchmark": [float(row[f"bench_{k}"]) if pd.notna(row.get(f"bench_{k}")) else None
                                        for k in keys]})
    return alt.Chart(parts, title=t("ev_parts", lang, score=f"{row['score']:.1f}")).mark_bar().encode(
        y=alt.Y("indicator:N", sort=None, title=None), x=alt.X("points:Q", title=t("ev_points", lang)),
        tooltip=["indicator", alt.Tooltip("points:Q", format=".1f"), alt.Tooltip("value:Q", format=".3f"),
                 alt.Tooltip("benchmark:Q", format=".3f")]).properties(height=40 * len(keys) + 40)


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
                  reason=plain(row["regrade_reason"]) if pd.notna(row.get("regrade_reason")) else "—"))
    with c2.form("ev_regrade_form"):
        options = [*CLASSES, "__withdraw__"]
        new_class = st.selectbox(t("ev_new_class", lang), options, key=f"ev_new_class|{code}",
                                 format_func=lambda c: t("ev_withdraw", lang) if c == "__withdraw__" else c)
        reason = st.text_input(t("ev_regrade_reason", lang), key=f"ev_regrade_reason|{code}")
        go = st.form_submit_button(t("ev_regrade_save", lang), type="primary")
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
        st.dataframe(log.iloc[::-1].rename(columns={c: t(f"ev_rg_{c}", lang) for c in REGRADE_FIELDS}),
                     hide_index=True, width="stretch")


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
    tabs = st.tabs([t("ev_tab_table", lang), t("ev_tab_mix", lang), t("ev_tab_weights", lang), t("ev_tab_regrade", lang)])
    with tabs[0]:
        _table(ev, lang)
    with tabs[1]:
        _mix(ev, lang)
    with tabs[2]:
        _weights(ws, ev, run_id, lang)
    with tabs[3]:
        _regrade(ws, ev, run_id, actor, lang)
