"""The analysis chain at scale: times per stage and peak memory (printed, never asserted).

    python bench/bench_pipeline.py                       # 10k and 100k; 1M only if predicted ≤ 5 min
    python bench/bench_pipeline.py --sizes 10000 --baseline-only
    python bench/bench_pipeline.py --sizes 10000 100000 1000000 --force-1m
    python bench/bench_pipeline.py --sizes 100000 1000000 --force-1m --no-baseline --baseline-root /work/main

``--baseline-root DIR`` runs every size a second time with another checkout's analysis code (e.g.
main before a change) on the same synthetic data, alternating the two runs, and prints the stages
side by side with the ratios baseline ÷ this checkout (``--repeat N`` keeps the fastest of N runs
of each).  Timings on a shared machine: take them under ``flock /tmp/planner-heavy.lock``.

Each size runs in its own subprocess so the peak RSS (``resource.getrusage``, which also
counts GEOS/GDAL memory that ``tracemalloc`` cannot see) belongs to that size alone.

Data: a vectorised synthetic county built here (a grid of plots in blocks separated by
roads, parks as macro-tiles, ~0.8 firms per plot with tenants, constraint rectangles, roads
and points, 100 m slope/flood rasters), because ``layers.sample.generate`` takes more than
ten minutes at 100k plots at the time of writing.  ``--source sample`` uses the lead's
generator instead (fine at 10k).

On the smallest size the script also prints, side by side, each vectorised step against a
naive baseline on the same data: row-wise ``DataFrame.apply`` for the scores and rules,
per-feature Python loops for distances, constraint shares and clusters, and per-feature
zonal statistics (``rasterio.mask`` per plot).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
if "--code-root" in sys.argv:       # a child measuring another checkout: its packages first (data made here)
    sys.path.insert(0, sys.argv[sys.argv.index("--code-root") + 1])

import geopandas as gpd  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import shapely  # noqa: E402

import geo  # noqa: E402,F401  (GDAL safety settings first)

CRS = "EPSG:4549"
AS_OF = pd.Timestamp("2026-06-30")
INDUSTRIES = np.array(["3670", "3360", "1713", "3311", "3484", "2929", "3832", "3964", "1810", "2110", "4220",
                       "2614", "3130", "3511", "5810"])
IND_P = np.array([14, 5, 4, 10, 10, 9, 9, 6, 7, 5, 3, 4, 4, 6, 4], dtype=float)


# --- synthetic county ---------------------------------------------------------------------
def synthetic(n: int, seed: int, raster_dir: Path) -> tuple[dict[str, gpd.GeoDataFrame], dict[str, Path]]:
    """A county of ``n`` plots (≈ 0.8 n firms), every column the analyses read, and rasters."""
    from rasterio.transform import from_origin

    from geo.raster import write_geotiff
    from geo.units import M2_PER_MU

    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n)))
    k = np.arange(n)
    row, col = k // side, k % side
    cell, road = 90.0, 20.0                      # 4 × 4 cells per block, 20 m roads between blocks
    x0 = 400_000 + col * cell + (col // 4) * road
    y0 = 3_000_000 + row * cell + (row // 4) * road
    w = rng.uniform(55, 88, n)
    h = rng.uniform(55, 88, n)
    geoms = shapely.box(x0, y0, x0 + w, y0 + h)
    area = w * h
    status = rng.choice(["in_use", "halted", "idle", "under_construction"], n, p=[0.85, 0.06, 0.04, 0.05])
    far = np.round(rng.lognormal(0.05, 0.45, n), 2)
    far[status == "idle"] = 0.0
    ind = rng.choice(INDUSTRIES, n, p=IND_P / IND_P.sum())
    tile = (row // 40) * 1000 + col // 40          # macro tiles of 40 × 40 plots
    tiles = np.unique(tile)
    kind = rng.choice(["industrial", "micro", "none"], len(tiles), p=[0.45, 0.05, 0.50])
    tile_kind = dict(zip(tiles, kind))
    pk = np.array([tile_kind[t] for t in tiles])[np.searchsorted(tiles, tile)]
    park_id = np.where(pk == "industrial", "IP" + tile.astype(str), np.where(pk == "micro", "MP" + tile.astype(str), None))
    halted_since = np.where(status == "halted", AS_OF - pd.to_timedelta(rng.uniform(0, 3 * 365, n), unit="D"), pd.NaT)
    contract = AS_OF - pd.to_timedelta(rng.uniform(-365, 4 * 365, n), unit="D")
    built = status != "under_construction"
    plots = gpd.GeoDataFrame({
        "plot_id": pd.Series(np.char.add("P", np.char.zfill(k.astype(str), 7)), dtype="string"),
        "land_use": pd.Series(rng.choice(["0601", "0604"], n, p=[0.95, 0.05]), dtype="string"),
        "area_m2": area, "far": far, "floor_area_m2": far * area,
        "building_coverage": np.round(rng.uniform(0.2, 0.7, n), 2),
        "build_year": rng.integers(1990, 2025, n),
        "status": pd.Series(status, dtype="string"),
        "halted_since": pd.to_datetime(pd.Series(halted_since)),
        "contract_completion_date": pd.to_datetime(pd.Series(contract)),
        "completion_date": pd.to_datetime(pd.Series(np.where(built, contract, pd.NaT))),
        "industry_code": pd.Series(ind, dtype="string"),
        "township_code": pd.Series(np.char.add("3303810", np.char.zfill(((row * 5 // side) * 5 + col * 5 // side)
                                                                       .astype(str), 2)), dtype="string"),
        "park_id": pd.Series(park_id, dtype="string"),
    }, geometry=geoms, crs=CRS)

    # parks: one rectangle per park tile
    tk = np.array([t for t in tiles if tile_kind[t] != "none"])
    tr, tc = tk // 1000, tk % 1000
    bx0 = 400_000 + tc * 40 * cell + (tc * 10) * road
    by0 = 3_000_000 + tr * 40 * cell + (tr * 10) * road
    size = 40 * cell + 10 * road
    is_micro = np.array([tile_kind[t] == "micro" for t in tk])
    pgeom = shapely.box(bx0, by0, bx0 + size, by0 + size)
    lead = rng.choice(["36", "33,34", "3360", "38", "17"], len(tk))
    ip = gpd.GeoDataFrame({"park_id": "IP" + tk[~is_micro].astype(str), "name": "园区" + tk[~is_micro].astype(str),
                           "leading_industries": lead[~is_micro], "allows_polluting": rng.random((~is_micro).sum()) < 0.3},
                          geometry=pgeom[~is_micro], crs=CRS)
    mp = gpd.GeoDataFrame({"park_id": "MP" + tk[is_micro].astype(str), "name": "小微园" + tk[is_micro].astype(str),
                           "status": "operating", "leading_industry": pd.Series(lead[is_micro], dtype="string").str.split(",").str[0],
                           "allows_polluting": False}, geometry=pgeom[is_micro], crs=CRS)

    # firms: one holder on ~70 % of plots, tenants up to 0.8 n
    n_firms = int(0.8 * n)
    holder_plots = k[(status != "idle") & (rng.random(n) < 0.72)][: n_firms]
    n_hold = len(holder_plots)
    tenant_plots = rng.choice(holder_plots, n_firms - n_hold) if n_firms > n_hold else np.zeros(0, dtype=int)
    fplot = np.concatenate([holder_plots, tenant_plots])
    m = len(fplot)
    is_holder = np.arange(m) < n_hold
    codes = np.char.add("91330381", np.char.zfill(np.arange(m).astype(str), 10))
    holder_code = pd.Series(codes[:n_hold], index=holder_plots)
    tax = rng.lognormal(2.5, 1.2, m) * np.where(is_holder, area[fplot] / M2_PER_MU, 1.0)
    va = tax * rng.uniform(3, 6, m)
    emis = rng.lognormal(0, 1, m)
    emis[rng.random(m) < 0.1] = np.nan
    ent = gpd.GeoDataFrame({
        "credit_code": pd.Series(codes, dtype="string"), "name": pd.Series(np.char.add("企业", codes), dtype="string"),
        "industry_code": pd.Series(np.where(is_holder, ind[fplot], rng.choice(INDUSTRIES, m, p=IND_P / IND_P.sum())),
                                   dtype="string"),
        "above_scale": pd.array(rng.random(m) < 0.4, dtype="boolean"),
        "is_land_holder": pd.array(is_holder, dtype="boolean"),
        "land_holder": pd.Series(np.where(is_holder, None, holder_code.reindex(fplot).to_numpy(dtype=object)),
                                 dtype="string"),
        "plot_id": plots["plot_id"].to_numpy()[fplot],
        "land_area_m2": np.where(is_holder, area[fplot], np.nan),
        "tax_10k": tax, "value_added_10k": va, "revenue_10k": va * rng.uniform(2, 4, m),
        "employees": pd.array(rng.integers(5, 400, m), dtype="Int64"), "energy_tce": va / rng.uniform(1, 5, m),
        "electricity_10k_kwh": tax / rng.uniform(0.1, 0.5, m), "emissions_t": emis,
        "rd_10k": va * rng.uniform(0, 0.06, m), "year": 2025,
        "producing": pd.array(rng.random(m) < 0.97, dtype="boolean"),
        "major_incident": pd.array(rng.random(m) < 0.003, dtype="boolean"),
        "township_code": plots["township_code"].to_numpy()[fplot],
    }, geometry=shapely.centroid(geoms[fplot]), crs=CRS)

    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    ext_w, ext_h = maxx - minx, maxy - miny
    nc = max(12, int(np.sqrt(n) / 4))
    ckind = rng.choice(["ecological_red_line", "basic_farmland", "water_source", "river_corridor", "flood_zone",
                        "residential"], nc)
    cx, cy = rng.uniform(minx, maxx, nc), rng.uniform(miny, maxy, nc)
    cs = rng.uniform(200, 1500, nc)
    cons = gpd.GeoDataFrame({"constraint_id": [f"C{i}" for i in range(nc)], "kind": ckind},
                            geometry=shapely.box(cx, cy, cx + cs, cy + cs), crs=CRS)
    lines, lkind = [], []
    for i, kk in enumerate(["expressway", "national_road", "provincial_road"]):
        for f in np.linspace(0.2 + 0.1 * i, 0.9, 3):
            lines.append(shapely.LineString([(minx, miny + f * ext_h), (maxx, miny + f * ext_h * 0.9)]))
            lines.append(shapely.LineString([(minx + f * ext_w, miny), (minx + f * ext_w * 0.95, maxy)]))
            lkind += [kk, kk]
    pts = shapely.points(rng.uniform(minx, maxx, 12), rng.uniform(miny, maxy, 12))
    pkind = ["logistics_centre"] * 6 + ["port"] * 2 + ["rail_station"] * 4
    infra = gpd.GeoDataFrame({"feature_id": [f"I{i}" for i in range(len(lines) + 12)], "kind": lkind + pkind},
                             geometry=list(lines) + list(pts), crs=CRS)

    res = 100.0
    wpx, hpx = int(np.ceil(ext_w / res)) + 2, int(np.ceil(ext_h / res)) + 2
    tf = from_origin(minx - res, maxy + res, res, res)
    cc, rr = np.meshgrid(np.arange(wpx), np.arange(hpx))
    slope = (6 + 5 * np.sin(cc / 37.0) * np.cos(rr / 23.0)).astype("float32")
    flood = np.clip(1.5 * np.sin(cc / 53.0 + rr / 71.0), 0, None).astype("float32")
    raster_dir.mkdir(parents=True, exist_ok=True)
    rasters = {"slope": write_geotiff(raster_dir / "slope.tif", slope, tf, CRS, -9999.0),
               "flood_depth": write_geotiff(raster_dir / "flood_depth.tif", flood, tf, CRS, -9999.0)}
    layers = {"plots": plots, "enterprises": ent, "industrial_parks": ip, "micro_parks": mp, "constraints": cons,
              "infrastructure": infra}
    return layers, rasters


def sample_layers(n: int, seed: int, raster_dir: Path):
    from layers import sample

    layers = sample.generate(n_plots=n, seed=seed)
    return layers, sample.make_rasters(layers, raster_dir, seed=seed)


# --- naive baselines (10k) ----------------------------------------------------------------
def naive_scores(ents: pd.DataFrame, params) -> pd.Series:
    """Row-wise apply: Σ value ÷ benchmark × weight with the preset's constant benchmarks."""
    from analysis.params import ABOVE_INDICATORS, BELOW_INDICATORS
    from geo.units import M2_PER_MU

    def score(r):
        group = params.above_scale if r["above_scale"] else params.below_scale
        cat = ABOVE_INDICATORS if r["above_scale"] else BELOW_INDICATORS
        total = 0.0
        for ind in group.indicators:
            num, den, _ = cat[ind.key]
            d = r["land_area_m2"] / M2_PER_MU if den == "land_mu" else r[den]
            if d and d == d and r[num] == r[num]:
                total += r[num] / d / ind.benchmark * ind.weight
        return total

    return ents.apply(score, axis=1)


