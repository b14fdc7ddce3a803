"""Eligibility: which sites each firm may use, as a bit mask per (firm, site) — see ``EXCLUSIONS``.

The rules, each keeping its reason:

* **industry** — an industrial park takes the firms of its leading industries (GB/T 4754 prefix
  rule, :func:`layers.codes.prefix_matrix`); a site without leading industries takes any
  (``open_if_no_leading``); a micro-park is governed by its share rule instead.
* **polluting** — a polluting firm goes only to parks that accept polluting industries; those
  take it whatever their leading industries (``designated_take_polluting``).
* **buffers** — a polluting firm may not use land within ``buffer_residential_m`` of housing or
  ``buffer_water_source_m`` of a water-source protection zone.  Sites are built homogeneous
  (:mod:`analysis.siting.supply` never joins a buffered plot and a free one into one site), so
  a buffer removes only the plots it reaches, not the park.
* **distance**, **land/floor capacity** (the firm's need larger than the whole site),
  **invalid sites**.
* **the 70 % rule** (micro-parks, DOMAIN §1): the policy for a park already **below** the
  minimum is "only leading-industry firms until the share is met" — a non-leading firm is
  excluded from every site of such a park (``park_below_share``).  A park at or above the
  minimum takes non-leading firms only while it stays there after the run (a model row per
  park, :mod:`analysis.siting.model`); for a single firm (:func:`~analysis.siting.explain.rank_sites_for_firm`)
  that is ``leading_share``.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from analysis._common import boolean, num, text
from analysis.siting.settings import BIT, SitingParams
from layers.codes import parse_code_list, prefix_matrix

__all__ = ["BUFFER_KINDS", "buffer_flags", "leading_matrix", "below_share_mask", "site_exclusions"]

#: constraint kind → (params field with the distance, exclusion code)
BUFFER_KINDS = {"residential": ("buffer_residential_m", "residential_buffer"),
                "water_source": ("buffer_water_source_m", "water_buffer")}


def buffer_flags(land: np.ndarray, constraints: gpd.GeoDataFrame | None, params: SitingParams) -> np.ndarray:
    """Exclusion bits of the buffers each piece of ``land`` reaches (0 = none): one STRtree
    ``dwithin`` query per constraint kind over all pieces."""
    flags = np.zeros(len(land), dtype=np.uint16)
    if constraints is None or len(constraints) == 0 or len(land) == 0:
        return flags
    kinds = text(constraints, "kind")
    for kind, (field, code) in BUFFER_KINDS.items():
        c = constraints.loc[kinds.eq(kind).fillna(False).to_numpy(dtype=bool)]
        buf = getattr(params, field)
        if len(c) == 0 or buf <= 0:
            continue
        hit, _ = shapely.STRtree(c.geometry.to_numpy()).query(land, predicate="dwithin", distance=buf)
        flags[np.unique(hit)] |= BIT[code]
    return flags


def leading_matrix(industry_codes, sites: pd.DataFrame) -> np.ndarray:
    """n × m: the firm's industry is one of the site's leading ones (GB/T 4754 prefix rule)."""
    return prefix_matrix(pd.Series(np.asarray(industry_codes, dtype=object), dtype="string"),
                         parse_code_list(sites["leading_industries"]) if len(sites) else [])


def below_share_mask(leading: np.ndarray, share_sites: np.ndarray, existing: np.ndarray,
                     existing_leading: np.ndarray, minimum: float) -> np.ndarray:
    """n × m bool: a non-leading firm at a share-rule site whose park is already below the minimum
    (the policy: only leading-industry firms until the share is met)."""
    n_ex = np.nan_to_num(np.asarray(existing, float))
    n_ld = np.nan_to_num(np.asarray(existing_leading, float))
    below = share_sites & (n_ex > 0) & (n_ld < minimum * n_ex - 1e-9)
    return ~np.asarray(leading, bool) & below[None, :]


def site_exclusions(demand: pd.DataFrame, sites: pd.DataFrame, params: SitingParams, *,
                    distance: np.ndarray, constraints: gpd.GeoDataFrame | None = None,
                    single_firm_share: bool = False) -> np.ndarray:
    """Exclusion bit mask (n × m, uint16; 0 = eligible) — see ``EXCLUSIONS``.

    Vectorised: industry fit by a firm × code and a site × code incidence matrix; the buffers
    by one STRtree ``dwithin`` query per constraint kind over all sites' land.
    """
    n, m = len(demand), len(sites)
    mask = np.zeros((n, m), dtype=np.uint16)
    if n == 0 or m == 0:
        return mask
    lead = leading_matrix(text(demand, "industry_code"), sites)
    no_lead = np.array([len(c) == 0 for c in parse_code_list(sites["leading_industries"])])
    fit = lead.copy()
    fit[:, no_lead] = params.open_if_no_leading
    share_sites = boolean(sites, "share_rule", False)
    fit[:, share_sites] = True  # micro-parks: governed by the share rule, not a hard fit
    polluting = boolean(demand, "polluting", False)
    allows = boolean(sites, "allows_polluting", False)
    if params.designated_take_polluting:  # a park designated for polluting industries exists for them
        fit[np.ix_(polluting, allows)] = True
    mask[~fit] |= BIT["industry"]
    mask[np.ix_(polluting, ~allows)] |= BIT["polluting"]
    if polluting.any():
        # the site's land (not just its anchor point) must keep the distance
        near = buffer_flags(sites.geometry.to_numpy(), constraints, params)
        mask[polluting] |= near[None, :]
    if params.max_distance_m > 0:
        mask[distance > params.max_distance_m] |= BIT["distance"]
    need_land, need_floor = num(demand, "need_land_m2"), num(demand, "need_floor_m2")
    cap_land = num(sites, "capacity_land_m2")
    cap_floor = num(sites, "capacity_floor_m2")
    cap_floor = np.where(np.isnan(cap_floor), np.inf, cap_floor)
    mask[need_land[:, None] > cap_land[None, :] * (1 + 1e-9)] |= BIT["land_capacity"]
    mask[need_floor[:, None] > cap_floor[None, :] * (1 + 1e-9)] |= BIT["floor_capacity"]
    bad_site = ~(cap_land >= 0) | (cap_floor < 0) | sites.geometry.isna().to_numpy() | sites.geometry.is_empty.to_numpy()
    mask[:, bad_site] |= BIT["invalid_site"]
    n_ex, n_ld = num(sites, "n_existing"), num(sites, "n_existing_leading")
    mask[below_share_mask(lead, share_sites, n_ex, n_ld, params.leading_share)] |= BIT["park_below_share"]
    if single_firm_share and share_sites.any():
        after = (np.nan_to_num(n_ld)[None, :] + lead) / (np.nan_to_num(n_ex)[None, :] + 1)
        single = ~lead & (after < params.leading_share - 1e-12) & share_sites[None, :]
        mask[single & ((mask & BIT["park_below_share"]) == 0)] |= BIT["leading_share"]
    return mask
