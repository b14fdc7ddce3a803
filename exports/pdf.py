"""PDF report of a shortlist, one section per township (reportlab + matplotlib, fully offline).

Each township section: title, date and source, summary figures (items and 亩 by status),
a map of the township drawn with matplotlib — no tiles, no network: the township outline
(neighbours in light grey), the shortlisted items coloured by status with their rank,
a scale bar and a north arrow — and the table of items (rank, id, kind, status, 亩, score,
class, reasons, notes), repeated headers on every page.  The text uses an embedded CJK
TrueType font (WenQuanYi Zen Hei from Debian ``fonts-wqy-zenhei``, subset-embedded by
reportlab with a ToUnicode map, so ``pdftotext`` and screen readers get the Chinese text
back).  All text handed over is escaped before it becomes reportlab paragraph markup.

    write_pdf(items, *, meta=None, out=None) -> bytes | Path
    render_map(items, *, outline=None, context=None, dpi=160) -> bytes   # PNG of one township

``meta.townships`` (code, name, geometry) supplies the outlines; without it the map is
drawn around the items alone.
"""
from __future__ import annotations

import functools
import io
import math
import os
from pathlib import Path
from xml.sax.saxutils import escape

import geopandas as gpd
import pandas as pd

from exports._common import KIND_LABELS, STATUS_COLOURS, STATUS_ORDER, ExportMeta, deliver, prepare, township_groups
from exports._fonts import cjk_font_path

__all__ = ["write_pdf", "render_map", "FONT_NAME"]

FONT_NAME = "PlannerCJK"
_MM = 72 / 25.4  # points per millimetre
_MAX_LABELS = 60  # rank labels on the map up to this many items (beyond, they pile up)


@functools.lru_cache(maxsize=1)
def _register_font() -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    path, index = cjk_font_path()
    pdfmetrics.registerFont(TTFont(FONT_NAME, str(path), subfontIndex=index))
    return FONT_NAME


@functools.lru_cache(maxsize=1)
def _mpl_font():
    from matplotlib.font_manager import FontProperties

    path, _ = cjk_font_path()
    return FontProperties(fname=str(path))


def _nice_length(span_m: float) -> float:
    """A round scale-bar length (1, 2 or 5 × 10ⁿ m) near a fifth of the map width."""
    target = span_m / 5
    exp = 10 ** math.floor(math.log10(target))
    return max(m * exp for m in (1, 2, 5) if m * exp <= target)


