"""Local search for the siting assignment model (private to :mod:`analysis._assign`).

Vectorised improvement moves on a feasible assignment — every candidate move of a kind is
scored at once with numpy, then a batch of moves that touch disjoint firms, sites and share
groups is applied:

shift
    firm *i* moves from its site (or from "unassigned") to another eligible site with room,
    or leaves its site for "unassigned".
swap
    firm *i* at site *j* (or unassigned) and firm *k* at site *j'* exchange places; *k* may be
    ejected to "unassigned".

A move is kept only when it lowers the objective and every land, floor and share-rule row
stays satisfied, so the result is feasible whenever the start is.
"""
from __future__ import annotations

import numpy as np

__all__ = ["Moves", "local_search"]


class Moves:
    """Index structures shared by every move of one model (built once per solve)."""

    def __init__(self, data):
        self.data = data
        n, m = data.n, data.m
        # pair index of (firm, site); −1 when the site is not eligible for the firm
        self.pair_at = np.full((n, m + 1), -1, dtype=np.int32)
        self.pair_at[data.pi, data.pj] = np.arange(len(data.pi), dtype=np.int32)
        self.group = np.append(data.share_group, -1)           # site m = "unassigned"
        self.delta = np.where(data.pair_lead, 1.0 - data.share_min, -data.share_min)  # share row, units
        self.rhs = np.asarray(data.share_rhs, float) / 1000.0
        self.cap_land = np.append(np.asarray(data.cap_land, float), np.inf)
        self.cap_floor = np.append(np.asarray(data.cap_floor, float), np.inf)
        self.pen = np.where(data.allow_unassigned, data.penalty, np.inf).astype(float)
        self.share_delta = data.share_delta()   # share-row coefficient per pair, thousandths
        self.by_site = np.argsort(data.pj, kind="stable")
        self.site_start = np.searchsorted(data.pj[self.by_site], np.arange(m + 1))
        self.cheapest = self.pen.copy()   # each firm's cheapest option (a site or unassigned)
        np.minimum.at(self.cheapest, data.pi, data.cost)

    # -- state -------------------------------------------------------------------------------
    def state(self, assign: np.ndarray):
        """Residual land/floor per site (index m = unassigned), share slack per group, cost per firm."""
        d = self.data
        site = np.where(assign >= 0, assign, d.m)
        res_land = self.cap_land - np.bincount(site, weights=d.need_land, minlength=d.m + 1)
        res_floor = self.cap_floor - np.bincount(site, weights=d.need_floor, minlength=d.m + 1)
        p = self.pair_at[np.arange(d.n), site]
        cur = np.where(site < d.m, d.cost[np.maximum(p, 0)], self.pen)
        slack = -self.rhs.copy()
        grouped = (site < d.m) & (self.group[site] >= 0)
        if d.n_groups:
            slack += np.bincount(self.group[site[grouped]], weights=self.delta[p[grouped]], minlength=d.n_groups)
        cur_delta = np.where(p >= 0, self.delta[np.maximum(p, 0)], 0.0)
        return site, res_land, res_floor, slack, cur, cur_delta

    # -- shift ----------------------------------------------------------------------------------
    def shift_moves(self, assign):
        """Improving single-firm moves: arrays (firm, new site (m = unassigned), gain)."""
        d = self.data
        site, res_land, res_floor, slack, cur, cur_delta = self.state(assign)
        # moves to an eligible site
        i, j = d.pi, d.pj
        gain = cur[i] - d.cost
        ok = (gain > 1e-9) & (j != site[i])
        ok &= (d.need_land[i] <= res_land[j] + 1e-9) & (d.need_floor[i] <= res_floor[j] + 1e-9)
        # moves to unassigned
        ui = np.flatnonzero(site < d.m)
        ugain = cur[ui] - self.pen[ui]
        firms = np.concatenate([i[ok], ui])
        to = np.concatenate([j[ok], np.full(len(ui), d.m)])
        gains = np.concatenate([gain[ok], ugain])
        pair_delta = np.concatenate([self.delta[ok], np.zeros(len(ui))])
        keep = gains > 1e-9
        firms, to, gains, pair_delta = firms[keep], to[keep], gains[keep], pair_delta[keep]
        if d.n_groups and len(firms):
            g_from, g_to = self.group[site[firms]], self.group[to]
            change_from = np.where(g_from >= 0, -cur_delta[firms], 0.0)
            same = (g_from == g_to) & (g_to >= 0)
            ok_from = (g_from < 0) | same | (slack[np.maximum(g_from, 0)] + change_from >= -1e-9)
            net_to = pair_delta + np.where(same, -cur_delta[firms], 0.0)
            ok_to = (g_to < 0) | (slack[np.maximum(g_to, 0)] + net_to >= -1e-9)
            keep = ok_from & ok_to
            firms, to, gains = firms[keep], to[keep], gains[keep]
        return firms, to, gains, site

    def apply_shifts(self, assign) -> float:
        """One batch of improving shifts: each firm's best move, best gain first, on disjoint
        firms, receiving sites and share groups (capacity was checked against the room before
        the batch; a site that only loses firms gains room, so is not limited)."""
        d = self.data
        firms, to, gains, site = self.shift_moves(assign)
        if len(firms) == 0:
            return 0.0
        order = np.argsort(-gains, kind="stable")
        order = order[_first_of_each(firms[order])]                    # each firm's best move
        order = order[_first_of_each(np.where(to[order] < d.m, to[order], -1 - np.arange(len(order))))]
        firms, to, gains = firms[order], to[order], gains[order]       # one move per receiving site
        keep = np.ones(len(firms), bool)
        gs, gt = self.group[site[firms]], self.group[to]
        used = np.zeros(max(d.n_groups, 1), bool)
        for k in np.flatnonzero((gs >= 0) | (gt >= 0)).tolist():      # one move per share group
            g = [x for x in (gs[k], gt[k]) if x >= 0]
            if used[g].any():
                keep[k] = False
            else:
                used[g] = True
        assign[firms[keep]] = np.where(to[keep] < d.m, to[keep], -1)
        return float(gains[keep].sum())

    # -- swap -----------------------------------------------------------------------------------
    def swap_moves(self, assign, *, max_members: int = 64):
        """Improving exchanges: firm i (at s_i) takes k's place at j' and k goes to s_i (or out)."""
        d = self.data
        site, res_land, res_floor, slack, cur, cur_delta = self.state(assign)
        # candidate: pair p (i → j') and a firm k placed at j'.  k saves at most cur_k − (its
        # cheapest option), so only the k whose saving exceeds i's extra cost at j' can pay off
        i, jp = d.pi, d.pj
        saving = cur - self.cheapest
        p_idx = np.flatnonzero(jp != site[i])
        k, p_rep = self._members_above(site, saving, jp[p_idx], d.cost[p_idx] - cur[i[p_idx]], max_members)
        p_rep = p_idx[p_rep]
        fi = d.pi[p_rep]
        s_i = site[fi]
        j2 = jp[p_rep]
        # k goes to i's old site (or to unassigned if i was unassigned or that pair is missing)
        q = self.pair_at[k, s_i]
        k_out = (s_i == d.m) | (q < 0)
        k_cost = np.where(k_out, self.pen[k], d.cost[np.maximum(q, 0)])
        gain = cur[fi] + cur[k] - d.cost[p_rep] - k_cost
        k_to = np.where(k_out, d.m, s_i)
        ok = gain > 1e-9
        # capacity at j' after i in, k out; at k's new site after k in, i out
        ok &= res_land[j2] + d.need_land[k] - d.need_land[fi] >= -1e-9
        ok &= res_floor[j2] + d.need_floor[k] - d.need_floor[fi] >= -1e-9
        back = np.where(k_to == s_i, d.need_land[fi], 0.0)
        backf = np.where(k_to == s_i, d.need_floor[fi], 0.0)
        ok &= res_land[k_to] + back - d.need_land[k] >= -1e-9
        ok &= res_floor[k_to] + backf - d.need_floor[k] >= -1e-9
        sel = np.flatnonzero(ok)
        fi, k, j2, s_i, k_to, gain, p_rep, q = (a[sel] for a in (fi, k, j2, s_i, k_to, gain, p_rep, q))
        if d.n_groups and len(sel):
            dq = np.where(k_to < d.m, self.delta[np.maximum(q, 0)], 0.0)
            change = np.zeros((len(sel), 4))
            gid = np.stack([self.group[j2], self.group[j2], self.group[s_i], self.group[k_to]], axis=1)
            change[:, 0] = self.delta[p_rep]           # i joins j'
            change[:, 1] = -cur_delta[k]               # k leaves j'
            change[:, 2] = -cur_delta[fi]              # i leaves s_i
            change[:, 3] = dq                          # k joins its new site
            change[gid < 0] = 0.0
            ok = np.ones(len(sel), bool)
            for c in range(4):  # net change per distinct group touched
                g = gid[:, c]
                net = sum(np.where(gid[:, e] == g, change[:, e], 0.0) for e in range(4))
                ok &= (g < 0) | (slack[np.maximum(g, 0)] + net >= -1e-9)
            fi, k, j2, s_i, k_to, gain = (a[ok] for a in (fi, k, j2, s_i, k_to, gain))
        return fi, k, j2, s_i, k_to, gain

    def _members_above(self, site, value, at, threshold, cap):
        """For each query (site ``at[q]``, ``threshold[q]``) the firms placed there whose
        ``value`` exceeds the threshold (at most ``cap`` per query, largest first):
        arrays (firm, query index)."""
        d = self.data
        placed = np.flatnonzero(site < d.m)
        v = value[placed]
        finite = np.isfinite(v)
        span = 2.0 * float(np.abs(v[finite]).max(initial=0.0)) + 1.0
        v = np.clip(np.where(finite, v, span / 2), -span / 2, span / 2)
        key = site[placed] * (2 * span) - v                    # by site, then value descending
        order = np.argsort(key, kind="stable")
        key, members = key[order], placed[order]
        block = np.searchsorted(key, np.arange(d.m) * (2 * span) - span)
        thr = np.clip(threshold, -span / 2, span / 2)
        upto = np.searchsorted(key, at * (2 * span) - thr - 1e-9 * span, side="left")
        reps = np.clip(upto - block[at], 0, cap)
        q = np.repeat(np.arange(len(at)), reps)
        offs = np.arange(len(q)) - np.repeat(np.cumsum(reps) - reps, reps)
        return members[block[at][q] + offs], q

    def apply_swaps(self, assign) -> float:
        return self._apply_pairs(assign, self.swap_moves(assign))

    # -- ejection chain -----------------------------------------------------------------------
    def chain_moves(self, assign, *, max_members: int = 64):
        """Improving ejections: i moves to j' and k, placed at j', moves to its best site with room.

        Sites in share groups are left to shifts and swaps (the chain would touch up to three
        group rows)."""
        d = self.data
        site, res_land, res_floor, slack, cur, _ = self.state(assign)
        free_site = np.append(self.group[:d.m] < 0, True)
        # every firm's cheapest move to another site with room (or out)
        i, j = d.pi, d.pj
        fits = (j != site[i]) & (d.need_land[i] <= res_land[j] + 1e-9) & (d.need_floor[i] <= res_floor[j] + 1e-9)
        fits &= free_site[j]
        alt_cost = self.pen.copy()
        alt_site = np.full(d.n, d.m)
        if fits.any():
            f = np.flatnonzero(fits)
            order = f[np.lexsort((d.cost[f], d.pi[f]))]
            first = np.r_[True, d.pi[order][1:] != d.pi[order][:-1]]
            best = order[first]
            cheaper = d.cost[best] < alt_cost[d.pi[best]]
            alt_cost[d.pi[best[cheaper]]] = d.cost[best[cheaper]]
            alt_site[d.pi[best[cheaper]]] = d.pj[best[cheaper]]
        members_order = np.argsort(site, kind="stable")
        mstart = np.searchsorted(site[members_order], np.arange(d.m + 2))
        count = np.diff(mstart)[:d.m]
        # k's move costs alt_k − cur_k ≥ 0 at best; i must gain more than the cheapest such move at j'
        best_move = np.full(d.m + 1, -np.inf)
        np.maximum.at(best_move, site, cur - alt_cost)
        cand = (j != site[i]) & (d.cost - cur[i] < best_move[j] - 1e-9) & free_site[j] & free_site[site[i]]
        cand &= d.cost < cur[i] - 1e-9
        cand &= (d.need_land[i] > res_land[j] + 1e-9) | (d.need_floor[i] > res_floor[j] + 1e-9)
        p_idx = np.flatnonzero(cand)
        reps = np.minimum(count[j[p_idx]], max_members)
        p_rep = np.repeat(p_idx, reps)
        offs = np.arange(len(p_rep)) - np.repeat(np.cumsum(reps) - reps, reps)
        k = members_order[mstart[j[p_rep]] + offs]
        fi, j2 = d.pi[p_rep], j[p_rep]
        gain = cur[fi] - d.cost[p_rep] + cur[k] - alt_cost[k]
        ok = (gain > 1e-9) & free_site[alt_site[k]]
        ok &= res_land[j2] + d.need_land[k] - d.need_land[fi] >= -1e-9
        ok &= res_floor[j2] + d.need_floor[k] - d.need_floor[fi] >= -1e-9
        sel = np.flatnonzero(ok)
        return fi[sel], k[sel], j2[sel], site[fi[sel]], alt_site[k[sel]], gain[sel]

    def apply_chains(self, assign) -> float:
        return self._apply_pairs(assign, self.chain_moves(assign))

    def _apply_pairs(self, assign, moves) -> float:
        """Apply two-firm moves (i → j2, k → k_to) greedily by gain on disjoint firms, sites, groups."""
        d = self.data
        fi, k, j2, s_i, k_to, gain = moves
        if len(fi) == 0:
            return 0.0
        order = np.argsort(-gain, kind="stable")
        order = order[_first_of_each(fi[order])][:4 * d.m + 16]   # each firm's best, a bounded batch
        used_firm = np.zeros(d.n, bool)
        used_site = np.zeros(d.m + 1, bool)
        used_group = np.zeros(max(d.n_groups, 1), bool)
        total = 0.0
        for o in order.tolist():
            a, b, x, y, z = int(fi[o]), int(k[o]), int(j2[o]), int(s_i[o]), int(k_to[o])
            if used_firm[a] or used_firm[b]:
                continue
            sites = [s for s in (x, y, z) if s < d.m]
            if any(used_site[s] for s in sites):
                continue
            gs = [self.group[s] for s in sites if self.group[s] >= 0]
            if any(used_group[g] for g in gs):
                continue
            used_firm[[a, b]] = True
            used_site[sites] = True
            used_group[gs] = True
            assign[a] = x
            assign[b] = z if z < d.m else -1
            total += float(gain[o])
        return total


