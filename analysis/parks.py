"""Park performance: industrial parks (工业集聚区/功能区) and micro-parks (小微企业创业园).

Per park (on the parks' index):

* ``area_m2`` (geometry, m²), ``plots_m2`` (Σ plot area inside: land supplied),
  ``developed_m2`` (plots whose status is in ``developed_statuses``), ``idle_m2``,
  ``unsupplied_m2`` = max(area − plots, 0), ``vacant_m2`` = unsupplied + idle;
* ``n_plots``, ``n_firms`` (every firm on those plots, tenants included);
* 亩均 aggregates of the firms evaluated there (``tax_per_mu``, ``va_per_mu`` in 万元/亩,
  class counts ``n_A``…``n_D``);
* leading-industry rule (:mod:`analysis.leading`, the same count the siting uses):
  ``leading_share`` = firms whose GB/T 4754 code starts with one of the park's leading codes
  ÷ all firms, ``leading_land_share`` the same by the firms' land; ``leading_status`` /
  ``leading_land_status`` pass / fail / no_firms / no_leading_industry;
  ``leading_shortfall_firms`` = ⌈min_share × n − n_leading⌉ (how many non-leading firms would
  have to be replaced by leading ones to pass);
* ``capacity_mu`` = vacant land in 亩; ``capacity_floor_m2`` = vacant × capacity FAR +
  Σ over developed plots max(capacity FAR − FAR, 0) × area.

Which plots and firms are in a park is :mod:`analysis.membership`'s rule (the plots'
``park_id`` when it names a park, else the outline): a micro-park inside an industrial park
counts for both, and a plots layer without ``park_id`` gives the same figures.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from analysis._common import check_crs, num, rows_of, text
from analysis.leading import leading_codes, park_firm_table, share_figures, share_totals
from analysis.membership import plot_park_pairs
from analysis.params import CLASSES, ParksParams
from geo.errors import SchemaError
from geo.units import M2_PER_MU

__all__ = ["assess", "park_totals", "park_figures", "TOTALS", "plot_membership"]


def plot_membership(parks: gpd.GeoDataFrame, plots: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(park position, plot position) pairs (:func:`analysis.membership.plot_park_pairs`)."""
    return plot_park_pairs(parks, plots)


def assess(parks: gpd.GeoDataFrame, params: ParksParams, *, plots: gpd.GeoDataFrame,
           enterprises: pd.DataFrame | None = None, evaluation: pd.DataFrame | None = None) -> gpd.GeoDataFrame:
    """Performance of each park of ``parks`` (industrial parks or micro-parks).

    Parameters
    ----------
    parks : GeoDataFrame
        ``industrial_parks`` (``leading_industries``, codes separated by any of , ， 、 ; ； /
        or spaces) or ``micro_parks`` (``leading_industry``), projected CRS.
    params : ParksParams
    plots : GeoDataFrame
        Plots with ``plot_id``, ``area_m2``, ``status``, ``far`` (same CRS).
    enterprises : DataFrame, optional
        Firms with ``plot_id`` and ``industry_code``: firm count and leading share.
    evaluation : DataFrame, optional
        Output of :func:`analysis.per_mu.evaluate`: 亩均 aggregates and class mix.

    Returns
    -------
    GeoDataFrame on ``parks.index`` with the parks' geometry and the columns above.
    """
    return park_figures(parks, params, park_totals(parks, params, plots=plots, enterprises=enterprises,
                                                   evaluation=evaluation))


#: Columns of :func:`park_totals`: sums over the plots and firms of each park (they add up over partitions).
TOTALS = ("n_plots", "plots_m2", "developed_m2", "idle_m2", "upgrade_floor_m2", "n_firms", "n_leading_firms",
          "firm_land_m2", "leading_land_m2", "n_evaluated", "land_mu", "tax_10k", "value_added_10k",
          *(f"n_{c}" for c in CLASSES))


