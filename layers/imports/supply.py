"""Stage 4b, supplying fields the file lacks: a constant for every row, or a value derived from the geometry.

A 三调 (land survey) file has no 利用状态 (plot status) and no park: the planner supplies
``status=in_use`` as a constant (CLI ``--set status=in_use``, the mapping step on the page),
and derives the township and the park from the workspace's polygons (``--derive``).  A
constant or a derived value fills only the cells the file leaves empty (the whole column when
the file has none), so the file's own values always win.

Derivation, in the working CRS:

- ``township_code``: the township polygon that covers the largest part of the feature (a
  point: the one that contains it);
- ``park_id``: the industrial park or micro-park covering at least half of the feature (a
  point: the one that contains it); features outside every park stay empty;
- ``area_m2``: the area of the (repaired) geometry, m².
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.errors import ImportDataError
from layers.imports.values import parse_column
from layers.schema import VALUE_LABELS_ZH, LayerSpec

__all__ = ["DERIVABLE", "parse_assignments", "parse_constants", "apply_constants", "check_derivable", "derive"]

#: field → the workspace layers it is derived from ("" = the geometry itself).
DERIVABLE: dict[str, tuple[str, ...]] = {
    "township_code": ("townships",),
    "park_id": ("industrial_parks", "micro_parks"),
    "area_m2": (),
}
_PARK_SHARE = 0.5  # a feature belongs to a park when the park covers at least this share of it


def parse_assignments(items: Iterable[str] | Mapping[str, str] | None) -> dict[str, str]:
    """``["status=in_use", "year=2025"]`` (CLI ``--set``) → ``{"status": "in_use", "year": "2025"}``."""
    if items is None:
        return {}
    if isinstance(items, Mapping):
        return {str(k).strip(): str(v).strip() for k, v in items.items()}
    out = {}
    for item in items:
        name, sep, value = str(item).partition("=")
        if not sep or not name.strip():
            raise ImportDataError(f"--set {item!r}: expected FIELD=VALUE, e.g. --set status=in_use.",
                                  message_zh=f"--set {item!r}:格式应为 字段=值,例如 --set status=in_use。")
        out[name.strip()] = value.strip()
    return out


def parse_constants(values: Mapping[str, str], spec: LayerSpec) -> dict[str, object]:
    """Each constant parsed as its field's values are (``在用`` → ``in_use``, ``2025`` → 2025); a bad one raises."""
    out: dict[str, object] = {}
    for name, text in values.items():
        if name not in spec.field_names:
            raise ImportDataError(f"--set {name}={text}: {spec.name} has no field {name!r}; fields: "
                                  f"{', '.join(spec.field_names)}.",
                                  message_zh=f"--set {name}={text}:{spec.label_zh}没有字段 {name!r}。")
        f = spec.field(name)
        parsed = parse_column(pd.Series([text], dtype=object), f, 1.0)
        value = parsed.values.iloc[0]
        if parsed.bad[0] or pd.isna(value) or (f.choices and value not in f.choices):
            allowed = ", ".join(f"{c} ({VALUE_LABELS_ZH.get(c, c)})" for c in f.choices) if f.choices else f.dtype
            raise ImportDataError(f"--set {name}={text}: not a valid value of {f.label_en}; expected {allowed}.",
                                  message_zh=f"--set {name}={text}:不是“{f.label_zh}”的有效值;应为 {allowed}。")
        out[name] = value
    return out


def apply_constants(frame: pd.DataFrame, constants: Mapping[str, object], spec: LayerSpec) -> pd.DataFrame:
    """``frame`` with each constant filling its field's empty cells (the whole column when absent)."""
    out = frame.copy()
    for name, value in constants.items():
        column = pd.Series([value] * len(out), index=out.index).astype(_dtype(spec, name))
        out[name] = out[name].where(out[name].notna(), column) if name in out.columns else column
    return out


