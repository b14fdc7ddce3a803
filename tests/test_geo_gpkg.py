"""GeoPackage over sqlite3 (geo.gpkg): blobs, spatial index triggers, rename and drop — checked against
GDAL as the second reader (in another process, as GDAL must never open a file this process writes)."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, box

from geo import gpkg

GEOMS = [box(0, 0, 1, 2), Point(5, 6), LineString([(0, 0), (3, 4)]), MultiPolygon([box(0, 0, 1, 1), box(2, 2, 3, 3)]),
         shapely.Polygon(), None]


def test_encode_decode_round_trip_and_header():
    blobs = gpkg.encode(GEOMS, srs_id=4549)
    assert blobs[-1] is None
    assert bytes(blobs[0][:2]) == b"GP" and blobs[0][3] == 0b11  # little-endian, xy envelope
    assert int.from_bytes(blobs[0][4:8], "little") == 4549
    assert blobs[4][3] & 0b1_0000  # empty flag
    back = gpkg.decode(blobs)
    assert all(shapely.equals(a, b) for a, b in zip(back[:4], GEOMS[:4]))
    assert back[4].is_empty and back[5] is None


def test_envelope_functions_read_the_header_and_headerless_points():
    con = sqlite3.connect(":memory:")
    gpkg.register_functions(con)
    blob = gpkg.encode([box(1, 2, 3, 4)], srs_id=4549)[0]
    assert con.execute("SELECT ST_MinX(?), ST_MaxX(?), ST_MinY(?), ST_MaxY(?), ST_IsEmpty(?)",
                       (blob,) * 5).fetchone() == (1.0, 3.0, 2.0, 4.0, 0)
    # GDAL writes points without an envelope: the functions read the WKB then
    point = b"GP\x00\x01" + (4549).to_bytes(4, "little") + shapely.to_wkb(Point(7, 8), byte_order=1)
    assert con.execute("SELECT ST_MinX(?), ST_MaxY(?)", (point, point)).fetchone() == (7.0, 8.0)


@pytest.fixture
def empty_gpkg(tmp_path):
    path = tmp_path / "t.gpkg"
    pyogrio.write_dataframe(gpd.GeoDataFrame({"a": [1]}, geometry=[Point(0, 0)], crs=4549), path, layer="seed")
    return path


def _gdal(path, *args) -> str:
    """ogrinfo in another process (GDAL's own SQLite must not open a file this process writes)."""
    return subprocess.run(["ogrinfo", "-ro", "-q", str(path), *args], capture_output=True, text=True, check=True).stdout


def test_created_table_is_a_gdal_readable_layer_with_index(empty_gpkg):
    con = gpkg.connect(empty_gpkg)
    frame = pd.DataFrame({"name": ["甲", "乙", None], "n": [1, 2, 3], "x": [0.5, np.nan, 2.0], "ok": [True, False, True],
                          "day": pd.to_datetime(["2025-06-30", None, "2026-01-01"]).astype("datetime64[ms]"),
                          "geom": [box(0, 0, 10, 10), box(100, 100, 110, 110), box(200, 0, 210, 10)]})
    with gpkg.transaction(con):
        gpkg.create_table(con, "parcels", [("name", "TEXT"), ("n", "INTEGER"), ("x", "REAL"), ("ok", "BOOLEAN"),
                                           ("day", "DATETIME")], geometry=("geom", "POLYGON", 4549), triggers=False)
        gpkg.insert_rows(con, "parcels", frame, geometry="geom", srs_id=4549, bulk_index=True)
    with gpkg.transaction(con):  # a later single-row insert goes through the triggers
        gpkg.insert_rows(con, "parcels", frame.iloc[[0]].assign(name="丙", geom=[box(300, 300, 301, 301)]),
                         geometry="geom", srs_id=4549)
    assert con.execute("SELECT count(*) FROM rtree_parcels_geom").fetchone()[0] == 4
    df, geoms = gpkg.read_rows(con, "parcels", bbox=(99, 99, 301, 301))
    assert df["name"].tolist() == ["乙", "丙"] and geoms[0].bounds == (100, 100, 110, 110)
    df, _ = gpkg.read_rows(con, "parcels", where_in={"name": ["甲", "x' OR 1=1 --"]})
    assert df["n"].tolist() == [1] and df["ok"].tolist() == [True]
    assert str(df["day"].dtype) == "datetime64[ms]"
    con.close()
    out = _gdal(empty_gpkg, "parcels", "-spat", "99", "99", "111", "111")
    assert out.count("OGRFeature") == 1 and "乙" in out
    back = subprocess.run([sys.executable, "-c", f"import pyogrio, json; d = pyogrio.read_dataframe({str(empty_gpkg)!r}, "
                           "layer='parcels'); print(json.dumps([d['name'].fillna('').tolist(), d['n'].tolist(), "
                           "str(d['day'].iloc[0])]))"], capture_output=True, text=True, check=True).stdout
    assert json.loads(back) == [["甲", "乙", "", "丙"], [1, 2, 3, 1], "2025-06-30 00:00:00"]


def test_rename_keeps_index_registry_and_triggers_working(empty_gpkg):
    con = gpkg.connect(empty_gpkg)
    with gpkg.transaction(con):
        gpkg.rename_table(con, "seed", "kept_v1")
    names = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
    assert "rtree_kept_v1_geom" in names and "rtree_seed_geom" not in names
    assert {"rtree_kept_v1_geom_insert", "rtree_kept_v1_geom_delete"} <= names
    assert not any(n.startswith(("rtree_seed", "trigger_insert_feature_count_seed")) for n in names)
    with gpkg.transaction(con):  # the renamed table's triggers keep the index current
        gpkg.insert_rows(con, "kept_v1", pd.DataFrame({"a": [2], "geom": [Point(50, 50)]}), geometry="geom",
                         srs_id=4549)
    assert con.execute("SELECT count(*) FROM rtree_kept_v1_geom").fetchone()[0] == 2
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    assert _gdal(empty_gpkg, "kept_v1", "-spat", "49", "49", "51", "51").count("OGRFeature") == 1


def test_drop_removes_every_trace(empty_gpkg):
    pyogrio.write_dataframe(gpd.GeoDataFrame({"b": [1]}, geometry=[Point(1, 1)], crs=4549), empty_gpkg, layer="other")
    con = gpkg.connect(empty_gpkg)
    with gpkg.transaction(con):
        gpkg.drop_table(con, "seed")
    left = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE name LIKE '%seed%'")]
    registry = con.execute("SELECT count(*) FROM gpkg_contents WHERE table_name = 'seed'").fetchone()[0]
    assert left == [] and registry == 0
    con.close()
    listing = _gdal(empty_gpkg)  # (GDAL will not open a GeoPackage without any layer: "other" stays)
    assert "other" in listing and "seed" not in listing


def test_transaction_rolls_back_on_error(empty_gpkg):
    con = gpkg.connect(empty_gpkg)
    with pytest.raises(RuntimeError):
        with gpkg.transaction(con):
            gpkg.rename_table(con, "seed", "gone")
            raise RuntimeError("killed midway")
    assert gpkg.table_exists(con, "seed") and not gpkg.table_exists(con, "gone")
