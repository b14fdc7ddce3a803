"""Shared fixtures: the sample workspace, both store backends, the acting users, a PostgreSQL server.

``backend`` runs a test once on a GeoPackage and once on PostGIS (a real PostgreSQL + PostGIS
server started for the session on a Unix socket — no TCP, no network).  ``sample_copy`` is a
writable copy of the bundled Ruian sample on that backend; ``empty_ws`` a new empty workspace.
"""
from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

import geo  # noqa: F401  (GDAL safety settings first)

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "ruian" / "ruian.gpkg"
ARTIFACTS = ROOT / "artifacts"
BACKENDS = ("gpkg", "postgis")


@pytest.fixture(scope="session")
def sample_path() -> Path:
    """The bundled Ruian sample workspace (committed; rebuilt by `python cli.py sample`)."""
    if not SAMPLE.exists():
        pytest.fail(f"{SAMPLE} is missing; build it with `python cli.py sample`")
    return SAMPLE


@pytest.fixture(scope="session")
def sample_ws(sample_path):
    from layers.store import open_workspace

    return open_workspace(sample_path, readonly=True)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


# --- acting users -------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def actors():
    """One actor per role (no accounts needed: the role check is on the actor)."""
    from layers.access import SYSTEM, Actor

    return {"system": SYSTEM, "admin": Actor("admin1", "admin", display_name="管理员甲"),
            "planner": Actor("zhang", "planner", display_name="张规划"),
            "official": Actor("feiyun1", "official", "330381008", "飞云联络员"),
            "viewer": Actor("guest", "viewer", display_name="访客")}


@pytest.fixture(scope="session")
def system(actors):
    return actors["system"]


@pytest.fixture(scope="session")
def planner(actors):
    return actors["planner"]


# --- PostgreSQL + PostGIS ---------------------------------------------------------------------------
def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        pytest.fail("PostgreSQL server binaries not found; install Debian's postgresql and postgresql-postgis "
                    "(./run.sh test does)")
    return Path(found[-1]).parent


def _as_postgres(cmd: list[str]) -> list[str]:
    return (["runuser", "-u", "postgres", "--"] + cmd) if os.geteuid() == 0 else cmd


@pytest.fixture(scope="session")
def pg_dsn():
    """A PostgreSQL server with PostGIS for this test session: ``host=<socket dir> port=54329 dbname=planning``."""
    bindir = _pg_bin()
    root = Path(tempfile.mkdtemp(prefix="planner-pg-"))
    data, sock = root / "data", root / "sock"
    data.mkdir()
    sock.mkdir()
    if os.geteuid() == 0:
        for p in (root, data, sock):
            shutil.chown(p, "postgres")
    subprocess.run(_as_postgres([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8"]),
                   check=True, capture_output=True)
    subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(root / "log"), "start",
                                 "-o", f"-c listen_addresses='' -k {sock} -p 54329 -c max_connections=60"]),
                   check=True, capture_output=True)
    try:
        subprocess.run(_as_postgres([str(bindir / "createdb"), "-h", str(sock), "-p", "54329", "-U", "postgres", "planning"]),
                       check=True, capture_output=True)
        yield f"host={sock} port=54329 dbname=planning user=postgres"
    finally:
        subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]), capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def schema_for(request) -> str:
    """A schema name unique to the running test (lower-case, ≤ 63 characters)."""
    name = re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())
    return f"t_{name[:40]}_{abs(hash(request.node.nodeid)) % 10**8}"


def location_for(backend: str, request, tmp_path: Path, *, name: str = "ws") -> str:
    """Where a test's workspace lives on ``backend``: a file in ``tmp_path`` or a fresh schema."""
    if backend == "gpkg":
        return str(tmp_path / f"{name}.gpkg")
    dsn = request.getfixturevalue("pg_dsn")
    return f"{dsn} schema={schema_for(request)}{'' if name == 'ws' else '_' + name}"


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def empty_ws(backend, request, tmp_path):
    """A new, empty, writable workspace on each backend."""
    from layers.store import create_workspace

    return create_workspace(location_for(backend, request, tmp_path), overwrite=True)


@pytest.fixture(scope="session")
def _sample_pg_template(pg_dsn, sample_path):
    """The sample copied once into PostGIS; tests copy this schema (cheaper than from the file)."""
    from layers.store.copy import copy_workspace

    copy_workspace(sample_path, f"{pg_dsn} schema=sample_template", overwrite=True)
    return f"{pg_dsn} schema=sample_template"


def copy_gpkg(src: Path, dst: Path) -> Path:
    """A GeoPackage workspace file copied with its rasters folder."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    rasters = src.with_name(src.name + ".rasters")
    if rasters.exists():
        shutil.copytree(rasters, dst.with_name(dst.name + ".rasters"))
    return dst


def copy_sample(backend: str, request, directory: Path, sample_path: Path, *, schema: str | None = None):
    """A writable copy of the sample on ``backend`` (a file in ``directory``, or a new schema)."""
    from layers.store import open_workspace
    from layers.store.copy import copy_workspace

    if backend == "gpkg":
        return open_workspace(copy_gpkg(sample_path, directory / "ws.gpkg"), readonly=False)
    template = request.getfixturevalue("_sample_pg_template")
    location = f"{request.getfixturevalue('pg_dsn')} schema={schema or schema_for(request)}"
    copy_workspace(template, location, overwrite=True, verify=False)  # the copy itself is tested in test_postgis
    return open_workspace(location, readonly=False)


def copy_location(location: str, request, tmp_path: Path) -> str:
    """A per-test copy of a workspace (file copy, or a new schema) — for module-level templates."""
    from layers.store import is_database
    from layers.store.copy import copy_workspace

    if not is_database(location):
        return str(copy_gpkg(Path(location), tmp_path / "copy" / Path(location).name))
    dst = f"{request.getfixturevalue('pg_dsn')} schema={schema_for(request)}"
    copy_workspace(location, dst, overwrite=True, verify=False)
    return dst


@pytest.fixture
def sample_copy(backend, request, tmp_path, sample_path):
    """A writable copy of the bundled sample on each backend."""
    return copy_sample(backend, request, tmp_path, sample_path)


@pytest.fixture(scope="module", params=BACKENDS)
def module_sample(request, tmp_path_factory, sample_path):
    """A writable copy of the sample on each backend, shared by the tests of one module."""
    name = re.sub(r"[^a-z0-9_]", "_", request.module.__name__.split(".")[-1].lower())[:40]
    return copy_sample(request.param, request, tmp_path_factory.mktemp("ws"), sample_path, schema=f"m_{name}")


@pytest.fixture
def sample_gpkg_copy(tmp_path, sample_path):
    """A writable GeoPackage copy of the sample (file-level tests: kill mid-write, the app on a file)."""
    from layers.store import open_workspace

    return open_workspace(copy_gpkg(sample_path, tmp_path / "ws.gpkg"), readonly=False)
