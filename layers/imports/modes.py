"""Stage 7, the modes: what the layer will hold after the import, and how that differs from today.

=================  ===============================================================================
mode               the layer afterwards
=================  ===============================================================================
replace            the file's rows only (rows not in the file are removed)
append             today's rows and the file's (a key already in the layer is an error)
upsert             today's rows; a row whose key is in the file takes the file's values and
                   geometry (an empty cell in the file empties the stored one: the file is the
                   new record; fields the file lacks keep their values); new keys are added
replace_township   today's rows of the other townships, and the file's rows for this one
join               today's rows; a department table's non-empty cells are written onto the row
                   with the same key (an empty cell keeps the stored value, a cell emptied by
                   ``on_problems="fix"`` is stored empty); no row is added or removed
=================  ===============================================================================

:func:`apply_mode` returns the whole layer as it will be written and the change: rows added,
changed, removed and unchanged, and every changed cell (key, field, old value, new value).
The same function serves the preview and the commit, so what the dry run says is what is
written.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

__all__ = ["MODES", "ROW_MODES", "LayerChange", "apply_mode", "format_cell"]

MODES = ("auto", "replace", "append", "upsert", "replace_township", "join")
ROW_MODES = ("replace", "append", "upsert", "replace_township")  # modes that write the file's rows (with geometry)
_GEOMETRY_TOLERANCE_M = 0.001  # a vertex moved by less than 1 mm is the same geometry
_CELL_COLUMNS = ["key", "field", "old", "new"]


@dataclass
class LayerChange:
    """The layer after an import and what changed (counts of rows; every changed cell)."""

    layer: pd.DataFrame | gpd.GeoDataFrame
    before: int
    added: int
    changed: int
    removed: int
    unchanged: int
    removed_keys: list = field(default_factory=list)  # the first removed keys, for the message
    cells: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_CELL_COLUMNS))

    @property
    def after(self) -> int:
        return int(len(self.layer))

    def counts(self) -> dict[str, int]:
        return {"before": self.before, "after": self.after, "added": self.added, "changed": self.changed,
                "removed": self.removed, "unchanged": self.unchanged}

    def summary(self, lang: str = "en", *, layer: str = "") -> str:
        """``'plots: 5,000 → 2 rows; added 2, changed 0, removed 5,000'`` (or in Chinese)."""
        if lang == "zh":
            text = (f"{layer}:{self.before:,} 行 → {self.after:,} 行;新增 {self.added:,} 行,修改 {self.changed:,} 行,"
                    f"删除 {self.removed:,} 行,不变 {self.unchanged:,} 行")
            if len(self.cells):
                text += f";共 {len(self.cells):,} 个单元格改变"
            return text
        text = (f"{layer}: {self.before:,} → {self.after:,} row(s); added {self.added:,}, changed {self.changed:,}, "
                f"removed {self.removed:,}, unchanged {self.unchanged:,}")
        if len(self.cells):
            text += f"; {len(self.cells):,} cell(s) change"
        return text


def apply_mode(existing: pd.DataFrame | None, rows: pd.DataFrame, *, mode: str, key: str | None,
               fields: list[str], township: str | None = None, cleared: pd.DataFrame | None = None) -> LayerChange:
    """The layer after writing ``rows`` into ``existing`` under ``mode``, and the change.

    Parameters
    ----------
    existing : DataFrame or None
        The layer as it is (None: the workspace has none yet).
    rows : DataFrame
        The file's rows, typed, in the working CRS.
    key : str or None
        The key field (None for a layer without a spec: rows are not matched).
    fields : list of str
        The fields the file provides (mapped, supplied, derived): what upsert and join write.
    township : str, optional
        The township code for ``replace_township``.
    cleared : DataFrame of bool, optional
        For ``join``: the cells that ``on_problems="fix"`` emptied (same index as ``rows``).
    """
    before = existing if existing is not None else rows.iloc[:0]
    if mode == "replace" or existing is None:
        after = rows.reset_index(drop=True)
        compare = None
    elif mode == "append":
        after = _concat(existing, rows)
        compare = None
    elif mode == "replace_township":
        after = _concat(existing[existing["township_code"].astype("string") != township], rows)
        compare = None
    elif mode == "upsert":
        after = _upsert(existing, rows, key=key, fields=fields)
        compare = [*fields, rows.geometry.name] if isinstance(rows, gpd.GeoDataFrame) else fields
    elif mode == "join":
        after = _join(existing, rows, key=key, fields=fields, cleared=cleared)
        compare = fields
    else:  # pragma: no cover - checked by the plan
        raise AssertionError(mode)
    return _change(before, after, key=key, compare=compare)


def format_cell(value, lang: str = "en") -> str:
    """A stored value as a planner reads it: empty as (空)/(empty), floats without noise, dates as dates."""
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
        return "(空)" if lang == "zh" else "(empty)"
    if isinstance(value, (bool, np.bool_)):
        return ("是" if value else "否") if lang == "zh" else ("yes" if value else "no")
    if isinstance(value, (float, np.floating)):
        return f"{float(value):,.4f}".rstrip("0").rstrip(".")
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    return str(value)


# ----------------------------------------------------------------------------- the layer afterwards
def _concat(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    if len(first) == 0:
        return second.reset_index(drop=True)
    if len(second) == 0:
        return first.reset_index(drop=True)
    out = pd.concat([first, second], ignore_index=True)
    if isinstance(first, gpd.GeoDataFrame):
        out = gpd.GeoDataFrame(out, geometry=first.geometry.name, crs=first.crs)
    return out


def _upsert(existing: pd.DataFrame, rows: pd.DataFrame, *, key: str, fields: list[str]) -> pd.DataFrame:
    """Rows with a known key take the file's fields and geometry; the others are appended."""
    layer = existing.reset_index(drop=True).copy()
    positions = pd.Series(np.arange(len(layer)), index=layer[key].astype("string"))
    incoming = rows[key].astype("string")
    known = incoming.isin(positions.index).to_numpy()
    target = positions.reindex(incoming[known]).to_numpy()
    source = rows[known]
    columns = [c for c in fields if c != key]
    if isinstance(rows, gpd.GeoDataFrame):
        columns.append(rows.geometry.name)
    for c in columns:
        if c not in layer.columns:
            layer[c] = pd.Series(index=layer.index, dtype=rows[c].dtype)  # NaN or NA, as the dtype holds it
        values = layer[c].to_numpy(dtype=object).copy()
        values[target] = source[c].to_numpy(dtype=object)
        layer[c] = _typed_like(values, layer[c], rows[c])
    return _concat(layer, rows[~known])


