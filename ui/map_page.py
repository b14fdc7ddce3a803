"""Map page: find plots, see why they matter, pick them for the shortlist.

Screen: sidebar — workspace and run, layer toggles, plot colouring, base map, your name, the
shared plot filters; main — a search box; the map (legend and layer control inside it) with
the details panel of the clicked feature beside it; under the map the plots selected by
drawing a rectangle or polygon, with "add all to shortlist".

The map stays mounted across reruns: the base map (view, tiles, draw tools) is the same
script every run, so streamlit-folium keeps the component; layers, legend and selection go
as dynamic feature groups (``feature_group_to_add``), and the view changes only when a search
flies somewhere (``center``/``zoom``).  Only what is in view is sent (the returned ``bounds``,
padded by half a screen each side, and kept while the view stays inside that box); when more
than :data:`MAX_PLOTS` filtered plots are in view, township totals are drawn instead.
"""
from __future__ import annotations

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import streamlit as st
from streamlit_folium import st_folium

from geo.errors import PlannerError
from ui import data
from ui.details import feature_at, feature_details, plot_details
from ui.filters import PlotFilters, apply, filter_sidebar
from ui.i18n import layer_label, t
from ui.mapview import (BASEMAPS, HIDDEN_BY_DEFAULT, RESULT_STYLES, STYLE_BY, DynamicLegend, aggregate_group,
                        highlight_group, lean_group, legend_sections, mounted_map, ordered_layers, plots_group,
                        tooltip_frame, view_for_bounds)
from ui.offline import static_base_url
from ui.shell import current_lang, display_layer, show_error, layer_stamp, map_layers, open_workspace, tianditu_key

__all__ = ["render", "MAP_KEY", "MAX_PLOTS", "RETURNED", "dynamic_content", "query_box"]

MAP_KEY = "main_map"
MAP_HEIGHT = 640
MAX_PLOTS = 6000  # more filtered plots than this in view → township totals (bytes and paint time stay bounded)
MAX_POINTS = 8000  # enterprises in view above this are left out (a caption says so)
PAD = 0.5  # the query box reaches half a view beyond each edge, so small pans resend nothing
# What the page reacts to: clicks (details), the view (what to send), drawings (selection).
# all_drawings, not last_active_drawing: streamlit-folium also puts a *clicked* feature in the latter.
RETURNED = ["last_clicked", "bounds", "zoom", "all_drawings"]
_VIEWPORT_LAYERS = ("enterprises", "constraints", "infrastructure")


# --- pure helpers (tested without Streamlit) ---------------------------------------------------------
def _bounds_of(ret: dict | None) -> tuple[float, float, float, float] | None:
    b = (ret or {}).get("bounds") or {}
    try:
        sw, ne = b["_southWest"], b["_northEast"]
        out = (float(sw["lng"]), float(sw["lat"]), float(ne["lng"]), float(ne["lat"]))
    except (KeyError, TypeError, ValueError):
        return None
    return out if all(np.isfinite(out)) and out[0] < out[2] and out[1] < out[3] else None


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
                    tips: pd.DataFrame | None = None) -> dict:
    """Feature groups for one rerun: other layers, plots (or township totals), selection, legend.

    Returns ``{"groups": [FeatureGroup…], "mode": "plots"|"aggregate"|"none", "n_view": int,
    "shown": int, "legend": sections, "counts": {layer: features sent}}``.
    """
    groups: list[folium.FeatureGroup] = []
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
            groups.insert(0, group)
            mode = "aggregate"
        else:
            plots = view.iloc[hits]
            groups.append(plots_group(plots, style_by=style_by, lang=lang, township_names=township_names, tips=tips))
            drawn["plots"] = plots
            mode, shown = "plots", n_view
    if selected is not None and len(selected):
        groups.append(highlight_group(selected, label=t("sel_highlight", lang)))
    sections = sections + legend_sections(drawn, style_by, lang)
    legend = folium.FeatureGroup(name="legend", control=False)
    DynamicLegend(t("legend", lang), sections).add_to(legend)
    groups.append(legend)
    counts = {n: len(drawn[n]) for n in ordered_layers(drawn)}
    return {"groups": groups, "mode": mode, "n_view": n_view, "shown": shown, "legend": sections, "counts": counts}


