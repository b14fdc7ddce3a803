"""The analysis chain with its per-plot stages run on spatial partitions on a dask.distributed cluster.

:func:`run_chain_distributed` is :func:`analysis.pipeline.run_chain` with two stages swapped
through its ``stages`` hook — nothing is rewritten, the same analysis functions run on each
partition:

1. **Global quantities first, once, in the client process.**  The per-mu evaluation
   (:func:`analysis.per_mu.evaluate`, which needs group averages over every firm) runs
   unpartitioned inside ``run_chain``; the county average 亩均税收 of the share rule
   (Σ tax ÷ Σ area of in-scope plots with tax figures, the same arithmetic as
   :func:`analysis.low_efficiency.assess`) is computed over all plots.  Both are broadcast
   to every worker with ``client.scatter(..., broadcast=True)`` together with the small
   layers (parks, infrastructure, constraints) and the class-D rows of the evaluation.
2. **Low-efficiency rules on partitions.**  The plots are ordered along a Hilbert curve
   (``GeoSeries.hilbert_distance``, the key ``dask_geopandas``' ``spatial_shuffle`` uses) and
   cut into ``npartitions`` contiguous, spatially compact pieces; each piece's firms travel
   with it.  :func:`analysis.low_efficiency.assess` runs on each with ``tax_average`` = the
   county figure.  Every rule is row-independent given that figure, so the concatenation
   equals the single-process result.
3. **Redevelopment criteria on partitions.**  The row-independent, expensive part of
   :func:`analysis.redevelopment.assess` — distances, exact zonal statistics, constraint
   shares (:func:`analysis.redevelopment.plot_criteria`) — runs on Hilbert partitions of the
   candidate plots.
4. **Clusters globally.**  Contiguous clusters (连片) cross partition borders, so
   :func:`analysis.redevelopment.assess` then runs once over all plots with the partitioned
   criteria passed in (``criteria=``): suitability, clusters (one STRtree ``dwithin`` query +
   connected components, already vectorised), cluster table and modes.  No halo merge:
   the global pass is exact by construction.

``partitioner="dask_geopandas"`` lets ``dask_geopandas.from_geopandas(...).spatial_shuffle()``
do the partitioning on the cluster instead (the partitions then stay on the workers); the
default ``"hilbert"`` sorts in the client and scatters the pieces, which is cheaper when the
frame is in memory already.  Either way the result is put back on the input's row order.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

import geopandas as gpd
import numpy as np
import pandas as pd

from analysis import low_efficiency, pipeline, redevelopment
from analysis._common import num, positions, text
from analysis.params import Params
from geo.errors import ParameterError
from geo.spawn import plain_main as _plain_main
from geo.units import M2_PER_MU
from scale import rasters as worker_rasters

__all__ = ["run_chain_distributed", "local_client", "hilbert_partitions", "county_tax_average",
           "county_tax_totals", "PARTITIONERS"]

PARTITIONERS = ("hilbert", "dask_geopandas")
_CRITERIA_RASTERS = ("slope", "flood_depth")        # what redevelopment.plot_criteria reads
_FIRM_COLUMNS = ("plot_id", "tax_10k", "industry_code")   # what low_efficiency.assess reads of a firm


@contextlib.contextmanager
def local_client(n_workers: int = 2, threads_per_worker: int = 1, processes: bool = True) -> Iterator:
    """A ``distributed.Client`` on a fresh ``LocalCluster`` (closed on exit); its dashboard on a free port."""
    from distributed import Client, LocalCluster

    with _plain_main(), LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker,
                                     processes=processes, dashboard_address=":0") as cluster, Client(cluster) as client:
        yield client


def hilbert_partitions(geoms: gpd.GeoSeries, npartitions: int) -> list[np.ndarray]:
    """Row positions of ``geoms`` cut into ``npartitions`` spatially compact pieces.

    Rows are ordered by Hilbert distance of their bounding-box centres (level 16 over the
    total bounds) and split into pieces of near-equal size; empty pieces are dropped.
    """
    n = len(geoms)
    if n == 0:
        return []
    key = geoms.hilbert_distance().to_numpy() if n > 1 else np.zeros(1)
    order = np.argsort(key, kind="stable")
    return [p for p in np.array_split(order, max(1, min(npartitions, n))) if len(p)]


def county_tax_average(plots: pd.DataFrame, params, enterprises: pd.DataFrame | None) -> float:
    """County average 亩均税收 (万元/亩) of the share rule, over every plot.

    Σ tax of the firms on in-scope plots with tax figures and area > 0 ÷ Σ area of those plots
    in 亩 — the arithmetic of :func:`analysis.low_efficiency.assess` (same arrays, same order,
    so the float is bit-identical to the single-process run).
    """
    tax, area_mu = county_tax_totals(plots, params, enterprises)
    return float(tax / area_mu) if area_mu > 0 else float("nan")


def county_tax_totals(plots: pd.DataFrame, params, enterprises: pd.DataFrame | None) -> tuple[float, float]:
    """(Σ tax in 万元, Σ area in 亩) behind :func:`county_tax_average`; partitions' totals add up."""
    n = len(plots)
    pid = text(plots, "plot_id")
    area_mu = num(plots, "area_m2") / M2_PER_MU
    in_scope = text(plots, "land_use").isin(params.land_uses).to_numpy(dtype=bool)
    tax_sum = np.full(n, np.nan)
    if enterprises is not None and len(enterprises) and "plot_id" in enterprises.columns:
        ep = positions(text(enterprises, "plot_id"), pid)
        on = ep >= 0
        etax = num(enterprises, "tax_10k")[on]
        has = ~np.isnan(etax)
        s = np.bincount(ep[on][has], weights=etax[has], minlength=n)
        cnt = np.bincount(ep[on][has], minlength=n)
        tax_sum = np.where(cnt > 0, s, np.nan)
    ok = in_scope & ~np.isnan(tax_sum) & (area_mu > 0)
    return float(tax_sum[ok].sum()), float(area_mu[ok].sum())


