"""What only the PostGIS backend has: DSNs with a schema, connection errors, rasters stored in the
database and read by another app server, the sample moved in and out, format-1 schemas upgraded.

The shared behaviour of both backends is tested once, parametrised, in the other modules
(``backend`` / ``empty_ws`` / ``sample_copy`` fixtures in conftest.py).
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from geo.errors import WorkspaceError
from layers.store import open_workspace

pytestmark = pytest.mark.postgis


def test_dsn_with_schema_opens_and_uri_form(pg_dsn, system):
    from layers.store import create_workspace

    ws = create_workspace(f"{pg_dsn} schema=uri_test", overwrite=True)
    ws.write("notes", pd.DataFrame({"a": [1]}), actor=system)
    parts = dict(w.split("=", 1) for w in pg_dsn.split())
    uri = f"postgresql:///{parts['dbname']}?host={parts['host']}&port={parts['port']}&user={parts['user']}&schema=uri_test"
    again = open_workspace(uri)
    assert again.schema == "uri_test" and again.read_table("notes")["a"].tolist() == [1]
    assert open_workspace(again.location).identity == again.identity


def test_missing_schema_and_unreachable_server(pg_dsn):
    with pytest.raises(WorkspaceError, match="no planner workspace"):
        open_workspace(f"{pg_dsn} schema=nothing_here")
    with pytest.raises(WorkspaceError, match="Cannot connect"):
        open_workspace("host=/nonexistent port=1 dbname=x user=y")
    with pytest.raises(WorkspaceError, match="not allowed"):
        open_workspace(f"{pg_dsn} schema=public")


def test_rasters_live_in_the_database(pg_dsn, tmp_path, system, monkeypatch):
    from rasterio.transform import from_origin

    from geo.raster import write_geotiff
    from layers.store import create_workspace

    monkeypatch.setenv("PLANNER_CACHE_DIR", str(tmp_path / "server_a"))
    ws = create_workspace(f"{pg_dsn} schema=raster_test", overwrite=True)
    tif = write_geotiff(tmp_path / "dem.tif", np.arange(16, dtype="float32").reshape(4, 4),
                        from_origin(500000, 3071000, 10, 10), "EPSG:4549", -9999)
    ws.register_raster("dem", tif, actor=system)
    # another app server: its own cache folder, nothing shared on disk
    monkeypatch.setenv("PLANNER_CACHE_DIR", str(tmp_path / "server_b"))
    other = open_workspace(f"{pg_dsn} schema=raster_test")
    path = other.raster_path("dem")
    assert str(path).startswith(str(tmp_path / "server_b")) and path.read_bytes() == tif.read_bytes()


def test_format_1_schema_is_upgraded(pg_dsn, system):
    """A schema written by the previous version (``_row`` ordering, bookkeeping as layers) opens and works."""
    import psycopg

    with psycopg.connect(pg_dsn) as con:
        con.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        con.execute("DROP SCHEMA IF EXISTS old_fmt CASCADE")
        con.execute("CREATE SCHEMA old_fmt")
        con.execute("CREATE TABLE old_fmt.ws_info (key text PRIMARY KEY, value text)")
        con.execute("CREATE TABLE old_fmt.ws_layers (layer text PRIMARY KEY, kind text, crs text, source text, "
                    "imported_at text, row_count bigint, extra text)")
        con.execute("CREATE TABLE old_fmt.ws_rasters (kind text PRIMARY KEY, file text, crs text, source text, "
                    "imported_at text, info text)")
        con.execute("INSERT INTO old_fmt.ws_info VALUES ('crs', 'EPSG:4549'), ('format', 'planner-workspace/1'), "
                    "('version', '3'), ('raster_dir', '/nonexistent')")
        con.execute("CREATE TABLE old_fmt.townships (_row bigint, code text, name text, kind text, "
                    "geom geometry(Geometry, 4549))")
        con.execute("INSERT INTO old_fmt.townships VALUES (0, '330381001', '甲镇', '镇', "
                    "ST_GeomFromText('POLYGON((500000 3070000,501000 3070000,501000 3071000,500000 3070000))', 4549))")
        con.execute("INSERT INTO old_fmt.ws_layers VALUES ('townships', 'core', 'EPSG:4549', 'old', '2025-01-01', 1, '{}')")
        con.execute("CREATE TABLE old_fmt.runs (_row bigint, run_id text, preset text, created text, as_of text, "
                    "parameters text, counts text, seconds double precision, workspace_version text)")
        con.execute("INSERT INTO old_fmt.runs VALUES (0, 'old_run', 'ruian_default', '2025-01-01T00:00:00+08:00', "
                    "'2025-01-01', '{}', '{}', 1.0, '[1]')")
        con.execute("INSERT INTO old_fmt.ws_layers VALUES ('runs', 'table', '', 'old', '2025-01-01', 1, '{}')")
    ws = open_workspace(f"{pg_dsn} schema=old_fmt", readonly=False)
    assert ws.info["format"] == "planner-workspace/2"
    assert ws.layers() == ["townships"] and ws.read("townships")["name"].tolist() == ["甲镇"]
    from layers import runs

    assert runs.list_runs(ws)["run_id"].tolist() == ["old_run"]
    ws.write("townships", ws.read("townships"), actor=system)  # writes work after the upgrade
    assert ws.layer_history("townships")["version"].tolist() == [2, 1]


def test_copy_gpkg_to_postgis_and_back_is_exact(pg_dsn, sample_path, tmp_path, system):
    """The office's move: the sample into PostGIS and out again, every layer, table and raster verified."""
    from layers.store.copy import content_digest, copy_workspace

    report = copy_workspace(sample_path, f"{pg_dsn} schema=moved", overwrite=True, actor=system)
    assert report["verified"] and report["layers"]["plots"] == 5000 and set(report["rasters"]) == {
        "dem", "slope", "flood_depth"}
    back = tmp_path / "back.gpkg"
    copy_workspace(f"{pg_dsn} schema=moved", back, actor=system)
    a, b = open_workspace(sample_path), open_workspace(back)
    for name in ("plots", "enterprises", "run_sample_plots"):
        assert content_digest(a.read(name)) == content_digest(b.read(name))
    assert a.read_table("users")["username"].tolist() == b.read_table("users")["username"].tolist()


