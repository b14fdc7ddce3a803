"""Shortlist store: add (ids and frames), rank, status pipeline, history, reopen, atomic failure."""
from __future__ import annotations

import hashlib
import shutil

import geopandas as gpd
import pytest
from shapely.geometry import Point, box

import geo.io
from geo.errors import CRSMismatchError, WorkspaceError
from layers import shortlist as sl
from layers.workspace import Workspace

CRS = "EPSG:4549"


def _sha(path) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


@pytest.fixture
def ws(tmp_path):
    """Two 1 km × 1 km townships side by side; four 100 m × 50 m plots (5000 m² = 7.5 亩 each)."""
    w = Workspace.create(tmp_path / "w.gpkg")
    towns = gpd.GeoDataFrame({"code": ["330381001", "330381002"], "name": ["安阳街道", "塘下镇"], "kind": ["街道", "镇"]},
                             geometry=[box(500000, 3070000, 501000, 3071000), box(501000, 3070000, 502000, 3071000)],
                             crs=CRS)
    xs = [500100, 500300, 501100, 501300]
    plots = gpd.GeoDataFrame({
        "plot_id": ["P1", "P2", "P3", "P4"], "land_use": ["0601"] * 4, "area_m2": [5000.0] * 4,
        "status": ["idle", "in_use", "halted", "in_use"], "land_holder": ["913303810000000001"] * 4,
        "township_code": [None, None, None, None],
    }, geometry=[box(x, 3070100, x + 100, 3070150) for x in xs], crs=CRS)
    w.write_many({"townships": towns, "plots": plots})
    return w


def test_add_ids_snapshots_geometry_township_and_area(ws):
    out = sl.add(ws, ["P1", "P3"], kind="plot", who="张三", source="map")
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
    out = sl.add(ws, cluster, kind="cluster", who="李四")
    row = out.iloc[0]
    assert row["entry_id"] == "cluster:7"
    assert (row["reasons"], row["score"], row["grade"]) == ("连片低效用地 3 宗", 81.5, "D")
    assert row["township_code"] == "330381002"  # given by the caller wins over the spatial lookup
    assert row["area_m2"] == 20000.0
    site = gpd.GeoDataFrame({"site_id": ["S1"]}, geometry=[Point(501500, 3070500)], crs=CRS)
    out = sl.add(ws, site, kind="site", who="李四")
    assert out.iloc[1]["entry_id"] == "site:S1" and out.iloc[1]["area_m2"] == 0.0


def test_add_rejects_bad_input_without_writing(ws):
    before = _sha(ws.path)
    with pytest.raises(sl.ShortlistError, match=r"2 plot id\(s\) not found in layer 'plots': P8, P9"):
        sl.add(ws, ["P1", "P8", "P9"], kind="plot", who="张三")
    with pytest.raises(sl.ShortlistError, match="who is empty"):
        sl.add(ws, ["P1"], kind="plot", who="  ")
    with pytest.raises(sl.ShortlistError, match=r"item kind 'parcel' is not one of"):
        sl.add(ws, ["P1"], kind="parcel", who="张三")
    with pytest.raises(sl.ShortlistError, match="ids repeated in the input"):
        sl.add(ws, ["P1", "P1"], kind="plot", who="张三")
    wrong = gpd.GeoDataFrame({"site_id": ["S1"]}, geometry=[Point(120.6, 27.8)], crs="EPSG:4326")
    with pytest.raises(CRSMismatchError, match="reproject"):
        sl.add(ws, wrong, kind="site", who="张三")
    assert _sha(ws.path) == before


def test_duplicates_raise_or_skip(ws):
    sl.add(ws, ["P1"], kind="plot", who="张三")
    with pytest.raises(sl.ShortlistError, match=r"already on the shortlist: plot:P1"):
        sl.add(ws, ["P1", "P2"], kind="plot", who="张三")
    out = sl.add(ws, ["P1", "P2"], kind="plot", who="张三", on_duplicate="skip")
    assert list(out["entry_id"]) == ["plot:P1", "plot:P2"]


def test_rank_insert_move_reorder_and_remove_renumber(ws):
    sl.add(ws, ["P1", "P2", "P3"], kind="plot", who="a")
    out = sl.add(ws, ["P4"], kind="plot", who="a", rank=1)
    assert list(out["item_id"]) == ["P4", "P1", "P2", "P3"] and list(out["rank"]) == [1, 2, 3, 4]
    out = sl.move(ws, "plot:P3", 2, who="b")
    assert list(out["item_id"]) == ["P4", "P3", "P1", "P2"]
    out = sl.reorder(ws, ["plot:P1", "plot:P2", "plot:P3", "plot:P4"], who="b", reason="按面积")
    assert list(out["item_id"]) == ["P1", "P2", "P3", "P4"]
    out = sl.remove(ws, ["plot:P2"], who="b", reason="已转让")
    assert list(out["item_id"]) == ["P1", "P3", "P4"] and list(out["rank"]) == [1, 2, 3]
    with pytest.raises(sl.ShortlistError, match=r"rank 9 is outside 1…3"):
        sl.move(ws, "plot:P1", 9, who="b")
    with pytest.raises(sl.ShortlistError, match="missing from the order: \\['plot:P4'\\]"):
        sl.reorder(ws, ["plot:P1", "plot:P3"], who="b")
    with pytest.raises(sl.ShortlistError, match="not on the shortlist: plot:P2"):
        sl.remove(ws, "plot:P2", who="b")


