"""The workspace store on both backends: create, write, read (bbox, columns), metadata, versions and
restore, rasters, read-only, all-or-nothing writes, names, settings."""
from __future__ import annotations

import hashlib
import os
import sqlite3

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from geo.errors import (
    AccessDeniedError,
    CRSMismatchError,
    LayerNotFoundError,
    MissingCRSError,
    SchemaError,
    WorkspaceError,
)
from layers.store import create_workspace, open_workspace

CRS = "EPSG:4549"


def _townships(n=3, start=0):
    return gpd.GeoDataFrame(
        {"code": [f"33038100{i}" for i in range(start, start + n)], "name": [f"镇{i}" for i in range(start, start + n)],
         "kind": ["镇"] * n},
        geometry=[box(500000 + i * 1000, 3070000, 501000 + i * 1000, 3071000) for i in range(start, start + n)], crs=CRS)


def _sha(path):
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def test_create_write_read_roundtrip(empty_ws, system):
    empty_ws.write("townships", _townships(), actor=system, source="unit test")
    assert empty_ws.layers() == ["townships"]
    got = empty_ws.read("townships")
    assert isinstance(got, gpd.GeoDataFrame)
    assert got.crs.to_epsg() == 4549
    assert got["code"].tolist() == ["330381000", "330381001", "330381002"]
    assert got.geometry.area.tolist() == [1_000_000.0] * 3
    assert str(got["name"].dtype).startswith(("string", "str"))


def test_read_with_bbox_columns_and_where_in(empty_ws, system):
    empty_ws.write("townships", _townships(), actor=system)
    got = empty_ws.read("townships", bbox=(501200, 3070200, 501800, 3070800), columns=["code"])
    assert got["code"].tolist() == ["330381001"]
    assert list(got.columns) == ["code", "geometry"]
    # untrusted values are bound parameters: a quote in an id is just a value
    hit = empty_ws.read("townships", where_in={"code": ["330381002", "x' OR '1'='1"]})
    assert hit["code"].tolist() == ["330381002"]
    assert empty_ws.columns("townships")[:3] == ["code", "name", "kind"]


def test_metadata_records_source_time_rows_and_version(empty_ws, system):
    empty_ws.write("townships", _townships(2), actor=system, source="三调 2023")
    meta = empty_ws.metadata("townships")
    assert meta["row_count"] == 2
    assert meta["source"] == "三调 2023"
    assert meta["crs"] == "EPSG:4549"
    assert meta["imported_at"].endswith("Z")  # stored in UTC
    assert meta["version"] == 1 and meta["changed_by"] == "system"


def test_custom_table_roundtrip(empty_ws, system):
    empty_ws.write("notes", pd.DataFrame({"plot_id": ["P1", "P2"], "rank": [2, 1], "ok": [True, False],
                                          "share": [0.5, np.nan]}), actor=system)
    got = empty_ws.read_table("notes")
    assert got["plot_id"].tolist() == ["P1", "P2"]
    assert got["rank"].tolist() == [2, 1]
    assert got["ok"].tolist() == [True, False]
    assert got["share"].iloc[0] == 0.5 and np.isnan(got["share"].iloc[1])


def test_unknown_layer_names_what_exists(empty_ws, system):
    empty_ws.write("townships", _townships(), actor=system)
    with pytest.raises(LayerNotFoundError, match="no layer 'plots'.*townships"):
        empty_ws.read("plots")


@pytest.mark.parametrize("name", ["Plots", "1abc", "gpkg_contents", "ws_info", "a-b", "x; DROP TABLE plots", "runs",
                                  "shortlist", "ws_version_1", 'x"; DROP SCHEMA public; --'])
def test_bad_layer_names_refused(empty_ws, system, name):
    with pytest.raises(WorkspaceError, match="not allowed"):
        empty_ws.write(name, pd.DataFrame({"a": [1]}), actor=system)


