"""Every plot on the map at county zoom (issue 14, item 3), in Debian's chromium.

Before vector tiles, the map drew township totals instead of plots once more than 6,000 plots
(``ui.map_page.MAX_PLOTS``) were in view, so on a county-sized workspace a planner never saw the plots.
Here a workspace of 20,000 plots (``cli.py sample --plots 20000``) is served as ``./run.sh app`` does
(``streamlit run server.py``): the planner opens the map at county zoom and sees every plot drawn from
the workspace's vector tiles (``/_planner/vt/…`` answered by the app, painted on canvases), not township
totals; a click on a plot still finds it on the server (its details panel).
"""
from __future__ import annotations

import pytest

from tests.test_browser import MAP_IFRAME, _idle, offline_page, serve_app, sign_in  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser

N_PLOTS = 20_000  # well over the 6,000-in-view cut (ui.map_page.MAX_PLOTS)

JS_TILES = "() => window.map && Object.values(window.map._layers).find(l => window.L.PlannerTiles && l instanceof L.PlannerTiles)"
JS_TILES_DRAWN = f"""() => {{ const l = ({JS_TILES})();
    return !!l && Object.values(l._tiles).length > 0 && Object.values(l._tiles).every(t => t.loaded); }}"""
JS_GEOJSON = """() => Object.values(window.map._layers).filter(l => l instanceof L.GeoJSON && l.getLayers().length)
    .map(l => l.options.plannerLayer)"""
# coloured pixels on the tile canvases now shown (painted plots, not an empty grid)
JS_PAINTED_PIXELS = f"""() => {{ const l = ({JS_TILES})(); let n = 0;
    Object.values(l._tiles).filter(t => t.current).forEach(t => {{
        const c = t.el, d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 3; i < d.length; i += 4) {{ if (d[i] > 0) n++; }} }});
    return n; }}"""
JS_SET_VIEW = "([lat, lng, z]) => { window.map.setView([lat, lng], z, {animate: false}); return true; }"
JS_PIXEL = "([lat, lng]) => { const p = window.map.latLngToContainerPoint([lat, lng]); return {x: p.x, y: p.y}; }"


