"""Headless commands of the planner: sample, evaluate, site, integrate, membership, compare, import, export,
map, shortlist, workspace, runs, user, audit, app.

Each command is a function ``cmd_<name>(args) -> int`` plus a ``_add_<name>(subparsers)``
that declares its options; ``COMMANDS`` lists them.  Errors of the system's own family are
printed as one clear message (in Chinese with ``--lang zh``) and exit with status 2.

Where: ``--workspace`` takes a ``.gpkg`` path or a PostgreSQL DSN; without it, the
``PLANNER_WORKSPACE`` setting, else the bundled Ruian sample (found beside this file, not in
the current directory).  Who: the CLI acts as the operating-system user (an administrator:
whoever runs it can already change the workspace) unless ``--as NAME`` signs in as a workspace
account (password from ``PLANNER_PASSWORD`` or asked), whose role then applies.

Installed (``pip install .``) the same commands are ``planner …``.  What a command prints on
stdout is its result (tables, summaries); the log (``-v`` steps and timings, ``-vv`` detail,
``-q`` errors only) and the progress bars of long steps (on a terminal) go to stderr.

    python cli.py sample --out data/ruian/ruian.gpkg
    python cli.py evaluate --workspace data/ruian/ruian.gpkg --preset ruian_default
    python cli.py --as zhang shortlist status plot:P000001 --to 已核实
    planner -v evaluate            # the installed command, logging each step
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from contextlib import contextmanager
from pathlib import Path

import geo  # noqa: F401  (GDAL safety settings before any GDAL import)
from geo.errors import PlannerError
from geo.progress import Bars

# Beside this file: the checkout's root, or site-packages when installed (the wheel mirrors the tree).
ROOT = Path(__file__).resolve().parent
_LOG = logging.getLogger("cli" if __name__ == "__main__" else __name__)
DEFAULT_WORKSPACE = str(ROOT / "data" / "ruian" / "ruian.gpkg")
_WS_HELP = "workspace: a .gpkg path or a PostgreSQL DSN (default $PLANNER_WORKSPACE, else the bundled sample)"


def workspace_location(given: str | None = None) -> str:
    """``--workspace``, else ``$PLANNER_WORKSPACE``, else the bundled sample."""
    return given or os.environ.get("PLANNER_WORKSPACE") or DEFAULT_WORKSPACE


def _open(args, *, write: bool):
    from layers.store import open_workspace

    return open_workspace(workspace_location(getattr(args, "workspace", None)), readonly=not write)


def _actor(args, ws):
    """The acting user: ``--as NAME`` (signed in with the account's password) or the OS user."""
    from layers import access

    if not getattr(args, "as_user", None):
        return access.os_actor()
    import getpass

    password = os.environ.get("PLANNER_PASSWORD")
    if password is None:
        try:
            password = getpass.getpass(f"password for {args.as_user}: ")
        except EOFError:  # no terminal to ask on (a script): say how to pass it
            from geo.errors import AuthenticationError

            raise AuthenticationError(f"--as {args.as_user}: no password given; set PLANNER_PASSWORD or run in a terminal",
                                      message_zh="未提供密码:请设置环境变量 PLANNER_PASSWORD 或在终端中运行。") from None
    from layers.store import open_workspace

    return access.authenticate(open_workspace(ws.location, readonly=False), args.as_user, password)


# --- sample -----------------------------------------------------------------------------
def _add_sample(sub) -> None:
    p = sub.add_parser("sample", help="build the synthetic Ruian sample workspace (deterministic)")
    p.add_argument("--out", default=DEFAULT_WORKSPACE,
                   help="workspace to write: a .gpkg path or a PostgreSQL DSN (default: the bundled sample)")
    p.add_argument("--plots", type=int, default=None, help="number of plots (default: the bundled sample size)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the bundled sample's seed)")
    p.add_argument("--no-rasters", action="store_true", help="skip the DEM/slope/flood rasters")
    p.add_argument("--no-run", action="store_true",
                   help="do not store the analysis run 'sample' (ruian_default) in the new workspace")
    p.add_argument("--parquet", default=None, metavar="DIR",
                   help="write a county set (partitioned GeoParquet, one partition in memory at a time) to DIR "
                        "instead of a workspace; needs --plots")
    p.add_argument("--partitions", type=int, default=None,
                   help="partitions of the --parquet set (default: one per 100,000 plots, at least 2)")


def cmd_sample(args) -> int:
    from analysis import pipeline
    from layers import access, sample
    from layers.store import open_workspace

    if args.parquet:
        return _sample_county_set(args)
    kwargs = {k: v for k, v in {"n_plots": args.plots, "seed": args.seed}.items() if v is not None}
    summary = sample.build_workspace(args.out, rasters=not args.no_rasters, progress=progress(args, "sample"), **kwargs)
    for name, count in summary.items():
        print(f"{name:>18}: {count}")
    if not args.no_run:
        # The bundled sample opens with results on every page; planners re-run with their own presets.
        run_id, result = pipeline.run(open_workspace(args.out, readonly=False), "ruian_default", run_id="sample",
                                      actor=access.SYSTEM, progress=progress(args, "evaluate"))
        print(f"{'run ' + run_id:>18}: {result.counts.get('low_efficiency', '')} low-efficiency plots")
    _store_tiles(args, args.out)
    return 0


def _sample_county_set(args) -> int:
    from geo.errors import ParameterError
    from scale.countyset import sample_county_set

    if not args.plots:
        raise ParameterError("sample --parquet needs --plots N", message_zh="sample --parquet 需要指定 --plots 地块数")
    partitions = args.partitions or max(2, args.plots // 100_000)
    cs = sample_county_set(args.parquet, n_plots=args.plots, partitions=partitions, seed=args.seed,
                           rasters=not args.no_rasters)
    counts = cs.counts()
    print(f"county set {cs.directory}: {counts['plots']} plots, {counts['enterprises']} firms in "
          f"{len(cs.partitions)} partitions")
    return 0


# --- partition ----------------------------------------------------------------------------
def _add_partition(sub) -> None:
    p = sub.add_parser("partition", help="write a workspace's layers as a county set (partitioned GeoParquet) "
                                         "for evaluate --parquet")
    p.add_argument("--workspace", default=None, help=_WS_HELP)
    p.add_argument("--out", required=True, metavar="DIR", help="the county set's directory (new or empty)")
    p.add_argument("--partitions", type=int, required=True, help="number of partitions (compact pieces of the county)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty DIR")


def cmd_partition(args) -> int:
    from scale.countyset import county_set_from_workspace

    cs = county_set_from_workspace(_open(args, write=False), args.out, partitions=args.partitions,
                                   overwrite=args.overwrite)
    counts = cs.counts()
    print(f"county set {cs.directory}: {counts['plots']} plots, {counts['enterprises']} firms in "
          f"{len(cs.partitions)} partitions")
    return 0


# --- evaluate -----------------------------------------------------------------------------
def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="run 亩均 evaluation, low-efficiency rules, redevelopment and park analyses")
    p.add_argument("--workspace", default=None, help=_WS_HELP)
    p.add_argument("--preset", default="ruian_default", help="parameter preset in data/presets (default %(default)s)")
    p.add_argument("--run-id", default=None, help="id of the stored run (default: a timestamp)")
    p.add_argument("--as-of", default=None, help="reference date of the year-based rules, YYYY-MM-DD (default today)")
    p.add_argument("--no-store", action="store_true", help="print the summary without storing the run")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="run the partitioned chain on the dask cluster of this scheduler "
                        "(default $PLANNER_SCHEDULER; neither: in this process)")
    p.add_argument("--parquet", default=None, metavar="DIR",
                   help="analyse the county set in DIR (cli.py sample --parquet / partition) out of core, "
                        "a partition per task, instead of a workspace; results as GeoParquet in --out")
    p.add_argument("--out", default=None, metavar="DIR", help="with --parquet: the results directory (new or empty)")
    p.add_argument("--overwrite", action="store_true", help="with --parquet: replace a non-empty --out")


