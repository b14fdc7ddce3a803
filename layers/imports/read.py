"""Stage 1, reading: a resolved source into a :class:`RawData` (columns as read, an optional geometry).

Vector formats go through :func:`geo.io.read_vector` (one GDAL driver per extension, VRT and
network drivers off, content sniffed first); CSV and Excel are parsed by pandas and openpyxl
(with defusedxml), never by GDAL.  An Excel header is found among the first rows (title rows
above it skipped, merged two-level headers combined).
"""
from __future__ import annotations

import csv
import io
import json
import unicodedata
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from geo.errors import ImportDataError, PlannerError, UnsafeInputError
from geo.io import gdal_safe_config, read_vector, sniff_format
from layers.imports.decode import EncodingInfo, detect_encoding, normalise_encoding, shapefile_encoding
from layers.imports.source import (
    MB,
    ImportLimits,
    Source,
    bad_input,
    check_zip_infos,
    default_limits,
    read_bytes,
    unsafe_input,
)

__all__ = ["RawData", "read_source"]


@dataclass
class RawData:
    """What a reader produced, before mapping: attribute columns as read plus an optional geometry."""

    frame: pd.DataFrame | gpd.GeoDataFrame
    crs: object | None
    source_rows: np.ndarray  # the row number the user sees in the file (Excel row, CSV line, feature number)
    encoding: EncodingInfo
    notes: list[str] = field(default_factory=list)
    notes_zh: list[str] = field(default_factory=list)
    formula_cells: list[tuple[int, str, str, bool]] = field(default_factory=list)  # (row pos, column, formula, has cached value)
    numeric_cells: dict[str, np.ndarray] = field(default_factory=dict)  # column → mask of cells stored as numbers
    header_rows: tuple[int, ...] = ()


def read_source(src: Source, *, encoding: str | None = None, sheet: str | None = None,
                source_layer: str | None = None, header_score: Callable[[list[str]], int] | None = None,
                limits: ImportLimits | None = None) -> RawData:
    """Read a resolved vector or tabular source into a :class:`RawData` (not GeoTIFF)."""
    limits = limits or default_limits()
    if src.format in ("shapefile", "gpkg", "geojson", "kml"):
        return _read_vector(src, encoding=encoding, source_layer=source_layer)
    if src.format == "csv":
        return _read_csv(src, encoding=encoding, limits=limits)
    if src.format == "xlsx":
        return _read_xlsx(src, sheet=sheet, header_score=header_score, limits=limits)
    raise AssertionError(src.format)  # pragma: no cover


def _gdal_error(src: Source, exc: Exception) -> ImportDataError:
    msg = str(exc).replace(str(src.path.parent), "…") if src.path else str(exc)
    return bad_input(f"{src.name}: cannot be read as {src.format} ({msg}). The file may be truncated or not really "
                f"{src.format}: export it again from the source software.",
                f"{src.name}:无法按 {src.format} 读取({msg})。文件可能不完整或格式不符:请从原软件重新导出。")


