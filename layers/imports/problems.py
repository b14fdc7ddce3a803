"""Per-row problems of an import: codes with their severity and fix, collected column by column.

Each stage that finds something wrong with single rows (a value that does not parse, an
invalid geometry, a key that joins to nothing) adds it here as a boolean mask over the rows;
the plan reports them all at once and the commit resolves them (cancel, skip or fix).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from geo.errors import ImportDataError
from layers.schema import LayerSpec

__all__ = ["PROBLEM_INFO", "Problems", "problem_frame", "short", "field_label", "check_choice"]


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
    "key_exists": ("error", None, "the key is already in the layer: import with mode upsert to update it",
                   "该编号已在图层中:如需更新,请用“按编号更新”方式导入"),
    "other_township": ("error", None, "the row lies in another township: it cannot replace this township's rows",
                       "该行属于其他镇街,不能用于替换本镇街的数据"),
    "key_elsewhere": ("error", None, "the key belongs to a row of another township: correct the key",
                      "该编号属于其他镇街的数据:请更正编号"),
}


def check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ImportDataError(f"{name}={value!r} is not allowed; choose one of {list(choices)}.",
                              message_zh=f"{name}={value!r} 不合法;可选:{list(choices)}。")


def problem_frame(records: list[dict]) -> pd.DataFrame:
    cols = ["pos", "row", "field", "code", "severity", "fix", "value", "suggestion", "message", "message_zh"]
    if not records:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in cols}).astype({"pos": "int64", "row": "int64"})
    return pd.DataFrame.from_records(records, columns=cols)


class Problems:
    """Collects per-row problems column by column (each ``add`` takes a boolean mask over rows)."""

    def __init__(self, source_rows: np.ndarray):
        self.rows = source_rows
        self.records: list[dict] = []

    def add(self, mask, code: str, fld: str, en: str, zh: str, values=None, *, suggestions=None) -> None:
        """One problem per row in ``mask``; ``{value}`` in the messages is the row's value, and a row's
        suggestion (the value the planner probably meant) is appended to its messages."""
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        sev, action, _fen, _fzh = PROBLEM_INFO[code]
        vals = None if values is None else np.asarray(values, dtype=object)
        hints = None if suggestions is None else np.asarray(suggestions, dtype=object)
        for pos in np.flatnonzero(mask):
            v = "" if vals is None else short(vals[pos])
            hint = None if hints is None else hints[pos]
            message, message_zh = en.format(value=v), zh.format(value=v)
            if hint is not None:
                message, message_zh = f"{message} ({hint}?)", f"{message_zh}(应为 {hint}?)"
            self.records.append({"pos": int(pos), "row": int(self.rows[pos]), "field": fld, "code": code,
                                 "severity": sev, "fix": action, "value": v, "suggestion": hint,
                                 "message": message, "message_zh": message_zh})

    def frame(self) -> pd.DataFrame:
        return problem_frame(self.records)


def short(v) -> str:
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return ""
    s = str(v)
    return s if len(s) <= 60 else s[:57] + "…"


def field_label(spec: LayerSpec | None, fld: str) -> tuple[str, str]:
    if spec is None or fld not in spec.field_names:
        return fld, fld
    f = spec.field(fld)
    return f"{f.label_en} ({fld})", f"{f.label_zh}({fld})"
