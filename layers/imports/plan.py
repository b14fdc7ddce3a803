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

The pipeline, one module per stage, the data passing forward only:
:mod:`~layers.imports.source` (what is read; size and zip checks) →
:mod:`~layers.imports.decode` (encodings) → :mod:`~layers.imports.read` (rows as read) →
:mod:`~layers.imports.coords` (geometry from table columns) → :mod:`~layers.imports.crs` →
:mod:`~layers.imports.columns` (headers onto fields) → :mod:`~layers.imports.values` (typed
values) → :mod:`~layers.imports.validate` → this module (the plan) →
:mod:`~layers.imports.commit`.  Problems that concern
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

import os
from dataclasses import dataclass, field
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.crs import WORKING_CRS
from geo.errors import ImportDataError, SchemaError
from geo.io import UNCLOSED_RINGS_ATTR
from layers.imports.columns import auto_map, header_score, load_mapping_arg
from layers.imports.coords import geometry_from_table
from layers.imports.crs import resolve_crs
from layers.imports.decode import EncodingInfo, clean_text
from layers.imports.problems import PROBLEM_INFO, Problems, check_choice, problem_frame
from layers.imports.raster import prepare_raster
from layers.imports.read import RawData, read_source
from layers.imports.source import ImportLimits, Source, default_limits, resolve_source
from layers.imports.validate import check_area, check_geometries, check_join, check_keys, check_values
from layers.imports.values import looks_like_formula, type_columns
from layers.schema import SPECS, LayerSpec, get_spec
from layers.workspace import Workspace, _check_name

__all__ = ["ImportPlan", "ON_PROBLEMS", "MODES", "plan_import"]


ON_PROBLEMS = ("cancel", "skip", "fix")
MODES = ("auto", "replace", "join")


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
            sev, _fix, fix_en, fix_zh = PROBLEM_INFO[code]
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
        check_choice("on_problems", on_problems, ON_PROBLEMS)
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
                action = PROBLEM_INFO[code][1]
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


@dataclass
class _Notes:
    """What the preview tells the planner besides problems: in English and in Chinese, in step."""

    en: list[str] = field(default_factory=list)
    zh: list[str] = field(default_factory=list)

    def add(self, en: str, zh: str) -> None:
        self.en.append(en)
        self.zh.append(zh)


@dataclass
class _GeometryInput:
    """Where the rows' geometries come from: read by GDAL, built from table columns, or none."""

    geometry: gpd.GeoSeries | None = None
    columns: list[str] = field(default_factory=list)  # table columns used up by the geometry
    unclosed: np.ndarray | None = None  # rows whose rings were closed when read
    unreadable: np.ndarray | None = None  # rows whose WKT or coordinates could not be read
    label: str | None = None  # the column(s) named in problems and notes


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
    check_choice("mode", mode, MODES)
    _check_name(layer)
    limits = limits or default_limits()
    target = workspace.crs.to_string() if workspace is not None else WORKING_CRS
    src = resolve_source(source, member=member, limits=limits, display_name=display_name)
    if src.format == "geotiff":
        return _raster_plan(src, layer=layer, crs=crs, gcj02=gcj02, target=target, resampling=resampling)
    spec = SPECS.get(layer)
    raw = read_source(src, encoding=encoding, sheet=sheet, source_layer=source_layer,
                      header_score=header_score(layer), limits=limits)
    name = src.name
    notes = _read_notes(raw)
    if len(raw.frame) == 0:
        raise ImportDataError(f"{name}: no rows to import (the file or sheet has only a header, or no features).",
                              message_zh=f"{name}:没有可导入的数据行(只有表头或没有要素)。")
    user_cols, user_units, user_key = load_mapping_arg(mapping)
    key = key or user_key
    geo = _geometry_input(raw, mode=mode, wkt=wkt, x=x, y=y, name=name)
    attrs = _attributes(raw, geo)
    mode = _choose_mode(mode, geo, spec, layer, workspace, name)
    problems = Problems(raw.source_rows)
    if spec is not None:
        maps, unmapped = _map_columns(attrs, spec, user_cols, user_units, name=name)
        typed = _typed(attrs, maps, spec, raw, problems, mode=mode, key=key or spec.key, name=name)
    else:
        maps, unmapped, typed = [], [], _plain_table(attrs, problems)
    _mapping_notes(notes, maps, unmapped, spec)

    fixed = report = None
    crs_info: dict = {}
    version = None
    if mode == "join":
        frame = typed
        key = key or spec.key
        check_join(frame, workspace, layer, key, problems, spec)
        version = workspace.version
    elif geo.geometry is None:
        # a plain table for a non-core name (e.g. a raw department sheet kept for reference)
        frame, mode = typed, "table"
    else:
        gdf = _with_geometry(typed, geo, raw, problems)
        gdf, crs_info = resolve_crs(gdf, name=name, declared=crs, gcj02=gcj02, swap=swap_axes, target=target)
        frame, fixed, report = check_geometries(gdf, spec, problems, raw.source_rows, name=name,
                                                skip_null_rows=geo.unreadable)
        if spec is not None:
            _area(frame, fixed, maps, spec, problems, notes)
            check_keys(frame, spec, key or spec.key, problems)
        if geo.label:
            notes.add(f"geometry from column(s) {geo.label}", f"几何来自列 {geo.label}")
    return ImportPlan(
        source_name=name, source_path=str(src.path), sha256=src.sha256, size=src.size, format=src.format, layer=layer,
        mode=mode, target_crs=target, encoding=raw.encoding,
        crs=crs_info, mapping=maps, unmapped=[str(u) for u in unmapped], frame=frame, source_rows=raw.source_rows,
        problems=problems.frame(), geometry_report=report, fixed_geometry=fixed, notes=notes.en, notes_zh=notes.zh,
        preview=_preview(raw), key=(key or (spec.key if spec else None)), workspace_version=version,
        options={"encoding": encoding, "crs": str(crs) if crs else None, "gcj02": gcj02, "swap_axes": swap_axes,
                 "sheet": sheet, "member": member, "source_layer": source_layer},
    )