def _read_vector(src: Source, *, encoding: str | None, source_layer: str | None) -> RawData:
    if src.format == "shapefile":
        enc = shapefile_encoding(src, encoding)
    elif src.format == "kml" or src.format == "geojson":
        enc = EncodingInfo("UTF-8", "declared" if encoding else "format", note="GeoJSON and KML are UTF-8 by definition")
        if encoding and normalise_encoding(encoding) != "UTF-8":
            enc.note = f"{src.format} is always UTF-8; the encoding {encoding!r} was ignored"
    else:
        enc = EncodingInfo(None, "binary")
    notes: list[str] = []
    if src.format == "geojson":
        _refuse_empty_geojson(src)
    try:
        sniff_format(src.read_path)
        with gdal_safe_config(), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            layers = pyogrio.list_layers(src.read_path)
            names = [str(n) for n in layers[:, 0]] if len(layers) else []
            if source_layer is not None and source_layer not in names:
                raise bad_input(f"{src.name}: no layer {source_layer!r}; it holds {', '.join(names) or '(none)'}.",
                           f"{src.name}:没有图层 {source_layer!r};现有:{', '.join(names) or '(无)'}。")
            if source_layer is None and len(names) > 1 and src.format == "gpkg":
                raise bad_input(f"{src.name}: the GeoPackage holds {len(names)} layers ({', '.join(names[:20])}); choose one "
                           "with source_layer=... (CLI --source-layer).",
                           f"{src.name}:GeoPackage 中有 {len(names)} 个图层({', '.join(names[:20])});请选择一个"
                           "(命令行 --source-layer)。")
            kw = {"encoding": enc.encoding} if src.format == "shapefile" and enc.encoding else {}
            layer_arg = source_layer if source_layer is not None else (names[0] if src.format == "kml" and names else None)
            gdf = read_vector(src.read_path, layer=layer_arg, **kw)
        notes += [f"GDAL: {w.message}" for w in caught][:20]
    except PlannerError as exc:
        if isinstance(exc, (UnsafeInputError, ImportDataError)):
            raise
        raise bad_input(f"{src.name}: {exc.message.split(': ', 1)[-1]}", f"{src.name}:{exc.message_zh.split(':', 1)[-1]}",
                   details=exc.details) from exc
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, pyogrio.errors.FieldError,
            pyogrio.errors.GeometryError, pyogrio.errors.CRSError, shapely.errors.GEOSException,
            OSError, ValueError, RuntimeError, zipfile.BadZipFile, KeyError, IndexError) as exc:
        raise _gdal_error(src, exc) from exc
    if src.format == "shapefile" and ".prj" not in src.sidecars:
        gdf = gdf.set_crs(None, allow_override=True) if gdf.crs is not None else gdf
    frame = gdf.reset_index(drop=True)
    return RawData(frame, frame.crs, np.arange(1, len(frame) + 1), enc, notes)


def _refuse_empty_geojson(src: Source) -> None:
    """An empty GeoJSON (``{}``, ``[]``, blank, a FeatureCollection without features) says so, not "something else"."""
    head = read_bytes(src, limit=64 * 1024)
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff").strip()
    empty = text in ("", "{}", "[]")
    if not empty and len(head) < 64 * 1024:
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        empty = isinstance(doc, dict) and doc.get("type") == "FeatureCollection" and not doc.get("features")
    if empty:
        raise bad_input(f"{src.name}: an empty GeoJSON: it holds no features, so there is nothing to import. Export the "
                        "layer again with its features (check the selection or filter in the software it came from).",
                        f"{src.name}:GeoJSON 为空,没有任何要素,无可导入内容。请在原软件中确认选择/筛选后重新导出。")


def _text_or_refuse(src: Source, data: bytes) -> None:
    head = data[:4096].lstrip(b"\xef\xbb\xbf").lstrip()
    if b"<OGRVRTDataSource" in data[:4096] or b"<VRTDataset" in data[:4096] or head.startswith(b"<"):
        raise unsafe_input(f"{src.name}: named .csv but the content is XML (possibly a GDAL VRT that would read other files); "
                      "the file was not read. Export the table as real CSV.",
                      f"{src.name}:扩展名为 .csv,但内容是 XML(可能是会读取其他文件的 GDAL VRT);未读取。请导出为真正的 CSV。")
    if b"\x00" in data[:65536]:
        raise bad_input(f"{src.name}: named .csv but the content is binary (NUL bytes); export the table as CSV text "
                   "(UTF-8 or GBK), or upload the Excel file itself.",
                   f"{src.name}:扩展名为 .csv,但内容是二进制;请导出为文本 CSV(UTF-8 或 GBK),或直接上传 Excel 文件。")


