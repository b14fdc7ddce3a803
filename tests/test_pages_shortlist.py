"""AppTest of the shortlist page: table, status steps and their history, notes, township, rank, removal, exports.

Every test works on a copy of the sample workspace (``PLANNER_WORKSPACE``), once as a GeoPackage
and once in PostGIS, never on ``data/ruian``, signed in as a planner (or the role the test is about).
"""
from __future__ import annotations

import io
import zipfile

import openpyxl
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from layers import shortlist
from layers.access import Actor
from layers.store import open_workspace
from tests.apptest import sign_in
from tests.conftest import copy_location

TIMEOUT = 60
PLOTS = ["P000001", "P000002", "P000003", "P000004"]
TESTER = Actor("测试员", "planner")
PREP = Actor("准备", "planner")


def _page():
    from ui.pages import shortlist as page

    page.render()


@pytest.fixture(scope="module")
def listed_template(module_sample) -> str:
    """A sample copy with four plots on the shortlist (copied again for each test), on each backend."""
    shortlist.add(module_sample, PLOTS, kind="plot", actor=PREP, source="test")
    return module_sample.location


@pytest.fixture
def ws_path(tmp_path, listed_template, monkeypatch, request) -> str:
    location = copy_location(listed_template, request, tmp_path)
    monkeypatch.setenv("PLANNER_WORKSPACE", location)
    return location


def _app(lang: str = "zh", actor: Actor = TESTER) -> AppTest:
    at = AppTest.from_function(_page, default_timeout=TIMEOUT)
    at.session_state["lang"] = lang
    sign_in(at, actor)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _by_label(widgets, label):
    hits = [w for w in widgets if w.label == label]
    assert hits, f"no widget labelled {label!r}; have {[w.label for w in widgets]}"
    return hits[0]


def _status(path: str, entry: str) -> str:
    items = shortlist.load(open_workspace(path))
    return str(items.set_index("entry_id").at[entry, "status"])


def test_table_lists_every_entry_with_counts(ws_path):
    at = _app()
    table = at.dataframe[0].value
    assert list(table["对象编号"]) == PLOTS
    assert list(table["排序"]) == [1, 2, 3, 4]
    assert set(table["状态"]) == {"候选"}
    assert table["责任镇街"].notna().all()
    assert [m.value for m in at.metric] == ["4 项", "0 项", "0 项", "0 项"]
    assert not at.error


def test_status_step_forward_is_saved_with_history(ws_path):
    at = _app()
    _by_label(at.selectbox, "状态").set_value("已核实")
    _by_label(at.text_area, "备注").input("现场已核实,厂房空置")
    at.button(key="FormSubmitter:sl_edit_form-保存修改").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert _status(ws_path, "plot:P000001") == "已核实"
    hist = shortlist.history(open_workspace(ws_path), "plot:P000001")
    last = hist[hist["action"] == "update"]
    assert set(last["field"]) == {"status", "notes"}
    assert (last["who"] == "测试员").all()
    assert "已保存" in at.success[0].value
    # the history table on the page shows the change, newest first
    history = at.dataframe[-1].value
    assert history.iloc[0]["操作人"] == "测试员"
    assert "已核实" in set(history["新值"])


def test_stepping_back_without_reason_is_refused_and_keeps_the_input(ws_path):
    shortlist.set_status(open_workspace(ws_path, readonly=False), ["plot:P000001"], "已核实", actor=PREP)
    at = _app()
    status = _by_label(at.selectbox, "状态")
    assert status.options == ["已核实", "候选", "已上报"]
    status.set_value("候选")
    _by_label(at.text_area, "备注").input("这段备注不能丢")
    at.button(key="FormSubmitter:sl_edit_form-保存修改").click().run()
    assert at.error and "需要填写原因" in at.error[0].value
    assert _status(ws_path, "plot:P000001") == "已核实"
    # nothing typed is lost: the form still holds the notes and the chosen status
    assert _by_label(at.text_area, "备注").value == "这段备注不能丢"
    assert _by_label(at.selectbox, "状态").value == "候选"
    # with a reason the step back goes through and the reason lands in the history
    _by_label(at.text_input, "原因(退回上一步时必填,记入修改记录)").input("核实有误")
    at.button(key="FormSubmitter:sl_edit_form-保存修改").click().run()
    assert not at.error
    assert _status(ws_path, "plot:P000001") == "候选"
    hist = shortlist.history(open_workspace(ws_path), "plot:P000001")
    assert "核实有误" in set(hist["reason"].dropna())


