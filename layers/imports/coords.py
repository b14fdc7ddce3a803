"""Stage 2a, coordinates in tables: a geometry from a WKT column or from x/y (lon/lat) columns.

A CSV or Excel table carries its geometry as text; this finds the columns (by the usual
names, or as the user named them) and builds the geometries, marking the rows whose text
cannot be read.  What the numbers mean (which CRS) is the next stage's question.
"""
from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.errors import ImportDataError
from layers.imports.columns import normalise_label, split_unit
from layers.imports.decode import clean_text
from layers.imports.read import RawData

__all__ = ["geometry_from_table"]


_WKT_NAMES = {"wkt", "geometry", "geom", "the_geom", "shape", "几何", "空间信息", "坐标串"}
_X_NAMES = {"lon", "lng", "long", "longitude", "经度", "x", "x坐标", "东坐标", "横坐标"}
_Y_NAMES = {"lat", "latitude", "纬度", "y", "y坐标", "北坐标", "纵坐标"}


def geometry_from_table(raw: RawData, *, wkt: str | None, x: str | None, y: str | None, name: str):
    """GeoSeries from a WKT column or x/y columns of a CSV/Excel table, or None when it has neither."""
    df = raw.frame
    norm = {c: normalise_label(c) for c in df.columns}
    for label, given in (("wkt", wkt), ("x", x), ("y", y)):
        if given is not None and given not in df.columns:
            raise ImportDataError(f"{name}: no column {given!r} for {label}; columns: {', '.join(df.columns)}.",
                                  message_zh=f"{name}:没有列 {given!r};现有列:{'、'.join(df.columns)}。")
    wkt_col = wkt or next((c for c, n in norm.items() if n in _WKT_NAMES), None)
    x_col = x or next((c for c, n in norm.items() if split_unit(n)[0] in _X_NAMES), None)
    y_col = y or next((c for c, n in norm.items() if split_unit(n)[0] in _Y_NAMES), None)
    if wkt_col is not None and x is None:
        text = df[wkt_col].astype("string").fillna("").str.strip().to_numpy(dtype=object)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            strict = shapely.from_wkt(text, on_invalid="ignore")
            fixed = shapely.from_wkt(text, on_invalid="fix")
        unclosed = shapely.is_missing(strict) & ~shapely.is_missing(fixed)
        bad = (text != "") & shapely.is_missing(fixed)
        return gpd.GeoSeries(fixed, index=df.index), [wkt_col], unclosed, bad, wkt_col
    if x_col is not None and y_col is not None:
        xs = pd.to_numeric(clean_text(df[x_col]).str.replace(",", "", regex=False), errors="coerce").to_numpy(dtype=float)
        ys = pd.to_numeric(clean_text(df[y_col]).str.replace(",", "", regex=False), errors="coerce").to_numpy(dtype=float)
        bad = np.isnan(xs) | np.isnan(ys)
        pts = shapely.points(np.where(bad, 0.0, xs), np.where(bad, 0.0, ys))
        pts = np.where(bad, None, pts)
        return gpd.GeoSeries(pts, index=df.index), [x_col, y_col], np.zeros(len(df), bool), bad, f"{x_col}/{y_col}"
    return None, [], None, None, None
