"""The chain on a real dask cluster over TCP: a ``dask scheduler`` and two ``dask worker`` processes on
this machine (tests/dask_cluster.py), reached the ways a planner reaches it — ``cli.py evaluate
--scheduler``, ``PLANNER_SCHEDULER`` for the CLI and the app's run button — on both store backends.

The stored run equals the single-process run of the same workspace frame by frame; the rasters
reach the workers by path or sent as bytes (a PostGIS workspace's rasters are cached on this
machine only); a cluster that cannot import the planner is refused with what to do.
"""
from __future__ import annotations

import json

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import cli
from analysis import pipeline
from geo.errors import ClusterError
from layers.access import Actor
from layers.store import open_workspace
from scale import cluster
from tests.apptest import sign_in
from tests.dask_cluster import tcp_cluster

pytestmark = pytest.mark.slow

AS_OF = "2026-06-30"
PLANNER = Actor("zhang", "planner")


@pytest.fixture(scope="module")
def address(tmp_path_factory):
    with tcp_cluster(tmp_path_factory.mktemp("cluster"), n_workers=2, memory_limit="4GB") as addr:
        yield addr


def tasks_done(addr: str) -> dict[str, int]:
    """How many tasks of each task function the scheduler has finished (dask drops a leading "_")."""
    from distributed import Client

    with Client(addr, set_as_default=False) as c:
        return c.run_on_scheduler(lambda dask_scheduler: {name: p.state_counts["memory"] for name, p in
                                                          dask_scheduler.task_prefixes.items()})


def assert_same_runs(ws, run_a: str, run_b: str) -> None:
    a, b = pipeline.load_run(ws, run_a), pipeline.load_run(ws, run_b)
    assert set(a) == set(b) == set(pipeline.RESULT_KINDS)
    for kind in a:
        pd.testing.assert_frame_equal(a[kind], b[kind], check_exact=True, obj=kind)
    runs = pipeline.list_runs(ws).set_index("run_id")
    for col in ("preset", "parameters", "counts", "input_versions", "created_by", "kind"):
        assert runs.loc[run_a, col] == runs.loc[run_b, col], col


def test_cli_evaluate_on_the_cluster_stores_the_single_process_run(address, sample_copy, capsys):
    ws = sample_copy
    pipeline.run(ws, "ruian_default", run_id="here", as_of=AS_OF, actor=cli._actor(None, ws))
    assert cli.main(["evaluate", "--workspace", ws.location, "--scheduler", address, "--run-id", "there",
                     "--as-of", AS_OF]) == 0
    out = capsys.readouterr().out
    assert f"run there stored in {ws.describe()}" in out and f"on the dask cluster at {address}" in out
    assert_same_runs(ws, "here", "there")
    assert {"low_efficiency_part", "criteria_part"} <= set(tasks_done(address))


def test_the_setting_reaches_the_cli(address, sample_gpkg_copy, monkeypatch, capsys):
    monkeypatch.setenv("PLANNER_SCHEDULER", address)
    assert cli.main(["evaluate", "--workspace", sample_gpkg_copy.location, "--no-store", "--as-of", AS_OF]) == 0
    assert f"(not stored) on the dask cluster at {address}" in capsys.readouterr().out


def test_postgis_rasters_sent_to_the_workers(address, request, tmp_path, sample_path):
    """A PostGIS workspace's rasters live in the database; sent as bytes, the workers read their own copy."""
    from distributed import Client

    from tests.conftest import copy_sample

    ws = copy_sample("postgis", request, tmp_path, sample_path)
    pipeline.run(ws, "ruian_default", run_id="here", as_of=AS_OF, actor=PLANNER)
    cluster.run(ws, "ruian_default", actor=PLANNER, scheduler=address, run_id="sent", as_of=AS_OF,
                rasters_to_workers="send")
    assert_same_runs(ws, "here", "sent")
    with Client(address, set_as_default=False) as c:
        held = c.run(lambda dask_worker: sorted(p.name for p in
                                                (__import__("pathlib").Path(dask_worker.local_directory)
                                                 / "planner-rasters").glob("*.tif")))
    names = {p.name for k, p in ws.rasters().items() if k in ("slope", "flood_depth")}
    for files in held.values():  # every worker that ran a criteria task wrote each raster once
        assert not files or {f.split("-", 1)[1] for f in files} == names


def test_app_run_button_runs_on_the_cluster(address, sample_gpkg_copy, monkeypatch):
    monkeypatch.setenv("PLANNER_WORKSPACE", sample_gpkg_copy.location)
    monkeypatch.setenv("PLANNER_SCHEDULER", address)
    before = set(pipeline.list_runs(sample_gpkg_copy)["run_id"].astype(str))
    tasks_before = tasks_done(address).get("criteria_part", 0)

    def page():
        from ui.pages import evaluation

        evaluation.render()

    at = AppTest.from_function(page, default_timeout=180)
    at.session_state["lang"] = "zh"
    sign_in(at, PLANNER)
    at.run()
    at.button(key="ev_run_button").click().run()
    assert not at.exception, [e.value for e in at.exception]
    new = set(pipeline.list_runs(open_workspace(sample_gpkg_copy.location))["run_id"].astype(str)) - before
    assert len(new) == 1
    done = [s.value for s in at.sidebar.success]
    assert any(f"分析完成:运行 {next(iter(new))}" in m and f"在计算集群 {address} 上" in m for m in done), done
    runs = pipeline.list_runs(open_workspace(sample_gpkg_copy.location)).set_index("run_id")
    assert runs.loc[new.pop(), "created_by"] == PLANNER.username
    assert tasks_done(address)["criteria_part"] > tasks_before   # this run's criteria ran on the workers


def test_unreachable_scheduler_is_named():
    with pytest.raises(ClusterError, match=r"cannot reach the dask scheduler at 'tcp://127.0.0.1:9'") as err:
        with cluster.connect("tcp://127.0.0.1:9", timeout=2):
            pass
    assert "PLANNER_SCHEDULER" in err.value.message_zh


def test_no_setting_runs_here(monkeypatch):
    monkeypatch.delenv("PLANNER_SCHEDULER", raising=False)
    assert cluster.scheduler_address() is None
    monkeypatch.setenv("PLANNER_SCHEDULER", " tcp://h:1 ")
    assert cluster.scheduler_address() == "tcp://h:1"
    assert cluster.scheduler_address("tcp://other:2") == "tcp://other:2"


def test_a_cluster_without_the_planner_is_refused(tmp_path, sample_gpkg_copy):
    """Workers (and a scheduler) that cannot import the planner: refused before any task, with what to do."""
    with tcp_cluster(tmp_path / "bare", n_workers=1, code=False, scheduler_code=False) as bare:
        with pytest.raises(ClusterError, match=r"No module named 'scale'.*pip install the same release") as err:
            cluster.run(sample_gpkg_copy, "ruian_default", actor=PLANNER, scheduler=bare, as_of=AS_OF)
    assert "scheduler tcp://" in str(err.value) and "worker" in str(err.value).lower()
    assert "pip install" in err.value.message_zh
    runs = pipeline.list_runs(sample_gpkg_copy)
    assert json.loads(runs["counts"].iloc[-1]) is not None and len(runs) == 1  # only the sample's own run
