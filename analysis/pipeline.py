"""The analysis chain and its runs: evaluate → low-efficiency → redevelopment → parks.

:func:`run_chain` is pure (frames in, frames out).  The workspace glue — the only place in
``analysis/`` that touches a workspace — is kept to thin functions over :mod:`layers.runs`:
:func:`run` reads the input layers from one snapshot, runs the chain and stores every result
as a layer under a run id (``run_<id>_per_mu``, ``run_<id>_plots``, ``run_<id>_clusters``,
``run_<id>_parks``, ``run_<id>_ledger``, ``run_<id>_townships``) plus one row in the ``runs``
table (with the versions of the layers it read), all in one transaction; :func:`load_run`
reads a run back; :func:`compare_runs` compares two runs (class changes, plots entering or
leaving the low-efficiency list) through the pure :func:`compare`.
"""
from __future__ import annotations

import datetime as _dt
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import geopandas as gpd
import pandas as pd

from analysis import low_efficiency, membership, parks as parks_mod, per_mu, redevelopment
from analysis._common import combine_parks, shared_steps
from analysis.params import CLASSES, Params, load_preset
from geo.errors import WorkspaceError
from geo.progress import Progress, Steps
from layers import runs as runs_store

__all__ = ["RunResult", "RESULT_KINDS", "RUN_KINDS", "INPUT_LAYERS", "CHAIN_STAGES", "run_chain", "run", "load_run",
           "list_runs", "compare", "compare_runs", "summary_text", "plots_result", "parks_result", "chain_counts",
           "cluster_counts"]

RESULT_KINDS = ("per_mu", "plots", "clusters", "parks", "ledger", "townships")
INPUT_LAYERS = ("plots", "enterprises", "industrial_parks", "micro_parks", "constraints", "infrastructure",
                 "townships")
#: The stages of :func:`run_chain`, in order (what its progress reports).
CHAIN_STAGES = ("per_mu", "low_efficiency", "redevelopment", "parks")

_log = logging.getLogger(__name__)


@dataclass
class RunResult:
    """Frames produced by one run of the chain, its counts and timings (s)."""

    frames: dict[str, pd.DataFrame]
    counts: dict[str, int]
    timings: dict[str, float] = field(default_factory=dict)


def run_chain(layers: Mapping[str, gpd.GeoDataFrame], params: Params, *, rasters: Mapping | None = None,
              as_of: str | pd.Timestamp | None = None, regrades: pd.DataFrame | None = None,
              stages: Mapping | None = None, progress: Progress | None = None) -> RunResult:
    """Run every analysis on in-memory layers.

    Parameters
    ----------
    layers : mapping
        Core layers by name (``plots`` and ``enterprises`` required; the others optional).
    params : Params
        A loaded preset.
    rasters : mapping, optional
        ``{"slope": path, "flood_depth": path}`` for the zonal statistics.
    as_of : date, optional
        Reference date of the year-based low-efficiency rules.
    regrades : DataFrame, optional
        Manual re-grades (``credit_code``, ``new_class``, ``reason``) applied before the
        class-D rule and the ledger.
    stages : mapping, optional
        Replacements for ``"low_efficiency"`` and/or ``"redevelopment"`` with the signatures of
        :func:`analysis.low_efficiency.assess` and :func:`analysis.redevelopment.assess` (used by
        ``scale.partitioned`` to run them on spatial partitions; the rest of the chain is unchanged).
    progress : callable, optional
        Told as each of :data:`CHAIN_STAGES` starts (:mod:`geo.progress`).
    """
    for name in ("plots", "enterprises"):
        if name not in layers:
            raise WorkspaceError(f"the analysis chain needs layer {name!r}; got {sorted(layers)}",
                                 message_zh=f"分析需要图层 {name!r}")
    with shared_steps():     # steps the stages repeat on the same plots (their parks) run once
        return _run_stages(layers, params, rasters=rasters, as_of=as_of, regrades=regrades, stages=stages,
                           progress=progress)


