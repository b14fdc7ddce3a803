"""The map page in Debian's chromium, as a planner meets it (issue 12): the bugs they met, and the tools they expect.

The app runs as ``./run.sh app`` does (``streamlit run server.py``: Streamlit plus the routes
for the local tile package and the raster overlays) on a copy of the sample with one run,
with ``PLANNER_TILES`` set to a small MBTiles package drawn from the sample's own layers.
Every request that is not for 127.0.0.1/localhost is aborted and recorded
(``offline_page``): the last assertion of each test is that none was made.

Each bug test failed before its fix (see the report of issue 12): the search picker rebuilt
the map and later searches did not zoom; townships and parks were not found; a hit outside
the filters showed nothing; drawing a box replaced the details panel; the view was lost on a
page switch or another base map; a run from the sidebar left the page on the old run.
"""
from __future__ import annotations

import re
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
import pytest

from tests.test_browser import (  # noqa: F401  (fixtures)
    JS_GEO,
    JS_GO_TO,
    JS_POINT_OF,
    MAP_IFRAME,
    ROOT,
    _choose,
    _idle,
    _map_frame,
    offline_page,
    serve_app,
    sign_in,
    workspace_copy,
)

pytestmark = pytest.mark.browser

SEARCH = ".st-key-map_search input"
# [lat, lng, zoom] of the map in the iframe
JS_VIEW = "() => [window.map.getCenter().lat, window.map.getCenter().lng, window.map.getZoom()]"
JS_FEATURES = """(name) => { const g = (%s)(name); return g ? g.getLayers().length : 0; }""" % JS_GEO  # noqa: UP031  (JS braces)
JS_SET_VIEW = "([lat, lng, z]) => { window.map.setView([lat, lng], z, {animate: false}); return true; }"
JS_IN_VIEW = "([lat, lng]) => window.map.getBounds().contains([lat, lng])"


@pytest.fixture(scope="module")
def tile_package(sample_path, tmp_path_factory) -> Path:
    from tests.tiles_sample import build_sample_mbtiles

    return build_sample_mbtiles(sample_path, tmp_path_factory.mktemp("tiles") / "base.mbtiles", zooms=(9, 10, 11, 12))


@pytest.fixture(scope="module")
def map_app(workspace_copy, tile_package, tmp_path_factory):
    """``streamlit run server.py`` (app + tile and raster routes) with the sample copy and the tile package."""
    with serve_app(workspace_copy, tmp_path_factory.mktemp("streamlit"), script="server.py",
                   PLANNER_TILES=str(tile_package)) as url:
        yield url


@pytest.fixture(scope="module")
def view_df(workspace_copy):
    """The map's plot view (attributes only) with each plot's outline in degrees, as the tests look plots up."""
    import geopandas as gpd

    from layers.store import open_workspace
    from ui.data import plot_view

    ws = open_workspace(workspace_copy)
    view = plot_view(ws)
    outlines = ws.read("plots", columns=["plot_id"]).to_crs(4326).set_index("plot_id").geometry
    return gpd.GeoDataFrame(view, geometry=outlines.reindex(view["plot_id"].astype(str)).to_numpy(), crs=4326)


def _open_map(page, url):
    if not getattr(page, "signed_in", False):
        sign_in(page, url, "planner", "ruian-planner")  # a demo account of the sample
        page.signed_in = True
    page.goto(url + "map")
    frame = _map_frame(page)
    _idle(page, 800)
    return frame


def _search(page, text: str) -> None:
    box = page.locator(SEARCH)
    box.fill(text)
    box.press("Enter")
    _idle(page, 900)


def _mark(frame) -> int:
    return frame.evaluate("() => { window.__mountedMarker = window.__mountedMarker || Math.random(); "
                          "return window.__mountedMarker; }")


def _assert_offline(page) -> None:
    assert page.js_errors == []
    assert page.blocked == [], f"the page tried to reach the network: {page.blocked}"


def _main_text(page) -> str:
    return page.locator("[data-testid='stMain']").first.inner_text()


