"""Which park a plot (and a firm) belongs to — one rule for every analysis and page.

Low-efficiency (polluting outside a park, scattered), park performance, 亩均 scope, relocation
siting (demand outside parks, vacant land inside them) and the pages' park names and filters
all call this module; none reads the plots' ``park_id`` attribute on its own.

The rule
--------
* A plot's park is its ``park_id`` **attribute** when that names a park of the layers.
* Otherwise — the attribute is empty (a 三调 import carries no park id, DOMAIN §7; the
  schema then adds an all-null column) or names no known park — it is the park whose outline
  contains the plot's representative point (``shapely.point_on_surface``, always inside the
  plot): the **geometry**.  A micro-park wins over the industrial park around it; among parks
  of one kind the smaller wins (the more specific one).
* For park totals (:func:`plot_park_pairs`) a plot counts for every park that contains it —
  a micro-park inside an industrial park counts for both — unless its attribute names a park
  whose outline does *not* contain it: then the attribute wins alone (the planner's record)
  and the plot is listed by :func:`membership_report`.
* A firm's park is its plot's park (by ``plot_id``); a firm whose plot is unknown falls back
  to the park containing its point (:func:`firm_park_pairs`, :func:`firm_parks`).

So a plots layer whose ``park_id`` is all null gives exactly the analyses of one whose
attribute agrees with the outlines (the sample's does), and every disagreement is reported
rather than silently deciding an analysis.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from analysis._common import once, positions, text, text_positions
from geo.threads import query_pairs

__all__ = ["CHECKS", "DISAGREEMENTS", "plot_membership", "plot_parks", "plot_park_pairs", "firm_park_pairs", "firm_parks",
           "membership_report"]

#: ``park_check`` values: how the attribute and the geometry relate, and the words for them.
CHECKS = {
    "agrees": ("attribute and outline agree", "属性与园区范围一致"),
    "from_geometry": ("no attribute; park found from the outline", "无园区属性,按园区范围判定"),
    "outside": ("outside every park", "不在任何园区内"),
    "outside_named_park": ("the attribute names a park whose outline does not contain the plot",
                           "属性所填园区的范围不包含该地块"),
    "unknown_park": ("the attribute names no park of the park layers; park found from the outline",
                     "属性所填园区不在园区图层中,已按园区范围判定"),
}
DISAGREEMENTS = ("outside_named_park", "unknown_park")


def _representative_points(plots: gpd.GeoDataFrame) -> np.ndarray:
    """``shapely.point_on_surface`` of each plot, computed once per chain (:func:`analysis._common.once`)."""
    return once("point_on_surface", plots.geometry.to_numpy(), shapely.point_on_surface)


def _geometry_pairs(points: np.ndarray, parks: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(point position, park position) for every park whose outline contains the point; computed once
    per chain for the same points and parks (:func:`analysis._common.once`)."""
    if len(parks) == 0 or len(points) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    outlines = parks.geometry.to_numpy()
    both = np.concatenate([np.asarray(points, dtype=object), outlines])
    return once("points_within_parks", both,
                lambda _: query_pairs(shapely.STRtree(outlines), points, predicate="within"))


def _primary(i: np.ndarray, j: np.ndarray, parks: gpd.GeoDataFrame, n: int) -> np.ndarray:
    """Park position per point (−1 none): micro-parks first, then the smallest outline."""
    out = np.full(n, -1, dtype=np.int64)
    if len(i) == 0:
        return out
    micro = (text(parks, "park_kind") == "micro_park").fillna(False).to_numpy(dtype=bool)
    area = shapely.area(parks.geometry.to_numpy())
    order = np.lexsort((area[j], ~micro[j], i))      # per point: micro first, then smallest
    first = np.unique(i[order], return_index=True)[1]
    out[i[order][first]] = j[order][first]
    return out


def _attribute(plots: pd.DataFrame) -> pd.Series:
    if "park_id" not in plots.columns:
        return pd.Series(pd.NA, index=plots.index, dtype="string")
    a = plots["park_id"].astype("string").str.strip()
    return a.mask(a == "")