def naive_rules(plots: pd.DataFrame, params) -> pd.Series:
    far_min = params.far_min_for()

    def rules(r):
        out = []
        fm = far_min.get(str(r["industry_code"])[:2])
        if fm is not None and r["far"] < fm:
            out.append(f"FAR {r['far']:.2f} < {fm:.2f}")
        if r["building_coverage"] < params.coverage_min:
            out.append("coverage")
        if r["status"] == "halted" and pd.notna(r["halted_since"]) and (AS_OF - r["halted_since"]).days / 365.25 >= 1:
            out.append("halted")
        if pd.isna(r["park_id"]):
            out.append("scattered")
        return "; ".join(out)

    return plots.apply(rules, axis=1)


def naive_distances(geoms, targets) -> np.ndarray:
    return np.array([min(g.distance(t) for t in targets) for g in geoms])


def naive_shares(geoms, cover) -> np.ndarray:
    out = []
    for g in geoms:
        a = 0.0
        for c in cover:
            if g.intersects(c):
                a += g.intersection(c).area
        out.append(a / g.area)
    return np.array(out)


def naive_zonal(geoms, path) -> np.ndarray:
    import rasterio
    from rasterio.mask import mask

    out = []
    with rasterio.open(path) as ds:
        for g in geoms:
            try:
                arr, _ = mask(ds, [g], crop=True, all_touched=False, filled=False)
                out.append(float(arr.mean()) if arr.count() else np.nan)
            except ValueError:
                out.append(np.nan)
    return np.array(out)


