"""Headless commands of the planner: sample, evaluate, site, integrate, import, export, bench.

Each command is a function ``cmd_<name>(args) -> int`` plus a ``_add_<name>(subparsers)``
that declares its options; ``COMMANDS`` lists them.  Errors of the system's own family are
printed as one clear message (in Chinese with ``--lang zh``) and exit with status 2.

    python cli.py sample --out data/ruian/ruian.gpkg
    python cli.py evaluate --workspace data/ruian/ruian.gpkg --preset ruian_default
"""
from __future__ import annotations

import argparse
import sys

import geo  # noqa: F401  (GDAL safety settings before any GDAL import)
from geo.errors import PlannerError

DEFAULT_WORKSPACE = "data/ruian/ruian.gpkg"


# --- sample -----------------------------------------------------------------------------
def _add_sample(sub) -> None:
    p = sub.add_parser("sample", help="build the synthetic Ruian sample workspace (deterministic)")
    p.add_argument("--out", default=DEFAULT_WORKSPACE, help="workspace file to write (default %(default)s)")
    p.add_argument("--plots", type=int, default=None, help="number of plots (default: the bundled sample size)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the bundled sample's seed)")
    p.add_argument("--no-rasters", action="store_true", help="skip the DEM/slope/flood rasters")


def cmd_sample(args) -> int:
    from layers import sample

    kwargs = {k: v for k, v in {"n_plots": args.plots, "seed": args.seed}.items() if v is not None}
    summary = sample.build_workspace(args.out, rasters=not args.no_rasters, **kwargs)
    for name, count in summary.items():
        print(f"{name:>18}: {count}")
    return 0


# --- evaluate -----------------------------------------------------------------------------
def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="run 亩均 evaluation, low-efficiency rules, redevelopment and park analyses")
    p.add_argument("--workspace", default=DEFAULT_WORKSPACE, help="workspace file (default %(default)s)")
    p.add_argument("--preset", default="ruian_default", help="parameter preset in data/presets (default %(default)s)")
    p.add_argument("--run-id", default=None, help="id of the stored run (default: a timestamp)")
    p.add_argument("--as-of", default=None, help="reference date of the year-based rules, YYYY-MM-DD (default today)")
    p.add_argument("--no-store", action="store_true", help="print the summary without storing the run")


def cmd_evaluate(args) -> int:
    from analysis import pipeline
    from analysis.params import load_preset
    from layers.workspace import Workspace

    params = load_preset(args.preset)  # unknown preset → ParameterError listing the known ones
    ws = Workspace.open(args.workspace, readonly=args.no_store)
    if args.no_store:
        layers = {n: ws.read(n) for n in pipeline.INPUT_LAYERS if ws.has_layer(n)}
        result = pipeline.run_chain(layers, params, rasters=ws.rasters(), as_of=args.as_of)
        print(f"preset {params.name} (not stored)")
    else:
        run_id, result = pipeline.run(ws, params, run_id=args.run_id, as_of=args.as_of)
        print(f"run {run_id} stored in {ws.path} (preset {params.name}; layers run_{run_id}_*)")
    print(pipeline.summary_text(result))
    return 0


# --- site ---------------------------------------------------------------------------------
def _add_site(sub) -> None:
    p = sub.add_parser("site", help="relocation siting of firms into parks (OR-Tools MIP), stored as siting_<id>_*")
    p.add_argument("--workspace", default=DEFAULT_WORKSPACE, help="workspace file (default %(default)s)")
    p.add_argument("--preset", default="siting_default", help="siting preset in data/presets (default %(default)s)")
    p.add_argument("--rule", choices=("polluting", "d_class", "midwest", "list"), default=None,
                   help="which firms relocate (default: the preset's rule)")
    p.add_argument("--firms", default=None, help="comma-separated credit codes for --rule list")
    p.add_argument("--clusters", action="store_true", help="add released redevelopment clusters of the latest run as supply")
    p.add_argument("--from-run", default=None, help="analysis run giving classes/clusters (default: the latest)")
    p.add_argument("--k-nearest", type=int, default=None, help="only the k cheapest eligible sites per firm")
    p.add_argument("--time-limit", type=float, default=None, help="solver time limit in seconds")
    p.add_argument("--run-id", default=None, help="run id (default: a timestamp)")
    p.add_argument("--no-store", action="store_true", help="solve and print only; leave the workspace untouched")


