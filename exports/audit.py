"""The audit log as a file for an administrator: CSV (UTF-8 with BOM, for Excel) or Excel.

Cells are neutralised against formula injection (:mod:`exports._safe`): a target or note typed
by a user that starts with ``=`` must not run on the reader's machine.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from exports._safe import neutralise_formula
from geo.io import atomic_path

__all__ = ["export_audit"]


def export_audit(table: pd.DataFrame, out, *, lang: str = "zh") -> Path:
    """Write rows of :func:`layers.audit.read` to ``out`` (.csv or .xlsx) with labelled columns."""
    from layers.audit import COLUMNS, LABELS

    out = Path(out)
    frame = table[list(COLUMNS)].rename(columns=LABELS[lang])
    frame = frame.map(neutralise_formula)
    with atomic_path(out) as tmp:
        if out.suffix.lower() == ".xlsx":
            frame.to_excel(tmp, index=False, sheet_name="操作日志" if lang == "zh" else "audit log")
        else:
            frame.to_csv(tmp, index=False, encoding="utf-8-sig")
    return out
