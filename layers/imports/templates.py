"""Excel import templates for the department tables planners receive every year."""
from __future__ import annotations

import io

from layers.imports.problems import check_choice
from layers.schema import get_spec

__all__ = ["DEPARTMENT_TABLES", "template_xlsx"]


#: Department tables planners receive every year: template name → (layer, title, fields, display units).
DEPARTMENT_TABLES: dict[str, tuple[str, str, str, tuple[str, ...], dict[str, str]]] = {
    "land": ("plots", "自然资源和规划局 · 地块数据", "Natural resources bureau · plots",
             ("plot_id", "land_holder", "land_use", "area_m2", "floor_area_m2", "far", "building_coverage", "build_year",
              "status", "halted_since", "contract_completion_date", "completion_date", "contract_investment_10k",
              "investment_10k", "contract_output_10k", "output_10k"),
             {"area_m2": "亩", "floor_area_m2": "平方米", "contract_investment_10k": "万元", "investment_10k": "万元",
              "contract_output_10k": "万元", "output_10k": "万元"}),
    "tax": ("enterprises", "税务局 · 企业税收", "Tax bureau · enterprise tax",
            ("credit_code", "name", "tax_10k", "year"), {"tax_10k": "万元"}),
    "power": ("enterprises", "供电公司 · 企业用电", "Power company · electricity",
              ("credit_code", "name", "electricity_10k_kwh", "year"), {"electricity_10k_kwh": "万千瓦时"}),
    "environment": ("enterprises", "生态环境局 · 排放与事故", "Environment bureau · emissions and incidents",
                    ("credit_code", "name", "emissions_t", "major_incident", "year"), {"emissions_t": "吨"}),
    "statistics": ("enterprises", "统计局 · 企业经济指标", "Statistics bureau · enterprise indicators",
                   ("credit_code", "name", "industry_code", "above_scale", "value_added_10k", "revenue_10k", "employees",
                    "energy_tce", "rd_10k", "producing", "year"),
                   {"value_added_10k": "万元", "revenue_10k": "万元", "employees": "人", "energy_tce": "吨标准煤",
                    "rd_10k": "万元"}),
}
_UNIT_ZH = {"m²": "平方米", "万元": "万元", "万kWh": "万千瓦时", "tce": "吨标准煤", "t": "吨", "人": "人"}


def template_xlsx(kind: str, *, lang: str = "zh") -> bytes:
    """An Excel import template for one department table, with Chinese headers and units.

    Parameters
    ----------
    kind : {"land", "tax", "power", "environment", "statistics"}
        See :data:`DEPARTMENT_TABLES`.

    Returns
    -------
    bytes
        An .xlsx with sheet "数据" (one header row, code columns formatted as text so Excel
        keeps all 18 characters, 是/否 drop-downs) and sheet "说明" (each column's field,
        unit, whether required, and an example).  The headers are the names
        :func:`plan_import` recognises, so a filled template imports without a mapping.
    """
    import openpyxl
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    check_choice("kind", kind, tuple(DEPARTMENT_TABLES))
    layer, title_zh, title_en, fields, units = DEPARTMENT_TABLES[kind]
    spec = get_spec(layer)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "数据"
    guide = wb.create_sheet("说明")
    guide.append(["列名" if lang == "zh" else "Column", "字段" if lang == "zh" else "Field",
                  "单位" if lang == "zh" else "Unit", "必填" if lang == "zh" else "Required",
                  "示例" if lang == "zh" else "Example", "说明" if lang == "zh" else "Notes"])
    examples = {"credit_code": "913303816107991557", "name": "瑞安市某某机械有限公司", "plot_id": "P000001",
                "land_holder": "913303816107991557", "land_use": "0601", "industry_code": "3670", "year": 2025,
                "status": "在用", "above_scale": "是", "major_incident": "否", "producing": "是", "far": 1.2,
                "building_coverage": 0.45, "build_year": 2010}
    header_font = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDEBF7")
    for j, name in enumerate(fields, start=1):
        f = spec.field(name)
        unit = units.get(name) or _UNIT_ZH.get(f.unit, f.unit)
        is_bool = f.dtype == "bool"
        header = f"{f.label_zh}({unit})" if unit else (f"{f.label_zh}(是/否)" if is_bool else f.label_zh)
        if name == "land_holder":
            header = "土地使用权人信用代码"
        cell = ws.cell(row=1, column=j, value=header)
        cell.font, cell.fill = header_font, fill
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        letter = get_column_letter(j)
        ws.column_dimensions[letter].width = max(12, len(header) * 2 + 2)
        if f.dtype == "string":
            for r in range(2, 2001):  # text format: 18-digit codes and 0601 keep every character
                ws.cell(row=r, column=j).number_format = "@"
        if is_bool or f.choices:
            from layers.schema import VALUE_LABELS_ZH

            options = "是,否" if is_bool else ",".join(VALUE_LABELS_ZH.get(c, c) for c in f.choices)
            dv = DataValidation(type="list", formula1=f'"{options}"', allow_blank=True)
            ws.add_data_validation(dv)
            dv.add(f"{letter}2:{letter}2000")
        if f.dtype == "date":
            for r in range(2, 2001):
                ws.cell(row=r, column=j).number_format = "yyyy-mm-dd"
        note = ("18 位,末位为校验码;请按文本录入" if name in ("credit_code", "land_holder")
                else f.description or ("是/否" if is_bool else ""))
        guide.append([header, name, unit or "", "是" if (f.required or name == spec.key) else "",
                      examples.get(name, ""), note])
    ws.freeze_panes = "A2"
    guide.append([])
    guide.append([f"{title_zh} — {title_en}", "", "", "", "",
                  f"导入:python cli.py import --layer {layer} --file 本文件.xlsx(按{spec.field(spec.key).label_zh}连接到已有{spec.label_zh})"])
    for col, width in zip("ABCDEF", (24, 22, 12, 8, 24, 60)):
        guide.column_dimensions[col].width = width
    bio = io.BytesIO()
    wb.save(bio)
    return bio.getvalue()
