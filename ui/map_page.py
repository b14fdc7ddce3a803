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
Only what is in view is sent (the returned ``bounds``, padded by half a screen each side, and
kept while the view stays inside that box); when more than :data:`MAX_PLOTS` filtered plots
are in view, township totals are drawn instead.
"""
from __future__ import annotations

import datetime as _dt
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
from ui._map_view import FOCUS, FOUND, MAP_HEIGHT, MAP_KEY, bounds_of, is_mounted, remember_view, view_args
from ui.details import feature_at, feature_details, plot_details
from ui.filters import PlotFilters, apply, filter_sidebar
from ui.i18n import layer_label, t
from ui.mapview import (
    BASEMAPS,
    HIDDEN_BY_DEFAULT,
    RESULT_STYLES,
    STYLE_BY,
    DynamicLegend,
    LocalTiles,
    aggregate_group,
    highlight_group,
    lean_group,
    legend_sections,
    mark_legend_row,
    mounted_map,
    ordered_layers,
    plots_group,
    raster_group,
    tooltip_frame,
)
from ui.offline import static_base_url
from ui.overlays import legend_rows, overlay_image, raster_label
from ui.pages._common import permitted
from ui.readable import Names, format_values
from ui.shell import current_lang, display_layer, layer_stamp, map_layers, open_workspace, show_error, tianditu_key

__all__ = ["render", "MAP_KEY", "MAX_PLOTS", "RETURNED", "dynamic_content", "query_box", "RasterLayer", "MAP_CSS"]

# The map takes the window's height less the heading and search rows above it (never under 480 px).
# Streamlit's top padding (6 rem) is given back to the map on this page.
MAP_CSS = ('<style>iframe[title="streamlit_folium.st_folium"]'
           '{height: max(480px, calc(100vh - 230px)) !important;}'
           '[data-testid="stMainBlockContainer"]{padding-top: 1.2rem !important;}</style>')
MAX_PLOTS = 6000  # more filtered plots than this in view → township totals (bytes and paint time stay bounded)
MAX_POINTS = 8000  # enterprises in view above this are left out (a caption says so)
PAD = 0.5  # the query box reaches half a view beyond each edge, so small pans resend nothing
# What the page reacts to: clicks (details), the view (what to send, what to restore), drawings (selection).
# all_drawings, not last_active_drawing: streamlit-folium also puts a *clicked* feature in the latter.
RETURNED = ["last_clicked", "bounds", "zoom", "center", "all_drawings"]
_VIEWPORT_LAYERS = ("enterprises", "constraints", "infrastructure")
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


def dynamic_content(view: gpd.GeoDataFrame, mask: pd.Series, box: tuple, *, others: dict[str, gpd.GeoDataFrame],
                    style_by: str, lang: str, township_names: dict, townships: gpd.GeoDataFrame | None,
                    selected: gpd.GeoDataFrame | None = None, max_plots: int = MAX_PLOTS,
                    tips: pd.DataFrame | None = None, marks: dict[str, gpd.GeoDataFrame] | None = None,
                    rasters: tuple[RasterLayer, ...] = ()) -> dict:
    """Feature groups for one rerun, bottom first: rasters, other layers, plots (or township totals), marks, legend.

    ``marks`` are drawn on top in the styles of ``ui.mapview.MARKS`` ("shortlisted", "focus",
    "found"); ``selected`` is the "selection" mark.  Returns ``{"groups": [FeatureGroup…],
    "mode": "plots"|"aggregate"|"none", "n_view": int, "shown": int, "legend": sections,
    "counts": {layer: features sent}}``.
    """
    groups: list[folium.FeatureGroup] = [raster_group(r.name, r.url, r.bounds, opacity=r.opacity) for r in rasters]
    drawn: dict[str, gpd.GeoDataFrame] = {}
    for name in ordered_layers(others):
        if name == "plots":
            continue
        gdf = others[name]
        groups.append(lean_group(name, gdf, lang=lang, township_names=township_names))
        drawn[name] = gdf
    mode, n_view, shown = "none", 0, 0
    sections: list = []
    if view is not None and mask is not None:
        hits = view.sindex.query(shapely.box(*box), predicate="intersects")
        hits = np.sort(hits[mask.to_numpy()[hits]])
        n_view = int(len(hits))
        if n_view > max_plots and townships is not None and "township_code" in view.columns:
            sub = view.loc[mask.to_numpy(), ["township_code", "area_mu"]]
            counts = sub.groupby("township_code", observed=True).size()
            area = sub.groupby("township_code", observed=True)["area_mu"].sum()
            group, sections = aggregate_group(townships, counts, area, lang=lang)
            groups.insert(len(rasters), group)
            mode = "aggregate"
        else:
            plots = view.iloc[hits]
            groups.append(plots_group(plots, style_by=style_by, lang=lang, township_names=township_names, tips=tips))
            drawn["plots"] = plots
            mode, shown = "plots", n_view
    marks = dict(marks or {})
    if selected is not None and len(selected):
        marks["selection"] = selected
    mark_rows = []
    for kind in ("shortlisted", "focus", "selection", "found"):
        gdf = marks.get(kind)
        if gdf is not None and len(gdf):
            groups.append(highlight_group(gdf, name=kind, label=mark_legend_row(kind, lang)[1]))
            mark_rows.append(mark_legend_row(kind, lang))
    sections = sections + legend_sections(drawn, style_by, lang, marks=mark_rows, extra=[r.legend for r in rasters])
    legend = folium.FeatureGroup(name="legend", control=False)
    DynamicLegend(t("legend", lang), sections).add_to(legend)
    groups.append(legend)
    counts = {n: len(drawn[n]) for n in ordered_layers(drawn)}
    return {"groups": groups, "mode": mode, "n_view": n_view, "shown": shown, "legend": sections, "counts": counts}


def _home_bounds(view: gpd.GeoDataFrame | None, parks: list[gpd.GeoDataFrame], fallback: list) -> tuple | None:
    """Where the map opens: the plots and parks (the county's islands would halve the mainland's view)."""
    frames = [g for g in parks if g is not None and len(g)]
    if view is not None and len(view):
        frames.append(view)
    if not frames:
        frames = [g for g in fallback if g is not None and len(g)]
    if not frames:
        return None
    b = np.array([g.total_bounds for g in frames])
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
@st.cache_resource(show_spinner=False, max_entries=4)
def _plot_tips(path: str, plots_stamp: tuple, run_id: str | None, lang: str) -> pd.DataFrame:
    """Escaped tooltip strings of every plot, formatted once per plots version, run and language."""
    ws = open_workspace(path)
    return tooltip_frame("plots", data.plot_view(ws, run_id, scoped=False), lang=lang,
                         township_names=data.township_names(ws))


@st.cache_data(show_spinner=False, max_entries=4)
def _firm_names(path: str, stamp: tuple) -> dict[str, str]:
    ents = data.enterprises(open_workspace(path))
    if not {"credit_code", "name"} <= set(ents.columns):
        return {}
    return dict(zip(ents["credit_code"].astype(str), ents["name"].astype(str)))


def _names(ws) -> Names:
    stamp = layer_stamp(ws, "enterprises") if ws.has_layer("enterprises") else ()
    return Names(townships=data.township_names(ws), parks=data.park_names(ws), firms=_firm_names(ws.location, stamp))


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

    return _Choices(chosen, rasters, style_by, basemap, current_actor(), tiles, key)


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
def _handle_click(ret: dict | None, layers: dict) -> None:
    """Turn a new ``last_clicked`` into the selected feature (server-side lookup); the end of a drawing is no click."""
    ret = ret or {}
    clicked = ret.get("last_clicked")
    fresh = _fresh_click(ret, st.session_state.get("_map_last_click"), st.session_state.get("_map_last_drawing"))
    if clicked:
        st.session_state["_map_last_click"] = clicked
    if not fresh:
        return
    hit = feature_at(layers, clicked["lat"], clicked["lng"], zoom=ret.get("zoom"))
    st.session_state["map_selected"] = None if hit is None else (hit.layer, _key_of(layers[hit.layer], hit))


def _key_of(gdf: gpd.GeoDataFrame, hit) -> object:
    if hit.layer == "plots":
        return str(gdf.loc[hit.index, "plot_id"])
    return hit.index


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


def _drawn_selection(ret: dict | None, view: gpd.GeoDataFrame, mask: pd.Series) -> list[str]:
    """Plot ids (passing the filters) inside any rectangle or polygon drawn on the map."""
    drawings = (ret or {}).get("all_drawings")
    if drawings != st.session_state.get("_map_last_drawing"):
        st.session_state["_map_last_drawing"] = drawings
        shapes = _drawn_shapes(drawings)
        ids: list[str] = []
        if shapes:
            _, hits = view.sindex.query(shapes, predicate="intersects")
            hits = np.unique(hits)
            hits = hits[mask.to_numpy()[hits]]
            ids = view["plot_id"].iloc[hits].astype(str).tolist()
        st.session_state["map_drawn_ids"] = ids
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


def _shortlisted(ws, view) -> gpd.GeoDataFrame | None:
    """The plots already on the shortlist (display geometry), or None."""
    if view is None or not ws.has_layer("shortlist"):
        return None
    items = data.read_layer(ws, "shortlist")
    if not {"item_kind", "item_id"} <= set(items.columns):
        return None
    ids = set(items.loc[items["item_kind"].astype(str) == "plot", "item_id"].astype(str))
    return view.loc[view["plot_id"].astype(str).isin(ids), [view.geometry.name]] if ids else None


def _in_box(gdf: gpd.GeoDataFrame | None, box) -> gpd.GeoDataFrame | None:
    if gdf is None or not len(gdf) or box is None:
        return gdf
    return gdf.iloc[np.sort(gdf.sindex.query(shapely.box(*box), predicate="intersects"))]


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
    with st.spinner(t("loading", lang)):
        view = data.plot_view(ws, run_id) if has_plots else None
    results = view is not None and data.has_results(view)
    choice = _sidebar(ws, names, lang, results)
    flt = filter_sidebar(view, lang) if view is not None else PlotFilters()
    mask = apply(view, flt) if view is not None else None
    places = places_of(ws)
    if view is not None:
        search_row(ws, view, mask, places, lang)
        follow_area_filter(flt, places)
    _draw(ws, view, mask, places, choice, lang, note)


def _draw(ws, view, mask, places, choice: _Choices, lang: str, note) -> None:
    """The map with the details beside it, the counts and export under it, then the drawn selection."""
    others = {n: display_layer(ws, n) for n in choice.layers if n != "plots"}
    tnames = data.township_names(ws)
    pick_layers = dict(others)
    if view is not None and "plots" in choice.layers:
        pick_layers["plots"] = view[mask.to_numpy()]
    ret = st.session_state.get(MAP_KEY)
    remember_view(ret)
    _handle_click(ret, pick_layers)
    drawn_ids = _drawn_selection(ret, view, mask) if view is not None else []

    home = _home_bounds(view, [places.get("industrial_parks"), places.get("micro_parks")], list(others.values()))
    current = bounds_of(ret) or home
    cut = {n: (_in_box(g, current) if n in _VIEWPORT_LAYERS else g) for n, g in others.items()}
    skipped = [n for n, g in cut.items() if n == "enterprises" and len(g) > MAX_POINTS]
    for n in skipped:
        cut.pop(n)
    box = query_box(current, st.session_state.get("_map_box")) if current else None
    st.session_state["_map_box"] = box

    sel = st.session_state.get("map_selected")
    marks = _marks(ws, view, drawn_ids, sel, places, box)
    tips = _plot_tips(ws.location, layer_stamp(ws, "plots"), view.attrs.get("run_id"), lang) \
        if view is not None else None
    rasters = _raster_layers(ws, choice.rasters, lang)
    content = dynamic_content(view if "plots" in choice.layers else None, mask, box or (0, 0, 0, 0), others=cut,
                              style_by=choice.style_by, lang=lang, township_names=tnames,
                              townships=places.get("townships"), tips=tips, marks=marks, rasters=rasters)

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
        _captions(content, view, mask, others, skipped, lang)
        _export(ws, view, choice, marks, rasters, lang)
    with right:
        _details(ws, view, sel, others, choice.actor, lang, note)
    if view is not None:
        _selection(ws, view, drawn_ids, choice.actor, lang, note)


def _marks(ws, view, drawn_ids, sel, places, box) -> dict:
    """What the map draws on top: the selection, a search hit outside the filters, the shortlist, the outlined area."""
    marks: dict[str, gpd.GeoDataFrame] = {}
    if view is not None:
        ids = set(drawn_ids)
        if sel and sel[0] == "plots":
            ids.add(sel[1])
        if ids:
            marks["selection"] = view[view["plot_id"].astype(str).isin(ids)]
        found = st.session_state.get(FOUND)
        if found:
            marks["found"] = view[view["plot_id"].astype(str) == found]
        marks["shortlisted"] = _in_box(_shortlisted(ws, view), box)
    focus = st.session_state.get(FOCUS)
    if focus:
        marks["focus"] = focus_shapes(places, focus[1], focus[2])
    return {k: v for k, v in marks.items() if v is not None and len(v)}


def _captions(content, view, mask, others, skipped, lang: str) -> None:
    if content["counts"]:
        st.caption(" · ".join(f"{layer_label(n, lang)} {c:,}" for n, c in content["counts"].items()))
    if content["mode"] == "aggregate":
        st.caption(t("map_zoom_in", lang, n=content["n_view"]))
    elif view is not None:
        extra = t("map_outside_filter", lang) if st.session_state.get(FOUND) else ""
        st.caption(t("map_shown", lang, shown=content["shown"], n=int(mask.sum()), total=len(view)) + extra)
    if skipped:
        st.caption(f"{layer_label('enterprises', lang)}: {t('map_zoom_in', lang, n=len(others['enterprises']))}")


def _details(ws, view, sel, others, actor, lang, note) -> None:
    if not sel:
        st.info(t("map_click_hint", lang))
        return
    layer, ident = sel
    names = _names(ws)
    if layer == "plots" and view is not None:
        rows = view[view["plot_id"].astype(str) == ident]
        if rows.empty:
            st.info(t("map_nothing_here", lang))
            return
        if st.button(t("det_add", lang), key="det_add", type="primary", **permitted("shortlist.add", lang, actor=actor)):
            _add(ws, [ident], actor, view, lang, note)
        run_id = view.attrs.get("run_id")
        plot_details(rows.iloc[0], firms=data.firms_on(ws, ident, run_id), lang=lang,
                     params_json=data.run_parameters(ws, run_id), names=names)
    elif layer in others:
        full = data.read_layer(ws, layer)
        row = full.loc[ident] if ident in full.index else others[layer].loc[ident]
        feature_details(layer, row, lang, names=names)


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
