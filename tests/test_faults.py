"""Fault safety: SIGKILL in the middle of an import commit or a shortlist save loses nothing.

A child process opens a copy of the sample workspace and commits an import (or saves the
shortlist).  Inside the child, one step of the atomic write is wrapped so it announces
itself in a marker file and then waits: after the workspace was copied to the temp file,
after GDAL wrote the new layer into it, or just before the temp file is renamed over the
workspace.  The test then kills the child with SIGKILL — no cleanup, no ``finally`` — and
checks that the workspace opens, passes SQLite's integrity check and holds exactly the old
bytes.  A bounded loop also kills at random moments without any pause: the workspace must
then hold either the complete old or the complete new data, never a mixture.
"""
from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from geo.io import check_sqlite_integrity
from layers.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
X0, Y0 = 560_000.0, 3_070_000.0

CHILD = textwrap.dedent(r"""
    import os, sys, time
    sys.path.insert(0, {root!r})
    import geo, geo.io
    ws_path, job, point, marker = sys.argv[1:5]

    def pause(what):
        with open(marker, "w") as fh:
            fh.write(what)
        time.sleep(120)  # the test kills us here

    if point == "copy":
        real_copy = geo.io._copy_file
        def copy(src, dst):
            real_copy(src, dst)
            pause(f"copied {{dst}}")
        geo.io._copy_file = copy
    elif point == "write":
        real_write = geo.io.pyogrio.write_dataframe
        def write(*a, **k):
            real_write(*a, **k)
            pause("written")
        geo.io.pyogrio.write_dataframe = write
    elif point == "rename":
        real_replace = os.replace
        def replace(src, dst):
            if os.path.abspath(dst) == os.path.abspath(ws_path):
                pause(f"renaming {{src}}")
            return real_replace(src, dst)
        os.replace = replace

    from layers.workspace import Workspace
    ws = Workspace.open(ws_path, readonly=False)
    if job == "import":
        from layers.importers import commit_import, plan_import
        plan = plan_import(sys.argv[5], layer="plots", workspace=ws)
        commit_import(ws, plan, confirm_removal=True)  # the 2-plot file replaces the sample: confirmed
    else:
        from layers import shortlist
        shortlist.add(ws, ["P000001", "P000002", "P000003"], kind="plot", who="fault-test")
    with open(marker + ".done", "w") as fh:
        fh.write("done")
""")


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def setup(tmp_path, sample_path):
    ws_path = tmp_path / "ws.gpkg"
    shutil.copyfile(sample_path, ws_path)
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(root=str(ROOT)))
    src = tmp_path / "new_plots.geojson"
    import geopandas as gpd
    import shapely

    gpd.GeoDataFrame({"地块编号": ["K1", "K2"], "用地分类": ["0601", "0601"], "利用状态": ["在用", "在用"]},
                     geometry=[shapely.box(X0, Y0, X0 + 50, Y0 + 50), shapely.box(X0 + 100, Y0, X0 + 150, Y0 + 50)],
                     crs="EPSG:4549").to_file(src, driver="GeoJSON")
    return ws_path, script, src


def _start(script: Path, ws_path: Path, job: str, point: str, marker: Path, src: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.Popen([sys.executable, str(script), str(ws_path), job, point, str(marker), str(src)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_for(marker: Path, proc: subprocess.Popen, timeout: float = 90.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if marker.exists() and marker.read_text():
            return marker.read_text()
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"child ended before the kill point: {err.decode()[-2000:]}")
        time.sleep(0.05)
    proc.kill()
    proc.communicate()
    raise AssertionError("child never reached the kill point")


def _old_state(ws_path: Path) -> dict:
    ws = Workspace.open(ws_path)
    return {"layers": ws.layers(), "plots": ws.read("plots", columns=["plot_id"])["plot_id"].tolist()}


@pytest.mark.slow
@pytest.mark.parametrize("job", ["import", "shortlist"])
@pytest.mark.parametrize("point", ["copy", "write", "rename"])
def test_sigkill_mid_write_keeps_the_old_workspace(setup, tmp_path, job, point):
    ws_path, script, src = setup
    before_hash = sha(ws_path)
    before = _old_state(ws_path)
    marker = tmp_path / "marker"
    proc = _start(script, ws_path, job, point, marker, src)
    what = _wait_for(marker, proc)
    temps = list(ws_path.parent.glob(".ws.*.tmp.gpkg*"))
    assert temps, f"the kill must land while the temp copy exists ({what})"
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not (tmp_path / "marker.done").exists()

    assert sha(ws_path) == before_hash, "the workspace file must be byte-identical"
    check_sqlite_integrity(ws_path)
    assert _old_state(ws_path) == before
    assert "shortlist" not in Workspace.open(ws_path).layers()

    # The orphaned temp file is cleared by the next write, which succeeds.
    ws = Workspace.open(ws_path, readonly=False)
    import pandas as pd

    ws.write("after_crash", pd.DataFrame({"ok": [1]}))
    assert not list(ws_path.parent.glob(".ws.*.tmp.gpkg*"))
    assert ws.read_table("after_crash")["ok"].tolist() == [1]


@pytest.mark.slow
def test_sigkill_at_random_moments_is_all_or_nothing(setup, tmp_path):
    ws_path, script, src = setup
    pristine = tmp_path / "pristine.gpkg"
    shutil.copyfile(ws_path, pristine)
    before = _old_state(ws_path)
    rng = random.Random(20250601)
    for i in range(4):  # bounded: each run costs a Python start-up (~2–4 s)
        marker = tmp_path / f"m{i}"
        proc = _start(script, ws_path, "import", "none", marker, src)
        time.sleep(rng.uniform(1.0, 5.0))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
        check_sqlite_integrity(ws_path)
        state = _old_state(ws_path)
        if state["plots"] == ["K1", "K2"]:
            meta = Workspace.open(ws_path).metadata("plots")
            assert meta["row_count"] == 2 and meta["extra"]["importer"]["rows_written"] == 2
            shutil.copyfile(pristine, ws_path)  # reset for the next round
        else:
            assert state == before
