"""PDF report of a shortlist for township officials, one section per township (reportlab + matplotlib, offline).

Each township section, so that an official never has to ask which dot is which plot:

1. overview — title, township, export time (Beijing time) and source; items and 亩 by status;
   the **index map** (:func:`exports._pdfmaps.render_map`): the township outline, its parks,
   every item as a dot in its status colour with its rank in a box — boxes never overlap, a
   moved box has a leader line to its dot;
2. the list — rank, id, kind, status, 亩, **firm name**, **park name**, score, class, reasons,
   notes, repeated headers on every page;
3. **one small map per item** (:func:`exports._pdfmaps.render_item_map`), six to a page: the
   item in its status colour among the neighbouring plots, with its park's outline and the
   roads, a scale bar and a north arrow, captioned with rank, id, firm, park and 亩.  The
   neighbours come from ``meta.context`` (:func:`exports.meta_for`); without it the small maps
   show the item alone.

The text uses an embedded CJK TrueType font (WenQuanYi Zen Hei from Debian
``fonts-wqy-zenhei``, subset-embedded by reportlab with a ToUnicode map, so ``pdftotext`` and
screen readers get the Chinese text back).  All text handed over is escaped before it becomes
reportlab paragraph markup.

    write_pdf(items, *, meta=None, out=None) -> bytes | Path
    render_map(items, *, outline=None, context=None, parks=None, dpi=130) -> bytes   # index map PNG
"""
from __future__ import annotations

import functools
import io
import os
from pathlib import Path
from xml.sax.saxutils import escape

import geopandas as gpd
import pandas as pd

from exports._common import (
    KIND_LABELS,
    STATUS_COLOURS,
    STATUS_ORDER,
    ExportMeta,
    deliver,
    prepare,
    township_groups,
    with_names,
)
from exports._fonts import cjk_font_path
from exports._pdfmaps import ItemMapper, render_item_map, render_map
from exports.formatting import DASH, number, text

__all__ = ["write_pdf", "render_map", "render_item_map", "FONT_NAME"]

FONT_NAME = "PlannerCJK"
_MM = 72 / 25.4  # points per millimetre
_PER_PAGE = 6     # small item maps per page (3 × 2)
_CONTEXT_PAD_M = 400.0  # the neighbours read around a township's items


@functools.lru_cache(maxsize=1)
def _register_font() -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    path, index = cjk_font_path()
    pdfmetrics.registerFont(TTFont(FONT_NAME, str(path), subfontIndex=index))
    return FONT_NAME


def _styles():
    from reportlab.lib.styles import ParagraphStyle

    font = _register_font()
    base = ParagraphStyle("base", fontName=font, fontSize=9, leading=12, wordWrap="CJK")
    return {
        "title": ParagraphStyle("title", parent=base, fontSize=17, leading=22, spaceAfter=4),
        "meta": ParagraphStyle("meta", parent=base, fontSize=9, textColor="#444444", spaceAfter=6),
        "h2": ParagraphStyle("h2", parent=base, fontSize=12, leading=16, spaceBefore=6, spaceAfter=4),
        "cell": ParagraphStyle("cell", parent=base, fontSize=8, leading=10),
        "body": base,
    }


def _p(text, style):
    from reportlab.platypus import Paragraph

    text = "" if text is None or (not isinstance(text, str) and pd.isna(text)) else str(text)
    return Paragraph(escape(text), style)


def _str(value, limit: int = 20) -> str:
    return text(value)[:limit]


def _fmt(value, digits: int = 2) -> str:
    return number(value, digits)


def _local(meta: ExportMeta) -> str:
    return meta.exported_text()


