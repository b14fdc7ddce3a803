"""The planner's map as a pure function: layers in (EPSG:4326 display copies), ``folium.Map`` out.

Split by responsibility: the styles, tooltips, static map and the groups of the mounted map
are here; the legend and marks in :mod:`ui._map_legend`, the lean GeoJSON layers, marks and
raster overlays in :mod:`ui._map_lean`, the mounted map's tools and texts in
:mod:`ui._map_chrome` — all re-exported here.

:func:`build_map` knows nothing of Streamlit, files or the workspace: it is tested by
rendering HTML.  It is put together from parts that the full app (issue 5) reuses when it
keeps one base map mounted and sends layers as dynamic feature groups:

- :func:`base_map` — the empty map: view, base tiles (none by default), background;
- :func:`layer_group` — one layer as a toggleable ``FeatureGroup`` with its style and tooltip;
- :class:`Legend` — an HTML legend drawn from the same style tables that colour the layers.

Every attribute value shown in a tooltip is HTML-escaped here, because folium's
``GeoJsonTooltip`` inserts property values with ``innerHTML`` in the browser.
"""
from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

import branca.element
import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from geo.errors import ParameterError
from geo.web import to_geojson_bytes
from layers.schema import SPECS
from ui._map_chrome import DRAW_LOCAL_ZH, LocalTiles, MapChrome, MeasureTool
from ui._map_lean import LeanGeoJson, check_wgs84, highlight_group, lean_geojson, raster_group
from ui._map_legend import MARKS, DynamicLegend, Legend, mark_legend_row
from ui._map_tiles import TileAssets, TileLayerSpec, plot_tiles_group
from ui.i18n import check_lang, layer_label, t, value_label
from ui.offline import DEFAULT_BASE_URL, trim_map_assets, use_local_assets
from ui.readable import Names, extra_label, format_values

__all__ = [
    "BASEMAPS",
    "STYLE_BY",
    "LAYER_ORDER",
    "LAYER_STYLES",
    "CategoricalStyle",
    "Legend",
    "build_map",
    "base_map",
    "layer_group",
    "plot_colors",
    "plot_codes",
    "palette",
    "style_values",
    "RESULT_STYLES",
    "LeanGeoJson",
    "DynamicLegend",
    "lean_group",
    "plots_group",
    "tooltip_frame",
    "aggregate_group",
    "highlight_group",
    "raster_group",
    "MARKS",
    "mark_legend_row",
    "LocalTiles",
    "MeasureTool",
    "DRAW_LOCAL_ZH",
    "print_layers",
    "legend_sections",
    "mounted_map",
    "view_for_bounds",
    "tianditu_url",
    "display_columns",
    "ordered_layers",
    "TileLayerSpec",
    "plot_tiles_group",
    "tiles_group",
]

BASEMAPS = ("none", "local", "osm", "tianditu_vec", "tianditu_img")
# Draw order, bottom to top: areas under lines under points, big under small.
LAYER_ORDER = ("townships", "constraints", "industrial_parks", "micro_parks", "plots", "infrastructure", "enterprises")
# Layers that start hidden in the layer control (busy or context-only); the planner ticks them on.
HIDDEN_BY_DEFAULT = ("constraints", "enterprises")
FIT_LAYERS = ("plots", "industrial_parks", "micro_parks")  # the initial view frames these when present
BACKGROUND = "#f3f1ea"  # plain paper colour when no base map is drawn (offline default)


@dataclass(frozen=True)
class CategoricalStyle:
    """Fill colours of plots by the values of one field; the legend is drawn from the same table.

    ``classes`` is ``((value, colour, i18n_key_or_None), ...)``; values not listed get ``other``.
    """

    field: str
    title_key: str
    classes: tuple[tuple[str, str, str | None], ...]
    other: str = "#b5b5b5"
    other_key: str = "other"

    def label(self, value: str, key: str | None, lang: str) -> str:
        if key:
            return f"{value} {t(key, lang)}" if self.field == "land_use" else t(key, lang)
        return value_label(value, lang)

    def colors(self, values: pd.Series) -> pd.Series:
        """Colour per row (vectorised map; unmatched and missing values get ``other``)."""
        table = {value: colour for value, colour, _ in self.classes}
        return values.astype("object").map(table).fillna(self.other).astype(str)


