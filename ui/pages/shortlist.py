"""Shortlist page: the planner's pipeline of plots, clusters and sites, and the packs for township officials.

Screen, top to bottom: counts per status (候选 → 已核实 → 已上报 → 已处置) → the table (rank,
entry, township, status, area, why listed, notes) for the whole list or one township → edit
one entry (status one step on, or one step back with a reason; responsible township; rank;
notes) → remove with a reason → change several statuses at once → re-order by a column →
the history of every change → exports (Excel, CSV, GeoPackage, GeoJSON, KML, zipped
Shapefile; the PDF report on request, with a spinner).

Every change goes through :mod:`layers.shortlist` (validated, one transaction, recorded with
the signed-in user and the time).  The edit form remembers the version of the entry it showed
(``row_version``): if someone else changed the entry meanwhile, the save is refused with who
changed it and when, and the form then shows the entry as it is now — never a silent drop or
overwrite.  A refused save keeps what was typed.  What the form offers follows the user's role
(a viewer sees no form; a township official may write notes and mark their township's entries
已处置); the library enforces the same on the server.  Officials see their own township only.
"""
from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from exports import FORMATS, export_shortlist, filename_for, meta_for
from exports.formatting import DASH, number, value_label
from geo.errors import ConflictError, PlannerError
from layers import access, shortlist
from layers.store import WorkspaceBase as Workspace, open_workspace as _open_store
from ui.format import Col, show
from ui.i18n import STRINGS, t
from ui.pages._common import acting_user, mu, open_ws, plain, show_error, writable
from ui.shell import current_lang

__all__ = ["render", "FAST_FORMATS", "ALL", "export_bytes", "status_label"]

ALL = "__all__"
#: Formats offered as immediate download buttons (ms each at shortlist sizes); the PDF is made on request.
FAST_FORMATS = ("xlsx", "csv", "gpkg", "geojson", "kml", "shp")
_FLASH = "sl_flash"
_CONFLICT = "sl_conflict"
_PDF = "sl_pdf"
_SORT_KEYS = ("score", "area_m2", "township_code", "status")


def status_label(status: str, lang: str) -> str:
    """A status as the user reads it (the stored value is always the Chinese one)."""
    return value_label(status, lang)


# --- exports ----------------------------------------------------------------------------
@st.cache_data(show_spinner=False, max_entries=64)
def _export(path: str, version: tuple, fmt: str, township: str | None) -> bytes:
    ws = _open_store(path)
    items = shortlist.load(ws)
    return export_shortlist(items, fmt=fmt, township=township, meta=meta_for(ws, maps=fmt == "pdf"))


def export_bytes(ws: Workspace, fmt: str, township: str | None) -> bytes:
    """The shortlist (or one township's part) as ``fmt``; cached by (file, version, format, township)."""
    return _export(ws.location, ws.version, fmt, township)


def _exports(ws: Workspace, items: pd.DataFrame, township: str | None, lang: str) -> None:
    st.subheader(t("sl_exports", lang))
    name = None
    if township is not None:
        names = items.loc[items["township_code"] == township, "township_name"].dropna()
        name = str(names.iloc[0]) if len(names) else township
    st.caption(t("sl_export_scope", lang, scope=name or t("sl_all", lang), n=int(
        len(items) if township is None else (items["township_code"] == township).sum())))
    cols = st.columns(len(FAST_FORMATS))
    try:
        with st.spinner(t("sl_exporting", lang)):
            data = {fmt: export_bytes(ws, fmt, township) for fmt in FAST_FORMATS}
    except PlannerError as exc:
        show_error(exc, lang)
        return
    for col, fmt in zip(cols, FAST_FORMATS):
        col.download_button(t(f"sl_dl_{fmt}", lang), data=data[fmt], mime=FORMATS[fmt].mime,
                            file_name=filename_for(fmt, township=township, township_name=name), key=f"sl_dl_{fmt}",
                            on_click="ignore", width="stretch")
    pdf_key = (ws.location, ws.version, township)
    made = st.session_state.get(_PDF)
    c1, c2 = st.columns(2)
    if c1.button(t("sl_make_pdf", lang), key="sl_make_pdf", width="stretch"):
        try:
            with st.spinner(t("sl_making_pdf", lang)):
                st.session_state[_PDF] = made = (pdf_key, export_bytes(ws, "pdf", township))
        except PlannerError as exc:
            show_error(exc, lang)
    if made and made[0] == pdf_key:
        c2.download_button(t("sl_dl_pdf", lang), data=made[1], mime=FORMATS["pdf"].mime, key="sl_dl_pdf",
                           file_name=filename_for("pdf", township=township, township_name=name), on_click="ignore",
                           width="stretch", type="primary")
    else:
        c2.caption(t("sl_pdf_hint", lang))


