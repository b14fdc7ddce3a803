"""Map page: every layer of the workspace on one map, chosen in the sidebar.

Screen: sidebar — workspace, layer toggles, plot colouring, base map; main — the map (legend
and layer control inside it) and a line of feature counts.
"""
from __future__ import annotations

import streamlit as st
from streamlit_folium import st_folium

from geo.errors import PlannerError
from ui.i18n import layer_label, t
from ui.mapview import BASEMAPS, HIDDEN_BY_DEFAULT, STYLE_BY, build_map, ordered_layers
from ui.offline import static_base_url
from ui.shell import current_lang, display_layer, map_layers, open_workspace, tianditu_key, workspace_path

__all__ = ["render", "MAP_KEY"]

MAP_KEY = "main_map"
MAP_HEIGHT = 640


def _sidebar(names: list[str], lang: str) -> tuple[list[str], str, str]:
    sb = st.sidebar
    sb.subheader(t("layers", lang))
    chosen = [
        n for n in names
        if sb.checkbox(layer_label(n, lang), value=n not in HIDDEN_BY_DEFAULT, key=f"layer_{n}")
    ]
    style_by = sb.selectbox(t("style_by", lang), list(STYLE_BY), key="style_by",
                            format_func=lambda k: t(STYLE_BY[k].title_key, lang))
    basemap = sb.selectbox(t("basemap", lang), BASEMAPS, key="basemap",
                           format_func=lambda k: t(f"basemap_{k}", lang))
    return chosen, style_by, basemap


def render() -> None:
    """Draw the map page."""
    lang = current_lang()
    path = workspace_path()
    if not path.exists():
        st.error(t("no_workspace", lang, path=path))
        return
    try:
        ws = open_workspace(path)
    except PlannerError as exc:
        st.error(exc.localized(lang))
        return
    st.sidebar.caption(f"{t('workspace', lang)}: {path.name}")
    names = ordered_layers(map_layers(ws))  # same order as the map's layer control
    chosen, style_by, basemap = _sidebar(names, lang)

    key = None
    if basemap != "none":
        st.sidebar.caption(t("basemap_online_note", lang))
        if basemap.startswith("tianditu"):
            key = tianditu_key()
            if not key:
                st.sidebar.warning(t("tianditu_no_key", lang))
                basemap = "none"

    with st.spinner(t("loading", lang)):
        layers = {n: display_layer(ws, n) for n in chosen}
    if not layers:
        st.info(t("no_layers", lang))
    base_url = st.get_option("server.baseUrlPath") or ""
    try:
        m = build_map(layers, lang=lang, basemap=basemap, tianditu_key=key, style_by=style_by,
                      static_url=static_base_url(base_url))
    except PlannerError as exc:
        st.error(exc.localized(lang))
        return
    # returned_objects=[]: nothing on this page reacts to map events, so panning never reruns the app.
    # render=False: st_folium renders the map's own elements anyway; the extra whole-page render
    # it would do first costs ~0.5 s per rerun at the sample size and adds nothing it sends.
    st_folium(m, key=MAP_KEY, height=MAP_HEIGHT, use_container_width=True, returned_objects=[], render=False)
    st.caption(" · ".join(f"{layer_label(n, lang)} {len(g):,}" for n, g in layers.items()))
