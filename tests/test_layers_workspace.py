"""Workspace: create, write, read (bbox, columns), metadata, rasters, read-only, atomic failure."""
from __future__ import annotations

import hashlib
import os

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from geo.errors import CRSMismatchError, LayerNotFoundError, MissingCRSError, SchemaError, WorkspaceError
from layers.workspace import Workspace

CRS = "EPSG:4549"


def _townships(n=3):
    return gpd.GeoDataFrame(
        {"code": [f"33038100{i}" for i in range(n)], "name": [f"镇{i}" for i in range(n)], "kind": ["镇"] * n},
        geometry=[box(500000 + i * 1000, 3070000, 501000 + i * 1000, 3071000) for i in range(n)], crs=CRS)


def _sha(path):
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


@pytest.fixture
def ws(tmp_path):
    return Workspace.create(tmp_path / "w.gpkg")


def test_create_write_read_roundtrip(ws):
    ws.write("townships", _townships(), source="unit test")
    assert ws.layers() == ["townships"]
    got = ws.read("townships")
    assert isinstance(got, gpd.GeoDataFrame)
    assert got.crs.to_epsg() == 4549
    assert got["code"].tolist() == ["330381000", "330381001", "330381002"]
    assert got.geometry.area.tolist() == [1_000_000.0] * 3
    assert str(got["name"].dtype).startswith(("string", "str"))


def test_read_with_bbox_and_columns(ws):
    ws.write("townships", _townships())
    got = ws.read("townships", bbox=(501200, 3070200, 501800, 3070800), columns=["code"])
    assert got["code"].tolist() == ["330381001"]
    assert "name" not in got.columns


def test_metadata_records_source_time_and_rows(ws):
    ws.write("townships", _townships(2), source="三调 2023")
    meta = ws.metadata("townships")
    assert meta["row_count"] == 2
    assert meta["source"] == "三调 2023"
    assert meta["crs"] == "EPSG:4549"
    assert meta["imported_at"]


def test_tables_roundtrip(ws):
    ws.write("shortlist", pd.DataFrame({"plot_id": ["P1", "P2"], "rank": [2, 1]}))
    got = ws.read_table("shortlist")
    assert got["plot_id"].tolist() == ["P1", "P2"]
    assert got["rank"].tolist() == [2, 1]


def test_unknown_layer_names_what_exists(ws):
    ws.write("townships", _townships())
    with pytest.raises(LayerNotFoundError, match="no layer 'plots'.*townships"):
        ws.read("plots")


@pytest.mark.parametrize("name", ["Plots", "1abc", "gpkg_contents", "ws_info", "a-b", "x; DROP TABLE plots"])
def test_bad_layer_names_refused(ws, name):
    with pytest.raises(WorkspaceError, match="not allowed"):
        ws.write(name, pd.DataFrame({"a": [1]}))


def test_crs_mismatch_and_missing_refused_and_file_unchanged(ws):
    ws.write("townships", _townships())
    before = _sha(ws.path)
    with pytest.raises(CRSMismatchError, match="EPSG:4326.*EPSG:4549"):
        ws.write("townships", _townships().to_crs(4326))
    with pytest.raises(MissingCRSError, match="no CRS"):
        ws.write("townships", _townships().set_crs(None, allow_override=True))
    assert _sha(ws.path) == before


def test_schema_problems_collected_before_writing(ws):
    bad = _townships()
    bad.loc[0, "kind"] = "村"
    bad.loc[1, "name"] = None
    before = _sha(ws.path)
    with pytest.raises(SchemaError) as err:
        ws.write("townships", bad)
    msg = str(err.value)
    assert "kind" in msg and "'村'" in msg and "name: required but empty" in msg
    assert _sha(ws.path) == before


def test_write_many_is_all_or_nothing(ws):
    ws.write("townships", _townships())
    before = _sha(ws.path)
    bad = _townships().drop(columns="name")
    with pytest.raises(SchemaError):
        ws.write_many({"extra_result": _townships(), "townships": bad})
    assert _sha(ws.path) == before
    assert "extra_result" not in ws.layers()


