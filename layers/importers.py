"""Bring your own data: read, detect, map, validate — then commit atomically with provenance.

Two steps, so a planner always sees what will happen before anything is written:

1. :func:`plan_import` reads a file (Shapefile — zipped or as loose parts — GeoPackage,
   GeoJSON, KML, CSV with a WKT or lon/lat columns, Excel, GeoTIFF), detects its encoding
   (UTF-8 vs GB18030/GBK) and CRS (EPSG:4528 vs 4549 by the easting, swapped axes, metres
   labelled as degrees; GCJ-02 converted when declared), maps its columns onto the layer spec
   (Chinese aliases, units in headers: 亩 → m², 元 → 万元, 千瓦时 → 万kWh...), validates every
   row (geometry report with repairs and area change, credit-code check characters,
   duplicates, value ranges, rows that join to nothing) and returns an :class:`ImportPlan`:
   the preview and the full report.  Nothing is written.
2. :func:`commit_import` writes the plan into a workspace as one atomic step (the layer is
   replaced, or a department table is joined onto it, completely or not at all), after the
   caller chose what to do with problem rows: ``"cancel"``, ``"skip"`` or ``"fix"``.  The
   layer's metadata records the source, its SHA-256, the time, row counts and the mapping;
   the mapping can also be saved by name (table ``import_mappings``) for next year's files.

Untrusted input: see :mod:`layers._import_read` (size limits, zip checks without
extraction, GDAL drivers per format with VRT/network drivers off).  Problems that concern
the whole file (unreadable, unsafe, no CRS, ambiguous columns) raise a
:class:`~geo.errors.PlannerError` subclass at once; problems of single rows are collected
in ``plan.problems``.

Example
-------
>>> plan = plan_import("税收2025.xlsx", layer="enterprises", workspace=ws)     # doctest: +SKIP
>>> print(plan.summary("zh"))                                                   # doctest: +SKIP
>>> commit_import(ws, plan, on_problems="skip", save_mapping_as="tax")          # doctest: +SKIP
"""
from __future__ import annotations

import datetime as _dt
import io
import json
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geo.crs import (WORKING_CRS, detect_crs_issue, gdf_gcj02_to_wgs84, recognise_crs, swap_axes as _swap_axes,
                     to_working)
from geo.errors import CRSError, ImportDataError, MissingCRSError, SchemaError
from geo.io import UNCLOSED_RINGS_ATTR
from geo.validate import validate_geometries
from layers import _import_map as _map
from layers._import_read import (EncodingInfo, ImportLimits, RawData, Source, default_limits, read_source,
                                 resolve_source)
from layers.codes import invalid_code_lists
from layers.schema import SPECS, LayerSpec, get_spec
from layers.workspace import Workspace, _check_name

__all__ = [
    "ImportPlan",
    "ImportResult",
    "ImportLimits",
    "ON_PROBLEMS",
    "MODES",
    "DEPARTMENT_TABLES",
    "MAPPINGS_TABLE",
    "plan_import",
    "commit_import",
    "save_mapping",
    "load_mapping",
    "list_mappings",
    "template_xlsx",
    "default_limits",
]

