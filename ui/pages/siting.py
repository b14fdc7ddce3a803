"""Relocation siting page: which park each relocating firm should move to, and where one firm could go.

Screen: sidebar — the siting run to show; main —

* 运行选址: the demand rule (polluting firms outside parks / class D / mid-west townships),
  released cluster land as extra supply, a time limit → "run siting" with a progress box
  (:func:`analysis.siting_runs.run_siting`, stored as ``siting_<id>_*``);
* the run: counts (firms, placed, not placed, solver status and gap) → map of the sites as land
  (each a vacant plot or contiguous cluster of vacant plots inside a park) with firm → site lines
  ending on that land → land used vs capacity per park as a chart → the micro-parks'
  leading-industry share (≥ 70 %) before and after, by firms and by land, pass / fail and the
  policy applied → firms not placed with the reason naming every park and why → all
  assignments → the sites table with ticks to "add to shortlist";
* 单个企业选址: pick a firm (and optionally its land need in 亩) → every site ranked by
  :func:`analysis.siting.rank_sites_for_firm`, each excluded site with its reason.
"""
from __future__ import annotations

import altair as alt
import numpy as np
import geopandas as gpd
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from analysis import siting, siting_runs
from geo.errors import PlannerError
from geo.web import display_copy
from layers.store import WorkspaceBase as Workspace
from layers.store import open_workspace as _open_store
from ui import data
from ui.filters import current_filters
from ui.i18n import t
from ui.mapview import build_map
from ui.offline import static_base_url
from ui.pages._common import (acting_user, add_to_shortlist, open_ws, pipeline_runs, run_layers, runs_of_kind,
                              selected_rows, show_error, writable)
from ui.shell import current_lang, layer_stamp

__all__ = ["render", "siting_runs_of", "ranked_sites", "reason_column"]

MAP_KEY = "siting_map"
_RUN_KEY = "st_run_id"
_RANK_KEY = "st_ranked"


def siting_runs_of(ws: Workspace) -> list[str]:
    """Stored siting run ids (without the ``siting_`` prefix), newest first."""
    return runs_of_kind(ws, "siting", "assignments")


def _load(ws: Workspace, run_id: str) -> dict[str, gpd.GeoDataFrame]:
    return run_layers(ws, "siting", run_id, ("assignments", "sites", "lines", "parks"))


@st.cache_resource(show_spinner=False, max_entries=2)
def _supply(path: str, stamps: tuple, params: siting.SitingParams) -> gpd.GeoDataFrame:
    ws = _open_store(path)
    read = {n: data.read_layer(ws, n) for n in ("industrial_parks", "micro_parks", "plots", "enterprises", "constraints")
            if ws.has_layer(n)}
    return siting.supply_from_layers(params, **read)


def ranked_sites(ws: Workspace, credit_code: str, params: siting.SitingParams, *,
                 need_mu: float | None) -> gpd.GeoDataFrame:
    """Every site ranked for one firm (:func:`analysis.siting.rank_sites_for_firm`).

    The reasons come in both languages (``reason`` English, ``reason_zh``), so a ranking kept
    in the session follows a later language switch (:func:`reason_column`).
    """
    stamps = tuple(layer_stamp(ws, n) if ws.has_layer(n) else None
                   for n in ("industrial_parks", "micro_parks", "plots", "enterprises", "constraints"))
    supply = _supply(ws.location, stamps, params)
    ents = data.read_layer(ws, "enterprises")
    firm = ents[ents["credit_code"].astype(str) == credit_code]
    constraints = data.read_layer(ws, "constraints") if ws.has_layer("constraints") else None
    return siting.rank_sites_for_firm(firm, supply, params, constraints=constraints, need_mu=need_mu, lang="en")


def reason_column(frame: pd.DataFrame, lang: str) -> str:
    """The reason column to show in ``lang``: ``reason_zh`` in Chinese when the frame has it
    (runs stored before it existed only have the English ``reason``)."""
    return "reason_zh" if lang != "en" and "reason_zh" in frame.columns else "reason"


def _with_reason(frame: pd.DataFrame, cols: list[str], lang: str) -> pd.DataFrame:
    """``frame[cols]`` as a plain DataFrame with ``reason`` holding the text in ``lang``; empty names
    (a firm outside every park, a site for a firm not placed) read "—", never "None"."""
    out = pd.DataFrame(frame[[c for c in cols if c in frame.columns]])
    if "reason" in out.columns:
        out["reason"] = frame[reason_column(frame, lang)].to_numpy()
    for c in ("current_park_name", "site_name", "park_name", "site_id"):
        if c in out.columns:
            out[c] = out[c].astype("string").fillna("—")
    return out


