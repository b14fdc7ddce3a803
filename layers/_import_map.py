"""Column mapping for the importer: Chinese aliases, units in headers, value parsing, row checks.

Private to :mod:`layers.importers`.  A source header such as ``占地面积(亩)`` is split into a
name (``占地面积``) and a unit (``亩``); the name is looked up among the aliases of the target
layer's fields, the unit among the units convertible to the field's stored unit (亩 → m² ×
666.67, 元 → 万元 × 10⁻⁴, 千瓦时 → 万kWh × 10⁻⁴...).  Values are parsed column by column
(vectorised) and every problem is recorded per row with a code, so the importer can report
all of them at once.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd

from geo.units import M2_PER_MU
from layers.codes import is_valid_credit_code
from layers.schema import DATE_DTYPE, SPECS, VALUE_LABELS_ZH, LayerSpec

__all__ = [
    "ALIASES",
    "UNITS",
    "ColumnMap",
    "normalise_label",
    "split_unit",
    "auto_map",
    "header_score",
    "parse_column",
    "PROBLEM_INFO",
]

# Aliases per field name (in addition to the spec's own name and zh/en labels).
ALIASES: dict[str, tuple[str, ...]] = {
    "credit_code": ("统一社会信用代码", "社会信用代码", "信用代码", "统一代码", "纳税人识别号", "uscc", "creditcode"),
    "name": ("企业名称", "单位名称", "纳税人名称", "企业", "名称"),
    "industry_code": ("行业代码", "行业类别代码", "国民经济行业代码", "行业分类代码", "所属行业代码", "行业"),
    "above_scale": ("规上", "规模以上", "是否规上", "规上企业", "是否规模以上", "是否规上企业", "规模以上企业"),
    "is_land_holder": ("是否用地企业", "是否土地使用权人", "自有用地"),
    "land_holder": ("土地使用权人信用代码", "用地单位信用代码", "权利人信用代码", "土地使用权人", "用地单位",
                    "土地使用权人(信用代码)", "所在用地权人"),
    "plot_id": ("地块编号", "宗地编号", "宗地代码", "地块代码", "所在地块", "地块号"),
    "land_area_m2": ("用地面积", "占地面积", "土地面积", "宗地面积"),
    "area_m2": ("用地面积", "占地面积", "土地面积", "宗地面积", "面积"),
    "floor_area_m2": ("建筑面积", "总建筑面积"),
    "far": ("容积率",),
    "building_coverage": ("建筑系数", "建筑密度"),
    "build_year": ("建成年份", "建设年份", "竣工年份"),
    "status": ("利用状态", "使用状态", "状态", "建设状态"),
    "halted_since": ("停产时间", "停产日期"),
    "contract_completion_date": ("约定竣工日期", "合同竣工日期"),
    "completion_date": ("实际竣工日期", "竣工日期"),
    "land_use": ("用地分类", "地类代码", "地类编码", "用地性质", "土地用途", "用地类型"),
    "tax_10k": ("税收", "税收总额", "实缴税金", "实缴税收", "入库税收", "税收收入", "纳税额", "实缴税额", "税收合计"),
    "value_added_10k": ("工业增加值", "增加值"),
    "revenue_10k": ("主营业务收入", "营业收入", "销售收入", "销售额"),
    "employees": ("从业人员", "年平均职工人数", "职工人数", "从业人员数", "员工人数", "平均从业人员", "年平均从业人员"),
    "energy_tce": ("综合能耗", "能耗", "综合能源消费量"),
    "electricity_10k_kwh": ("用电量", "用电", "全年用电量", "工业用电量"),
    "emissions_t": ("主要污染物排放量", "污染物排放量", "排放量", "排污量"),
    "rd_10k": ("研发经费", "r&d经费", "研发投入", "研究与试验发展经费"),
    "year": ("数据年度", "年度", "年份"),
    "producing": ("已投产", "是否投产", "投产"),
    "major_incident": ("重大安全环保事故", "重大事故", "安全环保事故"),
    "township_code": ("所在镇街", "镇街代码", "乡镇代码", "镇街"),
    "park_id": ("所在园区", "园区编号", "园区代码"),
    "code": ("镇街代码", "代码", "编码"),
    "kind": ("类型", "类别"),
    "constraint_id": ("编号",),
    "feature_id": ("编号",),
}

# Stored unit → {header unit: factor to the stored unit}.
UNITS: dict[str, dict[str, float]] = {
    "m²": {"m²": 1.0, "m2": 1.0, "㎡": 1.0, "平方米": 1.0, "平米": 1.0, "亩": M2_PER_MU, "公顷": 1e4, "ha": 1e4,
           "hm²": 1e4, "hm2": 1e4, "万平方米": 1e4, "km²": 1e6, "平方公里": 1e6},
    "万元": {"万元": 1.0, "元": 1e-4, "千元": 0.1, "亿元": 1e4},
    "万kWh": {"万kwh": 1.0, "万千瓦时": 1.0, "万度": 1.0, "kwh": 1e-4, "千瓦时": 1e-4, "度": 1e-4, "亿千瓦时": 1e4,
              "mwh": 0.1, "兆瓦时": 0.1},
    "tce": {"tce": 1.0, "吨标煤": 1.0, "吨标准煤": 1.0, "万吨标煤": 1e4, "万吨标准煤": 1e4, "千克标煤": 1e-3,
            "千克标准煤": 1e-3, "kgce": 1e-3},
    "t": {"t": 1.0, "吨": 1.0, "千克": 1e-3, "kg": 1e-3, "公斤": 1e-3},
    "人": {"人": 1.0, "个": 1.0},
}

_TRUE = {"是", "y", "yes", "true", "1", "t", "规上", "规模以上", "√", "有", "已投产", "投产"}
_FALSE = {"否", "n", "no", "false", "0", "f", "规下", "规模以下", "×", "无", "未投产"}
_YEAR_DECOR = re.compile(r"^(?:20\d\d|19\d\d)\s*年度?|(?:20\d\d|19\d\d)\s*年度?$")
_UNIT_RE = re.compile(r"^(.*?)\s*[\(\[【](?:单位[:]?)?\s*([^\)\]】]+?)\s*[\)\]】]\s*$")
_FORMULA = re.compile(r"^\s*[=+\-@\t\r]\s*[A-Za-z_(\"'@]")

# code → (severity, fix action, English fix, Chinese fix).  Fix action: "repair" (geometry),
# "clear" (set the value empty; only for optional fields), None (cannot be fixed: skip the row).
PROBLEM_INFO: dict[str, tuple[str, str | None, str, str]] = {
    "null": ("error", None, "give the feature a geometry or leave it out", "补充几何或不导入该行"),
    "empty": ("error", None, "give the feature a geometry or leave it out", "补充几何或不导入该行"),
    "non_finite": ("error", None, "correct the NaN/infinite coordinates in the source", "在源数据中修正 NaN/无穷坐标"),
    "outside_china": ("error", None, "check the CRS or the coordinates (huge values, wrong zone)",
                      "检查坐标系或坐标(数值过大、带号错误)"),
    "mixed_types": ("error", None, "split the file by geometry type", "按几何类型拆分文件"),
    "geometry_type": ("error", None, "import these features into a layer of their geometry type",
                      "将这些要素导入对应几何类型的图层"),
    "unclosed_ring": ("error", "repair", "'fix' closes the ring by repeating its first point", "“修复”以重复首点闭合环"),
    "invalid": ("error", "repair", "'fix' repairs it with make_valid and reports the area change",
                "“修复”用 make_valid 修复并报告面积变化"),
    "z_m": ("error", "repair", "'fix' drops the Z/M values", "“修复”去掉 Z/M 值"),
    "required_missing": ("error", None, "fill in the value in the source", "在源数据中补填该值"),
    "bad_value": ("error", "clear", "correct the value in the source ('fix' empties it if the field is optional)",
                  "在源数据中更正(“修复”会清空可选字段的值)"),
    "bad_choice": ("error", "clear", "use one of the allowed values", "使用允许的取值"),
    "bad_industry_code": ("error", "clear", "write GB/T 4754 codes (2–4 digits) separated by , ， 、 ; ； / or spaces",
                          "填写 GB/T 4754 行业代码(2–4 位数字),以 , ， 、 ; ； / 或空格分隔"),
    "code_as_number": ("error", None, "format the column as text (@) in Excel and re-enter the codes: digits were lost",
                       "在 Excel 中将该列设为文本格式(@)并重新录入:数字已丢失精度"),
    "credit_code_check": ("error", None, "correct the code (its 18th character is a GB 32100 check character)",
                          "更正代码(第 18 位是 GB 32100 校验码)"),
    "credit_code_check_warn": ("warning", None, "check the code with its holder", "与权利人核实该代码"),
    "duplicate_key": ("error", None, "keep one row per key in the source", "源数据中每个编号只保留一行"),
    "negative": ("error", "clear", "a negative amount is impossible: correct it", "不可能为负数:请更正"),
    "far_range": ("error", "clear", "FAR above 20 or below 0 is not credible: check floor area and land area",
                  "容积率大于 20 或小于 0 不可信:请核对建筑面积和用地面积"),
    "coverage_range": ("error", "clear", "building coverage is a share between 0 and 1", "建筑系数应为 0–1 之间的比例"),
    "year_range": ("error", "clear", "a year between 1900 and next year", "年份应在 1900 年至明年之间"),
    "no_match": ("error", None, "check the key: it is not in the workspace layer", "核对编号:工作空间图层中没有该编号"),
    "formula_uncalculated": ("error", "clear", "open the workbook in Excel, let it calculate, save; or paste values",
                             "在 Excel 中打开工作簿重新计算后保存,或粘贴为数值"),
    "formula_text": ("warning", None, "stored as plain text, never evaluated; exports neutralise it",
                     "按普通文本保存,不会执行;导出时会加以处理"),
    "area_mismatch": ("warning", None, "check the unit of the area column (亩 or m²?) and declare it in the mapping",
                      "核对面积列的单位(亩还是平方米?)并在映射中注明"),
    "name_mismatch": ("warning", None, "check that the row belongs to this enterprise", "核实该行是否属于该企业"),
}


def normalise_label(text: str) -> str:
    """Header text for matching: NFKC (full-width → ASCII), lower case, no spaces or required-markers."""
    t = unicodedata.normalize("NFKC", str(text)).strip().lower()
    t = re.sub(r"[\s*※:]+", "", t)
    return t.replace("(", "(").replace(")", ")")


def split_unit(label: str) -> tuple[str, str | None]:
    """``'占地面积(亩)'`` → ``('占地面积', '亩')``; also ``[亩]``, ``【亩】``, ``(单位:亩)``; no unit → None."""
    t = normalise_label(label)
    # a two-level header "税收/金额(万元)": the unit is on the child
    m = _UNIT_RE.match(t)
    if m:
        return m.group(1), m.group(2).replace("^2", "²")
    return t, None


def _strip_decor(base: str) -> str:
    base = _YEAR_DECOR.sub("", base)
    for suffix in ("金额", "合计", "总计", "(合计)"):
        if base.endswith(suffix) and len(base) > len(suffix):
            base = base[: -len(suffix)]
    return base


def _alias_table(spec: LayerSpec) -> dict[str, str]:
    table: dict[str, str] = {}
    for f in spec.fields:
        for alias in (f.name, f.label_zh, f.label_en, *ALIASES.get(f.name, ())):
            key, _unit = split_unit(alias)
            table.setdefault(key, f.name)
    return table


def _candidates(label: str, table: dict[str, str]) -> tuple[str | None, str | None]:
    base, unit = split_unit(label)
    for key in (base, _strip_decor(base), *(_strip_decor(p) for p in reversed(base.split("/")))):
        if key in table:
            return table[key], unit
    return None, unit


def header_score(layer: str):
    """A function scoring a candidate header row by how many distinct fields of ``layer`` it names."""
    spec = SPECS.get(layer)
    table = _alias_table(spec) if spec else {}

    def score(labels: list[str]) -> int:
        return len({_candidates(lab, table)[0] for lab in labels if lab} - {None})

    return score


@dataclass
class ColumnMap:
    """Source column → field, with the header's unit and the factor to the stored unit."""

    source: str
    field: str
    unit: str | None
    factor: float
    how: str  # "alias", "user", "name"


