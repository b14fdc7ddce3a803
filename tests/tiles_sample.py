"""A small tile package made from the sample's own layers, to test the offline base map without any download.

:func:`build_sample_mbtiles` draws the county outline, the townships and the roads of a
workspace with matplotlib into 256-pixel Web-Mercator tiles for a few zoom levels over the
plots' extent, and writes them as an MBTiles file (:func:`geo.tiles.write_mbtiles`).  The
paper colour is distinctive (:data:`PAPER`), so a test can tell these tiles on screen.
"""
from __future__ import annotations

import io
from pathlib import Path

import geopandas as gpd

from geo.tiles import iter_tiles, tile_bounds, write_mbtiles

__all__ = ["PAPER", "build_sample_mbtiles", "render_tile"]

PAPER = "#dcebd2"  # a pale green no other layer uses


def _mercator_box(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    w, s, e, n = tile_bounds(z, x, y)
    box = gpd.GeoSeries.from_xy([w, e], [s, n], crs=4326).to_crs(3857)
    return box.x.iloc[0], box.y.iloc[0], box.x.iloc[1], box.y.iloc[1]


def render_tile(layers: dict[str, gpd.GeoDataFrame], z: int, x: int, y: int) -> bytes:
    """One 256 × 256 PNG tile of ``layers`` (EPSG:3857 frames) on the :data:`PAPER` background."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1, 1), dpi=256)
    fig.patch.set_facecolor(PAPER)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_facecolor(PAPER)
    ax.set_axis_off()
    x0, y0, x1, y1 = _mercator_box(z, x, y)
    styles = {"county_outline": ("#6b5b45", 1.6, "-"), "townships": ("#8c8c8c", 0.7, "--"),
              "infrastructure": ("#c8702a", 1.2, "-")}
    for name, (colour, width, dash) in styles.items():
        gdf = layers.get(name)
        if gdf is not None and len(gdf):
            gdf.boundary.plot(ax=ax, color=colour, linewidth=width, linestyle=dash) if name != "infrastructure" \
                else gdf[gdf.geom_type.str.contains("Line")].plot(ax=ax, color=colour, linewidth=width)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=256, facecolor=PAPER)
    return buf.getvalue()


def build_sample_mbtiles(ws_path: str | Path, out: str | Path, *, zooms=(9, 10, 11, 12)) -> Path:
    """An MBTiles package of ``ws_path``'s outline, townships and roads over its plots, at ``zooms``."""
    from layers.workspace import Workspace

    ws = Workspace.open(ws_path, readonly=True)
    layers = {n: ws.read(n).to_crs(3857) for n in ("county_outline", "townships", "infrastructure") if ws.has_layer(n)}
    bounds = tuple(ws.read("plots", columns=[]).to_crs(4326).total_bounds)
    tiles = [(z, x, y, render_tile(layers, z, x, y)) for z, x, y in iter_tiles(bounds, zooms)]
    return write_mbtiles(out, tiles, name="瑞安示例底图", bounds=bounds, attribution="示例数据")
