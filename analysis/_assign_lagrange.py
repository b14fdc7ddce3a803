"""Lagrangian lower bound of the siting assignment model (private to :mod:`analysis._assign`).

Relaxing each firm's row ``Σ_{p∋i} x_p + u_i = 1`` with a free multiplier λ_i and each share
group's row ``Σ_{p∈g} (a_p − s) x_p ≥ r_g`` with μ_g ≥ 0 leaves one small problem per site::

    L(λ, μ) = Σ_i λ_i + Σ_i min(0, pen_i − λ_i) + Σ_g μ_g r_g + Σ_j K_j(λ, μ)
    K_j     = min Σ_{p∋j} rc_p x_p   s.t.  Σ L_i x_p ≤ C_j,  Σ F_i x_p ≤ G_j,  x ∈ {0, 1}
    rc_p    = c_p − λ_i − μ_g (a_p − s)

For every (λ, μ), L is a lower bound of the model's optimum (weak duality); because each K_j
keeps its integrality, the best L is at least the LP bound (Geoffrion 1974), and it is what
the solver reports.  K_j is a two-row knapsack over the pairs with rc_p < 0; it is bounded
from below, never guessed:

* if every such pair fits in land and floor, K_j is the sum of their rc_p (exact);
* otherwise a dynamic programme per site over a capacity grid of ``units`` steps: each
  need is rounded *down* to whole steps (``⌊L_i·units/C_j⌋``), so every set that fits the real
  capacity fits the grid — the grid problem is a relaxation and its minimum is ≤ K_j.  With
  both rows binding it is run for land and for floor, and the larger of the two minima is
  kept (each is a relaxation);
* :meth:`SiteKnapsacks.solve` with ``exact=True`` instead asks OR-Tools' multidimensional
  branch-and-bound knapsack solver (integer data: needs rounded down to whole m², profits
  −rc_p rounded up in units of 1e-6, both of which can only lower the minimum) and keeps its
  value where it proves optimality within its time limit, the grid value elsewhere.

The multipliers start at the LP relaxation's duals (HiGHS dual simplex through SciPy, so
the first L is already at least the LP value up to the knapsacks' gain) and follow a
subgradient method with Polyak steps toward the best known objective.
"""
from __future__ import annotations

import logging
import time

import numpy as np

log = logging.getLogger(__name__)

__all__ = ["SiteKnapsacks", "LagrangianBound", "lp_relaxation"]

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
        self.best_lam = self.best_mu = self.best_sites = self.best_chosen = None
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


class DualAscent:
    """Subgradient ascent on L(λ, μ) from a start (the LP duals), one evaluation per step.

    Direction: the subgradient deflected by the previous direction when they point apart
    (Camerini, Fratta & Maffioli 1975), which damps the zig-zag of plain steps; step length
    α·(U − L)/‖d‖² (Polyak) toward the best objective U known, α halved after ``PATIENCE``
    evaluations without a better bound.
    """

    def __init__(self, bound: "LagrangianBound", lam: np.ndarray, mu: np.ndarray):
        self.bound, self.lam, self.mu = bound, lam.astype(float).copy(), mu.astype(float).copy()
        self.alpha, self.stale = ALPHA0, 0
        self.d_lam, self.d_mu = np.zeros_like(self.lam), np.zeros_like(self.mu)
        self.converged = False

    def step(self, upper: float):
        """Evaluate L at the current multipliers, then move them; returns (L, knapsack choice)."""
        b = self.bound
        before = b.best
        value, chosen = b.evaluate(self.lam, self.mu)
        self.stale = 0 if b.best > before + 1e-9 else self.stale + 1
        if self.stale >= PATIENCE:
            self.alpha, self.stale = self.alpha / 2, 0
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
        if not np.isfinite(upper):   # no solution known yet: aim 2 % above the bound
            upper = value + 0.02 * abs(value)
        step = self.alpha * max(upper - value, 1e-6 * abs(upper)) / norm
        self.lam = self.lam + step * self.d_lam
        self.mu = np.maximum(0.0, self.mu + step * self.d_mu)
        return value, chosen