def auto_map(columns: list[str], spec: LayerSpec, user: dict[str, str] | None = None,
             user_units: dict[str, str] | None = None) -> tuple[list[ColumnMap], list[str], list[str], list[str]]:
    """Map source columns onto ``spec``'s fields.

    Returns (maps, unmapped source columns, English problems, Chinese problems); problems
    are ambiguities (two columns for one field), unknown units and user mappings naming
    fields or columns that do not exist.
    """
    user = dict(user or {})
    user_units = dict(user_units or {})
    table = _alias_table(spec)
    problems_en: list[str] = []
    problems_zh: list[str] = []
    by_field: dict[str, list[tuple[str, str | None, str]]] = {}
    for src, target in user.items():
        if src not in columns:
            problems_en.append(f"the mapping names column {src!r}, which the file does not have (columns: {', '.join(columns)})")
            problems_zh.append(f"映射中的列 {src!r} 在文件中不存在(现有列:{'、'.join(columns)})")
            continue
        if target in ("", None, "-", "skip"):
            continue
        if target not in spec.field_names:
            problems_en.append(f"the mapping sends {src!r} to {target!r}, which is not a field of {spec.name} "
                               f"(fields: {', '.join(spec.field_names)})")
            problems_zh.append(f"映射将 {src!r} 对应到 {target!r},但 {spec.label_zh} 没有该字段")
            continue
        by_field.setdefault(target, []).append((src, split_unit(src)[1], "user"))
    for src in columns:
        if src in user:
            continue
        target, unit = _candidates(src, table)
        if target is not None and not any(h == "user" for _, _, h in by_field.get(target, [])):
            by_field.setdefault(target, []).append((src, unit, "alias"))
    maps: list[ColumnMap] = []
    for target, hits in by_field.items():
        users = [h for h in hits if h[2] == "user"]
        chosen = users if users else hits
        if len(chosen) > 1:
            cols = ", ".join(repr(h[0]) for h in chosen)
            f = spec.field(target)
            problems_en.append(f"columns {cols} all look like {f.label_zh} ({target}); choose one with "
                               f"mapping={{{chosen[-1][0]!r}: {target!r}}} (CLI --mapping, or the mapping table on the page)")
            problems_zh.append(f"列 {cols} 都像是“{f.label_zh}”({target});请在字段映射中选择其中一列")
            continue
        src, unit, how = chosen[0]
        unit = user_units.get(src, unit)
        f = spec.field(target)
        factor = 1.0
        if f.unit and f.unit in UNITS:
            if unit is not None:
                key = normalise_label(unit)
                table_u = {normalise_label(k): v for k, v in UNITS[f.unit].items()}
                if key not in table_u:
                    problems_en.append(f"column {src!r}: unit {unit!r} cannot be converted to {f.unit} "
                                       f"(known: {', '.join(UNITS[f.unit])}); rename the header or convert the values")
                    problems_zh.append(f"列 {src!r}:单位 {unit!r} 无法换算为 {f.unit}(可用:{'、'.join(UNITS[f.unit])})")
                    continue
                factor = table_u[key]
        maps.append(ColumnMap(src, target, unit, factor, how))
    used = {m.source for m in maps}
    unmapped = [c for c in columns if c not in used and user.get(c) not in ("", "-", "skip")]
    return maps, unmapped, problems_en, problems_zh


