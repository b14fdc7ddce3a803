"""亩均效益综合评价: per-mu efficiency evaluation of industrial firms (DOMAIN.md §3).

The evaluation runs per legal person: tenants on a parcel are merged into the land holder
(their figures added to the holder's), firms not yet producing are left out, 规下 firms
below the land threshold are listed separately.  Every row of the input gets a ``status``:

``evaluated``      scored and classed;
``merged``         a tenant whose figures count in its land holder's row (``unit_code``);
``excluded``       out of scope by a rule (not producing, industry outside 06–46, small 规下);
``not_evaluated``  in scope but its figures do not allow a score (zero land, missing or
                   negative figures, malformed industry code).
Rows that are not evaluated carry their reason (``reason_en``/``reason_zh``) and no score:
never a silent NaN.

Score (per group, 规上 ``above_scale`` or 规下 ``below_scale``)::

    score = Σ_k min(value_k ÷ benchmark_k, cap_k) × weight_k          (points)

with ``benchmark_k`` a preset constant or the group average Σ numerator ÷ Σ denominator
over the group's evaluated firms.  A firm missing an imputable indicator (emissions, by
DOMAIN §3) gets the group's mean sub-score for it.  Classes A–D come from score cut-offs
(optionally with the quota rule A ≤ 20 %, D ≥ 5 % enforced) or from quotas, within each
group; a veto (major incident) forces D.  Ties in quota ranking are broken by 亩均税收,
then credit code, so quotas are exact and reproducible.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import geopandas as gpd
import numpy as np
import pandas as pd

from analysis._common import Reasons as _Reasons, below, fmt_against, positions, rows_of
from analysis.membership import firm_parks
from analysis.params import ABOVE_INDICATORS, BELOW_INDICATORS, CLASSES, PerMuParams, PriceParams
from geo.errors import ParameterError, SchemaError
from geo.units import M2_PER_MU

__all__ = [
    "STATUSES",
    "GROUPS",
    "FIGURES",
    "evaluate",
    "GroupFigures",
    "group_average",
    "group_totals",
    "assign_classes",
    "rank_within_groups",
    "apply_regrade",
    "price_ledger",
    "aggregate",
    "aggregate_totals",
    "aggregate_ratios",
    "aggregate_plots",
]

STATUSES = ("evaluated", "merged", "excluded", "not_evaluated")
GROUPS = ("above_scale", "below_scale")
# Enterprise figures summed when tenants merge into their land holder.
FIGURES = ("tax_10k", "value_added_10k", "revenue_10k", "employees", "energy_tce", "electricity_10k_kwh",
           "emissions_t", "rd_10k")
_REQUIRED = ("credit_code", "industry_code", "above_scale")
_GROUP_CATALOGUE = {"above_scale": ABOVE_INDICATORS, "below_scale": BELOW_INDICATORS}
ALL_INDICATORS = tuple(dict.fromkeys([*ABOVE_INDICATORS, *BELOW_INDICATORS]))
_FIG_ZH = {"tax_10k": "税收", "value_added_10k": "增加值", "revenue_10k": "主营业务收入", "employees": "职工人数",
           "energy_tce": "综合能耗", "electricity_10k_kwh": "用电量", "emissions_t": "排放量", "rd_10k": "研发经费",
           "land_mu": "用地面积"}


def _bool(series: pd.Series | None, n: int, default: bool) -> np.ndarray:
    if series is None:
        return np.full(n, default)
    return series.astype("boolean").fillna(default).to_numpy(dtype=bool)


def _num(frame: pd.DataFrame, col: str) -> np.ndarray:
    if col not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _str(frame: pd.DataFrame, col: str) -> pd.Series:
    if col not in frame.columns:
        return pd.Series(pd.NA, index=frame.index, dtype="string")
    return frame[col].astype("string").str.strip()


def group_average(numerator_sum: float, denominator_sum: float) -> float:
    """A group-average benchmark: Σ numerator ÷ Σ denominator over the group's valid firms (NaN if Σ ≤ 0)."""
    return numerator_sum / denominator_sum if denominator_sum > 0 else np.nan


@dataclass(frozen=True)
class GroupFigures:
    """County-wide figures of the scoring groups, for evaluating the firms one partition at a time.

    Keys are ``(group, indicator key)``.  ``has_valid``: whether some firm of the group has the
    (imputable) indicator — missing keys count as True; ``benchmarks``: the group averages of the
    indicators without a preset benchmark (:func:`group_average`); ``imputed_sub``: the mean
    sub-score given to firms missing an imputable indicator.  A None field is computed from the
    firms at hand.  Build them from :func:`group_totals` of every partition with
    :meth:`from_totals` (``scale.outofcore`` does, in three passes).
    """

    has_valid: Mapping[tuple[str, str], bool] | None = None
    benchmarks: Mapping[tuple[str, str], float] | None = None
    imputed_sub: Mapping[tuple[str, str], float] | None = None

    @classmethod
    def from_totals(cls, totals: pd.DataFrame, *, with_imputed_sub: bool = False) -> GroupFigures:
        """From the summed :func:`group_totals` (rows ``(group, key)``): whether some firm has each
        indicator, the group averages and, with ``with_imputed_sub``, the mean sub-scores."""
        t = totals.groupby(level=["group", "key"]).sum()
        keys = list(t.index)
        n, nums, dens, subs = (t[c].to_numpy() for c in ("n_valid", "numerator_sum", "denominator_sum", "sub_sum"))
        return cls(has_valid={k: bool(v > 0) for k, v in zip(keys, n)},
                   benchmarks={k: group_average(a, b) for k, a, b in zip(keys, nums, dens)},
                   imputed_sub={k: s / v for k, s, v in zip(keys, subs, n) if v > 0} if with_imputed_sub else None)

    def accept_every_indicator(self) -> GroupFigures:
        """The same figures, but no group is found lacking an indicator (the first, counting pass)."""
        return replace(self, has_valid={})


