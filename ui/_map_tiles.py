"""The plots as vector tiles on the mounted map: the browser's renderer and the layer that draws them.

:class:`TileAssets` (added to the base map once) loads pbf and ``static/planner/plot-tiles.js``;
:func:`plot_tiles_group` is the dynamic feature group holding ``L.plannerTiles`` with the URLs of the
tile set and of the colour codes (``ui.tileserver``).  Its script depends only on those URLs, the
palette and the zoom range: panning sends nothing new.  Part of ``ui.mapview`` (which re-exports these
names).
"""
from __future__ import annotations

import html
import json
from dataclasses import dataclass

import branca.element
import folium
from folium.elements import JSCSSMixin

from ui.offline import DEFAULT_BASE_URL

__all__ = ["TileAssets", "PlotTiles", "TileLayerSpec", "plot_tiles_group"]


@dataclass(frozen=True)
class TileLayerSpec:
    """What the browser needs to draw a tile set: tile URL template, colour-code URL, native zoom range and the
    set's bounds in degrees (west, south, east, north): no tile outside them is asked for."""

    tiles_url: str
    style_url: str
    minzoom: int
    maxzoom: int
    bounds: tuple[float, float, float, float] | None = None


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
                 layer: str = "plots"):
        super().__init__()
        self._name = "PlotTiles"
        options = {"tileUrl": spec.tiles_url, "styleUrl": spec.style_url, "palette": list(palette),
                   "minNative": int(spec.minzoom), "maxNative": int(spec.maxzoom), "fillOpacity": float(fill_opacity),
                   "stroke": {"color": stroke.get("color", "#5a4632"), "weight": float(stroke.get("weight", 0.4))},
                   "plannerLayer": layer, "maxZoom": 22}
        if spec.bounds is not None:  # a county view at zoom 10 spans 64 tile places, a handful hold plots
            w, south, e, n = (float(v) for v in spec.bounds)
            options["bounds"] = [[south, w], [n, e]]
        self.options_js = json.dumps(options).replace("</", "<\\/")


def plot_tiles_group(spec: TileLayerSpec, *, palette: list[str], stroke: dict, fill_opacity: float,
                     label: str) -> folium.FeatureGroup:
    """The plots' tile layer as a dynamic feature group."""
    group = folium.FeatureGroup(name=html.escape(label), show=True)
    PlotTiles(spec, palette=palette, stroke=stroke, fill_opacity=fill_opacity).add_to(group)
    return group
