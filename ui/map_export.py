"""The current map as a file: the map page's "export the current map" and ``cli.py map`` both come here.

:func:`map_image` gathers what a view shows — the chosen layers in the working CRS (plots
filtered and coloured like on screen, with the run's results), raster overlays classed like
the web overlay, the marks on top — builds the legend from the same tables as the web map
(:func:`ui.mapview.legend_sections`) and hands everything to
:func:`exports.map_print.render_map_image` (PNG or PDF, A4 landscape, scale bar, north arrow).
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence

import geopandas as gpd
import pandas as pd
import shapely

from exports.map_print import render_map_image
from ui import data
from ui.filters import PlotFilters, apply
from ui.i18n import t
from ui.mapview import legend_sections, mark_legend_row, print_layers
from ui.overlays import legend_rows, overlay_image, print_raster, raster_label

__all__ = ["map_image", "DEFAULT_PRINT_LAYERS"]

DEFAULT_PRINT_LAYERS = ("county_outline", "townships", "industrial_parks", "micro_parks", "plots", "infrastructure")


def map_image(ws, *, bounds: tuple[float, float, float, float], layers: Sequence[str] = DEFAULT_PRINT_LAYERS,
              style_by: str = "land_use", lang: str = "zh", fmt: str = "png", rasters: Sequence[str] = (),
              marks: Mapping[str, gpd.GeoDataFrame] | None = None, filters: PlotFilters = PlotFilters(),
              run_id: str | None = "latest", place: str | None = None) -> bytes:
    """PNG or PDF bytes of the map of ``ws`` inside ``bounds`` (west, south, east, north in degrees).

    Parameters
    ----------
    ws : Workspace
    bounds : tuple
        The view, EPSG:4326 degrees; the print draws it in the workspace's CRS (metres).
    layers : sequence of str
        Layers to draw (those the workspace lacks are skipped).
    style_by : str
        Plot colouring (``ui.mapview.STYLE_BY``).
    rasters : sequence of str
        Registered rasters to draw under the layers.
    marks : mapping of str to GeoDataFrame
        Marks of ``ui.mapview.MARKS`` to draw on top (any CRS).
    filters : PlotFilters
        The plots shown are those passing them.
    run_id : str or None
        The analysis run whose results colour the plots (``"latest"`` by default).
    place : str, optional
        What the title names ("塘下镇"); the county by default.
    """
    crs = ws.crs
    bbox = tuple(gpd.GeoSeries([shapely.box(*bounds)], crs=4326).to_crs(crs).total_bounds)
    frames = {n: data.read_layer(ws, n) for n in layers if n not in ("plots", "enterprises") and ws.has_layer(n)}
    if "enterprises" in layers and ws.has_layer("enterprises"):  # points of the view only (a county has ~1M)
        frames["enterprises"] = ws.read("enterprises", bbox=bbox)
    if "plots" in layers and ws.has_layer("plots"):
        view = data.plot_view(ws, run_id, columns=data.MAP_COLUMNS)
        keep = view[apply(view, filters).to_numpy()]
        # the plots of the view from the store (its spatial index); their colouring columns from the view
        plots = ws.read("plots", bbox=bbox, columns=["plot_id"])
        plots = plots[plots["plot_id"].astype(str).isin(set(keep["plot_id"].astype(str)))]
        cols = keep.drop(columns=["plot_id"]).set_index(keep["plot_id"].astype(str))
        cols = cols[~cols.index.duplicated()].reindex(plots["plot_id"].astype(str).to_numpy())
        frames["plots"] = gpd.GeoDataFrame(pd.concat([plots[["plot_id"]].reset_index(drop=True),
                                                      cols.reset_index(drop=True)], axis=1),
                                           geometry=plots.geometry.to_numpy(), crs=crs)
    marks = {k: v.to_crs(crs) for k, v in (marks or {}).items() if v is not None and len(v)}
    paths = ws.rasters()
    raster_names = [r for r in rasters if r in paths]
    printed = [print_raster(paths[r], r) for r in raster_names]
    # the legend of a raster is the overlay's (same classes, and for an unknown kind the same quantiles)
    extra = [(raster_label(r, lang), legend_rows(overlay_image(paths[r], r).style, lang)) for r in raster_names]
    legend = legend_sections(frames, style_by, lang, marks=[mark_legend_row(k, lang) for k in marks], extra=extra)
    when = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M")
    return render_map_image(print_layers(frames, style_by=style_by, marks=marks), bbox=bbox,
                            title=t("print_heading", lang, place=place or t("print_county", lang)),
                            legend_title=t("legend", lang), legend=legend, rasters=printed, fmt=fmt,
                            footer=t("print_made", lang, when=when, crs=crs.to_string()),
                            north=t("print_north", lang), km="km")
