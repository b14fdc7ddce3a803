"""Stage 4, typing: each mapped column parsed into its field's dtype, in the field's unit.

Values are parsed column by column (vectorised); a value that does not parse is recorded as
a problem of its row, never dropped silently.  Codes stay text (an 18-digit credit code that
went through a float has lost its digits, and says so).
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from layers.codes import is_valid_credit_code
from layers.imports.columns import ColumnMap
from layers.imports.decode import clean_text
from layers.imports.problems import Problems, field_label
from layers.imports.read import RawData
from layers.schema import DATE_DTYPE, VALUE_LABELS_ZH, LayerSpec

__all__ = ["parse_column", "type_columns", "looks_like_formula", "credit_code_ok", "DTYPE_EN", "DTYPE_ZH"]


_TRUE = {"是", "y", "yes", "true", "1", "t", "规上", "规模以上", "√", "有", "已投产", "投产"}
_FALSE = {"否", "n", "no", "false", "0", "f", "规下", "规模以下", "×", "无", "未投产"}
_FORMULA = re.compile(r"^\s*[=+\-@\t\r]\s*[A-Za-z_(\"'@]")
DTYPE_EN = {"float64": "number", "int64": "whole number", "bool": "yes/no value (是/否)", "date": "date",
             "string": "text"}
DTYPE_ZH = {"float64": "数值", "int64": "整数", "bool": "是/否值", "date": "日期", "string": "文本"}


def parse_column(values: pd.Series, field, factor: float, *, numeric_cells: np.ndarray | None = None):
    """Parse one source column into ``field``'s dtype.

    Returns (parsed series, mask of values that did not parse, mask of codes stored as
    numbers with lost digits).  Numbers accept thousands separators, full-width digits and a
    trailing ``%`` (÷ 100); booleans accept 是/否, Y/N, 规上/规下...; dates accept
    ``2019-02-15``, ``2019/2/15``, ``2019年2月15日`` and Excel dates; categorical fields
    accept their Chinese labels (在用 → in_use).
    """
    text = clean_text(values)
    present = text.notna().to_numpy()
    lost = np.zeros(len(values), dtype=bool)
    if field.dtype in ("float64", "int64"):
        s = text.str.replace(",", "", regex=False).str.replace("，", "", regex=False)
        pct = s.str.endswith("%").fillna(False).to_numpy(dtype=bool)
        s = s.str.rstrip("%")
        num = pd.to_numeric(s, errors="coerce").astype("float64")
        num = num.where(~pct, num / 100.0)
        if factor != 1.0:
            # 3 元 × 1e-4 is 0.00030000000000000003 in binary floating point; 9 decimals keep 0.1 元 and 0.0015 m²
            num = (num * factor).round(9)
        bad = present & num.isna().to_numpy()
        if field.dtype == "int64":
            whole = num.notna() & (num.round() == num)
            bad |= (num.notna() & ~whole).to_numpy()
            out = num.where(whole).round().astype("Int64")
        else:
            out = num
        return out, bad, lost
    if field.dtype == "bool":
        low = text.str.lower()
        out = pd.Series(pd.NA, index=values.index, dtype="boolean")
        out[low.isin(_TRUE).fillna(False).to_numpy(dtype=bool)] = True
        out[low.isin(_FALSE).fillna(False).to_numpy(dtype=bool)] = False
        bad = present & out.isna().to_numpy()
        return out, bad, lost
    if field.dtype == "date":
        raw = values.to_numpy(dtype=object)
        is_dt = np.array([hasattr(v, "year") and hasattr(v, "month") for v in raw], dtype=bool)
        s = text.str.replace(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日?", r"\1-\2-\3", regex=True)
        s = s.str.replace("/", "-", regex=False).str.replace(".", "-", regex=False)
        parsed = pd.to_datetime(s.where(~pd.Series(is_dt, index=s.index)), errors="coerce", format="mixed")
        from_dt = pd.to_datetime(pd.Series(np.where(is_dt, raw, None), index=values.index), errors="coerce")
        out = parsed.where(~pd.Series(is_dt, index=s.index), from_dt).astype(DATE_DTYPE)
        bad = present & out.isna().to_numpy()
        return out, bad, lost
    # strings: codes must stay text; a code that went through a float has lost its digits.
    out = text
    if field.name in ("credit_code", "land_holder"):
        sci = text.str.contains(r"^\d(?:\.\d+)?[eE]\+?\d+$", regex=True).fillna(False).to_numpy(dtype=bool)
        long_num = np.zeros(len(values), dtype=bool)
        if numeric_cells is not None:
            long_num = numeric_cells & (text.str.len().fillna(0).to_numpy() >= 16)
        lost = sci | long_num
        out = text.str.upper()
    elif field.name in ("industry_code", "land_use") and numeric_cells is not None:
        # Excel drops leading zeros: 0610 → 610, 0601 → 601; 4-digit codes are restored.
        short = numeric_cells & text.str.len().isin([1, 3]).fillna(False).to_numpy(dtype=bool)
        out = text.where(~pd.Series(short, index=text.index), text.str.zfill(4 if field.name == "land_use" else 4))
        one = numeric_cells & (text.str.len() == 1).fillna(False).to_numpy(dtype=bool)
        out = out.where(~pd.Series(one, index=text.index), text.str.zfill(2))
    if field.choices:
        reverse = {zh: v for v, zh in VALUE_LABELS_ZH.items() if v in field.choices}
        reverse.update({v.replace("_", " "): v for v in field.choices})
        out = out.map(lambda v: reverse.get(v, reverse.get(str(v).lower(), v)) if v is not pd.NA else v).astype("string")
    bad = np.zeros(len(values), dtype=bool)
    return out, bad, lost


def type_columns(attrs: pd.DataFrame, maps: list[ColumnMap], spec: LayerSpec, raw: RawData,
                 problems: Problems) -> pd.DataFrame:
    """The mapped columns parsed into their fields' dtypes and units (one column per mapped field).

    Values that do not parse, codes that lost digits as numbers, formulas without a value
    and values outside a field's choices are recorded in ``problems``.
    """
    out = pd.DataFrame(index=attrs.index)
    formula_by_col: dict[str, list] = {}
    for pos, col, text, cached in raw.formula_cells:
        formula_by_col.setdefault(col, []).append((pos, text, cached))
    for m in maps:
        f = spec.field(m.field)
        en, zh = field_label(spec, m.field)
        col = attrs[m.source]
        parsed, bad, lost = parse_column(col, f, m.factor, numeric_cells=raw.numeric_cells.get(m.source))
        problems.add(bad, "bad_value", m.field, f"{en}: {{value!r}} is not a valid {DTYPE_EN[f.dtype]}",
                     f"{zh}:{{value!r}} 不是有效的{DTYPE_ZH[f.dtype]}", col)
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
            problems.add(looks_like_formula(parsed), "formula_text", m.field,
                         f"{en}: text that a spreadsheet would run as a formula ({{value}})",
                         f"{zh}:文本会被电子表格当作公式执行({{value}})", parsed)
        if f.choices:
            outside = parsed.notna().to_numpy() & ~parsed.isin(f.choices).fillna(False).to_numpy(dtype=bool)
            problems.add(outside, "bad_choice", m.field,
                         f"{en}: {{value!r}} is not one of {', '.join(f.choices)}",
                         f"{zh}:{{value!r}} 不在允许值 {'、'.join(f.choices)} 中", parsed)
        out[m.field] = parsed
    return out


def looks_like_formula(series: pd.Series) -> np.ndarray:
    """Text cells a spreadsheet would run as a formula (``=…``, ``+…``, ``-…``, ``@…``)."""
    s = series.astype("string")
    return s.str.match(_FORMULA).fillna(False).to_numpy(dtype=bool)


def credit_code_ok(series: pd.Series) -> np.ndarray:
    return is_valid_credit_code(series).to_numpy(dtype=bool)
