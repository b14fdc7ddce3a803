"""Benchmark of the shortlist store and its exports: prints sizes and times (asserts nothing).

    .venv/bin/python bench/bench_exports.py [--items 500] [--repeat 1]

On a temporary copy of the sample workspace (data/ruian/ruian.gpkg, never modified):
1. store: add N plots in one call, change one status, reorder one entry, load — each is
   a full atomic write of shortlist + history;
2. exports of the whole shortlist in every format, and of the largest township, with
   output size; the first call of each format (module imports, fonts) is shown apart.  The
   PDF draws an index map per township and a small map per item (issue 12): its time grows
   with the number of items (about 35 ms per item map on the reference machine).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import geo  # noqa: E402,F401  (GDAL safety settings first)
from exports import FORMATS, export_shortlist, meta_for  # noqa: E402
from layers import shortlist as sl  # noqa: E402
from layers.workspace import Workspace  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "ruian" / "ruian.gpkg"


def _timed(fn, repeat: int = 1):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=500, help="shortlist size (default %(default)s)")
    ap.add_argument("--repeat", type=int, default=1, help="best of N runs per export (default %(default)s)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_exports_") as tmp:
        path = Path(tmp) / "ruian.gpkg"
        shutil.copyfile(SAMPLE, path)
        ws = Workspace.open(path, readonly=False)
        plots = ws.read("plots", columns=["plot_id", "township_code", "land_holder"])
        rng = np.random.default_rng(0)
        picked = plots.iloc[np.sort(rng.choice(len(plots), size=min(args.items, len(plots)), replace=False))].copy()
        picked["reasons_zh"] = rng.choice(["容积率低于行业控制指标", "停产半停产;亩均税收低于绝对标准",
                                           "零散分布于园区外", "超期未竣工"], size=len(picked))
        picked["score"] = rng.uniform(20, 90, size=len(picked)).round(2)
        print(f"sample {SAMPLE.name}: {len(plots)} plots; shortlist of {len(picked)} plots")
        print("\nstore (each change = one atomic write of shortlist + history)")
        t, _ = _timed(lambda: sl.add(ws, picked, kind="plot", who="bench"))
        print(f"  add {len(picked):>5} plots           {t * 1000:8.0f} ms")
        ids = list(sl.load(ws)["entry_id"])
        t, _ = _timed(lambda: sl.set_status(ws, ids[: len(ids) // 3], "已核实", who="bench"))
        print(f"  set_status {len(ids) // 3:>4} entries   {t * 1000:8.0f} ms")
        t, _ = _timed(lambda: sl.update(ws, ids[0], who="bench", notes="现场核实"))
        print(f"  update one entry          {t * 1000:8.0f} ms")
        t, _ = _timed(lambda: sl.move(ws, ids[-1], 1, who="bench"))
        print(f"  move last → 1 ({len(ids)} ranks) {t * 1000:6.0f} ms")
        t, items = _timed(lambda: sl.load(ws), args.repeat)
        print(f"  load                      {t * 1000:8.0f} ms   ({len(sl.history(ws))} history rows)")
        meta = meta_for(ws, maps=True)  # names, outlines and the map context, as the app and the CLI use it
        biggest = items["township_code"].value_counts().index[0]
        n_big = int((items["township_code"] == biggest).sum())
        n_towns = items["township_code"].nunique()
        print(f"\nexports: whole shortlist ({len(items)} items, {n_towns} townships) | largest township {biggest} ({n_big} items)")
        print("  (first call = imports + one township; then warm timings)")
        print(f"  {'format':8s} {'first: ms':>9s} {'all: ms':>9s} {'bytes':>11s} {'one: ms':>9s} {'bytes':>11s}")
        for fmt in FORMATS:
            t_first, _ = _timed(lambda: export_shortlist(items, fmt=fmt, township=biggest, meta=meta))
            t_all, data = _timed(lambda: export_shortlist(items, fmt=fmt, meta=meta), args.repeat)
            t_one, one = _timed(lambda: export_shortlist(items, fmt=fmt, township=biggest, meta=meta), args.repeat)
            print(f"  {fmt:8s} {t_first * 1000:9.0f} {t_all * 1000:9.0f} {len(data):11,d} {t_one * 1000:9.0f} {len(one):11,d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
