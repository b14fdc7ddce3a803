"""Relocation siting: which park land should each relocating firm move to (入园集聚, 梯度转移)?

The package, by responsibility (DESIGN.md):

============================  ================================================================
:mod:`.settings`              :class:`SitingParams` (preset ``[siting]``), the exclusion bits
:mod:`.demand`                :func:`select_demand` — the firms to move and their land/floor need
:mod:`.supply`                :func:`supply_from_layers` — sites as land: vacant plots or
                              contiguous vacant clusters inside each park, split along buffers
:mod:`.eligibility`           :func:`site_exclusions` — which sites each firm may use, and why not
:mod:`.model`                 :class:`RelocationProblem` — the capacitated assignment model and the
                              solver glue (:mod:`analysis._assign` holds the solver core)
:mod:`.explain`               reasons per firm, park by park; shares per park; one firm's ranking
============================  ================================================================

Sites are land, not points
--------------------------
A park's vacant land is cut into sites — each contiguous cluster of vacant plots (or each
plot, ``site_unit = "plot"``) — with capacity in 亩 and floor area.  A residential or
water-source buffer removes the plots it reaches, not the park: on the sample, 飞云新区 keeps
its land outside the 300 m buffers for polluting firms.  Distances and the map's lines go to
the site's own land (its representative point).  Which plots belong to which park is
:mod:`analysis.membership`'s rule, so plots imported without ``park_id`` give the same supply.

The 70 % rule (DOMAIN §1, "339" micro-parks)
---------------------------------------------
Firms of a micro-park's leading industry must be ≥ ``leading_share`` (70 %) of its firms —
counted over the whole park (all its sites), by GB/T 4754 prefix matching for firms already
there and incoming ones alike (:mod:`analysis.leading`).  The policy for a park **already
below** 70 % is: *only leading-industry firms until the share is met* — non-leading firms are
not eligible there; a park at or above 70 % takes non-leading firms only while it stays at or
above after the run.  Firms selected to relocate leave their park.  Every run reports, per
park, the share by firm count (the rule) and by land (reported beside it, not enforced),
before and after, each pass / fail, and the policy applied (``park_shares``).

Solver — SCIP through OR-Tools ``pywraplp`` by default (CP-SAT is wired too), see
:mod:`analysis._assign`.  With ``k_nearest > 0`` only the k cheapest eligible sites of each
firm get a variable: the optimum, bound and gap are those of the *restricted* model
(``restricted`` is True in the result).
"""
from __future__ import annotations

from analysis.siting.demand import demand_problems as _demand_problems, select_demand  # noqa: F401  (tests use siting._demand_problems)
from analysis.siting.eligibility import site_exclusions
from analysis.siting.explain import POLICIES, explain_exclusions, rank_sites_for_firm
from analysis.siting.model import RelocationProblem
from analysis.siting.settings import (
    DEMAND_RULES,
    EXCLUSIONS,
    SITE_UNITS,
    SitingParams,
    load_siting_params,
    siting_params_from_dict,
)
from analysis.siting.supply import supply_from_layers
from layers.codes import matches_prefix as _matches_prefix

__all__ = [
    "DEMAND_RULES",
    "EXCLUSIONS",
    "SITE_UNITS",
    "POLICIES",
    "SitingParams",
    "load_siting_params",
    "siting_params_from_dict",
    "select_demand",
    "supply_from_layers",
    "site_exclusions",
    "RelocationProblem",
    "rank_sites_for_firm",
    "explain_exclusions",
]


def _prefix_match(codes, prefixes):
    """(len(codes), len(prefixes)) bool: code starts with prefix — kept for bench/bench_siting.py."""
    import numpy as np

    return np.column_stack([_matches_prefix(codes, (p,)) for p in prefixes]) if len(prefixes) \
        else np.zeros((len(codes), 0), dtype=bool)
