"""Relocation siting page: which park each relocating firm should move to, and where one firm could go.

Screen: sidebar — the siting run to show, the township filter (shared with the other pages;
here it selects relocating firms by their origin township); main —

* 运行选址: the demand rule (polluting firms outside parks / class D / mid-west townships),
  released cluster land as extra supply, a time limit → "run siting" with a progress box
  (:func:`analysis.siting_runs.run_siting`, stored as ``siting_<id>_*``);
* the run: the filter in force, named → counts (firms, placed, not placed, land need) → map of
  the sites as land (each a vacant plot or contiguous cluster of vacant plots inside a park)
  with firm → site lines ending on that land → land used (by the firms shown, by other firms)
  and free per park as a chart → the micro-parks' leading-industry share (≥ 70 %) before and
  after, by firms and by land, pass / fail and the policy applied → firms not placed with the
  reason naming every park and why → all assignments → the sites table with ticks to "add to
  shortlist".  Every part shows the same filtered firms;

* 单个企业选址: pick a firm (and optionally its land need in 亩) → every site ranked by
  :func:`analysis.siting.rank_sites_for_firm`, each excluded site with its reason.
"""
from __future__ import annotations

import dataclasses

import altair as alt
import geopandas as gpd
import numpy as np
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from analysis import siting, siting_runs
from exports.formatting import number, with_unit
from geo.errors import PlannerError
from geo.web import display_copy
from layers.store import WorkspaceBase as Workspace, open_workspace as _open_store
from ui import data
from ui.filters import PlotFilters, filter_sidebar
from ui.format import Col, label_axis, show, table as fmt_table, tall, tooltip
from ui.i18n import t
from ui.mapview import build_map
from ui.offline import static_base_url
from ui.pages._common import (
    acting_user,
    add_to_shortlist,
    filter_note,
    open_ws,
    permitted,
    pick_rows,
    pipeline_runs,
    run_layers,
    runs_of_kind,
    show_error,
    stale_note,
    writable,
)
from ui.shell import current_lang, layer_stamp

__all__ = ["render", "siting_runs_of", "ranked_sites", "reason_column", "TABS_KEY"]

MAP_KEY = "siting_map"
TABS_KEY = "st_tabs"
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
    read = {n: data.read_layer(ws, n, scoped=False)  # a shared cache: the whole county
            for n in ("industrial_parks", "micro_parks", "plots", "enterprises", "constraints") if ws.has_layer(n)}
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
    """``frame[cols]`` as a plain DataFrame with ``reason`` holding the text in ``lang``."""
    out = pd.DataFrame(frame[[c for c in cols if c in frame.columns]])
    if "reason" in out.columns:
        out["reason"] = frame[reason_column(frame, lang)].to_numpy()
    return out


def _run_form(ws: Workspace, lang: str) -> None:
    has_run = len(pipeline_runs(ws)) > 0
    with st.form("st_run_form"):
        c1, c2, c3 = st.columns([2, 1, 1])
        rule = c1.selectbox(t("st_rule", lang), [r for r in siting.DEMAND_RULES if r != "list"], key="st_rule",
                            format_func=lambda r: t(f"st_rule_{r}", lang))
        limit = c2.slider(t("st_time_limit", lang), 5, 120, 20, step=5, key="st_time_limit")
        clusters = c3.checkbox(t("st_use_clusters", lang), key="st_use_clusters", disabled=not has_run)
        go = st.form_submit_button(t("st_run_button", lang), type="primary", **permitted("run.siting", lang))
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


def _map(assignments: pd.DataFrame, sites: gpd.GeoDataFrame | None, lines: gpd.GeoDataFrame | None,
         lang: str) -> None:
    """Sites and firm → site lines of the firms shown (the page's filter applies here too)."""
    layers = {}
    if sites is not None and len(sites):
        cols = ["site_id", "name", "park_name", "land_utilisation", sites.geometry.name]
        layers["siting_sites"] = display_copy(sites[[c for c in cols if c in sites.columns]], tolerance_m=0.5,
                                              decimals=6, name="siting_sites")
    if lines is not None and len(lines):
        lines = lines[lines["firm_id"].astype(str).isin(set(assignments["firm_id"].astype(str)))]
        keep = [c for c in ("firm_id", "site_id", "distance_m") if c in lines.columns] + [lines.geometry.name]
        if len(lines):
            layers["siting_lines"] = display_copy(lines[keep], tolerance_m=0.5, decimals=6, name="siting_lines")
    if not layers:
        return
    base_url = st.get_option("server.baseUrlPath") or ""
    st_folium(build_map(layers, lang=lang, static_url=static_base_url(base_url)), key=MAP_KEY, height=440,
              width="stretch", returned_objects=[], render=False)