def cmd_evaluate(args) -> int:
    from analysis import pipeline
    from analysis.params import load_preset
    from scale import cluster

    params = load_preset(args.preset)  # unknown preset → ParameterError listing the known ones
    address = cluster.scheduler_address(args.scheduler)
    where = f" on the dask cluster at {address}" if address else ""
    if args.parquet:
        return _evaluate_county_set(args, params, address, where)
    ws = _open(args, write=not args.no_store)
    if args.no_store:
        result = _evaluate_unstored(ws, params, args.as_of, address, progress(args, "evaluate"))
        print(f"preset {params.name} (not stored){where}")
    else:
        run_id, result = cluster.run(ws, params, scheduler=address, run_id=args.run_id, as_of=args.as_of,
                                     actor=_actor(args, ws), progress=progress(args, "evaluate"))
        print(f"run {run_id} stored in {ws.describe()} (preset {params.name}; layers run_{run_id}_*){where}")
    print(pipeline.summary_text(result))
    if not args.no_store:
        _store_tiles(args, ws.location, ["plots"])  # a run's colours need the plots' set: made if missing
    return 0


def _evaluate_county_set(args, params, address, where) -> int:

    from analysis import pipeline
    from geo.errors import ParameterError
    from scale import cluster
    from scale.outofcore import read_results, run_chain_out_of_core
    from scale.partitioned import local_client

    if not args.out:
        raise ParameterError("evaluate --parquet needs --out DIR for the results",
                             message_zh="evaluate --parquet 需要用 --out 指定结果目录")
    with (cluster.connect(address) if address else local_client()) as client:
        run = run_chain_out_of_core(args.parquet, params, out=args.out, client=client, as_of=args.as_of,
                                    overwrite=args.overwrite)
    print(f"county set {args.parquet} evaluated out of core in {run.partitions} partitions{where or ' (local cluster)'}; "
          f"results in {run.out} (preset {params.name}; {sum(run.timings.values()):.1f} s)")
    frames = read_results(run.out, kinds=("clusters", "parks"))
    print(pipeline.summary_text(pipeline.RunResult(frames, run.counts, run.timings)))
    return 0


def _evaluate_unstored(ws, params, as_of, address, progress=None):
    from analysis import pipeline

    layers, _ = ws.read_many(pipeline.INPUT_LAYERS)
    if address is None:
        return pipeline.run_chain(layers, params, rasters=ws.rasters(), as_of=as_of, progress=progress)
    from scale import cluster
    from scale.partitioned import run_chain_distributed

    with cluster.connect(address) as client:
        return run_chain_distributed(layers, params, rasters=ws.rasters(), as_of=as_of, client=client)


# --- site ---------------------------------------------------------------------------------
def _add_site(sub) -> None:
    p = sub.add_parser("site", help="relocation siting of firms into parks (OR-Tools MIP), stored as siting_<id>_*")
    p.add_argument("--workspace", default=None, help=_WS_HELP)
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
    p.add_argument("--reasons", type=int, default=2, metavar="N",
                   help="print the full reason of N unplaced firms (in --lang; default %(default)s)")


def _pct(v) -> str:
    return "—" if v != v else f"{v:.1%}"


def cmd_site(args) -> int:
    from analysis import siting, siting_runs

    params = siting.load_siting_params(args.preset)
    changes = {k: v for k, v in {"k_nearest": args.k_nearest, "time_limit_s": args.time_limit}.items() if v is not None}
    if changes:
        params = params.replace(**changes)
    firms = [f.strip() for f in args.firms.split(",") if f.strip()] if args.firms else None
    ws = _open(args, write=not args.no_store)
    run_id, prob = siting_runs.run_siting(ws, params, rule=args.rule, firms=firms, run_id=args.run_id,
                                          from_run=args.from_run, use_clusters=args.clusters, store=not args.no_store,
                                          actor=None if args.no_store else _actor(args, ws),
                                          progress=progress(args, "siting"))
    print(prob.message)
    print(f"greedy baseline objective {prob.greedy_objective:,.0f} (ratio greedy/solver "
          f"{prob.greedy_objective / prob.objective if prob.objective else float('nan'):.3f}); "
          f"{prob.n_pairs} variables of {prob.n * prob.m} firm×site pairs; solve {prob.solve_time_s:.1f} s")
    if len(prob.unassigned):
        print("unassigned by reason:")
        for code, count in prob.unassigned["reason_code"].value_counts().items():
            print(f"  {count:5d}  {code}")
        col = "reason_zh" if args.lang == "zh" else "reason"
        for r in prob.unassigned.head(max(args.reasons, 0)).itertuples():
            print(f"  {r.firm_id} {getattr(r, 'name', '')}: {getattr(r, col)}")
    shares = prob.park_shares
    if shares is not None and len(shares):
        print("parks (亩 used / capacity over their sites, firms placed):")
        for r in shares.itertuples():
            print(f"  {r.park_id:6s} {r.name}: {r.used_land_mu:8.1f} / {r.capacity_land_mu:8.1f} 亩 in {r.n_sites} "
                  f"site(s), {r.firms_arriving} firm(s)")
        rule = shares[shares["share_rule"].astype(bool)]
        if len(rule):
            print(f"micro-parks, leading-industry share ≥ {prob.params.leading_share:.0%} (by firms: the rule; "
                  "by land: reported), before → after the run:")
            for r in rule.itertuples():
                print(f"  {r.park_id:6s} {r.name}: firms {_pct(r.leading_share_before)} → {_pct(r.leading_share_after)}"
                      f" {r.status_after}; land {_pct(r.leading_land_share_before)} → "
                      f"{_pct(r.leading_land_share_after)} {r.land_status_after}; {r.firms_before} firms − "
                      f"{r.firms_leaving} leaving + {r.firms_arriving} arriving — "
                      f"{r.policy_zh if args.lang == 'zh' else r.policy_en}")
    if not args.no_store:
        print(f"stored in {ws.describe()} as siting_{run_id}_assignments / _sites / _lines / _parks (run siting_{run_id})")
    return 0


