"""Redevelopment potential page: suitability with adjustable weights, suggested modes, contiguous clusters.

Screen: sidebar — run, shared filters; main — tabs:

* 适宜性评价: one slider per criterion (weights are renormalised to sum to 1 and shown as
  used); the score is recomputed by :func:`analysis.redevelopment.suitability` on the run's
  criterion inputs — restricted plots stay at 0 and their constraints are listed; the score
  distribution and the modes as charts; the candidates with each criterion's points; ticks
  to "add to shortlist";
* 连片区: clusters of ≥ the preset's minimum (50 亩) with their plots, added floor area and
  released land; pick one to see it on a small offline map with its member plots; ticks to
  add clusters to the shortlist.
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
from geo.errors import ParameterError, PlannerError
from geo.web import display_copy
from ui import data
from ui.i18n import STRINGS, t, value_label
from ui.mapview import build_map
from ui.offline import static_base_url
from ui.pages._common import add_to_shortlist, filtered_view, page_start, run_params, selected_rows, show_error
from ui.shell import current_lang

__all__ = ["render", "normalised", "rescore"]

CLUSTER_MAP_KEY = "redev_cluster_map"


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
                                help=t("rd_crit_help", lang, column=c.column, best=f"{c.best:g}", worst=f"{c.worst:g}"))
             for col, c in zip(cols, params.criteria)}
    return given


def _crit_label(name: str, lang: str) -> str:
    return t(f"rd_crit_{name}", lang) if f"rd_crit_{name}" in STRINGS else name


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
    table = pd.DataFrame(cand.drop(columns=cand.geometry.name))
    table["score"] = res["suitability"]
    for c in params.criteria:
        table[f"crit_{c.name}"] = res[f"crit_{c.name}"]
    restricted = table["restricted"].fillna(False).astype(bool)
    c = st.columns(4)
    c[0].metric(t("rd_candidates", lang), f"{len(table):,}")
    c[1].metric(t("rd_restricted", lang), f"{int(restricted.sum()):,}")
    c[2].metric(t("rd_added_floor", lang), f"{table['added_floor_m2'].sum() / 1e4:,.1f}")
    c[3].metric(t("rd_mean_score", lang), f"{table.loc[~restricted, 'score'].mean():.1f}")
    if restricted.any():
        by = table.loc[restricted, "restricted_by"].fillna("").astype(str).str.split(",").explode().str.strip()
        by = by[by != ""].map(lambda k: value_label(k, lang)).value_counts()
        st.caption(t("rd_restricted_by", lang, kinds=", ".join(f"{k} {n}" for k, n in by.items()),
                     kinds_on=", ".join(value_label(k, lang) for k in params.restricted)))
    c1, c2 = st.columns(2)
    hist = table.loc[~restricted, ["score"]]
    c1.altair_chart(alt.Chart(hist, title=t("rd_chart_scores", lang)).mark_bar(color="#3a5ba0").encode(
        x=alt.X("score:Q", bin=alt.Bin(maxbins=20), title=t("rd_col_score", lang)),
        y=alt.Y("count():Q", title=t("le_plots", lang))).properties(height=260), width="stretch",
        height=260 + 70)
    modes = table.groupby(table["mode"].fillna("—").astype(str)).agg(n=("plot_id", "size"),
                                                                      mu=("area_mu", "sum")).reset_index()
    c2.altair_chart(alt.Chart(modes, title=t("rd_chart_modes", lang)).mark_bar(color="#2a9d8f").encode(
        y=alt.Y("mode:N", sort="-x", title=None), x=alt.X("mu:Q", title=t("le_area_mu", lang)),
        tooltip=["mode", "n", alt.Tooltip("mu:Q", format=".1f")]).properties(height=260), width="stretch",
        height=260 + 70)
    crit_cols = [f"crit_{c.name}" for c in params.criteria]
    rule_col = data.mode_rule_column(lang)
    cols = ["plot_id", "township_name", "area_mu", "score", *crit_cols, "restricted_by", "mode", rule_col,
            "added_floor_m2", "cluster_id"]
    table = table.sort_values("score", ascending=False)[[c for c in cols if c in table.columns]].reset_index(drop=True)
    names = {"plot_id": t("le_col_plot_id", lang), "township_name": t("le_col_township_name", lang),
             "area_mu": t("le_col_area_mu", lang), "score": t("rd_col_score", lang),
             "restricted_by": t("rd_col_restricted_by", lang), "mode": t("le_col_mode", lang),
             rule_col: t("rd_col_mode_rule", lang), "added_floor_m2": t("rd_col_added_floor", lang),
             "cluster_id": t("rd_col_cluster", lang),
             **{f"crit_{c.name}": _crit_label(c.name, lang) for c in params.criteria}}
    event = st.dataframe(table.rename(columns=names), hide_index=True, width="stretch", height=420,
                         key="rd_table", on_select="rerun", selection_mode="multi-row",
                         column_config={v: st.column_config.NumberColumn(format="%.1f")
                                        for k, v in names.items() if k in ("area_mu", "score", *crit_cols)})
    rows = [r for r in selected_rows(event) if r < len(table)]
    add_to_shortlist(ws, table["plot_id"].iloc[rows].tolist(), kind="plot", source_layer=f"run_{run_id}_plots",
                     source=f"redevelopment:{run_id}", actor=actor, lang=lang, key="rd_add")


def _cluster_map(cluster: gpd.GeoDataFrame, members: gpd.GeoDataFrame, lang: str) -> None:
    layers = {"plots": members, "clusters": display_copy(cluster, tolerance_m=0.5, decimals=6, name="clusters")}
    base_url = st.get_option("server.baseUrlPath") or ""
    m = build_map(layers, lang=lang, static_url=static_base_url(base_url))
    st_folium(m, key=CLUSTER_MAP_KEY, height=380, use_container_width=True, returned_objects=[], render=False)


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
    chart = pd.DataFrame({"cluster": big["cluster_id"].astype(str), "mu": big["area_mu"]})
    st.altair_chart(alt.Chart(chart, title=t("rd_chart_clusters", lang)).mark_bar(color="#8761D3").encode(
        x=alt.X("cluster:N", sort="-y", title=t("rd_col_cluster", lang)), y=alt.Y("mu:Q", title=t("le_area_mu", lang)),
        tooltip=["cluster", alt.Tooltip("mu:Q", format=".1f")]).properties(height=220), width="stretch",
        height=220 + 70)
    table = pd.DataFrame(big.drop(columns=big.geometry.name))[
        ["cluster_id", "n_plots", "area_mu", "mean_suitability", "added_floor_m2", "release_m2", "members"]]
    table = table.reset_index(drop=True)
    names = {c: t(f"rd_cl_{c}", lang) for c in table.columns}
    event = st.dataframe(table.rename(columns=names), hide_index=True, width="stretch", height=300,
                         key="rd_clusters", on_select="rerun", selection_mode="multi-row",
                         column_config={names["area_mu"]: st.column_config.NumberColumn(format="%.1f"),
                                        names["mean_suitability"]: st.column_config.NumberColumn(format="%.1f")})
    rows = [r for r in selected_rows(event) if r < len(table)]
    add_to_shortlist(ws, table["cluster_id"].iloc[rows].tolist(), kind="cluster",
                     source_layer=f"run_{run_id}_clusters", source=f"clusters:{run_id}", actor=actor, lang=lang,
                     key="rd_add_clusters")
    if not len(big):
        return
    pick = st.selectbox(t("rd_pick_cluster", lang), big["cluster_id"].tolist(), key="rd_pick_cluster",
                        format_func=lambda c: t("rd_cluster_label", lang, id=c,
                                                mu=f"{float(big.loc[big['cluster_id'] == c, 'area_mu'].iloc[0]):.1f}"))
    one = big[big["cluster_id"] == pick]
    members = view[view["cluster_id"] == pick] if "cluster_id" in view.columns else view.iloc[:0]
    try:
        _cluster_map(gpd.GeoDataFrame(one[["cluster_id", "area_mu", one.geometry.name]]), members, lang)
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
    tab1, tab2 = st.tabs([t("rd_tab_suitability", lang), t("rd_tab_clusters", lang)])
    with tab1:
        _suitability_tab(ws, run_id, view, mask, actor, lang)
    with tab2:
        _clusters_tab(ws, run_id, view, actor, lang)
