"""Workspace glue of siting and integration: read the layers, run, store results under a run id.

Like :mod:`analysis.pipeline`, this is the only part of siting/integration that touches a
workspace; runs are stored by :func:`layers.runs.store_run` (layers and ``runs`` row in one
transaction, with the versions of the layers read).  Layers written::

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
import logging
import time

import pandas as pd

from analysis import integration, siting
from analysis._common import combine_parks
from geo.errors import ParameterError
from geo.progress import Progress, Steps
from layers import runs as runs_store

__all__ = ["latest_pipeline_run", "run_siting", "run_integration"]

_log = logging.getLogger(__name__)


def latest_pipeline_run(ws) -> str | None:
    """Id of the newest stored analysis-chain run (``run_<id>_per_mu`` present), else None."""
    runs = runs_store.list_runs(ws, "chain")
    if not len(runs):
        return None
    held = set(ws.layers())
    ids = [r for r in runs["run_id"].astype(str) if f"run_{r}_per_mu" in held]
    return ids[-1] if ids else None


def run_siting(ws, params: siting.SitingParams, *, actor=None, rule: str | None = None, firms: list[str] | None = None,
               run_id: str | None = None, from_run: str | None = None, use_clusters: bool = False,
               store: bool = True, progress: Progress | None = None) -> tuple[str, siting.RelocationProblem]:
    """Select firms, build sites, solve, and store the results (unless ``store=False``; storing needs ``actor``).

    ``from_run`` (default: the latest pipeline run, if any) supplies classes for rule
    ``d_class`` and, with ``use_clusters``, redevelopment clusters as extra supply.
    ``progress`` is told as reading, demand, supply, solving and storing start (:mod:`geo.progress`).
    """
    if store:
        from layers import access

        access.require(actor, "run.siting")
        ws.require_writable()
    steps = Steps(progress, ("read", "demand", "supply", "solve", "store"), task="siting")
    steps.start("read")
    t0 = time.perf_counter()
    read, _ = ws.read_many(("plots", "enterprises", "industrial_parks", "micro_parks", "constraints"))
    inputs = runs_store.inputs_of(ws, list(read))
    held = set(ws.layers())
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
    steps.start("demand")
    demand = siting.select_demand(ents, params, rule=rule, firms=firms, plots=read.get("plots"), parks=parks,
                                  classes=classes)
    steps.start("supply")
    supply = siting.supply_from_layers(params, industrial_parks=read.get("industrial_parks"),
                                       micro_parks=read.get("micro_parks"), plots=read.get("plots"),
                                       enterprises=ents, clusters=clusters, exclude_firms=demand.index,
                                       constraints=read.get("constraints"))
    steps.start("solve")
    _log.info("siting: %d firms to place, %d sites (rule %s)", len(demand), len(supply), rule or params.rule)
    problem = siting.RelocationProblem.from_geodataframe(demand, supply, params=params,
                                                         constraints=read.get("constraints")).solve()
    seconds = time.perf_counter() - t0
    _log.info("siting: %s in %.1f s (solver %.1f s)", problem.status, seconds, problem.solve_time_s)
    if not store:
        steps.finish()
        return run_id or "preview", problem
    steps.start("store")
    counts = {"firms": problem.n, "sites": problem.m, "status": problem.status,
              "assigned": int((problem.assignments["status"] == "assigned").sum()),
              "unassigned": int((problem.assignments["status"] == "unassigned").sum()),
              "not_solved": int((problem.assignments["status"] == "not_solved").sum()),
              "objective": problem.objective, "bound": problem.bound, "gap": problem.gap,
              "solve_time_s": round(problem.solve_time_s, 3), "rule": rule or params.rule,
              "from_run": from_run}
    frames = {"assignments": problem.assignments, "sites": problem.site_utilisation}
    if problem.lines is not None and len(problem.lines):
        frames["lines"] = problem.lines
    if problem.park_shares is not None and len(problem.park_shares):
        frames["parks"] = problem.park_shares
    rid = runs_store.store_run(ws, kind="siting", frames=frames, actor=actor, run_id=run_id, preset=params.name,
                               parameters=dataclasses.asdict(params), counts=counts, seconds=seconds, inputs=inputs,
                               progress=steps.part("store"))
    steps.finish()
    return rid, problem


def run_integration(ws, params: integration.IntegrationParams, *, actor=None, run_id: str | None = None,
                    store: bool = True) -> tuple[str, integration.IntegrationResult]:
    """Find joint-development zones on the workspace's parks and store them (storing needs ``actor``)."""
    if store:
        from layers import access

        access.require(actor, "run.integration")
        ws.require_writable()
    t0 = time.perf_counter()
    read, _ = ws.read_many(("industrial_parks", "enterprises", "infrastructure", "townships"))
    inputs = runs_store.inputs_of(ws, list(read))
    res = integration.find_joint_zones(read["industrial_parks"], params=params, enterprises=read.get("enterprises"),
                                       infrastructure=read.get("infrastructure"), townships=read.get("townships"))
    seconds = time.perf_counter() - t0
    if not store:
        return run_id or "preview", res
    counts = {"zones": int(len(res.zones)), "candidate_pairs": int(len(res.links)),
              "links": int(res.links["linked"].sum()), "joint_zones": int(len(res.joint_zones))}
    frames = {"zones": res.zones, "links": res.links}
    if len(res.joint_zones):
        frames["joint"] = res.joint_zones
    rid = runs_store.store_run(ws, kind="integration", frames=frames, actor=actor, run_id=run_id, preset=params.name,
                               parameters=dataclasses.asdict(params), counts=counts, seconds=seconds, inputs=inputs)
    return rid, res
