"""Stage 1, reading: a resolved source into a :class:`RawData` (columns as read, an optional geometry).

Vector formats go through :func:`geo.io.read_vector` (one GDAL driver per extension, VRT and
network drivers off, content sniffed first); CSV and Excel are parsed by pandas and openpyxl
(with defusedxml), never by GDAL.  An Excel header is found among the first rows (title rows
above it skipped, merged two-level headers combined).
"""
from __future__ import annotations

import csv
import io
import unicodedata
import warnings
import zipfile
from dataclasses import dataclass, field
from typing import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from geo.errors import ImportDataError, PlannerError, UnsafeInputError
from geo.io import gdal_safe_config, read_vector, sniff_format
from layers.imports.decode import EncodingInfo, detect_encoding, normalise_encoding, shapefile_encoding
from layers.imports.source import (MB, ImportLimits, Source, bad_input, check_zip_infos, default_limits, read_bytes,
                                   unsafe_input)

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


def _read_xlsx(src: Source, *, sheet: str | None, header_score, limits: ImportLimits) -> RawData:
    import openpyxl
    from openpyxl.utils import get_column_letter

    data = read_bytes(src)
    tmp = io.BytesIO(data)
    # An .xlsx is a zip of XML: the same member, size and ratio checks as any upload.
    try:
        with zipfile.ZipFile(tmp) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise bad_input(f"{src.name}: not a valid .xlsx workbook ({exc}); the file may be truncated or be an old .xls renamed — "
                   "open it in Excel or WPS and save as .xlsx.",
                   f"{src.name}:不是有效的 .xlsx 工作簿({exc});文件可能不完整,或是改了扩展名的 .xls。请在 Excel/WPS 中另存为 .xlsx。") from exc
    check_zip_infos(src.name, infos, limits)
    try:
        with warnings.catch_warnings():
            # openpyxl warns about workbook features it drops (data validation, styles); not our concern.
            warnings.simplefilter("ignore")
            wb = openpyxl.load_workbook(io.BytesIO(data), data_only=False)
            wb_values = None
            names = wb.sheetnames
            if sheet is not None and sheet not in names:
                raise bad_input(f"{src.name}: no sheet {sheet!r}; the workbook has {', '.join(names)}.",
                           f"{src.name}:没有工作表 {sheet!r};现有:{'、'.join(names)}。")
            ws = wb[sheet] if sheet is not None else next((wb[n] for n in names if wb[n].max_row > 1), wb[names[0]])
            if ws.max_row * ws.max_column > limits.max_excel_cells:
                raise unsafe_input(f"{src.name}: sheet {ws.title!r} spans {ws.max_row:,} × {ws.max_column:,} cells, over the limit; "
                              "delete empty rows/columns or split it.",
                              f"{src.name}:工作表 {ws.title!r} 有 {ws.max_row:,} × {ws.max_column:,} 个单元格,超过上限;请删除空行列或拆分。")
            grid = [list(r) for r in ws.iter_rows(values_only=True)]
            kinds = [[c.data_type for c in r] for r in ws.iter_rows()]
            merged = [tuple(m.bounds) for m in ws.merged_cells.ranges]  # (min_col, min_row, max_col, max_row)
            if any("f" in r for r in kinds):
                wb_values = openpyxl.load_workbook(io.BytesIO(data), data_only=True)
                values = [list(r) for r in wb_values[ws.title].iter_rows(values_only=True)]
            else:
                values = grid
    except PlannerError:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, OSError, EOFError, IndexError, AttributeError) as exc:
        raise bad_input(f"{src.name}: the workbook cannot be read ({type(exc).__name__}: {exc}); open it in Excel or WPS and "
                   "save it again as .xlsx.",
                   f"{src.name}:工作簿无法读取({exc});请在 Excel/WPS 中打开并重新保存为 .xlsx。") from exc
    except Exception as exc:  # defusedxml refuses entity tricks with its own exception types
        if type(exc).__module__.startswith(("defusedxml", "xml.")):
            raise unsafe_input(f"{src.name}: the workbook's XML uses entities or external references ({type(exc).__name__}); "
                          "refused. Save it again from Excel or WPS.",
                          f"{src.name}:工作簿 XML 含实体或外部引用;已拒绝。请用 Excel/WPS 重新保存。") from exc
        raise
    notes, notes_zh = [f"sheet {ws.title!r}"], [f"工作表 {ws.title!r}"]
    if len([n for n in names if wb[n].max_row > 1]) > 1 and sheet is None:
        notes.append(f"the workbook has several sheets ({', '.join(names)}); read {ws.title!r} — choose another with sheet=")
        notes_zh.append(f"工作簿有多个工作表({'、'.join(names)});已读取 {ws.title!r},可另选")
    if not grid or all(all(v is None for v in r) for r in grid):
        raise bad_input(f"{src.name}: sheet {ws.title!r} is empty; expected a header row and data rows.",
                   f"{src.name}:工作表 {ws.title!r} 为空;应有表头行和数据行。")
    width = max(len(r) for r in grid)
    for r in (grid, values, kinds):
        for row in r:
            row.extend([None] * (width - len(row)))
    # Fill merged ranges with their top-left value, so a merged header names every column it spans.
    filled = [list(r) for r in grid[:30]]
    for c0, r0, c1, r1 in merged:
        if r0 > len(filled):
            continue
        v = grid[r0 - 1][c0 - 1]
        for rr in range(r0, min(r1, len(filled)) + 1):
            for cc in range(c0, c1 + 1):
                filled[rr - 1][cc - 1] = v
    title_rows = {r0 for c0, r0, c1, r1 in merged if c1 - c0 + 1 >= max(2, width - 1) and r0 == r1}
    header, first_data, header_rows = _find_header(filled, title_rows, header_score)
    labels = []
    seen: dict[str, int] = {}
    for j, lab in enumerate(header):
        lab = lab or f"列{get_column_letter(j + 1)}"
        seen[lab] = seen.get(lab, 0) + 1
        labels.append(lab if seen[lab] == 1 else f"{lab} ({seen[lab]})")
    rows = values[first_data:]
    kinds_rows = kinds[first_data:]
    excel_rows = np.arange(first_data + 1, len(values) + 1)
    keep = np.array([any(v is not None and str(v).strip() != "" for v in r) for r in rows], dtype=bool)
    rows = [r for r, k in zip(rows, keep) if k]
    kinds_rows = [r for r, k in zip(kinds_rows, keep) if k]
    grid_rows = [r for r, k in zip(grid[first_data:], keep) if k]
    excel_rows = excel_rows[keep] if len(keep) else excel_rows[:0]
    if len(rows) > limits.max_rows:
        raise unsafe_input(f"{src.name}: more than {limits.max_rows:,} rows; split the workbook.",
                      f"{src.name}:超过 {limits.max_rows:,} 行;请拆分工作簿。")
    df = pd.DataFrame(rows, columns=labels, dtype=object)
    numeric = {lab: np.array([isinstance(r[j], (int, float)) and not isinstance(r[j], bool) for r in rows], dtype=bool)
               for j, lab in enumerate(labels)}
    formulas = [(i, labels[j], str(grid_rows[i][j]), rows[i][j] is not None)
                for i, r in enumerate(kinds_rows) for j, k in enumerate(r) if k == "f"]
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