# ----------------------------------------------------------------------------- values
def _text(series: pd.Series) -> pd.Series:
    """Values as trimmed NFKC strings; missing stays missing; whole floats lose their '.0'."""
    def one(v):
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT:
            return pd.NA
        if isinstance(v, bool):
            return "是" if v else "否"
        if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        s = unicodedata.normalize("NFKC", str(v)).strip()
        return s if s != "" else pd.NA

    return pd.Series([one(v) for v in series.to_numpy(dtype=object)], index=series.index, dtype="string")


def parse_column(values: pd.Series, field, factor: float, *, numeric_cells: np.ndarray | None = None):
    """Parse one source column into ``field``'s dtype.

    Returns (parsed series, mask of values that did not parse, mask of codes stored as
    numbers with lost digits).  Numbers accept thousands separators, full-width digits and a
    trailing ``%`` (÷ 100); booleans accept 是/否, Y/N, 规上/规下...; dates accept
    ``2019-02-15``, ``2019/2/15``, ``2019年2月15日`` and Excel dates; categorical fields
    accept their Chinese labels (在用 → in_use).
    """
    text = _text(values)
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


def looks_like_formula(series: pd.Series) -> np.ndarray:
    """Text cells a spreadsheet would run as a formula (``=…``, ``+…``, ``-…``, ``@…``)."""
    s = series.astype("string")
    return s.str.match(_FORMULA).fillna(False).to_numpy(dtype=bool)


def credit_code_ok(series: pd.Series) -> np.ndarray:
    return is_valid_credit_code(series).to_numpy(dtype=bool)