def _dual_process(conn, data, lam, mu, upper: float, stop_at: float) -> None:
    """Child process: dual ascent until ``stop_at`` (wall clock), a "stop" message or convergence.

    Receives ("upper", U) updates; sends ("bound", L, λ, μ, K_j, chosen pairs) on each better
    bound (at most every half second) and a last one when it ends.
    """
    bound = LagrangianBound(data)
    ascent = DualAscent(bound, lam, mu)
    sent, last = -np.inf, 0.0

    def send():
        conn.send(("bound", bound.best, bound.best_lam, bound.best_mu, bound.best_sites,
                   np.flatnonzero(bound.best_chosen), bound.evaluations))

    try:
        while time.time() < stop_at and not ascent.converged:
            stop = False
            while conn.poll():
                msg = conn.recv()
                if msg[0] == "stop":
                    stop = True
                else:
                    upper = msg[1]
            if stop:
                break
            ascent.step(upper)
            if bound.best > sent and time.time() - last > 0.5:
                send()
                sent, last = bound.best, time.time()
        if bound.best_lam is not None and bound.best > sent:
            send()
        conn.send(("done",))
    except (EOFError, BrokenPipeError):
        pass
    finally:
        conn.close()


class DualRunner:
    """Runs :class:`DualAscent` beside the primal search: in a child process (two cores), or
    interleaved in this one, taking at most ``share`` of the elapsed time."""

    def __init__(self, data, bound: "LagrangianBound", lam, mu, *, upper: float, deadline: float, parallel: bool,
                 share: float = 0.4):
        self.bound, self.deadline, self.share = bound, deadline, share
        self.proc = self.conn = None
        self.spent, self.t0, self.done, self.evaluations = 0.0, time.perf_counter(), False, 0
        self.inline = DualAscent(bound, lam, mu)
        if parallel:
            try:
                self._spawn(data, lam, mu, upper)
            except (OSError, RuntimeError, ValueError) as exc:  # no child process here: stay inline
                log.info("dual ascent inline: %s", exc)

    def _spawn(self, data, lam, mu, upper):
        import multiprocessing as mp

        from scale.partitioned import _plain_main   # spawned children must not re-run a page script

        parent, child = mp.get_context("spawn").Pipe()
        stop_at = time.time() + (self.deadline - time.perf_counter()) - 0.3
        with _plain_main():
            proc = mp.get_context("spawn").Process(target=_dual_process, args=(child, data, lam, mu, upper, stop_at),
                                                   daemon=True)
            proc.start()
        child.close()
        self.proc, self.conn = proc, parent

    def advance(self, upper: float) -> bool:
        """Take in the child's news, or do one inline step when due; True if the bound rose."""
        before = self.bound.best
        if self.conn is not None:
            self._send(("upper", upper))
            self._receive()
        elif not self.done and self.spent <= self.share * (time.perf_counter() - self.t0):
            t = time.perf_counter()
            self.inline.step(upper)
            self.evaluations += 1
            self.spent += time.perf_counter() - t
            self.done = self.inline.converged
        return self.bound.best > before + 1e-9

    def _send(self, msg):
        try:
            self.conn.send(msg)
        except (BrokenPipeError, OSError):
            self.conn = None
            self.done = True

    def _receive(self):
        try:
            while self.conn is not None and self.conn.poll():
                msg = self.conn.recv()
                if msg[0] == "done":
                    self.done = True
                    continue
                _, value, lam, mu, sites, chosen, self.evaluations = msg
                if value > self.bound.best:
                    mask = np.zeros(len(self.bound.data.pi), bool)
                    mask[chosen] = True
                    b = self.bound
                    b.best, b.best_lam, b.best_mu, b.best_sites, b.best_chosen = value, lam, mu, sites, mask
        except (EOFError, OSError):
            self.conn, self.done = None, True

    def finish(self, wait_s: float = 2.0) -> None:
        """Stop the child and take in its last bound."""
        if self.proc is None:
            return
        if self.conn is not None:
            self._send(("stop",))
            end = time.perf_counter() + wait_s
            while self.conn is not None and not self.done and time.perf_counter() < end:
                if self.conn.poll(0.05):
                    self._receive()
        self.proc.join(timeout=1.0)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join()


# -- the strategy --------------------------------------------------------------------------------
LS_EVERY = 20           # local search on the incumbent every k LNS steps
HEURISTIC_ROUNDS = 3    # Lagrangian heuristic on the first k better multipliers


def primal_data(data):
    """The model with needs rounded up and capacities down to CP-SAT's integer grid
    (:func:`analysis._assign.int_unit`, ~2⁻³⁰ of the largest value) for the primal side.

    Every solution of it is a solution of ``data``; the local search and both exact
    sub-solvers then agree on feasibility, so warm starts are always accepted.
    """
    import dataclasses

    from analysis._assign import int_unit

    unit = int_unit(data)
    need = [np.ceil(np.asarray(x, float) / unit - 1e-9) * unit for x in (data.need_land, data.need_floor)]
    cap = [np.floor(np.asarray(x, float) / unit + 1e-9) * unit for x in (data.cap_land, data.cap_floor)]
    return dataclasses.replace(data, need_land=need[0], need_floor=need[1], cap_land=cap[0], cap_floor=cap[1])