def _group_has_valid(figures: GroupFigures | None, group: str, key: str, valid_here: np.ndarray) -> bool:
    if figures is None or figures.has_valid is None:
        return bool(valid_here.any())
    return figures.has_valid.get((group, key), True)


def group_totals(evaluation: pd.DataFrame, params: PerMuParams) -> pd.DataFrame:
    """Per ``(group, key)`` of the scored indicators: how many evaluated firms have the indicator
    themselves (not imputed), and the sums of its numerator, denominator and sub-score over them.

    Summed over partitions these give :class:`GroupFigures` — the arithmetic of :func:`evaluate`
    over the whole county (up to the order of floating-point additions).
    """
    status = evaluation["status"].astype("string").fillna("").to_numpy(dtype=object)
    group = evaluation["group"].astype("string").fillna("").to_numpy(dtype=object)
    imputed = ("," + evaluation["imputed"].astype("string").fillna("") + ",").astype(object)
    values = {"land_mu": evaluation["land_mu"].to_numpy(dtype=float),
              **{f: evaluation[f"unit_{f}"].to_numpy(dtype=float) for f in FIGURES}}
    rows = []
    for gname, gp in (("above_scale", params.above_scale), ("below_scale", params.below_scale)):
        in_group = (status == "evaluated") & (group == gname)
        for ind in gp.indicators:
            num, den, _ = _GROUP_CATALOGUE[gname][ind.key]
            valid = in_group & ~imputed.str.contains(f",{ind.key},", regex=False).to_numpy(dtype=bool)
            sub = evaluation[f"sub_{ind.key}"].to_numpy(dtype=float)
            rows.append((gname, ind.key, int(valid.sum()), values[num][valid].sum(), values[den][valid].sum(),
                         sub[valid].sum()))
    return pd.DataFrame(rows, columns=["group", "key", "n_valid", "numerator_sum", "denominator_sum", "sub_sum"]
                        ).set_index(["group", "key"])


