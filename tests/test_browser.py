"""The app in Debian's chromium with no network: Leaflet draws the sample's layers from local assets only.

A fixture starts ``streamlit run app.py`` on a free port with the sample workspace; Playwright
routes every request and aborts (and records) any that is not for 127.0.0.1/localhost, so a
single CDN link anywhere — folium, a plugin, streamlit-folium, Streamlit itself — fails the test.
"""
from __future__ import annotations

import contextlib
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

# JS run inside the streamlit-folium iframe, where the component keeps the Leaflet map as window.map.
JS_LAYERS = """() => Object.values(window.map._layers)
    .filter(l => l instanceof L.GeoJSON)
    .map(l => ({name: l.options.plannerLayer, features: l.getLayers().length,
                drawn: l.getLayers().filter(x => (x._parts && x._parts.length > 0) || !!x._point).length}))"""
JS_ON_MAP = """(name) => Object.values(window.map._layers).some(l => l instanceof L.GeoJSON && l.options.plannerLayer === name)"""
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
def workspace_copy(sample_path, tmp_path_factory) -> Path:
    """A private copy of the sample with one analysis run (the app writes the shortlist into it)."""
    import shutil

    from analysis import pipeline
    from layers.access import SYSTEM
    from layers.store import open_workspace

    dest = tmp_path_factory.mktemp("ws") / "ruian.gpkg"
    shutil.copy2(sample_path, dest)
    if Path(str(sample_path) + ".rasters").exists():
        shutil.copytree(str(sample_path) + ".rasters", str(dest) + ".rasters")
    pipeline.run(open_workspace(dest, readonly=False), "ruian_default", run_id="browser", actor=SYSTEM)
    return dest


def stop_process(proc: subprocess.Popen) -> None:
    """Terminate a server the test started (kill it if it does not stop within 15 s)."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def serve_app(workspace: Path, log_dir: Path, *, args: tuple[str, ...] = (), script: str = "app.py",
              **env_extra: str):
    """``streamlit run app.py`` (or ``script``: ``server.py`` adds the tile and raster routes) on a free
    127.0.0.1 port with ``workspace`` (no Tianditu key); ``args`` are more Streamlit options,
    ``env_extra`` more environment.  Yields the app's URL."""
    port = _free_port()
    log = log_dir / "streamlit.log"
    env = dict(os.environ, PLANNER_WORKSPACE=str(workspace), **env_extra)
    env.pop("TIANDITU_KEY", None)
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", script, "--server.port", str(port),
             "--server.headless", "true", "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
             *(a.replace("{port}", str(port)) for a in args)],
            cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_until_up(url, proc, log)
        yield url
    finally:
        stop_process(proc)


@pytest.fixture(scope="module")
def app_url(workspace_copy, tmp_path_factory):
    """``streamlit run app.py`` on a free local port with a copy of the sample; yields its URL."""
    with serve_app(workspace_copy, tmp_path_factory.mktemp("streamlit")) as url:
        yield url


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


JS_GEO = """(name) => Object.values(window.map._layers).find(l => l instanceof L.GeoJSON && l.options.plannerLayer === name)"""
# Centre the map on plot ``id`` at zoom 17 (the page reruns with the new bounds).
JS_GO_TO = """(id) => {
    const g = (%s)('plots');
    const x = g.getLayers().find(f => f.feature.properties.t[0] === id);
    window.map.setView(x.getBounds().getCenter(), 17, {animate: false});
    return true;
}""" % JS_GEO  # noqa: UP031  (JavaScript braces: %-formatting keeps them as written)
JS_POINT_OF = """(id) => {
    const g = (%s)('plots');
    const x = g && g.getLayers().find(f => f.feature.properties.t[0] === id);
    if (!x) return null;
    const p = window.map.latLngToContainerPoint(x.getBounds().getCenter());
    return {x: p.x, y: p.y};
}""" % JS_GEO  # noqa: UP031  (JavaScript braces)


def _idle(page, ms: int = 400) -> None:
    """Wait until Streamlit has finished the current rerun (no running indicator for ``ms``)."""
    page.wait_for_timeout(ms)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000)
    page.wait_for_timeout(ms)


def sign_in(page, url: str, user: str, password: str) -> None:
    """The sign-in form: user name, password, 登录 — then the map page."""
    page.goto(url)
    page.get_by_label("用户名").fill(user)
    page.get_by_label("密码", exact=True).fill(password)
    page.get_by_role("button", name="登录", exact=True).click()
    page.get_by_text("当前用户", exact=False).first.wait_for(timeout=90_000)
    # the session cookie (a reload or a new tab resumes the sign-in) is set by a script the page runs next
    page.wait_for_function("() => document.cookie.includes('planner_session=')", timeout=30_000)