def _run_form(ws: Workspace, lang: str) -> None:
    has_run = len(pipeline_runs(ws)) > 0
    with st.form("st_run_form"):
        c1, c2, c3 = st.columns([2, 1, 1])
        rule = c1.selectbox(t("st_rule", lang), [r for r in siting.DEMAND_RULES if r != "list"], key="st_rule",
                            format_func=lambda r: t(f"st_rule_{r}", lang))
        limit = c2.slider(t("st_time_limit", lang), 5, 120, 20, step=5, key="st_time_limit")
        clusters = c3.checkbox(t("st_use_clusters", lang), key="st_use_clusters", disabled=not has_run)
        go = st.form_submit_button(t("st_run_button", lang), type="primary")
    if not go:
        return
    if rule == "d_class" and not has_run:
        st.error(t("st_needs_run", lang))
        return
    params = siting.load_siting_params().replace(time_limit_s=float(limit))
    with st.status(t("st_running", lang, limit=limit), expanded=False) as box:
        try:
            rid, problem = siting_runs.run_siting(writable(ws), params, rule=rule, use_clusters=clusters,
                                                   actor=acting_user())
        except PlannerError as exc:
            box.update(label=t("pg_run_failed", lang), state="error")
            show_error(exc, lang)
            return
        box.update(label=t("st_done", lang, run=rid, status=problem.status, n=problem.n), state="complete")
    st.session_state[_RUN_KEY] = rid
    st.rerun()


def _map(frames: dict, lang: str) -> None:
    """Sites as land (polygons of their vacant plots) and firm → site lines; tooltip labels in ``lang``."""
    layers = {}
    sites = frames.get("sites")
    if sites is not None and len(sites):
        cols = [c for c in ("name", "park_name", "capacity_land_mu", "used_land_mu", "land_utilisation")
                if c in sites.columns]
        shown = sites[cols + [sites.geometry.name]].copy()
        for c in ("capacity_land_mu", "used_land_mu"):
            if c in shown.columns:
                shown[c] = shown[c].astype(float).round(1)
        if "land_utilisation" in shown.columns:
            shown["land_utilisation"] = (shown["land_utilisation"].astype(float) * 100).round(0)
        shown = shown.rename(columns={c: t(f"st_col_{'site_name' if c == 'name' else c}", lang) for c in cols})
        layers["siting_sites"] = display_copy(shown, tolerance_m=0.5, decimals=6, name="siting_sites")
    lines = frames.get("lines")
    if lines is not None and len(lines):
        keep = [c for c in ("site_name", "distance_m") if c in lines.columns]
        shown = lines[keep + [lines.geometry.name]].copy()
        if "distance_m" in shown.columns:
            shown["distance_m"] = shown["distance_m"].astype(float).round(0)
        shown = shown.rename(columns={c: t(f"st_col_{c}", lang) for c in keep})
        layers["siting_lines"] = display_copy(shown, tolerance_m=0.5, decimals=6, name="siting_lines")
    if not layers:
        return
    base_url = st.get_option("server.baseUrlPath") or ""
    st_folium(build_map(layers, lang=lang, static_url=static_base_url(base_url)), key=MAP_KEY, height=440,
              width="stretch", returned_objects=[], render=False)


def _utilisation_chart(frames: dict, lang: str) -> None:
    """Land used vs free per park (per site for runs stored before parks were summarised)."""
    parks, sites = frames.get("parks"), frames.get("sites")
    if parks is not None and len(parks):
        util = pd.DataFrame(parks)
    elif sites is not None and len(sites):
        util = pd.DataFrame(sites.drop(columns=sites.geometry.name))
        util["firms_arriving"] = util.get("firms_assigned", 0)
    else:
        return
    util["label"] = util["name"].astype(str)
    util["land_utilisation"] = util["used_land_mu"] / util["capacity_land_mu"].where(util["capacity_land_mu"] > 0)
    long = pd.concat([util.assign(kind=t("st_used", lang), order=0, mu=util["used_land_mu"]),
                      util.assign(kind=t("st_free", lang), order=1, mu=(util["capacity_land_mu"] - util["used_land_mu"]).clip(lower=0))])
    st.altair_chart(alt.Chart(long, title=t("st_chart_util", lang)).mark_bar().encode(
        y=alt.Y("label:N", sort="-x", title=None), x=alt.X("mu:Q", stack="zero", title=t("le_area_mu", lang)),
        color=alt.Color("kind:N", title=None, sort=[t("st_used", lang), t("st_free", lang)],
                        scale=alt.Scale(domain=[t("st_used", lang), t("st_free", lang)], range=["#d73027", "#cccccc"])),
        order=alt.Order("order:Q"),
        tooltip=["label", "kind", alt.Tooltip("mu:Q", format=".1f"), alt.Tooltip("land_utilisation:Q", format=".0%"),
                 "firms_arriving"]).properties(height=max(180, 26 * len(util))), width="stretch",
        height=max(180, 26 * len(util)) + 70)


