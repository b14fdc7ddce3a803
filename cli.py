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


COMMANDS = {
    "sample": (_add_sample, cmd_sample),
    "evaluate": (_add_evaluate, cmd_evaluate),
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