# ----------------------------------------------------------------------------- steps
def _raster_plan(src: Source, *, layer: str, crs, gcj02: bool, target: str, resampling: str) -> ImportPlan:
    """A GeoTIFF's plan: nothing to map or validate row by row, a file to register."""
    ready = prepare_raster(src, layer=layer, crs=crs, gcj02=gcj02, target=target, resampling=resampling)
    steps = ready.crs["steps"]
    return ImportPlan(
        source_name=src.name, source_path=str(src.path), sha256=src.sha256, size=src.size, format="geotiff", layer=layer,
        mode="raster", target_crs=target, encoding=EncodingInfo(None, "binary"), crs=ready.crs,
        mapping=[], unmapped=[], frame=pd.DataFrame(), source_rows=np.zeros(0, dtype=int), problems=problem_frame([]),
        notes=steps, notes_zh=steps, raster_path=ready.path, raster_info=ready.info,
    )


def _read_notes(raw: RawData) -> _Notes:
    notes = _Notes(list(raw.notes), list(raw.notes_zh or raw.notes))
    if raw.encoding.note:
        notes.add(f"encoding: {raw.encoding.note}", f"编码:{raw.encoding.note}")
    return notes


def _preview(raw: RawData) -> pd.DataFrame:
    """The first source rows as read (no geometry), for the planner to compare with the mapping."""
    frame = raw.frame
    geometry = [frame.geometry.name] if isinstance(frame, gpd.GeoDataFrame) else []
    return pd.DataFrame(frame.drop(columns=geometry).head(10))


def _geometry_input(raw: RawData, *, mode: str, wkt, x, y, name: str) -> _GeometryInput:
    """The geometry read by GDAL, or built from a table's WKT or x/y columns (not for a join)."""
    if isinstance(raw.frame, gpd.GeoDataFrame):
        return _GeometryInput(raw.frame.geometry, [], raw.frame.index.isin(raw.frame.attrs.get(UNCLOSED_RINGS_ATTR, [])))
    if mode == "join":
        return _GeometryInput()
    geom, columns, unclosed, unreadable, label = geometry_from_table(raw, wkt=wkt, x=x, y=y, name=name)
    return _GeometryInput(geom, columns, unclosed, unreadable, label)


def _attributes(raw: RawData, geo: _GeometryInput) -> pd.DataFrame:
    """The attribute columns: everything but the geometry and the columns it was built from."""
    frame = raw.frame
    geometry = [frame.geometry.name] if isinstance(frame, gpd.GeoDataFrame) else []
    return pd.DataFrame(frame.drop(columns=geometry)).drop(columns=geo.columns)


def _choose_mode(mode: str, geo: _GeometryInput, spec: LayerSpec | None, layer: str, workspace, name: str) -> str:
    """``auto`` → join for a table without geometry onto an existing core layer, else replace; refuse what cannot work."""
    has_layer = workspace is not None and workspace.has_layer(layer)
    if mode == "auto":
        mode = "join" if geo.geometry is None and spec is not None and has_layer else "replace"
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
    elif geo.geometry is None and spec is not None:
        raise ImportDataError(
            f"{name}: {layer} needs geometries, but the table has no WKT column and no lon/lat (x/y) columns; "
            f"add them (e.g. 经度, 纬度), name them with wkt=/x=/y=, or join the table onto an existing layer (mode='join').",
            message_zh=f"{name}:{spec.label_zh} 需要几何,但表格没有 WKT 列或经纬度(x/y)列;请添加(如 经度、纬度),"
                       "或作为属性表连接到已有图层。")
    return mode


def _map_columns(attrs: pd.DataFrame, spec: LayerSpec, user_cols: dict, user_units: dict, *, name: str):
    """Source columns onto the spec's fields; ambiguous columns or unknown units raise with the fix."""
    maps, unmapped, map_en, map_zh = auto_map(list(attrs.columns), spec, user_cols, user_units)
    if map_en:
        raise SchemaError(f"{name}: the columns cannot be mapped onto {spec.name}: " + "; ".join(map_en) + ".",
                          message_zh=f"{name}:列无法对应到 {spec.label_zh}:" + ";".join(map_zh) + "。", details=map_en)
    return maps, unmapped