def _read_csv(src: Source, *, encoding: str | None, limits: ImportLimits) -> RawData:
    data = read_bytes(src)
    _text_or_refuse(src, data)
    detected = detect_encoding(data[: 4 * MB])
    if encoding:
        enc = EncodingInfo(normalise_encoding(encoding), "declared", detected.candidates)
    else:
        enc = detected
    codec = "utf-8-sig" if enc.encoding == "UTF-8" else enc.encoding
    text = data.decode(codec, errors="replace")
    bad = text.count("\ufffd")
    if bad and enc.how != "declared" and bad > max(10, len(text) // 1000):
        raise bad_input(f"{src.name}: {bad:,} bytes cannot be decoded as UTF-8 or GB18030 (GBK); the file is not text in a "
                   "known encoding. Save it as CSV UTF-8 from Excel, or declare its encoding.",
                   f"{src.name}:有 {bad:,} 个字节无法按 UTF-8 或 GB18030(GBK)解码;请在 Excel 中另存为“CSV UTF-8”,或指定编码。")
    if not text.strip():
        raise bad_input(f"{src.name}: the CSV is empty; expected a header row and data rows.",
                   f"{src.name}:CSV 为空;应有表头行和数据行。")
    first = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    sep = max([",", "\t", ";", "|"], key=first.count)
    try:
        df = pd.read_csv(io.StringIO(text.lstrip("\ufeff")), sep=sep, dtype=str, keep_default_na=False,
                         na_values=[""], skip_blank_lines=True, nrows=limits.max_rows + 1, quoting=csv.QUOTE_MINIMAL)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, csv.Error, IndexError) as exc:
        raise bad_input(f"{src.name}: the CSV cannot be parsed ({str(exc).strip()}); check for unbalanced quotes or rows "
                   "with extra separators.",
                   f"{src.name}:CSV 无法解析({str(exc).strip()});请检查引号是否成对、各行分隔符数量是否一致。") from exc
    if len(df) > limits.max_rows:
        raise unsafe_input(f"{src.name}: more than {limits.max_rows:,} rows; split the file.",
                      f"{src.name}:超过 {limits.max_rows:,} 行;请拆分文件。")
    df.columns = [str(c).strip() for c in df.columns]
    _check_header(src, list(df.columns))
    return RawData(df, None, np.arange(2, len(df) + 2), enc, [f"CSV separator {sep!r}"])


def _check_header(src: Source, cols: list[str]) -> None:
    if not cols or all(c.startswith("Unnamed:") or not c for c in cols):
        raise bad_input(f"{src.name}: no header row found; the first row must name the columns (e.g. 统一社会信用代码, 税收(万元)).",
                   f"{src.name}:未找到表头行;第一行应为列名(如 统一社会信用代码、税收(万元))。")


def _cell_text(v) -> str:
    if v is None:
        return ""
    return unicodedata.normalize("NFKC", str(v)).strip()


@dataclass
class _Sheet:
    """One worksheet as read: cell values (formulas as text), calculated values, cell kinds, merged ranges."""

    title: str
    grid: list[list]  # as stored (formulas as their text)
    values: list[list]  # calculated values (the cached result of formulas)
    kinds: list[list]  # openpyxl data types ("f" = formula)
    merged: list[tuple[int, int, int, int]]  # (min_col, min_row, max_col, max_row), 1-based
    notes: list[str]
    notes_zh: list[str]


def _read_xlsx(src: Source, *, sheet: str | None, header_score, limits: ImportLimits) -> RawData:
    from openpyxl.utils import get_column_letter

    data = read_bytes(src)
    try:  # An .xlsx is a zip of XML: the same member, size and ratio checks as any upload.
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise bad_input(f"{src.name}: not a valid .xlsx workbook ({exc}); the file may be truncated or be an old .xls "
                        "renamed — open it in Excel or WPS and save as .xlsx.",
                        f"{src.name}:不是有效的 .xlsx 工作簿({exc});文件可能不完整,或是改了扩展名的 .xls。"
                        "请在 Excel/WPS 中另存为 .xlsx。") from exc
    check_zip_infos(src.name, infos, limits)
    sh = _load_sheet(src, data, sheet=sheet, limits=limits)
    filled = _merged_filled(sh.grid[:30], sh.merged)
    header, first_data, header_rows = _find_header(filled, _group_cells(sh.merged), header_score)
    labels = []
    seen: dict[str, int] = {}
    for j, lab in enumerate(header):
        lab = lab or f"列{get_column_letter(j + 1)}"
        seen[lab] = seen.get(lab, 0) + 1
        labels.append(lab if seen[lab] == 1 else f"{lab} ({seen[lab]})")
    return _table_below(src, sh, labels, first_data, header_rows, limits)