def _run_stages(layers, params, *, rasters, as_of, regrades, stages, progress) -> RunResult:
    t: dict[str, float] = {}
    steps = Steps(progress, CHAIN_STAGES, task="chain")
    steps.start("per_mu")
    t0 = time.perf_counter()
    plots = layers["plots"]
    ents = layers["enterprises"]
    parks = combine_parks(layers.get("industrial_parks"), layers.get("micro_parks"))
    ev = per_mu.evaluate(ents, params.per_mu, plots=plots, micro_parks=layers.get("micro_parks"), parks=parks)
    if regrades is not None and len(regrades):
        ev = per_mu.apply_regrade(ev, regrades)
    ledger = per_mu.price_ledger(ev, params.prices)
    town = per_mu.aggregate(ev, "township_code").reset_index()
    t["per_mu"] = time.perf_counter() - t0

    steps.start("low_efficiency")
    t0 = time.perf_counter()
    stages = dict(stages or {})
    le = stages.get("low_efficiency", low_efficiency.assess)(plots, params.low_efficiency, enterprises=ents,
                                                              evaluation=ev, parks=parks, as_of=as_of)
    t["low_efficiency"] = time.perf_counter() - t0

    steps.start("redevelopment")
    t0 = time.perf_counter()
    red = stages.get("redevelopment", redevelopment.assess)(le, params.redevelopment, parks=parks,
                                                            infrastructure=layers.get("infrastructure"),
                                                            constraints=layers.get("constraints"), rasters=rasters)
    t["redevelopment"] = time.perf_counter() - t0

    steps.start("parks")
    t0 = time.perf_counter()
    parks_out = parks_result({kind: parks_mod.assess(gdf, params.parks, plots=le, enterprises=ents, evaluation=ev)
                              for kind in ("industrial_parks", "micro_parks")
                              if (gdf := layers.get(kind)) is not None and len(gdf)}, plots.crs)
    t["parks"] = time.perf_counter() - t0

    frames: dict[str, pd.DataFrame] = {"per_mu": ev, "plots": plots_result(le, red.plots, ev, plots),
                                       "clusters": red.clusters, "ledger": ledger, "townships": town}
    if parks_out is not None:
        frames["parks"] = parks_out
    counts = {**chain_counts(ev, le, red.plots), **cluster_counts(red.clusters)}
    steps.finish()
    _log.info("chain: %d firms, %d plots in %.1f s (%s)", counts["firms"], counts["plots"], sum(t.values()),
              ", ".join(f"{k} {v:.1f} s" for k, v in t.items()))
    return RunResult(frames, counts, t)