def _initial_bounds(view: gpd.GeoDataFrame | None, others: dict) -> tuple | None:
    frames = [g for n, g in others.items() if n in ("industrial_parks", "micro_parks") and len(g)]
    if view is not None and len(view):
        frames.append(view)
    if not frames:
        frames = [g for g in others.values() if len(g)]
    if not frames:
        return None
    b = np.array([g.total_bounds for g in frames])
    return (b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max())


# --- the page ---------------------------------------------------------------------------------------------
@st.cache_resource(show_spinner=False, max_entries=4)
def _plot_tips(path: str, plots_stamp: tuple, run_id: str | None, lang: str) -> pd.DataFrame:
    """Escaped tooltip strings of every plot, formatted once per plots version, run and language."""
    ws = open_workspace(path)
    return tooltip_frame("plots", data.plot_view(ws, run_id, scoped=False), lang=lang,
                         township_names=data.township_names(ws))



def _sidebar(names: list[str], lang: str, results: bool) -> tuple[list[str], str, str, str]:
    sb = st.sidebar
    sb.subheader(t("layers", lang))
    chosen = [n for n in names
              if sb.checkbox(layer_label(n, lang), value=n not in HIDDEN_BY_DEFAULT, key=f"layer_{n}")]
    styles = [k for k in STYLE_BY if results or k not in RESULT_STYLES]
    if st.session_state.get("style_by") not in styles:
        st.session_state.pop("style_by", None)
    style_by = sb.selectbox(t("style_by", lang), styles, key="style_by",
                            format_func=lambda k: t(STYLE_BY[k].title_key, lang))
    basemap = sb.selectbox(t("basemap", lang), BASEMAPS, key="basemap",
                           format_func=lambda k: t(f"basemap_{k}", lang))
    from ui.login import current_actor

    return chosen, style_by, basemap, current_actor()


def _fly_to(view: gpd.GeoDataFrame, plot_id: str) -> None:
    rows = view[view["plot_id"].astype(str) == plot_id]
    if rows.empty:
        return
    w, s, e, n = rows.total_bounds
    pad = max(e - w, n - s, 0.002)
    center, zoom = view_for_bounds((w - pad, s - pad, e + pad, n + pad), height_px=MAP_HEIGHT)
    # the component only moves when center/zoom differ from what it last got: a tiny nonce re-flies
    nonce = st.session_state.get("map_fly_nonce", 0) + 1
    st.session_state["map_fly_nonce"] = nonce
    st.session_state["map_fly"] = ((center[0] + nonce * 1e-9, center[1]), zoom)
    st.session_state["map_selected"] = ("plots", plot_id)


def _search(ws, view, lang: str, note) -> None:
    c1, c2 = st.columns([5, 1], vertical_alignment="bottom")
    q = c1.text_input(t("map_search", lang), key="map_search")
    go = c2.button(t("map_search_go", lang), key="map_search_go")
    if not q:
        return
    matches = data.search(ws, view, q)
    if not matches:
        if go or st.session_state.get("_map_last_q") != q:
            note.warning(t("map_search_none", lang, q=q))
        st.session_state["_map_last_q"] = q
        return
    if len(matches) == 1:
        pid = matches[0][0]
    else:
        labels = dict(matches)
        pid = st.selectbox(t("map_search_pick", lang, n=len(matches)), list(labels), format_func=labels.get,
                           key="map_search_pick")
    if go or st.session_state.get("_map_last_pick") != (q, pid):
        st.session_state["_map_last_pick"] = (q, pid)
        st.session_state["_map_last_q"] = q
        _fly_to(view, pid)