def _typed(attrs: pd.DataFrame, maps, spec: LayerSpec, raw: RawData, problems: Problems, *, mode: str, key: str,
           name: str) -> pd.DataFrame:
    """The mapped columns typed and checked; the fields the mode needs must all be there."""
    if mode == "join" and key not in spec.field_names:
        raise ImportDataError(f"key {key!r} is not a field of {spec.name}; fields: {', '.join(spec.field_names)}.",
                              message_zh=f"连接字段 {key!r} 不是 {spec.label_zh} 的字段。")
    mapped = {m.field for m in maps}
    need = [key] if mode == "join" else spec.required
    missing = [f for f in need if f not in mapped and f != "area_m2"]
    typed = type_columns(attrs, maps, spec, raw, problems)
    check_values(typed, spec, problems, mode=mode, key=key)
    if missing:
        f_en = ", ".join(f"{spec.field(m).label_zh} ({m})" for m in missing)
        raise SchemaError(
            f"{name}: required column(s) {f_en} not found among {', '.join(map(str, attrs.columns))}. Rename the "
            "header (the Excel templates use the recognised names) or map the columns (mapping={'源列名': 'field'}).",
            message_zh=f"{name}:缺少必需的列 {'、'.join(spec.field(m).label_zh for m in missing)};现有列:"
                       f"{'、'.join(map(str, attrs.columns))}。请修改表头(可参照导入模板)或在字段映射中指定。",
            details=missing)
    return typed


def _plain_table(attrs: pd.DataFrame, problems: Problems) -> pd.DataFrame:
    """A layer without a spec keeps its columns as read (text cleaned); formula-like text is flagged."""
    typed = attrs.copy()
    for c in typed.columns:
        if typed[c].dtype == object:
            typed[c] = clean_text(typed[c])
    for c in typed.columns:
        if pd.api.types.is_string_dtype(typed[c].dtype):
            mask = looks_like_formula(typed[c])
            problems.add(mask, "formula_text", c, f"{c}: text that a spreadsheet would run as a formula ({{value}})",
                         f"{c}:文本会被电子表格当作公式执行({{value}})", typed[c])
    return typed


def _mapping_notes(notes: _Notes, maps, unmapped: list, spec: LayerSpec | None) -> None:
    """Columns left out, columns read in the field's unit for want of one, unit conversions."""
    from layers.imports.columns import UNITS

    if unmapped:
        notes.add(f"columns not imported (no matching field): {', '.join(map(str, unmapped))}",
                  f"未导入的列(无对应字段):{'、'.join(map(str, unmapped))}")
    for m in maps:
        unit = spec.field(m.field).unit
        if unit in UNITS and unit != "人" and m.unit is None:
            notes.add(f"{m.source}: no unit in the header, read as {unit} (declare units={{{m.source!r}: '亩'}} if not)",
                      f"{m.source}:表头未注明单位,按 {unit} 读取(如不是,请在映射中注明单位)")
        if m.factor != 1.0:
            notes.add(f"{m.source}: {m.unit} → {spec.field(m.field).unit} (× {m.factor:g})",
                      f"{m.source}:{m.unit} 换算为 {spec.field(m.field).unit}(× {m.factor:g})")


def _with_geometry(typed: pd.DataFrame, geo: _GeometryInput, raw: RawData, problems: Problems) -> gpd.GeoDataFrame:
    """The typed rows with their geometries (in the file's CRS); unreadable WKT/coordinates are problems."""
    gdf = gpd.GeoDataFrame(typed, geometry=gpd.GeoSeries(geo.geometry.to_numpy(), index=typed.index), crs=raw.crs)
    if geo.unreadable is not None and geo.unreadable.any():
        problems.add(geo.unreadable, "null", geo.label,
                     f"{geo.label}: the coordinates/WKT ({{value}}) cannot be read as a geometry",
                     f"{geo.label}:坐标/WKT({{value}})无法解析为几何", raw.frame[geo.columns[0]] if geo.columns else None)
    if geo.unclosed is not None and np.asarray(geo.unclosed).any():
        gdf.attrs[UNCLOSED_RINGS_ATTR] = list(gdf.index[np.asarray(geo.unclosed, dtype=bool)])
    return gdf


def _area(frame: gpd.GeoDataFrame, fixed: gpd.GeoSeries, maps, spec: LayerSpec, problems: Problems,
          notes: _Notes) -> None:
    """Area from the geometry when the file has none; a stated area far from the geometry's is flagged."""
    if "area_m2" not in spec.field_names:
        return
    geometry_area = shapely.area(np.asarray(fixed.values, dtype=object))
    if "area_m2" not in {m.field for m in maps}:
        frame["area_m2"] = geometry_area.round(1)
        frame.loc[frame.geometry.isna(), "area_m2"] = np.nan
        notes.add("area_m2 computed from the geometry (no area column)", "用地面积由几何计算(文件中无面积列)")
    elif "area_m2" in frame.columns:
        check_area(frame, geometry_area, spec, problems)
