"""Readable values: how a stored value is shown to a planner on the map, its tooltips and the details panel.

One table of rules (:func:`unit_of`) says, per field, the unit and the rounding; the same
rules serve a whole column at once (:func:`format_values`, tooltips of thousands of plots)
and a single value (:func:`format_value`, the details panel):

- missing (None, NaN, NaT) → "—";
- True/False → 是/否 (Yes/No);
- land areas (``area_m2``, ``planned_area_m2`` …) → 亩, with m² beside in the details panel;
  floor areas (``floor_area_m2``, ``added_floor_m2``) stay in m²;
- money ``*_10k`` → 万元, per-mu figures → 万元/亩, distances ``*_m`` → m, shares → %,
  slope → °, flood depth → m, scores → 分, counts without decimals;
- codes → names: GB/T 4754 industry codes with the division name beside the code, GB/T 21010
  land-use codes with their name, township codes and park ids by name, credit codes with the
  firm's name, enumerations (``halted``, ``restricted`` …) by their label in the UI language.

Nothing here escapes HTML: callers that put values into HTML escape them (``ui.mapview``).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from layers.codes import industry_name
from ui.i18n import STRINGS, check_lang, t, value_label

__all__ = ["Unit", "Names", "unit_of", "format_values", "format_value", "unit_suffix", "LAND_AREA_FIELDS",
           "FLOOR_AREA_FIELDS", "EXTRA_LABELS", "extra_label"]

LAND_AREA_FIELDS = frozenset({"area_m2", "land_area_m2", "planned_area_m2", "developed_area_m2", "release_m2"})
FLOOR_AREA_FIELDS = frozenset({"floor_area_m2", "added_floor_m2"})
M2_PER_MU = 10000.0 / 15.0


# Labels (zh, en) of fields that no layer spec describes: the plot view's joined columns and the
# fields of layers outside the schema (the county outline).
EXTRA_LABELS = {
    "suitability": ("再开发适宜性评分", "Suitability score"), "mode_key": ("建议方式", "Suggested mode"),
    "township_name": ("镇街", "Township"), "park_name": ("园区", "Park"), "area_mu": ("用地面积", "Land area"),
    "name_zh": ("名称", "Name"), "name_en": ("英文名称", "Name"), "adcode": ("行政区划代码", "Division code"),
    "source": ("数据来源", "Source"),
}


def extra_label(field_name: str, lang: str) -> str | None:
    """The label of a field of :data:`EXTRA_LABELS` in ``lang`` (None when it has none)."""
    pair = EXTRA_LABELS.get(field_name)
    return None if pair is None else pair[0 if lang == "zh" else 1]


@dataclass(frozen=True)
class Unit:
    """How a number is shown: unit text per language, decimals, and a factor applied first."""

    zh: str
    en: str
    decimals: int = 2
    factor: float = 1.0

    def text(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


@dataclass(frozen=True)
class Names:
    """Look-ups that turn codes into names (all optional)."""

    townships: Mapping[str, str] = field(default_factory=dict)
    parks: Mapping[str, str] = field(default_factory=dict)
    firms: Mapping[str, str] = field(default_factory=dict)


_MU = Unit("亩", "mu", 2, 1.0 / M2_PER_MU)
_UNITS_EXACT: dict[str, Unit] = {
    **{f: _MU for f in LAND_AREA_FIELDS},
    **{f: Unit("m²", "m²", 0) for f in FLOOR_AREA_FIELDS},
    "far": Unit("", "", 2), "far_min": Unit("", "", 2),
    "building_coverage": Unit("%", "%", 1, 100.0),
    "tax_per_mu": Unit("万元/亩", "10k CNY/mu", 2), "tax_per_mu_average": Unit("万元/亩", "10k CNY/mu", 2),
    "electricity_10k_kwh": Unit("万kWh", "10k kWh", 2),
    "energy_tce": Unit("吨标准煤", "tce", 2), "emissions_t": Unit("吨", "t", 2),
    "employees": Unit("人", "people", 0),
    "slope_mean": Unit("°", "°", 1), "flood_depth_max": Unit("m", "m", 2),
    "suitability": Unit("分", "pts", 1), "suitability_raw": Unit("分", "pts", 1),
    "halted_years": Unit("年", "years", 1), "overdue_years": Unit("年", "years", 1),
    "n_rules": Unit("条", "", 0), "cluster_n_plots": Unit("块", "plots", 0), "pm_n_evaluated": Unit("家", "firms", 0),
}
# Suffix and prefix rules, tried in order after the exact names.
_UNITS_PATTERN: tuple[tuple[re.Pattern, Unit], ...] = (
    (re.compile(r"_per_mu$"), Unit("万元/亩", "10k CNY/mu", 2)),
    (re.compile(r"_10k$"), Unit("万元", "10k CNY", 2)),
    (re.compile(r"_mu$"), Unit("亩", "mu", 2)),
    (re.compile(r"^dist_.*_m$"), Unit("m", "m", 0)),
    (re.compile(r"(^share_|_share$|^pm_share_)"), Unit("%", "%", 1, 100.0)),
    (re.compile(r"^crit_"), Unit("分", "pts", 2)),
    (re.compile(r"^pm_n_"), Unit("家", "firms", 0)),
)
_INTEGER_FIELDS = frozenset({"year", "build_year", "cluster_id"})
_ENUM_FIELDS = frozenset({"status", "kind", "level", "suitability_status", "demonstration_level"})
_INDUSTRY_FIELDS = frozenset({"industry_code", "leading_industry", "leading_industries"})
_CREDIT_FIELDS = frozenset({"land_holder", "credit_code_holder"})


def unit_of(field_name: str) -> Unit | None:
    """The unit and rounding of a numeric field, or None when it has none (ids, codes, text)."""
    if field_name in _UNITS_EXACT:
        return _UNITS_EXACT[field_name]
    for pattern, unit in _UNITS_PATTERN:
        if pattern.search(field_name):
            return unit
    return None


def unit_suffix(field_name: str, lang: str) -> str:
    """The unit text of a field for a label ("亩", "万元/亩", "" when none)."""
    unit = unit_of(field_name)
    return unit.text(lang) if unit else ""


def _numbers(values: pd.Series, unit: Unit, lang: str) -> pd.Series:
    x = pd.to_numeric(values, errors="coerce").astype(float) * unit.factor
    text = unit.text(lang)
    sep = "" if text in ("%", "°", "") else " "
    fmt = f"{{:,.{unit.decimals}f}}"
    return x.map(lambda v: fmt.format(v) + (sep + text if text else ""))


def _land_area_detail(values: pd.Series, lang: str) -> pd.Series:
    m2 = pd.to_numeric(values, errors="coerce").astype(float)
    mu = t("mu", lang)
    return m2.map(lambda v: f"{v / M2_PER_MU:,.2f} {mu}({v:,.0f} m²)" if lang == "zh"
                  else f"{v / M2_PER_MU:,.2f} {mu} ({v:,.0f} m²)")


def _industry(values: pd.Series, lang: str) -> pd.Series:
    """'3360' → '3360 金属制品业'; several codes ('34,35') → each with its name, joined by '、'."""
    def one(code: str) -> str:
        code = code.strip()
        name = industry_name(pd.Series([code]), lang).iloc[0]
        return f"{code} {name}" if isinstance(name, str) else code

    sep = "、" if lang == "zh" else "; "
    return values.astype("object").map(lambda v: sep.join(one(c) for c in re.split(r"[,,;;、\s]+", str(v)) if c))


def _lookup(values: pd.Series, table: Mapping[str, str], *, code_beside: bool) -> pd.Series:
    s = values.astype("object").astype(str)
    names = s.map(table)
    if code_beside:
        return s.where(names.isna(), s + " " + names.astype(str))
    return names.where(names.notna(), s)


def _enum(values: pd.Series, lang: str) -> pd.Series:
    return values.astype("object").map(lambda v: value_label(str(v), lang))


def _kinds_list(values: pd.Series, lang: str) -> pd.Series:
    sep = "、" if lang == "zh" else ", "
    return values.astype("object").map(
        lambda v: sep.join(value_label(k.strip(), lang) for k in str(v).split(",") if k.strip()))


def format_values(values: pd.Series, field_name: str, lang: str, *, names: Names | None = None,
                  detail: bool = False) -> pd.Series:
    """Display strings of one column (object dtype, same index); missing values become "—".

    Parameters
    ----------
    values : Series
    field_name : str
        The stored field name: it picks the rule (module docstring).
    lang : {"zh", "en"}
    names : Names, optional
        Look-ups for township codes, park ids and credit codes.
    detail : bool
        The longer form where there is one (land areas with m² beside the 亩).
    """
    check_lang(lang)
    names = names or Names()
    missing = values.isna().to_numpy() if len(values) else np.zeros(0, dtype=bool)
    unit = unit_of(field_name)
    if pd.api.types.is_bool_dtype(values.dtype) or field_name in ("is_low_efficiency", "candidate", "restricted") \
            or field_name.startswith("rule_"):
        yes, no = (t("yes", lang), t("no", lang))
        out = values.astype("object").map(lambda v: v if pd.isna(v) else (yes if bool(v) else no))
    elif field_name in LAND_AREA_FIELDS and detail:
        out = _land_area_detail(values, lang)
    elif unit is not None:
        out = _numbers(values, unit, lang)
    elif field_name in _INTEGER_FIELDS:
        out = pd.to_numeric(values, errors="coerce").map(lambda v: f"{int(v)}" if pd.notna(v) else v)
    elif pd.api.types.is_datetime64_any_dtype(values.dtype):
        out = values.dt.strftime("%Y-%m-%d")
    elif field_name == "land_use":
        out = values.astype("object").map(lambda v: f"{v} {t(f'lu_{v}', lang)}" if f"lu_{v}" in STRINGS else str(v))
    elif field_name in _INDUSTRY_FIELDS:
        out = _industry(values, lang)
    elif field_name == "township_code":
        out = _lookup(values, names.townships, code_beside=False)
    elif field_name == "park_id":
        out = _lookup(values, names.parks, code_beside=True)
    elif field_name in _CREDIT_FIELDS:
        firm = values.astype("object").astype(str).map(names.firms)
        out = values.astype("object").astype(str).where(firm.isna(), firm.astype(str) + "(" + values.astype(str) + ")")
    elif field_name == "restricted_by":
        out = _kinds_list(values, lang)
    elif field_name == "mode_key":
        out = values.astype("object").map(lambda v: t(f"mode_{v}", lang) if f"mode_{v}" in STRINGS else str(v))
    elif field_name in _ENUM_FIELDS:
        out = _enum(values, lang)
    elif pd.api.types.is_float_dtype(values.dtype):
        out = values.astype(float).map(lambda v: f"{v:,.2f}")
    else:
        out = values.astype("object").astype(str)
    out = pd.Series(out, index=values.index, dtype="object")
    out[missing] = "—"
    return out


def format_value(value, field_name: str, lang: str, *, names: Names | None = None, detail: bool = True) -> str:
    """:func:`format_values` for one value (the details panel: the long form by default)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        value = ", ".join(str(v) for v in value)
    if isinstance(value, pd.Timestamp):
        series = pd.Series([value], dtype="datetime64[ns]")
    elif isinstance(value, (bool, np.bool_)):
        series = pd.Series([bool(value)], dtype=bool)
    else:
        series = pd.Series([value], dtype="object")
        if isinstance(value, (float, np.floating)):
            series = series.astype(float)
    return str(format_values(series, field_name, lang, names=names, detail=detail).iloc[0])
