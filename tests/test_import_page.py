"""AppTest of the import page: upload → preview → report → commit, errors, English switch."""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from streamlit.testing.v1 import AppTest

from layers import tiles
from layers.access import Actor
from layers.store import open_workspace
from tests.apptest import sign_in
from ui.import_page import plain, safe_filename

ADMIN = Actor("admin1", "admin")

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


def _app(lang="zh", actor=ADMIN) -> AppTest:
    at = AppTest.from_string(SCRIPT, default_timeout=TIMEOUT)
    at.session_state["lang"] = lang
    return sign_in(at, actor)


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
    problems = frames[("行号", "字段", "级别")]
    assert problems["级别"].tolist() == ["错误"] and problems["字段"].tolist() == ["几何"]
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
    at.run()
    n = len(open_workspace(ws_path).read("plots"))
    assert any(f"将删除图层现有 {n:,} 行中的 {n:,} 行" in w.value.replace("\\", "") for w in at.warning)
    _button(at, "imp_commit").click()  # without the confirmation: refused, nothing written
    at.run()
    assert "未写入任何数据" in at.error[0].value.replace("\\", "")
    assert hashlib.sha256(ws_path.read_bytes()).hexdigest() == before
    at.checkbox(key="imp_confirm").check()
    _button(at, "imp_commit").click()
    at.run()
    assert not at.exception
    assert "已写入 plots:2 行" in at.success[0].value.replace("\\", "")
    got = open_workspace(ws_path).read("plots")
    assert got["plot_id"].tolist() == ["U1", "U2"] and got.geometry.is_valid.all()
    # the map's vector tiles of the new plots were built right after the commit, and the page says so
    built = tiles.info(open_workspace(ws_path), "plots")
    assert built.count == 2 and built.stamp == tiles.layer_stamp(open_workspace(ws_path), "plots")
    assert any("已生成地块的地图矢量切片(2 个要素" in c.value.replace("\\", "") for c in at.caption), \
        [c.value for c in at.caption]
    # the uploaded name was sanitised: nothing was written outside the private upload folder
    assert open_workspace(ws_path).metadata("plots")["source"] == "up.geojson"


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


def _commit_with_fix(at, tmp_path):
    """Upload the two test plots, preview, and commit with "fix"."""
    at.run()
    at.get("file_uploader")[0].set_value(("up.geojson", _geojson_bytes(tmp_path), "application/geo+json"))
    at.selectbox(key="imp_layer").set_value("plots")
    _button(at, "imp_preview").click()
    at.run()
    at.radio(key="imp_on_problems").set_value("fix")
    at.checkbox(key="imp_confirm").check()  # the 2-plot file replaces the sample's plots: confirmed
    _button(at, "imp_commit").click()
    return at.run()


def test_replaced_layer_is_restored_from_the_import_page(ws_path, tmp_path):
    """Undo an import: the versions panel lists the replaced plots and restores them (the import is kept too)."""
    at = _commit_with_fix(_app(), tmp_path)
    assert len(open_workspace(ws_path).read("plots")) == 2
    at.selectbox(key="imp_versions_layer").set_value("plots").run()
    _button(at, "imp_restore_plots_1").click()
    at.run()
    assert not at.exception and "已恢复" in at.success[0].value.replace("\\", "")
    ws = open_workspace(ws_path)
    assert len(ws.read("plots")) == 5000
    assert tiles.info(ws, "plots").count == 5000 and tiles.info(ws, "plots").stamp == tiles.layer_stamp(ws, "plots")
    hist = ws.layer_history("plots")
    assert hist["rows"].tolist()[:2] == [5000, 2]  # the import is kept as a version: the undo can be undone
    log = ws.read_table("audit_log")
    assert (log["action"] == "layer.restore").any()
    assert log.loc[log["action"] == "layer.restore", "username"].tolist() == ["admin1"]