def naive_clusters(geoms, gap) -> np.ndarray:
    tree = shapely.STRtree(geoms)
    parent = list(range(len(geoms)))

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for i, g in enumerate(geoms):
        for j in tree.query(g.buffer(gap)):
            if j != i and g.distance(geoms[j]) <= gap:
                parent[find(i)] = find(j)
    return np.array([find(i) for i in range(len(geoms))])


def baseline(layers, rasters, params) -> list[tuple[str, float, float]]:
    from analysis import low_efficiency, per_mu, redevelopment
    from analysis._common import combine_parks

    def t(fn):
        s = time.perf_counter()
        fn()
        return time.perf_counter() - s

    plots, ents = layers["plots"], layers["enterprises"]
    geoms = plots.geometry.to_numpy()
    roads = layers["infrastructure"].query("kind in ['expressway','national_road','provincial_road']").geometry.to_numpy()
    cover = layers["constraints"].query("kind == 'flood_zone'").geometry.to_numpy()
    parks = combine_parks(layers["industrial_parks"], layers["micro_parks"])
    from analysis.params import load_preset

    hy = load_preset("huangyan_2022").per_mu  # constant benchmarks, so the row-wise version is self-contained
    rows = [
        ("per-mu scores, huangyan (apply vs evaluate)", t(lambda: naive_scores(ents, hy)),
         t(lambda: per_mu.evaluate(ents, hy, plots=plots))),
        ("low-efficiency rules (apply vs assess)", t(lambda: naive_rules(plots, params.low_efficiency)),
         t(lambda: low_efficiency.assess(plots, params.low_efficiency, enterprises=ents, parks=parks, as_of=AS_OF))),
        ("nearest road (loop vs STRtree)", t(lambda: naive_distances(geoms, roads)),
         t(lambda: redevelopment._nearest(geoms, roads))),
        ("flood-zone share (loop vs overlay)", t(lambda: naive_shares(geoms, cover)),
         t(lambda: redevelopment._share_under(geoms, shapely.area(geoms), cover))),
        ("slope mean (rasterio.mask per plot vs exact zonal)", t(lambda: naive_zonal(geoms, rasters["slope"])),
         t(lambda: redevelopment.zonal_stats(plots.geometry, rasters["slope"], "mean"))),
        ("clusters 30 m (loop + union-find vs dwithin + components)", t(lambda: naive_clusters(geoms, 30.0)),
         t(lambda: redevelopment.clusters(geoms, 30.0))),
    ]
    return rows