def _shares(frames: dict, lang: str, rule: float) -> None:
    """The micro-parks' leading-industry share before and after the run, by firms and by land."""
    parks = frames.get("parks")
    if parks is None or not len(parks):
        return
    rows = pd.DataFrame(parks[parks["share_rule"].astype(bool)])
    if not len(rows):
        return
    st.subheader(t("st_shares", lang, rule=f"{rule:.0%}"))
    for c in ("status_before", "status_after", "land_status_after"):
        rows[c] = rows[c].map(lambda v: t(f"pk_status_{v}", lang) if isinstance(v, str) else v)
    rows["policy"] = rows["policy_en" if lang == "en" else "policy_zh"]
    cols = ["name", "firms_before", "firms_leaving", "firms_arriving", "firms_after", "leading_share_before",
            "leading_share_after", "status_before", "status_after", "leading_land_share_before",
            "leading_land_share_after", "land_status_after", "policy"]
    for c in cols:
        if "share" in c:   # a park without firms has no share: "—", not "None"
            v = rows[c].astype(float)
            rows[c] = np.where(np.isnan(v), "—", np.char.mod("%.1f%%", np.nan_to_num(v) * 100))
    st.dataframe(rows[cols].rename(columns={c: t(f"st_col_{'park_name' if c == 'name' else c}", lang) for c in cols}),
                 hide_index=True, width="stretch")
    st.caption(t("st_shares_note", lang, rule=f"{rule:.0%}"))


def _results(ws: Workspace, run_id: str, actor, lang: str) -> None:
    frames = _load(ws, run_id)
    asg, sites = frames.get("assignments"), frames.get("sites")
    if asg is None:
        st.info(t("st_no_run", lang))
        return
    towns = current_filters().townships
    if towns:
        asg = asg[asg["township_code"].astype(str).isin(towns)]
    status = asg["status"].astype(str)
    c = st.columns(4)
    c[0].metric(t("st_firms", lang), len(asg))
    c[1].metric(t("st_assigned", lang), int((status == "assigned").sum()))
    c[2].metric(t("st_unassigned", lang), int((status != "assigned").sum()))
    c[3].metric(t("st_need", lang), f"{asg['need_land_mu'].sum():,.0f}")
    _map(frames, lang)
    _utilisation_chart(frames, lang)
    _shares(frames, lang, _run_share_rule(ws, run_id))
    unplaced = asg[status != "assigned"]
    st.subheader(t("st_unplaced", lang, n=len(unplaced)))
    cols = ["firm_id", "name", "industry_code", "current_park_name", "need_land_mu", "n_eligible_sites", "reason"]
    if len(unplaced):
        st.dataframe(_with_reason(unplaced, cols, lang).rename(columns={c: t(f"st_col_{c}", lang) for c in cols}),
                     hide_index=True, width="stretch",
                     column_config={t("st_col_reason", lang): st.column_config.TextColumn(width="large"),
                                    t("st_col_need_land_mu", lang): st.column_config.NumberColumn(format="%.1f")})
    with st.expander(t("st_all_assignments", lang)):
        cols2 = ["firm_id", "name", "industry_code", "need_land_mu", "status", "site_name", "park_name", "distance_m",
                 "same_township", "reason"]
        st.dataframe(_with_reason(asg, cols2, lang).rename(columns={c: t(f"st_col_{c}", lang) for c in cols2}),
                     hide_index=True, width="stretch",
                     column_config={t("st_col_distance_m", lang): st.column_config.NumberColumn(format="%.0f"),
                                    t("st_col_need_land_mu", lang): st.column_config.NumberColumn(format="%.1f")})
    if sites is not None and len(sites):
        st.subheader(t("st_sites", lang))
        cols3 = ["site_id", "park_name", "n_plots", "plot_ids", "capacity_land_mu", "used_land_mu", "land_utilisation",
                 "firms_assigned", "leading_share_before", "leading_share_after"]
        table = pd.DataFrame(sites[[c for c in cols3 if c in sites.columns]]).reset_index(drop=True)
        event = st.dataframe(table.rename(columns={c: t(f"st_col_{c}", lang) for c in table.columns}),
                             hide_index=True, width="stretch", key="st_sites", on_select="rerun",
                             selection_mode="multi-row",
                             column_config={t("st_col_land_utilisation", lang): st.column_config.ProgressColumn(
                                 format="percent", min_value=0.0, max_value=1.0),
                                 **{t(f"st_col_{c}", lang): st.column_config.NumberColumn(format="%.1f")
                                    for c in ("capacity_land_mu", "used_land_mu")},
                                 **{t(f"st_col_{c}", lang): st.column_config.NumberColumn(format="percent")
                                    for c in ("leading_share_before", "leading_share_after")}})
        rows = [r for r in selected_rows(event) if r < len(table)]
        add_to_shortlist(ws, table["site_id"].iloc[rows].tolist(), kind="site", source_layer=f"siting_{run_id}_sites",
                         source=f"siting:{run_id}", actor=actor, lang=lang, key="st_add")