def plots_result(le: gpd.GeoDataFrame, red_plots: gpd.GeoDataFrame, ev: pd.DataFrame,
                 plots: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The run's per-plot frame: the low-efficiency result, the redevelopment columns it lacks and the
    firms' 亩均 aggregates per plot (``pm_*``), on the plots' index."""
    plot_cols = [c for c in red_plots.columns if c not in le.columns or c == "plot_id"]
    out = le.join(red_plots[plot_cols].drop(columns="plot_id"))
    pm = per_mu.aggregate_plots(ev, plots)
    return out.join(pm.drop(columns=["plot_id", "geometry"]).add_prefix("pm_"))


def parks_result(by_kind: Mapping[str, gpd.GeoDataFrame], crs) -> gpd.GeoDataFrame | None:
    """Industrial parks' and micro-parks' performance frames as one, with ``park_kind`` (None if neither)."""
    frames = []
    for kind, frame in by_kind.items():
        frame = frame.copy()
        frame.insert(1, "park_kind", kind)
        frames.append(frame)
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=crs) if frames else None


def chain_counts(ev: pd.DataFrame, le: pd.DataFrame, red_plots: pd.DataFrame) -> dict[str, int]:
    """The run's counts of firms, classes and plots (they add up over partitions of the county)."""
    evaluated = ev["status"] == "evaluated"
    return {
        "firms": int(len(ev)), "evaluated": int(evaluated.sum()),
        **{f"class_{c}": int((ev.loc[evaluated, "final_class"] == c).sum()) for c in CLASSES},
        "not_evaluated": int((ev["status"] == "not_evaluated").sum()),
        "excluded": int((ev["status"] == "excluded").sum()), "merged": int((ev["status"] == "merged").sum()),
        "plots": int(len(le)), "low_efficiency": int(le["is_low_efficiency"].sum()),
        "idle_land": int(le["is_idle_land"].sum()),
        "park_from_outline": int((le["park_source"] == "geometry").sum()),
        "park_disagreements": int(le["park_check"].isin(membership.DISAGREEMENTS).sum()),
        "candidates": int(red_plots["candidate"].sum()),
    }


def cluster_counts(clusters: pd.DataFrame) -> dict[str, int]:
    """The run's counts of clusters and candidate sites."""
    return {"clusters": int(len(clusters)),
            "candidate_sites": int(clusters["is_candidate_site"].sum()) if len(clusters) else 0}


# --- workspace glue ----------------------------------------------------------------------
def _layer_name(run_id: str, kind: str) -> str:
    return runs_store.layer_name("chain", run_id, kind)


def run(ws, preset: str | Params, *, actor, run_id: str | None = None, as_of: str | None = None,
        regrades: pd.DataFrame | None = None, chain: Callable[..., RunResult] | None = None,
        progress: Progress | None = None) -> tuple[str, RunResult]:
    """Run the chain on a workspace and store the results under a run id (one transaction).

    Parameters
    ----------
    ws : workspace
        Opened with ``readonly=False``.
    preset : str or Params
        A preset name (``data/presets``) or loaded parameters.
    actor : layers.access.Actor
        A planner or admin.
    run_id : str, optional
        Lower-case letters, digits, underscores; default the local date and time ``YYYYMMDD_HHMMSS``.
    as_of : date, optional
        Reference date of the date rules; default the workspace's ``reference_date`` (the
        sample records 2026-06-30), else today.
    regrades : DataFrame, optional
        Re-grades to apply; default the workspace's re-grades in force (:mod:`layers.regrades`).
    chain : callable, optional
        What runs the chain on the layers read: :func:`run_chain` (default) or a function with
        its signature (``layers, params, *, rasters, as_of, regrades``) — ``scale.cluster.run``
        passes the partitioned chain on a dask cluster; the run is stored the same way.
    progress : callable, optional
        Told as reading, each chain stage and storing start (:mod:`geo.progress`).
    """
    from layers import access, regrades as regrades_store

    params = load_preset(preset) if isinstance(preset, str) else preset
    access.require(actor, "run.chain")
    ws.require_writable()
    steps = Steps(progress, ("read", "chain", "store"), task="evaluate")
    steps.start("read")
    layers, _ = ws.read_many(INPUT_LAYERS)
    inputs = runs_store.inputs_of(ws, list(layers))
    rasters = {k: v for k, v in ws.rasters().items() if k in ("slope", "flood_depth")}
    # A data set may carry its own "today" (the sample's figures are as of its reference date).
    as_of = as_of or getattr(ws, "info", {}).get("reference_date") or _dt.date.today().isoformat()
    if regrades is None:
        regrades = regrades_store.effective(ws, or_none=True)
    _log.info("read %s from %s (preset %s, as of %s)", ", ".join(f"{k} {len(v)}" for k, v in layers.items()),
              ws.describe(), params.name, as_of)
    steps.start("chain")
    t0 = time.perf_counter()
    if chain is None:
        result = run_chain(layers, params, rasters=rasters, as_of=as_of, regrades=regrades,
                           progress=steps.part("chain"))
    else:
        result = chain(layers, params, rasters=rasters, as_of=as_of, regrades=regrades)
    elapsed = time.perf_counter() - t0
    steps.start("store")
    rid = runs_store.store_run(ws, kind="chain", frames=result.frames, actor=actor, run_id=run_id, preset=params.name,
                               parameters=params.to_dict(), counts=result.counts, seconds=elapsed, as_of=str(as_of),
                               inputs=inputs, progress=steps.part("store"))
    steps.finish()
    _log.info("stored run %s in %s", rid, ws.describe())
    return rid, result


RUN_KINDS = runs_store.RUN_KINDS


def list_runs(ws, kind: str | None = None) -> pd.DataFrame:
    """The ``runs`` table (empty frame when no run was stored), optionally of one kind.

    Siting and integration runs share the table under ids prefixed ``siting_`` and
    ``integration_`` (see :mod:`analysis.siting_runs`); every other id is a chain run.
    """
    return runs_store.list_runs(ws, kind)


def load_run(ws, run_id: str) -> dict[str, pd.DataFrame]:
    """Every stored result of run ``run_id`` by kind (per_mu, plots, clusters, parks, ledger, townships)."""
    return runs_store.load_run(ws, "chain", run_id, RESULT_KINDS)


def compare(per_mu_a: pd.DataFrame, per_mu_b: pd.DataFrame, plots_a: pd.DataFrame, plots_b: pd.DataFrame, *,
            params_a=None, params_b=None) -> dict:
    """Differences between two runs: :func:`analysis.compare.compare` (class transitions, firms changing
    class, score changes, plots entering or leaving the low-efficiency list and why, settings that differ)."""
    from analysis.compare import compare as _compare

    return _compare(per_mu_a, per_mu_b, plots_a, plots_b, params_a=params_a, params_b=params_b)


def compare_runs(ws, run_a: str, run_b: str) -> dict:
    """:func:`compare` on two runs stored in the workspace, with the parameters each was made with."""
    ra, rb = load_run(ws, run_a), load_run(ws, run_b)
    runs = list_runs(ws)
    params = dict(zip(runs["run_id"].astype(str), runs["parameters"]))
    return compare(ra["per_mu"], rb["per_mu"], ra["plots"], rb["plots"], params_a=params.get(run_a),
                   params_b=params.get(run_b))


def summary_text(result: RunResult, *, top: int = 5) -> str:
    """A short plain-text summary: class mix, low-efficiency count, candidate clusters, top parks."""
    c = result.counts
    ev = max(c["evaluated"], 1)
    lines = [f"firms: {c['firms']}  evaluated: {c['evaluated']}  not evaluated: {c['not_evaluated']}  "
             f"excluded: {c['excluded']}  merged tenants: {c['merged']}",
             "class mix: " + "  ".join(f"{k} {c[f'class_{k}']} ({c[f'class_{k}'] / ev:.1%})" for k in CLASSES),
             f"plots: {c['plots']}  low-efficiency: {c['low_efficiency']}  idle land (闲置土地): {c.get('idle_land', 0)}  "
             f"candidates: {c['candidates']}",
             f"park membership: {c.get('park_from_outline', 0)} plots placed by the park outlines (no park_id), "
             f"{c.get('park_disagreements', 0)} where park_id and outline disagree (python cli.py membership)",
             f"clusters: {c['clusters']}  candidate sites ≥ cluster_min_mu: {c['candidate_sites']}"]
    cl = result.frames["clusters"]
    if len(cl):
        big = cl.sort_values("area_mu", ascending=False).head(top)
        for r in big.itertuples():
            lines.append(f"  cluster {r.cluster_id}: {r.area_mu:.1f} 亩, {r.n_plots} plots, "
                         f"+{r.added_floor_m2 / 1e4:.1f} 万m² floor potential")
    pk = result.frames.get("parks")
    if pk is not None and len(pk):
        lines.append("top parks by 亩均税收 (万元/亩):")
        best = pk.loc[pk["n_evaluated"] > 0].sort_values("tax_per_mu", ascending=False).head(top)
        for r in best.itertuples():
            lines.append(f"  {r.park_id} {r.name}: {r.tax_per_mu:.1f} 万元/亩, {r.n_firms} firms, "
                         f"leading share {r.leading_share:.0%} by firms ({r.leading_status}), "
                         f"{r.leading_land_share:.0%} by land ({r.leading_land_status})")
    return "\n".join(lines)
