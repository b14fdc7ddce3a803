"""The "lagrange" strategy of the siting solver (private to :mod:`analysis._assign`).

One run, within the time limit::

    LP relaxation (HiGHS)  →  λ, μ = its duals;  L(λ, μ) ≥ LP value      (analysis._assign_lagrange)
    Lagrangian heuristic   →  the knapsacks' choice at λ, repaired, local search → incumbent
    main process           :  guided LNS around the incumbent, local search every LS_EVERY steps
    helper process         :  dual ascent on L (every evaluation a valid bound) until it stalls,
                              then LNS steps of its own on the shared incumbent, sent back as moves
    stop                   :  gap (objective − best L) / objective ≤ gap, or the time limit

With ``workers`` = 1 (or where no process can be started) the dual ascent is interleaved in
the main process, taking at most ``DUAL_SHARE`` of the elapsed time.  The primal side works
on needs rounded up and capacities rounded down to CP-SAT's integer grid
(:func:`primal_data`), so every solution it keeps is feasible for the real model; the bound
is computed on the real model.
"""
from __future__ import annotations

import dataclasses
import logging
import time

import numpy as np

from analysis._assign import objective_of
from analysis._assign_lagrange import DualAscent, LagrangianBound, lp_relaxation

__all__ = ["solve", "primal_data"]

log = logging.getLogger(__name__)

LS_EVERY = 20           # local search on the incumbent every k LNS steps
DUAL_SHARE = 0.5        # the dual ascent's share: of the elapsed time (one process), of the time limit (helper)
HELPER_SEED = 1         # the helper's LNS draws other neighbourhoods than the main one
HEURISTIC_EVERY = 5     # the helper runs the Lagrangian heuristic every k evaluations of the bound
EXACT_FALLBACK_S = 10.0 # least time given to the exact solver when the search leaves out a firm that must be placed


def primal_data(data):
    """The model with needs rounded up and capacities down to CP-SAT's integer grid
    (:func:`analysis._assign.int_unit`, ~2⁻³⁰ of the largest value).

    Every solution of it is a solution of ``data``; the local search and both exact
    sub-solvers then agree on feasibility, so warm starts are always accepted.
    """
    from analysis._assign import int_unit

    unit = int_unit(data)
    need = [np.ceil(np.asarray(x, float) / unit - 1e-9) * unit for x in (data.need_land, data.need_floor)]
    cap = [np.floor(np.asarray(x, float) / unit + 1e-9) * unit for x in (data.cap_land, data.cap_floor)]
    return dataclasses.replace(data, need_land=need[0], need_floor=need[1], cap_land=cap[0], cap_floor=cap[1])


