"""Lagrangian lower bound of the siting assignment model (private to :mod:`analysis._assign`).

Relaxing each firm's row ``Σ_{p∋i} x_p + u_i = 1`` with a free multiplier λ_i and each share
group's row ``Σ_{p∈g} (a_p − s) x_p ≥ r_g`` with μ_g ≥ 0 leaves one small problem per site::

    L(λ, μ) = Σ_i λ_i + Σ_i min(0, pen_i − λ_i) + Σ_g μ_g r_g + Σ_j K_j(λ, μ)
    K_j     = min Σ_{p∋j} rc_p x_p   s.t.  Σ L_i x_p ≤ C_j,  Σ F_i x_p ≤ G_j,  x ∈ {0, 1}
    rc_p    = c_p − λ_i − μ_g (a_p − s)

For every (λ, μ), L is a lower bound of the model's optimum (weak duality: the relaxed rows
only enter with the multipliers' signs that cannot raise the minimum); because each K_j
keeps its integrality, the best L is at least the LP bound (Geoffrion 1974), and it is what
the solver reports.  K_j is a two-row knapsack over the pairs with rc_p < 0 (the others are
never worth taking); its value is proven, never estimated:

* if every such pair fits in land and floor, K_j is the sum of their rc_p (exact);
* otherwise OR-Tools' branch-and-bound knapsack solver on integer data: each row scaled so
  its largest value is 2³⁰ units, needs rounded down and capacities up, profits −rc_p
  rounded up (2⁴⁰ units for the largest) — every rounding can only lower the minimum, so
  the integer problem is a relaxation of K_j.  The land row alone first; if its optimum
  fits the floor row too, it is the two-row optimum.  Else the surrogate row
  ``L + θF ≤ C + θG`` (θ = C/G; every set that fits both rows fits it) in the same way,
  then both rows together;
* a site whose solve hits ``SITE_TIME_S`` keeps the largest proven minimum of those
  relaxations and of a dynamic programme over a capacity grid of ``GRID_UNITS`` steps with
  needs rounded *down* to whole steps (``⌊L_i·units/C_j⌋``: every set that fits the real row
  fits the grid, so the grid problem is a relaxation too).

The multipliers start at the LP relaxation's duals (HiGHS dual simplex through SciPy), so
the first L is at least the LP value up to the knapsacks' gain, and follow a deflected
subgradient ascent (:class:`DualAscent`).
"""
from __future__ import annotations

import numpy as np

__all__ = ["SiteKnapsacks", "LagrangianBound", "DualAscent", "lp_relaxation"]

PROFIT_UNITS = 2.0 ** 40  # exact knapsack: the largest profit of a call in integer units
NO_LIMIT = 2 ** 62        # integer stand-in for an unlimited capacity
GRID_UNITS = 8192       # capacity grid of the fallback dynamic programme (a few sites at a time)
SITE_TIME_S = 0.1       # time limit of one site's knapsack solve before the fallback