def test_move_and_township_change(ws_path):
    ws = open_workspace(ws_path, readonly=False)
    towns = ws.read("townships", columns=["code", "name"])
    at = _app()
    _by_label(at.selectbox, "条目").set_value("plot:P000003").run()
    current = shortlist.load(ws).set_index("entry_id").at["plot:P000003", "township_code"]
    other = next(c for c in towns["code"].astype(str) if c != current)
    _by_label(at.selectbox, "责任镇街").set_value(other)
    _by_label(at.number_input, "排序").set_value(1)
    at.button(key="FormSubmitter:sl_edit_form-保存修改").click().run()
    assert not at.error, [e.value for e in at.error]
    items = shortlist.load(open_workspace(ws_path))
    assert list(items["item_id"]) == ["P000003", "P000001", "P000002", "P000004"]
    assert items.set_index("item_id").at["P000003", "township_code"] == other


def test_remove_needs_a_reason(ws_path):
    at = _app()
    _by_label(at.selectbox, "条目").set_value("plot:P000002").run()
    at.button(key="FormSubmitter:sl_remove_form-移除该条目").click().run()
    assert "请填写移除原因" in at.error[0].value
    assert len(shortlist.load(open_workspace(ws_path))) == 4
    _by_label(at.text_input, "移除原因(必填)").input("已列入其他项目")
    at.button(key="FormSubmitter:sl_remove_form-移除该条目").click().run()
    items = shortlist.load(open_workspace(ws_path))
    assert "P000002" not in set(items["item_id"])
    hist = shortlist.history(open_workspace(ws_path), "plot:P000002")
    assert "已列入其他项目" in set(hist["reason"].dropna())


def test_bulk_status_refuses_skipping_steps(ws_path):
    at = _app()
    _by_label(at.multiselect, "条目").set_value(["plot:P000001", "plot:P000002"])
    _by_label(at.selectbox, "改为状态").set_value("已上报")
    at.button(key="FormSubmitter:sl_bulk_form-批量更改").click().run()
    assert at.error and "跳过了流程" in at.error[0].value
    assert _status(ws_path, "plot:P000001") == "候选"
    _by_label(at.selectbox, "改为状态").set_value("已核实")
    at.button(key="FormSubmitter:sl_bulk_form-批量更改").click().run()
    assert not at.error
    assert _status(ws_path, "plot:P000002") == "已核实"


def test_download_buttons_produce_the_files(ws_path):
    at = _app()
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["下载 Excel", "下载 CSV", "下载 GeoPackage", "下载 GeoJSON", "下载 KML", "下载 Shapefile(zip)"]
    from ui.pages.shortlist import export_bytes

    ws = open_workspace(ws_path, readonly=False)
    book = openpyxl.load_workbook(io.BytesIO(export_bytes(ws, "xlsx", None)))
    rows = list(book.worksheets[1].iter_rows(values_only=True)) if len(book.worksheets) > 1 else []
    assert any("P000001" in [str(v) for v in r] for r in rows)
    assert export_bytes(ws, "csv", None).startswith(b"\xef\xbb\xbf")
    names = zipfile.ZipFile(io.BytesIO(export_bytes(ws, "shp", None))).namelist()
    assert any(n.endswith(".cpg") for n in names)
    # the PDF is made on request, then offered for download
    at.button(key="sl_make_pdf").click().run()
    assert not at.error
    assert "下载 PDF 报告" in [b.label for b in at.get("download_button")]
    pdf = at.session_state["sl_pdf"][1]
    assert pdf.startswith(b"%PDF")


def test_one_township_scope_exports_only_its_items(ws_path):
    ws = open_workspace(ws_path, readonly=False)
    items = shortlist.load(ws)
    code = str(items["township_code"].iloc[0])
    at = _app()
    at.selectbox(key="sl_scope").set_value(code).run()
    assert not at.error
    table = at.dataframe[0].value
    assert set(table["责任镇街"]) == {items["township_name"].iloc[0]}
    import geopandas as gpd

    from ui.pages.shortlist import export_bytes

    gj = gpd.read_file(io.BytesIO(export_bytes(ws, "geojson", code)))
    assert len(gj) == int((items["township_code"] == code).sum())


