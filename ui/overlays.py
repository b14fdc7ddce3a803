"""Raster overlays for the map: the workspace's DEM, slope and flood-depth GeoTIFFs as coloured images.

Rendered on the server (nothing is fetched from outside): each raster is resampled into Web
Mercator (:func:`geo.raster.warp_to_web_mercator`), every cell is put into one of a few
classes of :data:`RASTER_STYLES` and painted with that class's colour (nodata and "no
flood" cells transparent), and the result is one PNG that Leaflet lays over the map
(``L.imageOverlay``) between its two corners.  The legend is drawn from the same class table,
so the colours on the map, the legend and a printed map agree.

Classes, not a continuous ramp: a planner reads "坡度 15–25°" off a legend, not a shade.
Slope classes follow the usual land-survey grading (0–2°, 2–6°, 6–15°, 15–25°, > 25°);
flood depth 0.3 / 0.5 / 1 / 2 m; elevation in bands that fit a coastal county.

:func:`overlay_image` is cached by the file's path, size and modification time, so the PNG
is made once per raster version whatever the number of sessions.
"""
from __future__ import annotations

import functools
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geo.raster import read_raster, warp_to_web_mercator
from ui.i18n import STRINGS, t

__all__ = ["RasterStyle", "RASTER_STYLES", "Overlay", "raster_style", "classify", "overlay_image", "legend_rows",
           "raster_label", "print_raster"]


@dataclass(frozen=True)
class RasterStyle:
    """Class breaks and colours of one kind of raster.

    ``edges`` are the inner class limits (ascending); class i holds values in
    ``[edges[i-1], edges[i])``, the first class everything below ``edges[0]`` and the last
    everything from ``edges[-1]`` up.  Values at or below ``clear_at_or_below`` are left
    transparent (e.g. no flooding).
    """

    label_key: str
    unit: str
    edges: tuple[float, ...]
    colors: tuple[str, ...]
    clear_at_or_below: float | None = None
    opacity: float = 0.6
    decimals: int = 0

    def __post_init__(self):
        if len(self.colors) != len(self.edges) + 1:
            raise ValueError(f"{self.label_key}: {len(self.edges)} edges need {len(self.edges) + 1} colours")


RASTER_STYLES: dict[str, RasterStyle] = {
    "dem": RasterStyle("raster_dem", "m", (20, 50, 100, 200, 500, 800),
                       ("#1a9850", "#66bd63", "#a6d96a", "#fee08b", "#fdae61", "#d9804a", "#a0522d")),
    "slope": RasterStyle("raster_slope", "°", (2, 6, 15, 25),
                         ("#ffffcc", "#fed976", "#fd8d3c", "#e31a1c", "#800026")),
    "flood_depth": RasterStyle("raster_flood_depth", "m", (0.3, 0.5, 1.0, 2.0),
                               ("#c6dbef", "#6baed6", "#3182bd", "#08519c", "#08306b"),
                               clear_at_or_below=0.0, opacity=0.7, decimals=1),
}
# Any other registered raster: five equal-count classes of its own values (viridis).
_OTHER_COLORS = ("#440154", "#3b528b", "#21918c", "#5ec962", "#fde725")


def raster_style(kind: str, values: np.ndarray | None = None) -> RasterStyle:
    """The style of raster ``kind``; an unknown kind gets quantile classes of ``values``."""
    if kind in RASTER_STYLES:
        return RASTER_STYLES[kind]
    finite = values[np.isfinite(values)] if values is not None else np.array([])
    edges = tuple(np.unique(np.round(np.quantile(finite, [0.2, 0.4, 0.6, 0.8]), 2))) if finite.size else ()
    return RasterStyle("raster_other", "", edges, _OTHER_COLORS[: len(edges) + 1], decimals=2)


