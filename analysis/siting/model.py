"""The relocation model and its solver glue: :class:`RelocationProblem` (spopt style).

:meth:`RelocationProblem.from_geodataframe` builds the cost matrix and eligibility from firms
(:mod:`~analysis.siting.demand`) and sites (:mod:`~analysis.siting.supply`), then calls
:meth:`RelocationProblem.from_cost_matrix`; :meth:`~RelocationProblem.solve` hands the sparse
model to :mod:`analysis._assign` and returns ``self`` with the results as attributes.

Model (pairs (i, j) only where site *j* is eligible for firm *i*)::

    minimise   Σ_ij c_ij x_ij + Σ_i P_i u_i
               c_ij = w_i · d_ij · (1 − δ·[same township])   w_i = land need (亩) or 1,  d_ij in m
               P_i  = w_i · unassigned_penalty_m
    s.t.       Σ_j x_ij + u_i = 1                              every firm placed or counted unplaced
               Σ_i L_i x_ij ≤ C_j,  Σ_i F_i x_ij ≤ G_j         land and floor capacity of each site (m²)
               lead_g + Σ_{i, j∈g} a_ij x_ij ≥ s · (n_g + Σ_{i, j∈g} x_ij)
                                                               each micro-park g (all its sites together):
                                                               leading share ≥ s (70 %) after the run

where n_g, lead_g are the park's firms that stay (the firms selected to relocate leave) — for a
park already below s, non-leading firms are not eligible at all (the policy, see
:mod:`~analysis.siting.eligibility`) and the row reads Σ (a − s) x ≥ 0.

Distances are straight-line metres between the firm's point and the site's representative
point (``shapely.point_on_surface`` of the site's land), in the working CRS (EPSG:4549);
``friction`` (a cost surface raster as array + transform) multiplies each distance by the mean
friction sampled along the segment.  The firm → site lines of the map end at that point.
"""
from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from analysis import _assign
from analysis._common import boolean, check_crs, num, text
from analysis.siting import explain
from analysis.siting.demand import demand_problems
from analysis.siting.eligibility import below_share_mask, leading_matrix, site_exclusions
from analysis.siting.settings import BIT, PROBLEM_ZH, SitingParams, problems_zh
from analysis.siting.supply import mix_strings
from geo.errors import InfeasibleAllocationError, ParameterError
from geo.units import M2_PER_MU

__all__ = ["RelocationProblem"]