def test_english_labels(ws_path):
    at = _app("en")
    assert "Item" in at.dataframe[0].value.columns
    assert _by_label(at.selectbox, "Status").options == ["Candidate", "Verified"]
    table = at.dataframe[0].value
    assert set(table["Status"]) <= {"Candidate", "Verified", "Reported", "Disposed"}  # not the stored Chinese
    assert set(table["Kind"]) <= {"Plot", "Cluster", "Site"}
    history = at.dataframe[-1].value
    assert not history["When"].str.contains("T|\\+00:00").any()  # local time, not stored UTC
    assert [b.label for b in at.get("download_button")][0] == "Download Excel"


# --- two people, one entry; roles ----------------------------------------------------------------------
def test_two_sessions_editing_one_entry_get_the_conflict_message(ws_path):
    """Session A opens the form; session B saves a change; A's save is refused with who/when and A's form
    then shows the entry as it is now (the issue: A's change was dropped with "nothing to save")."""
    first = _app(actor=Actor("zhang", "planner"))
    second = _app(actor=Actor("li", "planner"))
    _by_label(second.selectbox, "状态").set_value("已核实")
    second.button(key="FormSubmitter:sl_edit_form-保存修改").click().run()
    assert not second.error and _status(ws_path, "plot:P000001") == "已核实"
    _by_label(first.text_area, "备注").input("张的备注")
    first.button(key="FormSubmitter:sl_edit_form-保存修改").click().run()
    assert not first.exception
    text = " ".join(e.value for e in first.error)
    assert "保存冲突" in text and "li" in text and "已核实" in text
    assert _status(ws_path, "plot:P000001") == "已核实"
    assert pd.isna(shortlist.load(open_workspace(ws_path)).set_index("entry_id").at["plot:P000001", "notes"])
    # the form now shows the current status, and saving again goes through
    assert _by_label(first.selectbox, "状态").value == "已核实"
    _by_label(first.text_area, "备注").input("张的备注")
    first.button(key="FormSubmitter:sl_edit_form-保存修改").click().run()
    assert not first.error
    assert shortlist.load(open_workspace(ws_path)).set_index("entry_id").at["plot:P000001", "notes"] == "张的备注"


def test_viewer_sees_no_edit_form(ws_path):
    at = _app(actor=Actor("guest", "viewer"))
    assert not at.error
    assert not [w for w in at.text_area if w.label == "备注"]
    assert any("只能浏览和导出" in c.value for c in at.caption)
    assert [b.label for b in at.get("download_button")][0] == "下载 Excel"  # viewers may export


def test_official_sees_and_exports_only_their_township(ws_path):
    items = shortlist.load(open_workspace(ws_path))
    code = str(items["township_code"].iloc[0])
    official = Actor("town1", "official", code)
    at = _app(actor=official)
    table = at.dataframe[0].value
    assert set(table["责任镇街"]) == {items["township_name"].iloc[0]}
    assert len(table) == int((items["township_code"] == code).sum())
    assert not [s for s in at.selectbox if s.key == "sl_scope"]  # no way to pick another township
    # the status choice offers only what an official may do (nothing from 候选)
    assert _by_label(at.selectbox, "状态").options == ["候选"]
    _by_label(at.text_area, "备注").input("镇街已现场查看")
    at.button(key="FormSubmitter:sl_edit_form-保存修改").click().run()
    assert not at.error, [e.value for e in at.error]
    entry = f"plot:{table['对象编号'].iloc[0]}"
    assert shortlist.load(open_workspace(ws_path)).set_index("entry_id").at[entry, "notes"] == "镇街已现场查看"


def test_english_ui_shows_the_runs_english_reasons(ws_path):
    """The shortlist keeps the Chinese reasons; the English UI reads them from the run that listed the plot."""
    from analysis import pipeline

    ws = open_workspace(ws_path, readonly=False)
    plots = pipeline.load_run(ws, "sample")["plots"]
    listed = plots.loc[plots["is_low_efficiency"].astype(bool), "plot_id"].astype(str)
    pid = next(p for p in listed if p not in PLOTS)
    shortlist.add(ws, [pid], kind="plot", actor=Actor("测试员", "planner"), source_layer="run_sample_plots", source="low_efficiency:sample")
    table = _app("en").dataframe[0].value.set_index("Item")
    why = table.at[pid, "Why listed"]
    assert why.startswith(str(plots.set_index("plot_id").at[pid, "reasons_en"]).split(" (")[0])
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in why)
