"""A comparison of two analysis runs as readable tables, an Excel workbook or a CSV.

:func:`tables` turns the result of :func:`analysis.compare.compare` into the tables a planner
reads — headers with units, township names instead of codes, class and change labels in words,
settings in plain language, rounded scores — in Chinese or English.  :func:`write_comparison`
writes them: ``xlsx`` (one sheet per table: 概要, 参数变化, 类别转移, 类别变化企业, 得分变化,
清单变化地块) or ``csv`` (the plots entering or leaving the low-efficiency list, with the
reason — what goes to a township; UTF-8 with BOM, formula-safe).

    tables(diff, *, run_a, run_b, lang="zh", townships=None) -> dict[str, DataFrame]
    write_comparison(diff, *, fmt, run_a, run_b, lang="zh", townships=None, out=None) -> bytes | Path
"""
from __future__ import annotations

import csv as _csv
import io
import json
import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from analysis.compare import NOT_EVALUATED, SETTING_WORDS
from exports._common import deliver
from exports._safe import neutralise_formula
from exports.formatting import (
    DASH,
    INDICATORS,
    industries_in_text,
    is_missing,
    name_of,
    number,
    text,
    unit_label,
    units_in_text,
    value_label,
)
from geo.errors import ParameterError

__all__ = ["tables", "write_comparison", "describe_setting", "SHEETS"]

#: Table keys in workbook order → (Chinese, English) sheet titles.
SHEETS: dict[str, tuple[str, str]] = {
    "summary": ("概要", "Summary"), "settings": ("参数变化", "Settings"), "transitions": ("类别转移", "Class transitions"),
    "class_changes": ("类别变化企业", "Firms changing class"), "scores": ("得分变化", "Score changes"),
    "plots": ("清单变化地块", "Plots entering or leaving"),
}


def _w(zh: str, en: str, lang: str) -> str:
    return en if lang == "en" else zh


def _class(value, lang: str) -> str:
    if is_missing(value) or value == NOT_EVALUATED:
        return value_label("not_evaluated", lang)
    return str(value)


def _indicators(value, lang: str) -> str:
    """An indicator list ``[{"key": "tax_per_mu", "weight": 40, "benchmark": null, "cap": 3}, …]`` in words."""
    parts = []
    for ind in value or []:
        name = INDICATORS.get(ind.get("key"), (ind.get("key"), ind.get("key")))[1 if lang == "en" else 0]
        bench = _w("全市平均", "county average", lang) if ind.get("benchmark") is None else f"{ind['benchmark']:g}"
        cap = _w("不封顶", "no cap", lang) if ind.get("cap") is None else _w(f"封顶 {ind['cap']:g} 倍", f"cap {ind['cap']:g}×",
                                                                             lang)
        parts.append(f"{name} {number(ind.get('weight'), 0, 'points', lang)}({_w('基准', 'benchmark', lang)} {bench},{cap})"
                     if lang == "zh" else
                     f"{name} {number(ind.get('weight'), 0, 'points', lang)} (benchmark {bench}, {cap})")
    return _w("、", "; ", lang).join(parts) or DASH


def describe_setting(path: str, value_json: str, lang: str = "zh") -> tuple[str, str]:
    """(label, value) of one changed setting in words; unknown settings keep their path and JSON value."""
    label_zh, label_en, kind = SETTING_WORDS.get(path, (path, path, "raw"))
    label = label_en if lang == "en" else label_zh
    try:
        value = json.loads(value_json) if value_json else None
    except ValueError:
        return label, value_json
    if value is None:
        return label, DASH
    if kind == "share":
        return label, f"{float(value):.0%}"
    if kind == "indicators":
        return label, _indicators(value, lang)
    if kind == "list" and isinstance(value, list):
        from analysis.low_efficiency import RULE_LABELS

        words = [RULE_LABELS[v][1 if lang == "zh" else 0] if v in RULE_LABELS else text(v) for v in value]
        return label, _w("、", ", ", lang).join(words)
    if kind == "table" and isinstance(value, list):  # [[code, value], ...]
        return label, _w(";", "; ", lang).join(f"{a} {b:g}" if isinstance(b, (int, float)) else f"{a} {b}"
                                                for a, b in value)
    return label, text(value) if not isinstance(value, (list, dict)) else json.dumps(value, ensure_ascii=False)


