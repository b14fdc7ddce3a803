"""Compare two runs: what changed between two analyses of the chain, and why.

Screen: sidebar — the township filter (shared with the other pages; applies to firms and plots
here); main — run A and run B (default: the two newest) → the filter in force → counts (firms
changing class, mean score change, plots entering and leaving the low-efficiency list) →
downloads (Excel with every table, CSV of the plots) → tabs, only the open one drawn:

* 清单变化地块: a map of the plots that entered (red) or left (grey) the list, and the table
  of them with the rules that changed and the setting behind each (:mod:`analysis.compare`);
* 类别转移: the class × class matrix, and the firms whose class changed;
* 得分变化: the distribution of score changes, and every firm's score in both runs;
* 参数变化: every setting that differs, in words.

Everything comes from :func:`analysis.pipeline.compare_runs`; the tables are
:func:`exports.comparison.tables`, the same the Excel export writes.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from analysis import pipeline
from exports.comparison import SHEETS, tables, write_comparison
from exports.formatting import DASH, local_time, number, with_unit
from geo.errors import PlannerError
from layers import access
from ui import data
from ui.filters import PlotFilters, filter_sidebar
from ui.format import histogram
from ui.i18n import t
from ui.mapview import build_map
from ui.offline import static_base_url
from ui.pages._common import acting_user, filter_note, open_ws, pipeline_runs, show_error
from ui.shell import current_lang, display_layer, layer_stamp

__all__ = ["render", "diff_of", "TABS_KEY", "MAP_KEY"]

TABS_KEY = "cmp_tabs"
MAP_KEY = "compare_map"


@st.cache_data(show_spinner=False, max_entries=8)
def _diff(path: str, stamp: tuple, run_a: str, run_b: str) -> dict:
    from layers.store import open_workspace

    return pipeline.compare_runs(open_workspace(path), run_a, run_b)


def diff_of(ws, run_a: str, run_b: str) -> dict:
    """:func:`analysis.pipeline.compare_runs`, cached by the workspace's runs table and the two ids."""
    return _diff(ws.location, layer_stamp(ws, "runs"), run_a, run_b)


def _pick_runs(ws, lang: str) -> tuple[str, str] | None:
    runs = pipeline_runs(ws)
    if len(runs) < 2:
        st.info(t("cmp_need_two", lang))
        return None
    ids = runs["run_id"].astype(str).tolist()
    label = {r: f"{r} · {p} · {local_time(c, ws.timezone)}" for r, p, c in zip(ids, runs["preset"], runs["created"])}
    c1, c2 = st.columns(2)
    run_a = c1.selectbox(t("cmp_run_a", lang), ids, index=1, key="cmp_run_a", format_func=label.get)
    run_b = c2.selectbox(t("cmp_run_b", lang), ids, index=0, key="cmp_run_b", format_func=label.get)
    if run_a == run_b:
        st.warning(t("cmp_same", lang))
        return None
    return run_a, run_b


def _scoped(diff: dict, towns: tuple[str, ...]) -> dict:
    """The comparison restricted to firms and plots of ``towns`` (the summary recounted)."""
    if not towns:
        return diff
    out = dict(diff)
    for key in ("class_changes", "scores", "plots"):
        frame = diff[key]
        out[key] = frame[frame["township_code"].astype(str).isin(towns)].reset_index(drop=True)
    out["entered"] = sorted(out["plots"].loc[out["plots"]["change"] == "entered", "plot_id"])
    out["left"] = sorted(out["plots"].loc[out["plots"]["change"] == "left", "plot_id"])
    scores = out["scores"]
    out["summary"] = {**diff["summary"], "firms_compared": len(scores), "class_changes": len(out["class_changes"]),
                      "mean_abs_score_change": float(scores["score_change"].abs().mean()) if len(scores) else 0.0,
                      "entered": len(out["entered"]), "left": len(out["left"])}
    return out


