"""Solver core of relocation siting: a sparse capacitated assignment model.

Private to :mod:`analysis.siting`; knows no geography.  The model, over eligible
(firm *i*, site *j*) pairs *p* only::

    minimise   Σ_i pen_i + Σ_p (c_p − pen_i) · x_p          (= Σ_p c_p x_p + Σ_i pen_i u_i)
    subject to Σ_{p∋i} x_p ≤ 1            (each firm at most one site; = 1 when unassigned is not allowed)
               Σ_{p∋j} L_i x_p ≤ C_j       (land capacity, m²)
               Σ_{p∋j} F_i x_p ≤ G_j       (floor-area capacity, m²)
               Σ_{p: g(j_p)=g} (a_p − s) x_p ≥ r_g (leading-industry share ≥ s after assignment in
                                             each share group g — a micro-park whose land may be split
                                             into several sites; r_g = −(lead_g − s·n_g) when the park
                                             has room, else 0)
               x_p ∈ {0, 1}

Strategies (:func:`solve_assignment`; ``auto``, the default, takes ``direct`` up to
``DIRECT_MAX_PAIRS`` eligible pairs and ``lagrange`` above):

``lagrange`` (:mod:`analysis._assign_strategy`)
    The bound is Lagrangian.  Relaxing each firm's row with a free multiplier λ_i and each
    share group's row with μ_g ≥ 0 leaves one two-row knapsack per site::

        L(λ, μ) = Σ_i λ_i + Σ_i min(0, pen_i − λ_i) + Σ_g μ_g r_g
                  + Σ_j min { Σ_{p∋j} (c_p − λ_i − μ_g (a_p − s)) x_p : land and floor rows of j, x ∈ {0,1} }

    Every (λ, μ) gives a lower bound (weak duality); keeping each site's knapsack integral
    makes the best of them at least the LP bound (Geoffrion 1974).  Each knapsack is solved
    exactly by OR-Tools' branch-and-bound knapsack solver on data rounded so that it can
    only lower the minimum (needs down, capacities and profits up); a site it cannot close
    within its time limit takes the value of a relaxation instead (a capacity-grid dynamic
    programme with needs rounded down), so the reported bound is always valid, never
    estimated (details and proofs of each step in :mod:`analysis._assign_lagrange`).  λ, μ
    start at the LP duals (HiGHS) and follow a deflected subgradient ascent in a helper
    process.  Meanwhile the main process repairs the knapsacks' choice into a solution,
    improves it by vectorised local search (shift, swap, ejection) and by a large-
    neighbourhood search that re-solves 3–12 sites at a time exactly with ``solver``,
    choosing them where the duality gap Σ_j (Σ_{i at j} rc_ij − K_j) concentrates; once the
    bound stalls, the helper searches too.  The gap reported is (objective − best L) /
    objective.
``direct``
    The whole model goes to ``solver``; its own bound and gap are reported.
``lp_fix``
    The previous default, kept as a benchmark baseline (:func:`_solve_lp_fix`).

Four real solvers are wired through OR-Tools: CP-SAT, SCIP, HiGHS and CBC (``pywraplp``).
CP-SAT needs integer data, so costs are scaled to integers (relative resolution 1e-7 of
the largest coefficient), land/floor needs rounded up and capacities down to a power-of-two
grid near 2⁻³⁰ of the largest value (:func:`int_unit`), and the share rule uses
coefficients in thousandths (0.1 % resolution).  The reported objective is always
recomputed from the float costs of the solution found; the bound is the solver's bound
translated back into the same units.

The greedy heuristic here is the baseline of the benchmark and the warm start (hint) of
the solvers; it never replaces them.  It is inherently sequential (each firm sees the
capacity left by the previous ones), so it loops over firms in Python.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import numpy as np

__all__ = ["AssignmentData", "AssignmentResult", "solve_assignment", "greedy_assignment", "objective_of", "SOLVERS"]

SOLVERS = ("cp_sat", "scip", "highs", "cbc")
SHARE_SCALE = 1000  # share coefficients in thousandths


@dataclass
class AssignmentData:
    """Sparse model data (indices are positions 0..n-1 / 0..m-1)."""

    n: int
    m: int
    pi: np.ndarray          # firm index of each pair
    pj: np.ndarray          # site index of each pair
    cost: np.ndarray        # cost of each pair (float, objective units)
    penalty: np.ndarray     # cost of leaving firm i unassigned (n,)
    need_land: np.ndarray   # m² (n,)
    cap_land: np.ndarray    # m² (m,); inf = unlimited
    need_floor: np.ndarray  # m² (n,)
    cap_floor: np.ndarray   # m² (m,); inf = unlimited
    share_group: np.ndarray  # int (m,): share-rule group of each site (a park), -1 = no share rule
    share_min: float        # s, e.g. 0.70
    pair_lead: np.ndarray   # bool per pair: firm i is of site j's leading industry
    share_rhs: np.ndarray   # r_g in thousandths (g,), ≤ 0, one per share group
    allow_unassigned: bool = True

    @property
    def n_groups(self) -> int:
        return len(self.share_rhs)

    def pair_group(self) -> np.ndarray:
        """Share group of each pair's site (-1: none)."""
        return self.share_group[self.pj]

    def share_delta(self) -> np.ndarray:
        """Each pair's contribution (a_p − s) to its group's share row, in thousandths."""
        s_k = int(round(self.share_min * SHARE_SCALE))
        return np.where(self.pair_lead, SHARE_SCALE - s_k, -s_k).astype(np.int64)