def evaluate(enterprises: gpd.GeoDataFrame, params: PerMuParams, *, plots: gpd.GeoDataFrame | None = None,
             micro_parks: gpd.GeoDataFrame | None = None, parks: gpd.GeoDataFrame | None = None,
             group_figures: GroupFigures | None = None) -> gpd.GeoDataFrame:
    """Evaluate firms per mu of land and class them A–D.

    Parameters
    ----------
    enterprises : GeoDataFrame
        The ``enterprises`` layer (fields of ``layers.schema``; figures in 万元, tce, 万kWh,
        t, persons; ``land_area_m2`` in m²).  Missing optional columns count as missing figures.
    params : PerMuParams
        Scope, indicators, benchmarks, vetoes and class rules (``load_preset(...).per_mu``).
    plots : GeoDataFrame, optional
        The ``plots`` layer: fills a holder's missing land area from its plot and gives each
        firm its ``park_id`` (:func:`analysis.membership.firm_parks`).
    micro_parks : GeoDataFrame, optional
        With ``params.micro_park_levels_in_scope``: 规下 firms in those parks are in scope
        whatever their land.
    parks : GeoDataFrame, optional
        All parks (:func:`analysis._common.combine_parks`): a plot without a ``park_id``
        attribute is placed by the park outlines; without them only the attribute is read.
    group_figures : GroupFigures, optional
        County-wide figures of the groups (which imputable indicators some firm has, group-average
        benchmarks, imputed sub-scores) when ``enterprises`` is one partition of the county
        (``scale.outofcore``); default: computed from ``enterprises`` itself.

    Returns
    -------
    GeoDataFrame
        On ``enterprises.index`` with the input's geometry and CRS: identification,
        ``status``/``reason_en``/``reason_zh``, ``group``, ``unit_code``, the unit's merged
        figures (``unit_<figure>``), ``land_mu``, each indicator ``ind_<k>`` (its unit in
        :data:`analysis.params.ABOVE_INDICATORS`), benchmark ``bench_<k>``, sub-score
        ``sub_<k>`` (points), ``imputed``, ``score``, ``score_class``, ``veto``,
        ``computed_class``, ``regraded_class``, ``regrade_reason``, ``final_class`` and
        ranks within county, township and 2-digit industry (within the group).

    Examples
    --------
    >>> ev = evaluate(enterprises, load_preset("huangyan_2022").per_mu)  # doctest: +SKIP
    >>> ev.loc[ev.status == "evaluated", ["score", "final_class"]]        # doctest: +SKIP
    """
    missing = [c for c in _REQUIRED if c not in enterprises.columns]
    if missing:
        raise SchemaError(
            f"enterprises lacks required field(s) {missing}; present: {list(enterprises.columns)}. "
            "Map the source columns onto the enterprises spec (layers/schema.py).",
            message_zh=f"企业图层缺少必填字段 {missing};请在字段映射中补齐。",
        )
    e = enterprises
    n = len(e)
    idx = e.index
    code = _str(e, "credit_code")
    if code.isna().any() or code.nunique() != n:     # nunique: a hash count, not a duplicated() mask
        bad = code[code.isna() | code.duplicated(keep=False)]
        raise SchemaError(
            f"enterprises.credit_code must be unique and present; {len(bad)} row(s) are empty or duplicated "
            f"(e.g. {bad.iloc[0]!r}). Fix the codes (read them as text) and retry.",
            message_zh=f"统一社会信用代码必须唯一且非空;有 {len(bad)} 行为空或重复。",
        )
    industry = _str(e, "industry_code")
    ind_ok = industry.str.fullmatch(r"\d{4}").fillna(False).to_numpy(dtype=bool)
    div = np.full(n, np.nan)               # the 2-digit division of the valid codes (cast in Arrow, not to_numeric)
    div[ind_ok] = industry[ind_ok].str[:2].astype("float64").to_numpy(dtype=float)
    above = _bool(e["above_scale"], n, False)
    above_known = e["above_scale"].notna().to_numpy()
    producing = _bool(e.get("producing"), n, True)  # unknown → treated as producing
    holder_flag = e.get("is_land_holder")
    land_holder = _str(e, "land_holder")
    plot_id = _str(e, "plot_id")

    # --- land: own land_area_m2, else the plot's area for a land holder --------------------
    land_m2 = _num(e, "land_area_m2")
    park_id = pd.Series(pd.NA, index=idx, dtype="string")
    if plots is not None and len(plots) and "plot_id" in plots.columns:
        pl = plots if plots["plot_id"].nunique(dropna=False) == len(plots) else plots.drop_duplicates("plot_id")
        area = _num(pl, "area_m2") if "area_m2" in pl.columns else pl.geometry.area.to_numpy()
        ppos = positions(plot_id, pl["plot_id"])
        plot_area = np.where(ppos >= 0, area[ppos], np.nan)
        is_holder = _bool(holder_flag, n, True)
        fill = np.isnan(land_m2) & is_holder & ~np.isnan(plot_area)
        land_m2 = np.where(fill, plot_area, land_m2)
        park_id = firm_parks(e, pl, parks)

    # --- tenants merged into their land holder ---------------------------------------------
    is_tenant = ~_bool(holder_flag, n, True) & land_holder.notna().to_numpy() & (land_holder != code).fillna(False).to_numpy()
    holder_present = positions(land_holder, code) >= 0
    merged = is_tenant & holder_present & producing if params.merge_tenants else np.zeros(n, dtype=bool)
    unit_code = pd.Series(np.where(merged, land_holder.fillna("").to_numpy(dtype=object), code.to_numpy(dtype=object)),
                          index=idx, dtype="string")
    unit_pos = positions(unit_code, code)

    figures = {f: _num(e, f) for f in FIGURES}
    unit_fig = {}
    for f, own in figures.items():
        # Holder's missing figure → unit missing; tenants' missing figures count as 0.
        tenant_sum = np.bincount(unit_pos[merged], weights=np.nan_to_num(own[merged]), minlength=n)
        unit_fig[f] = own + tenant_sum
    incident = np.zeros(n, dtype=bool)
    for v in params.vetoes:
        flag = _bool(e.get(v), n, False)
        incident |= flag | (np.bincount(unit_pos[merged], weights=flag[merged].astype(float), minlength=n) > 0)
    land_mu = land_m2 / M2_PER_MU

    # --- scope -----------------------------------------------------------------------------
    status = np.full(n, "evaluated", dtype=object)
    why = _Reasons(n)
    holder_txt = land_holder.fillna("").to_numpy(dtype=object)
    status[merged] = "merged"
    why.add(merged, "merged into land holder " + holder_txt, "并入土地使用权人 " + holder_txt)
    live = ~merged

    def exclude(mask, en, zh, state="excluded"):
        nonlocal live
        m = mask & live
        status[m] = state
        why.add(m, en, zh)
        live = live & ~m

    ind_txt = industry.fillna("(empty)").to_numpy(dtype=object)
    exclude(~ind_ok, "industry code " + ind_txt + " is not a 4-digit GB/T 4754 code",
            "行业代码 " + ind_txt + " 不是4位GB/T 4754代码", "not_evaluated")
    lo, hi = params.industry_min, params.industry_max
    exclude(ind_ok & ((div < lo) | (div > hi)), f"industry outside the industrial scope {lo:02d}–{hi:02d}",
            f"行业不在工业评价范围({lo:02d}–{hi:02d})")
    if params.exclude_not_producing:
        exclude(~producing, "not yet producing", "尚未投产")
    exclude(~above_known, "above_scale (规上) flag missing", "缺少规上标志", "not_evaluated")
    in_micro = np.zeros(n, dtype=bool)
    if params.micro_park_levels_in_scope and micro_parks is not None and "demonstration_level" in micro_parks.columns:
        ok_parks = set(micro_parks.loc[micro_parks["demonstration_level"].isin(params.micro_park_levels_in_scope),
                                       "park_id"].astype(str))
        in_micro = park_id.isin(ok_parks).to_numpy(dtype=bool)
    small_land_unknown = ~above & np.isnan(land_mu) & ~in_micro
    exclude(small_land_unknown, "规下 firm without land area: scope cannot be decided", "规下企业缺少用地面积,无法判定是否参评",
            "not_evaluated")
    small = ~above & below(land_mu, params.small_firm_min_land_mu) & ~in_micro
    min_mu = params.small_firm_min_land_mu
    exclude(small, lambda m: "规下 firm with land " + fmt_against(land_mu[m], min_mu) + f" 亩 < {min_mu:g} 亩 (listed separately)",
            lambda m: "规下企业用地 " + fmt_against(land_mu[m], min_mu) + f" 亩 < {min_mu:g} 亩(另行公布)")

    # --- data checks per group -------------------------------------------------------------
    group = np.where(above, "above_scale", "below_scale").astype(object)
    values = {"land_mu": land_mu, **unit_fig}
    imputed_flags: dict[str, np.ndarray] = {}
    for gname, gp in (("above_scale", params.above_scale), ("below_scale", params.below_scale)):
        g = (group == gname)
        cat = _GROUP_CATALOGUE[gname]
        needed: dict[str, bool] = {}  # figure → imputable only
        for ind in gp.indicators:
            num, den, _ = cat[ind.key]
            imp = ind.key in gp.impute_group_average
            for f in (num, den):
                needed[f] = needed.get(f, True) and imp
        for f, imputable_only in needed.items():
            if imputable_only:
                continue
            figure = values[f]
            zh = _FIG_ZH.get(f, f)
            exclude(g & np.isnan(figure), f"{f} missing", f"{zh}缺失", "not_evaluated")
            exclude(g & (figure < 0), f"{f} negative", f"{zh}为负", "not_evaluated")
        for ind in gp.indicators:
            num, den, _ = cat[ind.key]
            if ind.key in gp.impute_group_average:
                continue
            exclude(g & (values[den] == 0), f"{den} is 0, {ind.key} undefined",
                    f"{_FIG_ZH.get(den, den)}为0,指标无法计算", "not_evaluated")
        # imputable indicators: missing/zero/negative → group average sub-score
        for key in gp.impute_group_average:
            if key not in gp.keys:
                continue
            num, den, _ = cat[key]
            bad = g & live & ~((values[num] >= 0) & (values[den] > 0))
            imputed_flags[key] = imputed_flags.get(key, np.zeros(n, dtype=bool)) | bad
            if bad.any() and not _group_has_valid(group_figures, gname, key, g & live & ~bad):
                exclude(bad, f"{key} missing and no firm of the group has it to average",
                        "指标缺失且同组无可参照的平均值", "not_evaluated")
                imputed_flags[key] &= live

    # --- indicators, benchmarks, sub-scores ------------------------------------------------
    cols: dict[str, np.ndarray] = {}
    score = np.full(n, np.nan)
    for gname, gp in (("above_scale", params.above_scale), ("below_scale", params.below_scale)):
        g = (group == gname) & live
        cat = _GROUP_CATALOGUE[gname]
        total = np.zeros(n)
        for ind in gp.indicators:
            num, den, _ = cat[ind.key]
            imp = imputed_flags.get(ind.key, np.zeros(n, dtype=bool)) & g
            valid = g & ~imp
            with np.errstate(divide="ignore", invalid="ignore"):
                val = np.where(valid, values[num] / values[den], np.nan)
            if ind.benchmark is None and group_figures is not None and group_figures.benchmarks is not None:
                bench = group_figures.benchmarks[(gname, ind.key)]
            elif ind.benchmark is None:
                bench = group_average(values[num][valid].sum(), values[den][valid].sum())
            else:
                bench = ind.benchmark
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(bench > 0, val / bench, 0.0) if np.isfinite(bench) else np.zeros(n)
            if ind.cap is not None:
                ratio = np.minimum(ratio, ind.cap)
            sub = ratio * ind.weight
            if imp.any():
                sub[imp] = (sub[valid].mean() if group_figures is None or group_figures.imputed_sub is None
                            else group_figures.imputed_sub[(gname, ind.key)])
            sub = np.where(g, sub, np.nan)
            for name, arr in ((f"ind_{ind.key}", val), (f"sub_{ind.key}", sub), (f"bench_{ind.key}", bench)):
                if name not in cols:
                    cols[name] = np.full(n, np.nan)
                cols[name][g] = arr[g] if isinstance(arr, np.ndarray) else arr
            total = total + np.where(g, sub, 0.0)
        score[g] = total[g]

    imputed = np.full(n, "", dtype=object)
    for key, flag in imputed_flags.items():
        m = flag & live
        imputed[m] = np.where(imputed[m] == "", key, imputed[m] + "," + key)

    out = gpd.GeoDataFrame(
        {
            "credit_code": code,
            "name": _str(e, "name"),
            "industry_code": industry,
            "industry_div": industry.str[:2],
            "township_code": _str(e, "township_code"),
            "plot_id": plot_id,
            "park_id": park_id,
            "status": pd.Series(status, index=idx, dtype="string"),
            "reason_en": why.series(idx, "en"),
            "reason_zh": why.series(idx, "zh"),
            "group": pd.Series(np.where(status == "merged", None, group), index=idx, dtype="string"),  # type: ignore[call-overload]  # numpy's stubs: no None scalar
            "unit_code": unit_code,
            "land_m2": land_m2,
            "land_mu": land_mu,
            **{f"unit_{f}": unit_fig[f] for f in FIGURES},
            # every indicator's value, benchmark and sub-score (NaN outside the groups scoring it)
            **{f"{prefix}{key}": cols[f"{prefix}{key}"] if f"{prefix}{key}" in cols else np.full(n, np.nan)
               for key in ALL_INDICATORS for prefix in ("ind_", "bench_", "sub_")},
            "imputed": pd.Series(imputed, index=idx, dtype="string").replace("", pd.NA),
            "score": score,
            "veto": incident & live,
        },
        index=idx,
        geometry=e.geometry.copy() if isinstance(e, gpd.GeoDataFrame) and e.geometry.name in e.columns else None,
        crs=getattr(e, "crs", None),
    )
    geometry = out.active_geometry_name
    if geometry is not None:             # the geometry column after the figures, where it always was
        cols_order = [c for c in out.columns if c != geometry]
        cols_order.insert(cols_order.index(f"unit_{FIGURES[-1]}") + 1, geometry)
        out = out[cols_order]
    veto = out["veto"].to_numpy()
    score_class, computed = assign_classes(out, params, veto=veto)
    out["score_class"] = score_class
    out["computed_class"] = computed
    out["regraded_class"] = pd.Series(pd.NA, index=idx, dtype="string")
    out["regrade_reason"] = pd.Series(pd.NA, index=idx, dtype="string")
    out["final_class"] = computed.copy()
    _add_reason_veto(out, veto)
    _add_ranks(out)
    return out