def render_map(items: gpd.GeoDataFrame, *, outline: gpd.GeoDataFrame | None = None,
               context: gpd.GeoDataFrame | None = None, dpi: int = 130, size=(10.5, 6.0),
               image_format: str = "png") -> bytes:
    """PNG (or JPEG) map of shortlisted ``items`` coloured by status over the township ``outline``.

    ``context`` (other townships) is drawn in light grey.  Everything is drawn in the
    items' projected CRS (metres) so the scale bar is true; geographic input is projected
    to its UTM zone first.  No tiles are fetched.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch, Rectangle

    crs = items.crs
    if crs is not None and not crs.is_projected:
        crs = items.estimate_utm_crs()
    items = items.to_crs(crs) if crs is not None else items
    outline = outline.to_crs(crs) if outline is not None and len(outline) and crs is not None else None
    context = context.to_crs(crs) if context is not None and len(context) and crs is not None else None
    fp = _mpl_font()
    fig = Figure(figsize=size, dpi=dpi)
    ax = fig.add_axes([0.01, 0.01, 0.98, 0.98])
    if outline is not None:
        minx, miny, maxx, maxy = outline.total_bounds
    else:
        minx, miny, maxx, maxy = items.total_bounds
    pad = max(maxx - minx, maxy - miny, 400.0) * 0.06
    minx, miny, maxx, maxy = minx - pad, miny - pad, maxx + pad, maxy + pad
    # Widen the shorter side so the frame matches the figure's aspect (equal metres per inch).
    aspect = size[0] / size[1]
    w, h = maxx - minx, maxy - miny
    if w / h < aspect:
        grow = (h * aspect - w) / 2
        minx, maxx = minx - grow, maxx + grow
    else:
        grow = (w / aspect - h) / 2
        miny, maxy = miny - grow, maxy + grow
    if context is not None:
        context.plot(ax=ax, facecolor="#f2f2f2", edgecolor="#bbbbbb", linewidth=0.5)
    if outline is not None:
        outline.plot(ax=ax, facecolor="#fbfaf3", edgecolor="#333333", linewidth=1.4)
    status = items["status"].astype("string").fillna("候选")
    handles = []
    for s in STATUS_ORDER:
        sel = items[(status == s).to_numpy()]
        if sel.empty:
            continue
        colour = STATUS_COLOURS[s]
        polys = sel[sel.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()]
        if len(polys):
            polys.plot(ax=ax, facecolor=colour, edgecolor="#222222", linewidth=0.4, alpha=0.9)
        # A marker at every item: a 100 m plot is a speck on a 10 km township map.
        pts = sel.geometry.representative_point()
        ax.scatter(pts.x, pts.y, s=22, color=colour, edgecolors="white", linewidths=0.6, zorder=4)
        handles.append(Patch(facecolor=colour, edgecolor="#222222", label=f"{s}({len(sel)})"))
    if 0 < len(items) <= _MAX_LABELS:
        pts = items.geometry.representative_point()
        for x, y, r in zip(pts.x, pts.y, items["rank"]):
            if not pd.isna(r):
                ax.annotate(str(int(r)), (x, y), xytext=(4, 3), textcoords="offset points", fontsize=6.5, zorder=5)
    if outline is not None:
        handles.insert(0, Patch(facecolor="#fbfaf3", edgecolor="#333333", label="镇街边界"))
    ax.legend(handles=handles, loc="lower right", prop=fp,
              fontsize=8, framealpha=0.9, title="状态(项数)", title_fontproperties=fp)
    ax.set_xlim(minx, maxx)
    ax.set_ylim(miny, maxy)
    ax.set_aspect("equal")
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.set_xticks([])
    ax.set_yticks([])
    # Scale bar, lower left, in metres of the projected CRS.
    length = _nice_length(maxx - minx)
    x0, y0 = minx + (maxx - minx) * 0.04, miny + (maxy - miny) * 0.05
    bar_h = (maxy - miny) * 0.012
    for k in range(2):
        ax.add_patch(Rectangle((x0 + k * length / 2, y0), length / 2, bar_h, facecolor="black" if k == 0 else "white",
                               edgecolor="black", linewidth=0.8, zorder=6))
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    ax.text(x0, y0 + bar_h * 1.8, "0", fontsize=7, ha="center", zorder=6)
    ax.text(x0 + length, y0 + bar_h * 1.8, label, fontsize=7, ha="center", zorder=6)
    # North arrow, upper right (grid north of the projection; convergence < 1° in Ruian).
    ax.annotate("", xy=(0.95, 0.95), xytext=(0.95, 0.84), xycoords="axes fraction",
                arrowprops=dict(facecolor="black", edgecolor="black", width=3, headwidth=10, headlength=10))
    ax.text(0.95, 0.80, "北 N", transform=ax.transAxes, ha="center", va="top", fontproperties=fp, fontsize=9)
    crs_text = crs.to_string() if crs is not None else "未知坐标系"
    ax.text(0.01, 0.99, f"坐标系 {crs_text} · 离线绘制,无底图", transform=ax.transAxes, ha="left", va="top",
            fontproperties=fp, fontsize=7, color="#555555")
    buf = io.BytesIO()
    if image_format == "jpeg":
        # The PDF takes a JPEG as is (no decode, no re-compression): the fastest way in.
        fig.savefig(buf, format="jpeg", dpi=dpi, pil_kwargs={"quality": 92, "subsampling": 0})
    else:
        fig.savefig(buf, format="png", dpi=dpi, pil_kwargs={"compress_level": 6})
    return buf.getvalue()


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


def _str(value) -> str:
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)[:20]


def _fmt(value, digits: int = 2) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return f"{float(value):.{digits}f}"


def _township_section(code, name, rows, meta: ExportMeta, st, story) -> None:
    from reportlab.lib import colors
    from reportlab.platypus import Image, PageBreak, Spacer, Table, TableStyle

    font = st["body"].fontName
    story.append(_p(f"{meta.title} — {name}", st["title"]))
    story.append(_p(f"镇街代码 {code or '—'} · 导出日期 {meta.date.isoformat()} · 数据来源 {meta.source or '—'}", st["meta"]))
    total_mu = float(rows["area_mu"].sum())
    status = rows["status"].astype("string")
    data = [["状态", "项数", "面积(亩)"]]
    for s in STATUS_ORDER:
        sel = rows[(status == s).to_numpy()]
        data.append([s, str(len(sel)), f"{float(sel['area_mu'].sum()):.2f}"])
    data.append(["合计", str(len(rows)), f"{total_mu:.2f}"])
    summary = Table(data, colWidths=[20 * _MM, 14 * _MM, 22 * _MM], hAlign="LEFT")
    summary.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, -1), font), ("FONTSIZE", (0, 0), (-1, -1), 9),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde6f0")), ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
        ("ALIGN", (1, 0), (-1, -1), "RIGHT"), ("BACKGROUND", (0, -1), (-1, -1), colors.HexColor("#f2f2f2")),
    ]))
    left = [_p(f"共 {len(rows)} 项列入清单,合计 {total_mu:.2f} 亩。", st["h2"]), summary]
    kinds = rows["item_kind"].astype("string").value_counts()
    if len(kinds):
        left.append(Spacer(1, 3 * _MM))
        left.append(_p("对象类型:" + "、".join(f"{KIND_LABELS.get(k, k)} {n} 项" for k, n in kinds.items()), st["body"]))
    outline = context = None
    towns = meta.townships
    if towns is not None and len(towns) and "code" in towns.columns:
        is_this = (towns["code"].astype(str) == str(code)).to_numpy()
        outline = towns[is_this] if is_this.any() else None
        context = towns[~is_this]
    right = []
    if isinstance(rows, gpd.GeoDataFrame) and rows._geometry_column_name in rows.columns and len(rows):
        img = render_map(rows, outline=outline, context=context, image_format="jpeg")
        width = 196 * _MM
        right = [Image(io.BytesIO(img), width=width, height=width * 6.0 / 10.5),
                 _p(f"图:{name}列入清单对象分布(按状态着色{',数字为排序' if len(rows) <= _MAX_LABELS else ''})", st["meta"])]
    layout = Table([[left, right]], colWidths=[66 * _MM, 201 * _MM])
    # Every table names the CJK font: reportlab sets each cell's font, even around flowables,
    # and the default would put an unembedded Helvetica into the file.
    layout.setStyle(TableStyle([("FONTNAME", (0, 0), (-1, -1), font), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                                ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    story.append(layout)
    story.append(PageBreak())
    story.append(_p(f"{name} 清单明细", st["h2"]))
    head = ["排序", "对象编号", "类型", "状态", "面积(亩)", "评分", "类别", "列入理由", "备注"]
    table = [[_p(h, st["cell"]) for h in head]]
    for r in rows.itertuples(index=False):
        get = r._asdict().get
        kind = get("item_kind")
        # Short cells as plain strings (drawn as text, never parsed as markup; much cheaper
        # than paragraphs); ids, reasons and notes as escaped paragraphs that wrap.
        table.append([
            "" if pd.isna(get("rank")) else str(int(get("rank"))), _p(get("item_id"), st["cell"]),
            KIND_LABELS.get(kind, kind) if isinstance(kind, str) else "", _str(get("status")),
            _fmt(get("area_mu")), _fmt(get("score")), _str(get("grade")),
            _p(get("reasons"), st["cell"]), _p(get("notes"), st["cell"]),
        ])
    widths = [12, 26, 15, 15, 18, 14, 13, 100, 54]
    t = Table(table, colWidths=[w * _MM for w in widths], repeatRows=1)
    t.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, -1), font), ("FONTSIZE", (0, 0), (-1, -1), 8),
        ("ALIGN", (4, 1), (5, -1), "RIGHT"),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde6f0")), ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f7f7f7")]),
    ]))
    story.append(t)


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
    items = prepare(items)
    st = _styles()
    groups = township_groups(items)
    story: list = []
    for k, (code, name, rows) in enumerate(groups):
        if k:
            story.append(PageBreak())
        _township_section(code, name, rows, meta, st, story)
    if not groups:
        story.append(_p(meta.title, st["title"]))
        story.append(_p(f"导出日期 {meta.date.isoformat()} · 清单为空。", st["meta"]))

    def footer(canvas, doc):
        canvas.saveState()
        canvas.setFont(FONT_NAME, 8)
        canvas.setFillGray(0.35)
        canvas.drawString(15 * _MM, 8 * _MM, f"{meta.title} · {meta.date.isoformat()}")
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