# --- work done on a worker (module-level so it pickles by reference) -------------------------
def _low_efficiency_part(plots, firms, params, evaluation, parks, as_of, tax_average):
    return low_efficiency.assess(plots, params, enterprises=firms, evaluation=evaluation, parks=parks, as_of=as_of,
                                 tax_average=tax_average)


def _criteria_part(cands, params, parks, infrastructure, constraints, rasters):
    return redevelopment.plot_criteria(cands, params, parks=parks, infrastructure=infrastructure,
                                       constraints=constraints, rasters=worker_rasters.local_paths(rasters))


def _strip_position(frame, fn, *args):
    """Run ``fn`` on a partition carrying its source row position in ``_pos``; keep ``_pos``."""
    pos = frame["_pos"].to_numpy()
    out = fn(frame.drop(columns="_pos"), *args)
    out["_pos"] = pos
    return out


class _Partitioned:
    """Partition a frame, map a function over the pieces on the cluster, reassemble in input order."""

    def __init__(self, client, npartitions: int, partitioner: str):
        self.client = client
        self.npartitions = npartitions
        self.partitioner = partitioner
        self.seconds: dict[str, float] = {}

    def map(self, frame: gpd.GeoDataFrame, fn, *shared, extra: list | None = None) -> pd.DataFrame:
        """``fn(piece, *[extra[i]], *shared)`` per piece; ``extra(positions)`` builds a per-piece
        companion (e.g. the piece's firms).  Returns the pieces' results concatenated on the
        input's row order (positional, so duplicate index labels are safe)."""
        if len(frame) == 0:
            return fn(frame, *([extra(np.zeros(0, dtype=np.int64))] if extra else []), *shared)
        # Frames are broadcast once to every worker; small objects (parameters, dates, floats) travel in the task.
        futures_shared = [self.client.scatter(s, broadcast=True, hash=False) if isinstance(s, pd.DataFrame) else s
                          for s in shared]
        if self.partitioner == "hilbert":
            pieces = hilbert_partitions(frame.geometry, self.npartitions)
            pos = np.concatenate(pieces)
            data = self.client.scatter([frame.iloc[p] for p in pieces], hash=False)
            args = [data]
            if extra:
                args.append(self.client.scatter([extra(p) for p in pieces], hash=False))
            futs = self.client.map(fn, *args, *[[f] * len(pieces) for f in futures_shared], pure=False)
            parts = self.client.gather(futs)
        else:
            import dask_geopandas

            if extra:
                raise ParameterError("the dask_geopandas partitioner carries no per-partition companion frames",
                                     message_zh="dask_geopandas 分区方式不支持附带的分区数据")
            tagged = frame.assign(_pos=np.arange(len(frame)))
            ddf = dask_geopandas.from_geopandas(tagged, npartitions=self.npartitions, sort=False)
            ddf = ddf.spatial_shuffle(by="hilbert", npartitions=self.npartitions)
            delayed = ddf.to_delayed()
            pieces_f = self.client.compute(delayed)
            futs = self.client.map(_strip_position, pieces_f, [fn] * len(pieces_f),
                                   *[[f] * len(pieces_f) for f in futures_shared], pure=False)
            parts = self.client.gather(futs)
            pos = np.concatenate([p.pop("_pos").to_numpy() for p in parts])
        out = pd.concat(parts).iloc[np.argsort(pos, kind="stable")]
        if self.partitioner == "dask_geopandas":
            out.index = frame.index  # spatial_shuffle indexes the pieces by Hilbert distance: labels back by position
        return out