def _first_of_each(keys: np.ndarray) -> np.ndarray:
    """Positions of the first occurrence of each key, in their original order."""
    return np.sort(np.unique(keys, return_index=True)[1])


def local_search(moves: Moves, assign: np.ndarray, *, deadline: float, max_rounds: int = 200) -> np.ndarray:
    """Shift and swap batches until neither improves (or the deadline); returns a new vector."""
    import time

    assign = assign.copy()
    for _ in range(max_rounds):
        if time.perf_counter() > deadline:
            break
        g = moves.apply_shifts(assign)
        if g > 0:
            continue
        g = moves.apply_swaps(assign)
        if g > 0:
            continue
        g = moves.apply_chains(assign)
        if g <= 0:
            break
    return assign


# -- Lagrangian repair ---------------------------------------------------------------------------
def repair(moves: Moves, chosen: np.ndarray, rc: np.ndarray) -> np.ndarray:
    """A feasible assignment from the knapsacks' pair choice of the Lagrangian relaxation.

    A firm chosen by several sites keeps the pair of lowest reduced cost; sites over a
    capacity (the knapsacks round needs down) and share groups below their rule (the rule
    was relaxed) give up firms — the least valuable first — until they comply; the firms
    left out are placed by the local search.
    """
    d = moves.data
    ps = np.flatnonzero(chosen)
    ps = ps[np.lexsort((rc[ps], d.pi[ps]))]
    first = np.r_[True, d.pi[ps][1:] != d.pi[ps][:-1]] if len(ps) else np.zeros(0, bool)
    assign = np.full(d.n, -1, dtype=np.int64)
    assign[d.pi[ps[first]]] = d.pj[ps[first]]
    site, res_land, res_floor, slack, cur, cur_delta = moves.state(assign)
    over = np.flatnonzero((res_land[:d.m] < -1e-9) | (res_floor[:d.m] < -1e-9))
    for j in over.tolist():
        firms = np.flatnonzero(assign == j)
        firms = firms[np.argsort(-rc[moves.pair_at[firms, j]])]   # least valuable (highest rc) first
        for i in firms.tolist():
            if res_land[j] >= -1e-9 and res_floor[j] >= -1e-9:
                break
            assign[i] = -1
            res_land[j] += d.need_land[i]
            res_floor[j] += d.need_floor[i]
    site, res_land, res_floor, slack, cur, cur_delta = moves.state(assign)
    for g in np.flatnonzero(slack < -1e-9).tolist():
        firms = np.flatnonzero((moves.group[site] == g) & (cur_delta < 0))
        for i in firms[np.argsort(-d.need_land[firms])].tolist():
            if slack[g] >= -1e-9:
                break
            assign[i] = -1
            slack[g] -= cur_delta[i]
    return assign


