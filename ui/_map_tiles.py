"""The plots and the firms as vector tiles on the mounted map: the browser's renderer and the layers that draw them.

:class:`TileAssets` (added to the base map once) loads pbf and ``static/planner/plot-tiles.js``;
:func:`plot_tiles_group` is the dynamic feature group holding ``L.plannerTiles`` with the URLs of the
tile set and of the colour codes (``ui.tileserver``).  Its script depends only on those URLs, the
palette and the zoom range: panning sends nothing new.  Part of ``ui.mapview`` (which re-exports these
names).

The firms (``enterprises``) come from their own tile set when more are in view than the page sends as
GeoJSON (``ui.map_page.MAX_POINTS``, or a view too wide to read them by box): :func:`firm_tiles` makes
the layer (small outlined circles, one colour, as the GeoJSON markers) and counts the firms in view from
the set's index; a click is resolved on the server from that index (:func:`firm_at`, nearest firm within
a few pixels, in the user's townships only) and its details read from the store by credit code
(:func:`firm_row`).
"""
from __future__ import annotations

import html
import json
from dataclasses import dataclass

import branca.element
import folium
import numpy as np
import pandas as pd
from folium.elements import JSCSSMixin

from ui.offline import DEFAULT_BASE_URL

__all__ = ["TileAssets", "PlotTiles", "TileLayerSpec", "TiledLayer", "plot_tiles_group", "firm_tiles_group", "firm_tiles",
           "firm_at", "firm_row", "FIRM_TILES"]

FIRM_TILES = "enterprises"  # the point layer drawn from its tiles when too many are in view
_LOW_DOT = "#2c3e50"  # LAYER_STYLES["enterprises"]["color"], drawn translucent (opacity 0.6) far out


@dataclass(frozen=True)
class TileLayerSpec:
    """What the browser needs to draw a tile set: tile URL template, colour-code URL, native zoom range and the
    set's bounds in degrees (west, south, east, north): no tile outside them is asked for."""

    tiles_url: str
    style_url: str
    minzoom: int
    maxzoom: int
    bounds: tuple[float, float, float, float] | None = None

    @classmethod
    def of(cls, info, *, tiles_url: str, style_url: str) -> TileLayerSpec:
        """The spec of tile set ``info`` (``layers.tiles.TileSetInfo``: zoom range, bounds) at these URLs."""
        return cls(tiles_url=tiles_url, style_url=style_url, minzoom=info.minzoom, maxzoom=info.maxzoom,
                   bounds=tuple(info.bounds) if info.bounds else None)


class TileAssets(JSCSSMixin, branca.element.MacroElement):
    """pbf (the protocol-buffer reader, vendored) and the planner's vector-tile renderer, loaded with the base map."""

    _template = branca.element.Template("{% macro script(this, kwargs) %}{% endmacro %}")
    default_js = [("pbf", DEFAULT_BASE_URL + "pbf-3.3.0/pbf.js"),
                  ("planner_plot_tiles", DEFAULT_BASE_URL + "planner/plot-tiles.js")]

    def __init__(self):
        super().__init__()
        self._name = "TileAssets"


class PlotTiles(branca.element.MacroElement):
    """``L.plannerTiles`` (static/planner/plot-tiles.js) with its options, added to its feature group."""

    _template = branca.element.Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.plannerTiles({{ this.options_js }}).addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, spec: TileLayerSpec, *, palette: list[str], stroke: dict, fill_opacity: float,
                 layer: str = "plots", points: dict | None = None):
        super().__init__()
        self._name = "PlotTiles"
        options = {"tileUrl": spec.tiles_url, "styleUrl": spec.style_url, "palette": list(palette),
                   "minNative": int(spec.minzoom), "maxNative": int(spec.maxzoom), "fillOpacity": float(fill_opacity),
                   "stroke": {"color": stroke.get("color", "#5a4632"), "weight": float(stroke.get("weight", 0.4))},
                   "plannerLayer": layer, "maxZoom": 22, **(points or {})}
        if spec.bounds is not None:  # a county view at zoom 10 spans 64 tile places, a handful hold features
            w, south, e, n = (float(v) for v in spec.bounds)
            options["bounds"] = [[south, w], [n, e]]
        self.options_js = json.dumps(options).replace("</", "<\\/")


