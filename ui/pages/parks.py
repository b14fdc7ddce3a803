"""Park dashboards: performance of industrial parks and micro-parks, with the ≥ 70 % leading-industry rule.

Screen: sidebar — run, shared filters (parks); main — park kind → counts (parks, passing,
failing, vacant 亩) → the leading-industry share of each park against the rule line
(pass green / fail red) → remaining capacity (vacant 亩, floor area at the capacity FAR) →
亩均税收 per park → the table (leading share by firms and by land with pass / fail, shortfall in
firms, class counts, capacity) → "which park each plot belongs to": how many plots were placed
by their ``park_id`` attribute and how many by the park outlines, and the plots where the two
disagree (:mod:`analysis.membership`).  All figures are :func:`analysis.parks.assess` and
:func:`analysis.low_efficiency.assess` as stored in the run.
"""
from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from geo.errors import PlannerError
from ui import data
from ui.filters import filter_sidebar
from ui.i18n import t
from ui.pages._common import page_start, run_params, show_error
from ui.shell import current_lang

__all__ = ["render", "STATUS_COLORS"]

STATUS_COLORS = {"pass": "#1a9850", "fail": "#d73027", "no_firms": "#999999", "no_leading_industry": "#bbbbbb"}
_TABLE = ("park_id", "name", "leading_industries", "n_firms", "n_leading_firms", "leading_share", "leading_status",
          "leading_shortfall_firms", "leading_land_share", "leading_land_status", "area_mu", "developed_share", "capacity_mu", "capacity_floor_m2", "tax_per_mu",
          "va_per_mu", "n_A", "n_B", "n_C", "n_D")


def _status(s: str, lang: str) -> str:
    return t(f"pk_status_{s}", lang) if s in STATUS_COLORS else s