def test_hostile_column_names_are_identifiers_not_sql(empty_ws, system):
    empty_ws.write("notes", pd.DataFrame({'we"ird; DROP TABLE x': ["ok"]}), actor=system)
    assert empty_ws.read_table("notes").columns.tolist() == ['we"ird; DROP TABLE x']


def test_crs_mismatch_and_missing_refused_and_nothing_changes(empty_ws, system):
    empty_ws.write("townships", _townships(), actor=system)
    before = (empty_ws.version, empty_ws.layer_history("townships").to_dict("records"))
    with pytest.raises(CRSMismatchError, match="EPSG:4326.*EPSG:4549"):
        empty_ws.write("townships", _townships().to_crs(4326), actor=system)
    with pytest.raises(MissingCRSError, match="no CRS"):
        empty_ws.write("townships", _townships().set_crs(None, allow_override=True), actor=system)
    assert (empty_ws.version, empty_ws.layer_history("townships").to_dict("records")) == before


def test_schema_problems_collected_before_writing(empty_ws, system):
    bad = _townships()
    bad.loc[0, "kind"] = "村"
    bad.loc[1, "name"] = None
    with pytest.raises(SchemaError) as err:
        empty_ws.write("townships", bad, actor=system)
    msg = str(err.value)
    assert "kind" in msg and "'村'" in msg and "name: required but empty" in msg
    assert empty_ws.layers() == []


def test_write_many_is_all_or_nothing(empty_ws, system):
    empty_ws.write("townships", _townships(), actor=system)
    bad = _townships().drop(columns="name")
    with pytest.raises(SchemaError):
        empty_ws.write_many({"extra_result": _townships(), "townships": bad}, actor=system)
    assert "extra_result" not in empty_ws.layers()
    assert len(empty_ws.read("townships")) == 3


