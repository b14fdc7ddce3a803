"""The import page in Debian's chromium (no network): a 三调 Shapefile through the mapping step, and a replace
that would remove plots refused until the planner confirms.

The Streamlit server and the offline page are :mod:`tests.test_browser`'s fixtures; this module gives
the server a plain copy of the sample (the import writes into it).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import geopandas as gpd
import pytest
from playwright.sync_api import expect

from layers.store import open_workspace
from tests.office_files import park_place, sandiao_zip
from tests.test_browser import _choose, _idle, app_url, offline_page, sign_in  # noqa: F401  (fixtures; app_url uses the workspace_copy below)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def workspace_copy(sample_path, tmp_path_factory) -> Path:
    """A plain copy of the sample (overrides tests.test_browser's, which also stores an analysis run)."""
    dest = tmp_path_factory.mktemp("import_ws") / "ruian.gpkg"
    shutil.copy2(sample_path, dest)
    return dest


def _preview(page, path: Path, mode_label: str | None = None) -> None:
    page.locator('input[type="file"]').first.set_input_files(str(path))
    _idle(page)
    _choose(page, "导入到图层", "plots")
    _idle(page)
    if mode_label:
        _choose(page, "导入方式", mode_label)
        _idle(page)
    page.get_by_role("button", name="预览与校验").click()
    _idle(page, 800)


def test_sandiao_shapefile_and_a_refused_replace_in_the_browser(app_url, workspace_copy, offline_page, artifacts_dir,
                                                               tmp_path, sample_path):
    page, import_url, import_ws = offline_page, app_url + "import", workspace_copy
    place = park_place(sample_path)
    before = open_workspace(import_ws).read("plots")
    sign_in(page, app_url, "admin", "ruian-admin")  # imports are an administrator's
    page.goto(import_url)
    page.get_by_role("button", name="预览与校验").wait_for(timeout=90_000)
    _idle(page)

    # ① ② upload the 三调 zip (GBK names and attributes, no 利用状态) as an update by key
    _preview(page, sandiao_zip(tmp_path, place), "按编号更新")
    # ③ the mapping step is there, and says what blocks the import
    page.get_by_text("缺少必需的列 利用状态", exact=False).first.wait_for(timeout=60_000)
    assert page.get_by_role("button", name="写入工作空间").count() == 0
    page.get_by_text("补充文件中没有的字段").first.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts_dir / "import_1_mapping_step.png"))
    _choose(page, "利用状态 (status):常量(文件未填写的行使用)", "在用")
    _idle(page)
    page.get_by_role("button", name="按此映射重新预览").click()
    _idle(page, 800)
    # ⑥ the change, then the commit
    page.get_by_role("button", name="写入工作空间").wait_for(timeout=60_000)
    # the change of the re-preview (awaited: the button can show before the metrics are redrawn)
    expect(page.locator('[data-testid="stMetric"]').nth(2)).to_contain_text("新增", timeout=30_000)
    page.get_by_role("button", name="写入工作空间").click()
    page.get_by_text("已写入 plots:3 行", exact=False).wait_for(timeout=60_000)
    after = open_workspace(import_ws).read("plots").set_index("plot_id")
    assert len(after) == len(before) + 3
    assert set(after.loc[["330381200000", "330381200001", "330381200002"], "status"]) == {"in_use"}

    # a two-plot file from one township, automatic mode: replacing the layer is refused without the confirmation
    town = before["township_code"].value_counts().index[-1]
    rows = before[before["township_code"] == town].head(2)
    one = tmp_path / "one_town.geojson"
    gpd.GeoDataFrame({"地块编号": rows["plot_id"].tolist(), "用地分类": ["0601"] * 2, "利用状态": ["闲置"] * 2},
                     geometry=rows.geometry.tolist(), crs=before.crs).to_file(one, driver="GeoJSON")
    stored = import_ws.read_bytes()
    page.goto(import_url)  # a fresh session: an empty uploader
    page.get_by_role("button", name="预览与校验").wait_for(timeout=90_000)
    _idle(page)
    _preview(page, one)
    page.get_by_text("本次导入将删除图层现有", exact=False).first.wait_for(timeout=60_000)
    page.get_by_text("本次导入将删除图层现有", exact=False).first.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts_dir / "import_2_removal_warning.png"))
    page.get_by_role("button", name="写入工作空间").click()
    page.get_by_text("未写入任何数据", exact=False).first.wait_for(timeout=60_000)
    assert import_ws.read_bytes() == stored
    assert len(open_workspace(import_ws).read("plots")) == len(before) + 3

    assert page.js_errors == []
    assert page.blocked == [], f"the page tried to reach the network: {page.blocked}"