def _handle_click(ret: dict | None, layers: dict) -> None:
    """Turn a new ``last_clicked`` into the selected feature (server-side lookup)."""
    clicked = (ret or {}).get("last_clicked")
    if not clicked or clicked == st.session_state.get("_map_last_click"):
        return
    st.session_state["_map_last_click"] = clicked
    hit = feature_at(layers, clicked["lat"], clicked["lng"], zoom=(ret or {}).get("zoom"))
    st.session_state["map_selected"] = None if hit is None else (hit.layer, _key_of(layers[hit.layer], hit))


def _key_of(gdf: gpd.GeoDataFrame, hit) -> object:
    if hit.layer == "plots":
        return str(gdf.loc[hit.index, "plot_id"])
    return hit.index


def _drawn_selection(ret: dict | None, view: gpd.GeoDataFrame, mask: pd.Series) -> list[str]:
    """Plot ids (passing the filters) inside any rectangle or polygon drawn on the map."""
    drawings = (ret or {}).get("all_drawings")
    if drawings != st.session_state.get("_map_last_drawing"):
        st.session_state["_map_last_drawing"] = drawings
        shapes = []
        for feature in drawings or []:
            try:
                shape = shapely.geometry.shape((feature or {}).get("geometry"))
            except (ValueError, TypeError, AttributeError, KeyError):
                continue
            if not shape.is_empty:
                shapes.append(shape)
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
    note.success(" ".join(msgs))


def render() -> None:
    """Draw the map page."""
    lang = current_lang()
    try:
        ws = open_workspace()
    except PlannerError as exc:
        show_error(exc, lang)
        return
    st.sidebar.caption(f"{t('workspace', lang)}: {ws.describe()}")
    names = ordered_layers(map_layers(ws))
    names = [n for n in names if not n.startswith(("run_", "siting_", "integration_")) and n != "shortlist"]
    has_plots = "plots" in names
    run_id = data.latest_run_id(ws) if has_plots else None
    if run_id:
        st.sidebar.caption(t("data_run_id", lang, run=run_id))
    with st.spinner(t("loading", lang)):
        view = data.plot_view(ws) if has_plots else None
    results = view is not None and data.has_results(view)
    chosen, style_by, basemap, actor = _sidebar(names, lang, results)
    flt = filter_sidebar(view, lang) if view is not None else PlotFilters()

    key = None
    if basemap != "none":
        st.sidebar.caption(t("basemap_online_note", lang))
        if basemap.startswith("tianditu"):
            key = tianditu_key()
            if not key:
                st.sidebar.warning(t("tianditu_no_key", lang))
                basemap = "none"

    note = st.container()  # messages go here, above the map, without moving the map's place
    if has_plots and not run_id:
        with note:
            data.run_offer(ws, lang, key="map_run")
    if view is not None:
        _search(ws, view, lang, note)

    others = {n: display_layer(ws, n) for n in chosen if n != "plots"}
    townships = display_layer(ws, "townships") if "townships" in names else None
    tnames = data.township_names(ws)
    mask = apply(view, flt) if view is not None else None
    pick_layers = dict(others)
    if view is not None and "plots" in chosen:
        pick_layers["plots"] = view[mask.to_numpy()]

    ret = st.session_state.get(MAP_KEY)
    _handle_click(ret, pick_layers)
    drawn_ids = _drawn_selection(ret, view, mask) if view is not None else []

    home = _initial_bounds(view, others)
    current = _bounds_of(ret) or home
    cut = {n: (g if n not in _VIEWPORT_LAYERS or current is None else
               g.iloc[np.sort(g.sindex.query(shapely.box(*current), predicate="intersects"))])
           for n, g in others.items()}
    skipped = [n for n, g in cut.items() if n == "enterprises" and len(g) > MAX_POINTS]
    for n in skipped:
        cut.pop(n)
    box = query_box(current, st.session_state.get("_map_box")) if current else None
    st.session_state["_map_box"] = box

    sel = st.session_state.get("map_selected")
    highlight = None
    if view is not None:
        ids = set(drawn_ids)
        if sel and sel[0] == "plots":
            ids.add(sel[1])
        if ids:
            highlight = view[view["plot_id"].astype(str).isin(ids)]
    tips = _plot_tips(ws.location, layer_stamp(ws, "plots"), view.attrs.get("run_id"), lang) \
        if view is not None else None
    content = dynamic_content(view if "plots" in chosen else None, mask, box or (0, 0, 0, 0), others=cut,
                              style_by=style_by, lang=lang, township_names=tnames, townships=townships,
                              selected=highlight, tips=tips)

    left, right = st.columns([3, 2], gap="medium")
    with left:
        try:
            base = mounted_map(home, basemap=basemap, tianditu_key=key, lang=lang,
                               static_url=static_base_url(st.get_option("server.baseUrlPath") or ""))
        except PlannerError as exc:
            show_error(exc, lang)
            return
        fly = st.session_state.get("map_fly")
        st_folium(base, key=MAP_KEY, height=MAP_HEIGHT, use_container_width=True, returned_objects=RETURNED,
                  feature_group_to_add=content["groups"], layer_control=folium.LayerControl(collapsed=False),
                  center=fly[0] if fly else None, zoom=fly[1] if fly else None, render=False)
        if content["counts"]:
            st.caption(" · ".join(f"{layer_label(n, lang)} {c:,}" for n, c in content["counts"].items()))
        if content["mode"] == "aggregate":
            st.caption(t("map_zoom_in", lang, n=content["n_view"]))
        elif view is not None:
            st.caption(t("map_shown", lang, shown=content["shown"], n=int(mask.sum()), total=len(view)))
        if skipped:
            st.caption(f"{layer_label('enterprises', lang)}: {t('map_zoom_in', lang, n=len(others['enterprises']))}")
    with right:
        _details(ws, view, sel, others, run_id, actor, lang, note)
    if view is not None:
        _selection(ws, view, drawn_ids, actor, lang, note)