# -- large-neighbourhood search ------------------------------------------------------------------
def sub_model(moves: Moves, assign: np.ndarray, sites: np.ndarray, *, rc: np.ndarray | None = None,
              per_firm: int | None = None):
    """The model restricted to ``sites``: every firm placed there, or unplaced but eligible there.

    Returns ``(sub, firms)``: the sub-model (sites renumbered 0..len(sites)−1, share groups
    renumbered, their right-hand sides net of the firms that stay put elsewhere in the
    group) and the original index of each of its firms.  The other firms do not move.
    With ``per_firm``, each firm keeps only its ``per_firm`` pairs of lowest ``rc`` there
    (and its current one).  Costs O(firms + pairs at the sites), not O(all pairs).
    """
    from analysis._assign import AssignmentData

    d = moves.data
    local = np.full(d.m, -1, dtype=np.int64)
    local[sites] = np.arange(len(sites))
    at_s = (assign >= 0) & (local[np.maximum(assign, 0)] >= 0)
    ps = np.concatenate([moves.by_site[moves.site_start[j]:moves.site_start[j + 1]] for j in sites])
    eligible_here = np.zeros(d.n, bool)
    eligible_here[d.pi[ps]] = True
    firms = np.flatnonzero(at_s | ((assign < 0) & eligible_here))
    new_id = np.full(d.n, -1, dtype=np.int64)
    new_id[firms] = np.arange(len(firms))
    keep = ps[new_id[d.pi[ps]] >= 0]
    if per_firm is not None and len(keep):
        assert rc is not None, "per_firm ranks the pairs by rc"
        keep = keep[np.lexsort((rc[keep], d.pi[keep]))]
        first = np.searchsorted(d.pi[keep], d.pi[keep])           # start of each firm's run
        rank = np.arange(len(keep)) - first
        keep = keep[(rank < per_firm) | (assign[d.pi[keep]] == d.pj[keep])]
    sg = d.share_group[sites]
    groups = np.unique(sg[sg >= 0])
    g_local = np.full(max(d.n_groups, 1), -1, dtype=np.int64)
    g_local[groups] = np.arange(len(groups))
    rhs = np.zeros(len(groups))
    if len(groups):  # firms staying in the group's other sites already use or give slack
        stay = np.flatnonzero((assign >= 0) & ~at_s)
        stay = stay[np.isin(d.share_group[assign[stay]], groups)]
        g = d.share_group[assign[stay]]
        used = np.bincount(g, weights=moves.share_delta[moves.pair_at[stay, assign[stay]]], minlength=d.n_groups)
        rhs = np.floor(np.asarray(d.share_rhs, float)[groups] - used[groups])
    sub = AssignmentData(
        n=len(firms), m=len(sites), pi=new_id[d.pi[keep]], pj=local[d.pj[keep]], cost=d.cost[keep],
        penalty=d.penalty[firms], need_land=d.need_land[firms], cap_land=np.asarray(d.cap_land, float)[sites],
        need_floor=d.need_floor[firms], cap_floor=np.asarray(d.cap_floor, float)[sites],
        share_group=np.where(sg >= 0, g_local[np.maximum(sg, 0)], -1), share_min=d.share_min,
        pair_lead=d.pair_lead[keep], share_rhs=rhs, allow_unassigned=d.allow_unassigned)
    return sub, firms