def _join(existing: pd.DataFrame, rows: pd.DataFrame, *, key: str, fields: list[str],
          cleared: pd.DataFrame | None) -> pd.DataFrame:
    """The table's non-empty values (and the cells ``fix`` emptied) written onto the rows with the same key."""
    layer = existing.copy()
    table = rows.drop_duplicates(key)
    upd = table.set_index(table[key].astype("string"))
    keys = layer[key].astype("string")
    hit = keys.isin(upd.index).to_numpy(dtype=bool)
    for c in (c for c in fields if c not in (key, "name")):
        new = keys[hit].map(upd[c])
        write = new.notna()
        if cleared is not None and c in cleared.columns:
            emptied = pd.Series(cleared[c].to_numpy(dtype=bool), index=rows.index)[table.index]
            write |= keys[hit].map(pd.Series(emptied.to_numpy(), index=upd.index)).fillna(False).astype(bool)
        if c not in layer.columns:
            layer[c] = pd.Series(index=layer.index, dtype=upd[c].dtype)  # NaN or NA, as the dtype holds it
        values = layer[c].to_numpy(dtype=object).copy()
        values[np.flatnonzero(hit)] = np.where(write.to_numpy(), new.to_numpy(dtype=object),
                                                layer.loc[hit, c].to_numpy(dtype=object))
        layer[c] = _typed_like(values, layer[c], upd[c])
    return layer