class SiteKnapsacks:
    """The per-site knapsacks K_j of one model; :meth:`solve` takes the reduced costs.

    Exact by default: OR-Tools' branch-and-bound knapsack solver on integer data (needs
    rounded down to whole m², capacities down to whole m², profits −rc rounded up in
    millionths — each rounding can only lower the minimum, so the value stays a bound).
    The land row is solved first (fast, one dimension); where its optimum also fits the
    floor row it is the exact two-row optimum, elsewhere the two-row problem is solved.
    A site whose solve hits its time limit falls back to the capacity-grid relaxation.
    """

    def __init__(self, data, *, units: int = GRID_UNITS):
        from ortools.algorithms.python import knapsack_solver as ks

        self.data = data
        self.units = units
        self.need = (np.asarray(data.need_land, float), np.asarray(data.need_floor, float))
        self.cap = (np.asarray(data.cap_land, float), np.asarray(data.cap_floor, float))
        # integer data for the exact solver: each row scaled so its largest finite value is 2³⁰,
        # needs rounded down and capacities up (a hair of slack against float error): every set
        # that fits the real row fits the integer one, so the integer problem is a relaxation
        self.int_need, self.int_cap = [], []
        for need, cap in zip(self.need, self.cap):
            finite = np.concatenate([need[np.isfinite(need)], cap[np.isfinite(cap)], [1.0]])
            unit = 2.0 ** 30 / max(float(np.abs(finite).max()), 1e-300)
            self.int_need.append(np.floor(need * unit * (1 - 1e-12)).astype(np.int64))
            self.int_cap.append(np.where(np.isfinite(cap), np.floor(np.where(np.isfinite(cap), cap, 0) * unit
                                                                    * (1 + 1e-12)), NO_LIMIT).astype(np.int64))
        self.one_row = ks.KnapsackSolver(ks.SolverType.KNAPSACK_MULTIDIMENSION_BRANCH_AND_BOUND_SOLVER, "land")
        self.two_rows = ks.KnapsackSolver(ks.SolverType.KNAPSACK_MULTIDIMENSION_BRANCH_AND_BOUND_SOLVER, "land+floor")
        self.timeouts = 0

    def solve(self, rc: np.ndarray, *, site_time_s: float = SITE_TIME_S):
        """Lower bound of each K_j (m,) and a minimising pair set (bool per pair)."""
        d = self.data
        neg = np.flatnonzero(rc < 0)
        site, firm = d.pj[neg], d.pi[neg]
        value = np.zeros(d.m)
        chosen = np.zeros(len(d.pi), bool)
        over = np.zeros(d.m, bool)  # sites where not every profitable pair fits
        for need, cap in zip(self.need, self.cap):
            over |= np.bincount(site, weights=need[firm], minlength=d.m) > cap + 1e-9
        easy = ~over[site]
        chosen[neg[easy]] = True
        value += np.bincount(site[easy], weights=rc[neg[easy]], minlength=d.m)
        hard = neg[~easy]
        if len(hard) == 0:
            return value, chosen
        hard = hard[np.argsort(d.pj[hard], kind="stable")]
        starts = np.searchsorted(d.pj[hard], np.arange(d.m + 1))
        scale = PROFIT_UNITS / max(float(-rc[hard].min()), 1e-300)
        profit = np.ceil(-rc[hard] * scale).astype(np.int64)   # rounded up: the maximum can only grow
        late, known = [], np.full(d.m, -np.inf)   # timed-out sites; a bound already proven there
        for j in np.flatnonzero(over).tolist():
            rows = hard[starts[j]:starts[j + 1]]
            v, sel, exact = self._site(j, d.pi[rows], profit[starts[j]:starts[j + 1]].tolist(), scale, site_time_s)
            if not exact:
                known[j] = v
                late.append(j)
                continue
            value[j] = v
            chosen[rows[sel]] = True
        if late:  # time limit hit: fall back to the grid relaxation for these sites
            self.timeouts += len(late)
            self._grid_fallback(rc, hard, np.array(late), known, value, chosen)
        return value, chosen

    def _site(self, j: int, f: np.ndarray, profit: list, scale: float, time_s: float):
        """K_j by knapsack solves: (value, chosen items, exact?).

        Land row first; where its optimum breaks the floor row, the surrogate row
        land + θ·floor ≤ C + θ·G (θ = C/G; every set fitting both rows fits it), then both rows.
        Each is a relaxation of the site problem, so when not exact the value returned is the
        largest of their proven minima."""
        (nl, nf), (cl, cf) = self.int_need, self.int_cap
        need_l, need_f = nl[f], nf[f]
        solver = self.one_row
        bound = -np.inf
        for weights, cap in self._rows(j, need_l, need_f):
            solver.set_time_limit(time_s)
            solver.init(profit, [weights], [cap])
            v = -solver.solve() / scale
            if not solver.is_solution_optimal():
                continue
            bound = max(bound, v)
            sel = np.array([solver.best_solution_contains(k) for k in range(len(f))], bool)
            if need_l[sel].sum() <= cl[j] and need_f[sel].sum() <= cf[j]:
                return v, sel, True          # a relaxation's optimum that fits both rows is exact
        solver = self.two_rows
        solver.set_time_limit(time_s)
        solver.init(profit, [need_l.tolist(), need_f.tolist()], [int(cl[j]), int(cf[j])])
        v = -solver.solve() / scale
        if solver.is_solution_optimal():
            return v, np.array([solver.best_solution_contains(k) for k in range(len(f))], bool), True
        return bound, None, False

    def _rows(self, j, need_l, need_f):
        (cl, cf) = self.int_cap
        yield need_l.tolist(), int(cl[j])
        if cf[j] < NO_LIMIT and cl[j] > 0 and cf[j] > 0:
            theta = cl[j] / cf[j]
            yield (np.floor((need_l + theta * need_f) * (1 - 1e-12)).astype(np.int64).tolist(),
                   int(np.floor((cl[j] + theta * cf[j]) * (1 + 1e-12))))

    def _grid_fallback(self, rc, hard, sites, known, value, chosen):
        d = self.data
        rows = hard[np.isin(d.pj[hard], sites)]
        profit_ub = np.full(d.m, np.inf)
        best_sel = np.zeros(len(rows), bool)
        for need, cap in zip(self.need, self.cap):
            v, sel = _grid_knapsack(d.pj[rows], need[d.pi[rows]], cap, -rc[rows], d.m, self.units)
            better = v < profit_ub
            profit_ub = np.minimum(profit_ub, v)
            now = better[d.pj[rows]]
            best_sel[now] = sel[now]
        value[sites] = np.maximum(known[sites], -profit_ub[sites])
        chosen[rows] = best_sel