def _filtered(frames: dict, filters) -> tuple[pd.DataFrame, gpd.GeoDataFrame | None]:
    """The assignments of firms from the townships filtered to, and the sites that receive them.

    The township filter is the one shared filter that applies to relocating firms (their
    origin township); it acts on every part of the page: counts, map, chart and tables.
    """
    asg, sites = frames["assignments"], frames.get("sites")
    if filters.townships:
        asg = asg[asg["township_code"].astype(str).isin(filters.townships)]
        if sites is not None:
            sites = sites[sites["site_id"].astype(str).isin(set(asg["site_id"].dropna().astype(str)))]
    if sites is not None and "site_id" in asg.columns:
        placed = asg[asg["status"].astype(str) == "assigned"]
        here = placed.groupby(placed["site_id"].astype(str))
        sites = sites.assign(shown_mu=sites["site_id"].astype(str).map(here["need_land_mu"].sum()).fillna(0.0),
                             shown_firms=sites["site_id"].astype(str).map(here.size()).fillna(0).astype(int))
    return asg, sites


def _util_chart(sites: pd.DataFrame, filtered: bool, lang: str) -> None:
    """Land of each site: used by the firms shown, by other placed firms, and still free (亩)."""
    util = pd.DataFrame(sites.drop(columns=sites.geometry.name))
    if "park_name" in util.columns:  # sites are land (plots, clusters): one bar per park reads better
        util = util.groupby(util["park_name"].astype(str)).agg(
            shown_mu=("shown_mu", "sum"), used_land_mu=("used_land_mu", "sum"),
            capacity_land_mu=("capacity_land_mu", "sum"), firms_assigned=("firms_assigned", "sum")).reset_index()
        util["name"] = util["park_name"]
        util["land_utilisation"] = util["used_land_mu"] / util["capacity_land_mu"].where(util["capacity_land_mu"] > 0)
    util["label"] = util["name"].astype(str)
    used, other, free = t("st_used_shown" if filtered else "st_used", lang), t("st_used_other", lang), t("st_free", lang)
    parts = [util.assign(kind=used, order=0, mu=util["shown_mu"]),
             util.assign(kind=free, order=2, mu=(util["capacity_land_mu"] - util["used_land_mu"]).clip(lower=0))]
    if filtered:
        parts.insert(1, util.assign(kind=other, order=1, mu=(util["used_land_mu"] - util["shown_mu"]).clip(lower=0)))
    long = pd.concat(parts)
    kinds = [used, other, free] if filtered else [used, free]
    colours = ["#d73027", "#fdae61", "#cccccc"] if filtered else ["#d73027", "#cccccc"]
    high = tall(len(util))
    area = t("le_area", lang)
    st.altair_chart(alt.Chart(long, title=t("st_chart_util", lang)).mark_bar().encode(
        y=alt.Y("label:N", sort="-x", axis=label_axis()), x=alt.X("mu:Q", stack="zero", title=with_unit(area, "mu", lang)),
        color=alt.Color("kind:N", title=None, sort=kinds, scale=alt.Scale(domain=kinds, range=colours)),
        order=alt.Order("order:Q"),
        tooltip=[tooltip("label", t("st_col_name", lang), kind="N"), tooltip("kind", t("st_part", lang), kind="N"),
                 tooltip("mu", area, unit="mu", lang=lang),
                 alt.Tooltip("land_utilisation:Q", format=".0%", title=t("st_col_land_utilisation", lang)),
                 tooltip("firms_assigned", t("st_col_firms_assigned", lang), digits=0, unit="firms", lang=lang)],
    ).properties(height=high), width="stretch", height=high + 70)


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


#: Columns of the three siting tables.
UNPLACED_COLUMNS = (
    Col("firm_id", "st_col_firm_id", "id"), Col("name", "st_col_name"), Col("industry_code", "st_col_industry_code", "industry"),
    Col("township_code", "st_col_township_code", "township"), Col("current_park_name", "st_col_current_park_name"),
    Col("need_land_mu", "st_col_need_land_mu", "num", 1, "mu"),
    Col("n_eligible_sites", "st_col_n_eligible_sites", "int"), Col("reason", "st_col_reason", "reasons"),
)
ASSIGNMENT_COLUMNS = (
    Col("firm_id", "st_col_firm_id", "id"), Col("name", "st_col_name"), Col("industry_code", "st_col_industry_code", "industry"),
    Col("township_code", "st_col_township_code", "township"), Col("need_land_mu", "st_col_need_land_mu", "num", 1, "mu"),
    Col("status", "st_col_status", "enum"), Col("site_name", "st_col_site_name"), Col("park_name", "st_col_park_name"),
    Col("distance_m", "st_col_distance_m", "num", 0, "m"), Col("same_township", "st_col_same_township", "bool"),
    Col("reason", "st_col_reason", "reasons"),
)
SITE_COLUMNS = (
    Col("site_id", "st_col_site_id", "id"), Col("park_name", "st_col_park_name"), Col("n_plots", "st_col_n_plots", "int"),
    Col("plot_ids", "st_col_plot_ids", "wide"), Col("township_code", "pk_col_township", "township"),
    Col("capacity_land_mu", "st_col_capacity_land_mu", "num", 1, "mu"), Col("used_land_mu", "st_col_used_land_mu", "num", 1, "mu"),
    Col("land_utilisation", "st_col_land_utilisation", "bar", 0), Col("firms_assigned", "st_col_firms_assigned", "int"),
    Col("shown_firms", "st_col_shown_firms", "int"),
    Col("leading_share_before", "st_col_leading_share_before", "share", 0),
    Col("leading_share_after", "st_col_leading_share_after", "share", 0),
    Col("industry_mix_after", "st_col_industry_mix_after", "mix"),
)


