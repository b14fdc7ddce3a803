"""Excel workbook of a shortlist for township officials (openpyxl).

Layout: a summary sheet 汇总 (title, date, source, scope, export time in Beijing time; item
count and 亩 by township and status, with totals), then one sheet per township (named after it)
listing its items under Chinese headers, each code beside its name (firm, park, industry, land
use: :func:`exports._common.tabular`); an empty text cell reads "—".  Numbers are written as numbers (亩 and m² with two decimals / one),
ids and codes (credit codes, plot ids, township codes, land-use and industry codes) as
text with number format ``@`` so Excel never turns an 18-digit credit code into a float,
and every text cell goes through :func:`exports._safe.neutralise_formula`.

    write_xlsx(items, *, meta=None, out=None) -> bytes | Path
"""
from __future__ import annotations

import io
import math
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from exports._common import STATUS_ORDER, TEXT_COLUMNS, ExportMeta, deliver, prepare, tabular, township_groups
from exports._safe import neutralise_formula
from exports.formatting import DASH

__all__ = ["write_xlsx", "SUMMARY_SHEET", "sheet_name"]

SUMMARY_SHEET = "汇总"
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")
_HEAD_FILL = PatternFill("solid", fgColor="DDE6F0")
_NUMBER_FORMATS = {"area_mu": "0.00", "area_m2": "0.0", "score": "0.00", "far": "0.00", "rank": "0"}


def sheet_name(name: str, taken: set[str]) -> str:
    """A legal, unique sheet name (≤ 31 characters, none of ``[]:*?/\\``)."""
    base = _BAD_SHEET_CHARS.sub("_", name).strip("'") or "镇街"
    base = base[:31]
    candidate, n = base, 2
    while candidate in taken or candidate == SUMMARY_SHEET:
        suffix = f"_{n}"
        candidate, n = base[:31 - len(suffix)] + suffix, n + 1
    taken.add(candidate)
    return candidate


def _cell_value(value):
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):  # numpy scalars → Python numbers openpyxl knows
        value = value.item()
    return neutralise_formula(value)


def _write_table(ws, df: pd.DataFrame, headers: list[str], start_row: int = 1) -> None:
    for j, h in enumerate(headers, start=1):
        c = ws.cell(row=start_row, column=j, value=neutralise_formula(h))
        c.font, c.fill, c.alignment = Font(bold=True), _HEAD_FILL, Alignment(wrap_text=True, vertical="center")
    cols = list(df.columns)
    for i, row in enumerate(df.itertuples(index=False), start=start_row + 1):
        for j, (col, value) in enumerate(zip(cols, row), start=1):
            v = _cell_value(value)
            if col in TEXT_COLUMNS and v is not None:
                v = neutralise_formula(str(v))
            if v is None and col not in _NUMBER_FORMATS:
                v = DASH  # an empty text cell reads as "—", as on screen; numbers stay blank (sums work)
            c = ws.cell(row=i, column=j, value=v)
            if col in TEXT_COLUMNS:
                c.number_format = "@"
            elif col in _NUMBER_FORMATS and isinstance(v, (int, float)):
                c.number_format = _NUMBER_FORMATS[col]
            elif col in ("reasons", "notes"):
                c.alignment = Alignment(wrap_text=True, vertical="top")
    for j, col in enumerate(cols, start=1):
        width = 40 if col in ("reasons", "notes") else (
            26 if col in ("firm_name", "park_name", "industry_name") else (22 if col in TEXT_COLUMNS else 12))
        ws.column_dimensions[get_column_letter(j)].width = width
    ws.freeze_panes = ws.cell(row=start_row + 1, column=1)
    if len(df):
        ws.auto_filter.ref = f"A{start_row}:{get_column_letter(len(cols))}{start_row + len(df)}"


def _summary(ws, items: pd.DataFrame, meta: ExportMeta, groups) -> None:
    ws["A1"] = neutralise_formula(meta.title)
    ws["A1"].font = Font(bold=True, size=14)
    info = [("导出日期", meta.date.isoformat()), ("数据来源", meta.source or DASH),
            ("范围", "、".join(name for _, name, _ in groups) if len(groups) == 1 else f"全部({len(groups)} 个镇街)"),
            ("导出时间", meta.exported_text())]
    for r, (k, v) in enumerate(info, start=2):
        ws.cell(row=r, column=1, value=k).font = Font(bold=True)
        ws.cell(row=r, column=2, value=neutralise_formula(v))
    head_row = len(info) + 3
    headers = ["镇街", "镇街代码"] + [f"{s}(宗)" for s in STATUS_ORDER] + [f"{s}(亩)" for s in STATUS_ORDER] + ["合计(宗)", "合计(亩)"]
    for j, h in enumerate(headers, start=1):
        c = ws.cell(row=head_row, column=j, value=h)
        c.font, c.fill, c.alignment = Font(bold=True), _HEAD_FILL, Alignment(wrap_text=True)

    def figures(rows: pd.DataFrame) -> list:
        counts = [int((rows["status"] == s).sum()) for s in STATUS_ORDER]
        mu = [round(float(rows.loc[rows["status"] == s, "area_mu"].sum()), 2) for s in STATUS_ORDER]
        return counts + mu + [int(len(rows)), round(float(rows["area_mu"].sum()), 2)]

    r = head_row
    for code, name, rows in groups:
        r += 1
        for j, v in enumerate([neutralise_formula(name), code] + figures(rows), start=1):
            c = ws.cell(row=r, column=j, value=v)
            if j == 2:
                c.number_format = "@"
            elif j > 2 and isinstance(v, float):
                c.number_format = "0.00"
    r += 1
    for j, v in enumerate(["合计", None] + figures(items), start=1):
        c = ws.cell(row=r, column=j, value=v)
        c.font = Font(bold=True)
        if j > 2 and isinstance(v, float):
            c.number_format = "0.00"
    ws.column_dimensions["A"].width = 16
    ws.column_dimensions["B"].width = 14
    for j in range(3, len(headers) + 1):
        ws.column_dimensions[get_column_letter(j)].width = 11


def write_xlsx(items, *, meta: ExportMeta | None = None, out: str | os.PathLike | None = None) -> bytes | Path:
    """Write the shortlist ``items`` as an Excel workbook.

    Parameters
    ----------
    items : GeoDataFrame or DataFrame
        Shortlist rows (``layers.shortlist.load`` output, possibly filtered to one township);
        the geometry, if any, is not written.
    meta : ExportMeta, optional
        Title, date and source printed on the summary sheet.
    out : path, optional
        Write the file there atomically and return the path; otherwise return the bytes.
    """
    meta = meta or ExportMeta()
    items = prepare(items)
    groups = township_groups(items)
    wb = Workbook()
    summary = wb.active
    summary.title = SUMMARY_SHEET
    _summary(summary, items, meta, groups)
    taken: set[str] = set()
    for _, name, rows in groups:
        df, headers = tabular(rows, meta)
        _write_table(wb.create_sheet(sheet_name(name, taken)), df, headers)
    buf = io.BytesIO()
    wb.save(buf)
    return deliver(buf.getvalue(), out)