def _add_reason_veto(out: gpd.GeoDataFrame, veto: np.ndarray) -> None:
    if veto.any():
        out.loc[veto, "reason_en"] = "veto: major safety/environmental incident → D"
        out.loc[veto, "reason_zh"] = "一票否决:重大安全环保事故 → D"


def _order(score: np.ndarray, tax: np.ndarray, code: np.ndarray) -> np.ndarray:
    """Positions sorted best first: score desc, then 亩均税收 desc, then credit code."""
    return np.lexsort((code, -np.nan_to_num(tax, nan=-np.inf), -score))


def assign_classes(evaluation: pd.DataFrame, params: PerMuParams, *, veto: np.ndarray | None = None
                   ) -> tuple[pd.Series, pd.Series]:
    """Classes A–D of evaluated rows, per group: (by score alone, after vetoes and quotas).

    ``cutoffs``: A if score ≥ cutoffs[0], B ≥ cutoffs[1], C ≥ cutoffs[2], else D; then, if set,
    the quota rule: at most ``max_share_a`` of the group in A (the lowest-ranked extra A firms
    → B) and at least ``min_share_d`` in D (the lowest-ranked others → D).
    ``quotas``: by rank, A = ⌊share_A·n⌋ firms, D = max(⌈share_D·n⌉, vetoed), B = round(share_B·n), C the rest.
    Vetoed firms are D in both and count toward D.
    """
    n = len(evaluation)
    status = evaluation["status"].astype("string").fillna("").to_numpy(dtype=object)
    groups = evaluation["group"].astype("string").fillna("").to_numpy(dtype=object)
    score = evaluation["score"].to_numpy(dtype=float)
    tax = evaluation["ind_tax_per_mu"].to_numpy(dtype=float)
    code = evaluation["credit_code"].astype(str).to_numpy()
    veto = np.zeros(n, dtype=bool) if veto is None else np.asarray(veto, dtype=bool)
    by_score = np.full(n, None, dtype=object)
    final = np.full(n, None, dtype=object)
    labels = np.array(CLASSES, dtype=object)
    for gname in GROUPS:
        pos = np.flatnonzero((status == "evaluated") & (groups == gname))
        m = len(pos)
        if m == 0:
            continue
        s = score[pos]
        cut = params.cutoffs
        bs = labels[np.select([s >= cut[0], s >= cut[1], s >= cut[2]], [0, 1, 2], 3)]
        by_score[pos] = bs
        order = _order(s, tax[pos], code[pos])            # best first
        vetoed = veto[pos]
        rank_of = np.empty(m, dtype=int)
        rank_of[order] = np.arange(m)
        if params.class_method == "quotas":
            sa, sb, _, sd = params.quota_shares
            n_a = math.floor(sa * m + 1e-9)
            n_d = max(math.ceil(sd * m - 1e-9), 0)
            n_b = int(round(sb * m))
            cls = np.full(m, "C", dtype=object)
            ok = order[~vetoed[order]]                     # non-vetoed, best first
            n_d_rest = max(n_d - int(vetoed.sum()), 0)
            n_a = min(n_a, len(ok))
            cls[ok[:n_a]] = "A"
            cls[ok[n_a:n_a + n_b]] = "B"
            if n_d_rest:
                cls[ok[max(len(ok) - n_d_rest, n_a + n_b):]] = "D"
            cls[vetoed] = "D"
        else:
            cls = bs.copy()
            cls[vetoed] = "D"
            if params.max_share_a is not None:
                cap_a = math.floor(params.max_share_a * m + 1e-9)
                a_pos = order[cls[order] == "A"]           # A firms, best first
                cls[a_pos[cap_a:]] = "B"
            if params.min_share_d is not None:
                need = math.ceil(params.min_share_d * m - 1e-9) - int((cls == "D").sum())
                if need > 0:
                    others = order[cls[order] != "D"]      # best first
                    cls[others[len(others) - need:]] = "D"
        final[pos] = cls
    idx = evaluation.index
    return pd.Series(by_score, index=idx, dtype="string"), pd.Series(final, index=idx, dtype="string")