# -- the helper process -------------------------------------------------------------------------
def _helper(conn, data, search, lam, mu, upper: float, stop_at: float, dual_until: float, shared, version, lock,
            solver: str) -> None:
    """Child process: dual ascent with the Lagrangian heuristic, then LNS on the shared incumbent.

    Sends ("bound", L, λ, μ, K_j, chosen pair indices, evaluations) on a better bound (at most
    every half second); ("solution", sites) when the heuristic (repair + local search, every
    ``HEURISTIC_EVERY`` evaluations, at the best multipliers when they are new, else at the
    current ones) beats the best objective it knows; ("search",) when the bound has stalled and it turns to LNS, then ("move", firms,
    their old sites, their new sites) for each improvement found.  Receives ("upper", U) and
    ("stop",).
    """
    from analysis._assign_search import GuidedLNS, Moves, local_search, repair

    bound = LagrangianBound(data)
    ascent = DualAscent(bound, lam, mu)
    moves = Moves(primal_data(search))
    sent, last, tried, state = -np.inf, 0.0, -np.inf, {"upper": upper, "stop": False}

    def read_messages():
        while conn.poll():
            msg = conn.recv()
            if msg[0] == "stop":
                state["stop"] = True
            elif msg[0] == "upper":
                state["upper"] = msg[1]

    def send_bound():
        conn.send(("bound", bound.best, bound.best_lam, bound.best_mu, bound.best_sites,
                   np.flatnonzero(bound.best_chosen), bound.evaluations))

    try:
        while time.time() < dual_until and not ascent.stalled():
            read_messages()
            if state["stop"]:
                break
            lam_now, mu_now = ascent.lam, ascent.mu
            _, chosen = ascent.step(state["upper"])
            if bound.best > sent and time.time() - last > 0.5:
                send_bound()
                sent, last = bound.best, time.time()
            if bound.evaluations % HEURISTIC_EVERY == 0:
                if bound.best > tried:   # the best multipliers are new: the heuristic there, else here
                    tried, chosen, lam_now, mu_now = bound.best, bound.best_chosen, bound.best_lam, bound.best_mu
                assign = local_search(moves, repair(moves, chosen, bound.reduced_costs(lam_now, mu_now)),
                                      deadline=time.perf_counter() + (stop_at - time.time()))
                value = objective_of(search, assign)
                if value < state["upper"] - 1e-9:
                    conn.send(("solution", assign.astype(np.int32)))
                    state["upper"] = value
        if bound.evaluations and bound.best > sent:
            send_bound()
        if state["stop"] or time.time() >= stop_at:
            return
        conn.send(("search",))
        lns = GuidedLNS(moves, bound.reduced_costs(bound.best_lam, bound.best_mu), bound.best_sites,
                        bound.best_chosen, solver=solver, seed=HELPER_SEED)
        seen, current = -1, None
        while time.time() < stop_at - 0.1:
            read_messages()
            if state["stop"]:
                break
            if version.value != seen:   # the main process has a newer incumbent
                with lock:
                    seen, current = version.value, np.frombuffer(shared, dtype=np.int64).copy()
            if current is None:
                time.sleep(0.02)
                continue
            deadline = time.perf_counter() + (stop_at - time.time())
            new, gain = lns.step(current, deadline)
            if gain > 0:
                assert lns.last_move is not None   # set by every improving step
                firms, old, now = lns.last_move
                conn.send(("move", firms, old, now))
                current = new
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        pass
    finally:
        try:
            conn.send(("done",))
        except (BrokenPipeError, OSError):
            pass
        conn.close()


