"""Map page: find plots, see why they matter, pick them for the shortlist.

Screen, top to bottom: the page's name and what to do here; messages; a search box (plot id,
firm name, credit code, township or park name) with "zoom to a township or park" beside it
and the search's results under it; the map — as high as the window allows, the legend folds,
tools on its left (zoom, full screen, draw a box or polygon to select plots, measure) — with
the details panel of the clicked feature beside it; under the map the counts and "export the
current map" (PNG or PDF with legend, scale bar and north arrow); then the plots selected by
drawing, with their total 亩 and "add all to shortlist".
Sidebar: the analysis run (and "run the analyses"), the map's one set of layer toggles
(vector layers, then raster overlays), plot colouring, base map, your name, the shared filters.

Split by responsibility: where the map looks in :mod:`ui._map_view`, search / zoom-to / area
filters in :mod:`ui._map_places`; the screen and its content here.

The map stays mounted across reruns: the base map (view, tiles, tools) is the same script
every run, so streamlit-folium keeps the component; layers, legend and marks go as dynamic
feature groups (``feature_group_to_add``).  Nothing above the map appears or disappears
between reruns (messages and the search's picker live in containers that are always there),
so the map's place in the page — and with it the component — never changes.  The view
changes only when the page asks: a search hit, "zoom to", a township or park filter.  When
the map *is* created anew (another base map or language, or back from another page) the page
sends the last view the map reported, so the planner stays where they were.
Every plot at every zoom, without the server holding the plots' geometries: the page keeps the
plots' attributes only (``ui.data.plot_view`` with :data:`ui.data.MAP_COLUMNS`) and where each plot
is (``ui.data.plot_index``: its box, its feature id in the vector tiles).  While at most
:data:`MAX_PLOTS` plots lie in the query box (the returned ``bounds`` padded by half a screen each
side, kept while the view stays inside it), those plots are read from the store by the box (its
spatial index) and sent as GeoJSON with tooltips; beyond that the plots are drawn from the
workspace's vector tiles (``layers.tiles``, served by ``ui.tileserver``), coloured by the run and
the filters through one byte per plot.  Township totals are an option in the sidebar.  A click,
a drawn shape, a search hit and the marks read only the plots concerned, from the store.
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import streamlit as st
from streamlit_folium import st_folium

from geo.errors import PlannerError
from geo.units import m2_to_mu
from layers.access import Actor
from ui import data, tileserver
from ui._map_places import focus_shapes, follow_area_filter, places_of, search_row
from ui._map_tiles import FIRM_TILES, TiledLayer, firm_at, firm_row, firm_tiles
from ui._map_view import FOCUS, FOUND, MAP_HEIGHT, MAP_KEY, bounds_of, is_mounted, remember_view, view_args
from ui.details import click_tolerance_deg, feature_at, feature_details, plot_details
from ui.filters import PlotFilters, apply, filter_sidebar
from ui.i18n import layer_label, t
from ui.mapview import (
    BASEMAPS,
    HIDDEN_BY_DEFAULT,
    RESULT_STYLES,
    STYLE_BY,
    DynamicLegend,
    LocalTiles,
    TileLayerSpec,
    aggregate_group,
    highlight_group,
    lean_group,
    legend_sections,
    mark_legend_row,
    mounted_map,
    ordered_layers,
    plots_group,
    raster_group,
    tiles_group,
    tooltip_frame,
)
from ui.offline import static_base_url
from ui.overlays import legend_rows, overlay_image, raster_label
from ui.pages._common import permitted
from ui.readable import Names, format_values
from ui.shell import (
    current_lang,
    display_layer,
    display_tips,
    layer_stamp,
    map_layers,
    open_workspace,
    show_error,
    tianditu_key,
)

__all__ = ["render", "MAP_KEY", "MAX_PLOTS", "RETURNED", "dynamic_content", "query_box", "RasterLayer", "MAP_CSS",
           "PlotLayer", "in_box"]

# The map takes the window's height less the heading and search rows above it (never under 480 px).
# Streamlit's top padding (6 rem) is given back to the map on this page.
MAP_CSS = ('<style>iframe[title="streamlit_folium.st_folium"]'
           '{height: max(480px, calc(100vh - 230px)) !important;}'
           '[data-testid="stMainBlockContainer"]{padding-top: 1.2rem !important;}</style>')
MAX_PLOTS = 6000  # more plots than this in the query box → the plots come as vector tiles (or township totals)
MAX_DRAWN = 20000  # more candidate plots than this in a drawn shape → tested by their representative points
MAX_POINTS = 8000  # enterprises in view above this come from their vector tiles (ui._map_tiles.firm_tiles)
PAD = 0.5  # the query box reaches half a view beyond each edge, so small pans resend nothing
# What the page reacts to: clicks (details), the view (what to send, what to restore), drawings (selection).
# all_drawings, not last_active_drawing: streamlit-folium also puts a *clicked* feature in the latter.
RETURNED = ["last_clicked", "bounds", "zoom", "center", "all_drawings"]
_VIEWPORT_LAYERS = ("enterprises", "constraints", "infrastructure")
_CACHED_MAX = 20000  # a viewport layer with more rows than this is read by box from the store, not held whole
_BOX_MAX_DEG = 0.04  # … and only in a view at most this wide (about 4 km): a wider one says "zoom in"
_FLASH = "_map_flash"  # a message to show after the rerun that a write asks for


@dataclass(frozen=True)
class RasterLayer:
    """A raster overlay to send: its name, image URL, corners ((s, w), (n, e)), opacity and legend section."""

    name: str
    url: str
    bounds: tuple
    opacity: float
    legend: tuple[str, list]


# --- pure helpers (tested without Streamlit) ---------------------------------------------------------
def query_box(view: tuple[float, float, float, float], previous: tuple | None, pad: float = PAD) -> tuple:
    """The box to send features for: ``previous`` while it still holds ``view``, else ``view`` padded.

    Keeping the box while the planner pans inside it makes the dynamic content identical, so
    the browser redraws nothing.  A zoom-in to a much smaller view makes a new, tighter box.
    """
    w, s, e, n = view
    if previous is not None:
        pw, ps, pe, pn = previous
        inside = pw <= w and ps <= s and pe >= e and pn >= n
        not_too_big = (pe - pw) <= (1 + 2 * pad) * (e - w) * 1.6
        if inside and not_too_big:
            return previous
    dx, dy = (e - w) * pad, (n - s) * pad
    return (w - dx, s - dy, e + dx, n + dy)


@dataclass
class PlotLayer:
    """The plots as the page holds them: attributes, the filter mask, where each plot is, how to get shapes.

    ``view`` has no geometry (``ui.data.plot_view``); ``places`` is ``ui.data.plot_index`` on the same
    index (boxes in degrees); ``shapes(box)`` returns the display copy (``plot_id`` + geometry) of the
    plots whose box meets ``box``, read from the store; ``tiles`` draws every plot when the box holds
    too many for GeoJSON (None: township totals instead); ``totals`` asks for township totals.
    """

    view: pd.DataFrame
    mask: np.ndarray
    places: pd.DataFrame
    shapes: Callable[[tuple], gpd.GeoDataFrame] | None = None
    tiles: TileLayerSpec | None = None
    totals: bool = False


def in_box(places: pd.DataFrame, box: tuple) -> np.ndarray:
    """Which plots' boxes (``west``/``south``/``east``/``north`` columns) meet ``box`` (vectorised)."""
    w, s, e, n = box
    return ((places["east"].to_numpy() >= w) & (places["west"].to_numpy() <= e)
            & (places["north"].to_numpy() >= s) & (places["south"].to_numpy() <= n))