ON_PROBLEMS = ("cancel", "skip", "fix")
MODES = ("auto", "replace", "join")
MAPPINGS_TABLE = "import_mappings"
_GEOMETRY_FAMILIES = {"MultiPolygon": {"Polygon", "MultiPolygon"}, "Point": {"Point"},
                      "Geometry": {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"}}
_WKT_NAMES = {"wkt", "geometry", "geom", "the_geom", "shape", "几何", "空间信息", "坐标串"}
_X_NAMES = {"lon", "lng", "long", "longitude", "经度", "x", "x坐标", "东坐标", "横坐标"}
_Y_NAMES = {"lat", "latitude", "纬度", "y", "y坐标", "北坐标", "纵坐标"}
_NONNEGATIVE = ("area_m2", "land_area_m2", "floor_area_m2", "planned_area_m2", "developed_area_m2", "tax_10k",
                "revenue_10k", "employees", "energy_tce", "electricity_10k_kwh", "emissions_t", "rd_10k")
_YEARS = ("build_year", "year")
_MAX_FAR = 20.0

#: Department tables planners receive every year: template name → (layer, title, fields, display units).
DEPARTMENT_TABLES: dict[str, tuple[str, str, str, tuple[str, ...], dict[str, str]]] = {
    "land": ("plots", "自然资源和规划局 · 地块数据", "Natural resources bureau · plots",
             ("plot_id", "land_holder", "land_use", "area_m2", "floor_area_m2", "far", "building_coverage", "build_year",
              "status", "halted_since", "contract_completion_date", "completion_date", "contract_investment_10k",
              "investment_10k", "contract_output_10k", "output_10k"),
             {"area_m2": "亩", "floor_area_m2": "平方米", "contract_investment_10k": "万元", "investment_10k": "万元",
              "contract_output_10k": "万元", "output_10k": "万元"}),
    "tax": ("enterprises", "税务局 · 企业税收", "Tax bureau · enterprise tax",
            ("credit_code", "name", "tax_10k", "year"), {"tax_10k": "万元"}),
    "power": ("enterprises", "供电公司 · 企业用电", "Power company · electricity",
              ("credit_code", "name", "electricity_10k_kwh", "year"), {"electricity_10k_kwh": "万千瓦时"}),
    "environment": ("enterprises", "生态环境局 · 排放与事故", "Environment bureau · emissions and incidents",
                    ("credit_code", "name", "emissions_t", "major_incident", "year"), {"emissions_t": "吨"}),
    "statistics": ("enterprises", "统计局 · 企业经济指标", "Statistics bureau · enterprise indicators",
                   ("credit_code", "name", "industry_code", "above_scale", "value_added_10k", "revenue_10k", "employees",
                    "energy_tce", "rd_10k", "producing", "year"),
                   {"value_added_10k": "万元", "revenue_10k": "万元", "employees": "人", "energy_tce": "吨标准煤",
                    "rd_10k": "万元"}),
}


@dataclass
class ImportResult:
    """What :func:`commit_import` wrote."""

    layer: str
    mode: str
    rows_written: int
    rows_skipped: int
    rows_repaired: int
    skipped_rows: list[int]
    repaired_rows: list[int]
    mapping_saved: str | None = None


@dataclass
class ImportPlan:
    """The preview of an import: everything :func:`commit_import` will do, and every problem found.

    Attributes
    ----------
    frame : GeoDataFrame or DataFrame
        Mapped, typed rows in the workspace CRS, geometries as read (index 0..n-1).
    fixed_geometry : GeoSeries or None
        The geometries after repair (``make_valid``, ``force_2d``, closed rings) — used by
        ``on_problems="fix"``.
    problems : DataFrame
        One row per (row, field, problem): ``pos`` (index in ``frame``), ``row`` (the row
        number the user sees in the file), ``field``, ``code``, ``severity``
        ("error"/"warning"), ``fix`` ("repair", "clear" or None = row is skipped), ``value``,
        ``message``, ``message_zh``.
    geometry_report : DataFrame
        :func:`geo.validate.validate_geometries`'s report plus the source ``row``; the area
        columns are m² in the workspace CRS.
    mapping : list of ColumnMap
        source column → field, with the header's unit and the conversion factor.
    """

    source_name: str
    source_path: str
    sha256: str
    size: int
    format: str
    layer: str
    mode: str
    target_crs: str
    encoding: EncodingInfo
    crs: dict
    mapping: list
    unmapped: list[str]
    frame: pd.DataFrame | gpd.GeoDataFrame
    source_rows: np.ndarray
    problems: pd.DataFrame
    geometry_report: pd.DataFrame | None = None
    fixed_geometry: gpd.GeoSeries | None = None
    notes: list[str] = field(default_factory=list)
    notes_zh: list[str] = field(default_factory=list)
    preview: pd.DataFrame | None = None
    key: str | None = None
    workspace_version: tuple | None = None
    raster_path: str | None = None
    raster_info: dict | None = None
    options: dict = field(default_factory=dict)

    # --- report ---------------------------------------------------------------------
    @property
    def rows(self) -> int:
        return int(len(self.frame)) if self.frame is not None else 0

    @property
    def errors(self) -> pd.DataFrame:
        return self.problems[self.problems["severity"] == "error"]

    @property
    def warnings(self) -> pd.DataFrame:
        return self.problems[self.problems["severity"] == "warning"]

    def counts(self) -> dict[str, int]:
        """Rows per problem code (a row counts once per code)."""
        if self.problems.empty:
            return {}
        return {str(k): int(v) for k, v in self.problems.drop_duplicates(["pos", "code"])["code"].value_counts().items()}

    def mapping_dict(self) -> dict:
        """The column mapping as saved for reuse: ``{"layer", "columns": {src: field}, "units": {src: unit}}``."""
        return {"layer": self.layer, "columns": {m.source: m.field for m in self.mapping},
                "units": {m.source: m.unit for m in self.mapping if m.unit}, "key": self.key}

    def summary(self, lang: str = "en") -> str:
        """One paragraph: what will be imported, and each problem with its count, rows and fix."""
        zh = lang == "zh"
        head = (f"{self.source_name} → {self.layer}:{self.rows} 行" if zh else
                f"{self.source_name} → {self.layer}: {self.rows} row(s)")
        if self.mode == "raster":
            return head
        if self.problems.empty:
            return head + ("，未发现问题。" if zh else ", no problems found.")
        parts = []
        order = self.problems.sort_values(["row", "pos"], kind="stable")
        for code, grp in order.groupby("code", sort=False):
            rows = sorted(set(int(r) for r in grp["row"]))
            shown = ", ".join(map(str, rows[:8])) + (f", … (+{len(rows) - 8})" if len(rows) > 8 else "")
            sev, _fix, fix_en, fix_zh = _map.PROBLEM_INFO[code]
            first = grp.iloc[0]
            if zh:
                parts.append(f"{first['message_zh']}(共 {len(rows)} 行:第 {shown} 行)→ {fix_zh}")
            else:
                parts.append(f"{first['message']} ({len(rows)} row(s): {shown}) → {fix_en}")
        n_err = self.errors["pos"].nunique()
        tail = (f"。{n_err} 行有错误;选择“修复”“跳过”或“取消”。" if zh
                else f". {n_err} row(s) have errors: choose fix, skip or cancel.")
        return head + (";" if zh else "; ") + ("; ".join(parts)) + tail

    # --- what a commit writes ---------------------------------------------------------
    def resolve(self, on_problems: str) -> tuple[pd.DataFrame | gpd.GeoDataFrame, list[int], list[int]]:
        """The rows to write under ``on_problems``: (frame, skipped source rows, repaired source rows).

        ``cancel`` raises :class:`ImportDataError` when any row has an error; ``skip``
        leaves out every row with an error; ``fix`` repairs geometries and clears bad
        optional values, and leaves out the rows whose errors cannot be repaired.
        """
        _check_choice("on_problems", on_problems, ON_PROBLEMS)
        errors = self.errors
        if on_problems == "cancel" and not errors.empty:
            raise ImportDataError(
                "Import cancelled, nothing was written: " + self.summary("en"),
                message_zh="已取消导入,未写入任何数据:" + self.summary("zh"),
                details=errors[["row", "field", "code", "message"]].to_dict("records"),
            )
        out = self.frame.copy()
        n = len(out)
        skip = np.zeros(n, dtype=bool)
        repaired = np.zeros(n, dtype=bool)
        if on_problems == "skip":
            skip[errors["pos"].to_numpy(dtype=int)] = True
        elif on_problems == "fix":
            optional = {f.name for f in get_spec(self.layer).fields if not f.required} if self.layer in SPECS else set()
            for (code, fld), grp in errors.groupby(["code", "field"], sort=False):
                pos = grp["pos"].to_numpy(dtype=int)
                action = _map.PROBLEM_INFO[code][1]
                if action == "repair" and self.fixed_geometry is not None:
                    repaired[pos] = True
                elif action == "clear" and fld in optional and fld in out.columns:
                    out.iloc[pos, out.columns.get_loc(fld)] = pd.NA
                    repaired[pos] = True
                else:
                    skip[pos] = True
            if repaired.any() and self.fixed_geometry is not None:
                geo_rows = repaired & ~skip
                col = out.geometry.name
                fixed = self.fixed_geometry.to_numpy()
                values = out[col].to_numpy().copy()
                values[geo_rows] = fixed[geo_rows]
                out[col] = gpd.GeoSeries(values, index=out.index, crs=out.crs)
                # A repair may collapse a polygon to nothing (a ring of 3 points): such rows cannot be written.
                gone = geo_rows & (shapely.is_missing(values) | shapely.is_empty(values))
                skip |= gone
        repaired &= ~skip
        rows = self.source_rows
        kept = out.iloc[np.flatnonzero(~skip)]
        if isinstance(kept, gpd.GeoDataFrame) and UNCLOSED_RINGS_ATTR in kept.attrs:
            kept.attrs.pop(UNCLOSED_RINGS_ATTR, None)
        return kept, [int(r) for r in rows[skip]], [int(r) for r in rows[repaired]]


# ----------------------------------------------------------------------------- helpers
def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ImportDataError(f"{name}={value!r} is not allowed; choose one of {list(choices)}.",
                              message_zh=f"{name}={value!r} 不合法;可选:{list(choices)}。")


def _norm(label: str) -> str:
    return _map.normalise_label(label)


def _problem_frame(records: list[dict]) -> pd.DataFrame:
    cols = ["pos", "row", "field", "code", "severity", "fix", "value", "message", "message_zh"]
    if not records:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in cols}).astype({"pos": "int64", "row": "int64"})
    return pd.DataFrame.from_records(records, columns=cols)


class _Problems:
    """Collects per-row problems column by column (each ``add`` takes a boolean mask over rows)."""

    def __init__(self, source_rows: np.ndarray):
        self.rows = source_rows
        self.records: list[dict] = []

    def add(self, mask, code: str, fld: str, en: str, zh: str, values=None) -> None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        sev, action, _fen, _fzh = _map.PROBLEM_INFO[code]
        vals = None if values is None else np.asarray(values, dtype=object)
        for pos in np.flatnonzero(mask):
            v = "" if vals is None else _short(vals[pos])
            self.records.append({"pos": int(pos), "row": int(self.rows[pos]), "field": fld, "code": code,
                                 "severity": sev, "fix": action, "value": v,
                                 "message": en.format(value=v), "message_zh": zh.format(value=v)})

    def frame(self) -> pd.DataFrame:
        return _problem_frame(self.records)


def _short(v) -> str:
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return ""
    s = str(v)
    return s if len(s) <= 60 else s[:57] + "…"


def _label(spec: LayerSpec | None, fld: str) -> tuple[str, str]:
    if spec is None or fld not in spec.field_names:
        return fld, fld
    f = spec.field(fld)
    return f"{f.label_en} ({fld})", f"{f.label_zh}({fld})"


# ----------------------------------------------------------------------------- CRS
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


def _candidates(box) -> tuple[list[str], object]:
    rec = recognise_crs(box)
    cands = list(_CANDIDATES_BY_CODE.get(rec.code, ()))
    if rec.code == "swapped_axes":
        inner = recognise_crs((box[1], box[0], box[3], box[2]))
        cands = [f"{c} with swapped axes" for c in (_CANDIDATES_BY_CODE.get(inner.code) or (rec.suggested,))]
    elif rec.suggested and not cands:
        cands = [rec.suggested]
    return cands, rec