STYLE_BY: dict[str, CategoricalStyle] = {
    # GB/T 21010 land-use codes: 0601 industrial, 0604 warehousing (colours of the planning standard palette).
    "land_use": CategoricalStyle(
        "land_use", "style_land_use",
        (("0601", "#BB9674", "lu_0601"), ("0604", "#8761D3", "lu_0604")),
        other="#b5b5b5", other_key="lu_other",
    ),
    "status": CategoricalStyle(
        "status", "style_status",
        (("in_use", "#6a9f58", None), ("under_construction", "#4a7fc1", None),
         ("halted", "#e0a030", None), ("idle", "#c0392b", None)),
    ),
    # Results of an analysis run (ui.data.plot_view): 亩均 class of the main firm, low-efficiency, score, mode.
    "final_class": CategoricalStyle(
        "final_class", "style_class",
        (("A", "#1a9850", "class_A"), ("B", "#91cf60", "class_B"), ("C", "#fdae61", "class_C"),
         ("D", "#d73027", "class_D")),
        other="#cfcfcf", other_key="flt_no_class",
    ),
    "low_efficiency": CategoricalStyle(
        "is_low_efficiency", "style_low_efficiency",
        (("True", "#c0392b", "le_yes"), ("False", "#d5d8dc", "le_no")),
        other="#ffffff", other_key="no_result",
    ),
    # suitability 0–100 in five bands (ColorBrewer RdYlGn), derived by style_values
    "suitability": CategoricalStyle(
        "suitability_band", "style_suitability",
        (("80–100", "#1a9641", None), ("60–80", "#a6d96a", None), ("40–60", "#ffffbf", None),
         ("20–40", "#fdae61", None), ("0–20", "#d7191c", None)),
        other="#ffffff", other_key="no_score",
    ),
    "mode": CategoricalStyle(
        "mode_key", "style_mode",
        (("jigai", "#2c7fb8", "mode_jigai"), ("lianpian", "#7b3294", "mode_lianpian"),
         ("tengtui", "#e66101", "mode_tengtui"), ("tui_er_jin_san", "#f1b6da", "mode_tui_er_jin_san"),
         ("restricted", "#4d4d4d", "mode_restricted")),
        other="#ffffff", other_key="no_mode",
    ),
}
# Which STYLE_BY entries need an analysis run (the page offers them only when the view has results).
RESULT_STYLES = ("final_class", "low_efficiency", "suitability", "mode")
_SUITABILITY_EDGES = (0.0, 20.0, 40.0, 60.0, 80.0, 100.0)

# Static styles of the other layers (Leaflet path options).
LAYER_STYLES: dict[str, dict] = {
    "townships": {"color": "#4d4d4d", "weight": 1.2, "dashArray": "4 3", "fillColor": "#ffffff", "fillOpacity": 0.0},
    "industrial_parks": {"color": "#d35400", "weight": 2.0, "fillColor": "#f5b041", "fillOpacity": 0.12},
    "micro_parks": {"color": "#1f6fa8", "weight": 2.0, "fillColor": "#5dade2", "fillOpacity": 0.18},
    "plots": {"color": "#5a4632", "weight": 0.4, "fillOpacity": 0.85},
    "constraints": {"color": "#2e8b57", "weight": 1.0, "fillColor": "#2e8b57", "fillOpacity": 0.15},
    "infrastructure": {"color": "#555555", "weight": 2.0, "fillColor": "#555555", "fillOpacity": 0.9},
    "enterprises": {"color": "#2c3e50", "weight": 0.8, "fillColor": "#ecf0f1", "fillOpacity": 0.9},
    "_outline": {"color": "#111111", "weight": 2.6, "fill": False},
    "_other": {"color": "#7f8c8d", "weight": 1.2, "fillColor": "#bdc3c7", "fillOpacity": 0.2},
}
# Constraint kinds get their own colours (they overlap; the legend lists them).
CONSTRAINT_COLORS = {
    "ecological_red_line": "#1e8449", "basic_farmland": "#b7c94a", "water_source": "#2e86c1",
    "river_corridor": "#5dade2", "flood_zone": "#85929e", "residential": "#d98cb3",
}
INFRA_COLORS = {
    "expressway": "#c0392b", "national_road": "#e67e22", "provincial_road": "#f1c40f",
    "rail_station": "#8e44ad", "port": "#16a085", "logistics_centre": "#34495e",
}
_LINE_KINDS = {"expressway", "national_road", "provincial_road"}
# Non-core layers whose name says they are the city outline get a bold line, no fill.
_OUTLINE_RE = re.compile(r"(outline|boundary|city|county|admin)", re.IGNORECASE)

# Tooltip fields per core layer (display order); values formatted by _format_column.
TOOLTIP_FIELDS: dict[str, tuple[str, ...]] = {
    "townships": ("name", "kind", "code"),
    "industrial_parks": ("name", "kind", "level", "leading_industries", "planned_area_m2"),
    "micro_parks": ("name", "status", "leading_industry", "area_m2", "floor_area_m2"),
    # lean: 5,000 plots × every extra field is sent on each view; the details panel (issue 5) shows the rest
    "plots": ("plot_id", "land_use", "status", "area_m2", "far", "township_code"),
    "enterprises": ("name", "credit_code", "industry_code", "above_scale", "is_land_holder", "plot_id"),
    "constraints": ("kind", "name"),
    "infrastructure": ("kind", "name"),
}
_MAX_OTHER_FIELDS = 5

_TIANDITU_LAYERS = {"tianditu_vec": ("vec", "cva"), "tianditu_img": ("img", "cia")}
_TIANDITU_KEY_RE = re.compile(r"^[A-Za-z0-9]{8,64}$")


# --- helpers -----------------------------------------------------------------------------------
def _check_choice(name: str, value: str, choices: Iterable[str]) -> str:
    choices = tuple(choices)
    if value not in choices:
        raise ParameterError(
            f"{name}={value!r} is not one of {list(choices)}.",
            message_zh=f"参数 {name}={value!r} 无效,可选:{list(choices)}。",
        )
    return value