# --- bug 2: search ----------------------------------------------------------------------------------------------
def test_several_hits_keep_the_map_and_every_later_search_flies(map_app, offline_page, view_df, workspace_copy):
    from layers.store import open_workspace
    from ui.map_search import search_places

    page = offline_page
    frame = _open_map(page, map_app)
    mounted = _mark(frame)
    _search(page, "机械")
    page.locator(".st-key-map_search_pick").wait_for(timeout=60_000)
    _idle(page)
    assert frame.evaluate("() => window.__mountedMarker") == mounted  # the picker did not rebuild the map
    ws = open_workspace(workspace_copy)
    parks = pd.concat([pd.DataFrame(ws.read(n)).drop(columns="geometry") for n in ("industrial_parks", "micro_parks")])
    expected = search_places("机械", plots=view_df[["plot_id"]], firms=ws.read("enterprises"),
                             townships=pd.DataFrame(ws.read("townships")).drop(columns="geometry"), parks=parks)
    assert expected.total > 20  # the sample has hundreds of 机械 firms
    assert f"共找到 {expected.total:,} 个结果,只列出前 20 个" in _main_text(page), _main_text(page)[:600]
    frame.wait_for_function("() => window.map.getZoom() >= 13", timeout=60_000)  # flew to the first hit
    for pid in ("P000020", "P000321", "P000020"):  # zoom out between searches; the same place twice still flies
        frame.evaluate(JS_SET_VIEW, [27.8, 120.6, 10])
        _idle(page, 900)
        _search(page, pid)
        row = view_df.set_index("plot_id").loc[pid]
        c = row.geometry.centroid
        frame.wait_for_function(f"() => window.map.getZoom() >= 15 && ({JS_IN_VIEW})([{c.y}, {c.x}])", timeout=60_000)
        assert frame.evaluate("() => window.__mountedMarker") == mounted
    _assert_offline(page)


def test_townships_and_parks_are_found_framed_and_outlined(map_app, offline_page, workspace_copy):
    from layers.store import open_workspace

    ws = open_workspace(workspace_copy)
    town = ws.read("townships").to_crs(4326).set_index("name").loc["塘下镇"]
    park = ws.read("industrial_parks").to_crs(4326).iloc[0]
    page = offline_page
    frame = _open_map(page, map_app)
    _search(page, "塘下镇")
    assert "没有找到" not in _main_text(page)
    frame.wait_for_function(f"() => ({JS_FEATURES})('focus') === 1", timeout=60_000)
    w, s, e, n = town.geometry.bounds
    frame.wait_for_function(f"() => window.map.getBounds().contains([[{s}, {w}], [{n}, {e}]])", timeout=60_000)
    assert frame.evaluate("() => window.map.getZoom()") >= 11  # framed, not the whole county
    assert "定位范围" in frame.locator(".planner-legend").inner_text()
    # "zoom to" a park from the list: outlined and framed too
    _search(page, "")
    _choose(page, "缩放至镇街或园区", park["name"])
    _idle(page, 900)
    w, s, e, n = park.geometry.bounds
    frame.wait_for_function(f"() => window.map.getBounds().contains([[{s}, {w}], [{n}, {e}]]) "
                            f"&& ({JS_FEATURES})('focus') === 1", timeout=60_000)
    page.screenshot(path=str(ROOT / "artifacts" / "map_zoom_to_park.png"))
    _assert_offline(page)


def test_a_hit_outside_the_filters_is_marked_and_explained(map_app, offline_page, view_df):
    page = offline_page
    frame = _open_map(page, map_app)
    inside = view_df[view_df["township_name"] == "安阳街道"]
    outside = view_df[(view_df["township_name"] != "安阳街道") & view_df["township_name"].notna()].iloc[0]
    _choose(page, "镇街", "安阳街道")
    page.get_by_text(f"筛选后共 {len(inside):,} / {len(view_df):,}", exact=False).wait_for(timeout=60_000)
    _idle(page)
    _search(page, outside["plot_id"])
    page.get_by_text(f"地块 {outside['plot_id']} 不符合当前筛选条件", exact=False).wait_for(timeout=60_000)
    frame.wait_for_function(f"() => ({JS_FEATURES})('found') === 1", timeout=60_000)
    assert "另有 1 个搜索结果不在筛选范围内" in _main_text(page)
    assert "搜索结果" in frame.locator(".planner-legend").inner_text()
    page.get_by_role("heading", name=f"要素详情 · {outside['plot_id']}").wait_for(timeout=60_000)
    page.screenshot(path=str(ROOT / "artifacts" / "map_hit_outside_filter.png"))
    _assert_offline(page)


