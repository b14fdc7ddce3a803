"""How a value reads on a planner's screen, in an export and on paper: one place for all of it.

The analysis stores codes, enums, booleans and full-precision floats; a planner reads names,
labels, rounded numbers with their unit, local times and "—" where nothing is known.  Every
page, chart, export and the CLI turns stored values into text through this module, so the
same value reads the same everywhere:

* missing (None, NaN, NA, NaT, "") → :data:`DASH` ("—");
* enums (``industrial_park``, ``halted``, ``assigned``, ``pass``…) and booleans → labels
  in Chinese or English (:func:`value_label`, :func:`yes_no`);
* codes → names: GB/T 4754 industries with the code beside (:func:`industry_label`,
  :func:`industry_mix`), townships and parks from a ``{code: name}`` mapping
  (:func:`name_of`, :func:`names_in_text`);
* numbers → rounded text with their unit (:func:`number`, :func:`percent`; units from
  :data:`UNITS`);
* times → the workspace's time zone (:func:`local_time`): the store keeps UTC (ISO 8601 with
  offset); a planner in 瑞安 reads Asia/Shanghai.  A time without an offset is taken as UTC.

Pure functions of values (no Streamlit, no files).  ``lang`` is ``"zh"`` (default) or ``"en"``.

>>> number(1492624.932, unit="m2"), number(77.1106, unit="points"), number(None)
('1,492,625 m²', '77.1 分', '—')
>>> value_label("industrial_park"), value_label("halted", "en"), yes_no(True)
('工业集聚区/功能区', 'Halted', '是')
>>> industry_label("3670"), industry_mix("34 44%, 33 25%")
('3670 汽车零部件及配件制造', '34 通用设备制造业 44%、33 金属制品业 25%')
>>> local_time("2026-11-28T08:31:37+00:00")
'2026-11-28 16:31'
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from layers.codes import industry_title
from layers.schema import VALUE_LABELS_ZH
from layers.timefmt import TIME_ZONE, local_time, local_times

__all__ = [
    "DASH",
    "TIME_ZONE",
    "UNITS",
    "VALUE_LABELS_EN",
    "is_missing",
    "text",
    "ident",
    "number",
    "percent",
    "unit_label",
    "with_unit",
    "yes_no",
    "value_label",
    "industry_label",
    "industry_mix",
    "LAND_USES",
    "land_use_label",
    "INDICATORS",
    "name_of",
    "names_in_text",
    "industries_in_text",
    "units_in_text",
    "local_time",
    "local_times",
]

DASH = "—"

#: Unit keys → (Chinese, English) text, as written after a number or in a header "面积(亩)".
UNITS: dict[str, tuple[str, str]] = {
    "mu": ("亩", "mu"),
    "m2": ("m²", "m²"),
    "10k_m2": ("万m²", "10k m²"),
    "m": ("米", "m"),
    "km": ("公里", "km"),
    "points": ("分", "pts"),
    "firms": ("家", "firms"),
    "plots": ("块", "plots"),
    "items": ("项", "items"),
    "count": ("个", ""),  # zones, parks, pairs: "8 个" in Chinese, a bare count in English
    "years": ("年", "yr"),
    "10k_yuan": ("万元", "10k yuan"),
    "10k_yuan_per_mu": ("万元/亩", "10k yuan/mu"),
    "10k_yuan_per_tce": ("万元/吨标煤", "10k yuan/tce"),
    "10k_yuan_per_t": ("万元/吨", "10k yuan/t"),
    "10k_yuan_per_person": ("万元/人·年", "10k yuan/person·yr"),
    "yuan_per_kwh": ("元/千瓦时", "yuan/kWh"),
    "yuan_per_m3": ("元/m³", "yuan/m³"),
    "seconds": ("秒", "s"),
    "percent": ("%", "%"),
}

# Enum values the analyses and layers store, in English (Chinese: layers.schema.VALUE_LABELS_ZH
# for layer values, _MORE_ZH below for result values).
VALUE_LABELS_EN: dict[str, str] = {
    "in_use": "In use", "halted": "Halted", "half_halted": "Half-halted", "idle": "Idle",
    "plot_removed": "Plot no longer in the plots layer", "run_removed": "Source run pruned",
    "under_construction": "Under construction",
    "planned": "Planned", "operating": "Operating",
    "ecological_red_line": "Ecological red line", "basic_farmland": "Permanent basic farmland",
    "water_source": "Water-source protection", "river_corridor": "River corridor", "flood_zone": "Flood zone",
    "residential": "Residential", "expressway": "Expressway", "national_road": "National road",
    "provincial_road": "Provincial road", "urban_road": "Urban road", "rail_station": "Rail station", "port": "Port",
    "logistics_centre": "Logistics centre",
    "industrial_park": "Industrial park", "industrial_parks": "Industrial park",
    "micro_park": "Micro-enterprise park", "micro_parks": "Micro-enterprise park",
    "assigned": "Placed", "unassigned": "Not placed",
    "evaluated": "Evaluated", "not_evaluated": "Not evaluated", "excluded": "Not in scope",
    "merged": "Merged into the land holder",
    "above_scale": "Above-scale firm", "below_scale": "Below-scale firm",
    "pass": "Meets the rule", "fail": "Below the rule", "no_firms": "No firms", "no_leading_industry": "No leading industry",
    "scored": "Scored", "not_candidate": "Not a candidate", "restricted": "Restricted",
    "computed": "Computed", "not_computed": "Not computed",
    "jigai": "Upgrade in place", "lianpian": "Merge with neighbours", "tengtui": "Vacate and re-let",
    "tui_er_jin_san": "Convert to services",
    "plot": "Plot", "cluster": "Cluster", "site": "Site",
    "entered": "Entered the list", "left": "Left the list",
    "candidate": "Candidate", "verified": "Verified", "reported": "Reported", "disposed": "Disposed",
    # park levels and kinds, township kinds (stored in Chinese)
    "国家级": "National", "省级": "Provincial", "温州市级": "Wenzhou municipal", "市级": "City", "镇街级": "Township",
    "工业集聚区": "Industrial cluster", "镇街工业功能区": "Township industrial zone", "物流园区": "Logistics park",
    "街道": "Subdistrict", "镇": "Town", "乡": "Township",
    "温州市示范": "Wenzhou demonstration", "省级示范": "Provincial demonstration",
}
_MORE_ZH: dict[str, str] = {
    "industrial_park": "工业集聚区/功能区", "industrial_parks": "工业集聚区/功能区",
    "micro_park": "小微企业创业园", "micro_parks": "小微企业创业园",
    "assigned": "已安置", "unassigned": "未安置",
    "evaluated": "参评", "not_evaluated": "未参评", "excluded": "不在评价范围", "merged": "并入土地使用权人",
    "above_scale": "规上企业", "below_scale": "规下企业",
    "pass": "达标", "fail": "未达标", "no_firms": "无企业", "no_leading_industry": "未设主导产业",
    "scored": "已评分", "not_candidate": "非再开发候选", "restricted": "限制开发",
    "computed": "已计算", "not_computed": "未计算",
    "jigai": "零增地技改", "lianpian": "连片整合", "tengtui": "腾退收储", "tui_er_jin_san": "退二进三",
    "plot": "地块", "cluster": "连片区", "site": "选址",
    "entered": "新列入", "left": "移出",
    "candidate": "候选", "verified": "已核实", "reported": "已上报", "disposed": "已处置",
}
_LABELS = {"zh": {**_MORE_ZH, **VALUE_LABELS_ZH}, "en": VALUE_LABELS_EN}
# Chinese shortlist statuses read in English (the store keeps the Chinese value).
_STATUS_EN = {"候选": "Candidate", "已核实": "Verified", "已上报": "Reported", "已处置": "Disposed"}


def _lang(lang: str) -> str:
    if lang not in ("zh", "en"):
        raise ValueError(f"lang={lang!r} is not supported; choose 'zh' or 'en'")
    return lang


def is_missing(value) -> bool:
    """True for None, NaN, pandas NA/NaT and empty or blank text."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (float, np.floating)):
        return math.isnan(value)
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def text(value) -> str:
    """``value`` as text; :data:`DASH` when missing.  Whole floats lose their ".0" (44.0 → "44")."""
    if is_missing(value):
        return DASH
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, np.generic):
        value = value.item()
    return str(value)