def _details(ws, view, sel, others, run_id, actor, lang, note) -> None:
    if not sel:
        st.info(t("map_click_hint", lang))
        return
    layer, ident = sel
    if layer == "plots" and view is not None:
        rows = view[view["plot_id"].astype(str) == ident]
        if rows.empty:
            st.info(t("map_nothing_here", lang))
            return
        if st.button(t("det_add", lang), key="det_add", type="primary"):
            _add(ws, [ident], actor, view, lang, note)
        plot_details(rows.iloc[0], firms=data.firms_on(ws, ident, run_id), lang=lang,
                     params_json=data.run_parameters(ws, run_id))
    elif layer in others:
        full = data.read_layer(ws, layer)
        row = full.loc[ident] if ident in full.index else others[layer].loc[ident]
        feature_details(layer, row, lang)


def _selection(ws, view, ids: list[str], actor, lang: str, note) -> None:
    if not st.session_state.get("_map_last_drawing"):
        return
    st.markdown(f"#### {t('sel_title', lang, n=len(ids))}")
    if not ids:
        st.caption(t("sel_none", lang))
        return
    cols = [c for c in ("plot_id", "township_name", "park_name", "land_use", "status", "area_mu", "final_class",
                        "tax_per_mu", "is_low_efficiency", "suitability", "mode") if c in view.columns]
    rows = pd.DataFrame(view.loc[view["plot_id"].astype(str).isin(ids), cols])
    st.dataframe(rows, hide_index=True, width="stretch", height=min(36 * (len(rows) + 1), 320))
    if st.button(t("sel_add_all", lang), key="sel_add_all"):
        _add(ws, ids, actor, view, lang, note)