# --- bug 5: drawing is not a click ---------------------------------------------------------------------------------
def test_drawing_a_rectangle_keeps_the_details_and_totals_the_mu(map_app, offline_page, view_df):
    page = offline_page
    frame = _open_map(page, map_app)
    pid = "P000100"
    frame.evaluate(JS_GO_TO, pid)
    _idle(page, 900)
    frame.wait_for_function(f"() => ({JS_POINT_OF})({pid!r}) !== null", timeout=60_000)
    pt = frame.evaluate(JS_POINT_OF, pid)
    box = page.locator(MAP_IFRAME).bounding_box()
    page.mouse.click(box["x"] + pt["x"], box["y"] + pt["y"])
    heading = page.get_by_role("heading", name=f"要素详情 · {pid}")
    heading.wait_for(timeout=60_000)
    _idle(page)
    # the rectangle tool speaks Chinese (Leaflet.draw's L.drawLocal) and shows 亩 while drawing
    tool = frame.locator(".leaflet-draw-draw-rectangle")
    assert tool.get_attribute("title") == "画矩形框选地块"
    tool.click()
    x0, y0 = box["x"] + pt["x"] + 60, box["y"] + pt["y"] + 60  # starts and ends away from the plot
    page.mouse.move(x0, y0)
    assert "按住鼠标拖动画矩形" in frame.locator(".leaflet-draw-tooltip").inner_text()
    page.mouse.down()
    page.mouse.move(x0 + 150, y0 + 120, steps=8)
    assert "亩" in frame.locator(".leaflet-draw-tooltip").inner_text()
    page.mouse.up()
    page.wait_for_timeout(1500)
    _idle(page, 1000)
    assert heading.count() == 1  # the mouse-up that ended the drawing did not pick another feature
    assert re.search(r"框选范围 [\d,.]+ 亩;其中符合筛选条件的地块 [\d,]+ 块,合计 [\d,.]+ 亩", _main_text(page))
    _assert_offline(page)


# --- bug 6: the view is kept; a new run is shown --------------------------------------------------------------------
def test_the_view_survives_page_switches_base_maps_and_languages(map_app, offline_page):
    page = offline_page
    frame = _open_map(page, map_app)
    frame.evaluate(JS_GO_TO, "P000100")
    _idle(page, 1200)
    lat, lng, zoom = frame.evaluate(JS_VIEW)
    assert zoom == 17

    def same_view(frame):  # within a few pixels (1e-5° ≈ 1 px at zoom 17): a resized frame re-centres to a pixel
        frame.wait_for_function(f"() => window.map && window.map.getZoom() === {zoom} && "
                                f"Math.abs(window.map.getCenter().lat - {lat}) < 5e-5 && "
                                f"Math.abs(window.map.getCenter().lng - {lng}) < 5e-5", timeout=60_000)

    page.get_by_role("link", name="候选清单").click()
    page.get_by_text("候选清单", exact=False).first.wait_for(timeout=60_000)
    _idle(page)
    page.get_by_role("link", name="地图浏览").click()
    same_view(_map_frame(page))
    _idle(page)
    _choose(page, "底图", "无底图(离线)")
    _idle(page, 1200)
    same_view(_map_frame(page))
    _choose(page, "底图", "本地切片底图(离线)")
    _idle(page, 1200)
    same_view(_map_frame(page))
    # …and a map the browser holds is sent no view on a rerun: pan, and before the map reports it (250 ms)
    # start a rerun; a view sent with it would throw the map back to where it was
    frame = _map_frame(page)
    frame.evaluate(JS_SET_VIEW, [lat + 0.001, lng, zoom])
    page.get_by_text("企业", exact=True).click()
    _idle(page, 1500)
    assert frame.evaluate(JS_VIEW)[0] == pytest.approx(lat + 0.001, abs=5e-5)
    frame.evaluate(JS_SET_VIEW, [lat, lng, zoom])
    _idle(page, 1200)
    page.get_by_text("English", exact=True).click()
    _idle(page, 1200)
    same_view(_map_frame(page))
    page.get_by_text("中文", exact=True).click()
    _idle(page, 1200)
    _assert_offline(page)