def render() -> None:
    """Draw the park dashboards."""
    lang = current_lang()
    if (started := page_start("page_parks", lang, run_key="pk")) is None:
        return
    ws, _actor, run_id = started
    try:
        run = data.load_run(ws, run_id)
        filters = filter_sidebar(data.plot_view(ws, run_id), lang)
        rule = run_params(ws, run_id).parks.leading_share_min
    except PlannerError as exc:
        show_error(exc, lang)
        return
    parks = run.get("parks")
    if parks is None or not len(parks):
        st.info(t("pk_none", lang))
        return
    kinds = [k for k in ("micro_parks", "industrial_parks") if (parks["park_kind"] == k).any()]
    kind = st.radio(t("pk_kind", lang), kinds, key="pk_kind", horizontal=True, format_func=lambda k: t(f"pk_{k}", lang))
    df = pd.DataFrame(parks[parks["park_kind"] == kind].drop(columns=parks.geometry.name))
    if filters.parks:
        df = df[df["park_id"].astype(str).isin(filters.parks)]
    df["status_label"] = df["leading_status"].map(lambda s: _status(s, lang))
    c = st.columns(4)
    c[0].metric(t("pk_n", lang), len(df))
    c[1].metric(t("pk_pass", lang, rule=f"{rule:.0%}"), int((df["leading_status"] == "pass").sum()))
    c[2].metric(t("pk_fail", lang), int((df["leading_status"] == "fail").sum()),
                help=t("pk_fail_help", lang, n=int(df.loc[df["leading_status"] == "fail", "leading_shortfall_firms"].sum())))
    c[3].metric(t("pk_capacity", lang), f"{df['capacity_mu'].sum():,.0f}")

    label = df["name"].astype(str)
    share = df.assign(label=label, share=df["leading_share"].astype(float))
    bars = alt.Chart(share, title=t("pk_chart_share", lang, rule=f"{rule:.0%}")).mark_bar().encode(
        y=alt.Y("label:N", sort="-x", title=None),
        x=alt.X("share:Q", title=t("pk_col_leading_share", lang), axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("status_label:N", title=t("pk_col_leading_status", lang),
                        scale=alt.Scale(domain=[_status(s, lang) for s in STATUS_COLORS],
                                        range=list(STATUS_COLORS.values()))),
        tooltip=["label", alt.Tooltip("share:Q", format=".0%"), "status_label",
                 alt.Tooltip("leading_shortfall_firms:Q", title=t("pk_col_leading_shortfall_firms", lang))])
    line = alt.Chart(pd.DataFrame({"rule": [rule]})).mark_rule(color="black", strokeDash=[4, 3]).encode(x="rule:Q")
    tall = max(180, 30 * len(df))
    st.altair_chart((bars + line).properties(height=tall), width="stretch", height=tall + 70)

    c1, c2 = st.columns(2)
    cap = df.assign(label=label)
    c1.altair_chart(alt.Chart(cap, title=t("pk_chart_capacity", lang)).mark_bar(color="#2a9d8f").encode(
        y=alt.Y("label:N", sort="-x", title=None), x=alt.X("capacity_mu:Q", title=t("pk_col_capacity_mu", lang)),
        tooltip=["label", alt.Tooltip("capacity_mu:Q", format=".1f"),
                 alt.Tooltip("capacity_floor_m2:Q", format=",.0f")]).properties(height=tall),
        width="stretch", height=tall + 70)
    c2.altair_chart(alt.Chart(cap, title=t("pk_chart_tax", lang)).mark_bar(color="#3a5ba0").encode(
        y=alt.Y("label:N", sort="-x", title=None), x=alt.X("tax_per_mu:Q", title=t("pk_col_tax_per_mu", lang)),
        tooltip=["label", alt.Tooltip("tax_per_mu:Q", format=".2f")]).properties(height=tall),
        width="stretch", height=tall + 70)

    table = df.assign(leading_status=df["status_label"])
    if "leading_land_status" in table.columns:
        table["leading_land_status"] = table["leading_land_status"].map(lambda s: _status(s, lang))
        land = table["leading_land_share"].astype(float)      # a park without firms has no share: "—"
        table["leading_land_share"] = land.map(lambda v: "—" if v != v else f"{v:.1%}")
    table = table[[c for c in _TABLE if c in table.columns]]
    table = table.sort_values(["leading_status", "leading_shortfall_firms"], ascending=[True, False])
    st.dataframe(table.rename(columns={c: t(f"pk_col_{c}", lang) for c in table.columns}), hide_index=True,
                 width="stretch",
                 column_config={t("pk_col_leading_share", lang): st.column_config.ProgressColumn(
                     format="percent", min_value=0.0, max_value=1.0),
                     t("pk_col_developed_share", lang): st.column_config.NumberColumn(format="percent"),
                     t("pk_col_area_mu", lang): st.column_config.NumberColumn(format="%.0f"),
                     t("pk_col_capacity_mu", lang): st.column_config.NumberColumn(format="%.1f"),
                     t("pk_col_capacity_floor_m2", lang): st.column_config.NumberColumn(format="localized"),
                     t("pk_col_tax_per_mu", lang): st.column_config.NumberColumn(format="%.2f"),
                     t("pk_col_va_per_mu", lang): st.column_config.NumberColumn(format="%.2f")})
    st.caption(t("pk_rule_note", lang, rule=f"{rule:.0%}"))
    _membership(ws, run.get("plots"), lang)


def _membership(ws, plots: pd.DataFrame | None, lang: str) -> None:
    """How each plot got its park (attribute or outline) and the plots where the two disagree."""
    if plots is None or "park_check" not in plots.columns:
        return
    from analysis.membership import DISAGREEMENTS

    source = plots["park_source"].astype(str)
    bad = plots[plots["park_check"].isin(DISAGREEMENTS)]
    with st.expander(t("pk_membership", lang), expanded=len(bad) > 0):
        st.caption(t("pk_membership_counts", lang, attr=int((source == "attribute").sum()),
                     geom=int((source == "geometry").sum()), bad=len(bad)))
        if not len(bad):
            st.caption(t("pk_membership_none", lang))
            return
        names = data.park_names(ws)

        def name(col):
            ids = bad[col].astype("object") if col in bad.columns else pd.Series(None, index=bad.index, dtype=object)
            return ids.map(names).fillna(ids).fillna("—")

        report = pd.DataFrame({
            "plot_id": bad["plot_id"].astype(str), "park_attribute": name("park_id_attribute"),
            "park_outline": name("park_id_geometry"), "problem": bad["park_check"].map(lambda c: _check_words(c, lang)),
        })
        st.dataframe(report.rename(columns={c: t(f"pk_col_{c}", lang) for c in report.columns}), hide_index=True,
                     width="stretch")


def _check_words(check: str, lang: str) -> str:
    from analysis.membership import CHECKS

    en, zh = CHECKS.get(check, (check, check))
    return en if lang == "en" else zh
