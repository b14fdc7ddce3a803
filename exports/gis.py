"""GIS files of a shortlist through GDAL (pyogrio): GeoPackage, GeoJSON, KML, zipped Shapefile.

Every writer takes the shortlist rows (a GeoDataFrame in the working CRS) and returns the
file's bytes, or writes ``out`` atomically (temp file beside it, then rename) and returns
the path.  Field names are the English ones of ``layers.shortlist`` (stable for GIS
users and scripts) plus ``area_mu``; values are untouched text and numbers.

=========  ===============================================================================
gpkg       layer ``shortlist`` in the working CRS (EPSG:4549 for Ruian).
geojson    EPSG:4326, lon/lat order, RFC 7946 (GDAL ``RFC7946=YES``: 7 decimals, ring
           winding as the RFC asks).
kml        EPSG:4326 (KML is always WGS84); placemark name = rank and item id,
           description = status, township, 亩 and reasons; every field as ExtendedData.
shp        a .zip holding ``shortlist.shp/.shx/.dbf/.prj/.cpg`` in the working CRS,
           attributes UTF-8 (the .cpg says so).  DBF limits: field names ≤ 10 characters
           (mapping :data:`SHP_FIELD_NAMES`), text ≤ 254 bytes (longer reasons/notes are
           cut at a character boundary and end in "…").  A Shapefile holds one geometry
           type: when sites are points among polygons, the points go to
           ``shortlist_points.*`` in the same zip.
=========  ===============================================================================

    write_gpkg(items, *, out=None) -> bytes | Path
    write_geojson(items, *, out=None) -> bytes | Path
    write_kml(items, *, out=None) -> bytes | Path
    write_shp_zip(items, *, out=None) -> bytes | Path
"""
from __future__ import annotations

import io
import os
import tempfile
import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from exports._common import KIND_LABELS, ExportMeta, deliver, prepare, table_columns
from geo.errors import ParameterError

__all__ = ["write_gpkg", "write_geojson", "write_kml", "write_shp_zip", "SHP_FIELD_NAMES", "LAYER_NAME"]

LAYER_NAME = "shortlist"

#: Shapefile (DBF) field name ← shortlist field name; DBF names are at most 10 characters.
SHP_FIELD_NAMES: dict[str, str] = {
    "entry_id": "entry_id", "item_kind": "item_kind", "item_id": "item_id", "rank": "rank", "status": "status",
    "township_code": "twp_code", "township_name": "twp_name", "area_m2": "area_m2", "area_mu": "area_mu",
    "reasons": "reasons", "score": "score", "grade": "grade", "land_use": "land_use", "land_holder": "holder",
    "industry_code": "industry", "park_id": "park_id", "notes": "notes", "source": "source",
    "added_by": "added_by", "added_at": "added_at", "updated_by": "upd_by", "updated_at": "upd_at",
    "item_missing": "obj_gone",
}
_DBF_TEXT_BYTES = 254


def _frame(items) -> gpd.GeoDataFrame:
    items = prepare(items, need_geometry=True)
    cols = table_columns(items)
    gdf = gpd.GeoDataFrame(items[cols], geometry=items.geometry.values, crs=items.crs)
    # Pandas extension dtypes with NA → plain columns GDAL maps to field types without guessing.
    for c in cols:
        s = gdf[c]
        if isinstance(s.dtype, pd.StringDtype) or s.dtype == object:
            gdf[c] = s.astype(object).where(s.notna(), None)
        elif str(s.dtype) == "Int64":
            gdf[c] = s.astype("float64") if s.isna().any() else s.astype("int64")
    return gdf


def _write(gdf: gpd.GeoDataFrame, suffix: str, driver: str, out, **kw) -> bytes | Path:
    with tempfile.TemporaryDirectory(prefix="export_") as tmp:
        path = Path(tmp) / f"{LAYER_NAME}{suffix}"
        pyogrio.write_dataframe(gdf, path, layer=LAYER_NAME, driver=driver, **kw)
        return deliver(path.read_bytes(), out)


