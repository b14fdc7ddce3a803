"""Contiguous clusters (连片) across the partitions of a county set, without holding the county in one place.

Each partition labels its own non-restricted candidates (:func:`analysis.redevelopment.clusters`:
labels ordered by their first plot).  Clusters that reach across a partition edge are joined by
the *edges* between partitions: for each pair of partitions whose candidates' bounds come within
the gap, one ``dwithin`` query between the candidates of one near the other's bounds
(:func:`edges`).  The local clusters are then the nodes of a small graph — node ``offset[p] +
label``, in partition order — and its connected components are the county's clusters
(:func:`join`).  Because scipy labels components in the order of their first node, and nodes
follow the order of the plots, a cluster's number is the one the single-process run gives it:
clusters are numbered by their first plot in the county.

The cluster table is made where the plots are: a partition writes the rows of the clusters that
lie wholly inside it, and hands back the parts (:func:`analysis.redevelopment.cluster_parts`) of
those that span partitions; :func:`merge_spanning` adds these up — member lists joined in
partition order (the county's plot order), outlines united.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from analysis import redevelopment
from analysis._common import at_least
from geo.units import M2_PER_MU

__all__ = ["near_pairs", "edges", "join", "Clusters", "merge_spanning"]


def near_pairs(bounds: list, gap: float) -> list[tuple[int, int]]:
    """Pairs (p, q), p < q, of partitions whose candidates' bounds lie within ``gap`` of each other."""
    have = [i for i, b in enumerate(bounds) if b is not None]
    if len(have) < 2:
        return []
    box = np.array([bounds[i] for i in have], dtype=float)
    grown = shapely.box(box[:, 0] - gap, box[:, 1] - gap, box[:, 2] + gap, box[:, 3] + gap)
    i, j = shapely.STRtree(grown).query(grown, predicate="intersects")
    keep = i < j
    return [(have[a], have[b]) for a, b in zip(i[keep].tolist(), j[keep].tolist())]


def edges(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame, gap: float) -> np.ndarray:
    """Distinct (label in ``a``, label in ``b``) pairs of candidates within ``gap`` m of each other.

    ``a`` and ``b``: one partition's non-restricted candidates each, with their local ``label``.
    Only the candidates of ``a`` near ``b``'s bounds are queried.
    """
    if len(a) == 0 or len(b) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    minx, miny, maxx, maxy = b.total_bounds
    ga = a.geometry.to_numpy()
    near = np.flatnonzero(shapely.intersects(ga, shapely.box(minx - gap, miny - gap, maxx + gap, maxy + gap)))
    if len(near) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    i, j = shapely.STRtree(b.geometry.to_numpy()).query(ga[near], predicate="dwithin", distance=gap)
    pairs = np.column_stack([a["label"].to_numpy()[near[i]], b["label"].to_numpy()[j]]).astype(np.int64)
    return np.unique(pairs, axis=0) if len(pairs) else pairs


class Clusters:
    """The county's clusters from each partition's local ones and the edges between partitions.

    Attributes
    ----------
    label_of : list of ndarray
        Per partition: local label → county cluster label (0 … k−1; cluster id = label + 1).
    n_plots, area_mu : ndarray
        Per county cluster: plots and area in 亩.
    sites : ndarray of bool
        Per county cluster: a candidate site (≥ ``cluster_min_mu``).
    spanning : ndarray of bool
        Per county cluster: its plots lie in more than one partition.
    """

    def __init__(self, label_of, n_plots, area_mu, sites, spanning):
        self.label_of, self.n_plots, self.area_mu, self.sites, self.spanning = label_of, n_plots, area_mu, sites, spanning

    def __len__(self) -> int:
        return len(self.n_plots)


def join(local_n_plots: list[np.ndarray], local_area_m2: list[np.ndarray], pair_edges: dict[tuple[int, int], np.ndarray],
         cluster_min_mu: float) -> Clusters:
    """Connected components over the partitions' local clusters (see the module doc)."""
    sizes = np.array([len(n) for n in local_n_plots], dtype=np.int64)
    offset = np.r_[0, np.cumsum(sizes)]
    n_nodes = int(offset[-1])
    src = [offset[p] + e[:, 0] for (p, _), e in pair_edges.items()]
    dst = [offset[q] + e[:, 1] for (_, q), e in pair_edges.items()]
    src = np.concatenate(src) if src else np.zeros(0, dtype=np.int64)
    dst = np.concatenate(dst) if dst else np.zeros(0, dtype=np.int64)
    graph = coo_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(n_nodes, n_nodes))
    k, comp = connected_components(graph, directed=False) if n_nodes else (0, np.zeros(0, dtype=np.int64))
    comp = comp.astype(np.int64)
    node_n = np.concatenate(local_n_plots) if n_nodes else np.zeros(0)
    node_area = np.concatenate(local_area_m2) if n_nodes else np.zeros(0)
    n_plots = np.bincount(comp, weights=node_n, minlength=k).round().astype(np.int64)
    area_m2 = np.bincount(comp, weights=node_area, minlength=k)
    part_of_node = np.repeat(np.arange(len(sizes)), sizes)
    first_part = np.full(k, np.iinfo(np.int64).max)
    np.minimum.at(first_part, comp, part_of_node)
    spanning = np.zeros(k, dtype=bool)
    spanning[comp[part_of_node != first_part[comp]]] = True
    area_mu = area_m2 / M2_PER_MU
    return Clusters([comp[offset[p]:offset[p + 1]] for p in range(len(sizes))], n_plots, area_mu,
                    at_least(area_mu, cluster_min_mu), spanning)


def merge_spanning(parts: list[gpd.GeoDataFrame], params, crs) -> gpd.GeoDataFrame:
    """The cluster-table rows of clusters spanning partitions, from their parts in partition order."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return redevelopment.cluster_table(gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=crs)), params, crs)
    allp = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=crs)
    g = allp.groupby("cluster", sort=True)
    merged = pd.DataFrame({col: g[col].sum() for col in ("n_plots", "area_m2", "added_floor_m2", "release_m2",
                                                         "suitability_sum")})
    merged["members"] = g["members"].agg(",".join).astype("string")
    site = allp["site"].to_numpy(dtype=bool)
    labels = allp["cluster"].to_numpy()
    ids = merged.index.to_numpy()
    outline = np.empty(len(ids), dtype=object)
    if site.any():   # candidate sites: the partitions' outlines united
        diss = allp.loc[site, ["cluster", "geometry"]].dissolve(by="cluster")
        outline[np.searchsorted(ids, diss.index.to_numpy())] = diss.geometry.to_numpy()
    if (~site).any():   # the others: every member polygon, in partition order, as one MultiPolygon
        pieces, of = shapely.get_parts(allp.geometry.to_numpy()[~site], return_index=True)
        lab = labels[~site][of]
        o = np.argsort(lab, kind="stable")
        present = np.unique(lab)
        outline[np.searchsorted(ids, present)] = shapely.multipolygons(pieces[o], indices=np.searchsorted(present, lab[o]))
    parts_frame = gpd.GeoDataFrame(merged, geometry=gpd.GeoSeries(outline, index=merged.index, crs=crs), crs=crs)
    table = redevelopment.cluster_table(parts_frame, params, crs)
    table["cluster_id"] = merged.index.to_numpy(dtype=np.int64) + 1
    return table
