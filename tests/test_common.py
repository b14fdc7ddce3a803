"""analysis._common helpers that the speed work rewrote: the same answers on every kind of input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from analysis._common import once, positions, shared_steps


def _positions_by_objects(keys, universe) -> np.ndarray:
    """The plain-object lookup positions() used before it looked text up in Arrow."""
    k = pd.Series(keys).astype(object).to_numpy()
    u = pd.Index(pd.Series(universe).astype(object).to_numpy())
    first = ~u.duplicated(keep="first")
    hit = u[first].get_indexer(k)
    return np.where(hit >= 0, np.flatnonzero(first)[np.maximum(hit, 0)], -1)


def test_positions_hand_checked():
    ids = pd.Series(["P1", "P2", "P1", None, "P3"], dtype="string")
    keys = pd.Series(["P2", "P1", "P9", None, "P3", ""], dtype="string")
    assert positions(keys, ids).tolist() == [1, 0, -1, 3, 4, -1]     # first of a repeated id; NA finds NA
    assert positions(keys, ids.dropna()).tolist() == [1, 0, -1, -1, 3, -1]   # positions, not labels
    assert positions(pd.Series([], dtype="string"), ids).tolist() == []
    assert positions(keys, pd.Series([], dtype="string")).tolist() == [-1] * 6
    assert positions(pd.Series([3, 1, 7]), pd.Series([1, 3])).tolist() == [1, 0, -1]    # not text: objects


@pytest.mark.parametrize("key_dtype", ["string", "str", object])
@pytest.mark.parametrize("universe_kind", ["string", "str", object, "ndarray"])
def test_positions_equal_the_object_lookup(key_dtype, universe_kind):
    rng = np.random.default_rng(5)
    values = np.array(["a", "b", "c", "", " a", "中文", None, "x"], dtype=object)
    for _ in range(40):
        keys = pd.Series(rng.choice(values, 30), dtype=key_dtype)
        universe = rng.choice(values, rng.integers(1, 12))
        if pd.isna(universe).all():
            universe[0] = "a"        # pandas finds nothing in an all-missing object index; nobody looks there
        u = (pd.Series(universe, dtype="string").to_numpy(dtype=object) if universe_kind == "ndarray"
             else pd.Series(universe, dtype=universe_kind))
        assert positions(keys, u).tolist() == _positions_by_objects(keys, u).tolist()


def test_once_computes_a_step_once_per_geometries_inside_shared_steps():
    geoms = shapely.points(np.arange(3.0), 0.0)
    calls = []

    def centroids(g):
        calls.append(len(g))
        return shapely.centroid(g)

    assert once("c", geoms, centroids) is not once("c", geoms, centroids)        # outside a block: every time
    assert len(calls) == 2
    with shared_steps():
        first = once("c", geoms, centroids)
        assert once("c", geoms.copy(), centroids) is first                       # same objects, another array
        assert once("other step", geoms, centroids) is not first
        equal_but_new = shapely.points(np.arange(3.0), 0.0)
        assert once("c", equal_but_new, centroids) is not first                  # identity, not equality
    assert len(calls) == 5
    with shared_steps():
        once("c", geoms, centroids)
    assert len(calls) == 6                                                       # each block starts empty


def test_the_chain_places_the_plots_in_their_parks_from_one_pass(monkeypatch):
    from analysis import membership, pipeline
    from analysis.params import load_preset
    from tests.analysis_frames import firm, firms, parks, plot, plots

    passes = []
    real = shapely.point_on_surface
    monkeypatch.setattr(membership.shapely, "point_on_surface", lambda g: passes.append(len(g)) or real(g))
    layers = {"plots": plots([plot("A", 0, 0, park_id="IP1"), plot("B", 300, 0)]),
              "enterprises": firms([firm("F1", plot_id="A"), firm("F2", plot_id="B")]),
              "industrial_parks": parks([("IP1", "industrial_park", False, -50, -50, 150, 150)]).drop(columns="park_kind")}
    result = pipeline.run_chain(layers, load_preset("ruian_default"), as_of="2026-06-30")
    assert passes == [2]
    park = result.frames["plots"]["park_id"]
    assert park.iloc[0] == "IP1" and pd.isna(park.iloc[1])


def test_text_positions_once_per_chain_for_the_same_columns():
    from analysis._common import shared_steps, text_positions

    firms = pd.DataFrame({"plot_id": pd.array([" P2", "P9", None, "P1"], dtype="string")})
    plots = pd.DataFrame({"plot_id": pd.array(["P1", "P2", "P3"], dtype="string")})
    assert text_positions(firms, "plot_id", plots, "plot_id").tolist() == [1, -1, -1, 0]
    with shared_steps():
        first = text_positions(firms, "plot_id", plots, "plot_id", missing_as_empty=True)
        assert text_positions(firms, "plot_id", plots, "plot_id", missing_as_empty=True) is first
        assert not first.flags.writeable
        firms.loc[1, "plot_id"] = "P3"               # other text: other buffers, looked up again
        again = text_positions(firms, "plot_id", plots, "plot_id", missing_as_empty=True)
        assert again.tolist() == [1, 2, -1, 0] and first.tolist() == [1, -1, -1, 0]
