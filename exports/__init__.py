"""Exports of the shortlist for township officials: Excel, CSV, GeoPackage, GeoJSON, KML, Shapefile, PDF.

Writers format what they are handed — a GeoDataFrame of shortlist items (the output of
``layers.shortlist.load``, or any frame with ``item_id`` and the shortlist's columns) plus
an :class:`ExportMeta` (title, source, date, township outlines for the PDF map).  Each
returns the file's bytes (for a download button) or, with ``out=``, writes the file
atomically and returns its path.

API for the UI::

    export_shortlist(items, *, fmt, township=None, out=None, meta=None) -> bytes | Path
    filename_for(fmt, *, township=None, township_name=None, date=None) -> str   # 候选清单_飞云街道_2026-11-28.xlsx
    FORMATS[fmt].mime / .suffix / .label                                        # for st.download_button
    meta_for(ws, *, maps=False, title=None) -> ExportMeta                       # names and maps from a workspace
    ExportMeta(title="低效用地再开发候选清单", source="ruian.gpkg", townships=gdf, firms={...}, parks={...})

``fmt`` is one of :data:`FORMATS`: ``xlsx``, ``csv``, ``gpkg``, ``geojson``, ``kml``, ``shp``
(a .zip), ``pdf``.  ``township`` (a township code) keeps that township's items only and
raises :class:`~geo.errors.ParameterError` naming the townships present when it has none.
The individual writers live in :mod:`exports.xlsx`, :mod:`exports.csv`, :mod:`exports.gis`
and :mod:`exports.pdf`; :func:`exports._safe.neutralise_formula` is the one place that makes
spreadsheet text safe.

Example
-------
>>> from layers import shortlist
>>> items = shortlist.load(ws)                                                  # doctest: +SKIP
>>> data = export_shortlist(items, fmt="xlsx", township="330381008",
...                         meta=ExportMeta(source=ws.path.name))                # doctest: +SKIP
"""
from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from exports._common import ExportMeta, local_now, prepare, select_township
from exports.formatting import TIME_ZONE
from geo.errors import ParameterError

__all__ = ["ExportMeta", "ExportFormat", "FORMATS", "export_shortlist", "filename_for", "meta_for"]


@dataclass(frozen=True)
class ExportFormat:
    """One export format: file suffix, MIME type, a label for the UI, and its writer."""

    key: str
    suffix: str
    mime: str
    label: str
    writer: Callable
    needs_geometry: bool = False


def _writer(module: str, name: str) -> Callable:
    def call(items, *, meta=None, out=None):
        import importlib

        return getattr(importlib.import_module(module), name)(items, meta=meta, out=out)

    call.__name__ = name
    return call


FORMATS: dict[str, ExportFormat] = {f.key: f for f in (
    ExportFormat("xlsx", ".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "Excel",
                 _writer("exports.xlsx", "write_xlsx")),
    ExportFormat("csv", ".csv", "text/csv", "CSV (UTF-8)", _writer("exports.csv", "write_csv")),
    ExportFormat("gpkg", ".gpkg", "application/geopackage+sqlite3", "GeoPackage", _writer("exports.gis", "write_gpkg"), True),
    ExportFormat("geojson", ".geojson", "application/geo+json", "GeoJSON", _writer("exports.gis", "write_geojson"), True),
    ExportFormat("kml", ".kml", "application/vnd.google-earth.kml+xml", "KML", _writer("exports.gis", "write_kml"), True),
    ExportFormat("shp", ".zip", "application/zip", "Shapefile (zip)", _writer("exports.gis", "write_shp_zip"), True),
    ExportFormat("pdf", ".pdf", "application/pdf", "PDF 报告", _writer("exports.pdf", "write_pdf"), True),
)}


def _format(fmt: str) -> ExportFormat:
    if fmt not in FORMATS:
        raise ParameterError(f"export format {fmt!r} is not one of {list(FORMATS)}",
                             message_zh=f"导出格式 {fmt!r} 不支持,可选:{list(FORMATS)}")
    return FORMATS[fmt]


