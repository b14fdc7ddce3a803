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
from exports.formatting import names_in_text, number, yes_no
from geo.errors import PlannerError
from geo.web import display_copy
from ui import data
from ui.filters import current_filters
from ui.format import Col, show, tooltip
from ui.i18n import t
from ui.mapview import build_map
from ui.offline import static_base_url
from ui.pages._common import acting_user, open_ws, permitted, run_layers, runs_of_kind, show_error, writable
from ui.shell import current_lang

__all__ = ["render", "integration_runs", "JOINT_COLUMNS", "LINK_COLUMNS"]

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
    if sb.button(t("ig_run_button", lang), key="ig_run_button", **permitted("run.integration", lang)):
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
    c[0].metric(t("ig_zones", lang), number(0 if zones is None else len(zones), 0, "count", lang))
    c[1].metric(t("ig_pairs", lang), number(0 if links is None else len(links), 0, "count", lang))
    c[2].metric(t("ig_links", lang), number(0 if links is None else int(links["linked"].fillna(False).astype(bool).sum()),
                                            0, "count", lang))
    c[3].metric(t("ig_joint", lang), number(0 if joint is None else len(joint), 0, "count", lang))
    _map(frames, lang)
    towns, parks = data.township_names(ws), data.park_names(ws)
    st.subheader(t("ig_joint_table", lang))
    if joint is None or not len(joint):
        st.info(t("ig_no_joint", lang))
    else:
        show(pd.DataFrame(joint.drop(columns=joint.geometry.name)), JOINT_COLUMNS, lang, townships=towns, parks=parks)
    if links is not None and len(links):
        st.subheader(t("ig_links_table", lang))
        lt = pd.DataFrame(links.drop(columns=links.geometry.name))
        if lang != "en" and "reason_zh" in lt.columns:  # runs stored before reason_zh have English only
            lt["reason"] = lt["reason_zh"]
        lt["reason"] = lt["reason"].map(lambda r: names_in_text(r, towns))
        _chart(lt, lang)
        show(lt.sort_values(["linked", "similarity"], ascending=False), LINK_COLUMNS, lang, townships=towns, parks=parks)


JOINT_COLUMNS = (
    Col("joint_zone", "ig_col_joint_zone", "id"), Col("zone_names", "ig_col_zone_names", "wide"),
    Col("townships", "ig_col_townships", "codes"), Col("n_zones", "ig_col_n_zones", "int"),
    Col("area_mu", "ig_col_area_mu", "num", 0, "mu"), Col("n_firms", "ig_col_n_firms", "int", unit="firms"),
    Col("dominant_industries", "ig_col_dominant_industries", "mix"), Col("links", "ig_col_links", "codes"),
)
LINK_COLUMNS = (
    Col("name_a", "ig_col_name_a"), Col("name_b", "ig_col_name_b"), Col("township_a", "ig_col_township_a", "township"),
    Col("township_b", "ig_col_township_b", "township"), Col("distance_m", "ig_col_distance_m", "num", 0, "m"),
    Col("similarity", "ig_col_similarity", "num", 2), Col("shared_roads", "ig_col_shared_roads"),
    Col("cross_township", "ig_col_cross_township", "bool"), Col("similar", "ig_col_similar", "bool"),
    Col("road_shared", "ig_col_road_shared", "bool"), Col("linked", "ig_col_linked", "bool"),
    Col("reason", "ig_col_reason", "reasons"),
)


def _chart(lt: pd.DataFrame, lang: str) -> None:
    chart = lt.assign(pair=lt["name_a"].astype(str) + " – " + lt["name_b"].astype(str),
                      linked_label=lt["linked"].map(lambda v: yes_no(v, lang)))
    linked = t("ig_col_linked", lang)
    distance = t("ig_col_distance_m", lang)
    st.altair_chart(alt.Chart(chart, title=t("ig_chart", lang)).mark_circle(size=90).encode(
        x=alt.X("distance_m:Q", title=distance),
        y=alt.Y("similarity:Q", title=t("ig_col_similarity", lang), scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("linked_label:N", title=linked, scale=alt.Scale(domain=[yes_no(True, lang), yes_no(False, lang)],
                                                                        range=["#1a9850", "#999999"])),
        tooltip=[tooltip("pair", t("ig_pair", lang), kind="N"), tooltip("distance_m", distance, digits=0),
                 tooltip("similarity", t("ig_col_similarity", lang), digits=2), tooltip("shared_roads",
                                                                                     t("ig_col_shared_roads", lang), kind="N"),
                 tooltip("linked_label", linked, kind="N"), tooltip("reason", t("ig_col_reason", lang), kind="N")],
    ).properties(height=280), width="stretch", height=280 + 70)
