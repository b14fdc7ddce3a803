"""Geometry checks and repair with a per-feature report.

:func:`validate_geometries` runs every check over the whole layer with shapely's array
functions (no Python loop over features), collects every problem, then reports once:
raise one :class:`~geo.errors.InvalidGeometryError`, warn once, or repair what can be
repaired and return the report with the area change per feature.

Problem codes, in the order they appear in a report:

============== ====================================================== ==============
code           meaning                                                 ``fix`` does
============== ====================================================== ==============
null           no geometry                                             nothing
empty          an empty geometry                                       nothing
non_finite     a NaN or infinite coordinate                            nothing
unclosed_ring  a ring not closed in the file (closed on read, geo.io)  accepts it
invalid        not OGC-valid; reason from ``shapely.is_valid_reason``  make_valid
z_m            has Z or M values                                       force_2d
outside_china  bounds outside lon 73–136, lat 3–54 (in EPSG:4326)      nothing
mixed_types    not of the layer's main geometry family                 nothing
============== ====================================================== ==============
"""
from __future__ import annotations

import warnings
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geo.crs import CHINA_LONLAT, _to_lonlat, require_crs
from geo.errors import InvalidGeometryError
from geo.io import UNCLOSED_RINGS_ATTR

__all__ = ["PROBLEMS", "ON_INVALID", "validate_geometries", "problem_counts"]

PROBLEMS = ("null", "empty", "non_finite", "unclosed_ring", "invalid", "z_m", "outside_china", "mixed_types")
ON_INVALID = ("raise", "warn", "fix")
# Problems that on_invalid="fix" repairs; the others need the source corrected.
_REPAIRABLE = {"unclosed_ring", "invalid", "z_m"}

_FAMILY = {0: "point", 4: "point", 1: "line", 2: "line", 5: "line", 3: "polygon", 6: "polygon", 7: "collection"}
_TYPE_NAMES = {0: "Point", 1: "LineString", 2: "LinearRing", 3: "Polygon", 4: "MultiPoint", 5: "MultiLineString",
               6: "MultiPolygon", 7: "GeometryCollection"}

_FIX_EN = {
    "null": "give these features a geometry or remove them",
    "empty": "give these features a geometry or remove them",
    "non_finite": "correct the NaN/infinite coordinates in the source or remove those features",
    "unclosed_ring": "on_invalid='fix' accepts the rings closed by repeating their first point",
    "invalid": "on_invalid='fix' repairs them with make_valid (method='structure') and reports the area change",
    "z_m": "on_invalid='fix' drops the Z/M values (force_2d)",
    "outside_china": "check the CRS (geo.crs.detect_crs_issue: zone prefix, swapped axes) or remove those features",
    "mixed_types": "split the layer by geometry type or remove the stray features",
}
_FIX_ZH = {
    "null": "为这些要素补充几何或删除",
    "empty": "为这些要素补充几何或删除",
    "non_finite": "在源数据中修正 NaN/无穷坐标或删除这些要素",
    "unclosed_ring": "使用 on_invalid='fix' 以重复首点的方式闭合环",
    "invalid": "使用 on_invalid='fix' 以 make_valid(structure)修复并报告面积变化",
    "z_m": "使用 on_invalid='fix' 去除 Z/M 值",
    "outside_china": "检查坐标系(带号、坐标轴是否互换)或删除这些要素",
    "mixed_types": "按几何类型拆分图层或删除异类要素",
}
_NAME_ZH = {"null": "空几何", "empty": "空要素", "non_finite": "NaN/无穷坐标", "unclosed_ring": "环未闭合",
            "invalid": "几何无效", "z_m": "含 Z/M", "outside_china": "超出中国范围", "mixed_types": "几何类型混杂"}


def _lonlat_bounds(bounds: np.ndarray, crs) -> np.ndarray:
    """Per-feature (minlon, minlat, maxlon, maxlat), transforming the four corners."""
    crs = CRS.from_user_input(crs)
    if crs.is_geographic:
        return bounds
    tr = _to_lonlat(crs.to_wkt())
    xs = bounds[:, [0, 2, 0, 2]]
    ys = bounds[:, [1, 1, 3, 3]]
    lon, lat = tr.transform(xs.ravel(), ys.ravel(), errcheck=False)
    lon = np.asarray(lon).reshape(-1, 4)
    lat = np.asarray(lat).reshape(-1, 4)
    with np.errstate(invalid="ignore"):
        return np.column_stack([lon.min(axis=1), lat.min(axis=1), lon.max(axis=1), lat.max(axis=1)])


def _rows(labels, limit: int = 10) -> str:
    labels = list(labels)
    shown = ", ".join(map(str, labels[:limit]))
    return shown + (f", … (+{len(labels) - limit})" if len(labels) > limit else "")