def exactextract_variants(plots, path) -> list[tuple[str, float]]:
    """exactextract fed a GeoDataFrame (GeoJSON features, feature-sequential: the first version of
    geo.raster.zonal_stats) against geo.raster.zonal_stats today (WKB features, raster-sequential)."""
    from exactextract import exact_extract

    from geo.raster import zonal_stats

    out = []
    s = time.perf_counter()
    exact_extract(str(path), plots[["geometry"]].reset_index(drop=True), ["mean"], output="pandas")
    out.append(("exactextract GeoDataFrame source, feature-sequential", time.perf_counter() - s))
    s = time.perf_counter()
    zonal_stats(path, plots, ["mean"])
    out.append(("geo.raster.zonal_stats (WKB source, raster-sequential)", time.perf_counter() - s))
    return out


# --- one size in this process -------------------------------------------------------------
def one(n: int, seed: int, source: str, do_baseline: bool, baseline_only: bool, preset: str, use_rasters: bool = True) -> dict:
    from analysis import pipeline
    from analysis.params import load_preset

    params = load_preset(preset)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        maker = sample_layers if source == "sample" else synthetic
        layers, rasters = maker(n, seed, Path(tmp) / "rasters")
        t_gen = time.perf_counter() - t0
        result = {"plots": len(layers["plots"]), "firms": len(layers["enterprises"]), "generate_s": round(t_gen, 2)}
        if not baseline_only:
            t0 = time.perf_counter()
            res = pipeline.run_chain(layers, params, rasters=rasters if use_rasters else None, as_of=AS_OF)
            result["chain_s"] = round(time.perf_counter() - t0, 2)
            result["stages"] = {k: round(v, 2) for k, v in res.timings.items()}
            result["counts"] = res.counts
            cand = res.frames["plots"].loc[res.frames["plots"]["candidate"]]
            result["candidates"] = int(len(cand))
            if use_rasters:
                from analysis.redevelopment import zonal_stats

                zt = time.perf_counter()
                zonal_stats(cand.geometry, rasters["slope"], "mean")
                result["zonal_one_raster_s"] = round(time.perf_counter() - zt, 2)
            else:
                result["zonal_one_raster_s"] = float("nan")
        if do_baseline:
            result["baseline"] = baseline(layers, rasters, params)
            result["zonal_variants"] = exactextract_variants(layers["plots"], rasters["slope"])
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return result


