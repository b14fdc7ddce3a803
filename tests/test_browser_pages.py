"""The analysis pages in Debian's chromium with no network: the bugs planners met (issue 12), run comparison,
and a screenshot of every analysis page in both languages.

Each bug test failed before its fix:

* low-efficiency list — ticked rows stayed on the same row *positions* when the township
  filter changed, so other plots were added to the shortlist (now the ticks follow plot ids);
* relocation siting — the shared township filter changed the counts but not the map, and no
  filter was shown (now it is named and every part follows it);
* redevelopment clusters — the cluster map, built inside a hidden tab, opened at world zoom;
* import — the target layer defaulted to 镇街.

Screenshots go to ``artifacts/pages_<page>_<lang>.png``; the page text (outside the canvas-
drawn grids and charts, which the AppTests check) must hold no raw value.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect

from tests.test_browser import LOCAL_HOSTS, MAP_IFRAME, _choose, _idle, app_url, offline_page, sign_in  # noqa: F401

pytestmark = pytest.mark.browser

PAGES = ("evaluation", "low_efficiency", "redevelopment", "siting", "integration", "parks", "compare", "shortlist")
# Raw values that must never reach the text of a page: enum keys, booleans, missing values; in the Chinese UI
# also the English enum words (in the English UI "halted" is just English).
RAW = re.compile(r"\b(None|nan|NaN|NaT|True|False|industrial_parks?|micro_parks?|in_use|under_construction|"
                 r"above_scale|below_scale|not_evaluated|no_firms|no_leading_industry|not_candidate)\b")
RAW_ZH = re.compile(r"\b(halted|idle|assigned|unassigned|evaluated|excluded|merged|pass|fail)\b")
# Chinese UI words that must not appear in the English UI (data — names of firms, parks, townships — may).
ZH_UI = ("加入清单", "筛选地块", "分析运行", "当前筛选", "面积(亩)", "地块数", "候选清单", "镇街范围")


@pytest.fixture(scope="module")
def workspace_copy(sample_path, tmp_path_factory) -> Path:
    """A sample copy with two analysis runs, a siting run and a joint-zone run (overrides test_browser's)."""
    from analysis import integration, pipeline, siting, siting_runs
    from layers.access import SYSTEM
    from layers.store import open_workspace

    dest = tmp_path_factory.mktemp("ws_pages") / "ruian.gpkg"
    shutil.copy2(sample_path, dest)
    if Path(str(sample_path) + ".rasters").exists():
        shutil.copytree(str(sample_path) + ".rasters", str(dest) + ".rasters")
    pipeline.run(open_workspace(dest, readonly=False), "huangyan_2022", run_id="older", actor=SYSTEM)
    pipeline.run(open_workspace(dest, readonly=False), "ruian_default", run_id="browser", actor=SYSTEM)
    params = siting.load_siting_params().replace(time_limit_s=10.0)
    siting_runs.run_siting(open_workspace(dest, readonly=False), params, rule="polluting", run_id="b1", actor=SYSTEM)
    siting_runs.run_integration(open_workspace(dest, readonly=False), integration.load_integration_params(),
                                run_id="b1", actor=SYSTEM)
    return dest


def _goto(page, app_url: str, name: str) -> None:
    if not getattr(page, "signed_in", False):  # the import page is an administrator's: sign in as one
        sign_in(page, app_url, "admin", "ruian-admin")
        page.signed_in = True
    page.goto(app_url + name)
    page.wait_for_selector('[data-testid="stHeading"]', timeout=90_000)
    _idle(page, 1200)


def _last_grid(page, key: str | None = None):
    """The page's last table, or the one drawn by ``pick_rows(key=...)`` (its widget key starts with it)."""
    where = f'[class*="st-key-{key}"] ' if key else ""
    grid = page.locator(f'{where}[data-testid="stDataFrame"]').last
    grid.scroll_into_view_if_needed()
    page.wait_for_timeout(400)
    return grid


def _tick(page, grid, row: int) -> None:
    """Tick row ``row`` (0-based) of a glide data grid: its checkbox column, below the 35 px header."""
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 35 * row + 17)
    _idle(page, 600)