def _grid_knapsack(site, need, cap, profit, m, units):
    """Max-profit 0/1 knapsack per site on a capacity grid (needs rounded down): value, chosen.

    ``value`` is +inf at sites without items (no information)."""
    counts = np.bincount(site, minlength=m)
    sites = np.flatnonzero(counts)
    sites = sites[np.argsort(-counts[sites], kind="stable")]   # most items first: active rows are a prefix
    pos = np.empty(m, np.int64)
    pos[sites] = np.arange(len(sites))
    order = np.lexsort((-profit, pos[site]))
    row = pos[site[order]]
    starts = np.searchsorted(row, np.arange(len(sites) + 1))
    col = np.arange(len(order)) - starts[row]
    K = int(counts.max())
    W = np.zeros((len(sites), K), np.int64)
    P = np.zeros((len(sites), K))
    # rounded down (minus a hair against float error) so that the grid problem is a relaxation
    steps = need[order] * units / np.maximum(cap[site[order]], 1e-300)
    W[row, col] = np.where(steps > units, units + 1, np.floor(np.minimum(steps, units + 1) - 1e-9)).astype(np.int64)
    P[row, col] = profit[order]
    active = np.searchsorted(-counts[sites], -np.arange(1, K + 1), side="right")  # rows with > k items
    dp = np.zeros((len(sites), units + 1))
    grid = np.arange(units + 1)
    takes = []
    for k in range(K):
        na = int(active[k])
        src = grid[None, :] - W[:na, k, None]
        cand = np.take_along_axis(dp[:na], np.maximum(src, 0), axis=1) + P[:na, k, None]
        take = (src >= 0) & (cand > dp[:na])
        np.copyto(dp[:na], cand, where=take)
        takes.append(take)
    value = np.full(m, np.inf)      # no information where the programme did not run
    value[sites] = dp[:, units]
    sel_sorted = np.zeros(len(order), bool)
    c = np.full(len(sites), units)
    for k in range(K - 1, -1, -1):
        na = int(active[k])
        t = takes[k][np.arange(na), c[:na]]
        c[:na] -= W[:na, k] * t
        sel_sorted[starts[:na] + k] = t
    chosen = np.zeros(len(site), bool)
    chosen[order] = sel_sorted
    return value, chosen