@pytest.fixture(scope="module")
def big_workspace(tmp_path_factory):
    """A 20,000-plot sample with its analysis run (what ``cli.py sample --plots 20000 --no-rasters`` writes)."""
    import cli

    out = tmp_path_factory.mktemp("big") / "county.gpkg"
    assert cli.main(["sample", "--plots", str(N_PLOTS), "--no-rasters", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def big_app(big_workspace, tmp_path_factory):
    with serve_app(big_workspace, tmp_path_factory.mktemp("streamlit"), script="server.py") as url:
        yield url


def _a_plot_in_a_crowd(workspace) -> tuple[str, float, float]:
    """A large plot (several pixels wide at zoom 13) where plots are densest (a view around it holds more than
    6,000: tiles, not shapes): its id and its representative point in degrees."""
    import numpy as np
    import shapely

    from layers.store import open_workspace

    plots = open_workspace(workspace).read("plots", columns=["plot_id"]).to_crs(4326)
    pts = shapely.point_on_surface(plots.geometry.to_numpy())
    area = shapely.area(plots.to_crs(4549).geometry.to_numpy())
    big = np.flatnonzero(area >= np.quantile(area, 0.9))
    x, y = shapely.get_x(pts[big]), shapely.get_y(pts[big])
    boxes = shapely.box(x - 0.1, y - 0.06, x + 0.1, y + 0.06)  # about a zoom-13 view, padded
    around = np.bincount(shapely.STRtree(pts).query(boxes)[0], minlength=len(big))
    i = big[int(np.argmax(around))]
    return str(plots["plot_id"].iloc[i]), float(shapely.get_y(pts[i])), float(shapely.get_x(pts[i]))


def open_county_map(page, url: str, timeout_ms: int = 90_000):
    """Sign in as the planner, open the map and wait until the plots' tiles of the county view are drawn (after the
    map's own rerun); check it is the county at county zoom from tiles — no totals, no GeoJSON cut.  The map's frame."""
    sign_in(page, url, "planner", "ruian-planner")
    page.goto(url + "map")
    frame = page.wait_for_selector(MAP_IFRAME, timeout=timeout_ms).content_frame()
    frame.wait_for_function(JS_TILES_DRAWN, timeout=timeout_ms, polling=200)
    _idle(page, 600)
    frame.wait_for_function(JS_TILES_DRAWN, timeout=timeout_ms, polling=200)
    assert frame.evaluate("() => window.map.getZoom()") <= 11  # the whole county in view
    shapes = frame.evaluate(JS_GEOJSON)
    assert "plots" not in shapes and "township_aggregates" not in shapes  # no totals, no GeoJSON cut of the plots
    return frame


def test_a_planner_sees_every_plot_at_county_zoom_from_vector_tiles(big_app, big_workspace, offline_page,
                                                                   artifacts_dir):
    page = offline_page
    served: list[tuple[str, int, str]] = []
    page.on("response", lambda r: served.append((r.url, r.status, r.headers.get("content-type", "")))
            if "/_planner/vt/" in r.url else None)
    frame = open_county_map(page, big_app)
    # the tiles and the colours came from the app's routes
    tiles = [(u, s, t) for u, s, t in served if "/_planner/vt/plots/" in u and "/style" not in u]
    assert tiles and all(s in (200, 204) for _, s, _ in tiles), tiles
    assert any(s == 200 and t == "application/vnd.mapbox-vector-tile" for _, s, t in tiles)
    assert any("/style" in u and s == 200 for u, s, _ in served)
    # every plot is drawn: the distinct features on the canvases now shown are all 20,000, in colour
    drawn = frame.evaluate(f"() => ({JS_TILES})().drawnIds()")
    assert drawn == N_PLOTS
    assert frame.evaluate(JS_PAINTED_PIXELS) > 10_000
    page.screenshot(path=str(artifacts_dir / "map_vector_tiles_county.png"))
    main = page.locator("[data-testid='stMain']").first.inner_text()
    assert f"显示 {N_PLOTS:,} 个地块(筛选后共 {N_PLOTS:,} / {N_PLOTS:,})" in main, main[:600]
    assert "按镇街汇总显示:" not in main and "按镇街汇总显示;" not in main
    totals = page.locator(".st-key-map_totals")
    assert "按镇街汇总显示地块" in totals.inner_text() and not totals.locator("input").is_checked()  # an option, off

    # a click on a plot, still drawn from tiles, is found on the server: its details panel
    pid, plat, plng = _a_plot_in_a_crowd(big_workspace)
    frame.evaluate(JS_SET_VIEW, [plat, plng, 13])
    _idle(page, 900)
    frame.wait_for_function(JS_TILES_DRAWN, timeout=60_000, polling=200)
    assert "plots" not in frame.evaluate(JS_GEOJSON)  # still tiles, not a GeoJSON layer to click on
    pt = frame.evaluate(JS_PIXEL, [plat, plng])
    box = page.locator(MAP_IFRAME).bounding_box()
    page.mouse.click(box["x"] + pt["x"], box["y"] + pt["y"])
    page.get_by_role("heading", name=f"要素详情 · {pid}").wait_for(timeout=60_000)

    # township totals when the planner asks for them
    totals.locator("label").first.click()
    frame.wait_for_function(f"() => ({JS_GEOJSON})().includes('township_aggregates') && !({JS_TILES})()",
                            timeout=60_000, polling=200)
    assert page.js_errors == []
    assert page.blocked == [], f"the page tried to reach the network: {page.blocked}"


JS_FIRM_TILES = ("() => window.map && Object.values(window.map._layers).find(l => window.L.PlannerTiles "
                 "&& l instanceof L.PlannerTiles && l.options.plannerLayer === 'enterprises')")
JS_FIRM_TILES_DRAWN = f"""() => {{ const l = ({JS_FIRM_TILES})();
    return !!l && Object.values(l._tiles).length > 0 && Object.values(l._tiles).every(t => t.loaded); }}"""


def _a_lonely_firm(workspace) -> tuple[str, str, float, float, int]:
    """The firm farthest from any other (a click beside it means only it): credit code, name, lat, lng; and the
    number of firms."""
    import numpy as np
    import shapely

    from layers.store import open_workspace

    firms = open_workspace(workspace).read("enterprises", columns=["credit_code", "name"]).to_crs(4326)
    pts = firms.geometry.to_numpy()
    _, gap = shapely.STRtree(pts).query_nearest(pts, exclusive=True, return_distance=True, all_matches=False)
    i = int(np.argmax(gap))
    return (str(firms["credit_code"].iloc[i]), str(firms["name"].iloc[i]), float(shapely.get_y(pts[i])),
            float(shapely.get_x(pts[i])), len(firms))


def test_a_planner_sees_every_firm_at_county_zoom_from_their_tiles_and_clicks_one(big_app, big_workspace,
                                                                                   offline_page, artifacts_dir):
    """Before, more than 8,000 firms in view (``ui.map_page.MAX_POINTS``) were left out with "zoom in"; now they
    are drawn from the firms' own vector tiles, and a click on one is found on the server."""
    code, name, lat, lng, n_firms = _a_lonely_firm(big_workspace)
    assert n_firms > 8000
    page = offline_page
    served: list[tuple[str, int]] = []
    page.on("response", lambda r: served.append((r.url, r.status)) if "/_planner/vt/enterprises/" in r.url else None)
    sign_in(page, big_app, "planner", "ruian-planner")
    page.goto(big_app + "map")
    frame = page.wait_for_selector(MAP_IFRAME, timeout=90_000).content_frame()
    frame.wait_for_function(JS_TILES_DRAWN, timeout=90_000, polling=200)
    _idle(page, 600)
    page.locator("[data-testid='stSidebar']").get_by_text("企业", exact=True).click()
    _idle(page, 1200)
    frame.wait_for_function(JS_FIRM_TILES_DRAWN, timeout=90_000, polling=200)
    assert frame.evaluate("() => window.map.getZoom()") <= 11  # the county in view
    assert "enterprises" not in frame.evaluate(JS_GEOJSON)  # not a GeoJSON cut: tiles
    assert any("/style" not in u and s == 200 for u, s in served) and any("/style" in u and s == 200 for u, s in served)
    drawn = frame.evaluate(f"() => ({JS_FIRM_TILES})().drawnIds()")
    assert drawn == n_firms
    main = page.locator("[data-testid='stMain']").first.inner_text()
    assert f"企业 {n_firms:,}" in main and "当前范围内要素过多" not in main, main[:800]
    assert "企业" in frame.locator(".planner-legend-body").inner_text()
    page.screenshot(path=str(artifacts_dir / "map_firm_tiles_county.png"))
    # a click on the lonely firm, still drawn from tiles (over 8,000 firms in the padded view of zoom 10), is
    # found on the server from the tile set's index: its details
    frame.evaluate(JS_SET_VIEW, [lat, lng, 10])
    _idle(page, 900)
    frame.wait_for_function(JS_FIRM_TILES_DRAWN, timeout=60_000, polling=200)
    assert "enterprises" not in frame.evaluate(JS_GEOJSON)
    pt = frame.evaluate(JS_PIXEL, [lat, lng])
    box = page.locator(MAP_IFRAME).bounding_box()
    page.mouse.click(box["x"] + pt["x"], box["y"] + pt["y"])
    _idle(page, 900)
    page.locator("[data-testid='stMain']").get_by_text(f"企业 · {name}", exact=True).wait_for(timeout=60_000)
    assert "enterprises" not in frame.evaluate(JS_GEOJSON)  # the click came through the tiles' path
    page.screenshot(path=str(artifacts_dir / "map_firm_tiles_click.png"))
    assert page.js_errors == []
    assert page.blocked == [], f"the page tried to reach the network: {page.blocked}"