def _downloads(diff: dict, run_a: str, run_b: str, towns: dict, lang: str) -> None:
    c1, c2 = st.columns(2)
    for col, fmt in ((c1, "xlsx"), (c2, "csv")):
        data_ = write_comparison(diff, fmt=fmt, run_a=run_a, run_b=run_b, lang=lang, townships=towns)
        name = t("cmp_file", lang, a=run_a, b=run_b) + f".{fmt}"
        col.download_button(t(f"cmp_dl_{fmt}", lang), data=data_, file_name=name, key=f"cmp_dl_{fmt}",
                            on_click="ignore", width="stretch",
                            mime="text/csv" if fmt == "csv" else
                            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def _map(ws, diff: dict, run_b: str, lang: str) -> None:
    """The plots that entered (red: low-efficiency in run B) or left (grey) the list."""
    plots = diff["plots"]
    if not len(plots):
        return
    view = data.plot_view(ws, run_b)
    changed = data.with_geometry(ws, view[view["plot_id"].astype(str).isin(set(plots["plot_id"]))])
    entered = set(diff["entered"])
    keep = [c for c in ("plot_id", "land_use", "status", "area_m2", "far", "township_code") if c in changed.columns]
    shown = changed[keep + [changed.geometry.name]].assign(
        is_low_efficiency=changed["plot_id"].astype(str).isin(entered))
    layers = {"plots": shown}
    if ws.has_layer("townships"):
        layers = {"townships": display_layer(ws, "townships"), **layers}
    base_url = st.get_option("server.baseUrlPath") or ""
    st.caption(t("cmp_map_note", lang, a=len(diff["entered"]), b=len(diff["left"])))
    st_folium(build_map(layers, lang=lang, style_by="low_efficiency", static_url=static_base_url(base_url)),
              key=MAP_KEY, height=420, width="stretch", returned_objects=[], render=False)


def _table(frame: pd.DataFrame, height: int | str = "auto") -> None:
    st.dataframe(frame, hide_index=True, width="stretch", height=height, placeholder=DASH)


def _score_chart(diff: dict, lang: str) -> None:
    scores = diff["scores"][["score_change"]].dropna()
    if not len(scores):
        return
    st.altair_chart(histogram(scores, "score_change", title=t("cmp_chart_scores", lang), bins=40,
                              x_title=with_unit(t("cmp_score_change", lang), "points", lang),
                              y_title=with_unit(t("ev_firms", lang), "firms", lang)), width="stretch", height=260 + 70)


def render() -> None:
    """Draw the run comparison."""
    lang = current_lang()
    st.header(t("page_compare", lang))
    ws = open_ws(lang)
    if ws is None:
        return
    st.caption(t("cmp_intro", lang))
    picked = _pick_runs(ws, lang)
    if picked is None:
        return
    run_a, run_b = picked
    towns = data.township_names(ws)
    own = access.visible_townships(acting_user())  # an official compares their own township only
    if own is not None:
        towns = {c: n for c, n in towns.items() if c in own}
    try:
        diff = diff_of(ws, run_a, run_b)
    except PlannerError as exc:
        show_error(exc, lang)
        return
    view = pd.DataFrame({"township_code": list(towns), "township_name": list(towns.values())})
    filters = filter_sidebar(view, lang, township_names=towns, only=("townships",))
    if (note := filter_note(PlotFilters(townships=filters.townships), lang, townships=towns,
                            applies=t("cmp_filter_applies", lang))):
        st.info(note)
    diff = _scoped(diff, filters.townships or (tuple(towns) if own is not None else ()))
    s = diff["summary"]
    c = st.columns(4)
    c[0].metric(t("cmp_class_changes", lang), number(s["class_changes"], 0, "firms", lang),
                help=t("cmp_of_firms", lang, n=number(s["firms_compared"], 0, "firms", lang)))
    c[1].metric(t("cmp_mean_change", lang), number(s["mean_abs_score_change"], 1, "points", lang))
    c[2].metric(t("cmp_entered", lang), number(s["entered"], 0, "plots", lang))
    c[3].metric(t("cmp_left", lang), number(s["left"], 0, "plots", lang))
    _downloads(diff, run_a, run_b, towns, lang)
    shown = tables(diff, run_a=run_a, run_b=run_b, lang=lang, townships=towns)
    names = [SHEETS[k][1 if lang == "en" else 0] for k in ("plots", "transitions", "scores", "settings")]
    tabs = st.tabs(names, key=TABS_KEY, on_change="rerun")
    if tabs[0].open:
        with tabs[0]:
            _map(ws, diff, run_b, lang)
            _table(shown["plots"], height=420)
    if tabs[1].open:
        with tabs[1]:
            _table(shown["transitions"])
            st.caption(t("cmp_transitions_note", lang))
            st.subheader(SHEETS["class_changes"][1 if lang == "en" else 0])
            _table(shown["class_changes"], height=360)
    if tabs[2].open:
        with tabs[2]:
            _score_chart(diff, lang)
            _table(shown["scores"], height=360)
    if tabs[3].open:
        with tabs[3]:
            if len(shown["settings"]):
                st.dataframe(shown["settings"], hide_index=True, width="stretch", placeholder=DASH,
                             column_config={c: st.column_config.TextColumn(width="large")
                                            for c in shown["settings"].columns[1:]})
            else:
                st.info(t("cmp_no_settings", lang))
