"""The chain on the Ruian sample workspace (both backends): stored runs with their inputs' versions, reload,
comparison, ids unique under concurrency, stale inputs, pruning, CLI."""
from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pytest

import cli
from analysis import pipeline
from analysis.params import load_preset
from geo.errors import ParameterError
from layers import runs as runs_store
from layers.access import SYSTEM, Actor
from layers.store import open_workspace
from tests.analysis_frames import firm, firms, plot, plots

AS_OF = "2026-06-30"  # layers.sample.REFERENCE_DATE: "today" of the sample's dates

pytestmark = pytest.mark.slow


PLANNER = Actor("zhang", "planner")


@pytest.fixture(scope="module")
def ws_copy(module_sample):
    return module_sample.location


@pytest.fixture(scope="module")
def two_runs(ws_copy):
    ws = open_workspace(ws_copy, readonly=False)
    a = pipeline.run(ws, "ruian_default", run_id="a", as_of=AS_OF, actor=PLANNER)
    b = pipeline.run(ws, "huangyan_2022", run_id="b", as_of=AS_OF, actor=PLANNER)
    return ws, a, b


def test_run_stores_every_result_and_the_record(two_runs):
    ws, (rid, res), _ = two_runs
    held = set(ws.layers())
    for kind in pipeline.RESULT_KINDS:
        assert f"run_a_{kind}" in held
    runs = pipeline.list_runs(ws)
    runs = runs[runs["run_id"].isin(["a", "b"])].reset_index(drop=True)  # the sample ships with run "sample"
    assert runs["run_id"].tolist() == ["a", "b"] and runs["preset"].tolist() == ["ruian_default", "huangyan_2022"]
    assert runs["created_by"].tolist() == ["zhang", "zhang"] and runs["kind"].tolist() == ["chain", "chain"]
    inputs = json.loads(runs.loc[0, "input_versions"])
    assert inputs["plots"] == ws.layer_versions()["plots"] and "raster:slope" in inputs
    params = json.loads(runs.loc[0, "parameters"])
    assert params["per_mu"]["cutoffs"] == [130.0, 75.0, 40.0]
    assert json.loads(runs.loc[0, "counts"]) == res.counts
    # the core layers are untouched
    assert len(ws.read("plots")) == res.counts["plots"]


def test_sample_results_are_sane(two_runs):
    _, (_, res), (_, hy) = two_runs
    c = res.counts
    assert c["evaluated"] + c["not_evaluated"] + c["excluded"] + c["merged"] == c["firms"]
    assert sum(c[f"class_{k}"] for k in "ABCD") == c["evaluated"] > 0
    for counts in (c, hy.counts):
        assert counts["class_A"] <= 0.20 * counts["evaluated"] + 1
        assert counts["class_D"] >= 0.05 * counts["evaluated"] - 1
    ev = res.frames["per_mu"]
    bad = ev.loc[ev["status"] != "evaluated"]
    assert bad["reason_en"].notna().all() and bad["score"].isna().all()
    assert ev.loc[ev["status"] == "evaluated", ["score", "final_class"]].notna().all().all()
    p = res.frames["plots"]
    assert p.index.equals(pd.RangeIndex(c["plots"])) or len(p) == c["plots"]
    low = p.loc[p["is_low_efficiency"]]
    assert low["reasons_en"].notna().all() and low["reasons_zh"].notna().all()
    cand = p.loc[p["candidate"]]
    assert cand["mode"].notna().all() and cand["suitability"].between(0, 100).all()
    assert cand["slope_mean"].notna().mean() > 0.9          # the sample's rasters cover the plots
    cl = res.frames["clusters"]
    assert cl["area_mu"].sum() == pytest.approx(cand.loc[~cand["restricted"], "area_mu"].sum())
    assert (cl["is_candidate_site"] == (cl["area_mu"] >= 50)).all()
    pk = res.frames["parks"]
    assert set(pk["park_kind"]) == {"industrial_parks", "micro_parks"}
    assert pk["leading_status"].isin(["pass", "fail", "no_firms", "no_leading_industry"]).all()


