"""Redevelopment potential page: suitability with adjustable weights, suggested modes, contiguous clusters.

Screen: sidebar — run, shared filters; main — tabs (only the open one is drawn: the cluster map
must be made in a visible box):

* 适宜性评价: one slider per criterion (weights are renormalised to sum to 1 and shown as
  used); the score is recomputed by :func:`analysis.redevelopment.suitability` on the run's
  criterion inputs — restricted plots stay at 0 and their constraints are listed; the score
  distribution and the modes as charts; the candidates with each criterion's points; ticks
  to "add to shortlist";
* 连片区: the largest clusters as a chart (each labelled), every cluster of ≥ the preset's
  minimum (50 亩) with its plots, added floor area (m²) and released land (亩); pick one to see
  it on a small offline map framed on it with its member plots; ticks to add clusters to the
  shortlist.
"""
from __future__ import annotations

import dataclasses

import altair as alt
import geopandas as gpd
import numpy as np
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from analysis import redevelopment
from exports.formatting import DASH, number, percent, text, with_unit
from geo.errors import ParameterError, PlannerError
from geo.web import display_copy
from ui import data
from ui.format import Col, histogram, label_axis, table as fmt_table, tall, tooltip
from ui.i18n import STRINGS, t, value_label
from ui.mapview import build_map
from ui.offline import static_base_url
from ui.pages._common import add_to_shortlist, filtered_view, mu, page_start, pick_rows, run_params, show_error
from ui.shell import current_lang

__all__ = ["render", "normalised", "rescore", "CLUSTER_COLUMNS", "TABS_KEY"]

CLUSTER_MAP_KEY = "redev_cluster_map"
TABS_KEY = "rd_tabs"


def normalised(weights: dict[str, float]) -> dict[str, float]:
    """Weights scaled to sum to 1 (negative values count as 0); ParameterError when all are 0."""
    w = {k: max(float(v), 0.0) for k, v in weights.items()}
    total = sum(w.values())
    if total <= 0:
        raise ParameterError("all suitability weights are zero; give at least one criterion a positive weight",
                             message_zh="适宜性权重全为 0,请至少给一个因子正权重。")
    return {k: v / total for k, v in w.items()}


def rescore(plots: pd.DataFrame, params, weights: dict[str, float]) -> pd.DataFrame:
    """Suitability (0–100) and per-criterion points of ``plots`` with new weights; restricted plots score 0."""
    crits = tuple(dataclasses.replace(c, weight=weights.get(c.name, c.weight)) for c in params.criteria)
    res = redevelopment.suitability(plots, dataclasses.replace(params, criteria=crits))
    restricted = plots["restricted"].fillna(False).astype(bool).to_numpy() if "restricted" in plots else False
    res["suitability"] = np.where(restricted, 0.0, res["suitability_raw"].to_numpy())
    return res


def _weights(params, lang: str) -> dict[str, float]:
    st.caption(t("rd_weights_intro", lang))
    cols = st.columns(len(params.criteria))
    given = {c.name: col.slider(_crit_label(c.name, lang),
                                min_value=0.0, max_value=1.0, value=float(c.weight), step=0.05, key=f"rd_w_{c.name}",
                                help=_crit_help(c, lang))
             for col, c in zip(cols, params.criteria)}
    return given


def _crit_label(name: str, lang: str) -> str:
    return t(f"rd_crit_{name}", lang) if f"rd_crit_{name}" in STRINGS else name


# What each criterion reads, with the unit of its best/worst values (preset columns → words).
_CRIT_INPUTS = {"dist_road_m": "m", "dist_park_m": "m", "dist_logistics_centre_m": "m", "slope_mean": "degrees",
                "flood_depth_max": "m", "area_mu": "mu", "soft_constraint_share": "share"}


def _crit_help(c, lang: str) -> str:
    unit = _CRIT_INPUTS.get(c.column)
    key = f"rd_in_{c.column}"
    what = t(key, lang) if key in STRINGS else c.column
    if unit == "share":
        best, worst = percent(c.best), percent(c.worst)
    elif unit == "degrees":
        best, worst = f"{c.best:g}°", f"{c.worst:g}°"
    else:
        best, worst = number(c.best, None if c.best % 1 else 0, unit, lang), number(c.worst, None if c.worst % 1 else 0,
                                                                                      unit, lang)
    return t("rd_crit_help", lang, what=what, best=best, worst=worst, points=f"{c.weight * 100:g}")


