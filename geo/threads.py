"""Vectorised GEOS measurements on every core of one process, in threads.

Shapely releases the GIL while GEOS computes a number or a predicate per geometry
(``shapely.distance``, ``shapely.dwithin``, ``STRtree.query_nearest``…), so splitting one such
call into a contiguous chunk per core and running the chunks in threads gives the same values
in less wall time.  Functions that *build* geometries hold the GIL to create the Python
objects and gain nothing; they are not run here.

Threads: ``PLANNER_THREADS`` if set, else the cores this process may use (at most 8).  Below
:data:`MIN_CHUNK` items per thread the call runs as one (thread start-up would cost more).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import numpy as np

__all__ = ["threads", "chunked", "query_pairs", "MIN_CHUNK"]

#: Fewest items per thread worth a thread of its own.
MIN_CHUNK = 20_000


def threads() -> int:
    """Threads for :func:`chunked`: ``PLANNER_THREADS``, else 1 inside a dask worker (the cluster already runs a
    task per worker thread: more would oversubscribe the cores), else the usable cores (1–8)."""
    env = os.environ.get("PLANNER_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    if _in_dask_worker():
        return 1
    return max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def _in_dask_worker() -> bool:
    import sys

    if "distributed" not in sys.modules:  # never imported: not a worker (and no import cost here)
        return False
    from distributed import get_worker

    try:
        get_worker()
    except ValueError:
        return False
    return True


@cache
def _pool(n: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=n, thread_name_prefix="geos")


def chunked(func: Callable[..., np.ndarray], *arrays: np.ndarray) -> np.ndarray:
    """``func(*arrays)``, computed on contiguous chunks of the arrays (all the same length) in
    threads and concatenated.

    ``func`` must be element-wise (row i of the result depends on row i of each array only) and
    return one array of that length; bind anything else (a target geometry, a tree, a distance)
    in ``func``.
    """
    n = threads()
    size = len(arrays[0])
    k = min(n, size // MIN_CHUNK)
    if k <= 1:
        return func(*arrays)
    bounds = np.linspace(0, size, k + 1).astype(np.int64)
    parts = _pool(n).map(lambda ab: func(*(a[ab[0]:ab[1]] for a in arrays)), zip(bounds[:-1], bounds[1:]))
    return np.concatenate(list(parts))


def query_pairs(tree, geoms: np.ndarray, **query) -> tuple[np.ndarray, np.ndarray]:
    """``tree.query(geoms, **query)`` (a ``shapely.STRtree``): the (input, tree) position pairs, in
    the same order, with the inputs queried in chunks in threads."""
    n = threads()
    k = min(n, len(geoms) // MIN_CHUNK)
    if k <= 1:
        i, j = tree.query(geoms, **query)
        return i.astype(np.int64), j.astype(np.int64)
    tree.query(geoms[:1], **query)       # GEOS builds the tree on its first query: once, before sharing it
    bounds = np.linspace(0, len(geoms), k + 1).astype(np.int64)
    parts = list(_pool(n).map(lambda ab: tree.query(geoms[ab[0]:ab[1]], **query), zip(bounds[:-1], bounds[1:])))
    i = np.concatenate([p[0].astype(np.int64) + a for p, a in zip(parts, bounds[:-1])])
    j = np.concatenate([p[1].astype(np.int64) for p in parts])
    return i, j