def _resolve_crs(gdf: gpd.GeoDataFrame, *, name: str, declared, gcj02: bool, swap: bool | None, target) -> tuple[gpd.GeoDataFrame, dict]:
    info: dict = {"file": gdf.crs.to_string() if gdf.crs is not None else None,
                  "declared": str(declared) if declared else None, "gcj02": bool(gcj02), "steps": [], "target": str(target)}
    box = _typical_box(gdf)
    source = declared if declared else gdf.crs
    if gcj02 and source is None:
        source = "EPSG:4326"  # declaring GCJ-02 declares lon/lat degrees
        info["steps"].append("GCJ-02 declared: coordinates read as lon/lat degrees")
    if source is None:
        cands, rec = _candidates(box)
        listing = "; ".join(cands) if cands else "no CGCS2000 CRS fits — ask the data's supplier"
        raise MissingCRSError(
            f"{name}: the data has no CRS (no .prj, no SRS, or a table with coordinates) and the importer never guesses. "
            f"The coordinates (typical feature {rec.message.split(' look like ')[0].removeprefix('bounds ')}) "
            f"fit: {listing}. Declare the CRS (CLI --crs EPSG:…, on the import page: the CRS box) and import again.",
            message_zh=f"{name}:数据没有坐标系(缺少 .prj 或 SRS,或为带坐标的表格),系统不会自行猜测。{rec.message_zh}"
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


# ----------------------------------------------------------------------------- geometry from tables
def _geometry_from_table(raw: RawData, *, wkt: str | None, x: str | None, y: str | None, name: str):
    """GeoSeries from a WKT column or x/y columns of a CSV/Excel table, or None when it has neither."""
    df = raw.frame
    norm = {c: _norm(c) for c in df.columns}
    for label, given in (("wkt", wkt), ("x", x), ("y", y)):
        if given is not None and given not in df.columns:
            raise ImportDataError(f"{name}: no column {given!r} for {label}; columns: {', '.join(df.columns)}.",
                                  message_zh=f"{name}:没有列 {given!r};现有列:{'、'.join(df.columns)}。")
    wkt_col = wkt or next((c for c, n in norm.items() if n in _WKT_NAMES), None)
    x_col = x or next((c for c, n in norm.items() if _map.split_unit(n)[0] in _X_NAMES), None)
    y_col = y or next((c for c, n in norm.items() if _map.split_unit(n)[0] in _Y_NAMES), None)
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
        xs = pd.to_numeric(_map._text(df[x_col]).str.replace(",", "", regex=False), errors="coerce").to_numpy(dtype=float)
        ys = pd.to_numeric(_map._text(df[y_col]).str.replace(",", "", regex=False), errors="coerce").to_numpy(dtype=float)
        bad = np.isnan(xs) | np.isnan(ys)
        pts = shapely.points(np.where(bad, 0.0, xs), np.where(bad, 0.0, ys))
        pts = np.where(bad, None, pts)
        return gpd.GeoSeries(pts, index=df.index), [x_col, y_col], np.zeros(len(df), bool), bad, f"{x_col}/{y_col}"
    return None, [], None, None, None


# ----------------------------------------------------------------------------- mapping input
def _load_mapping_arg(mapping) -> tuple[dict, dict, str | None]:
    if mapping is None:
        return {}, {}, None
    if isinstance(mapping, (str, os.PathLike)):
        p = Path(mapping)
        try:
            mapping = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ImportDataError(f"mapping file {p.name}: cannot be read as JSON ({exc}); expected "
                                  '{"columns": {"源列名": "field"}, "units": {"源列名": "亩"}}.',
                                  message_zh=f"映射文件 {p.name} 不是有效 JSON({exc})。") from exc
    if not isinstance(mapping, Mapping):
        raise ImportDataError(f"mapping must be a dict or a JSON file; got {type(mapping).__name__}.",
                              message_zh="字段映射应为字典或 JSON 文件。")
    if "columns" in mapping:
        cols, units, key = mapping.get("columns") or {}, mapping.get("units") or {}, mapping.get("key")
    else:
        cols, units, key = dict(mapping), {}, None
    if not all(isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in {**cols, **units}.items()):
        raise ImportDataError("mapping: every source column and field must be text.", message_zh="映射中的列名和字段名必须为文本。")
    return dict(cols), dict(units), key


# ----------------------------------------------------------------------------- entry point
def plan_import(
    source: str | os.PathLike,
    *,
    layer: str,
    workspace: Workspace | None = None,
    encoding: str | None = None,
    crs=None,
    gcj02: bool = False,
    swap_axes: bool | None = None,
    mapping=None,
    mode: Literal["auto", "replace", "join"] = "auto",
    key: str | None = None,
    sheet: str | None = None,
    member: str | None = None,
    source_layer: str | None = None,
    wkt: str | None = None,
    x: str | None = None,
    y: str | None = None,
    display_name: str | None = None,
    limits: ImportLimits | None = None,
    resampling: str = "bilinear",
) -> ImportPlan:
    """Read, detect, map and validate ``source`` for ``layer``; write nothing.

    Parameters
    ----------
    source : path-like
        A local file: ``.zip``/``.kmz`` (checked, read without extracting), ``.shp`` (with its
        parts beside it), ``.gpkg``, ``.geojson``/``.json``, ``.kml``, ``.csv``, ``.xlsx``,
        ``.tif``/``.tiff``.
    layer : str
        Target: a core layer (``plots``, ``enterprises``...), any other lower_snake name (kept
        as read), or for a GeoTIFF the raster kind (``dem``, ``slope``, ``flood_depth``).
    workspace : Workspace, optional
        Gives the working CRS (default EPSG:4549) and, for ``join``, the layer to join onto.
    encoding : str, optional
        Overrides detection for .dbf without .cpg and CSV ("GB18030" covers GBK/GB2312).
    crs : CRS-like, optional
        Declares the source CRS (overrides the file's label). Missing and undeclared raises
        :class:`MissingCRSError` listing the candidates — never guessed.
    gcj02 : bool
        The lon/lat coordinates are GCJ-02 (Gaode/Tencent); converted to WGS84 first.
    swap_axes : bool, optional
        Swap x and y (data written northing-first), as the CRS check suggests.
    mapping : dict or path, optional
        ``{"columns": {source column: field}, "units": {source column: unit}}`` or just
        ``{source column: field}``; a field of ``""``/``"skip"`` drops a column.
    mode : {"auto", "replace", "join"}
        ``replace`` the layer with the file's rows; ``join`` a table onto the workspace's
        layer by ``key`` (e.g. a tax table by credit code onto enterprises). ``auto`` joins
        when the file has no geometry and the layer exists.
    sheet, member, source_layer, wkt, x, y : str, optional
        Excel sheet; member of a zip; layer of a GeoPackage; WKT or x/y columns of a table.
    limits : ImportLimits, optional
        Size limits (default from ``$PLANNER_MAX_UPLOAD_MB``).

    Returns
    -------
    ImportPlan

    Raises
    ------
    UnsafeInputError
        Too big, zip bomb, traversal names, VRT or XML in disguise, remote paths.
    ImportDataError
        Unreadable or truncated file, missing Shapefile parts, ambiguous or missing columns.
    MissingCRSError, CRSError
        No CRS, or a CRS that does not fit the coordinates (with the fix).
    """
    _check_choice("mode", mode, MODES)
    _check_name(layer)
    limits = limits or default_limits()
    target = workspace.crs.to_string() if workspace is not None else WORKING_CRS
    src = resolve_source(source, member=member, limits=limits, display_name=display_name)
    if src.format == "geotiff":
        return _plan_raster(src, layer=layer, crs=crs, gcj02=gcj02, target=target, resampling=resampling)
    spec = SPECS.get(layer)
    raw = read_source(src, encoding=encoding, sheet=sheet, source_layer=source_layer,
                      header_score=_map.header_score(layer), limits=limits)
    name = src.name
    notes, notes_zh = list(raw.notes), list(raw.notes_zh or raw.notes)
    if raw.encoding.note:
        notes.append(f"encoding: {raw.encoding.note}")
        notes_zh.append(f"编码:{raw.encoding.note}")
    if len(raw.frame) == 0:
        raise ImportDataError(f"{name}: no rows to import (the file or sheet has only a header, or no features).",
                              message_zh=f"{name}:没有可导入的数据行(只有表头或没有要素)。")
    preview = pd.DataFrame(raw.frame.drop(columns=[c for c in raw.frame.columns if c == getattr(raw.frame, "_geometry_column_name", None)],
                                          errors="ignore").head(10))
    user_cols, user_units, user_key = _load_mapping_arg(mapping)
    key = key or user_key

    # geometry: read by GDAL, or built from WKT / x-y columns of a table
    geom = None
    geo_cols: list[str] = []
    unclosed = bad_geom = None
    geom_label = None
    if isinstance(raw.frame, gpd.GeoDataFrame):
        geom = raw.frame.geometry
        unclosed = raw.frame.index.isin(raw.frame.attrs.get(UNCLOSED_RINGS_ATTR, []))
    elif mode != "join":
        geom, geo_cols, unclosed, bad_geom, geom_label = _geometry_from_table(raw, wkt=wkt, x=x, y=y, name=name)
    attrs = pd.DataFrame(raw.frame.drop(columns=[raw.frame.geometry.name] if isinstance(raw.frame, gpd.GeoDataFrame) else [])
                         ).drop(columns=geo_cols)

    has_layer = workspace is not None and workspace.has_layer(layer)
    if mode == "auto":
        mode = "join" if geom is None and spec is not None and has_layer else "replace"
    if mode == "join":
        if spec is None:
            raise ImportDataError(f"{name}: join needs a core layer ({', '.join(SPECS)}); {layer!r} is not one.",
                                  message_zh=f"{name}:连接导入只适用于核心图层;{layer!r} 不是。")
        if not has_layer:
            raise ImportDataError(
                f"{name}: the file has no geometry (no WKT or lon/lat columns) so it can only be joined onto an existing "
                f"{layer} layer, and the workspace has none. Import the {layer} layer with geometries first.",
                message_zh=f"{name}:文件没有几何(无 WKT 或经纬度列),只能连接到已有的 {spec.label_zh} 图层,但工作空间中没有该图层。"
                           "请先导入带几何的图层。")
    elif geom is None and spec is not None:
        raise ImportDataError(
            f"{name}: {layer} needs geometries, but the table has no WKT column and no lon/lat (x/y) columns; "
            f"add them (e.g. 经度, 纬度), name them with wkt=/x=/y=, or join the table onto an existing layer (mode='join').",
            message_zh=f"{name}:{spec.label_zh} 需要几何,但表格没有 WKT 列或经纬度(x/y)列;请添加(如 经度、纬度),"
                       "或作为属性表连接到已有图层。")

    # columns → fields
    problems = _Problems(raw.source_rows)
    if spec is not None:
        maps, unmapped, map_en, map_zh = _map.auto_map(list(attrs.columns), spec, user_cols, user_units)
        if map_en:
            raise SchemaError(f"{name}: the columns cannot be mapped onto {layer}: " + "; ".join(map_en) + ".",
                              message_zh=f"{name}:列无法对应到 {spec.label_zh}:" + ";".join(map_zh) + "。", details=map_en)
        typed, missing = _typed_frame(attrs, maps, spec, raw, problems, mode=mode, key=key or spec.key)
        if missing:
            f_en = ", ".join(f"{spec.field(m).label_zh} ({m})" for m in missing)
            raise SchemaError(
                f"{name}: required column(s) {f_en} not found among {', '.join(map(str, attrs.columns))}. Rename the "
                "header (the Excel templates use the recognised names) or map the columns (mapping={'源列名': 'field'}).",
                message_zh=f"{name}:缺少必需的列 {'、'.join(spec.field(m).label_zh for m in missing)};现有列:"
                           f"{'、'.join(map(str, attrs.columns))}。请修改表头(可参照导入模板)或在字段映射中指定。",
                details=missing)
    else:
        maps, unmapped = [], []
        typed = attrs.copy()
        for c in typed.columns:
            if typed[c].dtype == object:
                typed[c] = _map._text(typed[c])
        for c in typed.columns:
            if pd.api.types.is_string_dtype(typed[c].dtype):
                mask = _map.looks_like_formula(typed[c])
                problems.add(mask, "formula_text", c, f"{c}: text that a spreadsheet would run as a formula ({{value}})",
                             f"{c}:文本会被电子表格当作公式执行({{value}})", typed[c])
    if unmapped:
        notes.append(f"columns not imported (no matching field): {', '.join(map(str, unmapped))}")
        notes_zh.append(f"未导入的列(无对应字段):{'、'.join(map(str, unmapped))}")
    for m in maps:
        unit = spec.field(m.field).unit
        if unit in _map.UNITS and unit != "人" and m.unit is None:
            notes.append(f"{m.source}: no unit in the header, read as {unit} (declare units={{{m.source!r}: '亩'}} if not)")
            notes_zh.append(f"{m.source}:表头未注明单位,按 {unit} 读取(如不是,请在映射中注明单位)")
        if m.factor != 1.0:
            notes.append(f"{m.source}: {m.unit} → {spec.field(m.field).unit} (× {m.factor:g})")
            notes_zh.append(f"{m.source}:{m.unit} 换算为 {spec.field(m.field).unit}(× {m.factor:g})")

    fixed = report = None
    crs_info: dict = {}
    version = None
    if mode == "join":
        frame = typed
        key = key or spec.key
        _join_checks(frame, workspace, layer, key, problems, spec)
        version = workspace.version
    elif geom is None:
        # a plain table for a non-core name (e.g. a raw department sheet kept for reference)
        frame, mode = typed, "table"
    else:
        gdf = gpd.GeoDataFrame(typed, geometry=gpd.GeoSeries(geom.to_numpy(), index=typed.index), crs=raw.crs)
        if bad_geom is not None and bad_geom.any():
            problems.add(bad_geom, "null", geom_label,
                         f"{geom_label}: the coordinates/WKT ({{value}}) cannot be read as a geometry",
                         f"{geom_label}:坐标/WKT({{value}})无法解析为几何", raw.frame[geo_cols[0]] if geo_cols else None)
        if unclosed is not None and np.asarray(unclosed).any():
            gdf.attrs[UNCLOSED_RINGS_ATTR] = list(gdf.index[np.asarray(unclosed, dtype=bool)])
        gdf, crs_info = _resolve_crs(gdf, name=name, declared=crs, gcj02=gcj02, swap=swap_axes, target=target)
        frame, fixed, report = _geometry_checks(gdf, spec, problems, raw.source_rows, name=name,
                                                skip_null_rows=bad_geom)
        if spec is not None:
            if "area_m2" in spec.field_names and "area_m2" not in {m.field for m in maps}:
                frame["area_m2"] = shapely.area(np.asarray(fixed.values, dtype=object)).round(1)
                frame.loc[frame.geometry.isna(), "area_m2"] = np.nan
                notes.append("area_m2 computed from the geometry (no area column)")
                notes_zh.append("用地面积由几何计算(文件中无面积列)")
            elif "area_m2" in frame.columns:
                geom_area = shapely.area(np.asarray(fixed.values, dtype=object))
                with np.errstate(divide="ignore", invalid="ignore"):
                    ratio = frame["area_m2"].to_numpy(dtype=float, na_value=np.nan) / geom_area
                off = np.isfinite(ratio) & ((ratio < 0.5) | (ratio > 2.0))
                en, zh = _label(spec, "area_m2")
                problems.add(off, "area_mismatch", "area_m2",
                             f"{en}: {{value}} m² is not the geometry's area (more than ×2 apart)",
                             f"{zh}:{{value}} 平方米与几何面积相差超过 2 倍", frame["area_m2"])
            _key_checks(frame, spec, key or spec.key, problems)
        if geom_label:
            notes.append(f"geometry from column(s) {geom_label}")
            notes_zh.append(f"几何来自列 {geom_label}")
    plan = ImportPlan(
        source_name=name, source_path=str(src.path), sha256=src.sha256, size=src.size, format=src.format, layer=layer,
        mode=mode, target_crs=target, encoding=raw.encoding,
        crs=crs_info, mapping=maps, unmapped=[str(u) for u in unmapped], frame=frame, source_rows=raw.source_rows,
        problems=problems.frame(), geometry_report=report, fixed_geometry=fixed, notes=notes, notes_zh=notes_zh,
        preview=preview, key=(key or (spec.key if spec else None)), workspace_version=version,
        options={"encoding": encoding, "crs": str(crs) if crs else None, "gcj02": gcj02, "swap_axes": swap_axes,
                 "sheet": sheet, "member": member, "source_layer": source_layer},
    )
    return plan


def _typed_frame(attrs: pd.DataFrame, maps, spec: LayerSpec, raw: RawData, problems: _Problems, *, mode: str,
                 key: str) -> tuple[pd.DataFrame, list[str]]:
    """Mapped columns parsed into spec dtypes, with per-row value problems recorded."""
    by_field = {m.field: m for m in maps}
    need = [key] if mode == "join" else spec.required
    missing = [f for f in need if f not in by_field and f != "area_m2"]
    if mode == "join" and key not in spec.field_names:
        raise ImportDataError(f"key {key!r} is not a field of {spec.name}; fields: {', '.join(spec.field_names)}.",
                              message_zh=f"连接字段 {key!r} 不是 {spec.label_zh} 的字段。")
    out = pd.DataFrame(index=attrs.index)
    formula_by_col: dict[str, list] = {}
    for pos, col, text, cached in raw.formula_cells:
        formula_by_col.setdefault(col, []).append((pos, text, cached))
    for m in maps:
        f = spec.field(m.field)
        en, zh = _label(spec, m.field)
        col = attrs[m.source]
        parsed, bad, lost = _map.parse_column(col, f, m.factor, numeric_cells=raw.numeric_cells.get(m.source))
        problems.add(bad, "bad_value", m.field, f"{en}: {{value!r}} is not a valid {_DTYPE_EN[f.dtype]}",
                     f"{zh}:{{value!r}} 不是有效的{_DTYPE_ZH[f.dtype]}", col)
        problems.add(lost, "code_as_number", m.field,
                     f"{en}: {{value}} was stored as a number, so the code's digits are lost",
                     f"{zh}:{{value}} 以数字形式保存,代码精度已丢失", col)
        if formula_by_col.get(m.source):
            mask = np.zeros(len(attrs), dtype=bool)
            texts = np.full(len(attrs), "", dtype=object)
            for pos, text, cached in formula_by_col[m.source]:
                if not cached:
                    mask[pos] = True
                    texts[pos] = text
            problems.add(mask, "formula_uncalculated", m.field,
                         f"{en}: the cell holds a formula ({{value}}) with no calculated value",
                         f"{zh}:单元格是公式({{value}}),没有计算结果", texts)
        if f.dtype == "string":
            problems.add(_map.looks_like_formula(parsed), "formula_text", m.field,
                         f"{en}: text that a spreadsheet would run as a formula ({{value}})",
                         f"{zh}:文本会被电子表格当作公式执行({{value}})", parsed)
        if f.choices:
            outside = parsed.notna().to_numpy() & ~parsed.isin(f.choices).fillna(False).to_numpy(dtype=bool)
            problems.add(outside, "bad_choice", m.field,
                         f"{en}: {{value!r}} is not one of {', '.join(f.choices)}",
                         f"{zh}:{{value!r}} 不在允许值 {'、'.join(f.choices)} 中", parsed)
        if f.code_list:   # leading industries: GB/T 4754 codes, any separator (layers.codes.parse_code_list)
            bad_codes = invalid_code_lists(parsed)
            problems.add(bad_codes.notna().to_numpy(), "bad_industry_code", m.field,
                         f"{en}: {{value!r}} is not a GB/T 4754 code (write 2–4 digits, e.g. 36,34)",
                         f"{zh}:{{value!r}} 不是 GB/T 4754 行业代码(应为 2–4 位数字,如 36、34)", bad_codes)
        out[m.field] = parsed
    for fld in ("credit_code", "land_holder"):
        if fld in out.columns:
            vals = out[fld]
            lost_mask = np.zeros(len(out), dtype=bool)
            for r in problems.records:
                if r["code"] == "code_as_number" and r["field"] == fld:
                    lost_mask[r["pos"]] = True
            bad = vals.notna().to_numpy() & ~_map.credit_code_ok(vals) & ~lost_mask
            en, zh = _label(spec, fld)
            code = "credit_code_check" if fld == "credit_code" else "credit_code_check_warn"
            problems.add(bad, code, fld, f"{en}: {{value}} is not a valid unified social credit code (GB 32100: 18 "
                                         "characters, the last a check character)",
                         f"{zh}:{{value}} 不是有效的统一社会信用代码(GB 32100:18 位,末位为校验码)", vals)
    for fld in out.columns:
        f = spec.field(fld)
        en, zh = _label(spec, fld)
        v = out[fld]
        if fld in _NONNEGATIVE:
            problems.add((v < 0).fillna(False).to_numpy(dtype=bool), "negative", fld,
                         f"{en}: negative value {{value}}", f"{zh}:数值为负({{value}})", v)
        if fld == "far":
            problems.add(((v > _MAX_FAR) | (v < 0)).fillna(False).to_numpy(dtype=bool), "far_range", fld,
                         f"{en}: {{value}} is outside 0–{_MAX_FAR:g}", f"{zh}:{{value}} 超出 0–{_MAX_FAR:g}", v)
        if fld == "building_coverage":
            problems.add(((v > 1) | (v < 0)).fillna(False).to_numpy(dtype=bool), "coverage_range", fld,
                         f"{en}: {{value}} is outside 0–1", f"{zh}:{{value}} 超出 0–1", v)
        if fld in _YEARS:
            this = _dt.date.today().year
            problems.add(((v < 1900) | (v > this + 1)).fillna(False).to_numpy(dtype=bool), "year_range", fld,
                         f"{en}: year {{value}} is outside 1900–{this + 1}", f"{zh}:年份 {{value}} 超出 1900–{this + 1}", v)
        if f.required and mode != "join" or (mode == "join" and fld == key):
            problems.add(v.isna().to_numpy(), "required_missing", fld, f"{en}: required but empty",
                         f"{zh}:必填但为空")
    return out, missing


_DTYPE_EN = {"float64": "number", "int64": "whole number", "bool": "yes/no value (是/否)", "date": "date",
             "string": "text"}
_DTYPE_ZH = {"float64": "数值", "int64": "整数", "bool": "是/否值", "date": "日期", "string": "文本"}


def _key_checks(frame: pd.DataFrame, spec: LayerSpec, key: str, problems: _Problems) -> None:
    if key in frame.columns:
        v = frame[key]
        dup = (v.duplicated(keep=False) & v.notna()).to_numpy(dtype=bool)
        en, zh = _label(spec, key)
        problems.add(dup, "duplicate_key", key, f"{en}: {{value}} appears in more than one row",
                     f"{zh}:{{value}} 出现在多行", v)


def _join_checks(frame: pd.DataFrame, ws: Workspace, layer: str, key: str, problems: _Problems, spec: LayerSpec) -> None:
    _key_checks(frame, spec, key, problems)
    cols = [key] + (["name"] if "name" in frame.columns and "name" in spec.field_names else [])
    existing = ws.read(layer, columns=[c for c in cols])
    known = pd.Index(existing[key].astype("string").dropna())
    v = frame[key].astype("string")
    flagged = np.zeros(len(frame), dtype=bool)  # a key already reported as corrupt is not also "no match"
    for r in problems.records:
        if r["field"] == key and r["code"] in ("code_as_number", "credit_code_check"):
            flagged[r["pos"]] = True
    no_match = (v.notna() & ~v.isin(known)).to_numpy(dtype=bool) & ~flagged
    en, zh = _label(spec, key)
    problems.add(no_match, "no_match", key, f"{en}: {{value}} joins to nothing in the workspace's {layer}",
                 f"{zh}:{{value}} 在工作空间的{spec.label_zh}中找不到", v)
    if "name" in cols:
        names = existing.drop_duplicates(key).set_index(key)["name"].astype("string")
        theirs = v.map(names)
        ours = frame["name"].astype("string")
        differs = (ours.notna() & theirs.notna() & (ours != theirs)).fillna(False).to_numpy(dtype=bool)
        problems.add(differs, "name_mismatch", "name",
                     "Name: {value} differs from the name held for this code",
                     "企业名称:{value} 与该代码在工作空间中的名称不同", ours)


def _geometry_checks(gdf: gpd.GeoDataFrame, spec: LayerSpec | None, problems: _Problems, source_rows, *, name: str,
                     skip_null_rows=None):
    """validate_geometries' report as per-row problems; the repaired geometries; polygons promoted to multi."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fixed_gdf, report = validate_geometries(gdf, on_invalid="fix", name=name, china_bounds=True)
    fixed = fixed_gdf.geometry
    codes = report["problem"].astype(str)
    reasons = report["reason"].astype(str)
    already = np.zeros(len(gdf), bool) if skip_null_rows is None else np.asarray(skip_null_rows, dtype=bool)
    wanted = _GEOMETRY_FAMILIES.get(spec.geometry_type) if spec is not None else None
    for code in ("null", "empty", "non_finite", "unclosed_ring", "invalid", "z_m", "outside_china", "mixed_types"):
        if code == "mixed_types" and wanted is not None:
            continue  # the spec's geometry type is checked below, more precisely
        mask = codes.str.split(";").map(lambda cs, c=code: c in cs).to_numpy(dtype=bool).copy()
        if code == "null":
            mask &= ~already
        if not mask.any():
            continue
        detail = reasons.map(lambda r, c=code: next((p.split(": ", 1)[-1] for p in r.split("; ") if p.startswith(c)), ""))
        en_what = {"null": "no geometry", "empty": "empty geometry", "non_finite": "NaN or infinite coordinate",
                   "unclosed_ring": "a ring does not end on its first point", "invalid": "invalid geometry ({value})",
                   "z_m": "has Z/M values", "outside_china": "coordinates fall outside China (huge or misplaced)",
                   "mixed_types": "{value}"}[code]
        zh_what = {"null": "没有几何", "empty": "几何为空", "non_finite": "坐标为 NaN 或无穷", "unclosed_ring": "环未闭合",
                   "invalid": "几何无效({value})", "z_m": "含 Z/M 值", "outside_china": "坐标落在中国范围之外(数值过大或错位)",
                   "mixed_types": "{value}"}[code]
        problems.add(mask, code, "geometry", f"geometry: {en_what}", f"几何:{zh_what}", detail)
    if wanted is not None:
        types = gdf.geometry.geom_type.to_numpy(dtype=object)
        present = ~(gdf.geometry.isna() | gdf.geometry.is_empty).to_numpy()
        wrong = present & ~np.isin(types.astype(str), list(wanted))
        problems.add(wrong, "geometry_type", "geometry",
                     f"geometry: {{value}} where {spec.name} holds {spec.geometry_type}",
                     f"几何:{{value}},而{spec.label_zh}应为 {spec.geometry_type}", types)
    if wanted is not None and spec.geometry_type == "MultiPolygon":
        fixed = gpd.GeoSeries(_as_multipolygons(np.asarray(fixed.values, dtype=object)), index=gdf.index, crs=gdf.crs)
        frame_geoms = np.asarray(gdf.geometry.values, dtype=object)
        poly = shapely.get_type_id(frame_geoms) == 3
        frame_geoms = frame_geoms.copy()
        frame_geoms[poly] = shapely.multipolygons(frame_geoms[poly][:, None]) if poly.any() else frame_geoms[poly]
        gdf = gdf.set_geometry(gpd.GeoSeries(frame_geoms, index=gdf.index, crs=gdf.crs))
    report = report.copy()
    report.insert(0, "row", source_rows)
    return gdf, fixed, report


def _as_multipolygons(geoms: np.ndarray) -> np.ndarray:
    """Polygonal part of each geometry as a MultiPolygon (make_valid can return collections with lines)."""
    out = geoms.copy()
    present = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
    if not present.any():
        return out
    parts, owner = shapely.get_parts(geoms[present], return_index=True)
    keep = shapely.get_type_id(parts) == 3
    idx = np.flatnonzero(present)
    multi = np.full(present.sum(), None, dtype=object)
    if keep.any():
        built = shapely.multipolygons(parts[keep], indices=owner[keep])
        # multipolygons() returns one geometry per distinct index, in order
        multi[np.unique(owner[keep])] = built
    res = out.copy()
    polygonal = shapely.get_type_id(geoms[present]) != 0
    empty = shapely.from_wkt("MULTIPOLYGON EMPTY")
    res[idx] = np.where(pd.isna(multi), np.where(polygonal, empty, geoms[present]), multi)
    return res


# ----------------------------------------------------------------------------- raster
def _plan_raster(src: Source, *, layer: str, crs, gcj02: bool, target: str, resampling: str) -> ImportPlan:
    import rasterio
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    from geo.raster import _SAFE_ENV, open_raster

    if gcj02:
        raise ImportDataError(f"{src.name}: GCJ-02 rasters are not converted (the shift is not a grid transform); "
                              "obtain the raster in CGCS2000 or WGS84.",
                              message_zh=f"{src.name}:不转换 GCJ-02 栅格;请获取 CGCS2000 或 WGS84 的栅格。")
    methods = {"bilinear": Resampling.bilinear, "nearest": Resampling.nearest, "cubic": Resampling.cubic}
    _check_choice("resampling", resampling, tuple(methods))
    steps = []
    truncated = ImportDataError(
        f"{src.name}: the GeoTIFF is truncated (its data ends before the file says it does); upload it again or "
        "export it again.", message_zh=f"{src.name}:GeoTIFF 文件不完整(数据在声明的位置之前就结束了);请重新上传或重新导出。")
    if _tiff_header_truncated(src.path):
        raise truncated
    try:
        with open_raster(src.path) as ds:
            src_crs = CRS.from_user_input(ds.crs.to_wkt())
            bounds, width, height, count = tuple(ds.bounds), ds.width, ds.height, ds.count
            try:  # read every block once: a file cut short fails here, not later in an analysis
                for _ij, window in ds.block_windows(1):
                    ds.read(window=window)
            except rasterio.errors.RasterioIOError as exc:
                raise truncated from exc
    except MissingCRSError:
        if crs is None:
            raise
        with rasterio.Env(**_SAFE_ENV), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with rasterio.open(src.path, driver="GTiff") as ds:  # the extension and TIFF magic were checked above
                if ds.transform.is_identity:
                    raise CRSError(f"{src.name}: the raster has no georeference (no CRS and no geotransform); add one "
                                   "with gdal_translate -a_srs … -a_ullr … and import again.",
                                   message_zh=f"{src.name}:栅格没有地理参考(无坐标系和仿射变换);请用 gdal_translate 补充后再导入。")
                src_crs = None
                bounds, width, height, count = tuple(ds.bounds), ds.width, ds.height, ds.count
    except (rasterio.errors.RasterioError, OSError) as exc:
        raise ImportDataError(f"{src.name}: the GeoTIFF cannot be read ({exc}); it may be truncated — export it again.",
                              message_zh=f"{src.name}:GeoTIFF 无法读取({exc});文件可能不完整,请重新导出。") from exc
    declared = CRS.from_user_input(crs) if crs else src_crs
    finding = detect_crs_issue(bounds, declared)
    if not finding.ok:
        raise CRSError(f"{src.name}: {finding.message} Declare the raster's CRS (crs=…) or fix it with gdal_translate -a_srs.",
                       message_zh=f"{src.name}:{finding.message_zh}请声明栅格坐标系或用 gdal_translate 修正。",
                       details=[finding])
    target_crs = CRS.from_user_input(target)
    path = str(src.path)
    info = {"width": width, "height": height, "bands": count, "bounds": list(bounds), "crs": declared.to_string()}
    if not declared.equals(target_crs) or src_crs is None:
        tmpdir = tempfile.mkdtemp(prefix="planner-import-")
        out = Path(tmpdir) / f"{layer}.tif"
        with rasterio.Env(**_SAFE_ENV), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with rasterio.open(src.path, driver="GTiff") as ds:
                transform, w, h = calculate_default_transform(declared, target_crs, ds.width, ds.height, *ds.bounds)
                profile = ds.profile.copy()
                profile.update(driver="GTiff", crs=target_crs.to_wkt(), transform=transform, width=w, height=h,
                               compress="deflate")
                profile.pop("blockxsize", None), profile.pop("blockysize", None), profile.pop("tiled", None)
                with rasterio.open(out, "w", **profile) as dst:
                    for b in range(1, ds.count + 1):
                        reproject(rasterio.band(ds, b), rasterio.band(dst, b), src_transform=ds.transform,
                                  src_crs=declared, dst_transform=transform, dst_crs=target_crs,
                                  resampling=methods[resampling], src_nodata=ds.nodata, dst_nodata=ds.nodata)
        steps.append(f"warped {declared.to_string()} → {target_crs.to_string()} ({resampling})")
        path = str(out)
        info.update({"warped_width": w, "warped_height": h})
    return ImportPlan(
        source_name=src.name, source_path=str(src.path), sha256=src.sha256, size=src.size, format="geotiff", layer=layer,
        mode="raster", target_crs=target, encoding=EncodingInfo(None, "binary"),
        crs={"file": src_crs.to_string() if src_crs else None, "declared": str(crs) if crs else None, "steps": steps,
             "target": target, "finding": finding.code},
        mapping=[], unmapped=[], frame=pd.DataFrame(), source_rows=np.zeros(0, dtype=int), problems=_problem_frame([]),
        notes=steps, notes_zh=steps, raster_path=path, raster_info=info,
    )


def _tiff_header_truncated(path: Path) -> bool:
    """True when a classic TIFF's first directory, a tag's data or an image strip/tile lies past the file's end.

    GDAL opens such a file and silently drops the tags it cannot read (the georeference
    among them), which would be reported as "no CRS"; this says what really happened.
    BigTIFF is left to GDAL.
    """
    size = path.stat().st_size
    with open(path, "rb") as fh:
        data = fh.read(min(size, 64 * 1024 * 1024))
    if len(data) < 8 or data[:4] not in (b"II*\x00", b"MM\x00*"):
        return False
    order = "little" if data[:2] == b"II" else "big"

    def u(off: int, n: int) -> int:
        return int.from_bytes(data[off:off + n], order)

    ifd = u(4, 4)
    if ifd + 2 > size:
        return True
    if ifd + 2 > len(data):
        return False  # a directory beyond the sampled 64 MB: let GDAL judge
    n = u(ifd, 2)
    if ifd + 2 + 12 * n > size:
        return True
    sizes = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 16: 8}
    arrays: dict[int, list[int]] = {}
    for k in range(n):
        e = ifd + 2 + 12 * k
        tag, typ, count = u(e, 2), u(e + 2, 2), u(e + 4, 4)
        nbytes = sizes.get(typ, 1) * count
        where = e + 8 if nbytes <= 4 else u(e + 8, 4)
        if where + nbytes > size:
            return True
        if tag in (273, 279, 324, 325) and typ in (3, 4) and where + nbytes <= len(data):
            step = sizes[typ]
            arrays[tag] = [u(where + step * i, step) for i in range(count)]
    offsets = arrays.get(273) or arrays.get(324) or []
    counts = arrays.get(279) or arrays.get(325) or []
    return any(o + c > size for o, c in zip(offsets, counts))


# ----------------------------------------------------------------------------- commit
def commit_import(workspace: Workspace, plan: ImportPlan, *, on_problems: Literal["cancel", "skip", "fix"] = "cancel",
                  save_mapping_as: str | None = None) -> ImportResult:
    """Write ``plan`` into ``workspace`` as one atomic step, with provenance in the layer's metadata.

    Parameters
    ----------
    on_problems : {"cancel", "skip", "fix"}
        What to do with rows that have errors (warnings never block): ``cancel`` writes
        nothing and raises; ``skip`` leaves those rows out; ``fix`` repairs geometries
        (make_valid, force_2d, closed rings) and clears bad optional values, and leaves out
        rows that cannot be repaired.  Skipped and repaired source rows are recorded.
    save_mapping_as : str, optional
        Also store the column mapping under this name in ``import_mappings`` (same write).

    Raises
    ------
    ImportDataError
        Cancelled with errors, nothing left to write, a plan for another CRS, or a join
        whose layer changed since the preview. The workspace is then unchanged.
    """
    _check_choice("on_problems", on_problems, ON_PROBLEMS)
    workspace.require_writable()
    if plan.target_crs != workspace.crs.to_string():
        raise ImportDataError(f"the plan was made for {plan.target_crs} but the workspace works in "
                              f"{workspace.crs.to_string()}; preview the import again with this workspace.",
                              message_zh="导入预览所用坐标系与工作空间不同;请用该工作空间重新预览。")
    if plan.mode == "raster":
        workspace.register_raster(plan.layer, plan.raster_path, source=f"{plan.source_name} sha256:{plan.sha256[:16]}")
        return ImportResult(plan.layer, "raster", 1, 0, 0, [], [])
    frame, skipped, repaired = plan.resolve(on_problems)
    if len(frame) == 0:
        raise ImportDataError(
            f"{plan.source_name}: every row has an error that '{on_problems}' cannot resolve; nothing was written. "
            + plan.summary("en"),
            message_zh=f"{plan.source_name}:所有行都有无法处理的错误,未写入任何数据。" + plan.summary("zh"))
    if plan.mode == "join":
        if workspace.version != plan.workspace_version:
            raise ImportDataError(
                f"{plan.layer} changed in the workspace since this import was previewed; preview it again.",
                message_zh=f"预览之后工作空间中的{plan.layer}已被修改;请重新预览。")
        frame = _joined(workspace, plan, frame)
    provenance = {
        "importer": {
            "source": plan.source_name, "sha256": plan.sha256, "bytes": plan.size, "format": plan.format,
            "mode": plan.mode, "encoding": plan.encoding.encoding, "encoding_how": plan.encoding.how,
            "crs": plan.crs, "mapping": {m.source: m.field for m in plan.mapping},
            "units": {m.source: [m.unit, m.factor] for m in plan.mapping if m.unit},
            "rows_read": plan.rows, "rows_written": int(len(frame)) if plan.mode != "join" else plan.rows - len(skipped),
            "rows_skipped": len(skipped), "skipped_rows": skipped[:1000], "rows_repaired": len(repaired),
            "repaired_rows": repaired[:1000], "on_problems": on_problems, "problems": plan.counts(),
            "key": plan.key if plan.mode == "join" else None,
        }
    }
    frames = {plan.layer: frame}
    if save_mapping_as:
        frames[MAPPINGS_TABLE] = _mappings_with(workspace, save_mapping_as, plan)
    workspace.write_many(frames, source=plan.source_name, extra={plan.layer: provenance})
    return ImportResult(plan.layer, plan.mode, int(len(frame)) if plan.mode != "join" else plan.rows - len(skipped),
                        len(skipped), len(repaired), skipped, repaired, save_mapping_as)


def _joined(ws: Workspace, plan: ImportPlan, table: pd.DataFrame) -> gpd.GeoDataFrame:
    """The workspace layer with the table's non-empty values written onto the rows with the same key."""
    key = plan.key
    layer = ws.read(plan.layer)
    cols = [c for c in table.columns if c not in (key, "name")]
    upd = table.drop_duplicates(key).set_index(key)
    keys = layer[key].astype("string")
    hit = keys.isin(upd.index).to_numpy(dtype=bool)
    for c in cols:
        new = keys[hit].map(upd[c])
        if c not in layer.columns:
            layer[c] = pd.Series(index=layer.index, dtype=upd[c].dtype)  # NaN or NA, as the dtype holds it
        current = layer.loc[hit, c]
        layer.loc[hit, c] = new.where(new.notna(), current).to_numpy()
    return layer


# ----------------------------------------------------------------------------- mappings
def _mappings_with(ws: Workspace, name: str, plan: ImportPlan) -> pd.DataFrame:
    _check_name(name)
    current = list_mappings(ws)
    row = pd.DataFrame([{"name": name, "layer": plan.layer, "format": plan.format,
                         "mapping": json.dumps(plan.mapping_dict(), ensure_ascii=False),
                         "saved_at": _dt.datetime.now(_dt.timezone.utc).astimezone().isoformat(timespec="seconds")}])
    return pd.concat([current[current["name"] != name], row], ignore_index=True)


def list_mappings(ws: Workspace) -> pd.DataFrame:
    """Saved column mappings: name, layer, format, mapping (JSON text), saved_at."""
    if not ws.has_layer(MAPPINGS_TABLE):
        return pd.DataFrame({c: pd.Series(dtype="object") for c in ("name", "layer", "format", "mapping", "saved_at")})
    return ws.read_table(MAPPINGS_TABLE)[["name", "layer", "format", "mapping", "saved_at"]]


def load_mapping(ws: Workspace, name: str) -> dict:
    """A saved mapping by name, ready for ``plan_import(mapping=...)``."""
    table = list_mappings(ws)
    hit = table[table["name"] == name]
    if hit.empty:
        raise ImportDataError(f"no saved mapping named {name!r}; saved: {', '.join(table['name']) or '(none)'}.",
                              message_zh=f"没有名为 {name!r} 的已保存映射。")
    return json.loads(hit.iloc[-1]["mapping"])


def save_mapping(ws: Workspace, name: str, plan: ImportPlan) -> None:
    """Store ``plan``'s column mapping under ``name`` (atomic write of ``import_mappings``)."""
    ws.write(MAPPINGS_TABLE, _mappings_with(ws, name, plan), source="import mapping")


# ----------------------------------------------------------------------------- templates
_UNIT_ZH = {"m²": "平方米", "万元": "万元", "万kWh": "万千瓦时", "tce": "吨标准煤", "t": "吨", "人": "人"}


def template_xlsx(kind: str, *, lang: str = "zh") -> bytes:
    """An Excel import template for one department table, with Chinese headers and units.

    Parameters
    ----------
    kind : {"land", "tax", "power", "environment", "statistics"}
        See :data:`DEPARTMENT_TABLES`.

    Returns
    -------
    bytes
        An .xlsx with sheet "数据" (one header row, code columns formatted as text so Excel
        keeps all 18 characters, 是/否 drop-downs) and sheet "说明" (each column's field,
        unit, whether required, and an example).  The headers are the names
        :func:`plan_import` recognises, so a filled template imports without a mapping.
    """
    import openpyxl
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    _check_choice("kind", kind, tuple(DEPARTMENT_TABLES))
    layer, title_zh, title_en, fields, units = DEPARTMENT_TABLES[kind]
    spec = get_spec(layer)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "数据"
    guide = wb.create_sheet("说明")
    guide.append(["列名" if lang == "zh" else "Column", "字段" if lang == "zh" else "Field",
                  "单位" if lang == "zh" else "Unit", "必填" if lang == "zh" else "Required",
                  "示例" if lang == "zh" else "Example", "说明" if lang == "zh" else "Notes"])
    examples = {"credit_code": "913303816107991557", "name": "瑞安市某某机械有限公司", "plot_id": "P000001",
                "land_holder": "913303816107991557", "land_use": "0601", "industry_code": "3670", "year": 2025,
                "status": "在用", "above_scale": "是", "major_incident": "否", "producing": "是", "far": 1.2,
                "building_coverage": 0.45, "build_year": 2010}
    header_font = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDEBF7")
    for j, name in enumerate(fields, start=1):
        f = spec.field(name)
        unit = units.get(name) or _UNIT_ZH.get(f.unit, f.unit)
        is_bool = f.dtype == "bool"
        header = f"{f.label_zh}({unit})" if unit else (f"{f.label_zh}(是/否)" if is_bool else f.label_zh)
        if name == "land_holder":
            header = "土地使用权人信用代码"
        cell = ws.cell(row=1, column=j, value=header)
        cell.font, cell.fill = header_font, fill
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        letter = get_column_letter(j)
        ws.column_dimensions[letter].width = max(12, len(header) * 2 + 2)
        if f.dtype == "string":
            for r in range(2, 2001):  # text format: 18-digit codes and 0601 keep every character
                ws.cell(row=r, column=j).number_format = "@"
        if is_bool or f.choices:
            from layers.schema import VALUE_LABELS_ZH

            options = "是,否" if is_bool else ",".join(VALUE_LABELS_ZH.get(c, c) for c in f.choices)
            dv = DataValidation(type="list", formula1=f'"{options}"', allow_blank=True)
            ws.add_data_validation(dv)
            dv.add(f"{letter}2:{letter}2000")
        if f.dtype == "date":
            for r in range(2, 2001):
                ws.cell(row=r, column=j).number_format = "yyyy-mm-dd"
        note = ("18 位,末位为校验码;请按文本录入" if name in ("credit_code", "land_holder")
                else f.description or ("是/否" if is_bool else ""))
        guide.append([header, name, unit or "", "是" if (f.required or name == spec.key) else "",
                      examples.get(name, ""), note])
    ws.freeze_panes = "A2"
    guide.append([])
    guide.append([f"{title_zh} — {title_en}", "", "", "", "",
                  f"导入:python cli.py import --layer {layer} --file 本文件.xlsx(按{spec.field(spec.key).label_zh}连接到已有{spec.label_zh})"])
    for col, width in zip("ABCDEF", (24, 22, 12, 8, 24, 60)):
        guide.column_dimensions[col].width = width
    bio = io.BytesIO()
    wb.save(bio)
    return bio.getvalue()