# --- the tools planners expect ---------------------------------------------------------------------------------------
def test_root_opens_the_map_on_the_local_tile_package(map_app, offline_page):
    page = offline_page
    sign_in(page, map_app, "planner", "ruian-planner")
    page.signed_in = True
    page.goto(map_app)
    frame = _map_frame(page)
    assert urlparse(page.url).path == "/map"
    assert page.get_by_role("combobox", name="底图", exact=True).input_value() == "本地切片底图(离线)"
    frame.wait_for_function("() => Array.from(document.querySelectorAll('.leaflet-tile-pane img'))"
                            ".filter(i => i.src.includes('/_planner/tiles/') && i.complete && i.naturalWidth === 256)"
                            ".length >= 2", timeout=60_000)
    assert frame.locator(".leaflet-control-layers").count() == 0  # one set of layer toggles: the sidebar's
    _idle(page, 800)
    page.screenshot(path=str(ROOT / "artifacts" / "map_local_tiles.png"))
    assert page.request.get(map_app + "_planner/tiles/0/0/0").status == 404  # a tile outside the package
    with pytest.raises(urllib.error.HTTPError) as err:  # a browser that has not signed in: refused
        urllib.request.urlopen(map_app + "_planner/tiles/0/0/0")
    err.value.close()
    assert err.value.code == 403
    _assert_offline(page)


def test_fullscreen_measure_and_the_legend_fold(map_app, offline_page):
    page = offline_page
    frame = _open_map(page, map_app)
    fs = frame.locator(".leaflet-control-zoom-fullscreen")
    assert fs.get_attribute("title") == "全屏显示"
    fs.click()
    frame.wait_for_function("() => window.map._isFullscreen === true", timeout=30_000)
    fs.click()
    frame.wait_for_function("() => window.map._isFullscreen === false", timeout=30_000)
    # measure an area: three clicks, finish, the result popup in 亩 and m
    frame.locator(".leaflet-control-measure").hover()
    frame.locator(".leaflet-control-measure .js-start").click()
    box = page.locator(MAP_IFRAME).bounding_box()
    for dx, dy in ((200, 200), (400, 200), (400, 380)):
        page.mouse.click(box["x"] + dx, box["y"] + dy)
        page.wait_for_timeout(250)
    frame.locator(".leaflet-control-measure .js-finish").click()
    popup = frame.locator(".leaflet-popup-content")
    popup.wait_for(timeout=30_000)
    text = popup.inner_text()
    assert "面积" in text and "亩" in text and "平方米" in text and "周长" in text
    # the legend folds and stays folded across reruns
    head = frame.locator(".planner-legend-head")
    head.click()
    assert frame.locator(".planner-legend-body").is_hidden()
    page.get_by_text("企业", exact=True).click()  # a rerun that sends new content (and a new legend)
    _idle(page, 1200)
    frame.wait_for_function(f"() => ({JS_FEATURES})('enterprises') > 0", timeout=60_000)
    assert "closed" in frame.locator(".planner-legend").get_attribute("class").split()
    head.click()
    assert "企业" in frame.locator(".planner-legend-body").inner_text()  # enterprises are in the legend
    _assert_offline(page)


def test_raster_overlays_toggle_with_their_legend(map_app, offline_page):
    page = offline_page
    frame = _open_map(page, map_app)
    page.get_by_text("坡度(°)", exact=True).click()
    _idle(page, 1200)
    frame.wait_for_function("() => Array.from(document.querySelectorAll('img.planner-raster'))"
                            ".some(i => i.src.includes('/_planner/raster/slope.png') && i.complete && i.naturalWidth > 100)",
                            timeout=60_000)
    legend = frame.locator(".planner-legend").inner_text()
    assert "坡度(°)" in legend and "15–25°" in legend and "< 2°" in legend
    page.get_by_text("洪涝淹没水深(m)", exact=True).click()
    _idle(page, 1200)
    frame.wait_for_function("() => document.querySelectorAll('img.planner-raster').length === 2", timeout=60_000)
    page.get_by_text("坡度(°)", exact=True).click()
    page.get_by_text("洪涝淹没水深(m)", exact=True).click()
    _idle(page, 1200)
    frame.wait_for_function("() => document.querySelectorAll('img.planner-raster').length === 0", timeout=60_000)
    _assert_offline(page)


