"""Benchmark of the geo/ toolkit: prints sizes, times and ratios (asserts nothing).

    .venv/bin/python bench/bench_geo.py [--points 1000000] [--polygons 100000] [--loop-points 20000]

1. GCJ-02 → WGS84 on N points: vectorised numpy vs a pure-Python per-point loop (the
   same formula and 3 iterations with ``math``) on a subset, scaled to N.
2. validate_geometries on M polygons (1 % bow-ties, 1 % with Z): vectorised vs a
   per-feature Python loop of the same core checks on a subset, scaled to M.
3. display_copy + to_geojson_bytes on M polygons vs the naive EPSG:4326 GeoJSON
   (``to_crs`` + ``GeoDataFrame.to_json``): time and bytes.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import geopandas as gpd  # noqa: E402
import numpy as np  # noqa: E402
import shapely  # noqa: E402

import geo  # noqa: E402,F401  (GDAL safety settings first)
from geo.crs import gcj02_to_wgs84, wgs84_to_gcj02  # noqa: E402
from geo.validate import validate_geometries  # noqa: E402
from geo.web import display_copy, to_geojson_bytes  # noqa: E402

A, EE = 6378245.0, 0.00669342162296594323


def _py_delta(lon: float, lat: float) -> tuple[float, float]:
    """The GCJ-02 offset for one point with the math module (the loop baseline)."""
    x, y = lon - 105.0, lat - 35.0
    pi = math.pi
    common = (20.0 * math.sin(6.0 * x * pi) + 20.0 * math.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x)) + common
            + (20.0 * math.sin(y * pi) + 40.0 * math.sin(y / 3.0 * pi)) * 2.0 / 3.0
            + (160.0 * math.sin(y / 12.0 * pi) + 320.0 * math.sin(y / 30.0 * pi)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x)) + common
            + (20.0 * math.sin(x * pi) + 40.0 * math.sin(x / 3.0 * pi)) * 2.0 / 3.0
            + (150.0 * math.sin(x / 12.0 * pi) + 300.0 * math.sin(x / 30.0 * pi)) * 2.0 / 3.0)
    phi = lat / 180.0 * pi
    w2 = 1.0 - EE * math.sin(phi) ** 2
    w = math.sqrt(w2)
    return (dlon * 180.0 / (A / w * math.cos(phi) * pi), dlat * 180.0 / ((A * (1.0 - EE)) / (w2 * w) * pi))


def _py_inverse(lon: float, lat: float, iterations: int = 3) -> tuple[float, float]:
    wl, wa = lon, lat
    for _ in range(iterations):
        dl, da = _py_delta(wl, wa)
        wl, wa = lon - dl, lat - da
    return wl, wa


def _timed(fn, *args, repeat: int = 1, **kw):
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args, **kw)
        best = min(best, time.perf_counter() - t0)
    return best, out


def _row(label: str, size: str, seconds: float, extra: str = "") -> None:
    print(f"  {label:<46} {size:>14} {seconds * 1000:>10.1f} ms  {extra}")


def bench_gcj(n: int, n_loop: int, rng) -> None:
    print("\n[1] GCJ-02 → WGS84 (3 fixed-point iterations), points over Ruian")
    lon = rng.uniform(119.9, 121.3, n)
    lat = rng.uniform(27.5, 28.0, n)
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    t_vec, (w_lon, w_lat) = _timed(gcj02_to_wgs84, g_lon, g_lat, repeat=3)
    sub = slice(0, n_loop)
    t0 = time.perf_counter()
    loop = [_py_inverse(a, b) for a, b in zip(g_lon[sub].tolist(), g_lat[sub].tolist())]
    t_loop = time.perf_counter() - t0
    t_loop_scaled = t_loop * n / n_loop
    agree = np.abs(np.array(loop) - np.column_stack([w_lon[sub], w_lat[sub]])).max()
    err_m = np.hypot((w_lon - lon) * 111_320 * np.cos(np.radians(lat)), (w_lat - lat) * 110_574).max()
    _row("vectorised numpy", f"{n:,} pts", t_vec, f"{n / t_vec / 1e6:.1f} M pts/s")
    _row(f"pure-Python loop ({n_loop:,} pts, scaled ×{n / n_loop:g})", f"{n:,} pts", t_loop_scaled,
         f"ratio loop/vectorised = {t_loop_scaled / t_vec:.0f}×")
    print(f"  max |loop − vectorised| = {agree:.1e}°; max round-trip error = {err_m * 1000:.4f} mm")


def _polygons(m: int, rng) -> gpd.GeoDataFrame:
    centres = rng.uniform([520_000, 3_040_000], [600_000, 3_100_000], (m, 2))
    geoms = shapely.buffer(shapely.points(centres), rng.uniform(20, 80, m), quad_segs=4)  # 17 vertices each
    n_bad = m // 100
    bow = shapely.polygons(np.stack([centres[:n_bad] + d for d in ([0, 0], [20, 20], [20, 0], [0, 20], [0, 0])], 1))
    geoms[:n_bad] = bow
    zpoly = shapely.force_3d(geoms[n_bad:2 * n_bad], 5.0)
    geoms[n_bad:2 * n_bad] = zpoly
    return gpd.GeoDataFrame({"id": np.arange(m)}, geometry=geoms, crs="EPSG:4549")


def _loop_validate(geoms) -> list:
    """Per-feature Python loop over the same core checks (baseline only)."""
    out = []
    for g in geoms:
        if g is None or g.is_empty:
            out.append("null/empty")
            continue
        reason = shapely.is_valid_reason(g)
        fixed = shapely.make_valid(g, method="structure", keep_collapsed=False) if reason != "Valid Geometry" else g
        out.append((reason, g.has_z, g.area, fixed.area, np.isfinite(shapely.get_coordinates(g)).all(), g.bounds))
    return out


def bench_validate(gdf: gpd.GeoDataFrame, n_loop: int) -> None:
    m = len(gdf)
    print(f"\n[2] validate_geometries(on_invalid='fix') on {m:,} polygons (1 % bow-ties, 1 % with Z)")
    t_vec, (_, rep) = _timed(validate_geometries, gdf, on_invalid="fix", name="bench", repeat=2)
    counts = rep["problem"][rep["problem"] != ""].value_counts().to_dict()
    sub = np.asarray(gdf.geometry.values[:n_loop], dtype=object)
    t_loop, _ = _timed(_loop_validate, sub)
    t_loop_scaled = t_loop * m / n_loop
    _row("vectorised (all checks + repair + report)", f"{m:,} polys", t_vec, f"{m / t_vec / 1000:.0f} k/s")
    _row(f"per-feature loop, core checks ({n_loop:,}, ×{m / n_loop:g})", f"{m:,} polys", t_loop_scaled,
         f"ratio loop/vectorised = {t_loop_scaled / t_vec:.1f}×")
    print(f"  problems found: {counts}")


def bench_display(gdf: gpd.GeoDataFrame) -> None:
    m = len(gdf)
    clean = gdf.iloc[m // 50:]  # without the bow-ties and Z polygons
    print(f"\n[3] display copy of {len(clean):,} polygons for the map")
    t_naive, naive = _timed(lambda: clean.to_crs(4326).to_json(drop_id=True).encode())
    t_copy, disp = _timed(display_copy, clean, tolerance_m=1.0, decimals=6)
    t_json, raw = _timed(to_geojson_bytes, disp, ["id"])
    v_before = len(shapely.get_coordinates(clean.geometry.values))
    v_after = len(shapely.get_coordinates(disp.geometry.values))
    _row("naive: to_crs(4326) + GeoDataFrame.to_json", f"{len(naive) / 1e6:.1f} MB", t_naive,
         f"{v_before:,} vertices")
    _row("display_copy(tolerance_m=1, decimals=6)", "", t_copy, f"{v_after:,} vertices")
    _row("  + to_geojson_bytes", f"{len(raw) / 1e6:.1f} MB", t_json,
         f"total {t_copy + t_json:.2f} s")
    print(f"  ratios naive/display: bytes {len(naive) / len(raw):.2f}×, time {t_naive / (t_copy + t_json):.2f}×")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--loop-points", type=int, default=20_000)
    ap.add_argument("--polygons", type=int, default=100_000)
    ap.add_argument("--loop-polygons", type=int, default=10_000)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(20240601)
    print(f"geo benchmark — numpy {np.__version__}, shapely {shapely.__version__} (GEOS "
          f"{'.'.join(map(str, shapely.geos_version))}), geopandas {gpd.__version__}")
    bench_gcj(args.points, args.loop_points, rng)
    gdf = _polygons(args.polygons, rng)
    bench_validate(gdf, args.loop_polygons)
    bench_display(gdf)


if __name__ == "__main__":
    main()