def test_failure_inside_gdal_write_leaves_file_identical(ws, monkeypatch):
    ws.write("townships", _townships())
    before = _sha(ws.path)
    import geo.io

    def boom(tmp):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        geo.io.write_gpkg_layers(ws.path, {"other": _townships()}, after_write=boom)
    assert _sha(ws.path) == before
    assert not [p for p in os.listdir(ws.path.parent) if p.endswith(".tmp.gpkg")]


def test_readonly_never_modifies(ws, tmp_path):
    ws.write("townships", _townships())
    before = _sha(ws.path)
    ro = Workspace.open(ws.path, readonly=True)
    ro.layers(), ro.read("townships", bbox=(500000, 3070000, 500500, 3070500)), ro.metadata()
    with pytest.raises(WorkspaceError, match="read-only"):
        ro.write("townships", _townships())
    assert _sha(ws.path) == before
    assert sorted(os.listdir(tmp_path)) == ["w.gpkg", "w.gpkg.lock"]


def test_delete_layer(ws):
    ws.write_many({"townships": _townships(), "scratch": pd.DataFrame({"a": [1]})})
    ws.delete("scratch")
    assert ws.layers() == ["townships"]


def test_not_a_workspace(tmp_path):
    plain = tmp_path / "plain.gpkg"
    _townships().to_file(plain, driver="GPKG")
    with pytest.raises(WorkspaceError, match="not a planner workspace"):
        Workspace.open(plain)
    with pytest.raises(WorkspaceError, match="No workspace"):
        Workspace.open(tmp_path / "missing.gpkg")


def test_geographic_working_crs_refused(tmp_path):
    with pytest.raises(WorkspaceError, match="not a projected metric CRS"):
        Workspace.create(tmp_path / "w.gpkg", crs="EPSG:4490")


def test_register_raster_checks_crs(ws, tmp_path):
    from rasterio.transform import from_origin

    from geo.raster import write_geotiff

    arr = np.arange(100, dtype="float32").reshape(10, 10)
    good = write_geotiff(tmp_path / "dem.tif", arr, from_origin(500000, 3071000, 10, 10), CRS, -9999)
    dest = ws.register_raster("dem", good, source="test")
    assert dest.exists() and ws.rasters() == {"dem": dest}
    wrong = write_geotiff(tmp_path / "dem4326.tif", arr, from_origin(120, 28, 0.001, 0.001), "EPSG:4326", -9999)
    with pytest.raises(CRSMismatchError, match="gdalwarp"):
        ws.register_raster("dem2", wrong)
    with pytest.raises(LayerNotFoundError, match="no raster 'slope'"):
        ws.raster_path("slope")


def test_reregistering_a_raster_switches_files_in_one_step(ws, tmp_path, monkeypatch):
    from rasterio.transform import from_origin

    from geo.raster import write_geotiff
    import layers.workspace as workspace_mod

    tf = from_origin(500000, 3071000, 10, 10)
    first = ws.register_raster("dem", write_geotiff(tmp_path / "a.tif", np.zeros((4, 4), "float32"), tf, CRS, -9999))
    second_src = write_geotiff(tmp_path / "b.tif", np.ones((4, 4), "float32"), tf, CRS, -9999)

    # A crash after the new file is copied but before the metadata changes: the old raster stays registered.
    def crash(*args, **kwargs):
        raise RuntimeError("killed")

    monkeypatch.setattr(workspace_mod, "check_sqlite_integrity", crash)
    with pytest.raises(RuntimeError):
        ws.register_raster("dem", second_src)
    monkeypatch.undo()
    assert ws.rasters() == {"dem": first} and first.exists()

    second = ws.register_raster("dem", second_src)
    assert second != first and ws.rasters() == {"dem": second}
    assert not first.exists()
