"""Finding places on the map: the search row, "zoom to a township or park", and filters that frame an area.

A township or park found by the search, chosen in "zoom to", or picked in the shared filters
is framed (:func:`ui._map_view.fly_to_bounds`) and outlined (the ``focus`` mark); a plot found
outside the filters is marked on its own and explained.  The search itself is the pure
:func:`ui.map_search.search_places`.  Nothing here adds or removes an element above the map:
the picker and the messages live in a container that is always drawn.  Part of ``ui.map_page``.
"""
from __future__ import annotations

import geopandas as gpd
import pandas as pd
import streamlit as st

from ui import data
from ui._map_view import FOCUS, FOUND, fly_to_bounds
from ui.filters import PlotFilters
from ui.i18n import t
from ui.map_search import Hit, search_places
from ui.shell import display_layer

__all__ = ["PLACE_LAYERS", "places_of", "focus_shapes", "search_row", "follow_area_filter"]

PLACE_LAYERS = ("townships", "industrial_parks", "micro_parks")


def places_of(ws) -> dict[str, gpd.GeoDataFrame]:
    return {n: display_layer(ws, n) for n in PLACE_LAYERS if ws.has_layer(n)}


def focus_shapes(places: dict[str, gpd.GeoDataFrame], townships=(), parks=()) -> gpd.GeoDataFrame | None:
    """The outlines of the given townships and parks (EPSG:4326), or None."""
    shapes = []
    tw = places.get("townships")
    if townships and tw is not None and "code" in tw.columns:
        shapes.append(tw.geometry[tw["code"].astype(str).isin(set(townships)).to_numpy()])
    for name in ("industrial_parks", "micro_parks"):
        gdf = places.get(name)
        if parks and gdf is not None and "park_id" in gdf.columns:
            shapes.append(gdf.geometry[gdf["park_id"].astype(str).isin(set(parks)).to_numpy()])
    shapes = [s for s in shapes if len(s)]
    if not shapes:
        return None
    return gpd.GeoDataFrame(geometry=pd.concat(shapes, ignore_index=True).values, crs=4326)


def _focus_on(places, *, townships=(), parks=(), why: str) -> None:
    shapes = focus_shapes(places, townships, parks)
    if shapes is None:
        return
    st.session_state[FOCUS] = (why, tuple(townships), tuple(parks))
    fly_to_bounds(tuple(shapes.total_bounds))


def _go_to_hit(ws, hit: Hit, view, mask, places, lang: str, box) -> None:
    """Fly to a search hit: a township or park is outlined; a plot (or a firm's plot) is selected."""
    st.session_state[FOUND] = None
    if hit.kind == "township":
        _focus_on(places, townships=(hit.key,), why="search")
        return
    if hit.kind == "park":
        _focus_on(places, parks=(hit.key,), why="search")
        return
    rows = view[view["plot_id"].astype(str) == hit.key]
    if rows.empty:
        return
    box = data.plot_index(ws).loc[rows.index]  # the view has no geometry: the plot's box from the tile index
    fly_to_bounds((box["west"].min(), box["south"].min(), box["east"].max(), box["north"].max()))
    st.session_state["map_selected"] = ("plots", hit.key)
    if not bool(mask.loc[rows.index].any()):
        st.session_state[FOUND] = hit.key


def search_row(ws, view, mask, places, lang: str) -> None:
    """The search row: a query box, "go", and "zoom to a township or park"; results in a box that is always there."""
    c1, c2, c3 = st.columns([5, 1, 3], vertical_alignment="bottom")
    q = c1.text_input(t("map_search", lang), key="map_search")
    go = c2.button(t("map_search_go", lang), key="map_search_go")
    _zoom_to(c3, places, lang)
    box = st.container()  # picker and messages: inside one container, so the map below never moves
    if not q:
        return
    ents = data.firm_directory(ws)
    tw, parks = places.get("townships"), [places[n] for n in ("industrial_parks", "micro_parks") if n in places]
    result = search_places(q, plots=view[["plot_id"]], firms=ents, townships=tw,
                           parks=pd.concat([pd.DataFrame(p.drop(columns=p.geometry.name)) for p in parks])
                           if parks else None, lang=lang)
    if not result.hits:
        box.warning(t("map_search_none", lang, q=q))
        st.session_state["_map_last_q"] = q
        return
    if result.cut:
        box.caption(t("map_search_more", lang, n=result.total, k=len(result.hits)))
    by_ident = {h.ident: h for h in result.hits}
    if len(result.hits) == 1:
        hit = result.hits[0]
    else:
        if st.session_state.get("map_search_pick") not in by_ident:
            st.session_state.pop("map_search_pick", None)
        ident = box.selectbox(t("map_search_pick", lang, n=len(result.hits)), list(by_ident),
                              format_func=lambda i: by_ident[i].label, key="map_search_pick")
        hit = by_ident[ident]
    if go or st.session_state.get("_map_last_pick") != (q, hit.ident):
        st.session_state["_map_last_pick"] = (q, hit.ident)
        st.session_state["_map_last_q"] = q
        _go_to_hit(ws, hit, view, mask, places, lang, box)
    found = st.session_state.get(FOUND)
    if found and found == hit.key and hit.kind in ("plot", "firm"):
        box.warning(t("map_search_outside", lang, pid=found))


def _zoom_to(col, places, lang: str) -> None:
    """"Zoom to a township or park": outlines the choice and flies there."""
    options = [""]
    labels = {"": t("map_zoom_to_none", lang)}
    tw = places.get("townships")
    if tw is not None and {"code", "name"} <= set(tw.columns):
        for c, n in zip(tw["code"].astype(str), tw["name"].astype(str)):
            options.append(f"t:{c}")
            labels[f"t:{c}"] = f"{t('map_search_kind_township', lang)} · {n}"
    for name in ("industrial_parks", "micro_parks"):
        gdf = places.get(name)
        if gdf is not None and {"park_id", "name"} <= set(gdf.columns):
            for p, n in zip(gdf["park_id"].astype(str), gdf["name"].astype(str)):
                options.append(f"p:{p}")
                labels[f"p:{p}"] = f"{t('map_search_kind_park', lang)} · {n}"
    choice = col.selectbox(t("map_zoom_to", lang), options, key="map_zoom_to", format_func=labels.get)
    if choice == st.session_state.get("_map_zoom_to_last", ""):
        return
    st.session_state["_map_zoom_to_last"] = choice
    if choice.startswith("t:"):
        _focus_on(places, townships=(choice[2:],), why="zoom")
    elif choice.startswith("p:"):
        _focus_on(places, parks=(choice[2:],), why="zoom")
    elif (st.session_state.get(FOCUS) or ("",))[0] == "zoom":
        st.session_state[FOCUS] = None


def follow_area_filter(flt: PlotFilters, places) -> None:
    """Filtering to townships or parks zooms to them and outlines them (clearing the filter drops the outline)."""
    parks = tuple(p for p in flt.parks if p != "none")
    sig = (flt.townships, parks)
    if sig == st.session_state.get("_map_area_filter"):
        return
    st.session_state["_map_area_filter"] = sig
    if flt.townships or parks:
        _focus_on(places, townships=flt.townships, parks=parks, why="filter")
    elif (st.session_state.get(FOCUS) or ("",))[0] == "filter":
        st.session_state[FOCUS] = None
