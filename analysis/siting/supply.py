"""Supply: candidate sites as land — vacant plots, or contiguous clusters of them, inside each park.

A site is real land a firm can be given:

* the vacant plots (status in ``vacant_statuses``) of each eligible park — industrial parks of
  ``park_kinds``, micro-parks of ``micro_park_statuses`` — where a plot's park is
  :mod:`analysis.membership`'s (so plots imported without ``park_id`` give the same sites);
* grouped into **contiguous clusters** (``site_unit = "cluster"``: plots of one park within
  ``site_gap_m`` of each other, e.g. across an estate road, by connected components of an
  STRtree ``dwithin`` graph) or taken **one plot each** (``site_unit = "plot"``);
* never mixing land inside a residential / water-source buffer with land outside it: plots are
  grouped by the buffers they reach (:func:`analysis.siting.eligibility.buffer_flags`), so a
  buffer takes away only the plots it covers — the rest of the park stays open to polluting
  firms;
* plus redevelopment clusters (``analysis.redevelopment``, ``is_candidate_site``) as sites of
  kind ``cluster`` with no industry restriction.

Each site: land capacity C = Σ plot area (m²) shown in 亩, floor capacity G = C × ``site_far``,
``site_id`` = park id + cluster number (largest first, ``IP01-03``), ``name`` = park name +
site id, ``plot_ids``, its township, and the park's leading industries and polluting policy.
Micro-parks with leading industries carry the share rule: every site of one park has the same
``share_group`` (the park id), so the ≥ 70 % rule holds over the park, and the park's firms
(:mod:`analysis.leading`) today (``*_before``) and after the firms selected to relocate leave
(``n_existing``, ``n_existing_leading``, ``existing_land_m2``, ``existing_leading_land_m2``).
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from analysis._common import boolean, combine_parks, num, text
from analysis.leading import leading_codes, park_firm_table, share_table
from analysis.membership import plot_membership
from analysis.siting.eligibility import buffer_flags
from analysis.siting.settings import SitingParams
from geo.units import M2_PER_MU

__all__ = ["SUPPLY_COLUMNS", "supply_from_layers", "vacant_sites"]

SUPPLY_COLUMNS = {
    "site_id": "string", "site_kind": "string", "name": "string", "park_id": "string", "park_name": "string",
    "township_code": "string", "leading_industries": "string", "allows_polluting": "bool",
    "capacity_land_m2": "float64", "capacity_land_mu": "float64", "capacity_floor_m2": "float64",
    "n_plots": "int64", "plot_ids": "string", "share_rule": "bool", "share_group": "string",
    "n_before": "int64", "n_leading_before": "int64", "land_before_m2": "float64", "leading_land_before_m2": "float64",
    "n_existing": "int64", "n_existing_leading": "int64", "existing_land_m2": "float64",
    "existing_leading_land_m2": "float64", "existing_mix": "string",
}


def supply_from_layers(params: SitingParams, *, industrial_parks: gpd.GeoDataFrame | None = None,
                       micro_parks: gpd.GeoDataFrame | None = None, plots: gpd.GeoDataFrame | None = None,
                       enterprises: gpd.GeoDataFrame | None = None, clusters: gpd.GeoDataFrame | None = None,
                       exclude_firms: pd.Index | None = None,
                       constraints: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """Candidate sites: vacant land per park (and released cluster land), with capacities.

    Parameters
    ----------
    industrial_parks, micro_parks : GeoDataFrame, optional
        The park layers; all of them place plots (membership), the eligible ones give sites.
    plots : GeoDataFrame, optional
        The plots layer (``status``, ``area_m2``, ``park_id`` optional).
    enterprises : GeoDataFrame, optional
        The firms already in the parks (share rule, industry mix).
    clusters : GeoDataFrame, optional
        Redevelopment clusters (``cluster_id``, ``release_m2`` or ``area_m2``, ``is_candidate_site``).
    exclude_firms : Index, optional
        Index labels of firms that leave their park (the demand): counted ``*_before``, not in
        ``n_existing``.
    constraints : GeoDataFrame, optional
        The constraints layer: vacant land is split along the residential and water-source buffers
        so they exclude only the land they reach.  Pass the same frame to the eligibility step.

    Returns
    -------
    GeoDataFrame
        The columns of :data:`SUPPLY_COLUMNS`, geometry = the site's land.
    """
    all_parks = combine_parks(industrial_parks, micro_parks)
    crs = next((f.crs for f in (plots, industrial_parks, micro_parks, clusters) if f is not None and len(f)), None)
    parks = _eligible_parks(all_parks, industrial_parks, micro_parks, params)
    frames = []
    if plots is not None and len(plots) and len(parks):
        frames.append(vacant_sites(plots, parks, params, all_parks=all_parks, constraints=constraints))
    if clusters is not None and len(clusters):
        frames.append(_cluster_sites(clusters, params))
    if not frames:
        return _empty(crs)
    sites = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=crs)
    sites["capacity_land_mu"] = sites["capacity_land_m2"] / M2_PER_MU
    sites["capacity_floor_m2"] = sites["capacity_land_m2"] * params.site_far
    sites = _with_park_firms(sites, parks, plots, enterprises, exclude_firms, params)
    for col, dtype in SUPPLY_COLUMNS.items():
        sites[col] = sites[col].astype(dtype)
    return sites[list(SUPPLY_COLUMNS) + ["geometry"]]


def _empty(crs) -> gpd.GeoDataFrame:
    data = {c: pd.Series([], dtype=d) for c, d in SUPPLY_COLUMNS.items()}
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=crs), crs=crs)


def _eligible_parks(all_parks, industrial_parks, micro_parks, params) -> gpd.GeoDataFrame:
    """Industrial parks of ``park_kinds`` and micro-parks of ``micro_park_statuses``."""
    keep = np.ones(len(all_parks), dtype=bool)
    kind = text(all_parks, "park_kind").to_numpy(dtype=object)
    for layer, park_kind, col, allowed in ((industrial_parks, "industrial_park", "kind", params.park_kinds),
                                          (micro_parks, "micro_park", "status", params.micro_park_statuses)):
        if layer is None or not len(layer) or col not in layer.columns or not allowed:
            continue
        ok_ids = set(layer.loc[text(layer, col).isin(allowed).fillna(False).to_numpy(dtype=bool), "park_id"].astype(str))
        keep &= (kind != park_kind) | all_parks["park_id"].astype(str).isin(ok_ids).to_numpy()
    return all_parks.loc[keep].reset_index(drop=True)


def vacant_sites(plots: gpd.GeoDataFrame, parks: gpd.GeoDataFrame, params: SitingParams, *,
                 all_parks: gpd.GeoDataFrame | None = None,
                 constraints: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """One site per vacant plot or contiguous vacant cluster of each park of ``parks`` (see the module).

    ``all_parks`` (default ``parks``) decides each plot's park; ``parks`` which parks give sites.
    """
    member = plot_membership(plots, parks if all_parks is None else all_parks)["park_id"]
    ppos = pd.Index(parks["park_id"].astype(str)).get_indexer(member.fillna("").astype(str))
    vacant = text(plots, "status").isin(params.vacant_statuses).fillna(False).to_numpy(dtype=bool) & (ppos >= 0)
    v = plots.loc[vacant]
    park = ppos[vacant]
    geoms = v.geometry.to_numpy()
    area = num(v, "area_m2")
    area = np.where(np.isfinite(area), area, shapely.area(geoms))
    flags = buffer_flags(geoms, constraints, params)
    label = _clusters(geoms, park, flags, params)
    # number each park's clusters by size, largest first
    order = pd.DataFrame({"label": label, "park": park, "area": area, "plot": text(v, "plot_id").to_numpy(dtype=object),
                          "town": text(v, "township_code").to_numpy(dtype=object)})
    per = order.groupby("label").agg(park=("park", "first"), cap=("area", "sum"), n=("plot", "size"),
                                     first=("plot", "min"),
                                     plots=("plot", lambda s: ", ".join(sorted(s.astype(str)))))
    # township of the site: that of its largest plot
    big = order.sort_values(["label", "area"], ascending=[True, False]).drop_duplicates("label").set_index("label")
    per["town"] = big["town"]
    per = per.sort_values(["park", "cap", "first"], ascending=[True, False, True])
    per["k"] = per.groupby("park").cumcount() + 1
    width = max(2, len(str(int(per["k"].max())))) if len(per) else 2
    pid = parks["park_id"].astype(str).to_numpy(dtype=object)[per["park"].to_numpy()]
    pname = text(parks, "name").fillna("").to_numpy(dtype=object)[per["park"].to_numpy()]
    site_id = pid + "-" + per["k"].astype(str).str.zfill(width).to_numpy(dtype=object)
    land = gpd.GeoSeries(geoms, crs=plots.crs).groupby(label).agg(shapely.union_all)
    pk = parks.iloc[per["park"].to_numpy()]
    kind = text(pk, "park_kind").to_numpy(dtype=object)
    has_lead = np.array([len(c) > 0 for c in leading_codes(pk)], dtype=bool)
    share = (kind == "micro_park") & has_lead
    return gpd.GeoDataFrame({
        "site_id": site_id, "site_kind": kind, "name": np.where(pname == "", site_id, pname + " " + site_id),
        "park_id": pid, "park_name": pname,
        "township_code": np.where(pd.isna(per["town"].to_numpy()), text(pk, "township_code").to_numpy(dtype=object),
                                  per["town"].to_numpy(dtype=object)),
        "leading_industries": text(pk, "leading_industries").fillna("").to_numpy(dtype=object),
        "allows_polluting": boolean(pk, "allows_polluting", False), "capacity_land_m2": per["cap"].to_numpy(),
        "n_plots": per["n"].to_numpy(dtype=np.int64), "plot_ids": per["plots"].to_numpy(dtype=object),
        "share_rule": share, "share_group": np.where(share, pid, None),
    }, geometry=land.reindex(per.index).to_numpy(), crs=plots.crs)


def _clusters(geoms: np.ndarray, park: np.ndarray, flags: np.ndarray, params: SitingParams) -> np.ndarray:
    """Cluster label per vacant plot: connected within ``site_gap_m``, same park, same buffers."""
    n = len(geoms)
    if params.site_unit == "plot" or n == 0:
        return np.arange(n)
    i, j = shapely.STRtree(geoms).query(geoms, predicate="dwithin", distance=params.site_gap_m)
    keep = (i < j) & (park[i] == park[j]) & (flags[i] == flags[j])
    graph = sparse.coo_matrix((np.ones(keep.sum()), (i[keep], j[keep])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _cluster_sites(clusters: gpd.GeoDataFrame, params: SitingParams) -> gpd.GeoDataFrame:
    """Released redevelopment clusters: sites of kind ``cluster``, open to any industry."""
    cl = clusters
    if "is_candidate_site" in cl.columns:
        cl = cl.loc[boolean(cl, "is_candidate_site", False)]
    capcol = "release_m2" if "release_m2" in cl.columns else "area_m2"
    cap = num(cl, capcol)
    cap = np.where(np.isfinite(cap) & (cap > 0), cap, num(cl, "area_m2"))
    ids = ("CL" + cl["cluster_id"].astype(str)).to_numpy(dtype=object)
    return gpd.GeoDataFrame({
        "site_id": ids, "site_kind": "cluster", "name": "连片区 " + ids, "park_id": None, "park_name": None,
        "township_code": text(cl, "township_code").to_numpy(dtype=object),
        "leading_industries": "", "allows_polluting": False, "capacity_land_m2": cap,
        "n_plots": num(cl, "n_plots"), "plot_ids": text(cl, "members").to_numpy(dtype=object),
        "share_rule": False, "share_group": None,
    }, geometry=cl.geometry.to_numpy(), crs=cl.crs)


def _with_park_firms(sites, parks, plots, enterprises, exclude, params) -> gpd.GeoDataFrame:
    """The firms of each site's park today and after the demand leaves (same on every site of a park)."""
    k = len(parks)
    table = park_firm_table(parks, plots, enterprises)
    codes = leading_codes(parks)
    today = share_table(table, k, codes=codes, minimum=params.leading_share)
    stays = np.ones(len(table))
    if exclude is not None and enterprises is not None and len(table):
        stays = (~enterprises.index[table["firm"].to_numpy()].isin(exclude)).astype(float)
    base = share_table(table, k, codes=codes, minimum=params.leading_share, weights=stays)
    mix = _mix(table, enterprises, stays, k)
    pos = pd.Index(parks["park_id"].astype(str)).get_indexer(sites["park_id"].astype("string").fillna("").astype(str))
    has = pos >= 0

    def per_site(values, fill):
        arr = np.asarray(values)
        return np.where(has, arr[np.maximum(pos, 0)] if len(arr) else fill, fill)

    sites["n_before"] = per_site(today["n_firms"], 0)
    sites["n_leading_before"] = per_site(today["n_leading_firms"], 0)
    sites["land_before_m2"] = per_site(today["firm_land_m2"], 0.0)
    sites["leading_land_before_m2"] = per_site(today["leading_land_m2"], 0.0)
    sites["n_existing"] = per_site(base["n_firms"], 0)
    sites["n_existing_leading"] = per_site(base["n_leading_firms"], 0)
    sites["existing_land_m2"] = per_site(base["firm_land_m2"], 0.0)
    sites["existing_leading_land_m2"] = per_site(base["leading_land_m2"], 0.0)
    sites["existing_mix"] = per_site(mix, "")
    return sites


def _mix(table, enterprises, weights, k) -> np.ndarray:
    """'34:12, 33:3' per park (2-digit divisions of the firms staying), largest first."""
    out = np.full(k, "", dtype=object)
    if enterprises is None or not len(table):
        return out
    div = text(enterprises, "industry_code").str[:2].fillna("?").to_numpy(dtype=object)[table["firm"].to_numpy()]
    df = pd.DataFrame({"j": table["park"].to_numpy(), "div": div})[np.asarray(weights) > 0]
    return mix_strings(df, k)


def mix_strings(df: pd.DataFrame, m: int) -> np.ndarray:
    """'34:12, 33:3' per position 0..m−1 (df: j, div), largest first."""
    out = np.full(m, "", dtype=object)
    if len(df) == 0:
        return out
    c = df.groupby(["j", "div"]).size().rename("n").reset_index().sort_values(["j", "n"], ascending=[True, False])
    c["t"] = c["div"].astype(str) + ":" + c["n"].astype(str)
    s = c.groupby("j")["t"].agg(", ".join)
    out[s.index.to_numpy(dtype=np.int64)] = s.to_numpy()
    return out