def tables(diff: dict, *, run_a: str, run_b: str, lang: str = "zh",
           townships: Mapping[str, str] | None = None) -> dict[str, pd.DataFrame]:
    """The comparison as readable tables, keyed as :data:`SHEETS` (values already words and rounded numbers)."""
    towns = townships or {}
    pts = unit_label("points", lang)
    out: dict[str, pd.DataFrame] = {}
    s = diff["summary"]
    out["summary"] = pd.DataFrame({
        _w("项目", "Item", lang): [_w("运行 A", "Run A", lang), _w("运行 B", "Run B", lang),
                                   _w("两次都参评的企业", "Firms evaluated in both", lang),
                                   _w("类别变化的企业", "Firms changing class", lang),
                                   _w("平均得分变化(绝对值)", "Mean score change (absolute)", lang),
                                   _w("新列入低效清单的地块", "Plots entering the list", lang),
                                   _w("移出低效清单的地块", "Plots leaving the list", lang),
                                   _w("参数变化项", "Settings changed", lang)],
        _w("值", "Value", lang): [run_a, run_b, number(s["firms_compared"], 0, "firms", lang),
                                 number(s["class_changes"], 0, "firms", lang),
                                 number(s["mean_abs_score_change"], 1, "points", lang),
                                 number(s["entered"], 0, "plots", lang), number(s["left"], 0, "plots", lang),
                                 str(s["settings_changed"])]})
    described = [describe_setting(p, a, lang) + describe_setting(p, b, lang)[1:]
                 for p, a, b in diff["settings"][["setting", "value_a", "value_b"]].itertuples(index=False)]
    out["settings"] = pd.DataFrame(described, columns=[_w("参数", "Setting", lang), _w(f"运行 A({run_a})", f"Run A ({run_a})",
                                                                                      lang),
                                                       _w(f"运行 B({run_b})", f"Run B ({run_b})", lang)])
    trans = diff["transitions"].copy()
    trans.index = [_class(c, lang) for c in trans.index]
    trans.columns = [_class(c, lang) for c in trans.columns]
    corner = _w("运行 A 类别 \\ 运行 B 类别", "Class in A \\ class in B", lang)
    out["transitions"] = trans.rename_axis(corner).reset_index()
    firm_cols = {"credit_code": _w("统一社会信用代码", "Credit code", lang), "name": _w("企业名称", "Firm", lang),
                 "township": _w("镇街", "Township", lang), "class_a": _w("运行 A 类别", "Class in A", lang),
                 "class_b": _w("运行 B 类别", "Class in B", lang),
                 "score_a": _w(f"运行 A 得分({pts})", f"Score in A ({pts})", lang),
                 "score_b": _w(f"运行 B 得分({pts})", f"Score in B ({pts})", lang),
                 "score_change": _w(f"得分变化({pts})", f"Change ({pts})", lang)}
    for key in ("class_changes", "scores"):
        f = diff[key].copy()
        f["township"] = f["township_code"].map(lambda c: name_of(c, towns))
        for c in ("class_a", "class_b"):
            f[c] = f[c].map(lambda v: _class(v, lang))
        for c in ("score_a", "score_b", "score_change"):
            f[c] = f[c].round(1)
        out[key] = f[list(firm_cols)].rename(columns=firm_cols)
    p = diff["plots"].copy()
    sfx = "en" if lang == "en" else "zh"
    plot_cols = {"plot_id": _w("地块编号", "Plot", lang), "change": _w("变化", "Change", lang),
                 "township": _w("镇街", "Township", lang), "area_mu": _w("面积(亩)", "Area (mu)", lang),
                 f"why_{sfx}": _w("原因(规则变化)", "Why (rules that changed)", lang),
                 f"rules_a_{sfx}": _w("运行 A 触发的规则", "Rules firing in A", lang),
                 f"rules_b_{sfx}": _w("运行 B 触发的规则", "Rules firing in B", lang),
                 f"reasons_b_{sfx}": _w("运行 B 列入理由", "Reasons in B", lang),
                 f"reasons_a_{sfx}": _w("运行 A 列入理由", "Reasons in A", lang)}
    p["change"] = p["change"].map(lambda v: value_label(v, lang))
    p["township"] = p["township_code"].map(lambda c: name_of(c, towns)) if "township_code" in p else DASH
    if "area_mu" in p:
        p["area_mu"] = pd.to_numeric(p["area_mu"], errors="coerce").round(1)
    for c in (f"reasons_a_{sfx}", f"reasons_b_{sfx}"):
        if c in p:
            p[c] = p[c].map(lambda r: units_in_text(industries_in_text(r, lang), lang) if isinstance(r, str) else r)
    out["plots"] = p[[c for c in plot_cols if c in p.columns]].rename(columns=plot_cols)
    for frame in out.values():  # an empty text cell reads "—" (numbers stay numbers)
        for col in frame.columns:
            if not pd.api.types.is_numeric_dtype(frame[col]) or frame[col].isna().all():
                frame[col] = frame[col].map(lambda v: DASH if is_missing(v) else v).astype("object")
    return out