def test_status_pipeline_forward_back_and_invalid(ws):
    sl.add(ws, ["P1", "P2"], kind="plot", who="a")
    assert sl.allowed_statuses("候选") == ("已核实",)
    assert sl.allowed_statuses("已上报") == ("已核实", "已处置")
    with pytest.raises(sl.ShortlistError, match=r"候选 → 已上报 skips the pipeline .* it may go to 已核实"):
        sl.set_status(ws, ["plot:P1"], "已上报", who="a")
    out = sl.set_status(ws, ["plot:P1", "plot:P2"], "verified", who="a")  # English names are accepted
    assert list(out["status"]) == ["已核实", "已核实"]
    out = sl.update(ws, "plot:P1", who="a", status="已上报")
    with pytest.raises(sl.ShortlistError, match=r"moving back 已上报 → 已核实 needs a reason"):
        sl.update(ws, "plot:P1", who="a", status="已核实")
    out = sl.update(ws, "plot:P1", who="a", status="已核实", reason="材料不全,退回核实")
    assert out.loc[out.entry_id == "plot:P1", "status"].item() == "已核实"
    with pytest.raises(sl.ShortlistError, match=r"status 'done' is not one of"):
        sl.update(ws, "plot:P1", who="a", status="done")
    # one bad entry blocks the whole batch
    sl.update(ws, "plot:P1", who="a", status="已上报")
    with pytest.raises(sl.ShortlistError, match=r"1 problem\(s\).*plot:P2: 已核实 → 已处置"):
        sl.set_status(ws, ["plot:P1", "plot:P2"], "已处置", who="a")
    assert list(sl.load(ws)["status"]) == ["已上报", "已核实"]


def test_update_notes_and_township(ws):
    sl.add(ws, ["P1"], kind="plot", who="a")
    out = sl.update(ws, "plot:P1", who="b", notes="业主有意向转让", township_code="330381002")
    row = out.iloc[0]
    assert (row["notes"], row["township_code"], row["township_name"], row["updated_by"]) == (
        "业主有意向转让", "330381002", "塘下镇", "b")
    with pytest.raises(sl.ShortlistError, match=r"township_code '999' is not a township of this workspace"):
        sl.update(ws, "plot:P1", who="b", township_code="999")
    with pytest.raises(sl.ShortlistError, match="nothing to update"):
        sl.update(ws, "plot:P1", who="b")
    n = len(sl.history(ws))
    sl.update(ws, "plot:P1", who="b", notes="业主有意向转让")  # same value: no change, no history
    assert len(sl.history(ws)) == n


def test_history_records_every_change(ws):
    sl.add(ws, ["P1", "P2"], kind="plot", who="张三")
    sl.set_status(ws, "plot:P1", "已核实", who="李四")
    sl.update(ws, "plot:P1", who="李四", status="候选", notes="重新核实", reason="面积有误")
    sl.move(ws, "plot:P2", 1, who="王五")
    sl.remove(ws, "plot:P2", who="王五", reason="不再列入")
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
    sl.add(ws, ["P2", "P4"], kind="plot", who="a")
    sl.set_status(ws, "plot:P4", "已核实", who="a")
    again = Workspace.open(ws.path, readonly=True)
    got = sl.load(again)
    assert list(got["entry_id"]) == ["plot:P2", "plot:P4"]
    assert list(got["status"]) == ["候选", "已核实"]
    assert got.geometry.area.tolist() == [5000.0, 5000.0]
    assert len(sl.history(again)) == 3


def test_readonly_workspace_refuses(ws):
    ro = Workspace.open(ws.path, readonly=True)
    with pytest.raises(WorkspaceError, match="read-only"):
        sl.add(ro, ["P1"], kind="plot", who="a")


def test_empty_shortlist_loads_with_every_field(ws):
    got = sl.load(ws)
    assert got.empty and list(got.columns) == list(sl.ITEM_FIELDS) + ["geometry"]
    sl.add(ws, ["P1"], kind="plot", who="a")
    assert sl.remove(ws, "plot:P1", who="a").empty
    assert sl.load(ws).empty and len(sl.history(ws)) == 2


def test_failed_save_leaves_file_byte_identical(ws, monkeypatch):
    sl.add(ws, ["P1", "P2"], kind="plot", who="a")
    before = _sha(ws.path)
    real = geo.io.pyogrio.write_dataframe

    def fail_on_history(df, path, *, layer=None, **kw):
        if layer == sl.HISTORY_TABLE:  # the items layer was already written into the temp copy
            raise OSError("disk full (simulated)")
        return real(df, path, layer=layer, **kw)

    monkeypatch.setattr(geo.io.pyogrio, "write_dataframe", fail_on_history)
    with pytest.raises(OSError, match="disk full"):
        sl.set_status(ws, ["plot:P1", "plot:P2"], "已核实", who="a")
    with pytest.raises(OSError, match="disk full"):
        sl.remove(ws, "plot:P1", who="a")
    monkeypatch.undo()
    assert _sha(ws.path) == before
    assert list(sl.load(ws)["status"]) == ["候选", "候选"]
    assert len(sl.history(ws)) == 2
    assert not [p for p in ws.path.parent.iterdir() if p.name.startswith(".w.")]  # no temp files left


def test_on_sample_workspace_copy(sample_path, tmp_path):
    path = tmp_path / "ruian.gpkg"
    shutil.copyfile(sample_path, path)
    ws = Workspace.open(path, readonly=False)
    plots = ws.read("plots", where="plot_id IN ('P000001', 'P000002')")
    out = sl.add(ws, ["P000001", "P000002"], kind="plot", who="规划科")
    assert list(out["township_code"]) == plots.set_index("plot_id").loc[["P000001", "P000002"], "township_code"].tolist()
    assert out["township_name"].notna().all()
    assert out["area_m2"].round(0).tolist() == plots.set_index("plot_id").loc[["P000001", "P000002"]].area.round(0).tolist()
    assert _sha(sample_path) != _sha(path)