_RANKS = (("rank_county", ("group",)), ("rank_township", ("group", "township_code")),
          ("rank_industry", ("group", "industry_div")))


def rank_within_groups(evaluation: pd.DataFrame) -> pd.DataFrame:
    """Ranks of the evaluated firms by score (1 = best, ties share the lowest rank) within their
    group, group and township, group and 2-digit industry: ``rank_county``, ``rank_township``,
    ``rank_industry`` (Int64, missing for firms not evaluated), on ``evaluation.index``.

    A missing key is a group of its own; a missing score has no rank (as pandas' ``groupby``
    with ``dropna=False`` and ``rank(method="min")`` give them, sorted once by numpy instead).
    """
    ev = (evaluation["status"] == "evaluated").fillna(False).to_numpy(dtype=bool)
    score = evaluation["score"].to_numpy(dtype=float)[ev]
    codes = {k: pd.factorize(evaluation[k].to_numpy()[ev], use_na_sentinel=False)[0].astype(np.int64)
             for k in dict.fromkeys(k for _, keys in _RANKS for k in keys)}
    out = pd.DataFrame(index=evaluation.index)
    for col, keys in _RANKS:
        group = np.zeros(len(score), dtype=np.int64)
        for k in keys:
            group = group * (int(codes[k].max(initial=0)) + 1) + codes[k]
        rank = np.full(len(evaluation), np.nan)
        rank[ev] = _min_rank_descending(group, score)
        out[col] = pd.array(rank, dtype="Int64")
    return out