# --- integrate ----------------------------------------------------------------------------
def _add_integrate(sub) -> None:
    p = sub.add_parser("integrate", help="cross-township joint-development zones, stored as integration_<id>_*")
    p.add_argument("--workspace", default=None, help=_WS_HELP)
    p.add_argument("--preset", default="integration_default", help="integration preset (default %(default)s)")
    p.add_argument("--run-id", default=None, help="run id (default: a timestamp)")
    p.add_argument("--no-store", action="store_true", help="print only; leave the workspace untouched")


def cmd_integrate(args) -> int:
    from analysis import integration, siting_runs

    params = integration.load_integration_params(args.preset)
    ws = _open(args, write=not args.no_store)
    run_id, res = siting_runs.run_integration(ws, params, run_id=args.run_id, store=not args.no_store,
                                              actor=None if args.no_store else _actor(args, ws))
    print(f"{len(res.zones)} zones, {len(res.links)} candidate pairs, {int(res.links['linked'].sum())} links, "
          f"{len(res.joint_zones)} joint zones")
    for r in res.links.itertuples():
        print(f"  {r.zone_a}–{r.zone_b}: {r.reason}")
    for r in res.joint_zones.itertuples():
        print(f"joint zone {r.joint_zone}: {r.zone_names} — {r.area_mu:,.0f} 亩, {r.n_firms} firms, "
              f"townships {r.townships}, industries {r.dominant_industries}")
    if not args.no_store:
        print(f"stored in {ws.describe()} as integration_{run_id}_zones / _links / _joint (run integration_{run_id})")
    return 0


# --- membership ---------------------------------------------------------------------------
def _add_membership(sub) -> None:
    p = sub.add_parser("membership", help="check each plot's park: the park_id attribute against the park outlines")
    p.add_argument("--workspace", default=None, help=_WS_HELP)
    p.add_argument("--out", default=None, help="write the plots whose attribute and outline disagree to this CSV")
    p.add_argument("--limit", type=int, default=20, help="print at most this many disagreements (default %(default)s)")


def cmd_membership(args) -> int:
    from analysis import membership
    from analysis._common import combine_parks

    ws = _open(args, write=False)
    plots = ws.read("plots")
    parks = combine_parks(*(ws.read(n) if ws.has_layer(n) else None for n in ("industrial_parks", "micro_parks")))
    m = membership.plot_membership(plots, parks)
    report = membership.membership_report(plots, parks, membership=m)
    print(f"{len(plots)} plots: " + ", ".join(f"{k} {v}" for k, v in m["park_check"].value_counts().items()))
    print(f"park from the attribute: {int((m['park_source'] == 'attribute').sum())}, from the outline: "
          f"{int((m['park_source'] == 'geometry').sum())}, outside every park: {int((m['park_source'] == 'none').sum())}")
    print(f"{len(report)} plot(s) where attribute and outline disagree")
    col = "problem_zh" if args.lang == "zh" else "problem"
    for r in report.head(max(args.limit, 0)).itertuples():
        print(f"  {r.plot_id}: {getattr(r, col)}")
    if args.out:
        report.to_csv(args.out, index=False, encoding="utf-8-sig")
        print(f"wrote {args.out}")
    return 0


# --- shortlist ----------------------------------------------------------------------------
def _add_shortlist(sub) -> None:
    p = sub.add_parser("shortlist", help="the shortlist pipeline: add, list, status, update, move, remove, history")
    ss = p.add_subparsers(dest="action", required=True)

    def common(q, *, who: bool = True) -> None:
        q.add_argument("--workspace", default=None, help=_WS_HELP)

    q = ss.add_parser("add", help="add plots, clusters or sites by id")
    common(q)
    q.add_argument("ids", nargs="+", help="ids (e.g. P000001 P000002, or comma-separated)")
    q.add_argument("--kind", choices=("plot", "cluster", "site"), default="plot")
    q.add_argument("--from-layer", default=None, help="layer holding the ids and their reasons (default: plots)")
    q.add_argument("--id-column", default=None, help="key column of --from-layer (default plot_id/cluster_id/site_id)")
    q.add_argument("--notes", default="")
    q.add_argument("--source", default="cli", help="where the items come from (default %(default)s)")
    q.add_argument("--rank", type=int, default=None, help="insert at this rank (default: at the end)")
    q.add_argument("--skip-duplicates", action="store_true", help="leave items already listed as they are")
    q = ss.add_parser("list", help="print the shortlist")
    common(q, who=False)
    q.add_argument("--township", default=None, help="only this township code")
    q = ss.add_parser("status", help="move entries along 候选 → 已核实 → 已上报 → 已处置 (back one step needs --reason)")
    common(q)
    q.add_argument("entries", nargs="+", help="entry ids, e.g. plot:P000001")
    q.add_argument("--to", required=True, help="new status (候选/已核实/已上报/已处置 or candidate/verified/reported/disposed)")
    q.add_argument("--reason", default="")
    q.add_argument("--expect-version", type=int, default=None,
                   help="refuse if the entry changed since you read this row_version (one entry only)")
    q = ss.add_parser("update", help="change notes or the responsible township of one entry")
    common(q)
    q.add_argument("entry")
    q.add_argument("--notes", default=None)
    q.add_argument("--township", default=None, help="responsible township code")
    q.add_argument("--reason", default="")
    q.add_argument("--expect-version", type=int, default=None,
                   help="refuse if the entry changed since you read this row_version (printed by list)")
    q = ss.add_parser("move", help="move one entry to a rank (1 = top)")
    common(q)
    q.add_argument("entry")
    q.add_argument("rank", type=int)
    q = ss.add_parser("remove", help="take entries off the shortlist (kept in the history)")
    common(q)
    q.add_argument("entries", nargs="+")
    q.add_argument("--reason", default="")
    q = ss.add_parser("history", help="print the change history")
    common(q, who=False)
    q.add_argument("--entry", default=None, help="only this entry")