# --- the table ----------------------------------------------------------------------------
COLUMNS = (
    Col("rank", "sl_col_rank", "int"), Col("item_kind", "sl_col_item_kind", "enum"), Col("item_id", "sl_col_item_id", "id"),
    Col("township_name", "sl_col_township_name"), Col("status", "sl_col_status", "enum"),
    Col("item_missing", "sl_col_item_missing", "enum"), Col("area_mu", "sl_col_area_mu", "num", 1, "mu"), Col("grade", "sl_col_grade"),
    Col("score", "sl_col_score", "num", 1, "points"), Col("reasons", "sl_col_reasons", "reasons"),
    Col("notes", "sl_col_notes", "wide"), Col("updated_by", "sl_col_updated_by"), Col("updated_at", "sl_col_updated_at", "time"),
)
HISTORY_COLUMNS = (
    Col("at", "sl_col_at", "time"), Col("who", "sl_col_who"), Col("action", "sl_col_action"),
    Col("entry_id", "sl_col_entry_id", "id"), Col("field", "sl_col_field"), Col("old_value", "sl_col_old_value", "enum"),
    Col("new_value", "sl_col_new_value", "enum"), Col("reason", "sl_col_reason", "wide"),
)


_RUN_SOURCE = re.compile(r"^(?:low_efficiency|redevelopment):(?P<run>[a-z0-9_]+)$")


def _english_reasons(ws: Workspace, df: pd.DataFrame) -> pd.Series:
    """The reasons of listed plots in English, from the run that listed them (the shortlist keeps the Chinese)."""
    from ui import data

    out = df["reasons"].copy()
    runs = df["source"].astype("string").str.extract(_RUN_SOURCE.pattern)["run"]
    for run in runs.dropna().unique():
        if not run or f"run_{run}_plots" not in set(ws.layers()):
            continue
        plots = data.load_run(ws, run).get("plots")
        if plots is None or "reasons_en" not in plots:
            continue
        english = dict(zip(plots["plot_id"].astype(str), plots["reasons_en"]))
        here = (runs == run) & (df["item_kind"] == "plot")
        out[here] = df.loc[here, "item_id"].astype(str).map(english).fillna(df.loc[here, "reasons"])
    return out


def _table(ws: Workspace, items: pd.DataFrame, lang: str) -> None:
    df = pd.DataFrame(items.drop(columns=items.geometry.name))
    df["area_mu"] = mu(df["area_m2"])
    if lang == "en" and "source" in df:
        df["reasons"] = _english_reasons(ws, df)
    show(df, COLUMNS, lang, tz=ws.timezone)


def _missing_note(items: pd.DataFrame, lang: str) -> None:
    """Entries whose plot was removed by an import or restore, or whose run was pruned: said, not hidden."""
    missing = items["item_missing"].dropna() if "item_missing" in items.columns else pd.Series([], dtype="string")
    if len(missing):
        counts = "、".join(f"{value_label(k, lang)} {n}" for k, n in missing.value_counts().items())
        st.warning(t("sl_missing", lang, n=len(missing), what=counts))


def _status_counts(items: pd.DataFrame, lang: str) -> None:
    cols = st.columns(len(shortlist.STATUSES))
    for col, s in zip(cols, shortlist.STATUSES):
        hit = items["status"] == s
        col.metric(status_label(s, lang), number(int(hit.sum()), 0, "items", lang),
                   help=t("sl_area_help", lang, mu=number(mu(items.loc[hit, "area_m2"].sum()), 1, "mu", lang)))


# --- editing ------------------------------------------------------------------------------
def _flash(text: str) -> None:
    st.session_state[_FLASH] = text


def _done(text: str) -> None:
    _flash(text)
    st.rerun()


def _township_options(ws: Workspace) -> dict[str, str]:
    if not ws.has_layer("townships"):
        return {}
    tw = ws.read("townships", columns=["code", "name"])
    return dict(zip(tw["code"].astype(str), tw["name"].astype(str)))


def _snapshot(row) -> dict:
    """What the edit form shows, remembered so a save is compared with what the user saw."""
    return {"status": str(row["status"]), "notes": "" if pd.isna(row["notes"]) else str(row["notes"]),
            "township_code": str(row["township_code"]) if pd.notna(row["township_code"]) else None,
            "rank": int(row["rank"]), "row_version": int(row["row_version"])}