def test_copy_refuses_silently_changed_content(pg_dsn, sample_path, system, monkeypatch):
    from layers.store import copy as copy_mod

    real = copy_mod.content_digest
    calls = {"n": 0}

    def off_by_one(frame):  # the copy's read-back of one layer differs
        calls["n"] += 1
        return real(frame) + ("x" if calls["n"] == 2 else "")

    monkeypatch.setattr(copy_mod, "content_digest", off_by_one)
    with pytest.raises(WorkspaceError, match="does not match its source"):
        copy_mod.copy_workspace(sample_path, f"{pg_dsn} schema=bad_copy", overwrite=True, actor=system)


def test_geometry_types_and_srid(pg_dsn, system):
    from layers.store import create_workspace

    ws = create_workspace(f"{pg_dsn} schema=geom_types", overwrite=True)
    mixed = gpd.GeoDataFrame({"k": ["a", "b"]}, geometry=[box(0, 0, 1, 1), box(2, 2, 3, 3).union(box(4, 4, 5, 5))],
                             crs="EPSG:4549")
    ws.write("mixed", mixed, actor=system)
    import psycopg

    with psycopg.connect(pg_dsn) as con:
        row = con.execute("SELECT type, srid FROM geometry_columns WHERE f_table_schema = 'geom_types' "
                          "AND f_table_name = 'mixed'").fetchone()
    assert row == ("MULTIPOLYGON", 4549)
    assert ws.read("mixed").geometry.geom_type.tolist() == ["MultiPolygon", "MultiPolygon"]
