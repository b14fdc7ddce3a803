"""The PostGIS backend against a real PostgreSQL + PostGIS server started by the fixture.

The fixture runs Debian's postgresql binaries (installed by run.sh) as the ``postgres``
user in a temporary data directory, on a Unix socket only — no TCP, no network.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from geo.errors import CRSMismatchError, LayerNotFoundError, SchemaError, WorkspaceError

pytestmark = pytest.mark.postgis


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        pytest.fail("PostgreSQL server binaries not found; install Debian's postgresql and postgis (./run.sh test does)")
    return Path(found[-1]).parent


def _as_postgres(cmd: list[str]) -> list[str]:
    return (["runuser", "-u", "postgres", "--"] + cmd) if os.geteuid() == 0 else cmd


@pytest.fixture(scope="module")
def pg_dsn():
    bindir = _pg_bin()
    root = Path(tempfile.mkdtemp(prefix="planner-pg-"))
    data, sock = root / "data", root / "sock"
    data.mkdir()
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(data, "postgres")
        shutil.chown(sock, "postgres")
    subprocess.run(_as_postgres([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8"]),
                   check=True, capture_output=True)
    subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(root / "log"), "start",
                                 "-o", f"-c listen_addresses='' -k {sock} -p 54329"]), check=True, capture_output=True)
    try:
        subprocess.run(_as_postgres([str(bindir / "createdb"), "-h", str(sock), "-p", "54329", "-U", "postgres", "planning"]),
                       check=True, capture_output=True)
        yield f"host={sock} port=54329 dbname=planning user=postgres"
    finally:
        subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]), capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pws(pg_dsn, tmp_path, request):
    from layers.postgis import PostGISWorkspace

    schema = "t_" + request.node.name.lower().replace("[", "_").replace("]", "").replace("-", "_")[:40]
    return PostGISWorkspace.create(pg_dsn, schema=schema, raster_dir=tmp_path / "rasters", overwrite=True)


def _townships(n=3):
    return gpd.GeoDataFrame(
        {"code": [f"33038100{i}" for i in range(n)], "name": [f"镇{i}" for i in range(n)], "kind": ["镇"] * n},
        geometry=[box(500000 + i * 1000, 3070000, 501000 + i * 1000, 3071000) for i in range(n)], crs="EPSG:4549")


def test_roundtrip_bbox_columns_and_filters(pws):
    pws.write("townships", _townships(), source="unit test")
    got = pws.read("townships")
    assert got.crs.to_epsg() == 4549
    assert got["code"].tolist() == ["330381000", "330381001", "330381002"]
    assert got.geometry.area.tolist() == [1_000_000.0] * 3
    assert pws.read("townships", bbox=(501200, 3070200, 501800, 3070800))["code"].tolist() == ["330381001"]
    assert pws.read("townships", columns=["code"]).columns.tolist() == ["code", "geometry"]
    # Untrusted values are bound parameters: a quote in an id is just a value.
    assert pws.read("townships", where_in={"code": ["330381002", "x' OR '1'='1"]})["code"].tolist() == ["330381002"]
    assert pws.metadata("townships")["source"] == "unit test"


def test_sample_layers_roundtrip(pws, sample_ws):
    plots = sample_ws.read("plots").head(300)
    ents = sample_ws.read("enterprises").head(300)
    pws.write_many({"plots": plots, "enterprises": ents})
    back = pws.read("plots")
    pd.testing.assert_frame_equal(back.drop(columns="geometry"), plots.drop(columns="geometry").reset_index(drop=True),
                                  check_dtype=False)
    assert back.geometry.geom_equals_exact(plots.geometry.reset_index(drop=True), tolerance=1e-6).all()
    assert pws.read("enterprises")["credit_code"].tolist() == ents["credit_code"].tolist()


def test_failed_write_changes_nothing(pws):
    pws.write("townships", _townships())
    before = pws.version
    with pytest.raises(CRSMismatchError):
        pws.write("townships", _townships().to_crs(4326))
    bad = _townships()
    bad.loc[0, "kind"] = "村"
    with pytest.raises(SchemaError):
        pws.write_many({"scratch": pd.DataFrame({"a": [1]}), "townships": bad})
    assert pws.version == before
    assert pws.layers() == ["townships"]


def test_transaction_rolls_back_midway(pws, monkeypatch):
    """An error after some tables were replaced inside the transaction leaves the old data."""
    pws.write("townships", _townships(2))
    from layers import postgis

    original = postgis.PostGISWorkspace._replace_table
    calls = {"n": 0}

    def flaky(self, con, name, frame):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("connection lost")
        return original(self, con, name, frame)

    monkeypatch.setattr(postgis.PostGISWorkspace, "_replace_table", flaky)
    with pytest.raises(RuntimeError):
        pws.write_many({"townships": _townships(3), "other": pd.DataFrame({"a": [1]})})
    monkeypatch.undo()
    assert len(pws.read("townships")) == 2
    assert "other" not in pws.layers()


def test_hostile_names_are_identifiers_not_sql(pws):
    with pytest.raises(WorkspaceError, match="not allowed"):
        pws.write('x"; DROP SCHEMA public; --', pd.DataFrame({"a": [1]}))
    pws.write("notes", pd.DataFrame({'we"ird; DROP TABLE x': ["ok"]}))
    assert pws.read_table("notes").columns.tolist() == ['we"ird; DROP TABLE x']


def test_readonly_and_missing(pg_dsn, pws):
    from layers.postgis import PostGISWorkspace

    pws.write("townships", _townships())
    ro = PostGISWorkspace.open(pg_dsn, schema=pws.schema, readonly=True)
    assert len(ro.read("townships")) == 3
    with pytest.raises(WorkspaceError, match="read-only"):
        ro.write("townships", _townships())
    with pytest.raises(LayerNotFoundError, match="no layer 'plots'"):
        ro.read("plots")
    with pytest.raises(WorkspaceError, match="no planner workspace"):
        PostGISWorkspace.open(pg_dsn, schema="nothing_here")
    with pytest.raises(WorkspaceError, match="Cannot connect"):
        PostGISWorkspace.open("host=/nonexistent port=1 dbname=x user=y")


def test_rasters(pws, tmp_path):
    from rasterio.transform import from_origin

    from geo.raster import write_geotiff

    tif = write_geotiff(tmp_path / "dem.tif", np.ones((4, 4), "float32"), from_origin(500000, 3071000, 10, 10),
                        "EPSG:4549", -9999)
    dest = pws.register_raster("dem", tif)
    assert pws.rasters() == {"dem": dest} and dest.exists()