def _plots_content(plots: PlotLayer, box: tuple, *, style_by: str, lang: str, township_names: dict,
                   townships: gpd.GeoDataFrame | None, max_plots: int) -> tuple[str, int, int, object, list, object]:
    """(mode, plots in view after filters, shown, group, legend sections, drawn frame) for the plots."""
    here = in_box(plots.places, box)
    hits = here & plots.mask
    n_view = int(hits.sum())
    crowded = int(here.sum()) > max_plots
    if (plots.totals or (crowded and plots.tiles is None)) and townships is not None \
            and "township_code" in plots.view.columns:
        sub = plots.view.loc[plots.mask, ["township_code", "area_mu"]]
        counts = sub.groupby("township_code", observed=True).size()
        area = sub.groupby("township_code", observed=True)["area_mu"].sum()
        group, sections = aggregate_group(townships, counts, area, lang=lang)
        return "aggregate", n_view, 0, group, sections, None
    if crowded or plots.shapes is None:
        if plots.tiles is None:
            return "none", n_view, 0, None, [], None
        return "tiles", n_view, n_view, tiles_group(plots.tiles, style_by=style_by, lang=lang), [], plots.view[hits]
    rows = plots.view[hits]
    shapes = plots.shapes(box)
    shapes = shapes[~shapes["plot_id"].astype(str).duplicated()].set_index(shapes["plot_id"].astype(str))
    geom = rows["plot_id"].astype(str).map(shapes.geometry)
    shown = gpd.GeoDataFrame(pd.DataFrame(rows), geometry=gpd.GeoSeries(geom.to_numpy(), index=rows.index, crs=4326),
                             crs=4326)
    shown = shown[shown.geometry.notna()]
    tips = tooltip_frame("plots", shown, lang=lang, township_names=township_names)
    group = plots_group(shown, style_by=style_by, lang=lang, township_names=township_names, tips=tips)
    return "plots", n_view, len(shown), group, [], shown


