"""The maps of the township pack, drawn offline with matplotlib (no tiles, no network).

* :func:`render_map` — the township's index map: its outline (neighbours in light grey), the
  parks, every listed item as a dot coloured by status and its rank in a box; the boxes never
  overlap (:func:`exports._labels.place_labels`), a moved box has a leader line to its dot.
* :func:`render_item_map` — one item up close: the item filled in its status colour, the
  neighbouring plots, park outlines (dashed; the park's name is in the caption) and roads, a
  scale bar and north arrow.

Everything is drawn in the items' projected CRS (metres) so scale bars are true; geographic
input is projected to its UTM zone first.  Polygons go to matplotlib as one collection per
layer (no per-feature Python loop over the plots).
"""
from __future__ import annotations

import functools
import io

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from exports._common import STATUS_COLOURS, STATUS_ORDER
from exports._fonts import cjk_font_path
from exports._labels import place_labels
from exports._mapgeom import fit_aspect, scale_bar_length

__all__ = ["render_map", "render_item_map", "ItemMapper"]

_ROAD_COLOURS = {"expressway": "#d95f02", "national_road": "#e6832a", "provincial_road": "#f0a04b",
                 "urban_road": "#b0b0b0"}
_PARK_EDGE = "#2a9d8f"
_ZOOM_SHARE = 0.35       # items within a third of the township's frame: zoom to them, inset the township
_FOCUS_LEAST_M = 1200.0  # the zoomed frame is at least this wide


@functools.lru_cache(maxsize=1)
def _font():
    from matplotlib.font_manager import FontProperties

    path, _ = cjk_font_path()
    return FontProperties(fname=str(path))


def _figure(size, dpi):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes([0.005, 0.005, 0.99, 0.99])
    ax.set_xticks([])
    ax.set_yticks([])
    return fig, ax


def _frame(bounds, size, pad_share: float = 0.06, least: float = 400.0):
    """(minx, miny, maxx, maxy) around ``bounds``, padded and widened to the figure's aspect."""
    minx, miny, maxx, maxy = bounds
    pad = max(maxx - minx, maxy - miny, least) * pad_share
    return fit_aspect((minx - pad, miny - pad, maxx + pad, maxy + pad), size[0] / size[1])


def _polygons(ax, geoms, **style) -> None:
    """Draw the exterior rings of (multi)polygons as one PolyCollection."""
    from matplotlib.collections import PolyCollection

    geoms = np.asarray(geoms, dtype=object)
    geoms = geoms[shapely.get_type_id(geoms) >= 3] if len(geoms) else geoms
    if not len(geoms):
        return
    parts = shapely.get_parts(geoms)
    rings = shapely.get_exterior_ring(parts)
    coords, index = shapely.get_coordinates(rings, return_index=True)
    splits = np.flatnonzero(np.diff(index)) + 1
    ax.add_collection(PolyCollection(np.split(coords, splits), **style))


def _lines(ax, geoms, **style) -> None:
    from matplotlib.collections import LineCollection

    geoms = np.asarray(geoms, dtype=object)
    if not len(geoms):
        return
    parts = shapely.get_parts(geoms)
    coords, index = shapely.get_coordinates(parts, return_index=True)
    splits = np.flatnonzero(np.diff(index)) + 1
    ax.add_collection(LineCollection(np.split(coords, splits), **style))


