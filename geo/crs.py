"""Coordinate reference systems: the working CRS, CRS recognition from bounds, GCJ-02.

Chinese planning data usually arrives in CGCS2000 Gauss–Krüger coordinates whose label is
often wrong: the zone prefix on the easting (``40 500 000`` vs ``500 000``) is the only
way to tell EPSG:4528 from EPSG:4549, and axes are sometimes swapped.  This module reads
the *bounds* of the data and says what they look like, so an importer can show the user a
suggestion instead of guessing silently.  A missing CRS always raises
:class:`~geo.errors.MissingCRSError`.

It also converts between WGS84 and GCJ-02 (the obfuscated datum of Gaode/Amap and
Tencent maps).  The forward formula is the widely published one (Krasovsky 1940
ellipsoid, a = 6 378 245 m, e² = 0.006 693 421 622 965 94); it has no closed-form
inverse, so :func:`gcj02_to_wgs84` solves ``forward(w) = g`` by fixed-point iteration.

Bounds are always ``(minx, miny, maxx, maxy)`` in the traditional GIS axis order
(x = easting / longitude), as geopandas' ``total_bounds`` gives them.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError as _ProjCRSError

from geo.errors import CRSError, MissingCRSError

__all__ = [
    "WORKING_CRS",
    "DISPLAY_CRS",
    "CHINA_LONLAT",
    "CRSFinding",
    "recognise_crs",
    "detect_crs_issue",
    "bounds_in_china",
    "require_crs",
    "to_working",
    "to_display",
    "swap_axes",
    "wgs84_to_gcj02",
    "gcj02_to_wgs84",
    "gdf_gcj02_to_wgs84",
    "gdf_wgs84_to_gcj02",
]

WORKING_CRS = "EPSG:4549"  # CGCS2000 / 3-degree Gauss-Kruger CM 120E (Ruian is zone 40), metres
DISPLAY_CRS = "EPSG:4326"  # what Leaflet draws
CGCS2000_GEOGRAPHIC = "EPSG:4490"

#: Rough lon/lat box of China (lon 73–136 °E, lat 3–54 °N), used for plausibility only.
CHINA_LONLAT = (73.0, 3.0, 136.0, 54.0)

# CGCS2000 Gauss–Krüger EPSG families (checked against pyproj's database in the tests):
#   3° zones 25–45 with zone prefix : EPSG:4513 … 4533 (false easting zone·10⁶ + 500 000)
#   3° CM 75E … 135E, no prefix     : EPSG:4534 … 4554 (false easting 500 000)
#   6° zones 13–23 with zone prefix : EPSG:4491 … 4501
#   6° CM 75E … 135E, no prefix     : EPSG:4502 … 4512
_GK3_PREFIXED = (4513, 25, 45)
_GK3_PLAIN = (4534, 4554)
_GK6_PREFIXED = (4491, 13, 23)
_GK6_PLAIN = (4502, 4512)
# Northings of China's latitudes (3–54 °N) in a Gauss–Krüger projection, with margin.
_NORTHING_RANGE = (300_000.0, 6_200_000.0)

# GCJ-02 constants (Krasovsky 1940 ellipsoid).
_GCJ_A = 6378245.0
_GCJ_EE = 0.00669342162296594323
# The box in which the published formula applies an offset; outside it GCJ-02 == WGS84.
_GCJ_BOX = (72.004, 0.8293, 137.8347, 55.8271)


@dataclass(frozen=True)
class CRSFinding:
    """What the bounds of a dataset say about its CRS.

    Attributes
    ----------
    code : str
        ``"ok"`` or a reason code: ``geographic``, ``gk3_prefixed``, ``gk6_prefixed``,
        ``gk_unprefixed``, ``swapped_axes``, ``metres_as_degrees``, ``degrees_as_metres``,
        ``zone_prefix``, ``wrong_projection``, ``unrecognised``, ``empty``.
    suggested : str or None
        The CRS the data most likely is in (``"EPSG:4528"``), or None.
    declared : str or None
        The CRS the data was labelled with, as given.
    swap_axes : bool
        True when x and y must be swapped (:func:`swap_axes`) before using ``suggested``.
    certain : bool
        False when the bounds fit more than one CRS (an easting without zone prefix does
        not say which central meridian): ask the user to confirm.
    message, message_zh : str
        What was found and what to do, in English and Chinese.
    """

    code: str
    suggested: str | None
    declared: str | None
    message: str
    message_zh: str
    swap_axes: bool = False
    certain: bool = True

    @property
    def ok(self) -> bool:
        """True when the declared CRS fits the data (or there is no data)."""
        return self.code in ("ok", "empty")


# ----------------------------------------------------------------------------- helpers
def _as_crs(crs) -> CRS:
    try:
        return CRS.from_user_input(crs)
    except _ProjCRSError as exc:
        raise CRSError(
            f"CRS {crs!r} is not understood ({exc}); expected an EPSG code such as 'EPSG:4549' or a WKT string.",
            message_zh=f"无法识别坐标系 {crs!r};应为 EPSG 代码(如 EPSG:4549)或 WKT。",
        ) from exc


def _label(crs) -> str | None:
    if crs is None:
        return None
    c = _as_crs(crs)
    code = c.to_epsg(min_confidence=70)
    return f"EPSG:{code}" if code else c.name


@functools.lru_cache(maxsize=64)
def _to_lonlat(crs_wkt: str) -> Transformer:
    return Transformer.from_crs(CRS.from_wkt(crs_wkt), "EPSG:4326", always_xy=True)


def _bounds_tuple(bounds) -> tuple[float, float, float, float]:
    b = tuple(float(v) for v in np.asarray(bounds, dtype="float64").ravel())
    if len(b) != 4:
        raise ValueError(f"bounds must be (minx, miny, maxx, maxy); got {len(b)} numbers")
    return b


def _in_box(b, box) -> bool:
    minx, miny, maxx, maxy = b
    return box[0] <= minx <= maxx <= box[2] and box[1] <= miny <= maxy <= box[3]


def bounds_in_china(bounds, crs) -> bool:
    """True when ``bounds`` in ``crs`` fall inside China's rough lon/lat box.

    Projected bounds are transformed corner by corner to EPSG:4326 (``always_xy``);
    non-finite results (a false easting far off the projection's zone) count as outside.
    """
    b = _bounds_tuple(bounds)
    if not all(map(math.isfinite, b)):
        return False
    c = _as_crs(crs)
    if c.is_geographic:
        return _in_box(b, CHINA_LONLAT)
    xs = np.array([b[0], b[2], b[0], b[2]])
    ys = np.array([b[1], b[1], b[3], b[3]])
    lon, lat = _to_lonlat(c.to_wkt()).transform(xs, ys, errcheck=False)
    if not (np.isfinite(lon).all() and np.isfinite(lat).all()):
        return False
    return _in_box((lon.min(), lat.min(), lon.max(), lat.max()), CHINA_LONLAT)


def _gk_candidate(b) -> tuple[str, str | None, bool] | None:
    """(code, suggested EPSG, certain) when the (x, y) bounds look like CGCS2000 Gauss–Krüger."""
    minx, miny, maxx, maxy = b
    if not (_NORTHING_RANGE[0] <= miny and maxy <= _NORTHING_RANGE[1]):
        return None
    zone_lo, zone_hi = math.floor(minx / 1e6), math.floor(maxx / 1e6)
    if zone_lo == zone_hi:
        zone = zone_lo
        base, z0, z1 = _GK3_PREFIXED
        if z0 <= zone <= z1:
            return "gk3_prefixed", f"EPSG:{base + zone - z0}", True
        base, z0, z1 = _GK6_PREFIXED
        if z0 <= zone <= z1:
            return "gk6_prefixed", f"EPSG:{base + zone - z0}", True
    if 0.0 < minx and maxx < 1_000_000.0:
        # Without the prefix the central meridian cannot be read from the easting; the
        # working CRS's zone is the likely one for this system's users, but ask.
        return "gk_unprefixed", WORKING_CRS, False
    return None


def _geographic_candidate(b) -> bool:
    return _in_box(b, CHINA_LONLAT)


def _swap(b):
    minx, miny, maxx, maxy = b
    return (miny, minx, maxy, maxx)


_MESSAGES = {
    "geographic": ("longitude/latitude in degrees inside China", "位于中国范围内的经纬度(度)"),
    "gk3_prefixed": ("CGCS2000 3° Gauss–Krüger with zone prefix on the easting", "CGCS2000 3°高斯-克吕格投影(东坐标带带号)"),
    "gk6_prefixed": ("CGCS2000 6° Gauss–Krüger with zone prefix on the easting", "CGCS2000 6°高斯-克吕格投影(东坐标带带号)"),
    "gk_unprefixed": (
        "Gauss–Krüger metres without zone prefix (easting ≈ 500 000); the central meridian cannot be read "
        "from the coordinates, 120°E assumed — confirm it",
        "不带带号的高斯-克吕格米制坐标(东坐标约 500 000);无法从坐标判断中央经线,假定为 120°E,请确认",
    ),
}


def recognise_crs(bounds, declared=None) -> CRSFinding:
    """Say which CRS ``bounds`` look like, ignoring any label.

    Parameters
    ----------
    bounds : sequence of 4 floats
        ``(minx, miny, maxx, maxy)`` of the data, x first.
    declared : CRS-like, optional
        The label on the file; only echoed in the result (and preferred when the data
        are unprefixed Gauss–Krüger and the label is an unprefixed Gauss–Krüger CRS).

    Returns
    -------
    CRSFinding
        ``code`` is ``geographic`` (suggests EPSG:4490, CGCS2000), ``gk3_prefixed``
        (EPSG:4513–4533, e.g. easting 40 5xx xxx → EPSG:4528), ``gk6_prefixed``
        (EPSG:4491–4501, e.g. 21 5xx xxx → EPSG:4499), ``gk_unprefixed`` (easting
        0–1 000 000 → EPSG:4549 unless the label names another unprefixed GK CRS;
        ``certain=False``), any of these with ``swap_axes=True`` when x and y are
        swapped, ``unrecognised`` or ``empty``.

    Examples
    --------
    >>> recognise_crs((40_560_000, 3_070_000, 40_580_000, 3_090_000)).suggested
    'EPSG:4528'
    """
    b = _bounds_tuple(bounds)
    label = _label(declared)
    if not all(map(math.isfinite, b)):
        return CRSFinding("empty", None, label, "no finite coordinates: nothing to recognise",
                          "没有有效坐标,无法识别坐标系")
    for swapped, bb in ((False, b), (True, _swap(b))):
        code, suggested, certain = None, None, True
        if _geographic_candidate(bb):
            code = "geographic"
            suggested = label if declared is not None and _as_crs(declared).is_geographic else CGCS2000_GEOGRAPHIC
        else:
            gk = _gk_candidate(bb)
            if gk is not None:
                code, suggested, certain = gk
                if code == "gk_unprefixed" and declared is not None:
                    epsg = _as_crs(declared).to_epsg(min_confidence=70) or 0
                    if _GK3_PLAIN[0] <= epsg <= _GK3_PLAIN[1] or _GK6_PLAIN[0] <= epsg <= _GK6_PLAIN[1]:
                        suggested = f"EPSG:{epsg}"
                # Cross-check: the suggestion must put the data inside China.
                if not bounds_in_china(bb, suggested):
                    code = None
        if code is None:
            continue
        en, zh = _MESSAGES[code]
        if swapped:
            return CRSFinding(
                "swapped_axes", suggested, label,
                f"x and y are swapped: once swapped, the bounds {_fmt(b)} read as {en}; swap the axes, then use {suggested}.",
                f"x、y 坐标互换了:范围 {_fmt(b)} 互换后为{zh};请先互换坐标轴,再使用 {suggested}。",
                swap_axes=True, certain=certain,
            )
        return CRSFinding(code, suggested, label, f"bounds {_fmt(b)} look like {en}: {suggested}.",
                          f"范围 {_fmt(b)} 看起来是{zh}:{suggested}。", certain=certain)
    return CRSFinding(
        "unrecognised", None, label,
        f"bounds {_fmt(b)} match neither longitude/latitude in China nor CGCS2000 Gauss–Krüger metres; "
        "find out the CRS from the data's supplier and declare it.",
        f"范围 {_fmt(b)} 既不像中国范围内的经纬度,也不像 CGCS2000 高斯-克吕格坐标;请向数据提供方确认坐标系后声明。",
    )


def _fmt(b) -> str:
    return "(" + ", ".join(f"{v:,.6g}" if abs(v) < 1000 else f"{v:,.0f}" for v in b) + ")"


def detect_crs_issue(bounds, declared_crs) -> CRSFinding:
    """Check a declared CRS against the data's bounds.

    Parameters
    ----------
    bounds : sequence of 4 floats
        ``(minx, miny, maxx, maxy)``, x first.
    declared_crs : CRS-like or None
        The CRS label of the file (``.prj``, GeoPackage SRS...).

    Returns
    -------
    CRSFinding
        ``code == "ok"`` (``.ok`` is True) when the data fall inside China under the
        declared CRS.  Otherwise one of ``swapped_axes``, ``metres_as_degrees`` (a
        geographic label on coordinates far outside ±180/±90), ``degrees_as_metres``,
        ``zone_prefix`` (EPSG:4549 declared for 40 5xx xxx eastings, or 4528 for
        5xx xxx), ``wrong_projection`` or ``unrecognised``, with ``suggested`` when the
        bounds say which CRS fits.

    Raises
    ------
    MissingCRSError
        When ``declared_crs`` is None: the CRS is never guessed silently; the message
        carries what the bounds look like.
    """
    b = _bounds_tuple(bounds)
    if declared_crs is None:
        rec = recognise_crs(b)
        hint_en = f" The bounds suggest {rec.suggested} ({rec.code}); confirm and declare it." if rec.suggested else \
            " Ask the data's supplier which CRS it uses and declare it."
        hint_zh = f"根据范围推测为 {rec.suggested}({rec.code}),请确认后声明。" if rec.suggested else "请向数据提供方确认坐标系后声明。"
        raise MissingCRSError(
            f"The data has no CRS (no .prj or SRS); bounds {_fmt(b)}.{hint_en}",
            message_zh=f"数据没有坐标系(缺少 .prj 或 SRS);范围 {_fmt(b)}。{hint_zh}",
            details=[rec],
        )
    declared = _as_crs(declared_crs)
    label = _label(declared_crs)
    if not all(map(math.isfinite, b)):
        return CRSFinding("empty", None, label, "no finite coordinates: nothing to check", "没有有效坐标,无需检查")
    if bounds_in_china(b, declared):
        return CRSFinding("ok", label, label, f"bounds {_fmt(b)} fit {label}.", f"范围 {_fmt(b)} 与 {label} 相符。")
    rec = recognise_crs(b, declared_crs)
    if rec.code == "swapped_axes":
        return rec
    if rec.code == "unrecognised":
        return CRSFinding(
            "unrecognised", None, label,
            f"Under the declared {label} the bounds {_fmt(b)} fall outside China, and they match no CGCS2000 "
            "CRS either; check the file's CRS with its supplier.",
            f"按声明的 {label},范围 {_fmt(b)} 在中国之外,也不符合任何 CGCS2000 坐标系;请向数据提供方核实坐标系。",
        )
    rec_geographic = rec.code == "geographic"
    if declared.is_geographic and not rec_geographic:
        code, en, zh = ("metres_as_degrees",
                        f"{label} is geographic (degrees) but the coordinates {_fmt(b)} are metres",
                        f"{label} 是经纬度坐标系,但坐标 {_fmt(b)} 是米制")
    elif not declared.is_geographic and rec_geographic:
        code, en, zh = ("degrees_as_metres",
                        f"{label} is projected (metres) but the coordinates {_fmt(b)} are degrees",
                        f"{label} 是投影坐标系(米),但坐标 {_fmt(b)} 是经纬度")
    else:
        same_cm = _same_central_meridian(declared, _as_crs(rec.suggested))
        code = "zone_prefix" if same_cm else "wrong_projection"
        en = f"the coordinates {_fmt(b)} do not fit the declared {label}"
        zh = f"坐标 {_fmt(b)} 与声明的 {label} 不符"
        if same_cm:
            en += " (the zone prefix on the easting differs)"
            zh += "(东坐标是否带带号不一致)"
    return CRSFinding(code, rec.suggested, label, f"{en}; they look like {rec.suggested}: declare that instead.",
                      f"{zh};看起来是 {rec.suggested},请改为声明该坐标系。", certain=rec.certain)


def _same_central_meridian(a: CRS, b: CRS) -> bool:
    def cm(c: CRS):
        op = c.coordinate_operation
        if op is None:
            return None
        for p in op.params:
            if "longitude of natural origin" in p.name.lower() or "central meridian" in p.name.lower():
                return round(float(p.value), 6)
        return None

    ca, cb = cm(a), cm(b)
    return ca is not None and ca == cb


# ----------------------------------------------------------------------------- frames
def require_crs(gdf: gpd.GeoDataFrame | gpd.GeoSeries, *, name: str = "data") -> CRS:
    """Return ``gdf.crs``, or raise :class:`MissingCRSError` with a suggestion from the bounds."""
    if gdf.crs is not None:
        return gdf.crs
    try:
        detect_crs_issue(gdf.total_bounds, None)
    except MissingCRSError as exc:
        raise MissingCRSError(f"{name}: {exc.message}", message_zh=f"{name}:{exc.message_zh}",
                              details=exc.details) from None
    raise AssertionError("unreachable")  # pragma: no cover


def to_working(gdf: gpd.GeoDataFrame, *, crs=WORKING_CRS, name: str = "data") -> gpd.GeoDataFrame:
    """A copy of ``gdf`` in the working CRS (projected, metres; default EPSG:4549).

    The source CRS must be on the frame (CRS lives on the object); a naive frame raises
    :class:`MissingCRSError` naming what its bounds look like.  The target must be a
    projected CRS in metres, since areas and buffers are computed there.
    """
    require_crs(gdf, name=name)
    target = _as_crs(crs)
    if not target.is_projected or target.axis_info[0].unit_name not in ("metre", "meter"):
        raise CRSError(
            f"working CRS {_label(crs)} is not projected in metres; expected e.g. {WORKING_CRS}.",
            message_zh=f"工作坐标系 {_label(crs)} 不是米制投影坐标系;应使用如 {WORKING_CRS}。",
        )
    if gdf.crs == target:
        return gdf.copy()
    return gdf.to_crs(target)


def to_display(gdf: gpd.GeoDataFrame, *, name: str = "data") -> gpd.GeoDataFrame:
    """An EPSG:4326 copy of ``gdf`` for the web map (analysis never runs on it)."""
    require_crs(gdf, name=name)
    if gdf.crs == CRS.from_user_input(DISPLAY_CRS):
        return gdf.copy()
    return gdf.to_crs(DISPLAY_CRS)


def swap_axes(gdf: gpd.GeoDataFrame | gpd.GeoSeries):
    """A copy with x and y swapped in every coordinate (Z kept); CRS label unchanged.

    One vectorised :func:`shapely.transform` call over all coordinates (two when the
    frame mixes 2D and 3D geometries).
    """

    def _swap_xy(coords: np.ndarray) -> np.ndarray:
        out = coords.copy()
        out[:, [0, 1]] = coords[:, [1, 0]]
        return out

    out = gdf.copy()
    geoms = shapely.transform(np.asarray(out.geometry.values), _swap_xy, include_z=None)
    if isinstance(out, gpd.GeoDataFrame):
        out[out.geometry.name] = gpd.GeoSeries(geoms, index=out.index, crs=out.crs)
        return out
    return gpd.GeoSeries(geoms, index=out.index, crs=out.crs, name=out.name)


# ----------------------------------------------------------------------------- GCJ-02
def _gcj_delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 minus WGS84 (degrees) at WGS84 ``lon, lat``; zero outside the China box.

    The published formula: with x = lon − 105, y = lat − 35,

        dlat' = −100 + 2x + 3y + 0.2y² + 0.1xy + 0.2√|x|
                + ⅔(20 sin 6πx + 20 sin 2πx) + ⅔(20 sin πy + 40 sin(πy/3))
                + ⅔(160 sin(πy/12) + 320 sin(πy/30))
        dlon' = 300 + x + 2y + 0.1x² + 0.1xy + 0.1√|x|
                + ⅔(20 sin 6πx + 20 sin 2πx) + ⅔(20 sin πx + 40 sin(πx/3))
                + ⅔(150 sin(πx/12) + 300 sin(πx/30))

    are metres on the Krasovsky ellipsoid, turned into degrees with the meridian radius
    M = a(1−e²)/W³ and the prime-vertical radius N = a/W, W = √(1 − e² sin²φ):
    dlat = dlat'·180/(π M), dlon = dlon'·180/(π N cos φ).
    """
    x = lon - 105.0
    y = lat - 35.0
    pi = np.pi
    common = (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x + common
            + (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
            + (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y / 30.0 * pi)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x + common
            + (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
            + (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0)
    phi = lat / 180.0 * pi
    sin_phi = np.sin(phi)
    w2 = 1.0 - _GCJ_EE * sin_phi * sin_phi
    w = np.sqrt(w2)
    dlat = dlat * 180.0 / ((_GCJ_A * (1.0 - _GCJ_EE)) / (w2 * w) * pi)
    dlon = dlon * 180.0 / (_GCJ_A / w * np.cos(phi) * pi)
    inside = (lon >= _GCJ_BOX[0]) & (lon <= _GCJ_BOX[2]) & (lat >= _GCJ_BOX[1]) & (lat <= _GCJ_BOX[3])
    return np.where(inside, dlon, 0.0), np.where(inside, dlat, 0.0)


def _out(a: np.ndarray):
    return a[()] if a.ndim == 0 else a


def wgs84_to_gcj02(lon, lat):
    """WGS84 → GCJ-02 longitude/latitude in degrees, vectorised; identity outside China.

    Parameters
    ----------
    lon, lat : float or array_like
        WGS84 degrees (broadcast together).

    Returns
    -------
    (lon, lat) : tuple of float or ndarray
        GCJ-02 degrees. Near Ruian the shift is about 0.0047° east and −0.0025° north
        (≈ 460 m and ≈ 280 m).
    """
    lon = np.asarray(lon, dtype="float64")
    lat = np.asarray(lat, dtype="float64")
    dlon, dlat = _gcj_delta(lon, lat)
    return _out(lon + dlon), _out(lat + dlat)


def gcj02_to_wgs84(lon, lat, *, iterations: int = 3):
    """GCJ-02 → WGS84 by fixed-point iteration on the forward formula, vectorised.

    Solves ``wgs84_to_gcj02(w) = g`` with ``w₀ = g``, ``wₖ₊₁ = wₖ − (forward(wₖ) − g)``.
    The offset changes slowly with position, so each step shrinks the error a few
    hundred-fold: over Ruian one step leaves ≈ 2 m, two ≈ 1 cm, three ≈ 0.03 mm
    (tests/test_geo_crs.py and bench/bench_geo.py measure the round trip).

    Parameters
    ----------
    lon, lat : float or array_like
        GCJ-02 degrees.
    iterations : int
        Fixed-point steps (default 3).
    """
    g_lon = np.asarray(lon, dtype="float64")
    g_lat = np.asarray(lat, dtype="float64")
    w_lon, w_lat = g_lon.copy(), g_lat.copy()
    for _ in range(iterations):
        dlon, dlat = _gcj_delta(w_lon, w_lat)
        w_lon = g_lon - dlon
        w_lat = g_lat - dlat
    return _out(w_lon), _out(w_lat)


def _gdf_lonlat_transform(gdf, func, target_label: str, name: str):
    crs = gdf.crs
    if crs is not None and not CRS.from_user_input(crs).is_geographic:
        raise CRSError(
            f"{name}: GCJ-02 conversion needs longitude/latitude but the data is in {_label(crs)}; "
            "GCJ-02 exists only as lon/lat (Gaode, Tencent): declare the file as lon/lat.",
            message_zh=f"{name}:GCJ-02 转换需要经纬度,但数据坐标系为 {_label(crs)};GCJ-02 只有经纬度形式,请按经纬度声明。",
        )
    b = gdf.total_bounds
    if np.isfinite(b).all() and not _in_box(b, (-180.0, -90.0, 180.0, 90.0)):
        raise CRSError(
            f"{name}: coordinates {_fmt(b)} are not longitude/latitude degrees; expected lon −180…180, lat −90…90.",
            message_zh=f"{name}:坐标 {_fmt(b)} 不是经纬度;经度应在 −180…180,纬度在 −90…90。",
        )

    def _apply(coords: np.ndarray) -> np.ndarray:
        out = coords.copy()
        out[:, 0], out[:, 1] = func(coords[:, 0], coords[:, 1])
        return out

    out = gdf.copy()
    geoms = shapely.transform(np.asarray(out.geometry.values), _apply, include_z=None)
    series = gpd.GeoSeries(geoms, index=out.index, crs=DISPLAY_CRS)
    if isinstance(out, gpd.GeoDataFrame):
        out = out.set_geometry(series.rename(out.geometry.name), crs=DISPLAY_CRS)
        return out
    return series.rename(gdf.name)


def gdf_gcj02_to_wgs84(gdf, *, name: str = "data"):
    """Convert every coordinate of a GCJ-02 lon/lat frame to WGS84 (EPSG:4326).

    GCJ-02 has no EPSG code, so the input's CRS label is whatever the file said
    (usually EPSG:4326 or none); it must be geographic or absent. One
    :func:`shapely.transform` call over all coordinates. Returns a copy labelled EPSG:4326.
    """
    return _gdf_lonlat_transform(gdf, gcj02_to_wgs84, "WGS84", name)


def gdf_wgs84_to_gcj02(gdf, *, name: str = "data"):
    """Shift a WGS84 lon/lat frame into GCJ-02 (for drawing on Gaode tiles only).

    The result is still labelled EPSG:4326 because GCJ-02 has no EPSG code: keep it a
    display-only copy and never analyse or store it.
    """
    return _gdf_lonlat_transform(gdf, wgs84_to_gcj02, "GCJ-02", name)