def _typed_like(values: np.ndarray, current: pd.Series, incoming: pd.Series) -> pd.Series:
    """An object array back in the column's dtype (geometry stays geometry; NA stays NA)."""
    if isinstance(current, gpd.GeoSeries):
        return gpd.GeoSeries(values, index=current.index, crs=current.crs)
    dtype = incoming.dtype if current.isna().all() else current.dtype
    cleaned = np.where(pd.isna(values), None, values)
    try:
        return pd.Series(pd.array(cleaned, dtype=dtype), index=current.index)
    except (TypeError, ValueError):
        return pd.Series(cleaned, index=current.index)


# ----------------------------------------------------------------------------- the change
def _change(before: pd.DataFrame, after: pd.DataFrame, *, key: str | None, compare: list[str] | None) -> LayerChange:
    """Rows added / changed / removed / unchanged between two versions of a layer, and the changed cells."""
    if key is None or key not in before.columns or key not in after.columns:
        return LayerChange(after, len(before), len(after), 0, len(before), 0)
    old_keys = before[key].astype("string")
    new_keys = after[key].astype("string")
    removed = old_keys[~old_keys.isin(new_keys)]
    added = int((~new_keys.isin(old_keys)).sum())
    old = before[old_keys.isin(new_keys).to_numpy()].drop_duplicates(key)
    new = after[new_keys.isin(old_keys).to_numpy()].drop_duplicates(key)
    old = old.set_index(old[key].astype("string"))
    new = new.set_index(new[key].astype("string")).reindex(old.index)
    columns = compare if compare is not None else _all_columns(before, after)
    columns = [c for c in columns if c != key]
    cells = _changed_cells(old, new, columns)
    changed = int(cells["key"].nunique()) if len(cells) else 0
    return LayerChange(after, len(before), added, changed, len(removed), len(old) - changed,
                       removed.head(20).tolist(), cells)


def _all_columns(before: pd.DataFrame, after: pd.DataFrame) -> list[str]:
    return [c for c in after.columns if c in before.columns] + [c for c in before.columns if c not in after.columns]


def _changed_cells(old: pd.DataFrame, new: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """One row per (key, field) whose value differs; geometry compared within 1 mm, shown by its area."""
    parts = []
    for c in columns:
        a = old[c] if c in old.columns else pd.Series(pd.NA, index=old.index)
        b = new[c] if c in new.columns else pd.Series(pd.NA, index=new.index)
        if isinstance(a, gpd.GeoSeries) or isinstance(b, gpd.GeoSeries):
            ga, gb = np.asarray(a.values, dtype=object), np.asarray(b.values, dtype=object)
            same = shapely.equals_exact(ga, gb, tolerance=_GEOMETRY_TOLERANCE_M) | (
                shapely.is_missing(ga) & shapely.is_missing(gb))
            differs = ~np.asarray(same, dtype=bool)
            olds = [f"{x:,.1f} m²" for x in shapely.area(ga[differs])]
            news = [f"{x:,.1f} m²" for x in shapely.area(gb[differs])]
        else:
            differs = _differs(a, b)
            olds, news = a.to_numpy(dtype=object)[differs], b.to_numpy(dtype=object)[differs]
        if differs.any():
            parts.append(pd.DataFrame({"key": old.index[differs], "field": c, "old": list(olds), "new": list(news)}))
    if not parts:
        return pd.DataFrame(columns=_CELL_COLUMNS)
    return pd.concat(parts, ignore_index=True).sort_values(["key"], kind="stable").reset_index(drop=True)


def _differs(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Cells that differ: one empty and the other not, or both present and unequal (floats within 1e-9)."""
    na, nb = a.isna().to_numpy(), b.isna().to_numpy()
    av, bv = a.to_numpy(dtype=object), b.to_numpy(dtype=object)
    both = ~na & ~nb
    unequal = np.zeros(len(a), dtype=bool)
    numeric = all(pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype) for s in (a, b))
    if both.any() and numeric:
        unequal[both] = ~np.isclose(av[both].astype(float), bv[both].astype(float), rtol=1e-9, atol=1e-9)
    elif both.any():
        unequal[both] = (a[both].astype("string") != b[both].astype("string")).to_numpy(dtype=bool)
    return (na != nb) | unequal
