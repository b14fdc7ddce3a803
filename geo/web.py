"""Display preparation for the web map: simplify in metres, quantize, filter, serialise.

The browser gets an EPSG:4326 copy with fewer vertices and fewer digits: at 6 decimals a
coordinate is stored to ≈ 0.1 m (1e-6° of latitude ≈ 0.11 m), far below what a screen
shows, and the GeoJSON shrinks accordingly.  Analysis never runs on these copies.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geo.crs import DISPLAY_CRS, require_crs
from geo.errors import CRSError

__all__ = ["METRES_PER_DEGREE_LAT", "display_copy", "viewport_filter", "to_geojson_bytes"]

METRES_PER_DEGREE_LAT = 111_320.0


def _quantize(geoms: np.ndarray, decimals: int) -> np.ndarray:
    return shapely.transform(geoms, lambda c: np.round(c, decimals))


def display_copy(gdf: gpd.GeoDataFrame, *, tolerance_m: float = 1.0, decimals: int = 6,
                 name: str = "layer") -> gpd.GeoDataFrame:
    """An EPSG:4326 copy for the map: simplified by ``tolerance_m`` metres, rounded to ``decimals``.

    Simplification (Douglas–Peucker, ``preserve_topology=False`` for speed) runs in the
    frame's own CRS when it is projected in metres; for a geographic frame the tolerance
    becomes ``tolerance_m / 111 320`` degrees (a degree of latitude; along longitude that
    is slightly stricter, so never coarser than asked).  A geometry that simplification
    collapses to empty or invalid keeps its original shape, so small features never
    vanish from the map.  Then coordinates are rounded to ``decimals`` (6 ≈ 0.1 m).

    Parameters
    ----------
    gdf : GeoDataFrame
        Any CRS (required).
    tolerance_m : float
        Maximum vertex displacement in metres; 0 disables simplification.
    decimals : int
        Decimal places of degrees kept.

    Returns
    -------
    GeoDataFrame
        Same index and columns, CRS EPSG:4326.
    """
    if tolerance_m < 0:
        raise ValueError(f"tolerance_m must be ≥ 0 metres; got {tolerance_m}")
    crs = CRS.from_user_input(require_crs(gdf, name=name))
    out = gdf.copy()
    geoms = np.asarray(out.geometry.values, dtype=object)
    metric = crs.is_projected and crs.axis_info[0].unit_name in ("metre", "meter")
    if tolerance_m > 0:
        tol = tolerance_m if metric else tolerance_m / METRES_PER_DEGREE_LAT
        simple = shapely.simplify(geoms, tol, preserve_topology=False)
        # Only geometries that lost vertices can have been broken; check just those.
        changed = np.flatnonzero(shapely.get_num_coordinates(simple) != shapely.get_num_coordinates(geoms))
        sub = simple[changed]
        broken = changed[(shapely.is_empty(sub) | ~shapely.is_valid(sub)) & ~shapely.is_empty(geoms[changed])]
        simple[broken] = geoms[broken]
        geoms = simple
    series = gpd.GeoSeries(geoms, index=out.index, crs=crs)
    if crs != CRS.from_user_input(DISPLAY_CRS):
        series = series.to_crs(DISPLAY_CRS)
    quantized = _quantize(np.asarray(series.values, dtype=object), decimals)
    out = out.set_geometry(gpd.GeoSeries(quantized, index=out.index, crs=DISPLAY_CRS).rename(out.geometry.name),
                           crs=DISPLAY_CRS)
    return out


def viewport_filter(gdf_display: gpd.GeoDataFrame, bounds: Sequence[float]) -> gpd.GeoDataFrame:
    """Rows whose geometry intersects the box ``bounds`` = (west, south, east, north).

    Uses the frame's spatial index (STRtree), so a pan only costs the query; rows keep
    their original order and index. ``bounds`` are in the frame's CRS (EPSG:4326 for a
    display copy).
    """
    west, south, east, north = (float(v) for v in bounds)
    if west > east or south > north:
        raise ValueError(f"bounds must be (west, south, east, north) with west ≤ east, south ≤ north; got {tuple(bounds)}")
    hits = gdf_display.sindex.query(shapely.box(west, south, east, north), predicate="intersects")
    return gdf_display.iloc[np.sort(hits)]


def _reround(texts: Iterable[str | None], decimals: int) -> list[str | None]:
    """Re-print the few coordinates GEOS writes with 17 digits (120.50712300000001) at ``decimals``.

    Such a number carries a run of 0s or 9s after its rounded digits, so only geometries
    whose text contains "0000" or "9999" are searched (≈ 5 % of them): a fast substring
    test first, the regular expression only on those.
    """
    out = list(texts)
    if decimals > 9:  # 17 significant digits leave no room for a run after the decimals
        return out
    long_number = re.compile(rf"(?<![\d.])-?\d+\.\d{{{decimals + 3},}}")

    def fix(m: re.Match) -> str:
        return repr(round(float(m.group()), decimals))

    for i, t in enumerate(out):
        if t is not None and ("0000" in t or "9999" in t):
            out[i] = long_number.sub(fix, t)
    return out


def to_geojson_bytes(gdf: gpd.GeoDataFrame, columns: Sequence[str] | None = None, *,
                     decimals: int | None = 6) -> bytes:
    """Compact GeoJSON FeatureCollection (UTF-8, no indent) of ``columns`` and the geometry.

    Geometries are written by GEOS (``shapely.to_geojson``) and properties by pandas'
    JSON writer, both vectorised; only the string assembly walks the rows.  NaN becomes
    ``null``, dates ISO 8601, text stays UTF-8 (HTML escaping is the map's job).  Null
    and empty geometries are written as ``null``.  With ``decimals``, the coordinates
    that GEOS prints with 17 significant digits (about 0.15 % of already-rounded ones)
    are re-printed rounded, so quantized copies stay short.

    Raises
    ------
    CRSError
        When ``gdf`` is not in EPSG:4326 (GeoJSON is lon/lat; use :func:`display_copy`).
    """
    crs = require_crs(gdf, name="GeoJSON")
    if CRS.from_user_input(crs) != CRS.from_user_input(DISPLAY_CRS):
        raise CRSError(
            f"GeoJSON for the map must be in {DISPLAY_CRS}; got {crs.to_string()}. Make a display_copy() first.",
            message_zh=f"地图 GeoJSON 必须为 {DISPLAY_CRS},当前为 {crs.to_string()};请先生成 display_copy()。",
        )
    columns = list(columns) if columns is not None else [c for c in gdf.columns if c != gdf.geometry.name]
    missing = [c for c in columns if c not in gdf.columns]
    if missing:
        raise KeyError(f"columns {missing} are not in the frame; available: {list(gdf.columns)}")
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    geoms = np.where(shapely.is_empty(geoms), None, geoms)  # type: ignore[call-overload]  # numpy's stubs: no None scalar
    geo_json = shapely.to_geojson(geoms)
    if decimals is not None:
        geo_json = _reround(geo_json, decimals)
    n = len(gdf)
    if n == 0:
        return b'{"type":"FeatureCollection","features":[]}'
    if columns:
        props = pd.DataFrame(gdf[columns]).to_json(orient="records", lines=True, force_ascii=False,
                                                   date_format="iso").rstrip("\n").split("\n")
    else:
        props = ["{}"] * n
    features = ",".join(
        f'{{"type":"Feature","properties":{p},"geometry":{g if g is not None else "null"}}}'
        for p, g in zip(props, geo_json)
    )
    return ('{"type":"FeatureCollection","features":[' + features + "]}").encode("utf-8")