@dataclass
class AssignmentResult:
    assign: np.ndarray      # site index per firm, -1 = unassigned
    status: str             # OPTIMAL (proven) / WITHIN_GAP (stopped at the gap limit) / FEASIBLE (time limit) /
                            # INFEASIBLE / UNKNOWN / MODEL_INVALID
    objective: float        # recomputed from float costs; nan when no solution
    bound: float            # best proven lower bound (nan if none)
    gap: float              # (objective − bound) / |objective|
    solve_time_s: float
    solver: str
    n_vars: int


def objective_of(data: AssignmentData, assign: np.ndarray) -> float:
    """Σ cost of chosen pairs + Σ penalty of unassigned firms, for a full assignment vector."""
    chosen = _chosen_pairs(data, assign)
    unassigned = assign < 0
    return float(data.cost[chosen].sum() + data.penalty[unassigned].sum())


def _chosen_pairs(data: AssignmentData, assign: np.ndarray) -> np.ndarray:
    return (assign[data.pi] == data.pj) & (assign[data.pi] >= 0)


def greedy_assignment(data: AssignmentData, *, order: str = "need") -> np.ndarray:
    """Greedy nearest-feasible-site assignment.

    Firms are taken in descending land need (large firms are the hardest to place); each
    goes to its cheapest eligible site with land and floor capacity left whose share rule
    stays satisfied, unless leaving it unassigned is cheaper (cost ≥ penalty).
    """
    assign = np.full(data.n, -1, dtype=np.int64)
    res_land = data.cap_land.astype(float).copy()
    res_floor = data.cap_floor.astype(float).copy()
    slack = np.zeros(data.n_groups)  # Σ (a − s) x so far per share group, thousandths; must stay ≥ rhs
    delta = data.share_delta()
    by_cost = np.lexsort((data.cost, data.pi))
    pairs_pi = data.pi[by_cost]
    starts = np.searchsorted(pairs_pi, np.arange(data.n + 1))
    firms = np.argsort(-data.need_land, kind="stable") if order == "need" else np.arange(data.n)
    for i in firms:
        for p in by_cost[starts[i]:starts[i + 1]]:
            j = data.pj[p]
            if data.allow_unassigned and data.cost[p] >= data.penalty[i]:
                break
            if data.need_land[i] > res_land[j] + 1e-9 or data.need_floor[i] > res_floor[j] + 1e-9:
                continue
            g = data.share_group[j]
            if g >= 0:
                if slack[g] + delta[p] < data.share_rhs[g]:
                    continue
                slack[g] += delta[p]
            res_land[j] -= data.need_land[i]
            res_floor[j] -= data.need_floor[i]
            assign[i] = j
            break
    return assign