def test_reload_run(two_runs):
    ws, (_, res), _ = two_runs
    back = pipeline.load_run(ws, "a")
    assert set(back) == set(pipeline.RESULT_KINDS)
    assert isinstance(back["plots"], gpd.GeoDataFrame) and back["plots"].crs == ws.crs
    orig = res.frames["per_mu"]
    assert back["per_mu"]["final_class"].fillna("-").tolist() == orig["final_class"].fillna("-").tolist()
    assert back["plots"]["is_low_efficiency"].astype(bool).sum() == res.counts["low_efficiency"]
    assert len(back["clusters"]) == res.counts["clusters"]


def test_compare_runs(two_runs):
    ws, (_, a), (_, b) = two_runs
    diff = pipeline.compare_runs(ws, "a", "b")
    ca = a.frames["per_mu"].set_index("credit_code")["final_class"]
    cb = b.frames["per_mu"].set_index("credit_code")["final_class"]
    expected = int((ca.fillna("-") != cb.fillna("-")).sum())
    assert len(diff["class_changes"]) == expected > 0
    la = set(a.frames["plots"].loc[a.frames["plots"]["is_low_efficiency"], "plot_id"])
    lb = set(b.frames["plots"].loc[b.frames["plots"]["is_low_efficiency"], "plot_id"])
    assert diff["entered"] == sorted(lb - la) and diff["left"] == sorted(la - lb)
    assert int(diff["transitions"].to_numpy().sum()) == len(ca)


def test_bad_run_requests(two_runs):
    ws, _, _ = two_runs
    before = ws.version
    with pytest.raises(ParameterError, match="already exists"):
        pipeline.run(ws, "ruian_default", run_id="a", as_of=AS_OF, actor=PLANNER)
    with pytest.raises(ParameterError, match="lower-case"):
        pipeline.run(ws, "ruian_default", run_id="Bad-Id", as_of=AS_OF, actor=PLANNER)
    with pytest.raises(ParameterError, match="Unknown preset 'nope'"):
        pipeline.run(ws, "nope", as_of=AS_OF, actor=PLANNER)
    from geo.errors import AccessDeniedError

    with pytest.raises(AccessDeniedError):
        pipeline.run(ws, "ruian_default", as_of=AS_OF, actor=Actor("guest", "viewer"))
    with pytest.raises(ParameterError, match="stored runs: sample, a, b"):
        pipeline.load_run(ws, "zzz")
    assert ws.version == before                              # nothing written


def test_cli_evaluate(ws_copy, capsys):
    rc = cli.main(["evaluate", "--workspace", str(ws_copy), "--preset", "huangyan_2022", "--run-id", "cli",
                   "--as-of", AS_OF])
    out = capsys.readouterr().out
    assert rc == 0
    assert "class mix: A" in out and "low-efficiency:" in out and "candidate sites" in out and "top parks" in out
    assert "run_cli_per_mu" in open_workspace(ws_copy).layers()
    assert runs_store.list_runs(open_workspace(ws_copy))["created_by"].iloc[-1].startswith("os:")
    rc = cli.main(["evaluate", "--workspace", str(ws_copy), "--preset", "nope"])
    assert rc == 2 and "known presets: huangyan_2022, ruian_default" in capsys.readouterr().err


def test_chain_on_tiny_frames_without_optional_layers():
    layers = {"plots": plots([plot("P1", 0, 0, far=0.3, land_holder="F1")]),
              "enterprises": firms([firm("F1", plot_id="P1")])}
    res = pipeline.run_chain(layers, load_preset("ruian_default"), as_of=AS_OF)
    assert res.counts["evaluated"] == 1 and res.counts["low_efficiency"] == 1 and "parks" not in res.frames
    text = pipeline.summary_text(res)
    assert "low-efficiency: 1" in text


def test_compare_pure_marks_firms_missing_on_one_side():
    a = pd.DataFrame({"credit_code": ["X", "Y"], "final_class": ["A", "B"], "score": [130.0, 90.0]})
    b = pd.DataFrame({"credit_code": ["X", "Z"], "final_class": ["C", "D"], "score": [50.0, 10.0]})
    pa = pd.DataFrame({"plot_id": ["P1", "P2"], "is_low_efficiency": [True, False]})
    pb = pd.DataFrame({"plot_id": ["P1", "P2"], "is_low_efficiency": [False, True]})
    d = pipeline.compare(a, b, pa, pb)
    ch = d["class_changes"].set_index("credit_code")
    assert ch.loc["X", "class_a"] == "A" and ch.loc["X", "class_b"] == "C"
    assert pd.isna(ch.loc["Y", "class_b"]) and pd.isna(ch.loc["Z", "class_a"])
    assert d["entered"] == ["P2"] and d["left"] == ["P1"]


