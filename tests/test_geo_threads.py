"""geo.threads: GEOS measurements split over threads give exactly the single call's values, and the
redevelopment criteria and clusters computed in chunks equal the unchunked ones."""
import numpy as np
import pandas as pd
import pytest
import shapely

import geo.threads as gthreads
from analysis import per_mu, redevelopment


@pytest.fixture
def small_chunks(monkeypatch):
    """Threads from 7 items on, in 3 threads: every vectorised call below is split."""
    monkeypatch.setattr(gthreads, "MIN_CHUNK", 7)
    monkeypatch.setenv("PLANNER_THREADS", "3")


def _boxes(n, seed=0):
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(0, 1000, n), rng.uniform(0, 1000, n)
    w = rng.uniform(5, 40, n)
    return shapely.box(x, y, x + w, y + w)


def test_threads_setting(monkeypatch):
    monkeypatch.setenv("PLANNER_THREADS", "5")
    assert gthreads.threads() == 5
    monkeypatch.setenv("PLANNER_THREADS", "")
    assert 1 <= gthreads.threads() <= 8


def test_chunked_equals_one_call(small_chunks):
    g = _boxes(100)
    target = shapely.Point(500, 500)
    got = gthreads.chunked(lambda a: shapely.distance(a, target), g)
    assert len(got) == 100
    np.testing.assert_array_equal(got, shapely.distance(g, target))
    pairs = gthreads.chunked(lambda a, b: shapely.dwithin(a, b, 30.0), g, g[::-1])
    np.testing.assert_array_equal(pairs, shapely.dwithin(g, g[::-1], 30.0))


def test_query_pairs_equal_one_query(small_chunks):
    g = _boxes(100)
    tree = shapely.STRtree(_boxes(40, seed=1))
    i, j = gthreads.query_pairs(tree, g, predicate="intersects")
    i0, j0 = tree.query(g, predicate="intersects")
    np.testing.assert_array_equal(i, i0)
    np.testing.assert_array_equal(j, j0)


def test_nearest_and_clusters_in_chunks_equal_unchunked(small_chunks, monkeypatch):
    plots = _boxes(120)
    plots[5] = None                                   # a missing geometry has no distance
    parks = _boxes(70, seed=2)                        # > 64 targets: the tree search
    roads = np.array([shapely.LineString([(0, 300), (1000, 350)]), shapely.LineString([(200, 0), (250, 1000)])])
    got = (redevelopment._nearest(plots, parks), redevelopment._nearest(plots, roads),
           redevelopment.clusters(_boxes(120, seed=3), 15.0))
    monkeypatch.setattr(gthreads, "MIN_CHUNK", 10**9)
    want = (redevelopment._nearest(plots, parks), redevelopment._nearest(plots, roads),
            redevelopment.clusters(_boxes(120, seed=3), 15.0))
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
    assert np.isnan(got[0][5]) and np.isnan(got[1][5])
    assert (got[0] == 0).any() and (got[0] > 0).any()


def test_ranks_equal_pandas_groupby_rank():
    """The numpy ranks are pandas' groupby(dropna=False) rank(method="min", ascending=False)."""
    rng = np.random.default_rng(0)
    n = 3000
    ev = pd.DataFrame({
        "status": pd.array(rng.choice(["evaluated", "merged"], n, p=[0.8, 0.2]), dtype="string"),
        "score": np.where(rng.random(n) < 0.05, np.nan, rng.integers(0, 30, n).astype(float)),   # ties and NaN
        "group": pd.array(rng.choice(["above_scale", "below_scale", None], n), dtype="string"),
        "township_code": pd.array(rng.choice(["330381001", "330381002", None], n), dtype="string"),
        "industry_div": pd.array(rng.choice(["13", "36", None], n), dtype="string"),
    }, index=rng.permutation(n) * 3)
    got = per_mu.rank_within_groups(ev)
    evaluated = ev["status"] == "evaluated"
    for col, keys in (("rank_county", ["group"]), ("rank_township", ["group", "township_code"]),
                      ("rank_industry", ["group", "industry_div"])):
        want = ev.loc[evaluated].groupby(keys, dropna=False)["score"].rank(method="min", ascending=False)
        pd.testing.assert_series_equal(got[col], want.reindex(ev.index).astype("Int64"), check_names=False)


def test_one_thread_inside_a_dask_worker(tmp_path, monkeypatch):
    """A dask worker already runs a task per thread: its tasks do not start threads of their own."""
    from distributed import Client

    from tests.dask_cluster import tcp_cluster

    monkeypatch.delenv("PLANNER_THREADS", raising=False)
    with tcp_cluster(tmp_path, n_workers=1, memory_limit="1GB") as address, Client(address) as client:
        assert client.submit(gthreads.threads, pure=False).result() == 1
    assert gthreads.threads() >= 1
