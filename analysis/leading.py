"""The leading-industry share of parks (主导产业占比), by firm count and by land — one computation.

DOMAIN §1 (the "339" micro-park plan): firms of a micro-park's leading industry must be
**≥ 70 %** of its firms.  The park performance analysis (:mod:`analysis.parks`) and relocation
siting (:mod:`analysis.siting`) both count a park's firms here, so the parks page and the
siting "before" column show the same numbers.

* **Which firms are in a park**: :func:`analysis.membership.firm_park_pairs` (the firm's plot's
  park; tenants included).
* **Which are leading**: GB/T 4754 prefix matching of the firm's code against the park's
  leading codes (:func:`layers.codes.prefix_pairs`) — the same rule for firms already there
  and for incoming ones; codes are read by :func:`layers.codes.parse_code_list` (any separator).
* **Shares**: ``leading_share`` = leading firms ÷ firms (the rule); ``leading_land_share`` =
  land of leading firms ÷ land of all firms, where a firm's land is its ``land_area_m2``, else
  its plot's area when it holds the land, else 0 (a tenant holds none).  Both are judged
  against the same minimum: pass / fail, ``no_firms`` or ``no_leading_industry``.  The rule
  the siting model enforces is the firm count (the policy's wording); the land share is
  reported beside it.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from analysis._common import at_least, num, text, text_positions
from analysis.membership import firm_park_pairs
from layers.codes import parse_code_list, prefix_pairs

__all__ = ["STATUSES", "leading_codes", "firm_land_m2", "park_firm_table", "share_table", "share_totals",
           "share_figures", "share_status"]

#: share_status values with their words (English, Chinese).
STATUSES = {"pass": ("pass", "达标"), "fail": ("below the minimum", "未达标"), "no_firms": ("no firms", "无企业"),
            "no_leading_industry": ("no leading industry declared", "未设主导产业")}


def leading_codes(parks: pd.DataFrame) -> list[tuple[str, ...]]:
    """Leading GB/T 4754 codes of each park (``leading_industries``, or a micro-park's ``leading_industry``)."""
    col = "leading_industries" if "leading_industries" in parks.columns else (
        "leading_industry" if "leading_industry" in parks.columns else None)
    if col is None:
        return [()] * len(parks)
    return parse_code_list(parks[col])


def firm_land_m2(enterprises: pd.DataFrame, plots: pd.DataFrame | None) -> np.ndarray:
    """Land of each firm in m²: ``land_area_m2``, else its plot's area when it holds the land, else 0."""
    land = num(enterprises, "land_area_m2")
    if plots is not None and len(plots) and "plot_id" in plots.columns and "plot_id" in enterprises.columns:
        ppos = text_positions(enterprises, "plot_id", plots, "plot_id", missing_as_empty=True)
        area = num(plots, "area_m2")
        plot_area = np.where(ppos >= 0, area[np.maximum(ppos, 0)] if len(area) else np.nan, np.nan)
        holder = enterprises["is_land_holder"].astype("boolean").fillna(True).to_numpy(dtype=bool) \
            if "is_land_holder" in enterprises.columns else np.ones(len(enterprises), bool)
        land = np.where(np.isnan(land) & holder, plot_area, land)
    return np.nan_to_num(land, nan=0.0)


def park_firm_table(parks: gpd.GeoDataFrame, plots: gpd.GeoDataFrame | None,
                    enterprises: pd.DataFrame | None) -> pd.DataFrame:
    """One row per (park, firm in it): ``park`` and ``firm`` positions, ``leading`` (prefix rule),
    ``land_m2`` (:func:`firm_land_m2`)."""
    cols = {"park": "int64", "firm": "int64", "leading": "bool", "land_m2": "float64"}
    if enterprises is None or len(enterprises) == 0 or len(parks) == 0:
        return pd.DataFrame({k: pd.Series([], dtype=v) for k, v in cols.items()})
    park, firm = firm_park_pairs(parks, plots, enterprises)
    lead = prefix_pairs(text(enterprises, "industry_code"), leading_codes(parks), firm, park)
    land = firm_land_m2(enterprises, plots)
    return pd.DataFrame({"park": park, "firm": firm, "leading": lead, "land_m2": land[firm]}).astype(cols)


def share_status(n_firms, share, has_lead, minimum: float) -> np.ndarray:
    """pass / fail / no_firms / no_leading_industry per park (share ≥ minimum up to the tolerance)."""
    n_firms, has_lead = np.asarray(n_firms, float), np.asarray(has_lead, bool)
    return np.select([~has_lead, ~(n_firms > 0), at_least(share, minimum)],
                     ["no_leading_industry", "no_firms", "pass"], "fail").astype(object)


def share_table(table: pd.DataFrame, k: int, *, codes: list[tuple[str, ...]], minimum: float,
                weights: np.ndarray | None = None) -> pd.DataFrame:
    """Per park (positions 0..k−1): firms, leading firms, their land, both shares and statuses.

    ``weights`` (per row of ``table``, default 1) lets a caller take firms out (0) — the
    siting "after departures" base — without rebuilding the table.

    Columns: ``n_firms``, ``n_leading_firms``, ``firm_land_m2``, ``leading_land_m2``,
    ``leading_share``, ``leading_land_share`` (NaN without firms / land), ``leading_status``,
    ``leading_land_status``, ``leading_shortfall_firms`` = ⌈min × n − leading⌉ (≥ 0).
    """
    return share_figures(share_totals(table, k, weights=weights), codes=codes, minimum=minimum)


def share_totals(table: pd.DataFrame, k: int, *, weights: np.ndarray | None = None) -> pd.DataFrame:
    """The additive part of :func:`share_table` per park: ``n_firms``, ``n_leading_firms``,
    ``firm_land_m2``, ``leading_land_m2`` (float: weighted counts) — partitions' totals add up."""
    w = np.ones(len(table)) if weights is None else np.asarray(weights, float)
    p = table["park"].to_numpy(dtype=np.int64)
    lead = table["leading"].to_numpy(dtype=bool)
    land = table["land_m2"].to_numpy(dtype=float)
    return pd.DataFrame({"n_firms": np.bincount(p, weights=w, minlength=k),
                         "n_leading_firms": np.bincount(p[lead], weights=w[lead], minlength=k),
                         "firm_land_m2": np.bincount(p, weights=w * land, minlength=k),
                         "leading_land_m2": np.bincount(p[lead], weights=(w * land)[lead], minlength=k)})


def share_figures(totals: pd.DataFrame, *, codes: list[tuple[str, ...]], minimum: float) -> pd.DataFrame:
    """:func:`share_table` from (summed) :func:`share_totals`."""
    n, n_lead = totals["n_firms"].to_numpy(dtype=float), totals["n_leading_firms"].to_numpy(dtype=float)
    area, area_lead = totals["firm_land_m2"].to_numpy(dtype=float), totals["leading_land_m2"].to_numpy(dtype=float)
    has_lead = np.array([len(c) > 0 for c in codes], dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(n > 0, n_lead / n, np.nan)
        land_share = np.where(area > 0, area_lead / area, np.nan)
    need = np.ceil(minimum * n - n_lead - 1e-9)
    return pd.DataFrame({
        "n_firms": n.round().astype("int64"), "n_leading_firms": n_lead.round().astype("int64"),
        "firm_land_m2": area, "leading_land_m2": area_lead,
        "leading_share": share, "leading_land_share": land_share,
        "leading_status": pd.array(share_status(n, share, has_lead, minimum), dtype="string"),
        "leading_land_status": pd.array(share_status(np.where(area > 0, n, 0), land_share, has_lead, minimum),
                                        dtype="string"),
        "leading_shortfall_firms": np.where(has_lead & (n > 0), np.maximum(need, 0), 0).astype("int64"),
    })