def cmd_shortlist(args) -> int:
    from exports.formatting import value_label
    from geo.units import m2_to_mu
    from layers import shortlist as sl
    from layers.timefmt import local_time

    writes = args.action not in ("list", "history")
    ws = _open(args, write=writes)
    actor = _actor(args, ws) if writes or getattr(args, "as_user", None) else None
    if args.action == "add":
        ids = [i.strip() for raw in args.ids for i in raw.split(",") if i.strip()]
        out = sl.add(ws, ids, kind=args.kind, actor=actor, source_layer=args.from_layer, id_column=args.id_column,
                     notes=args.notes, source=args.source, rank=args.rank,
                     on_duplicate="skip" if args.skip_duplicates else "raise")
    elif args.action == "status":
        expected = {args.entries[0]: args.expect_version} if args.expect_version is not None else None
        out = sl.set_status(ws, args.entries, args.to, actor=actor, reason=args.reason, expected_versions=expected)
    elif args.action == "update":
        out = sl.update(ws, args.entry, actor=actor, notes=args.notes, township_code=args.township, reason=args.reason,
                        expected_version=args.expect_version)
    elif args.action == "move":
        out = sl.move(ws, args.entry, args.rank, actor=actor)
    elif args.action == "remove":
        out = sl.remove(ws, args.entries, actor=actor, reason=args.reason)
    elif args.action == "history":
        for r in sl.history(ws, args.entry).itertuples():
            old, new = _text(r.old_value), _text(r.new_value)
            old = old if len(old) <= 40 else old[:37] + "…"
            why = f"  ({_text(r.reason)})" if _text(r.reason) else ""
            print(f"{r.history_id:5d} {local_time(r.at, ws.timezone)} {r.who:8s} {r.action:8s} {r.entry_id:16s} "
                  f"{r.field:14s} {old} → {new}{why}")
        return 0
    else:
        out = sl.load(ws, actor=actor)
        if args.township:
            out = out[out["township_code"] == args.township]
    for r in out.itertuples():
        gone = f"  [{value_label(r.item_missing, 'zh')}]" if isinstance(r.item_missing, str) else ""
        print(f"{r.rank:4d} {r.entry_id:16s} {r.status:4s} v{int(r.row_version)} {_text(r.township_name):6s} "
              f"{m2_to_mu(r.area_m2):8.2f} 亩  {_text(r.reasons)}{gone}")
    print(f"{len(out)} item(s) on the shortlist of {ws.describe()}")
    return 0


def _text(value) -> str:
    """Printable text of a cell ('' for null / NA)."""
    import pandas as pd

    return "" if value is None or pd.isna(value) else str(value)


# --- import -------------------------------------------------------------------------------
def _add_import(sub) -> None:
    from layers.imports.modes import MODES
    from layers.imports.supply import DERIVABLE

    p = sub.add_parser("import", help="import a file into a workspace layer (preview with --dry-run), or write a template")
    p.add_argument("--workspace", default=None, help=_WS_HELP)
    p.add_argument("--layer", help="target layer (plots, enterprises...), other lower_snake name, or raster kind (dem...)")
    p.add_argument("--file", help="Shapefile (.shp or .zip), .gpkg, .geojson, .kml, .csv, .xlsx or .tif")
    p.add_argument("--encoding", default=None, help="attribute encoding, e.g. GB18030 (default: detected)")
    p.add_argument("--crs", default=None, help="source CRS, e.g. EPSG:4528 (default: the file's; never guessed)")
    p.add_argument("--gcj02", action="store_true", help="the lon/lat coordinates are GCJ-02 (Gaode/Tencent): convert")
    p.add_argument("--swap-axes", action="store_true", help="swap x and y (data written northing first)")
    p.add_argument("--mapping", default=None, help="column mapping JSON file, or the name of a mapping saved in the workspace")
    p.add_argument("--save-mapping", default=None, help="save the column mapping in the workspace under this name")
    p.add_argument("--mode", choices=MODES, default="auto",
                   help="replace the layer, append, upsert by key, replace one township's rows (--township), or join "
                        "a table onto the layer; auto joins a table without geometry, else replaces (default %(default)s)")
    p.add_argument("--township", default=None, help="township code or name for --mode replace_township")
    p.add_argument("--set", dest="constants", action="append", default=[], metavar="FIELD=VALUE",
                   help="a value for every row where the file gives none, e.g. --set status=in_use (repeatable)")
    p.add_argument("--derive", action="append", default=[], choices=tuple(DERIVABLE),
                   help="derive a field from the geometry where the file gives none (repeatable)")
    p.add_argument("--yes", action="store_true", help="confirm that rows of the layer not in the file are removed")
    p.add_argument("--sheet", default=None, help="Excel sheet")
    p.add_argument("--member", default=None, help="dataset inside a zip")
    p.add_argument("--source-layer", default=None, help="layer inside a GeoPackage")
    p.add_argument("--on-problems", choices=("skip", "fix", "cancel"), default="cancel",
                   help="rows with errors: leave out, repair what can be repaired, or write nothing (default %(default)s)")
    p.add_argument("--dry-run", action="store_true", help="print the preview, the report and the change; write nothing")
    p.add_argument("--template", default=None, choices=("land", "tax", "power", "environment", "statistics"),
                   help="write the Excel import template of a department table to --out instead of importing")
    p.add_argument("--out", default=None, help="where --template writes the .xlsx")


def cmd_import(args) -> int:
    from geo.errors import ImportDataError
    from layers import imports

    if args.template:
        if not args.out:
            raise ImportDataError("--template needs --out FILE.xlsx", message_zh="--template 需要 --out 文件名.xlsx")
        Path(args.out).write_bytes(imports.template_xlsx(args.template, lang=args.lang))
        print(f"template {args.template} → {args.out}")
        return 0
    if not args.layer or not args.file:
        raise ImportDataError("import needs --layer and --file (or --template and --out)",
                              message_zh="导入需要 --layer 和 --file(或 --template 与 --out)")
    ws = _open(args, write=not args.dry_run)
    mapping = args.mapping
    if mapping and not Path(mapping).exists():
        mapping = imports.load_mapping(ws, mapping)
    plan = imports.plan_import(args.file, layer=args.layer, workspace=ws, encoding=args.encoding, crs=args.crs,
                               gcj02=args.gcj02, swap_axes=args.swap_axes or None, mapping=mapping, mode=args.mode,
                               township=args.township, constants=args.constants, derive=args.derive,
                               sheet=args.sheet, member=args.member, source_layer=args.source_layer,
                               progress=progress(args, "preview"))
    _print_plan(plan, args.lang)
    if args.dry_run:
        _print_change(ws, plan, args.lang, args.on_problems)
        print("（预览，未写入）" if args.lang == "zh" else "(dry run: nothing written)")
        return 0 if plan.ready else 2
    result = imports.commit_import(ws, plan, actor=_actor(args, ws), on_problems=args.on_problems,
                                   save_mapping_as=args.save_mapping, confirm_removal=args.yes,
                                   progress=progress(args, "import"))
    print(result.summary(args.lang))
    _print_cells(result.cells, args.lang)
    _store_tiles(args, ws.location, [args.layer])
    return 0