def _esc(values: pd.Series) -> pd.Series:
    """HTML-escape every value (strings from users' files reach the browser via innerHTML)."""
    return values.map(lambda v: html.escape(str(v), quote=True))


def _format_column(name: str, field: str, values: pd.Series, lang: str, township_names: Mapping[str, str]) -> pd.Series:
    """Display strings for one tooltip column (:func:`ui.readable.format_values`, short form); escaped by the caller."""
    return format_values(values, field, lang, names=Names(townships=township_names or {}))


def _tooltip_columns(name: str, gdf: gpd.GeoDataFrame, lang: str = "zh") -> list[str]:
    if name in TOOLTIP_FIELDS:
        return [f for f in TOOLTIP_FIELDS[name] if f in gdf.columns]
    # a layer outside the schema: its name in the UI language when it has one (the county outline's
    # name_zh / name_en), else its first fields
    named = [c for c in (f"name_{lang}", "name") if c in gdf.columns][:1]
    if named:
        return named + [c for c in ("adcode", "code") if c in gdf.columns][:1]
    cols = [c for c in gdf.columns if c != gdf.geometry.name]
    return cols[:_MAX_OTHER_FIELDS]


def _field_label(name: str, field: str, lang: str) -> str:
    """The field's label without unit: tooltip values carry their unit (ui.readable)."""
    spec = SPECS.get(name)
    if spec is not None and field in spec.field_names:
        return spec.field(field).label(lang, with_unit=False)
    return extra_label(field, lang) or field


def _feature_collection(gdf: gpd.GeoDataFrame, props: pd.DataFrame) -> dict:
    """GeoJSON dict of ``props`` + geometry (vectorised writer of geo.web).

    Features get positional string ids "0", "1", ...: folium's style switch keys on them
    (short, and never an untrusted value) and :func:`layer_group` colours by position.
    """
    frame = gpd.GeoDataFrame(props.reset_index(drop=True), geometry=gdf.geometry.reset_index(drop=True), crs=gdf.crs)
    fc = json.loads(to_geojson_bytes(frame, list(props.columns)))
    for i, feature in enumerate(fc["features"]):
        feature["id"] = str(i)
    return fc


def display_columns(name: str) -> list[str] | None:
    """Attribute columns the map needs for layer ``name`` (tooltip + styling); None = let the map choose.

    A loader reads only these, so the browser never receives the rest of a layer's attributes.
    """
    if name not in TOOLTIP_FIELDS:
        return None
    cols = list(TOOLTIP_FIELDS[name])
    # plots: what colours them; parks: their id (search, "zoom to", the park filter's outline)
    extra = {"plots": [s.field for s in STYLE_BY.values()], "constraints": ["kind"], "infrastructure": ["kind"],
             "industrial_parks": ["park_id"], "micro_parks": ["park_id"]}
    cols += [c for c in extra.get(name, []) if c not in cols]
    return cols


def style_values(plots: pd.DataFrame, style_by: str) -> pd.Series:
    """The categorical value each plot is coloured by under ``style_by`` (missing → NA), on ``plots.index``.

    Booleans become "True"/"False"; the suitability score (0–100) becomes its band
    ("0–20" … "80–100", upper edge inclusive in the top band).
    """
    style = STYLE_BY[_check_choice("style_by", style_by, STYLE_BY)]
    if style_by == "suitability":
        if "suitability" not in plots.columns:
            return pd.Series(pd.NA, index=plots.index, dtype="object")
        x = pd.to_numeric(plots["suitability"], errors="coerce").astype(float).to_numpy()
        labels = np.array([f"{lo:.0f}–{hi:.0f}" for lo, hi in zip(_SUITABILITY_EDGES[:-1], _SUITABILITY_EDGES[1:])],
                          dtype=object)
        band = np.clip(np.searchsorted(_SUITABILITY_EDGES, x, side="right") - 1, 0, len(labels) - 1)
        return pd.Series(np.where(np.isnan(x), None, labels[band]), index=plots.index, dtype="object")
    if style.field not in plots.columns:
        return pd.Series(pd.NA, index=plots.index, dtype="object")
    values = plots[style.field]
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("object").map({True: "True", False: "False"})
    return values.astype("object").where(values.notna(), None).map(lambda v: v if v is None else str(v))


def plot_colors(plots: pd.DataFrame, style_by: str = "land_use") -> pd.Series:
    """Fill colour of each plot under ``style_by`` (a key of :data:`STYLE_BY`), on ``plots.index``."""
    style = STYLE_BY[_check_choice("style_by", style_by, STYLE_BY)]
    return style.colors(style_values(plots, style_by))


def plot_codes(plots: pd.DataFrame, style_by: str) -> np.ndarray:
    """Small integer per plot: its class's position in ``STYLE_BY[style_by].classes``, ``len(classes)`` = other.

    The browser looks the colour up in :func:`palette` (one short number per feature instead of a
    style object per feature).
    """
    style = STYLE_BY[_check_choice("style_by", style_by, STYLE_BY)]
    pos = {value: i for i, (value, _, _) in enumerate(style.classes)}
    return style_values(plots, style_by).map(pos).fillna(len(style.classes)).astype(int).to_numpy()


