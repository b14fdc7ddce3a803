"""What the analysis and shortlist pages share: opening the workspace, the user's name, errors, runs.

Nothing here computes an analysis: runs are made by :func:`analysis.pipeline.run` and read by
:func:`analysis.pipeline.load_run`; this module only caches what they return (keyed by the
workspace path, the run id and the file version — never by a frame) and shows errors in the
user's language.
"""
from __future__ import annotations

import getpass
import os

import pandas as pd
import streamlit as st

from analysis import pipeline
from geo.errors import PlannerError
from layers.workspace import Workspace
from geo.units import M2_PER_MU
from ui.i18n import t
from ui.shell import plain, show_error, workspace_path

__all__ = [
    "USER_KEY",
    "plain",
    "show_error",
    "open_ws",
    "writable",
    "user_name",
    "pipeline_runs",
    "load_run",
    "run_picker",
    "mu",
    "REGRADES_TABLE",
    "REGRADE_FIELDS",
    "regrade_log",
    "effective_regrades",
    "run_params",
    "selected_rows",
    "add_to_shortlist",
]

USER_KEY = "planner_user"  # plain session key (widget keys are dropped when a page does not draw them)
_USER_WIDGET = "_planner_user_input"
_RUN_KEY = "planner_run"
_RUN_DONE_KEY = "planner_run_done"  # (run id, message) of the run made in this session, shown while it is picked


def open_ws(lang: str) -> Workspace | None:
    """The workspace (read-only), or None after telling the user what is missing."""
    path = workspace_path()
    if not path.exists():
        st.error(t("no_workspace", lang, path=path))
        return None
    try:
        return Workspace.open(path, readonly=True)
    except PlannerError as exc:
        show_error(exc, lang)
        return None


def writable(ws: Workspace) -> Workspace:
    """The same workspace opened for writing (shortlist changes, runs, re-grades)."""
    return Workspace.open(ws.path, readonly=False)


def user_name(lang: str) -> str:
    """Sidebar field "操作人": who makes a change (recorded in every history row).

    Defaults to ``$PLANNER_USER`` or the login name; kept in a plain session key so it
    survives page switches.
    """
    if USER_KEY not in st.session_state:
        st.session_state[USER_KEY] = os.environ.get("PLANNER_USER") or getpass.getuser() or ""
    st.session_state[_USER_WIDGET] = st.session_state[USER_KEY]

    def _keep() -> None:
        st.session_state[USER_KEY] = st.session_state[_USER_WIDGET].strip()

    st.sidebar.text_input(t("pg_user", lang), key=_USER_WIDGET, on_change=_keep, max_chars=64)
    return st.session_state[USER_KEY]


def mu(m2) -> pd.Series | float:
    """m² → 亩 (1 亩 = 10000/15 m²)."""
    return m2 / M2_PER_MU


# --- re-grades (workspace table, applied to every new run) ------------------------------
REGRADES_TABLE = "regrades"
REGRADE_FIELDS = ("credit_code", "name", "computed_class", "new_class", "reason", "run_id", "who", "at")


def regrade_log(ws: Workspace) -> pd.DataFrame:
    """Every re-grade ever made (one row per change, oldest first); empty if none."""
    if not ws.has_layer(REGRADES_TABLE):
        return pd.DataFrame({c: pd.Series(dtype="string") for c in REGRADE_FIELDS})
    return ws.read_table(REGRADES_TABLE)


def effective_regrades(ws: Workspace, *, or_none: bool = False) -> pd.DataFrame | None:
    """The re-grades in force: the latest row per firm, minus withdrawn ones (empty ``new_class``).

    Columns ``credit_code``, ``new_class``, ``reason`` (what :func:`analysis.per_mu.apply_regrade`
    takes).  ``or_none``: None instead of an empty frame (for :func:`analysis.pipeline.run`).
    """
    from analysis.params import CLASSES

    log = regrade_log(ws)
    last = log.drop_duplicates("credit_code", keep="last") if len(log) else log
    last = last[last["new_class"].fillna("").astype(str).isin(CLASSES)]
    out = pd.DataFrame(last[["credit_code", "new_class", "reason"]]).reset_index(drop=True)
    return None if (or_none and not len(out)) else out