def _suitability_columns(params, rule_col: str) -> tuple[Col, ...]:
    return (Col("plot_id", "le_col_plot_id", "id"), Col("township_name", "le_col_township_name"),
            Col("area_mu", "le_col_area_mu", "num", 1, "mu"), Col("score", "rd_col_score", "num", 1, "points"),
            *(Col(f"crit_{c.name}", f"rd_crit_{c.name}", "num", 1, "points") for c in params.criteria),
            Col("restricted_by", "rd_col_restricted_by", "enum"), Col("mode", "le_col_mode"),
            Col(rule_col, "rd_col_mode_rule", "reasons"), Col("added_floor_m2", "rd_col_added_floor", "num", 0, "m2"),
            Col("cluster_id", "rd_col_cluster", "id"))


def _charts(table: pd.DataFrame, restricted: pd.Series, lang: str) -> None:
    c1, c2 = st.columns(2)
    plots = t("le_plots", lang)
    c1.altair_chart(histogram(table.loc[~restricted], "score", title=t("rd_chart_scores", lang),
                              x_title=with_unit(t("rd_col_score", lang), "points", lang),
                              y_title=with_unit(plots, "plots", lang)), width="stretch", height=260 + 70)
    modes = table.groupby(table["mode"].fillna(DASH).astype(str)).agg(n=("plot_id", "size"),
                                                                      mu=("area_mu", "sum")).reset_index()
    high = tall(len(modes), per=40, least=260)
    area = t("le_area", lang)
    c2.altair_chart(alt.Chart(modes, title=t("rd_chart_modes", lang)).mark_bar(color="#2a9d8f").encode(
        y=alt.Y("mode:N", sort="-x", axis=label_axis()), x=alt.X("mu:Q", title=with_unit(area, "mu", lang)),
        tooltip=[tooltip("mode", t("le_col_mode", lang), kind="N"), tooltip("n", plots, digits=0, unit="plots", lang=lang),
                 tooltip("mu", area, unit="mu", lang=lang)]).properties(height=high), width="stretch",
        height=high + 70)


def _suitability_tab(ws, run_id: str, view: gpd.GeoDataFrame, mask: pd.Series, actor, lang: str) -> None:
    params = run_params(ws, run_id).redevelopment
    given = _weights(params, lang)
    try:
        weights = normalised(given)
    except PlannerError as exc:
        show_error(exc, lang)
        return
    st.markdown(t("rd_weights_used", lang) + " " + " · ".join(
        f"{_crit_label(k, lang)} {v:.0%}" for k, v in weights.items()))
    cand = view[mask & view["candidate"].fillna(False).astype(bool)]
    if not len(cand):
        st.info(t("rd_no_candidates", lang))
        return
    res = rescore(cand, params, weights)
    table = pd.DataFrame(cand).drop(columns="geometry", errors="ignore")  # the plot view has no geometry
    table["score"] = res["suitability"]
    for c in params.criteria:
        table[f"crit_{c.name}"] = res[f"crit_{c.name}"]
    if lang == "en" and "mode_key" in table:
        table["mode"] = table["mode_key"].map(lambda k: value_label(k, lang) if isinstance(k, str) else k)
    restricted = table["restricted"].fillna(False).astype(bool)
    c = st.columns(4)
    c[0].metric(t("rd_candidates", lang), number(len(table), 0, "plots", lang))
    c[1].metric(t("rd_restricted", lang), number(int(restricted.sum()), 0, "plots", lang))
    c[2].metric(t("rd_added_floor", lang), number(table["added_floor_m2"].sum() / 1e4, 1, "10k_m2", lang))
    c[3].metric(t("rd_mean_score", lang), number(table.loc[~restricted, "score"].mean(), 1, "points", lang))
    if restricted.any():
        by = table.loc[restricted, "restricted_by"].fillna("").astype(str).str.split(",").explode().str.strip()
        by = by[by != ""].map(lambda k: value_label(k, lang)).value_counts()
        st.caption(t("rd_restricted_by", lang, kinds=", ".join(f"{k} {n}" for k, n in by.items()),
                     kinds_on=", ".join(value_label(k, lang) for k in params.restricted)))
    _charts(table, restricted, lang)
    table = table.sort_values("score", ascending=False)
    shown, config = fmt_table(table, _suitability_columns(params, data.mode_rule_column(lang)), lang)
    picked = pick_rows(shown, table["plot_id"], key="rd_table", column_config=config, height=420)
    add_to_shortlist(ws, picked, kind="plot", source_layer=f"run_{run_id}_plots",
                     source=f"redevelopment:{run_id}", actor=actor, lang=lang, key="rd_add")


def _cluster_map(cluster: gpd.GeoDataFrame, members: gpd.GeoDataFrame, lang: str) -> None:
    layers = {"plots": members, "clusters": display_copy(cluster, tolerance_m=0.5, decimals=6, name="clusters")}
    base_url = st.get_option("server.baseUrlPath") or ""
    m = build_map(layers, lang=lang, static_url=static_base_url(base_url))
    # Keyed by the cluster: a new cluster is a new map framed on it (the map is drawn only while its
    # section is open, so Leaflet measures a visible box, not the 0×0 of a hidden tab).
    st_folium(m, key=f"{CLUSTER_MAP_KEY}_{cluster['cluster_id'].iloc[0]}", height=380, use_container_width=True,
              returned_objects=[], render=False)