def _load_sheet(src: Source, data: bytes, *, sheet: str | None, limits: ImportLimits) -> _Sheet:
    """The chosen sheet's cells (with defusedxml behind openpyxl); unreadable or hostile workbooks raise."""
    import openpyxl

    try:
        with warnings.catch_warnings():
            # openpyxl warns about workbook features it drops (data validation, styles); not our concern.
            warnings.simplefilter("ignore")
            wb = openpyxl.load_workbook(io.BytesIO(data), data_only=False)
            names = wb.sheetnames
            if sheet is not None and sheet not in names:
                raise bad_input(f"{src.name}: no sheet {sheet!r}; the workbook has {', '.join(names)}.",
                                f"{src.name}:没有工作表 {sheet!r};现有:{'、'.join(names)}。")
            ws = wb[sheet] if sheet is not None else next((wb[n] for n in names if wb[n].max_row > 1), wb[names[0]])
            if ws.max_row * ws.max_column > limits.max_excel_cells:
                raise unsafe_input(f"{src.name}: sheet {ws.title!r} spans {ws.max_row:,} × {ws.max_column:,} cells, over "
                                   "the limit; delete empty rows/columns or split it.",
                                   f"{src.name}:工作表 {ws.title!r} 有 {ws.max_row:,} × {ws.max_column:,} 个单元格,超过上限;"
                                   "请删除空行列或拆分。")
            grid = [list(r) for r in ws.iter_rows(values_only=True)]
            kinds = [[c.data_type for c in r] for r in ws.iter_rows()]
            merged = [tuple(m.bounds) for m in ws.merged_cells.ranges]
            values = grid
            if any("f" in r for r in kinds):
                values = [list(r) for r in openpyxl.load_workbook(io.BytesIO(data), data_only=True)[ws.title]
                          .iter_rows(values_only=True)]
            several = len([n for n in names if wb[n].max_row > 1]) > 1 and sheet is None
    except PlannerError:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, OSError, EOFError, IndexError, AttributeError) as exc:
        raise bad_input(f"{src.name}: the workbook cannot be read ({type(exc).__name__}: {exc}); open it in Excel or "
                        "WPS and save it again as .xlsx.",
                        f"{src.name}:工作簿无法读取({exc});请在 Excel/WPS 中打开并重新保存为 .xlsx。") from exc
    except Exception as exc:  # defusedxml refuses entity tricks with its own exception types
        if type(exc).__module__.startswith(("defusedxml", "xml.")):
            raise unsafe_input(f"{src.name}: the workbook's XML uses entities or external references "
                               f"({type(exc).__name__}); refused. Save it again from Excel or WPS.",
                               f"{src.name}:工作簿 XML 含实体或外部引用;已拒绝。请用 Excel/WPS 重新保存。") from exc
        raise
    notes, notes_zh = [f"sheet {ws.title!r}"], [f"工作表 {ws.title!r}"]
    if several:
        notes.append(f"the workbook has several sheets ({', '.join(names)}); read {ws.title!r} — choose another with sheet=")
        notes_zh.append(f"工作簿有多个工作表({'、'.join(names)});已读取 {ws.title!r},可另选")
    if not grid or all(all(v is None for v in r) for r in grid):
        raise bad_input(f"{src.name}: sheet {ws.title!r} is empty; expected a header row and data rows.",
                        f"{src.name}:工作表 {ws.title!r} 为空;应有表头行和数据行。")
    width = max(len(r) for r in grid)
    for rows in (grid, values, kinds):
        for row in rows:
            row.extend([None] * (width - len(row)))
    return _Sheet(ws.title, grid, values, kinds, merged, notes, notes_zh)


def _merged_filled(grid: list[list], merged) -> list[list]:
    """The first rows with every merged range filled with its top-left value, so a merged header names each column."""
    filled = [list(r) for r in grid]
    for c0, r0, c1, r1 in merged:
        if r0 > len(filled):
            continue
        v = grid[r0 - 1][c0 - 1]
        for rr in range(r0, min(r1, len(filled)) + 1):
            for cc in range(c0, c1 + 1):
                filled[rr - 1][cc - 1] = v
    return filled


def _group_cells(merged) -> set[tuple[int, int]]:
    """(row, column), 0-based, of cells in a range merged across ≥ 2 columns of one row: a group header's span."""
    return {(r0 - 1, c - 1) for c0, r0, c1, r1 in merged if c1 > c0 and r1 == r0 for c in range(c0, c1 + 1)}