def dynamic_content(plots: PlotLayer | None, box: tuple, *, others: dict[str, gpd.GeoDataFrame],
                    style_by: str, lang: str, township_names: dict, townships: gpd.GeoDataFrame | None,
                    max_plots: int = MAX_PLOTS, marks: dict[str, gpd.GeoDataFrame] | None = None,
                    rasters: tuple[RasterLayer, ...] = (), tips: Mapping[str, pd.DataFrame] | None = None,
                    tiled: dict[str, TiledLayer] | None = None) -> dict:
    """Feature groups for one rerun, bottom first: rasters, other layers, plots (GeoJSON, tiles or township
    totals), marks, legend.

    The plots in the box come as GeoJSON (with tooltips) while at most ``max_plots`` plots' boxes
    meet it, else as the vector-tile layer; township totals when ``plots.totals`` asks (or no tiles).
    ``marks`` are drawn on top in the styles of ``ui.mapview.MARKS`` ("shortlisted", "focus",
    "selection", "found"); ``tiled`` layers (the firms when too many are in view) above the plots, from their
    vector tiles.  ``tips`` holds, for layers of ``others`` taken from a cached display copy, that copy's
    tooltips (``ui.shell.display_tips``): their rows are taken instead of formatted anew.
    Returns ``{"groups": [FeatureGroup…], "mode": "plots"|"tiles"|"aggregate"|"none", "n_view": int,
    "shown": int, "legend": sections, "counts": {layer: features sent}}``.
    """
    groups: list[folium.FeatureGroup] = [raster_group(r.name, r.url, r.bounds, opacity=r.opacity) for r in rasters]
    drawn: dict[str, gpd.GeoDataFrame] = {}
    for name in ordered_layers(others):
        if name == "plots":
            continue
        gdf = others[name]
        groups.append(lean_group(name, gdf, lang=lang, township_names=township_names, tips=(tips or {}).get(name)))
        drawn[name] = gdf
    mode, n_view, shown = "none", 0, 0
    sections: list = []
    if plots is not None:
        mode, n_view, shown, group, sections, frame = _plots_content(
            plots, box, style_by=style_by, lang=lang, township_names=township_names, townships=townships,
            max_plots=max_plots)
        if mode == "aggregate":
            groups.insert(len(rasters), group)
        elif group is not None:
            groups.append(group)
            drawn["plots"] = frame
    for name, layer in (tiled or {}).items():
        groups.append(layer.group)
        drawn[name] = gpd.GeoDataFrame(geometry=[], crs=4326)  # its legend row; its count is the layer's own
    mark_rows = []
    for kind in ("shortlisted", "focus", "selection", "found"):
        gdf = (marks or {}).get(kind)
        if gdf is not None and len(gdf):
            groups.append(highlight_group(gdf, name=kind, label=mark_legend_row(kind, lang)[1]))
            mark_rows.append(mark_legend_row(kind, lang))
    sections = sections + legend_sections(drawn, style_by, lang, marks=mark_rows, extra=[r.legend for r in rasters])
    legend = folium.FeatureGroup(name="legend", control=False)
    DynamicLegend(t("legend", lang), sections).add_to(legend)
    groups.append(legend)
    counts = {n: tiled[n].n_view if tiled and n in tiled else len(drawn[n]) for n in ordered_layers(drawn)}
    return {"groups": groups, "mode": mode, "n_view": n_view, "shown": shown, "legend": sections, "counts": counts}


def _home_bounds(places: pd.DataFrame | None, parks: list[gpd.GeoDataFrame], fallback: list) -> tuple | None:
    """Where the map opens: the plots and parks (the county's islands would halve the mainland's view)."""
    boxes = [g.total_bounds for g in parks if g is not None and len(g)]
    if places is not None and len(places) and places["west"].notna().any():
        boxes.append((np.nanmin(places["west"]), np.nanmin(places["south"]), np.nanmax(places["east"]),
                      np.nanmax(places["north"])))
    if not boxes:
        boxes = [g.total_bounds for g in fallback if g is not None and len(g)]
    if not boxes:
        return None
    b = np.array(boxes, dtype=float)
    return (b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max())


def _fresh_click(ret: dict | None, seen_click, seen_drawing) -> bool:
    """True when the map reports a click that is the planner's, not the end of drawing a shape.

    Drawing a rectangle ends with a mouse-up on the map, which the browser also reports as a
    click; Leaflet.draw announces the new shape in the same moment, so both arrive in one
    update of the component.  A click that comes with changed drawings is that mouse-up.
    """
    ret = ret or {}
    clicked = ret.get("last_clicked")
    if not clicked or clicked == seen_click:
        return False
    # "no drawings" comes as None before any and as [] after a click on a layer: the same thing
    return (ret.get("all_drawings") or []) == (seen_drawing or [])


# --- the page ---------------------------------------------------------------------------------------------
def _names(ws, firms: pd.DataFrame | None = None) -> Names:
    """Township, park and (for the firms given) firm names: a million firms' names are never held for this."""
    firm_names = dict(zip(firms["credit_code"].astype(str), firms["name"].astype(str))) \
        if firms is not None and {"credit_code", "name"} <= set(firms.columns) else {}
    return Names(townships=data.township_names(ws), parks=data.park_names(ws), firms=firm_names)


def _heading(lang: str) -> None:
    st.html(MAP_CSS)
    st.markdown(f"#### {t('page_map', lang)}")
    st.caption(t("map_help", lang))


@dataclass
class _Choices:
    layers: list[str]
    rasters: list[str]
    style_by: str
    basemap: str
    actor: Actor
    tiles: LocalTiles | None
    tianditu: str | None
    totals: bool = False