def derive(frame: gpd.GeoDataFrame, geometry: gpd.GeoSeries, fields: Iterable[str], *, workspace,
           spec: LayerSpec) -> tuple[gpd.GeoDataFrame, list[tuple[str, str]]]:
    """``frame`` with ``fields`` derived from ``geometry`` (working CRS) where empty; notes (en, zh) on what was done.

    Raises
    ------
    ImportDataError
        A field that cannot be derived, or a workspace without the layers it is derived from.
    """
    out = frame.copy()
    notes: list[tuple[str, str]] = []
    geoms = np.asarray(geometry.values, dtype=object)
    check_derivable(fields, spec)
    for name in fields:
        if name == "area_m2":
            values = pd.Series(np.round(shapely.area(geoms), 1), index=out.index, dtype="float64")
            values[shapely.is_missing(geoms)] = np.nan
        else:
            values = _from_polygons(geoms, name, out.index, workspace=workspace)
        before = out[name].notna() if name in out.columns else pd.Series(False, index=out.index)
        out[name] = out[name].where(before, values.astype(_dtype(spec, name))) if name in out.columns else \
            values.astype(_dtype(spec, name))
        filled = int((~before & out[name].notna()).sum())
        left = int(out[name].isna().sum())
        source = "、".join(DERIVABLE[name]) or "几何"
        notes.append((f"{name}: derived for {filled} row(s) from {', '.join(DERIVABLE[name]) or 'the geometry'}"
                      + (f"; {left} row(s) fall in none and stay empty" if left else ""),
                      f"{spec.field(name).label_zh}:{filled} 行由{source}推算" + (f";{left} 行不在任何范围内,保持为空" if left else "")))
    return out, notes


def check_derivable(fields: Iterable[str], spec: LayerSpec, *, name: str = "") -> None:
    """Raise :class:`ImportDataError` for a field that cannot be derived for ``spec`` (listing those that can)."""
    can = [d for d in DERIVABLE if d in spec.field_names]
    for f in fields:
        if f not in can:
            where = f"{name}: " if name else ""
            raise ImportDataError(f"{where}{f!r} cannot be derived; derivable for {spec.name}: {', '.join(can) or 'none'}.",
                                  message_zh=f"{where}不能推算 {f!r};{spec.label_zh}可推算:{'、'.join(can) or '无'}。")


def _from_polygons(geoms: np.ndarray, name: str, index: pd.Index, *, workspace) -> pd.Series:
    """The id of the polygon (townships, parks) that covers each feature best; empty where none does."""
    layers = [n for n in DERIVABLE[name] if workspace is not None and workspace.has_layer(n)]
    if not layers:
        raise ImportDataError(f"--derive {name}: the workspace has no {' or '.join(DERIVABLE[name])} layer to derive "
                              "it from; import that layer first or map a column.",
                              message_zh=f"--derive {name}:工作空间中没有 {'或'.join(DERIVABLE[name])} 图层,无法推算;"
                                         "请先导入该图层或在映射中指定列。")
    id_field = "code" if name == "township_code" else "park_id"
    polygons = pd.concat([workspace.read(n, columns=[id_field]) for n in layers], ignore_index=True)
    areas = np.asarray(polygons.geometry.values, dtype=object)
    tree = shapely.STRtree(areas)
    left, right = tree.query(geoms, predicate="intersects")
    polygonal = shapely.get_type_id(geoms[left]) >= 3
    overlap = np.where(polygonal, shapely.area(shapely.intersection(geoms[left], areas[right])), 1.0)
    share = np.where(polygonal, overlap / np.maximum(shapely.area(geoms[left]), 1e-9), 1.0)
    hits = pd.DataFrame({"row": left, "poly": right, "overlap": overlap, "share": share})
    if name == "park_id":
        hits = hits[hits["share"] >= _PARK_SHARE]
    best = hits.sort_values("overlap", ascending=False, kind="stable").drop_duplicates("row")
    values = pd.Series(pd.NA, index=range(len(geoms)), dtype="string")
    values.iloc[best["row"].to_numpy()] = polygons[id_field].astype("string").to_numpy()[best["poly"].to_numpy()]
    values.index = index
    return values


def _dtype(spec: LayerSpec, name: str) -> str:
    return {"string": "string", "float64": "float64", "int64": "Int64", "bool": "boolean",
            "date": "datetime64[ms]"}[spec.field(name).dtype]