def _print_plan(plan, lang: str) -> None:
    """The preview: the report, encoding, CRS steps, the mapping, what was supplied, notes, the first rows."""
    zh = lang == "zh"
    print(plan.summary(lang))
    if plan.encoding.encoding:
        print(("编码" if zh else "encoding") + f": {plan.encoding.encoding} ({plan.encoding.how})")
    for step in plan.crs.get("steps", []):
        print(("坐标" if zh else "crs") + f": {step}")
    for m in plan.mapping:
        print(f"  {m.source} → {m.field}" + (f" ({m.unit}, × {m.factor:g})" if m.unit else ""))
    for fld, how in plan.supplied.items():
        print(f"  {fld} ← {how}")
    for note in plan.notes_zh if zh else plan.notes:
        print(f"  · {note}")
    if plan.preview is not None and len(plan.preview):
        print(plan.preview.head(5).to_string(max_colwidth=24))


def _print_change(ws, plan, lang: str, on_problems: str) -> None:
    """What the commit would do to the layer under ``on_problems`` (for a dry run), and what refers
    to the rows it would remove."""
    from geo.errors import ImportDataError
    from layers.imports import removal_references
    from layers.references import references_text

    zh = lang == "zh"
    if not plan.ready or plan.mode == "raster":
        return
    choice = on_problems
    if on_problems == "cancel" and not plan.errors.empty:
        print("有错误:按“取消”将不写入任何数据;以下为“跳过”错误行时的结果" if zh
              else "rows have errors: 'cancel' would write nothing; below, the result of 'skip'")
        choice = "skip"
    try:
        print(plan.change_summary(lang, choice))
    except ImportDataError as exc:
        print(exc.localized(lang))
        return
    if (refs := references_text(removal_references(ws, plan, plan.change(choice)), lang)):
        print(refs)
    _print_cells(plan.change(choice).cells, lang)


def _print_cells(cells, lang: str, limit: int = 20) -> None:
    """Changed cells, old → new (the first ``limit``)."""
    from layers.imports.modes import format_cell
    from layers.schema import VALUE_LABELS_ZH

    def shown(value) -> str:
        text = format_cell(value, lang)
        return VALUE_LABELS_ZH.get(text, text) if lang == "zh" else text

    for r in cells.head(limit).itertuples(index=False):
        print(f"  {r.key} · {r.field}: {shown(r.old)} → {shown(r.new)}")
    if len(cells) > limit:
        print(f"  … 另有 {len(cells) - limit} 个单元格" if lang == "zh" else f"  … {len(cells) - limit} more cell(s)")


# --- export -------------------------------------------------------------------------------
def _add_export(sub) -> None:
    p = sub.add_parser("export", help="export the shortlist (all, or one township) for officials")
    p.add_argument("--workspace", default=None, help=_WS_HELP)
    p.add_argument("--format", required=True, choices=("xlsx", "csv", "gpkg", "geojson", "kml", "shp", "pdf"))
    p.add_argument("--township", default=None, help="township code (default: the whole shortlist)")
    p.add_argument("--out", required=True, help="file to write (shp: a .zip)")
    p.add_argument("--title", default=None, help="report title (default 低效用地再开发候选清单)")


def cmd_export(args) -> int:
    from exports import export_shortlist, meta_for
    from layers import shortlist as sl

    ws = _open(args, write=False)
    actor = _actor(args, ws) if getattr(args, "as_user", None) else None
    items = sl.load(ws, actor=actor)
    if actor is not None and actor.role == "official":
        args.township = actor.township  # an official exports their own township only
    meta = meta_for(ws, maps=args.format == "pdf", title=args.title)
    path = export_shortlist(items, fmt=args.format, township=args.township, out=args.out, meta=meta)
    n = len(items) if args.township is None else int((items["township_code"] == args.township).sum())
    print(f"wrote {path} ({args.format}, {n} item(s), {path.stat().st_size:,} bytes)")
    return 0


# --- workspace ----------------------------------------------------------------------------
def _add_workspace(sub) -> None:
    p = sub.add_parser("workspace", help="the workspace itself: info, copy between backends, layer history, restore, "
                                         "settings")
    ss = p.add_subparsers(dest="action", required=True)
    q = ss.add_parser("info", help="layers, tables, settings and versions of a workspace")
    q.add_argument("--workspace", default=None, help=_WS_HELP)
    q = ss.add_parser("copy", help="copy a whole workspace (GeoPackage ⇄ PostGIS), verified by counts and checksums")
    q.add_argument("source", help="a .gpkg path or a PostgreSQL DSN")
    q.add_argument("destination", help="a .gpkg path or a PostgreSQL DSN (?schema=NAME picks the schema)")
    q.add_argument("--overwrite", action="store_true", help="replace an existing destination")
    q = ss.add_parser("history", help="the current and the kept previous versions of a layer")
    q.add_argument("layer")
    q.add_argument("--workspace", default=None, help=_WS_HELP)
    q = ss.add_parser("restore", help="make a kept version of a layer current again (the current one is kept)")
    q.add_argument("layer")
    q.add_argument("version", type=int)
    q.add_argument("--workspace", default=None, help=_WS_HELP)
    q = ss.add_parser("set", help="change a setting: keep_versions, timezone, title, reference_date")
    q.add_argument("key", choices=("keep_versions", "timezone", "title", "reference_date"))
    q.add_argument("value")
    q.add_argument("--workspace", default=None, help=_WS_HELP)


def cmd_workspace(args) -> int:
    from layers.timefmt import local_time

    if args.action == "copy":
        from layers import access
        from layers.store import open_workspace
        from layers.store.copy import copy_workspace

        actor = _actor(args, open_workspace(args.source)) if args.as_user else access.os_actor()
        report = copy_workspace(args.source, args.destination, overwrite=args.overwrite, actor=actor,
                                progress=progress(args, "copy"))
        for name, n in {**report["layers"], **report["tables"]}.items():
            print(f"  {name:32s} {n:8d} rows  ✓")
        print(f"copied {len(report['layers'])} layers, {report['versions']} kept versions, "
              f"{len(report['tables'])} tables, rasters {', '.join(report['rasters']) or '(none)'}; verified")
        _store_tiles(args, args.destination)
        return 0
    ws = _open(args, write=args.action in ("restore", "set"))
    if args.action == "info":
        print(f"{ws.describe()}  CRS {ws.crs.to_string()}  format {ws.info.get('format')}  version {ws.version[0]}")
        print(f"settings: keep_versions={ws.keep_versions} timezone={ws.timezone} "
              f"reference_date={ws.info.get('reference_date', '—')}")
        for r in ws.metadata().itertuples():
            print(f"  {r.layer:32s} {r.kind:7s} v{int(r.version or 0):<3d} {int(r.row_count or 0):8d} rows  "
                  f"{local_time(r.changed_at, ws.timezone)}  {r.source}")
        print("tables: " + ", ".join(ws.tables()))
    elif args.action == "history":
        for r in ws.layer_history(args.layer).itertuples():
            state = "current" if r.current else f"replaced {local_time(r.replaced_at, ws.timezone)} by {r.replaced_by}"
            print(f"  v{r.version:<4d} {int(r.rows or 0):8d} rows  imported {local_time(r.imported_at, ws.timezone)}  "
                  f"{state}  {r.source or ''}")
    elif args.action == "restore":
        out = ws.restore_layer(args.layer, args.version, actor=_actor(args, ws))
        print(f"{out['layer']}: version {out['restored']} restored as version {out['new_version']} ({out['rows']} rows); "
              "the replaced version is kept")
        _store_tiles(args, ws.location, [args.layer])
    else:
        ws.set_setting(args.key, args.value, actor=_actor(args, ws))
        print(f"{args.key} = {args.value}")
    return 0