def classify(values: np.ndarray, style: RasterStyle) -> np.ndarray:
    """Class index per cell (0 … len(edges)), −1 where NaN or transparent; vectorised ``searchsorted``."""
    v = np.asarray(values, dtype="float64")
    cls = np.searchsorted(np.asarray(style.edges, dtype="float64"), v, side="right").astype(np.int16)
    clear = ~np.isfinite(v)
    if style.clear_at_or_below is not None:
        clear |= v <= style.clear_at_or_below
    cls[clear] = -1
    return cls


def _rgba(colour: str, alpha: float) -> tuple[int, int, int, int]:
    h = colour.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16), int(round(alpha * 255))


def raster_label(kind: str, lang: str) -> str:
    """Display name of a raster kind, with its unit ("坡度(°)")."""
    style = RASTER_STYLES.get(kind)
    key = f"raster_{kind}"
    name = t(key, lang) if key in STRINGS else kind
    return f"{name}({style.unit})" if style and lang == "zh" else (f"{name} ({style.unit})" if style else name)


def legend_rows(style: RasterStyle, lang: str) -> list[tuple[str, str, str]]:
    """``(colour, label, "fill")`` per class, e.g. ``("#fd8d3c", "6–15°", "fill")`` (unit on each label)."""
    fmt = f"{{:,.{style.decimals}f}}"
    unit = style.unit
    e = [fmt.format(x) for x in style.edges]
    if not e:
        return [(style.colors[0], t("raster_all_values", lang), "fill")]
    rows = [(style.colors[0], f"< {e[0]}{unit}" if style.clear_at_or_below is None
             else f"{fmt.format(style.clear_at_or_below)}–{e[0]}{unit}", "fill")]
    rows += [(style.colors[i + 1], f"{e[i]}–{e[i + 1]}{unit}", "fill") for i in range(len(e) - 1)]
    rows.append((style.colors[-1], f"≥ {e[-1]}{unit}", "fill"))
    return rows


def _paint(cls: np.ndarray, style: RasterStyle) -> np.ndarray:
    """RGBA image (uint8) of class indices: each class its colour, −1 transparent."""
    palette = np.array([_rgba(c, 1.0) for c in style.colors] + [(0, 0, 0, 0)], dtype=np.uint8)
    return palette[np.where(cls < 0, len(style.colors), cls)]


@dataclass(frozen=True)
class Overlay:
    """One raster ready for the map: PNG bytes, corners and legend.

    ``bounds`` is ``((south, west), (north, east))`` in degrees, as ``L.imageOverlay`` takes it.
    """

    kind: str
    png: bytes
    bounds: tuple[tuple[float, float], tuple[float, float]]
    style: RasterStyle


@functools.lru_cache(maxsize=16)
def _overlay(path: str, stamp: tuple, kind: str) -> Overlay:
    from PIL import Image

    raster = read_raster(path)
    values, (w, s, e, n) = warp_to_web_mercator(raster)
    style = raster_style(kind, raster.array)
    cls = classify(values, style)
    rgba = _paint(cls, style)
    buf = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buf, format="PNG", optimize=True)
    return Overlay(kind, buf.getvalue(), ((s, w), (n, e)), style)


def overlay_image(path: str | os.PathLike, kind: str) -> Overlay:
    """The coloured overlay of the GeoTIFF at ``path`` (cached by path, size and mtime)."""
    p = Path(path)
    st = p.stat()
    return _overlay(str(p), (st.st_size, st.st_mtime_ns), kind)


def print_raster(path: str | os.PathLike, kind: str):
    """The raster classed and painted like the overlay, in its own CRS, for :func:`exports.map_print.render_map_image`."""
    from exports.map_print import PrintRaster

    raster = read_raster(path)
    style = raster_style(kind, raster.array)
    rows, cols = raster.array.shape
    left, top = raster.transform * (0, 0)
    right, bottom = raster.transform * (cols, rows)
    return PrintRaster(_paint(classify(raster.array, style), style), (left, right, bottom, top), alpha=style.opacity)
