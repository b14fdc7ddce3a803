"""Several writers at once lose nothing, on both backends.

Four processes each make many changes to every shared table at the same time — shortlist
additions, notes on one shared entry (with the version they read), re-grades of one firm,
saved mappings, analysis runs with default ids — and afterwards every count is exact: each
change that was not refused is there, each refused one (an edit conflict) is absent, run ids
are unique, the audit log has one row per change, and the database passes its integrity check.
On the GeoPackage, another SQLite client (a separate process with plain sqlite3, as QGIS or
ogr2ogr would be) writes rows of its own at the same time and keeps every one of them.
"""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from layers import regrades, runs, shortlist
from layers.access import Actor
from layers.store import open_workspace

ROOT = Path(__file__).resolve().parents[1]
WORKERS, OPS = 4, 8
pytestmark = pytest.mark.slow

WORKER = textwrap.dedent(r"""
    import json, sys
    sys.path.insert(0, {root!r})
    import geo
    import pandas as pd
    from geo.errors import ConflictError
    from layers import regrades, runs, shortlist
    from layers.access import Actor
    from layers.importers import plan_import, save_mapping
    from layers.store import open_workspace

    location, w, n, plots, firm, csv = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].split(","), sys.argv[5], sys.argv[6]
    ws = open_workspace(location, readonly=False)
    me = Actor(f"worker{{w}}", "admin")
    plan = plan_import(csv, layer="enterprises", workspace=ws)
    done = {{"notes": 0, "conflicts": 0, "runs": []}}
    for i in range(n):
        shortlist.add(ws, [plots[i]], kind="plot", actor=me)
        seen = int(shortlist.load(ws).set_index("entry_id").at["plot:SHARED", "row_version"])
        try:
            shortlist.update(ws, "plot:SHARED", actor=me, notes=f"w{{w}} i{{i}}", expected_version=seen)
            done["notes"] += 1
        except ConflictError:
            done["conflicts"] += 1
        regrades.record(ws, actor=me, credit_code=firm, new_class="ABCD"[i % 4], reason=f"w{{w}} i{{i}}")
        save_mapping(ws, f"m_{{w}}_{{i}}", plan, actor=me)
        done["runs"].append(runs.store_run(ws, kind="chain", frames={{"t": pd.DataFrame({{"w": [w], "i": [i]}})}},
                                           actor=me))
    print(json.dumps(done))
""")

OTHER_CLIENT = textwrap.dedent(r"""
    import sqlite3, sys, time
    con = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)
    con.execute("CREATE TABLE IF NOT EXISTS qgis_notes (id INTEGER PRIMARY KEY, note TEXT)")
    for i in range(int(sys.argv[2])):
        con.execute("BEGIN IMMEDIATE")
        con.execute("INSERT INTO qgis_notes(note) VALUES (?)", (f"edit {i}",))
        con.execute("COMMIT")
        time.sleep(0.01)
""")


@pytest.fixture
def prepared(sample_copy, tmp_path):
    """The sample with one shared shortlist entry, a firm to re-grade, plots for each worker, a mapping file."""
    ws = sample_copy
    plots = ws.read("plots", columns=["plot_id"])
    shared = plots.iloc[[0]].assign(plot_id="SHARED")
    shortlist.add(ws, shared, kind="plot", actor=Actor("prep", "planner"))
    ids = plots["plot_id"].iloc[1:1 + WORKERS * OPS].tolist()
    firm = ws.read("enterprises", columns=["credit_code"])["credit_code"].iloc[0]
    csv = tmp_path / "tax.csv"
    csv.write_text(f"统一社会信用代码,税收(万元)\n{firm},5\n", encoding="utf-8")
    return ws, ids, firm, csv


def _spawn(code: str, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "PYTHONWARNINGS": "ignore"})


def test_many_writers_lose_nothing(prepared):
    ws, ids, firm, csv = prepared
    before_runs = len(runs.list_runs(ws))
    before_audit = len(ws.read_table("audit_log"))
    gpkg = ws.location.endswith(".gpkg")
    other = _spawn(OTHER_CLIENT, ws.location, 60) if gpkg else None
    procs = [_spawn(WORKER.format(root=str(ROOT)), ws.location, w, OPS, ",".join(ids[w::WORKERS]), firm, csv)
             for w in range(WORKERS)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=900)
        assert p.returncode == 0, err.decode()[-3000:]
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    if other is not None:
        _, err = other.communicate(timeout=300)
        assert other.returncode == 0, err.decode()[-2000:]

    ws = open_workspace(ws.location)
    items = shortlist.load(ws)
    assert sorted(items["item_id"]) == sorted(["SHARED", *ids])  # every addition, no duplicate
    assert items["rank"].tolist() == list(range(1, len(items) + 1))  # ranks stayed contiguous
    notes_ok = sum(r["notes"] for r in results)
    shared = items.set_index("entry_id").loc["plot:SHARED"]
    assert int(shared["row_version"]) == 1 + notes_ok  # each accepted edit counted once, refused ones not at all
    hist = shortlist.history(ws, "plot:SHARED")
    assert int((hist["field"] == "notes").sum()) == notes_ok
    assert notes_ok + sum(r["conflicts"] for r in results) == WORKERS * OPS
    assert len(regrades.log(ws)) == WORKERS * OPS
    names = set(ws.read_table("import_mappings")["name"])
    assert names == {f"m_{w}_{i}" for w in range(WORKERS) for i in range(OPS)}
    run_ids = [rid for r in results for rid in r["runs"]]
    assert len(set(run_ids)) == WORKERS * OPS  # default ids made unique inside each transaction
    assert len(runs.list_runs(ws)) == before_runs + WORKERS * OPS
    for rid in run_ids[:5]:
        assert len(ws.read_table(f"run_{rid}_t")) == 1
    # one audit row per accepted change (add, note, re-grade, mapping, run)
    assert len(ws.read_table("audit_log")) - before_audit == WORKERS * OPS * 4 + notes_ok
    if gpkg:
        con = sqlite3.connect(ws.location)
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("SELECT count(*) FROM qgis_notes").fetchone()[0] == 60  # the other client lost nothing


def test_gdal_appends_to_a_layer_between_our_writes(sample_gpkg_copy, tmp_path):
    """ogr2ogr (GDAL's own SQLite, another process) appends plots; our shortlist writes before and after keep theirs."""
    import geopandas as gpd
    import shapely

    ws = sample_gpkg_copy
    shortlist.add(ws, ["P000001"], kind="plot", actor=Actor("zhang", "planner"))
    src = tmp_path / "q.geojson"
    gpd.GeoDataFrame({"plot_id": ["Q1", "Q2"], "land_use": ["0601", "0601"], "status": ["in_use", "in_use"]},
                     geometry=[shapely.box(560000, 3070000, 560050, 3070050)] * 2, crs=4549).to_file(src)
    subprocess.run(["ogr2ogr", "-update", "-append", ws.location, str(src), "-nln", "plots"], check=True,
                   capture_output=True)
    shortlist.add(ws, ["Q1"], kind="plot", actor=Actor("zhang", "planner"))
    assert len(ws.read("plots")) == 5002
    assert shortlist.load(ws)["item_id"].tolist() == ["P000001", "Q1"]
    con = sqlite3.connect(ws.location)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("SELECT count(*) FROM rtree_plots_geom").fetchone()[0] == 5002  # GDAL kept the index