def _relabel_after_language_switch(keys: tuple[str, ...], lang: str) -> None:
    """Set these choice widgets' values again after a language switch.

    A select box keeps showing its value's label from when it was chosen ("用地分类" in the English
    UI) until the value is set anew; setting it through session state makes Streamlit send the
    label in the current language.
    """
    if st.session_state.get("_map_lang") == lang:
        return
    st.session_state["_map_lang"] = lang
    for key in keys:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def _sidebar(ws, names: list[str], lang: str, results: bool) -> _Choices:
    """The sidebar's map settings: the one set of layer toggles, rasters, colouring, base map, your name."""
    _relabel_after_language_switch(("style_by", "basemap", "map_zoom_to", "map_search_pick"), lang)
    sb = st.sidebar
    sb.subheader(t("layers", lang))
    chosen = [n for n in names
              if sb.checkbox(layer_label(n, lang), value=n not in HIDDEN_BY_DEFAULT, key=f"layer_{n}")]
    rasters = _raster_toggles(ws, lang)
    styles = [k for k in STYLE_BY if results or k not in RESULT_STYLES]
    if st.session_state.get("style_by") not in styles:
        st.session_state.pop("style_by", None)
    style_by = sb.selectbox(t("style_by", lang), styles, key="style_by",
                            format_func=lambda k: t(STYLE_BY[k].title_key, lang))
    totals = sb.toggle(t("map_totals", lang), key="map_totals", help=t("map_totals_help", lang))
    tiles = _local_tiles(lang)
    options = [b for b in BASEMAPS if b != "local" or tiles is not None]
    if st.session_state.get("basemap") not in options:
        st.session_state["basemap"] = "local" if tiles is not None else "none"
    basemap = sb.selectbox(t("basemap", lang), options, key="basemap",
                           format_func=lambda k: t(f"basemap_{k}", lang))
    key = None
    if basemap == "local" and tiles is not None:
        sb.caption(t("tiles_in_use", lang, name=tiles.name, lo=tiles.min_zoom, hi=tiles.max_native_zoom))
    elif basemap not in ("none", "local"):
        sb.caption(t("basemap_online_note", lang))
        if basemap.startswith("tianditu"):
            key = tianditu_key()
            if not key:
                sb.warning(t("tianditu_no_key", lang))
                basemap = "none"
    from ui.login import current_actor

    return _Choices(chosen, rasters, style_by, basemap, current_actor(), tiles, key, totals)


def _raster_toggles(ws, lang: str) -> list[str]:
    """Checkboxes for the workspace's rasters (off by default); they need the app's own routes (server.py)."""
    rasters = sorted(ws.rasters()) if hasattr(ws, "rasters") else []
    if not rasters:
        return []
    sb = st.sidebar
    sb.caption(t("map_rasters", lang))
    served = tileserver.mounted()
    chosen = [r for r in rasters if sb.checkbox(raster_label(r, lang), value=False, key=f"raster_{r}",
                                                disabled=not served)]
    if not served:
        sb.caption(t("map_rasters_need_server", lang))
        return []
    return chosen


def _local_tiles(lang: str) -> LocalTiles | None:
    """The office's tile package when one is set and served (``PLANNER_TILES``, ``server.py``)."""
    if tileserver.tile_package_path() is None:
        return None
    if not tileserver.mounted():
        st.sidebar.caption(t("map_rasters_need_server", lang))
        return None
    try:
        source = tileserver.tile_source()
    except PlannerError as exc:
        show_error(exc, lang, where=st.sidebar)
        return None
    base = st.get_option("server.baseUrlPath") or ""
    return LocalTiles(url=tileserver.tiles_url(source, base), name=source.name, attribution=source.attribution,
                      min_zoom=source.minzoom, max_native_zoom=source.maxzoom, bounds=source.bounds)


def _raster_layers(ws, chosen: list[str], lang: str) -> tuple[RasterLayer, ...]:
    out = []
    base = st.get_option("server.baseUrlPath") or ""
    for name in chosen:
        path = ws.rasters()[name]
        try:
            overlay = overlay_image(path, name)
        except (PlannerError, OSError) as exc:
            show_error(exc if isinstance(exc, PlannerError) else PlannerError(str(exc)), lang, where=st.sidebar)
            continue
        stamp = (path.stat().st_size, path.stat().st_mtime_ns)
        out.append(RasterLayer(name, tileserver.raster_url(name, stamp, base), overlay.bounds, overlay.style.opacity,
                               (raster_label(name, lang), legend_rows(overlay.style, lang))))
    return tuple(out)


# --- clicks and drawings --------------------------------------------------------------------------------------
_ABOVE_PLOTS = ("enterprises", "infrastructure")  # drawn over the plots: a click picks them first
_FIRM_BY_CODE = "firm"  # a selected firm found from the firms' tiles: ("firm", credit code)


def _plot_at(ws, plots: PlotLayer, lat: float, lng: float, zoom) -> str | None:
    """The plot (passing the filters) under a click: read from the store around the point (its spatial
    index) and tested exactly in the working CRS; the smallest wins where plots overlap."""
    tol = click_tolerance_deg(zoom)
    near = in_box(plots.places, (lng - tol, lat - tol, lng + tol, lat + tol)) & plots.mask
    if not near.any():
        return None
    wanted = set(plots.view.loc[near, "plot_id"].astype(str))
    found = data.read_in_box(ws, "plots", (lng - tol, lat - tol, lng + tol, lat + tol), columns=["plot_id"])
    found = found[found["plot_id"].astype(str).isin(wanted)]
    if not len(found):
        return None
    pt = gpd.GeoSeries([shapely.Point(lng, lat)], crs=4326).to_crs(ws.crs).iloc[0]
    metres = tol * 111_320.0 * np.cos(np.radians(lat))
    geoms = found.geometry.to_numpy()
    hit = shapely.contains(geoms, pt)
    if not hit.any():
        hit = shapely.dwithin(geoms, pt, metres)
    if not hit.any():
        return None
    best = np.flatnonzero(hit)[np.argmin(shapely.area(geoms[hit]))]
    return str(found["plot_id"].iloc[best])