def _grid_style(font, extra=()):
    from reportlab.lib import colors
    from reportlab.platypus import TableStyle

    # Every table names the CJK font: reportlab sets each cell's font, even around flowables,
    # and the default would put an unembedded Helvetica into the file.
    return TableStyle([("FONTNAME", (0, 0), (-1, -1), font), ("FONTSIZE", (0, 0), (-1, -1), 8),
                       ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde6f0")),
                       ("GRID", (0, 0), (-1, -1), 0.3, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP"), *extra])


def _outlines(meta: ExportMeta, code):
    towns = meta.townships
    if towns is None or not len(towns) or "code" not in towns.columns:
        return None, None
    is_this = (towns["code"].astype(str) == str(code)).to_numpy()
    return (towns[is_this] if is_this.any() else None), towns[~is_this]


def _context(rows: gpd.GeoDataFrame, meta: ExportMeta) -> dict:
    """Neighbouring plots, parks and roads around the township's items (one read per township)."""
    if meta.context is None or not len(rows):
        return {}
    minx, miny, maxx, maxy = rows.total_bounds
    pad = _CONTEXT_PAD_M
    got = meta.context((minx - pad, miny - pad, maxx + pad, maxy + pad)) or {}
    return {k: v.to_crs(rows.crs) for k, v in got.items() if v is not None and len(v) and v.crs is not None}


def _overview(code, name, rows, meta: ExportMeta, st, story, context: dict) -> None:
    from reportlab.lib import colors
    from reportlab.platypus import Image, Spacer, Table

    font = st["body"].fontName
    story.append(_p(f"{meta.title} — {name}", st["title"]))
    story.append(_p(f"镇街代码 {code or DASH} · 导出时间 {_local(meta)} · 数据来源 {meta.source or DASH}", st["meta"]))
    total_mu = float(rows["area_mu"].sum())
    status = rows["status"].astype("string")
    data = [["状态", "项数", "面积(亩)"]]
    for s in STATUS_ORDER:
        sel = rows[(status == s).to_numpy()]
        data.append([s, str(len(sel)), f"{float(sel['area_mu'].sum()):.2f}"])
    data.append(["合计", str(len(rows)), f"{total_mu:.2f}"])
    summary = Table(data, colWidths=[20 * _MM, 14 * _MM, 22 * _MM], hAlign="LEFT")
    summary.setStyle(_grid_style(font, [("FONTSIZE", (0, 0), (-1, -1), 9), ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
                                        ("BACKGROUND", (0, -1), (-1, -1), colors.HexColor("#f2f2f2"))]))
    left = [_p(f"共 {len(rows)} 项列入清单,合计 {total_mu:.2f} 亩。", st["h2"]), summary]
    kinds = rows["item_kind"].astype("string").value_counts()
    if len(kinds):
        left.append(Spacer(1, 3 * _MM))
        left.append(_p("对象类型:" + "、".join(f"{KIND_LABELS.get(k, k)} {n} 项" for k, n in kinds.items()), st["body"]))
    left += [Spacer(1, 3 * _MM), _p("读图:右图方框中的数字即清单排序号,与下页明细表和逐项位置图一一对应;"
                                    "方框离开地块时以细线连到地块。", st["meta"])]
    right = []
    if isinstance(rows, gpd.GeoDataFrame) and rows._geometry_column_name in rows.columns and len(rows):
        outline, others = _outlines(meta, code)
        img = render_map(rows, outline=outline, context=others, parks=context.get("parks"), image_format="jpeg")
        width = 196 * _MM
        right = [Image(io.BytesIO(img), width=width, height=width * 6.0 / 10.5),
                 _p(f"图 1:{name}列入清单对象索引图(按状态着色,方框内为排序号)", st["meta"])]
    layout = Table([[left, right]], colWidths=[66 * _MM, 201 * _MM])
    layout.setStyle(_grid_style(font, [("GRID", (0, 0), (-1, -1), 0, colors.white),
                                       ("BACKGROUND", (0, 0), (-1, 0), colors.white),
                                       ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    story.append(layout)


def _reasons(get) -> str:
    """The reasons, led by "【地块已不在地块图层中】" when the listed object was removed since."""
    missing = get("item_missing")
    lead = f"【{missing}】" if isinstance(missing, str) and missing else ""
    return lead + text(get("reasons")) if lead else text(get("reasons"))


def _item_table(name, rows, st, story) -> None:
    from reportlab.lib import colors
    from reportlab.platypus import Table

    story.append(_p(f"{name} 清单明细", st["h2"]))
    head = ["排序", "对象编号", "类型", "状态", "面积(亩)", "企业名称", "所在园区", "评分", "类别", "列入理由", "备注"]
    table = [[_p(h, st["cell"]) for h in head]]
    for r in rows.itertuples(index=False):
        get = r._asdict().get
        kind = get("item_kind")
        # Short cells as plain strings (drawn as text, never parsed as markup; much cheaper
        # than paragraphs); ids, names, reasons and notes as escaped paragraphs that wrap.
        table.append([
            DASH if pd.isna(get("rank")) else str(int(get("rank"))), _p(get("item_id"), st["cell"]),
            KIND_LABELS.get(kind, kind) if isinstance(kind, str) else DASH, _str(get("status")),
            _fmt(get("area_mu")), _p(text(get("firm_name")), st["cell"]), _p(text(get("park_name")), st["cell"]),
            _fmt(get("score"), 1), _str(get("grade")), _p(_reasons(get), st["cell"]),
            _p(text(get("notes")), st["cell"]),
        ])
    widths = [10, 20, 12, 13, 15, 34, 34, 12, 11, 72, 34]
    t = Table(table, colWidths=[w * _MM for w in widths], repeatRows=1)
    t.setStyle(_grid_style(st["body"].fontName, [("ALIGN", (4, 1), (4, -1), "RIGHT"), ("ALIGN", (7, 1), (7, -1), "RIGHT"),
                                                 ("ROWBACKGROUNDS", (0, 1), (-1, -1),
                                                  [colors.white, colors.HexColor("#f7f7f7")])]))
    story.append(t)


def _item_maps(name, rows, st, story, context: dict) -> None:
    """One small map per item, six to a page, each captioned with rank, id, firm, park and 亩."""
    from reportlab.lib import colors
    from reportlab.platypus import Image, KeepTogether, PageBreak, Paragraph, Table

    if not (isinstance(rows, gpd.GeoDataFrame) and rows._geometry_column_name in rows.columns and len(rows)):
        return
    crs = rows.crs
    plots, parks, roads = context.get("plots"), context.get("parks"), context.get("roads")
    w, h = 84 * _MM, 84 * _MM * 2.3 / 3.3
    mapper = ItemMapper()
    cells = []
    for r in rows.itertuples(index=False):
        get = r._asdict().get
        geom = get(rows.geometry.name)
        colour = STATUS_COLOURS.get(str(get("status")), "#555555")
        img = mapper.render(geom, crs=crs, colour=colour, plots=plots, parks=parks, roads=roads)
        rank = DASH if pd.isna(get("rank")) else str(int(get("rank")))
        kind = KIND_LABELS.get(get("item_kind"), get("item_kind") or "")
        caption = (f"<b>{rank}</b> · {escape(kind)} {escape(text(get('item_id')))} · {escape(text(get('status')))} · "
                   f"{escape(number(get('area_mu'), 2, 'mu'))}<br/>企业:{escape(text(get('firm_name')))}<br/>"
                   f"园区:{escape(text(get('park_name')))}")
        cells.append([Image(io.BytesIO(img), width=w, height=h), Paragraph(caption, st["cell"])])
    story.append(PageBreak())
    story.append(_p(f"{name} 逐项位置图(深色为清单对象,浅灰为相邻地块,虚线为园区边界,橙色为道路)", st["h2"]))
    for start in range(0, len(cells), _PER_PAGE):
        if start:
            story.append(PageBreak())
        chunk = cells[start:start + _PER_PAGE]
        grid = [chunk[i:i + 3] for i in range(0, len(chunk), 3)]
        grid = [row + [""] * (3 - len(row)) for row in grid]
        t = Table(grid, colWidths=[89 * _MM] * 3)
        t.setStyle(_grid_style(st["body"].fontName, [("GRID", (0, 0), (-1, -1), 0, colors.white),
                                                     ("BACKGROUND", (0, 0), (-1, 0), colors.white),
                                                     ("BOTTOMPADDING", (0, 0), (-1, -1), 6)]))
        story.append(KeepTogether(t))


def _township_section(code, name, rows, meta: ExportMeta, st, story) -> None:
    from reportlab.platypus import PageBreak

    context = _context(rows, meta) if isinstance(rows, gpd.GeoDataFrame) else {}
    _overview(code, name, rows, meta, st, story, context)
    story.append(PageBreak())
    _item_table(name, rows, st, story)
    _item_maps(name, rows, st, story, context)


def write_pdf(items, *, meta: ExportMeta | None = None, out: str | os.PathLike | None = None) -> bytes | Path:
    """A PDF report with one section per township of ``items`` (see the module docstring).

    Parameters
    ----------
    items : GeoDataFrame
        Shortlist rows; filter to one township first for a single-township pack.
    meta : ExportMeta, optional
        Title, date, source and the township outlines for the maps.
    out : path, optional
        Write the file there atomically and return the path; otherwise return the bytes.
    """
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.platypus import PageBreak, SimpleDocTemplate

    meta = meta or ExportMeta()
    items = with_names(prepare(items), meta)
    st = _styles()
    groups = township_groups(items)
    story: list = []
    for k, (code, name, rows) in enumerate(groups):
        if k:
            story.append(PageBreak())
        _township_section(code, name, rows, meta, st, story)
    if not groups:
        story.append(_p(meta.title, st["title"]))
        story.append(_p(f"导出时间 {_local(meta)} · 清单为空。", st["meta"]))

    def footer(canvas, doc):
        canvas.saveState()
        canvas.setFont(FONT_NAME, 8)
        canvas.setFillGray(0.35)
        canvas.drawString(15 * _MM, 8 * _MM, f"{meta.title} · 导出时间 {_local(meta)}")
        canvas.drawRightString(landscape(A4)[0] - 15 * _MM, 8 * _MM, f"第 {doc.page} 页")
        canvas.restoreState()

    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=landscape(A4), leftMargin=15 * _MM, rightMargin=15 * _MM,
                            topMargin=12 * _MM, bottomMargin=14 * _MM, title=meta.title,
                            author="园区与低效用地再开发规划系统", subject=meta.source or meta.title,
                            # else the canvas's initial font puts an unembedded Helvetica into the file
                            initialFontName=FONT_NAME)
    from reportlab import rl_config

    # Binary image streams: reportlab's pure-Python ASCII85 encoding of the map images
    # took a third of the time of a 20-township report.
    a85, rl_config.useA85 = rl_config.useA85, 0
    try:
        doc.build(story, onFirstPage=footer, onLaterPages=footer)
    finally:
        rl_config.useA85 = a85
    return deliver(buf.getvalue(), out)