def palette(style_by: str) -> list[str]:
    """Colours indexed by :func:`plot_codes` (the last one is ``other``)."""
    style = STYLE_BY[_check_choice("style_by", style_by, STYLE_BY)]
    return [c for _, c, _ in style.classes] + [style.other]


def _feature_colors(name: str, gdf: gpd.GeoDataFrame, style_by: str) -> pd.Series | None:
    """Per-feature fill colour for layers whose colour depends on an attribute, else None."""
    if name == "plots":
        return plot_colors(gdf, style_by)
    if name == "constraints" and "kind" in gdf.columns:
        return gdf["kind"].astype("object").map(CONSTRAINT_COLORS).fillna(LAYER_STYLES["_other"]["fillColor"])
    if name == "infrastructure" and "kind" in gdf.columns:
        return gdf["kind"].astype("object").map(INFRA_COLORS).fillna(LAYER_STYLES["_other"]["color"])
    return None


def _base_style(name: str) -> dict:
    if name in LAYER_STYLES:
        return LAYER_STYLES[name]
    return LAYER_STYLES["_outline"] if _OUTLINE_RE.search(name) else LAYER_STYLES["_other"]


def tianditu_url(layer: str, key: str) -> str:
    """WMTS tile URL template of a Tianditu Web-Mercator layer (``vec``, ``cva``, ``img``, ``cia``)."""
    return (
        f"https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
        f"&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}"
        f"&tk={quote(key, safe='')}"
    )


# --- parts ---------------------------------------------------------------------------------------
class _Background(branca.element.MacroElement):
    """Plain background colour of the map container (no tiles, nothing fetched)."""

    _template = branca.element.Template(
        """
        {% macro header(this, kwargs) %}
        <style>.leaflet-container { background: {{ this.color }}; }</style>
        {% endmacro %}
        """
    )

    def __init__(self, color: str = BACKGROUND):
        super().__init__()
        self._name = "Background"
        self.color = color