def park_totals(parks: gpd.GeoDataFrame, params: ParksParams, *, plots: gpd.GeoDataFrame,
                enterprises: pd.DataFrame | None = None, evaluation: pd.DataFrame | None = None) -> pd.DataFrame:
    """The additive part of :func:`assess` on ``parks.index`` (:data:`TOTALS`): the plots' areas by
    status, the FAR upgrade floor area of developed plots, the firms and leading firms with their
    land, and the evaluated firms' land, tax, value added and classes — over the plots and firms
    given, so a partition of the county gives its share and the shares add up."""
    if "park_id" not in parks.columns:
        raise SchemaError(f"parks lack 'park_id'; present: {list(parks.columns)}", message_zh="园区图层缺少 park_id")
    check_crs(parks, ("plots", plots))
    k = len(parks)
    j_park, i_plot = plot_membership(parks, plots)
    parea = num(plots, "area_m2")[i_plot]
    status = text(plots, "status").fillna("").to_numpy(dtype=object)[i_plot]
    far = num(plots, "far")[i_plot]
    developed = np.isin(status, params.developed_statuses)
    idle = status == "idle"

    def per_park(weights=None, mask=None) -> np.ndarray:
        sel = np.ones(len(j_park), dtype=bool) if mask is None else mask
        w = None if weights is None else np.nan_to_num(weights[sel])
        return np.bincount(j_park[sel], weights=w, minlength=k).astype(float)

    out = pd.DataFrame(index=parks.index)
    out["n_plots"] = per_park().astype("int64")
    out["plots_m2"] = per_park(parea)
    out["developed_m2"] = per_park(parea, developed)
    out["idle_m2"] = per_park(parea, idle)
    upgrade = np.maximum(params.capacity_far - np.nan_to_num(far, nan=params.capacity_far), 0.0) * parea
    out["upgrade_floor_m2"] = per_park(upgrade, developed)
    firms = share_totals(park_firm_table(parks, plots, enterprises), k)
    for col in firms.columns:
        out[col] = firms[col].to_numpy()
    for col in ("n_evaluated", "land_mu", "tax_10k", "value_added_10k", *(f"n_{c}" for c in CLASSES)):
        out[col] = 0.0
    if evaluation is not None and len(evaluation) and len(j_park):
        ev = rows_of(evaluation, evaluation["status"] == "evaluated",
                     ("plot_id", "land_mu", "unit_tax_10k", "unit_value_added_10k", "final_class"))
        pairs = pd.DataFrame({"park": j_park, "plot_id": text(plots, "plot_id").to_numpy(dtype=object)[i_plot]})
        e = pd.DataFrame({"plot_id": ev["plot_id"].astype(object).to_numpy(), "land_mu": ev["land_mu"].to_numpy(),
                          "tax": ev["unit_tax_10k"].to_numpy(), "va": ev["unit_value_added_10k"].to_numpy(),
                          "cls": ev["final_class"].astype(str).to_numpy()}).merge(pairs, on="plot_id")
        p = e["park"].to_numpy()
        out["n_evaluated"] = np.bincount(p, minlength=k)
        out["land_mu"] = np.bincount(p, weights=e["land_mu"].to_numpy(), minlength=k)
        out["tax_10k"] = np.bincount(p, weights=e["tax"].to_numpy(), minlength=k)
        out["value_added_10k"] = np.bincount(p, weights=e["va"].to_numpy(), minlength=k)
        for c in CLASSES:
            out[f"n_{c}"] = np.bincount(p[e["cls"].to_numpy() == c], minlength=k)
    return out


def park_figures(parks: gpd.GeoDataFrame, params: ParksParams, totals: pd.DataFrame) -> gpd.GeoDataFrame:
    """:func:`assess` from (summed) :func:`park_totals`: areas, capacity, the leading-industry rule and 亩均."""
    k = len(parks)
    area = shapely.area(parks.geometry.to_numpy()) if k else np.zeros(0)
    out = gpd.GeoDataFrame({"park_id": text(parks, "park_id"), "name": text(parks, "name")},
                           geometry=parks.geometry.copy(), crs=parks.crs, index=parks.index)
    out["area_m2"] = area
    out["area_mu"] = area / M2_PER_MU
    out["n_plots"] = totals["n_plots"].to_numpy().astype("int64")
    for col in ("plots_m2", "developed_m2", "idle_m2"):
        out[col] = totals[col].to_numpy()
    out["unsupplied_m2"] = np.maximum(area - out["plots_m2"].to_numpy(), 0.0)
    out["vacant_m2"] = out["unsupplied_m2"] + out["idle_m2"]
    out["developed_share"] = np.where(area > 0, out["developed_m2"] / np.where(area > 0, area, 1), np.nan)
    out["capacity_mu"] = out["vacant_m2"] / M2_PER_MU
    out["capacity_floor_m2"] = out["vacant_m2"] * params.capacity_far + totals["upgrade_floor_m2"].to_numpy()

    # firms in the park and the leading-industry rule, by count and by land
    codes = leading_codes(parks)
    shares = share_figures(totals[["n_firms", "n_leading_firms", "firm_land_m2", "leading_land_m2"]], codes=codes,
                           minimum=params.leading_share_min)
    shares.index = parks.index
    out["n_firms"] = shares["n_firms"]
    out["leading_industries"] = pd.Series([",".join(c) for c in codes], index=parks.index, dtype="string")
    for col in ("n_leading_firms", "leading_share", "leading_status", "leading_shortfall_firms", "firm_land_m2",
                "leading_land_m2", "leading_land_share", "leading_land_status"):
        out[col] = shares[col]

    # 亩均 aggregates of evaluated units on the park's plots
    for col in ("n_evaluated", "land_mu", "tax_10k", "value_added_10k", *(f"n_{c}" for c in CLASSES)):
        out[col] = totals[col].to_numpy()
    for col in ("n_evaluated", *(f"n_{c}" for c in CLASSES)):
        out[col] = out[col].astype("int64")
    land = out["land_mu"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        out["tax_per_mu"] = np.where(land > 0, out["tax_10k"] / land, np.nan)
        out["va_per_mu"] = np.where(land > 0, out["value_added_10k"] / land, np.nan)
    return out