def _table_below(src: Source, sh: _Sheet, labels: list[str], first_data: int, header_rows: tuple[int, ...],
                 limits: ImportLimits) -> RawData:
    """The data rows under the header (empty rows dropped), which cells are numbers and which are formulas."""
    rows = sh.values[first_data:]
    kinds_rows = sh.kinds[first_data:]
    excel_rows = np.arange(first_data + 1, len(sh.values) + 1)
    keep = np.array([any(v is not None and str(v).strip() != "" for v in r) for r in rows], dtype=bool)
    rows = [r for r, k in zip(rows, keep) if k]
    kinds_rows = [r for r, k in zip(kinds_rows, keep) if k]
    grid_rows = [r for r, k in zip(sh.grid[first_data:], keep) if k]
    excel_rows = excel_rows[keep] if len(keep) else excel_rows[:0]
    if len(rows) > limits.max_rows:
        raise unsafe_input(f"{src.name}: more than {limits.max_rows:,} rows; split the workbook.",
                           f"{src.name}:超过 {limits.max_rows:,} 行;请拆分工作簿。")
    df = pd.DataFrame(rows, columns=labels, dtype=object)
    numeric = {lab: np.array([isinstance(r[j], (int, float)) and not isinstance(r[j], bool) for r in rows], dtype=bool)
               for j, lab in enumerate(labels)}
    formulas = [(i, labels[j], str(grid_rows[i][j]), rows[i][j] is not None)
                for i, r in enumerate(kinds_rows) for j, k in enumerate(r) if k == "f"]
    notes, notes_zh = list(sh.notes), list(sh.notes_zh)
    if header_rows and (header_rows[0] > 1 or len(header_rows) > 1):
        skipped = header_rows[0] - 1
        notes.append(f"header on row(s) {'–'.join(map(str, (header_rows[0], header_rows[-1])))}"
                     + (" (merged cells combined)" if len(header_rows) > 1 else "")
                     + (f"; {skipped} title row(s) above it skipped" if skipped else ""))
        notes_zh.append(f"表头位于第 {header_rows[0]}" + (f"–{header_rows[-1]}" if len(header_rows) > 1 else "")
                        + " 行" + (",已合并多级表头" if len(header_rows) > 1 else "")
                        + (f";跳过上方 {skipped} 行标题" if skipped else ""))
    return RawData(df, None, excel_rows, EncodingInfo(None, "binary", note="Excel stores text as Unicode"),
                   notes, notes_zh, formulas, numeric, header_rows)


def _find_header(filled: list[list], group_cells: set[tuple[int, int]], header_score) -> tuple[list[str], int, tuple[int, ...]]:
    """The header (one row, or two rows of a merged two-level header) that names the most known fields.

    Returns (labels, index of the first data row in the grid, 1-based header row numbers).
    Title and caption rows are never part of a header: a row with fewer than two distinct
    texts (``2025年度…明细表(税务局)``, merged or not) is a title; a row is a parent of a
    two-level header only where each of its texts above a non-empty child spans a merged
    group (``税收`` over ``2024年``/``2025年``) — ``填报单位:…`` above ``统一社会信用代码`` is a
    caption, so a mapping saved from this year's table matches next year's.
    """
    n = min(len(filled), 10)
    rows = [[_cell_text(v) for v in filled[i]] for i in range(len(filled))]
    candidates = []
    for i in range(n):
        row = rows[i]
        if len({v for v in row if v}) < 2 and n > 1:
            continue  # a title
        candidates.append(((i + 1,), row, i + 1))
        if i + 1 < len(rows) and _parent_of(row, rows[i + 1], i, group_cells):
            below = rows[i + 1]
            pair = [a if (a == b or not b) else (b if not a else f"{a}/{b}") for a, b in zip(row, below)]
            candidates.append(((i + 1, i + 2), pair, i + 2))
    if not candidates:
        return rows[0], 1, (1,)
    if header_score is None:
        rows_used, labels, first = candidates[0]
        return labels, first, rows_used
    # Best score; then the candidate with more distinct labels (a two-level header that tells
    # "2024年" from "2025年" beats its parent row alone); then one row over two; then the earlier one.
    best = max(range(len(candidates)),
               key=lambda k: (header_score(candidates[k][1]), len({v for v in candidates[k][1] if v}),
                              -len(candidates[k][0]), -k))
    rows_used, labels, first = candidates[best]
    return labels, first, rows_used


def _parent_of(row: list[str], below: list[str], i: int, group_cells: set[tuple[int, int]]) -> bool:
    """Whether ``row`` can be the upper row of a two-level header over ``below``."""
    if not any(below) or below == row:
        return False
    return all(not a or not b or a == b or (i, j) in group_cells for j, (a, b) in enumerate(zip(row, below)))