def write_gpkg(items, *, meta: ExportMeta | None = None, out: str | os.PathLike | None = None) -> bytes | Path:
    """GeoPackage with layer ``shortlist`` in the items' CRS."""
    # GeoPackage 1.2: readable by the older GDAL/QGIS found on government desktops.
    return _write(_frame(items), ".gpkg", "GPKG", out, promote_to_multi=None, dataset_options={"VERSION": "1.2"})


def write_geojson(items, *, meta: ExportMeta | None = None, out: str | os.PathLike | None = None) -> bytes | Path:
    """GeoJSON in EPSG:4326 following RFC 7946."""
    gdf = _frame(items).to_crs("EPSG:4326")
    return _write(gdf, ".geojson", "GeoJSON", out, layer_options={"RFC7946": "YES", "WRITE_NAME": "NO"})


def write_kml(items, *, meta: ExportMeta | None = None, out: str | os.PathLike | None = None) -> bytes | Path:
    """KML (EPSG:4326) with a readable name and description per placemark."""
    gdf = _frame(items).to_crs("EPSG:4326")
    kind = gdf["item_kind"].map(lambda k: KIND_LABELS.get(k, k) if isinstance(k, str) else "")
    rank = gdf["rank"].map(lambda r: "" if pd.isna(r) else f"{int(r)}. ")
    gdf.insert(0, "Name", (rank + kind.fillna("") + " " + gdf["item_id"].astype(str)).str.strip())
    township = gdf.get("township_name", pd.Series("", index=gdf.index)).fillna("").astype(str)
    desc = ("状态:" + gdf["status"].fillna("").astype(str) + ";镇街:" + township
            + ";面积:" + gdf["area_mu"].map(lambda v: "" if pd.isna(v) else f"{v:.2f} 亩"))
    if "reasons" in gdf.columns:
        desc = desc + gdf["reasons"].map(lambda r: f";理由:{r}" if isinstance(r, str) and r else "")
    gdf.insert(1, "Description", desc)
    return _write(gdf, ".kml", "KML", out, dataset_options={"NameField": "Name", "DescriptionField": "Description"})


def _cut_bytes(text, limit: int = _DBF_TEXT_BYTES):
    if not isinstance(text, str):
        return text
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    cut = raw[:limit - 3].decode("utf-8", errors="ignore")  # "…" is 3 bytes in UTF-8
    return cut + "…"


def write_shp_zip(items, *, meta: ExportMeta | None = None, out: str | os.PathLike | None = None) -> bytes | Path:
    """Zipped Shapefile(s) with .cpg (UTF-8) and .prj; field names per :data:`SHP_FIELD_NAMES`."""
    gdf = _frame(items)
    rename = {c: SHP_FIELD_NAMES.get(c, c[:10]) for c in gdf.columns if c != gdf.geometry.name}
    if len(set(rename.values())) != len(rename):
        clash = sorted({v for v in rename.values() if list(rename.values()).count(v) > 1})
        raise ParameterError(f"columns {clash} would share a Shapefile field name (10 characters at most); "
                             "rename them or export GeoPackage instead",
                             message_zh=f"字段 {clash} 截断为 10 个字符后重名;请改名或导出 GeoPackage。")
    gdf = gdf.rename(columns=rename)
    for c in gdf.columns:
        if gdf[c].dtype == object:
            gdf[c] = gdf[c].map(_cut_bytes)
    is_point = gdf.geom_type.isin(["Point", "MultiPoint"]).to_numpy()
    parts = [(LAYER_NAME, gdf[~is_point])] if (~is_point).any() or len(gdf) == 0 else []
    if is_point.any():
        parts.append((LAYER_NAME if is_point.all() else f"{LAYER_NAME}_points", gdf[is_point]))
    buf = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="export_") as tmp, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, part in parts:
            path = Path(tmp) / f"{name}.shp"
            pyogrio.write_dataframe(part, path, driver="ESRI Shapefile", layer_options={"ENCODING": "UTF-8"})
            for f in sorted(Path(tmp).glob(f"{name}.*")):
                zf.write(f, arcname=f.name)
    return deliver(buf.getvalue(), out)