def export_shortlist(items, *, fmt: str, township: str | None = None, out: str | os.PathLike | None = None,
                     meta: ExportMeta | None = None) -> bytes | Path:
    """Export the shortlist (or one township's part of it) as ``fmt``.

    Parameters
    ----------
    items : GeoDataFrame
        Shortlist rows (``layers.shortlist.load(ws)``), in the working CRS.
    fmt : str
        One of :data:`FORMATS`.
    township : str, optional
        Township code; only its items are exported.
    out : path, optional
        Write the file atomically there and return the path; otherwise return bytes.
    meta : ExportMeta, optional
        Title, source, date, township outlines (PDF map).

    Returns
    -------
    bytes or Path
    """
    spec = _format(fmt)
    if out is not None and Path(out).suffix.lower() not in (spec.suffix, *((".json",) if fmt == "geojson" else ())):
        raise ParameterError(f"output {out} does not end in {spec.suffix}, the suffix of format {fmt!r}; "
                             f"name it e.g. shortlist{spec.suffix}",
                             message_zh=f"输出文件 {out} 的扩展名应为 {spec.suffix}(格式 {fmt})。")
    prepare(items, need_geometry=spec.needs_geometry)  # check before filtering: errors name the real problem
    items = select_township(items, township)
    return spec.writer(items, meta=meta or ExportMeta(), out=out)


def filename_for(fmt: str, *, township: str | None = None, township_name: str | None = None,
                 date: _dt.date | None = None) -> str:
    """A download file name that says what it is: ``候选清单_飞云街道_2026-11-28.xlsx``.

    The file holds the shortlist (候选清单: plots, clusters and sites a planner picked), not the
    whole low-efficiency list; the date is today's in Asia/Shanghai unless given.
    """
    spec = _format(fmt)
    who = township_name or township or "全部"
    safe = "".join(ch for ch in str(who) if ch.isalnum() or ch in "-_") or "township"
    kind = "候选清单报告" if fmt == "pdf" else "候选清单"
    return f"{kind}_{safe}_{(date or local_now().date()).isoformat()}{spec.suffix}"


def _names(ws, layer: str, key: str) -> dict[str, str]:
    if not ws.has_layer(layer):
        return {}
    df = ws.read(layer, columns=[key, "name"])
    return dict(zip(df[key].astype(str), df["name"].astype(str)))


def meta_for(ws, *, maps: bool = False, title: str | None = None) -> ExportMeta:
    """The :class:`ExportMeta` of a workspace: its file name as source, firm and park names, and,
    with ``maps`` (the PDF), the township outlines and the map context of each item.

    ``ws`` is anything with the workspace's ``has_layer`` / ``read(name, bbox=, columns=)``
    and ``describe()``: this is the one place where exports read a store, and only to name things.
    """
    parks = {**_names(ws, "industrial_parks", "park_id"), **_names(ws, "micro_parks", "park_id")}
    extra = {"title": title} if title else {}
    towns = ws.read("townships") if maps and ws.has_layer("townships") else None
    context = _context_reader(ws) if maps else None
    firms, plot_firms = _firm_names(ws)
    return ExportMeta(source=ws.describe(), townships=towns, firms=firms, plot_firms=plot_firms, parks=parks,
                      context=context, timezone=getattr(ws, "timezone", TIME_ZONE), **extra)


def _firm_names(ws) -> tuple[dict[str, str], dict[str, str]]:
    """``{credit code: name}`` and ``{plot id: the names of its land holders}`` (any firm on it when none holds it)."""
    if not ws.has_layer("enterprises"):
        return {}, {}
    ents = ws.read("enterprises", columns=["credit_code", "name", "plot_id", "is_land_holder"])
    firms = dict(zip(ents["credit_code"].astype(str), ents["name"].astype(str)))
    on = ents[ents["plot_id"].notna()]
    holder = on["is_land_holder"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    held = set(on.loc[holder, "plot_id"].astype(str))
    keep = on[holder | ~on["plot_id"].astype(str).isin(held).to_numpy()]
    plot_firms = keep.groupby(keep["plot_id"].astype(str))["name"].agg(lambda s: "、".join(s.astype(str))).to_dict()
    return firms, plot_firms


def _context_reader(ws):
    """``context(bbox)``: plots, park outlines and roads within a box of the working CRS (R-tree reads)."""
    import geopandas as gpd
    import pandas as pd

    def read(name, bbox, columns):
        return ws.read(name, bbox=bbox, columns=columns) if ws.has_layer(name) else None

    def context(bbox: tuple) -> dict:
        out = {"plots": read("plots", bbox, ["plot_id"])}
        parks = [p for p in (read(n, bbox, ["park_id", "name"]) for n in ("industrial_parks", "micro_parks"))
                 if p is not None and len(p)]
        out["parks"] = gpd.GeoDataFrame(pd.concat(parks, ignore_index=True), crs=parks[0].crs) if parks else None
        infra = read("infrastructure", bbox, ["kind", "name"])
        out["roads"] = infra[infra.geom_type.isin(["LineString", "MultiLineString"]).to_numpy()] if infra is not None \
            else None
        return out

    return context
