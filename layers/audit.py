"""Reading the audit log: every write with who, when (local time), what and a before/after summary.

Rows are appended by the store in the same transaction as the change they record
(:meth:`layers.store.base.WorkspaceBase.transaction`) and can never be edited or deleted
through the app (append-only triggers).  Only administrators read them (``audit.read``).
"""
from __future__ import annotations

import json

import pandas as pd

from layers import access
from layers.access import ACTION_LABELS, ROLE_LABELS, Actor
from layers.timefmt import local_times

__all__ = ["read", "COLUMNS", "LABELS"]

COLUMNS = ("audit_id", "at_local", "username", "role_label", "township", "action_label", "target", "summary", "detail")
LABELS = {
    "zh": {"audit_id": "序号", "at_local": "时间", "username": "用户", "role_label": "角色", "township": "镇街",
           "action_label": "操作", "target": "对象", "summary": "内容", "detail": "修改前后"},
    "en": {"audit_id": "No.", "at_local": "Time", "username": "User", "role_label": "Role", "township": "Township",
           "action_label": "Action", "target": "Object", "summary": "What", "detail": "Before / after"},
}


def read(ws, *, actor: Actor, user: str | None = None, action: str | None = None, since: str | None = None,
         until: str | None = None, text: str | None = None, limit: int | None = None,
         lang: str = "zh") -> pd.DataFrame:
    """The audit log, newest first, filtered; times in the workspace's time zone (administrators only).

    Parameters
    ----------
    user : str, optional
        Only this user name.
    action : str, optional
        Only actions starting with this (``shortlist``, ``login``, ``import``…).
    since, until : str, optional
        Local dates ``YYYY-MM-DD`` (inclusive).
    text : str, optional
        Only rows whose target or summary contains this text.
    """
    access.require(actor, "audit.read")
    log = ws.read_table("audit_log")
    if user:
        log = log[log["username"] == user]
    if action:
        log = log[log["action"].astype(str).str.startswith(action)]
    if text:
        hay = log["target"].fillna("").astype(str) + " " + log["summary"].fillna("").astype(str)
        log = log[hay.str.contains(text, regex=False)]
    local = pd.to_datetime(log["at"], utc=True, errors="coerce", format="ISO8601").dt.tz_convert(ws.timezone)
    if since:
        log = log[(local.dt.strftime("%Y-%m-%d") >= since).to_numpy()]
        local = local.loc[log.index]
    if until:
        log = log[(local.dt.strftime("%Y-%m-%d") <= until).to_numpy()]
    log = log.sort_values("audit_id", ascending=False)
    if limit:
        log = log.head(limit)
    out = log.copy()
    out["at_local"] = local_times(out["at"], ws.timezone, fmt="%Y-%m-%d %H:%M:%S")
    out["role_label"] = out["role"].map(lambda r: ROLE_LABELS.get(r, {}).get(lang, r))
    out["action_label"] = out["action"].map(lambda a: ACTION_LABELS.get(a, {}).get(lang, a))
    out["detail"] = out["detail"].map(_detail_text)
    return out.reset_index(drop=True)


def _detail_text(text) -> str:
    """The JSON detail as short readable text (before → after where recorded)."""
    if not isinstance(text, str) or not text or text == "{}":
        return ""
    try:
        data = json.loads(text)
    except ValueError:
        return text[:300]
    if isinstance(data, dict) and ("before" in data or "after" in data):
        return f"{json.dumps(data.get('before'), ensure_ascii=False)} → {json.dumps(data.get('after'), ensure_ascii=False)}"
    return json.dumps(data, ensure_ascii=False)[:300]