def ident(value) -> str:
    """An id or code as text: a number stored as float or as "44.0" text reads "44"; :data:`DASH` when missing."""
    out = text(value)
    return re.sub(r"^(-?\d+)\.0+$", r"\1", out)


def unit_label(unit: str | None, lang: str = "zh") -> str:
    """The text of a unit key of :data:`UNITS` in ``lang`` ("" for None)."""
    if not unit:
        return ""
    zh, en = UNITS[unit]
    return en if _lang(lang) == "en" else zh


def with_unit(label: str, unit: str | None, lang: str = "zh") -> str:
    """A header with its unit: ``面积(亩)`` / ``Area (mu)``; the label alone without a unit."""
    u = unit_label(unit, lang)
    if not u:
        return label
    return f"{label} ({u})" if lang == "en" else f"{label}({u})"


def number(value, digits: int | None = None, unit: str | None = None, lang: str = "zh") -> str:
    """A rounded number with thousands separators and its unit; :data:`DASH` when missing.

    ``digits`` default: 0 at or above 10,000 (m² and 万元 totals read as whole numbers), else 1.
    """
    if is_missing(value):
        return DASH
    x = float(value)
    if not math.isfinite(x):
        return DASH
    if digits is None:
        digits = 0 if abs(x) >= 10_000 else 1
    out = f"{x:,.{digits}f}"
    if out.startswith("-") and float(out.replace(",", "")) == 0:
        out = out[1:]  # -0.0 reads as 0.0
    u = unit_label(unit, lang)
    if not u:
        return out
    return f"{out}%" if unit == "percent" else f"{out} {u}"


