"""Stage 2a, coordinates in tables: a geometry from a WKT column or from x/y (lon/lat) columns.

A CSV or Excel table carries its geometry as text; this finds the columns (by the usual
names, or as the user named them) and builds the geometries, marking the rows whose text
cannot be read.  What the numbers mean (which CRS) is the next stage's question.
"""
from __future__ import annotations

import re
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.errors import ImportDataError
from layers.imports.columns import normalise_label, split_unit
from layers.imports.decode import clean_text
from layers.imports.read import RawData

__all__ = ["geometry_from_table", "parse_coordinates"]


_WKT_NAMES = {"wkt", "geometry", "geom", "the_geom", "shape", "几何", "空间信息", "坐标串"}
_X_NAMES = {"lon", "lng", "long", "longitude", "经度", "x", "x坐标", "东坐标", "横坐标"}
_Y_NAMES = {"lat", "latitude", "纬度", "y", "y坐标", "北坐标", "纵坐标"}


# Degrees-minutes-seconds as written in offices: 120°39'00"E, E120°39′00″, 东经120度39分00秒, 27°48'N, 120.65°.
# (NFKC has already turned ″ into ′′ and full-width digits into ASCII.)
_DMS = re.compile(
    r"^(?P<h1>[NSEW]|东经|西经|北纬|南纬)?\s*(?P<deg>\d+(?:\.\d+)?)\s*(?:°|度|º|˚)\s*"
    r"(?:(?P<min>\d+(?:\.\d+)?)\s*(?:'|′|’|分)(?!['′])\s*)?"
    r"(?:(?P<sec>\d+(?:\.\d+)?)\s*(?:\"|”|''|′′|秒)\s*)?(?P<h2>[NSEW]|东|西|南|北)?$", re.IGNORECASE)
_NEGATIVE = {"s", "w", "西经", "南纬", "西", "南"}


def parse_coordinates(values: pd.Series) -> np.ndarray:
    r"""Coordinates as numbers: plain (``120.65``, ``3,070,000``) or degrees-minutes-seconds → decimal degrees.

    >>> parse_coordinates(pd.Series(["120°39'00\"E", "东经120度39分36秒", "27°48'S", "120.5", "oops"])).round(4).tolist()
    [120.65, 120.66, -27.8, 120.5, nan]
    """
    text = clean_text(values).str.replace(",", "", regex=False).str.strip()
    plain = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
    parts = text.str.extract(_DMS)
    deg = pd.to_numeric(parts["deg"], errors="coerce").to_numpy(dtype=float)
    minutes = pd.to_numeric(parts["min"], errors="coerce").fillna(0).to_numpy(dtype=float)
    seconds = pd.to_numeric(parts["sec"], errors="coerce").fillna(0).to_numpy(dtype=float)
    hemisphere = parts["h1"].fillna(parts["h2"]).fillna("").str.lower()
    sign = np.where(hemisphere.isin(_NEGATIVE).to_numpy(dtype=bool), -1.0, 1.0)
    dms = sign * (deg + minutes / 60.0 + seconds / 3600.0)
    return np.where(np.isnan(plain), dms, plain)


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
        text = clean_text(df[wkt_col]).fillna("").to_numpy(dtype=object)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            strict = shapely.from_wkt(text, on_invalid="ignore")
            fixed = shapely.from_wkt(text, on_invalid="fix")
        unclosed = shapely.is_missing(strict) & ~shapely.is_missing(fixed)
        bad = (text != "") & shapely.is_missing(fixed)
        return gpd.GeoSeries(fixed, index=df.index), [wkt_col], unclosed, bad, wkt_col
    if x_col is not None and y_col is not None:
        xs, ys = parse_coordinates(df[x_col]), parse_coordinates(df[y_col])
        bad = np.isnan(xs) | np.isnan(ys)
        pts = shapely.points(np.where(bad, 0.0, xs), np.where(bad, 0.0, ys))
        pts = np.where(bad, None, pts)
        return gpd.GeoSeries(pts, index=df.index), [x_col, y_col], np.zeros(len(df), bool), bad, f"{x_col}/{y_col}"
    return None, [], None, None, None