class _Incumbent:
    def __init__(self, data, assign):
        from analysis._assign import objective_of

        self.data, self.objective_of = data, objective_of
        self.assign, self.objective = assign, objective_of(data, assign)

    def offer(self, candidate) -> bool:
        obj = self.objective_of(self.data, candidate)
        if obj < self.objective - 1e-9:
            self.assign, self.objective = candidate, obj
            return True
        return False


def solve(data, *, solver: str, time_limit_s: float, gap: float, workers: int, hint: np.ndarray | None,
          t0: float):
    """Lagrangian bound beside local search and guided LNS; see :func:`analysis._assign.solve_assignment`."""
    from analysis import _assign
    from analysis._assign_search import GuidedLNS, Moves, local_search, repair

    deadline = t0 + time_limit_s
    moves = Moves(primal_data(data))
    start = hint if hint is not None else _assign.greedy_assignment(moves.data)
    inc = _Incumbent(data, _feasible_part(moves, start))   # the warm start, a fallback
    # multipliers: LP duals (L there is at least the LP bound), then the dual ascent
    _, _, lam, mu, ok = lp_relaxation(data, time_limit_s=max(1.0, 0.4 * (deadline - time.perf_counter())))
    if not ok:
        lam, mu = _cheapest_cost(data), np.zeros(data.n_groups)
    bound = LagrangianBound(data)
    _, chosen = bound.evaluate(lam, mu)
    log.info("start %.1f, LP %s, L %.1f (%.1f s)", inc.objective, ok, bound.best, time.perf_counter() - t0)
    dual = DualRunner(data, bound, bound.best_lam, bound.best_mu, upper=inc.objective, deadline=deadline,
                      parallel=workers >= 2)
    inc.offer(local_search(moves, repair(moves, chosen, bound.reduced_costs(lam, mu)), deadline=deadline))
    log.info("Lagrangian heuristic: %.1f (%.1f s)", inc.objective, time.perf_counter() - t0)
    lns = GuidedLNS(moves, bound.reduced_costs(lam, mu), bound.best_sites, bound.best_chosen, solver=solver)
    current, rounds = inc.assign, 1
    while time.perf_counter() < deadline - 0.05 and _assign._gap(inc.objective, bound.best) > gap:
        if dual.advance(inc.objective):
            rc = bound.reduced_costs(bound.best_lam, bound.best_mu)
            lns.guide(rc, bound.best_sites, bound.best_chosen)
            if rounds < HEURISTIC_ROUNDS:
                rounds += 1
                if inc.offer(local_search(moves, repair(moves, bound.best_chosen, rc), deadline=deadline)):
                    current = inc.assign
                log.info("L %.1f, heuristic: %.1f (%.1f s)", bound.best, inc.objective, time.perf_counter() - t0)
        current, gained = lns.step(current, deadline)
        if lns.exhausted:
            inc.offer(current)
            break
        if lns.steps % LS_EVERY == 0:
            current = local_search(moves, current, deadline=deadline)
        inc.offer(current)
    dual.finish()
    log.info("L %.1f after %d evaluations; LNS %d steps, %d improved, size %d; primal %.1f (%.1f s)",
             bound.best, dual.evaluations, lns.steps, lns.improved, lns.max_sites, inc.objective,
             time.perf_counter() - t0)
    lower = min(bound.best, inc.objective)
    g = _assign._gap(inc.objective, lower)
    status = "OPTIMAL" if g <= 1e-9 else ("WITHIN_GAP" if g <= gap else "FEASIBLE")
    return _assign.AssignmentResult(inc.assign, status, inc.objective, lower, g, 0.0, f"lagrange+{solver}",
                                    len(data.pi))


def _feasible_part(moves, assign):
    """``assign`` with firms removed where the rounded primal data finds a site over capacity."""
    from analysis._assign_search import repair

    d = moves.data
    chosen = (assign[d.pi] == d.pj) & (assign[d.pi] >= 0)
    return repair(moves, chosen, d.cost)


def _cheapest_cost(data):
    best = np.full(data.n, np.inf)
    np.minimum.at(best, data.pi, data.cost)
    return np.minimum(best, np.where(data.allow_unassigned, data.penalty, np.inf))