def percent(share, digits: int = 0) -> str:
    """A share 0–1 as a percentage (0.3837 → "38%"); :data:`DASH` when missing."""
    if is_missing(share):
        return DASH
    return f"{float(share) * 100:.{digits}f}%"


def yes_no(value, lang: str = "zh") -> str:
    """是/否 (Yes/No) for a truth value; :data:`DASH` when missing."""
    if is_missing(value):
        return DASH
    if isinstance(value, str):
        value = value.strip().lower() in ("true", "1", "yes", "是")
    return ("Yes" if value else "No") if _lang(lang) == "en" else ("是" if value else "否")


def value_label(value, lang: str = "zh") -> str:
    """The label of a stored enum value (status, kind, constraint…); booleans as 是/否.

    Unknown values pass through unchanged (a name or a code is already readable);
    a Chinese shortlist status reads in English in the English UI.
    """
    lang = _lang(lang)
    if isinstance(value, (bool, np.bool_)):
        return yes_no(value, lang)
    if is_missing(value):
        return DASH
    key = str(value)
    if key.lower() in ("true", "false"):
        return yes_no(key, lang)
    if lang == "en" and key in _STATUS_EN:
        return _STATUS_EN[key]
    return _LABELS[lang].get(key, key)


def industry_label(code, lang: str = "zh", *, with_code: bool = True) -> str:
    """A GB/T 4754 industry code with its title: ``3670 汽车零部件及配件制造``.

    Titles come from :func:`layers.codes.industry_title` (class, group or division; English:
    the division).  An unknown code stays as it is.
    """
    if is_missing(code):
        return DASH
    code = text(code).strip()
    title = industry_title(code, _lang(lang))
    if not title:
        return code
    return f"{code} {title}" if with_code else title


#: Land-use codes (GB/T 21010-2017 三调 and the 2023 用地用海分类, DOMAIN.md §2) → (Chinese, English).
LAND_USES: dict[str, tuple[str, str]] = {
    "0601": ("工业用地", "Industrial"), "0602": ("采矿用地", "Mining"), "0603": ("盐田", "Salt pans"),
    "0604": ("仓储用地", "Warehousing"), "0701": ("城镇住宅用地", "Urban housing"),
    "1001": ("工业用地", "Industrial"), "1002": ("采矿用地", "Mining"), "1003": ("盐田", "Salt pans"),
    "1101": ("物流仓储用地", "Logistics and warehousing"), "2301": ("空闲地", "Vacant land"),
}


def land_use_label(code, lang: str = "zh") -> str:
    """A land-use code with its name: ``0601 工业用地``; an unknown code stays as it is."""
    if is_missing(code):
        return DASH
    code = text(code).strip()
    names = LAND_USES.get(code)
    return f"{code} {names[1] if _lang(lang) == 'en' else names[0]}" if names else code


