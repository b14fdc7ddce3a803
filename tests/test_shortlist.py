"""Shortlist store on both backends: add (ids and frames), rank, status pipeline, history, reopen,
failure inside the transaction, who may do what (roles, township scope), edit conflicts."""
from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point, box

from geo.errors import AccessDeniedError, ConflictError, CRSMismatchError, WorkspaceError
from layers import shortlist as sl
from layers.access import SYSTEM, Actor
from layers.store import open_workspace

CRS = "EPSG:4549"


def A(name: str, role: str = "planner", township: str | None = None) -> Actor:
    """An acting user named ``name`` (a planner unless said otherwise)."""
    return Actor(name, role, township)


def _state(ws):
    """What a refused change must leave exactly as it was."""
    items = sl.load(ws)
    return (ws.version, items.drop(columns="geometry").to_json(), len(sl.history(ws)))


@pytest.fixture
def ws(empty_ws):
    """Two 1 km × 1 km townships side by side; four 100 m × 50 m plots (5000 m² = 7.5 亩 each)."""
    w = empty_ws
    towns = gpd.GeoDataFrame({"code": ["330381001", "330381002"], "name": ["安阳街道", "塘下镇"], "kind": ["街道", "镇"]},
                             geometry=[box(500000, 3070000, 501000, 3071000), box(501000, 3070000, 502000, 3071000)],
                             crs=CRS)
    xs = [500100, 500300, 501100, 501300]
    plots = gpd.GeoDataFrame({
        "plot_id": ["P1", "P2", "P3", "P4"], "land_use": ["0601"] * 4, "area_m2": [5000.0] * 4,
        "status": ["idle", "in_use", "halted", "in_use"], "land_holder": ["913303810000000001"] * 4,
        "township_code": [None, None, None, None],
    }, geometry=[box(x, 3070100, x + 100, 3070150) for x in xs], crs=CRS)
    w.write_many({"townships": towns, "plots": plots}, actor=SYSTEM)
    return w


def test_add_ids_snapshots_geometry_township_and_area(ws):
    out = sl.add(ws, ["P1", "P3"], kind="plot", actor=A("张三"), source="map")
    assert list(out["entry_id"]) == ["plot:P1", "plot:P3"]
    assert list(out["rank"]) == [1, 2]
    assert list(out["status"]) == ["候选", "候选"]
    assert list(out["township_code"]) == ["330381001", "330381002"]  # from the township containing the plot
    assert list(out["township_name"]) == ["安阳街道", "塘下镇"]
    assert list(out["area_m2"]) == [5000.0, 5000.0]
    assert list(out["land_holder"]) == ["913303810000000001"] * 2
    assert set(out.geom_type) == {"MultiPolygon"}
    assert out.crs.equals(ws.crs)
    assert list(out["added_by"]) == ["张三", "张三"]


def test_add_frame_keeps_explanation_and_given_township(ws):
    cluster = gpd.GeoDataFrame({"cluster_id": [7], "reasons_zh": ["连片低效用地 3 宗"], "score": [81.5], "final_class": ["D"],
                                "township_code": ["330381002"]},
                               geometry=[box(500000, 3070500, 500200, 3070600)], crs=CRS)
    out = sl.add(ws, cluster, kind="cluster", actor=A("李四"))
    row = out.iloc[0]
    assert row["entry_id"] == "cluster:7"
    assert (row["reasons"], row["score"], row["grade"]) == ("连片低效用地 3 宗", 81.5, "D")
    assert row["township_code"] == "330381002"  # given by the caller wins over the spatial lookup
    assert row["area_m2"] == 20000.0
    site = gpd.GeoDataFrame({"site_id": ["S1"]}, geometry=[Point(501500, 3070500)], crs=CRS)
    out = sl.add(ws, site, kind="site", actor=A("李四"))
    assert out.iloc[1]["entry_id"] == "site:S1" and out.iloc[1]["area_m2"] == 0.0


def test_add_rejects_bad_input_without_writing(ws):
    before = _state(ws)
    with pytest.raises(sl.ShortlistError, match=r"2 plot id\(s\) not found in layer 'plots': P8, P9"):
        sl.add(ws, ["P1", "P8", "P9"], kind="plot", actor=A("张三"))
    with pytest.raises(AccessDeniedError, match="no acting user"):
        sl.add(ws, ["P1"], kind="plot", actor="张三")
    with pytest.raises(sl.ShortlistError, match=r"item kind 'parcel' is not one of"):
        sl.add(ws, ["P1"], kind="parcel", actor=A("张三"))
    with pytest.raises(sl.ShortlistError, match="ids repeated in the input"):
        sl.add(ws, ["P1", "P1"], kind="plot", actor=A("张三"))
    wrong = gpd.GeoDataFrame({"site_id": ["S1"]}, geometry=[Point(120.6, 27.8)], crs="EPSG:4326")
    with pytest.raises(CRSMismatchError, match="reproject"):
        sl.add(ws, wrong, kind="site", actor=A("张三"))
    assert _state(ws) == before