def _handle_click(ret: dict | None, ws, layers: dict, plots: PlotLayer | None, firms_actor=None) -> None:
    """Turn a new ``last_clicked`` into the selected feature (server-side lookup); the end of a drawing is no click.

    ``firms_actor``: the firms are drawn from their tiles, found for this user from the tile set's index."""
    ret = ret or {}
    clicked = ret.get("last_clicked")
    fresh = _fresh_click(ret, st.session_state.get("_map_last_click"), st.session_state.get("_map_last_drawing"))
    if clicked:
        st.session_state["_map_last_click"] = clicked
    if not fresh:
        return
    lat, lng, zoom = clicked["lat"], clicked["lng"], ret.get("zoom")
    above = {n: g for n, g in layers.items() if n in _ABOVE_PLOTS}
    below = {n: g for n, g in layers.items() if n not in _ABOVE_PLOTS}
    hit = feature_at(above, lat, lng, zoom=zoom) if above else None
    if hit is not None:
        st.session_state["map_selected"] = (hit.layer, hit.index)
        return
    code = firm_at(ws, lat, lng, zoom, firms_actor) if firms_actor is not None else None
    if code is not None:
        st.session_state["map_selected"] = (_FIRM_BY_CODE, code)
        return
    pid = _plot_at(ws, plots, lat, lng, zoom) if plots is not None else None
    if pid is not None:
        st.session_state["map_selected"] = ("plots", pid)
        return
    hit = feature_at(below, lat, lng, zoom=zoom) if below else None
    st.session_state["map_selected"] = None if hit is None else (hit.layer, hit.index)


def _drawn_shapes(drawings) -> list:
    shapes = []
    for feature in drawings or []:
        try:
            shape = shapely.geometry.shape((feature or {}).get("geometry"))
        except (ValueError, TypeError, AttributeError, KeyError):
            continue
        if not shape.is_empty:
            shapes.append(shape)
    return shapes


def _plots_in_shapes(ws, plots: PlotLayer, shapes: list) -> list[str]:
    """Plot ids (passing the filters) meeting any drawn shape: geometries read from the store by the shapes'
    box; past :data:`MAX_DRAWN` candidates, by their representative points (no geometry read)."""
    union = shapely.union_all(shapes)
    cand = in_box(plots.places, union.bounds) & plots.mask
    if not cand.any():
        return []
    if int(cand.sum()) > MAX_DRAWN:
        st.session_state["map_drawn_by_point"] = True
        local = gpd.GeoSeries([union], crs=4326).to_crs(ws.crs).iloc[0]
        pts = plots.places.loc[cand]
        inside = shapely.contains_xy(local, pts["x"].to_numpy(), pts["y"].to_numpy())
        return plots.view.loc[cand, "plot_id"].astype(str)[inside].tolist()
    wanted = set(plots.view.loc[cand, "plot_id"].astype(str))
    found = data.read_in_box(ws, "plots", union.bounds, columns=["plot_id"])
    found = found[found["plot_id"].astype(str).isin(wanted)]
    local = gpd.GeoSeries([union], crs=4326).to_crs(ws.crs).iloc[0]
    hit = shapely.intersects(found.geometry.to_numpy(), local)
    order = dict(zip(plots.view["plot_id"].astype(str), range(len(plots.view))))
    return sorted(found.loc[hit, "plot_id"].astype(str).unique().tolist(), key=lambda i: order.get(i, 0))


def _drawn_selection(ret: dict | None, ws, plots: PlotLayer) -> list[str]:
    """Plot ids (passing the filters) inside any rectangle or polygon drawn on the map."""
    drawings = (ret or {}).get("all_drawings")
    if drawings != st.session_state.get("_map_last_drawing"):
        st.session_state["_map_last_drawing"] = drawings
        st.session_state["map_drawn_by_point"] = False
        shapes = _drawn_shapes(drawings)
        st.session_state["map_drawn_ids"] = _plots_in_shapes(ws, plots, shapes) if shapes else []
    return st.session_state.get("map_drawn_ids", [])


def _add(ws, ids: list[str], actor, view, lang: str, note) -> None:
    try:
        added, dup = data.add_plots_to_shortlist(ws, ids, actor=actor, view=view, source="map")
    except PlannerError as exc:
        show_error(exc, lang, where=note)
        return
    msgs = []
    if added:
        msgs.append(t("det_added", lang, ids=", ".join(added[:10]) + (" …" if len(added) > 10 else "")))
    if dup:
        msgs.append(t("det_already", lang, ids=", ".join(dup[:10]) + (" …" if len(dup) > 10 else "")))
    # run the page again so the map (drawn before this button) marks the new entries; the message follows
    st.session_state[_FLASH] = " ".join(msgs)
    st.rerun()


def _shapes_of(ws, plots: PlotLayer, ids) -> gpd.GeoDataFrame | None:
    """Display geometries of the plots ``ids`` (a few: marks), read from the store."""
    ids = set(str(i) for i in ids)
    rows = plots.view.index[plots.view["plot_id"].astype(str).isin(ids).to_numpy()]
    if not len(rows):
        return None
    shapes = data.plot_shapes(ws, ids, boxes=plots.places.loc[rows])
    return gpd.GeoDataFrame(geometry=shapes.to_numpy(), crs=4326) if len(shapes) else None


