"""The chain on the Ruian sample workspace: stored runs, reload, comparison, CLI (on a copy in tmp_path)."""
from __future__ import annotations

import json
import shutil

import geopandas as gpd
import pandas as pd
import pytest

import cli
from analysis import pipeline
from analysis.params import load_preset
from geo.errors import ParameterError
from layers.workspace import Workspace
from tests.analysis_frames import firm, firms, plot, plots

AS_OF = "2026-06-30"  # layers.sample.REFERENCE_DATE: "today" of the sample's dates

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ws_copy(sample_path, tmp_path_factory):
    d = tmp_path_factory.mktemp("ws")
    shutil.copy(sample_path, d / sample_path.name)
    shutil.copytree(sample_path.with_name(sample_path.name + ".rasters"), d / (sample_path.name + ".rasters"))
    return d / sample_path.name


@pytest.fixture(scope="module")
def two_runs(ws_copy):
    ws = Workspace.open(ws_copy, readonly=False)
    a = pipeline.run(ws, "ruian_default", run_id="a", as_of=AS_OF)
    b = pipeline.run(ws, "huangyan_2022", run_id="b", as_of=AS_OF)
    return ws, a, b


def test_run_stores_every_result_and_the_record(two_runs):
    ws, (rid, res), _ = two_runs
    held = set(ws.layers())
    for kind in pipeline.RESULT_KINDS:
        assert f"run_a_{kind}" in held
    runs = pipeline.list_runs(ws)
    runs = runs[runs["run_id"].isin(["a", "b"])].reset_index(drop=True)  # the sample ships with run "sample"
    assert runs["run_id"].tolist() == ["a", "b"] and runs["preset"].tolist() == ["ruian_default", "huangyan_2022"]
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
        pipeline.run(ws, "ruian_default", run_id="a", as_of=AS_OF)
    with pytest.raises(ParameterError, match="lower-case"):
        pipeline.run(ws, "ruian_default", run_id="Bad-Id", as_of=AS_OF)
    with pytest.raises(ParameterError, match="Unknown preset 'nope'"):
        pipeline.run(ws, "nope", as_of=AS_OF)
    with pytest.raises(ParameterError, match="stored runs: sample, a, b"):
        pipeline.load_run(ws, "zzz")
    assert ws.version == before                              # nothing written


def test_cli_evaluate(ws_copy, capsys):
    rc = cli.main(["evaluate", "--workspace", str(ws_copy), "--preset", "huangyan_2022", "--run-id", "cli",
                   "--as-of", AS_OF])
    out = capsys.readouterr().out
    assert rc == 0
    assert "class mix: A" in out and "low-efficiency:" in out and "candidate sites" in out and "top parks" in out
    assert "run_cli_per_mu" in Workspace.open(ws_copy).layers()
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


def test_runs_listed_by_kind(tmp_path):
    """Siting and integration runs share the runs table; each kind lists only its own."""
    ws = Workspace.create(tmp_path / "w.gpkg")
    ws.write("runs", pd.DataFrame({"run_id": ["a", "siting_x", "integration_y", "b"], "preset": ["p"] * 4,
                                   "created": ["2026"] * 4}))
    assert pipeline.list_runs(ws, kind="chain")["run_id"].tolist() == ["a", "b"]
    assert pipeline.list_runs(ws, kind="siting")["run_id"].tolist() == ["siting_x"]
    assert pipeline.list_runs(ws, kind="integration")["run_id"].tolist() == ["integration_y"]
    assert len(pipeline.list_runs(ws)) == 4
    with pytest.raises(ParameterError, match="not one of"):
        pipeline.list_runs(ws, kind="other")
