"""Stage 2, the CRS: what the coordinates mean, checked against where they fall, then the working CRS.

The importer never guesses a CRS: a file without one is refused with the CRSs that fit its
coordinates; a declared or labelled CRS that does not fit (swapped axes, a missing zone
prefix, metres labelled as degrees) is refused with the fix.  GCJ-02 (Gaode/Tencent) is
converted when declared.
"""
from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geo.crs import detect_crs_issue, gdf_gcj02_to_wgs84, recognise_crs, swap_axes as _swap_axes, to_working
from geo.errors import CRSError, MissingCRSError

__all__ = ["resolve_crs", "gaode_hint"]


def _typical_box(gdf: gpd.GeoDataFrame) -> np.ndarray:
    """Bounds of the median feature: a few features with huge or NaN coordinates cannot hide the CRS."""
    with np.errstate(invalid="ignore"):
        b = shapely.bounds(np.asarray(gdf.geometry.values, dtype=object))
    ok = np.isfinite(b).all(axis=1) if len(b) else np.zeros(0, bool)
    if not ok.any():
        return np.full(4, np.nan)
    return np.median(b[ok], axis=0)
_CANDIDATES_BY_CODE = {
    "geographic": ("EPSG:4490 (CGCS2000 lon/lat)", "EPSG:4326 (WGS84 lon/lat, GPS)",
                   "GCJ-02 (digitised on Gaode/Tencent maps: declare GCJ-02)"),
    "gk_unprefixed": ("EPSG:4549 (CGCS2000 3° GK, CM 120°E — Ruian)", "EPSG:4548 (CM 117°E)", "EPSG:4550 (CM 123°E)",
                      "EPSG:4499/4510 family for 6° zones"),
}


def _crs_candidates(box) -> tuple[list[str], object]:
    rec = recognise_crs(box)
    cands = list(_CANDIDATES_BY_CODE.get(rec.code, ()))
    if rec.code == "swapped_axes":
        inner = recognise_crs((box[1], box[0], box[3], box[2]))
        cands = [f"{c} with swapped axes" for c in (_CANDIDATES_BY_CODE.get(inner.code) or (rec.suggested,))]
    elif rec.suggested and not cands:
        cands = [rec.suggested]
    return cands, rec


# Words by which a file says its coordinates were taken from a Chinese web map (GCJ-02, DOMAIN.md §5).
_GCJ_WORDS = re.compile(r"gaode|高德|amap|autonavi|gcj|火星坐标|腾讯|tencent|qq地图|soso", re.IGNORECASE)
# Columns that say where the data or its coordinates come from.
_SOURCE_COLUMNS = re.compile(r"^(source|src|provider|来源|数据来源|坐标来源|底图|地图|采集方式|坐标系|坐标系统|crs|srs|datum)$",
                             re.IGNORECASE)


def gaode_hint(attrs: pd.DataFrame, crs) -> tuple[str, str] | None:
    """(en, zh) when a source column (``source: gaode``, ``来源: 高德地图``…) names a GCJ-02 map and the CRS is not projected."""
    try:
        if crs is not None and CRS.from_user_input(crs).is_projected:
            return None  # GCJ-02 is a lon/lat shift: projected data was not taken from those maps as such
    except Exception:  # an unparseable CRS is reported by resolve_crs
        return None
    for column in attrs.columns:
        label = str(column).strip()
        if not (_SOURCE_COLUMNS.match(label) or _GCJ_WORDS.search(label)):
            continue
        text = attrs[column].dropna().astype(str).head(5000)
        hits = text[text.str.contains(_GCJ_WORDS)]
        if _GCJ_WORDS.search(label) or len(hits):
            said = f"{label}: {hits.iloc[0]}" if len(hits) else label
            return (f"the file says {said!r}: coordinates taken from Gaode/Amap/Tencent maps are GCJ-02, 100–700 m off; "
                    "if so, import with --gcj02 (on the page: the GCJ-02 box)",
                    f"文件标注 {said!r}:取自高德/腾讯地图的坐标为 GCJ-02,偏移 100–700 米;如是,请勾选 GCJ-02(命令行 --gcj02)")
    return None