def _shortlisted(ws, plots: PlotLayer, box) -> gpd.GeoDataFrame | None:
    """The plots already on the shortlist that lie in the box (display geometry), or None."""
    if not ws.has_layer("shortlist"):
        return None
    items = data.read_layer(ws, "shortlist")
    if not {"item_kind", "item_id"} <= set(items.columns):
        return None
    ids = set(items.loc[items["item_kind"].astype(str) == "plot", "item_id"].astype(str))
    if not ids:
        return None
    here = in_box(plots.places, box) if box is not None else np.ones(len(plots.view), dtype=bool)
    listed = here & plots.view["plot_id"].astype(str).isin(ids).to_numpy()
    if not listed.any() or int(listed.sum()) > MAX_PLOTS:
        return None
    return _shapes_of(ws, plots, plots.view.loc[listed, "plot_id"])


def _viewport_layer(ws, name: str, box: tuple | None) -> gpd.GeoDataFrame | None:
    """A layer cut to the box: the cached display copy when small, else read by box from the store (none
    when the view is wider than :data:`_BOX_MAX_DEG`: the caption says "zoom in")."""
    if _held_whole(ws, name):
        gdf = display_layer(ws, name)
        if box is None or not len(gdf):
            return gdf
        return gdf.iloc[np.sort(gdf.sindex.query(shapely.box(*box), predicate="intersects"))]
    if box is None or max(box[2] - box[0], box[3] - box[1]) > _BOX_MAX_DEG:
        return None
    return _box_display(ws.location, layer_stamp(ws, name), name, tuple(round(v, 6) for v in box))


def _held_whole(ws, name: str) -> bool:
    """True when the map holds layer ``name`` whole (its cached display copy), false when it reads it by box."""
    return int(ws.metadata(name).get("row_count") or 0) <= _CACHED_MAX


@st.cache_data(show_spinner=False, max_entries=8)
def _box_display(location: str, stamp: tuple, name: str, box: tuple) -> gpd.GeoDataFrame:
    from geo.web import display_copy
    from ui.mapview import display_columns

    ws = open_workspace(location)
    frame = data.read_in_box(ws, name, box, columns=display_columns(name))
    from ui.scope import visible

    return visible(display_copy(frame, tolerance_m=0.5, decimals=6, name=name))


@st.cache_data(show_spinner=False, max_entries=4)
def _box_shapes(location: str, stamp: tuple, box: tuple) -> gpd.GeoDataFrame:
    from geo.web import display_copy

    frame = data.read_in_box(open_workspace(location), "plots", box, columns=["plot_id"])
    return display_copy(frame, tolerance_m=0.5, decimals=6, name="plots")


# --- render -------------------------------------------------------------------------------------------------
def render() -> None:
    """Draw the map page."""
    from ui.pages._common import run_picker

    lang = current_lang()
    _heading(lang)
    try:
        ws = open_workspace()
    except PlannerError as exc:
        show_error(exc, lang)
        return
    note = st.container()  # messages go here, above the map, without moving the map's place
    if st.session_state.get(_FLASH):
        note.success(st.session_state.pop(_FLASH))
    st.sidebar.caption(f"{t('workspace', lang)}: {ws.describe()}")
    names = ordered_layers(map_layers(ws))
    names = [n for n in names if not n.startswith(("run_", "siting_", "integration_")) and n != "shortlist"]
    has_plots = "plots" in names
    with note:
        run_id = run_picker(ws, lang, key="map") if has_plots else None
    view = places = None
    if has_plots:
        try:
            if data.plot_tiles_stale(ws):
                with st.spinner(t("map_tiles_building", lang)):
                    data.plot_tiles(ws)
            with st.spinner(t("loading", lang)):
                view = data.plot_view(ws, run_id, columns=data.MAP_COLUMNS)
                index = data.plot_index(ws)
                places = index if view.index.equals(index.index) else index.loc[view.index]  # (a copy costs 1M rows)
        except PlannerError as exc:
            show_error(exc, lang)
            return
    results = view is not None and data.has_results(view)
    choice = _sidebar(ws, names, lang, results)
    flt = filter_sidebar(view, lang) if view is not None else PlotFilters()
    mask = apply(view, flt) if view is not None else None
    _remember_actor(choice.actor)
    places_layers = places_of(ws)
    plots = None
    if view is not None:
        plots = PlotLayer(view, mask.to_numpy(), places, tiles=_tile_spec(ws, view, flt, choice), totals=choice.totals,
                          shapes=lambda box: _box_shapes(ws.location, layer_stamp(ws, "plots"), tuple(box)))
        search_row(ws, view, mask, places_layers, lang)
        follow_area_filter(flt, places_layers)
    _draw(ws, plots, places_layers, choice, lang, note)


def _remember_actor(actor) -> None:
    from ui.login import SESSION_KEY

    tileserver.remember_actor((st.session_state.get(SESSION_KEY) or {}).get("token"), actor)


def _tile_spec(ws, view, flt, choice: _Choices) -> TileLayerSpec | None:
    """Where the browser gets the plots' tiles and colours (None without the app's routes: ``streamlit run app.py``)."""
    if not tileserver.mounted():
        return None
    info = data.plot_tiles(ws)
    towns = tileserver.visible_groups(choice.actor)
    scope = "" if towns is None else tileserver.scope_key(towns)
    base = st.get_option("server.baseUrlPath") or ""
    return TileLayerSpec.of(
        info, tiles_url=tileserver.vector_tiles_url("plots", info.stamp, base, scope=scope),
        style_url=tileserver.style_url("plots", info.stamp, run_id=view.attrs.get("run_id"), style_by=choice.style_by,
                                       filters=flt, base_url_path=base, scope=scope))


