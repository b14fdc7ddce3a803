"""Lean layers of the mounted map: GeoJSON with one colour code and escaped tooltip values per feature,
the marks drawn on top, and raster overlays served by the app.

Part of ``ui.mapview`` (which re-exports these names); :func:`check_wgs84` is shared with it.
"""
from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping

import branca.element
import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from geo.errors import CRSMismatchError, MissingCRSError, ParameterError
from geo.web import to_geojson_bytes
from ui._map_legend import MARKS

__all__ = ["LeanGeoJson", "lean_geojson", "highlight_group", "raster_group", "check_wgs84"]


def check_wgs84(name: str, gdf: gpd.GeoDataFrame) -> None:
    if gdf.crs is None:
        raise MissingCRSError(
            f"Layer {name!r} has no CRS; the map needs EPSG:4326 display copies. "
            "Set the CRS of the source and convert with gdf.to_crs(4326) (or geo.web.display_copy).",
            message_zh=f"图层 {name} 没有坐标系;地图需要 EPSG:4326 的显示副本,请先转换。",
        )
    if CRS.from_user_input(gdf.crs).to_epsg() != 4326:
        raise CRSMismatchError(
            f"Layer {name!r} is in {gdf.crs.to_string()}, but the map needs EPSG:4326. "
            "Convert the display copy with gdf.to_crs(4326) (or geo.web.display_copy).",
            message_zh=f"图层 {name} 的坐标系为 {gdf.crs.to_string()},地图需要 EPSG:4326,请先转换。",
        )


class LeanGeoJson(branca.element.MacroElement):
    """A GeoJSON layer with one small colour code and the tooltip values per feature.

    Each feature carries ``{"c": code, "t": [tooltip values…]}`` (values already escaped);
    the browser colours it with ``palette[c]`` and builds the tooltip from ``labels`` — no
    per-feature style objects, no per-id style switch.  The GeoJSON text is inserted as it
    was serialised (``geo.web.to_geojson_bytes``), not re-encoded by folium.  Points are drawn
    as circle markers; everything on the map's canvas renderer.

    Parameters
    ----------
    geojson : str
        FeatureCollection text (EPSG:4326).
    layer : str
        Layer name, kept as ``options.plannerLayer`` (tests and page scripts find layers by it).
    palette : list of str
        Colours indexed by ``properties.c``.
    base : dict
        Leaflet path options shared by every feature.
    color_key : str
        Path option the palette sets (``fillColor`` for areas, ``color`` for lines).
    labels : list of str
        Tooltip row labels (escaped here).
    radius : float
        Circle-marker radius in pixels for point features.
    """

    _template = branca.element.Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = (function () {
            var pal = {{ this.palette_js }}, base = {{ this.base_js }}, key = {{ this.color_key_js }},
                labels = {{ this.labels_js }};
            function style(f) {
                var s = Object.assign({}, base); s[key] = pal[f.properties.c];
                if (key === "color") { s.fillColor = s.color; }
                return s;
            }
            var layer = L.geoJson(null, {
                plannerLayer: {{ this.layer_js }},
                style: style,
                pointToLayer: function (f, latlng) {
                    return L.circleMarker(latlng, Object.assign({radius: {{ this.radius }}}, style(f)));
                },
                onEachFeature: function (f, l) {
                    if (!labels.length) { return; }
                    l.bindTooltip(function () {
                        var t = f.properties.t || [], rows = [];
                        for (var i = 0; i < labels.length; i++) {
                            rows.push("<tr><th>" + labels[i] + "</th><td>" + (t[i] == null ? "—" : t[i]) + "</td></tr>");
                        }
                        return "<table class=\\"planner-tip\\">" + rows.join("") + "</table>";
                    }, {sticky: true});
                }
            });
            layer.addData({{ this.geojson }});
            return layer;
        })();
        {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, geojson: str, *, layer: str, palette: list[str], base: Mapping, color_key: str = "fillColor",
                 labels: Iterable[str] = (), radius: float = 5):
        super().__init__()
        self._name = "LeanGeoJson"
        # JSON text inside a <script>: "</" is broken up so a value can never close the tag.
        safe = lambda obj: json.dumps(obj, ensure_ascii=False).replace("</", "<\\/")  # noqa: E731
        self.geojson = geojson.replace("</", "<\\/")
        self.layer_js = safe(layer)
        self.palette_js = safe(list(palette))
        self.base_js = safe(dict(base))
        self.color_key_js = safe(color_key)
        self.labels_js = safe([html.escape(str(x)) for x in labels])
        self.radius = float(radius)