# --- runs -----------------------------------------------------------------------------------
def _add_runs(sub) -> None:
    p = sub.add_parser("runs", help="stored analysis runs: list (marking those whose inputs changed), prune")
    ss = p.add_subparsers(dest="action", required=True)
    q = ss.add_parser("list", help="stored runs, newest last")
    q.add_argument("--workspace", default=None, help=_WS_HELP)
    q.add_argument("--kind", choices=("chain", "siting", "integration"), default=None)
    q = ss.add_parser("prune", help="drop the layers of all but the N newest runs of each kind")
    q.add_argument("--keep", type=int, required=True)
    q.add_argument("--kind", choices=("chain", "siting", "integration"), default=None)
    q.add_argument("--dry-run", action="store_true", help="list what would be removed")
    q.add_argument("--workspace", default=None, help=_WS_HELP)


def cmd_runs(args) -> int:
    from layers import runs
    from layers.references import run_missing
    from layers.timefmt import local_time

    ws = _open(args, write=args.action == "prune" and not args.dry_run)
    if args.action == "list":
        table = runs.list_runs(ws, args.kind)
        for r in table.itertuples():
            stale = runs.stale_inputs(ws, r._asdict())
            mark = ("  inputs changed since: " + ", ".join(stale)) if stale else ""
            if stale:  # objects can only be gone when an input layer changed
                bare = r.run_id if r.kind == "chain" else r.run_id[len(r.kind) + 1:]
                gone = run_missing(ws, r.kind, bare)
                mark += "".join(f"; {n:,} of its {layer} no longer in the layer" for layer, n in gone.items())
            print(f"  {r.run_id:32s} {r.kind:11s} {str(r.preset or ''):20s} {local_time(r.created, ws.timezone)}  "
                  f"{r.created_by or '—'}{mark}")
        print(f"{len(table)} run(s)")
        return 0
    gone = runs.prune(ws, keep=args.keep, kind=args.kind, actor=_actor(args, ws), dry_run=args.dry_run)
    print(("would remove: " if args.dry_run else "removed: ") + (", ".join(gone) or "(nothing)"))
    return 0


# --- users ----------------------------------------------------------------------------------
def _add_user(sub) -> None:
    p = sub.add_parser("user", help="accounts of the app: add, passwd, role, disable, enable, list")
    ss = p.add_subparsers(dest="action", required=True)
    q = ss.add_parser("add", help="create an account (password asked, or $PLANNER_NEW_PASSWORD)")
    q.add_argument("username")
    q.add_argument("--role", required=True, choices=("viewer", "official", "planner", "admin"))
    q.add_argument("--township", default=None, help="township code (officials)")
    q.add_argument("--name", default="", help="display name")
    q.add_argument("--sso", action="store_true", help="a single-sign-on identity: map it to a role, no password here")
    q = ss.add_parser("passwd", help="set an account's password (asked, or $PLANNER_NEW_PASSWORD)")
    q.add_argument("username")
    q = ss.add_parser("role", help="change an account's role")
    q.add_argument("username")
    q.add_argument("role", choices=("viewer", "official", "planner", "admin"))
    q.add_argument("--township", default=None)
    for name in ("disable", "enable"):
        q = ss.add_parser(name, help=f"{name} an account")
        q.add_argument("username")
    ss.add_parser("list", help="accounts (no password hashes)")
    for q in ss.choices.values():
        q.add_argument("--workspace", default=None, help=_WS_HELP)


def _new_password(username: str) -> str:
    import getpass

    given = os.environ.get("PLANNER_NEW_PASSWORD")
    if given is not None:
        return given
    first = getpass.getpass(f"new password for {username}: ")
    if getpass.getpass("again: ") != first:
        from geo.errors import ParameterError

        raise ParameterError("the two passwords differ", message_zh="两次输入的密码不一致")
    return first


def cmd_user(args) -> int:
    from layers import access

    ws = _open(args, write=args.action != "list")
    if args.action == "list":
        for r in access.list_users(ws).itertuples():
            state = "disabled" if r.disabled else ("locked" if r.locked_until else "active")
            print(f"  {r.username:20s} {r.role:9s} {str(r.township or ''):10s} {r.source:6s} {state:8s} {r.display_name}")
        return 0
    actor = _actor(args, ws)
    if args.action == "add":
        access.add_user(ws, args.username, role=args.role, township=args.township, display_name=args.name, actor=actor,
                        source="oidc" if args.sso else "local",
                        password=None if args.sso else _new_password(args.username))
    elif args.action == "passwd":
        access.set_password(ws, args.username, _new_password(args.username), actor=actor)
    elif args.action == "role":
        access.set_role(ws, args.username, args.role, township=args.township, actor=actor)
    else:
        access.set_disabled(ws, args.username, args.action == "disable", actor=actor)
    print(f"user {args.username}: {args.action} done")
    return 0


# --- audit ----------------------------------------------------------------------------------
def _add_audit(sub) -> None:
    p = sub.add_parser("audit", help="the audit log: who changed what, when (local time)")
    p.add_argument("--workspace", default=None, help=_WS_HELP)
    p.add_argument("--user", default=None, help="only this user")
    p.add_argument("--action", default=None, help="only actions starting with this (e.g. shortlist, login)")
    p.add_argument("--since", default=None, help="only from this local date (YYYY-MM-DD)")
    p.add_argument("--limit", type=int, default=50, help="newest N rows (default %(default)s; 0 = all)")
    p.add_argument("--out", default=None, help="write the rows to this .csv (UTF-8 with BOM) or .xlsx instead")


def cmd_audit(args) -> int:
    from exports.audit import export_audit
    from layers import audit

    ws = _open(args, write=False)
    actor = _actor(args, ws)
    table = audit.read(ws, actor=actor, user=args.user, action=args.action, since=args.since,
                       limit=args.limit or None, lang=args.lang)
    if args.out:
        path = export_audit(table, args.out, lang=args.lang)
        print(f"wrote {path} ({len(table)} rows)")
        return 0
    for r in table.itertuples():
        print(f"  {r.at_local}  {r.username:14s} {r.action:18s} {str(r.target or '')[:30]:30s} {r.summary}")
    print(f"{len(table)} row(s)")


