"""Workspace glue of siting and integration: read the layers, run, store results under a run id.

Like :mod:`analysis.pipeline` (whose ``runs`` table and helpers this reuses), this is the
only part of siting/integration that touches a :class:`~layers.workspace.Workspace`.
Layers written (one atomic ``write_many``)::

    siting_<id>_assignments   firm points with site, distance, objective share, reason
    siting_<id>_sites         site polygons with land/floor utilisation and industry mix after
    siting_<id>_lines         firm → site LineStrings for the map
    siting_<id>_parks         per park: leading-industry share before/after (firms, land), policy
    integration_<id>_zones    zones with firms, industry mix and joint zone
    integration_<id>_links    candidate links with measures and reason
    integration_<id>_joint    joint zones (dissolved outlines)

plus a row in ``runs`` (run_id ``siting_<id>`` / ``integration_<id>``, same columns as the
pipeline's rows).
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import re
import time

import pandas as pd

from analysis import integration, siting
from analysis._common import combine_parks
from analysis.pipeline import _prepare_for_gpkg, list_runs
from geo.errors import ParameterError

__all__ = ["latest_pipeline_run", "run_siting", "run_integration"]

_RUN_ID = re.compile(r"^[a-z0-9_]{1,40}$")


def _run_id(run_id: str | None, prefix: str, ws) -> tuple[str, _dt.datetime]:
    when = _dt.datetime.now(_dt.timezone.utc).astimezone()
    run_id = run_id or when.strftime("%Y%m%d_%H%M%S")
    if not _RUN_ID.match(run_id):
        raise ParameterError(f"run id {run_id!r} must be 1–40 lower-case letters, digits or underscores",
                             message_zh=f"运行编号 {run_id!r} 只能包含小写字母、数字和下划线")
    runs = list_runs(ws)
    if len(runs) and (runs["run_id"] == f"{prefix}_{run_id}").any():
        raise ParameterError(f"run {prefix}_{run_id!r} already exists in {ws.path.name}; pick another id",
                             message_zh=f"运行 {prefix}_{run_id} 已存在")
    return run_id, when


def _record(ws, run_key: str, preset: str, when, params, counts: dict, seconds: float) -> pd.DataFrame:
    existing = list_runs(ws)
    record = pd.DataFrame([{
        "run_id": run_key, "preset": preset, "created": when.isoformat(timespec="seconds"),
        "as_of": when.date().isoformat(),
        "parameters": json.dumps(dataclasses.asdict(params), ensure_ascii=False, default=str),
        "counts": json.dumps(counts, ensure_ascii=False, default=str), "seconds": round(seconds, 3),
        "workspace_version": json.dumps(list(ws.version)),
    }])
    runs = pd.concat([existing, record], ignore_index=True) if len(existing) else record
    return runs.astype({c: "string" for c in runs.columns if c != "seconds"})


def latest_pipeline_run(ws) -> str | None:
    """Id of the newest stored analysis-chain run (``run_<id>_per_mu`` present), else None."""
    runs = list_runs(ws)
    if not len(runs):
        return None
    held = set(ws.layers())
    ids = [r for r in runs["run_id"].astype(str) if f"run_{r}_per_mu" in held]
    return ids[-1] if ids else None


def run_siting(ws, params: siting.SitingParams, *, rule: str | None = None, firms: list[str] | None = None,
               run_id: str | None = None, from_run: str | None = None, use_clusters: bool = False,
               store: bool = True) -> tuple[str, siting.RelocationProblem]:
    """Select firms, build sites, solve, and store the results (unless ``store=False``).

    ``from_run`` (default: the latest pipeline run, if any) supplies classes for rule
    ``d_class`` and, with ``use_clusters``, redevelopment clusters as extra supply.
    """
    run_id, when = _run_id(run_id, "siting", ws) if store else (run_id or "preview", None)
    t0 = time.perf_counter()
    held = set(ws.layers())
    read = {n: ws.read(n) for n in ("plots", "enterprises", "industrial_parks", "micro_parks", "constraints")
            if n in held}
    ents = read["enterprises"]
    from_run = from_run or latest_pipeline_run(ws)
    classes = clusters = None
    if from_run:
        if f"run_{from_run}_per_mu" in held and (rule or params.rule) == "d_class":
            pm = ws.read_table(f"run_{from_run}_per_mu")
            classes = pd.Series(pm["final_class"].to_numpy(), index=pm["credit_code"].astype(str).to_numpy())
        if use_clusters and f"run_{from_run}_clusters" in held:
            clusters = ws.read(f"run_{from_run}_clusters")
    if use_clusters and clusters is None:
        raise ParameterError("--clusters needs a stored analysis run with clusters; run `python cli.py evaluate` first.",
                             message_zh="使用释放地块作为供给需要先运行分析(python cli.py evaluate)")
    parks = combine_parks(read.get("industrial_parks"), read.get("micro_parks"))
    demand = siting.select_demand(ents, params, rule=rule, firms=firms, plots=read.get("plots"), parks=parks,
                                  classes=classes)
    supply = siting.supply_from_layers(params, industrial_parks=read.get("industrial_parks"),
                                       micro_parks=read.get("micro_parks"), plots=read.get("plots"),
                                       enterprises=ents, clusters=clusters, exclude_firms=demand.index,
                                       constraints=read.get("constraints"))
    problem = siting.RelocationProblem.from_geodataframe(demand, supply, params=params,
                                                         constraints=read.get("constraints")).solve()
    seconds = time.perf_counter() - t0
    if store:
        counts = {"firms": problem.n, "sites": problem.m, "status": problem.status,
                  "assigned": int((problem.assignments["status"] == "assigned").sum()),
                  "unassigned": int((problem.assignments["status"] == "unassigned").sum()),
                  "not_solved": int((problem.assignments["status"] == "not_solved").sum()),
                  "objective": problem.objective, "bound": problem.bound, "gap": problem.gap,
                  "solve_time_s": round(problem.solve_time_s, 3), "rule": rule or params.rule,
                  "from_run": from_run}
        frames = {f"siting_{run_id}_assignments": _prepare_for_gpkg(problem.assignments),
                  f"siting_{run_id}_sites": _prepare_for_gpkg(problem.site_utilisation)}
        if problem.lines is not None and len(problem.lines):
            frames[f"siting_{run_id}_lines"] = _prepare_for_gpkg(problem.lines)
        if problem.park_shares is not None and len(problem.park_shares):
            frames[f"siting_{run_id}_parks"] = _prepare_for_gpkg(problem.park_shares)
        frames["runs"] = _record(ws, f"siting_{run_id}", params.name, when, params, counts, seconds)
        ws.write_many(frames, source=f"analysis.siting preset={params.name}")
    return run_id, problem


def run_integration(ws, params: integration.IntegrationParams, *, run_id: str | None = None,
                    store: bool = True) -> tuple[str, integration.IntegrationResult]:
    """Find joint-development zones on the workspace's parks and store them."""
    run_id, when = _run_id(run_id, "integration", ws) if store else (run_id or "preview", None)
    t0 = time.perf_counter()
    held = set(ws.layers())
    zones = ws.read("industrial_parks")
    res = integration.find_joint_zones(
        zones, params=params, enterprises=ws.read("enterprises") if "enterprises" in held else None,
        infrastructure=ws.read("infrastructure") if "infrastructure" in held else None,
        townships=ws.read("townships") if "townships" in held else None)
    seconds = time.perf_counter() - t0
    if store:
        counts = {"zones": int(len(res.zones)), "candidate_pairs": int(len(res.links)),
                  "links": int(res.links["linked"].sum()), "joint_zones": int(len(res.joint_zones))}
        frames = {f"integration_{run_id}_zones": _prepare_for_gpkg(res.zones),
                  f"integration_{run_id}_links": _prepare_for_gpkg(res.links)}
        if len(res.joint_zones):
            frames[f"integration_{run_id}_joint"] = _prepare_for_gpkg(res.joint_zones)
        frames["runs"] = _record(ws, f"integration_{run_id}", params.name, when, params, counts, seconds)
        ws.write_many(frames, source=f"analysis.integration preset={params.name}")
    return run_id, res