def _child(n: int, args, *, naive: bool = False, code_root: str | None = None) -> dict | str:
    """One size in a subprocess (its own peak memory): the result dict, or the error text."""
    cmd = [sys.executable, __file__, "--one", str(n), "--seed", str(args.seed), "--preset", args.preset,
           "--source", args.source]
    if naive:
        cmd.append("--with-baseline")
    if args.baseline_only:
        cmd.append("--baseline-only")
    if args.no_rasters:
        cmd.append("--no-rasters")
    if code_root:
        cmd += ["--code-root", code_root]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if proc.returncode != 0:
        return proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


_STAGES = ("per_mu", "low_efficiency", "redevelopment", "parks")


def _print_row(r: dict) -> None:
    s, c = r["stages"], r["counts"]
    print(f"{r['plots']:>9} {r['firms']:>8} {r['generate_s']:>7.1f} {r['chain_s']:>8.1f} {s['per_mu']:>7.1f} "
          f"{s['low_efficiency']:>7.1f} {s['redevelopment']:>7.1f} {r['zonal_one_raster_s']:>9.1f} "
          f"{s['parks']:>6.1f} {r['peak_rss_mb']:>8.0f}  {c['low_efficiency']} / {c['candidates']} / "
          f"{c['candidate_sites']}", flush=True)


def _print_naive(r: dict) -> None:
    print(f"\n  naive baseline vs vectorised on {r['plots']} plots / {r['firms']} firms (same data):")
    print(f"  {'step':<60} {'naive s':>9} {'ours s':>8} {'ratio':>7}")
    for name, naive, ours in r["baseline"]:
        print(f"  {name:<60} {naive:>9.3f} {ours:>8.3f} {naive / max(ours, 1e-9):>7.1f}×")
    print("  zonal statistics, exact, one raster over all plots (information for geo/raster.py):")
    for name, secs in r["zonal_variants"]:
        print(f"  {name:<60} {secs:>9.3f}")
    print()