def _min_rank_descending(group: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Rank of each score within its group, best (highest) first, ties sharing the lowest rank; NaN
    scores unranked (NaN)."""
    n = len(score)
    order = np.lexsort((-score, group))          # NaN scores sort last in their group
    g, s = group[order], score[order]
    pos = np.arange(n)
    new_group = np.r_[True, g[1:] != g[:-1]] if n else np.zeros(0, dtype=bool)
    new_value = new_group | (np.r_[True, s[1:] != s[:-1]] if n else new_group)
    group_start = np.maximum.accumulate(np.where(new_group, pos, 0)) if n else pos
    value_start = np.maximum.accumulate(np.where(new_value, pos, 0)) if n else pos
    rank = np.empty(n)
    rank[order] = (value_start - group_start + 1).astype(float)
    rank[np.isnan(score)] = np.nan
    return rank


def _add_ranks(out: pd.DataFrame) -> None:
    ranks = rank_within_groups(out)
    for col in ranks.columns:
        out[col] = ranks[col]


def apply_regrade(evaluation: gpd.GeoDataFrame, regrades: pd.DataFrame) -> gpd.GeoDataFrame:
    """Apply manual re-grades, keeping the computed class beside the new one.

    Parameters
    ----------
    evaluation : GeoDataFrame
        Output of :func:`evaluate`.
    regrades : DataFrame
        Columns ``credit_code``, ``new_class`` (A–D), ``reason`` (non-empty text).

    Returns
    -------
    GeoDataFrame
        A copy with ``regraded_class``, ``regrade_reason`` and ``final_class`` set; the
        ``computed_class`` is untouched.

    Raises
    ------
    ParameterError
        Missing columns, unknown or non-evaluated firms, classes outside A–D, empty reasons
        (all problems at once).
    """
    need = {"credit_code", "new_class", "reason"}
    if not need <= set(regrades.columns):
        raise ParameterError(f"regrade table needs columns {sorted(need)}; got {list(regrades.columns)}",
                             message_zh=f"重新评级表需要列 {sorted(need)}")
    problems = []
    rg = regrades.copy()
    rg["credit_code"] = rg["credit_code"].astype("string").str.strip()
    pos = pd.Series(np.arange(len(evaluation)), index=evaluation["credit_code"].astype("string").to_numpy())
    unknown = ~rg["credit_code"].isin(pos.index)
    if unknown.any():
        problems.append(f"unknown credit code(s) {rg.loc[unknown, 'credit_code'].tolist()}")
    known = rg.loc[~unknown]
    st = evaluation["status"].to_numpy(dtype=object)[pos.reindex(known["credit_code"].to_numpy()).to_numpy()]
    if (st != "evaluated").any():
        problems.append(f"firm(s) {known.loc[st != 'evaluated', 'credit_code'].tolist()} were not evaluated; "
                        "only evaluated firms can be re-graded")
    bad_cls = ~rg["new_class"].isin(CLASSES)
    if bad_cls.any():
        problems.append(f"class(es) {rg.loc[bad_cls, 'new_class'].tolist()} not in {list(CLASSES)}")
    empty = rg["reason"].astype("string").str.strip().fillna("") == ""
    if empty.any():
        problems.append(f"re-grade without a reason for {rg.loc[empty, 'credit_code'].tolist()}")
    if rg["credit_code"].duplicated().any():
        problems.append(f"firm(s) re-graded twice: {rg.loc[rg['credit_code'].duplicated(), 'credit_code'].tolist()}")
    if problems:
        raise ParameterError("Re-grade refused: " + "; ".join(problems) + ". Fix the table and retry.",
                             message_zh="重新评级未执行:" + ";".join(problems), details=problems)
    out = evaluation.copy()
    rows = out.index[pos.reindex(rg["credit_code"].to_numpy()).to_numpy()]
    out.loc[rows, "regraded_class"] = rg["new_class"].astype("string").to_numpy()
    out.loc[rows, "regrade_reason"] = rg["reason"].astype("string").to_numpy()
    out["final_class"] = out["regraded_class"].fillna(out["computed_class"])
    return out


def price_ledger(evaluation: pd.DataFrame, prices: PriceParams, *, years_in_d: pd.Series | None = None
                 ) -> pd.DataFrame:
    """Differentiated-price ledger (差别化要素价格台账): annual surcharge or relief per evaluated firm.

    Lines (amounts in 万元 per year; positive = surcharge, negative = relief):

    * electricity = unit electricity (万kWh) × rate (元/kWh)  — 万kWh × 元/kWh = 万元;
      D firms with ``years_in_d ≥ d_repeat_years`` pay the repeat rate instead;
    * water = water use (万m³, column ``water_10k_m3``) × rate (元/m³);
    * sewage = sewage volume (万m³, column ``sewage_10k_m3``) × rate (元/m³);
    * land_tax = land (m²) × base rate (元/m²) × (surcharge share − relief share) ÷ 10⁴.

    The enterprises layer has no water or sewage volumes; those lines are ``not_computed``
    (with the reason) unless the evaluation carries ``water_10k_m3`` / ``sewage_10k_m3``.

    Returns
    -------
    DataFrame
        One row per evaluated firm (index ⊂ evaluation index): rates, amounts,
        ``<line>_status`` (computed / not_computed) and ``<line>_note``, ``total_10k``
        (sum of computed lines).
    """
    ev = rows_of(evaluation, evaluation["status"] == "evaluated",
                 ("credit_code", "name", "final_class", "unit_electricity_10k_kwh", "water_10k_m3", "sewage_10k_m3",
                  "land_m2"))
    cls = ev["final_class"].astype(str).to_numpy()
    out = pd.DataFrame({"credit_code": ev["credit_code"], "name": ev["name"], "final_class": ev["final_class"]},
                       index=ev.index)

    class_pos = np.searchsorted(np.array(CLASSES), cls)      # once: each rate is a lookup by it

    def rate(table) -> np.ndarray:
        lut = table.as_dict()
        return np.array([lut.get(c, 0.0) for c in CLASSES])[class_pos] if len(cls) else np.zeros(0)

    elec_rate = rate(prices.electricity_yuan_per_kwh)
    note = np.full(len(ev), "", dtype=object)
    if years_in_d is not None and prices.electricity_d_repeat_yuan_per_kwh:
        yrs = pd.to_numeric(years_in_d.reindex(ev.index), errors="coerce").fillna(0).to_numpy()
        rep = (cls == "D") & (yrs >= prices.d_repeat_years)
        elec_rate = np.where(rep, prices.electricity_d_repeat_yuan_per_kwh, elec_rate)
        note[rep] = f"D for ≥ {prices.d_repeat_years} years: repeat rate"
    elec = ev["unit_electricity_10k_kwh"].to_numpy(dtype=float)
    out["electricity_rate_yuan_per_kwh"] = elec_rate
    out["electricity_10k"] = elec * elec_rate
    out["electricity_status"] = np.where(np.isnan(elec), "not_computed", "computed")
    out["electricity_note"] = np.where(np.isnan(elec), "electricity use missing", note)
    for line, col, table in (("water", "water_10k_m3", prices.water_yuan_per_m3),
                             ("sewage", "sewage_10k_m3", prices.sewage_yuan_per_m3)):
        r = rate(table)
        out[f"{line}_rate_yuan_per_m3"] = r
        if col in ev.columns:
            vol = pd.to_numeric(ev[col], errors="coerce").to_numpy(dtype=float)
            out[f"{line}_10k"] = vol * r
            out[f"{line}_status"] = np.where(np.isnan(vol), "not_computed", "computed")
            out[f"{line}_note"] = np.where(np.isnan(vol), f"{line} volume missing", "")
        else:
            out[f"{line}_10k"] = np.nan
            out[f"{line}_status"] = "not_computed"
            out[f"{line}_note"] = f"no {line} volume in the enterprises layer ({col}); rate shown, amount not computed"
    share = rate(prices.land_tax_surcharge_share) - rate(prices.land_tax_relief_share)
    land = ev["land_m2"].to_numpy(dtype=float)
    out["land_tax_share"] = share
    out["land_tax_10k"] = land * prices.land_tax_yuan_per_m2 * share / 1e4
    out["land_tax_status"] = "computed"
    out["land_tax_note"] = ""
    amounts = out[["electricity_10k", "water_10k", "sewage_10k", "land_tax_10k"]]
    out["total_10k"] = amounts.sum(axis=1, min_count=1).fillna(0.0)
    return out


def aggregate(evaluation: pd.DataFrame, by: str | pd.Series) -> pd.DataFrame:
    """亩均 aggregates and class mix of evaluated firms grouped by a column (or a Series on the index).

    亩均税收 = Σ tax ÷ Σ land (万元/亩), 亩均增加值 = Σ value added ÷ Σ land (万元/亩), over the
    group's evaluated units (tenants are inside their holder's unit).

    Returns
    -------
    DataFrame indexed by the group key: ``n_evaluated``, ``land_mu``, ``tax_10k``,
    ``value_added_10k``, ``tax_per_mu``, ``va_per_mu``, ``n_A``…``n_D``, ``share_A``…``share_D``.
    """
    return aggregate_ratios(aggregate_totals(evaluation, by))


def aggregate_totals(evaluation: pd.DataFrame, by: str | pd.Series) -> pd.DataFrame:
    """The additive part of :func:`aggregate`: ``n_evaluated``, ``land_mu``, ``tax_10k``,
    ``value_added_10k`` and ``n_A``…``n_D`` per group key — partitions' totals add up."""
    ev = rows_of(evaluation, evaluation["status"] == "evaluated",
                 ([by] if isinstance(by, str) else []) + ["land_mu", "unit_tax_10k", "unit_value_added_10k", "final_class"])
    key = ev[by] if isinstance(by, str) else by.reindex(ev.index)
    name = by if isinstance(by, str) else (by.name or "key")
    df = pd.DataFrame({
        "key": key.to_numpy(), "land_mu": ev["land_mu"].to_numpy(), "tax_10k": ev["unit_tax_10k"].to_numpy(),
        "value_added_10k": ev["unit_value_added_10k"].to_numpy(), "cls": ev["final_class"].astype(str).to_numpy(),
    }).dropna(subset=["key"])
    g = df.groupby("key")
    agg = pd.DataFrame({"n_evaluated": g.size(), "land_mu": g["land_mu"].sum(), "tax_10k": g["tax_10k"].sum(),
                        "value_added_10k": g["value_added_10k"].sum()})
    # groupby-size, not crosstab: crosstab counts with a Python len per group
    mix = df.groupby(["key", "cls"]).size().unstack(fill_value=0).reindex(columns=list(CLASSES), fill_value=0)
    for c in CLASSES:
        agg[f"n_{c}"] = mix[c].reindex(agg.index, fill_value=0).astype("int64") if len(mix) else 0
    agg.index.name = name
    return agg