def problem_counts(report: pd.DataFrame) -> dict[str, int]:
    """Number of features per problem code in a report from :func:`validate_geometries`."""
    codes = report["problem"][report["problem"] != ""].str.split(";").explode()
    counts = codes.value_counts()
    return {code: int(counts[code]) for code in PROBLEMS if code in counts.index}


def validate_geometries(
    gdf: gpd.GeoDataFrame,
    *,
    on_invalid: Literal["raise", "warn", "fix"] = "raise",
    name: str = "layer",
    china_bounds: bool = True,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Check every feature's geometry, then raise, warn or repair once.

    Parameters
    ----------
    gdf : GeoDataFrame
        Any CRS; it must have one when ``china_bounds`` is True.
    on_invalid : {"raise", "warn", "fix"}
        ``raise``: one :class:`InvalidGeometryError` listing every problem (count, rows,
        fix) if any feature has one. ``warn``: one ``UserWarning`` with the same text.
        ``fix``: repair ``invalid`` (``make_valid(method="structure",
        keep_collapsed=False)``), ``z_m`` (``force_2d``) and ``unclosed_ring``; other
        problems cannot be repaired here, stay in the frame and are marked
        ``repaired=False`` in the report for the caller to act on.
    name : str
        Layer or file name used in messages.
    china_bounds : bool
        Flag features whose bounds fall outside China's lon/lat box (after
        transforming the bounds to EPSG:4326).

    Returns
    -------
    (gdf, report)
        ``gdf`` is the input (``raise``/``warn``) or a repaired copy (``fix``) on the same
        index and CRS. ``report`` is a DataFrame on ``gdf.index`` with columns
        ``problem`` (";"-joined codes, "" when clean), ``reason`` (text incl.
        ``shapely.is_valid_reason``), ``geom_type``, ``repaired`` (bool),
        ``area_before``, ``area_after``, ``area_change`` (after − before, in CRS units²,
        i.e. m² in a projected CRS; NaN for null or non-finite geometry).

    Raises
    ------
    InvalidGeometryError
        With ``on_invalid="raise"`` when any feature has a problem; ``details`` holds
        one dict per affected feature.
    MissingCRSError
        When ``china_bounds`` is True and ``gdf`` has no CRS.
    """
    if on_invalid not in ON_INVALID:
        raise ValueError(f"on_invalid must be one of {ON_INVALID}; got {on_invalid!r}")
    # NaN/inf coordinates are an expected input here (reported as non_finite); numpy's
    # floating-point warnings from shapely's array functions would only repeat that.
    with np.errstate(invalid="ignore", over="ignore"):
        return _validate(gdf, on_invalid=on_invalid, name=name, china_bounds=china_bounds)


def _validate(gdf, *, on_invalid, name, china_bounds):
    if china_bounds:
        require_crs(gdf, name=name)
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    n = len(geoms)
    flags = {code: np.zeros(n, dtype=bool) for code in PROBLEMS}
    reasons = {code: np.full(n, "", dtype=object) for code in PROBLEMS}

    is_null = shapely.is_missing(geoms)
    flags["null"] = is_null
    reasons["null"][is_null] = "null: no geometry"
    is_empty = shapely.is_empty(geoms) & ~is_null
    flags["empty"] = is_empty
    reasons["empty"][is_empty] = "empty: geometry has no coordinates"
    present = ~is_null & ~is_empty

    coords, owner = shapely.get_coordinates(geoms, return_index=True)
    bad_coord = ~np.isfinite(coords).all(axis=1)
    non_finite = np.bincount(owner[bad_coord], minlength=n).astype(bool) if n else np.zeros(0, bool)
    flags["non_finite"] = non_finite
    reasons["non_finite"][non_finite] = "non_finite: NaN or infinite coordinate"

    unclosed_labels = gdf.attrs.get(UNCLOSED_RINGS_ATTR, [])
    if len(unclosed_labels):
        unclosed = gdf.index.isin(unclosed_labels)
        flags["unclosed_ring"] = unclosed
        reasons["unclosed_ring"][unclosed] = "unclosed_ring: a ring did not end on its first point (closed on read)"

    checkable = present & ~non_finite
    valid_reason = np.full(n, "Valid Geometry", dtype=object)
    valid_reason[checkable] = shapely.is_valid_reason(geoms[checkable])
    invalid = checkable & (valid_reason != "Valid Geometry")
    flags["invalid"] = invalid
    reasons["invalid"][invalid] = "invalid: " + valid_reason[invalid].astype(str)

    zm = present & (shapely.has_z(geoms) | shapely.has_m(geoms))
    flags["z_m"] = zm
    reasons["z_m"][zm] = "z_m: has Z or M values"

    if china_bounds and n:
        ll = _lonlat_bounds(shapely.bounds(geoms), gdf.crs)
        with np.errstate(invalid="ignore"):
            inside = (np.isfinite(ll).all(axis=1) & (ll[:, 0] >= CHINA_LONLAT[0]) & (ll[:, 2] <= CHINA_LONLAT[2])
                      & (ll[:, 1] >= CHINA_LONLAT[1]) & (ll[:, 3] <= CHINA_LONLAT[3]))
        outside = checkable & ~inside
        flags["outside_china"] = outside
        reasons["outside_china"][outside] = "outside_china: bounds outside lon 73–136, lat 3–54"

    type_id = shapely.get_type_id(geoms)
    family = pd.Series(type_id).map(_FAMILY).to_numpy(dtype=object)
    geom_type = pd.Series(type_id).map(_TYPE_NAMES).to_numpy(dtype=object)
    fam_counts = pd.Series(family[present]).value_counts()
    summary = ""
    if len(fam_counts) > 1:
        main = fam_counts.index[0]
        type_counts = pd.Series(geom_type[present]).value_counts()
        summary = ", ".join(f"{t} {c}" for t, c in type_counts.items())
        mixed = present & (family != main)
        flags["mixed_types"] = mixed
        reasons["mixed_types"][mixed] = (f"mixed_types: layer holds {summary}; this feature is "
                                         + geom_type[mixed].astype(str) + f", the layer is mostly {main}")

    problem = np.full(n, "", dtype=object)
    reason = np.full(n, "", dtype=object)
    for code in PROBLEMS:
        hit = flags[code]
        if hit.any():
            problem[hit] = np.where(problem[hit] == "", code, problem[hit] + ";" + code)
            reason[hit] = np.where(reason[hit] == "", reasons[code][hit], reason[hit] + "; " + reasons[code][hit])

    area_before = shapely.area(geoms)
    area_before[non_finite] = np.nan
    out_geoms = geoms
    repaired = np.zeros(n, dtype=bool)
    if on_invalid == "fix":
        out_geoms = geoms.copy()
        out_geoms[invalid] = shapely.make_valid(geoms[invalid], method="structure", keep_collapsed=False)
        out_geoms[zm] = shapely.force_2d(out_geoms[zm])
        unrepairable = np.zeros(n, dtype=bool)
        for code in PROBLEMS:
            if code not in _REPAIRABLE:
                unrepairable |= flags[code]
        repaired = (problem != "") & ~unrepairable
        collapsed = invalid & shapely.is_empty(out_geoms)
        reason[collapsed] = reason[collapsed] + "; repair collapsed it to an empty geometry"
    area_after = shapely.area(out_geoms)
    area_after[non_finite] = np.nan

    report = pd.DataFrame(
        {
            "problem": pd.array(problem, dtype="str"),
            "reason": pd.array(reason, dtype="str"),
            "geom_type": geom_type,
            "repaired": repaired,
            "area_before": area_before,
            "area_after": area_after,
            "area_change": area_after - area_before,
        },
        index=gdf.index,
    )

    if on_invalid == "fix":
        out = gdf.copy()
        out[out.geometry.name] = gpd.GeoSeries(out_geoms, index=gdf.index, crs=gdf.crs)
        out.attrs.pop(UNCLOSED_RINGS_ATTR, None)
        return out, report

    affected = problem != ""
    if affected.any():
        en, zh = _summary(report, flags, gdf.index, name, n, summary)
        if on_invalid == "raise":
            details = [{"row": label, "problem": p, "reason": r}
                       for label, p, r in zip(gdf.index[affected], problem[affected], reason[affected])]
            raise InvalidGeometryError(en, message_zh=zh, details=details)
        warnings.warn(en, UserWarning, stacklevel=3)
    return gdf, report


def _summary(report, flags, index, name, n, type_summary: str) -> tuple[str, str]:
    """One message naming the layer, the count and rows per problem, and each fix."""
    affected = int((report["problem"] != "").sum())
    parts_en, parts_zh = [], []
    for code in PROBLEMS:
        hit = flags[code]
        if not hit.any():
            continue
        rows = _rows(index[hit])
        count = int(hit.sum())
        extra = ""
        if code == "invalid":
            first = report["reason"][hit].iloc[0].split("; ")[0].removeprefix("invalid: ")
            extra = f", e.g. {first}"
        if code == "mixed_types":
            extra = f"; the layer holds {type_summary}"
        parts_en.append(f"{code}: {count} (rows {rows}{extra}) → {_FIX_EN[code]}")
        parts_zh.append(f"{_NAME_ZH[code]}:{count} 个(行 {rows})→ {_FIX_ZH[code]}")
    en = f"{name}: {affected} of {n} features have geometry problems. " + "; ".join(parts_en) + "."
    zh = f"{name}:{n} 个要素中有 {affected} 个几何有问题。" + ";".join(parts_zh) + "。"
    return en, zh