def _groups(keys: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(keys, kind="stable")
    starts = np.searchsorted(keys[order], np.arange(size + 1))
    return order, starts


STRATEGIES = ("auto", "direct", "lp_fix", "lagrange")
# Up to this size SCIP or CP-SAT on the whole model usually proves optimality within seconds.
DIRECT_MAX_PAIRS = 2_000
# Free the firms at LP-contested sites only while those are at most half the sites; beyond that
# the residual model is nearly the whole model and gains nothing (measured on the benchmark).
CONTESTED_MAX_SHARE = 0.5
# LNS neighbourhood: 24 sites, 4 s per step was best of (12, 2 s), (24, 4 s), (40, 6 s) on the bench.
LNS_SITES = 24          # sites re-optimised together in one improvement step
LNS_STEP_S = 4.0        # time limit of one step
# The residual is solved to optimality (gap 0) within this share of the time left, the rest goes
# to the LNS.  Passing the user's gap to the residual let the solver stop 1 % above the residual's
# own bound, which on top of the fixed part's integrality gap left the whole 1.1–1.35 % above the
# LP bound (bench 2,000 × 300: residual with gap 1 % → 1.73 %, with gap 0 → 0.97 %, SCIP 11 s).
RESIDUAL_TIME_SHARE = 0.7


def solve_assignment(data: AssignmentData, *, solver: str = "cp_sat", time_limit_s: float = 60.0,
                     gap: float = 0.0, workers: int = 2, hint: np.ndarray | None = None,
                     strategy: str = "auto") -> AssignmentResult:
    """Solve the model with a real solver; ``hint`` (site per firm) warm-starts it.

    Strategies
    ----------
    lagrange
        Lagrangian bound, local search and guided LNS; see the module docstring.  ``workers``
        ≥ 2 runs the dual ascent (then a second search) in a helper process.
    direct
        The whole model goes to the solver; its own bound and gap are reported.
    lp_fix
        LP relaxation first (GLOP): its value is a valid lower bound of the model.  Firms
        the LP already places wholly at one site are fixed there (unless the split firms
        touch few enough sites to re-pack those whole); the rest goes, with the capacity
        left, to the exact solver, solved to optimality (gap 0) within ``RESIDUAL_TIME_SHARE``
        of the time left.  While time is left and the gap exceeds ``gap``, a
        large-neighbourhood search re-solves groups of nearby sites exactly
        (:func:`_improve_lns`).  The gap is reported against the LP bound, so it is honest
        (and conservative: the true optimum may lie above the LP value).
    auto
        ``direct`` up to ``DIRECT_MAX_PAIRS`` eligible pairs, else ``lagrange``.
    """
    if solver not in SOLVERS:
        raise ValueError(f"solver {solver!r} is not one of {SOLVERS}")
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy {strategy!r} is not one of {STRATEGIES}")
    t0 = time.perf_counter()
    if hint is None:
        hint = greedy_assignment(data)
    if strategy == "auto":
        strategy = "direct" if len(data.pi) <= DIRECT_MAX_PAIRS else "lagrange"
    if strategy == "lagrange":
        from analysis import _assign_strategy

        res = _assign_strategy.solve(data, solver=solver, time_limit_s=time_limit_s, gap=gap, workers=workers,
                                     hint=hint, t0=t0)
    elif strategy == "direct":
        res = _solve_exact(data, solver, time_limit_s=time_limit_s, gap=gap, workers=workers, hint=hint)
    else:
        res = _solve_lp_fix(data, solver, time_limit_s=time_limit_s, gap=gap, workers=workers, hint=hint, t0=t0)
    res.solve_time_s = time.perf_counter() - t0
    if res.status == "OPTIMAL" and res.gap > 1e-6:
        res.status = "WITHIN_GAP"  # the solver stopped at the relative-gap limit: not proven optimal
    return res


def _solve_exact(data, solver, *, time_limit_s, gap, workers, hint, cutoff: float | None = None,
                 first: bool = False) -> AssignmentResult:
    """The whole ``data`` with a real solver.  ``cutoff``: only solutions of objective ≤ cutoff
    are wanted (a row on the objective; INFEASIBLE then means none exists) — the large-
    neighbourhood search asks for strictly better ones, which prunes far more than a hint.
    ``first``: stop at the first solution found (with a cutoff: the first improvement)."""
    if solver == "cp_sat":
        return _solve_cpsat(data, time_limit_s=time_limit_s, gap=gap, workers=workers, hint=hint, cutoff=cutoff,
                            first=first)
    return _solve_mip(data, solver, time_limit_s=time_limit_s, gap=gap, hint=hint, cutoff=cutoff, first=first)


def _solve_lp_fix(data, solver, *, time_limit_s, gap, workers, hint, t0) -> AssignmentResult:
    values, lp_bound, ok = _lp_relaxation(data, time_limit_s=max(1.0, 0.6 * time_limit_s))
    if not ok:  # LP failed (time): fall back to the exact solver on the whole model
        left = max(1.0, time_limit_s - (time.perf_counter() - t0))
        return _solve_exact(data, solver, time_limit_s=left, gap=gap, workers=workers, hint=hint)
    whole = values > 1.0 - 1e-6
    fixed = np.full(data.n, -1, dtype=np.int64)
    fixed[data.pi[whole]] = data.pj[whole]
    # Sites touched by a split firm are re-packed too: firms the LP put wholly there are freed,
    # so the exact solver can exchange them with the split ones (fixing them loses ~2 %).
    split = (values > 1e-6) & ~whole
    contested = np.zeros(data.m, dtype=bool)
    contested[data.pj[split]] = True
    if contested.mean() <= CONTESTED_MAX_SHARE:
        fixed[(fixed >= 0) & contested[np.maximum(fixed, 0)]] = -1
    free = fixed < 0  # split firms, firms at contested sites, and firms the LP leaves unassigned
    sub, firm_map = _residual(data, fixed, free)
    sub_hint = greedy_assignment(sub)
    left = max(1.0, RESIDUAL_TIME_SHARE * (time_limit_s - (time.perf_counter() - t0)))
    res = _solve_exact(sub, solver, time_limit_s=left, gap=0.0, workers=workers, hint=sub_hint)
    assign = fixed.copy()
    if res.status in ("OPTIMAL", "FEASIBLE"):
        assign[firm_map] = res.assign
        status = "FEASIBLE"
    else:  # residual failed: complete the fixed part greedily so a solution is always returned
        assign[firm_map] = sub_hint
        status = "FEASIBLE"
    obj = objective_of(data, assign)
    hint_obj = objective_of(data, hint)
    if hint_obj < obj - 1e-9:  # never report worse than the warm start
        assign, obj = hint.copy(), hint_obj
    deadline = t0 + time_limit_s
    if _gap(obj, lp_bound) > gap:
        assign = _improve_lns(data, assign, solver=solver, deadline=deadline, workers=workers, target=lp_bound,
                              gap=gap)
        obj = objective_of(data, assign)
    bound = min(lp_bound, obj)
    g = _gap(obj, bound)
    if g <= 1e-9:
        status = "OPTIMAL"
    elif g <= gap:
        status = "WITHIN_GAP"
    return AssignmentResult(assign, status, obj, bound, g, 0.0, f"{res.solver}+lp_fix", len(data.pi))


def _improve_lns(data: AssignmentData, assign: np.ndarray, *, solver: str, deadline: float, workers: int,
                 target: float, gap: float, seed: int = 0) -> np.ndarray:
    """Large-neighbourhood search with the exact solver: re-solve a few nearby sites at a time.

    Each step takes a random site and the sites that share eligible firms with it (up to
    ``LNS_SITES``), frees every firm placed there plus the unplaced firms eligible there,
    and solves that sub-model exactly (the other firms stay put); a better solution is kept.
    Stops at the deadline or when the gap to ``target`` (the LP bound) is within ``gap``.
    """
    rng = np.random.default_rng(seed)
    assign = assign.copy()
    obj = objective_of(data, assign)
    by_j, sj = _groups(data.pj, data.m)
    by_i, si = _groups(data.pi, data.n)
    min_need = float(data.need_land.min()) if data.n else 0.0
    while time.perf_counter() + 1.0 < deadline and _gap(obj, target) > gap:
        # start mostly from a full site: that is where a better packing can free room
        placed = assign >= 0
        used = np.bincount(assign[placed], weights=data.need_land[placed], minlength=data.m)
        full = np.flatnonzero(data.cap_land - used < min_need)
        j0 = int(rng.choice(full)) if len(full) and rng.random() < 0.8 else int(rng.integers(data.m))
        firms0 = data.pi[by_j[sj[j0]:sj[j0 + 1]]]
        if len(firms0) == 0:
            continue
        near = np.concatenate([data.pj[by_i[si[i]:si[i + 1]]] for i in firms0[:50]])
        sites, counts = np.unique(near, return_counts=True)
        sites = sites[np.argsort(-counts, kind="stable")][:LNS_SITES]
        in_s = np.zeros(data.m, dtype=bool)
        in_s[sites] = True
        free = (assign >= 0) & in_s[np.maximum(assign, 0)]
        unplaced_here = np.zeros(data.n, dtype=bool)
        unplaced_here[data.pi[in_s[data.pj]]] = True
        free |= (assign < 0) & unplaced_here
        fixed = np.where(free, -1, assign)
        sub, firm_map = _residual(data, fixed, free)
        keep = in_s[sub.pj]  # freed firms may only move among the neighbourhood's sites
        sub = dataclasses.replace(sub, pi=sub.pi[keep], pj=sub.pj[keep], cost=sub.cost[keep],
                                  pair_lead=sub.pair_lead[keep])
        current = assign[firm_map]
        current = np.where(current >= 0, current, -1)
        left = min(LNS_STEP_S, deadline - time.perf_counter() - 0.5)
        if left <= 0.5:
            break
        res = _solve_exact(sub, solver, time_limit_s=left, gap=0.0, workers=workers, hint=current)
        if res.status in ("OPTIMAL", "FEASIBLE") and res.objective < objective_of(sub, current) - 1e-6:
            trial = assign.copy()
            trial[firm_map] = res.assign
            t_obj = objective_of(data, trial)
            if t_obj < obj - 1e-6:
                assign, obj = trial, t_obj
    return assign


def _lp_relaxation(data: AssignmentData, *, time_limit_s: float) -> tuple[np.ndarray, float, bool]:
    """LP relaxation of the full model with GLOP: pair values and the optimal LP value."""
    from ortools.linear_solver import pywraplp

    s = pywraplp.Solver.CreateSolver("GLOP")
    P = len(data.pi)
    x = [s.NumVar(0.0, 1.0, "") for _ in range(P)]
    u = [s.NumVar(0.0, 1.0, "") for _ in range(data.n)] if data.allow_unassigned else []
    by_i, si = _groups(data.pi, data.n)
    for i in range(data.n):
        ct = s.Constraint(1.0, 1.0)
        for p in by_i[si[i]:si[i + 1]]:
            ct.SetCoefficient(x[p], 1.0)
        if u:
            ct.SetCoefficient(u[i], 1.0)
    _add_site_rows(s, data, x)
    obj = s.Objective()
    for p in range(P):
        obj.SetCoefficient(x[p], float(data.cost[p]))
    for i, ui in enumerate(u):
        obj.SetCoefficient(ui, float(data.penalty[i]))
    obj.SetMinimization()
    s.SetTimeLimit(int(time_limit_s * 1000))
    st = s.Solve()
    if st != s.OPTIMAL:
        return np.zeros(P), float("nan"), False
    return np.array([v.solution_value() for v in x]), float(obj.Value()), True


def _add_site_rows(s, data, x) -> None:
    by_j, sj = _groups(data.pj, data.m)
    for j in range(data.m):
        ps = by_j[sj[j]:sj[j + 1]]
        if len(ps) == 0:
            continue
        firms = data.pi[ps]
        for need, cap in ((data.need_land, data.cap_land[j]), (data.need_floor, data.cap_floor[j])):
            if np.isfinite(cap) and need[firms].sum() > cap:
                ct = s.Constraint(-s.infinity(), float(cap))
                for p, f in zip(ps, firms):
                    ct.SetCoefficient(x[p], float(need[f]))
    pg = data.pair_group()
    by_g, sg = _groups(np.where(pg >= 0, pg, data.n_groups), data.n_groups + 1)
    for g in range(data.n_groups):
        ps = by_g[sg[g]:sg[g + 1]]
        if len(ps) == 0:
            continue
        ct = s.Constraint(float(data.share_rhs[g]) / SHARE_SCALE, s.infinity())
        for p in ps:
            ct.SetCoefficient(x[p], (1.0 if data.pair_lead[p] else 0.0) - data.share_min)


def _residual(data: AssignmentData, fixed: np.ndarray, free: np.ndarray) -> tuple[AssignmentData, np.ndarray]:
    """The sub-model of the ``free`` firms with the capacity and share slack the fixed ones leave."""
    firm_map = np.flatnonzero(free)
    new_id = np.full(data.n, -1, dtype=np.int64)
    new_id[firm_map] = np.arange(len(firm_map))
    placed = fixed >= 0
    used_land = np.bincount(fixed[placed], weights=data.need_land[placed], minlength=data.m)
    used_floor = np.bincount(fixed[placed], weights=data.need_floor[placed], minlength=data.m)
    chosen = _chosen_pairs(data, fixed)
    grouped = chosen & (data.pair_group() >= 0)
    used_share = np.bincount(data.pair_group()[grouped], weights=data.share_delta()[grouped],
                             minlength=data.n_groups)
    keep = free[data.pi]
    sub = AssignmentData(
        n=len(firm_map), m=data.m, pi=new_id[data.pi[keep]], pj=data.pj[keep], cost=data.cost[keep],
        penalty=data.penalty[firm_map], need_land=data.need_land[firm_map],
        cap_land=np.maximum(data.cap_land - used_land, 0.0), need_floor=data.need_floor[firm_map],
        cap_floor=np.maximum(data.cap_floor - used_floor, 0.0), share_group=data.share_group,
        share_min=data.share_min, pair_lead=data.pair_lead[keep],
        share_rhs=np.floor(data.share_rhs - used_share), allow_unassigned=data.allow_unassigned,
    )
    return sub, firm_map


def int_unit(data: AssignmentData) -> float:
    """Grid of CP-SAT's integer needs and capacities: a power of two putting the largest finite
    need or capacity near 2³⁰ units (m² or any other unit; powers of two keep data already on
    the grid exact through the division)."""
    values = [np.abs(np.asarray(a, float)) for a in (data.need_land, data.need_floor, data.cap_land, data.cap_floor)]
    top = max([float(v[np.isfinite(v)].max(initial=0.0)) for v in values] + [1.0])
    return 2.0 ** math.ceil(math.log2(top / 2 ** 30))


def _int_data(data: AssignmentData):
    """Needs rounded up and finite capacities down to whole grid units (a restriction: every
    integer solution fits the real capacities)."""
    unit = int_unit(data)
    needs = [np.ceil(np.asarray(x, float) / unit - 1e-9).astype(np.int64) for x in (data.need_land, data.need_floor)]
    caps = [np.floor(np.where(np.isfinite(c), c, 0.0) / unit + 1e-9).astype(np.int64)
            for c in (np.asarray(data.cap_land, float), np.asarray(data.cap_floor, float))]
    return needs[0], needs[1], caps[0], caps[1]


def _solve_cpsat(data, *, time_limit_s, gap, workers, hint, cutoff=None, first=False) -> AssignmentResult:
    from ortools.sat.python import cp_model

    model = cp_model.CpModel()
    P = len(data.pi)
    x = [model.new_bool_var(f"x{p}") for p in range(P)]
    top = max(float(data.cost.max()) if P else 0.0, float(data.penalty.max()) if data.n else 0.0, 1e-9)
    scale = 1e7 / top
    icoef = np.rint(data.cost * scale).astype(np.int64)
    ipen = np.rint(data.penalty * scale).astype(np.int64)
    need_land, need_floor, cap_land, cap_floor = _int_data(data)
    by_i, si = _groups(data.pi, data.n)
    # Explicit "unassigned" variables u_i keep the objective Σ c x + Σ pen u non-negative, so the
    # solver's relative-gap stop means the same as the gap we report (a constant shift would not).
    u = []
    for i in range(data.n):
        vs = [x[p] for p in by_i[si[i]:si[i + 1]]]
        if data.allow_unassigned:
            u.append(model.new_bool_var(f"u{i}"))
            model.add_exactly_one(vs + [u[-1]])
        else:
            model.add_exactly_one(vs)  # empty → infeasible, detected before solving upstream
    by_j, sj = _groups(data.pj, data.m)
    for j in range(data.m):
        ps = by_j[sj[j]:sj[j + 1]]
        if len(ps) == 0:
            continue
        vs = [x[p] for p in ps]
        firms = data.pi[ps]
        if np.isfinite(data.cap_land[j]) and need_land[firms].sum() > cap_land[j]:
            model.add(cp_model.LinearExpr.weighted_sum(vs, need_land[firms].tolist()) <= int(cap_land[j]))
        if np.isfinite(data.cap_floor[j]) and need_floor[firms].sum() > cap_floor[j]:
            model.add(cp_model.LinearExpr.weighted_sum(vs, need_floor[firms].tolist()) <= int(cap_floor[j]))
    pg, delta = data.pair_group(), data.share_delta()
    by_g, sg = _groups(np.where(pg >= 0, pg, data.n_groups), data.n_groups + 1)
    for g in range(data.n_groups):
        ps = by_g[sg[g]:sg[g + 1]]
        if len(ps):
            model.add(cp_model.LinearExpr.weighted_sum([x[p] for p in ps], delta[ps].tolist()) >= int(data.share_rhs[g]))
    objective = (cp_model.LinearExpr.weighted_sum(x + u, icoef.tolist() + ipen.tolist()) if data.allow_unassigned
                 else cp_model.LinearExpr.weighted_sum(x, icoef.tolist()))
    model.minimize(objective)
    if cutoff is not None:
        model.add(objective <= int(math.floor(cutoff * scale)))
    if hint is not None:
        chosen = _chosen_pairs(data, hint)
        for p in range(P):
            model.add_hint(x[p], bool(chosen[p]))
        for i, ui in enumerate(u):
            model.add_hint(ui, bool(hint[i] < 0))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit_s)
    solver.parameters.num_workers = max(1, int(workers))
    solver.parameters.relative_gap_limit = float(gap)
    solver.parameters.stop_after_first_solution = bool(first)
    st = solver.solve(model)
    name = solver.status_name(st)
    if st in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        vals = np.array([solver.boolean_value(v) for v in x], dtype=bool) if P else np.zeros(0, bool)
        assign = np.full(data.n, -1, dtype=np.int64)
        assign[data.pi[vals]] = data.pj[vals]
        obj = objective_of(data, assign)
        bound = solver.best_objective_bound / scale
        bound = min(bound, obj)  # rounding of the scaled costs can put the bound a hair above
    else:
        assign = np.full(data.n, -1, dtype=np.int64)
        obj, bound = float("nan"), float("nan")
    return AssignmentResult(assign, name, obj, bound, _gap(obj, bound), 0.0, "cp_sat", P)


