"""Stage 3, mapping columns: source headers onto a layer's fields, with the unit each header declares.

A source header such as ``占地面积(亩)`` is split into a name (``占地面积``) and a unit
(``亩``); the name is looked up among the aliases of the target layer's fields, the unit
among the units convertible to the field's stored unit (亩 → m² × 666.67, 元 → 万元 × 10⁻⁴,
千瓦时 → 万kWh × 10⁻⁴...).  A user's mapping (a dict, a JSON file or a saved mapping) wins
over the aliases.
"""
from __future__ import annotations

import json
import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from geo.errors import ImportDataError
from geo.units import M2_PER_MU
from layers.imports.catalogue import Entry, entries_for
from layers.schema import SPECS, LayerSpec

__all__ = [
    "ALIASES",
    "UNITS",
    "ColumnMap",
    "ColumnMapping",
    "column_key",
    "normalise_label",
    "split_unit",
    "auto_map",
    "header_score",
    "load_mapping_arg",
    "short_list",
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
_YEAR_DECOR = re.compile(r"^(?:20\d\d|19\d\d)\s*年度?|(?:20\d\d|19\d\d)\s*年度?$")
_UNIT_RE = re.compile(r"^(.*?)\s*[\(\[【](?:单位[:]?)?\s*([^\)\]】]+?)\s*[\)\]】]\s*$")


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


@dataclass(frozen=True)
class _Alias:
    """What a normalised header means for one layer: the field (None: recognised, not imported) and how sure."""

    field: str | None
    rank: int = 0
    unit: str | None = None
    take: int | None = None
    entry: Entry | None = None


def _alias_table(spec: LayerSpec) -> dict[str, _Alias]:
    """Normalised header → meaning: the spec's names and labels, ALIASES (rank 0), then the catalogues."""
    table: dict[str, _Alias] = {}
    for f in spec.fields:
        for alias in (f.name, f.label_zh, f.label_en, *ALIASES.get(f.name, ())):
            table.setdefault(split_unit(alias)[0], _Alias(f.name))
    for e in entries_for(spec.name):
        meaning = _Alias(e.field, e.rank, e.unit, e.take, e)
        for header in (e.header, e.label_zh):
            table.setdefault(split_unit(header)[0], meaning)
    return table


def _candidates(label: str, table: dict[str, _Alias]) -> tuple[_Alias | None, str | None]:
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
        hits = (_candidates(lab, table)[0] for lab in labels if lab)
        return len({h.field for h in hits if h is not None} - {None})

    return score


def column_key(label: str) -> str:
    """A header without its year, spaces and width variants: ``'2025年税收(万元)'`` and ``'2026年 税收（万元）'`` agree."""
    base, unit = split_unit(label)
    base = _YEAR_DECOR.sub("", base)
    return f"{base}({unit})" if unit else base


@dataclass
class ColumnMap:
    """Source column → field, with the unit of its values and the factor to the stored unit."""

    source: str
    field: str
    unit: str | None
    factor: float
    how: str  # "alias", "user", "catalogue"
    take: int | None = None  # keep only the first N characters (a township code inside a village code)


@dataclass
class ColumnMapping:
    """What :func:`auto_map` decided: the column maps, what is left, what is wrong, what was recognised."""

    maps: list[ColumnMap]
    unmapped: list[str]
    problems_en: list[str]
    problems_zh: list[str]
    recognised: dict[str, Entry]  # unmapped columns a catalogue knows (why they are left out)


def short_list(names, limit: int = 12, sep: str = ", ") -> str:
    """A short list of column names: the first ``limit``, then how many more."""
    names = [str(n) for n in names]
    shown = sep.join(names[:limit])
    return shown + (f"{sep}… (+{len(names) - limit})" if len(names) > limit else "")


def _match_user_columns(user: dict[str, str], columns: list[str]) -> tuple[dict[str, str], list[str]]:
    """A saved mapping's columns matched to this file's: exactly, or by :func:`column_key` (next year's title)."""
    by_key: dict[str, list[str]] = {}
    for c in columns:
        by_key.setdefault(column_key(c), []).append(c)
    matched, missing = {}, []
    for src, target in user.items():
        if src in columns:
            matched[src] = target
        elif len(by_key.get(column_key(src), [])) == 1:
            matched[by_key[column_key(src)][0]] = target
        else:
            missing.append(src)
    return matched, missing


def _unit_factor(unit: str | None, stored: str) -> float | None:
    """The factor from ``unit`` to the stored unit; 1 without a unit; None when it cannot be converted."""
    if unit is None or stored not in UNITS:
        return 1.0
    table = {normalise_label(k): v for k, v in UNITS[stored].items()}
    return table.get(normalise_label(unit))


def auto_map(columns: list[str], spec: LayerSpec, user: dict[str, str] | None = None,
             user_units: dict[str, str] | None = None) -> ColumnMapping:
    """Map source columns onto ``spec``'s fields.

    The user's mapping wins; then headers the spec, ALIASES or a catalogue recognises: when
    several columns fill one field, the best-ranked wins (``TBMJ`` over ``TBDLMJ``) and a tie
    is an ambiguity.  Problems are ambiguities, unknown units and user mappings naming
    fields or columns that do not exist — each said once, with a short list of columns.
    """
    user_units = dict(user_units or {})
    user, missing = _match_user_columns(dict(user or {}), columns)
    table = _alias_table(spec)
    problems_en: list[str] = []
    problems_zh: list[str] = []
    if missing:
        problems_en.append(f"the mapping names column(s) {short_list(map(repr, missing))} that the file does not have "
                           f"(its columns: {short_list(columns)})")
        problems_zh.append(f"映射中的列 {short_list(missing, sep='、')} 在文件中不存在(文件的列:{short_list(columns, sep='、')})")
    by_field: dict[str, list[tuple[str, str | None, str, int, int | None]]] = {}
    for src, target in user.items():
        if target in ("", None, "-", "skip"):
            continue
        if target not in spec.field_names:
            problems_en.append(f"the mapping sends {src!r} to {target!r}, which is not a field of {spec.name} "
                               f"(fields: {', '.join(spec.field_names)})")
            problems_zh.append(f"映射将 {src!r} 对应到 {target!r},但 {spec.label_zh} 没有该字段")
            continue
        known, header_unit = _candidates(src, table)  # a standard's column keeps its unit and its take
        same = known is not None and known.field == target
        by_field.setdefault(target, []).append((src, header_unit or (known.unit if same else None), "user", -1,
                                                known.take if same else None))
    recognised: dict[str, Entry] = {}
    for src in columns:
        if src in user:
            continue
        alias, unit = _candidates(src, table)
        if alias is None:
            continue
        if alias.entry is not None:
            recognised[src] = alias.entry
        if alias.field is not None:
            how = "catalogue" if alias.entry is not None else "alias"
            by_field.setdefault(alias.field, []).append((src, unit or alias.unit, how, alias.rank, alias.take))
    maps: list[ColumnMap] = []
    for target, hits in by_field.items():
        best = min(h[3] for h in hits)
        chosen = [h for h in hits if h[3] == best]
        if len(chosen) > 1:
            cols = ", ".join(repr(h[0]) for h in chosen)
            f = spec.field(target)
            problems_en.append(f"columns {cols} all look like {f.label_zh} ({target}); choose one with "
                               f"mapping={{{chosen[-1][0]!r}: {target!r}}} (CLI --mapping, or the mapping table on the page)")
            problems_zh.append(f"列 {cols} 都像是“{f.label_zh}”({target});请在字段映射中选择其中一列")
            continue
        src, unit, how, _rank, take = chosen[0]
        unit = user_units.get(src, unit)
        f = spec.field(target)
        factor = _unit_factor(unit, f.unit)
        if factor is None:
            problems_en.append(f"column {src!r}: unit {unit!r} cannot be converted to {f.unit} "
                               f"(known: {', '.join(UNITS[f.unit])}); rename the header or convert the values")
            problems_zh.append(f"列 {src!r}:单位 {unit!r} 无法换算为 {f.unit}(可用:{'、'.join(UNITS[f.unit])})")
            continue
        maps.append(ColumnMap(src, target, unit, factor, how, take))
    used = {m.source for m in maps}
    unmapped = [c for c in columns if c not in used and user.get(c) not in ("", "-", "skip")]
    return ColumnMapping(maps, unmapped, problems_en, problems_zh, {c: e for c, e in recognised.items() if c in unmapped})


def load_mapping_arg(mapping) -> tuple[dict, dict, str | None, dict, list]:
    """A mapping given as a dict or a JSON file → (columns, units, key, constants, fields to derive)."""
    if mapping is None:
        return {}, {}, None, {}, []
    if isinstance(mapping, (str, os.PathLike)):
        p = Path(mapping)
        try:
            mapping = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ImportDataError(f"mapping file {p.name}: cannot be read as JSON ({exc}); expected "
                                  '{"columns": {"源列名": "field"}, "units": {"源列名": "亩"}}.',
                                  message_zh=f"映射文件 {p.name} 不是有效 JSON({exc})。") from exc
    if not isinstance(mapping, Mapping):
        raise ImportDataError(f"mapping must be a dict or a JSON file; got {type(mapping).__name__}.",
                              message_zh="字段映射应为字典或 JSON 文件。")
    if "columns" in mapping:
        cols, units, key = mapping.get("columns") or {}, mapping.get("units") or {}, mapping.get("key")
        constants, derive = mapping.get("set") or {}, list(mapping.get("derive") or [])
    else:
        cols, units, key, constants, derive = dict(mapping), {}, None, {}, []
    texts = {**cols, **units, **{str(k): str(v) for k, v in constants.items()}}
    if not all(isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in texts.items()) or \
            not all(isinstance(d, str) for d in derive):
        raise ImportDataError("mapping: every source column and field must be text.", message_zh="映射中的列名和字段名必须为文本。")
    return dict(cols), dict(units), key, {str(k): str(v) for k, v in constants.items()}, derive
