"""Low-efficiency land page: which plots are listed and, for each, every rule that fired.

Screen: sidebar — run, shared filters; main — counts (plots, 亩, share of in-scope plots) →
the rules as a table (what each checks, its threshold in this run, plots it flags) → charts
of plots per rule and per township → the list (one row per plot: township, park, land use,
area, FAR against its minimum, coverage, 亩均税收, number of rules, the reasons in words, the
class of the main firm, the redevelopment score and suggested mode) with ticks to "add to
shortlist" → idle land (闲置土地), a separate and stricter legal category, as its own list with
the same ticks.  The reasons are the analysis's own text (``reasons_zh`` / ``reasons_en``).
"""
from __future__ import annotations

import json

import altair as alt
import pandas as pd
import streamlit as st

from analysis import pipeline
from analysis.low_efficiency import RULE_LABELS
from exports.formatting import DASH, number, percent, with_unit
from ui import data
from ui.format import Col, label_axis, table, tall, tooltip
from ui.i18n import t, value_label
from ui.pages._common import add_to_shortlist, filtered_view, page_start, pick_rows
from ui.shell import current_lang

__all__ = ["render", "rule_table", "COLUMNS"]


def _run_parameters(ws, run_id: str) -> dict:
    runs = pipeline.list_runs(ws)
    hit = runs.loc[runs["run_id"] == run_id, "parameters"]
    try:
        return json.loads(hit.iloc[0]).get("low_efficiency", {}) if len(hit) else {}
    except (TypeError, ValueError):
        return {}


def rule_table(plots: pd.DataFrame, params: dict, lang: str) -> pd.DataFrame:
    """One row per rule: its name, what it checks with this run's threshold, plots and 亩 it flags."""
    enabled = set(params.get("rules", RULE_LABELS))
    rows = []
    fmt = {"coverage_min": f"{float(params.get('coverage_min', 0.3)):.0%}",
           "tax_per_mu_min": f"{float(params.get('tax_per_mu_min', 1.0)):g}",
           "tax_share_of_average": f"{float(params.get('tax_share_of_average', 0.5)):.0%}",
           "halted_years": f"{float(params.get('halted_years', 1.0)):g}",
           "overdue_years": f"{float(params.get('overdue_years', 2.0)):g}",
           "contract_years": f"{float(params.get('contract_years', 2.0)):g}",
           "contract_share_min": f"{float(params.get('contract_share_min', 0.5)):.0%}",
           "polluting_codes": ", ".join(params.get("polluting_codes", ())) or "—"}
    for rule, (en, zh) in RULE_LABELS.items():
        col = f"rule_{rule}"
        hit = plots[col].fillna(False).astype(bool) if col in plots.columns else pd.Series(False, index=plots.index)
        rows.append({
            t("le_rule", lang): zh if lang == "zh" else en,
            t("le_rule_checks", lang): t(f"le_rule_{rule}", lang, **fmt),
            t("le_rule_on", lang): "✓" if rule in enabled else "—",
            t("le_plots", lang): int(hit.sum()),
            t("le_area_mu", lang): round(float(plots.loc[hit, "area_mu"].sum()), 1) if "area_mu" in plots else None,
        })
    return pd.DataFrame(rows)


def _charts(listed: pd.DataFrame, lang: str) -> None:
    per_rule = pd.DataFrame({
        "rule": [(zh if lang == "zh" else en) for r, (en, zh) in RULE_LABELS.items()],
        "n": [int(listed[f"rule_{r}"].fillna(False).astype(bool).sum()) if f"rule_{r}" in listed else 0
              for r in RULE_LABELS]})
    plots = t("le_plots", lang)
    c1, c2 = st.columns(2)
    high = tall(len(per_rule))
    c1.altair_chart(alt.Chart(per_rule, title=t("le_chart_rules", lang)).mark_bar(color="#d73027").encode(
        y=alt.Y("rule:N", sort="-x", axis=label_axis()), x=alt.X("n:Q", title=with_unit(plots, "plots", lang)),
        tooltip=[tooltip("rule", t("le_rule", lang), kind="N"), tooltip("n", plots, digits=0, unit="plots", lang=lang)],
    ).properties(height=high), width="stretch", height=high + 70)
    by_town = (listed.groupby(listed["township_name"].fillna(DASH).astype(str))
               .agg(n=("plot_id", "size"), mu=("area_mu", "sum")).reset_index())
    high = tall(len(by_town))
    area = t("le_area", lang)
    c2.altair_chart(alt.Chart(by_town, title=t("le_chart_townships", lang)).mark_bar(color="#fc8d59").encode(
        y=alt.Y("township_name:N", sort="-x", axis=label_axis()), x=alt.X("mu:Q", title=with_unit(area, "mu", lang)),
        tooltip=[tooltip("township_name", t("le_col_township_name", lang), kind="N"),
                 tooltip("n", plots, digits=0, unit="plots", lang=lang), tooltip("mu", area, unit="mu", lang=lang)],
    ).properties(height=high), width="stretch", height=high + 70)


