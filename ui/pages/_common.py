"""What the analysis and shortlist pages share: opening the workspace, the signed-in user, errors, runs.

Nothing here computes an analysis: runs are made by :func:`analysis.pipeline.run` (through
:func:`ui.data.run_chain_stored`: on the dask cluster of ``PLANNER_SCHEDULER`` when it is set) and
read by :func:`analysis.pipeline.load_run`; this module only caches what they return (keyed by the
workspace's location, the run id and version stamps — never by a frame) and shows errors in
the user's language.  Every write names the signed-in user (:func:`acting_user`); the
library refuses what that user's role does not allow.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pandas as pd
import streamlit as st

from analysis import pipeline
from geo.errors import PlannerError
from geo.units import M2_PER_MU
from layers import regrades as regrades_store
from layers.access import Actor
from layers.store import WorkspaceBase as Workspace, open_workspace as _open_store
from ui.i18n import t
from ui.shell import plain, show_error, workspace_location

__all__ = [
    "plain",
    "show_error",
    "open_ws",
    "writable",
    "acting_user",
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
    "pick_rows",
    "picked_key",
    "add_to_shortlist",
    "stale_note",
    "permitted",
    "filter_note",
]

_RUN_KEY = "planner_run"
_RUN_DONE_KEY = "planner_run_done"  # (run id, message) of the run made in this session, shown while it is picked


def open_ws(lang: str) -> Workspace | None:
    """The workspace (read-only), or None after telling the user what is missing."""
    try:
        return _open_store(workspace_location())
    except PlannerError as exc:
        show_error(exc, lang)
        return None


def writable(ws: Workspace) -> Workspace:
    """The same workspace opened for writing (shortlist changes, runs, re-grades)."""
    return _open_store(ws.location, readonly=False)


def acting_user() -> Actor:
    """The signed-in user of this session (app.py shows the sign-in screen until there is one)."""
    from ui.login import current_actor

    actor = current_actor()
    if actor is None:  # a page reached without signing in (expired meanwhile): back to the sign-in screen
        st.rerun()
    return actor


def permitted(action: str, lang: str, *, actor: Actor | None = None) -> dict:
    """``st.button``/``form_submit_button`` keywords for a control that writes: nothing when the signed-in
    user's role may do ``action``, else disabled with the reason.  For clarity only — the library refuses
    the write anyway, and Streamlit discards a forged click on a disabled control."""
    from layers import access

    actor = actor if actor is not None else acting_user()
    return {} if access.allowed(actor, action) else {"disabled": True, "help": t("role_readonly_note", lang)}


def mu(m2) -> pd.Series | float:
    """m² → 亩 (1 亩 = 10000/15 m²)."""
    return m2 / M2_PER_MU


# --- re-grades (workspace table, applied to every new run) ------------------------------
REGRADES_TABLE = regrades_store.TABLE
REGRADE_FIELDS = regrades_store.FIELDS


def regrade_log(ws: Workspace) -> pd.DataFrame:
    """Every re-grade ever made (one row per change, oldest first); empty if none."""
    return regrades_store.log(ws)


def effective_regrades(ws: Workspace, *, or_none: bool = False) -> pd.DataFrame | None:
    """The re-grades in force (:func:`layers.regrades.effective`)."""
    return regrades_store.effective(ws, or_none=or_none)


# --- runs -----------------------------------------------------------------------------
@st.cache_data(show_spinner=False, max_entries=16)
def _pipeline_runs(path: str, version: tuple) -> pd.DataFrame:
    ws = _open_store(path)
    runs = pipeline.list_runs(ws, kind="chain")
    if not len(runs):
        return runs
    held = set(ws.layers())
    runs = runs[[f"run_{r}_per_mu" in held for r in runs["run_id"].astype(str)]]
    return runs.sort_values(["created", "run_id"], ascending=False).reset_index(drop=True)


def pipeline_runs(ws: Workspace) -> pd.DataFrame:
    """Stored analysis-chain runs (not siting/integration runs), newest first."""
    return _pipeline_runs(ws.location, ws.version)


@st.cache_resource(show_spinner=False, max_entries=4)
def _load_run(path: str, run_id: str) -> dict[str, pd.DataFrame]:
    # A run's layers are written once under a unique id: the id alone identifies them.
    return pipeline.load_run(_open_store(path), run_id)


def load_run(ws: Workspace, run_id: str) -> dict[str, pd.DataFrame]:
    """Every frame of run ``run_id`` (read-only, cached: copy before changing)."""
    from ui.scope import visible_all

    return visible_all(_load_run(ws.location, run_id))


def run_params(ws: Workspace, run_id: str):
    """The preset a run was made with (``analysis.params.Params``); ``ruian_default`` if it was a custom one."""
    from analysis.params import list_presets, load_preset

    runs = pipeline.list_runs(ws)
    hit = runs.loc[runs["run_id"].astype(str) == run_id, "preset"]
    preset = str(hit.iloc[0]) if len(hit) else ""
    return load_preset(preset if preset in list_presets() else "ruian_default")


def _run_analysis(ws: Workspace, preset: str, lang: str) -> str | None:
    from ui.data import cluster_note, run_chain_stored

    where = cluster_note(lang)
    with st.status(t("pg_running", lang) + where, expanded=False) as box:
        try:
            run_id, result = run_chain_stored(writable(ws), preset, actor=acting_user())
        except PlannerError as exc:
            box.update(label=t("pg_run_failed", lang), state="error")
            show_error(exc, lang)
            return None
        done = t("pg_run_done", lang, run=run_id, secs=sum(result.timings.values())) + where
        box.update(label=done, state="complete")
    # the page shows the new run (not the one its picker held) and says so until another run is picked
    st.session_state[_RUN_KEY] = run_id
    st.session_state[_RUN_DONE_KEY] = (run_id, done)
    return run_id


def page_start(title_key: str, lang: str, *, run_key: str) -> tuple[Workspace, Actor, str] | None:
    """What every analysis page starts with: header, the signed-in user, workspace, run picker.

    Returns ``(ws, actor, run_id)``, or None when the page cannot go on (no workspace, no run
    yet — the reason has been shown).
    """
    st.header(t(title_key, lang))
    actor = acting_user()
    ws = open_ws(lang)
    if ws is None:
        return None
    run_id = run_picker(ws, lang, key=run_key)
    if run_id is None:
        return None
    return ws, actor, run_id


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
    ws = _open_store(path)
    ids = [r[len(kind) + 1:] for r in pipeline.list_runs(ws, kind=kind)["run_id"].astype(str)]
    held = set(ws.layers())
    return [r for r in reversed(ids) if f"{kind}_{r}_{marker}" in held]


def runs_of_kind(ws: Workspace, kind: str, marker: str) -> list[str]:
    """Stored siting or integration run ids (without the ``<kind>_`` prefix), newest first.

    ``marker`` names the result layer a complete run must have (``<kind>_<id>_<marker>``).
    """
    return _runs_of_kind(ws.location, ws.version, kind, marker)


@st.cache_resource(show_spinner=False, max_entries=8)
def _run_layers(path: str, kind: str, run_id: str, parts: tuple[str, ...]) -> dict:
    # A run's layers are written once under a unique id: the id alone identifies them.
    ws = _open_store(path)
    return {k: ws.read(f"{kind}_{run_id}_{k}") for k in parts if ws.has_layer(f"{kind}_{run_id}_{k}")}


def run_layers(ws: Workspace, kind: str, run_id: str, parts: tuple[str, ...]) -> dict:
    """The result layers of one siting or integration run by part name (cached, read-only)."""
    from ui.scope import visible_all

    return visible_all(_run_layers(ws.location, kind, run_id, parts))


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
        stale_note(ws, chosen, lang, where=sb)
    with sb.expander(t("pg_new_run", lang), expanded=not ids):
        default = presets.index("ruian_default") if "ruian_default" in presets else 0
        preset = st.selectbox(t("pg_preset", lang), presets, index=default, key=f"{key}_preset")
        if st.button(t("pg_run_button", lang), key=f"{key}_run_button", **permitted("run.chain", lang)):
            new = _run_analysis(ws, preset, lang)
            if new:
                st.rerun()
        _prune_control(ws, lang)
    if not ids:
        st.info(t("pg_no_run", lang))
    return chosen


def stale_note(ws: Workspace, run_id: str, lang: str, *, kind: str = "chain", where=None) -> None:
    """Warnings when layers the run read have been replaced, restored or deleted since, and when
    plots or firms of the run are no longer in the layers (:func:`layers.references.run_missing`)."""
    from layers import runs as runs_store
    from ui.i18n import layer_label

    table = runs_store.list_runs(ws, kind)
    hit = table[table["run_id"].astype(str) == runs_store.run_key(kind, str(run_id))]
    if not len(hit):
        return
    stale = runs_store.stale_inputs(ws, hit.iloc[0])
    if not stale:
        return
    names = "、".join(layer_label(n, lang) if not n.startswith("raster:") else n.split(":", 1)[1] for n in stale)
    (where or st).warning(t("run_stale", lang, what=names))
    missing = _run_missing(ws.location, ws.version, kind, str(run_id))
    if missing:
        what = "、".join(t(f"run_missing_{layer}", lang, n=f"{n:,}") for layer, n in missing.items())
        (where or st).warning(t("run_missing", lang, what=what))


@st.cache_data(show_spinner=False, max_entries=32)
def _run_missing(path: str, version: tuple, kind: str, run_id: str) -> dict[str, int]:
    from layers.references import run_missing

    return run_missing(_open_store(path), kind, run_id)


def _prune_control(ws: Workspace, lang: str) -> None:
    """Administrators: drop the layers of older runs (keeps the newest N of each kind and the sample's)."""
    from layers import access, runs as runs_store

    actor = acting_user()
    if not access.allowed(actor, "runs.prune"):
        return
    keep = st.number_input(t("pg_prune_keep", lang), min_value=1, max_value=50, value=5, key="pg_prune_keep")
    if st.button(t("pg_prune", lang), key="pg_prune_button"):
        try:
            gone = runs_store.prune(writable(ws), keep=int(keep), actor=actor)
        except PlannerError as exc:
            show_error(exc, lang)
            return
        st.success(t("pg_pruned", lang, n=len(gone)))


# --- tables with row selection and the "add to shortlist" button --------------------------
def selected_rows(event) -> list[int]:
    """Positions of the rows ticked in an ``st.dataframe(on_select="rerun")`` table."""
    try:
        return list(event.selection.rows)
    except AttributeError:
        return []


def picked_key(key: str) -> str:
    """The session key holding the object ids ticked in table ``key`` (see :func:`pick_rows`)."""
    return f"{key}__ids"


def pick_rows(shown: pd.DataFrame, ids: Sequence, *, key: str, column_config: dict | None = None,
              height: int | str = "auto") -> list[str]:
    """A table with ticks whose selection follows the objects, not the row positions.

    ``st.dataframe(on_select=...)`` keeps the *positions* ticked when its data changes (a
    filter, a sort): ticking two plots of one township and then changing the township
    filter would tick two other plots.  So the widget's key carries a digest of the ids
    shown, in order: when they change, Streamlit starts a fresh selection, and the ids
    ticked before (kept under :func:`picked_key`) are ticked again where they still appear
    (``selection_default``); ids no longer shown drop out.

    Parameters
    ----------
    shown : DataFrame
        What the table displays (one row per id, in the same order as ``ids``).
    ids : sequence
        The object id of each row (plot id, cluster id, site id).
    key : str
        The table's name; the widget key is ``<key>@<digest>`` (kept under ``<key>__widget``
        for tests).

    Returns
    -------
    list of str
        The ids ticked now, in table order.
    """
    ids = [str(i) for i in ids]
    if len(ids) != len(shown):
        raise ValueError(f"pick_rows: {len(ids)} ids for {len(shown)} rows")
    digest = hashlib.blake2b("\x1f".join(ids).encode("utf-8"), digest_size=8).hexdigest()
    widget = f"{key}@{digest}"
    st.session_state[f"{key}__widget"] = widget
    where = {i: n for n, i in enumerate(ids)}
    before = [where[i] for i in st.session_state.get(picked_key(key), []) if i in where]
    event = st.dataframe(shown.reset_index(drop=True), hide_index=True, width="stretch", height=height, key=widget,
                         column_config=column_config, placeholder="—", on_select="rerun",
                         selection_mode="multi-row", selection_default={"selection": {"rows": sorted(before)}})
    picked = [ids[r] for r in sorted(set(selected_rows(event))) if 0 <= r < len(ids)]
    st.session_state[picked_key(key)] = picked
    return picked


def filter_note(filters, lang: str, *, townships: dict[str, str] | None = None,
                parks: dict[str, str] | None = None, applies: str | None = None) -> str | None:
    """One line naming the shared filters in force ("筛选:镇街 飞云街道、塘下镇"), or None when none is.

    ``applies`` says what the filter is applied to on this page (e.g. "搬迁企业的原镇街").
    """
    from exports.formatting import name_of
    from ui.filters import flag_label

    parts = []
    if filters.townships:
        parts.append(t("flt_townships", lang) + " " + "、".join(name_of(c, townships or {}) for c in filters.townships))
    if filters.parks:
        parts.append(t("flt_parks", lang) + " " + "、".join(
            t("flt_no_park", lang) if c == "none" else name_of(c, parks or {}) for c in filters.parks))
    if filters.classes:
        parts.append(t("flt_classes", lang) + " " + "、".join(filters.classes))
    if filters.land_uses:
        parts.append(t("flt_land_uses", lang) + " " + "、".join(filters.land_uses))
    if filters.area_mu:
        parts.append(t("flt_area", lang) + f" {filters.area_mu[0]:g}–{filters.area_mu[1]:g}")
    if filters.score:
        parts.append(t("flt_score", lang) + f" {filters.score[0]:g}–{filters.score[1]:g}")
    if filters.flags:
        parts.append(t("flt_flags", lang) + " " + "、".join(flag_label(f, lang) for f in filters.flags))
    if not parts:
        return None
    text = t("pg_filter_on", lang, what=";".join(parts) if lang == "zh" else "; ".join(parts))
    return text + (t("pg_filter_applies", lang, what=applies) if applies else "")


def add_to_shortlist(ws: Workspace, ids: list, *, kind: str, source_layer: str, source: str, actor: Actor, lang: str,
                     key: str) -> None:
    """The "加入清单" button for the ticked rows of a table.

    Ids are looked up in ``source_layer`` (a run's result layer, working CRS), whose reasons,
    score and class become the entry's explanation (:func:`layers.shortlist.add`).  Items
    already listed are left as they are.
    """
    from layers import shortlist

    label = f"{t('pg_add_to_shortlist', lang)} ({len(ids)})"
    rights = permitted("shortlist.add", lang, actor=actor)
    if not st.button(label, key=key, disabled=not ids or bool(rights), help=rights.get("help") or (
            None if ids else t("pg_pick_rows", lang))):
        return
    try:
        before = len(shortlist.load(ws))
        after = shortlist.add(writable(ws), [str(i) for i in ids], kind=kind, actor=actor, source_layer=source_layer,
                              source=source, on_duplicate="skip")
    except PlannerError as exc:
        show_error(exc, lang)
        return
    added = len(after) - before
    st.success(t("pg_added", lang, n=added, skipped=len(ids) - added))
