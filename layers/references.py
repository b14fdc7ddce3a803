"""What still points at objects the workspace no longer holds: shortlist entries and stored runs.

An import that replaces plots or enterprises, or restoring an older version of a layer, can
remove objects that the shortlist lists or that a stored run was computed on.  Nothing is
deleted with them — a planner's list is not rewritten behind their back, and a run stays what
it was — but every reader marks them:

* :func:`missing_items` — per shortlist entry, why it no longer points at a live object:
  ``plot_removed`` (a plot entry whose plot is not in ``plots``) or ``run_removed`` (a cluster
  or site entry whose run's result layer was pruned; its ``source`` names the run).  :func:`layers.shortlist.load` adds it as the
  column ``item_missing``; the page, the CLI and every export show it.
* :func:`run_missing` — how many of a stored run's plots and firms are no longer in the layers
  (the run picker and ``cli.py runs list`` say so beside "inputs changed").
* :func:`removal_references` — before an import commits, how many shortlist entries and which
  runs refer to the rows it would remove (the confirmation names them).

All vectorised set differences on the key columns (``plot_id``, ``credit_code``), read alone.
"""
from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

__all__ = ["KEYS", "MISSING_REASONS", "missing_items", "run_missing", "removal_references", "references_text"]

#: The key column of each layer other objects refer to.
KEYS = {"plots": "plot_id", "enterprises": "credit_code"}
#: Why a shortlist entry no longer points at a live object (labels in layers.schema.VALUE_LABELS_ZH).
MISSING_REASONS = ("plot_removed", "run_removed")
# A cluster or site entry's ``source`` names its run ("clusters:<run>", "siting:<run>", or the
# result layer itself): the layer its object lives in.
_SOURCE = r"^(?:clusters:(?P<chain>[a-z0-9_]+)|siting:(?P<siting>[a-z0-9_]+))$"


def _source_layer(match) -> str:
    return f"run_{match['chain']}_clusters" if match["chain"] else f"siting_{match['siting']}_sites"


# Which result layer of each run kind holds references to which layer, and in which column.
_RUN_REFERENCES = {
    "chain": {"plots": ("plots", "plot_id"), "enterprises": ("per_mu", "credit_code")},
    "siting": {"enterprises": ("assignments", "credit_code")},
}


def _keys(ws, layer: str, names: set[str] | None = None) -> pd.Index | None:
    """The layer's keys as text (None when the workspace has no such layer)."""
    names = set(ws.layers()) if names is None else names
    return ws.keys(layer, KEYS[layer]) if layer in names else None


def _references(ws, source: str, column: str) -> pd.Series:
    """The distinct values of ``column`` in a run's result layer, as text."""
    return ws.keys(source, column).to_series()


def missing_items(ws, items: pd.DataFrame) -> pd.Series:
    """Per entry of ``items`` (the shortlist), ``plot_removed`` / ``run_removed`` or missing (still live)."""
    out = pd.Series(pd.NA, index=items.index, dtype="string")
    if not len(items):
        return out
    names = set(ws.layers())
    kind = items["item_kind"].astype("string")
    is_plot = (kind == "plot").fillna(False)
    if "plots" in names and is_plot.any():
        # only the listed plots are looked up: an edit costs the shortlist's size, not the county's
        ids = items["item_id"].astype(str)
        live = ws.keys("plots", KEYS["plots"], among=ids[is_plot])
        gone = is_plot & ~ids.isin(set(live))
        out[gone.to_numpy(dtype=bool)] = "plot_removed"
    layer = items["source"].astype("string").str.replace(_SOURCE, _source_layer, regex=True) \
        if "source" in items.columns else pd.Series(pd.NA, index=items.index, dtype="string")
    from_run = (kind != "plot").fillna(False) & layer.str.match(r"^(run|siting|integration)_").fillna(False)
    pruned = from_run & ~layer.isin(names).fillna(False)
    out[pruned.to_numpy(dtype=bool)] = "run_removed"
    return out


def run_missing(ws, kind: str, run_id: str, *, names: set[str] | None = None) -> dict[str, int]:
    """``{layer: n}``: how many of the run's plots / firms are no longer in that layer (zeros left out)."""
    from layers.runs import layer_name

    names = set(ws.layers()) if names is None else names
    out = {}
    for layer, (part, column) in _RUN_REFERENCES.get(kind, {}).items():
        source = layer_name(kind, run_id, part)
        live = _keys(ws, layer, names)
        if live is None or source not in names:
            continue
        n = int((~_references(ws, source, column).isin(live)).sum())
        if n:
            out[layer] = n
    return out


def removal_references(ws, layer: str, kept: Iterable) -> dict:
    """What refers to rows of ``layer`` whose keys are not in ``kept`` (an import about to replace it).

    Returns ``{"removed": n keys, "shortlist": n entries, "runs": {run key: n references}}``.
    """
    from layers.runs import layer_name, list_runs

    column = KEYS.get(layer)
    live = _keys(ws, layer)
    if column is None or live is None:
        return {"removed": 0, "shortlist": 0, "runs": {}}
    removed = live.difference(pd.Index(pd.Series(list(kept), dtype=object).dropna().astype(str).unique()))
    out = {"removed": len(removed), "shortlist": 0, "runs": {}}
    if not len(removed):
        return out
    names = set(ws.layers())
    if layer == "plots" and ws.has_layer("shortlist"):
        entries = ws.read_table("shortlist", columns=["item_kind", "item_id"])
        hit = (entries["item_kind"].astype(str) == "plot") & entries["item_id"].astype(str).isin(removed)
        out["shortlist"] = int(hit.sum())
    for row in list_runs(ws).itertuples():
        spec = _RUN_REFERENCES.get(row.kind, {}).get(layer)
        bare = row.run_id if row.kind == "chain" else str(row.run_id)[len(row.kind) + 1:]
        source = layer_name(row.kind, bare, spec[0]) if spec else None
        if source is None or source not in names:
            continue
        n = int(_references(ws, source, spec[1]).isin(removed).sum())
        if n:
            out["runs"][str(row.run_id)] = n
    return out


def references_text(refs: dict, lang: str = "en") -> str:
    """One sentence on what the removal would leave pointing at nothing ("" when nothing does)."""
    n_runs = len(refs.get("runs", {}))
    if not refs.get("shortlist") and not n_runs:
        return ""
    runs = ", ".join(f"{k} ({v:,})" for k, v in refs["runs"].items())
    if lang == "zh":
        return (f"将删除的对象中,有 {refs['shortlist']:,} 条候选清单条目、{n_runs} 次已存分析运行({runs or '无'})引用了它们;"
                "提交后这些条目和运行保留,并标注“已不在图层中”。")
    return (f"{refs['shortlist']:,} shortlist entries and {n_runs} stored runs ({runs or 'none'}) refer to rows "
            "this would remove; they are kept and marked as pointing at removed objects.")