class RelocationProblem:
    """Capacitated relocation of firms to park sites (see the module docstring for the model).

    Build with :meth:`from_geodataframe` (firms and sites as frames) or
    :meth:`from_cost_matrix` (any cost matrix); :meth:`solve` returns ``self``.

    Attributes after solve
    ----------------------
    assignments : DataFrame (GeoDataFrame from frames)
        One row per firm on the demand index: status (assigned / unassigned / not_solved),
        site_id, site_name, park_id, park_name, distance_m, cost, objective_share,
        reason_code, reason (English) and reason_zh (the same in Chinese); an unplaced firm's
        reason names every park it could not use and why.
    site_utilisation : DataFrame (GeoDataFrame from frames)
        Per site: land and floor used / capacity, firms assigned, the park's leading share
        before and after.
    park_shares : DataFrame
        Per park: firms and leading firms today, leaving, arriving and after; the
        leading-industry share by firms and by land before and after, each pass / fail; the
        policy applied (``explain.POLICIES``); industry mix after.
    unassigned : DataFrame
        The firms not placed, with the binding reason.
    lines : GeoDataFrame or None
        Firm → site LineStrings for the map (ending at the site's representative point).
    problems : DataFrame
        Input problems: what (firm / site), id, problem (English), problem_zh.
    status, message, objective, bound, gap, solve_time_s, greedy_objective, n_pairs,
    n_pairs_eligible, restricted
    """

    # The problem's arrays, set by from_cost_matrix (n firms, m sites) and from_geodataframe.
    params: SitingParams
    n: int
    m: int
    cost: np.ndarray
    distance: np.ndarray
    need_land: np.ndarray
    cap_land: np.ndarray
    need_floor: np.ndarray
    cap_floor: np.ndarray
    weights: np.ndarray
    demand_ids: np.ndarray
    site_ids: np.ndarray
    share_sites: np.ndarray
    leading: np.ndarray
    existing: np.ndarray
    existing_leading: np.ndarray
    group: np.ndarray
    mask: np.ndarray
    firm_ok: np.ndarray
    site_ok: np.ndarray
    firm_problem: np.ndarray
    problems: pd.DataFrame
    same_township: np.ndarray
    firm_xy: np.ndarray
    site_xy: np.ndarray
    # The results, None until solve() (lines stay None for a problem built from a cost matrix).
    assignments: pd.DataFrame
    site_utilisation: pd.DataFrame
    unassigned: pd.DataFrame
    park_shares: pd.DataFrame
    lines: gpd.GeoDataFrame | None
    # The frames it was built from (None when built from a cost matrix).
    demand: gpd.GeoDataFrame | None
    supply: gpd.GeoDataFrame | None

    def __init__(self, name: str = "relocation"):
        self.name = name
        self.status = "NOT_SOLVED"
        self.message = ""
        self.objective = self.bound = self.gap = self.greedy_objective = float("nan")
        self.solve_time_s = 0.0
        self.assignments = self.site_utilisation = self.unassigned = self.lines = self.park_shares = None
        self.demand = self.supply = None

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_cost_matrix(cls, cost: np.ndarray, need_land: np.ndarray, capacity_land: np.ndarray, *,
                         params: SitingParams, need_floor: np.ndarray | None = None,
                         capacity_floor: np.ndarray | None = None, exclusions: np.ndarray | None = None,
                         weights: np.ndarray | None = None, leading: np.ndarray | None = None,
                         share_sites: np.ndarray | None = None, existing: np.ndarray | None = None,
                         existing_leading: np.ndarray | None = None, share_group=None, demand_ids=None,
                         site_ids=None, distance: np.ndarray | None = None,
                         name: str = "relocation") -> RelocationProblem:
        """Build from a cost matrix (n firms × m sites, objective units, NaN/inf = no link).

        Parameters
        ----------
        cost : (n, m) array
            c_ij, already weighted (e.g. 亩 × m).
        need_land, capacity_land : arrays (m²)
        exclusions : (n, m) uint16, optional
            Bits of ``EXCLUSIONS``; non-zero = ineligible.  Capacity exclusions (need larger
            than the whole site) and the below-minimum share policy are added here.
        weights : (n,), optional
            w_i; the unassigned penalty is P_i = w_i × ``params.unassigned_penalty_m``.
        leading, share_sites, existing, existing_leading : optional
            The micro-park share rule: ``leading[i, j]`` firm *i* counts as leading at *j*;
            ``share_sites[j]`` the rule applies; the park's firms and leading firms that stay,
            given on each of its sites.
        share_group : (m,) labels, optional
            Sites with the same label form one park for the share rule (default: each share
            site its own park).
        """
        self = cls(name)
        cost = np.asarray(cost, dtype=float)
        if cost.ndim != 2:
            raise ParameterError(f"cost must be a 2-d (firms × sites) matrix; got shape {cost.shape}")
        n, m = cost.shape
        self.params = params
        self.n, self.m = n, m
        self.cost = cost
        self.distance = cost if distance is None else np.asarray(distance, float)
        self.need_land = np.asarray(need_land, dtype=float).reshape(n)
        self.cap_land = np.asarray(capacity_land, dtype=float).reshape(m)
        self.need_floor = np.zeros(n) if need_floor is None else np.asarray(need_floor, float).reshape(n)
        self.cap_floor = np.full(m, np.inf) if capacity_floor is None else np.asarray(capacity_floor, float).reshape(m)
        self.weights = np.ones(n) if weights is None else np.asarray(weights, float).reshape(n)
        self.demand_ids = np.asarray(demand_ids if demand_ids is not None else np.arange(n), dtype=object)
        self.site_ids = np.asarray(site_ids if site_ids is not None else np.arange(m), dtype=object)
        self.site_names = self.site_ids.astype(str).astype(object)
        self.site_park = self.site_ids.astype(str).astype(object)      # each site its own park …
        self.site_park_name = self.site_names                          # … unless frames say otherwise
        self.share_sites = np.zeros(m, bool) if share_sites is None else np.asarray(share_sites, bool).reshape(m)
        self.leading = np.zeros((n, m), bool) if leading is None else np.asarray(leading, bool)
        self.existing = np.zeros(m) if existing is None else np.nan_to_num(np.asarray(existing, float))
        self.existing_leading = np.zeros(m) if existing_leading is None else np.nan_to_num(np.asarray(existing_leading, float))
        self.group = _share_groups(self.share_sites, share_group, m)
        mask = np.zeros((n, m), np.uint16) if exclusions is None else np.asarray(exclusions, np.uint16).copy()
        mask[self.need_land[:, None] > self.cap_land[None, :] * (1 + 1e-9)] |= BIT["land_capacity"]
        mask[self.need_floor[:, None] > self.cap_floor[None, :] * (1 + 1e-9)] |= BIT["floor_capacity"]
        bad_site = ~(self.cap_land >= 0) | ~(self.cap_floor >= 0)
        mask[:, bad_site] |= BIT["invalid_site"]
        mask[~np.isfinite(cost)] |= BIT["invalid_site"]
        mask[below_share_mask(self.leading, self.share_sites, self.existing, self.existing_leading,
                              params.leading_share)] |= BIT["park_below_share"]
        self.mask = mask
        problems = []
        bad_need = ~(self.need_land > 0)
        for i in np.flatnonzero(bad_need):
            problems.append({"what": "firm", "id": str(self.demand_ids[i]), "problem": "zero or unknown land need",
                             "problem_zh": PROBLEM_ZH["zero or unknown land need"]})
        for jj in np.flatnonzero(bad_site):
            problems.append({"what": "site", "id": str(self.site_ids[jj]),
                             "problem": f"negative or missing capacity (land {self.cap_land[jj]:g} m², floor {self.cap_floor[jj]:g} m²)",
                             "problem_zh": f"容量为负或缺失(用地 {self.cap_land[jj]:g} m²,建筑面积 {self.cap_floor[jj]:g} m²)"})
        self.firm_ok = ~bad_need
        self.site_ok = ~bad_site
        self.problems = pd.DataFrame(problems, columns=["what", "id", "problem", "problem_zh"])
        self.firm_problem = np.full(n, None, dtype=object)
        self.firm_problem[bad_need] = "zero or unknown land need"
        return self

    @classmethod
    def from_geodataframe(cls, demand: gpd.GeoDataFrame, supply: gpd.GeoDataFrame, *, params: SitingParams,
                          constraints: gpd.GeoDataFrame | None = None, id_col: str = "credit_code",
                          friction: tuple[np.ndarray, Any] | None = None,
                          name: str = "relocation") -> RelocationProblem:
        """Build from firms (:func:`~analysis.siting.demand.select_demand`) and sites
        (:func:`~analysis.siting.supply.supply_from_layers`).

        Parameters
        ----------
        demand : GeoDataFrame
            Points; ``industry_code``, ``need_land_m2``, ``need_floor_m2``, ``polluting``,
            ``township_code``; rows with ``input_problem`` set are reported, not sited.
        supply : GeoDataFrame
            Site polygons with capacities, ``leading_industries``, ``allows_polluting``,
            ``share_rule``, ``n_existing``, ``n_existing_leading``; optional ``share_group``,
            ``park_id``, ``park_name``, ``name``.
        constraints : GeoDataFrame, optional
            Layer ``constraints`` (kinds ``residential`` and ``water_source`` are used).
        friction : (array, affine transform), optional
            A cost surface in the working CRS; distance × mean friction along the segment.
        """
        check_crs(demand, ("supply", supply), ("constraints", constraints))
        d, s = demand, supply
        prob_col = text(d, "input_problem") if "input_problem" in d.columns else demand_problems(d)
        geom = d.geometry
        located = ~(geom.isna() | geom.is_empty).to_numpy()
        fx = np.where(located, shapely.get_x(shapely.centroid(geom.to_numpy())), np.nan) if len(d) else np.zeros(0)
        fy = np.where(located, shapely.get_y(shapely.centroid(geom.to_numpy())), np.nan) if len(d) else np.zeros(0)
        anchor = shapely.point_on_surface(s.geometry.to_numpy()) if len(s) else np.zeros(0, dtype=object)
        sx, sy = shapely.get_x(anchor), shapely.get_y(anchor)
        dist = np.hypot(fx[:, None] - sx[None, :], fy[:, None] - sy[None, :])
        if friction is not None and dist.size:
            dist = dist * _mean_friction(fx, fy, sx, sy, *friction)
        need_land = num(d, "need_land_m2")
        weights = need_land / M2_PER_MU if params.demand_weight == "land_mu" else np.ones(len(d))
        weights = np.where(np.isfinite(weights) & (weights > 0), weights, 0.0)
        same = (text(d, "township_code").fillna("?").to_numpy(dtype=object)[:, None]
                == text(s, "township_code").fillna("!").to_numpy(dtype=object)[None, :])
        cost = weights[:, None] * dist * np.where(same, 1.0 - params.same_township_discount, 1.0)
        mask = site_exclusions(d, s, params, distance=dist, constraints=constraints)
        leading = leading_matrix(text(d, "industry_code"), s) if len(s) and len(d) \
            else np.zeros((len(d), len(s)), bool)
        ids = d[id_col].astype(str).to_numpy() if id_col in d.columns else d.index.astype(str).to_numpy()
        self = cls.from_cost_matrix(
            cost, need_land, num(s, "capacity_land_m2"), params=params, need_floor=num(d, "need_floor_m2"),
            capacity_floor=num(s, "capacity_floor_m2"), exclusions=mask, weights=weights, leading=leading,
            share_sites=boolean(s, "share_rule", False), existing=num(s, "n_existing"),
            existing_leading=num(s, "n_existing_leading"),
            share_group=text(s, "share_group").to_numpy(dtype=object) if "share_group" in s.columns else None,
            demand_ids=ids, site_ids=s["site_id"].astype(str).to_numpy(), distance=dist, name=name)
        self._site_labels(s)
        # a located firm with a problem (e.g. no floor need) and unlocated firms stay out of the model
        has_problem = prob_col.fillna("").str.len().gt(0).to_numpy(dtype=bool)
        problem = prob_col.fillna("").to_numpy(dtype=object)
        extra = has_problem & self.firm_ok
        self.firm_problem[has_problem] = problem[has_problem]
        self.firm_ok &= ~has_problem
        if extra.any():
            self.problems = pd.concat([self.problems, pd.DataFrame(
                {"what": "firm", "id": ids[extra], "problem": problem[extra],
                 "problem_zh": problems_zh(problem[extra])})], ignore_index=True)
        self.same_township = same
        self.demand, self.supply = d, s
        self.site_xy = np.column_stack([sx, sy]) if len(s) else np.zeros((0, 2))
        self.firm_xy = np.column_stack([fx, fy])
        return self

    def _site_labels(self, s: pd.DataFrame) -> None:
        """Site and park names for the reasons (park names, never codes, where the supply has them)."""
        sid = self.site_ids.astype(str).astype(object)

        def column(col, fallback):
            v = text(s, col).replace("", pd.NA)
            return np.where(v.isna().to_numpy(), fallback, v.fillna("").to_numpy(dtype=object)).astype(object)

        self.site_names = column("name", sid)
        self.site_park = column("park_id", sid)
        self.site_park_name = column("park_name", self.site_names)

    # -- solving -------------------------------------------------------------------------
    def _pairs(self):
        p = self.params
        ok = (self.mask == 0) & self.firm_ok[:, None] & self.site_ok[None, :]
        pen = self.weights * p.unassigned_penalty_m
        if p.allow_unassigned:
            ok &= self.cost < pen[:, None]  # a move dearer than the penalty is never chosen
        n_eligible = int(ok.sum())
        restricted = False
        if p.k_nearest and p.k_nearest < self.m:
            c = np.where(ok, self.cost, np.inf)
            k = p.k_nearest
            keep_idx = np.argpartition(c, k - 1, axis=1)[:, :k]
            keep = np.zeros_like(ok)
            np.put_along_axis(keep, keep_idx, True, axis=1)
            restricted = bool((ok & ~keep).any())
            ok &= keep
        pi, pj = np.nonzero(ok)
        return pi, pj, pen, n_eligible, restricted

    def _model_data(self, pi, pj, pen) -> _assign.AssignmentData:
        """The sparse model for :mod:`analysis._assign`: one share row per micro-park (group)."""
        p = self.params
        groups, first = np.unique(self.group, return_index=True)
        first = first[groups >= 0]                      # the first site of each park carries its counts
        s_k = int(round(p.leading_share * _assign.SHARE_SCALE))
        room = self.existing_leading[first] * _assign.SHARE_SCALE - s_k * self.existing[first]
        # at or above the minimum: keep it there; below: only leading firms come (masked), row ≥ 0
        share_rhs = np.ceil(np.where(room >= 0, -room, 0.0) - 1e-9)
        return _assign.AssignmentData(
            n=self.n, m=self.m, pi=pi, pj=pj, cost=self.cost[pi, pj], penalty=pen,
            need_land=np.nan_to_num(self.need_land), cap_land=np.where(self.site_ok, self.cap_land, 0.0),
            need_floor=np.nan_to_num(self.need_floor), cap_floor=np.where(self.site_ok, self.cap_floor, 0.0),
            share_group=self.group, share_min=p.leading_share, pair_lead=self.leading[pi, pj],
            share_rhs=share_rhs, allow_unassigned=p.allow_unassigned)

    def solve(self, *, time_limit_s: float | None = None, gap: float | None = None, solver: str | None = None,
              strategy: str | None = None) -> RelocationProblem:
        """Check feasibility, solve, and fill the result attributes; returns ``self``.

        Raises
        ------
        InfeasibleAllocationError
            Only when ``params.allow_unassigned`` is False and some firm cannot be placed;
            the result attributes are filled first (``status`` = "INFEASIBLE") and the
            message names the firms and the constraint that stops each.
        """
        p = self.params
        time_limit_s = p.time_limit_s if time_limit_s is None else time_limit_s
        gap = p.gap if gap is None else gap
        solver = solver or p.solver
        strategy = strategy or p.strategy
        pi, pj, pen, n_eligible, restricted = self._pairs()
        self.pi, self.pj, self.penalty = pi, pj, pen
        self.n_pairs, self.n_pairs_eligible, self.restricted = len(pi), n_eligible, restricted
        if self.n == 0:
            self.status = "NO_DEMAND"
            self.message = "No firms to relocate: the demand is empty (check the selection rule)."
            self._finish(np.zeros(0, np.int64))
            return self
        if self.m == 0 or not self.site_ok.any():
            self.status = "NO_SUPPLY"
            self.message = (f"No candidate sites with valid capacity: none of the {self.n} firms can be placed. "
                            "Check the parks' vacant plots (status in vacant_statuses) or pass clusters as supply.")
            self._finish(np.full(self.n, -1, np.int64))
            if not p.allow_unassigned:
                self._raise(self.message)
            return self
        self._data = data = self._model_data(pi, pj, pen)
        if not p.allow_unassigned:
            self._check_all_placeable(pi)
        hint = _assign.greedy_assignment(data)
        self.greedy_assign = hint
        self.greedy_objective = _assign.objective_of(data, hint)
        res = _assign.solve_assignment(data, solver=solver, time_limit_s=time_limit_s, gap=gap,
                                       workers=p.workers, hint=hint, strategy=strategy)
        self.solver_result = res
        self.status = res.status
        self.objective, self.bound, self.gap = res.objective, res.bound, res.gap
        self.solve_time_s = res.solve_time_s
        self.solver = res.solver
        if res.status == "INFEASIBLE":
            self._finish(np.full(self.n, -1, np.int64))
            self._raise("The solver proved that the firms cannot all be placed together: their eligible sites do not "
                        "have enough land, floor area or leading-industry room for all of them at once. Allow unassigned "
                        "firms to see which ones stay out and why.")
        self._finish(res.assign)
        n_un = int((self.assignments["status"] == "unassigned").sum())
        self.message = (f"{res.status}: {self.n - n_un - int((~self.firm_ok).sum())} of {self.n} firms placed, "
                        f"{n_un} unassigned, {int((~self.firm_ok).sum())} not solved (input problems); objective "
                        f"{self.objective:,.0f}, bound {self.bound:,.0f}, gap {self.gap:.2%}"
                        + (f" (restricted to the {p.k_nearest} nearest eligible sites per firm)" if restricted else ""))
        return self

    def _check_all_placeable(self, pi) -> None:
        """``allow_unassigned = false``: raise before solving when some firm can go nowhere or the land is short."""
        nowhere = self.firm_ok & (np.bincount(pi, minlength=self.n) == 0)
        if (~self.firm_ok).any() or nowhere.any():
            self.status = "INFEASIBLE"
            self._finish(np.full(self.n, -1, np.int64))
            stuck = nowhere | ~self.firm_ok
            others = self.assignments.index[~stuck]
            self.assignments.loc[others, "status"] = "not_solved"
            self.assignments.loc[others, "reason_code"] = "not_solved"
            self.assignments.loc[others, "reason"] = ("not solved: other firms cannot be placed and every firm "
                                                      "must be (allow_unassigned = false)")
            self.assignments.loc[others, "reason_zh"] = ("未求解:部分企业无法安置,而参数要求全部安置"
                                                         "(allow_unassigned = false)")
            bad = self.assignments.loc[stuck]
            self.unassigned = bad
            listing = "; ".join(f"{r.firm_id}: {r.reason}" for r in bad.head(10).itertuples())
            self._raise(f"{len(bad)} firm(s) can go nowhere although every firm must be placed — {listing}"
                        f"{' …' if len(bad) > 10 else ''}. Relax the binding constraint or allow unassigned firms.")
        total_need = self.need_land[self.firm_ok].sum()
        total_cap = self.cap_land[self.site_ok].sum()
        if total_need > total_cap:
            self.status = "INFEASIBLE"
            self._finish(np.full(self.n, -1, np.int64))
            self._raise(f"The firms need {total_need / M2_PER_MU:,.1f} 亩 in total but all sites together hold "
                        f"{total_cap / M2_PER_MU:,.1f} 亩; not every firm can be placed. Add supply or allow "
                        "unassigned firms.")

    def _raise(self, msg: str):
        self.message = msg
        raise InfeasibleAllocationError(msg, message_zh="无法为全部搬迁企业安排园区:" + msg,
                                        details=[] if self.unassigned is None else self.unassigned.to_dict("records"))

    # -- results ---------------------------------------------------------------------------
    def _finish(self, assign: np.ndarray) -> None:
        self.assign = assign
        code, reason, reason_zh = explain.firm_reasons(self, assign)
        frame = self._assignment_table(assign, code, reason, reason_zh)
        if self.demand is not None:
            self.assignments, self.lines = self._with_geometry(frame, assign)
        else:
            self.assignments = frame
        self.unassigned = self.assignments.loc[self.assignments["status"] != "assigned"]
        self.site_utilisation = self._utilisation(assign)
        self.park_shares = explain.park_shares(self, assign)

    def _assignment_table(self, assign, code, reason, reason_zh) -> pd.DataFrame:
        n, m = self.n, self.m
        placed = assign >= 0
        jj = np.where(placed, assign, 0)
        rows = np.arange(n)
        pen = getattr(self, "penalty", self.weights * self.params.unassigned_penalty_m)
        dist = np.where(placed, self.distance[rows, jj] if m else np.nan, np.nan)
        cost = np.where(placed, self.cost[rows, jj] if m else np.nan, np.nan)
        cost_all = np.where(self.firm_ok, np.where(placed, cost, pen), np.nan)
        total = np.nansum(cost_all)
        status = np.where(placed, "assigned", "unassigned").astype(object)
        status[~self.firm_ok] = "not_solved"

        def at_site(values):
            return pd.array(np.where(placed, np.asarray(values, dtype=object)[jj] if m else None, None), dtype="string")

        frame = pd.DataFrame({
            "firm_id": self.demand_ids, "status": pd.array(status, dtype="string"),
            "site_id": at_site(self.site_ids.astype(str)), "site_name": at_site(self.site_names),
            "park_id": at_site(self.site_park), "park_name": at_site(self.site_park_name),
            "distance_m": dist, "cost": cost_all,
            "objective_share": cost_all / total if total > 0 else np.where(np.isfinite(cost_all), 0.0, np.nan),
            "same_township": (self.same_township[rows, jj] & placed) if hasattr(self, "same_township") and m else False,
            "n_eligible_sites": ((self.mask == 0) & self.site_ok[None, :]).sum(axis=1) if m else 0,
            "reason_code": pd.array(code, dtype="string"), "reason": pd.array(reason, dtype="string"),
            "reason_zh": pd.array(reason_zh, dtype="string"),
        })
        if self.demand is not None:
            d = self.demand
            frame.index = d.index
            extra = [c for c in ("name", "industry_code", "township_code", "need_land_m2", "need_land_mu",
                                 "need_floor_m2", "polluting", "current_park", "current_park_name", "selected_by")
                     if c in d.columns]
            frame = pd.concat([frame[["firm_id"]], d[extra], frame.drop(columns="firm_id")], axis=1)
        return frame

    def _with_geometry(self, frame, assign) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
        """Firm points, and lines from each placed firm to its site's representative point."""
        d = self.demand
        if d is None:
            raise ValueError("a problem built from a cost matrix has no firm geometries to draw")
        out = gpd.GeoDataFrame(frame, geometry=d.geometry.to_numpy(), crs=d.crs)
        out.index = d.index
        placed = assign >= 0
        ok_line = placed & np.isfinite(self.firm_xy[:, 0])
        if self.m and ok_line.any():
            lines = shapely.linestrings(np.stack([self.firm_xy[ok_line], self.site_xy[assign[ok_line]]], axis=1))
            site = assign[ok_line]
        else:
            lines, site = np.zeros(0, dtype=object), np.zeros(0, np.int64)
        rows = np.flatnonzero(ok_line)
        line_frame = gpd.GeoDataFrame(
            {"firm_id": self.demand_ids[ok_line].astype(str), "site_id": self.site_ids[site].astype(str),
             "site_name": self.site_names[site].astype(str), "park_name": self.site_park_name[site].astype(str),
             "distance_m": self.distance[rows, site] if len(rows) else np.zeros(0),
             "cost": self.cost[rows, site] if len(rows) else np.zeros(0)},
            geometry=gpd.GeoSeries(lines, crs=d.crs), crs=d.crs)
        return out, line_frame

    def _utilisation(self, assign) -> pd.DataFrame:
        m = self.m
        placed = assign >= 0
        a = assign[placed]
        used_land = np.bincount(a, weights=self.need_land[placed], minlength=m)
        used_floor = np.bincount(a, weights=self.need_floor[placed], minlength=m)
        shares = explain.group_shares(self, assign)
        out = pd.DataFrame({
            "site_id": self.site_ids.astype(str), "capacity_land_m2": self.cap_land, "used_land_m2": used_land,
            "capacity_land_mu": self.cap_land / M2_PER_MU, "used_land_mu": used_land / M2_PER_MU,
            "land_utilisation": np.where(self.cap_land > 0, used_land / np.where(self.cap_land > 0, self.cap_land, 1), np.nan),
            "capacity_floor_m2": self.cap_floor, "used_floor_m2": used_floor,
            "floor_utilisation": np.where((self.cap_floor > 0) & np.isfinite(self.cap_floor),
                                          used_floor / np.where(self.cap_floor > 0, self.cap_floor, 1), np.nan),
            "firms_assigned": np.bincount(a, minlength=m).astype(np.int64),
            "firms_existing": self.existing.astype(np.int64),
            "share_rule": self.share_sites,
            "leading_share_before": np.where(self.share_sites, shares["before"], np.nan),
            "leading_share_after": np.where(self.share_sites, shares["after"], np.nan),
            "valid": self.site_ok,
        })
        if self.supply is None or not m:
            return out
        s = self.supply
        div = text(self.demand, "industry_code").str[:2].fillna("?").to_numpy(dtype=object)[placed] \
            if self.demand is not None else np.zeros(0, object)
        out["assigned_mix"] = mix_strings(pd.DataFrame({"j": a, "div": div}), m)
        for c in ("plot_ids", "n_plots", "allows_polluting", "leading_industries", "township_code", "park_name",
                  "park_id", "name", "site_kind"):
            if c in s.columns:
                out.insert(1, c, s[c].to_numpy())
        out.index = s.index
        return gpd.GeoDataFrame(out, geometry=s.geometry.to_numpy(), crs=s.crs)


