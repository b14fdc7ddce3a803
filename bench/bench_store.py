"""Benchmark of the workspace store: what one edit and one stored run cost, by workspace size and backend.

Side by side in one run:

- **edit**: one shortlist status change (read the list, check, write the changed row, history,
  audit) — the new store on a GeoPackage and on PostGIS, against the previous mechanism
  (copy the whole file, write the shortlist and history layers into the copy with GDAL,
  integrity check, fsync, rename: ``baseline``), which is reproduced here from the old code;
- **run**: storing one analysis run's result layers plus its ``runs`` row;
- **writers**: four processes making shortlist edits at once (edits per second, all kept).

Workspaces (built under ``data/bench/`` when missing): the bundled sample (~9 MiB), 100k plots
(~60 MiB) and 100k plots with three stored runs (~450 MiB).  PostGIS runs against a server
started here on a Unix socket (Debian's postgresql + postgresql-postgis, as the tests do).

    python bench/bench_store.py                    # all sizes, both backends, baseline
    python bench/bench_store.py --sizes sample     # quick
    python bench/bench_store.py --repeat 20 --no-postgis

Times are medians over ``--repeat`` edits (the first, warm-up, not counted).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import geo  # noqa: E402,F401
from layers import runs, shortlist  # noqa: E402
from layers.access import SYSTEM, Actor  # noqa: E402
from layers.store import open_workspace  # noqa: E402

BENCH = ROOT / "data" / "bench"
PLANNER = Actor("bench", "planner")


# --- workspaces ---------------------------------------------------------------------------------------
def _build(size: str) -> Path:
    """The GeoPackage of a size (built once): sample | 100k | 100k_runs."""
    if size == "sample":
        return ROOT / "data" / "ruian" / "ruian.gpkg"
    BENCH.mkdir(parents=True, exist_ok=True)
    base = BENCH / "store_100k.gpkg"
    if not base.exists():
        from analysis import pipeline
        from layers import sample

        print(f"building {base} (100k plots and their analysis run) …", flush=True)
        sample.build_workspace(base, n_plots=100_000, rasters=False)
        pipeline.run(open_workspace(base, readonly=False), "ruian_default", run_id="b1", actor=SYSTEM)
    if size == "100k":
        return base
    path = BENCH / "store_100k_runs.gpkg"
    if not path.exists():
        print(f"building {path} (100k plots + 3 runs) …", flush=True)
        shutil.copyfile(base, path)
        ws = open_workspace(path, readonly=False)
        frames = runs.load_run(ws, "chain", "b1")
        for extra in ("b2", "b3"):
            runs.store_run(ws, kind="chain", frames=frames, actor=SYSTEM, run_id=extra, preset="ruian_default")
    return path


def _mib(path: Path) -> float:
    return path.stat().st_size / 2**20


def _copy(src: Path, tmp: Path) -> Path:
    """A GeoPackage workspace copied into ``tmp`` with its rasters folder (``NAME.gpkg.rasters``)."""
    dst = tmp / src.name
    shutil.copyfile(src, dst)
    rasters = src.with_name(src.name + ".rasters")
    if rasters.is_dir():
        shutil.copytree(rasters, dst.with_name(dst.name + ".rasters"))
    return dst


# --- the previous mechanism (copy → GDAL write → integrity → fsync → rename), for the side-by-side -----------
def _baseline_edit(path: Path, items, history) -> None:
    import pyogrio

    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp.gpkg", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        shutil.copyfile(path, tmp)
        pyogrio.write_dataframe(items, tmp, layer="bench_shortlist", driver="GPKG", layer_options={"OVERWRITE": "YES"})
        pyogrio.write_dataframe(history, tmp, layer="bench_history", driver="GPKG",
                                layer_options={"OVERWRITE": "YES", "ASPATIAL_VARIANT": "GPKG_ATTRIBUTES"})
        con = sqlite3.connect(f"file:{tmp}?mode=ro", uri=True)
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        con.close()
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _baseline_run(path: Path, frames: dict) -> None:
    import pyogrio

    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp.gpkg", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        shutil.copyfile(path, tmp)
        for name, frame in frames.items():
            spatial = hasattr(frame, "geometry") and getattr(frame, "_geometry_column_name", None) in frame.columns
            opts = {"OVERWRITE": "YES", **({"SPATIAL_INDEX": "YES"} if spatial else {"ASPATIAL_VARIANT": "GPKG_ATTRIBUTES"})}
            pyogrio.write_dataframe(frame, tmp, layer=f"bench_{name}", driver="GPKG", layer_options=opts)
        con = sqlite3.connect(f"file:{tmp}?mode=ro", uri=True)
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        con.close()
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


# --- measurements ------------------------------------------------------------------------------------------
def _median_ms(fn, repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def _edits(ws):
    """A callable that moves one shortlist entry one status step (forth and back) per call."""
    shortlist.add(ws, ws.read("plots", columns=["plot_id"])["plot_id"].head(20).tolist(), kind="plot", actor=PLANNER,
                  on_duplicate="skip")
    entry = shortlist.load(ws)["entry_id"].iloc[0]
    calls = {"n": 0}

    def edit():
        calls["n"] += 1
        target, reason = ("已核实", "") if calls["n"] % 2 else ("候选", "bench: back")
        shortlist.update(ws, entry, actor=PLANNER, status=target, reason=reason)

    return edit


def _run_frames(ws) -> dict:
    ids = [r for r in runs.list_runs(ws, "chain")["run_id"]]
    return runs.load_run(ws, "chain", ids[-1])


def bench_size(size: str, *, repeat: int, pg_dsn: str | None, baseline: bool) -> list[dict]:
    src = _build(size)
    rows = []
    with tempfile.TemporaryDirectory(dir=BENCH if BENCH.exists() else None) as tmp:
        path = _copy(src, Path(tmp))
        ws = open_workspace(path, readonly=False)
        frames = _run_frames(ws)
        n_rows = sum(len(f) for f in frames.values())
        targets = [("gpkg", ws)]
        if pg_dsn:
            from layers.store.copy import copy_workspace

            loc = f"{pg_dsn} schema=bench_{size}"
            t0 = time.perf_counter()
            copy_workspace(path, loc, overwrite=True, verify=False)
            print(f"  (copied {size} into PostGIS in {time.perf_counter() - t0:.1f} s)", flush=True)
            targets.append(("postgis", open_workspace(loc, readonly=False)))
        for backend, w in targets:
            edit_ms = _median_ms(_edits(w), repeat)
            t0 = time.perf_counter()
            runs.store_run(w, kind="chain", frames=frames, actor=SYSTEM, preset="bench")
            run_s = time.perf_counter() - t0
            rows.append({"size": size, "MiB": _mib(path), "backend": backend, "edit_ms": edit_ms, "run_s": run_s,
                         "run_rows": n_rows})
        if baseline:
            items = shortlist.load(ws)
            hist = shortlist.history(ws)
            edit_ms = _median_ms(lambda: _baseline_edit(path, items, hist), max(3, repeat // 4))
            t0 = time.perf_counter()
            _baseline_run(path, frames)
            rows.append({"size": size, "MiB": _mib(path), "backend": "baseline (copy+rename)", "edit_ms": edit_ms,
                         "run_s": time.perf_counter() - t0, "run_rows": n_rows})
    return rows


WRITER = textwrap.dedent(r"""
    import sys, time
    sys.path.insert(0, {root!r})
    import geo
    from layers import shortlist
    from layers.access import Actor
    from layers.store import open_workspace
    ws = open_workspace(sys.argv[1], readonly=False)
    me, entry, n = Actor(f"w{{sys.argv[2]}}", "planner"), sys.argv[3], int(sys.argv[4])
    t0 = time.perf_counter()
    for i in range(n):
        shortlist.update(ws, entry, actor=me, notes=f"{{sys.argv[2]}}-{{i}}")
    print(time.perf_counter() - t0)