#: The list's columns: what each holds and how it reads.
COLUMNS = (
    Col("plot_id", "le_col_plot_id", "id"), Col("township_name", "le_col_township_name"),
    Col("park_name", "le_col_park_name"), Col("land_use", "le_col_land_use", "land_use"),
    Col("status", "le_col_status", "enum"), Col("area_mu", "le_col_area_mu", "num", 1, "mu"),
    Col("far", "le_col_far", "num", 2), Col("far_min", "le_col_far_min", "num", 1),
    Col("building_coverage", "le_col_building_coverage", "share", 0),
    Col("tax_per_mu", "le_col_tax_per_mu", "num", 2, "10k_yuan_per_mu"), Col("n_rules", "le_col_n_rules", "int"),
    Col("reasons", "le_col_reasons", "reasons"), Col("final_class", "le_col_final_class"),
    Col("suitability", "le_col_suitability", "num", 1, "points"), Col("mode", "le_col_mode", "text"),
)


def render() -> None:
    """Draw the low-efficiency list."""
    lang = current_lang()
    if (started := page_start("page_low_efficiency", lang, run_key="le")) is None:
        return
    ws, actor, run_id = started
    if (filtered := filtered_view(ws, run_id, lang)) is None:
        return
    view, mask = filtered
    if not data.has_results(view):
        st.warning(t("le_no_results", lang))
        return
    shown = view[mask]
    listed = shown[shown["is_low_efficiency"].fillna(False).astype(bool)]
    in_scope = shown["in_scope"].fillna(False).astype(bool) if "in_scope" in shown else pd.Series(True, shown.index)
    c = st.columns(4)
    c[0].metric(t("le_n", lang), number(len(listed), 0, "plots", lang))
    c[1].metric(t("le_area", lang), number(listed["area_mu"].sum(), 0, "mu", lang))
    c[2].metric(t("le_share", lang), percent(len(listed) / max(int(in_scope.sum()), 1)))
    if "is_idle_land" in shown.columns:
        c[3].metric(t("le_idle_n", lang), number(int(shown["is_idle_land"].fillna(False).astype(bool).sum()), 0,
                                                 "plots", lang))
    with st.expander(t("le_rules", lang), expanded=False):
        st.dataframe(rule_table(listed, _run_parameters(ws, run_id), lang), hide_index=True,
                     width="stretch", placeholder=DASH)
    _charts(listed, lang)

    only = st.multiselect(t("le_only_rules", lang), list(RULE_LABELS), key="le_only_rules",
                          format_func=lambda r: RULE_LABELS[r][1] if lang == "zh" else RULE_LABELS[r][0],
                          placeholder=t("le_any_rule", lang))
    if only:
        hit = pd.concat([listed[f"rule_{r}"].fillna(False).astype(bool) for r in only], axis=1).any(axis=1)
        listed = listed[hit]
    rows = _rows(listed, ["n_rules", "area_mu"], lang)
    st.caption(t("le_rows", lang, n=f"{len(rows):,}"))
    frame, config = table(rows, COLUMNS, lang)
    picked = pick_rows(frame, rows["plot_id"], key="le_table", column_config=config, height=460)
    add_to_shortlist(ws, picked, kind="plot", source_layer=f"run_{run_id}_plots",
                     source=f"low_efficiency:{run_id}", actor=actor, lang=lang, key="le_add")
    _idle_land(ws, actor, run_id, shown, lang)


def _rows(plots: pd.DataFrame, order: list[str], lang: str) -> pd.DataFrame:
    """The plots of a list as shown: reasons and the suggested mode in ``lang``, the largest first."""
    rows = pd.DataFrame(plots).drop(columns="geometry", errors="ignore")  # the plot view has no geometry
    rows["reasons"] = rows[data.reasons_column(lang)]
    if lang == "en" and "mode_key" in rows:
        rows["mode"] = rows["mode_key"].map(lambda k: value_label(k, lang) if isinstance(k, str) else k)
    return rows.sort_values(order, ascending=False)


def _idle_land(ws, actor, run_id: str, shown: pd.DataFrame, lang: str) -> None:
    """闲置土地: its own list (a separate, stricter category than low-efficiency land)."""
    if "is_idle_land" not in shown.columns:
        return
    idle = shown[shown["is_idle_land"].fillna(False).astype(bool)]
    st.subheader(t("le_idle_title", lang, n=len(idle), mu=number(idle["area_mu"].sum(), 0, None, lang)))
    st.caption(t("le_idle_note", lang))
    if not len(idle):
        st.info(t("le_idle_none", lang))
        return
    rows = _rows(idle, ["area_mu"], lang)
    frame, config = table(rows, COLUMNS, lang)
    picked = pick_rows(frame, rows["plot_id"], key="le_idle_table", column_config=config)
    add_to_shortlist(ws, picked, kind="plot", source_layer=f"run_{run_id}_plots",
                     source=f"idle_land:{run_id}", actor=actor, lang=lang, key="le_idle_add")
