"""Low-efficiency land page: which plots are listed and, for each, every rule that fired.

Screen: sidebar — run, shared filters; main — counts (plots, 亩, share of in-scope plots) →
the rules as a table (what each checks, its threshold in this run, plots it flags) → charts
of plots per rule and per township → the list (one row per plot: township, park, land use,
area, FAR against its minimum, coverage, 亩均税收, number of rules, the reasons in words, the
class of the main firm, the redevelopment score and suggested mode) with ticks to "add to
shortlist" → idle land (闲置土地), a separate and stricter legal category, as its own list with
its own ticks.  The reasons are the analysis's own text (``reasons_zh`` / ``reasons_en``).
"""
from __future__ import annotations

import json

import altair as alt
import pandas as pd
import streamlit as st

from analysis import pipeline
from analysis.low_efficiency import RULE_LABELS
from ui import data
from ui.i18n import STRINGS, t, value_label
from ui.pages._common import add_to_shortlist, filtered_view, page_start, selected_rows
from ui.shell import current_lang

__all__ = ["render", "rule_table"]

_TABLE = ("plot_id", "township_name", "park_name", "land_use", "status", "area_mu", "far", "far_min",
          "building_coverage", "tax_per_mu", "n_rules", "reasons", "final_class", "suitability", "mode")


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
    c1, c2 = st.columns(2)
    c1.altair_chart(alt.Chart(per_rule, title=t("le_chart_rules", lang)).mark_bar(color="#d73027").encode(
        y=alt.Y("rule:N", sort="-x", title=None), x=alt.X("n:Q", title=t("le_plots", lang)),
        tooltip=["rule", "n"]).properties(height=300), width="stretch",
        height=300 + 70)
    by_town = (listed.groupby(listed["township_name"].fillna("—").astype(str))
               .agg(n=("plot_id", "size"), mu=("area_mu", "sum")).reset_index())
    c2.altair_chart(alt.Chart(by_town, title=t("le_chart_townships", lang)).mark_bar(color="#fc8d59").encode(
        y=alt.Y("township_name:N", sort="-x", title=None), x=alt.X("mu:Q", title=t("le_area_mu", lang)),
        tooltip=["township_name", "n", alt.Tooltip("mu:Q", format=".1f")]).properties(height=300), width="stretch",
        height=300 + 70)


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
    c[0].metric(t("le_n", lang), f"{len(listed):,}")
    c[1].metric(t("le_area_mu", lang), f"{listed['area_mu'].sum():,.0f}")
    c[2].metric(t("le_share", lang), f"{len(listed) / max(int(in_scope.sum()), 1):.0%}")
    if "is_idle_land" in shown.columns:
        c[3].metric(t("le_idle_n", lang), f"{int(shown['is_idle_land'].fillna(False).astype(bool).sum()):,}")
    with st.expander(t("le_rules", lang), expanded=False):
        st.dataframe(rule_table(listed, _run_parameters(ws, run_id), lang), hide_index=True,
                     width="stretch")
    _charts(listed, lang)

    only = st.multiselect(t("le_only_rules", lang), list(RULE_LABELS), key="le_only_rules",
                          format_func=lambda r: RULE_LABELS[r][1] if lang == "zh" else RULE_LABELS[r][0],
                          placeholder=t("le_any_rule", lang))
    if only:
        hit = pd.concat([listed[f"rule_{r}"].fillna(False).astype(bool) for r in only], axis=1).any(axis=1)
        listed = listed[hit]
    table = _plot_table(listed, ["n_rules", "area_mu"], lang)
    st.caption(t("le_rows", lang, n=len(table)))
    event = st.dataframe(
        table.rename(columns={c: t(f"le_col_{c}", lang) for c in table.columns}), hide_index=True,
        width="stretch", height=460, key="le_table", on_select="rerun", selection_mode="multi-row",
        column_config=_formats(lang))
    rows = [r for r in selected_rows(event) if r < len(table)]
    add_to_shortlist(ws, table["plot_id"].iloc[rows].tolist(), kind="plot", source_layer=f"run_{run_id}_plots",
                     source=f"low_efficiency:{run_id}", actor=actor, lang=lang, key="le_add")
    _idle_land(ws, actor, run_id, shown, lang)


def _plot_table(plots: pd.DataFrame, order: list[str], lang: str) -> pd.DataFrame:
    """The listed plots as shown: reasons and labels in ``lang``, "—" for a plot outside every park."""
    table = pd.DataFrame(plots.drop(columns=plots.geometry.name))
    table["reasons"] = table[data.reasons_column(lang)]
    table["land_use"] = table["land_use"].map(lambda c: t(f"lu_{c}", lang) if f"lu_{c}" in STRINGS else c)
    table["status"] = table["status"].map(lambda s: value_label(s, lang) if isinstance(s, str) else s)
    for c in ("township_name", "park_name"):
        if c in table.columns:
            table[c] = table[c].astype("string").fillna("—")
    table = table.sort_values(order, ascending=False)[[c for c in _TABLE if c in table.columns]]
    return table.reset_index(drop=True)


def _formats(lang: str) -> dict:
    return {t("le_col_reasons", lang): st.column_config.TextColumn(width="large"),
            t("le_col_area_mu", lang): st.column_config.NumberColumn(format="%.1f"),
            t("le_col_far", lang): st.column_config.NumberColumn(format="%.2f"),
            t("le_col_building_coverage", lang): st.column_config.NumberColumn(format="%.2f"),
            t("le_col_tax_per_mu", lang): st.column_config.NumberColumn(format="%.2f"),
            t("le_col_suitability", lang): st.column_config.NumberColumn(format="%.0f")}


def _idle_land(ws, actor, run_id: str, shown: pd.DataFrame, lang: str) -> None:
    """闲置土地: its own list (a separate, stricter category than low-efficiency land)."""
    if "is_idle_land" not in shown.columns:
        return
    idle = shown[shown["is_idle_land"].fillna(False).astype(bool)]
    st.subheader(t("le_idle_title", lang, n=len(idle), mu=f"{idle['area_mu'].sum():,.0f}"))
    st.caption(t("le_idle_note", lang))
    if not len(idle):
        st.info(t("le_idle_none", lang))
        return
    table = _plot_table(idle, ["area_mu"], lang)
    event = st.dataframe(table.rename(columns={c: t(f"le_col_{c}", lang) for c in table.columns}), hide_index=True,
                         width="stretch", key="le_idle_table", on_select="rerun", selection_mode="multi-row",
                         column_config=_formats(lang))
    rows = [r for r in selected_rows(event) if r < len(table)]
    add_to_shortlist(ws, table["plot_id"].iloc[rows].tolist(), kind="plot", source_layer=f"run_{run_id}_plots",
                     source=f"idle_land:{run_id}", actor=actor, lang=lang, key="le_idle_add")