def plot_membership(plots: gpd.GeoDataFrame, parks: gpd.GeoDataFrame | None) -> pd.DataFrame:
    """Each plot's park by the module's rule, with where it came from.

    Parameters
    ----------
    plots : GeoDataFrame
        Plots (``park_id`` optional), projected CRS.
    parks : GeoDataFrame or None
        All parks, as :func:`analysis._common.combine_parks` gives them (``park_id``,
        ``park_kind``); None or empty: only the attribute is known.

    Returns
    -------
    DataFrame on ``plots.index``
        ``park_id`` (the plot's park, NA outside every park), ``park_id_attribute``,
        ``park_id_geometry`` (the park found from the outlines), ``park_source``
        (attribute / geometry / none) and ``park_check`` (a key of :data:`CHECKS`).
    """
    n = len(plots)
    attr = _attribute(plots)
    parks = parks if parks is not None else gpd.GeoDataFrame({"park_id": []}, geometry=gpd.GeoSeries([]))
    ids = text(parks, "park_id").to_numpy(dtype=object)
    pts = _representative_points(plots) if n else np.zeros(0, dtype=object)
    i, j = _geometry_pairs(pts, parks)
    geo_pos = _primary(i, j, parks, n)
    geo_id = np.where(geo_pos >= 0, ids[np.maximum(geo_pos, 0)] if len(ids) else None, None)
    has_attr = attr.notna().to_numpy()
    known = (positions(attr.fillna(""), ids) >= 0) & has_attr if len(parks) else has_attr
    # the attribute agrees when one of the parks containing the plot is the one it names
    in_named = np.zeros(n, dtype=bool)
    if len(i):
        hit = ids[j] == attr.fillna("").to_numpy(dtype=object)[i]
        in_named[i[hit]] = True
    use_attr = known
    park = np.where(use_attr, attr.fillna("").to_numpy(dtype=object), geo_id)
    check = np.select(
        [use_attr & in_named, use_attr & ~in_named, has_attr & ~known, geo_pos >= 0],
        ["agrees", "outside_named_park", "unknown_park", "from_geometry"], "outside")
    if len(parks) == 0:   # nothing to check the attribute against
        check = np.where(has_attr, "agrees", "outside")
    source = np.where(use_attr, "attribute", np.where(geo_pos >= 0, "geometry", "none"))
    return pd.DataFrame({
        "park_id": pd.array(park, dtype="string"), "park_id_attribute": attr.to_numpy(),
        "park_id_geometry": pd.array(geo_id, dtype="string"), "park_source": pd.array(source, dtype="string"),
        "park_check": pd.array(check, dtype="string"),
    }, index=plots.index).astype({"park_id_attribute": "string"})


def plot_parks(plots: gpd.GeoDataFrame, parks: gpd.GeoDataFrame | None) -> pd.Series:
    """Each plot's park id (NA outside every park), by the module's rule."""
    return plot_membership(plots, parks)["park_id"]


