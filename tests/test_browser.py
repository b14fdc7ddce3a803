"""The app in Debian's chromium with no network: Leaflet draws the sample's layers from local assets only.

A fixture starts ``streamlit run app.py`` on a free port with the sample workspace; Playwright
routes every request and aborts (and records) any that is not for 127.0.0.1/localhost, so a
single CDN link anywhere — folium, a plugin, streamlit-folium, Streamlit itself — fails the test.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
MAP_IFRAME = 'iframe[title="streamlit_folium.st_folium"]'
PLOT_RGB = (0xBB, 0x96, 0x74)  # 0601 industrial, ui.mapview.STYLE_BY["land_use"]

# JS run inside the streamlit-folium iframe, where the component keeps the Leaflet map as window.map.
JS_LAYERS = """() => Object.values(window.map._layers)
    .filter(l => l instanceof L.GeoJSON)
    .map(l => ({name: l.options.plannerLayer, features: l.getLayers().length,
                drawn: l.getLayers().filter(x => (x._parts && x._parts.length > 0) || !!x._point).length}))"""
JS_ON_MAP = """(name) => Object.values(window.map._layers).some(l => l instanceof L.GeoJSON && l.options.plannerLayer === name)"""
JS_COUNT_RGB = """([r, g, b]) => {
    let n = 0;
    for (const c of document.querySelectorAll('.leaflet-overlay-pane canvas')) {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 0; i < d.length; i += 4)
            if (d[i + 3] > 0 && Math.abs(d[i] - r) < 8 && Math.abs(d[i + 1] - g) < 8 && Math.abs(d[i + 2] - b) < 8) n++;
    }
    return n;
}"""
# Zoom onto an industrial plot outside any park (its pixels then carry the plain legend colour)
# and return its centre in page coordinates (the iframe's offset added by the caller).
JS_ZOOM_TO_PLOT = """() => {
    const geo = (name) => Object.values(window.map._layers).find(l => l instanceof L.GeoJSON && l.options.plannerLayer === name);
    const parks = ['industrial_parks', 'micro_parks'].flatMap(n => geo(n).getLayers().map(x => x.getBounds()));
    const plot = geo('plots').getLayers().find(x => x.feature.properties.land_use.startsWith('0601')
                                              && !parks.some(b => b.intersects(x.getBounds())));
    window.map.setView(plot.getBounds().getCenter(), 17, {animate: false});
    const p = window.map.latLngToContainerPoint(plot.getBounds().getCenter());
    return {x: p.x, y: p.y, id: plot.feature.properties.plot_id};
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_up(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url + "_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"streamlit did not answer at {url} within {timeout} s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def app_url(sample_path, tmp_path_factory):
    """``streamlit run app.py`` on a free local port with the sample workspace; yields its URL."""
    port = _free_port()
    log = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    env = dict(os.environ, PLANNER_WORKSPACE=str(sample_path))
    env.pop("TIANDITU_KEY", None)
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.headless", "true", "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_until_up(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def offline_page():
    """A chromium page whose every non-local request is aborted and recorded in ``page.blocked``."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing; install Debian's chromium package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1500, "height": 950}, locale="zh-CN")
        blocked: list[str] = []

        def route(r):
            url = r.request.url
            if url.startswith(("data:", "blob:")) or urlparse(url).hostname in LOCAL_HOSTS:
                return r.continue_()
            blocked.append(url)
            return r.abort()

        context.route("**/*", route)
        page = context.new_page()
        page.blocked = blocked
        page.sockets = []
        page.on("websocket", lambda ws: page.sockets.append(ws.url))
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.js_errors = errors
        try:
            yield page
        finally:
            context.close()
            browser.close()


def _map_frame(page):
    frame = page.wait_for_selector(MAP_IFRAME, timeout=90_000).content_frame()
    frame.wait_for_function(
        "() => window.map && Object.values(window.map._layers).some("
        "l => l instanceof L.GeoJSON && l.options.plannerLayer === 'plots' && l.getLayers().length > 0)",
        timeout=90_000,
    )
    return frame


def test_map_draws_the_sample_offline(app_url, offline_page, artifacts_dir):
    page = offline_page
    page.goto(app_url)
    frame = _map_frame(page)

    layers = {d["name"]: d for d in frame.evaluate(JS_LAYERS)}
    # features were loaded and painted into the view (the view frames the plots, so the offshore
    # island township may fall outside it)
    assert layers["townships"]["features"] == 23 and layers["townships"]["drawn"] >= 20
    assert layers["plots"]["features"] == layers["plots"]["drawn"] == 5000
    assert layers["county_outline"]["drawn"] == 1
    assert layers["industrial_parks"]["drawn"] >= 4 and layers["micro_parks"]["drawn"] >= 3
    assert frame.locator(".leaflet-overlay-pane canvas").count() == 1  # prefer_canvas: one canvas, no SVG

    control = frame.locator(".leaflet-control-layers-overlays label").all_inner_texts()
    for label in ("市域范围", "镇街", "工业集聚区/功能区", "小微企业创业园", "地块", "基础设施"):
        assert any(label == text.strip() for text in control), (label, control)
    assert "0601 工业用地" in frame.locator(".planner-legend").inner_text()

    page.wait_for_timeout(800)  # let the canvas settle before the screenshot
    page.screenshot(path=str(artifacts_dir / "map_sample.png"))

    # zoom onto one industrial plot: it is painted in the legend's colour
    plot = frame.evaluate(JS_ZOOM_TO_PLOT)
    frame.wait_for_function(f"() => ({JS_COUNT_RGB})({list(PLOT_RGB)}) > 500", timeout=10_000)
    page.screenshot(path=str(artifacts_dir / "map_sample_plots.png"))

    # hover it: the tooltip shows its attributes under the schema's labels
    box = page.locator(MAP_IFRAME).bounding_box()
    page.mouse.move(box["x"] + plot["x"] + 2, box["y"] + plot["y"] + 2)
    page.mouse.move(box["x"] + plot["x"], box["y"] + plot["y"])
    tooltip = frame.wait_for_selector(".leaflet-tooltip", timeout=10_000)
    assert "地块编号" in tooltip.inner_text() and plot["id"] in tooltip.inner_text()
    page.mouse.move(box["x"] + 5, box["y"] + 5)

    # toggle the plots layer off and on in the layer control (Leaflet only, no rerun)
    plots_box = frame.locator(".leaflet-control-layers-overlays label", has_text="地块").locator("input")
    plots_box.uncheck()
    assert frame.evaluate(JS_ON_MAP, "plots") is False
    frame.wait_for_function(f"() => ({JS_COUNT_RGB})({list(PLOT_RGB)}) === 0", timeout=10_000)
    assert frame.evaluate(JS_ON_MAP, "townships") is True
    plots_box.check()
    assert frame.evaluate(JS_ON_MAP, "plots") is True
    frame.wait_for_function(f"() => ({JS_COUNT_RGB})({list(PLOT_RGB)}) > 500", timeout=10_000)

    assert page.js_errors == []
    assert page.blocked == [], f"the page tried to reach the network: {page.blocked}"
    assert page.sockets and all(urlparse(u).hostname in LOCAL_HOSTS for u in page.sockets), page.sockets