def _side_by_side(sizes: list[int], args) -> None:
    """Each size with the baseline checkout's code and this one's, alternating, fastest of ``--repeat``."""
    print(f"baseline: {args.baseline_root}   this: {Path(__file__).resolve().parents[1]}   "
          f"(fastest of {args.repeat}; ratio = baseline ÷ this)")
    cols = ("chain", *_STAGES, "rest")
    print(f"{'plots':>9} {'firms':>8} {'':>5} " + " ".join(f"{c[:8]:>8}" for c in cols) + f" {'peak MB':>8}  same counts")
    for n in sizes:
        best: dict[str, dict] = {}
        for _ in range(args.repeat):
            for who, root in (("baseline", args.baseline_root), ("this", None)):
                r = _child(n, args, code_root=root)
                if isinstance(r, str):
                    print(f"{n:>9} {who} failed:\n{r}")
                    return
                if who not in best or r["chain_s"] < best[who]["chain_s"]:
                    best[who] = r
        times = {}
        for who, r in best.items():
            t = {"chain": r["chain_s"], **{k: r["stages"][k] for k in _STAGES}}
            t["rest"] = t["chain"] - sum(r["stages"][k] for k in _STAGES)
            times[who] = t
            same = "" if who == "baseline" else ("yes" if r["counts"] == best["baseline"]["counts"] else "NO")
            print(f"{r['plots']:>9} {r['firms']:>8} {who[:5]:>5} " + " ".join(f"{t[c]:>8.2f}" for c in cols)
                  + f" {r['peak_rss_mb']:>8.0f}  {same}")
        ratio = {c: times["baseline"][c] / max(times["this"][c], 1e-9) for c in cols}
        print(f"{'':>9} {'':>8} {'ratio':>5} " + " ".join(f"{ratio[c]:>7.2f}×" for c in cols), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--preset", default="ruian_default")
    ap.add_argument("--source", choices=("synthetic", "sample"), default="synthetic")
    ap.add_argument("--force-1m", action="store_true", help="run sizes ≥ 1M even when predicted to exceed 5 minutes")
    ap.add_argument("--no-baseline", action="store_true", help="skip the naive baseline on the smallest size")
    ap.add_argument("--baseline-only", action="store_true", help="only the naive-vs-vectorised comparison")
    ap.add_argument("--no-rasters", action="store_true",
                    help="run the chain without slope/flood rasters (zonal statistics skipped; criteria listed as missing)")
    ap.add_argument("--baseline-root", help="another checkout whose analysis code runs the same sizes, side by side")
    ap.add_argument("--repeat", type=int, default=1, help="with --baseline-root: runs of each, the fastest kept")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--with-baseline", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--code-root", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.seed, args.source, args.with_baseline, args.baseline_only, args.preset,
                             not args.no_rasters),
                         ensure_ascii=False, default=str))
        return
    sizes = sorted(args.sizes)
    if args.baseline_root:
        _side_by_side(sizes, args)
        return
    print(f"{'plots':>9} {'firms':>8} {'gen s':>7} {'chain s':>8} {'per_mu':>7} {'low_eff':>7} {'redev':>7} "
          f"{'(zonal×1)':>9} {'parks':>6} {'peak MB':>8}  low-eff / candidates / clusters ≥50亩")
    per_plot = None
    for i, n in enumerate(sizes):
        if n >= 1_000_000 and per_plot is not None and not args.force_1m:
            predicted = per_plot * n
            if predicted > 300:
                print(f"{n:>9} skipped: predicted {predicted:.0f} s from the previous size (> 5 min); "
                      "pass --force-1m to run it")
                continue
        r = _child(n, args, naive=i == 0 and not args.no_baseline)
        if isinstance(r, str):
            print(f"{n:>9} failed:\n{r}")
            continue
        if "chain_s" in r:
            _print_row(r)
            per_plot = r["chain_s"] / r["plots"]
        if "baseline" in r:
            _print_naive(r)


if __name__ == "__main__":
    main()
