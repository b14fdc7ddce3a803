"""A printable map (PNG or PDF) of what the planner sees: the view's extent, layers, colours and legend.

Drawn with matplotlib in the workspace's projected CRS (metres), so the scale bar is true;
grid north is drawn as the north arrow (in a Gauss–Krüger zone it is within a degree of true
north near the central meridian).  No tiles and no network: every feature is drawn from the
layers it is handed.  A4 landscape: a title, the map with a scale bar and a north arrow, the
legend beside it (the same sections, colours and swatch kinds as the web map's legend) and a
footer saying what made it, when, and in which CRS.

This module formats what it is handed (:class:`PrintLayer`, :class:`PrintRaster`, legend
sections); the caller — the map page or ``cli.py map`` — decides the layers and colours
(``ui.mapview.print_layers``).
"""
from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np

from exports._fonts import cjk_font_path
from exports._mapgeom import fit_aspect, scale_bar_length
from geo.errors import ParameterError

__all__ = ["PrintLayer", "PrintRaster", "render_map_image", "scale_bar_length", "FORMATS", "A4_LANDSCAPE"]

FORMATS = ("png", "pdf")
A4_LANDSCAPE = (11.69, 8.27)  # inches


@dataclass
class PrintLayer:
    """One layer to draw (projected CRS).

    ``facecolor`` / ``edgecolor`` are one colour or one per feature (a list or array of colour
    strings on the frame's rows, e.g. "#rrggbbaa"); ``facecolor=None`` draws outlines only;
    ``kind`` "area", "line" or "point".
    """

    gdf: gpd.GeoDataFrame
    facecolor: object = None
    edgecolor: object = "#333333"
    linewidth: float = 0.5
    kind: str = "area"
    linestyle: str = "-"
    markersize: float = 10.0
    alpha: float | None = None  # None: the colours' own alpha ("#rrggbbaa"); a number overrides it


@dataclass
class PrintRaster:
    """A classed raster: ``rgba`` (rows, cols, 4) uint8 and its extent ``(left, right, bottom, top)`` in the CRS."""

    rgba: np.ndarray
    extent: tuple[float, float, float, float]
    alpha: float = 0.6


@functools.lru_cache(maxsize=1)
def _font():
    from matplotlib.font_manager import FontProperties

    path, _ = cjk_font_path()
    return FontProperties(fname=str(path))


def _draw_layer(ax, layer: PrintLayer, clip) -> None:
    gdf = layer.gdf
    if gdf is None or not len(gdf):
        return
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    keep = gdf.sindex.query(clip, predicate="intersects")
    keep = np.sort(keep)
    if not len(keep):
        return

    def pick(value):  # one colour for all, or one per row (strings such as "#rrggbbaa")
        if isinstance(value, (list, np.ndarray)) or hasattr(value, "iloc"):
            return np.asarray(value, dtype=object)[keep].tolist()
        return value

    sub = gdf.iloc[keep]
    face, edge = pick(layer.facecolor), pick(layer.edgecolor)
    if layer.kind == "point":
        ax.scatter(sub.geometry.x, sub.geometry.y, s=layer.markersize, c=face if face is not None else "none",
                   edgecolors=edge, linewidths=layer.linewidth, alpha=layer.alpha, zorder=3)
    elif layer.kind == "line":
        sub.plot(ax=ax, color=edge, linewidth=layer.linewidth, linestyle=layer.linestyle, alpha=layer.alpha)
    else:
        sub.plot(ax=ax, facecolor=face if face is not None else "none", edgecolor=edge, linewidth=layer.linewidth,
                 linestyle=layer.linestyle, alpha=layer.alpha)


def _legend_panel(ax, title: str, sections: Sequence, fp) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Circle, Rectangle

    ax.set_axis_off()
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    y = 0.98
    ax.text(0.02, y, title, fontproperties=fp, fontsize=11, fontweight="bold", va="top")
    y -= 0.05
    step = 0.032
    for heading, rows in sections:
        if y < 0.04:
            break
        ax.text(0.02, y, heading, fontproperties=fp, fontsize=8.5, color="#555555", va="top")
        y -= step
        for colour, label, kind in rows:
            if y < 0.02:
                break
            cy = y - 0.011
            if kind in ("line", "dash"):
                ax.add_line(Line2D([0.04, 0.13], [cy, cy], color=colour, linewidth=2.2,
                                   linestyle="--" if kind == "dash" else "-"))
            elif kind == "pt":
                ax.add_patch(Circle((0.085, cy), 0.012, facecolor=colour, edgecolor="#333333", linewidth=0.6))
            elif kind == "outline":
                ax.add_patch(Rectangle((0.04, cy - 0.009), 0.09, 0.018, facecolor="none", edgecolor=colour, linewidth=1.6))
            else:
                ax.add_patch(Rectangle((0.04, cy - 0.009), 0.09, 0.018, facecolor=colour, edgecolor="#555555",
                                       linewidth=0.5))
            ax.text(0.16, cy, label, fontproperties=fp, fontsize=8, va="center")
            y -= step
        y -= step * 0.4


