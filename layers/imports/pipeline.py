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
2. :func:`commit_import` writes the plan into a workspace as one atomic step, in the chosen
   mode (replace, append, upsert, replace one township, join; see :mod:`layers.imports.modes`),
   after the caller chose what to do with problem rows (``"cancel"``, ``"skip"``, ``"fix"``)
   and confirmed any rows removed.  The layer's metadata records the source, its SHA-256, the
   time, row counts, the mapping and the change; the mapping can also be saved by name (table
   ``import_mappings``) for next year's files.

The stages, one module each, the data passing forward only:
:mod:`~layers.imports.source` (what is read; size and zip checks) →
:mod:`~layers.imports.decode` (encodings, clean text) → :mod:`~layers.imports.read` (rows as read)
→ :mod:`~layers.imports.coords` (geometry from table columns) → :mod:`~layers.imports.crs` →
:mod:`~layers.imports.columns` (headers onto fields, with :mod:`~layers.imports.catalogue`) →
:mod:`~layers.imports.values` (typed values) → :mod:`~layers.imports.supply` (constants,
derived fields) → :mod:`~layers.imports.validate` → :mod:`~layers.imports.plan` (the plan and,
through :mod:`~layers.imports.modes`, the change) → :mod:`~layers.imports.commit`.  This module
runs them in order.  Problems that concern the whole file (unreadable, unsafe, no CRS) raise a
:class:`~geo.errors.PlannerError` subclass at once; columns that cannot be mapped and required
fields nobody supplies are ``plan.blocking`` (the preview is complete, the commit refuses);
problems of single rows are collected in ``plan.problems``.

Example
-------
>>> plan = plan_import("税收2025.xlsx", layer="enterprises", workspace=ws)     # doctest: +SKIP
>>> print(plan.summary("zh"))                                                   # doctest: +SKIP
>>> commit_import(ws, plan, on_problems="skip", save_mapping_as="tax")          # doctest: +SKIP
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.crs import WORKING_CRS
from geo.errors import ImportDataError, PlannerError
from geo.io import UNCLOSED_RINGS_ATTR
from geo.progress import Progress, Steps
from layers.imports.catalogue import SOURCES
from layers.imports.columns import UNITS, auto_map, header_score, load_mapping_arg, short_list
from layers.imports.coords import geometry_from_table
from layers.imports.crs import gaode_hint, resolve_crs
from layers.imports.decode import EncodingInfo, clean_text
from layers.imports.modes import MODES, ROW_MODES
from layers.imports.plan import ImportPlan
from layers.imports.problems import Problems, check_choice, problem_frame
from layers.imports.raster import prepare_raster
from layers.imports.read import RawData, read_source
from layers.imports.source import ImportLimits, Source, default_limits, resolve_source, scrub_paths, without_paths
from layers.imports.supply import (
    DERIVABLE,
    apply_constants,
    check_derivable,
    derive as derive_fields,
    parse_assignments,
    parse_constants,
)
from layers.imports.validate import (
    check_against_layer,
    check_area,
    check_geometries,
    check_join,
    check_keys,
    check_values,
)
from layers.imports.values import looks_like_formula, type_columns
from layers.schema import SPECS, VALUE_LABELS_ZH, LayerSpec
from layers.store import check_name as _check_name
from layers.workspace import Workspace

__all__ = ["plan_import"]

#: The stages :func:`plan_import` reports to its progress callback.
PLAN_STAGES = ("open", "read", "columns", "geometry", "checks")

_log = logging.getLogger(__name__)


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


