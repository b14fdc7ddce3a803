"""Where the map looks: the view it reports, views the page asks for, and the view a new map gets back.

streamlit-folium moves a mounted map only when the ``center``/``zoom`` it is given differ from
what it last got, and a *new* map (another base map or language, or back from another page)
starts at the base map's own fit.  The page therefore remembers the last view the map
reported (:func:`remember_view`), asks for a view by a one-shot request with a tiny
per-request offset (:func:`fly_to_bounds`, :func:`view_args`), and sends the remembered view
to a map the browser does not hold yet (:func:`is_mounted`).  Part of ``ui.map_page``.
"""
from __future__ import annotations

import folium
import numpy as np
import streamlit as st
from streamlit_folium import _get_map_string, generate_js_hash

from ui.mapview import view_for_bounds

__all__ = ["MAP_KEY", "MAP_HEIGHT", "VIEW", "FLY", "FLY_NONCE", "FLY_SENT", "FOCUS", "FOUND", "bounds_of",
           "remember_view", "map_size_px", "fly_to_bounds", "view_args", "is_mounted"]

MAP_KEY = "main_map"
MAP_HEIGHT = 640  # the component's own height; the page's CSS then sizes its frame with the window
# session keys: the last view the map reported, the last view request and which one was sent, the outlined
# area ((why, township codes, park ids)), a search hit outside the filters
VIEW, FLY, FLY_NONCE, FLY_SENT, FOCUS, FOUND = (
    "map_view", "map_fly", "map_fly_nonce", "_map_fly_sent", "map_focus", "map_found")
_LAST_BASE = "_map_base_key"  # streamlit-folium's key of the base map the page drew last


def bounds_of(ret: dict | None) -> tuple[float, float, float, float] | None:
    b = (ret or {}).get("bounds") or {}
    try:
        sw, ne = b["_southWest"], b["_northEast"]
        out = (float(sw["lng"]), float(sw["lat"]), float(ne["lng"]), float(ne["lat"]))
    except (KeyError, TypeError, ValueError):
        return None
    return out if all(np.isfinite(out)) and out[0] < out[2] and out[1] < out[3] else None


def remember_view(ret: dict | None) -> None:
    ret = ret or {}
    c, z = ret.get("center"), ret.get("zoom")
    try:
        lat, lng, zoom = float(c["lat"]), float(c["lng"]), float(z)
    except (KeyError, TypeError, ValueError):
        return
    if np.isfinite([lat, lng, zoom]).all():
        st.session_state[VIEW] = ((lat, lng), zoom)


def map_size_px(ret: dict | None) -> tuple[int, int]:
    """The map's size in screen pixels, from the bounds and zoom it last reported (else 900 × MAP_HEIGHT).

    Web Mercator: a degree of longitude spans 256 · 2^zoom / 360 pixels; latitude through the
    Mercator y.  The page sizes the map with the window, so the server cannot know it otherwise.
    """
    b, z = bounds_of(ret), (ret or {}).get("zoom")
    if b is None or z is None:
        return 900, MAP_HEIGHT
    w, s, e, n = b
    scale = 256 * 2 ** float(z) / 360

    def merc(lat):
        return np.degrees(np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)))

    return int(round((e - w) * scale)), int(round((merc(n) - merc(s)) * scale))


def fly_to_bounds(bounds: tuple[float, float, float, float], *, min_span: float = 0.002) -> None:
    """Ask the map to show ``bounds`` (degrees), padded, on its next run."""
    w, s, e, n = bounds
    pad = max(max(e - w, n - s) * 0.08, min_span)
    width, height = map_size_px(st.session_state.get(MAP_KEY))
    center, zoom = view_for_bounds((w - pad, s - pad, e + pad, n + pad), width_px=width, height_px=height)
    st.session_state[FLY_NONCE] = st.session_state.get(FLY_NONCE, 0) + 1
    st.session_state[FLY] = (center, zoom)


def view_args(mounted: bool) -> tuple:
    """``(center, zoom)`` for st_folium: a pending fly, else the remembered view for a new map, else none.

    streamlit-folium moves the map only when the centre or zoom differs from what it last got:
    a tiny per-request offset (1e-9° ≈ 0.1 mm; 1e-6 of a zoom level, which Leaflet rounds away)
    makes every request a new one, so a second search for a place at the same zoom still flies.
    """
    nonce = st.session_state.get(FLY_NONCE, 0)
    fly = st.session_state.get(FLY)
    if fly and st.session_state.get(FLY_SENT) != nonce:
        st.session_state[FLY_SENT] = nonce
        (lat, lng), zoom = fly
        return (lat + nonce * 1e-9, lng), zoom + (nonce % 1000) * 1e-6
    remembered = st.session_state.get(VIEW)
    if not mounted and remembered:
        return remembered
    return None, None


def is_mounted(fresh: folium.Map) -> bool:
    """Whether the browser already holds this map (the same base script under the same key).

    ``fresh`` must be a base map built for this check only, identical to the one given to
    ``st_folium``: streamlit-folium renames elements while it serialises a map, so a map with a
    tile layer serialises differently the second time — the key must be computed the way
    ``st_folium`` computes it, on a map rendered once.

    streamlit-folium names the component by a hash of the base map's script.  The map is new
    when that hash differs from the one the page drew last (another base map or language), or
    when Streamlit holds no state under it — it keeps a component's state only while each run
    draws it, so the state is gone after a run of another page.  (The state alone is not
    enough: a run interrupted by the next click keeps the previous base map's state.)
    """
    fresh.render()
    key = generate_js_hash(_get_map_string(fresh), MAP_KEY, False)
    last, st.session_state[_LAST_BASE] = st.session_state.get(_LAST_BASE), key
    return key == last and key in st.session_state