def test_runs_listed_by_kind(empty_ws):
    """Siting and integration runs share the runs table; each kind lists only its own."""
    for kind, rid in (("chain", "a"), ("siting", "x"), ("integration", "y"), ("chain", "b")):
        runs_store.store_run(empty_ws, kind=kind, run_id=rid, frames={"t": pd.DataFrame({"v": [1]})}, actor=SYSTEM)
    assert pipeline.list_runs(empty_ws, kind="chain")["run_id"].tolist() == ["a", "b"]
    assert pipeline.list_runs(empty_ws, kind="siting")["run_id"].tolist() == ["siting_x"]
    assert pipeline.list_runs(empty_ws, kind="integration")["run_id"].tolist() == ["integration_y"]
    assert len(pipeline.list_runs(empty_ws)) == 4
    assert "siting_x_t" in empty_ws.layers()
    with pytest.raises(ParameterError, match="not one of"):
        pipeline.list_runs(empty_ws, kind="other")


def test_default_ids_never_collide(empty_ws):
    """Two runs in the same second keep their own ids (the id is made unique inside the transaction)."""
    ids = [runs_store.store_run(empty_ws, kind="chain", frames={"t": pd.DataFrame({"v": [i]})}, actor=SYSTEM)
           for i in range(3)]
    assert len(set(ids)) == 3
    assert sorted(pipeline.list_runs(empty_ws)["run_id"]) == sorted(ids)
    for i, rid in enumerate(ids):
        assert empty_ws.read_table(f"run_{rid}_t")["v"].tolist() == [i]


def test_run_marked_stale_when_an_input_is_replaced(two_runs):
    ws, _, _ = two_runs
    row = runs_store.list_runs(ws, "chain").set_index("run_id").loc["a"]
    assert runs_store.stale_inputs(ws, row) == {}
    plots = ws.read("plots")
    ws.write("plots", plots, actor=SYSTEM, source="re-imported")
    stale = runs_store.stale_inputs(ws, runs_store.list_runs(ws, "chain").set_index("run_id").loc["a"])
    assert set(stale) == {"plots"} and stale["plots"][1] == stale["plots"][0] + 1
    ws.restore_layer("plots", stale["plots"][0], actor=SYSTEM)  # undo: a new version number, still marked
    assert "plots" in runs_store.stale_inputs(ws, runs_store.list_runs(ws, "chain").set_index("run_id").loc["a"])


def test_prune_keeps_the_newest_and_the_sample(empty_ws, actors):
    for rid in ("sample", "r1", "r2", "r3"):
        runs_store.store_run(empty_ws, kind="chain", run_id=rid, frames={"t": pd.DataFrame({"v": [1]})}, actor=SYSTEM)
    assert runs_store.prune(empty_ws, keep=1, actor=actors["admin"], dry_run=True) == ["r1", "r2"]
    from geo.errors import AccessDeniedError

    with pytest.raises(AccessDeniedError):
        runs_store.prune(empty_ws, keep=1, actor=actors["planner"])
    assert runs_store.prune(empty_ws, keep=1, actor=actors["admin"]) == ["r1", "r2"]
    assert pipeline.list_runs(empty_ws)["run_id"].tolist() == ["sample", "r3"]
    assert not any(n.startswith(("run_r1_", "run_r2_")) for n in empty_ws.layers())


def test_runs_stored_within_one_second_keep_their_order(empty_ws, actors):
    """Two runs stored in the same second (the sample's chain takes less): the later one is the newer,
    whatever their ids (the compare page once took 'older' for the newer run of a pair)."""
    for rid in ("zz_first", "aa_second"):
        runs_store.store_run(empty_ws, kind="chain", run_id=rid, frames={"t": pd.DataFrame({"v": [1]})}, actor=SYSTEM)
    runs = pipeline.list_runs(empty_ws)
    created = runs.set_index("run_id")["created"]
    assert created["zz_first"] < created["aa_second"]
    assert runs_store.prune(empty_ws, keep=1, actor=actors["admin"]) == ["zz_first"]
