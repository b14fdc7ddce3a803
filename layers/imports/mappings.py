"""Saved column mappings (table ``import_mappings``): next year's file maps like this year's.

The one place where mappings are stored: :func:`_mappings_with` builds the new table, and
the commit writes it in the same step as the layer.
"""
from __future__ import annotations

import datetime as _dt
import json

import pandas as pd

from geo.errors import ImportDataError
from layers.imports.plan import ImportPlan
from layers.workspace import Workspace, _check_name

__all__ = ["MAPPINGS_TABLE", "list_mappings", "load_mapping", "save_mapping"]


MAPPINGS_TABLE = "import_mappings"


def _mappings_with(ws: Workspace, name: str, plan: ImportPlan) -> pd.DataFrame:
    _check_name(name)
    current = list_mappings(ws)
    row = pd.DataFrame([{"name": name, "layer": plan.layer, "format": plan.format,
                         "mapping": json.dumps(plan.mapping_dict(), ensure_ascii=False),
                         "saved_at": _dt.datetime.now(_dt.timezone.utc).astimezone().isoformat(timespec="seconds")}])
    return pd.concat([current[current["name"] != name], row], ignore_index=True)


def list_mappings(ws: Workspace) -> pd.DataFrame:
    """Saved column mappings: name, layer, format, mapping (JSON text), saved_at."""
    if not ws.has_layer(MAPPINGS_TABLE):
        return pd.DataFrame({c: pd.Series(dtype="object") for c in ("name", "layer", "format", "mapping", "saved_at")})
    return ws.read_table(MAPPINGS_TABLE)[["name", "layer", "format", "mapping", "saved_at"]]


def load_mapping(ws: Workspace, name: str) -> dict:
    """A saved mapping by name, ready for ``plan_import(mapping=...)``."""
    table = list_mappings(ws)
    hit = table[table["name"] == name]
    if hit.empty:
        raise ImportDataError(f"no saved mapping named {name!r}; saved: {', '.join(table['name']) or '(none)'}.",
                              message_zh=f"没有名为 {name!r} 的已保存映射。")
    return json.loads(hit.iloc[-1]["mapping"])


def save_mapping(ws: Workspace, name: str, plan: ImportPlan) -> None:
    """Store ``plan``'s column mapping under ``name`` (atomic write of ``import_mappings``)."""
    ws.write(MAPPINGS_TABLE, _mappings_with(ws, name, plan), source="import mapping")