def test_duplicates_raise_or_skip(ws):
    sl.add(ws, ["P1"], kind="plot", actor=A("张三"))
    with pytest.raises(sl.ShortlistError, match=r"already on the shortlist: plot:P1"):
        sl.add(ws, ["P1", "P2"], kind="plot", actor=A("张三"))
    out = sl.add(ws, ["P1", "P2"], kind="plot", actor=A("张三"), on_duplicate="skip")
    assert list(out["entry_id"]) == ["plot:P1", "plot:P2"]


def test_rank_insert_move_reorder_and_remove_renumber(ws):
    sl.add(ws, ["P1", "P2", "P3"], kind="plot", actor=A("a"))
    out = sl.add(ws, ["P4"], kind="plot", actor=A("a"), rank=1)
    assert list(out["item_id"]) == ["P4", "P1", "P2", "P3"] and list(out["rank"]) == [1, 2, 3, 4]
    out = sl.move(ws, "plot:P3", 2, actor=A("b"))
    assert list(out["item_id"]) == ["P4", "P3", "P1", "P2"]
    out = sl.reorder(ws, ["plot:P1", "plot:P2", "plot:P3", "plot:P4"], actor=A("b"), reason="按面积")
    assert list(out["item_id"]) == ["P1", "P2", "P3", "P4"]
    out = sl.remove(ws, ["plot:P2"], actor=A("b"), reason="已转让")
    assert list(out["item_id"]) == ["P1", "P3", "P4"] and list(out["rank"]) == [1, 2, 3]
    with pytest.raises(sl.ShortlistError, match=r"rank 9 is outside 1…3"):
        sl.move(ws, "plot:P1", 9, actor=A("b"))
    with pytest.raises(sl.ShortlistError, match="missing from the order: \\['plot:P4'\\]"):
        sl.reorder(ws, ["plot:P1", "plot:P3"], actor=A("b"))
    with pytest.raises(sl.ShortlistError, match="not on the shortlist: plot:P2"):
        sl.remove(ws, "plot:P2", actor=A("b"))


def test_status_pipeline_forward_back_and_invalid(ws):
    sl.add(ws, ["P1", "P2"], kind="plot", actor=A("a"))
    assert sl.allowed_statuses("候选") == ("已核实",)
    assert sl.allowed_statuses("已上报") == ("已核实", "已处置")
    with pytest.raises(sl.ShortlistError, match=r"候选 → 已上报 skips the pipeline .* it may go to 已核实"):
        sl.set_status(ws, ["plot:P1"], "已上报", actor=A("a"))
    out = sl.set_status(ws, ["plot:P1", "plot:P2"], "verified", actor=A("a"))  # English names are accepted
    assert list(out["status"]) == ["已核实", "已核实"]
    out = sl.update(ws, "plot:P1", actor=A("a"), status="已上报")
    with pytest.raises(sl.ShortlistError, match=r"moving back 已上报 → 已核实 needs a reason"):
        sl.update(ws, "plot:P1", actor=A("a"), status="已核实")
    out = sl.update(ws, "plot:P1", actor=A("a"), status="已核实", reason="材料不全,退回核实")
    assert out.loc[out.entry_id == "plot:P1", "status"].item() == "已核实"
    with pytest.raises(sl.ShortlistError, match=r"status 'done' is not one of"):
        sl.update(ws, "plot:P1", actor=A("a"), status="done")
    # one bad entry blocks the whole batch
    sl.update(ws, "plot:P1", actor=A("a"), status="已上报")
    with pytest.raises(sl.ShortlistError, match=r"1 problem\(s\).*plot:P2: 已核实 → 已处置"):
        sl.set_status(ws, ["plot:P1", "plot:P2"], "已处置", actor=A("a"))
    assert list(sl.load(ws)["status"]) == ["已上报", "已核实"]