def resolve_crs(gdf: gpd.GeoDataFrame, *, name: str, declared, gcj02: bool, swap: bool | None, target,
                hint: tuple[str, str] | None = None) -> tuple[gpd.GeoDataFrame, dict]:
    """``gdf`` in the working CRS, with the steps taken; refuses a missing or misfitting CRS with the fix.

    ``hint`` (a file saying it comes from Gaode) leads the missing-CRS message.
    """
    info: dict = {"file": gdf.crs.to_string() if gdf.crs is not None else None,
                  "declared": str(declared) if declared else None, "gcj02": bool(gcj02), "steps": [], "target": str(target)}
    box = _typical_box(gdf)
    source = declared if declared else gdf.crs
    if gcj02 and source is None:
        source = "EPSG:4326"  # declaring GCJ-02 declares lon/lat degrees
        info["steps"].append("GCJ-02 declared: coordinates read as lon/lat degrees")
    if source is None:
        cands, rec = _crs_candidates(box)
        listing = "; ".join(cands) if cands else "no CGCS2000 CRS fits — ask the data's supplier"
        lead_en, lead_zh = (f"{hint[0]}. ", f"{hint[1]}。") if hint else ("", "")
        raise MissingCRSError(
            f"{name}: {lead_en}the data has no CRS (no .prj, no SRS, or a table with coordinates) and the importer never guesses. "
            f"The coordinates (typical feature {rec.message.split(' look like ')[0].removeprefix('bounds ')}) "
            f"fit: {listing}. Declare the CRS (CLI --crs EPSG:…, on the import page: the CRS box) and import again.",
            message_zh=f"{name}:{lead_zh}数据没有坐标系(缺少 .prj 或 SRS,或为带坐标的表格),系统不会自行猜测。{rec.message_zh}"
                       f"可能的坐标系:{'; '.join(cands) if cands else '无匹配的 CGCS2000 坐标系,请向数据提供方确认'}。"
                       "请声明坐标系(命令行 --crs EPSG:…,或在导入页面填写)后重新导入。",
            details=[rec],
        )
    try:
        source_crs = CRS.from_user_input(source)
    except Exception as exc:  # pyproj raises its own CRSError for any unparseable input
        raise CRSError(f"{name}: CRS {source!r} is not understood ({exc}); expected e.g. EPSG:4528 or EPSG:4549.",
                       message_zh=f"{name}:无法识别坐标系 {source!r};应为如 EPSG:4528、EPSG:4549。") from exc
    gdf = gdf.set_crs(source_crs, allow_override=True)
    if swap:
        gdf = _swap_axes(gdf)
        box = box[[1, 0, 3, 2]]
        info["steps"].append("x and y swapped (declared)")
    if np.isfinite(box).all():
        finding = detect_crs_issue(box, source_crs)
        info["finding"] = finding.code
        if not finding.ok:
            fix_en, fix_zh = [], []
            if finding.swap_axes:
                fix_en.append("swap the axes (swap_axes=True, CLI --swap-axes)")
                fix_zh.append("互换坐标轴(命令行 --swap-axes)")
            if finding.suggested:
                fix_en.append(f"declare crs={finding.suggested!r} (CLI --crs {finding.suggested})")
                fix_zh.append(f"声明坐标系 {finding.suggested}(命令行 --crs {finding.suggested})")
            raise CRSError(
                f"{name}: {finding.message} To import: " + (" and ".join(fix_en) or "find out the CRS from the supplier")
                + ". Nothing was changed.",
                message_zh=f"{name}:{finding.message_zh}导入方法:" + ("并".join(fix_zh) or "向数据提供方确认坐标系")
                           + "。未做任何修改。",
                details=[finding],
            )
    if gcj02:
        gdf = gdf_gcj02_to_wgs84(gdf, name=name)
        info["steps"].append("GCJ-02 → WGS84 (EPSG:4326)")
    out = to_working(gdf, crs=target, name=name)
    if out.crs != gdf.crs:
        info["steps"].append(f"{gdf.crs.to_string()} → {CRS.from_user_input(target).to_string()}")
    return out, info