""")


def bench_writers(location: str, backend: str, *, n: int = 25, processes: int = 4) -> dict:
    ws = open_workspace(location, readonly=False)
    items = shortlist.load(ws)
    if len(items) < processes:
        shortlist.add(ws, ws.read("plots", columns=["plot_id"])["plot_id"].head(processes).tolist(), kind="plot",
                      actor=PLANNER, on_duplicate="skip")
        items = shortlist.load(ws)
    before = len(shortlist.history(ws))
    code = WRITER.format(root=str(ROOT))
    t0 = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", code, location, str(i), items["entry_id"].iloc[i], str(n)],
                              stdout=subprocess.PIPE) for i in range(processes)]
    for p in procs:
        p.communicate()
    wall = time.perf_counter() - t0
    kept = len(shortlist.history(ws)) - before
    return {"backend": backend, "processes": processes, "edits": processes * n, "kept": kept, "wall_s": wall,
            "edits_per_s": processes * n / wall}


@contextlib.contextmanager
def postgres():
    """A throw-away PostgreSQL + PostGIS server on a Unix socket (None if the binaries are missing)."""
    import glob

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        yield None
        return
    bindir = Path(found[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    run_as = (["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else [])
    for d in (root / "data", root / "sock"):
        d.mkdir()
    if os.geteuid() == 0:
        for d in (root, root / "data", root / "sock"):
            shutil.chown(d, "postgres")
    subprocess.run(run_as + [str(bindir / "initdb"), "-D", str(root / "data"), "-U", "postgres", "-A", "trust"],
                   check=True, capture_output=True)
    subprocess.run(run_as + [str(bindir / "pg_ctl"), "-D", str(root / "data"), "-w", "-l", str(root / "log"), "start", "-o",
                             f"-c listen_addresses='' -k {root / 'sock'} -p 54399"], check=True, capture_output=True)
    try:
        subprocess.run(run_as + [str(bindir / "createdb"), "-h", str(root / "sock"), "-p", "54399", "-U", "postgres",
                                 "bench"], check=True, capture_output=True)
        yield f"host={root / 'sock'} port=54399 dbname=bench user=postgres"
    finally:
        subprocess.run(run_as + [str(bindir / "pg_ctl"), "-D", str(root / "data"), "-m", "fast", "stop"],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["sample", "100k", "100k_runs"], choices=["sample", "100k", "100k_runs"])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--no-postgis", action="store_true")
    ap.add_argument("--no-baseline", action="store_true")
    args = ap.parse_args(argv)
    print(f"load average before: {os.getloadavg()[0]:.2f} (2 cores)")
    with (contextlib.nullcontext(None) if args.no_postgis else postgres()) as dsn:
        rows = []
        for size in args.sizes:
            rows += bench_size(size, repeat=args.repeat, pg_dsn=dsn, baseline=not args.no_baseline)
        print(f"\n{'size':10s} {'MiB':>7s}  {'backend':24s} {'edit (ms)':>10s} {'run store (s)':>14s} {'run rows':>9s}")
        for r in rows:
            print(f"{r['size']:10s} {r['MiB']:7.1f}  {r['backend']:24s} {r['edit_ms']:10.1f} {r['run_s']:14.2f} "
                  f"{r['run_rows']:9d}")
        for size in args.sizes:
            new = next(r for r in rows if r["size"] == size and r["backend"] == "gpkg")
            old = next((r for r in rows if r["size"] == size and r["backend"].startswith("baseline")), None)
            if old:
                print(f"  {size}: edit {old['edit_ms'] / new['edit_ms']:.1f}× faster than copy-and-rename, "
                      f"run store {old['run_s'] / new['run_s']:.1f}×")
        print(f"\n{'backend':10s} {'processes':>9s} {'edits':>6s} {'kept':>5s} {'wall (s)':>9s} {'edits/s':>8s}")
        with tempfile.TemporaryDirectory() as tmp:
            path = _copy(_build("sample"), Path(tmp))
            locations = [("gpkg", str(path))]
            if dsn:
                from layers.store.copy import copy_workspace

                copy_workspace(path, f"{dsn} schema=bench_writers", overwrite=True, verify=False)
                locations.append(("postgis", f"{dsn} schema=bench_writers"))
            for backend, loc in locations:
                r = bench_writers(loc, backend)
                print(f"{r['backend']:10s} {r['processes']:9d} {r['edits']:6d} {r['kept']:5d} {r['wall_s']:9.2f} "
                      f"{r['edits_per_s']:8.1f}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