class _ScaleBar(branca.element.MacroElement):
    """A metric scale bar (Leaflet's default adds miles, which planners here never use)."""

    _template = branca.element.Template(
        """
        {% macro script(this, kwargs) %}
        L.control.scale({metric: true, imperial: false, maxWidth: 150}).addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self):
        super().__init__()
        self._name = "ScaleBar"


def base_map(
    bounds: tuple[float, float, float, float] | None = None,
    *,
    basemap: str = "none",
    tianditu_key: str | None = None,
    lang: str = "zh",
    tiles: LocalTiles | None = None,
) -> folium.Map:
    """The empty map: canvas renderer, metric scale bar, fitted to ``bounds`` (minx, miny, maxx, maxy in degrees).

    ``basemap="none"`` (default) draws a plain background and fetches nothing; "local" draws
    the office's tile package served by the app itself (``tiles``, :class:`LocalTiles`); "osm"
    and the Tianditu layers need internet (Tianditu also a key, ``tk``).
    """
    check_lang(lang)
    _check_choice("basemap", basemap, BASEMAPS)
    if bounds is not None and not np.all(np.isfinite(bounds)):
        bounds = None
    center = [(bounds[1] + bounds[3]) / 2, (bounds[0] + bounds[2]) / 2] if bounds else [27.78, 120.63]  # Ruian
    m = folium.Map(location=center, zoom_start=11, tiles=None, prefer_canvas=True, control_scale=False,
                   min_zoom=5, max_zoom=19)
    _ScaleBar().add_to(m)
    if basemap == "none":
        _Background().add_to(m)
    elif basemap == "local":
        if tiles is None:
            raise ParameterError(
                "basemap='local' needs a tile package: set PLANNER_TILES to an .mbtiles file or a {z}/{x}/{y} folder.",
                message_zh=t("tiles_none", "zh"),
            )
        _Background().add_to(m)
        extra = {} if tiles.bounds is None else {
            "bounds": [[tiles.bounds[1], tiles.bounds[0]], [tiles.bounds[3], tiles.bounds[2]]]}
        folium.TileLayer(tiles=tiles.url, attr=html.escape(tiles.attribution or tiles.name), name="local_tiles",
                         min_zoom=5, max_zoom=19, max_native_zoom=tiles.max_native_zoom, control=False,
                         **extra).add_to(m)
    elif basemap == "osm":
        folium.TileLayer("OpenStreetMap", name=t("basemap_osm", lang), control=False, max_zoom=19).add_to(m)
    else:
        if not tianditu_key or not _TIANDITU_KEY_RE.match(tianditu_key):
            raise ParameterError(
                f"basemap={basemap!r} needs a Tianditu key (tk): got {tianditu_key!r}. "
                "Set TIANDITU_KEY in the environment or .streamlit/secrets.toml, or use basemap='none'.",
                message_zh=t("tianditu_no_key", "zh"),
            )
        image, labels = _TIANDITU_LAYERS[basemap]
        attr = "© 天地图 Tianditu"
        for layer, overlay in ((image, False), (labels, True)):
            folium.TileLayer(tiles=tianditu_url(layer, tianditu_key), attr=attr, name=f"tianditu_{layer}",
                             subdomains="01234567", max_zoom=18, overlay=overlay, control=False).add_to(m)
    if bounds:
        fit = folium.map.FitBounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])
        # no animation: an animated first fit finishes after a view the page sends to a new map, and undoes it
        fit.options["animate"] = False
        fit.add_to(m)
    return m


def layer_group(
    name: str,
    gdf: gpd.GeoDataFrame,
    *,
    lang: str = "zh",
    style_by: str = "land_use",
    show: bool | None = None,
    township_names: Mapping[str, str] | None = None,
) -> folium.FeatureGroup:
    """One layer as a toggleable ``FeatureGroup`` holding a styled ``GeoJson`` with an escaped tooltip.

    Only the tooltip columns and the geometry are sent to the browser.  Polygons and lines use
    the map's canvas renderer; points are drawn as circle markers (also on canvas).
    """
    check_lang(lang)
    _check_choice("style_by", style_by, STYLE_BY)
    check_wgs84(name, gdf)
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    names = township_names or {}
    cols = _tooltip_columns(name, gdf, lang)
    # object dtype: pandas would infer Arrow strings, which iterate ~10x slower when building GeoJSON
    props = pd.DataFrame(
        {c: _esc(_format_column(name, c, gdf[c], lang, names)) for c in cols}, index=gdf.index, dtype=object
    )
    label = layer_label(name, lang)
    group = folium.FeatureGroup(name=html.escape(label), show=(name not in HIDDEN_BY_DEFAULT) if show is None else show)

    base = dict(_base_style(name))
    colors = _feature_colors(name, gdf, style_by)
    if colors is not None:
        by_id = dict(zip(map(str, range(len(gdf))), colors.to_numpy()))
        colour_key = "color" if name == "infrastructure" else "fillColor"

        def style(feature, _by_id=by_id, _base=base, _key=colour_key):
            out = dict(_base)
            out[_key] = _by_id.get(str(feature.get("id")), _base.get(_key, "#999999"))
            if _key == "color" and name == "infrastructure":
                out["fillColor"] = out["color"]
            return out
    else:
        def style(feature, _base=base):
            return _base

    aliases = [html.escape(_field_label(name, c, lang)) for c in cols]
    tooltip = folium.GeoJsonTooltip(fields=cols, aliases=aliases, sticky=True) if cols else None
    has_points = bool(gdf.geom_type.isin(["Point", "MultiPoint"]).any())
    marker = folium.CircleMarker(radius=3 if name == "enterprises" else 5) if has_points else None
    folium.GeoJson(
        _feature_collection(gdf, props), name=html.escape(label), style_function=style, tooltip=tooltip,
        marker=marker, smooth_factor=1.0,
        # L.geoJson option naming the layer: lets browser tests and later page scripts find it in map._layers
        planner_layer=name,
    ).add_to(group)
    return group


def _legend(layers: Mapping[str, gpd.GeoDataFrame], style_by: str, lang: str) -> Legend:
    return Legend(t("legend", lang), legend_sections(layers, style_by, lang))


def legend_sections(layers: Mapping[str, gpd.GeoDataFrame], style_by: str, lang: str, *,
                    marks: Sequence[tuple[str, str, str]] = (),
                    extra: Sequence[tuple[str, list[tuple[str, str, str]]]] = ()) -> list:
    """Legend sections for the layers drawn (the same tables that colour them): see :class:`Legend`.

    ``marks`` are rows for what the page draws on top (search hit, selection, shortlist,
    chosen township), shown under "标记"; ``extra`` are whole sections (raster overlays).
    """
    sections: list[tuple[str, list[tuple[str, str, str]]]] = []
    if "plots" in layers:
        style = STYLE_BY[style_by]
        rows = [(colour, style.label(value, key, lang), "fill") for value, colour, key in style.classes]
        rows.append((style.other, t(style.other_key, lang), "fill"))
        sections.append((f"{layer_label('plots', lang)} · {t(style.title_key, lang)}", rows))
    rows = [(LAYER_STYLES["_outline"]["color"], layer_label(n, lang), "line")
            for n in layers if n not in SPECS and _OUTLINE_RE.search(n)]
    rows += [(LAYER_STYLES[n]["color"], layer_label(n, lang), "dash") for n in ("townships",) if n in layers]
    rows += [(LAYER_STYLES[n]["fillColor"], layer_label(n, lang), "fill")
             for n in ("industrial_parks", "micro_parks") if n in layers]
    rows += [(LAYER_STYLES[n]["fillColor"], layer_label(n, lang), "pt") for n in ("enterprises",) if n in layers]
    if rows:
        sections.append((t("layers", lang), rows))
    for name, table in (("constraints", CONSTRAINT_COLORS), ("infrastructure", INFRA_COLORS)):
        if name in layers and "kind" in layers[name].columns:
            present = [k for k in table if k in set(layers[name]["kind"].dropna().astype(str))]
            if not present:
                continue
            sections.append((layer_label(name, lang), [
                (table[k], value_label(k, lang), "line" if k in _LINE_KINDS else "fill") for k in present
            ]))
    sections += list(extra)
    if marks:
        sections.append((t("map_marks", lang), list(marks)))
    return sections


def print_layers(layers: Mapping[str, gpd.GeoDataFrame], *, style_by: str = "land_use",
                 marks: Mapping[str, gpd.GeoDataFrame] | None = None) -> list:
    """The layers as :class:`exports.map_print.PrintLayer` s, coloured by the same tables as the web map.

    ``layers`` may be in any one projected CRS (the print draws in metres); ``marks`` are
    drawn on top in the styles of :data:`MARKS`.  Plots are coloured by ``style_by``.
    """
    from matplotlib.colors import to_hex, to_rgba

    from exports.map_print import PrintLayer

    def translucent(colour: str, alpha: float) -> str:  # "#rrggbbaa": one string per feature, vectorisable
        return to_hex(to_rgba(colour, alpha), keep_alpha=True)

    out: list = []
    for name in ordered_layers(layers):
        gdf = layers[name]
        if gdf is None or not len(gdf):
            continue
        base = _base_style(name)
        colors = _feature_colors(name, gdf, style_by)
        points = gdf.geom_type.isin(["Point", "MultiPoint"]).to_numpy()
        lines = gdf.geom_type.isin(["LineString", "MultiLineString"]).to_numpy()
        areas = ~points & ~lines
        dash = "--" if "dashArray" in base else "-"
        if areas.any():
            fill = base.get("fillOpacity", 0.0) if base.get("fill", True) else 0.0
            if fill == 0:
                face = None
            elif colors is not None:
                table = {c: translucent(c, fill) for c in pd.unique(colors[areas])}
                face = colors[areas].map(table).to_numpy()
            else:
                face = translucent(base["fillColor"], fill)
            out.append(PrintLayer(gdf[areas], facecolor=face, edgecolor=base.get("color", "#333333"),
                                  linewidth=max(0.2, base.get("weight", 1.0) * 0.5), linestyle=dash))
        if lines.any():
            edge = colors[lines].to_numpy() if colors is not None else base.get("color", "#333333")
            out.append(PrintLayer(gdf[lines], edgecolor=edge, linewidth=base.get("weight", 1.0) * 0.8, kind="line"))
        if points.any():
            face = colors[points].to_numpy() if colors is not None else base.get("fillColor", "#ffffff")
            out.append(PrintLayer(gdf[points], facecolor=face, edgecolor=base.get("color", "#333333"),
                                  linewidth=0.5, kind="point", markersize=8 if name == "enterprises" else 22))
    for kind, gdf in (marks or {}).items():
        if gdf is None or not len(gdf):
            continue
        mark = MARKS[kind]
        fill = mark.get("fillOpacity", 0.0)
        out.append(PrintLayer(gdf, facecolor=translucent(mark["color"], fill) if fill else None, edgecolor=mark["color"],
                              linewidth=mark["weight"] * 0.6, linestyle="--" if "dashArray" in mark else "-"))
    return out


def ordered_layers(names: Iterable[str]) -> list[str]:
    """Layer names in drawing order, bottom first: outlines, core layers (:data:`LAYER_ORDER`), others."""
    rank = {n: i for i, n in enumerate(LAYER_ORDER)}
    # outlines first (bottom), then core layers in LAYER_ORDER, then other layers by name
    return sorted(names, key=lambda n: (0 if n not in rank and _OUTLINE_RE.search(n) else 1,
                                        rank.get(n, len(rank)), n))


def build_map(
    layers: Mapping[str, gpd.GeoDataFrame],
    *,
    lang: str = "zh",
    basemap: str = "none",
    tianditu_key: str | None = None,
    style_by: str = "land_use",
    visible: Iterable[str] | None = None,
    static_url: str = DEFAULT_BASE_URL,
) -> folium.Map:
    """The planner's map: every layer as a toggleable group, plots coloured by ``style_by``, a legend.

    Parameters
    ----------
    layers : mapping of str to GeoDataFrame
        Display copies in EPSG:4326 (``geo.web.display_copy``), keyed by layer name.
    lang : {"zh", "en"}
        Language of layer names, tooltip labels and the legend.
    basemap : {"none", "osm", "tianditu_vec", "tianditu_img"}
        "none" (default) needs no network; the others fetch tiles.
    tianditu_key : str, optional
        Tianditu ``tk``; required by the Tianditu base maps.
    style_by : {"land_use", "status"}
        Plot attribute that picks the fill colour (:data:`STYLE_BY`).
    visible : iterable of str, optional
        Layers shown initially (default: all but :data:`HIDDEN_BY_DEFAULT`).
    static_url : str
        URL prefix of the vendored ``static/`` folder; every JS/CSS link points there.

    Returns
    -------
    folium.Map
        Fitted to the union of the layers' bounds, with a ``LayerControl`` and a legend.
    """
    check_lang(lang)
    _check_choice("style_by", style_by, STYLE_BY)
    for name, gdf in layers.items():
        check_wgs84(name, gdf)
    # Open on where the planning happens (plots and parks) when shown: the county and its townships
    # include offshore islands 50 km east that would shrink the view of the mainland by half.
    focus = [g for n, g in layers.items() if n in FIT_LAYERS and len(g)]
    non_empty = focus or [g for g in layers.values() if len(g)]
    bounds = None
    if non_empty:
        b = np.array([g.total_bounds for g in non_empty])
        bounds = (b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max())
    m = base_map(bounds, basemap=basemap, tianditu_key=tianditu_key, lang=lang)
    township_names: dict[str, str] = {}
    if "townships" in layers and {"code", "name"} <= set(layers["townships"].columns):
        tw = layers["townships"]
        township_names = dict(zip(tw["code"].astype(str), tw["name"].astype(str)))
    shown = set(visible) if visible is not None else None
    for name in ordered_layers(layers):
        show = None if shown is None else name in shown
        layer_group(name, layers[name], lang=lang, style_by=style_by, show=show,
                    township_names=township_names).add_to(m)
    _legend(layers, style_by, lang).add_to(m)
    folium.LayerControl(position="topright", collapsed=False).add_to(m)
    return use_local_assets(trim_map_assets(m), static_url)


# --- the mounted map (issue 5): a base map sent once, content sent as dynamic feature groups ---------------
def lean_group(
    name: str,
    gdf: gpd.GeoDataFrame,
    *,
    lang: str = "zh",
    style_by: str = "land_use",
    township_names: Mapping[str, str] | None = None,
    label: str | None = None,
    tips: pd.DataFrame | None = None,
) -> folium.FeatureGroup:
    """One layer as a ``FeatureGroup`` holding a :class:`LeanGeoJson` (colours by code, escaped tooltip).

    Same colours and tooltip fields as :func:`layer_group`; fewer bytes per feature.  ``tips``
    (from :func:`tooltip_frame`, e.g. cached for the whole layer) saves formatting them again;
    rows are taken by ``gdf``'s index.
    """
    check_lang(lang)
    check_wgs84(name, gdf)
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    cols = _tooltip_columns(name, gdf, lang)
    if tips is None:
        tips = tooltip_frame(name, gdf, lang=lang, township_names=township_names)
    else:
        tips = tips.loc[gdf.index, cols]
    base = dict(_base_style(name))
    color_key = "color" if name == "infrastructure" else "fillColor"
    if name == "plots":
        pal, codes = palette(style_by), plot_codes(gdf, style_by)
    elif name in ("constraints", "infrastructure") and "kind" in gdf.columns:
        table = CONSTRAINT_COLORS if name == "constraints" else INFRA_COLORS
        kinds = list(table)
        pal = [table[k] for k in kinds] + [LAYER_STYLES["_other"]["fillColor" if name == "constraints" else "color"]]
        codes = gdf["kind"].astype("object").map({k: i for i, k in enumerate(kinds)}).fillna(len(kinds)).astype(int)
    else:
        pal, codes = [base.get(color_key, "#999999")], np.zeros(len(gdf), dtype=int)
    group_label = html.escape(label or layer_label(name, lang))
    group = folium.FeatureGroup(name=group_label, show=True)
    LeanGeoJson(lean_geojson(gdf, codes, tips), layer=name, palette=pal, base=base, color_key=color_key,
                labels=[_field_label(name, c, lang) for c in cols],
                radius=3 if name == "enterprises" else 5).add_to(group)
    return group


def tooltip_frame(name: str, gdf: pd.DataFrame, *, lang: str = "zh",
                  township_names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The escaped tooltip strings of layer ``name`` (columns = its tooltip fields), on ``gdf.index``."""
    cols = _tooltip_columns(name, gdf, lang)
    names = township_names or {}
    return pd.DataFrame({c: _esc(_format_column(name, c, gdf[c], lang, names)) for c in cols}, index=gdf.index,
                        dtype=object)


def plots_group(plots: gpd.GeoDataFrame, *, style_by: str, lang: str = "zh",
                township_names: Mapping[str, str] | None = None, tips: pd.DataFrame | None = None
                ) -> folium.FeatureGroup:
    """The plots (already filtered and cut to the view) coloured by ``style_by``."""
    _check_choice("style_by", style_by, STYLE_BY)
    return lean_group("plots", plots, lang=lang, style_by=style_by, township_names=township_names, tips=tips)


def tiles_group(spec: TileLayerSpec, *, style_by: str, lang: str = "zh") -> folium.FeatureGroup:
    """The plots as vector tiles (every plot of the workspace), coloured as :func:`plots_group` colours them."""
    _check_choice("style_by", style_by, STYLE_BY)
    base = _base_style("plots")
    return plot_tiles_group(spec, palette=palette(style_by), stroke=base, fill_opacity=base.get("fillOpacity", 0.85),
                            label=layer_label("plots", lang))


def aggregate_group(townships: gpd.GeoDataFrame, counts: pd.Series, area_mu: pd.Series, *, lang: str = "zh",
                    ) -> tuple[folium.FeatureGroup, list]:
    """Township choropleth of the plots passing the filters (shown at low zoom instead of the plots).

    ``counts`` / ``area_mu`` are indexed by township code.  Five quantile classes of the count
    (YlOrBr); returns the group and its legend section.
    """
    check_wgs84("townships", townships)
    codes = townships["code"].astype(str)
    n = codes.map(counts).fillna(0).astype(int).to_numpy()
    mu = codes.map(area_mu).fillna(0.0).astype(float).to_numpy()
    colours = ["#ffffd4", "#fed98e", "#fe9929", "#d95f0e", "#993404"]
    positive = n[n > 0]
    edges = np.unique(np.quantile(positive, [0.2, 0.4, 0.6, 0.8])) if len(positive) else np.array([])
    cls = np.where(n > 0, np.searchsorted(edges, n, side="left"), -1)
    pal = colours[: len(edges) + 1] + ["#f7f7f7"]
    code = np.where(cls < 0, len(pal) - 1, cls)
    name_col = townships["name"].astype(str) if "name" in townships.columns else codes
    unit = t("mu", lang)
    tips = pd.DataFrame({"name": _esc(name_col), "n": [f"{v:,}" for v in n],
                         "mu": [f"{v:,.1f} {unit}" for v in mu]}, index=townships.index, dtype=object)
    group = folium.FeatureGroup(name=html.escape(t("map_aggregate", lang)), show=True)
    LeanGeoJson(lean_geojson(townships, code, tips), layer="township_aggregates", palette=pal,
                base={"color": "#555555", "weight": 1.0, "fillOpacity": 0.75}, color_key="fillColor",
                labels=[t("flt_townships", lang), t("map_n_plots", lang), t("map_area_mu", lang)]).add_to(group)
    # class i holds counts in (edges[i-1], edges[i]] (class 0 from 1; the last one above the top edge)
    lows = [1] + [int(np.floor(e)) + 1 for e in edges]
    highs = [int(np.floor(e)) for e in edges] + [int(n.max()) if len(n) else 0]
    rows = [(pal[i], f"{lows[i]:,}–{highs[i]:,}" if lows[i] < highs[i] else f"{highs[i]:,}", "fill")
            for i in range(len(pal) - 1) if lows[i] <= highs[i]]
    rows.append((pal[-1], "0", "fill"))
    return group, [(t("map_aggregate", lang), rows)]


def mounted_map(bounds: tuple[float, float, float, float] | None, *, basemap: str = "none",
                tianditu_key: str | None = None, lang: str = "zh", static_url: str = DEFAULT_BASE_URL,
                draw: bool = True, tiles: LocalTiles | None = None) -> folium.Map:
    """The base map the page keeps mounted: view, base tiles, tools, CSS — and no data.

    Tools: fullscreen (Leaflet.fullscreen), draw a rectangle or polygon to select plots
    (Leaflet.draw, in the UI language, area in 亩 while drawing), measure distances and areas
    (leaflet-measure), a metric scale bar.  Layers, legend and selection are sent as dynamic
    feature groups, so changing them never rebuilds the map.  Its script must stay the same
    across reruns (streamlit-folium keys the component on it): it depends only on the arguments.
    """
    from folium.plugins import Draw, Fullscreen

    m = base_map(bounds, basemap=basemap, tianditu_key=tianditu_key, lang=lang, tiles=tiles)
    MapChrome(lang).add_to(m)
    Fullscreen(position="topleft", title=t("map_fullscreen", lang), title_cancel=t("map_fullscreen_exit", lang),
               force_separate_button=True).add_to(m)
    if draw:
        Draw(export=False, position="topleft",
             draw_options={"polyline": False, "circle": False, "marker": False, "circlemarker": False,
                           "polygon": {"allowIntersection": False, "showArea": True, "metric": True,
                                       "shapeOptions": {"color": "#ff00aa"}},
                           "rectangle": {"showArea": True, "metric": True, "shapeOptions": {"color": "#ff00aa"}}},
             edit_options={"edit": False, "remove": True}).add_to(m)
    MeasureTool(lang).add_to(m)
    TileAssets().add_to(m)  # the plots' vector-tile renderer, for when they come as tiles
    return use_local_assets(trim_map_assets(m), static_url)


def view_for_bounds(bounds: tuple[float, float, float, float], *, width_px: int = 900, height_px: int = 640,
                    max_zoom: int = 18) -> tuple[tuple[float, float], int]:
    """Centre (lat, lon) and the largest Web-Mercator zoom that shows ``bounds`` in a map of that size.

    zoom = floor(log2(min(width · 360 / (256 · Δlon), height · 360 / (256 · Δy)))), with Δy the
    Mercator-stretched latitude span in degrees.
    """
    west, south, east, north = (float(v) for v in bounds)
    center = ((south + north) / 2, (west + east) / 2)

    def merc(lat):
        return np.degrees(np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)))

    dlon = max(east - west, 1e-6)
    dy = max(merc(north) - merc(south), 1e-6)
    z = np.floor(np.log2(min(width_px * 360 / (256 * dlon), height_px * 360 / (256 * dy))))
    return center, int(max(1, min(max_zoom, z)))