def _solve_mip(data, name, *, time_limit_s, gap, hint, cutoff=None, first=False) -> AssignmentResult:
    from ortools.linear_solver import pywraplp

    s = pywraplp.Solver.CreateSolver(name.upper())
    P = len(data.pi)
    x = [s.BoolVar(f"x{p}") for p in range(P)]
    u = [s.BoolVar(f"u{i}") for i in range(data.n)] if data.allow_unassigned else []
    by_i, si = _groups(data.pi, data.n)
    for i in range(data.n):
        ps = by_i[si[i]:si[i + 1]]
        ct = s.Constraint(1, 1)
        for p in ps:
            ct.SetCoefficient(x[p], 1)
        if u:
            ct.SetCoefficient(u[i], 1)
    _add_site_rows(s, data, x)
    objective = s.Objective()
    for p in range(P):
        objective.SetCoefficient(x[p], float(data.cost[p]))
    for i, ui in enumerate(u):
        objective.SetCoefficient(ui, float(data.penalty[i]))
    objective.SetMinimization()
    if cutoff is not None:
        ct = s.Constraint(-s.infinity(), float(cutoff))
        for v, c in zip(x + u, np.concatenate([data.cost, data.penalty[:len(u)]]).tolist()):
            ct.SetCoefficient(v, c)
    if hint is not None and name == "scip":
        chosen = _chosen_pairs(data, hint)
        s.SetHint(x + u, [1.0 if c else 0.0 for c in chosen] + [1.0 if a < 0 else 0.0 for a in hint[:len(u)]])
    if first and name == "scip":
        s.SetSolverSpecificParametersAsString("limits/solutions = 1\n")
    s.SetTimeLimit(int(time_limit_s * 1000))
    params = pywraplp.MPSolverParameters()
    params.SetDoubleParam(params.RELATIVE_MIP_GAP, float(gap))
    st = s.Solve(params)
    names = {s.OPTIMAL: "OPTIMAL", s.FEASIBLE: "FEASIBLE", s.INFEASIBLE: "INFEASIBLE", s.NOT_SOLVED: "UNKNOWN",
             s.ABNORMAL: "MODEL_INVALID", s.UNBOUNDED: "MODEL_INVALID"}
    if st in (s.OPTIMAL, s.FEASIBLE):
        vals = np.array([v.solution_value() > 0.5 for v in x], dtype=bool) if P else np.zeros(0, bool)
        assign = np.full(data.n, -1, dtype=np.int64)
        assign[data.pi[vals]] = data.pj[vals]
        obj = objective_of(data, assign)
        bound = min(objective.BestBound(), obj)
    else:
        assign = np.full(data.n, -1, dtype=np.int64)
        obj, bound = float("nan"), float("nan")
    return AssignmentResult(assign, names.get(st, "UNKNOWN"), obj, bound, _gap(obj, bound), 0.0, name, P)


def _gap(obj: float, bound: float) -> float:
    if not (np.isfinite(obj) and np.isfinite(bound)):
        return float("nan")
    if abs(obj) < 1e-9:
        return 0.0
    return max(0.0, (obj - bound) / abs(obj))