@dataclass
class _Supply:
    """What the planner supplies for fields the file lacks: constants (already parsed) and fields to derive."""

    constants: dict[str, object] = field(default_factory=dict)
    derive: list[str] = field(default_factory=list)


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
    mode: str = "auto",
    key: str | None = None,
    township: str | None = None,
    constants=None,
    derive=(),
    sheet: str | None = None,
    member: str | None = None,
    source_layer: str | None = None,
    wkt: str | None = None,
    x: str | None = None,
    y: str | None = None,
    display_name: str | None = None,
    limits: ImportLimits | None = None,
    resampling: str = "bilinear",
    progress: Progress | None = None,
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
        Gives the working CRS (default EPSG:4549), the layer as it is (for the modes and the
        change they make) and the polygons fields are derived from.
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
        ``{"columns": {source column: field}, "units": {source column: unit}, "set": {field:
        value}, "derive": [field]}`` or just ``{source column: field}``; a field of
        ``""``/``"skip"`` drops a column.  A saved mapping matches next year's headers even
        when their year changed.
    mode : {"auto", "replace", "append", "upsert", "replace_township", "join"}
        See :mod:`layers.imports.modes`.  ``auto`` joins a table without geometry onto the
        existing layer, and otherwise replaces the layer (a replace that removes rows needs
        ``confirm_removal=True`` at the commit).
    key : str, optional
        The field rows are matched on (default: the layer's key, e.g. ``plot_id``).
    township : str, optional
        The township code (or name) whose rows ``replace_township`` replaces.
    constants : dict or list of "field=value", optional
        A value for every row where the file gives none (``{"status": "in_use"}``, CLI
        ``--set status=in_use``); Chinese labels are accepted (``在用``).
    derive : list of str
        Fields derived from the geometry where the file gives none: ``township_code``,
        ``park_id`` (from the workspace's polygons), ``area_m2``.
    sheet, member, source_layer, wkt, x, y : str, optional
        Excel sheet; member of a zip; layer of a GeoPackage; WKT or x/y columns of a table.
    limits : ImportLimits, optional
        Size limits (default from ``$PLANNER_MAX_UPLOAD_MB``).
    progress : callable, optional
        Told as each stage starts: open, read, columns, geometry, checks (:mod:`geo.progress`).

    Returns
    -------
    ImportPlan
        Complete even when columns are missing or ambiguous: those are in ``plan.blocking``
        and stop the commit, not the preview.

    Raises
    ------
    UnsafeInputError
        Too big, zip bomb, traversal names, VRT or XML in disguise, remote paths.
    ImportDataError
        Unreadable, truncated or empty file, missing Shapefile parts, a mode that cannot work.
    MissingCRSError, CRSError
        No CRS, or a CRS that does not fit the coordinates (with the fix).

    Messages name the file as the user knows it, never a path on the server.
    """
    try:
        plan = _plan(source, layer=layer, workspace=workspace, encoding=encoding, crs=crs, gcj02=gcj02,
                     swap_axes=swap_axes, mapping=mapping, mode=mode, key=key, township=township,
                     constants=constants, derive=derive, sheet=sheet, member=member, source_layer=source_layer,
                     wkt=wkt, x=x, y=y, display_name=display_name, limits=limits, resampling=resampling,
                     steps=Steps(progress, PLAN_STAGES, task="import"))
    except PlannerError as exc:
        raise without_paths(exc, source) from exc.__cause__
    plan.notes = [scrub_paths(n, source) for n in plan.notes]
    plan.notes_zh = [scrub_paths(n, source) for n in plan.notes_zh]
    return plan


def _plan(source, *, layer, workspace, encoding, crs, gcj02, swap_axes, mapping, mode, key, township, constants,
          derive, sheet, member, source_layer, wkt, x, y, display_name, limits, resampling, steps: Steps) -> ImportPlan:
    steps.start("open")
    check_choice("mode", mode, MODES)
    _check_name(layer)
    limits = limits or default_limits()
    target = workspace.crs.to_string() if workspace is not None else WORKING_CRS
    src = resolve_source(source, member=member, limits=limits, display_name=display_name)
    if src.format == "geotiff":
        return _raster_plan(src, layer=layer, crs=crs, gcj02=gcj02, target=target, resampling=resampling)
    spec = SPECS.get(layer)
    steps.start("read")
    raw = read_source(src, encoding=encoding, sheet=sheet, source_layer=source_layer,
                      header_score=header_score(layer), limits=limits)
    name = src.name
    notes = _read_notes(raw)
    if len(raw.frame) == 0:
        if isinstance(raw.frame, gpd.GeoDataFrame):
            raise ImportDataError(f"{name}: no rows to import: the layer holds no features. Export it again with its "
                                  "features.", message_zh=f"{name}:没有可导入的数据:图层中没有要素。请重新导出。")
        raise ImportDataError(f"{name}: no rows to import: the table has only a header. Fill in the rows or upload the "
                              "filled file.", message_zh=f"{name}:没有可导入的数据行:表格只有表头。")
    _log.info("import: read %d rows of %s (%s)", len(raw.frame), name, src.format)
    steps.start("columns")
    user_cols, user_units, user_key, user_set, user_derive = load_mapping_arg(mapping)
    key = key or user_key or (spec.key if spec is not None else None)
    geo = _geometry_input(raw, mode=mode, wkt=wkt, x=x, y=y, name=name)
    attrs = _attributes(raw, geo)
    existing = workspace.read(layer) if workspace is not None and workspace.has_layer(layer) else None
    requested = mode
    mode = _choose_mode(mode, geo, spec, layer, existing, name, notes)
    township = _township(mode, township, workspace, spec, name)
    hints = _hints(attrs, raw, crs=crs, gcj02=gcj02)
    problems = Problems(raw.source_rows)
    blocking: list[tuple[str, str]] = []
    supplied: dict[str, str] = {}
    missing: list[str] = []
    if spec is not None:
        supply = _supply(spec, {**user_set, **parse_assignments(constants)}, [*user_derive, *derive], mode=mode,
                         township=township, has_geometry=geo.geometry is not None, name=name, notes=notes)
        maps, unmapped, typed, blocking, missing = _map_and_type(attrs, spec, raw, problems, user_cols, user_units,
                                                                 supply, mode=mode, key=key, name=name, notes=notes,
                                                                 has_geometry=geo.geometry is not None)
        supplied = {f: f"constant {v}" for f, v in supply.constants.items()} | {f: "derived" for f in supply.derive}
        check_values(typed, spec, problems, mode=mode, key=key)
    else:
        supply = _Supply()
        maps, unmapped, typed = [], [], _plain_table(attrs, problems)

    steps.start("geometry")
    fixed = report = None
    crs_info: dict = {}
    if mode == "join":
        frame = typed
        check_join(frame, existing, key, problems, spec)
    elif geo.geometry is None:
        # a plain table for a non-core name (e.g. a raw department sheet kept for reference)
        frame, mode = typed, "table"
    else:
        gdf = _with_geometry(typed, geo, raw, problems, name=name)
        gdf, crs_info = resolve_crs(gdf, name=name, declared=crs, gcj02=gcj02, swap=swap_axes, target=target,
                                    hint=hints[0] if hints else None)
        frame, fixed, report = check_geometries(gdf, spec, problems, raw.source_rows, name=name,
                                                skip_null_rows=geo.unreadable)
        if spec is not None:
            steps.start("checks")
            frame = _derived(frame, fixed, maps, spec, supply, workspace=workspace, problems=problems, notes=notes)
            check_keys(frame, spec, key, problems)
            check_against_layer(frame, existing, mode=mode, key=key, township=township, spec=spec, problems=problems)
        if geo.label:
            notes.add(f"geometry from column(s) {geo.label}", f"几何来自列 {geo.label}")
    steps.finish()
    return ImportPlan(
        source_name=name, source_path=str(src.path), sha256=src.sha256, size=src.size, format=src.format, layer=layer,
        mode=mode, target_crs=target, encoding=raw.encoding,
        crs=crs_info, mapping=maps, unmapped=[str(u) for u in unmapped], frame=frame, source_rows=raw.source_rows,
        problems=problems.frame(), geometry_report=report, fixed_geometry=fixed, notes=notes.en, notes_zh=notes.zh,
        preview=_preview(raw), key=key, workspace_version=workspace.layer_versions().get(layer) if workspace is not None else None,
        options={"encoding": encoding, "crs": str(crs) if crs else None, "gcj02": gcj02, "swap_axes": swap_axes,
                 "sheet": sheet, "member": member, "source_layer": source_layer},
        blocking=blocking, missing=missing, supplied=supplied, existing=existing, township=township,
        requested_mode=requested, hints=hints,
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


def _choose_mode(mode: str, geo: _GeometryInput, spec: LayerSpec | None, layer: str, existing, name: str,
                 notes: _Notes) -> str:
    """``auto`` → join for a table without geometry onto an existing core layer, else replace; refuse what cannot work."""
    if mode == "auto":
        mode = "join" if geo.geometry is None and spec is not None and existing is not None else "replace"
        if mode == "replace" and existing is not None and len(existing):
            notes.add(f"mode auto → replace: the {len(existing):,} rows of {layer} not in the file would be removed "
                      "(use mode upsert to update only the file's rows)",
                      f"自动方式 → 整层替换:{layer} 中不在文件里的 {len(existing):,} 行将被删除(只更新文件中的行请用“按编号更新”)")
    label = spec.label_zh if spec is not None else layer
    if spec is None and mode not in ("replace", "append"):
        raise ImportDataError(f"{name}: mode {mode} needs a core layer ({', '.join(SPECS)}); {layer!r} is not one "
                              "(use replace or append).",
                              message_zh=f"{name}:“{mode}”方式只适用于核心图层;{layer!r} 不是(请用整层替换或追加)。")
    if mode == "join" and existing is None:
        raise ImportDataError(
            f"{name}: the file has no geometry (no WKT or lon/lat columns) so it can only be joined onto an existing "
            f"{layer} layer, and the workspace has none. Import the {layer} layer with geometries first.",
            message_zh=f"{name}:文件没有几何(无 WKT 或经纬度列),只能连接到已有的 {label} 图层,但工作空间中没有该图层。"
                       "请先导入带几何的图层。")
    if mode in ROW_MODES and geo.geometry is None and spec is not None:
        raise ImportDataError(
            f"{name}: {layer} needs geometries, but the table has no WKT column and no lon/lat (x/y) columns; "
            f"add them (e.g. 经度, 纬度), name them with wkt=/x=/y=, or join the table onto an existing layer (mode='join').",
            message_zh=f"{name}:{label} 需要几何,但表格没有 WKT 列或经纬度(x/y)列;请添加(如 经度、纬度),"
                       "或作为属性表连接到已有图层。")
    return mode


def _township(mode: str, township: str | None, workspace, spec: LayerSpec | None, name: str) -> str | None:
    """The township code ``replace_township`` works on (a name is looked up); None for the other modes."""
    if mode != "replace_township":
        return None
    if spec is None or "township_code" not in spec.field_names:
        raise ImportDataError(f"{name}: {spec.name if spec else 'this layer'} has no township field; "
                              "replace_township cannot be used.",
                              message_zh=f"{name}:该图层没有镇街字段,不能按镇街替换。")
    towns = workspace.read("townships", columns=["code", "name"]) if workspace is not None and \
        workspace.has_layer("townships") else None
    if not township:
        listing = "" if towns is None else ": " + ", ".join(f"{c} {n}" for c, n in zip(towns["code"], towns["name"]))
        raise ImportDataError(f"{name}: replace_township needs the township (CLI --township CODE){listing}.",
                              message_zh=f"{name}:按镇街替换需要指定镇街(命令行 --township 代码)。")
    if towns is None:
        return str(township)
    by_name = dict(zip(towns["name"].astype(str), towns["code"].astype(str)))
    code = by_name.get(str(township), str(township))
    if code not in set(towns["code"].astype(str)):
        raise ImportDataError(f"{name}: township {township!r} is not in the workspace; known: "
                              + ", ".join(f"{c} {n}" for c, n in zip(towns["code"], towns["name"])) + ".",
                              message_zh=f"{name}:工作空间中没有镇街 {township!r}。")
    return code


def _hints(attrs: pd.DataFrame, raw: RawData, *, crs, gcj02: bool) -> list[tuple[str, str]]:
    """Warnings that do not block: a file that says its coordinates come from Gaode/高德/Amap but is not declared GCJ-02."""
    if gcj02:
        return []
    found = gaode_hint(attrs, raw.crs if crs is None else crs)
    return [found] if found else []


def _supply(spec: LayerSpec, constants: dict[str, str], derive: list[str], *, mode: str, township: str | None,
            has_geometry: bool, name: str, notes: _Notes) -> _Supply:
    """The constants (parsed) and derived fields the planner asked for; a township replace fills its own code."""
    parsed = parse_constants(constants, spec)
    if mode == "replace_township" and "township_code" not in parsed:
        parsed["township_code"] = township
        notes.add(f"township_code: rows without one are given {township}", f"所在镇街:未填写的行按 {township} 填写")
    wanted = list(dict.fromkeys(derive))
    if wanted and not has_geometry:
        raise ImportDataError(f"{name}: {', '.join(wanted)} can only be derived from geometries; the file has none.",
                              message_zh=f"{name}:只能由几何推算 {'、'.join(wanted)},但文件没有几何。")
    check_derivable(wanted, spec, name=name)
    return _Supply(parsed, wanted)


def _map_and_type(attrs: pd.DataFrame, spec: LayerSpec, raw: RawData, problems: Problems, user_cols: dict,
                  user_units: dict, supply: _Supply, *, mode: str, key: str, name: str, notes: _Notes,
                  has_geometry: bool):
    """Columns onto fields, typed, constants filled in; what cannot be mapped or is missing goes to ``blocking``."""
    if key not in spec.field_names:
        raise ImportDataError(f"key {key!r} is not a field of {spec.name}; fields: {', '.join(spec.field_names)}.",
                              message_zh=f"连接字段 {key!r} 不是 {spec.label_zh} 的字段。")
    mapped = auto_map(list(attrs.columns), spec, user_cols, user_units)
    blocking = [(f"the columns cannot be mapped onto {spec.name}: {en}", f"列无法对应到 {spec.label_zh}:{zh}")
                for en, zh in zip(mapped.problems_en, mapped.problems_zh)]
    typed = apply_constants(type_columns(attrs, mapped.maps, spec, raw, problems), supply.constants, spec)
    need = [key] if mode == "join" else spec.required
    computed = {"area_m2"} if has_geometry else set()
    missing = [f for f in need if f not in typed.columns and f not in supply.derive and f not in computed]
    if missing:
        blocking.append(_missing_message(missing, spec, list(attrs.columns)))
    _mapping_notes(notes, mapped, spec)
    return mapped.maps, mapped.unmapped, typed, blocking, missing


def _missing_message(missing: list[str], spec: LayerSpec, columns: list[str]) -> tuple[str, str]:
    """Required fields not found: which, among what, and the three ways to get them."""
    f_en = ", ".join(f"{spec.field(m).label_zh} ({m})" for m in missing)
    f_zh = "、".join(f"{spec.field(m).label_zh}({m})" for m in missing)
    example = missing[0]
    f = spec.field(example)
    value = f.choices[0] if f.choices else "…"
    derivable = [m for m in missing if m in DERIVABLE]
    return (f"required column(s) {f_en} not found among {short_list(columns)}. Map a column to it (mapping="
            f"{{'源列名': '{example}'}}, the mapping table on the page), supply a constant (--set {example}={value})"
            + (f", or derive it (--derive {derivable[0]})" if derivable else ""),
            f"缺少必需的列 {f_zh};现有列:{short_list(columns, sep='、')}。请在字段映射中指定对应列,或填写常量"
            f"(命令行 --set {example}={VALUE_LABELS_ZH.get(value, value)})" + (",或由几何推算" if derivable else ""))


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


def _mapping_notes(notes: _Notes, mapped, spec: LayerSpec) -> None:
    """Columns left out (and why, when a standard names them), columns read in the field's unit, conversions."""
    recognised = mapped.recognised
    plain = [c for c in mapped.unmapped if c not in recognised]
    if plain:
        notes.add(f"columns not imported (no matching field): {', '.join(map(str, plain))}",
                  f"未导入的列(无对应字段):{'、'.join(map(str, plain))}")
    by_source: dict[str, list[str]] = {}
    for column, entry in recognised.items():
        label = f"{column} {entry.label_zh}" if entry.label_zh != column else str(column)
        why = entry.note or ("" if entry.field is None else f"another column fills {entry.field}")
        by_source.setdefault(entry.source, []).append(label + (f" ({why})" if why else ""))
    for source, labels in by_source.items():
        notes.add(f"recognised from {SOURCES.get(source, source)}, not imported (no such field in {spec.name}): "
                  + "; ".join(labels),
                  f"已识别({SOURCES.get(source, source)}),{spec.label_zh}无对应字段,未导入:"
                  + "、".join(lab.split(" (")[0] for lab in labels))
    for m in mapped.maps:
        unit = spec.field(m.field).unit
        if unit in UNITS and unit != "人" and m.unit is None:
            notes.add(f"{m.source}: no unit in the header, read as {unit} (declare units={{{m.source!r}: '亩'}} if not)",
                      f"{m.source}:表头未注明单位,按 {unit} 读取(如不是,请在映射中注明单位)")
        if m.factor != 1.0:
            notes.add(f"{m.source}: {m.unit} → {spec.field(m.field).unit} (× {m.factor:g})",
                      f"{m.source}:{m.unit} 换算为 {spec.field(m.field).unit}(× {m.factor:g})")
        if m.take:
            notes.add(f"{m.source}: the first {m.take} characters are the {m.field}",
                      f"{m.source}:取前 {m.take} 位作为 {spec.field(m.field).label_zh}")


def _with_geometry(typed: pd.DataFrame, geo: _GeometryInput, raw: RawData, problems: Problems, *,
                   name: str) -> gpd.GeoDataFrame:
    """The typed rows with their geometries (in the file's CRS); unreadable WKT/coordinates are problems."""
    if geo.unreadable is not None and len(geo.unreadable) and np.asarray(geo.unreadable).all():
        example = raw.frame[geo.columns[0]].iloc[0] if geo.columns else ""
        raise ImportDataError(
            f"{name}: no row has readable coordinates in {geo.label} (e.g. {str(example)[:40]!r}); expected numbers "
            "(120.65, 3070000), degrees-minutes-seconds (120°39'00\"E, 120度39分00秒) or WKT.",
            message_zh=f"{name}:{geo.label} 中没有一行坐标可以读取(如 {str(example)[:40]!r});应为数字(120.65、3070000)、"
                       "度分秒(120°39'00\"E、120度39分00秒)或 WKT。")
    gdf = gpd.GeoDataFrame(typed, geometry=gpd.GeoSeries(geo.geometry.to_numpy(), index=typed.index), crs=raw.crs)
    if geo.unreadable is not None and geo.unreadable.any():
        problems.add(geo.unreadable, "null", geo.label,
                     f"{geo.label}: the coordinates/WKT ({{value}}) cannot be read as a geometry",
                     f"{geo.label}:坐标/WKT({{value}})无法解析为几何", raw.frame[geo.columns[0]] if geo.columns else None)
    if geo.unclosed is not None and np.asarray(geo.unclosed).any():
        gdf.attrs[UNCLOSED_RINGS_ATTR] = list(gdf.index[np.asarray(geo.unclosed, dtype=bool)])
    return gdf


def _derived(frame: gpd.GeoDataFrame, fixed: gpd.GeoSeries, maps, spec: LayerSpec, supply: _Supply, *, workspace,
             problems: Problems, notes: _Notes) -> gpd.GeoDataFrame:
    """Area from the geometry when the file has none (a stated area far from it is flagged); fields to derive."""
    if "area_m2" in spec.field_names:
        geometry_area = shapely.area(np.asarray(fixed.values, dtype=object))
        if "area_m2" not in frame.columns and "area_m2" not in supply.derive:
            frame["area_m2"] = geometry_area.round(1)
            frame.loc[frame.geometry.isna(), "area_m2"] = np.nan
            notes.add("area_m2 computed from the geometry (no area column)", "用地面积由几何计算(文件中无面积列)")
        elif "area_m2" in {m.field for m in maps}:
            check_area(frame, geometry_area, spec, problems)
    if not supply.derive:
        return frame
    out, derived_notes = derive_fields(frame, fixed, supply.derive, workspace=workspace, spec=spec)
    for en, zh in derived_notes:
        notes.add(en, zh)
    return out
