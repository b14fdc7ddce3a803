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

from exports.formatting import number, unit_label, with_unit
from geo.errors import PlannerError
from ui import data
from ui.filters import filter_sidebar
from ui.format import Col, label_axis, show, tall, tooltip
from ui.i18n import t
from ui.pages._common import page_start, run_params, show_error
from ui.shell import current_lang

__all__ = ["render", "STATUS_COLORS", "COLUMNS"]

STATUS_COLORS = {"pass": "#1a9850", "fail": "#d73027", "no_firms": "#999999", "no_leading_industry": "#bbbbbb"}
#: The table's columns (floor area in m², land in 亩).
COLUMNS = (
    Col("park_id", "pk_col_park_id", "id"), Col("name", "pk_col_name"), Col("township_name", "pk_col_township"),
    Col("leading_industries", "pk_col_leading_industries", "mix"), Col("n_firms", "pk_col_n_firms", "int", unit="firms"),
    Col("n_leading_firms", "pk_col_n_leading_firms", "int", unit="firms"), Col("leading_share", "pk_col_leading_share", "bar", 0),
    Col("leading_status", "pk_col_leading_status", "enum"),
    Col("leading_shortfall_firms", "pk_col_leading_shortfall_firms", "int"),
    Col("leading_land_share", "pk_col_leading_land_share", "share", 1),
    Col("leading_land_status", "pk_col_leading_land_status", "enum"), Col("area_mu", "pk_col_area_mu", "num", 0, "mu"),
    Col("developed_share", "pk_col_developed_share", "share", 0), Col("capacity_mu", "pk_col_capacity_mu", "num", 1, "mu"),
    Col("capacity_floor_m2", "pk_col_capacity_floor_m2", "num", 0, "m2"),
    Col("tax_per_mu", "pk_col_tax_per_mu", "num", 2, "10k_yuan_per_mu"),
    Col("va_per_mu", "pk_col_va_per_mu", "num", 2, "10k_yuan_per_mu"),
    *(Col(f"n_{c}", f"pk_col_n_{c}", "int", unit="firms") for c in "ABCD"),
)
#: The plots whose park attribute and park outline disagree.
_MEMBERSHIP_COLUMNS = (Col("plot_id", "pk_col_plot_id", "id"), Col("park_attribute", "pk_col_park_attribute"),
                       Col("park_outline", "pk_col_park_outline"), Col("problem", "pk_col_problem", "wide"))


def _status(s: str, lang: str) -> str:
    return t(f"pk_status_{s}", lang) if s in STATUS_COLORS else s


def _park_townships(ws) -> dict[str, str]:
    """``{park_id: township code}`` over industrial parks and micro-parks."""
    out: dict[str, str] = {}
    for name in ("industrial_parks", "micro_parks"):
        if ws.has_layer(name):
            layer = data.read_layer(ws, name)
            if "township_code" in layer:
                out.update(zip(layer["park_id"].astype(str), layer["township_code"].astype("string")))
    return out


def render() -> None:
    """Draw the park dashboards."""
    lang = current_lang()
    if (started := page_start("page_parks", lang, run_key="pk")) is None:
        return
    ws, _who, run_id = started
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
    df["township_name"] = df["park_id"].map(_park_townships(ws)).map(lambda c: data.township_names(ws).get(c, c)
                                                                     if isinstance(c, str) else c)
    c = st.columns(4)
    c[0].metric(t("pk_n", lang), number(len(df), 0, "count", lang))
    c[1].metric(t("pk_pass", lang, rule=f"{rule:.0%}"), number(int((df["leading_status"] == "pass").sum()), 0, "count",
                                                              lang))
    c[2].metric(t("pk_fail", lang), number(int((df["leading_status"] == "fail").sum()), 0, "count", lang),
                help=t("pk_fail_help", lang, n=int(df.loc[df["leading_status"] == "fail", "leading_shortfall_firms"].sum())))
    c[3].metric(t("pk_capacity", lang), number(df["capacity_mu"].sum(), 0, "mu", lang))
    _charts(df, rule, lang)
    table = df.sort_values(["leading_status", "leading_shortfall_firms"], ascending=[True, False])
    show(table, COLUMNS, lang)
    st.caption(t("pk_rule_note", lang, rule=f"{rule:.0%}"))
    _membership(ws, run.get("plots"), lang)