def test_update_notes_and_township(ws):
    sl.add(ws, ["P1"], kind="plot", actor=A("a"))
    out = sl.update(ws, "plot:P1", actor=A("b"), notes="业主有意向转让", township_code="330381002")
    row = out.iloc[0]
    assert (row["notes"], row["township_code"], row["township_name"], row["updated_by"]) == (
        "业主有意向转让", "330381002", "塘下镇", "b")
    with pytest.raises(sl.ShortlistError, match=r"township_code '999' is not a township of this workspace"):
        sl.update(ws, "plot:P1", actor=A("b"), township_code="999")
    with pytest.raises(sl.ShortlistError, match="nothing to update"):
        sl.update(ws, "plot:P1", actor=A("b"))
    n = len(sl.history(ws))
    sl.update(ws, "plot:P1", actor=A("b"), notes="业主有意向转让")  # same value: no change, no history
    assert len(sl.history(ws)) == n


def test_history_records_every_change(ws):
    sl.add(ws, ["P1", "P2"], kind="plot", actor=A("张三"))
    sl.set_status(ws, "plot:P1", "已核实", actor=A("李四"))
    sl.update(ws, "plot:P1", actor=A("李四"), status="候选", notes="重新核实", reason="面积有误")
    sl.move(ws, "plot:P2", 1, actor=A("王五"))
    sl.remove(ws, "plot:P2", actor=A("王五"), reason="不再列入")
    h = sl.history(ws)
    got = list(zip(h["who"], h["action"], h["entry_id"], h["field"], h["old_value"].fillna(""), h["new_value"].fillna(""),
                   h["reason"].fillna("")))
    assert got[:8] == [
        ("张三", "add", "plot:P1", "*", "", "候选", ""),
        ("张三", "add", "plot:P2", "*", "", "候选", ""),
        ("李四", "update", "plot:P1", "status", "候选", "已核实", ""),
        ("李四", "update", "plot:P1", "status", "已核实", "候选", "面积有误"),
        ("李四", "update", "plot:P1", "notes", "", "重新核实", "面积有误"),
        ("王五", "reorder", "plot:P1", "rank", "1", "2", ""),
        ("王五", "reorder", "plot:P2", "rank", "2", "1", ""),
        ("王五", "remove", "plot:P2", "*", got[7][4], "", "不再列入"),
    ]
    assert '"item_id": "P2"' in got[7][4] and "MULTIPOLYGON" in got[7][4]  # the removed row can be re-created
    assert got[8] == ("王五", "reorder", "plot:P1", "rank", "2", "1", "renumbered after removal")
    assert list(h["history_id"]) == list(range(1, len(h) + 1))
    assert list(sl.history(ws, "plot:P2")["action"]) == ["add", "reorder", "remove"]


def test_survives_reopen(ws):
    sl.add(ws, ["P2", "P4"], kind="plot", actor=A("a"))
    sl.set_status(ws, "plot:P4", "已核实", actor=A("a"))
    again = open_workspace(ws.location, readonly=True)
    got = sl.load(again)
    assert list(got["entry_id"]) == ["plot:P2", "plot:P4"]
    assert list(got["status"]) == ["候选", "已核实"]
    assert got.geometry.area.tolist() == [5000.0, 5000.0]
    assert len(sl.history(again)) == 3


def test_readonly_workspace_refuses(ws):
    ro = open_workspace(ws.location, readonly=True)
    with pytest.raises(WorkspaceError, match="read-only"):
        sl.add(ro, ["P1"], kind="plot", actor=A("a"))


def test_empty_shortlist_loads_with_every_field(ws):
    got = sl.load(ws)
    assert got.empty and list(got.columns) == list(sl.ITEM_FIELDS) + ["geometry", "item_missing"]
    sl.add(ws, ["P1"], kind="plot", actor=A("a"))
    assert sl.remove(ws, "plot:P1", actor=A("a")).empty
    assert sl.load(ws).empty and len(sl.history(ws)) == 2


def test_failure_inside_the_transaction_changes_nothing(ws, monkeypatch):
    """The items are already changed inside the transaction when writing the history fails: all rolls back."""
    sl.add(ws, ["P1", "P2"], kind="plot", actor=A("a"))
    before = _state(ws)
    with ws.reading() as r:
        tx_class = type(r)
    original = tx_class.insert

    def fail_on_history(self, table, frame):
        if table == sl.HISTORY_TABLE:
            raise OSError("disk full (simulated)")
        return original(self, table, frame)

    monkeypatch.setattr(tx_class, "insert", fail_on_history)
    with pytest.raises(OSError, match="disk full"):
        sl.set_status(ws, ["plot:P1", "plot:P2"], "已核实", actor=A("a"))
    with pytest.raises(OSError, match="disk full"):
        sl.remove(ws, "plot:P1", actor=A("a"))
    monkeypatch.undo()
    assert _state(ws) == before
    assert list(sl.load(ws)["status"]) == ["候选", "候选"]


