"""Benchmark of the siting solver: the Lagrangian strategy against the previous one and plain MIP solvers.

Instances (:func:`instance`, seeded) have the shape of issue 11: firms of 10 industries with
2–40 亩 needs (log-normal) and a floor-area need of 0.8–1.8 × the land; sites grouped in
parks of 1–6 sites (plots or clusters a few hundred metres apart), each park allowing 3 of the
10 industries; 10 % of the parks are micro-parks whose sites form one share group (leading
industry ≥ 70 % over the park, 10–60 existing firms); land capacity 0.3–1.7 × the mean,
1.15 × the total need overall; floor capacity 1.2–2.2 × the land; cost = need (亩) × straight
distance (km) in a 30 × 30 km county; unassigned penalty = need × 60 km; every eligible pair
is a variable (no k-nearest restriction): ≈ 180,000 pairs at 2,000 × 300.

Per seed, each method gets the same time limit and the same warm start (greedy):

- ``lagrange``  the default strategy (Lagrangian bound + local search + guided LNS, SCIP sub-MIPs)
- ``lp_fix``    the previous default (LP fixing + SCIP residual + LNS)
- ``highs``     HiGHS on the whole model
- ``cp_sat``    CP-SAT on the whole model (2 workers)

and prints objective, bound, gap (objective − bound) / objective, time, and the distance to the
best known solution of that instance (``siting_best_known.json`` beside this file; see
``--record-best`` for how it is made).  The goal of issue 11: ≤ 1 % above the best known and a
proven gap ≤ 2 % within 60 s (10,000 × 1,000 within 10 minutes).  ``uptime``'s load is
printed beside every seed: the machine may be shared.

    .venv/bin/python bench/bench_siting.py                          # 2,000 × 300, seeds 1–5, 60 s each
    .venv/bin/python bench/bench_siting.py --methods lagrange       # only the new solver
    .venv/bin/python bench/bench_siting.py --large                  # + 10,000 × 1,000 (seed 1, 600 s)
    .venv/bin/python bench/bench_siting.py --record-best --seeds 1  # long runs → siting_best_known.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis import _assign  # noqa: E402
from analysis._assign import SHARE_SCALE, AssignmentData  # noqa: E402
from geo.units import M2_PER_MU  # noqa: E402

BEST_KNOWN = Path(__file__).with_name("siting_best_known.json")
METHODS = {  # name: (solver, strategy)
    "lagrange": ("scip", "lagrange"),
    "lp_fix": ("scip", "lp_fix"),
    "highs": ("highs", "direct"),
    "cp_sat": ("cp_sat", "direct"),
}
RECORD_TIME_S = 600.0
SCIP_RECORD_MAX_PAIRS = 500_000   # the whole-model SCIP run of --record-best (3 M pairs do not fit its model in time)


def instance(n_firms: int, n_sites: int, seed: int, *, slack: float = 1.15, industries: int = 10,
             per_park: int = 3, micro_share: float = 0.1, penalty_km: float = 60.0,
             leading_share: float = 0.7) -> AssignmentData:
    """A seeded siting model of the shape described in the module docstring."""
    rng = np.random.default_rng(seed)
    industry = rng.integers(0, industries, n_firms)
    need_mu = np.clip(rng.lognormal(np.log(8), 0.7, n_firms), 2, 40)
    need_land = need_mu * M2_PER_MU
    need_floor = need_land * rng.uniform(0.8, 1.8, n_firms)
    fx, fy = rng.uniform(0, 30, n_firms), rng.uniform(0, 30, n_firms)
    park = np.repeat(np.arange(n_sites), rng.integers(1, 7, n_sites))[:n_sites]
    n_parks = int(park[-1]) + 1
    px, py = rng.uniform(0, 30, n_parks), rng.uniform(0, 30, n_parks)
    sx, sy = px[park] + rng.normal(0, 0.4, n_sites), py[park] + rng.normal(0, 0.4, n_sites)
    allowed = np.argsort(rng.random((n_parks, industries)), axis=1)[:, :per_park]
    allows = np.zeros((n_parks, industries), bool)
    np.put_along_axis(allows, allowed, True, axis=1)
    micro = rng.random(n_parks) < micro_share
    cap = rng.uniform(0.3, 1.7, n_sites)
    cap = cap / cap.sum() * need_land.sum() * slack
    cap_floor = cap * rng.uniform(1.2, 2.2, n_sites)
    eligible = (allows[park][:, industry].T & (need_land[:, None] <= cap[None, :])
                & (need_floor[:, None] <= cap_floor[None, :]))
    pi, pj = np.nonzero(eligible)
    cost = need_mu[pi] * np.hypot(fx[pi] - sx[pj], fy[pi] - sy[pj])
    group_of_park = np.full(n_parks, -1)
    group_of_park[micro] = np.arange(micro.sum())
    share_group = group_of_park[park]
    pair_lead = (share_group[pj] >= 0) & (industry[pi] == allowed[park[pj], 0])
    n_existing = rng.integers(10, 61, micro.sum())
    n_leading = np.floor(n_existing * rng.uniform(0.66, 0.9, micro.sum()))
    room = n_leading * SHARE_SCALE - int(round(leading_share * SHARE_SCALE)) * n_existing
    share_rhs = np.ceil(np.where(room >= 0, -room, 0.0) - 1e-9)
    return AssignmentData(n_firms, n_sites, pi.astype(np.int64), pj.astype(np.int64), cost, need_mu * penalty_km,
                          need_land, cap, need_floor, cap_floor, share_group.astype(np.int64), leading_share,
                          pair_lead, share_rhs)


def check_feasible(data: AssignmentData, assign: np.ndarray) -> None:
    """Raise if ``assign`` breaks eligibility, a capacity or a share rule (an independent check)."""
    chosen = (assign[data.pi] == data.pj) & (assign[data.pi] >= 0)
    if chosen.sum() != (assign >= 0).sum():
        raise AssertionError("a firm is placed at a site it is not eligible for")
    placed = assign >= 0
    for need, cap in ((data.need_land, data.cap_land), (data.need_floor, data.cap_floor)):
        if (np.bincount(assign[placed], weights=need[placed], minlength=data.m) > cap + 1e-6).any():
            raise AssertionError("a site is over capacity")
    g = data.pair_group()
    sel = chosen & (g >= 0)
    share = np.bincount(g[sel], weights=data.share_delta()[sel], minlength=data.n_groups)
    if (share < data.share_rhs - 1e-6).any():
        raise AssertionError("a share group is below its leading-industry rule")


def load() -> str:
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def solve(data: AssignmentData, method: str, time_limit: float) -> dict:
    solver, strategy = METHODS[method]
    t0 = time.perf_counter()
    hint = _assign.greedy_assignment(data)
    res = _assign.solve_assignment(data, solver=solver, strategy=strategy, time_limit_s=time_limit, gap=0.0,
                                   workers=2, hint=hint)
    wall = time.perf_counter() - t0
    if res.status in ("OPTIMAL", "FEASIBLE", "WITHIN_GAP"):
        check_feasible(data, res.assign)
    return {"method": method, "status": res.status, "objective": res.objective, "bound": res.bound,
            "gap": res.gap, "time_s": wall, "assign": res.assign}


def read_best() -> dict:
    return json.loads(BEST_KNOWN.read_text()) if BEST_KNOWN.exists() else {}


def record_best(sizes, seeds, time_limit: float) -> None:
    """Best known solution per instance: the better of a long run of the Lagrangian strategy and
    a long SCIP run on the whole model warm-started from it; the best bound of either is kept
    too (both are valid lower bounds)."""
    best = read_best()
    for n, m in sizes:
        for seed in seeds:
            data = instance(n, m, seed)
            print(f"{n} × {m} seed {seed}: {load()}", flush=True)
            ours = solve(data, "lagrange", time_limit)
            runs = {"lagrange": (ours["objective"], ours["bound"], ours["time_s"])}
            how = f"strategy 'lagrange' with a {time_limit:.0f} s limit"
            if len(data.pi) <= SCIP_RECORD_MAX_PAIRS:
                t0 = time.perf_counter()
                scip = _assign.solve_assignment(data, solver="scip", strategy="direct", time_limit_s=time_limit,
                                                gap=0.0, hint=ours["assign"])
                check_feasible(data, scip.assign)
                runs["scip"] = (scip.objective, scip.bound, time.perf_counter() - t0)
                how = (f"the better of: {how}; SCIP (OR-Tools pywraplp) on the whole model for {time_limit:.0f} s, "
                       "warm-started from that solution")
            by = min(runs, key=lambda k: runs[k][0])
            entry = {
                "objective": runs[by][0], "found_by": by,
                "bound": max(r[1] for r in runs.values() if np.isfinite(r[1])),
                "runs": {k: {"objective": v[0], "bound": v[1], "time_s": round(v[2], 1)} for k, v in runs.items()},
                "how": how,
                "instance": {"n_firms": n, "n_sites": m, "seed": seed, "generator": "bench/bench_siting.py:instance"},
                "load": load(),
            }
            old = best.get(f"{n}x{m}", {}).get(str(seed))
            if old is not None and old["objective"] < entry["objective"]:   # keep a better earlier record
                entry["objective"], entry["found_by"], entry["how"] = old["objective"], old["found_by"], old["how"]
                entry["bound"] = max(entry["bound"], old["bound"])
                entry["earlier"] = {k: v for k, v in old.items() if k != "earlier"}
            best.setdefault(f"{n}x{m}", {})[str(seed)] = entry
            BEST_KNOWN.write_text(json.dumps(best, indent=1, ensure_ascii=False) + "\n")
            print(f"   best {entry['objective']:,.1f} by {by}; bound {entry['bound']:,.1f}", flush=True)


def report(n: int, m: int, seeds, methods, time_limit: float) -> list[dict]:
    best = read_best().get(f"{n}x{m}", {})
    rows = []
    print(f"\n{n:,} firms × {m:,} sites, {time_limit:.0f} s per method, 2 cores")
    print(f"{'seed':>4} {'method':<9} {'status':<10} {'objective':>12} {'bound':>12} {'gap':>7} {'time s':>7} "
          f"{'vs best':>8}")
    for seed in seeds:
        data = instance(n, m, seed)
        known = best.get(str(seed), {}).get("objective", float("nan"))
        print(f"{seed:>4} {len(data.pi):,} pairs; best known {_fmt(known, ',.1f')}; {load()}")
        mine = []
        for method in methods:
            r = solve(data, method, time_limit)
            r.update(seed=seed, excess=r["objective"] / known - 1 if np.isfinite(known) else float("nan"))
            mine.append(r)
            print(f"{'':>4} {method:<9} {r['status']:<10} {_fmt(r['objective'], '>12,.1f')} {_fmt(r['bound'], '>12,.1f')} "
                  f"{_fmt(r['gap'], '>7.2%')} {r['time_s']:>7.1f} {_fmt(r['excess'], '>+8.2%')}", flush=True)
        if not np.isfinite(known):   # no recorded best: measure against the best of these runs
            runs_best = np.nanmin([r["objective"] for r in mine])
            for r in mine:
                r["excess"] = r["objective"] / runs_best - 1
            print(f"{'':>4} no recorded best known; vs the best of these runs ({runs_best:,.1f}): "
                  + ", ".join(f"{r['method']} {_fmt(r['excess'], '+.2%')}" for r in mine))
        rows.extend(mine)
        print(f"{'':>4} {load()}")
    print("\nsummary (goal: gap ≤ 2 % and ≤ 1 % above the best known)")
    for method in methods:
        mine = [r for r in rows if r["method"] == method]
        gaps = np.array([r["gap"] for r in mine])
        excess = np.array([r["excess"] for r in mine])
        ok = sum(1 for g, e in zip(gaps, excess) if g <= 0.02 and (not np.isfinite(e) or e <= 0.01))
        print(f"   {method:<9} gap {_spread(gaps)};  vs best {_spread(excess, signed=True)};  "
              f"both goals met {ok}/{len(mine)}")
    return rows


def _fmt(value: float, spec: str) -> str:
    """``value`` formatted, or a dash of the same width when there is none (a solver found nothing)."""
    if np.isfinite(value):
        return format(value, spec)
    width = "".join(ch for ch in spec.split(",")[0].split(".")[0] if ch.isdigit())
    return "—".rjust(int(width)) if width else "—"


def _spread(values: np.ndarray, *, signed: bool = False) -> str:
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return "n/a"
    fmt = "+.2%" if signed else ".2%"
    return f"mean {values.mean():{fmt}} max {values.max():{fmt}}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--time-limit", type=float, default=60.0, help="seconds per method, 2,000 × 300")
    ap.add_argument("--large", action="store_true", help="also 10,000 firms × 1,000 sites (seed 1)")
    ap.add_argument("--large-only", action="store_true", help="only 10,000 × 1,000")
    ap.add_argument("--large-time-limit", type=float, default=600.0)
    ap.add_argument("--record-best", action="store_true",
                    help=f"(re)compute the best known solutions ({RECORD_TIME_S:.0f} s runs) instead of the table")
    args = ap.parse_args(argv)
    sizes = [] if args.large_only else [(2000, 300, args.seeds, args.time_limit)]
    if args.large or args.large_only:
        sizes.append((10000, 1000, [1], args.large_time_limit))
    if args.record_best:
        for n, m, seeds, _ in sizes:
            record_best([(n, m)], seeds, RECORD_TIME_S if n <= 2000 else 2 * RECORD_TIME_S)
        return 0
    for n, m, seeds, tl in sizes:
        report(n, m, seeds, args.methods, tl)
    return 0


if __name__ == "__main__":
    sys.exit(main())