def test_an_import_whose_tiles_fail_is_stored_with_a_warning(ws_path, tmp_path):
    """The tile build after the commit fails (no place to put the tiles): the import stands, the page warns."""
    Path(str(ws_path) + ".tiles").write_text("not a folder")
    at = _commit_with_fix(_app(), tmp_path)
    assert not at.exception and "已写入 plots:2 行" in at.success[0].value.replace("\\", "")
    assert any("数据已保存" in w.value and "地图首次打开时会再次生成" in w.value for w in at.warning), \
        [w.value for w in at.warning]
    assert len(open_workspace(ws_path).read("plots")) == 2


def test_non_admin_cannot_commit_an_import(ws_path, tmp_path):
    at = _commit_with_fix(_app(actor=Actor("zhang", "planner")), tmp_path)
    assert "无权" in at.error[0].value
    assert len(open_workspace(ws_path).read("plots")) == 5000


# ----------------------------------------------------------------------------- issue 13: office files
def _upload(at, name: str, data: bytes, layer: str, mode: str | None = None):
    at.get("file_uploader")[0].set_value((name, data, "application/octet-stream"))
    at.run()  # as in the browser: the file first (the layer follows its name), then the planner's pick
    at.selectbox(key="imp_layer").set_value(layer)
    if mode:
        at.selectbox(key="imp_mode").set_value(mode)
    _button(at, "imp_preview").click()
    return at.run()


def test_sandiao_shapefile_through_the_mapping_step(ws_path, tmp_path, sample_path):
    """A 三调 GBK Shapefile without 利用状态: the mapping step shows, the status is supplied there, the plots land."""
    from tests.office_files import park_place, sandiao_zip

    place = park_place(sample_path)
    z = sandiao_zip(tmp_path, place)
    at = _upload(_app().run(), z.name, z.read_bytes(), "plots", "upsert")
    assert not at.exception and not at.get("exception")
    assert any("利用状态" in e.value for e in at.error)  # what blocks, in the mapping step
    mapping = next(d.value for d in at.dataframe if tuple(d.value.columns)[:2] == ("source", "field"))
    assert dict(zip(mapping["source"], mapping["field"]))["BSM"] == "plot_id"
    assert "imp_commit" not in {b.key for b in at.button}  # nothing to commit yet
    at.selectbox(key="imp_set_status").set_value("in_use")
    at.multiselect(key="imp_derive").set_value(["park_id"])
    _button(at, "imp_apply_mapping").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    before = len(open_workspace(ws_path).read("plots"))
    _button(at, "imp_commit").click()
    at.run()
    assert not at.exception and "新增 3 行" in at.success[0].value.replace("\\", "")
    got = open_workspace(ws_path).read("plots").set_index("plot_id")
    assert len(got) == before + 3
    new = got.loc[["330381200000", "330381200001", "330381200002"]]
    assert set(new["status"]) == {"in_use"} and set(new["park_id"]) == {"IP01"}
    assert set(new["township_code"]) == {place["township"]}
    assert open_workspace(ws_path).metadata("plots")["source"] == f"{z.name}/瑞安市/地类图斑.shp"


def _one_township_geojson(ws_path) -> tuple[bytes, str, int]:
    plots = open_workspace(ws_path).read("plots")
    town = plots["township_code"].value_counts().index[-1]
    rows = plots[plots["township_code"] == town].head(2)
    g = gpd.GeoDataFrame({"地块编号": rows["plot_id"].tolist(), "用地分类": ["0601"] * 2, "利用状态": ["闲置"] * 2,
                          "所在镇街": [town] * 2}, geometry=rows.geometry.tolist(), crs=plots.crs)
    return g.to_json().encode(), str(town), int((plots["township_code"] == town).sum())


