"""低效用地认定: low-efficiency industrial land, one boolean column per rule (DOMAIN.md §4).

Any one enabled rule suffices to list a plot; each flag stays visible with a readable
reason, because officials need to see *why* a plot is listed.  Rules (``rule_<name>``):

============================  ==============================================================
``far_below_min``             FAR < the industry's minimum (table by 2-digit GB/T 4754 code)
``coverage_below_min``        建筑系数 < minimum (default 0.30)
``tax_below_abs``             亩均税收 (Σ tax of the plot's firms ÷ plot area in 亩) < 1 万元/亩
``tax_below_share``           亩均税收 < share × county average (Σ tax ÷ Σ area of in-scope plots)
``class_d``                   a firm evaluated on the plot is class D (final class)
``halted``                    status halted and halted_since ≥ 1 year before ``as_of``
``completion_overdue``        not completed and contracted completion ≥ 2 years before ``as_of``
``polluting_outside_park``    polluting industry (plot or any firm on it) outside a park that
                              accepts polluting industries
``scattered``                 outside every industrial park and micro-park
============================  ==============================================================

Plots whose land use is not industrial (``params.land_uses``) are out of scope: every
flag False and ``in_scope`` False.  A rule whose input is missing for a plot (no FAR, no
firm with tax figures, no date) does not fire; the missing input shows as NaN beside it.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from analysis._common import Reasons, check_crs, fmt, num, plot_parks, positions, text
from analysis.params import LOW_EFFICIENCY_RULES, LowEfficiencyParams
from geo.errors import SchemaError
from geo.units import M2_PER_MU

__all__ = ["RULE_LABELS", "assess"]

RULE_LABELS = {
    "far_below_min": ("FAR below the industry minimum", "容积率低于行业控制指标"),
    "coverage_below_min": ("building coverage below minimum", "建筑系数低于控制指标"),
    "tax_below_abs": ("tax per mu below absolute threshold", "亩均税收低于绝对标准"),
    "tax_below_share": ("tax per mu below share of county average", "亩均税收低于全市平均水平一定比例"),
    "class_d": ("firm in class D", "亩均评价D类企业"),
    "halted": ("production halted", "停产半停产"),
    "completion_overdue": ("completion overdue", "超期未竣工"),
    "polluting_outside_park": ("polluting industry outside a designated park", "污染行业未入园"),
    "scattered": ("scattered outside every park", "零散分布于园区外"),
}
_DAYS_PER_YEAR = 365.25


def assess(plots: gpd.GeoDataFrame, params: LowEfficiencyParams, *, enterprises: pd.DataFrame | None = None,
           evaluation: pd.DataFrame | None = None, parks: gpd.GeoDataFrame | None = None,
           as_of: str | pd.Timestamp | None = None, tax_average: float | None = None) -> gpd.GeoDataFrame:
    """Flag low-efficiency industrial plots.

    Parameters
    ----------
    plots : GeoDataFrame
        The ``plots`` layer (projected CRS; ``area_m2`` in m², ``far``, ``building_coverage``
        share 0–1, dates).  Missing ``far`` is taken as floor_area_m2 ÷ area_m2.
    params : LowEfficiencyParams
        Enabled rules and thresholds.
    enterprises : DataFrame, optional
        Firms with ``plot_id``, ``tax_10k``, ``industry_code``: the tax and polluting rules.
    evaluation : DataFrame, optional
        Output of :func:`analysis.per_mu.evaluate`: the class-D rule.
    parks : GeoDataFrame, optional
        Parks as from :func:`analysis._common.combine_parks` (park_id, allows_polluting):
        which parks accept polluting industries; also locates plots without a ``park_id``.
    as_of : date, optional
        Reference date for the year-based rules (default: today).
    tax_average : float, optional
        County average 亩均税收 (万元/亩) of the share rule; default computed from ``plots``
        (Σ tax ÷ Σ area of in-scope plots with tax figures).  ``scale.partitioned`` passes the
        county's figure so a partition of the plots is judged against the whole county.

    Returns
    -------
    GeoDataFrame
        On ``plots.index`` with the plots' geometry: ``plot_id``, ``in_scope``, the inputs
        of each rule (``far``, ``far_min``, ``building_coverage``, ``tax_per_mu`` in
        万元/亩, ``tax_per_mu_average``, ``halted_years``, ``overdue_years``, ``park_id``),
        ``rule_<name>`` booleans, ``n_rules``, ``is_low_efficiency``, ``reasons_en`` and
        ``reasons_zh``.
    """
    for col in ("plot_id", "area_m2"):
        if col not in plots.columns:
            raise SchemaError(f"plots lacks field {col!r}; present: {list(plots.columns)}. Map it on import.",
                              message_zh=f"地块图层缺少字段 {col!r}")
    check_crs(plots, ("parks", parks))
    as_of = pd.Timestamp(as_of) if as_of is not None else pd.Timestamp.today().normalize()
    n = len(plots)
    idx = plots.index
    pid = text(plots, "plot_id")
    area = num(plots, "area_m2")
    area_mu = area / M2_PER_MU
    land_use = text(plots, "land_use")
    in_scope = land_use.isin(params.land_uses).to_numpy(dtype=bool)
    enabled = set(params.rules)
    flags: dict[str, np.ndarray] = {}
    why = Reasons(n)

    def flag(rule: str, mask: np.ndarray, en, zh) -> None:
        mask = np.asarray(mask, dtype=bool) & in_scope
        if rule not in enabled:
            mask = np.zeros(n, dtype=bool)
        flags[rule] = mask
        why.add(mask, en, zh)

    # FAR and coverage: the land-use standards judge completed projects; a plot still under
    # construction is judged by the completion-overdue rule instead (its FAR is 0 by definition).
    built = (text(plots, "status") != "under_construction").fillna(True).to_numpy(dtype=bool)
    far = num(plots, "far")
    with np.errstate(divide="ignore", invalid="ignore"):
        far = np.where(np.isnan(far) & (area > 0), num(plots, "floor_area_m2") / area, far)
    div = text(plots, "industry_code").str[:2]
    far_min = div.map(params.far_min_for()).to_numpy(dtype=float, na_value=np.nan)
    div_txt = div.fillna("?").to_numpy(dtype=object)
    flag("far_below_min", built & (far < far_min),
         lambda m: "FAR " + fmt(far[m]) + " < " + fmt(far_min[m]) + " (industry " + div_txt[m] + ")",
         lambda m: "容积率 " + fmt(far[m]) + " < " + fmt(far_min[m]) + "(行业 " + div_txt[m] + ")")
    cov = num(plots, "building_coverage")
    flag("coverage_below_min", built & (cov < params.coverage_min),
         lambda m: "building coverage " + fmt(cov[m] * 100, "%.0f") + f" % < {params.coverage_min * 100:g} %",
         lambda m: "建筑系数 " + fmt(cov[m] * 100, "%.0f") + f"% < {params.coverage_min * 100:g}%")

    # tax per mu of the plot: Σ tax of its firms ÷ plot area
    tax_sum = np.full(n, np.nan)
    polluting_firm = np.zeros(n, dtype=bool)
    if enterprises is not None and len(enterprises) and "plot_id" in enterprises.columns:
        ep = positions(text(enterprises, "plot_id"), pid)
        on = ep >= 0
        ep_i = ep[on]
        etax = num(enterprises, "tax_10k")[on]
        has = ~np.isnan(etax)
        s = np.bincount(ep_i[has], weights=etax[has], minlength=n)
        cnt = np.bincount(ep_i[has], minlength=n)
        tax_sum = np.where(cnt > 0, s, np.nan)
        pol = _is_polluting(text(enterprises, "industry_code"), params.polluting_codes)[on]
        polluting_firm = np.bincount(ep_i[pol], minlength=n) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        tax_per_mu = np.where(area_mu > 0, tax_sum / area_mu, np.nan)
    ok = in_scope & ~np.isnan(tax_sum) & (area_mu > 0)
    avg = tax_sum[ok].sum() / area_mu[ok].sum() if ok.any() else np.nan
    if tax_average is not None:
        avg = float(tax_average)
    flag("tax_below_abs", tax_per_mu < params.tax_per_mu_min,
         lambda m: "tax " + fmt(tax_per_mu[m]) + f" 万元/亩 < {params.tax_per_mu_min:g}",
         lambda m: "亩均税收 " + fmt(tax_per_mu[m]) + f" 万元/亩 < {params.tax_per_mu_min:g}")
    thr = params.tax_share_of_average * avg
    flag("tax_below_share", tax_per_mu < thr,
         lambda m: "tax " + fmt(tax_per_mu[m]) + f" 万元/亩 < {params.tax_share_of_average:.0%} of average {avg:.2f}",
         lambda m: "亩均税收 " + fmt(tax_per_mu[m]) + f" 万元/亩 < 平均值 {avg:.2f} 的 {params.tax_share_of_average:.0%}")

    # class D from the evaluation
    class_d = np.zeros(n, dtype=bool)
    if evaluation is not None and len(evaluation):
        ev = evaluation.loc[(evaluation["status"] == "evaluated") & (evaluation["final_class"] == "D")]
        class_d = positions(pid, ev["plot_id"].dropna()) >= 0
    flag("class_d", class_d, "a firm on the plot is class D", "地块上企业为亩均评价D类")

    # dates
    status = text(plots, "status")
    halted_years = _years_between(plots.get("halted_since"), as_of, n)
    flag("halted", (status == "halted").fillna(False).to_numpy(dtype=bool) & (halted_years >= params.halted_years),
         lambda m: "halted for " + fmt(halted_years[m], "%.1f") + " years",
         lambda m: "停产 " + fmt(halted_years[m], "%.1f") + " 年")
    overdue_years = _years_between(plots.get("contract_completion_date"), as_of, n)
    done = plots["completion_date"].notna().to_numpy() if "completion_date" in plots.columns else np.zeros(n, dtype=bool)
    overdue_years = np.where(done, np.nan, overdue_years)
    flag("completion_overdue", overdue_years >= params.overdue_years,
         lambda m: "completion overdue by " + fmt(overdue_years[m], "%.1f") + " years",
         lambda m: "超期 " + fmt(overdue_years[m], "%.1f") + " 年未竣工")

    # parks: polluting outside designated parks, scattered
    park_id = plot_parks(plots, parks) if parks is not None else text(plots, "park_id")
    designated = set()
    if parks is not None and len(parks):
        designated = set(parks.loc[parks["allows_polluting"].astype(bool), "park_id"].astype(str))
    polluting = _is_polluting(text(plots, "industry_code"), params.polluting_codes) | polluting_firm
    in_designated = park_id.isin(designated).to_numpy(dtype=bool)
    flag("polluting_outside_park", polluting & ~in_designated,
         "polluting industry outside a designated park", "污染行业位于指定园区外")
    flag("scattered", park_id.isna().to_numpy(), "outside every park", "位于园区外(零散)")

    out = gpd.GeoDataFrame({
        "plot_id": pid, "land_use": land_use, "status": status, "industry_code": text(plots, "industry_code"),
        "park_id": park_id, "township_code": text(plots, "township_code"), "area_m2": area, "area_mu": area_mu,
        "floor_area_m2": num(plots, "floor_area_m2"), "in_scope": in_scope, "far": far, "far_min": far_min,
        "building_coverage": cov, "tax_10k": tax_sum, "tax_per_mu": tax_per_mu,
        "tax_per_mu_average": np.full(n, avg), "halted_years": halted_years, "overdue_years": overdue_years,
        "polluting": polluting,
    }, geometry=plots.geometry.copy(), crs=plots.crs, index=idx)
    for rule in LOW_EFFICIENCY_RULES:
        out[f"rule_{rule}"] = flags[rule]
    rule_cols = [f"rule_{r}" for r in LOW_EFFICIENCY_RULES]
    out["n_rules"] = out[rule_cols].sum(axis=1).astype("int64")
    out["is_low_efficiency"] = out["n_rules"] > 0
    out["reasons_en"] = why.series(idx, "en")
    out["reasons_zh"] = why.series(idx, "zh")
    return out


def _years_between(dates: pd.Series | None, as_of: pd.Timestamp, n: int) -> np.ndarray:
    if dates is None:
        return np.full(n, np.nan)
    d = pd.to_datetime(dates, errors="coerce")
    days = (as_of - d).dt.days.to_numpy(dtype=float, na_value=np.nan)
    return days / _DAYS_PER_YEAR


def _is_polluting(codes: pd.Series, prefixes: tuple[str, ...]) -> np.ndarray:
    s = codes.fillna("")
    out = np.zeros(len(s), dtype=bool)
    for p in prefixes:  # a dozen prefixes, each a vectorised startswith
        out |= s.str.startswith(p).to_numpy(dtype=bool)
    return out