class _Raw(branca.element.Element):
    """Already-rendered script text: added to the figure as is (branca would compile it as a Jinja template,
    lexing megabytes of GeoJSON on every render)."""

    def __init__(self, text: str):
        super().__init__()
        self._text = text

    def render(self, **kwargs) -> str:
        return self._text


def _render_lean(self, **kwargs) -> None:
    figure = self.get_root()
    if isinstance(figure, branca.element.Figure):
        figure.script.add_child(_Raw(self._template.module.script(self, kwargs)), name=self.get_name())


LeanGeoJson.render = _render_lean


def lean_geojson(gdf: gpd.GeoDataFrame, codes: np.ndarray, tips: pd.DataFrame | None) -> str:
    props = pd.DataFrame({"c": np.asarray(codes, dtype=int)}, index=gdf.index)
    if tips is not None and len(tips.columns):
        props["t"] = list(tips.to_numpy(dtype=object).tolist())
    frame = gpd.GeoDataFrame(props, geometry=gdf.geometry.values, crs=gdf.crs)
    return to_geojson_bytes(frame, list(props.columns)).decode("utf-8")


def highlight_group(gdf: gpd.GeoDataFrame, *, name: str = "selection", color: str | None = None,
                    label: str = "") -> folium.FeatureGroup:
    """Features drawn on top in the style of mark ``name`` (:data:`MARKS`): outlines, or a light fill for a search hit.

    ``name`` is also the layer's ``plannerLayer`` (tests and page scripts find it by it).
    """
    check_wgs84(name, gdf)
    mark = MARKS.get(name, MARKS["selection"])
    style = {"weight": mark["weight"], "opacity": 1.0, "fill": "fillOpacity" in mark,
             "fillOpacity": mark.get("fillOpacity", 0.0)}
    if "dashArray" in mark:
        style["dashArray"] = mark["dashArray"]
    colour = color or mark["color"]
    group = folium.FeatureGroup(name=html.escape(label or name), show=True)
    LeanGeoJson(lean_geojson(gdf[gdf.geometry.notna()], np.zeros(len(gdf), dtype=int), None), layer=name,
                palette=[colour], base=style, color_key="color", radius=9).add_to(group)
    return group


class _ImageOverlay(branca.element.MacroElement):
    """``L.imageOverlay`` of a URL served by the app (never a remote one), tagged with its layer name."""

    _template = branca.element.Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.imageOverlay({{ this.url_js }}, {{ this.bounds_js }},
            {opacity: {{ this.opacity }}, interactive: false, plannerLayer: {{ this.layer_js }},
             className: "planner-raster"}).addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, url: str, bounds, *, layer: str, opacity: float):
        super().__init__()
        self._name = "ImageOverlay"
        if "://" in url or url.startswith("//"):
            raise ParameterError(f"raster overlay URL {url!r} must be served by the app (a path, not a remote URL).",
                                 message_zh=f"栅格叠加地址 {url!r} 必须由本应用提供(路径),不能是外部网址。")
        (s, w), (n, e) = bounds
        self.url_js = json.dumps(url).replace("</", "<\\/")
        self.bounds_js = json.dumps([[float(s), float(w)], [float(n), float(e)]])
        self.layer_js = json.dumps(layer)
        self.opacity = float(opacity)


def raster_group(name: str, url: str, bounds, *, opacity: float = 0.6, label: str = "") -> folium.FeatureGroup:
    """A raster overlay (an image the app renders, ``ui.overlays``) as a feature group; ``bounds`` = ((s, w), (n, e))."""
    group = folium.FeatureGroup(name=html.escape(label or name), show=True)
    _ImageOverlay(url, bounds, layer=f"raster:{name}", opacity=opacity).add_to(group)
    return group
