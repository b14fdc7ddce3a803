"""The analysis chain and its runs: evaluate → low-efficiency → redevelopment → parks.

:func:`run_chain` is pure (frames in, frames out).  The workspace glue — the only place in
``analysis/`` that touches a :class:`~layers.workspace.Workspace` — is kept to three thin
functions: :func:`run` reads the layers, runs the chain and stores every result as a layer
under a run id (``run_<id>_per_mu``, ``run_<id>_plots``, ``run_<id>_clusters``,
``run_<id>_parks``, ``run_<id>_ledger``, ``run_<id>_townships``) plus one row in the
``runs`` table, all in one atomic write; :func:`load_run` reads a run back;
:func:`compare_runs` compares two runs (class changes, plots entering or leaving the
low-efficiency list) through the pure :func:`compare`.
"""
from __future__ import annotations

import datetime as _dt
import json
import re
import time
from dataclasses import dataclass, field
from typing import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd

from analysis import low_efficiency, parks as parks_mod, per_mu, redevelopment
from analysis._common import combine_parks
from analysis.params import CLASSES, Params, load_preset
from geo.errors import ParameterError, WorkspaceError

__all__ = ["RunResult", "RESULT_KINDS", "RUN_KINDS", "INPUT_LAYERS", "run_chain", "run", "load_run", "list_runs", "compare", "compare_runs",
           "summary_text"]

RESULT_KINDS = ("per_mu", "plots", "clusters", "parks", "ledger", "townships")
_RUN_ID = re.compile(r"^[a-z0-9_]{1,40}$")
INPUT_LAYERS = ("plots", "enterprises", "industrial_parks", "micro_parks", "constraints", "infrastructure",
                 "townships")


@dataclass
class RunResult:
    """Frames produced by one run of the chain, its counts and timings (s)."""

    frames: dict[str, pd.DataFrame]
    counts: dict[str, int]
    timings: dict[str, float] = field(default_factory=dict)