#: The cluster table's columns (land released in 亩, floor area in m²).
CLUSTER_COLUMNS = (
    Col("cluster_id", "rd_cl_cluster_id", "id"), Col("n_plots", "rd_cl_n_plots", "int", unit="plots"),
    Col("area_mu", "rd_cl_area_mu", "num", 1, "mu"), Col("mean_suitability", "rd_cl_mean_suitability", "num", 1, "points"),
    Col("added_floor_m2", "rd_cl_added_floor_m2", "num", 0, "m2"), Col("release_mu", "rd_cl_release_mu", "num", 1, "mu"),
    Col("members", "rd_cl_members", "wide"),
)
_CHART_TOP = 20  # the cluster chart shows the largest ones, each labelled


def _clusters_tab(ws, run_id: str, view: gpd.GeoDataFrame, actor, lang: str) -> None:
    run = data.load_run(ws, run_id)
    clusters = run.get("clusters")
    params = run_params(ws, run_id).redevelopment
    if clusters is None or not len(clusters):
        st.info(t("rd_no_clusters", lang))
        return
    big = clusters[clusters["is_candidate_site"].fillna(False).astype(bool)].sort_values("area_mu", ascending=False)
    st.caption(t("rd_clusters_intro", lang, n=len(big), min=f"{params.cluster_min_mu:g}",
                 gap=f"{params.cluster_gap_m:g}", all=len(clusters)))
    top = big.head(_CHART_TOP)
    label = t("rd_cl_cluster_id", lang)
    chart = pd.DataFrame({"cluster": [f"{label} {text(c)}" for c in top["cluster_id"]], "mu": top["area_mu"],
                          "n": top["n_plots"]})
    high = tall(len(chart), per=20)
    area = t("le_area", lang)
    st.altair_chart(alt.Chart(chart, title=t("rd_chart_clusters", lang, n=len(top), all=len(big))).mark_bar(
        color="#8761D3").encode(
        y=alt.Y("cluster:N", sort="-x", axis=label_axis()), x=alt.X("mu:Q", title=with_unit(area, "mu", lang)),
        tooltip=[tooltip("cluster", label, kind="N"), tooltip("mu", area, unit="mu", lang=lang),
                 tooltip("n", t("le_plots", lang), digits=0, unit="plots", lang=lang)]).properties(height=high),
        width="stretch", height=high + 70)
    rows = pd.DataFrame(big.drop(columns=big.geometry.name))
    rows["release_mu"] = mu(rows["release_m2"])
    shown, config = fmt_table(rows, CLUSTER_COLUMNS, lang)
    picked = pick_rows(shown, rows["cluster_id"], key="rd_clusters", column_config=config, height=300)
    add_to_shortlist(ws, picked, kind="cluster", source_layer=f"run_{run_id}_clusters", source=f"clusters:{run_id}",
                     actor=actor, lang=lang, key="rd_add_clusters")
    if not len(big):
        return
    areas = dict(zip(big["cluster_id"], big["area_mu"]))
    pick = st.selectbox(t("rd_pick_cluster", lang), big["cluster_id"].tolist(), key="rd_pick_cluster",
                        format_func=lambda c: t("rd_cluster_label", lang, id=text(c), mu=number(areas[c], 1, "mu", lang)))
    one = big[big["cluster_id"] == pick]
    members = view[view["cluster_id"] == pick] if "cluster_id" in view.columns else view.iloc[:0]
    try:
        _cluster_map(gpd.GeoDataFrame(one[["cluster_id", "area_mu", one.geometry.name]]),
                     data.with_geometry(ws, members), lang)
    except PlannerError as exc:
        show_error(exc, lang)


def render() -> None:
    """Draw the redevelopment potential page."""
    lang = current_lang()
    if (started := page_start("page_redevelopment", lang, run_key="rd")) is None:
        return
    ws, actor, run_id = started
    if (filtered := filtered_view(ws, run_id, lang)) is None:
        return
    view, mask = filtered
    if not data.has_results(view):
        st.warning(t("le_no_results", lang))
        return
    # Only the open tab is drawn: the cluster map must be built in a visible box (a Leaflet map made
    # inside a hidden tab measures 0×0 and opens at world zoom), and the closed tab costs nothing.
    tab1, tab2 = st.tabs([t("rd_tab_suitability", lang), t("rd_tab_clusters", lang)], key=TABS_KEY, on_change="rerun")
    if tab1.open:
        with tab1:
            _suitability_tab(ws, run_id, view, mask, actor, lang)
    if tab2.open:
        with tab2:
            _clusters_tab(ws, run_id, view, actor, lang)