def _scale_and_north(ax, frame, *, fontsize: float = 7, arrow: float = 0.11) -> None:
    from matplotlib.patches import Rectangle

    minx, miny, maxx, maxy = frame
    length = scale_bar_length(maxx - minx)
    x0, y0 = minx + (maxx - minx) * 0.04, miny + (maxy - miny) * 0.05
    bar_h = (maxy - miny) * 0.012
    for k in range(2):
        ax.add_patch(Rectangle((x0 + k * length / 2, y0), length / 2, bar_h, facecolor="black" if k == 0 else "white",
                               edgecolor="black", linewidth=0.8, zorder=8))
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    ax.text(x0, y0 + bar_h * 1.8, "0", fontsize=fontsize, ha="center", zorder=8)
    ax.text(x0 + length, y0 + bar_h * 1.8, label, fontsize=fontsize, ha="center", zorder=8)
    # North arrow, upper right (grid north of the projection; convergence < 1° in Ruian).
    ax.annotate("", xy=(0.95, 0.95), xytext=(0.95, 0.95 - arrow), xycoords="axes fraction",
                arrowprops=dict(facecolor="black", edgecolor="black", width=3, headwidth=9, headlength=9), zorder=8)
    ax.text(0.95, 0.95 - arrow - 0.02, "北 N", transform=ax.transAxes, ha="center", va="top", fontproperties=_font(),
            fontsize=fontsize + 1, zorder=8)


def _projected(items: gpd.GeoDataFrame):
    crs = items.crs
    if crs is not None and not crs.is_projected:
        crs = items.estimate_utm_crs()
    return crs


def _save(fig, dpi: int, image_format: str) -> bytes:
    buf = io.BytesIO()
    if image_format == "jpeg":
        # The PDF takes a JPEG as is (no decode, no re-compression): the fastest way in.
        fig.savefig(buf, format="jpeg", dpi=dpi, pil_kwargs={"quality": 85, "subsampling": 0})
    else:
        fig.savefig(buf, format="png", dpi=dpi, pil_kwargs={"compress_level": 6})
    return buf.getvalue()


def _rank_labels(ax, fig, pts: np.ndarray, ranks, colours, *, fontsize: float = 7.0) -> tuple[np.ndarray, np.ndarray]:
    """Rank boxes beside their dots, never overlapping; returns (label boxes in pixels, moved flags)."""
    renderer = fig.canvas.get_renderer()
    texts = [ax.text(0, 0, str(r), fontsize=fontsize, ha="center", va="center", zorder=7,
                     bbox=dict(boxstyle="round,pad=0.18", facecolor="white", edgecolor=c, linewidth=0.8))
             for r, c in zip(ranks, colours)]
    sizes = np.array([[b.width, b.height] for b in (t.get_window_extent(renderer) for t in texts)])
    pad = fontsize * 0.18 * fig.dpi / 72 * 2 + 2
    sizes = sizes + pad
    px = ax.transData.transform(pts)
    box = ax.get_window_extent(renderer)
    centres, moved = place_labels(px, sizes, (box.x0 + 2, box.y0 + 2, box.x1 - 2, box.y1 - 2),
                                  marker=4.0 * fig.dpi / 72, gap=1.0, step=5.0 * fig.dpi / 72,
                                  max_radius=70.0 * fig.dpi / 72)
    inv = ax.transData.inverted()
    where = inv.transform(centres)
    for t, (x, y) in zip(texts, where):
        t.set_position((x, y))
    for (x, y), (lx, ly), m in zip(pts, where, moved):
        if m:
            ax.plot([x, lx], [y, ly], color="#555555", linewidth=0.5, zorder=6)
    half = sizes / 2
    return np.column_stack([centres - half, centres + half]), moved