def test_print_the_current_view_as_png_and_pdf(map_app, offline_page, tmp_path):
    from PIL import Image

    page = offline_page
    _open_map(page, map_app)
    _choose(page, "缩放至镇街或园区", "塘下镇")
    _idle(page, 1500)
    page.get_by_text("导出当前地图", exact=True).click()
    page.get_by_role("button", name="生成").click()
    page.get_by_role("button", name="下载 PNG").wait_for(timeout=120_000)
    with page.expect_download(timeout=120_000) as dl:
        page.get_by_role("button", name="下载 PNG").click()
    png = tmp_path / "map.png"
    dl.value.save_as(png)
    with Image.open(png) as img:
        width, height = img.size
    assert abs(width - 1754) <= 1 and abs(height - 1240) <= 1  # A4 landscape at 150 dpi
    page.get_by_text("PDF", exact=True).click()
    page.get_by_role("button", name="生成").click()
    page.get_by_role("button", name="下载 PDF").wait_for(timeout=120_000)
    with page.expect_download(timeout=120_000) as dl:
        page.get_by_role("button", name="下载 PDF").click()
    pdf = tmp_path / "map.pdf"
    dl.value.save_as(pdf)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    for expected in ("塘下镇地块图", "图例", "0601 工业用地", "定位范围", "北", "km", "EPSG:4549"):
        assert expected in text, expected
    _assert_offline(page)


def test_shortlisted_plots_are_marked(map_app, offline_page):
    page = offline_page
    frame = _open_map(page, map_app)
    pid = "P000101"
    _search(page, pid)
    page.get_by_role("heading", name=f"要素详情 · {pid}").wait_for(timeout=60_000)
    page.get_by_role("button", name="加入清单", exact=True).click()
    page.get_by_text(f"已将 {pid} 加入清单", exact=False).wait_for(timeout=60_000)
    _idle(page, 900)
    frame.wait_for_function(f"() => ({JS_FEATURES})('shortlisted') >= 1", timeout=60_000)
    assert "已在候选清单" in frame.locator(".planner-legend").inner_text()
    _assert_offline(page)


# --- readable values, no English in the Chinese UI, English in the English UI ------------------------------------------
# ASCII words a Chinese screen may show: codes, units, names of standards and products.
_ALLOWED = {"GB", "T", "m", "km", "mu", "PNG", "PDF", "Leaflet", "EPSG", "ruian", "gpkg", "ruian_default", "browser",
            "planner", "English", "Language", "tce", "kWh", "IP", "MP", "P", "A", "B", "C", "D", "x", "keyboard_arrow_right",
            "keyboard_arrow_down", "expand_more", "expand_less", "arrow_drop_down", "close", "check"}


def _ascii_words(text: str) -> set[str]:
    words = set(re.findall(r"[A-Za-z_]{1,}", text))
    return {w for w in words if w not in _ALLOWED and not re.fullmatch(r"[A-Z]{1,3}\d*", w)}