def test_ticked_plots_follow_their_ids_when_the_township_filter_changes(app_url, offline_page, workspace_copy,
                                                                          artifacts_dir):
    """Bug 1: tick two 飞云街道 plots, add another township to the filter — the same two plots (and only they)
    stay ticked."""
    from layers import shortlist
    from layers.store import open_workspace
    from ui.data import plot_view

    ws = open_workspace(workspace_copy)
    view = plot_view(ws, "browser")
    listed = view[view["is_low_efficiency"].fillna(False).astype(bool)]
    order = ["n_rules", "area_mu"]
    feiyun = listed[listed["township_name"] == "飞云街道"].sort_values(order, ascending=False)
    ticked = list(feiyun["plot_id"].iloc[:2])

    def with_feiyun(town):
        return listed[listed["township_name"].isin(["飞云街道", town])].sort_values(order, ascending=False)

    # a second township whose plots take the first two positions: the bug (ticks by position) would show
    other = next(town for town in sorted(set(listed["township_name"].dropna()) - {"飞云街道"})
                 if list(with_feiyun(town)["plot_id"].iloc[:2]) != ticked)
    both = with_feiyun(other)

    page = offline_page
    _goto(page, app_url, "low_efficiency")
    _choose(page, "镇街", "飞云街道")
    _idle(page, 1500)
    grid = _last_grid(page, "le_table")
    _tick(page, grid, 0)
    _tick(page, grid, 1)
    add = page.locator(".st-key-le_add button").first  # the low-efficiency list's button (the idle list has its own)
    add.get_by_text("加入清单 (2)").wait_for(timeout=30_000)
    _choose(page, "镇街", other)
    _idle(page, 1500)
    page.get_by_text(f"共 {len(both):,} 块", exact=False).wait_for(timeout=60_000)
    page.get_by_text(f"共 {len(both):,} 块", exact=False).wait_for(timeout=60_000)
    button = add
    assert button.inner_text() == "加入清单 (2)"
    _last_grid(page, "le_table").screenshot(path=str(artifacts_dir / "bug1_ticks_after_filter.png"))
    button.click()
    page.get_by_text("已加入清单", exact=False).wait_for(timeout=60_000)
    added = shortlist.load(open_workspace(workspace_copy))
    assert sorted(added["item_id"]) == sorted(ticked)  # exactly the two ticked plots, no others
    # dropping 飞云街道 from the filter hides the ticked plots: nothing stays ticked (no other plot takes their place)
    page.get_by_role("button", name="Remove 飞云街道").first.click()
    _idle(page, 1500)
    assert add.inner_text() == "加入清单 (0)"
    # "清除筛选" empties the filter in the browser too (it used to reset the server's copy only)
    page.get_by_role("button", name="清除筛选").click()
    _idle(page, 1500)
    assert page.locator('[data-testid="stSidebar"] [data-tag]').count() == 0
    page.get_by_text(f"共 {len(listed):,} 块", exact=False).wait_for(timeout=60_000)
    assert page.js_errors == [] and page.blocked == []


JS_LINES = """() => Object.values(window.map._layers).filter(l => l instanceof L.GeoJSON && l.options.plannerLayer ===
    'siting_lines').reduce((n, l) => n + l.getLayers().length, 0)"""


def test_siting_names_its_filter_and_every_part_follows_it(app_url, offline_page, workspace_copy, artifacts_dir):
    """Bug 3: the township filter moved the counts but not the map, and was not shown."""
    from layers.store import open_workspace

    asg = open_workspace(workspace_copy).read("siting_b1_assignments")
    placed_all = int((asg["status"] == "assigned").sum())
    town = asg.loc[asg["status"] == "assigned", "township_code"].value_counts().index[0]
    name = open_workspace(workspace_copy).read("townships").set_index("code").at[town, "name"]
    mine = asg[asg["township_code"] == town]
    page = offline_page
    _goto(page, app_url, "siting")
    frame = page.wait_for_selector(MAP_IFRAME, timeout=90_000).content_frame()
    frame.wait_for_function("() => window.map && Object.keys(window.map._layers).length > 0", timeout=90_000)
    assert frame.evaluate(JS_LINES) == placed_all
    _choose(page, "镇街", name)
    _idle(page, 2000)
    note = page.get_by_text("当前筛选", exact=False).first
    note.wait_for(timeout=60_000)
    assert name in note.inner_text() and f"显示 {len(mine)} / {len(asg)} 家" in note.inner_text()
    expect(page.locator('[data-testid="stMetricValue"]').first).to_have_text(f"{len(mine):,} 家", timeout=30_000)
    frame = page.wait_for_selector(MAP_IFRAME, timeout=90_000).content_frame()
    frame.wait_for_function(f"() => ({JS_LINES})() === {int((mine['status'] == 'assigned').sum())}", timeout=60_000)
    page.screenshot(path=str(artifacts_dir / "bug3_siting_filtered.png"))
    assert page.js_errors == [] and page.blocked == []


