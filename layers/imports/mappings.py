"""Saved column mappings (table ``import_mappings``): next year's file maps like this year's.

The one place where mappings are stored: :func:`store_mapping` inserts or replaces one row
inside the caller's transaction — the commit's (saved with the layer) or :func:`save_mapping`'s
own.  Saving a mapping is an administrator's action (``mapping.save``).
"""
from __future__ import annotations

import json

import pandas as pd

from geo.errors import ImportDataError
from layers.imports.plan import ImportPlan
from layers.store import check_name as _check_name, now_utc
from layers.workspace import Workspace

__all__ = ["MAPPINGS_TABLE", "list_mappings", "load_mapping", "save_mapping"]


MAPPINGS_TABLE = "import_mappings"


def store_mapping(tx, name: str, plan: ImportPlan, actor) -> None:
    """Insert or replace the saved mapping ``name`` inside the caller's transaction."""
    _check_name(name)
    tx.execute("INSERT INTO import_mappings(name, layer, format, mapping, saved_at, saved_by) VALUES (?, ?, ?, ?, ?, ?) "
               "ON CONFLICT (name) DO UPDATE SET layer = excluded.layer, format = excluded.format, "
               "mapping = excluded.mapping, saved_at = excluded.saved_at, saved_by = excluded.saved_by",
               (name, plan.layer, plan.format, json.dumps(plan.mapping_dict(), ensure_ascii=False), now_utc(),
                actor.username))


def list_mappings(ws: Workspace) -> pd.DataFrame:
    """Saved column mappings: name, layer, format, mapping (JSON text), saved_at."""
    if not ws.has_layer(MAPPINGS_TABLE):
        return pd.DataFrame({c: pd.Series(dtype="object") for c in ("name", "layer", "format", "mapping", "saved_at")})
    return ws.read_table(MAPPINGS_TABLE)[["name", "layer", "format", "mapping", "saved_at"]].reset_index(drop=True)


def load_mapping(ws: Workspace, name: str) -> dict:
    """A saved mapping by name, ready for ``plan_import(mapping=...)``."""
    table = list_mappings(ws)
    hit = table[table["name"] == name]
    if hit.empty:
        raise ImportDataError(f"no saved mapping named {name!r}; saved: {', '.join(table['name']) or '(none)'}.",
                              message_zh=f"没有名为 {name!r} 的已保存映射。")
    return json.loads(hit.iloc[-1]["mapping"])


def save_mapping(ws: Workspace, name: str, plan: ImportPlan, *, actor) -> None:
    """Store ``plan``'s column mapping under ``name`` (one transaction; an administrator's action)."""
    _check_name(name)
    with ws.transaction(actor, "mapping.save", target=name) as tx:
        store_mapping(tx, name, plan, actor)
        tx.summary = f"保存字段映射 {name}({plan.layer})"
