"""geo.io: explicit drivers, content sniffing, atomic writes, GeoPackage integrity."""
import json
import os

import geopandas as gpd
import pyogrio
import pytest
import shapely

import geo.io as gio
from geo.errors import UnsafeInputError, WorkspaceError
from geo.io import (
    DRIVERS,
    atomic_path,
    check_sqlite_integrity,
    driver_for,
    read_vector,
    sniff_format,
)


def frame():
    return gpd.GeoDataFrame({"name": ["甲", "b"], "n": [1, 2]},
                            geometry=[shapely.box(560000, 3070000, 560010, 3070010), shapely.box(560020, 3070000,
                                                                                                 560030, 3070010)],
                            crs="EPSG:4549")


@pytest.mark.parametrize("name, driver", [("a.gpkg", "GPKG"), ("a.GeoJSON", "GeoJSON"), ("a.json", "GeoJSON"),
                                          ("a.shp", "ESRI Shapefile"), ("a.csv", "CSV"), ("a.fgb", "FlatGeobuf"),
                                          ("/vsizip//tmp/x.zip/dir/a.shp", "ESRI Shapefile")])
def test_driver_for(name, driver):
    assert driver_for(name) == driver


@pytest.mark.parametrize("name", ["a.vrt", "a.txt", "a", "a.dxf", "a.geojson.vrt", "/vsizip//tmp/x.zip/a.vrt"])
def test_driver_for_refuses(name):
    with pytest.raises(UnsafeInputError, match="not a supported vector format"):
        driver_for(name)


def test_kml_driver_is_a_kml_driver():
    assert DRIVERS[".kml"] in ("KML", "LIBKML")


@pytest.mark.parametrize("ext, driver", [(".gpkg", "GPKG"), (".geojson", "GeoJSON"), (".shp", "ESRI Shapefile"),
                                         (".fgb", "FlatGeobuf")])
def test_read_vector_round_trip(tmp_path, ext, driver):
    path = tmp_path / f"layer{ext}"
    pyogrio.write_dataframe(frame(), path, driver=driver, **({"encoding": "UTF-8"} if ext == ".shp" else {}))
    got = read_vector(path).sort_values("n")  # FlatGeobuf stores features in spatial-index order
    assert got["name"].tolist() == ["甲", "b"] and got["n"].tolist() == [1, 2]
    assert got.crs.to_epsg() == 4549
    assert got.geometry.area.tolist() == [100.0, 100.0]


def test_read_vector_bbox_and_columns(tmp_path):
    path = tmp_path / "l.gpkg"
    pyogrio.write_dataframe(frame(), path, driver="GPKG")
    got = read_vector(path, bbox=(560015, 3069990, 560040, 3070020), columns=["n"])
    assert got["n"].tolist() == [2] and "name" not in got.columns


def _vrt(tmp_path):
    secret = tmp_path / "secret.csv"
    secret.write_text("id,WKT\n1,POINT (1 2)\n")
    return f'<OGRVRTDataSource><OGRVRTLayer name="secret"><SrcDataSource>{secret}</SrcDataSource>' \
           f"</OGRVRTLayer></OGRVRTDataSource>"


@pytest.mark.parametrize("ext", [".geojson", ".csv", ".kml", ".gpkg", ".shp"])
def test_vrt_renamed_is_refused_without_gdal(tmp_path, monkeypatch, ext):
    evil = tmp_path / f"evil{ext}"
    evil.write_text(_vrt(tmp_path))

    def forbidden(*a, **k):
        raise AssertionError("GDAL must not open a VRT in disguise")

    monkeypatch.setattr(gio.pyogrio, "read_info", forbidden)
    monkeypatch.setattr(gio.pyogrio, "read_dataframe", forbidden)
    with pytest.raises(UnsafeInputError, match=r"content is a GDAL VRT .* not read"):
        read_vector(evil)


def test_vrt_renamed_fails_even_past_the_sniff(tmp_path, monkeypatch):
    # Defence in depth: with the sniff disabled, GDAL_SKIP / the driver check still refuse it.
    evil = tmp_path / "evil.geojson"
    evil.write_text(_vrt(tmp_path))
    monkeypatch.setattr(gio, "sniff_format", gio.driver_for)
    with pytest.raises((UnsafeInputError, WorkspaceError)):
        read_vector(evil)


def test_gpkg_renamed_geojson_refused(tmp_path):
    path = tmp_path / "l.gpkg"
    pyogrio.write_dataframe(frame(), path, driver="GPKG")
    fake = tmp_path / "l.geojson"
    fake.write_bytes(path.read_bytes())
    with pytest.raises(UnsafeInputError, match="extension says GeoJSON but the content is something else"):
        read_vector(fake)


def test_sniff_inside_zip(tmp_path):
    import zipfile

    z = tmp_path / "a.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("d/evil.geojson", _vrt(tmp_path))
        zf.writestr("d/ok.geojson", json.dumps({"type": "FeatureCollection", "features": []}))
    with pytest.raises(UnsafeInputError, match="GDAL VRT"):
        sniff_format(f"/vsizip/{z}/d/evil.geojson")
    assert sniff_format(f"/vsizip/{z}/d/ok.geojson") == "GeoJSON"


@pytest.mark.parametrize("path", ["https://example.com/a.geojson", "/vsicurl/http://x/a.geojson"])
def test_remote_paths_refused(path):
    with pytest.raises(UnsafeInputError, match="remote or database"):
        read_vector(path)


def test_truncated_file_is_workspace_error(tmp_path):
    p = tmp_path / "cut.geojson"
    p.write_text('{"type": "FeatureCollection", "features": [{"type": "Feat')
    with pytest.raises(WorkspaceError, match="cut.geojson: cannot be read as GeoJSON"):
        read_vector(p)


# ---------------------------------------------------------------- atomic writes
def test_atomic_path_success_replaces(tmp_path):
    target = tmp_path / "t.bin"
    target.write_bytes(b"old")
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["t.bin"]


def test_atomic_path_failure_keeps_target_byte_identical(tmp_path):
    target = tmp_path / "t.gpkg"
    target.write_bytes(b"precious bytes")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half written")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"precious bytes"
    assert os.listdir(tmp_path) == ["t.gpkg"]


def test_atomic_path_check_aborts(tmp_path):
    target = tmp_path / "t.bin"
    target.write_bytes(b"old")

    def check(p):
        raise WorkspaceError("bad")

    with pytest.raises(WorkspaceError):
        with atomic_path(target, check=check) as tmp:
            tmp.write_bytes(b"new")
    assert target.read_bytes() == b"old"


def test_integrity_check_refuses_non_database(tmp_path):
    p = tmp_path / "bad.gpkg"
    p.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(WorkspaceError, match="integrity check"):
        check_sqlite_integrity(p)
