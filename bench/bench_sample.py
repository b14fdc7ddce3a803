"""Sample generation and workspace reads: sizes and times (printed, not asserted).

    python bench/bench_sample.py [--plots 5000 20000 100000]

For each size: time to generate the layers, to write the workspace, to read every layer
whole, and to read plots in a 5 km window through the GeoPackage R-tree against reading
the whole layer and clipping in memory (the baseline), with the ratio.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import geo  # noqa: E402,F401
from layers import sample  # noqa: E402
from layers.workspace import Workspace  # noqa: E402


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--plots", type=int, nargs="+", default=[5000, 20000, 100000])
    args = ap.parse_args()
    print(f"{'plots':>8} {'firms':>7} {'generate s':>10} {'write s':>8} {'MB':>6} {'read all s':>10} "
          f"{'bbox read s':>11} {'read+clip s':>11} {'ratio':>6}")
    for n in args.plots:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "ws.gpkg"
            layers, t_gen = timed(lambda: sample.generate(n_plots=n))
            ws = Workspace.create(path)
            frames = {k: v.drop(columns=[c for c in ("seat_x", "seat_y") if c in v.columns]) for k, v in layers.items()}
            _, t_write = timed(lambda: ws.write_many(frames, source="bench"))
            _, t_read = timed(lambda: [ws.read(name) for name in ws.layers()])
            cx, cy = layers["townships"].query("name == '安阳街道'")[["seat_x", "seat_y"]].iloc[0]
            bbox = (cx - 2500, cy - 2500, cx + 2500, cy + 2500)
            window, t_bbox = timed(lambda: ws.read("plots", bbox=bbox))
            whole, t_clip = timed(lambda: ws.read("plots").cx[bbox[0]:bbox[2], bbox[1]:bbox[3]])
            assert len(window) == len(whole)
            mb = path.stat().st_size / 1e6
            print(f"{len(layers['plots']):>8} {len(layers['enterprises']):>7} {t_gen:>10.2f} {t_write:>8.2f} {mb:>6.1f} "
                  f"{t_read:>10.2f} {t_bbox:>11.3f} {t_clip:>11.3f} {t_clip / t_bbox:>6.1f}")


if __name__ == "__main__":
    main()