def _choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the Streamlit selectbox/multiselect labelled ``label``."""
    box = page.get_by_role("combobox", name=label, exact=True).first
    box.click()
    box.fill(option)  # the list filters to what is typed; Enter takes the first match
    # once the list has filtered (on a loaded machine it can take longer than a fixed pause)
    page.locator('[role="option"]').first.filter(has_text=option).wait_for(timeout=30_000)
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")


def test_the_planners_loop_in_the_browser(app_url, offline_page, artifacts_dir, workspace_copy, tmp_path):
    """Load → toggle a layer → filter → click a plot and read it → shortlist it → change its status on the
    shortlist page → download the Excel and the PDF and read them back."""
    import subprocess

    import openpyxl

    from layers.store import open_workspace
    from ui.data import plot_view

    view = plot_view(open_workspace(workspace_copy, readonly=True))
    target = view[(view["final_class"] == "D") & view["is_low_efficiency"].astype(bool)].iloc[0]
    pid = str(target["plot_id"])
    page = offline_page
    sign_in(page, app_url, "planner", "ruian-planner")  # a demo account of the sample
    frame = _map_frame(page)
    _idle(page)
    layers = {d["name"]: d for d in frame.evaluate(JS_LAYERS)}
    assert layers["plots"]["features"] == len(view)  # the initial view frames every plot of the sample
    assert layers["townships"]["features"] >= 20
    assert frame.locator(".leaflet-overlay-pane canvas").count() == 1  # canvas renderer, no SVG
    assert "0601 工业用地" in frame.locator(".planner-legend").inner_text()
    _idle(page, 1000)
    page.screenshot(path=str(artifacts_dir / "loop_1_map.png"))
    mounted = frame.evaluate("() => { window.__mountedMarker = 42; return window.__mountedMarker; }")

    # toggle the plots layer off and on with the sidebar's layer toggles (the map's one set of toggles)
    box_plots = page.locator("[data-testid='stSidebar']").get_by_text("地块", exact=True)
    box_plots.click()
    frame.wait_for_function(f"() => !({JS_ON_MAP})('plots')", timeout=60_000)
    box_plots.click()
    frame.wait_for_function(f"() => ({JS_ON_MAP})('plots')", timeout=60_000)
    _idle(page)
    assert frame.evaluate("() => window.__mountedMarker") == mounted  # toggling a layer does not rebuild the map

    # filter to class D: the map keeps only those plots, without reloading the map
    _choose(page, "亩均评价分类", "D")
    n_d = int((view["final_class"] == "D").sum())
    page.get_by_text(f"筛选后共 {n_d:,} / {len(view):,}", exact=False).wait_for(timeout=60_000)
    _idle(page)
    frame.wait_for_function(f"() => ({JS_GEO})('plots') && ({JS_GEO})('plots').getLayers().length === {n_d}",
                            timeout=60_000)
    assert frame.evaluate("() => window.__mountedMarker") == mounted  # same iframe, same Leaflet map: no reload

    # colour by low-efficiency: the legend follows
    _choose(page, "地块着色", "低效用地")
    _idle(page)
    frame.wait_for_function("() => document.querySelector('.planner-legend').innerText.includes('非低效')",
                            timeout=60_000)

    # go to the plot and click it: the details panel shows it, its rules and its score parts
    frame.evaluate(JS_GO_TO, pid)
    _idle(page, 800)
    frame.wait_for_function(f"() => ({JS_POINT_OF})({pid!r}) !== null", timeout=60_000)
    pt = frame.evaluate(JS_POINT_OF, pid)
    ibox = page.locator(MAP_IFRAME).bounding_box()
    page.mouse.click(ibox["x"] + pt["x"], ibox["y"] + pt["y"])
    page.get_by_role("heading", name=f"要素详情 · {pid}").wait_for(timeout=60_000)
    _idle(page)
    panel = page.locator("section.main, [data-testid='stMain']").first.inner_text()
    assert "低效认定规则" in panel and "触发" in panel and "评分构成" in panel
    assert "地块上的企业" in panel
    page.get_by_text("低效认定规则", exact=True).wait_for(timeout=30_000)
    page.wait_for_timeout(1500)  # let the tables paint before the screenshot
    page.screenshot(path=str(artifacts_dir / "loop_2_details.png"))

    # add it to the shortlist (as the signed-in planner: no name to type)
    page.get_by_role("button", name="加入清单", exact=True).click()
    page.get_by_text(f"已将 {pid} 加入清单", exact=False).wait_for(timeout=60_000)

    # the shortlist page: change its status
    page.get_by_role("link", name="候选清单").click()
    page.get_by_text("修改条目").first.wait_for(timeout=60_000)
    _idle(page)
    _choose(page, "状态", "已核实")
    page.get_by_role("button", name="保存修改").click()
    page.get_by_text("已保存", exact=False).first.wait_for(timeout=60_000)
    _idle(page)
    page.screenshot(path=str(artifacts_dir / "loop_3_shortlist.png"), full_page=True)

    # download the Excel and read it back
    with page.expect_download(timeout=120_000) as dl:
        page.get_by_role("button", name="下载 Excel").click()
    xlsx = tmp_path / "pack.xlsx"
    dl.value.save_as(xlsx)
    wb = openpyxl.load_workbook(xlsx)
    cells = [str(c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value is not None]
    assert pid in cells and "已核实" in cells

    # make and download the PDF, and read its text
    page.get_by_role("button", name="生成 PDF 报告").click()
    page.get_by_role("button", name="下载 PDF 报告").wait_for(timeout=120_000)
    with page.expect_download(timeout=120_000) as dl:
        page.get_by_role("button", name="下载 PDF 报告").click()
    pdf = tmp_path / "pack.pdf"
    dl.value.save_as(pdf)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert pid in text

    assert page.js_errors == []
    assert page.blocked == [], f"the page tried to reach the network: {page.blocked}"
    assert page.sockets and all(urlparse(u).hostname in LOCAL_HOSTS for u in page.sockets), page.sockets
