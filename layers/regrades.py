"""Manual re-grades of firms (调整评价类别): an append-only log, the latest row per firm applies.

A planner re-grades a firm with a reason; withdrawing a re-grade appends a row with an empty
``new_class``.  Every new analysis run applies the re-grades in force (see
:func:`effective`).  A re-grade is recorded in one transaction that first checks the firm's
latest re-grade is the one the planner saw (``expected_id``): a re-grade made on stale data is
refused with who changed it and when, never silently stacked on top.
"""
from __future__ import annotations

import pandas as pd

from geo.errors import ConflictError, ParameterError
from layers import access
from layers.access import Actor
from layers.store.base import now_utc
from layers.timefmt import local_time

__all__ = ["TABLE", "FIELDS", "CLASSES", "log", "effective", "latest_id", "record"]

TABLE = "regrades"
FIELDS = ("credit_code", "name", "computed_class", "new_class", "reason", "run_id", "who", "at")
CLASSES = ("A", "B", "C", "D")


def log(ws) -> pd.DataFrame:
    """Every re-grade ever made (one row per change, oldest first, with ``regrade_id``); empty if none."""
    if not ws.has_layer(TABLE):
        return pd.DataFrame({c: pd.Series(dtype="string") for c in ("regrade_id", *FIELDS)})
    df = ws.read_table(TABLE)
    return df[["regrade_id", *FIELDS]].astype({c: "string" for c in FIELDS})


def effective(ws, *, or_none: bool = False) -> pd.DataFrame | None:
    """The re-grades in force: the latest row per firm, minus withdrawn ones (empty ``new_class``).

    Columns ``credit_code``, ``new_class``, ``reason`` (what ``analysis.per_mu.apply_regrade``
    takes).  ``or_none``: None instead of an empty frame.
    """
    rows = log(ws)
    last = rows.drop_duplicates("credit_code", keep="last") if len(rows) else rows
    last = last[last["new_class"].fillna("").astype(str).isin(CLASSES)]
    out = pd.DataFrame(last[["credit_code", "new_class", "reason"]]).reset_index(drop=True)
    return None if (or_none and not len(out)) else out


def _latest(tx, code: str) -> tuple[int | None, str | None, str | None]:
    rows = tx.execute("SELECT regrade_id, who, at FROM regrades WHERE credit_code = ? ORDER BY regrade_id DESC LIMIT 1",
                      (code,))
    return (int(rows[0][0]), rows[0][1], rows[0][2]) if rows else (None, None, None)


def latest_id(ws, code: str) -> int | None:
    """Row id of the firm's latest re-grade (None if never re-graded): what an edit form remembers."""
    with ws.reading() as r:
        if not r.table_exists(TABLE):
            return None
        return _latest(r, str(code))[0]


def record(ws, *, actor: Actor, credit_code: str, new_class: str | None, reason: str, name: str = "",
           computed_class: str = "", run_id: str = "", expected_id: int | None = None,
           check_expected: bool = False) -> int:
    """Append a re-grade (``new_class`` None = withdraw the firm's re-grade); returns its row id.

    With ``check_expected`` the firm's latest re-grade must still be ``expected_id`` (None =
    none yet): otherwise :class:`~geo.errors.ConflictError` names who re-graded it and when.
    """
    access.require(actor, "regrade")
    ws.require_writable()
    code = str(credit_code).strip()
    if not reason or not str(reason).strip():
        raise ParameterError("A re-grade needs a reason (it is shown beside the class and kept in the log).",
                             message_zh="请填写调整原因:原因会显示在类别旁并记入重新评级记录。")
    if new_class is not None and new_class not in CLASSES:
        raise ParameterError(f"class {new_class!r} is not one of {CLASSES}", message_zh=f"类别 {new_class!r} 无效,应为 A/B/C/D")
    with ws.transaction(actor, "regrade", target=code) as tx:
        latest, who, at = _latest(tx, code)
        if check_expected and latest != expected_id:
            when = local_time(at, ws.timezone)
            raise ConflictError(
                f"{code} was re-graded by {who} at {when} after you opened it; nothing was saved. Reload to see it.",
                message_zh=f"{name or code} 已被 {who} 于 {when} 重新评级,您的调整未保存。请刷新后查看当前类别再操作。",
                current={"credit_code": code, "who": who, "at": at, "regrade_id": latest})
        tx.insert(TABLE, pd.DataFrame([{
            "credit_code": code, "name": name, "computed_class": computed_class, "new_class": new_class or "",
            "reason": str(reason).strip(), "run_id": run_id, "who": actor.username, "at": now_utc()}]))
        tx.summary = (f"{name or code}:{computed_class or '—'} → {new_class}(原因:{str(reason).strip()})"
                      if new_class else f"{name or code}:撤销调整(原因:{str(reason).strip()})")
        tx.detail = {"before": computed_class, "after": new_class, "run_id": run_id}
        return _latest(tx, code)[0]