def _edit(ws: Workspace, items: pd.DataFrame, actor, lang: str) -> None:
    can_edit = access.allowed(actor, "shortlist.update")
    can_note = access.allowed(actor, "shortlist.note")
    if not can_note:
        st.caption(t("role_readonly_note", lang))
        return
    st.subheader(t("sl_edit", lang))
    ids = items["entry_id"].astype(str).tolist()
    by_id = items.set_index("entry_id")
    entry = st.selectbox(t("sl_entry", lang), ids, key="sl_entry",
                         format_func=lambda e: f"#{by_id.at[e, 'rank']} {by_id.at[e, 'item_id']} · "
                                               f"{by_id.at[e, 'township_name'] if pd.notna(by_id.at[e, 'township_name']) else DASH}"
                                               f" · {status_label(by_id.at[e, 'status'], lang)}")
    seen_key = f"sl_seen|{entry}"
    if seen_key not in st.session_state:
        st.session_state[seen_key] = _snapshot(by_id.loc[entry])
    seen = st.session_state[seen_key]
    stamp = f"{entry}|v{seen['row_version']}"  # widgets reset only when the version the form shows changes
    towns = _township_options(ws)
    codes = list(towns)
    here = seen["township_code"]
    if here is not None and here not in codes:
        codes.insert(0, here)
    statuses = [seen["status"], *shortlist.allowed_statuses(seen["status"])]
    if not can_edit:  # an official: notes, and 已上报 → 已处置
        statuses = [s for s in statuses if s == seen["status"] or (seen["status"] == shortlist.STATUSES[-2]
                                                                    and s == shortlist.STATUSES[-1])]
    with st.form(key="sl_edit_form"):
        c1, c2, c3 = st.columns([2, 2, 1])
        status = c1.selectbox(t("sl_status", lang), statuses, key=f"sl_status|{stamp}",
                              format_func=lambda s: status_label(s, lang), help=t("sl_status_help", lang))
        township = c2.selectbox(t("sl_township", lang), codes or [None], index=codes.index(here) if here in codes else 0,
                                key=f"sl_tw|{stamp}", format_func=lambda c: towns.get(c, c) if c else DASH,
                                disabled=not can_edit)
        rank = c3.number_input(t("sl_rank", lang), min_value=1, max_value=max(len(items), seen["rank"]),
                               value=seen["rank"], step=1, key=f"sl_rank|{stamp}", disabled=not can_edit)
        notes = st.text_area(t("sl_notes", lang), value=seen["notes"], key=f"sl_notes|{stamp}", max_chars=4000)
        reason = st.text_input(t("sl_reason", lang), key=f"sl_reason|{stamp}")
        save = st.form_submit_button(t("sl_save", lang), type="primary")
    if save:
        _save_edit(ws, entry, seen, status, notes, township, int(rank), reason, actor, lang)
    if can_edit:
        _remove_form(ws, entry, actor, lang)


def _save_edit(ws, entry: str, seen: dict, status, notes, township, rank: int, reason: str, actor, lang: str) -> None:
    """Save what changed against the version the form showed; a conflict shows the entry as it is now."""
    changes = {}
    if status != seen["status"]:
        changes["status"] = status
    if notes != seen["notes"]:
        changes["notes"] = notes
    if township is not None and township != seen["township_code"]:
        changes["township_code"] = township
    if not changes and rank == seen["rank"]:
        st.info(t("sl_nothing", lang))
        return
    try:
        w = writable(ws)
        if changes:
            shortlist.update(w, entry, actor=actor, reason=reason, expected_version=seen["row_version"], **changes)
        if rank != seen["rank"]:
            shortlist.move(w, entry, rank, actor=actor, reason=reason)
    except ConflictError as exc:
        st.session_state.pop(f"sl_seen|{entry}", None)  # next rerun: the form shows the entry as it is now
        st.session_state[_CONFLICT] = exc.localized(lang)
        st.rerun()
    except PlannerError as exc:
        show_error(exc, lang)
        return
    st.session_state.pop(f"sl_seen|{entry}", None)
    _done(t("sl_saved", lang, entry=entry))


def _remove_form(ws, entry: str, actor, lang: str) -> None:
    with st.expander(t("sl_remove", lang)):
        with st.form(key="sl_remove_form"):
            why = st.text_input(t("sl_remove_reason", lang), key=f"sl_remove_reason|{entry}")
            go = st.form_submit_button(t("sl_remove_button", lang))
        if go:
            if not why.strip():
                st.error(t("sl_remove_needs_reason", lang))
            else:
                try:
                    shortlist.remove(writable(ws), [entry], actor=actor, reason=why)
                except PlannerError as exc:
                    show_error(exc, lang)
                else:
                    _done(t("sl_removed", lang, entry=entry))