def render_map(items: gpd.GeoDataFrame, *, outline: gpd.GeoDataFrame | None = None,
               context: gpd.GeoDataFrame | None = None, parks: gpd.GeoDataFrame | None = None, dpi: int = 130,
               size=(10.5, 6.0), image_format: str = "png") -> bytes:
    """The township's index map: ``items`` as dots coloured by status, each with its rank in a box.

    ``outline`` is the township, ``context`` the other townships (light grey), ``parks`` park
    outlines (dashed).  Rank boxes never overlap; a box moved away from its dot is joined to it
    by a leader line, so every number points at one item.
    """
    from matplotlib.patches import Patch

    crs = _projected(items)
    items = items.to_crs(crs) if crs is not None else items
    outline = outline.to_crs(crs) if outline is not None and len(outline) and crs is not None else None
    context = context.to_crs(crs) if context is not None and len(context) and crs is not None else None
    parks = parks.to_crs(crs) if parks is not None and len(parks) and crs is not None else None
    fig, ax = _figure(size, dpi)
    whole = _frame(outline.total_bounds if outline is not None else items.total_bounds, size)
    frame = _frame(items.total_bounds, size, pad_share=0.2, least=_FOCUS_LEAST_M) if len(items) else whole
    zoomed = _area(frame) < _ZOOM_SHARE * _area(whole)
    if not zoomed:
        frame = whole
    ax.set_xlim(frame[0], frame[2])
    ax.set_ylim(frame[1], frame[3])
    ax.set_aspect("equal")
    if context is not None:
        _polygons(ax, context.geometry, facecolor="#f2f2f2", edgecolor="#bbbbbb", linewidth=0.5)
    if outline is not None:
        _polygons(ax, outline.geometry, facecolor="#fbfaf3", edgecolor="#333333", linewidth=1.4)
    if parks is not None:
        _polygons(ax, parks.geometry, facecolor="#e6f4f1", edgecolor=_PARK_EDGE, linewidth=0.7, linestyle="--")
    status = items["status"].astype("string").fillna(STATUS_ORDER[0])
    colours = status.map(lambda s: STATUS_COLOURS.get(s, "#555555")).tolist()
    _polygons(ax, items.geometry, facecolor=colours, edgecolor="#222222", linewidth=0.3)
    pts = shapely.get_coordinates(items.geometry.representative_point().to_numpy())
    ax.scatter(pts[:, 0], pts[:, 1], s=14, c=colours, edgecolors="#222222", linewidths=0.5, zorder=5)
    ranks = ["" if pd.isna(r) else str(int(r)) for r in items["rank"]] if "rank" in items else [str(i + 1) for i in
                                                                                                 range(len(items))]
    if len(items):
        _rank_labels(ax, fig, pts, ranks, colours)
    fp = _font()
    handles = [Patch(facecolor="#fbfaf3", edgecolor="#333333", label="镇街边界")] if outline is not None else []
    if parks is not None:
        handles.append(Patch(facecolor="#e6f4f1", edgecolor=_PARK_EDGE, linestyle="--", label="园区"))
    handles += [Patch(facecolor=STATUS_COLOURS[s], edgecolor="#222222", label=f"{s}({int((status == s).sum())})")
                for s in STATUS_ORDER if (status == s).any()]
    ax.legend(handles=handles, loc="lower right", prop=fp, fontsize=8, framealpha=0.92, title="图例(项数)",
              title_fontproperties=fp)
    _scale_and_north(ax, frame)
    crs_text = crs.to_string() if crs is not None else "未知坐标系"
    ax.text(0.5, 0.012, f"坐标系 {crs_text} · 离线绘制,无底图", transform=ax.transAxes, ha="center", va="bottom",
            fontproperties=fp, fontsize=6.5, color="#555555",
            bbox=dict(facecolor="white", edgecolor="none", alpha=0.8, pad=1))
    if zoomed:
        _locator(fig, whole, frame, outline, context)
    return _save(fig, dpi, image_format)


def _area(bounds) -> float:
    return (bounds[2] - bounds[0]) * (bounds[3] - bounds[1])