def run_chain(layers: Mapping[str, gpd.GeoDataFrame], params: Params, *, rasters: Mapping | None = None,
              as_of: str | pd.Timestamp | None = None, regrades: pd.DataFrame | None = None,
              stages: Mapping | None = None) -> RunResult:
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
    """
    for name in ("plots", "enterprises"):
        if name not in layers:
            raise WorkspaceError(f"the analysis chain needs layer {name!r}; got {sorted(layers)}",
                                 message_zh=f"分析需要图层 {name!r}")
    t: dict[str, float] = {}
    t0 = time.perf_counter()
    plots = layers["plots"]
    ents = layers["enterprises"]
    parks = combine_parks(layers.get("industrial_parks"), layers.get("micro_parks"))
    ev = per_mu.evaluate(ents, params.per_mu, plots=plots, micro_parks=layers.get("micro_parks"))
    if regrades is not None and len(regrades):
        ev = per_mu.apply_regrade(ev, regrades)
    ledger = per_mu.price_ledger(ev, params.prices)
    town = per_mu.aggregate(ev, "township_code").reset_index()
    t["per_mu"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    stages = dict(stages or {})
    le = stages.get("low_efficiency", low_efficiency.assess)(plots, params.low_efficiency, enterprises=ents,
                                                              evaluation=ev, parks=parks, as_of=as_of)
    t["low_efficiency"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    red = stages.get("redevelopment", redevelopment.assess)(le, params.redevelopment, parks=parks,
                                                            infrastructure=layers.get("infrastructure"),
                                                            constraints=layers.get("constraints"), rasters=rasters)
    t["redevelopment"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    park_frames = []
    for kind in ("industrial_parks", "micro_parks"):
        gdf = layers.get(kind)
        if gdf is not None and len(gdf):
            pf = parks_mod.assess(gdf, params.parks, plots=le, enterprises=ents, evaluation=ev)
            pf.insert(1, "park_kind", kind)
            park_frames.append(pf)
    parks_out = (gpd.GeoDataFrame(pd.concat(park_frames, ignore_index=True), geometry="geometry", crs=plots.crs)
                 if park_frames else None)
    t["parks"] = time.perf_counter() - t0

    plot_cols = [c for c in red.plots.columns if c not in le.columns or c == "plot_id"]
    plots_out = le.join(red.plots[plot_cols].drop(columns="plot_id"))
    pm = per_mu.aggregate_plots(ev, plots)
    plots_out = plots_out.join(pm.drop(columns=["plot_id", "geometry"]).add_prefix("pm_"))
    frames: dict[str, pd.DataFrame] = {"per_mu": ev, "plots": plots_out, "clusters": red.clusters, "ledger": ledger,
                                       "townships": town}
    if parks_out is not None:
        frames["parks"] = parks_out
    evaluated = ev["status"] == "evaluated"
    counts = {
        "firms": int(len(ev)), "evaluated": int(evaluated.sum()),
        **{f"class_{c}": int((ev.loc[evaluated, "final_class"] == c).sum()) for c in CLASSES},
        "not_evaluated": int((ev["status"] == "not_evaluated").sum()),
        "excluded": int((ev["status"] == "excluded").sum()), "merged": int((ev["status"] == "merged").sum()),
        "plots": int(len(le)), "low_efficiency": int(le["is_low_efficiency"].sum()),
        "candidates": int(red.plots["candidate"].sum()), "clusters": int(len(red.clusters)),
        "candidate_sites": int(red.clusters["is_candidate_site"].sum()) if len(red.clusters) else 0,
    }
    return RunResult(frames, counts, t)


# --- workspace glue ----------------------------------------------------------------------
def _layer_name(run_id: str, kind: str) -> str:
    return f"run_{run_id}_{kind}"


def _prepare_for_gpkg(frame: pd.DataFrame) -> pd.DataFrame:
    """GeoPackage-friendly dtypes: nullable ints/bools stay, objects become strings."""
    out = frame.copy()
    for col in out.columns:
        if col == getattr(out, "_geometry_column_name", None):
            continue
        if out[col].dtype == object:
            out[col] = out[col].astype("string")
    return out


def run(ws, preset: str | Params, *, run_id: str | None = None, as_of: str | None = None,
        regrades: pd.DataFrame | None = None) -> tuple[str, RunResult]:
    """Run the chain on a workspace and store the results under a run id (one atomic write).

    Parameters
    ----------
    ws : layers.workspace.Workspace
        Opened with ``readonly=False``.
    preset : str or Params
        A preset name (``data/presets``) or loaded parameters.
    run_id : str, optional
        Lower-case letters, digits, underscores; default a timestamp ``YYYYMMDD_HHMMSS``.
    as_of : date, optional
        Reference date of the date rules; default the workspace's ``reference_date`` (the
        sample records 2026-06-30), else today.
    """
    params = load_preset(preset) if isinstance(preset, str) else preset
    when = _dt.datetime.now(_dt.timezone.utc).astimezone()
    run_id = run_id or when.strftime("%Y%m%d_%H%M%S")
    if not _RUN_ID.match(run_id):
        raise ParameterError(f"run id {run_id!r} must be 1–40 lower-case letters, digits or underscores",
                             message_zh=f"运行编号 {run_id!r} 只能包含小写字母、数字和下划线")
    existing = list_runs(ws)
    if len(existing) and (existing["run_id"] == run_id).any():
        raise ParameterError(f"run {run_id!r} already exists in {ws.path.name}; pick another id",
                             message_zh=f"运行 {run_id!r} 已存在")
    held = set(ws.layers())
    layers = {name: ws.read(name) for name in INPUT_LAYERS if name in held}
    rasters = {k: v for k, v in ws.rasters().items() if k in ("slope", "flood_depth")}
    # A data set may carry its own "today" (the sample's figures are as of its reference date).
    as_of = as_of or getattr(ws, "info", {}).get("reference_date") or when.date().isoformat()
    t0 = time.perf_counter()
    result = run_chain(layers, params, rasters=rasters, as_of=as_of, regrades=regrades)
    elapsed = time.perf_counter() - t0
    record = pd.DataFrame([{
        "run_id": run_id, "preset": params.name, "created": when.isoformat(timespec="seconds"), "as_of": str(as_of),
        "parameters": json.dumps(params.to_dict(), ensure_ascii=False, default=str),
        "counts": json.dumps(result.counts, ensure_ascii=False), "seconds": round(elapsed, 3),
        "workspace_version": json.dumps(list(ws.version)),
    }])
    runs = pd.concat([existing, record], ignore_index=True) if len(existing) else record
    frames = {_layer_name(run_id, k): _prepare_for_gpkg(v) for k, v in result.frames.items()}
    frames["runs"] = runs.astype({c: "string" for c in runs.columns if c != "seconds"})
    ws.write_many(frames, source=f"analysis.pipeline preset={params.name}")
    return run_id, result


RUN_KINDS = ("chain", "siting", "integration")


def list_runs(ws, kind: str | None = None) -> pd.DataFrame:
    """The ``runs`` table (empty frame when no run was stored), optionally of one kind.

    Siting and integration runs share the table under ids prefixed ``siting_`` and
    ``integration_`` (see :mod:`analysis.siting_runs`); every other id is a chain run.
    """
    if kind is not None and kind not in RUN_KINDS:
        raise ParameterError(f"run kind {kind!r} is not one of {RUN_KINDS}", message_zh=f"未知的运行类型 {kind!r}")
    if not ws.has_layer("runs"):
        return pd.DataFrame(columns=["run_id", "preset", "created", "as_of", "parameters", "counts", "seconds",
                                     "workspace_version"])
    runs = ws.read_table("runs")
    if kind is None:
        return runs
    ids = runs["run_id"].astype(str)
    kinds = np.select([ids.str.startswith("siting_"), ids.str.startswith("integration_")], ["siting", "integration"],
                      "chain")
    return runs[kinds == kind].reset_index(drop=True)


def load_run(ws, run_id: str) -> dict[str, pd.DataFrame]:
    """Every stored result of run ``run_id`` by kind (per_mu, plots, clusters, parks, ledger, townships)."""
    runs = list_runs(ws)
    if not (runs["run_id"] == run_id).any():
        known = ", ".join(runs["run_id"].astype(str)) or "(none)"
        raise ParameterError(f"no run {run_id!r} in {ws.path.name}; stored runs: {known}",
                             message_zh=f"没有运行 {run_id!r};已有:{known}")
    held = set(ws.layers())
    return {k: ws.read(_layer_name(run_id, k)) for k in RESULT_KINDS if _layer_name(run_id, k) in held}


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
             f"plots: {c['plots']}  low-efficiency: {c['low_efficiency']}  candidates: {c['candidates']}",
             f"clusters: {c['clusters']}  candidate sites ≥ cluster_min_mu: {c['candidate_sites']}"]
    cl = result.frames["clusters"]
    if len(cl):
        big = cl.sort_values("area_mu", ascending=False).head(top)
        for r in big.itertuples():
            lines.append(f"  cluster {r.cluster_id}: {r.area_mu:.1f} 亩, {r.n_plots} plots, "
                         f"+{r.added_floor_m2 / 1e4:.1f} 万m² floor potential")
    pk = result.frames.get("parks")
    if pk is not None and len(pk):
        lines.append(f"top parks by 亩均税收 (万元/亩):")
        best = pk.loc[pk["n_evaluated"] > 0].sort_values("tax_per_mu", ascending=False).head(top)
        for r in best.itertuples():
            lines.append(f"  {r.park_id} {r.name}: {r.tax_per_mu:.1f} 万元/亩, {r.n_firms} firms, "
                         f"leading share {r.leading_share:.0%} ({r.leading_status})")
    return "\n".join(lines)
