"""AppTest smoke tests: the app runs on a tiny workspace and on the sample, switches language, toggles layers."""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import box
from streamlit.testing.v1 import AppTest

from layers.workspace import Workspace

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TIMEOUT = 120  # first run imports geopandas/folium and reads the workspace on a shared 2-core box


@pytest.fixture
def tiny_workspace(tmp_path) -> Path:
    """Two townships and six plots (EPSG:4549 near Ruian), one township named like an XSS probe."""
    path = tmp_path / "tiny.gpkg"
    ws = Workspace.create(path, crs="EPSG:4549")
    x0, y0 = 560_000, 3_075_000
    townships = gpd.GeoDataFrame(
        {"code": ["330381001", "330381002"], "name": ["安阳街道", "<script>alert(1)</script>"], "kind": ["街道", "镇"]},
        geometry=[box(x0, y0, x0 + 3000, y0 + 3000), box(x0 + 3000, y0, x0 + 6000, y0 + 3000)], crs="EPSG:4549",
    )
    plots = gpd.GeoDataFrame(
        {"plot_id": [f"P{i:06d}" for i in range(1, 7)], "land_use": ["0601", "0604", "0601", "0601", "0604", "0601"],
         "status": ["in_use", "idle", "halted", "in_use", "under_construction", "in_use"],
         "area_m2": [250_000.0] * 6, "township_code": ["330381001"] * 3 + ["330381002"] * 3},
        geometry=[box(x0 + 200 + i * 900, y0 + 200, x0 + 700 + i * 900, y0 + 700) for i in range(6)], crs="EPSG:4549",
    )
    ws.write_many({"townships": townships, "plots": plots}, source="test")
    return path


def _run(monkeypatch, workspace: Path | str) -> AppTest:
    monkeypatch.setenv("PLANNER_WORKSPACE", str(workspace))
    monkeypatch.delenv("TIANDITU_KEY", raising=False)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _captions(at: AppTest) -> str:
    return " | ".join(c.value for c in at.caption)


def test_app_runs_and_shows_the_layers_in_chinese(monkeypatch, tiny_workspace):
    at = _run(monkeypatch, tiny_workspace)
    assert at.sidebar.radio(key="lang").value == "zh"
    assert [c.label for c in at.sidebar.checkbox] == ["镇街", "地块"]
    assert "镇街 2 · 地块 6" in _captions(at)
    assert "工作空间: tiny.gpkg" in _captions(at)
    assert not at.error


def test_switching_to_english(monkeypatch, tiny_workspace):
    at = _run(monkeypatch, tiny_workspace)
    at.sidebar.radio(key="lang").set_value("en").run()
    assert not at.exception
    assert [c.label for c in at.sidebar.checkbox] == ["Townships", "Plots"]
    assert "Townships 2 · Plots 6" in _captions(at)
    assert at.sidebar.selectbox(key="basemap").label == "Base map"
    at.sidebar.radio(key="lang").set_value("zh").run()
    assert "镇街 2 · 地块 6" in _captions(at)


def test_unticking_a_layer_removes_it(monkeypatch, tiny_workspace):
    at = _run(monkeypatch, tiny_workspace)
    at.sidebar.checkbox(key="layer_plots").uncheck().run()
    assert not at.exception
    assert at.main.caption[0].value == "镇街 2"
    at.sidebar.checkbox(key="layer_plots").check().run()
    assert at.main.caption[0].value == "镇街 2 · 地块 6"


def test_tianditu_without_a_key_warns_and_falls_back(monkeypatch, tiny_workspace):
    at = _run(monkeypatch, tiny_workspace)
    at.sidebar.selectbox(key="basemap").set_value("tianditu_vec").run()
    assert not at.exception
    assert any("TIANDITU_KEY" in w.value for w in at.sidebar.warning)


def test_missing_workspace_is_a_clear_error(monkeypatch, tmp_path):
    at = _run(monkeypatch, tmp_path / "nowhere.gpkg")
    assert len(at.error) == 1
    assert "python cli.py sample" in at.error[0].value


def test_app_runs_on_the_sample(monkeypatch, sample_path):
    at = _run(monkeypatch, sample_path)
    captions = _captions(at)
    for label in ("镇街 23", "工业集聚区/功能区", "小微企业创业园", "地块 5,000", "市域范围 1"):
        assert label in captions