def lp_relaxation(data, *, time_limit_s: float = 600.0):
    """LP relaxation with HiGHS (dual simplex, through SciPy), built as sparse matrices.

    Returns ``(value, x, lam, mu, ok)``: the LP optimum, pair values, the duals of the firm
    rows (λ, free) and of the share-group rows (μ ≥ 0), and whether HiGHS reached optimality.
    """
    import scipy.sparse as sp
    from scipy.optimize import linprog

    d = data
    P, n, m, G = len(d.pi), d.n, d.m, d.n_groups
    allow = bool(d.allow_unassigned)
    nv = P + (n if allow else 0)
    cost = np.concatenate([d.cost, d.penalty]) if allow else np.asarray(d.cost, float)
    cols = np.arange(P)
    firm_rows = sp.csr_matrix((np.ones(nv), (np.concatenate([d.pi, np.arange(n)]) if allow else d.pi, np.arange(nv))),
                              shape=(n, nv))
    rows, rhs = [], []
    for need, cap in ((d.need_land, d.cap_land), (d.need_floor, d.cap_floor)):
        cap = np.asarray(cap, float)
        finite = np.isfinite(cap)
        rows.append(sp.csr_matrix((need[d.pi], (d.pj, cols)), shape=(m, nv))[finite])
        rhs.append(cap[finite])
    pg = d.pair_group()
    grouped = np.flatnonzero(pg >= 0)
    if G:  # Σ (a − s) x ≥ r  ⇔  −Σ (a − s) x ≤ −r
        coef = np.where(d.pair_lead, 1.0 - d.share_min, -d.share_min)
        rows.append(sp.csr_matrix((-coef[grouped], (pg[grouped], grouped)), shape=(G, nv)))
        rhs.append(-np.asarray(d.share_rhs, float) / 1000.0)
    res = linprog(cost, A_ub=sp.vstack(rows).tocsr(), b_ub=np.concatenate(rhs), A_eq=firm_rows, b_eq=np.ones(n),
                  bounds=(0, 1), method="highs-ds", options={"time_limit": float(time_limit_s)})
    if res.status != 0:
        return float("nan"), np.zeros(P), np.zeros(n), np.zeros(G), False
    lam = np.asarray(res.eqlin.marginals, float)
    mu = -np.asarray(res.ineqlin.marginals, float)[len(res.ineqlin.marginals) - G:] if G else np.zeros(0)
    return float(res.fun), np.asarray(res.x[:P]), lam, np.maximum(mu, 0.0), True


class LagrangianBound:
    """L(λ, μ) of one model, its best value so far and the multipliers that gave it."""

    def __init__(self, data, *, units: int = GRID_UNITS):
        self.data = data
        self.knapsacks = SiteKnapsacks(data, units=units)
        self.pg = data.pair_group()
        self.delta = np.where(data.pair_lead, 1.0 - data.share_min, -data.share_min)
        self.rhs = np.asarray(data.share_rhs, float) / 1000.0
        self.pen = np.where(data.allow_unassigned, data.penalty, np.inf).astype(float)
        self.best = -np.inf
        # the best multipliers, site values and knapsack choice: set by the first evaluate()
        # (read them only once ``evaluations`` > 0)
        self.best_lam: np.ndarray
        self.best_mu: np.ndarray
        self.best_sites: np.ndarray
        self.best_chosen: np.ndarray
        self.evaluations = 0

    def reduced_costs(self, lam, mu):
        rc = self.data.cost - lam[self.data.pi]
        if len(mu):
            g = self.pg >= 0
            rc = rc - np.where(g, mu[np.maximum(self.pg, 0)] * self.delta, 0.0)
        return rc

    def evaluate(self, lam, mu):
        """L(λ, μ) (a valid lower bound) and the knapsacks' pair choice."""
        rc = self.reduced_costs(lam, mu)
        site_val, chosen = self.knapsacks.solve(rc)
        value = float(lam.sum() + np.minimum(0.0, self.pen - lam).sum() + (mu * self.rhs).sum() + site_val.sum())
        self.evaluations += 1
        if value > self.best:
            self.best, self.best_lam, self.best_mu = value, lam.copy(), mu.copy()
            self.best_sites, self.best_chosen = site_val, chosen
        return value, chosen

    def best_value_choice(self):
        """The best L and the knapsacks' choice there (for a restart from the best multipliers)."""
        return self.best, self.best_chosen

    def subgradient(self, lam, mu, chosen):
        """Subgradient of L at (λ, μ) given the knapsacks' choice (μ's part projected on μ ≥ 0)."""
        d = self.data
        count = np.bincount(d.pi[chosen], minlength=d.n)
        g_lam = 1.0 - count - (self.pen - lam < 0)
        if len(mu):
            sel = chosen & (self.pg >= 0)
            g_mu = self.rhs - np.bincount(self.pg[sel], weights=self.delta[sel], minlength=d.n_groups)
            g_mu = np.where((mu <= 0) & (g_mu < 0), 0.0, g_mu)
        else:
            g_mu = np.zeros(0)
        return g_lam, g_mu