def test_no_raw_values_or_english_on_the_chinese_map_and_english_on_the_english_one(map_app, offline_page, view_df):
    page = offline_page
    frame = _open_map(page, map_app)
    row = view_df[view_df["is_low_efficiency"].astype(bool) & view_df["suitability"].notna()].iloc[0]
    _search(page, row["plot_id"])
    page.get_by_role("heading", name=f"要素详情 · {row['plot_id']}").wait_for(timeout=60_000)
    page.get_by_text("分析结果", exact=True).click()
    _idle(page, 1500)
    page.screenshot(path=str(ROOT / "artifacts" / "map_details_zh.png"), full_page=True)
    main = _main_text(page) + "\n" + page.locator("[data-testid='stSidebarUserContent']").inner_text()
    chrome = "\n".join(frame.locator(sel).first.inner_text() for sel in (".planner-legend",)) + "\n" + \
        "\n".join(frame.evaluate("() => Array.from(document.querySelectorAll('.leaflet-control a[title]'))"
                                 ".map(a => a.title)"))
    for raw in ("None", "nan", "True", "False", "halted", "in_use", "industrial_park", "tengtui", "not_candidate"):
        assert not re.search(rf"\b{raw}\b", main), raw
    assert not _ascii_words(main + "\n" + chrome), sorted(_ascii_words(main + "\n" + chrome))
    page.get_by_role("combobox", name="镇街", exact=True).click()  # a filter list, open: no "Select all"
    page.keyboard.press("ArrowDown")
    page.get_by_role("option", name="安阳街道").first.wait_for(timeout=30_000)
    assert page.get_by_text("Select all").count() == 0
    page.keyboard.press("Escape")
    # (table cells are drawn on a canvas, not in the DOM: their values are checked in test_app and the screenshots)
    # the same screen in English: the map's own texts are English
    page.get_by_text("English", exact=True).click()
    _idle(page, 1500)
    frame = _map_frame(page)
    page.get_by_role("heading", name=f"Details · {row['plot_id']}").wait_for(timeout=60_000)
    _idle(page, 1500)
    page.screenshot(path=str(ROOT / "artifacts" / "map_details_en.png"), full_page=True)
    # choices made in Chinese are shown in English (a select box kept the label it was chosen with)
    assert page.get_by_role("combobox", name="Colour plots by", exact=True).input_value() == "Land use"
    assert page.get_by_role("combobox", name="Base map", exact=True).input_value() == "Local tile package (offline)"
    legend = frame.locator(".planner-legend").inner_text()
    titles = frame.evaluate("() => Array.from(document.querySelectorAll('.leaflet-control a[title]')).map(a => a.title)")
    cjk = re.compile(r"[\u4e00-\u9fff]")
    assert not cjk.search(legend) and not any(cjk.search(x) for x in titles), (legend, titles)
    panel = _main_text(page)
    for zh in ("亩均", "低效", "触发", "评分", "地块上的企业", "筛选", "万元"):
        assert zh not in panel, zh
    page.get_by_text("中文", exact=True).click()
    _idle(page, 1200)
    _assert_offline(page)


def test_a_run_made_from_the_sidebar_is_the_one_shown_and_says_so(map_app, offline_page, workspace_copy):
    """On an analysis page (the sidebar's run control is shared by every page).  Last: it adds a run to the
    workspace copy that the other tests share."""
    from analysis import pipeline
    from layers.store import open_workspace

    page = offline_page
    _open_map(page, map_app)
    page.get_by_role("link", name="亩均效益评价").click()
    sidebar = page.locator("[data-testid='stSidebar']")
    picker = sidebar.get_by_role("combobox", name="分析运行", exact=True)
    picker.wait_for(timeout=60_000)
    _idle(page)
    before = set(pipeline.list_runs(open_workspace(workspace_copy))["run_id"].astype(str))
    sidebar.get_by_text("运行分析", exact=True).click()
    sidebar.get_by_role("button", name="开始分析").click()
    deadline = time.monotonic() + 300
    while not (set(pipeline.list_runs(open_workspace(workspace_copy))["run_id"].astype(str)) - before):
        assert time.monotonic() < deadline, "no new run after 300 s"
        page.wait_for_timeout(1000)
    _idle(page, 1500)
    runs = pipeline.list_runs(open_workspace(workspace_copy))["run_id"].astype(str)
    (new,) = set(runs) - before
    assert picker.input_value().startswith(new)  # the page shows the run just made
    assert sidebar.get_by_text(f"分析完成:运行 {new}", exact=False).count() == 1
    _choose(page, "亩均评价分类", "D")  # another rerun: the message stays while this run is shown
    _idle(page, 1500)
    assert "D" in sidebar.locator(".st-key-w_flt_classes").inner_text()
    assert sidebar.get_by_text(f"分析完成:运行 {new}", exact=False).count() == 1
    assert picker.input_value().startswith(new)
    _assert_offline(page)