def _draw(ws, plots: PlotLayer | None, places, choice: _Choices, lang: str, note) -> None:
    """The map with the details beside it, the counts and export under it, then the drawn selection."""
    others = {n: display_layer(ws, n) for n in choice.layers if n != "plots" and n not in _VIEWPORT_LAYERS}
    tnames = data.township_names(ws)
    ret = st.session_state.get(MAP_KEY)
    remember_view(ret)
    home = _home_bounds(plots.places if plots is not None else None,
                        [places.get("industrial_parks"), places.get("micro_parks")], list(others.values()))
    current = bounds_of(ret) or home
    box = query_box(current, st.session_state.get("_map_box")) if current else None
    st.session_state["_map_box"] = box
    cut = {n: _viewport_layer(ws, n, box) for n in choice.layers if n in _VIEWPORT_LAYERS}
    skipped = [n for n, g in cut.items() if g is None or (n == "enterprises" and len(g) > MAX_POINTS)]
    cut = {n: g for n, g in cut.items() if n not in skipped}
    tiled = {FIRM_TILES: firm_tiles(ws, box, choice.actor, lang, st.get_option("server.baseUrlPath") or "")} \
        if FIRM_TILES in skipped else {}
    tiled = {n: v for n, v in tiled.items() if v is not None}
    skipped = [n for n in skipped if n not in tiled]
    pick_layers = {**others, **cut}
    _handle_click(ret, ws, pick_layers, plots if "plots" in choice.layers else None,
                  firms_actor=choice.actor if tiled else None)
    drawn_ids = _drawn_selection(ret, ws, plots) if plots is not None else []

    sel = st.session_state.get("map_selected")
    marks = _marks(ws, plots, drawn_ids, sel, places, box)
    rasters = _raster_layers(ws, choice.rasters, lang)
    whole = [n for n in pick_layers if n in others or _held_whole(ws, n)]
    content = dynamic_content(plots if "plots" in choice.layers else None, box or (0, 0, 0, 0), others=cut | others,
                              style_by=choice.style_by, lang=lang, township_names=tnames,
                              townships=places.get("townships"), marks=marks, rasters=rasters, tiled=tiled,
                              tips={n: display_tips(ws, n, lang, tnames) for n in whole})

    left, right = st.columns([5, 2], gap="small")
    with left:
        args = dict(basemap=choice.basemap, tianditu_key=choice.tianditu, lang=lang, tiles=choice.tiles,
                    static_url=static_base_url(st.get_option("server.baseUrlPath") or ""))
        try:
            base = mounted_map(home, **args)
        except PlannerError as exc:
            show_error(exc, lang)
            return
        center, zoom = view_args(is_mounted(mounted_map(home, **args)))
        st_folium(base, key=MAP_KEY, height=MAP_HEIGHT, use_container_width=True, returned_objects=RETURNED,
                  feature_group_to_add=content["groups"], layer_control=None,
                  center=center, zoom=zoom, render=False)
        _captions(content, plots, skipped, lang)
        _export(ws, plots.view if plots is not None else None, choice, marks, rasters, lang)
    with right:
        _details(ws, plots, sel, pick_layers, choice.actor, lang, note)
    if plots is not None:
        _selection(ws, plots.view, drawn_ids, choice.actor, lang, note)


def _marks(ws, plots: PlotLayer | None, drawn_ids, sel, places, box) -> dict:
    """What the map draws on top: the selection, a search hit outside the filters, the shortlist, the outlined area."""
    marks: dict[str, gpd.GeoDataFrame] = {}
    if plots is not None:
        ids = set(drawn_ids[:MAX_PLOTS])
        if sel and sel[0] == "plots":
            ids.add(sel[1])
        if ids:
            marks["selection"] = _shapes_of(ws, plots, ids)
        found = st.session_state.get(FOUND)
        if found:
            marks["found"] = _shapes_of(ws, plots, [found])
        marks["shortlisted"] = _shortlisted(ws, plots, box)
    focus = st.session_state.get(FOCUS)
    if focus:
        marks["focus"] = focus_shapes(places, focus[1], focus[2])
    return {k: v for k, v in marks.items() if v is not None and len(v)}


def _captions(content, plots: PlotLayer | None, skipped, lang: str) -> None:
    if content["counts"]:
        st.caption(" · ".join(f"{layer_label(n, lang)} {c:,}" for n, c in content["counts"].items()))
    if content["mode"] == "aggregate":
        st.caption(t("map_totals_shown", lang, n=content["n_view"]) if st.session_state.get("map_totals")
                   else t("map_tiles_need_server", lang))
    elif plots is not None:
        extra = t("map_outside_filter", lang) if st.session_state.get(FOUND) else ""
        st.caption(t("map_shown", lang, shown=content["shown"], n=int(plots.mask.sum()), total=len(plots.view)) + extra)
    for n in skipped:
        st.caption(f"{layer_label(n, lang)}: {t('map_layer_zoom_in', lang)}")


