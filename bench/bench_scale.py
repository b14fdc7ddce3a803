"""Single-process run_chain against the partitioned chain on a dask.distributed LocalCluster.

    python bench/bench_scale.py                          # 100k plots (≈ 1–2 min)
    python bench/bench_scale.py --sizes 10000 100000
    python bench/bench_scale.py --with-1m                # adds 1M plots (several minutes, > 10 GB peak)
    python bench/bench_scale.py --source sample          # layers.sample.generate instead (100k ≈ 16 s more)

Each size runs in its own subprocess.  Peak memory is sampled every 0.1 s with psutil as the
summed RSS of the process and its children (the cluster's worker processes), per phase.
The distributed time includes scattering the partitions and gathering the results;
cluster start-up and worker warm-up (importing the analysis modules) are printed apart.
The two results are compared (frames and counts); times are printed, never asserted.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pandas as pd  # noqa: E402

import geo  # noqa: E402,F401  (GDAL safety settings first)
from bench._memory import PeakRSS  # noqa: E402

STAGES = ("per_mu", "low_efficiency", "redevelopment", "parks")


def _warm():
    import analysis.low_efficiency  # noqa: F401
    import analysis.redevelopment  # noqa: F401
    import geo.raster  # noqa: F401
    return True


def same(a, b) -> bool:
    if set(a.frames) != set(b.frames) or a.counts != b.counts:
        return False
    for k in a.frames:
        try:
            pd.testing.assert_frame_equal(a.frames[k], b.frames[k], check_exact=True)
        except AssertionError:
            return False
    return True


def one(n: int, seed: int, source: str, preset: str, rasters_on: bool, npartitions: int | None, workers: int) -> dict:
    import bench_pipeline as bp

    from analysis import pipeline
    from analysis.params import load_preset
    from scale.partitioned import local_client, run_chain_distributed

    params = load_preset(preset)
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        maker = bp.sample_layers if source == "sample" else bp.synthetic
        layers, rasters = maker(n, seed, Path(tmp) / "rasters")
        rasters = rasters if rasters_on else None
        out.update(plots=len(layers["plots"]), firms=len(layers["enterprises"]),
                   generate_s=round(time.perf_counter() - t0, 1))
        with PeakRSS() as mem:
            t0 = time.perf_counter()
            single = pipeline.run_chain(layers, params, rasters=rasters, as_of=bp.AS_OF)
            out["single_s"] = time.perf_counter() - t0
        out["single_stages"] = single.timings
        out["single_peak_mb"] = mem.peak / 2**20
        with PeakRSS() as mem:
            t0 = time.perf_counter()
            with local_client(n_workers=workers, threads_per_worker=1) as client:
                out["cluster_start_s"] = time.perf_counter() - t0
                t0 = time.perf_counter()
                client.run(_warm)
                out["warm_s"] = time.perf_counter() - t0
                t0 = time.perf_counter()
                dist = run_chain_distributed(layers, params, rasters=rasters, as_of=bp.AS_OF, client=client,
                                             npartitions=npartitions)
                out["dist_s"] = time.perf_counter() - t0
                out["npartitions"] = npartitions or 2 * sum(client.nthreads().values())
        out["dist_stages"] = dist.timings
        out["dist_peak_mb"] = mem.peak / 2**20
        out["same"] = same(single, dist)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    ap.add_argument("--with-1m", action="store_true", help="also run 1,000,000 plots (minutes; > 10 GB peak)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--preset", default="ruian_default")
    ap.add_argument("--source", choices=("synthetic", "sample"), default="synthetic")
    ap.add_argument("--no-rasters", action="store_true", help="skip the slope/flood zonal statistics")
    ap.add_argument("--npartitions", type=int, help="default 2 × worker threads")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        r = one(args.one, args.seed, args.source, args.preset, not args.no_rasters, args.npartitions, args.workers)
        print(json.dumps(r, default=str))
        return
    sizes = sorted(set(args.sizes + ([1_000_000] if args.with_1m else [])))
    print(f"cores: {os.cpu_count()}  load avg (1 min): {os.getloadavg()[0]:.1f}  workers: {args.workers} × 1 thread  "
          f"rasters: {'no' if args.no_rasters else 'yes'}  source: {args.source}")
    for n in sizes:
        cmd = [sys.executable, __file__, "--one", str(n), "--seed", str(args.seed), "--preset", args.preset,
               "--source", args.source, "--workers", str(args.workers)]
        if args.no_rasters:
            cmd.append("--no-rasters")
        if args.npartitions:
            cmd += ["--npartitions", str(args.npartitions)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        if proc.returncode != 0:
            print(f"{n:>9} failed:\n{proc.stderr[-2000:]}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"\n{r['plots']} plots, {r['firms']} firms (generated in {r['generate_s']} s); "
              f"{r['npartitions']} partitions; cluster start {r['cluster_start_s']:.1f} s, warm-up {r['warm_s']:.1f} s "
              "(not in the distributed total)")
        print(f"  {'stage':<16} {'single s':>9} {'distributed s':>14} {'single/dist':>12}")
        for s in STAGES:
            a, b = r["single_stages"][s], r["dist_stages"][s]
            print(f"  {s:<16} {a:>9.2f} {b:>14.2f} {a / max(b, 1e-9):>11.2f}×")
        print(f"  {'chain':<16} {r['single_s']:>9.2f} {r['dist_s']:>14.2f} {r['single_s'] / r['dist_s']:>11.2f}×")
        print(f"  {'peak RSS MB':<16} {r['single_peak_mb']:>9.0f} {r['dist_peak_mb']:>14.0f} "
              f"{r['single_peak_mb'] / r['dist_peak_mb']:>11.2f}×   (distributed = client + workers)")
        print(f"  same result (every frame exact, counts): {'yes' if r['same'] else 'NO'}", flush=True)


if __name__ == "__main__":
    main()