MIN_SITES, MAX_SITES = 3, 12   # bounds of the adaptive neighbourhood size


class GuidedLNS:
    """Large-neighbourhood search steered by the Lagrangian relaxation.

    For multipliers λ the duality gap splits over sites: objective − L(λ) =
    Σ_j (Σ_{i at j} rc_ij − K_j) + (terms of unplaced firms and share slack), each term ≥ 0.
    A step picks a site with probability proportional to its term, adds the sites holding
    the firms its knapsack optimum would take and the sites where its firms have their
    cheapest alternatives (by reduced cost), and re-solves those sites with the real solver
    (the other firms stay put), asking only for a strictly better sub-solution (an objective
    cutoff) and, with ``first``, taking the first one found: on the benchmark, short steps
    (0.3 s) that stop at the first improvement beat longer ones that prove optimality.
    """

    def __init__(self, moves: Moves, rc: np.ndarray, site_value: np.ndarray, pattern: np.ndarray, *,
                 solver: str, max_sites: int = 5, step_s: float = 0.3, workers: int = 1, seed: int = 0,
                 per_firm: int | None = None, first: bool = True):
        self.moves, self.rc, self.site_value, self.pattern = moves, rc, site_value, pattern
        self.first = first
        self.solver, self.max_sites, self.step_s, self.workers = solver, max_sites, step_s, workers
        self.per_firm = per_firm
        self.rng = np.random.default_rng(seed)
        d = moves.data
        order = np.argsort(d.pi, kind="stable")
        self.by_firm, self.firm_start = order, np.searchsorted(d.pi[order], np.arange(d.n + 1))
        self.steps = self.improved = 0
        self.exhausted = False
        # (firms, old sites, new sites) of the last improving step
        self.last_move: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.proven: list[bool] = []   # recent steps: solved to optimality within the step's time?

    def guide(self, rc, site_value, pattern) -> None:
        """Newer (better) multipliers: their reduced costs, site minima and knapsack choice."""
        self.rc, self.site_value, self.pattern = rc, site_value, pattern

    def site_gaps(self, assign):
        d = self.moves.data
        placed = assign >= 0
        p = self.moves.pair_at[np.flatnonzero(placed), assign[placed]]
        used = np.bincount(d.pj[p], weights=self.rc[p], minlength=d.m)
        return np.maximum(used - self.site_value, 0.0)

    def neighbourhood(self, assign) -> np.ndarray:
        d = self.moves.data
        if d.m <= self.max_sites:
            return np.arange(d.m)
        gaps = self.site_gaps(assign)
        weight = gaps + 1e-3 * (gaps.sum() / d.m + 1e-12)
        j0 = int(self.rng.choice(d.m, p=weight / weight.sum()))
        score = np.zeros(d.m)
        # sites holding the firms j0's knapsack optimum would take
        at_j0 = self.moves.by_site[self.moves.site_start[j0]:self.moves.site_start[j0 + 1]]
        want = d.pi[at_j0[self.pattern[at_j0]]]
        held = assign[want]
        np.add.at(score, held[held >= 0], 2.0)
        # cheapest alternatives (by reduced cost) of the firms at j0
        firms = np.flatnonzero(assign == j0)
        if len(firms):
            ps = np.concatenate([self.by_firm[self.firm_start[i]:self.firm_start[i + 1]] for i in firms])
            near = ps[np.argsort(self.rc[ps], kind="stable")[:4 * self.max_sites]]
            np.add.at(score, d.pj[near], 1.0)
        score += 1e-6 * gaps
        score[j0] = np.inf
        k = min(self.max_sites, int((score > 0).sum()))
        return np.argsort(-score, kind="stable")[:k]

    def _adapt(self, proven: bool) -> None:
        """Grow the neighbourhood while the solver proves most steps optimal, shrink it when
        most run out of time (a step should be exact to be worth its time)."""
        self.proven.append(proven)
        if len(self.proven) >= 10:
            share = sum(self.proven) / len(self.proven)
            if share > 0.9:
                self.max_sites = min(self.max_sites + 1, MAX_SITES)
            elif share < 0.5:
                self.max_sites = max(self.max_sites - 1, MIN_SITES)
            self.proven = []

    def step(self, assign, deadline: float) -> tuple[np.ndarray, float]:
        """One neighbourhood re-solve; returns the (possibly improved) assignment and its gain."""
        import time

        from analysis import _assign

        d = self.moves.data
        sites = self.neighbourhood(assign)
        sub, firms = sub_model(self.moves, assign, sites, rc=self.rc, per_firm=self.per_firm)
        local = np.full(d.m, -1, dtype=np.int64)
        local[sites] = np.arange(len(sites))
        current = np.where(assign[firms] >= 0, local[np.maximum(assign[firms], 0)], -1)
        whole = len(sites) == d.m and self.per_firm is None   # a small model: the neighbourhood is all of it
        left = deadline - time.perf_counter() if whole else min(self.step_s, deadline - time.perf_counter())
        self.steps += 1
        if left <= 0.05 or sub.n == 0:
            return assign, 0.0
        now = _assign.objective_of(sub, current)
        res = _assign._solve_exact(sub, self.solver, time_limit_s=left, gap=0.0, workers=self.workers, hint=None,
                                   cutoff=now - max(1e-6, 1e-9 * abs(now)), first=self.first and not whole)
        # the best, or proof that nothing is better (or, with ``first``, any improvement found)
        proven = res.status in ("OPTIMAL", "INFEASIBLE") or (self.first and res.status == "FEASIBLE")
        self._adapt(proven)
        self.exhausted = whole and proven   # nothing left to search
        if res.status not in ("OPTIMAL", "FEASIBLE"):
            return assign, 0.0
        gain = now - res.objective
        if gain <= 1e-6:
            return assign, 0.0
        new = assign.copy()
        new[firms] = np.where(res.assign >= 0, sites[np.maximum(res.assign, 0)], -1)
        self.improved += 1
        self.last_move = (firms, assign[firms], new[firms])
        return new, gain
