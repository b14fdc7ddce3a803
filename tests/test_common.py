"""analysis._common helpers that the speed work rewrote: the same answers on every kind of input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis._common import positions


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