def _run_share_rule(ws: Workspace, run_id: str) -> float:
    """The leading-share minimum the siting run used (the preset's default when not recorded)."""
    import json

    from analysis.pipeline import list_runs

    runs = list_runs(ws, kind="siting")
    hit = runs.loc[runs["run_id"] == f"siting_{run_id}", "parameters"]
    try:
        return float(json.loads(hit.iloc[0]).get("leading_share", 0.7)) if len(hit) else 0.7
    except (TypeError, ValueError):
        return 0.7


def _one_firm(ws: Workspace, lang: str) -> None:
    st.subheader(t("st_one_firm", lang))
    ents = data.enterprises(ws)
    if not len(ents):
        st.info(t("st_no_firms", lang))
        return
    holders = ents[ents["is_land_holder"].fillna(False).astype(bool)] if "is_land_holder" in ents else ents
    names = dict(zip(holders["credit_code"].astype(str), holders["name"].astype(str)))
    with st.form("st_rank_form"):
        c1, c2 = st.columns([3, 1])
        code = c1.selectbox(t("st_firm", lang), list(names), key="st_firm", format_func=lambda c: f"{names[c]} ({c})")
        need = c2.number_input(t("st_need_mu", lang), min_value=0.0, value=0.0, step=1.0, key="st_need_mu",
                               help=t("st_need_help", lang))
        go = st.form_submit_button(t("st_rank_button", lang))
    if go:
        try:
            with st.spinner(t("st_ranking", lang)):
                st.session_state[_RANK_KEY] = (code, ranked_sites(ws, code, siting.load_siting_params(),
                                                                  need_mu=need or None))
        except PlannerError as exc:
            show_error(exc, lang)
            return
    got = st.session_state.get(_RANK_KEY)
    if not got:
        return
    code, ranked = got
    st.caption(t("st_ranked_for", lang, name=names.get(code, code), n=int(ranked["eligible"].sum()), m=len(ranked)))
    cols = ["rank", "name", "site_kind", "capacity_land_mu", "distance_m", "eligible", "reason"]  # name: park + site
    st.dataframe(_with_reason(ranked, cols, lang).rename(
        columns={c: t(f"st_col_{c}", lang) for c in cols}), hide_index=True, width="stretch",
        column_config={t("st_col_distance_m", lang): st.column_config.NumberColumn(format="%.0f"),
                       t("st_col_capacity_land_mu", lang): st.column_config.NumberColumn(format="%.1f")})


def render() -> None:
    """Draw the relocation siting page."""
    lang = current_lang()
    st.header(t("page_siting", lang))
    actor = acting_user()
    ws = open_ws(lang)
    if ws is None:
        return
    ids = siting_runs_of(ws)
    run_id = None
    if ids:
        wanted = st.session_state.get(_RUN_KEY)
        run_id = st.sidebar.selectbox(t("st_run", lang), ids, index=ids.index(wanted) if wanted in ids else 0,
                                      key="st_run")
    tab1, tab2 = st.tabs([t("st_tab_run", lang), t("st_tab_one", lang)])
    with tab1:
        _run_form(ws, lang)
        if run_id is None:
            st.info(t("st_no_run", lang))
        else:
            _results(ws, run_id, actor, lang)
    with tab2:
        _one_firm(ws, lang)