def _scale_bar(ax, bbox, fp, unit_km: str) -> None:
    from matplotlib.patches import Rectangle

    minx, miny, maxx, maxy = bbox
    length = scale_bar_length(maxx - minx)
    x0, y0 = minx + (maxx - minx) * 0.04, miny + (maxy - miny) * 0.045
    h = (maxy - miny) * 0.012
    for i in range(2):  # two alternating halves, as on survey maps
        ax.add_patch(Rectangle((x0 + i * length / 2, y0), length / 2, h, facecolor="#222222" if i == 0 else "white",
                               edgecolor="#222222", linewidth=0.8, zorder=20))
    label = f"{length / 1000:g} {unit_km}" if length >= 1000 else f"{length:g} m"
    for x, text in ((x0, "0"), (x0 + length, label)):
        ax.text(x, y0 + h * 1.8, text, fontproperties=fp, fontsize=8, ha="center", va="bottom", zorder=20)


def _north_arrow(ax, bbox, fp, letter: str) -> None:
    minx, miny, maxx, maxy = bbox
    x = maxx - (maxx - minx) * 0.05
    y1 = maxy - (maxy - miny) * 0.05
    y0 = y1 - (maxy - miny) * 0.09
    ax.annotate("", xy=(x, y1), xytext=(x, y0), zorder=20,
                arrowprops={"arrowstyle": "-|>,head_length=0.8,head_width=0.45", "color": "#222222", "linewidth": 1.6})
    ax.text(x, y1 + (maxy - miny) * 0.008, letter, fontproperties=fp, fontsize=12, fontweight="bold",
            ha="center", va="bottom", zorder=20)


def render_map_image(layers: Sequence[PrintLayer], *, bbox: tuple[float, float, float, float], title: str,
                     legend_title: str, legend: Sequence, footer: str = "", rasters: Sequence[PrintRaster] = (),
                     fmt: str = "png", size: tuple[float, float] = A4_LANDSCAPE, dpi: int = 150,
                     north: str = "北", km: str = "km") -> bytes:
    """Draw ``layers`` (bottom first) inside ``bbox`` (projected metres) with legend, scale bar and north arrow.

    Parameters
    ----------
    layers : sequence of PrintLayer
        In drawing order, bottom first, all in one projected CRS (metres).
    bbox : (minx, miny, maxx, maxy)
        What to show, in that CRS; widened to the map frame's shape.
    title, legend_title, footer : str
        Texts in the user's language.
    legend : sequence of (heading, [(colour, label, kind)])
        As ``ui.mapview.Legend`` takes it.
    rasters : sequence of PrintRaster
        Drawn under the layers.
    fmt : {"png", "pdf"}
    size : (width, height) inches; A4 landscape by default.

    Returns
    -------
    bytes
        The PNG or PDF file.
    """
    if fmt not in FORMATS:
        raise ParameterError(f"fmt={fmt!r} is not one of {list(FORMATS)}.",
                             message_zh=f"导出格式 {fmt!r} 无效,可选:{list(FORMATS)}。")
    minx, miny, maxx, maxy = (float(v) for v in bbox)
    if not (np.isfinite([minx, miny, maxx, maxy]).all() and maxx > minx and maxy > miny):
        raise ParameterError(f"bbox={bbox!r} is empty or not finite; expected (minx, miny, maxx, maxy) with min < max.",
                             message_zh=f"导出范围 {bbox!r} 无效(应为 最小x, 最小y, 最大x, 最大y,且最小值小于最大值)。")
    import matplotlib

    matplotlib.use("Agg")
    import shapely
    from matplotlib.figure import Figure

    fp = _font()
    fig = Figure(figsize=size, dpi=dpi)
    fig.text(0.02, 0.975, title, fontproperties=fp, fontsize=15, fontweight="bold", va="top")
    map_box = [0.02, 0.06, 0.72, 0.86]
    ax = fig.add_axes(map_box)
    frame = fit_aspect((minx, miny, maxx, maxy), (map_box[2] * size[0]) / (map_box[3] * size[1]))
    clip = shapely.box(*frame)
    for r in rasters:
        ax.imshow(r.rgba, extent=r.extent, alpha=r.alpha, interpolation="nearest", zorder=0)
    for layer in layers:
        _draw_layer(ax, layer, clip)
    ax.set_xlim(frame[0], frame[2])
    ax.set_ylim(frame[1], frame[3])
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")  # geopandas labels the axes from the CRS ("Easting [metre]"): no English on a Chinese map
    ax.set_ylabel("")
    for spine in ax.spines.values():
        spine.set_edgecolor("#333333")
    _scale_bar(ax, frame, fp, km)
    _north_arrow(ax, frame, fp, north)
    _legend_panel(fig.add_axes([0.755, 0.06, 0.235, 0.86]), legend_title, legend, fp)
    if footer:
        fig.text(0.02, 0.02, footer, fontproperties=fp, fontsize=7.5, color="#555555", va="bottom")
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, metadata={"Creator": "parks and land-reuse planner"} if fmt == "pdf" else None)
    return buf.getvalue()
