"""The map's legend and marks: a foldable Leaflet control drawn from style tables, and what the page draws on top.

:class:`Legend` (a static map, ``ui.mapview.build_map``) and :class:`DynamicLegend` (the
mounted map, sent with each rerun's feature groups) share the CSS and the fold script; the
fold state is kept in the browser's localStorage.  :data:`MARKS` are the styles of what the
map page draws over the layers (selection, search hit, shortlisted plots, the zoomed-to
area) and their legend rows.  Part of ``ui.mapview`` (which re-exports these names).
"""
from __future__ import annotations

import html
import json

import branca.element
import folium

from ui.i18n import t

__all__ = ["LEGEND_CSS", "Legend", "DynamicLegend", "MARKS", "mark_legend_row"]


# Legend CSS shared by the static legend and the mounted map's header (the dynamic legend has none).
LEGEND_CSS = """
.planner-legend { background: rgba(255,255,255,0.93); padding: 5px 8px; border-radius: 4px;
    box-shadow: 0 1px 4px rgba(0,0,0,0.3); font: 12px/1.4 "WenQuanYi Zen Hei", "Microsoft YaHei",
    sans-serif; color: #222; max-height: 45vh; max-width: 260px; overflow-y: auto; }
.planner-legend-head { cursor: pointer; font-weight: bold; font-size: 13px; user-select: none;
    display: flex; justify-content: space-between; gap: 10px; }
.planner-legend-head .tog::after { content: "\\25BE"; }
.planner-legend.closed .planner-legend-head .tog::after { content: "\\25B8"; }
.planner-legend.closed .planner-legend-body { display: none; }
.planner-legend h5 { margin: 6px 0 2px; font-size: 12px; color: #555; }
.planner-legend .sw { display: inline-block; width: 14px; height: 10px; margin-right: 6px;
    vertical-align: middle; border: 1px solid rgba(0,0,0,0.35); }
.planner-legend .sw.line { height: 0; border: 0; border-top: 3px solid; }
.planner-legend .sw.dash { height: 0; border: 0; border-top: 3px dashed; }
.planner-legend .sw.pt { width: 9px; height: 9px; border-radius: 50%; margin: 0 8px 0 2px; }
.planner-legend .sw.outline { background: transparent !important; border: 2px solid; }
"""
# The legend control's body, shared by the static and the dynamic legend: the heading folds it
# (state kept in the browser's localStorage, so it survives reruns and a new map).
_LEGEND_ON_ADD = """
function (html) {
    var closed = false;
    try { closed = window.localStorage.getItem("plannerLegendClosed") === "1"; } catch (e) {}
    var div = L.DomUtil.create("div", "planner-legend" + (closed ? " closed" : ""));
    div.innerHTML = html;
    var head = div.querySelector(".planner-legend-head");
    if (head) {
        L.DomEvent.on(head, "click", function (e) {
            L.DomEvent.stop(e);
            var now = !div.classList.contains("closed");
            div.classList.toggle("closed", now);
            try { window.localStorage.setItem("plannerLegendClosed", now ? "1" : "0"); } catch (e2) {}
        });
    }
    L.DomEvent.disableClickPropagation(div);
    L.DomEvent.disableScrollPropagation(div);
    return div;
}
"""
# Swatch kinds a legend row may use: fill (square), line, dash (dashed line), pt (circle), outline (hollow square).
_SWATCH_CLASS = {"fill": "sw", "line": "sw line", "dash": "sw dash", "pt": "sw pt", "outline": "sw outline"}


class Legend(branca.element.MacroElement):
    """A foldable legend drawn as a Leaflet control; every swatch carries ``data-color`` for tests.

    Parameters
    ----------
    title : str
        Heading (already in the UI language); a click on it folds the legend.
    sections : list of (heading, [(colour, label, kind)])
        ``kind`` is "fill" (square swatch), "line", "dash", "pt" (a point) or "outline"; labels are escaped here.
    """

    _template = branca.element.Template(
        """
        {% macro header(this, kwargs) %}
        <style>
        {{ this.legend_css }}
        </style>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.control({position: "bottomright"});
        {{ this.get_name() }}.onAdd = function () { return ({{ this.on_add }})({{ this.html_js }}); };
        {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, title: str, sections: list[tuple[str, list[tuple[str, str, str]]]]):
        super().__init__()
        self._name = "Legend"
        self.legend_css = LEGEND_CSS
        self.on_add = _LEGEND_ON_ADD
        self.title = title
        self.sections = sections
        self.html = self.to_html()
        # JSON string literal for the script; "</" broken up so it can never close the <script> tag.
        self.html_js = json.dumps(self.html).replace("</", "<\\/")

    def to_html(self) -> str:
        parts = [f'<div class="planner-legend-head"><span>{html.escape(self.title)}</span>'
                 '<span class="tog"></span></div><div class="planner-legend-body">']
        for heading, rows in self.sections:
            parts.append(f"<h5>{html.escape(heading)}</h5>")
            for colour, label, kind in rows:
                cls = _SWATCH_CLASS.get(kind, "sw")
                prop = "border-top-color" if kind in ("line", "dash") else (
                    "border-color" if kind == "outline" else "background")
                parts.append(
                    f'<div><span class="{cls}" data-color="{html.escape(colour)}" '
                    f'style="{prop}:{html.escape(colour)}"></span>{html.escape(label)}</div>'
                )
        parts.append("</div>")
        return "".join(parts)

    def colors(self) -> dict[str, str]:
        """label → colour of every swatch (what a test compares with the layer styles)."""
        return {label: colour for _, rows in self.sections for colour, label, _ in rows}


class DynamicLegend(Legend):
    """The :class:`Legend` for content sent as a dynamic feature group.

    Rendered inside a ``FeatureGroup`` (so it travels with the dynamic content), it adds its
    control to the map and removes the previous one, so a rerun replaces the legend in place.
    """

    _template = branca.element.Template(
        """
        {% macro script(this, kwargs) %}
        if (window.__plannerLegend) { window.__plannerLegend.remove(); }
        var {{ this.get_name() }} = L.control({position: "bottomright"});
        {{ this.get_name() }}.onAdd = function () { return ({{ this.on_add }})({{ this.html_js }}); };
        window.__plannerLegend = {{ this.get_name() }}.addTo({{ this.map_name }});
        {% endmacro %}
        """
    )

    def render(self, **kwargs):
        parent = self._parent
        while parent is not None and not isinstance(parent, folium.Map):
            parent = getattr(parent, "_parent", None)
        self.map_name = parent.get_name() if parent is not None else "map_div"
        super().render(**kwargs)


# What the page draws on top of the layers, with its legend row (colour, swatch kind).
MARKS: dict[str, dict] = {
    "selection": {"color": "#00e5ff", "weight": 3.5, "label_key": "sel_highlight", "swatch": "outline"},
    "found": {"color": "#00b8d4", "weight": 3.5, "fillOpacity": 0.35, "label_key": "map_found", "swatch": "fill"},
    "shortlisted": {"color": "#8e24aa", "weight": 2.5, "dashArray": "6 4", "label_key": "map_shortlisted",
                    "swatch": "outline"},
    "focus": {"color": "#111111", "weight": 3.0, "dashArray": "10 6", "label_key": "map_focus", "swatch": "dash"},
}


def mark_legend_row(kind: str, lang: str, label: str | None = None) -> tuple[str, str, str]:
    """The legend row of a mark of :data:`MARKS`."""
    mark = MARKS[kind]
    return mark["color"], label or t(mark["label_key"], lang), mark["swatch"]
