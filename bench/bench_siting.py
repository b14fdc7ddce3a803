"""Benchmark of relocation siting: the solver against a greedy nearest-feasible-site baseline.

Synthetic, seeded instances built as GeoDataFrames in EPSG:4549 and run through the whole
path (distance matrix, vectorised eligibility, sparse model, solve, results):

- a 30 × 30 km county; firms with 2–40 亩 needs (log-normal), 12 common industries, 15 %
  polluting; sites: 60 % industrial parks (2–3 leading industries, 10 % accept polluting
  firms), 30 % micro-parks (share rule ≥ 70 % with 10–60 existing firms), 10 % released
  clusters (any industry); 40 residential areas with the 300 m buffer; total capacity
  ≈ 1.3 × total need; unassigned penalty 60 km × need.

Default run: 2,000 firms × 300 sites (target: proven optimal or gap ≤ 1 % in < 60 s).
``--large`` adds 10,000 × 1,000 (target: within 10 minutes, gap reported).  Prints, per
instance, the solver's objective, bound, gap and time next to the greedy baseline's
objective and time, and the ratio greedy ÷ solver.

    .venv/bin/python bench/bench_siting.py                 # 2,000 × 300
    .venv/bin/python bench/bench_siting.py --large         # + 10,000 × 1,000 (≈ 10 min)
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import geo  # noqa: E402,F401
from analysis import siting  # noqa: E402
from geo.units import M2_PER_MU  # noqa: E402

CRS = "EPSG:4549"
DIVISIONS = ["13", "17", "19", "26", "29", "31", "33", "34", "35", "36", "38", "39"]
POLLUTING = {"26", "31"}  # plus 1713 dyeing below


def instance(n_firms: int, n_sites: int, seed: int = 0, slack: float = 1.3):
    rng = np.random.default_rng(seed)
    side = 30_000.0
    x0, y0 = 500_000.0, 3_050_000.0
    # firms
    div = rng.choice(DIVISIONS, n_firms)
    code = np.char.add(div.astype(str), rng.choice(["11", "12", "21", "13"], n_firms))
    dye = rng.random(n_firms) < 0.05
    code[dye] = "1713"
    need_mu = np.clip(rng.lognormal(np.log(8), 0.7, n_firms), 2, 40)
    fx, fy = x0 + rng.uniform(0, side, n_firms), y0 + rng.uniform(0, side, n_firms)
    polluting = siting._prefix_match(code.astype(object), siting.SitingParams().polluting_codes).any(axis=1)
    firms = gpd.GeoDataFrame({
        "credit_code": [f"F{i:06d}" for i in range(n_firms)], "industry_code": code,
        "township_code": (np.floor((fx - x0) / 6000).astype(int) * 5 + np.floor((fy - y0) / 6000).astype(int)).astype(str),
        "need_land_m2": need_mu * M2_PER_MU, "need_land_mu": need_mu,
        "need_floor_m2": need_mu * M2_PER_MU * rng.uniform(0.8, 1.8, n_firms), "polluting": polluting,
    }, geometry=shapely.points(fx, fy), crs=CRS)
    # sites
    kind = rng.choice(["industrial_park", "micro_park", "cluster"], n_sites, p=[0.6, 0.3, 0.1])
    sx, sy = x0 + rng.uniform(0, side, n_sites), y0 + rng.uniform(0, side, n_sites)
    cap = rng.uniform(0.3, 1.7, n_sites)
    cap = cap / cap.sum() * need_mu.sum() * slack * M2_PER_MU
    half = np.sqrt(cap) / 2
    lead = np.array([",".join(rng.choice(DIVISIONS, rng.integers(2, 4), replace=False)) for _ in range(n_sites)],
                    dtype=object)
    micro = kind == "micro_park"
    lead[micro] = rng.choice(DIVISIONS, micro.sum())
    lead[kind == "cluster"] = ""
    n_ex = np.where(micro, rng.integers(10, 61, n_sites), 0)
    n_ld = np.floor(n_ex * rng.uniform(0.7, 0.95, n_sites))
    sites = gpd.GeoDataFrame({
        "site_id": [f"S{j:04d}" for j in range(n_sites)], "site_kind": kind, "name": [f"site {j}" for j in range(n_sites)],
        "township_code": (np.floor((sx - x0) / 6000).astype(int) * 5 + np.floor((sy - y0) / 6000).astype(int)).astype(str),
        "leading_industries": lead, "allows_polluting": (rng.random(n_sites) < 0.1) & (kind == "industrial_park"),
        "capacity_land_m2": cap, "capacity_land_mu": cap / M2_PER_MU, "capacity_floor_m2": cap * 2.0,
        "share_rule": micro, "n_existing": n_ex, "n_existing_leading": n_ld, "existing_mix": "",
    }, geometry=shapely.box(sx - half, sy - half, sx + half, sy + half), crs=CRS)
    rx, ry = x0 + rng.uniform(0, side, 40), y0 + rng.uniform(0, side, 40)
    constraints = gpd.GeoDataFrame({"constraint_id": [f"R{k}" for k in range(40)], "kind": "residential"},
                                   geometry=shapely.buffer(shapely.points(rx, ry), 400.0), crs=CRS)
    return firms, sites, constraints


def run(n_firms: int, n_sites: int, *, k: int, time_limit: float, solver: str, seed: int) -> dict:
    t0 = time.perf_counter()
    firms, sites, constraints = instance(n_firms, n_sites, seed)
    t_gen = time.perf_counter() - t0
    params = siting.load_siting_params().replace(k_nearest=k, time_limit_s=time_limit, gap=0.01, solver=solver)
    t0 = time.perf_counter()
    prob = siting.RelocationProblem.from_geodataframe(firms, sites, params=params, constraints=constraints)
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    from analysis import _assign

    prob.solve()
    t_total = time.perf_counter() - t0
    # greedy baseline alone, timed on the same sparse data
    t0 = time.perf_counter()
    g = _assign.greedy_assignment(prob._data)
    t_greedy = time.perf_counter() - t0
    g_obj = _assign.objective_of(prob._data, g)
    return {
        "firms": n_firms, "sites": n_sites, "k": k or "all", "pairs": prob.n_pairs, "eligible": prob.n_pairs_eligible,
        "restricted": prob.restricted, "gen_s": t_gen, "build_s": t_build, "status": prob.status,
        "solver": prob.solver, "objective": prob.objective, "bound": prob.bound, "gap": prob.gap,
        "solve_s": prob.solve_time_s, "total_s": t_total + t_build,
        "unassigned": int((prob.assignments["status"] != "assigned").sum()),
        "greedy_objective": g_obj, "greedy_s": t_greedy, "greedy_unassigned": int((g < 0).sum()),
        "ratio": g_obj / prob.objective,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--large", action="store_true", help="also run 10,000 firms × 1,000 sites (up to ~10 min)")
    ap.add_argument("--k", type=int, default=20, help="k nearest eligible sites per firm (0 = all eligible pairs)")
    ap.add_argument("--time-limit", type=float, default=55.0, help="solver time limit, 2,000 × 300 (s)")
    ap.add_argument("--large-time-limit", type=float, default=540.0, help="solver time limit, 10,000 × 1,000 (s)")
    ap.add_argument("--solver", default="scip", choices=["scip", "cp_sat", "highs", "cbc"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    sizes = [(2000, 300, args.time_limit)] + ([(10000, 1000, args.large_time_limit)] if args.large else [])
    rows = []
    for n, m, tl in sizes:
        r = run(n, m, k=args.k, time_limit=tl, solver=args.solver, seed=args.seed)
        rows.append(r)
        print(f"{n:>6} firms × {m:>5} sites  k={r['k']}  variables {r['pairs']:,} of {r['eligible']:,} eligible pairs"
              f"{' (restricted model)' if r['restricted'] else ''}")
        print(f"   solver {r['solver']:<14} status {r['status']:<10} objective {r['objective']:>16,.0f}  bound "
              f"{r['bound']:>16,.0f}  gap {r['gap']:6.2%}  solve {r['solve_s']:6.1f} s  (build {r['build_s']:.1f} s)  "
              f"unplaced {r['unassigned']}")
        print(f"   greedy baseline              objective {r['greedy_objective']:>16,.0f}  "
              f"{'':>24}  time {r['greedy_s']:6.2f} s  unplaced {r['greedy_unassigned']}")
        print(f"   ratio greedy / solver = {r['ratio']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