def test_on_sample_workspace_copy(sample_copy):
    ws = sample_copy
    plots = ws.read("plots", where_in={"plot_id": ["P000001", "P000002"]})
    out = sl.add(ws, ["P000001", "P000002"], kind="plot", actor=A("规划科"))
    assert list(out["township_code"]) == plots.set_index("plot_id").loc[["P000001", "P000002"], "township_code"].tolist()
    assert out["township_name"].notna().all()
    assert out["area_m2"].round(0).tolist() == plots.set_index("plot_id").loc[["P000001", "P000002"]].area.round(0).tolist()


# --- who may do what ------------------------------------------------------------------------------
def test_viewer_changes_nothing(ws):
    sl.add(ws, ["P1"], kind="plot", actor=A("p"))
    before = _state(ws)
    viewer = A("guest", "viewer")
    for call in (lambda: sl.add(ws, ["P2"], kind="plot", actor=viewer),
                 lambda: sl.update(ws, "plot:P1", actor=viewer, notes="x"),
                 lambda: sl.set_status(ws, "plot:P1", "已核实", actor=viewer),
                 lambda: sl.move(ws, "plot:P1", 1, actor=viewer),
                 lambda: sl.reorder(ws, ["plot:P1"], actor=viewer),
                 lambda: sl.remove(ws, "plot:P1", actor=viewer)):
        with pytest.raises(AccessDeniedError):
            call()
    assert _state(ws) == before


def test_official_notes_and_disposes_own_township_only(ws):
    sl.add(ws, ["P1", "P3"], kind="plot", actor=A("p"))  # P1 in 330381001 (安阳), P3 in 330381002 (塘下)
    sl.set_status(ws, ["plot:P1", "plot:P3"], "已核实", actor=A("p"))
    sl.set_status(ws, ["plot:P1", "plot:P3"], "已上报", actor=A("p"))
    anyang = A("anyang1", "official", "330381001")
    assert list(sl.load(ws, actor=anyang)["entry_id"]) == ["plot:P1"]  # sees only their township
    sl.update(ws, "plot:P1", actor=anyang, notes="已约谈业主")
    out = sl.update(ws, "plot:P1", actor=anyang, status="已处置")
    assert out.loc[out.entry_id == "plot:P1", "status"].item() == "已处置"
    before = _state(ws)
    with pytest.raises(AccessDeniedError, match="330381002"):
        sl.update(ws, "plot:P3", actor=anyang, notes="越权")
    with pytest.raises(AccessDeniedError, match="330381002"):
        sl.set_status(ws, "plot:P3", "已处置", actor=anyang)
    with pytest.raises(AccessDeniedError):  # other status steps are the planners'
        sl.update(ws, "plot:P1", actor=anyang, status="已上报", reason="重新上报")
    with pytest.raises(AccessDeniedError):
        sl.update(ws, "plot:P1", actor=anyang, township_code="330381002")
    with pytest.raises(AccessDeniedError):
        sl.add(ws, ["P2"], kind="plot", actor=anyang)
    assert _state(ws) == before


def test_stale_edit_is_refused_with_who_and_when(ws):
    sl.add(ws, ["P1"], kind="plot", actor=A("zhang"))
    seen = int(sl.load(ws).iloc[0]["row_version"])
    sl.update(ws, "plot:P1", actor=A("li"), status="已核实", expected_version=seen)
    with pytest.raises(ConflictError, match=r"changed by li at \d\d:\d\d") as err:
        sl.update(ws, "plot:P1", actor=A("zhang"), notes="我的备注", expected_version=seen)
    assert err.value.current["status"] == "已核实" and err.value.current["row_version"] == seen + 1
    assert "li" in err.value.message_zh and "当前内容" in err.value.message_zh
    assert sl.load(ws).iloc[0]["notes"] is pd.NA or pd.isna(sl.load(ws).iloc[0]["notes"])
    # with the current version the edit goes through
    sl.update(ws, "plot:P1", actor=A("zhang"), notes="我的备注", expected_version=seen + 1)
    assert sl.load(ws).iloc[0]["notes"] == "我的备注"


def test_every_change_is_audited(ws):
    sl.add(ws, ["P1"], kind="plot", actor=A("zhang"))
    sl.update(ws, "plot:P1", actor=A("zhang"), notes="n")
    log = ws.read_table("audit_log").sort_values("audit_id")
    tail = log.tail(2)
    assert tail["action"].tolist() == ["shortlist.add", "shortlist.note"]
    assert tail["username"].tolist() == ["zhang", "zhang"]
    assert "备注" in tail["summary"].iloc[-1]