def _bulk(ws: Workspace, items: pd.DataFrame, actor, lang: str) -> None:
    if not access.allowed(actor, "shortlist.update"):
        return
    with st.expander(t("sl_bulk", lang)):
        with st.form(key="sl_bulk_form"):
            chosen = st.multiselect(t("sl_bulk_entries", lang), items["entry_id"].astype(str).tolist(),
                                    key="sl_bulk_entries")
            target = st.selectbox(t("sl_bulk_status", lang), shortlist.STATUSES, key="sl_bulk_status",
                                  format_func=lambda s: status_label(s, lang))
            reason = st.text_input(t("sl_reason", lang), key="sl_bulk_reason")
            go = st.form_submit_button(t("sl_bulk_button", lang))
        if go:
            if not chosen:
                st.info(t("sl_nothing", lang))
                return
            try:
                shortlist.set_status(writable(ws), chosen, target, actor=actor, reason=reason)
            except PlannerError as exc:
                show_error(exc, lang)
            else:
                _done(t("sl_bulk_done", lang, n=len(chosen), status=status_label(target, lang)))


def _reorder(ws: Workspace, items: pd.DataFrame, actor, lang: str) -> None:
    if not access.allowed(actor, "shortlist.order"):
        return
    with st.expander(t("sl_reorder", lang)):
        c1, c2 = st.columns([3, 1])
        key = c1.selectbox(t("sl_reorder_by", lang), _SORT_KEYS, key="sl_reorder_by",
                           format_func=lambda k: t(f"sl_sort_{k}", lang))
        if c2.button(t("sl_reorder_button", lang), key="sl_reorder_button"):
            ascending = key in ("township_code", "status")
            by = items.assign(_s=items["status"].map({s: i for i, s in enumerate(shortlist.STATUSES)}))
            col = "_s" if key == "status" else key
            order = by.sort_values([col, "rank"], ascending=[ascending, True], na_position="last",
                                   kind="stable")["entry_id"].astype(str).tolist()
            try:
                shortlist.reorder(writable(ws), order, actor=actor, reason=t(f"sl_sort_{key}", "zh"))
            except PlannerError as exc:
                show_error(exc, lang)
            else:
                _done(t("sl_reordered", lang))


def _field_label(field, lang: str) -> str:
    if field == "*":
        return t("sl_whole_entry", lang)
    if lang == "en" and f"sl_col_{field}" in STRINGS:
        return t(f"sl_col_{field}", lang)
    return shortlist.FIELD_LABELS.get(field, field) if lang == "zh" else str(field)


def _history(ws: Workspace, entry: str | None, lang: str) -> None:
    st.subheader(t("sl_history", lang))
    only = st.toggle(t("sl_history_only", lang), key="sl_history_only", value=False) if entry else False
    hist = shortlist.history(ws, entry if only else None)
    if not len(hist):
        st.caption(t("sl_history_empty", lang))
        return
    df = pd.DataFrame(hist).iloc[::-1]
    removed = df["action"] == "remove"  # the removed row is kept as JSON: say so rather than print it
    df.loc[removed, "old_value"] = t("sl_whole_entry", lang)
    actions = {a: t(f"sl_action_{a}", lang) for a in ("add", "remove", "update", "reorder")}
    df["action"] = df["action"].map(lambda a: actions.get(a, a))
    df["field"] = df["field"].map(lambda f: _field_label(f, lang))
    show(df, HISTORY_COLUMNS, lang, height=min(420, 38 + 35 * len(df)), tz=ws.timezone)


# --- the page -------------------------------------------------------------------------------
def render() -> None:
    """Draw the shortlist page."""
    lang = current_lang()
    st.header(t("page_shortlist", lang))
    actor = acting_user()
    ws = open_ws(lang)
    if ws is None:
        return
    if (msg := st.session_state.pop(_FLASH, None)):
        st.success(plain(msg))
    if (msg := st.session_state.pop(_CONFLICT, None)):
        st.error(f"**{t('conflict_title', lang)}**:{plain(msg)}")
    try:
        items = shortlist.load(ws, actor=actor)
    except PlannerError as exc:
        show_error(exc, lang)
        return
    if not len(items):
        st.info(t("sl_empty", lang))
        _history(ws, None, lang)
        return
    _status_counts(items, lang)
    _missing_note(items, lang)
    present = items[["township_code", "township_name"]].dropna(subset=["township_code"]).drop_duplicates("township_code")
    names = dict(zip(present["township_code"].astype(str), present["township_name"].fillna(present["township_code"])))
    if actor.role == "official":  # their own township only: the page, the table and every export
        st.caption(t("official_scope_note", lang, town=names.get(str(actor.township), actor.township)))
        township = str(actor.township)
    else:
        scope = st.selectbox(t("sl_scope", lang), [ALL, *sorted(names)], key="sl_scope",
                             format_func=lambda c: t("sl_all", lang) if c == ALL else f"{names[c]} ({c})")
        township = None if scope == ALL else scope
    shown = items if township is None else items[items["township_code"] == township]
    _table(ws, shown, lang)
    _edit(ws, shown, actor, lang)
    _bulk(ws, items, actor, lang)
    _reorder(ws, items, actor, lang)
    _exports(ws, items, township, lang)
    _history(ws, st.session_state.get("sl_entry"), lang)