def cmd_site(args) -> int:
    from analysis import siting, siting_runs
    from layers.workspace import Workspace

    params = siting.load_siting_params(args.preset)
    changes = {k: v for k, v in {"k_nearest": args.k_nearest, "time_limit_s": args.time_limit}.items() if v is not None}
    if changes:
        params = params.replace(**changes)
    firms = [f.strip() for f in args.firms.split(",") if f.strip()] if args.firms else None
    ws = Workspace.open(args.workspace, readonly=args.no_store)
    run_id, prob = siting_runs.run_siting(ws, params, rule=args.rule, firms=firms, run_id=args.run_id,
                                          from_run=args.from_run, use_clusters=args.clusters, store=not args.no_store)
    print(prob.message)
    print(f"greedy baseline objective {prob.greedy_objective:,.0f} (ratio greedy/solver "
          f"{prob.greedy_objective / prob.objective if prob.objective else float('nan'):.3f}); "
          f"{prob.n_pairs} variables of {prob.n * prob.m} firm×site pairs; solve {prob.solve_time_s:.1f} s")
    if len(prob.unassigned):
        print("unassigned by reason:")
        for code, count in prob.unassigned["reason_code"].value_counts().items():
            print(f"  {count:5d}  {code}")
    used = prob.site_utilisation
    print("sites (亩 used / capacity, firms assigned):")
    for r in used.itertuples():
        print(f"  {r.site_id:6s} {r.used_land_mu:8.1f} / {r.capacity_land_mu:8.1f}  {r.firms_assigned:4d}")
    if not args.no_store:
        print(f"stored in {ws.path} as siting_{run_id}_assignments / _sites / _lines (run siting_{run_id})")
    return 0


# --- integrate ----------------------------------------------------------------------------
def _add_integrate(sub) -> None:
    p = sub.add_parser("integrate", help="cross-township joint-development zones, stored as integration_<id>_*")
    p.add_argument("--workspace", default=DEFAULT_WORKSPACE, help="workspace file (default %(default)s)")
    p.add_argument("--preset", default="integration_default", help="integration preset (default %(default)s)")
    p.add_argument("--run-id", default=None, help="run id (default: a timestamp)")
    p.add_argument("--no-store", action="store_true", help="print only; leave the workspace untouched")


def cmd_integrate(args) -> int:
    from analysis import integration, siting_runs
    from layers.workspace import Workspace

    params = integration.load_integration_params(args.preset)
    ws = Workspace.open(args.workspace, readonly=args.no_store)
    run_id, res = siting_runs.run_integration(ws, params, run_id=args.run_id, store=not args.no_store)
    print(f"{len(res.zones)} zones, {len(res.links)} candidate pairs, {int(res.links['linked'].sum())} links, "
          f"{len(res.joint_zones)} joint zones")
    for r in res.links.itertuples():
        print(f"  {r.zone_a}–{r.zone_b}: {r.reason}")
    for r in res.joint_zones.itertuples():
        print(f"joint zone {r.joint_zone}: {r.zone_names} — {r.area_mu:,.0f} 亩, {r.n_firms} firms, "
              f"townships {r.townships}, industries {r.dominant_industries}")
    if not args.no_store:
        print(f"stored in {ws.path} as integration_{run_id}_zones / _links / _joint (run integration_{run_id})")
    return 0


COMMANDS = {
    "sample": (_add_sample, cmd_sample),
    "evaluate": (_add_evaluate, cmd_evaluate),
    "site": (_add_site, cmd_site),
    "integrate": (_add_integrate, cmd_integrate),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cli.py", description="园区与低效用地再开发规划系统 — headless commands")
    parser.add_argument("--lang", choices=("zh", "en"), default="en", help="language of error messages")
    sub = parser.add_subparsers(dest="command", required=True)
    for add, _ in COMMANDS.values():
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command][1](args)
    except PlannerError as exc:
        print(f"error: {exc.localized(args.lang)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
