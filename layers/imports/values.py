"""Stage 4, typing: each mapped column parsed into its field's dtype, in the field's unit.

Values are parsed column by column (vectorised); a value that does not parse is recorded as
a problem of its row, never dropped silently.  Codes stay text (an 18-digit credit code that
went through a float has lost its digits, and says so).
"""
from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np
import pandas as pd

from layers.codes import invalid_code_lists, is_valid_credit_code
from layers.imports.columns import UNITS, ColumnMap, normalise_label
from layers.imports.decode import clean_text
from layers.imports.problems import Problems, field_label
from layers.imports.read import RawData
from layers.schema import DATE_DTYPE, VALUE_LABELS_ZH, LayerSpec

__all__ = ["Parsed", "parse_column", "type_columns", "looks_like_formula", "credit_code_ok", "DTYPE_EN", "DTYPE_ZH"]


_TRUE = {"是", "y", "yes", "true", "1", "t", "规上", "规模以上", "√", "有", "已投产", "投产"}
_FALSE = {"否", "n", "no", "false", "0", "f", "规下", "规模以下", "×", "无", "未投产"}
_FORMULA = re.compile(r"^\s*[=+\-@\t\r]\s*[A-Za-z_(\"'@]")
DTYPE_EN = {"float64": "number", "int64": "whole number", "bool": "yes/no value (是/否)", "date": "date",
             "string": "text"}
DTYPE_ZH = {"float64": "数值", "int64": "整数", "bool": "是/否值", "date": "日期", "string": "文本"}


class Parsed(NamedTuple):
    """One column parsed: the values, and per row whether it failed, lost digits, or has a suggested value."""

    values: pd.Series
    bad: np.ndarray
    lost: np.ndarray
    suggestion: np.ndarray  # object: the value the planner probably meant (as text), or None


def parse_column(values: pd.Series, field, factor: float, *, numeric_cells: np.ndarray | None = None,
                 take: int | None = None) -> Parsed:
    """Parse one source column into ``field``'s dtype (numbers × ``factor``, the header unit's).

    Numbers accept thousands separators, full-width digits, a trailing ``%`` (÷ 100) and a
    unit that agrees with the field's (``300万元``, ``1.2亿`` in a 万元 column; ``5亩``,
    ``2公顷`` in an area column: converted); a unit that does not agree, or words such as
    ``约50``/``50左右``, fail with a suggested value.  Booleans accept 是/否, Y/N, 规上/规下...;
    dates accept ``2019-02-15``, ``2019/2/15``, ``2019年2月15日`` and Excel dates; categorical
    fields accept their Chinese labels (在用 → in_use); ``take`` keeps the first characters of
    a code (a township inside a village code).
    """
    text = clean_text(values)
    if field.dtype in ("float64", "int64"):
        return _numbers(text, field, factor)
    none = np.full(len(values), None, dtype=object)
    if field.dtype == "bool":
        low = text.str.lower()
        out = pd.Series(pd.NA, index=values.index, dtype="boolean")
        out[low.isin(_TRUE).fillna(False).to_numpy(dtype=bool)] = True
        out[low.isin(_FALSE).fillna(False).to_numpy(dtype=bool)] = False
        return Parsed(out, text.notna().to_numpy() & out.isna().to_numpy(), np.zeros(len(values), bool), none)
    if field.dtype == "date":
        out = _dates(values, text)
        return Parsed(out, text.notna().to_numpy() & out.isna().to_numpy(), np.zeros(len(values), bool), none)
    out, lost = _codes(text, field, numeric_cells, take)
    return Parsed(out, np.zeros(len(values), dtype=bool), lost, none)


# A number as offices write it: an optional hedge (约, 近...), the number, an optional unit, an optional hedge after.
_NUMBER = re.compile(r"^(?P<pre>约为|大约|约|近|超过|不足|不到|≈|~)?\s*(?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)"
                     r"\s*(?P<unit>[^\d]*?)\s*(?P<post>左右|以上|以下|多|余|上下)?$", re.IGNORECASE)
# The unit a bare 万/亿 multiplies, per stored unit (300万 in a 万元 column is 300 万元).
_BASE_UNIT = {"m²": "平方米", "万元": "元", "万kWh": "千瓦时", "tce": "吨标准煤", "t": "吨", "人": "人"}


def _value_units(stored: str, *, year: bool = False) -> dict[str, float]:
    """Units a value may carry in a column stored in ``stored`` → the factor to ``stored``."""
    if year:
        return {"年": 1.0, "年度": 1.0}
    if stored not in UNITS:
        return {}
    table = {normalise_label(u): f for u, f in UNITS[stored].items()}
    for u, f in list(table.items()):
        table.setdefault("万" + u, 1e4 * f)
        table.setdefault("亿" + u, 1e8 * f)
    base = table[normalise_label(_BASE_UNIT[stored])]
    table.update({k: v * base for k, v in {"万": 1e4, "亿": 1e8, "千": 1e3}.items() if k not in table})
    if stored == "m²":
        table.setdefault("平", 1.0)
    return table


