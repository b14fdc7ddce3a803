"""AppTest of the import page: upload → preview → report → commit, errors, English switch."""
from __future__ import annotations

import hashlib
import shutil

import geopandas as gpd
import pytest
import shapely
from streamlit.testing.v1 import AppTest

from layers.workspace import Workspace
from ui.import_page import plain, safe_filename

TIMEOUT = 120
SCRIPT = """
import geo
from ui import import_page
import_page.render()
"""
X0, Y0 = 560_000.0, 3_070_000.0


@pytest.fixture
def ws_path(tmp_path, sample_path, monkeypatch):
    path = tmp_path / "ws.gpkg"
    shutil.copyfile(sample_path, path)
    monkeypatch.setenv("PLANNER_WORKSPACE", str(path))
    return path


def _geojson_bytes(tmp_path) -> bytes:
    bow = shapely.Polygon([(X0 + 100, Y0), (X0 + 150, Y0 + 50), (X0 + 150, Y0), (X0 + 100, Y0 + 50)])
    g = gpd.GeoDataFrame({"地块编号": ["U1", "U2"], "用地分类": ["0601", "0601"], "利用状态": ["在用", "闲置"],
                          "备注": ["<script>alert(1)</script>", "![x](http://evil.example/p.png)"]},
                         geometry=[shapely.box(X0, Y0, X0 + 50, Y0 + 50), bow], crs="EPSG:4549")
    p = tmp_path / "up.geojson"
    g.to_file(p, driver="GeoJSON")
    return p.read_bytes()


def _app(lang="zh") -> AppTest:
    at = AppTest.from_string(SCRIPT, default_timeout=TIMEOUT)
    at.session_state["lang"] = lang
    return at


def _button(at, key):
    return next(b for b in at.button if b.key == key)


def test_upload_preview_fix_and_commit(ws_path, tmp_path):
    at = _app().run()
    assert not at.exception
    assert at.header[0].value == "导入数据"
    at.get("file_uploader")[0].set_value(("../../etc/up.geojson", _geojson_bytes(tmp_path), "application/geo+json"))
    at.selectbox(key="imp_layer").set_value("plots")
    _button(at, "imp_preview").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    report = at.info[0].value
    assert "几何无效" in report and "Self\\-intersection" in report  # escaped Markdown, Chinese report
    frames = {tuple(d.value.columns)[:3]: d.value for d in at.dataframe}
    assert frames[("source", "field", "unit")]["field"].tolist()[:3] == ["plot_id", "land_use", "status"]
    assert frames[("row", "field", "code")]["code"].tolist() == ["invalid"]
    repairs = frames[("row", "problem", "reason")]
    assert repairs["area_after"].iloc[0] == pytest.approx(1250.0)  # the bow-tie's two triangles
    assert frames[("地块编号", "用地分类", "利用状态")]["备注"].iloc[0] == "<script>alert(1)</script>"  # data, not HTML
    before = hashlib.sha256(ws_path.read_bytes()).hexdigest()
    at.radio(key="imp_on_problems").set_value("cancel")
    _button(at, "imp_commit").click()
    at.run()
    assert "已取消导入" in at.error[0].value
    assert hashlib.sha256(ws_path.read_bytes()).hexdigest() == before
    at.radio(key="imp_on_problems").set_value("fix")
    _button(at, "imp_commit").click()
    at.run()
    assert not at.exception
    assert "已写入 plots:2 行" in at.success[0].value.replace("\\", "")
    got = Workspace.open(ws_path).read("plots")
    assert got["plot_id"].tolist() == ["U1", "U2"] and got.geometry.is_valid.all()
    # the uploaded name was sanitised: nothing was written outside the private upload folder
    assert Workspace.open(ws_path).metadata("plots")["source"] == "up.geojson"


def test_unsafe_upload_shows_the_error_and_changes_nothing(ws_path, tmp_path):
    secret = tmp_path / "secret.csv"
    secret.write_text("id,note\n1,TOP-SECRET\n")
    vrt = f"<OGRVRTDataSource><OGRVRTLayer name='s'><SrcDataSource>{secret}</SrcDataSource></OGRVRTLayer></OGRVRTDataSource>"
    before = hashlib.sha256(ws_path.read_bytes()).hexdigest()
    at = _app("en").run()
    at.get("file_uploader")[0].set_value(("evil.geojson", vrt.encode(), "application/geo+json"))
    at.selectbox(key="imp_layer").set_value("plots")
    _button(at, "imp_preview").click()
    at.run()
    assert not at.exception
    assert "GDAL VRT" in at.error[0].value and "TOP-SECRET" not in at.error[0].value
    assert hashlib.sha256(ws_path.read_bytes()).hexdigest() == before


def test_english_switch_and_templates(ws_path):
    at = _app("en").run()
    assert at.header[0].value == "Import data"
    assert [b.label for b in at.get("download_button")] == ["Land (plots)", "Tax", "Power", "Environment", "Statistics"]


def test_plain_and_safe_filename():
    assert plain("![x](http://e/p.png) <b>") == "\\!\\[x\\]\\(http\\:\\/\\/e\\/p\\.png\\) \\<b\\>".replace("\\/", "/")
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("C:\\Users\\x\\地块 2025.zip") == "地块_2025.zip"
    assert safe_filename(".hidden") == "hidden"


def test_plain_escapes_markdown_images_and_links():
    assert plain("![x](http://example.invalid/a.png)") == "\\!\\[x\\]\\(http\\://example\\.invalid/a\\.png\\)"


def test_target_layer_defaults_to_plots_and_follows_the_file_name(ws_path, tmp_path):
    """Issue 12, bug 7: the target layer defaulted to 镇街 (the first layer); plots are what planners import."""
    from ui.import_page import DEFAULT_LAYER, guess_layer

    at = _app().run()
    assert at.selectbox(key="imp_layer").value == DEFAULT_LAYER == "plots"
    assert guess_layer(["瑞安企业名录.xlsx"]) == "enterprises" and guess_layer(["DLTB.shp", "DLTB.dbf"]) == "plots"
    assert guess_layer(["东新路小微园.geojson"]) == "micro_parks" and guess_layer(["data.geojson"]) == "plots"
    at.get("file_uploader")[0].set_value(("企业名录.geojson", _geojson_bytes(tmp_path), "application/geo+json"))
    at.run()
    assert at.selectbox(key="imp_layer").value == "enterprises"  # follows the file
    at.selectbox(key="imp_layer").set_value("plots").run()
    at.get("file_uploader")[0].set_value(("镇街.geojson", _geojson_bytes(tmp_path), "application/geo+json"))
    at.run()
    assert at.selectbox(key="imp_layer").value == "plots"  # a layer picked by hand is kept