# -- multipliers --------------------------------------------------------------------------------
ALPHA0 = 0.1            # first Polyak step factor (the LP duals start close to the optimum)
PATIENCE = 5            # halve the factor after this many evaluations without a better bound
ALPHA_MIN = 1e-4        # below this the multipliers have converged
DEFLECTION = 1.5        # Camerini–Fratta–Maffioli deflection of the subgradient direction
STALL_EVALS, STALL_REL = 20, 1e-4   # the bound has stalled: < 0.01 % better over 20 evaluations


class DualAscent:
    """Subgradient ascent on L(λ, μ) from a start (the LP duals), one evaluation per step.

    Direction: the subgradient deflected by the previous direction when they point apart
    (Camerini, Fratta & Maffioli 1975), which damps the zig-zag of plain steps; step length
    α·(U − L)/‖d‖² (Polyak) toward the best objective U known, α halved after ``PATIENCE``
    evaluations without a better bound.
    """

    def __init__(self, bound: LagrangianBound, lam: np.ndarray, mu: np.ndarray):
        self.bound, self.lam, self.mu = bound, lam.astype(float).copy(), mu.astype(float).copy()
        self.alpha, self.stale = ALPHA0, 0
        self.d_lam, self.d_mu = np.zeros_like(self.lam), np.zeros_like(self.mu)
        self.converged = False
        self.history: list[float] = []   # best L after each evaluation

    def stalled(self, evaluations: int = STALL_EVALS, rel: float = STALL_REL) -> bool:
        """Converged, or (after the first ``2 × evaluations``, when steps may still overshoot)
        the best bound rose by less than ``rel`` over the last ``evaluations``."""
        h = self.history
        if self.converged:
            return True
        return len(h) > 2 * evaluations and h[-1] - h[-1 - evaluations] <= rel * abs(h[-1])

    def step(self, upper: float):
        """Evaluate L at the current multipliers, then move them; returns (L, knapsack choice)."""
        b = self.bound
        before = b.best
        value, chosen = b.evaluate(self.lam, self.mu)
        self.history.append(b.best)
        self.stale = 0 if b.best > before + 1e-9 else self.stale + 1
        if self.stale >= PATIENCE:   # halve the steps and go back to the best multipliers
            self.alpha, self.stale = self.alpha / 2, 0
            self.lam, self.mu = b.best_lam.copy(), b.best_mu.copy()
            self.d_lam, self.d_mu = np.zeros_like(self.lam), np.zeros_like(self.mu)
            value, chosen = b.best_value_choice()
        g_lam, g_mu = b.subgradient(self.lam, self.mu, chosen)
        prev = float((self.d_lam ** 2).sum() + (self.d_mu ** 2).sum())
        beta = 0.0
        if prev > 0:
            beta = DEFLECTION * max(0.0, -float((g_lam * self.d_lam).sum() + (g_mu * self.d_mu).sum()) / prev)
        self.d_lam, self.d_mu = g_lam + beta * self.d_lam, g_mu + beta * self.d_mu
        norm = float((self.d_lam ** 2).sum() + (self.d_mu ** 2).sum())
        if norm == 0 or self.alpha < ALPHA_MIN:   # norm 0: the knapsacks' choice is feasible and optimal
            self.converged = True
            return value, chosen
        if not np.isfinite(upper):   # no solution known yet: aim 1 % above the bound
            upper = value + 0.01 * abs(value)
        step = self.alpha * max(upper - value, 1e-6 * abs(upper)) / norm
        self.lam = self.lam + step * self.d_lam
        self.mu = np.maximum(0.0, self.mu + step * self.d_mu)
        return value, chosen
