"""Headless commands of the planner: sample, evaluate, site, integrate, import, export, map.

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
    p.add_argument("--no-run", action="store_true",
                   help="do not store the analysis run 'sample' (ruian_default) in the new workspace")


def cmd_sample(args) -> int:
    from analysis import pipeline
    from layers import sample
    from layers.workspace import Workspace

    kwargs = {k: v for k, v in {"n_plots": args.plots, "seed": args.seed}.items() if v is not None}
    summary = sample.build_workspace(args.out, rasters=not args.no_rasters, **kwargs)
    for name, count in summary.items():
        print(f"{name:>18}: {count}")
    if not args.no_run:
        # The bundled sample opens with results on every page; planners re-run with their own presets.
        run_id, result = pipeline.run(Workspace.open(args.out, readonly=False), "ruian_default", run_id="sample")
        print(f"{'run ' + run_id:>18}: {result.counts.get('low_efficiency', '')} low-efficiency plots")
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


# --- shortlist ----------------------------------------------------------------------------
def _add_shortlist(sub) -> None:
    p = sub.add_parser("shortlist", help="the shortlist pipeline: add, list, status, update, move, remove, history")
    ss = p.add_subparsers(dest="action", required=True)

    def common(q, *, who: bool = True) -> None:
        q.add_argument("--workspace", default=DEFAULT_WORKSPACE, help="workspace file (default %(default)s)")
        if who:
            q.add_argument("--who", required=True, help="your name (recorded with the change)")

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
    q = ss.add_parser("update", help="change notes or the responsible township of one entry")
    common(q)
    q.add_argument("entry")
    q.add_argument("--notes", default=None)
    q.add_argument("--township", default=None, help="responsible township code")
    q.add_argument("--reason", default="")
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
    from geo.units import m2_to_mu
    from layers import shortlist as sl
    from layers.workspace import Workspace

    writes = args.action not in ("list", "history")
    ws = Workspace.open(args.workspace, readonly=not writes)
    if args.action == "add":
        ids = [i.strip() for raw in args.ids for i in raw.split(",") if i.strip()]
        out = sl.add(ws, ids, kind=args.kind, who=args.who, source_layer=args.from_layer, id_column=args.id_column,
                     notes=args.notes, source=args.source, rank=args.rank,
                     on_duplicate="skip" if args.skip_duplicates else "raise")
    elif args.action == "status":
        out = sl.set_status(ws, args.entries, args.to, who=args.who, reason=args.reason)
    elif args.action == "update":
        out = sl.update(ws, args.entry, who=args.who, notes=args.notes, township_code=args.township, reason=args.reason)
    elif args.action == "move":
        out = sl.move(ws, args.entry, args.rank, who=args.who)
    elif args.action == "remove":
        out = sl.remove(ws, args.entries, who=args.who, reason=args.reason)
    elif args.action == "history":
        for r in sl.history(ws, args.entry).itertuples():
            old, new = _text(r.old_value), _text(r.new_value)
            old = old if len(old) <= 40 else old[:37] + "…"
            why = f"  ({_text(r.reason)})" if _text(r.reason) else ""
            print(f"{r.history_id:5d} {r.at} {r.who:8s} {r.action:8s} {r.entry_id:16s} {r.field:14s} {old} → {new}{why}")
        return 0
    else:
        out = sl.load(ws)
        if args.township:
            out = out[out["township_code"] == args.township]
    for r in out.itertuples():
        print(f"{r.rank:4d} {r.entry_id:16s} {r.status:4s} {_text(r.township_name):6s} {m2_to_mu(r.area_m2):8.2f} 亩  "
              f"{_text(r.reasons)}")
    print(f"{len(out)} item(s) on the shortlist of {ws.path.name}")
    return 0


def _text(value) -> str:
    """Printable text of a cell ('' for null / NA)."""
    import pandas as pd

    return "" if value is None or pd.isna(value) else str(value)


# --- import -------------------------------------------------------------------------------
def _add_import(sub) -> None:
    p = sub.add_parser("import", help="import a file into a workspace layer (preview with --dry-run), or write a template")
    p.add_argument("--workspace", default=DEFAULT_WORKSPACE, help="workspace file (default %(default)s)")
    p.add_argument("--layer", help="target layer (plots, enterprises...), other lower_snake name, or raster kind (dem...)")
    p.add_argument("--file", help="Shapefile (.shp or .zip), .gpkg, .geojson, .kml, .csv, .xlsx or .tif")
    p.add_argument("--encoding", default=None, help="attribute encoding, e.g. GB18030 (default: detected)")
    p.add_argument("--crs", default=None, help="source CRS, e.g. EPSG:4528 (default: the file's; never guessed)")
    p.add_argument("--gcj02", action="store_true", help="the lon/lat coordinates are GCJ-02 (Gaode/Tencent): convert")
    p.add_argument("--swap-axes", action="store_true", help="swap x and y (data written northing first)")
    p.add_argument("--mapping", default=None, help="column mapping JSON file, or the name of a mapping saved in the workspace")
    p.add_argument("--save-mapping", default=None, help="save the column mapping in the workspace under this name")
    p.add_argument("--mode", choices=("auto", "replace", "join"), default="auto", help="replace the layer or join a table onto it")
    p.add_argument("--sheet", default=None, help="Excel sheet")
    p.add_argument("--member", default=None, help="dataset inside a zip")
    p.add_argument("--source-layer", default=None, help="layer inside a GeoPackage")
    p.add_argument("--on-problems", choices=("skip", "fix", "cancel"), default="cancel",
                   help="rows with errors: leave out, repair what can be repaired, or write nothing (default %(default)s)")
    p.add_argument("--dry-run", action="store_true", help="print the preview and the report; write nothing")
    p.add_argument("--template", default=None, choices=("land", "tax", "power", "environment", "statistics"),
                   help="write the Excel import template of a department table to --out instead of importing")
    p.add_argument("--out", default=None, help="where --template writes the .xlsx")


def cmd_import(args) -> int:
    from pathlib import Path

    from geo.errors import ImportDataError
    from layers import importers

    if args.template:
        if not args.out:
            raise ImportDataError("--template needs --out FILE.xlsx", message_zh="--template 需要 --out 文件名.xlsx")
        Path(args.out).write_bytes(importers.template_xlsx(args.template, lang=args.lang))
        print(f"template {args.template} → {args.out}")
        return 0
    if not args.layer or not args.file:
        raise ImportDataError("import needs --layer and --file (or --template and --out)",
                              message_zh="导入需要 --layer 和 --file(或 --template 与 --out)")
    from layers.workspace import Workspace

    ws = Workspace.open(args.workspace, readonly=args.dry_run)
    mapping = args.mapping
    if mapping and not Path(mapping).exists():
        mapping = importers.load_mapping(ws, mapping)
    plan = importers.plan_import(args.file, layer=args.layer, workspace=ws, encoding=args.encoding, crs=args.crs,
                                 gcj02=args.gcj02, swap_axes=args.swap_axes or None, mapping=mapping, mode=args.mode,
                                 sheet=args.sheet, member=args.member, source_layer=args.source_layer)
    zh = args.lang == "zh"
    print(plan.summary(args.lang))
    if plan.encoding.encoding:
        print(("编码" if zh else "encoding") + f": {plan.encoding.encoding} ({plan.encoding.how})")
    for step in plan.crs.get("steps", []):
        print(("坐标" if zh else "crs") + f": {step}")
    for m in plan.mapping:
        print(f"  {m.source} → {m.field}" + (f" ({m.unit}, × {m.factor:g})" if m.unit else ""))
    for note in plan.notes_zh if zh else plan.notes:
        print(f"  · {note}")
    if plan.preview is not None and len(plan.preview):
        print(plan.preview.head(5).to_string(max_colwidth=24))
    if args.dry_run:
        print("（预览，未写入）" if zh else "(dry run: nothing written)")
        return 0
    result = importers.commit_import(ws, plan, on_problems=args.on_problems, save_mapping_as=args.save_mapping)
    print((f"已写入 {result.layer}:{result.rows_written} 行,跳过 {result.rows_skipped} 行,修复 {result.rows_repaired} 行"
           if zh else f"wrote {result.layer}: {result.rows_written} row(s), skipped {result.rows_skipped}, "
                      f"repaired {result.rows_repaired}"))
    return 0


# --- export -------------------------------------------------------------------------------
def _add_export(sub) -> None:
    p = sub.add_parser("export", help="export the shortlist (all, or one township) for officials")
    p.add_argument("--workspace", default=DEFAULT_WORKSPACE, help="workspace file (default %(default)s)")
    p.add_argument("--format", required=True, choices=("xlsx", "csv", "gpkg", "geojson", "kml", "shp", "pdf"))
    p.add_argument("--township", default=None, help="township code (default: the whole shortlist)")
    p.add_argument("--out", required=True, help="file to write (shp: a .zip)")
    p.add_argument("--title", default=None, help="report title (default 低效用地再开发候选清单)")


def cmd_export(args) -> int:
    from exports import ExportMeta, export_shortlist
    from layers import shortlist as sl
    from layers.workspace import Workspace

    ws = Workspace.open(args.workspace, readonly=True)
    items = sl.load(ws)
    towns = ws.read("townships") if ws.has_layer("townships") else None
    meta = ExportMeta(source=ws.path.name, townships=towns, **({"title": args.title} if args.title else {}))
    path = export_shortlist(items, fmt=args.format, township=args.township, out=args.out, meta=meta)
    n = len(items) if args.township is None else int((items["township_code"] == args.township).sum())
    print(f"wrote {path} ({args.format}, {n} item(s), {path.stat().st_size:,} bytes)")
    return 0


# --- map ---------------------------------------------------------------------------------
def _add_map(sub) -> None:
    p = sub.add_parser("map", help="print a map (PNG or PDF, A4 landscape, legend, scale bar, north arrow)")
    p.add_argument("--workspace", default=DEFAULT_WORKSPACE, help="workspace file (default %(default)s)")
    p.add_argument("--out", required=True, help="file to write: .png or .pdf")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--township", default=None, help="township code: frame and outline it")
    where.add_argument("--park", default=None, help="park id (industrial park or micro-park): frame and outline it")
    where.add_argument("--bbox", default=None, help="west,south,east,north in degrees (default: plots and parks)")
    p.add_argument("--layers", default=",".join(_print_layers()),
                   help="layers to draw, comma-separated (default %(default)s)")
    p.add_argument("--style-by", default="land_use", help="plot colouring: land_use, status, final_class, "
                   "low_efficiency, suitability, mode (default %(default)s)")
    p.add_argument("--rasters", default="", help="rasters to draw under the layers, e.g. slope,flood_depth")
    p.add_argument("--map-lang", choices=("zh", "en"), default="zh", help="language of the map (default zh)")


def _print_layers() -> tuple[str, ...]:
    from ui.map_export import DEFAULT_PRINT_LAYERS

    return DEFAULT_PRINT_LAYERS


def cmd_map(args) -> int:
    import geopandas as gpd

    from geo.errors import ParameterError
    from layers.workspace import Workspace
    from ui.map_export import map_image
    from ui.mapview import STYLE_BY

    fmt = args.out.rsplit(".", 1)[-1].lower()
    if fmt not in ("png", "pdf") or args.style_by not in STYLE_BY:
        raise ParameterError(f"--out must end in .png or .pdf and --style-by be one of {list(STYLE_BY)}; "
                             f"got {args.out!r}, {args.style_by!r}.",
                             message_zh=f"--out 应以 .png 或 .pdf 结尾,--style-by 可选 {list(STYLE_BY)};"
                                        f"收到 {args.out!r}、{args.style_by!r}。")
    ws = Workspace.open(args.workspace, readonly=True)
    place, focus = None, None
    if args.township or args.park:
        key, value = ("code", args.township) if args.township else ("park_id", args.park)
        names = ("townships",) if args.township else ("industrial_parks", "micro_parks")
        frames = [ws.read(n) for n in names if ws.has_layer(n)]
        hit = _concat([f[f[key].astype(str) == value] for f in frames])
        if hit is None or not len(hit):
            raise ParameterError(f"No {key} {value!r} in {ws.path.name}.", message_zh=f"{ws.path.name} 中没有 {value!r}。")
        focus, place = hit.to_crs(4326), "、".join(hit["name"].astype(str))
        w, s, e, n = focus.total_bounds
        pad = max(e - w, n - s) * 0.08
        bounds = (w - pad, s - pad, e + pad, n + pad)
    elif args.bbox:
        bounds = tuple(float(v) for v in args.bbox.split(","))
    else:
        frames = [ws.read(n, columns=[]) for n in ("plots", "industrial_parks", "micro_parks") if ws.has_layer(n)]
        bounds = tuple(gpd.GeoSeries(_concat(frames).geometry).to_crs(4326).total_bounds)
    blob = map_image(ws, bounds=bounds, layers=[x for x in args.layers.split(",") if x], style_by=args.style_by,
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


COMMANDS = {
    "sample": (_add_sample, cmd_sample),
    "evaluate": (_add_evaluate, cmd_evaluate),
    "site": (_add_site, cmd_site),
    "integrate": (_add_integrate, cmd_integrate),
    "shortlist": (_add_shortlist, cmd_shortlist),
    "export": (_add_export, cmd_export),
    "import": (_add_import, cmd_import),
    "map": (_add_map, cmd_map),
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