def test_cluster_map_opens_on_the_cluster(app_url, offline_page, workspace_copy, artifacts_dir):
    """Bug 4: the cluster map was built inside a hidden tab and opened at world zoom."""
    page = offline_page
    _goto(page, app_url, "redevelopment")
    page.wait_for_timeout(3000)
    hidden = page.locator(MAP_IFRAME)
    if hidden.count():  # a map made while its tab is hidden (the bug): let it start up before the tab opens
        hidden.first.element_handle().content_frame().wait_for_function("() => !!window.map", timeout=90_000)
    page.get_by_role("tab", name="连片区").click()
    _idle(page, 1500)
    frame = page.wait_for_selector(MAP_IFRAME, timeout=90_000).content_frame()
    frame.wait_for_function("() => window.map && window.map.getSize().x > 100", timeout=90_000)
    page.wait_for_timeout(1000)
    zoom = frame.evaluate("() => window.map.getZoom()")
    assert zoom >= 12, f"the cluster map opened at zoom {zoom}"
    page.locator(MAP_IFRAME).screenshot(path=str(artifacts_dir / "bug4_cluster_map.png"))
    assert page.js_errors == [] and page.blocked == []


def test_import_defaults_to_plots(app_url, offline_page):
    """Bug 7: the import page's target layer defaulted to 镇街 (townships)."""
    page = offline_page
    _goto(page, app_url, "import")
    box = page.get_by_role("combobox", name="导入到图层", exact=True)
    shown = box.input_value() or box.get_attribute("aria-valuetext") or ""
    assert shown == "地块 (plots)", shown


def test_compare_page_in_the_browser(app_url, offline_page, workspace_copy, artifacts_dir):
    from analysis import pipeline
    from layers.store import open_workspace

    diff = pipeline.compare_runs(open_workspace(workspace_copy), "older", "browser")
    page = offline_page
    _goto(page, app_url, "compare")
    metrics = page.locator('[data-testid="stMetricValue"]')
    expect(metrics.nth(2)).to_have_text(f"{len(diff['entered']):,} 块", timeout=30_000)
    expect(metrics.nth(3)).to_have_text(f"{len(diff['left']):,} 块", timeout=30_000)
    frame = page.wait_for_selector(MAP_IFRAME, timeout=90_000).content_frame()
    frame.wait_for_function(
        "() => window.map && Object.values(window.map._layers).some(l => l instanceof L.GeoJSON && "
        f"l.options.plannerLayer === 'plots' && l.getLayers().length === {len(diff['plots'])})", timeout=90_000)
    with page.expect_download(timeout=60_000) as dl:
        page.get_by_role("button", name="下载比较结果 Excel").click()
    assert dl.value.suggested_filename == "运行比较_older_对比_browser.xlsx"
    page.screenshot(path=str(artifacts_dir / "compare_zh.png"))
    assert page.js_errors == [] and page.blocked == []


def _main_text(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text() + "\n" + page.locator(
        '[data-testid="stSidebar"]').inner_text()


def _shoot(page, path: Path) -> None:
    """A screenshot of the whole page: the viewport grown to the main area's height."""
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": 1440, "height": min(max(900, int(height) + 40), 9000)})
    page.wait_for_timeout(1200)
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": 1440, "height": 900})


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_analysis_page_reads_cleanly(app_url, offline_page, workspace_copy, artifacts_dir, lang):
    """Every analysis page and tab, screenshot for review; no raw value in the page text, no Chinese UI in English."""
    from layers import shortlist
    from layers.access import SYSTEM
    from layers.store import open_workspace

    ws = open_workspace(workspace_copy, readonly=False)
    if not len(shortlist.load(ws)):
        shortlist.add(ws, ["P000001", "P000002"], kind="plot", actor=SYSTEM, source_layer="run_browser_plots")
    page = offline_page
    _goto(page, app_url, PAGES[0])
    if lang == "en":
        page.get_by_text("English", exact=True).click()
        _idle(page, 1500)
    problems = []
    for name in PAGES:
        page.locator(f'a[href$="/{name}"]').first.click()
        _idle(page, 2500)
        tabs = page.get_by_role("tab")
        for i in range(max(tabs.count(), 1)):
            if i:
                tabs.nth(i).click()
                _idle(page, 2000)
            _shoot(page, artifacts_dir / f"pages_{name}_{lang}_{i}.png")
            text = _main_text(page)
            problems += [f"{name}#{i}: {m}" for m in RAW.findall(text)]
            if lang == "zh":
                problems += [f"{name}#{i}: {m}" for m in RAW_ZH.findall(text)]
            if lang == "en":
                problems += [f"{name}#{i}: {w}" for w in ZH_UI if w in text]
            assert page.locator('[data-testid="stException"]').count() == 0, name
    assert problems == []
    assert page.js_errors == []
    assert page.blocked == [], page.blocked
    assert all(urlparse(u).hostname in LOCAL_HOSTS for u in page.sockets)
