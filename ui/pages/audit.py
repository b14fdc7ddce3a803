"""Audit log page (administrators): who changed what, when — filter, read, download.

Screen, top to bottom: what is recorded and in which time zone; filters (user, kind of action,
from/to date, text in the object or summary); the rows, newest first (time in the workspace's
time zone, user, role, action, object, summary, before → after); CSV and Excel downloads of
the filtered rows.  The page is listed only for administrators, and :func:`layers.audit.read`
refuses anyone else as well.
"""
from __future__ import annotations

import datetime as _dt

import streamlit as st

from exports.audit import export_audit
from geo.errors import PlannerError
from layers import audit
from layers.access import ACTION_LABELS
from ui.i18n import t
from ui.pages._common import acting_user, open_ws, show_error
from ui.shell import current_lang

__all__ = ["render"]

_ACTION_GROUPS = ("shortlist", "run", "regrade", "import", "layer", "mapping", "user", "login", "runs", "workspace")


def render() -> None:
    """Draw the audit log page."""
    lang = current_lang()
    st.header(t("page_audit", lang))
    actor = acting_user()
    ws = open_ws(lang)
    if ws is None:
        return
    st.caption(t("audit_intro", lang, tz=ws.timezone))
    c1, c2, c3, c4, c5 = st.columns([2, 2, 2, 2, 3])
    users = ["", *sorted(set(ws.read_table("audit_log", columns=["username"])["username"].dropna()))]
    user = c1.selectbox(t("audit_user", lang), users, key="au_user", format_func=lambda u: u or t("audit_all", lang))
    group = c2.selectbox(t("audit_action", lang), ["", *_ACTION_GROUPS], key="au_action",
                         format_func=lambda g: t("audit_all", lang) if not g else _group_label(g, lang))
    since = c3.date_input(t("audit_since", lang), value=None, key="au_since")
    until = c4.date_input(t("audit_until", lang), value=None, key="au_until")
    text = c5.text_input(t("audit_text", lang), key="au_text").strip()
    try:
        rows = audit.read(ws, actor=actor, user=user or None, action=group or None, text=text or None, lang=lang,
                          since=_day(since), until=_day(until))
    except PlannerError as exc:
        show_error(exc, lang)
        return
    st.caption(t("audit_rows", lang, n=f"{len(rows):,}"))
    shown = rows[list(audit.COLUMNS)].rename(columns=audit.LABELS[lang]).fillna("—")
    st.dataframe(shown, hide_index=True, width="stretch", height=min(640, 38 + 35 * max(len(shown), 1)))
    d1, d2 = st.columns(2)
    d1.download_button(t("audit_download_csv", lang), data=_file(rows, "csv", lang), file_name="操作日志.csv",
                       mime="text/csv", key="au_csv", on_click="ignore", width="stretch")
    d2.download_button(t("audit_download_xlsx", lang), data=_file(rows, "xlsx", lang), file_name="操作日志.xlsx",
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", key="au_xlsx",
                       on_click="ignore", width="stretch")


def _day(value) -> str | None:
    return value.isoformat() if isinstance(value, _dt.date) else None


def _group_label(group: str, lang: str) -> str:
    first = next((a for a in ACTION_LABELS if a.split(".")[0] == group), None)
    return ACTION_LABELS[first][lang].split("(")[0] if first else group


def _file(rows, fmt: str, lang: str) -> bytes:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = export_audit(rows, Path(tmp) / f"audit.{fmt}", lang=lang)
        return path.read_bytes()