def _share_groups(share_sites: np.ndarray, labels, m: int) -> np.ndarray:
    """Share group per site (0..g−1; −1 no rule): equal labels are one park."""
    group = np.full(m, -1, dtype=np.int64)
    if not share_sites.any():
        return group
    if labels is None:
        group[share_sites] = np.arange(int(share_sites.sum()))
        return group
    lab = pd.Series(np.asarray(labels, dtype=object)).astype("string")
    lab = lab.where(lab.notna(), pd.Series(np.arange(m).astype(str), dtype="string").radd("site:"))
    codes, _ = pd.factorize(lab[share_sites].to_numpy(dtype=object))
    group[share_sites] = codes
    return group


def _mean_friction(fx, fy, sx, sy, array: np.ndarray, transform, samples: int = 8) -> np.ndarray:
    """Mean of a friction raster at ``samples`` points along every firm→site segment (n × m)."""
    t = (np.arange(samples) + 0.5) / samples
    x = fx[:, None, None] + (sx[None, :, None] - fx[:, None, None]) * t
    y = fy[:, None, None] + (sy[None, :, None] - fy[:, None, None]) * t
    inv = ~transform
    col, row = inv * (x, y)
    row = np.clip(np.floor(row).astype(np.int64), 0, array.shape[0] - 1)
    col = np.clip(np.floor(col).astype(np.int64), 0, array.shape[1] - 1)
    vals = np.asarray(array, dtype=float)[row, col]
    return np.nanmean(vals, axis=2)