def aggregate_ratios(totals: pd.DataFrame) -> pd.DataFrame:
    """:func:`aggregate` from (summed) :func:`aggregate_totals`: 亩均税收, 亩均增加值 and class shares."""
    agg = totals[["n_evaluated", "land_mu", "tax_10k", "value_added_10k"]].copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        agg["tax_per_mu"] = np.where(agg["land_mu"] > 0, agg["tax_10k"] / agg["land_mu"], np.nan)
        agg["va_per_mu"] = np.where(agg["land_mu"] > 0, agg["value_added_10k"] / agg["land_mu"], np.nan)
    for c in CLASSES:
        agg[f"n_{c}"] = totals[f"n_{c}"]
        agg[f"share_{c}"] = agg[f"n_{c}"] / agg["n_evaluated"]
    return agg


def aggregate_plots(evaluation: pd.DataFrame, plots: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Per-plot 亩均 aggregates of the evaluated firms on each plot, on ``plots.index``.

    Plots without an evaluated firm get ``n_evaluated = 0`` and NaN ratios.
    """
    agg = aggregate(evaluation, "plot_id")
    pid = plots["plot_id"].astype("string")
    out = gpd.GeoDataFrame({"plot_id": pid}, geometry=plots.geometry.copy(), crs=plots.crs, index=plots.index)
    pos = positions(pid, agg.index.to_series())
    has = pos >= 0
    for col in agg.columns:
        vals = agg[col].to_numpy(dtype=float)
        v = np.where(has, vals[np.where(has, pos, 0)] if len(vals) else np.nan, np.nan)
        out[col] = np.nan_to_num(v).astype("int64") if col.startswith("n_") else v
    return out