def _find_header(filled: list[list], title_rows: set[int], header_score) -> tuple[list[str], int, tuple[int, ...]]:
    """The header (one row, or two rows of a merged two-level header) that names the most known fields.

    Returns (labels, index of the first data row in the grid, 1-based header row numbers).
    Candidates are each of the first 10 rows and each pair of adjacent rows (parent + child
    label, the parent repeated across its merged span); without a ``header_score`` the
    first row with at least two non-empty cells that is not a merged title wins.
    """
    n = min(len(filled), 10)
    candidates = []
    for i in range(n):
        if (i + 1) in title_rows:
            continue
        row = [_cell_text(v) for v in filled[i]]
        if sum(bool(v) for v in row) < 2 and n > 1:
            continue
        candidates.append(((i + 1,), row, i + 1))
        if i + 1 < len(filled):
            below = [_cell_text(v) for v in filled[i + 1]]
            if sum(bool(v) for v in below) >= 1 and below != row:
                pair = [a if (a == b or not b) else (b if not a else f"{a}/{b}") for a, b in zip(row, below)]
                candidates.append(((i + 1, i + 2), pair, i + 2))
    if not candidates:
        row = [_cell_text(v) for v in filled[0]]
        return row, 1, (1,)
    if header_score is None:
        rows, labels, first = candidates[0]
        return labels, first, rows
    # Best score; then the candidate with more distinct labels (a two-level header that tells
    # "2024年" from "2025年" beats its parent row alone); then the earlier one.
    best = max(range(len(candidates)),
               key=lambda k: (header_score(candidates[k][1]), len({v for v in candidates[k][1] if v}), -k))
    rows, labels, first = candidates[best]
    return labels, first, rows