class Helper:
    """The helper process seen from the main one (or, without it, the dual ascent inline)."""

    def __init__(self, data, search, bound: LagrangianBound, lam, mu, *, upper: float, deadline: float,
                 parallel: bool, solver: str):
        self.bound, self.deadline = bound, deadline
        self.proc = self.conn = None
        self.spent, self.t0, self.done, self.evaluations, self.searching = 0.0, time.perf_counter(), False, 0, False
        self.moves_in = self.moves_kept = 0
        self.published = np.inf   # objective of the incumbent last shared with the helper
        self.solutions: list[np.ndarray] = []       # the helper's heuristic solutions not yet taken in
        self.inline = DualAscent(bound, lam, mu)
        if parallel:
            try:
                self._spawn(data, search, lam, mu, upper, solver)
            except (OSError, RuntimeError, ValueError, ImportError) as exc:  # no child process here: stay inline
                log.info("dual ascent inline: %s", exc)

    def _spawn(self, data, search, lam, mu, upper, solver):
        import multiprocessing as mp

        from geo.spawn import plain_main

        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        self.shared = ctx.RawArray("q", data.n)
        self.version = ctx.RawValue("q", -1)
        self.lock = ctx.Lock()
        left = self.deadline - time.perf_counter()
        stop_at = time.time() + left - 0.3
        dual_until = time.time() + DUAL_SHARE * (self.deadline - self.t0)
        with plain_main():
            proc = ctx.Process(target=_helper, daemon=True,
                               args=(child, data, search, lam, mu, upper, stop_at, dual_until, self.shared,
                                     self.version, self.lock, solver))
            proc.start()
        child.close()
        self.proc, self.conn = proc, parent

    def publish(self, assign: np.ndarray, objective: float) -> None:
        """Share the main incumbent with the helper's search when it is better than the last shared."""
        if self.conn is None or not self.searching or objective >= self.published:
            return
        with self.lock:
            np.frombuffer(self.shared, dtype=np.int64)[:] = assign
            self.version.value += 1
        self.published = objective

    def advance(self, upper: float) -> tuple[bool, list]:
        """Take in the helper's news (or do one inline dual step when due).

        Returns whether the bound rose and the moves the helper's search sent."""
        before = self.bound.best
        moves: list[tuple] = []
        if self.conn is not None:
            self._send(("upper", upper))
            moves = self._receive()
        elif not self.done and self.spent <= DUAL_SHARE * (time.perf_counter() - self.t0):
            t = time.perf_counter()
            self.inline.step(upper)
            self.evaluations += 1
            self.spent += time.perf_counter() - t
            self.done = self.inline.stalled()
        return self.bound.best > before + 1e-9, moves

    def _send(self, msg):
        try:
            self.conn.send(msg)
        except (BrokenPipeError, OSError):
            self.conn, self.done = None, True

    def _receive(self) -> list:
        moves: list[tuple] = []
        try:
            while self.conn is not None and self.conn.poll():
                msg = self.conn.recv()
                if msg[0] == "done":
                    self.done = True
                elif msg[0] == "search":
                    self.searching = True
                elif msg[0] == "move":
                    moves.append(msg[1:])
                    self.moves_in += 1
                elif msg[0] == "solution":
                    self.solutions.append(msg[1].astype(np.int64))
                elif msg[1] > self.bound.best:
                    _, value, lam, mu, sites, chosen, self.evaluations = msg
                    mask = np.zeros(len(self.bound.data.pi), bool)
                    mask[chosen] = True
                    b = self.bound
                    b.best, b.best_lam, b.best_mu, b.best_sites, b.best_chosen = value, lam, mu, sites, mask
        except (EOFError, OSError):
            self.conn, self.done = None, True
        return moves

    def finish(self, wait_s: float = 2.0) -> None:
        """Stop the helper and take in its last news."""
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


# -- the main loop ------------------------------------------------------------------------------
class _Incumbent:
    """The best solution so far (objective on the real model)."""

    def __init__(self, data, moves, assign):
        from analysis._assign import objective_of

        self.data, self.moves, self.objective_of = data, moves, objective_of
        self.assign, self.objective = assign, objective_of(data, assign)

    def offer(self, candidate) -> bool:
        obj = self.objective_of(self.data, candidate)
        if obj < self.objective - 1e-9:
            self.assign, self.objective = candidate, obj
            return True
        return False

    def apply(self, current: np.ndarray, move) -> np.ndarray | None:
        """``current`` with a move of the helper, if its firms are still where the helper saw
        them and every row still holds; else None."""
        firms, old, new = move
        if not np.array_equal(current[firms], old):
            return None
        trial = current.copy()
        trial[firms] = new
        _, res_land, res_floor, slack, _, _ = self.moves.state(trial)
        if (res_land < -1e-9).any() or (res_floor < -1e-9).any() or (slack < -1e-9).any():
            return None
        return trial


