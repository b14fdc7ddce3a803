"""The chain out of core: a county set (partitioned GeoParquet) analysed a partition per task on a real
TCP dask cluster (tests/dask_cluster.py: ``dask scheduler`` + two ``dask worker`` processes with a
4 GB memory limit), its results equal to the single-process chain on the concatenated partitions.

Hand-checkable first: six plots in a row cut into two partitions so that the touching pair P1|P2
straddles the edge (one cluster across it) and the county 亩均 average is only known from both.
Then the streamed sample with many small partitions (clusters cross many edges), both presets
(cut-offs with the quota rules; quotas), a workspace cut into partitions, re-grades, the
refusals, and the CLI.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import cli
from analysis import pipeline
from analysis.params import load_preset
from geo.errors import ParameterError, SchemaError
from geo.units import M2_PER_MU
from layers import sample
from scale.countyset import CountySet, county_set_from_workspace, sample_county_set, write_county_set
from scale.outofcore import read_results, run_chain_out_of_core
from tests.analysis_frames import firm, firms, plot, plots
from tests.dask_cluster import tcp_cluster

AS_OF = "2026-06-30"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from distributed import Client

    with tcp_cluster(tmp_path_factory.mktemp("cluster"), n_workers=2, memory_limit="4GB") as address, \
            Client(address, set_as_default=False) as c:
        yield c


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as objects with None for missing (GeoParquet does not keep pandas' text dtypes alike)."""
    frame = frame.copy()
    for col in frame.columns:
        if col != "geometry" and (frame[col].dtype == object or isinstance(frame[col].dtype, pd.StringDtype)):
            frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    return frame


def as_stored(frame: pd.DataFrame, tmp_path, name: str) -> pd.DataFrame:
    """A single-process frame after the GeoParquet round trip the out-of-core results make."""
    path = tmp_path / f"{name}.parquet"
    frame.to_parquet(path)
    return (gpd.read_parquet if isinstance(frame, gpd.GeoDataFrame) else pd.read_parquet)(path)


def assert_equal_results(single: pipeline.RunResult, out, tmp_path) -> dict:
    """Every frame equal: text, flags, classes, ids exactly; floats to 1e-9 (sums added in another order);
    cluster outlines equal as shapes (a cluster across partitions is united from its parts)."""
    got = read_results(out)
    assert set(got) == set(single.frames)
    for kind, frame in single.frames.items():
        a, b = _plain(as_stored(frame, tmp_path, kind)), _plain(got[kind])
        if kind == "clusters":
            assert a.geometry.geom_equals(b.geometry).all()
            a, b = pd.DataFrame(a.drop(columns="geometry")), pd.DataFrame(b.drop(columns="geometry"))
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9, obj=kind)
    return got


def tiny_set(directory, *, holder_apart: bool = False, small: dict | None = None):
    """Six 15-亩 plots in a row (P1|P2 and P3|P4 touch), tax P1 30, P2 15, P3 600 + 5 (its tenant T3), P4 300,
    P5 30, P6 30 万元 → county average 1010 ÷ 90 亩 = 11.22 万元/亩, 20 % of it 2.24: P1 (2), P2 (1), P5 and P6 (2)
    fall under the share rule, against the county.  Partition 0 holds P1, P3, P5; partition 1 P2, P4, P6 —
    alone, partition 0's average would be 665 ÷ 45 = 14.8 and partition 1's 345 ÷ 45 = 7.7 (P1 still under,
    P6 not)."""
    xs = {"P1": 0, "P2": 100, "P3": 300, "P4": 400, "P5": 700, "P6": 1000}
    tax = {"P1": 30.0, "P2": 15.0, "P3": 600.0, "P4": 300.0, "P5": 30.0, "P6": 30.0}
    far = {"P1": 0.3, "P2": 0.3, "P3": 1.2, "P4": 1.2, "P5": 1.2, "P6": 1.2}
    p = plots([plot(k, x, 0, far=far[k], land_holder=f"F{k}") for k, x in xs.items()])
    rows = [firm(f"F{k}", plot_id=k, tax_10k=tax[k], land_area_m2=15 * M2_PER_MU, above_scale=k != "P6")
            for k in xs]
    rows.append(firm("T3", plot_id="P3", is_land_holder=False, land_holder="FP4" if holder_apart else "FP3",
                     tax_10k=5.0, land_area_m2=None))
    f = firms(rows)
    first, second = ["P1", "P3", "P5"], ["P2", "P4", "P6"]

    def part(ids, start, fstart):
        pp = p.loc[p["plot_id"].isin(ids)].reset_index(drop=True)
        ff = f.loc[f["plot_id"].isin(ids)].reset_index(drop=True)
        pp.index, ff.index = pd.RangeIndex(start, start + len(pp)), pd.RangeIndex(fstart, fstart + len(ff))
        return pp, ff

    a = part(first, 0, 0)
    return write_county_set(directory, small or {}, [a, part(second, 3, len(a[1]))], info={"reference_date": AS_OF})