def run_chain_distributed(layers: Mapping[str, gpd.GeoDataFrame], params: Params, *, rasters: Mapping | None = None,
                          as_of=None, regrades: pd.DataFrame | None = None, client=None,
                          npartitions: int | None = None, partitioner: str = "hilbert",
                          rasters_to_workers: str = "auto") -> pipeline.RunResult:
    """:func:`analysis.pipeline.run_chain` with low-efficiency and redevelopment criteria on partitions.

    Parameters
    ----------
    layers, params, rasters, as_of, regrades
        As for :func:`analysis.pipeline.run_chain`; ``rasters`` are paths this process reads.
    client : distributed.Client, optional
        Default: a fresh ``LocalCluster(n_workers=2, threads_per_worker=1)`` for this call.
    npartitions : int, optional
        Spatial partitions per stage; default 2 × the cluster's worker threads.
    partitioner : {"hilbert", "dask_geopandas"}
        ``hilbert``: Hilbert order in the client, pieces scattered (default);
        ``dask_geopandas``: ``spatial_shuffle`` on the cluster (redevelopment criteria only;
        the low-efficiency pieces need their firms beside them and always use ``hilbert``).
    rasters_to_workers : {"auto", "path", "send"}
        How the slope and flood rasters reach the workers (:func:`scale.rasters.for_workers`):
        the same path when every worker reads the same file there (``auto``, default), or the
        file sent once to each worker — what a PostGIS workspace's rasters, cached on this
        machine only, need on a cluster of several machines.

    Returns
    -------
    RunResult
        Same frames, columns, values and index as ``run_chain``; ``timings`` has the same
        stages (wall-clock, including scatter and gather).
    """
    if partitioner not in PARTITIONERS:
        raise ParameterError(f"partitioner {partitioner!r} is not one of {PARTITIONERS}",
                             message_zh=f"未知的分区方式 {partitioner!r}")
    if client is None:
        with local_client() as c:
            return run_chain_distributed(layers, params, rasters=rasters, as_of=as_of, regrades=regrades, client=c,
                                         npartitions=npartitions, partitioner=partitioner,
                                         rasters_to_workers=rasters_to_workers)
    if npartitions is None:
        npartitions = 2 * max(1, sum(client.nthreads().values()))
    if npartitions < 1:
        raise ParameterError(f"npartitions must be ≥ 1; got {npartitions}", message_zh="分区数至少为 1")
    shipped = worker_rasters.for_workers(client, {k: v for k, v in (rasters or {}).items() if k in _CRITERIA_RASTERS},
                                         mode=rasters_to_workers)
    hilbert = _Partitioned(client, npartitions, "hilbert")
    criteria_runner = _Partitioned(client, npartitions, partitioner)

    def low_efficiency_stage(plots, le_params, *, enterprises=None, evaluation=None, parks=None, as_of=None):
        avg = county_tax_average(plots, le_params, enterprises)
        firms, firm_plot = None, None
        if enterprises is not None and len(enterprises) and "plot_id" in enterprises.columns:
            firms = pd.DataFrame({c: enterprises[c] for c in _FIRM_COLUMNS if c in enterprises.columns})
            firm_plot = positions(text(firms, "plot_id"), text(plots, "plot_id"))
        ev_d = None
        if evaluation is not None and len(evaluation):
            # The class-D rule reads only evaluated class-D rows: broadcast those, not 800k firms.
            keep = (evaluation["status"] == "evaluated") & (evaluation["final_class"] == "D")
            ev_d = evaluation.loc[keep, ["status", "final_class", "plot_id"]]

        def firms_of(pos):
            if firms is None:
                return None
            return firms.loc[np.isin(firm_plot, pos)]  # keeps the firms' order: same sums per plot

        return hilbert.map(plots, _low_efficiency_part, le_params, ev_d, parks, as_of, avg, extra=firms_of)

    def redevelopment_stage(le, red_params, *, parks=None, infrastructure=None, constraints=None, rasters=None):
        cand = redevelopment.candidates(le, red_params)
        c = le.loc[cand, [le.geometry.name]]
        crit = criteria_runner.map(c, _criteria_part, red_params, parks, infrastructure, constraints, shipped)
        # Clusters cross partitions: the rest of the stage (suitability, clusters, modes) runs once, globally.
        return redevelopment.assess(le, red_params, parks=parks, infrastructure=infrastructure,
                                    constraints=constraints, rasters=rasters, criteria=crit)

    return pipeline.run_chain(layers, params, rasters=rasters, as_of=as_of, regrades=regrades,
                              stages={"low_efficiency": low_efficiency_stage, "redevelopment": redevelopment_stage})