# --- compare ------------------------------------------------------------------------------
def _add_compare(sub) -> None:
    p = sub.add_parser("compare", help="compare two stored analysis runs: class transitions, score changes, "
                                       "plots entering or leaving the low-efficiency list and why")
    p.add_argument("run_a", help="the earlier run id (see the runs table; `evaluate` prints it)")
    p.add_argument("run_b", help="the later run id")
    p.add_argument("--workspace", default=None, help=_WS_HELP)
    p.add_argument("--out", default=None, help="write the comparison to a .xlsx (every table) or .csv (the plots)")
    p.add_argument("--top", type=int, default=10, help="plots and firms listed on screen (default %(default)s)")


def cmd_compare(args) -> int:
    from analysis import pipeline
    from exports.comparison import SHEETS, tables, write_comparison
    ws = _open(args, write=False)
    diff = pipeline.compare_runs(ws, args.run_a, args.run_b)
    towns = {}
    if ws.has_layer("townships"):
        tw = ws.read("townships", columns=["code", "name"])
        towns = dict(zip(tw["code"].astype(str), tw["name"].astype(str)))
    lang = args.lang
    shown = tables(diff, run_a=args.run_a, run_b=args.run_b, lang=lang, townships=towns)
    for key in ("summary", "settings", "transitions", "plots", "class_changes"):
        frame = shown[key]
        title = SHEETS[key][1 if lang == "en" else 0]
        more = f" ({len(frame)})" if key in ("plots", "class_changes") else ""
        print(f"\n== {title}{more}")
        print(frame.head(args.top).to_string(index=False, max_colwidth=60) if len(frame) else "—")
    if args.out:
        from pathlib import Path

        fmt = Path(args.out).suffix.lower().lstrip(".")
        path = write_comparison(diff, fmt=fmt, run_a=args.run_a, run_b=args.run_b, lang=lang, townships=towns,
                                out=args.out)
        print(f"\nwrote {path} ({path.stat().st_size:,} bytes)")
    return 0


# --- map ---------------------------------------------------------------------------------
def _add_map(sub) -> None:
    p = sub.add_parser("map", help="print a map (PNG or PDF, A4 landscape, legend, scale bar, north arrow)")
    p.add_argument("--workspace", default=None, help=_WS_HELP)
    p.add_argument("--out", required=True, help="file to write: .png or .pdf")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--township", default=None, help="township code: frame and outline it")
    where.add_argument("--park", default=None, help="park id (industrial park or micro-park): frame and outline it")
    where.add_argument("--bbox", default=None, help="west,south,east,north in degrees (default: plots and parks)")
    p.add_argument("--layers", default=None,
                   help="layers to draw, comma-separated (default: those of the map page's export)")
    p.add_argument("--style-by", default="land_use", help="plot colouring: land_use, status, final_class, "
                   "low_efficiency, suitability, mode (default %(default)s)")
    p.add_argument("--rasters", default="", help="rasters to draw under the layers, e.g. slope,flood_depth")
    p.add_argument("--map-lang", choices=("zh", "en"), default="zh", help="language of the map (default zh)")


def _headless_ui(args) -> None:
    """Before importing ``ui`` outside the app: Streamlit would warn "No runtime found" for each cached
    function, which says nothing on the command line (``-vv`` keeps them)."""
    import streamlit.logger

    if getattr(args, "verbose", 0) < 2:
        streamlit.logger.set_log_level("ERROR")


def cmd_map(args) -> int:
    import geopandas as gpd

    from geo.errors import ParameterError

    _headless_ui(args)
    from ui.map_export import map_image
    from ui.mapview import STYLE_BY

    fmt = args.out.rsplit(".", 1)[-1].lower()
    if fmt not in ("png", "pdf") or args.style_by not in STYLE_BY:
        raise ParameterError(f"--out must end in .png or .pdf and --style-by be one of {list(STYLE_BY)}; "
                             f"got {args.out!r}, {args.style_by!r}.",
                             message_zh=f"--out 应以 .png 或 .pdf 结尾,--style-by 可选 {list(STYLE_BY)};"
                                        f"收到 {args.out!r}、{args.style_by!r}。")
    ws = _open(args, write=False)
    place, focus = None, None
    if args.township or args.park:
        key, value = ("code", args.township) if args.township else ("park_id", args.park)
        names = ("townships",) if args.township else ("industrial_parks", "micro_parks")
        frames = [ws.read(n) for n in names if ws.has_layer(n)]
        hit = _concat([f[f[key].astype(str) == value] for f in frames])
        if hit is None or not len(hit):
            raise ParameterError(f"No {key} {value!r} in {ws.describe()}.", message_zh=f"{ws.describe()} 中没有 {value!r}。")
        focus, place = hit.to_crs(4326), "、".join(hit["name"].astype(str))
        w, s, e, n = focus.total_bounds
        pad = max(e - w, n - s) * 0.08
        bounds = (w - pad, s - pad, e + pad, n + pad)
    elif args.bbox:
        bounds = tuple(float(v) for v in args.bbox.split(","))
    else:
        frames = [ws.read(n, columns=[]) for n in ("plots", "industrial_parks", "micro_parks") if ws.has_layer(n)]
        bounds = tuple(gpd.GeoSeries(_concat(frames).geometry).to_crs(4326).total_bounds)
    chosen = {"layers": [x for x in args.layers.split(",") if x]} if args.layers else {}
    blob = map_image(ws, bounds=bounds, **chosen, style_by=args.style_by,
                     lang=args.map_lang, fmt=fmt, rasters=[x for x in args.rasters.split(",") if x],
                     marks={"focus": focus} if focus is not None else None, place=place)
    with open(args.out, "wb") as fh:
        fh.write(blob)
    print(f"wrote {args.out} ({fmt}, {len(blob):,} bytes)")
    return 0


def _concat(frames):
    """Concatenate frames of one CRS (None when there are none)."""
    import geopandas as gpd
    import pandas as pd

    frames = [f for f in frames if f is not None]
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=frames[0].crs) if frames else None


# --- app --------------------------------------------------------------------------------------
def _add_app(sub) -> None:
    p = sub.add_parser("app", help="start the web app (Streamlit: app.py plus the tile and raster routes of server.py)",
                       description="Start the planner's web app. Further Streamlit options pass through, e.g. "
                                   "`planner app --server.baseUrlPath planner`.")
    p.add_argument("--workspace", default=None, help=_WS_HELP)
    p.add_argument("--address", default=None,
                   help="address to listen on (default $PLANNER_ADDRESS, else 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=None, help="port (default $PLANNER_PORT, else 8501)")


def app_command(args, streamlit_args: list[str] = ()) -> tuple[list[str], dict[str, str]]:
    """The ``streamlit run server.py`` command line and environment that ``app`` starts."""
    env = dict(os.environ)
    if args.workspace:
        env["PLANNER_WORKSPACE"] = args.workspace
    address = args.address or os.environ.get("PLANNER_ADDRESS") or "127.0.0.1"
    port = args.port or int(os.environ.get("PLANNER_PORT") or 8501)
    # server.py beside this file: Streamlit then serves static/ and reads .streamlit/config.toml beside it too.
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "server.py"), "--server.headless", "true",
           "--server.address", address, "--server.port", str(port), *streamlit_args]
    return cmd, env


