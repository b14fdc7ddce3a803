"""Joint-development zones page: township industrial zones that could be developed together across lines.

Screen: sidebar — the integration run to show (or "find joint zones" with the default preset,
a progress box while it runs); main — counts (zones, candidate pairs, links, joint zones) →
map of the zones (joint zones outlined, links as lines) → joint zones table (zones,
townships, 亩, firms, dominant industries) → every candidate pair with its measures
(distance, industry similarity, shared roads) and the reason it was or was not linked.
Everything is :func:`analysis.integration.find_joint_zones` as stored by
:func:`analysis.siting_runs.run_integration`.
"""
from __future__ import annotations

import altair as alt
import geopandas as gpd
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from analysis import integration, siting_runs
from geo.errors import PlannerError
from geo.web import display_copy
from ui.filters import current_filters
from ui.i18n import t
from ui.mapview import build_map
from ui.offline import static_base_url
from ui.pages._common import acting_user, open_ws, run_layers, runs_of_kind, show_error, writable
from ui.shell import current_lang

__all__ = ["render", "integration_runs"]

MAP_KEY = "integration_map"
_RUN_KEY = "ig_run_id"


def integration_runs(ws) -> list[str]:
    """Stored integration run ids (without the ``integration_`` prefix), newest first."""
    return runs_of_kind(ws, "integration", "zones")


def _load(ws, run_id: str) -> dict[str, gpd.GeoDataFrame]:
    return run_layers(ws, "integration", run_id, ("zones", "links", "joint"))


def _run(ws, lang: str) -> None:
    with st.status(t("ig_running", lang)) as box:
        try:
            rid, res = siting_runs.run_integration(writable(ws), integration.load_integration_params(),
                                                   actor=acting_user())
        except PlannerError as exc:
            box.update(label=t("pg_run_failed", lang), state="error")
            show_error(exc, lang)
            return
        box.update(label=t("ig_done", lang, run=rid, n=len(res.joint_zones)), state="complete")
    st.session_state[_RUN_KEY] = rid
    st.rerun()


def _map(frames: dict, lang: str) -> None:
    layers = {}
    if "zones" in frames:
        layers["industrial_parks"] = display_copy(frames["zones"][["park_id", "name", "township_code", "geometry"]],
                                                  tolerance_m=0.5, decimals=6, name="industrial_parks")
    if "joint" in frames and len(frames["joint"]):
        layers["joint_zones"] = display_copy(frames["joint"][["joint_zone", "zone_names", "area_mu", "geometry"]],
                                             tolerance_m=0.5, decimals=6, name="joint_zones")
    links = frames.get("links")
    if links is not None and len(links):
        linked = links[links["linked"].fillna(False).astype(bool)]
        if len(linked):
            layers["zone_links"] = display_copy(linked[["zone_a", "zone_b", "similarity", "geometry"]],
                                                tolerance_m=0.5, decimals=6, name="zone_links")
    if not layers:
        return
    base_url = st.get_option("server.baseUrlPath") or ""
    st_folium(build_map(layers, lang=lang, static_url=static_base_url(base_url)), key=MAP_KEY, height=440,
              width="stretch", returned_objects=[], render=False)


def render() -> None:
    """Draw the joint-development zones page."""
    lang = current_lang()
    st.header(t("page_integration", lang))
    ws = open_ws(lang)
    if ws is None:
        return
    ids = integration_runs(ws)
    sb = st.sidebar
    run_id = None
    if ids:
        wanted = st.session_state.get(_RUN_KEY)
        run_id = sb.selectbox(t("ig_run", lang), ids, index=ids.index(wanted) if wanted in ids else 0, key="ig_run")
    if sb.button(t("ig_run_button", lang), key="ig_run_button"):
        _run(ws, lang)
    if run_id is None:
        st.info(t("ig_no_run", lang))
        return
    frames = _load(ws, run_id)
    zones, links, joint = frames.get("zones"), frames.get("links"), frames.get("joint")
    towns = current_filters().townships
    if towns and zones is not None:
        zones = zones[zones["township_code"].astype(str).isin(towns)]
    c = st.columns(4)
    c[0].metric(t("ig_zones", lang), 0 if zones is None else len(zones))
    c[1].metric(t("ig_pairs", lang), 0 if links is None else len(links))
    c[2].metric(t("ig_links", lang), 0 if links is None else int(links["linked"].fillna(False).astype(bool).sum()))
    c[3].metric(t("ig_joint", lang), 0 if joint is None else len(joint))
    _map(frames, lang)
    st.subheader(t("ig_joint_table", lang))
    if joint is None or not len(joint):
        st.info(t("ig_no_joint", lang))
    else:
        jt = pd.DataFrame(joint.drop(columns=joint.geometry.name))
        cols = ["joint_zone", "zone_names", "townships", "n_zones", "area_mu", "n_firms", "dominant_industries", "links"]
        st.dataframe(jt[cols].rename(columns={k: t(f"ig_col_{k}", lang) for k in cols}), hide_index=True,
                     width="stretch")
    if links is not None and len(links):
        st.subheader(t("ig_links_table", lang))
        lt = pd.DataFrame(links.drop(columns=links.geometry.name))
        if lang != "en" and "reason_zh" in lt.columns:  # runs stored before reason_zh have English only
            lt["reason"] = lt["reason_zh"]
        chart = lt.assign(pair=lt["name_a"].astype(str) + " – " + lt["name_b"].astype(str))
        st.altair_chart(alt.Chart(chart, title=t("ig_chart", lang)).mark_circle(size=90).encode(
            x=alt.X("distance_m:Q", title=t("ig_col_distance_m", lang)),
            y=alt.Y("similarity:Q", title=t("ig_col_similarity", lang), scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("linked:N", title=t("ig_col_linked", lang)),
            tooltip=["pair", alt.Tooltip("distance_m:Q", format=",.0f"), alt.Tooltip("similarity:Q", format=".2f"),
                     "shared_roads", "reason"]).properties(height=280), width="stretch",
        height=280 + 70)
        cols = ["name_a", "name_b", "township_a", "township_b", "distance_m", "similarity", "shared_roads",
                "cross_township", "similar", "road_shared", "linked", "reason"]
        lt = lt.sort_values(["linked", "similarity"], ascending=False)
        st.dataframe(lt[cols].rename(columns={k: t(f"ig_col_{k}", lang) for k in cols}), hide_index=True,
                     width="stretch",
                     column_config={t("ig_col_distance_m", lang): st.column_config.NumberColumn(format="%.0f"),
                                    t("ig_col_similarity", lang): st.column_config.NumberColumn(format="%.2f")})
