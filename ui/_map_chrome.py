"""Tools and texts of the mounted map: the local tile package it may show, Leaflet.draw in the UI language,
the area in 亩 while drawing, Leaflet's own English replaced, the measure tool.

Part of ``ui.mapview`` (which re-exports these names and puts them together in ``mounted_map``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import branca.element
from folium.elements import JSCSSMixin

from ui._map_legend import LEGEND_CSS
from ui.i18n import t
from ui.offline import DEFAULT_BASE_URL

__all__ = ["LocalTiles", "DRAW_LOCAL_ZH", "MapChrome", "MeasureTool"]


@dataclass(frozen=True)
class LocalTiles:
    """A local tile package the app serves (``ui.tileserver``): URL template, name and zoom range."""

    url: str
    name: str
    attribution: str = ""
    min_zoom: int = 0
    max_native_zoom: int = 18
    bounds: tuple[float, float, float, float] | None = None  # (west, south, east, north): no requests outside


# Leaflet.draw's texts (its L.drawLocal object) in Chinese; the English defaults stay for "en".
DRAW_LOCAL_ZH = {
    "draw": {
        "toolbar": {
            "actions": {"title": "取消绘制", "text": "取消"},
            "finish": {"title": "完成绘制", "text": "完成"},
            "undo": {"title": "删除最后一个点", "text": "删除最后一点"},
            "buttons": {"polygon": "画多边形框选地块", "rectangle": "画矩形框选地块"},
        },
        "handlers": {
            "polygon": {"tooltip": {"start": "单击开始绘制多边形。", "cont": "单击继续绘制。",
                                    "end": "单击第一个点闭合多边形。"}},
            "polyline": {"error": "<strong>错误:</strong>边不能相交!",
                         "tooltip": {"start": "单击开始画线。", "cont": "单击继续画线。", "end": "单击最后一点结束。"}},
            "rectangle": {"tooltip": {"start": "按住鼠标拖动画矩形。"}},
            "simpleshape": {"tooltip": {"end": "松开鼠标完成绘制。"}},
        },
    },
    "edit": {
        "toolbar": {
            "actions": {"save": {"title": "保存修改", "text": "保存"},
                        "cancel": {"title": "取消编辑,放弃所有修改", "text": "取消"},
                        "clearAll": {"title": "清除全部框选", "text": "全部清除"}},
            "buttons": {"edit": "编辑图形", "editDisabled": "没有可编辑的图形", "remove": "删除框选图形",
                        "removeDisabled": "没有可删除的图形"},
        },
        "handlers": {"edit": {"tooltip": {"text": "拖动控制点编辑图形。", "subtext": "点击取消放弃修改。"}},
                     "remove": {"tooltip": {"text": "单击要删除的图形。"}}},
    },
}


class MapChrome(branca.element.MacroElement):
    """CSS and small scripts of the mounted map: fill the iframe, legend/tooltip style, tool texts, 亩 while drawing.

    - The map fills its iframe (``100vh``, CSS, so the first fit already sees the final size): the
      page sizes the iframe with the browser window.
    - Leaflet.draw speaks the UI language (``L.drawLocal``) and shows a drawn area in 亩 with
      m² beside (``L.GeometryUtil.readableArea``) — the planner reads the total 亩 of a box
      while drawing it.
    Added before the draw control, which reads ``L.drawLocal`` when it is created.
    """

    _template = branca.element.Template(
        """
        {% macro header(this, kwargs) %}
        <style>
        {{ this.legend_css }}
        table.planner-tip th { text-align: left; padding-right: 8px; color: #555; font-weight: normal; }
        table.planner-tip { font: 12px "WenQuanYi Zen Hei", "Microsoft YaHei", sans-serif; }
        .leaflet-container { font-family: "WenQuanYi Zen Hei", "Microsoft YaHei", sans-serif; }
        .leaflet-draw-tooltip { font-size: 12px; }
        /* the map fills its iframe, which the page sizes with the window (set before the map first fits its view) */
        #map_div.leaflet-container { height: 100vh !important; }
        </style>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        (function (map) {
            window.addEventListener("resize", function () { map.invalidateSize(); });
            // Leaflet's own English: the zoom buttons' titles and the attribution's link to its website
            var zoom = map.zoomControl;
            if (zoom) {
                [[zoom._zoomInButton, {{ this.zoom_in_js }}], [zoom._zoomOutButton, {{ this.zoom_out_js }}]].forEach(
                    function (b) { b[0].title = b[1]; b[0].setAttribute("aria-label", b[1]); });
            }
            if (map.attributionControl) { map.attributionControl.setPrefix("Leaflet"); }
            function merge(into, from) {
                for (var k in from) {
                    if (from[k] && typeof from[k] === "object" && into[k]) { merge(into[k], from[k]); }
                    else { into[k] = from[k]; }
                }
            }
            if (window.L && L.drawLocal) { merge(L.drawLocal, {{ this.draw_local_js }}); }
            if (window.L && L.GeometryUtil) {
                L.GeometryUtil.readableArea = function (area) {
                    var mu = area / (10000 / 15);
                    return mu.toLocaleString("en-US", {maximumFractionDigits: 2}) + " {{ this.mu }}"
                        + {{ this.open_js }} + area.toLocaleString("en-US", {maximumFractionDigits: 0}) + " m²"
                        + {{ this.close_js }};
                };
            }
        })({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, lang: str):
        super().__init__()
        self._name = "MapChrome"
        self.legend_css = LEGEND_CSS
        self.draw_local_js = json.dumps(DRAW_LOCAL_ZH if lang == "zh" else {}, ensure_ascii=False).replace("</", "<\\/")
        self.mu = t("mu", lang)
        self.zoom_in_js, self.zoom_out_js = json.dumps(t("map_zoom_in_button", lang)), json.dumps(t("map_zoom_out_button", lang))
        self.open_js, self.close_js = (json.dumps("("), json.dumps(")")) if lang == "zh" else (json.dumps(" ("),
                                                                                                json.dumps(")"))


class MeasureTool(JSCSSMixin, branca.element.MacroElement):
    """leaflet-measure 3.1.0 (vendored, ``static/leaflet-measure-3.1.0``): distances in m/km, areas in 亩 and m².

    The language build (``leaflet-measure.cn.js`` or ``.en.js``) carries the texts; areas get
    a custom unit 亩 (1 m² = 0.0015 亩).  The Leaflet ≥ 1.8 work-around is folium's (its
    ``MeasureControl``, leaflet-measure issue 171).
    """

    _template = branca.element.Template(
        """
        {% macro script(this, kwargs) %}
        L.Control.Measure.include({
            _setCaptureMarkerIcon: function () {
                this._captureMarker.options.autoPanOnFocus = false;
                this._captureMarker.setIcon(L.divIcon({iconSize: this._map.getSize().multiplyBy(2)}));
            },
        });
        var {{ this.get_name() }} = new L.Control.Measure({{ this.options_js }});
        {{ this._parent.get_name() }}.addControl({{ this.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, lang: str, position: str = "topleft"):
        super().__init__()
        self._name = "MeasureTool"
        build = "cn" if lang == "zh" else "en"
        self.default_js = [("leaflet_measure_js", f"{DEFAULT_BASE_URL}leaflet-measure-3.1.0/leaflet-measure.{build}.js")]
        self.default_css = [("leaflet_measure_css", f"{DEFAULT_BASE_URL}leaflet-measure-3.1.0/leaflet-measure.css")]
        options = {
            "position": position, "primaryLengthUnit": "meters", "secondaryLengthUnit": "kilometers",
            "primaryAreaUnit": "mu", "secondaryAreaUnit": "sqmeters",
            "units": {"mu": {"factor": 0.0015, "display": t("mu", lang), "decimals": 2}},
            "activeColor": "#e67e22", "completedColor": "#d35400", "captureZIndex": 10000,
        }
        self.options_js = json.dumps(options, ensure_ascii=False)