def plot_park_pairs(parks: gpd.GeoDataFrame, plots: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(park position, plot position) pairs for park totals over the frame ``parks``.

    A plot counts for every park of ``parks`` containing its representative point, unless
    its attribute names a park of ``parks`` that does not contain it — then for that park
    alone.  An attribute naming no park of ``parks`` (e.g. a micro-park id when ``parks``
    holds the industrial parks) is left to the geometry.
    """
    n = len(plots)
    if len(parks) == 0 or n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    i, j = _geometry_pairs(_representative_points(plots), parks)
    a = positions(_attribute(plots).fillna(""), text(parks, "park_id").to_numpy(dtype=object))
    named_here = np.zeros(n, dtype=bool)
    named_here[i[j == a[i]]] = True
    override = (a >= 0) & ~named_here
    keep = ~override[i]
    only = np.flatnonzero(override)
    park = np.concatenate([j[keep], a[only]])
    plot = np.concatenate([i[keep], only])
    order = np.lexsort((park, plot))
    return park[order], plot[order]


def firm_park_pairs(parks: gpd.GeoDataFrame, plots: gpd.GeoDataFrame | None,
                    enterprises: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(park position, firm position) pairs: through the firm's plot (:func:`plot_park_pairs`);
    a firm whose ``plot_id`` is missing or unknown counts for the parks containing its point."""
    n = len(enterprises)
    if len(parks) == 0 or n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    ppos = np.full(n, -1, dtype=np.int64)
    parts_park, parts_firm = [], []
    if plots is not None and len(plots) and "plot_id" in plots.columns and "plot_id" in enterprises.columns:
        ppos = text_positions(enterprises, "plot_id", plots, "plot_id", missing_as_empty=True)
        park_of_plot, plot = plot_park_pairs(parks, plots)
        # firms × their plot's parks: a merge on plot position
        pairs = pd.DataFrame({"plot": plot, "park": park_of_plot})
        firms = pd.DataFrame({"plot": ppos[ppos >= 0], "firm": np.flatnonzero(ppos >= 0)})
        m = firms.merge(pairs, on="plot")
        parts_park.append(m["park"].to_numpy(dtype=np.int64))
        parts_firm.append(m["firm"].to_numpy(dtype=np.int64))
    loose = np.flatnonzero(ppos < 0)
    if len(loose) and isinstance(enterprises, gpd.GeoDataFrame):
        geom = enterprises.geometry.to_numpy()[loose]
        ok = ~(shapely.is_missing(geom) | shapely.is_empty(geom))
        i, j = _geometry_pairs(shapely.centroid(geom[ok]), parks)
        parts_park.append(j)
        parts_firm.append(loose[ok][i])
    if not parts_park:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    park, firm = np.concatenate(parts_park), np.concatenate(parts_firm)
    order = np.lexsort((park, firm))
    return park[order], firm[order]


def firm_parks(enterprises: pd.DataFrame, plots: gpd.GeoDataFrame | None,
               parks: gpd.GeoDataFrame | None) -> pd.Series:
    """Each firm's park (NA outside every park): its plot's park, else the park containing its point
    (a micro-park before the industrial park around it)."""
    n = len(enterprises)
    out = np.full(n, None, dtype=object)
    ppos = np.full(n, -1, dtype=np.int64)
    if plots is not None and len(plots) and "plot_id" in plots.columns and "plot_id" in enterprises.columns:
        ppos = text_positions(enterprises, "plot_id", plots, "plot_id", missing_as_empty=True)
        park = plot_parks(plots, parks).to_numpy(dtype=object)
        out[ppos >= 0] = park[ppos[ppos >= 0]]
    loose = np.flatnonzero(ppos < 0)
    if len(loose) and parks is not None and len(parks) and isinstance(enterprises, gpd.GeoDataFrame):
        geom = enterprises.geometry.to_numpy()[loose]
        ok = ~(shapely.is_missing(geom) | shapely.is_empty(geom))
        pts = shapely.centroid(geom[ok])
        i, j = _geometry_pairs(pts, parks)
        pos = _primary(i, j, parks, len(pts))
        ids = text(parks, "park_id").to_numpy(dtype=object)
        out[loose[ok][pos >= 0]] = ids[pos[pos >= 0]]
    return pd.Series(out, index=enterprises.index, dtype="string")


def membership_report(plots: gpd.GeoDataFrame, parks: gpd.GeoDataFrame | None, *,
                      membership: pd.DataFrame | None = None) -> pd.DataFrame:
    """The plots whose ``park_id`` attribute and the park outlines disagree.

    Returns
    -------
    DataFrame (one row per such plot, on ``plots.index``)
        ``plot_id``, ``township_code``, ``park_id_attribute`` with ``park_name_attribute``,
        ``park_id_geometry`` with ``park_name_geometry``, ``park_id`` (the park the analyses
        use), ``park_check`` and ``problem`` / ``problem_zh`` in words with park names.
    """
    m = plot_membership(plots, parks) if membership is None else membership
    bad = m["park_check"].isin(DISAGREEMENTS).to_numpy(dtype=bool)
    names = {}
    if parks is not None and len(parks) and "name" in parks.columns:
        names = dict(zip(text(parks, "park_id").fillna(""), text(parks, "name").fillna("")))
    sub = m.loc[bad]

    def name(col):
        return sub[col].astype(object).map(names).astype("string")

    attr_name, geo_name = name("park_id_attribute"), name("park_id_geometry")
    check = sub["park_check"].astype(str)
    words_en = check.map(lambda c: CHECKS[c][0])
    words_zh = check.map(lambda c: CHECKS[c][1])
    attr_txt = attr_name.fillna(sub["park_id_attribute"].astype("string"))
    geo_en = ("; the outline puts it in " + geo_name.fillna(sub["park_id_geometry"])).fillna("; outside every outline")
    geo_zh = (";按范围属于" + geo_name.fillna(sub["park_id_geometry"])).fillna(";按范围不在任何园区内")
    out = pd.DataFrame({
        "plot_id": text(plots, "plot_id").loc[bad].to_numpy() if len(plots) else [],
        "township_code": text(plots, "township_code").loc[bad].to_numpy() if len(plots) else [],
        "park_id_attribute": sub["park_id_attribute"].to_numpy(), "park_name_attribute": attr_name.to_numpy(),
        "park_id_geometry": sub["park_id_geometry"].to_numpy(), "park_name_geometry": geo_name.to_numpy(),
        "park_id": sub["park_id"].to_numpy(), "park_check": check.to_numpy(),
        "problem": ("park attribute " + attr_txt + ": " + words_en + geo_en).to_numpy(),
        "problem_zh": ("园区属性“" + attr_txt + "”:" + words_zh + geo_zh).to_numpy(),
    }, index=sub.index)
    for c in out.columns:
        out[c] = out[c].astype("string")
    return out
