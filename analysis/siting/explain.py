"""Explanations: why each firm went where it went, or why it could go nowhere — park by park.

Every unplaced firm's reason names **each park** it could not use and why, with park names
(never codes), in English (``reason``) and Chinese (``reason_zh``):

* park-wide rules — the industry does not fit, the park takes no polluting industries, the
  micro-park is below the 70 % share and takes only leading-industry firms, or one more
  non-leading firm would bring it below;
* site by site, counted ("4 of 42 sites within the residential buffer") — buffers, distance, a
  site smaller than the need (with the largest one), sites full in the solution (with the most
  land left), sites dearer than leaving the firm unplaced, sites outside the k nearest.

Parks with the same words are named together.  The per-park shares of the run (before /
after, by firms and by land, with the policy applied) are :func:`park_shares`; one firm's
ranking of every site is :func:`rank_sites_for_firm`.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from analysis import _assign
from analysis._common import Reasons, check_crs, fmt, num, text
from analysis.leading import share_status
from analysis.siting.demand import demand_problems
from analysis.siting.eligibility import site_exclusions
from analysis.siting.settings import BIT, EXCLUSIONS, SitingParams, exclusion_words, problems_zh
from geo.errors import ParameterError
from geo.units import M2_PER_MU
from layers.codes import matches_prefix

__all__ = ["POLICIES", "explain_exclusions", "firm_reasons", "group_shares", "park_shares", "rank_sites_for_firm"]

#: park_shares ``policy`` → (English, Chinese)
POLICIES = {
    "keep_minimum": ("at or above the minimum: non-leading firms only while it stays there",
                     "已达标:非主导产业企业入驻后仍须保持达标"),
    "leading_only": ("below the minimum: only leading-industry firms until it is met",
                     "未达标:达标前只接纳主导产业企业"),
    "new_park": ("no firms yet: the incoming firms must meet the minimum", "尚无企业:入驻企业须达到下限"),
    "no_rule": ("no leading-industry share rule (industrial park or no leading industry declared)",
                "不适用主导产业占比规则(工业园区或未设主导产业)"),
}

# Dynamic causes (what the solution left), in bits above the static EXCLUSIONS bits.
_DYN = {"land_full": 1 << 16, "floor_full": 1 << 17, "share_full": 1 << 18, "open": 1 << 19,
        "not_considered": 1 << 20, "too_far": 1 << 21}
# Park-wide refusals, most decisive first: a park shows only the first that applies (a polluting firm
# at a park that takes no polluting industries needs no word on the park's leading industries).
_PARK_WIDE = ["polluting", "industry", "park_below_share", "share_full"]
# Site-by-site causes in display order: what the solution left first, then the rules.
_SITE_WISE = ["land_full", "floor_full", "open", "not_considered", "too_far", "land_capacity", "floor_capacity",
              "residential_buffer", "water_buffer", "distance", "leading_share", "invalid_site"]
_ORDER = _PARK_WIDE + _SITE_WISE
# Which parks come first in a reason: those the firm nearly got (the solution's causes), park-wide refusals last.
_CLOSENESS = {**{k: 0 for k in ("land_full", "floor_full", "open", "share_full", "not_considered", "too_far")},
              **{k: 1 for k in ("land_capacity", "floor_capacity", "residential_buffer", "water_buffer", "distance",
                                "leading_share", "invalid_site")},
              **{k: 2 for k in ("polluting", "industry", "park_below_share")}}
_BLOCK_CODE = {"land_full": "land_full", "floor_full": "floor_full", "share_full": "leading_share",
               "open": "objective"}


def explain_exclusions(mask_rows: np.ndarray, *, lang: str = "en",
                       share: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For firms with no eligible site: the binding constraint(s) and a sentence each.

    A constraint is *binding* for a firm when relaxing it alone would open at least one
    site; when no single constraint does, all constraints excluding sites are listed with
    how many sites each excludes.

    Returns ``(codes, text)`` arrays of strings, one per row of ``mask_rows``; ``lang`` "en"
    or "zh"; ``share`` (the leading-industry minimum) is named in the share rules.
    """
    n = mask_rows.shape[0]
    codes = np.full(n, "", dtype=object)
    text_ = np.full(n, "", dtype=object)
    if n == 0:
        return codes, text_
    if mask_rows.shape[1] == 0:
        codes[:] = "no_sites"
        text_[:] = "no candidate sites at all (supply is empty)" if lang == "en" else "没有任何候选园区(供给为空)"
        return codes, text_
    words = exclusion_words(lang, share)
    tsep_word = "; " if lang == "en" else ";"
    single = np.zeros(n, dtype=bool)
    for bit, entry in EXCLUSIONS.items():
        opens = ((mask_rows & ~np.uint16(bit)) == 0).any(axis=1)
        if opens.any():
            sep = np.where(codes[opens] == "", "", "+")
            codes[opens] = codes[opens] + sep + entry[0]
            tsep = np.where(text_[opens] == "", "", tsep_word)
            text_[opens] = text_[opens] + tsep + words[bit]
            single |= opens
    head_en, head_zh = "no eligible site; relaxing any one of these alone would open one: ", "无可用园区;放宽以下任一条件即可:"
    text_[single] = (head_en if lang == "en" else head_zh) + text_[single]
    rest = ~single
    if rest.any():
        text_[rest] = "no eligible site; several rules together exclude every site: " if lang == "en" else "无可用园区;多项条件共同排除:"
        for bit, entry in EXCLUSIONS.items():
            cnt = ((mask_rows[rest] & np.uint16(bit)) > 0).sum(axis=1)
            has = cnt > 0
            sub_c, sub_t = codes[rest], text_[rest]
            sub_c[has] = sub_c[has] + np.where(sub_c[has] == "", "", "+") + entry[0]
            head_end = np.char.endswith(sub_t[has].astype(str), ": " if lang == "en" else ":")
            sub_t[has] = (sub_t[has] + np.where(head_end, "", tsep_word) + words[bit]
                          + ((" (" + cnt[has].astype(str) + " sites)") if lang == "en"
                             else ("(" + cnt[has].astype(str) + " 个地块)")))
            codes[rest], text_[rest] = sub_c, sub_t
    return codes, text_


