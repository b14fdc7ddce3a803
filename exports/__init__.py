"""Exports of the shortlist for township officials: Excel, CSV, GeoPackage, GeoJSON, KML, Shapefile, PDF.

Writers format what they are handed — a GeoDataFrame of shortlist items (the output of
``layers.shortlist.load``, or any frame with ``item_id`` and the shortlist's columns) plus
an :class:`ExportMeta` (title, source, date, township outlines for the PDF map).  Each
returns the file's bytes (for a download button) or, with ``out=``, writes the file
atomically and returns its path.

API for the UI::

    export_shortlist(items, *, fmt, township=None, out=None, meta=None) -> bytes | Path
    filename_for(fmt, *, township=None, township_name=None, date=None) -> str   # download name
    FORMATS[fmt].mime / .suffix / .label                                        # for st.download_button
    ExportMeta(title="低效用地再开发候选清单", source="ruian.gpkg", date=date.today(), townships=gdf)

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
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from exports._common import ExportMeta, prepare, select_township
from geo.errors import ParameterError

__all__ = ["ExportMeta", "ExportFormat", "FORMATS", "export_shortlist", "filename_for"]


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
    """A download file name such as ``低效用地清单_飞云街道_2026-11-27.xlsx``."""
    spec = _format(fmt)
    who = township_name or township or "全部"
    safe = "".join(ch for ch in str(who) if ch.isalnum() or ch in "-_") or "township"
    return f"低效用地清单_{safe}_{(date or _dt.date.today()).isoformat()}{spec.suffix}"