def cmd_app(args) -> int:
    cmd, env = app_command(args, getattr(args, "streamlit_args", []))
    _LOG.info("starting %s", " ".join(cmd))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, cmd, env)  # the server replaces this process: Ctrl-C and signals reach it
    return 0  # not reached


# --- tiles --------------------------------------------------------------------------------
def _store_tiles(args, location: str, layers: list[str] | None = None) -> None:
    """Build the map's vector tiles of ``layers`` just stored (default: every tiled layer held), and say how it went.

    The data is committed before this runs: a build that fails is reported on stderr (the
    command still succeeds) and the map builds the set when it is first opened.
    """
    from layers import tiles
    from layers.store import open_workspace

    done = tiles.refresh(open_workspace(location), layers, progress=progress(args, "tiles"))
    for name, info in done.built.items():
        print(f"tiles of {name}: {info.count:,} features, {info.n_tiles:,} tiles, {info.n_bytes / 1e6:,.1f} MB, "
              f"built in {info.build_s:.1f} s")
    for name, exc in done.failed.items():
        print(f"tiles of {name} not built: {exc.localized(args.lang)}. The data is stored; the map builds the tiles "
              f"when it is first opened (or run: cli.py tiles --layer {name})" if args.lang != "zh" else
              f"图层 {name} 的矢量切片未生成:{exc.localized('zh')}。数据已保存;地图首次打开时生成切片"
              f"(或运行 cli.py tiles --layer {name})", file=sys.stderr)


def _add_tiles(sub) -> None:
    p = sub.add_parser("tiles", help="build the vector tiles the map draws every plot from (kept with the workspace)")
    p.add_argument("--workspace", default=None, help=_WS_HELP)
    p.add_argument("--layer", default="plots", help="tiled layer (default %(default)s)")
    p.add_argument("--force", action="store_true", help="rebuild even when the stored set is current")


def cmd_tiles(args) -> int:
    from geo.errors import ParameterError
    from layers import tiles

    if args.layer not in tiles.TILED_LAYERS:
        raise ParameterError(f"no tiles for layer {args.layer!r}; tiled: {', '.join(tiles.TILED_LAYERS)}",
                         message_zh=f"图层 {args.layer} 不生成矢量切片;可选:{'、'.join(tiles.TILED_LAYERS)}")
    ws = _open(args, write=False)
    before = tiles.info(ws, args.layer)
    done = tiles.build(ws, args.layer) if args.force else tiles.ensure(ws, args.layer)
    state = "rebuilt" if args.force or before is None or before.stamp != done.stamp else "current, kept"
    print(f"{args.layer}: {done.count:,} features, {done.n_tiles:,} tiles (zoom {done.minzoom}–{done.maxzoom}), "
          f"{done.n_bytes / 1e6:,.1f} MB, {state} (built in {done.build_s:.1f} s at {done.built_at})")
    return 0


COMMANDS = {
    "sample": (_add_sample, cmd_sample),
    "evaluate": (_add_evaluate, cmd_evaluate),
    "partition": (_add_partition, cmd_partition),
    "site": (_add_site, cmd_site),
    "integrate": (_add_integrate, cmd_integrate),
    "membership": (_add_membership, cmd_membership),
    "shortlist": (_add_shortlist, cmd_shortlist),
    "export": (_add_export, cmd_export),
    "import": (_add_import, cmd_import),
    "workspace": (_add_workspace, cmd_workspace),
    "runs": (_add_runs, cmd_runs),
    "user": (_add_user, cmd_user),
    "audit": (_add_audit, cmd_audit),
    "compare": (_add_compare, cmd_compare),
    "map": (_add_map, cmd_map),
    "app": (_add_app, cmd_app),
    "tiles": (_add_tiles, cmd_tiles),
}


def build_parser() -> argparse.ArgumentParser:
    # prog: `planner` when installed, `cli.py` from a checkout (argparse's default, the script's name)
    parser = argparse.ArgumentParser(description="园区与低效用地再开发规划系统 — headless commands")
    parser.add_argument("--lang", choices=("zh", "en"), default="en",
                        help="language of error messages and of the compare tables")
    parser.add_argument("--as", dest="as_user", default=None, metavar="NAME",
                        help="act as this workspace account (password from $PLANNER_PASSWORD or asked); "
                             "default: the operating-system user, as an administrator")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log the steps on stderr (-v: steps and timings, -vv: detail)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only errors on stderr; no progress bars")
    sub = parser.add_subparsers(dest="command", required=True)
    for add, _ in COMMANDS.values():
        add(sub)
    return parser


#: The project's own loggers (every module logs as ``logging.getLogger(__name__)`` under one of these).
PROJECT_LOGGERS = ("cli", "geo", "layers", "analysis", "exports", "scale", "ui")


class _KnownNoise(logging.Filter):
    """Drops GDAL's note that a driver named in ``GDAL_SKIP`` (geo/__init__.py: remote and VRT drivers,
    skipped for safety) is not in this build: true, harmless, and printed for every driver."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "to unload from GDAL_SKIP" not in record.getMessage()


@contextmanager
def logging_to_stderr(verbose: int = 0, quiet: bool = False):
    """The log on stderr for one command, removed afterwards.

    The project's loggers (:data:`PROJECT_LOGGERS`) at WARNING, ``-v`` INFO (the steps and their
    timings), ``-vv`` DEBUG, ``-q`` ERROR; other libraries' records from WARNING with ``-v``, else
    only their errors.
    """
    level = logging.ERROR if quiet else {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", datefmt="%H:%M:%S"))
    handler.addFilter(_KnownNoise())
    root = logging.getLogger()
    saved = root.level, {name: logging.getLogger(name).level for name in PROJECT_LOGGERS}
    root.addHandler(handler)
    root.setLevel(logging.WARNING if verbose and not quiet else logging.ERROR)
    for name in PROJECT_LOGGERS:
        logging.getLogger(name).setLevel(level)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        for name, lvl in saved[1].items():
            logging.getLogger(name).setLevel(lvl)


def progress(args, task: str):
    """The progress callback of ``task`` for a library call: a bar on stderr, or ``None`` (not a terminal, ``-q``)."""
    bars = getattr(args, "bars", None)
    return bars.task(task) if bars is not None else None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "app":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.streamlit_args = extra
    with logging_to_stderr(args.verbose, args.quiet), Bars(enabled=None if not args.quiet else False) as bars:
        args.bars = bars
        try:
            return COMMANDS[args.command][1](args)
        except PlannerError as exc:
            _LOG.debug("%s failed", args.command, exc_info=True)
            bars.close()
            print(f"error: {exc.localized(args.lang)}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main())