def single_process(cs: CountySet, preset: str, **kw) -> pipeline.RunResult:
    rasters = {k: v for k, v in cs.rasters().items() if k in ("slope", "flood_depth")}
    return pipeline.run_chain(cs.read_all(), load_preset(preset), rasters=rasters, as_of=AS_OF, **kw)


def test_a_cluster_straddling_the_partition_edge(client, tmp_path):
    cs = tiny_set(tmp_path / "set")
    assert [len(cs.read("plots", p)) for p in cs.partitions] == [3, 3]
    run = run_chain_out_of_core(cs, load_preset("ruian_default"), out=tmp_path / "out", client=client)
    got = assert_equal_results(single_process(cs, "ruian_default"), run.out, tmp_path)
    out = got["plots"].set_index("plot_id")
    assert out["tax_per_mu_average"].iloc[0] == pytest.approx(1010 / 90)    # both partitions' sums
    assert out["rule_tax_below_share"].to_dict() == {"P1": True, "P3": False, "P5": True,
                                                      "P2": True, "P4": False, "P6": True}
    # P1 (partition 0) and P2 (partition 1) touch: one cluster across the edge, numbered by its first plot
    assert out.loc["P1", "cluster_id"] == out.loc["P2", "cluster_id"] == 1
    assert out.loc["P5", "cluster_id"] == 2 and out.loc["P6", "cluster_id"] == 3
    cl = got["clusters"].set_index("cluster_id")
    assert cl.loc[1, "members"] == "P1,P2" and cl.loc[1, "n_plots"] == 2
    assert cl.loc[1, "area_mu"] == pytest.approx(30.0)
    assert len(gpd.read_parquet(run.out / "clusters" / "spanning.parquet")) == 1
    assert run.counts["clusters"] == 3 and run.partitions == 2
    # the tenant T3 is merged into its holder FP3, in the same partition
    ev = got["per_mu"].set_index("credit_code")
    assert ev.loc["T3", "status"] == "merged" and ev.loc["FP3", "unit_tax_10k"] == pytest.approx(605.0)
    assert not (run.out / "_scratch").exists()


def test_a_partition_whose_candidates_are_all_restricted(client, tmp_path):
    """Partition 1's candidates (the low-efficiency P2 and P6) lie in the ecological red line: it has candidates
    but no cluster, so its map from local to county cluster labels is empty.  A 5M-plot county has such a
    partition (an island's), and the run failed there (an eager look-up in that empty map)."""
    from tests.analysis_frames import CRS, X0, Y0

    red = gpd.GeoDataFrame({"kind": ["ecological_red_line"] * 2},
                           geometry=[shapely.box(X0 + 110, Y0 - 10, X0 + 210, Y0 + 110),
                                     shapely.box(X0 + 990, Y0 - 10, X0 + 1110, Y0 + 110)], crs=CRS)
    cs = tiny_set(tmp_path / "set", small={"constraints": red})
    run = run_chain_out_of_core(cs, load_preset("ruian_default"), out=tmp_path / "out", client=client)
    got = assert_equal_results(single_process(cs, "ruian_default"), run.out, tmp_path)
    out = got["plots"].set_index("plot_id")
    assert out.loc[["P2", "P6"], "restricted"].tolist() == [True, True]
    assert out.loc[["P2", "P6"], "cluster_id"].isna().all()
    assert out.loc["P1", "cluster_id"] == 1 and out.loc["P5", "cluster_id"] == 2 and run.counts["clusters"] == 2


def test_regrades_across_partitions(client, tmp_path):
    cs = tiny_set(tmp_path / "set")
    regrades = pd.DataFrame({"credit_code": ["FP2", "FP3"], "new_class": ["A", "D"], "reason": ["复核", "复核"]})
    run = run_chain_out_of_core(cs, load_preset("ruian_default"), out=tmp_path / "out", client=client,
                                regrades=regrades)
    got = assert_equal_results(single_process(cs, "ruian_default", regrades=regrades), run.out, tmp_path)
    ev = got["per_mu"].set_index("credit_code")
    assert ev.loc["FP2", "final_class"] == "A" and ev.loc["FP3", "final_class"] == "D"
    bad = pd.DataFrame({"credit_code": ["NOPE"], "new_class": ["A"], "reason": ["x"]})
    with pytest.raises(ParameterError, match=r"unknown credit code\(s\) \['NOPE'\]"):
        run_chain_out_of_core(cs, load_preset("ruian_default"), out=tmp_path / "bad", client=client, regrades=bad)


def test_firms_apart_from_their_holder_are_refused(client, tmp_path):
    cs = tiny_set(tmp_path / "set", holder_apart=True)   # T3 on P3 (partition 0), its holder FP4 in partition 1
    with pytest.raises(SchemaError, match=r"tenants apart from their land holder \(\['FP4'\]\).*cli.py partition") as e:
        run_chain_out_of_core(cs, load_preset("ruian_default"), out=tmp_path / "out", client=client)
    assert "分区" in e.value.message_zh     # the Chinese message survives the trip back from the worker