def _numbers(text: pd.Series, field, factor: float) -> Parsed:
    """Numbers (with their unit or a hedge word) → the field's unit; failures get a suggested value."""
    present = text.notna().to_numpy()
    s = text.str.replace(",", "", regex=False).str.replace(" ", "", regex=False)
    parts = s.str.extract(_NUMBER)
    num = pd.to_numeric(parts["num"], errors="coerce").astype("float64").to_numpy()
    unit = parts["unit"].fillna("").map(normalise_label).to_numpy(dtype=object)
    hedged = (parts["pre"].notna() | parts["post"].notna()).to_numpy()
    units = _value_units(field.unit, year=field.name in ("build_year", "year"))
    unit_factor = np.array([units.get(u, np.nan) if u not in ("", "%") else np.nan for u in unit], dtype=float)
    pct = unit == "%"
    plain = unit == ""
    known = plain | pct | np.isfinite(unit_factor)
    scale = np.where(plain, factor, np.where(pct, factor / 100.0, unit_factor))
    # 3 元 × 1e-4 is 0.00030000000000000003 in binary floating point; 9 decimals keep 0.1 元 and 0.0015 m²
    value = np.round(num * np.where(np.isfinite(scale), scale, factor), 9)
    ok = present & np.isfinite(num) & known & ~hedged
    bad = present & ~ok
    guess = np.where(bad & np.isfinite(value), value, np.nan)
    out = pd.Series(np.where(ok, value, np.nan), index=text.index, dtype="float64")
    if field.dtype == "int64":
        whole = out.notna() & (out.round() == out)
        bad |= (out.notna() & ~whole).to_numpy()
        out = out.where(whole).round().astype("Int64")
    suggestion = np.array([None if np.isnan(g) else f"{g:g}" for g in guess], dtype=object)
    return Parsed(out, bad, np.zeros(len(text), dtype=bool), suggestion)


def _dates(values: pd.Series, text: pd.Series) -> pd.Series:
    raw = values.to_numpy(dtype=object)
    is_dt = pd.Series(np.array([hasattr(v, "year") and hasattr(v, "month") for v in raw], dtype=bool), index=text.index)
    s = text.str.replace(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日?", r"\1-\2-\3", regex=True)
    s = s.str.replace("/", "-", regex=False).str.replace(".", "-", regex=False)
    parsed = pd.to_datetime(s.where(~is_dt), errors="coerce", format="mixed")
    from_dt = pd.to_datetime(pd.Series(np.where(is_dt, raw, None), index=values.index), errors="coerce")
    return parsed.where(~is_dt, from_dt).astype(DATE_DTYPE)


def _codes(text: pd.Series, field, numeric_cells: np.ndarray | None, take: int | None) -> tuple[pd.Series, np.ndarray]:
    """Text fields: codes stay text; a code that went through a float has lost its digits (the mask)."""
    out = text
    lost = np.zeros(len(text), dtype=bool)
    if field.name in ("credit_code", "land_holder"):
        sci = text.str.contains(r"^\d(?:\.\d+)?[eE]\+?\d+$", regex=True).fillna(False).to_numpy(dtype=bool)
        long_num = np.zeros(len(text), dtype=bool)
        if numeric_cells is not None:
            long_num = numeric_cells & (text.str.len().fillna(0).to_numpy() >= 16)
        lost = sci | long_num
        out = text.str.upper()
    elif field.name in ("industry_code", "land_use") and numeric_cells is not None:
        # Excel drops leading zeros: 0610 → 610, 0601 → 601; 4-digit codes are restored.
        short = numeric_cells & text.str.len().isin([1, 3]).fillna(False).to_numpy(dtype=bool)
        out = text.where(~pd.Series(short, index=text.index), text.str.zfill(4))
        one = numeric_cells & (text.str.len() == 1).fillna(False).to_numpy(dtype=bool)
        out = out.where(~pd.Series(one, index=text.index), text.str.zfill(2))
    if take:
        out = out.str.slice(0, take)
    if field.choices:
        reverse = {zh: v for v, zh in VALUE_LABELS_ZH.items() if v in field.choices}
        reverse.update({v.replace("_", " "): v for v in field.choices})
        out = out.map(lambda v: reverse.get(v, reverse.get(str(v).lower(), v)) if v is not pd.NA else v).astype("string")
    return out, lost


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
        parsed, bad, lost, suggestion = parse_column(col, f, m.factor, numeric_cells=raw.numeric_cells.get(m.source),
                                                     take=m.take)
        problems.add(bad, "bad_value", m.field, f"{en}: {{value!r}} is not a valid {DTYPE_EN[f.dtype]}"
                     + (f" in {f.unit}" if f.unit else ""),
                     f"{zh}:{{value!r}} 不是有效的{DTYPE_ZH[f.dtype]}" + (f"(单位 {f.unit})" if f.unit else ""), col,
                     suggestions=suggestion)
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
        if f.code_list:  # leading industries: GB/T 4754 codes, any separator (layers.codes.parse_code_list)
            bad_codes = invalid_code_lists(parsed)
            problems.add(bad_codes.notna().to_numpy(), "bad_industry_code", m.field,
                         f"{en}: {{value!r}} is not a GB/T 4754 code (write 2–4 digits, e.g. 36,34)",
                         f"{zh}:{{value!r}} 不是 GB/T 4754 行业代码(应为 2–4 位数字,如 36、34)", bad_codes)
        out[m.field] = parsed
    return out


def looks_like_formula(series: pd.Series) -> np.ndarray:
    """Text cells a spreadsheet would run as a formula (``=…``, ``+…``, ``-…``, ``@…``)."""
    s = series.astype("string")
    return s.str.match(_FORMULA).fillna(False).to_numpy(dtype=bool)


def credit_code_ok(series: pd.Series) -> np.ndarray:
    return is_valid_credit_code(series).to_numpy(dtype=bool)