# --- runs -----------------------------------------------------------------------------
@st.cache_data(show_spinner=False, max_entries=16)
def _pipeline_runs(path: str, version: tuple) -> pd.DataFrame:
    ws = Workspace.open(path, readonly=True)
    runs = pipeline.list_runs(ws, kind="chain")
    if not len(runs):
        return runs
    held = set(ws.layers())
    runs = runs[[f"run_{r}_per_mu" in held for r in runs["run_id"].astype(str)]]
    return runs.sort_values(["created", "run_id"], ascending=False).reset_index(drop=True)


def pipeline_runs(ws: Workspace) -> pd.DataFrame:
    """Stored analysis-chain runs (not siting/integration runs), newest first."""
    return _pipeline_runs(str(ws.path), ws.version)


@st.cache_resource(show_spinner=False, max_entries=4)
def _load_run(path: str, run_id: str) -> dict[str, pd.DataFrame]:
    # A run's layers are written once under a unique id: the id alone identifies them.
    return pipeline.load_run(Workspace.open(path, readonly=True), run_id)


def load_run(ws: Workspace, run_id: str) -> dict[str, pd.DataFrame]:
    """Every frame of run ``run_id`` (read-only, cached: copy before changing)."""
    return _load_run(str(ws.path), run_id)


def run_params(ws: Workspace, run_id: str):
    """The preset a run was made with (``analysis.params.Params``); ``ruian_default`` if it was a custom one."""
    from analysis.params import list_presets, load_preset

    runs = pipeline.list_runs(ws)
    hit = runs.loc[runs["run_id"].astype(str) == run_id, "preset"]
    preset = str(hit.iloc[0]) if len(hit) else ""
    return load_preset(preset if preset in list_presets() else "ruian_default")


def _run_analysis(ws: Workspace, preset: str, lang: str) -> str | None:
    label = t("pg_running", lang)
    with st.status(label, expanded=False) as box:
        try:
            run_id, result = pipeline.run(writable(ws), preset, regrades=effective_regrades(ws, or_none=True))
        except PlannerError as exc:
            box.update(label=t("pg_run_failed", lang), state="error")
            show_error(exc, lang)
            return None
        done = t("pg_run_done", lang, run=run_id, secs=sum(result.timings.values()))
        box.update(label=done, state="complete")
    # the page shows the new run (not the one its picker held) and says so until another run is picked
    st.session_state[_RUN_KEY] = run_id
    st.session_state[_RUN_DONE_KEY] = (run_id, done)
    return run_id


def page_start(title_key: str, lang: str, *, run_key: str) -> tuple[Workspace, str, str] | None:
    """What every analysis page starts with: header, operator name, workspace, run picker.

    Returns ``(ws, who, run_id)``, or None when the page cannot go on (no workspace, no run
    yet — the reason has been shown).
    """
    st.header(t(title_key, lang))
    who = user_name(lang)
    ws = open_ws(lang)
    if ws is None:
        return None
    run_id = run_picker(ws, lang, key=run_key)
    if run_id is None:
        return None
    return ws, who, run_id


def filtered_view(ws: Workspace, run_id: str, lang: str):
    """The run's per-plot view with the shared sidebar filters applied: ``(view, mask)``, or None after an error."""
    from ui import data
    from ui.filters import apply as apply_filters, filter_sidebar

    try:
        view = data.plot_view(ws, run_id)
        return view, apply_filters(view, filter_sidebar(view, lang))
    except PlannerError as exc:
        show_error(exc, lang)
        return None


@st.cache_data(show_spinner=False, max_entries=16)
def _runs_of_kind(path: str, version: tuple, kind: str, marker: str) -> list[str]:
    ws = Workspace.open(path, readonly=True)
    ids = [r[len(kind) + 1:] for r in pipeline.list_runs(ws, kind=kind)["run_id"].astype(str)]
    held = set(ws.layers())
    return [r for r in reversed(ids) if f"{kind}_{r}_{marker}" in held]