#: 亩均 indicators (analysis.params keys) → (Chinese, English) names.
INDICATORS: dict[str, tuple[str, str]] = {
    "tax_per_mu": ("亩均税收", "Tax per mu"), "va_per_mu": ("亩均增加值", "Value added per mu"),
    "va_per_energy": ("单位能耗增加值", "Value added per tce"), "va_per_emission": ("单位排放增加值", "Value added per t emitted"),
    "labour_productivity": ("全员劳动生产率", "Labour productivity"), "rd_share": ("研发经费占比", "R&D share"),
    "tax_per_electricity": ("单位电耗税收", "Tax per kWh"), "sales_per_mu": ("亩均销售", "Sales per mu"),
}


_MIX_PART = re.compile(r"^\s*(?P<code>\d{2,4})\s*(?::\s*(?P<n>\d+)|\s+(?P<share>[\d.]+%))?\s*$")


def industry_mix(mix, lang: str = "zh") -> str:
    """A stored industry mix with names: ``"34 44%, 33 25%"`` → ``34 通用设备制造业 44%、33 金属制品业 25%``.

    Parts may be ``code share%``, ``code:count`` (→ "… 13 家") or a bare code (a list of
    leading industries "36,34"); a part that is none of these stays as it is.
    """
    if is_missing(mix):
        return DASH
    sep = ", " if _lang(lang) == "en" else "、"
    out = []
    for part in re.split(r"[,,、]", str(mix)):
        m = _MIX_PART.match(part)
        if not part.strip():
            continue
        if m is None:
            out.append(part.strip())
            continue
        label = industry_label(m["code"], lang)
        if m["n"] is not None:
            label += f" {int(m['n'])} {unit_label('firms', lang)}"
        elif m["share"] is not None:
            label += f" {m['share']}"
        out.append(label)
    return sep.join(out) or DASH


def name_of(code, names: Mapping[str, str], *, with_code: bool = False) -> str:
    """The name of ``code`` in ``names`` (``{code: name}``); the code itself when unknown; :data:`DASH` when missing."""
    if is_missing(code):
        return DASH
    key = text(code)
    name = names.get(key)
    if not name:
        return key
    return f"{name}({key})" if with_code else name


def names_in_text(value, names: Mapping[str, str]) -> str:
    """Free text with every known code of ``names`` replaced by its name.

    Only whole tokens are replaced (a code inside a longer run of letters or digits is
    left alone): ``"跨镇街 330381103/330381109"`` → ``"跨镇街 陶山镇/桐浦镇"``.
    """
    if is_missing(value):
        return DASH
    s = str(value)
    if not names:
        return s
    keys = sorted((k for k in names if k), key=len, reverse=True)
    pattern = re.compile(r"(?<![0-9A-Za-z])(" + "|".join(re.escape(k) for k in keys) + r")(?![0-9A-Za-z])")
    return pattern.sub(lambda m: names[m.group(1)], s)


_INDUSTRY_IN_TEXT = re.compile(r"(行业|industry)\s*(\d{2,4})(?![0-9])")


def industries_in_text(value, lang: str = "zh") -> str:
    """Free text (an analysis reason) whose "行业 23" / "industry 23" gain the industry's title.

    ``"容积率 0.72 < 0.80(行业 23)"`` → ``"容积率 0.72 < 0.80(行业 23 印刷和记录媒介复制业)"``.
    """
    if is_missing(value):
        return DASH
    return _INDUSTRY_IN_TEXT.sub(lambda m: f"{m.group(1)} {industry_label(m.group(2), lang)}", str(value))


_ZH_UNITS = sorted(((zh, en) for zh, en in UNITS.values() if zh != en and not zh.isascii()), key=lambda p: -len(p[0]))


_CJK = re.compile(r"[\u4e00-\u9fff]")


def units_in_text(value, lang: str = "zh") -> str:
    """English text (an analysis reason) with Chinese unit words in English: "2.62 万元/亩" → "2.62 10k yuan/mu".

    Text that is Chinese apart from its units stays as it is ("亩均税收" is a word, not a unit).
    """
    if is_missing(value):
        return DASH
    s = str(value)
    if _lang(lang) != "en":
        return s
    bare = s
    for zh, _ in _ZH_UNITS:
        bare = bare.replace(zh, "")
    if _CJK.search(bare):
        return s
    for zh, en in _ZH_UNITS:
        s = s.replace(zh, en)
    return s