def test_duplicate_codes_across_partitions_are_refused(client, tmp_path):
    cs = tiny_set(tmp_path / "set")
    f = cs.read("enterprises", cs.partitions[1])
    f.loc[f["credit_code"] == "FP2", "credit_code"] = "FP1"           # FP1 is in partition 0
    f.to_parquet(cs.directory / "enterprises" / f"{cs.partitions[1]}.parquet")
    with pytest.raises(SchemaError, match=r"duplicated across the county \(e.g. 'FP1'\)"):
        run_chain_out_of_core(cs, load_preset("ruian_default"), out=tmp_path / "out", client=client)


@pytest.fixture(scope="module")
def streamed_set(tmp_path_factory):
    # 20,000 plots: cells of ~225 m whose gaps (20–55 m) are sometimes within the 30 m cluster gap
    return sample_county_set(tmp_path_factory.mktemp("set"), n_plots=20000, partitions=16, seed=11)


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["ruian_default", "huangyan_2022"])
def test_streamed_sample_in_many_partitions_equals_one_process(client, streamed_set, preset, tmp_path):
    run = run_chain_out_of_core(streamed_set, load_preset(preset), out=tmp_path / "out", client=client, as_of=AS_OF)
    single = single_process(streamed_set, preset)
    assert run.counts == single.counts
    assert_equal_results(single, run.out, tmp_path)
    spanning = gpd.read_parquet(run.out / "clusters" / "spanning.parquet")
    assert len(spanning) >= 5 and spanning["members"].str.contains(",").all()   # clusters crossed edges
    assert single.counts["low_efficiency"] > 0 and single.counts["candidate_sites"] > 0


def test_streamed_generator_keeps_one_partition_in_memory():
    layers, parts = sample.generate_partitions(n_plots=3000, partitions=5, seed=3)
    assert {"townships", "industrial_parks", "constraints", "infrastructure"} <= set(layers)
    seen_plots, seen_codes, start, bounds = set(), set(), 0, []
    for p, f in parts:
        assert p.index[0] == start and p.index.is_monotonic_increasing     # rows numbered across the county
        start += len(p)
        assert f["plot_id"].isin(p["plot_id"]).all()                       # firms with their plot
        tenants = f.loc[~f["is_land_holder"].astype(bool)]
        assert tenants["land_holder"].isin(f["credit_code"]).all()        # tenants with their holder
        assert not seen_plots & set(p["plot_id"]) and not seen_codes & set(f["credit_code"])
        seen_plots |= set(p["plot_id"])
        seen_codes |= set(f["credit_code"])
        bounds.append(shapely.box(*p.total_bounds))
    assert start == 3000 and len(bounds) == 5
    # compact pieces: each partition's bounding box is a small part of the county's
    county = shapely.union_all(bounds)
    assert max(b.area for b in bounds) < 0.6 * shapely.box(*county.bounds).area


@pytest.mark.slow
def test_workspace_cut_into_partitions_equals_one_process(client, sample_gpkg_copy, tmp_path):
    cs = county_set_from_workspace(sample_gpkg_copy, tmp_path / "set", partitions=7)
    assert len(cs.partitions) == 7 and cs.counts()["plots"] == len(sample_gpkg_copy.read("plots"))
    for part in cs.partitions:   # every firm with its plot, every tenant with its land holder
        p, f = cs.read("plots", part), cs.read("enterprises", part)
        assert f["plot_id"].dropna().isin(p["plot_id"]).all()
        holder = f["land_holder"].dropna()
        assert holder[holder != f.loc[holder.index, "credit_code"]].isin(f["credit_code"]).all()
    run = run_chain_out_of_core(cs, load_preset("ruian_default"), out=tmp_path / "out", client=client)
    assert_equal_results(single_process(cs, "ruian_default"), run.out, tmp_path)


@pytest.mark.slow
def test_cli_sample_parquet_then_evaluate_out_of_core(client, tmp_path, monkeypatch, capsys):
    address = client.scheduler.address
    assert cli.main(["sample", "--plots", "2500", "--parquet", str(tmp_path / "set"), "--partitions", "4",
                     "--seed", "5", "--no-rasters"]) == 0
    assert "2500 plots" in capsys.readouterr().out
    monkeypatch.setenv("PLANNER_SCHEDULER", address)
    assert cli.main(["evaluate", "--parquet", str(tmp_path / "set"), "--out", str(tmp_path / "out"),
                     "--as-of", AS_OF]) == 0
    printed = capsys.readouterr().out
    assert f"in 4 partitions on the dask cluster at {address}" in printed and "class mix:" in printed
    got = read_results(tmp_path / "out", kinds=("plots",))
    assert len(got["plots"]) == 2500
    assert cli.main(["evaluate", "--parquet", str(tmp_path / "set"), "--out", str(tmp_path / "out")]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert cli.main(["partition", "--out", str(tmp_path / "ws_set"), "--partitions", "3"]) == 0
    assert "in 3 partitions" in capsys.readouterr().out


def test_not_a_county_set(tmp_path):
    with pytest.raises(Exception, match="is not a county set: county.json is missing"):
        CountySet(tmp_path)
    assert np.isfinite(M2_PER_MU)