def solve(data, *, solver: str, time_limit_s: float, gap: float, workers: int, hint: np.ndarray | None,
          t0: float):
    """Run the strategy; returns an :class:`analysis._assign.AssignmentResult`."""
    from analysis import _assign
    from analysis._assign_search import GuidedLNS, Moves, local_search, repair

    deadline = t0 + time_limit_s
    search = _search_model(data)
    moves = Moves(primal_data(search))
    start = hint if hint is not None else _assign.greedy_assignment(moves.data)
    inc = _Incumbent(search, moves, _feasible_part(moves, start))   # the warm start, a fallback
    # multipliers: LP duals (L there is at least the LP bound), then the dual ascent
    _, _, lam, mu, ok = lp_relaxation(data, time_limit_s=max(1.0, 0.4 * (deadline - time.perf_counter())))
    if not ok:
        lam, mu = _cheapest_cost(data), np.zeros(data.n_groups)
    bound = LagrangianBound(data)
    _, chosen = bound.evaluate(lam, mu)
    log.info("start %.1f, LP %s, L %.1f (%.1f s)", inc.objective, ok, bound.best, time.perf_counter() - t0)
    # the warm start is usually far above the optimum: no target for the first steps
    helper = Helper(data, search, bound, bound.best_lam, bound.best_mu, upper=np.inf, deadline=deadline,
                    parallel=workers >= 2, solver=solver)
    inc.offer(local_search(moves, repair(moves, chosen, bound.reduced_costs(lam, mu)), deadline=deadline))
    log.info("Lagrangian heuristic: %.1f (%.1f s)", inc.objective, time.perf_counter() - t0)
    lns = GuidedLNS(moves, bound.reduced_costs(lam, mu), bound.best_sites, bound.best_chosen, solver=solver)
    current = inc.assign
    while time.perf_counter() < deadline - 0.05 and _assign._gap(inc.objective, bound.best) > gap:
        complete = search is data or (inc.assign >= 0).all()   # a big-M objective is no target for the steps
        rose, news = helper.advance(inc.objective if complete else np.inf)
        if rose:
            lns.guide(bound.reduced_costs(bound.best_lam, bound.best_mu), bound.best_sites, bound.best_chosen)
        for move in news:
            trial = inc.apply(current, move)
            if trial is not None and inc.offer(trial):
                current = trial
                helper.moves_kept += 1
        while helper.solutions:
            if inc.offer(helper.solutions.pop()):
                current = inc.assign
                log.info("helper's Lagrangian heuristic: %.1f (%.1f s)", inc.objective, time.perf_counter() - t0)
        current, gained = lns.step(current, deadline)
        if lns.exhausted:
            inc.offer(current)
            break
        if lns.steps % LS_EVERY == 0:
            current = local_search(moves, current, deadline=deadline)
        inc.offer(current)
        current = inc.assign
        helper.publish(current, inc.objective)
    helper.finish()
    log.info("L %.1f after %d evaluations; LNS %d steps, %d improved, size %d; helper moves %d of %d kept; "
             "primal %.1f (%.1f s)", bound.best, helper.evaluations, lns.steps, lns.improved, lns.max_sites,
             helper.moves_kept, helper.moves_in, inc.objective, time.perf_counter() - t0)
    if not data.allow_unassigned and (inc.assign < 0).any():
        # every firm must be placed and the search could not: let the exact solver decide
        # (it can also prove that no placement exists), beyond the time limit if need be
        log.info("%d firm(s) left out although all must be placed: exact solver", int((inc.assign < 0).sum()))
        return _assign._solve_exact(data, solver, time_limit_s=max(EXACT_FALLBACK_S, deadline - time.perf_counter()),
                                    gap=gap, workers=workers, hint=inc.assign)
    objective = _assign.objective_of(data, inc.assign)
    lower = min(bound.best, objective)
    g = _assign._gap(objective, lower)
    status = "OPTIMAL" if g <= 1e-9 else ("WITHIN_GAP" if g <= gap else "FEASIBLE")
    return _assign.AssignmentResult(inc.assign, status, objective, lower, g, 0.0, f"lagrange+{solver}", len(data.pi))


def _search_model(data):
    """The model the search works on: when every firm must be placed, leaving one out is
    allowed but costs more than any placement of all firms could (a big-M penalty), so the
    moves and the sub-solvers can pass through incomplete solutions."""
    if data.allow_unassigned:
        return data
    top = float(np.abs(data.cost).max(initial=0.0)) + 1.0
    return dataclasses.replace(data, allow_unassigned=True, penalty=np.full(data.n, top * (data.n + 1)))


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