def _results(ws: Workspace, run_id: str, actor, lang: str) -> None:
    frames = _load(ws, run_id)
    if frames.get("assignments") is None:
        st.info(t("st_no_run", lang))
        return
    all_asg = frames["assignments"]
    towns, parks = data.township_names(ws), data.park_names(ws)
    firms_view = pd.DataFrame({"township_code": all_asg["township_code"].astype(str)})
    firms_view["township_name"] = firms_view["township_code"].map(towns)
    filters = filter_sidebar(firms_view, lang, township_names=towns, only=("townships",))
    asg, sites = _filtered(frames, filters)
    note = filter_note(PlotFilters(townships=filters.townships), lang, townships=towns, applies=t("st_filter_applies", lang))
    if note:
        st.info(t("st_filtered", lang, note=note, n=len(asg), all=len(all_asg)))
    ignored = dataclasses.replace(filters, townships=())
    if ignored.active:
        st.caption(t("st_filter_ignored", lang))
    status = asg["status"].astype(str)
    c = st.columns(4)
    c[0].metric(t("st_firms", lang), number(len(asg), 0, "firms", lang))
    c[1].metric(t("st_assigned", lang), number(int((status == "assigned").sum()), 0, "firms", lang))
    c[2].metric(t("st_unassigned", lang), number(int((status != "assigned").sum()), 0, "firms", lang))
    c[3].metric(t("st_need", lang), number(asg["need_land_mu"].sum(), 0, "mu", lang))
    _map(asg, sites, frames.get("lines"), lang)
    if sites is not None and len(sites):
        _util_chart(sites, bool(filters.townships), lang)
    _shares(frames, lang, _run_share_rule(ws, run_id))
    unplaced = asg[status != "assigned"]
    st.subheader(t("st_unplaced", lang, n=len(unplaced)))
    rows = _with_reason(unplaced, [c.name for c in UNPLACED_COLUMNS], lang)
    if len(rows):
        show(rows, UNPLACED_COLUMNS, lang, townships=towns, parks=parks)
    with st.expander(t("st_all_assignments", lang)):
        show(_with_reason(asg, [c.name for c in ASSIGNMENT_COLUMNS], lang), ASSIGNMENT_COLUMNS, lang,
             townships=towns, parks=parks)
    if sites is not None and len(sites):
        st.subheader(t("st_sites", lang))
        cols = SITE_COLUMNS if filters.townships else tuple(c for c in SITE_COLUMNS if c.name != "shown_firms")
        site_rows = pd.DataFrame(sites.drop(columns=sites.geometry.name)).reset_index(drop=True)
        shown, config = fmt_table(site_rows, cols, lang, townships=towns, parks=parks)
        picked = pick_rows(shown, site_rows["site_id"], key="st_sites", column_config=config)
        add_to_shortlist(ws, picked, kind="site", source_layer=f"siting_{run_id}_sites",
                         source=f"siting:{run_id}", actor=actor, lang=lang, key="st_add")
    elif filters.townships:
        st.info(t("st_no_sites_shown", lang))


RANK_COLUMNS = (
    Col("rank", "st_col_rank", "int"), Col("name", "st_col_name"), Col("site_kind", "st_col_site_kind", "enum"),
    Col("capacity_land_mu", "st_col_capacity_land_mu", "num", 1, "mu"), Col("distance_m", "st_col_distance_m", "num", 0, "m"),
    Col("eligible", "st_col_eligible", "bool"), Col("reason", "st_col_reason", "reasons"),
)


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
    show(_with_reason(ranked, [c.name for c in RANK_COLUMNS], lang), RANK_COLUMNS, lang,
         townships=data.township_names(ws), parks=data.park_names(ws))


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
        stale_note(ws, run_id, lang, kind="siting", where=st.sidebar)
    # Only the open tab is drawn (its map needs a visible box; the closed tab costs nothing).
    tab1, tab2 = st.tabs([t("st_tab_run", lang), t("st_tab_one", lang)], key=TABS_KEY, on_change="rerun")
    if tab1.open:
        with tab1:
            _run_form(ws, lang)
            if run_id is None:
                st.info(t("st_no_run", lang))
            else:
                _results(ws, run_id, actor, lang)
    if tab2.open:
        with tab2:
            _one_firm(ws, lang)