def _details(ws, plots: PlotLayer | None, sel, others, actor, lang, note) -> None:
    if not sel:
        st.info(t("map_click_hint", lang))
        return
    layer, ident = sel
    if layer == _FIRM_BY_CODE:
        firm = firm_row(ws, ident, actor)
        if firm is None:
            st.info(t("map_nothing_here", lang))
            return
        feature_details(FIRM_TILES, firm, lang, names=_names(ws, firm.to_frame().T))
    elif layer == "plots" and plots is not None:
        rows = plots.view[plots.view["plot_id"].astype(str) == ident]
        if rows.empty:
            st.info(t("map_nothing_here", lang))
            return
        if st.button(t("det_add", lang), key="det_add", type="primary",
                     **permitted("shortlist.add", lang, actor=actor)):
            _add(ws, [ident], actor, plots.view, lang, note)
        run_id = plots.view.attrs.get("run_id")
        firms = data.firms_on(ws, ident, run_id)
        plot_details(data.plot_rows(ws, rows.iloc[:1], run_id).iloc[0], firms=firms, lang=lang,
                     params_json=data.run_parameters(ws, run_id), names=_names(ws, firms))
    elif layer in others:
        full = data.read_layer(ws, layer) if int(ws.metadata(layer).get("row_count") or 0) <= _CACHED_MAX else None
        row = full.loc[ident] if full is not None and ident in full.index else others[layer].loc[ident] \
            if ident in others[layer].index else None
        if row is None:
            st.info(t("map_nothing_here", lang))
            return
        feature_details(layer, row, lang, names=_names(ws))


_SELECTION_COLUMNS = ("plot_id", "township_code", "park_id", "land_use", "status", "area_m2", "final_class",
                      "tax_per_mu", "is_low_efficiency", "suitability", "mode_key")


def _selection(ws, view, ids: list[str], actor, lang: str, note) -> None:
    """The plots inside the drawn shapes: how many, their total 亩 and the shapes' own 亩, a table, "add all"."""
    if not st.session_state.get("_map_last_drawing"):
        return
    st.markdown(f"#### {t('sel_title', lang, n=len(ids))}")
    shapes = _drawn_shapes(st.session_state.get("_map_last_drawing"))
    shape_mu = float(m2_to_mu(gpd.GeoSeries(shapes, crs=4326).to_crs(ws.crs).union_all().area)) if shapes else 0.0
    rows = view.loc[view["plot_id"].astype(str).isin(ids)]
    plots_mu = float(pd.to_numeric(rows.get("area_mu", pd.Series(dtype=float)), errors="coerce").sum())
    st.caption(t("sel_area", lang, shape_mu=shape_mu, n=len(rows), plots_mu=plots_mu))
    if not ids:
        st.caption(t("sel_none", lang))
        return
    if st.session_state.get("map_drawn_by_point"):
        st.caption(t("sel_too_many", lang))
    st.dataframe(_readable_table(rows, lang, _names(ws)), hide_index=True, width="stretch",
                 height=min(36 * (len(rows) + 1), 320))
    if st.button(t("sel_add_all", lang), key="sel_add_all", **permitted("shortlist.add", lang, actor=actor)):
        _add(ws, ids, actor, view, lang, note)


def _readable_table(rows: pd.DataFrame, lang: str, names: Names) -> pd.DataFrame:
    """The selection under labels in the UI language, every value readable (ui.readable)."""
    from ui.details import column_label

    cols = [c for c in _SELECTION_COLUMNS if c in rows.columns]
    return pd.DataFrame({column_label(c, lang): format_values(rows[c], c, lang, names=names).to_numpy()
                         for c in cols})


# --- export the current map -----------------------------------------------------------------------------------
def _export(ws, view, choice: _Choices, marks, rasters, lang: str) -> None:
    """"Export the current map": the view's extent, layers, colours, filters and marks as PNG or PDF."""
    with st.expander(t("print_title", lang)):
        st.caption(t("print_hint", lang))
        c1, c2 = st.columns([2, 3], vertical_alignment="bottom")
        fmt = c1.radio(t("print_format", lang), ["png", "pdf"], key="print_fmt", horizontal=True,
                       format_func=str.upper)
        if c2.button(t("print_make", lang), key="print_make"):
            bounds = bounds_of(st.session_state.get(MAP_KEY))
            if bounds is None:
                st.warning(t("print_no_view", lang))
            else:
                with st.spinner(t("loading", lang)):
                    st.session_state["_print"] = (fmt, _print(ws, view, choice, marks, rasters, bounds, fmt, lang))
        made = st.session_state.get("_print")
        if made:
            kind, blob = made
            stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M")
            st.download_button(t("print_download", lang, fmt=kind.upper()), blob, key="print_download",
                               file_name=f"{t('page_map', lang)}-{stamp}.{kind}",
                               mime="application/pdf" if kind == "pdf" else "image/png", on_click="ignore")


def _print(ws, view, choice: _Choices, marks, rasters, bounds, fmt: str, lang: str) -> bytes:
    from ui.filters import current_filters
    from ui.map_export import map_image

    focus = st.session_state.get(FOCUS)
    tn, pn = data.township_names(ws), data.park_names(ws)
    place = "、".join([tn.get(c, c) for c in focus[1]] + [pn.get(p, p) for p in focus[2]]) if focus else None
    return map_image(ws, bounds=bounds, layers=choice.layers, style_by=choice.style_by, lang=lang, fmt=fmt,
                     rasters=[r.name for r in rasters], marks=marks, filters=current_filters(view),
                     run_id=view.attrs.get("run_id") if view is not None else None, place=place or None)