# --- per firm ---------------------------------------------------------------------------------
def firm_reasons(prob, assign: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(reason_code, reason, reason_zh) per firm of a solved :class:`~analysis.siting.model.RelocationProblem`."""
    n, m, p = prob.n, prob.m, prob.params
    code = np.full(n, "", dtype=object)
    en = np.full(n, "", dtype=object)
    zh = np.full(n, "", dtype=object)
    placed = assign >= 0
    if placed.any() and m:
        code[placed], en[placed], zh[placed] = _placed(prob, assign, placed)
    pi = getattr(prob, "pi", np.zeros(0, np.int64))
    has_pair = np.bincount(pi, minlength=n) > 0 if len(pi) else np.zeros(n, bool)
    out = ~placed & prob.firm_ok
    nowhere, blocked = out & ~has_pair, out & has_pair
    if nowhere.any():
        code[nowhere], en[nowhere], zh[nowhere] = _nowhere_heads(prob, nowhere)
    if blocked.any():
        code[blocked], en[blocked], zh[blocked] = _blocked_heads(prob, assign, blocked)
    if out.any() and m:
        by_en, by_zh = _by_park(prob, assign, np.flatnonzero(out))
        en[out] = en[out] + np.where(by_en == "", "", ". By park — " + by_en)
        zh[out] = zh[out] + np.where(by_zh == "", "", "。各园区:" + by_zh)
    if prob.restricted and blocked.any():
        en[blocked] = en[blocked] + f" (only the {p.k_nearest} nearest eligible sites were considered)"
        zh[blocked] = zh[blocked] + f"(仅考虑了最近的 {p.k_nearest} 个可用地块)"
    bad = ~prob.firm_ok
    code[bad] = "input_problem"
    en[bad] = prob.firm_problem[bad]
    zh[bad] = problems_zh(prob.firm_problem[bad])
    return code, en, zh


def _placed(prob, assign, placed):
    p = prob.params
    n = prob.n
    jj = np.where(placed, assign, 0)
    rows = np.arange(n)
    cost, dist = prob.cost[rows, jj], prob.distance[rows, jj]
    c_eligible = np.where((prob.mask == 0) & prob.site_ok[None, :], prob.cost, np.inf)
    rank = (c_eligible < cost[:, None] - 1e-9).sum(axis=1) + 1
    same = prob.same_township[rows, jj] if hasattr(prob, "same_township") else np.zeros(n, bool)
    name = prob.site_names[jj].astype(str)
    km = fmt(dist / 1000.0, "%.1f")
    en = ("site " + name + ", " + km + " km"
          + np.where(same, f", same township (cost −{p.same_township_discount:.0%})", "")
          + np.where(rank == 1, ", cheapest eligible site",
                     ", eligible site no. " + rank.astype(str) + " by cost (cheaper ones full or needed by others)"))
    zh = ("地块 " + name + ",距离 " + km + " 公里"
          + np.where(same, f",同一镇街(成本 −{p.same_township_discount:.0%})", "")
          + np.where(rank == 1, ",成本最低的可用地块",
                     ",按成本排第 " + rank.astype(str) + " 的可用地块(更近的地块已满或需留给其他企业)"))
    return np.where(rank == 1, "best_site", "capacity_shared")[placed], en[placed], zh[placed]


def _nowhere_heads(prob, rows):
    """No eligible site: the binding rule(s); or every eligible site dearer than the penalty."""
    p = prob.params
    mrows = prob.mask[rows][:, prob.site_ok] if prob.m else np.zeros((rows.sum(), 0), np.uint16)
    cst = prob.cost[rows][:, prob.site_ok] if prob.m else np.zeros((rows.sum(), 0))
    codes, en = explain_exclusions(mrows, share=p.leading_share)
    _, zh = explain_exclusions(mrows, lang="zh", share=p.leading_share)
    pen = prob.weights[rows] * p.unassigned_penalty_m
    dear = (mrows == 0) & (cst >= pen[:, None])
    any_dear = dear.any(axis=1) if dear.size else np.zeros(rows.sum(), bool)
    codes[any_dear] = "too_far"
    en[any_dear] = f"every eligible site costs more than the unassigned penalty ({p.unassigned_penalty_m / 1000:g} km × need)"
    zh[any_dear] = f"所有可用地块的搬迁成本均高于未安置惩罚({p.unassigned_penalty_m / 1000:g} 公里 × 需求)"
    return codes, en, zh


def _dynamic(prob, assign, rows: np.ndarray) -> np.ndarray:
    """(len(rows), m) bits of ``_DYN``: what the solution left at each eligible site of each firm."""
    n, m, p = prob.n, prob.m, prob.params
    placed = assign >= 0
    used_land = np.bincount(assign[placed], weights=prob.need_land[placed], minlength=m)
    used_floor = np.bincount(assign[placed], weights=prob.need_floor[placed], minlength=m)
    eligible = (prob.mask[rows] == 0) & prob.site_ok[None, :]
    pen = getattr(prob, "penalty", prob.weights * p.unassigned_penalty_m)[rows]
    dear = eligible & (prob.cost[rows] >= pen[:, None]) if p.allow_unassigned else np.zeros_like(eligible)
    in_model = np.zeros((n, m), dtype=bool)
    pi, pj = getattr(prob, "pi", np.zeros(0, np.int64)), getattr(prob, "pj", np.zeros(0, np.int64))
    in_model[pi, pj] = True
    in_model = in_model[rows]
    out = np.zeros((len(rows), m), dtype=np.uint32)
    out[dear] |= _DYN["too_far"]
    out[eligible & ~dear & ~in_model] |= _DYN["not_considered"]
    live = eligible & in_model
    land_full = live & (prob.need_land[rows][:, None] > prob.cap_land[None, :] - used_land[None, :] + 1e-6)
    floor_full = live & (prob.need_floor[rows][:, None] > prob.cap_floor[None, :] - used_floor[None, :] + 1e-6)
    share_full = live & _share_blocks(prob, assign, rows)
    out[land_full] |= _DYN["land_full"]
    out[floor_full] |= _DYN["floor_full"]
    out[share_full] |= _DYN["share_full"]
    out[live & ~land_full & ~floor_full & ~share_full] |= _DYN["open"]
    return out


def _share_blocks(prob, assign, rows) -> np.ndarray:
    """(len(rows), m): adding the firm would break its park's share row, given the solution."""
    data = getattr(prob, "_data", None)
    if data is None or data.n_groups == 0:
        return np.zeros((len(rows), prob.m), dtype=bool)
    chosen = (assign[data.pi] == data.pj) & (assign[data.pi] >= 0)
    delta, pg = data.share_delta(), data.pair_group()
    grouped = chosen & (pg >= 0)
    slack = np.bincount(pg[grouped], weights=delta[grouped], minlength=data.n_groups)
    s_k = int(round(data.share_min * _assign.SHARE_SCALE))
    d = np.where(prob.leading[rows], _assign.SHARE_SCALE - s_k, -s_k)
    g = prob.group
    has = g >= 0
    out = np.zeros((len(rows), prob.m), dtype=bool)
    out[:, has] = slack[g[has]][None, :] + d[:, has] < data.share_rhs[g[has]][None, :]
    return out


def _blocked_heads(prob, assign, rows):
    dyn = _dynamic(prob, assign, np.flatnonzero(rows))
    in_model = (dyn & (_DYN["land_full"] | _DYN["floor_full"] | _DYN["share_full"] | _DYN["open"])) > 0
    codes = np.full(rows.sum(), "", dtype=object)
    for dyn_key, key in sorted(_BLOCK_CODE.items(), key=lambda kv: kv[1]):   # codes in alphabetical order
        hit = ((dyn & _DYN[dyn_key]) > 0).any(axis=1)
        codes = np.where(hit, np.where(codes == "", key, codes + "+" + key), codes).astype(object)
    k = in_model.sum(axis=1).astype(str)
    en = "not placed although " + k + " site(s) were eligible: they are taken or would break a rule"
    zh = "未安置:" + k + " 处可用地块均已被占用或入驻将违反规则"
    return codes, en.astype(object), zh.astype(object)


def _by_park(prob, assign, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each firm of ``rows``: every park it could not use, with why (English, Chinese)."""
    cause = prob.mask[rows].astype(np.uint32) | _dynamic(prob, assign, rows)
    park_codes, parks = pd.factorize(pd.Series(prob.site_park, dtype=object))
    n_sites = np.bincount(park_codes, minlength=len(parks))
    bits = {**{code: bit for bit, (code, _, _) in EXCLUSIONS.items()}, **_DYN}
    frames = []
    for key in _ORDER:
        r, j = np.nonzero(cause & np.uint32(bits[key]))
        if len(r):
            frames.append(pd.DataFrame({"r": r, "park": park_codes[j], "site": j, "key": key}))
    if not frames:
        return np.full(len(rows), "", dtype=object), np.full(len(rows), "", dtype=object)
    long = pd.concat(frames, ignore_index=True)   # in _ORDER: the first park-wide key of a park is its decisive one
    # a park that refuses the firm as a whole is explained by its most decisive refusal alone
    wide = long["key"].isin(_PARK_WIDE)
    decisive = long.loc[wide].drop_duplicates(["r", "park"])[["r", "park", "key"]].rename(columns={"key": "decisive"})
    long = long.merge(decisive, on=["r", "park"], how="left")
    long = long[long["decisive"].isna().to_numpy() | (long["key"] == long["decisive"]).to_numpy()]
    g = long.groupby(["r", "park", "key"], sort=False)
    t = g.agg(k=("site", "size"), site=("site", "first")).reset_index()
    t = _details(prob, assign, t, rows, long)
    t["order"] = t["key"].map({k: i for i, k in enumerate(_ORDER)})
    t["close"] = t["key"].map(_CLOSENESS)
    t["N"] = n_sites[t["park"].to_numpy()]
    t = t.sort_values(["r", "park", "order"])
    t["en"], t["zh"] = _phrases(prob, t)
    per_park = t.groupby(["r", "park"], sort=False).agg(en=("en", "; ".join), zh=("zh", ";".join),
                                                        order=("close", "min")).reset_index()
    names = pd.Series(prob.site_park_name, dtype=object).groupby(park_codes).first()
    per_park["name"] = names.reindex(per_park["park"].to_numpy()).to_numpy()
    # parks with the same words are named together
    same = per_park.groupby(["r", "en", "zh"], sort=False).agg(names_en=("name", ", ".join), names_zh=("name", "、".join),
                                                               order=("order", "min")).reset_index()
    same = same.sort_values(["r", "order"])
    same["t_en"] = same["names_en"] + ": " + same["en"]
    same["t_zh"] = same["names_zh"] + ":" + same["zh"]
    firm = same.groupby("r").agg(en=("t_en", ". ".join), zh=("t_zh", "。".join))
    en = firm["en"].reindex(np.arange(len(rows))).fillna("").to_numpy(dtype=object)
    zh = firm["zh"].reindex(np.arange(len(rows))).fillna("").to_numpy(dtype=object)
    return en, zh


def _details(prob, assign, t: pd.DataFrame, rows: np.ndarray, long: pd.DataFrame) -> pd.DataFrame:
    """Numbers for the words: the firm's need, the park's largest site, most land left, nearest distance."""
    i = rows[t["r"].to_numpy()]
    t["need_mu"] = prob.need_land[i] / M2_PER_MU
    per = long.assign(cap=prob.cap_land[long["site"].to_numpy()] / M2_PER_MU,
                      dist=prob.distance[rows[long["r"].to_numpy()], long["site"].to_numpy()] / 1000.0)
    placed = assign >= 0
    used = np.bincount(assign[placed], weights=prob.need_land[placed], minlength=prob.m)
    per["free"] = (prob.cap_land - used)[per["site"].to_numpy()] / M2_PER_MU
    agg = per.groupby(["r", "park", "key"], sort=False).agg(cap_max=("cap", "max"), free_max=("free", "max"),
                                                            dist_min=("dist", "min")).reset_index()
    t = t.merge(agg, on=["r", "park", "key"], how="left")
    first_site = t["site"].to_numpy()
    t["lead"] = text(prob.supply, "leading_industries").fillna("").to_numpy(dtype=object)[first_site] \
        if prob.supply is not None and "leading_industries" in prob.supply.columns else ""
    t["code"] = text(prob.demand, "industry_code").fillna("?").to_numpy(dtype=object)[i] \
        if prob.demand is not None and "industry_code" in prob.demand.columns else "?"
    with np.errstate(divide="ignore", invalid="ignore"):
        t["share_now"] = np.where(prob.existing[first_site] > 0,
                                  prob.existing_leading[first_site] / prob.existing[first_site], np.nan)
    return t


def _phrases(prob, t: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The words of each (firm, park, cause) row, with the site count where the cause is site by site."""
    p = prob.params
    s = f"{p.leading_share:.0%}"
    need = fmt(t["need_mu"].to_numpy(), "%.1f")
    cap = fmt(t["cap_max"].to_numpy(), "%.1f")
    free = fmt(np.maximum(t["free_max"].to_numpy(), 0), "%.1f")
    dist = fmt(t["dist_min"].to_numpy(), "%.1f")
    now = np.char.mod("%.1f%%", np.nan_to_num(t["share_now"].to_numpy()) * 100).astype(object)
    lead = t["lead"].astype(str).to_numpy(dtype=object)
    code = t["code"].astype(str).to_numpy(dtype=object)
    words = {  # key → (English, Chinese) arrays or strings
        "industry": ("industry " + code + " is not among its leading industries " + lead,
                     "行业 " + code + " 不属主导产业 " + lead),
        "polluting": ("does not accept polluting industries", "不接纳污染行业"),
        "park_below_share": ("leading-industry share " + now + f" is below {s}: only leading-industry firms "
                             "until it is met", "主导产业占比 " + now + f" 低于 {s}:达标前只接纳主导产业企业"),
        "share_full": (f"one more non-leading firm would bring it below the {s} leading-industry share",
                       f"再入驻非主导产业企业将使主导产业占比低于 {s}"),
        "leading_share": (f"would fall below the {s} leading-industry share", f"入驻后主导产业占比将低于 {s}"),
        "residential_buffer": ("within the residential buffer", "在居住区缓冲距离内"),
        "water_buffer": ("within the water-source buffer", "在水源保护区缓冲距离内"),
        "distance": (f"beyond {p.max_distance_m / 1000:g} km (nearest " + dist + " km)",
                     f"超出最大距离 {p.max_distance_m / 1000:g} 公里(最近 " + dist + " 公里)"),
        "land_capacity": ("smaller than the need of " + need + " 亩 (largest " + cap + " 亩)",
                          "小于需求 " + need + " 亩(最大 " + cap + " 亩)"),
        "floor_capacity": ("floor capacity below the need", "建筑面积容量小于需求"),
        "invalid_site": ("invalid (no location or capacity)", "位置或容量无效"),
        "land_full": ("full: land left below the need of " + need + " 亩 (most left " + free + " 亩)",
                      "已满:剩余用地小于需求 " + need + " 亩(最多剩 " + free + " 亩)"),
        "floor_full": ("full: floor area left below the need", "已满:剩余建筑面积小于需求"),
        "open": (f"had room but the solution (within its {prob.gap:.1%} gap) did not use it" if np.isfinite(prob.gap)
                 else "had room but the solution did not use it", "尚有余量,但求解结果未使用"),
        "not_considered": (f"not among its {p.k_nearest} nearest eligible sites",
                           f"不在最近的 {p.k_nearest} 个可用地块内"),
        "too_far": ("moving there costs more than leaving the firm unplaced", "搬迁成本高于未安置惩罚"),
    }
    key = t["key"].to_numpy(dtype=object)
    k, big_n = t["k"].to_numpy(), t["N"].to_numpy()
    en = np.full(len(t), "", dtype=object)
    zh = np.full(len(t), "", dtype=object)
    for name, (w_en, w_zh) in words.items():   # one vectorised pass per cause (16), not per row
        hit = key == name
        if not hit.any():
            continue
        e = np.broadcast_to(np.asarray(w_en, dtype=object), (len(t),))[hit]
        z = np.broadcast_to(np.asarray(w_zh, dtype=object), (len(t),))[hit]
        counted = (big_n[hit] > 1) & (name not in _PARK_WIDE)
        every = k[hit] == big_n[hit]
        kk, nn = k[hit].astype(str), big_n[hit].astype(str)
        en[hit] = np.where(counted, np.where(every, "all " + nn + " sites ", kk + " of " + nn + " sites ") + e, e)
        zh[hit] = np.where(counted, np.where(every, "全部 " + nn + " 处地块", kk + "/" + nn + " 处地块") + z, z)
    return en, zh


# --- per park --------------------------------------------------------------------------------
def group_shares(prob, assign: np.ndarray) -> dict[str, np.ndarray]:
    """Per site: its park's leading share today (``before``) and after the run (``after``), by firms."""
    t = _park_counts(prob, assign)
    pos = t["site_park_pos"]
    with np.errstate(divide="ignore", invalid="ignore"):
        before = np.where(t["n_before"] > 0, t["lead_before"] / t["n_before"], np.nan)
        after = np.where(t["n_after"] > 0, t["lead_after"] / t["n_after"], np.nan)
    return {"before": before[pos], "after": after[pos]}


def _park_counts(prob, assign) -> dict[str, np.ndarray]:
    """Counts per park (today, leaving, arriving, after; firms and land) and each site's park position."""
    m = prob.m
    pos, parks = pd.factorize(pd.Series(prob.site_park, dtype=object))
    k = len(parks)
    first = np.unique(pos, return_index=True)[1] if m else np.zeros(0, np.int64)
    s = prob.supply

    def site_col(col, fallback):
        return num(s, col)[first] if s is not None and col in s.columns else fallback[first]

    n_base, lead_base = prob.existing[first], prob.existing_leading[first]
    land_base = site_col("existing_land_m2", np.zeros(m))
    lead_land_base = site_col("existing_leading_land_m2", np.zeros(m))
    placed = assign >= 0
    a = assign[placed]
    lead_new = prob.leading[np.flatnonzero(placed), a] if placed.any() else np.zeros(0, bool)
    park_new = pos[a] if len(a) else np.zeros(0, np.int64)
    need = prob.need_land[placed]
    arr = np.bincount(park_new, minlength=k).astype(float)
    arr_lead = np.bincount(park_new[lead_new], minlength=k).astype(float)
    arr_land = np.bincount(park_new, weights=need, minlength=k)
    arr_lead_land = np.bincount(park_new[lead_new], weights=need[lead_new], minlength=k)
    return {
        "site_park_pos": pos, "first": first, "parks": np.asarray(parks, dtype=object),
        "n_before": site_col("n_before", prob.existing), "lead_before": site_col("n_leading_before", prob.existing_leading),
        "land_before": site_col("land_before_m2", np.zeros(m)),
        "lead_land_before": site_col("leading_land_before_m2", np.zeros(m)),
        "n_base": n_base, "lead_base": lead_base, "land_base": land_base, "lead_land_base": lead_land_base,
        "arrive": arr, "arrive_lead": arr_lead, "arrive_land": arr_land,
        "n_after": n_base + arr, "lead_after": lead_base + arr_lead,
        "land_after": land_base + arr_land, "lead_land_after": lead_land_base + arr_lead_land,
    }


def park_shares(prob, assign: np.ndarray) -> pd.DataFrame:
    """One row per park with sites: the leading-industry share before and after the run.

    Firms ``before`` = the park's firms today (the parks page counts the same firms);
    ``leaving`` = firms selected to relocate that are in the park today; ``arriving`` = firms
    placed at its sites; after = before − leaving + arriving.  Shares by firm count (the rule)
    and by land (a firm's land; an arriving firm's land need), each with pass / fail against
    ``leading_share``, and the policy applied to the park (:data:`POLICIES`).
    """
    p = prob.params
    t = _park_counts(prob, assign)
    first = t["first"]
    k = len(first)
    share_rule = prob.share_sites[first] if k else np.zeros(0, bool)
    s = prob.supply
    lead_codes = text(s, "leading_industries").fillna("").to_numpy(dtype=object)[first] if s is not None \
        else np.full(k, "", dtype=object)
    has_lead = (lead_codes != "") | share_rule
    with np.errstate(divide="ignore", invalid="ignore"):
        def ratio(a, b):
            return np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)
        share_before, share_after = ratio(t["lead_before"], t["n_before"]), ratio(t["lead_after"], t["n_after"])
        land_before, land_after = ratio(t["lead_land_before"], t["land_before"]), ratio(t["lead_land_after"], t["land_after"])
        base = ratio(t["lead_base"], t["n_base"])
    policy = np.select([~share_rule, t["n_base"] == 0, base < p.leading_share - 1e-9],
                       ["no_rule", "new_park", "leading_only"], "keep_minimum").astype(object)
    placed = assign >= 0
    site_cap = np.bincount(t["site_park_pos"], weights=prob.cap_land, minlength=k) if prob.m else np.zeros(0)
    used = np.bincount(t["site_park_pos"][assign[placed]], weights=prob.need_land[placed], minlength=k) \
        if placed.any() else np.zeros(k)
    names = prob.site_park_name[first] if k else np.zeros(0, dtype=object)
    kind = text(s, "site_kind").to_numpy(dtype=object)[first] if s is not None else np.full(k, "", dtype=object)
    out = pd.DataFrame({
        "park_id": pd.array(t["parks"], dtype="string"), "name": pd.array(names, dtype="string"),
        "site_kind": pd.array(kind, dtype="string"), "leading_industries": pd.array(lead_codes, dtype="string"),
        "share_rule": share_rule, "n_sites": np.bincount(t["site_park_pos"], minlength=k).astype(np.int64),
        "capacity_land_mu": site_cap / M2_PER_MU, "used_land_mu": used / M2_PER_MU,
        "firms_before": t["n_before"].astype(np.int64), "leading_before": t["lead_before"].astype(np.int64),
        "firms_leaving": (t["n_before"] - t["n_base"]).astype(np.int64),
        "leading_leaving": (t["lead_before"] - t["lead_base"]).astype(np.int64),
        "firms_arriving": t["arrive"].astype(np.int64), "leading_arriving": t["arrive_lead"].astype(np.int64),
        "firms_after": t["n_after"].astype(np.int64), "leading_after": t["lead_after"].astype(np.int64),
        "leading_share_before": share_before, "leading_share_after": share_after,
        "leading_land_share_before": land_before, "leading_land_share_after": land_after,
        "status_before": share_status(t["n_before"], share_before, has_lead, p.leading_share),
        "status_after": share_status(t["n_after"], share_after, has_lead, p.leading_share),
        "land_status_before": share_status(np.where(t["land_before"] > 0, 1, 0), land_before, has_lead, p.leading_share),
        "land_status_after": share_status(np.where(t["land_after"] > 0, 1, 0), land_after, has_lead, p.leading_share),
        "policy": policy,
    })
    out["policy_en"] = out["policy"].map({k: v[0] for k, v in POLICIES.items()})
    out["policy_zh"] = out["policy"].map({k: v[1] for k, v in POLICIES.items()})
    for c in ("status_before", "status_after", "land_status_before", "land_status_after", "policy", "policy_en",
              "policy_zh"):
        out[c] = out[c].astype("string")
    return out


# --- one firm ----------------------------------------------------------------------------------
def rank_sites_for_firm(firm: gpd.GeoDataFrame | pd.Series, supply: gpd.GeoDataFrame, params: SitingParams, *,
                        constraints: gpd.GeoDataFrame | None = None, need_mu: float | None = None,
                        lang: str = "en") -> gpd.GeoDataFrame:
    """Every site ranked for one firm, with the reason for each exclusion.

    "Where can this 20 亩 machinery firm go?" — ``firm`` is a one-row GeoDataFrame (or a
    Series with ``geometry``) holding ``industry_code`` and either ``need_land_m2`` or
    ``land_area_m2`` (need computed as in :func:`~analysis.siting.demand.select_demand`);
    ``need_mu`` overrides the land need (亩).  A micro-park below the minimum share takes only
    leading-industry firms; one at or above it is excluded when this firm alone would bring its
    leading-industry share below the minimum.

    Returns
    -------
    GeoDataFrame
        The supply rows (same index) with ``distance_m``, ``cost``, ``eligible``, ``rank``
        (1 = cheapest eligible, NA when excluded), ``excluded_by`` (codes), ``reason`` (in
        ``lang``) and ``reason_zh`` (always Chinese), sorted by rank then distance.
    """
    if isinstance(firm, pd.Series):
        firm = gpd.GeoDataFrame([firm], geometry=[firm["geometry"]], crs=supply.crs)
    if len(firm) != 1:
        raise ParameterError(f"rank_sites_for_firm takes one firm; got {len(firm)} rows")
    f = _firm_needs(firm, params, need_mu)
    problem = demand_problems(f).iloc[0]
    if pd.notna(problem):
        raise ParameterError(f"The firm cannot be sited: {problem}.",
                             message_zh=f"该企业无法选址:{problems_zh([problem])[0]}")
    check_crs(f, ("supply", supply), ("constraints", constraints))
    pt = shapely.centroid(f.geometry.to_numpy())[0]
    anchor = shapely.point_on_surface(supply.geometry.to_numpy())
    dist = shapely.distance(pt, anchor)[None, :] if len(supply) else np.zeros((1, 0))
    mask = site_exclusions(f, supply, params, distance=dist, constraints=constraints, single_firm_share=True)[0]
    w = float(num(f, "need_land_m2")[0] / M2_PER_MU) if params.demand_weight == "land_mu" else 1.0
    same = (text(supply, "township_code").fillna("!").to_numpy(dtype=object)
            == (text(f, "township_code").fillna("?").iloc[0]))
    cost = w * dist[0] * np.where(same, 1.0 - params.same_township_discount, 1.0)
    eligible = mask == 0
    rank = np.argsort(np.argsort(np.where(eligible, cost, np.inf), kind="stable"), kind="stable") + 1
    codes, why = _site_words(mask, supply, params, num(f, "need_land_m2")[0])
    why.add(eligible, np.where(same, "eligible; same township", "eligible"), np.where(same, "可用;同一镇街", "可用"))
    out = supply.copy()
    out["distance_m"] = dist[0]
    out["cost"] = cost
    out["eligible"] = eligible
    out["rank"] = pd.array(np.where(eligible, rank, -1), dtype="Int64")
    out.loc[~eligible, "rank"] = pd.NA
    out["excluded_by"] = pd.array(np.where(codes == "", None, codes), dtype="string")  # type: ignore[call-overload]  # numpy's stubs: no None scalar
    out["reason"] = pd.array(why.en if lang == "en" else why.zh, dtype="string")
    out["reason_zh"] = pd.array(why.zh, dtype="string")
    return out.sort_values(["rank", "distance_m"], na_position="last")


def _firm_needs(firm: gpd.GeoDataFrame, params: SitingParams, need_mu: float | None) -> gpd.GeoDataFrame:
    f = firm.copy()
    if need_mu is not None:
        if not need_mu > 0:
            raise ParameterError(f"need_mu = {need_mu} must be > 0 亩", message_zh="用地需求必须大于 0 亩")
        f["need_land_m2"] = need_mu * M2_PER_MU
    elif "need_land_m2" not in f.columns:
        land = num(f, "land_area_m2")
        f["need_land_m2"] = land * params.intensification_factor if params.land_need_method == "intensify" \
            else num(f, "floor_m2") / params.target_far
    if "need_floor_m2" not in f.columns or not np.isfinite(num(f, "need_floor_m2")).all():
        f["need_floor_m2"] = num(f, "need_land_m2") * params.target_far
    if "polluting" not in f.columns:
        f["polluting"] = matches_prefix(text(f, "industry_code"), params.polluting_codes)
    return f


def _site_words(mask, supply, params, need) -> tuple[np.ndarray, Reasons]:
    """Exclusion codes and words of every site for one firm (one pass per rule, over all sites)."""
    codes = np.full(len(supply), "", dtype=object)
    why = Reasons(len(supply))
    words_en, words_zh = exclusion_words("en", params.leading_share), exclusion_words("zh", params.leading_share)
    cap_mu = num(supply, "capacity_land_mu")
    for bit, entry in EXCLUSIONS.items():
        hit = (mask & np.uint16(bit)) > 0
        codes[hit] = codes[hit] + np.where(codes[hit] == "", "", "+") + entry[0]
        if bit == BIT["land_capacity"]:  # the numbers say by how much
            nums = lambda h: fmt(cap_mu[h], "%.1f") + f" 亩 < {need / M2_PER_MU:.1f} 亩"  # noqa: E731
            why.add(hit, lambda h, bit=bit, nums=nums: words_en[bit] + " (" + nums(h) + ")",
                    lambda h, bit=bit, nums=nums: words_zh[bit] + "(" + nums(h) + ")")
        else:
            why.add(hit, words_en[bit], words_zh[bit])
    return codes, why