def _charts(df: pd.DataFrame, rule: float, lang: str) -> None:
    """Leading-industry share against the rule (each park labelled with its firm count), vacant land, 亩均税收."""
    unit = unit_label("firms", lang)
    label = df["name"].astype(str) + df["n_firms"].map(
        lambda n: f"({int(n)} {unit})" if lang == "zh" else f" ({int(n)} {unit})")
    share = df.assign(label=label, share=df["leading_share"].astype(float))
    status = t("pk_col_leading_status", lang)
    bars = alt.Chart(share, title=t("pk_chart_share", lang, rule=f"{rule:.0%}")).mark_bar().encode(
        y=alt.Y("label:N", sort="-x", axis=label_axis()),
        x=alt.X("share:Q", title=t("pk_col_leading_share", lang), axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("status_label:N", title=status,
                        scale=alt.Scale(domain=[_status(s, lang) for s in STATUS_COLORS],
                                        range=list(STATUS_COLORS.values()))),
        tooltip=[tooltip("label", t("pk_col_name", lang), kind="N"),
                 alt.Tooltip("share:Q", format=".0%", title=t("pk_col_leading_share", lang)),
                 tooltip("status_label", status, kind="N"),
                 tooltip("n_leading_firms", t("pk_col_n_leading_firms", lang), digits=0, unit="firms", lang=lang),
                 tooltip("leading_shortfall_firms", t("pk_col_leading_shortfall_firms", lang), digits=0, unit="firms",
                         lang=lang)])
    line = alt.Chart(pd.DataFrame({"rule": [rule]})).mark_rule(color="black", strokeDash=[4, 3]).encode(x="rule:Q")
    high = tall(len(df), per=30)
    st.altair_chart((bars + line).properties(height=high), width="stretch", height=high + 70)

    c1, c2 = st.columns(2)
    cap = df.assign(label=df["name"].astype(str))
    vacant, tax = t("pk_col_capacity_mu", lang), t("pk_col_tax_per_mu", lang)
    c1.altair_chart(alt.Chart(cap, title=t("pk_chart_capacity", lang)).mark_bar(color="#2a9d8f").encode(
        y=alt.Y("label:N", sort="-x", axis=label_axis()), x=alt.X("capacity_mu:Q", title=vacant),
        tooltip=[tooltip("label", t("pk_col_name", lang), kind="N"), tooltip("capacity_mu", vacant, unit="mu", lang=lang),
                 tooltip("capacity_floor_m2", t("pk_col_capacity_floor_m2", lang), digits=0, unit="m2", lang=lang)],
    ).properties(height=high), width="stretch", height=high + 70)
    c2.altair_chart(alt.Chart(cap, title=t("pk_chart_tax", lang)).mark_bar(color="#3a5ba0").encode(
        y=alt.Y("label:N", sort="-x", axis=label_axis()),
        x=alt.X("tax_per_mu:Q", title=with_unit(tax, "10k_yuan_per_mu", lang)),
        tooltip=[tooltip("label", t("pk_col_name", lang), kind="N"),
                 tooltip("tax_per_mu", tax, digits=2, unit="10k_yuan_per_mu", lang=lang)],
    ).properties(height=high), width="stretch", height=high + 70)


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
        show(report, _MEMBERSHIP_COLUMNS, lang)


def _check_words(check: str, lang: str) -> str:
    from analysis.membership import CHECKS

    en, zh = CHECKS.get(check, (check, check))
    return en if lang == "en" else zh