def plot_tiles_group(spec: TileLayerSpec, *, palette: list[str], stroke: dict, fill_opacity: float,
                     label: str) -> folium.FeatureGroup:
    """The plots' tile layer as a dynamic feature group."""
    group = folium.FeatureGroup(name=html.escape(label), show=True)
    PlotTiles(spec, palette=palette, stroke=stroke, fill_opacity=fill_opacity).add_to(group)
    return group


# --- the firms from their tiles --------------------------------------------------------------------------------
@dataclass(frozen=True)
class TiledLayer:
    """A point layer drawn from its vector tiles: its feature group and how many of its features are in view."""

    group: folium.FeatureGroup
    n_view: int


def firm_tiles_group(spec: TileLayerSpec, *, label: str) -> folium.FeatureGroup:
    """The firms' tile layer: every firm a small outlined circle in the GeoJSON markers' colours (from zoom 13),
    a small translucent dark dot below."""
    from ui.mapview import LAYER_STYLES

    style = LAYER_STYLES[FIRM_TILES]
    group = folium.FeatureGroup(name=html.escape(label), show=True)
    PlotTiles(spec, palette=[style["fillColor"]], stroke={"color": style["color"], "weight": style["weight"]},
              fill_opacity=style["fillOpacity"], layer=FIRM_TILES,
              points={"pointShape": "circle", "pointSize": 6, "pointStroke": True, "outlineZoom": 13,
                      # below zoom 13 thousands of firms share a screen: small translucent dark dots, the plots
                      # still seen through them
                      "pointLow": {"size": 1.6, "color": _LOW_DOT, "opacity": 0.6}}).add_to(group)
    return group


def firm_tiles(ws, box: tuple | None, actor, lang: str, base_url_path: str = "") -> TiledLayer | None:
    """The firms as a tile layer for the view ``box`` (west, south, east, north), or None when the app's
    routes are not served (``streamlit run app.py``) or the workspace has no firms."""
    from ui import data, tileserver
    from ui.i18n import layer_label

    if not tileserver.mounted() or not ws.has_layer(FIRM_TILES):
        return None
    info = data.tile_set(ws, FIRM_TILES)
    index = data.tile_index(ws, FIRM_TILES)
    towns = tileserver.visible_groups(actor)
    here = tileserver.in_groups(index["group"], towns)
    if box is not None:
        w, s, e, n = box
        here &= ((index["east"].to_numpy() >= w) & (index["west"].to_numpy() <= e)
                 & (index["north"].to_numpy() >= s) & (index["south"].to_numpy() <= n))
    scope = "" if towns is None else tileserver.scope_key(towns)
    spec = TileLayerSpec.of(info, tiles_url=tileserver.vector_tiles_url(FIRM_TILES, info.stamp, base_url_path, scope=scope),
                            style_url=tileserver.style_url(FIRM_TILES, info.stamp, run_id=None, style_by="plain",
                                                           filters=None, base_url_path=base_url_path, scope=scope))
    return TiledLayer(firm_tiles_group(spec, label=layer_label(FIRM_TILES, lang)), int(here.sum()))


def firm_at(ws, lat: float, lng: float, zoom, actor) -> str | None:
    """Credit code of the firm nearest a click, within a few screen pixels (:func:`ui.details.click_tolerance_deg`),
    among the firms ``actor`` may see; None when there is none.  From the tile set's index: no geometry read."""
    from ui import data, tileserver
    from ui.details import click_tolerance_deg

    index = data.tile_index(ws, FIRM_TILES)
    tol = click_tolerance_deg(zoom)
    lon_x, lat_y = index["west"].to_numpy(), index["south"].to_numpy()  # a point's box is the point
    near = ((np.abs(lon_x - lng) <= tol) & (np.abs(lat_y - lat) <= tol)
            & tileserver.in_groups(index["group"], tileserver.visible_groups(actor)))
    if not near.any():
        return None
    hits = np.flatnonzero(near)
    d2 = ((lon_x[hits] - lng) * np.cos(np.radians(lat))) ** 2 + (lat_y[hits] - lat) ** 2
    return str(index["key"].iloc[hits[int(np.argmin(d2))]])


def firm_row(ws, credit_code: str, actor) -> pd.Series | None:
    """One firm's attributes, read from the store by its credit code (None when gone or outside ``actor``'s townships)."""
    from ui import tileserver

    found = ws.read(FIRM_TILES, where_in={"credit_code": [str(credit_code)]}, geometry=False)
    if not len(found):
        return None
    towns = tileserver.visible_groups(actor)
    if towns is not None and ("township_code" not in found.columns or str(found["township_code"].iloc[0]) not in towns):
        return None
    return found.iloc[0]
