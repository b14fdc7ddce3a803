"""低效用地认定: low-efficiency industrial land, one boolean column per rule (DOMAIN.md §4).

Any one enabled rule suffices to list a plot; each flag stays visible with a readable
reason, because officials need to see *why* a plot is listed.  Rules (``rule_<name>``):

============================  ==============================================================
``far_below_min``             FAR < the industry's minimum (table by 2-digit GB/T 4754 code)
``coverage_below_min``        建筑系数 < minimum (default 0.30)
``tax_below_abs``             亩均税收 (Σ tax of the plot's firms ÷ plot area in 亩) < 1 万元/亩
``tax_below_share``           亩均税收 < share × county average (Σ tax ÷ Σ area of in-scope plots)
``class_d``                   a firm evaluated on the plot is class D (final class)
``halted``                    halted or half-halted (半停产) since ≥ 1 year before ``as_of``
``completion_overdue``        not completed and contracted completion ≥ 2 years before ``as_of``
``contract_shortfall``        completed ≥ 2 years before ``as_of`` and investment or annual output
                              < 50 % of the land contract's figure (where the plot carries them)
``polluting_outside_park``    polluting industry (plot or any firm on it) outside a park that
                              accepts polluting industries
``scattered``                 outside every industrial park and micro-park
============================  ==============================================================

**Idle land (闲置土地)** is a separate, stricter legal category (DOMAIN §4), so it is its own
flag and list, not one of the rules above: ``is_idle_land`` marks an in-scope plot whose status
is idle (闲置) and whose land has been supplied — a land holder is recorded; an idle plot with no
holder is reserve land (储备用地), not idle land.  (Relocation siting counts every idle plot in a
park as vacant land, ``SitingParams.vacant_statuses``.)  Its reason leads the
plot's reason text ("闲置土地:…"), so lists and exports show it beside the low-efficiency ones;
``is_low_efficiency`` counts the rules only.

Thresholds: years are counted by calendar anniversaries (:func:`analysis._common.calendar_years`,
so "≥ 1 year" fires on the first anniversary itself); areas and shares compare with a tiny
tolerance (:func:`analysis._common.at_least`); reasons print as many decimals as it takes to
tell a value from its threshold ("FAR 0.6999 < 0.70", never "0.70 < 0.70") and name the park,
never its code.  A plot's park is :mod:`analysis.membership`'s (the ``park_id`` attribute when
it names a park, else the outline), so plots imported without ``park_id`` are judged the same.

Plots whose land use is not industrial (``params.land_uses``) are out of scope: every
flag False and ``in_scope`` False.  A rule whose input is missing for a plot (no FAR, no
firm with tax figures, no date, no contract figure) does not fire; the missing input shows as
NaN beside it.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from analysis._common import (
    Reasons,
    at_least,
    below,
    calendar_years,
    check_crs,
    fmt,
    fmt_against,
    num,
    positions,
    rows_of,
    text,
    text_positions,
)
from analysis.membership import plot_membership
from analysis.params import LOW_EFFICIENCY_RULES, LowEfficiencyParams
from geo.errors import SchemaError
from geo.units import M2_PER_MU
from layers.codes import DIVISIONS_ZH, matches_prefix

__all__ = ["RULE_LABELS", "IDLE_LABEL", "assess"]

RULE_LABELS = {
    "far_below_min": ("FAR below the industry minimum", "容积率低于行业控制指标"),
    "coverage_below_min": ("building coverage below minimum", "建筑系数低于控制指标"),
    "tax_below_abs": ("tax per mu below absolute threshold", "亩均税收低于绝对标准"),
    "tax_below_share": ("tax per mu below share of county average", "亩均税收低于全市平均水平一定比例"),
    "class_d": ("firm in class D", "亩均评价D类企业"),
    "halted": ("production halted or half-halted", "停产半停产"),
    "completion_overdue": ("completion overdue", "超期未竣工"),
    "contract_shortfall": ("investment or output below the land contract", "投资或产出未达出让合同约定"),
    "polluting_outside_park": ("polluting industry outside a designated park", "污染行业未入园"),
    "scattered": ("scattered outside every park", "零散分布于园区外"),
}
IDLE_LABEL = ("idle land (闲置土地)", "闲置土地")
_HALTED = ("halted", "half_halted")


class _Flags:
    """Rule flags and their reasons, restricted to in-scope plots and enabled rules."""

    def __init__(self, n: int, in_scope: np.ndarray, enabled: set[str]):
        self.n, self.in_scope, self.enabled = n, in_scope, enabled
        self.flags: dict[str, np.ndarray] = {}
        self.why = Reasons(n)

    def flag(self, rule: str, mask: np.ndarray, en, zh) -> None:
        mask = np.asarray(mask, dtype=bool) & self.in_scope
        if rule not in self.enabled:
            mask = np.zeros(self.n, dtype=bool)
        self.flags[rule] = mask
        self.why.add(mask, en, zh)


def assess(plots: gpd.GeoDataFrame, params: LowEfficiencyParams, *, enterprises: pd.DataFrame | None = None,
           evaluation: pd.DataFrame | None = None, parks: gpd.GeoDataFrame | None = None,
           as_of: str | pd.Timestamp | None = None, tax_average: float | None = None) -> gpd.GeoDataFrame:
    """Flag low-efficiency industrial plots and idle land.

    Parameters
    ----------
    plots : GeoDataFrame
        The ``plots`` layer (projected CRS; ``area_m2`` in m², ``far``, ``building_coverage``
        share 0–1, dates, contract figures in 万元).  Missing ``far`` is taken as
        floor_area_m2 ÷ area_m2.
    params : LowEfficiencyParams
        Enabled rules and thresholds.
    enterprises : DataFrame, optional
        Firms with ``plot_id``, ``tax_10k``, ``industry_code``: the tax and polluting rules.
    evaluation : DataFrame, optional
        Output of :func:`analysis.per_mu.evaluate`: the class-D rule.
    parks : GeoDataFrame, optional
        Parks as from :func:`analysis._common.combine_parks` (park_id, name, allows_polluting):
        which parks accept polluting industries, their names for the reasons, and each plot's
        park (:mod:`analysis.membership`).
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
        万元/亩, ``tax_per_mu_average``, ``halted_years``, ``overdue_years``,
        ``completed_years``, ``investment_share``, ``output_share``), the plot's park
        (``park_id``, ``park_source``, ``park_check``, ``park_id_attribute``,
        ``park_id_geometry``: :func:`analysis.membership.plot_membership`), ``rule_<name>`` booleans, ``n_rules``,
        ``is_low_efficiency``, ``is_idle_land``, ``reasons_en`` and ``reasons_zh``.
    """
    for col in ("plot_id", "area_m2"):
        if col not in plots.columns:
            raise SchemaError(f"plots lacks field {col!r}; present: {list(plots.columns)}. Map it on import.",
                              message_zh=f"地块图层缺少字段 {col!r}")
    check_crs(plots, ("parks", parks))
    as_of = pd.Timestamp(as_of) if as_of is not None else pd.Timestamp.today().normalize()
    n = len(plots)
    area = num(plots, "area_m2")
    in_scope = text(plots, "land_use").isin(params.land_uses).to_numpy(dtype=bool)
    f = _Flags(n, in_scope, set(params.rules))
    idle, idle_en, idle_zh = _idle_land(plots, in_scope)
    f.why.add(idle, idle_en, idle_zh)        # first, so the legal category leads the reason text
    far, far_min, cov = _building_rules(f, plots, params, area)
    tax_sum, tax_per_mu, avg, polluting_firm = _tax_rules(f, plots, params, enterprises, area, in_scope, tax_average)
    _class_d_rule(f, plots, evaluation)
    years = _date_rules(f, plots, params, as_of)
    shares = _contract_rule(f, plots, params, years["completed_years"])
    member, polluting = _park_rules(f, plots, params, parks, polluting_firm)

    out = gpd.GeoDataFrame({
        "plot_id": text(plots, "plot_id"), "land_use": text(plots, "land_use"), "status": text(plots, "status"),
        "industry_code": text(plots, "industry_code"), "park_id": member["park_id"],
        "park_source": member["park_source"], "park_check": member["park_check"],
        "park_id_attribute": member["park_id_attribute"], "park_id_geometry": member["park_id_geometry"],
        "township_code": text(plots, "township_code"), "area_m2": area, "area_mu": area / M2_PER_MU,
        "floor_area_m2": num(plots, "floor_area_m2"), "in_scope": in_scope, "far": far, "far_min": far_min,
        "building_coverage": cov, "tax_10k": tax_sum, "tax_per_mu": tax_per_mu,
        "tax_per_mu_average": np.full(n, avg), **years, **shares, "polluting": polluting,
    }, geometry=plots.geometry.copy(), crs=plots.crs, index=plots.index)
    for rule in LOW_EFFICIENCY_RULES:
        out[f"rule_{rule}"] = f.flags[rule]
    rule_cols = [f"rule_{r}" for r in LOW_EFFICIENCY_RULES]
    out["n_rules"] = out[rule_cols].sum(axis=1).astype("int64")
    out["is_low_efficiency"] = out["n_rules"] > 0
    out["is_idle_land"] = idle
    out["reasons_en"] = f.why.series(plots.index, "en")
    out["reasons_zh"] = f.why.series(plots.index, "zh")
    return out


# --- the rules, one step each ---------------------------------------------------------------
def _idle_land(plots, in_scope):
    """闲置土地: in scope, status idle, land supplied (a holder recorded)."""
    holder = text(plots, "land_holder").notna().to_numpy(dtype=bool)
    idle = in_scope & (text(plots, "status") == "idle").fillna(False).to_numpy(dtype=bool) & holder
    return idle, "idle land (闲置土地): status idle on supplied land", "闲置土地:已供应土地处于闲置状态"


def _building_rules(f: _Flags, plots, params, area):
    # FAR and coverage: the land-use standards judge completed projects; a plot still under
    # construction is judged by the completion-overdue rule instead (its FAR is 0 by definition).
    built = (text(plots, "status") != "under_construction").fillna(True).to_numpy(dtype=bool)
    far = num(plots, "far")
    with np.errstate(divide="ignore", invalid="ignore"):
        far = np.where(np.isnan(far) & (area > 0), num(plots, "floor_area_m2") / area, far)
    div = text(plots, "industry_code").str[:2]
    far_min = div.map(params.far_min_for()).to_numpy(dtype=float, na_value=np.nan)
    div_txt = div.fillna("?").to_numpy(dtype=object)

    def div_zh(m):          # "36 汽车制造业", for the flagged plots only
        d = div[m]
        return (d.fillna("?") + (" " + d.map(DIVISIONS_ZH)).fillna("")).to_numpy(dtype=object)

    f.flag("far_below_min", built & below(far, far_min),
           lambda m: "FAR " + fmt_against(far[m], far_min[m]) + " < " + fmt(far_min[m]) + " (industry " + div_txt[m] + ")",
           lambda m: "容积率 " + fmt_against(far[m], far_min[m]) + " < " + fmt(far_min[m]) + "(行业 " + div_zh(m) + ")")
    cov = num(plots, "building_coverage")
    thr = params.coverage_min * 100
    f.flag("coverage_below_min", built & below(cov, params.coverage_min),
           lambda m: "building coverage " + fmt_against(cov[m] * 100, thr, 0) + f" % < {thr:g} %",
           lambda m: "建筑系数 " + fmt_against(cov[m] * 100, thr, 0) + f"% < {thr:g}%")
    return far, far_min, cov


def _tax_rules(f: _Flags, plots, params, enterprises, area, in_scope, tax_average):
    """亩均税收 of the plot: Σ tax of its firms ÷ plot area (万元/亩), absolute and against the average."""
    n = len(plots)
    area_mu = area / M2_PER_MU
    tax_sum = np.full(n, np.nan)
    polluting_firm = np.zeros(n, dtype=bool)
    if enterprises is not None and len(enterprises) and "plot_id" in enterprises.columns:
        ep = text_positions(enterprises, "plot_id", plots, "plot_id")
        on = ep >= 0
        ep_i = ep[on]
        etax = num(enterprises, "tax_10k")[on]
        has = ~np.isnan(etax)
        s = np.bincount(ep_i[has], weights=etax[has], minlength=n)
        cnt = np.bincount(ep_i[has], minlength=n)
        tax_sum = np.where(cnt > 0, s, np.nan)
        pol = matches_prefix(text(enterprises, "industry_code"), params.polluting_codes)[on]
        polluting_firm = np.bincount(ep_i[pol], minlength=n) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        tax_per_mu = np.where(area_mu > 0, tax_sum / area_mu, np.nan)
    ok = in_scope & ~np.isnan(tax_sum) & (area_mu > 0)
    avg = tax_sum[ok].sum() / area_mu[ok].sum() if ok.any() else np.nan
    if tax_average is not None:
        avg = float(tax_average)
    lo = params.tax_per_mu_min
    f.flag("tax_below_abs", below(tax_per_mu, lo),
           lambda m: "tax " + fmt_against(tax_per_mu[m], lo) + f" 万元/亩 < {lo:g}",
           lambda m: "亩均税收 " + fmt_against(tax_per_mu[m], lo) + f" 万元/亩 < {lo:g}")
    share = params.tax_share_of_average
    thr = share * avg
    f.flag("tax_below_share", below(tax_per_mu, thr),
           lambda m: "tax " + fmt_against(tax_per_mu[m], thr) + f" 万元/亩 < {share:.0%} of average {avg:.2f} = "
           + fmt_against(np.full(m.sum(), thr), tax_per_mu[m]),
           lambda m: "亩均税收 " + fmt_against(tax_per_mu[m], thr) + f" 万元/亩 < 平均值 {avg:.2f} 的 {share:.0%} = "
           + fmt_against(np.full(m.sum(), thr), tax_per_mu[m]))
    return tax_sum, tax_per_mu, avg, polluting_firm


def _class_d_rule(f: _Flags, plots, evaluation):
    class_d = np.zeros(len(plots), dtype=bool)
    if evaluation is not None and len(evaluation):
        ev = rows_of(evaluation, (evaluation["status"] == "evaluated") & (evaluation["final_class"] == "D"), ["plot_id"])
        class_d = positions(text(plots, "plot_id"), ev["plot_id"].dropna()) >= 0
    f.flag("class_d", class_d, "a firm on the plot is class D", "地块上企业为亩均评价D类")


def _date_rules(f: _Flags, plots, params, as_of) -> dict[str, np.ndarray]:
    """Halted / half-halted and overdue completion, in calendar years up to ``as_of``."""
    n = len(plots)
    status = text(plots, "status")
    halted_years = _years(plots, "halted_since", as_of)
    halted = status.isin(_HALTED).fillna(False).to_numpy(dtype=bool)
    half = (status == "half_halted").fillna(False).to_numpy(dtype=bool)
    hy = params.halted_years
    f.flag("halted", halted & at_least(halted_years, hy),
           lambda m: np.where(half[m], "half-halted for ", "halted for ") + fmt_against(halted_years[m], hy, 1)
           + f" years ≥ {hy:g}",
           lambda m: np.where(half[m], "半停产 ", "停产 ") + fmt_against(halted_years[m], hy, 1) + f" 年 ≥ {hy:g} 年")
    done = plots["completion_date"].notna().to_numpy() if "completion_date" in plots.columns else np.zeros(n, bool)
    overdue_years = np.where(done, np.nan, _years(plots, "contract_completion_date", as_of))
    oy = params.overdue_years
    f.flag("completion_overdue", at_least(overdue_years, oy),
           lambda m: "completion overdue by " + fmt_against(overdue_years[m], oy, 1) + f" years ≥ {oy:g}",
           lambda m: "超期 " + fmt_against(overdue_years[m], oy, 1) + f" 年未竣工(≥ {oy:g} 年)")
    return {"halted_years": halted_years, "overdue_years": overdue_years,
            "completed_years": _years(plots, "completion_date", as_of)}


def _years(plots, col: str, as_of) -> np.ndarray:
    if col not in plots.columns:
        return np.full(len(plots), np.nan)
    return calendar_years(plots[col], as_of)


def _contract_rule(f: _Flags, plots, params, completed_years) -> dict[str, np.ndarray]:
    """Completed ≥ ``contract_years`` ago but investment or output < ``contract_share_min`` of the contract."""
    with np.errstate(divide="ignore", invalid="ignore"):
        c_inv, c_out = num(plots, "contract_investment_10k"), num(plots, "contract_output_10k")
        inv = np.where(c_inv > 0, num(plots, "investment_10k") / c_inv, np.nan)
        out = np.where(c_out > 0, num(plots, "output_10k") / c_out, np.nan)
    s = params.contract_share_min
    inv_low, out_low = below(inv, s), below(out, s)
    old = at_least(completed_years, params.contract_years)
    pct = s * 100

    def words(m, en: bool):
        vs = f" % < {pct:g} %" if en else f"% < {pct:g}%"
        i_txt = np.where(inv_low[m], ("investment " if en else "投资 ") + fmt_against(inv[m] * 100, pct, 0) + vs, "")
        o_txt = np.where(out_low[m], ("output " if en else "产出 ") + fmt_against(out[m] * 100, pct, 0) + vs, "")
        both = np.where((i_txt != "") & (o_txt != ""), ", " if en else "、", "")
        if en:
            return "completed " + fmt(completed_years[m], "%.1f") + " years ago; " + i_txt + both + o_txt \
                + " of the land contract"
        return "竣工 " + fmt(completed_years[m], "%.1f") + " 年," + i_txt + both + o_txt + "(占出让合同约定)"

    f.flag("contract_shortfall", old & (inv_low | out_low), lambda m: words(m, True), lambda m: words(m, False))
    return {"investment_share": inv, "output_share": out}


def _park_rules(f: _Flags, plots, params, parks, polluting_firm):
    """Polluting industry outside a designated park; scattered outside every park (park by membership)."""
    member = plot_membership(plots, parks)
    park_id = member["park_id"]
    designated, names = set(), {}
    if parks is not None and len(parks):
        designated = set(parks.loc[parks["allows_polluting"].astype(bool), "park_id"].astype(str))
        if "name" in parks.columns:
            names = dict(zip(parks["park_id"].astype(str), text(parks, "name").fillna("")))
    ids = park_id.astype(object).to_numpy()
    mapped = pd.Series(ids).map(names).to_numpy(dtype=object)
    park_name = np.where(pd.isna(mapped), ids, mapped)
    polluting = matches_prefix(text(plots, "industry_code"), params.polluting_codes) | polluting_firm
    in_park = park_id.notna().to_numpy()
    in_designated = park_id.isin(designated).to_numpy(dtype=bool)

    def polluting_words(m, before: str, after: str, outside: str) -> np.ndarray:
        """The words for the flagged plots ``m``: the park's name between ``before`` and ``after``, or ``outside``."""
        words = np.full(int(m.sum()), outside, dtype=object)
        named = in_park[m]
        words[named] = before + park_name[m][named].astype(str).astype(object) + after
        return words

    f.flag("polluting_outside_park", polluting & ~in_designated,
           lambda m: polluting_words(m, "polluting industry in ", ", which does not accept polluting industries",
                                     "polluting industry outside every park"),
           lambda m: polluting_words(m, "污染行业位于", "(该园区不接纳污染行业)", "污染行业位于园区外"))
    f.flag("scattered", ~in_park, "outside every park", "位于园区外(零散)")
    return member, polluting