def test_replacing_plots_with_one_township_needs_confirmation(ws_path):
    data, town, in_town = _one_township_geojson(ws_path)
    before = hashlib.sha256(ws_path.read_bytes()).hexdigest()
    at = _upload(_app().run(), "one_town.geojson", data, "plots")  # auto → replace
    n = len(open_workspace(ws_path).read("plots"))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["导入前(行)"] == f"{n:,}" and metrics["导入后(行)"] == "2" and metrics["删除"] == f"{n - 2:,}"
    _button(at, "imp_commit").click()
    at.run()
    assert "未写入任何数据" in at.error[0].value.replace("\\", "")
    assert hashlib.sha256(ws_path.read_bytes()).hexdigest() == before
    # the same file as a township replace: removes only that township's other plots, still confirmed first
    at.selectbox(key="imp_mode").set_value("replace_township")
    at.run()
    at.selectbox(key="imp_township").set_value(town)
    _button(at, "imp_preview").click()
    at.run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["删除"] == f"{in_town - 2:,}" and metrics["导入后(行)"] == f"{n - in_town + 2:,}"
    at.checkbox(key="imp_confirm").check()
    _button(at, "imp_commit").click()
    at.run()
    assert not at.exception and not at.error
    got = open_workspace(ws_path).read("plots")
    assert len(got) == n - in_town + 2


def test_join_fix_shows_each_cell_old_to_new(ws_path):
    e = open_workspace(ws_path).read("enterprises", columns=["credit_code", "tax_10k"]).head(2)
    text = f"统一社会信用代码,税收(万元)\n{e.credit_code.iloc[0]},abc\n{e.credit_code.iloc[1]},7\n"
    at = _upload(_app().run(), "tax.csv", text.encode("gb18030"), "enterprises")
    at.radio(key="imp_on_problems").set_value("fix")
    at.run()
    cells = next(d.value for d in at.dataframe if "原值" in d.value.columns)
    rows = {k: (o, n) for k, o, n in zip(cells["编号"], cells["原值"], cells["新值"])}
    assert rows[e.credit_code.iloc[0]] == (f"{e.tax_10k.iloc[0]:g}", "(空)")
    assert rows[e.credit_code.iloc[1]] == (f"{e.tax_10k.iloc[1]:g}", "7")
    _button(at, "imp_commit").click()
    at.run()
    got = open_workspace(ws_path).read("enterprises").set_index("credit_code")
    assert pd.isna(got.loc[e.credit_code.iloc[0], "tax_10k"]) and got.loc[e.credit_code.iloc[1], "tax_10k"] == 7.0


def test_uploads_live_in_a_private_folder_deleted_with_the_session(ws_path, tmp_path):
    import gc

    from ui.import_page import UPLOAD_KEY

    at = _upload(_app().run(), "up.geojson", _geojson_bytes(tmp_path), "plots")
    first = at.session_state[UPLOAD_KEY].path
    assert first.name.startswith("planner-upload-") and (first / "up.geojson").exists()
    assert str(first) not in " ".join(e.value for e in [*at.error, *at.warning, *at.info])
    _button(at, "imp_preview").click()
    at.run()
    second = at.session_state[UPLOAD_KEY].path
    assert second != first and not first.exists() and second.exists()  # the old upload is gone
    del at
    gc.collect()
    assert not second.exists()  # the session's state was freed: its uploads with it


def test_sweep_removes_uploads_of_ended_servers_and_old_ones(tmp_path):
    import os
    import subprocess
    import sys
    import time

    from ui.uploads import UploadFolder, sweep

    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = tmp_path / f"planner-upload-{ended.stdout.strip()}-abc"
    dead.mkdir()
    live = UploadFolder(tmp_path)  # this process: kept
    old = tmp_path / "planner-upload-xyz"  # no pid in the name (an older server): kept until it is old
    old.mkdir()
    other = tmp_path / "not-ours"
    other.mkdir()
    assert sweep(tmp_path) == [dead] and live.path.exists() and old.exists()
    os.utime(old, (time.time() - 48 * 3600,) * 2)
    assert sweep(tmp_path) == [old] and live.path.exists() and other.exists()
    live.close()
    assert not live.path.exists() and live.closed


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