def runs_of_kind(ws: Workspace, kind: str, marker: str) -> list[str]:
    """Stored siting or integration run ids (without the ``<kind>_`` prefix), newest first.

    ``marker`` names the result layer a complete run must have (``<kind>_<id>_<marker>``).
    """
    return _runs_of_kind(str(ws.path), ws.version, kind, marker)


@st.cache_resource(show_spinner=False, max_entries=8)
def _run_layers(path: str, kind: str, run_id: str, parts: tuple[str, ...]) -> dict:
    # A run's layers are written once under a unique id: the id alone identifies them.
    ws = Workspace.open(path, readonly=True)
    return {k: ws.read(f"{kind}_{run_id}_{k}") for k in parts if ws.has_layer(f"{kind}_{run_id}_{k}")}


def run_layers(ws: Workspace, kind: str, run_id: str, parts: tuple[str, ...]) -> dict:
    """The result layers of one siting or integration run by part name (cached, read-only)."""
    return _run_layers(str(ws.path), kind, run_id, parts)


def run_picker(ws: Workspace, lang: str, *, key: str) -> str | None:
    """Sidebar choice of the analysis run the page shows (newest by default) and a "run analysis" control.

    Returns the chosen run id, or None when there is none yet (the page then shows only the
    control).
    """
    from analysis.params import list_presets

    presets = [p for p in list_presets() if not p.startswith(("siting", "integration"))]
    runs = pipeline_runs(ws)
    ids = runs["run_id"].astype(str).tolist() if len(runs) else []
    sb = st.sidebar
    chosen = None
    if ids:
        wanted = st.session_state.get(_RUN_KEY)
        wkey = f"{key}_run"
        # The run the session looks at is _RUN_KEY (set by a pick here or on another page, or by a new run):
        # the widget follows it, else a picker that already exists would keep showing the old run.
        if wanted in ids and st.session_state.get(wkey) != wanted:
            st.session_state[wkey] = wanted
        elif wanted not in ids:
            st.session_state.pop(wkey, None)

        def _picked() -> None:
            st.session_state[_RUN_KEY] = st.session_state[wkey]

        chosen = sb.selectbox(t("pg_run", lang), ids, key=wkey, on_change=_picked,
                              format_func=lambda r: f"{r} · {runs.loc[ids.index(r), 'preset']}")
        st.session_state[_RUN_KEY] = chosen
        done = st.session_state.get(_RUN_DONE_KEY)
        if done and done[0] == chosen:
            sb.success(done[1])
    with sb.expander(t("pg_new_run", lang), expanded=not ids):
        default = presets.index("ruian_default") if "ruian_default" in presets else 0
        preset = st.selectbox(t("pg_preset", lang), presets, index=default, key=f"{key}_preset")
        if st.button(t("pg_run_button", lang), key=f"{key}_run_button"):
            new = _run_analysis(ws, preset, lang)
            if new:
                st.rerun()
    if not ids:
        st.info(t("pg_no_run", lang))
    return chosen


# --- tables with row selection and the "add to shortlist" button --------------------------
def selected_rows(event) -> list[int]:
    """Positions of the rows ticked in an ``st.dataframe(on_select="rerun")`` table."""
    try:
        return list(event.selection.rows)
    except AttributeError:
        return []


def add_to_shortlist(ws: Workspace, ids: list, *, kind: str, source_layer: str, source: str, who: str, lang: str,
                     key: str) -> None:
    """The "加入清单" button for the ticked rows of a table.

    Ids are looked up in ``source_layer`` (a run's result layer, working CRS), whose reasons,
    score and class become the entry's explanation (:func:`layers.shortlist.add`).  Items
    already listed are left as they are.
    """
    from layers import shortlist

    label = f"{t('pg_add_to_shortlist', lang)} ({len(ids)})"
    if not st.button(label, key=key, disabled=not ids, help=None if ids else t("pg_pick_rows", lang)):
        return
    try:
        before = len(shortlist.load(ws))
        after = shortlist.add(writable(ws), [str(i) for i in ids], kind=kind, who=who, source_layer=source_layer,
                              source=source, on_duplicate="skip")
    except PlannerError as exc:
        show_error(exc, lang)
        return
    added = len(after) - before
    st.success(t("pg_added", lang, n=added, skipped=len(ids) - added))
