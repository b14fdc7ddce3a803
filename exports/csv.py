"""CSV of a shortlist: UTF-8 with BOM (Chinese Excel opens it right), Chinese headers.

Same columns and headers as the Excel sheets, every row of ``items`` in rank order, no
geometry.  Text cells go through :func:`exports._safe.neutralise_formula` (a CSV cell
starting with ``=`` is a formula when the file is opened in Excel).  Lines end in CRLF
as RFC 4180 and Excel expect.

Ids and codes are written verbatim.  A CSV cannot tell Excel that a column is text, so
Excel still shows an all-digit 18-character credit code in scientific notation when the
CSV is opened by double-click; hand officials the Excel export (codes stored as text) and
keep the CSV for data exchange.

    write_csv(items, *, meta=None, out=None) -> bytes | Path
"""
from __future__ import annotations

import csv as _csv
import io
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from exports._common import TEXT_COLUMNS, ExportMeta, deliver, prepare, tabular
from exports._safe import neutralise_formula

__all__ = ["write_csv"]


def _cell(col: str, value):
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, np.generic):
        value = value.item()
    if col in TEXT_COLUMNS:
        value = str(value)
    if isinstance(value, float):
        return format(value, ".15g")  # 5000.0 → "5000", 0.1 + 0.2 → "0.3"
    return neutralise_formula(value) if isinstance(value, str) else value


def write_csv(items, *, meta: ExportMeta | None = None, out: str | os.PathLike | None = None) -> bytes | Path:
    """Write the shortlist ``items`` as a UTF-8 (BOM) CSV; return bytes or write ``out`` atomically.

    ``meta`` is accepted for a uniform writer signature; a CSV has no place for a title.
    """
    items = prepare(items)
    df, headers = tabular(items, meta)
    buf = io.StringIO(newline="")
    w = _csv.writer(buf, lineterminator="\r\n")
    w.writerow([neutralise_formula(h) for h in headers])
    cols = list(df.columns)
    for row in df.itertuples(index=False):
        w.writerow([_cell(c, v) for c, v in zip(cols, row)])
    return deliver(buf.getvalue().encode("utf-8-sig"), out)