def _locator(fig, whole, frame, outline, context) -> None:
    """A small map of the whole township (upper left) with the zoomed frame marked in red."""
    from matplotlib.patches import Rectangle

    ins = fig.add_axes([0.012, 0.6, 0.24, 0.38])
    ins.set_xticks([])
    ins.set_yticks([])
    ins.set_xlim(whole[0], whole[2])
    ins.set_ylim(whole[1], whole[3])
    ins.set_aspect("equal")
    ins.set_facecolor("white")
    if context is not None:
        _polygons(ins, context.geometry, facecolor="#f2f2f2", edgecolor="#bbbbbb", linewidth=0.3)
    if outline is not None:
        _polygons(ins, outline.geometry, facecolor="#fbfaf3", edgecolor="#333333", linewidth=0.8)
    ins.add_patch(Rectangle((frame[0], frame[1]), frame[2] - frame[0], frame[3] - frame[1], facecolor="none",
                            edgecolor="#d62728", linewidth=1.2))
    ins.text(0.03, 0.97, "位置示意(红框为主图范围)", transform=ins.transAxes, ha="left", va="top",
             fontproperties=_font(), fontsize=6, color="#333333",
             bbox=dict(facecolor="white", edgecolor="none", alpha=0.8, pad=0.8))


class ItemMapper:
    """Draws item maps one after another on one figure (a new figure and axes per map cost twice the drawing).

    ``ItemMapper(size, dpi).render(item, ...)`` takes the arguments of :func:`render_item_map`.
    """

    def __init__(self, size=(3.3, 2.3), dpi: int = 120):
        self.size, self.dpi = size, dpi
        self.fig, self.ax = _figure(size, dpi)
        self.ax.set_facecolor("#fbfaf3")

    def render(self, item, *, crs, colour: str, plots=None, parks=None, roads=None, image_format: str = "jpeg",
               least_m: float = 300.0) -> bytes:
        ax = self.ax
        for artist in [*ax.collections, *ax.patches, *ax.texts, *ax.lines]:
            artist.remove()
        frame = _frame(item.bounds, self.size, pad_share=0.35, least=least_m)
        ax.set_xlim(frame[0], frame[2])
        ax.set_ylim(frame[1], frame[3])
        ax.set_aspect("equal")
        window = shapely.box(*frame)

        def near(layer):
            if layer is None or not len(layer):
                return None
            return layer.iloc[layer.sindex.query(window, predicate="intersects")]

        if (p := near(plots)) is not None:
            _polygons(ax, p.geometry, facecolor="#eeeeee", edgecolor="#9a9a9a", linewidth=0.4)
        if (k := near(parks)) is not None:
            _polygons(ax, k.geometry, facecolor="none", edgecolor=_PARK_EDGE, linewidth=1.1, linestyle="--")
        if (r := near(roads)) is not None:
            colours = [_ROAD_COLOURS.get(k, "#b0b0b0") for k in r.get("kind", pd.Series(["urban_road"] * len(r)))]
            _lines(ax, r.geometry, colors=colours, linewidths=2.0, zorder=4)
        if item.geom_type in ("Point", "MultiPoint"):
            x, y = shapely.get_coordinates(item)[0]
            ax.scatter([x], [y], s=60, c=colour, edgecolors="#111111", linewidths=1.0, zorder=7)
        else:
            _polygons(ax, [item], facecolor=colour, edgecolor="#111111", linewidth=1.2, alpha=0.9, zorder=5)
        _scale_and_north(ax, frame, fontsize=6, arrow=0.16)
        return _save(self.fig, self.dpi, image_format)


def render_item_map(item, *, crs, colour: str, plots: gpd.GeoDataFrame | None = None,
                    parks: gpd.GeoDataFrame | None = None, roads: gpd.GeoDataFrame | None = None,
                    size=(3.3, 2.3), dpi: int = 150, image_format: str = "jpeg", least_m: float = 300.0) -> bytes:
    """One listed item up close: filled in ``colour``, with neighbouring plots, park outlines and roads.

    ``item`` is a shapely geometry in ``crs`` (projected, metres); the frame is the item's
    bounds padded to at least ``least_m`` across.  ``plots``/``parks``/``roads`` may hold more
    than the frame: only what meets it is drawn.  Many maps: use one :class:`ItemMapper`.
    """
    return ItemMapper(size, dpi).render(item, crs=crs, colour=colour, plots=plots, parks=parks, roads=roads,
                                        image_format=image_format, least_m=least_m)
