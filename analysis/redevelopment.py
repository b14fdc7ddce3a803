"""Redevelopment potential, suitability, suggested mode and contiguous clusters (连片).

Per candidate plot (the low-efficiency plots, or every industrial plot):

* ``added_floor_m2`` = max(target FAR − FAR, 0) × area (m²) — floor area gained by 零增地技改;
  ``release_m2`` = the plot's area (m²), the land released if the holder relocates;
* distances (m, edge to edge, 0 inside) to the nearest park, expressway, national and
  provincial road (and the nearest road of any class), logistics centre, port, rail
  station and residential area — one STRtree ``query_nearest`` per target kind;
* ``slope_mean`` (raster units, degrees) and ``flood_depth_max`` (m) by exact zonal
  statistics (each cell weighted by the fraction the plot covers, exactextract's numbers; both
  rasters in one pass, :func:`geo.raster.zonal_stats_many`);
* ``share_<kind>``: share of the plot's area under each constraint kind (kinds dissolved
  first so overlaps are not counted twice; pairs from one STRtree query, areas from one
  vectorised intersection);
* suitability 0–100 (ArcGIS Weighted Overlay semantics): each criterion is rescaled
  linearly from ``worst`` (0) to ``best`` (1) and clipped, ``crit_<name>`` = weight × that ×
  100 points, suitability = Σ contributions; a plot with more than ``restricted_share_max``
  of its area under a *restricted* constraint is ``restricted`` (suitability 0, the
  contributions kept for inspection).  A criterion whose input is missing scores 0 and is
  named in ``missing_criteria``;
* ``mode`` by transparent, ordered rules (first match wins, ``mode_rule_en/zh`` says why):
  restricted → 限制开发; housing within ``residential_near_m`` → 退二进三; class D,
  polluting outside a designated park, halted or idle → 腾退收储; a plot under
  ``merge_max_mu`` in a candidate cluster (≥ ``cluster_min_mu``, ≥ 2 plots) → 连片整合;
  otherwise 零增地技改.

Clusters: non-restricted candidates that touch or lie within ``cluster_gap_m`` of each
other, found with one STRtree query, one vectorised ``dwithin`` and scipy's connected components.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from analysis._common import Reasons, at_least, below, check_crs, fmt, fmt_against, num, rows_of, text
from analysis.params import RedevelopmentParams
from geo import raster as georaster
from geo.errors import SchemaError
from geo.threads import chunked, query_pairs
from geo.units import M2_PER_MU

__all__ = ["MODES", "Redevelopment", "assess", "check_input", "candidates", "plot_criteria", "potential",
           "attach_clusters", "suggest_modes", "plot_frame", "cluster_parts", "cluster_table", "distances",
           "constraint_shares", "suitability", "clusters", "zonal_stats"]

MODES = {
    "restricted": ("限制开发", "restricted (no redevelopment)"),
    "tui_er_jin_san": ("退二进三", "convert to services"),
    "lianpian": ("连片整合", "merge with neighbours"),
    "tengtui": ("腾退收储", "vacate and re-let"),
    "jigai": ("零增地技改", "upgrade in place"),
}
ROAD_KINDS = ("expressway", "national_road", "provincial_road")
#: What the steps of :func:`assess` read of the candidate plots (with their geometry): only these
#: are copied out of the low-efficiency frame.
_CANDIDATE_COLUMNS = ("plot_id", "area_m2", "far", "status", "rule_class_d", "rule_polluting_outside_park")
POINT_KINDS = ("logistics_centre", "port", "rail_station")


class Redevelopment(NamedTuple):
    """Result of :func:`assess`: per-plot frame (plots' index) and the cluster frame."""

    plots: gpd.GeoDataFrame
    clusters: gpd.GeoDataFrame


def _nearest(geoms: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Distance (m) from each geometry to the nearest target; NaN when there is none.

    Every GEOS call here returns numbers, so it runs in threads over chunks of ``geoms``
    (:func:`geo.threads.chunked`); the values do not depend on the chunks.
    """
    out = np.full(len(geoms), np.nan)
    targets = targets[~shapely.is_empty(targets) & ~shapely.is_missing(targets)] if len(targets) else targets
    if len(geoms) == 0 or len(targets) == 0:
        return out
    if len(targets) <= 64:
        # A handful of roads or points: one vectorised distance to their collection beats a tree search.
        collection = shapely.geometrycollections(targets)
        return chunked(lambda g: shapely.distance(g, collection), geoms)
    tree = shapely.STRtree(targets)
    tree.query(geoms[:1])       # GEOS builds the tree on its first query: once, before the threads share it
    todo = np.ones(len(geoms), dtype=bool)
    if (shapely.get_type_id(targets) >= 3).any():
        # Polygon targets (parks, housing): plots touching one are at 0 m; the cheap predicate query
        # settles those and spares the nearest-distance search for them.
        touching = chunked(lambda g: _touches_any(tree, g), geoms)
        out[touching] = 0.0
        todo[touching] = False
    rest = np.flatnonzero(todo)
    if len(rest):
        out[rest] = chunked(lambda g: _nearest_distance(tree, g), geoms[rest])
    return out


def _touches_any(tree: shapely.STRtree, geoms: np.ndarray) -> np.ndarray:
    """Whether each geometry intersects some geometry of the tree."""
    hit = np.zeros(len(geoms), dtype=bool)
    hit[tree.query(geoms, predicate="intersects")[0]] = True
    return hit


def _nearest_distance(tree: shapely.STRtree, geoms: np.ndarray) -> np.ndarray:
    """Distance from each geometry to the nearest geometry of the tree (tree not empty)."""
    (i, _), dist = tree.query_nearest(geoms, return_distance=True, all_matches=False)
    out = np.full(len(geoms), np.nan)        # a missing geometry has no nearest
    out[i] = dist
    return out


def distances(geoms: np.ndarray, *, parks: gpd.GeoDataFrame | None, infrastructure: gpd.GeoDataFrame | None,
              constraints: gpd.GeoDataFrame | None) -> pd.DataFrame:
    """Nearest distances (m) from each geometry to parks, roads by class, points and housing."""
    cols: dict[str, np.ndarray] = {}
    empty = np.array([], dtype=object)
    cols["dist_park_m"] = _nearest(geoms, parks.geometry.to_numpy() if parks is not None else empty)
    kinds = infrastructure["kind"].astype(str).to_numpy() if infrastructure is not None and len(infrastructure) else \
        np.array([], dtype=object)
    igeom = infrastructure.geometry.to_numpy() if infrastructure is not None and len(infrastructure) else empty
    for k in ROAD_KINDS + POINT_KINDS:
        cols[f"dist_{k}_m"] = _nearest(geoms, igeom[kinds == k])
    cols["dist_road_m"] = np.fmin.reduce([cols[f"dist_{k}_m"] for k in ROAD_KINDS])  # NaN only if no road at all
    ck = constraints["kind"].astype(str).to_numpy() if constraints is not None and len(constraints) else \
        np.array([], dtype=object)
    cgeom = constraints.geometry.to_numpy() if constraints is not None and len(constraints) else empty
    cols["dist_residential_m"] = _nearest(geoms, cgeom[ck == "residential"])
    return pd.DataFrame(cols)


def _share_under(geoms: np.ndarray, areas: np.ndarray, cover: np.ndarray) -> np.ndarray:
    """Share of each geometry's area inside the union of ``cover`` polygons."""
    out = np.zeros(len(geoms))
    if len(geoms) == 0 or len(cover) == 0:
        return out
    # Dissolve then split into parts so overlapping features are counted once and the tree stays tight.
    parts = shapely.get_parts(shapely.union_all(shapely.make_valid(cover)))
    parts = parts[shapely.get_type_id(parts) >= 3]  # polygons only
    if len(parts) == 0:
        return out
    tree = shapely.STRtree(parts)
    i, j = tree.query(geoms, predicate="intersects")
    if len(i) == 0:
        return out
    inter = shapely.area(shapely.intersection(geoms[i], parts[j]))
    s = np.bincount(i, weights=inter, minlength=len(geoms))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.clip(np.where(areas > 0, s / areas, 0.0), 0.0, 1.0)


def constraint_shares(geoms: np.ndarray, constraints: gpd.GeoDataFrame | None, kinds: tuple[str, ...],
                      soft: tuple[str, ...] = ()) -> pd.DataFrame:
    """``share_<kind>`` for each constraint kind, plus ``soft_constraint_share`` (union of ``soft``)."""
    areas = shapely.area(geoms)
    ck = constraints["kind"].astype(str).to_numpy() if constraints is not None and len(constraints) else \
        np.array([], dtype=object)
    cgeom = constraints.geometry.to_numpy() if constraints is not None and len(constraints) else \
        np.array([], dtype=object)
    cols = {f"share_{k}": _share_under(geoms, areas, cgeom[ck == k]) for k in kinds}
    cols["soft_constraint_share"] = _share_under(geoms, areas, cgeom[np.isin(ck, soft)]) if soft else np.zeros(len(geoms))
    return pd.DataFrame(cols)


def zonal_stats(geoms: gpd.GeoSeries, raster: str | os.PathLike, stat: str) -> np.ndarray:
    """One exact zonal statistic (``mean``, ``max``…) of a raster per polygon (NaN outside the raster).

    Delegates to :func:`geo.raster.zonal_stats` (each cell weighted by the fraction of it the
    polygon covers), so no per-pixel Python runs here.
    """
    if len(geoms) == 0:
        return np.zeros(0)
    zones = gpd.GeoDataFrame(geometry=geoms.reset_index(drop=True), crs=geoms.crs)
    return georaster.zonal_stats(raster, zones, [stat], name="plots")[stat].to_numpy(dtype=float)


_RASTER_CRITERIA = {"slope": "mean", "flood_depth": "max"}   # raster kind → statistic, column <kind>_<stat>


def _raster_criteria(c: gpd.GeoDataFrame, rasters: Mapping[str, str | os.PathLike] | None) -> pd.DataFrame:
    """``slope_mean`` and ``flood_depth_max`` of each plot (NaN where the raster is absent), both rasters
    in one pass (:func:`geo.raster.zonal_stats_many`: plots on one grid share the cell coverage)."""
    rasters = {k: v for k, v in (rasters or {}).items() if k in _RASTER_CRITERIA}
    out = pd.DataFrame({f"{k}_{stat}": np.full(len(c), np.nan) for k, stat in _RASTER_CRITERIA.items()}, index=c.index)
    if rasters and len(c):
        zones = gpd.GeoDataFrame(geometry=c.geometry.reset_index(drop=True), crs=c.crs)
        found = georaster.zonal_stats_many(rasters, zones, {k: [_RASTER_CRITERIA[k]] for k in rasters}, name="plots")
        for col in found.columns:
            out[col] = found[col].to_numpy()
    return out


def suitability(frame: pd.DataFrame, params: RedevelopmentParams) -> pd.DataFrame:
    """Weighted-overlay suitability (0–100) and each criterion's contribution (points).

    contribution_c = w_c × clip((x_c − worst_c) ÷ (best_c − worst_c), 0, 1) × 100;
    suitability_raw = Σ_c contribution_c.  Missing inputs contribute 0 and are listed.
    """
    n = len(frame)
    out = {}
    total = np.zeros(n)
    missing = np.full(n, "", dtype=object)
    for c in params.criteria:
        x = num(frame, c.column)
        t = np.clip((x - c.worst) / (c.best - c.worst), 0.0, 1.0)
        contrib = np.where(np.isnan(x), 0.0, c.weight * t * 100.0)
        out[f"crit_{c.name}"] = contrib
        total += contrib
        m = np.isnan(x)
        missing[m] = missing[m] + np.where(missing[m] == "", "", ",") + c.name
    out["suitability_raw"] = total
    out["missing_criteria"] = pd.Series(missing, dtype="string").replace("", pd.NA).to_numpy()
    return pd.DataFrame(out, index=frame.index)


def clusters(geoms: np.ndarray, gap_m: float) -> np.ndarray:
    """Cluster label (0…k−1) of each geometry: connected components of 'within ``gap_m``'.

    One STRtree query of the bounding boxes grown by ``gap_m`` gives the candidate pairs (a
    superset: geometries within the gap have boxes within it); each pair is kept once (i < j,
    the graph is undirected) and tested exactly by one vectorised ``dwithin`` — half the exact
    tests of a ``dwithin`` tree query, which tests both orders.  scipy's connected components
    labels the graph; membership is symmetric by construction.
    """
    n = len(geoms)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    tree = shapely.STRtree(geoms)
    b = shapely.bounds(geoms)
    i, j = query_pairs(tree, shapely.box(b[:, 0] - gap_m, b[:, 1] - gap_m, b[:, 2] + gap_m, b[:, 3] + gap_m))
    once = i < j
    i, j = i[once], j[once]
    near = chunked(lambda a, b: shapely.dwithin(a, b, gap_m), geoms[i], geoms[j])
    i, j = i[near], j[near]
    graph = coo_matrix((np.ones(len(i), dtype=np.int8), (i, j)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return labels.astype(np.int64)


def candidates(plots: pd.DataFrame, params: RedevelopmentParams) -> np.ndarray:
    """Boolean mask of the candidate plots: in scope, and low-efficiency unless
    ``params.candidates`` says every industrial plot."""
    cand = plots["in_scope"].to_numpy(dtype=bool).copy()
    if params.candidates == "low_efficiency":
        cand &= plots["is_low_efficiency"].to_numpy(dtype=bool)
    return cand


def plot_criteria(c: gpd.GeoDataFrame, params: RedevelopmentParams, *, parks: gpd.GeoDataFrame | None = None,
                  infrastructure: gpd.GeoDataFrame | None = None, constraints: gpd.GeoDataFrame | None = None,
                  rasters: Mapping[str, str | os.PathLike] | None = None) -> pd.DataFrame:
    """The per-plot criteria that depend on nothing but the plot itself, on ``c.index``:
    distances (:func:`distances`), ``slope_mean``/``flood_depth_max`` (:func:`zonal_stats`) and
    constraint shares (:func:`constraint_shares`).  Row-independent, so any split of the plots
    gives the same values (what ``scale.partitioned`` relies on)."""
    geoms = c.geometry.to_numpy()
    d = distances(geoms, parks=parks, infrastructure=infrastructure, constraints=constraints)
    d.index = c.index
    d = d.join(_raster_criteria(c, rasters))
    from layers.schema import CONSTRAINT_KINDS

    kinds = tuple(k for k in CONSTRAINT_KINDS if k != "residential") + ("residential",)
    sh = constraint_shares(geoms, constraints, kinds, params.soft_constraints)
    sh.index = c.index
    return d.join(sh)


def assess(plots: gpd.GeoDataFrame, params: RedevelopmentParams, *, parks: gpd.GeoDataFrame | None = None,
           infrastructure: gpd.GeoDataFrame | None = None, constraints: gpd.GeoDataFrame | None = None,
           rasters: Mapping[str, str | os.PathLike] | None = None,
           criteria: pd.DataFrame | None = None) -> Redevelopment:
    """Potential, suitability, suggested mode and clusters of candidate plots.

    The steps, each its own function so that ``scale.outofcore`` can run the row-wise ones on
    partitions and the clusters across them: :func:`candidates` → :func:`plot_criteria` →
    :func:`potential` (potential, restriction, suitability) → :func:`clusters` of the
    non-restricted candidates and their table (:func:`cluster_parts`, :func:`cluster_table`) →
    :func:`attach_clusters` → :func:`suggest_modes` → :func:`plot_frame`.

    Parameters
    ----------
    plots : GeoDataFrame
        Output of :func:`analysis.low_efficiency.assess` (projected CRS, metres): needs
        ``plot_id``, ``area_m2``, ``far``, ``in_scope``, ``is_low_efficiency`` and the
        ``rule_*`` flags used by the mode rules.
    params : RedevelopmentParams
    parks, infrastructure, constraints : GeoDataFrame, optional
        Same CRS as ``plots``; ``kind`` columns as in ``layers.schema``.
    rasters : mapping, optional
        ``{"slope": path, "flood_depth": path}``; absent rasters leave NaN (criterion scores 0,
        listed in ``missing_criteria``).
    criteria : DataFrame, optional
        The per-plot criteria of :func:`plot_criteria` already computed for (at least) the
        candidate plots, on their index — ``scale.partitioned`` computes them on spatial
        partitions; when given, ``parks``/``infrastructure``/``constraints``/``rasters`` are
        not read again for them.

    Returns
    -------
    Redevelopment
        ``plots``: on ``plots.index`` (non-candidates carry ``candidate=False`` and
        ``suitability_status='not_candidate'``); ``clusters``: one row per cluster with
        ``cluster_id``, ``n_plots``, ``area_m2``, ``area_mu``, ``members`` (plot ids),
        ``added_floor_m2``, ``release_m2``, ``is_candidate_site`` and the dissolved outline.
    """
    check_input(plots, parks=parks, infrastructure=infrastructure, constraints=constraints)
    cand = candidates(plots, params)
    c = rows_of(plots, cand, (*_CANDIDATE_COLUMNS, plots.geometry.name))
    if criteria is None:
        criteria = plot_criteria(c, params, parks=parks, infrastructure=infrastructure, constraints=constraints,
                                 rasters=rasters)
    res = potential(c, params, criteria)
    free = ~res["restricted"].to_numpy(dtype=bool)
    labels = np.full(len(c), -1, dtype=np.int64)
    labels[free] = clusters(c.geometry.to_numpy()[free], params.cluster_gap_m)
    cl = cluster_table(cluster_parts(c.loc[free], labels[free], res.loc[free], params), params, plots.crs)
    attach_clusters(res, labels, cl["n_plots"].to_numpy(), cl["area_mu"].to_numpy())
    suggest_modes(res, c, params)
    return Redevelopment(plot_frame(plots, cand, res), cl)


def check_input(plots: gpd.GeoDataFrame, *, parks=None, infrastructure=None, constraints=None) -> None:
    """Refuse plots that are not a low-efficiency result, or layers in another CRS."""
    for col in ("plot_id", "area_m2", "is_low_efficiency", "in_scope"):
        if col not in plots.columns:
            raise SchemaError(f"redevelopment needs the low-efficiency result; plots lack {col!r}. "
                              "Run analysis.low_efficiency.assess first.",
                              message_zh=f"再开发分析需要低效用地认定结果(缺少 {col!r})")
    check_crs(plots, ("parks", parks), ("infrastructure", infrastructure), ("constraints", constraints))


def potential(c: gpd.GeoDataFrame, params: RedevelopmentParams, criteria: pd.DataFrame) -> pd.DataFrame:
    """Per candidate plot (row-wise, on ``c.index``): ``area_mu``, ``added_floor_m2``, ``release_m2``, the
    criteria, ``restricted``/``restricted_by``, each criterion's contribution, ``suitability`` and its status."""
    area = num(c, "area_m2")
    far = num(c, "far")
    res = pd.DataFrame(index=c.index)
    res["area_mu"] = area / M2_PER_MU
    res["added_floor_m2"] = np.maximum(params.target_far - np.nan_to_num(far, nan=0.0), 0.0) * area
    res["release_m2"] = area
    res = res.join(criteria.reindex(c.index))
    share_restricted = np.zeros(len(c))
    restricted_by = np.full(len(c), "", dtype=object)
    for k in params.restricted:
        s = res[f"share_{k}"].to_numpy()
        hit = s > params.restricted_share_max
        restricted_by[hit] = restricted_by[hit] + np.where(restricted_by[hit] == "", "", ",") + k
        share_restricted = np.maximum(share_restricted, s)
    restricted = restricted_by != ""
    res["restricted"] = restricted
    res["restricted_by"] = pd.Series(restricted_by, index=c.index, dtype="string").replace("", pd.NA)
    res = res.join(suitability(res, params))
    res["suitability"] = np.where(restricted, 0.0, res["suitability_raw"].to_numpy())
    res["suitability_status"] = np.where(restricted, "restricted", "scored")
    return res


def attach_clusters(res: pd.DataFrame, labels: np.ndarray, n_plots: np.ndarray, area_mu: np.ndarray) -> None:
    """Each candidate's ``cluster_id`` (label + 1; missing when restricted, ``labels`` −1), and its
    cluster's ``cluster_n_plots`` and ``cluster_area_mu`` (per label: ``n_plots``, ``area_mu``), in place."""
    free = labels >= 0
    lab = pd.Series(labels)
    res["cluster_id"] = pd.array(np.where(free, labels + 1, 0), dtype="Int64")
    res.loc[~free, "cluster_id"] = pd.NA
    res["cluster_n_plots"] = lab.map(pd.Series(n_plots, index=np.arange(len(n_plots)))).to_numpy()
    res["cluster_area_mu"] = lab.map(pd.Series(area_mu, index=np.arange(len(area_mu)))).to_numpy()


def suggest_modes(res: pd.DataFrame, c: gpd.GeoDataFrame, params: RedevelopmentParams) -> None:
    """The suggested mode of each candidate, first matching rule wins (see the module doc): ``mode``,
    ``mode_key``, ``mode_rule_en``, ``mode_rule_zh``, in place.  Row-wise given the clusters."""
    restricted = res["restricted"].to_numpy(dtype=bool)
    restricted_by = res["restricted_by"].fillna("").to_numpy(dtype=object)
    m = len(c)
    mode = np.full(m, "jigai", dtype=object)
    why = Reasons(m)
    decided = np.zeros(m, dtype=bool)

    def rule(mask, key, en, zh):
        nonlocal decided
        hit = np.asarray(mask, dtype=bool) & ~decided
        mode[hit] = key
        why.add(hit, en, zh)
        decided |= hit

    rule(restricted, "restricted", lambda k: "under restricted constraint " + restricted_by[k],
         lambda k: "位于限制性约束内:" + restricted_by[k])
    dres = res["dist_residential_m"].to_numpy()
    rule(dres <= params.residential_near_m, "tui_er_jin_san",
         lambda k: "housing " + fmt(dres[k], "%.0f") + f" m away (≤ {params.residential_near_m:g} m)",
         lambda k: "距居住区 " + fmt(dres[k], "%.0f") + f" 米(≤ {params.residential_near_m:g} 米)")
    st = text(c, "status").fillna("").to_numpy(dtype=object)
    flags = {r: (c[f"rule_{r}"].to_numpy(dtype=bool) if f"rule_{r}" in c.columns else np.zeros(m, dtype=bool))
             for r in ("class_d", "polluting_outside_park")}
    vacate = flags["class_d"] | flags["polluting_outside_park"] | np.isin(st, ("halted", "idle"))
    rule(vacate, "tengtui", lambda k: _vacate_words(k, flags, st, en=True), lambda k: _vacate_words(k, flags, st, en=False))
    cl_mu = res["cluster_area_mu"].to_numpy(dtype=float)
    cl_n = res["cluster_n_plots"].to_numpy(dtype=float)
    amu = res["area_mu"].to_numpy()
    # areas pass through m² → 亩: compared with a tolerance (a cluster of exactly 50 亩 is 50, not 49.999…)
    rule(below(amu, params.merge_max_mu) & (cl_n >= 2) & at_least(cl_mu, params.cluster_min_mu), "lianpian",
         lambda k: "plot " + fmt_against(amu[k], params.merge_max_mu, 1) + f" 亩 < {params.merge_max_mu:g} 亩 in a "
         "cluster of " + fmt_against(cl_mu[k], params.cluster_min_mu, 0) + " 亩",
         lambda k: "地块 " + fmt_against(amu[k], params.merge_max_mu, 1) + f" 亩 < {params.merge_max_mu:g} 亩,位于 "
         + fmt_against(cl_mu[k], params.cluster_min_mu, 0) + " 亩连片区内")
    rule(np.ones(m, dtype=bool), "jigai", "firm stays; raise FAR to " + f"{params.target_far:g}",
         f"企业保留,容积率提升至 {params.target_far:g}")
    res["mode"] = [MODES[k][0] for k in mode] if m else pd.Series([], dtype="string")
    res["mode_key"] = mode
    res["mode_rule_en"] = why.series(c.index, "en")
    res["mode_rule_zh"] = why.series(c.index, "zh")


def _vacate_words(k: np.ndarray, flags: dict[str, np.ndarray], status: np.ndarray, *, en: bool) -> np.ndarray:
    """Why the firms of the plots ``k`` (a mask) should move out: class D, polluting outside a
    designated park, halted or idle."""
    class_d, polluting, st = flags["class_d"][k], flags["polluting_outside_park"][k], status[k]
    halted_idle = np.isin(st, ("halted", "idle"))
    if en:
        parts = (np.where(class_d, "class D, ", "") + np.where(polluting, "polluting outside a designated park, ", "")
                 + np.where(halted_idle, "status " + st + ", ", ""))
        return parts.astype(object) + "firm to move out"
    parts = (np.where(class_d, "D类企业、", "") + np.where(polluting, "污染行业未入园、", "")
             + np.where(halted_idle, np.where(st == "idle", "闲置、", "停产、"), ""))
    return parts.astype(object) + "企业腾退、土地收储"


def plot_frame(plots: gpd.GeoDataFrame, cand: np.ndarray, res: pd.DataFrame) -> gpd.GeoDataFrame:
    """The per-plot result on ``plots.index``: ``plot_id``, ``candidate`` and the candidates' columns."""
    out = gpd.GeoDataFrame({"plot_id": text(plots, "plot_id"), "candidate": cand}, geometry=plots.geometry.copy(),
                           crs=plots.crs, index=plots.index)
    res = res.astype({"mode": "string", "mode_key": "string", "suitability_status": "string"})
    out = out.join(res)
    out["suitability_status"] = out["suitability_status"].fillna("not_candidate")
    out["restricted"] = out["restricted"].astype("boolean").fillna(False).astype(bool)
    return out


_CLUSTER_COLUMNS = {"cluster_id": "int64", "n_plots": "int64", "area_m2": "float64", "area_mu": "float64",
                    "members": "string", "added_floor_m2": "float64", "release_m2": "float64",
                    "mean_suitability": "float64", "is_candidate_site": "bool"}


def cluster_parts(c: gpd.GeoDataFrame, labels: np.ndarray, res: pd.DataFrame, params: RedevelopmentParams, *,
                  sites: np.ndarray | None = None) -> gpd.GeoDataFrame:
    """The additive part of the cluster table, one row per label 0…k−1 of the plots ``c`` (non-restricted
    candidates; ``labels`` dense): ``n_plots``, ``area_m2``, ``members`` (plot ids in row order),
    ``added_floor_m2``, ``release_m2``, ``suitability_sum`` and the outline — dissolved for candidate
    sites (``sites`` per label; default: ≥ ``cluster_min_mu`` by these plots' area), else the members'
    polygons as one MultiPolygon.

    Sums by ``np.bincount``, member lists by one ``reduceat`` over the plots sorted by cluster.
    Dissolving only the candidate sites avoids a union per cluster where nobody looks at the
    outline.  Parts of one cluster from several partitions add up (members joined in partition
    order, outlines united): ``scale.outofcore``.
    """
    k = int(labels.max()) + 1 if len(labels) else 0
    area = num(c, "area_m2")
    n_plots = np.bincount(labels, minlength=k)
    order = np.argsort(labels, kind="stable")
    starts = np.concatenate([[0], np.cumsum(n_plots)[:-1]]).astype(np.int64)
    ids = text(c, "plot_id").fillna("").to_numpy(dtype=object)[order]
    # One join over the plots sorted by cluster, then one slice per cluster at the cumulative
    # character offsets (linear; repeated concatenation would be quadratic in a big cluster).
    lengths = pd.Series(ids, dtype=object).str.len().to_numpy(dtype=np.int64) + 1
    ends = np.cumsum(lengths)
    big = ",".join(ids) + ","
    char_start = np.r_[0, ends][starts]
    char_end = ends[starts + n_plots - 1] - 1 if k else np.zeros(0, dtype=np.int64)
    members = [big[a:b] for a, b in zip(char_start.tolist(), char_end.tolist())]
    table = pd.DataFrame({
        "n_plots": n_plots.astype(np.int64),
        "area_m2": np.bincount(labels, weights=area, minlength=k),
        "members": pd.Series(members, dtype="string"),
        "added_floor_m2": np.bincount(labels, weights=res["added_floor_m2"].to_numpy(), minlength=k),
        "release_m2": np.bincount(labels, weights=res["release_m2"].to_numpy(), minlength=k),
        "suitability_sum": np.bincount(labels, weights=res["suitability_raw"].to_numpy(), minlength=k),
    })
    if sites is None:
        sites = at_least(table["area_m2"].to_numpy() / M2_PER_MU, params.cluster_min_mu)
    return gpd.GeoDataFrame(table, geometry=gpd.GeoSeries(_outlines(c, labels, k, sites, table), crs=c.crs),
                            crs=c.crs)


def _outlines(c: gpd.GeoDataFrame, labels: np.ndarray, k: int, sites: np.ndarray, table: pd.DataFrame) -> np.ndarray:
    geoms = c.geometry.to_numpy()
    outline = np.full(k, None, dtype=object)
    loose = ~sites[labels] if k else np.zeros(0, dtype=bool)   # members of clusters that are not sites
    if loose.any():
        # the members' polygons as one MultiPolygon, built only for the clusters not dissolved below
        parts, part_of = shapely.get_parts(geoms[loose], return_index=True)
        part_label = labels[loose][part_of]
        o = np.argsort(part_label, kind="stable")
        used = np.unique(part_label)
        dense = np.searchsorted(used, part_label[o])
        outline[used] = shapely.multipolygons(parts[o], indices=dense)
    if np.any(sites):
        outline[sites] = _site_outlines(geoms, labels, sites, table["area_m2"].to_numpy())
    return outline


def _site_outlines(geoms: np.ndarray, labels: np.ndarray, site: np.ndarray, area_m2: np.ndarray) -> np.ndarray:
    """Dissolved outline of each candidate site (``site`` over the cluster labels), in label order.

    Plots form a coverage (no overlaps), so the fast coverage union applies; if GEOS refuses it
    (edges not noded alike) every site takes the general union, and a site whose union falls
    short of its members' area (overlapping plots) takes the general union too.
    """
    sel = site[labels]
    members, member_label = geoms[sel], labels[sel]
    try:
        out = _union_by_label(members, member_label, site, shapely.coverage_union_all)
    except shapely.errors.GEOSException:  # edges not noded alike (partial shared edges): general union
        out = _union_by_label(members, member_label, site, shapely.union_all)
    ids = np.flatnonzero(site)
    want = area_m2[ids]
    short = np.abs(shapely.area(out) - want) > 1e-6 * want + 1e-3
    if short.any():
        redo = site.copy()
        redo[ids[~short]] = False
        keep = redo[member_label]
        out[short] = _union_by_label(members[keep], member_label[keep], redo, shapely.union_all)
    return out


def _union_by_label(geoms: np.ndarray, labels: np.ndarray, wanted: np.ndarray, union_all) -> np.ndarray:
    """``union_all`` of each wanted label's geometries (in their order), for the wanted labels in order.

    One vectorised call per size class instead of one call per label: the members of the labels
    whose size is in (w/2, w] are laid out in a (labels × w) array padded with None, which the
    union ignores, and reduced along its rows — so each label's union is GEOS's union of exactly
    its members, as ``GeoDataFrame.dissolve`` would give.  Memory: at most twice the members.
    """
    ids = np.flatnonzero(wanted)
    count = np.bincount(labels, minlength=len(wanted))[ids]
    order = np.argsort(labels, kind="stable")                       # members grouped by label, in order
    start = np.searchsorted(labels[order], ids)
    width = 1 << np.ceil(np.log2(np.maximum(count, 1))).astype(np.int64)
    out = np.empty(len(ids), dtype=object)
    for w in np.unique(width):                                     # a handful of size classes, not the labels
        rows = np.flatnonzero(width == w)
        k = count[rows]
        row = np.repeat(np.arange(len(rows)), k)
        col = np.arange(int(k.sum())) - np.repeat(np.cumsum(k) - k, k)
        grid = np.full((len(rows), int(w)), None, dtype=object)
        grid[row, col] = geoms[order[start[rows][row] + col]]
        out[rows] = union_all(grid, axis=1)
    return out


def cluster_table(parts: gpd.GeoDataFrame, params: RedevelopmentParams, crs) -> gpd.GeoDataFrame:
    """The cluster table from :func:`cluster_parts` (row i = cluster i + 1): ``cluster_id``, sums,
    ``area_mu``, ``mean_suitability`` and ``is_candidate_site`` (≥ ``cluster_min_mu`` 亩)."""
    if len(parts) == 0:
        return gpd.GeoDataFrame({k: pd.Series([], dtype=v) for k, v in _CLUSTER_COLUMNS.items()},
                                geometry=gpd.GeoSeries([], crs=crs), crs=crs)
    table = pd.DataFrame({"cluster_id": np.arange(1, len(parts) + 1, dtype=np.int64)})
    for col in ("n_plots", "area_m2", "members", "added_floor_m2", "release_m2"):
        table[col] = parts[col].to_numpy()
    table["members"] = table["members"].astype("string")
    table["mean_suitability"] = parts["suitability_sum"].to_numpy() / parts["n_plots"].to_numpy()
    table["area_mu"] = table["area_m2"] / M2_PER_MU
    table["is_candidate_site"] = at_least(table["area_mu"].to_numpy(), params.cluster_min_mu)
    table = table[list(_CLUSTER_COLUMNS)]
    return gpd.GeoDataFrame(table, geometry=gpd.GeoSeries(parts.geometry.to_numpy(), crs=crs), crs=crs)