def test_failure_inside_the_transaction_rolls_everything_back(empty_ws, system, monkeypatch):
    """An error after one layer was already replaced inside the transaction leaves the old data."""
    empty_ws.write("townships", _townships(2), actor=system)
    from layers.store.base import Transaction

    original = Transaction.replace_layer
    calls = {"n": 0}

    def flaky(self, name, frame, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("connection lost")
        return original(self, name, frame, **kw)

    monkeypatch.setattr(Transaction, "replace_layer", flaky)
    with pytest.raises(RuntimeError, match="connection lost"):
        empty_ws.write_many({"townships": _townships(3), "other": pd.DataFrame({"a": [1]})}, actor=system)
    monkeypatch.undo()
    assert len(empty_ws.read("townships")) == 2
    assert "other" not in empty_ws.layers()
    assert empty_ws.layer_history("townships")["version"].tolist() == [1]


def test_replace_keeps_versions_and_restore_undoes(empty_ws, system):
    empty_ws.write("townships", _townships(3), actor=system, source="v1")
    empty_ws.write("townships", _townships(1), actor=system, source="v2")
    empty_ws.write("townships", _townships(2, start=5), actor=system, source="v3")
    hist = empty_ws.layer_history("townships")
    assert hist["version"].tolist() == [3, 2, 1] and hist["current"].tolist() == [True, False, False]
    assert hist["rows"].tolist() == [2, 1, 3]
    out = empty_ws.restore_layer("townships", 1, actor=system)
    assert out["new_version"] == 4
    assert empty_ws.read("townships")["code"].tolist() == ["330381000", "330381001", "330381002"]
    hist = empty_ws.layer_history("townships")
    assert hist["version"].tolist() == [4, 3, 2]  # version 3 (replaced by the restore) is kept
    # the restored layer is a full layer again: spatial index, bbox reads
    assert empty_ws.read("townships", bbox=(501200, 3070200, 501800, 3070800))["code"].tolist() == ["330381001"]
    with pytest.raises(WorkspaceError, match="no kept version 1"):
        empty_ws.restore_layer("townships", 1, actor=system)


def test_versions_kept_are_bounded_by_the_setting(empty_ws, system):
    empty_ws.set_setting("keep_versions", 2, actor=system)
    for i in range(5):
        empty_ws.write("townships", _townships(i + 1), actor=system)
    assert empty_ws.layer_history("townships")["version"].tolist() == [5, 4, 3]
    with empty_ws.reading() as r:
        kept = [t for t in ("ws_version_1", "ws_version_2") if r.table_exists(t)]
    assert kept == []  # pruned tables are gone, not just unlisted


def test_delete_is_kept_as_a_version(empty_ws, system):
    empty_ws.write_many({"townships": _townships(), "scratch": pd.DataFrame({"a": [1]})}, actor=system)
    empty_ws.delete("scratch", actor=system)
    assert empty_ws.layers() == ["townships"]
    empty_ws.restore_layer("scratch", 1, actor=system)
    assert empty_ws.read_table("scratch")["a"].tolist() == [1]


def test_only_admins_write_layers(empty_ws, actors):
    for role in ("viewer", "official", "planner"):
        with pytest.raises(AccessDeniedError, match="may not"):
            empty_ws.write("townships", _townships(), actor=actors[role])
    empty_ws.write("townships", _townships(), actor=actors["admin"])
    with pytest.raises(AccessDeniedError):
        empty_ws.restore_layer("townships", 1, actor=actors["planner"])


def test_every_write_is_in_the_audit_log(empty_ws, actors):
    empty_ws.write("townships", _townships(), actor=actors["admin"], source="三调")
    log = empty_ws.read_table("audit_log")
    last = log.sort_values("audit_id").iloc[-1]
    assert last["username"] == "admin1" and last["action"] == "layer.write" and "townships" in last["target"]
    assert last["at"].endswith("Z")


def test_audit_log_is_append_only(empty_ws, system):
    empty_ws.write("townships", _townships(), actor=system)
    with pytest.raises(Exception, match="append-only"):
        with empty_ws.transaction(system, "layer.write") as tx:
            tx.execute("DELETE FROM audit_log")
    with pytest.raises(Exception, match="append-only"):
        with empty_ws.transaction(system, "layer.write") as tx:
            tx.execute("UPDATE audit_log SET username = 'nobody'")


def test_readonly_refuses_writes(empty_ws, system):
    empty_ws.write("townships", _townships(), actor=system)
    ro = open_workspace(empty_ws.location, readonly=True)
    ro.layers(), ro.read("townships", bbox=(500000, 3070000, 500500, 3070500)), ro.metadata()
    with pytest.raises(WorkspaceError, match="read-only"):
        ro.write("townships", _townships(), actor=system)


def test_readonly_gpkg_never_modifies_the_file(tmp_path, system):
    ws = create_workspace(tmp_path / "w.gpkg")
    ws.write("townships", _townships(), actor=system)
    before = _sha(ws.path)
    ro = open_workspace(ws.path, readonly=True)
    ro.layers(), ro.read("townships", bbox=(500000, 3070000, 500500, 3070500)), ro.metadata(), ro.version
    assert _sha(ws.path) == before
    # no lock files; SQLite's WAL index may be left by a reader, but the log holds nothing
    assert set(os.listdir(tmp_path)) <= {"w.gpkg", "w.gpkg-wal", "w.gpkg-shm"}
    wal = tmp_path / "w.gpkg-wal"
    assert not wal.exists() or wal.stat().st_size == 0


def test_location_reopens_and_identity_hides_passwords(empty_ws):
    again = open_workspace(empty_ws.location)
    assert again.identity == empty_ws.identity
    assert "password" not in empty_ws.identity


def test_not_a_workspace(tmp_path):
    plain = tmp_path / "plain.gpkg"
    _townships().to_file(plain, driver="GPKG")
    with pytest.raises(WorkspaceError, match="not a planner workspace"):
        open_workspace(plain)
    with pytest.raises(WorkspaceError, match="No workspace"):
        open_workspace(tmp_path / "missing.gpkg")


def test_geographic_working_crs_refused(tmp_path):
    with pytest.raises(WorkspaceError, match="not a projected metric CRS"):
        create_workspace(tmp_path / "w.gpkg", crs="EPSG:4490")


def test_settings_validated_and_audited(empty_ws, system):
    empty_ws.set_setting("timezone", "Asia/Urumqi", actor=system)
    assert open_workspace(empty_ws.location).timezone == "Asia/Urumqi"
    with pytest.raises(WorkspaceError, match="unknown time zone"):
        empty_ws.set_setting("timezone", "Mars/Base", actor=system)
    with pytest.raises(WorkspaceError, match="keep_versions"):
        empty_ws.set_setting("keep_versions", "-1", actor=system)


def test_register_raster_checks_crs(empty_ws, system, tmp_path):
    from rasterio.transform import from_origin

    from geo.raster import write_geotiff

    arr = np.arange(100, dtype="float32").reshape(10, 10)
    good = write_geotiff(tmp_path / "dem.tif", arr, from_origin(500000, 3071000, 10, 10), CRS, -9999)
    dest = empty_ws.register_raster("dem", good, actor=system, source="test")
    assert dest.exists() and empty_ws.rasters() == {"dem": dest}
    assert dest.read_bytes() == good.read_bytes()
    wrong = write_geotiff(tmp_path / "dem4326.tif", arr, from_origin(120, 28, 0.001, 0.001), "EPSG:4326", -9999)
    with pytest.raises(CRSMismatchError, match="gdalwarp"):
        empty_ws.register_raster("dem2", wrong, actor=system)
    with pytest.raises(LayerNotFoundError, match="no raster 'slope'"):
        empty_ws.raster_path("slope")


def test_reregistering_a_raster_switches_in_one_step(empty_ws, system, tmp_path, monkeypatch):
    from rasterio.transform import from_origin

    from geo.raster import write_geotiff
    from layers.store.base import WorkspaceBase

    tf = from_origin(500000, 3071000, 10, 10)
    first = empty_ws.register_raster("dem", write_geotiff(tmp_path / "a.tif", np.zeros((4, 4), "float32"), tf, CRS, -9999),
                                     actor=system)
    second_src = write_geotiff(tmp_path / "b.tif", np.ones((4, 4), "float32"), tf, CRS, -9999)

    def crash(*args, **kwargs):  # killed after the new content is stored, before the metadata switches
        raise RuntimeError("killed")

    monkeypatch.setattr(WorkspaceBase, "_record_raster", crash)
    with pytest.raises(RuntimeError):
        empty_ws.register_raster("dem", second_src, actor=system)
    monkeypatch.undo()
    assert empty_ws.rasters()["dem"].read_bytes() == first.read_bytes()
    second = empty_ws.register_raster("dem", second_src, actor=system)
    assert second.name != first.name and empty_ws.rasters()["dem"].read_bytes() == second_src.read_bytes()


def test_gpkg_is_readable_by_gdal_after_replace_and_restore(tmp_path, system):
    """GDAL (another process here: ogrinfo) reads layers, the spatial index and renamed versions."""
    import subprocess

    ws = create_workspace(tmp_path / "w.gpkg")
    ws.write("townships", _townships(3), actor=system)
    ws.write("townships", _townships(1), actor=system)
    ws.restore_layer("townships", 1, actor=system)
    out = subprocess.run(["ogrinfo", "-ro", "-q", str(ws.path), "townships", "-spat", "501200", "3070200", "501800",
                          "3070800"], capture_output=True, text=True, check=True).stdout
    assert out.count("OGRFeature") == 1 and "330381001" in out
    listing = subprocess.run(["ogrinfo", "-ro", "-q", str(ws.path)], capture_output=True, text=True, check=True).stdout
    assert "townships" in listing and "ws_version_2" in listing
    con = sqlite3.connect(ws.path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