def _xlsx(frames: dict[str, pd.DataFrame], lang: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    wb.remove(wb.active)
    fill = PatternFill("solid", fgColor="DDE6F0")
    for key, (zh, en) in SHEETS.items():
        df = frames[key]
        sheet = wb.create_sheet(en[:31] if lang == "en" else zh)
        for j, h in enumerate(df.columns, start=1):
            c = sheet.cell(row=1, column=j, value=neutralise_formula(str(h)))
            c.font, c.fill, c.alignment = Font(bold=True), fill, Alignment(wrap_text=True, vertical="center")
            longest = max([len(str(h))] + [len(str(v)) for v in df.iloc[:200, j - 1]])
            sheet.column_dimensions[get_column_letter(j)].width = min(60, max(10, longest * 1.6))
        for i, row in enumerate(df.itertuples(index=False), start=2):
            for j, v in enumerate(row, start=1):
                if is_missing(v):
                    v = DASH
                elif hasattr(v, "item"):
                    v = v.item()
                cell = sheet.cell(row=i, column=j, value=neutralise_formula(v))
                if isinstance(v, str):
                    cell.number_format = "@"
                    cell.alignment = Alignment(wrap_text=len(v) > 40, vertical="top")
                elif isinstance(v, float):
                    cell.number_format = "0.0"
        sheet.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    buf = io.StringIO(newline="")
    w = _csv.writer(buf, lineterminator="\r\n")
    w.writerow([neutralise_formula(str(h)) for h in frame.columns])
    for row in frame.itertuples(index=False):
        w.writerow(["" if is_missing(v) else (format(v, ".15g") if isinstance(v, float) else neutralise_formula(str(v)))
                    for v in row])
    return buf.getvalue().encode("utf-8-sig")


def write_comparison(diff: dict, *, fmt: str, run_a: str, run_b: str, lang: str = "zh",
                     townships: Mapping[str, str] | None = None,
                     out: str | os.PathLike | None = None) -> bytes | Path:
    """Write the comparison as ``xlsx`` (every table) or ``csv`` (the plots whose listing changed).

    Returns the bytes, or writes ``out`` atomically and returns its path.
    """
    if fmt not in ("xlsx", "csv"):
        raise ParameterError(f"comparison format {fmt!r} is not one of ['xlsx', 'csv']",
                             message_zh=f"比较结果的导出格式 {fmt!r} 不支持,可选:xlsx、csv")
    if out is not None and Path(out).suffix.lower() != f".{fmt}":
        raise ParameterError(f"output {out} does not end in .{fmt}", message_zh=f"输出文件 {out} 的扩展名应为 .{fmt}")
    frames = tables(diff, run_a=run_a, run_b=run_b, lang=lang, townships=townships)
    data = _xlsx(frames, lang) if fmt == "xlsx" else _csv_bytes(frames["plots"])
    return deliver(data, out)
