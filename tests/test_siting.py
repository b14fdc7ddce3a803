"""Relocation siting: known optima by brute force, binding rules, explanations, bad input, the sample."""
from __future__ import annotations

import itertools

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from analysis import siting
from analysis._assign import AssignmentData, greedy_assignment, objective_of, solve_assignment
from geo.errors import InfeasibleAllocationError, ParameterError
from geo.units import M2_PER_MU

CRS = "EPSG:4549"
MU = M2_PER_MU


def params(**kw) -> siting.SitingParams:
    base = siting.load_siting_params("siting_default").replace(same_township_discount=0.0, time_limit_s=20.0, gap=0.0)
    return base.replace(**kw) if kw else base


def brute_force(cost, need, cap, pen):
    """Exhaustive minimum over every assignment (site or unassigned) of every firm."""
    n, m = cost.shape
    best, best_a = np.inf, None
    for a in itertools.product(range(-1, m), repeat=n):
        a = np.array(a)
        used = np.bincount(a[a >= 0], weights=need[a >= 0], minlength=m)
        if (used > cap + 1e-9).any():
            continue
        val = sum(cost[i, a[i]] if a[i] >= 0 else pen[i] for i in range(n))
        if val < best - 1e-9:
            best, best_a = val, a
    return best, best_a


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("solver", ["scip", "cp_sat"])
def test_known_optimum_matches_brute_force(seed, solver):
    rng = np.random.default_rng(seed)
    n, m = 6, 3
    cost = rng.uniform(1, 100, (n, m)).round(1)
    need = rng.integers(1, 6, n).astype(float) * 1000
    cap = np.array([6000.0, 5000.0, 4000.0])
    p = params(unassigned_penalty_m=150.0, demand_weight="firm", solver=solver)
    prob = siting.RelocationProblem.from_cost_matrix(cost, need, cap, params=p).solve()
    best, _ = brute_force(cost, need, cap, np.full(n, 150.0))
    assert prob.status == "OPTIMAL"
    assert prob.objective == pytest.approx(best, rel=1e-6)
    assert prob.gap == pytest.approx(0.0, abs=1e-6)
    used = prob.site_utilisation["used_land_m2"].to_numpy()
    assert (used <= cap + 1e-6).all()


def test_lp_fix_strategy_reports_valid_bound():
    rng = np.random.default_rng(7)
    n, m = 7, 3
    cost = rng.uniform(1, 100, (n, m))
    need = rng.integers(1, 4, n).astype(float)
    cap = np.array([5.0, 4.0, 3.0])
    pi, pj = np.nonzero(np.ones((n, m), bool))
    data = AssignmentData(n, m, pi, pj, cost[pi, pj], np.full(n, 200.0), need, cap, np.zeros(n), np.full(m, np.inf),
                          np.full(m, -1), 0.7, np.zeros(len(pi), bool), np.zeros(0))
    best, _ = brute_force(cost, need, cap, np.full(n, 200.0))
    res = solve_assignment(data, solver="scip", strategy="lp_fix", time_limit_s=10, gap=0.0)
    assert res.bound <= best + 1e-6 <= res.objective + 1e-6
    assert res.gap == pytest.approx((res.objective - res.bound) / res.objective)
    g = greedy_assignment(data)
    assert objective_of(data, g) >= best - 1e-6


# --- tiny geographic instance --------------------------------------------------------------
def firms_frame(rows):
    df = pd.DataFrame(rows)
    geom = [Point(x, y) if x is not None else None for x, y in zip(df.pop("x"), df.pop("y"))]
    df["need_land_m2"] = df["need_mu"] * MU
    df["need_floor_m2"] = df["need_land_m2"] * 1.0
    df["need_land_mu"] = df.pop("need_mu")
    df["credit_code"] = [f"F{i}" for i in range(len(df))]
    if "township_code" not in df.columns:
        df["township_code"] = "T1"
    return gpd.GeoDataFrame(df, geometry=geom, crs=CRS)


def sites_frame(rows):
    df = pd.DataFrame(rows)
    geom = [box(x - 50, y - 50, x + 50, y + 50) for x, y in zip(df.pop("x"), df.pop("y"))]
    df["capacity_land_m2"] = df.pop("cap_mu") * MU
    df["capacity_land_mu"] = df["capacity_land_m2"] / MU
    df["capacity_floor_m2"] = df["capacity_land_m2"] * 2.0
    for c, v in (("allows_polluting", False), ("share_rule", False), ("n_existing", 0), ("n_existing_leading", 0),
                 ("township_code", "T1"), ("existing_mix", ""), ("site_kind", "industrial_park")):
        if c not in df.columns:
            df[c] = v
    df["name"] = df["site_id"]
    return gpd.GeoDataFrame(df, geometry=geom, crs=CRS)


def test_capacity_binding_sends_second_firm_farther():
    firms = firms_frame([
        {"x": 0, "y": 0, "need_mu": 10, "industry_code": "3411", "polluting": False},
        {"x": 100, "y": 0, "need_mu": 10, "industry_code": "3412", "polluting": False},
    ])
    sites = sites_frame([
        {"site_id": "NEAR", "x": 1000, "y": 0, "cap_mu": 15, "leading_industries": "34"},
        {"site_id": "FAR", "x": 5000, "y": 0, "cap_mu": 50, "leading_industries": "34"},
    ])
    prob = siting.RelocationProblem.from_geodataframe(firms, sites, params=params()).solve()
    a = prob.assignments.set_index("firm_id")["site_id"]
    # both prefer NEAR; only one fits. Moving F1 (100 m closer to NEAR) costs less overall?
    # cost = 10 亩 × distance: F0→NEAR 1000, F1→NEAR 900, F0→FAR 5000, F1→FAR 4900;
    # F0 NEAR + F1 FAR = 5900 = F1 NEAR + F0 FAR → tie broken by the solver; both use one each.
    assert sorted(a.tolist()) == ["FAR", "NEAR"]
    assert prob.objective == pytest.approx(10 * 5900, rel=1e-6)
    util = prob.site_utilisation.set_index("site_id")
    assert util.loc["NEAR", "used_land_mu"] == pytest.approx(10)
    assert util.loc["NEAR", "land_utilisation"] == pytest.approx(10 / 15)
    assert isinstance(prob.lines, gpd.GeoDataFrame) and len(prob.lines) == 2
    assert prob.lines.geom_type.eq("LineString").all() and prob.lines.crs == firms.crs
    assert prob.assignments.index.equals(firms.index)
    assert prob.assignments["objective_share"].sum() == pytest.approx(1.0)


def test_leading_share_rule_binds():
    # Micro-park: 7 existing firms, 7 leading (100 %). Three non-leading firms and one leading
    # firm nearby. After: lead ≥ 70 % of all → (7 + L) ≥ 0.7 (7 + L + N) → with L = 1, N ≤ 3.43… → 3;
    # with 4 non-leading, only 3 may enter.
    rows = [{"x": 0, "y": i * 10, "need_mu": 1, "industry_code": "1311", "polluting": False} for i in range(4)]
    rows.append({"x": 0, "y": 100, "need_mu": 1, "industry_code": "3411", "polluting": False})
    firms = firms_frame(rows)
    sites = sites_frame([{"site_id": "MP", "x": 500, "y": 0, "cap_mu": 100, "leading_industries": "34",
                          "share_rule": True, "n_existing": 7, "n_existing_leading": 7, "site_kind": "micro_park"}])
    prob = siting.RelocationProblem.from_geodataframe(firms, sites, params=params()).solve()
    asg = prob.assignments
    non_lead_in = ((asg["industry_code"].str[:2] == "13") & (asg["status"] == "assigned")).sum()
    assert non_lead_in == 3
    assert asg.loc[asg["industry_code"] == "3411", "status"].iloc[0] == "assigned"
    u = prob.site_utilisation.iloc[0]
    assert u["leading_share_after"] == pytest.approx(8 / 11)
    assert u["leading_share_after"] >= 0.7
    out = prob.unassigned
    assert len(out) == 1 and "leading_share" in out["reason_code"].iloc[0]
    assert "70%" in out["reason"].iloc[0]
    assert out["reason_zh"].iloc[0].endswith("各园区:MP:再入驻非主导产业企业将使主导产业占比低于 70%")
    placed = asg.loc[asg["status"] == "assigned", "reason_zh"]
    assert placed.str.startswith("地块 MP,距离 ").all() and placed.str.contains("公里").all()


def test_buffer_excludes_site_for_polluting_firm_only():
    firms = firms_frame([
        {"x": 0, "y": 0, "need_mu": 5, "industry_code": "3360", "polluting": True},
        {"x": 0, "y": 10, "need_mu": 5, "industry_code": "3360", "polluting": False},
    ])
    sites = sites_frame([
        {"site_id": "CLOSE", "x": 1000, "y": 0, "cap_mu": 50, "leading_industries": "", "allows_polluting": True},
        {"site_id": "SAFE", "x": 8000, "y": 0, "cap_mu": 50, "leading_industries": "", "allows_polluting": True},
    ])
    constraints = gpd.GeoDataFrame({"constraint_id": ["R1"], "kind": ["residential"], "name": ["village"]},
                                   geometry=[box(1100, -100, 1300, 100)], crs=CRS)
    p = params(buffer_residential_m=300.0)
    prob = siting.RelocationProblem.from_geodataframe(firms, sites, params=p, constraints=constraints).solve()
    a = prob.assignments.set_index("firm_id")["site_id"]
    assert a["F0"] == "SAFE" and a["F1"] == "CLOSE"
    ranked = siting.rank_sites_for_firm(firms.iloc[[0]], sites, p, constraints=constraints)
    close = ranked.set_index("site_id").loc["CLOSE"]
    assert not close["eligible"] and close["excluded_by"] == "residential_buffer"
    assert close["reason_zh"] == "距居住区缓冲距离内(污染企业)"
    assert close["reason"] == "site lies within the residential buffer (polluting firm)"   # English unchanged
    assert ranked.set_index("site_id").loc["SAFE", "reason_zh"] == "可用;同一镇街"
    # the site's vacant land ends 50 m from the residential area: a 40 m buffer lets it in again
    ranked2 = siting.rank_sites_for_firm(firms.iloc[[0]], sites, params(buffer_residential_m=40.0), constraints=constraints)
    assert ranked2.set_index("site_id").loc["CLOSE", "eligible"]


def test_infeasible_explains_binding_constraint():
    firms = firms_frame([
        {"x": 0, "y": 0, "need_mu": 5, "industry_code": "1711", "polluting": False},    # textiles: no park fits
        {"x": 0, "y": 0, "need_mu": 80, "industry_code": "3411", "polluting": False},   # too big for any site
        {"x": 0, "y": 0, "need_mu": 5, "industry_code": "3411", "polluting": False},    # fine
    ])
    sites = sites_frame([{"site_id": "A", "x": 1000, "y": 0, "cap_mu": 50, "leading_industries": "34"},
                         {"site_id": "B", "x": 90000, "y": 0, "cap_mu": 50, "leading_industries": "34"}])
    p = params(allow_unassigned=False, max_distance_m=20000.0)
    prob = siting.RelocationProblem.from_geodataframe(firms, sites, params=p)
    with pytest.raises(InfeasibleAllocationError, match=r"2 firm\(s\) can go nowhere") as exc:
        prob.solve()
    assert prob.status == "INFEASIBLE"
    reasons = prob.unassigned.set_index("firm_id")
    assert reasons.loc["F0", "reason_code"] == "industry"
    assert "leading industries" in reasons.loc["F0", "reason"]
    assert reasons.loc["F0", "reason_zh"] == ("无可用园区;放宽以下任一条件即可:行业不匹配(园区主导产业)。"
                                              "各园区:A、B:行业 1711 不属主导产业 34")
    assert reasons.loc["F1", "reason_code"] == "land_capacity"
    assert reasons.loc["F1", "reason_zh"] == ("无可用园区;放宽以下任一条件即可:用地容量不足。"
                                              "各园区:A:小于需求 80.0 亩(最大 50.0 亩)。"
                                              "B:小于需求 80.0 亩(最大 50.0 亩);超出最大距离 20 公里(最近 90.0 公里)")
    others = prob.assignments.set_index("firm_id").loc["F2"]
    assert others["status"] == "not_solved" and others["reason_zh"].startswith("未求解")
    assert "F2" not in reasons.index
    assert "F0" in str(exc.value) and "F1" in str(exc.value)
    # several rules at once: nothing opens when relaxing one alone
    p2 = params(max_distance_m=5000.0)
    far = firms_frame([{"x": 0, "y": 0, "need_mu": 5, "industry_code": "1711", "polluting": False}])
    prob2 = siting.RelocationProblem.from_geodataframe(far, sites.iloc[[1]], params=p2).solve()
    r = prob2.unassigned.iloc[0]
    assert r["reason_code"] == "industry+distance" and "several rules" in r["reason"]
    assert r["reason_zh"].startswith("无可用园区;多项条件共同排除:行业不匹配(园区主导产业)(1 个地块);"
                                     "超出最大搬迁距离(1 个地块)。各园区:B:行业 1711 不属主导产业 34")


def test_total_capacity_short_is_reported_before_solving():
    firms = firms_frame([{"x": 0, "y": i, "need_mu": 30, "industry_code": "3411", "polluting": False} for i in range(2)])
    sites = sites_frame([{"site_id": "A", "x": 100, "y": 0, "cap_mu": 40, "leading_industries": "34"}])
    prob = siting.RelocationProblem.from_geodataframe(firms, sites, params=params(allow_unassigned=False))
    with pytest.raises(InfeasibleAllocationError, match=r"need 60\.0 亩 in total but all sites together hold 40\.0 亩"):
        prob.solve()
    ok = siting.RelocationProblem.from_geodataframe(firms, sites, params=params()).solve()
    assert (ok.assignments["status"] == "assigned").sum() == 1
    assert ok.unassigned["reason_code"].iloc[0] == "land_full"
    assert ok.unassigned["reason_zh"].iloc[0] == ("未安置:1 处可用地块均已被占用或入驻将违反规则。"
                                                  "各园区:A:已满:剩余用地小于需求 30.0 亩(最多剩 10.0 亩)")


def test_bad_input_is_reported_not_solved():
    firms = firms_frame([
        {"x": None, "y": None, "need_mu": 5, "industry_code": "3411", "polluting": False},
        {"x": 0, "y": 0, "need_mu": 0, "industry_code": "3411", "polluting": False},
        {"x": 0, "y": 0, "need_mu": 5, "industry_code": "3411", "polluting": False},
    ])
    firms["input_problem"] = siting._demand_problems(firms)
    sites = sites_frame([{"site_id": "NEG", "x": 100, "y": 0, "cap_mu": -5, "leading_industries": "34"},
                         {"site_id": "OK", "x": 300, "y": 0, "cap_mu": 50, "leading_industries": "34"}])
    prob = siting.RelocationProblem.from_geodataframe(firms, sites, params=params()).solve()
    a = prob.assignments.set_index("firm_id")
    assert a.loc["F0", "status"] == "not_solved" and "no location" in a.loc["F0", "reason"]
    assert a.loc["F1", "status"] == "not_solved" and "land need" in a.loc["F1", "reason"]
    assert a.loc["F2", "site_id"] == "OK"
    assert a.loc["F0", "reason_zh"] == "无位置(点位缺失或为空)" and a.loc["F1", "reason_zh"] == "用地需求为零或未知"
    assert prob.problems.set_index("id").loc["NEG", "problem_zh"].startswith("容量为负或缺失")
    assert set(prob.problems["id"]) >= {"F0", "F1", "NEG"}
    assert not prob.site_utilisation.set_index("site_id").loc["NEG", "valid"]
    assert "not solved" in prob.message


def test_empty_demand_and_supply():
    sites = sites_frame([{"site_id": "A", "x": 100, "y": 0, "cap_mu": 40, "leading_industries": "34"}])
    firms = firms_frame([{"x": 0, "y": 0, "need_mu": 5, "industry_code": "3411", "polluting": False}])
    empty = siting.RelocationProblem.from_geodataframe(firms.iloc[:0], sites, params=params()).solve()
    assert empty.status == "NO_DEMAND" and "demand is empty" in empty.message
    nosup = siting.RelocationProblem.from_geodataframe(firms, sites.iloc[:0], params=params()).solve()
    assert nosup.status == "NO_SUPPLY" and nosup.assignments["status"].eq("unassigned").all()
    assert nosup.unassigned["reason_code"].iloc[0] == "no_sites"
    with pytest.raises(InfeasibleAllocationError, match="No candidate sites"):
        siting.RelocationProblem.from_geodataframe(firms, sites.iloc[:0], params=params(allow_unassigned=False)).solve()


def test_rank_sites_for_firm_20_mu_machinery():
    sites = sites_frame([
        {"site_id": "MACH", "x": 3000, "y": 0, "cap_mu": 30, "leading_industries": "34,35"},
        {"site_id": "SMALL", "x": 500, "y": 0, "cap_mu": 10, "leading_industries": "34"},
        {"site_id": "CAR", "x": 800, "y": 0, "cap_mu": 90, "leading_industries": "36"},
        {"site_id": "OPEN", "x": 6000, "y": 0, "cap_mu": 90, "leading_industries": ""},
        {"site_id": "MP", "x": 700, "y": 0, "cap_mu": 90, "leading_industries": "13", "share_rule": True,
         "n_existing": 10, "n_existing_leading": 7, "site_kind": "micro_park"},
    ])
    firm = gpd.GeoDataFrame({"industry_code": ["3441"], "township_code": ["T1"]}, geometry=[Point(0, 0)], crs=CRS)
    ranked = siting.rank_sites_for_firm(firm, sites, params(), need_mu=20)
    assert list(ranked["site_id"][ranked["eligible"]]) == ["MACH", "OPEN"]
    assert list(ranked["rank"].dropna()) == [1, 2]
    r = ranked.set_index("site_id")
    assert r.loc["SMALL", "excluded_by"].startswith("land_capacity") and "10.0 亩 < 20.0 亩" in r.loc["SMALL", "reason"]
    assert r.loc["CAR", "excluded_by"] == "industry"
    assert r.loc["MP", "excluded_by"] == "leading_share"   # 7/11 < 70 %
    assert r.loc["SMALL", "reason_zh"] == "用地容量不足(10.0 亩 < 20.0 亩);建筑面积容量不足"
    assert r.loc["CAR", "reason_zh"] == "行业不匹配(园区主导产业)"
    assert r.loc["MP", "reason_zh"] == "小微园主导产业占比将低于70%"
    zh = siting.rank_sites_for_firm(firm, sites, params(), need_mu=20, lang="zh").set_index("site_id")
    assert (zh["reason"] == zh["reason_zh"]).all()
    assert r.loc["MACH", "distance_m"] == pytest.approx(3000)
    with pytest.raises(ParameterError, match="need_mu"):
        siting.rank_sites_for_firm(firm, sites, params(), need_mu=0)


def test_k_nearest_restriction_is_reported():
    firms = firms_frame([{"x": i * 10, "y": 0, "need_mu": 1, "industry_code": "3411", "polluting": False} for i in range(5)])
    sites = sites_frame([{"site_id": f"S{j}", "x": 1000 * (j + 1), "y": 0, "cap_mu": 2, "leading_industries": "34"}
                         for j in range(4)])
    full = siting.RelocationProblem.from_geodataframe(firms, sites, params=params()).solve()
    k1 = siting.RelocationProblem.from_geodataframe(firms, sites, params=params(k_nearest=1)).solve()
    assert k1.restricted and not full.restricted
    assert k1.n_pairs == 5 and full.n_pairs == 20
    assert k1.objective >= full.objective - 1e-6
    assert "restricted" in k1.message
    assert "nearest eligible sites were considered" in k1.unassigned["reason"].iloc[0]
    assert k1.unassigned["reason_zh"].iloc[0].endswith("S1、S2、S3:不在最近的 1 个可用地块内(仅考虑了最近的 1 个可用地块)")


def test_params_validation_collects_every_problem():
    with pytest.raises(ParameterError, match=r"3 problem\(s\)") as exc:
        siting.siting_params_from_dict({"siting": {"rule": "nope", "leading_share": 1.5, "bogus": 1}})
    assert "rule" in str(exc.value) and "leading_share" in str(exc.value) and "bogus" in str(exc.value)
    with pytest.raises(ParameterError, match="Unknown siting preset"):
        siting.load_siting_params("nope")


def test_select_demand_rules(sample_ws):
    ents = sample_ws.read("enterprises")
    plots = sample_ws.read("plots")
    p = siting.load_siting_params()
    d = siting.select_demand(ents, p, plots=plots)
    assert len(d) > 0 and d["polluting"].all()
    assert np.allclose(d["need_land_m2"], d["land_m2"] * 0.8)
    with pytest.raises(ParameterError, match="needs each firm's evaluation class"):
        siting.select_demand(ents, p, rule="d_class", plots=plots)
    code = ents["credit_code"].iloc[0]
    one = siting.select_demand(ents, p, rule="list", firms=[code], plots=plots)
    assert list(one["credit_code"]) == [code]
    with pytest.raises(ParameterError, match="not in the enterprises layer"):
        siting.select_demand(ents, p, rule="list", firms=["XX"], plots=plots)


@pytest.mark.slow
def test_sample_end_to_end_cli(sample_copy, capsys):
    """The CLI on a copy of the sample, once as a GeoPackage and once in PostGIS."""
    import cli
    from layers.store import open_workspace

    ws_path = sample_copy.location
    assert cli.main(["site", "--workspace", ws_path, "--rule", "midwest", "--run-id", "t1",
                     "--time-limit", "30"]) == 0
    out = capsys.readouterr().out
    assert "firms placed" in out and "greedy baseline" in out
    ws = open_workspace(ws_path)
    asg = ws.read("siting_t1_assignments")
    sites = ws.read("siting_t1_sites")
    lines = ws.read("siting_t1_lines")
    assert len(asg) > 0 and set(asg["status"]) <= {"assigned", "unassigned", "not_solved"}
    assert (asg["status"] == "assigned").sum() == len(lines)
    assert (sites["used_land_m2"] <= sites["capacity_land_m2"] + 1e-6).all()
    share = sites.loc[sites["share_rule"].astype(bool) & (sites["firms_assigned"] > 0)]
    ok_before = share["leading_share_before"] >= 0.7
    assert (share.loc[ok_before, "leading_share_after"] >= 0.7 - 1e-9).all()
    assert asg.loc[asg["status"] == "unassigned", "reason"].notna().all()
    runs = ws.read_table("runs")
    assert "siting_t1" in set(runs["run_id"])
    assert cli.main(["site", "--workspace", ws_path, "--rule", "midwest", "--run-id", "t1"]) == 2
    assert "already exists" in capsys.readouterr().err


@pytest.mark.parametrize("solver", ["scip", "cp_sat"])
@pytest.mark.parametrize("strategy", ["direct", "lp_fix", "lagrange"])
def test_share_group_spans_several_sites(solver, strategy):
    """Two sites of one park form one share group: the ≥ 70 % rule holds over the park, not per site."""
    rng = np.random.default_rng(3)
    n, m = 6, 3
    cost = rng.uniform(1, 100, (n, m)).round(1)
    need = np.full(n, 1.0)
    cap = np.array([3.0, 3.0, 2.0])
    lead = np.array([True, True, False, False, True, False])  # firm i is of the park's leading industry
    group = np.array([0, 0, -1])                               # sites 0 and 1 are one park
    pi, pj = np.nonzero(np.ones((n, m), bool))
    pen = np.full(n, 150.0)
    # the park already has 7 leading firms of 10: 7 - 0.7 * 10 = 0 → incoming must keep ≥ 70 %
    data = AssignmentData(n, m, pi, pj, cost[pi, pj], pen, need, cap, np.zeros(n), np.full(m, np.inf),
                          group, 0.7, lead[pi] & (group[pj] == 0), np.zeros(1))
    best = np.inf
    for a in itertools.product(range(-1, m), repeat=n):
        a = np.array(a)
        if (np.bincount(a[a >= 0], minlength=m) > cap).any():
            continue
        in_park = (a == 0) | (a == 1)
        if (lead[in_park].sum() - 0.7 * in_park.sum()) < -1e-9:
            continue
        best = min(best, sum(cost[i, a[i]] if a[i] >= 0 else pen[i] for i in range(n)))
    res = solve_assignment(data, solver=solver, strategy=strategy, time_limit_s=10, gap=0.0)
    in_park = (res.assign == 0) | (res.assign == 1)
    assert lead[in_park].sum() >= 0.7 * in_park.sum() - 1e-9
    assert res.objective == pytest.approx(best, rel=1e-6)
    g = greedy_assignment(data)
    in_park = (g == 0) | (g == 1)
    assert lead[in_park].sum() >= 0.7 * in_park.sum() - 1e-9


# --- solver core: the Lagrangian strategy ------------------------------------------------------
def check_feasible(data, assign):
    """Independent check of eligibility, land and floor capacity and every share group."""
    chosen = (assign[data.pi] == data.pj) & (assign[data.pi] >= 0)
    assert chosen.sum() == (assign >= 0).sum(), "placed at a site that is not eligible"
    placed = assign >= 0
    for need, cap in ((data.need_land, data.cap_land), (data.need_floor, data.cap_floor)):
        assert (np.bincount(assign[placed], weights=need[placed], minlength=data.m) <= cap + 1e-6).all()
    g = data.pair_group()
    sel = chosen & (g >= 0)
    share = np.bincount(g[sel], weights=data.share_delta()[sel], minlength=data.n_groups)
    assert (share >= data.share_rhs - 1e-6).all(), "a share group below its rule"


def model_brute_force(data):
    """Exhaustive optimum of a tiny model (every firm: each eligible site or unassigned)."""
    options = [[-1] + sorted(data.pj[data.pi == i].tolist()) for i in range(data.n)]
    grid = np.array(list(itertools.product(*options)))                      # (combinations, n)
    placed = grid >= 0
    site = np.where(placed, grid, data.m)
    ok = np.ones(len(grid), bool)
    for need, cap in ((data.need_land, data.cap_land), (data.need_floor, data.cap_floor)):
        use = np.zeros((len(grid), data.m + 1))
        np.add.at(use, (np.repeat(np.arange(len(grid)), data.n), site.ravel()), np.tile(need, len(grid)))
        ok &= (use[:, :data.m] <= cap[None, :] + 1e-9).all(axis=1)
    lookup = {(i, j): p for p, (i, j) in enumerate(zip(data.pi.tolist(), data.pj.tolist()))}
    pair = np.array([[lookup.get((i, j), -1) for i, j in enumerate(row)] for row in grid])
    cost = np.where(placed, data.cost[np.maximum(pair, 0)], data.penalty[None, :]).sum(axis=1)
    if data.n_groups:
        g = np.where(placed, data.share_group[np.maximum(grid, 0)], -1)
        delta = np.where(placed & (g >= 0), data.share_delta()[np.maximum(pair, 0)], 0)
        for k in range(data.n_groups):
            ok &= np.where(g == k, delta, 0).sum(axis=1) >= data.share_rhs[k]
    best = int(np.argmin(np.where(ok, cost, np.inf)))
    return float(cost[best]), grid[best]


def tiny_model(seed, n=7, m=3):
    """Random tiny model: sparse eligibility, floor rows that bind, sites 0 and 1 one share group."""
    rng = np.random.default_rng(seed)
    elig = rng.random((n, m)) < 0.8
    pi, pj = np.nonzero(elig)
    need = rng.integers(1, 5, n).astype(float)
    floor_need = need * rng.integers(1, 3, n)
    lead = rng.random(n) < 0.6
    group = np.array([0, 0, -1])[:m]
    return AssignmentData(n, m, pi, pj, rng.uniform(1, 100, len(pi)).round(1), np.full(n, 120.0), need,
                          np.array([5.0, 4.0, 4.0])[:m], floor_need, np.array([8.0, 9.0, 6.0])[:m], group, 0.7,
                          lead[pi] & (group[pj] == 0), np.array([-300.0]))


@pytest.mark.parametrize("seed", range(6))
def test_lagrange_brackets_brute_force(seed):
    """Bound ≤ exhaustive optimum ≤ objective, the optimum found, every row respected."""
    data = tiny_model(seed)
    best, _ = model_brute_force(data)
    res = solve_assignment(data, solver="scip", strategy="lagrange", time_limit_s=5, gap=0.0, workers=1)
    assert res.solver == "lagrange+scip"
    check_feasible(data, res.assign)
    assert res.bound <= best + 1e-6
    assert res.objective == pytest.approx(best, rel=1e-9)
    assert res.gap == pytest.approx((res.objective - res.bound) / res.objective)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("site_time_s", [0.1, 0.0])
def test_site_knapsacks_never_exceed_the_site_minimum(seed, site_time_s):
    """Each K_j is a lower bound of the site's two-row knapsack; exact when the solver has time
    (0 s forces the capacity-grid fallback, which must stay a bound)."""
    from analysis._assign_lagrange import SiteKnapsacks

    rng = np.random.default_rng(seed)
    n, m = 12, 2
    pi, pj = np.nonzero(np.ones((n, m), bool))
    # needs in m² (whole-m² rounding inside the exact solver is then far below the tolerance)
    data = AssignmentData(n, m, pi, pj, np.zeros(len(pi)), np.zeros(n), rng.uniform(1, 9, n) * 1000,
                          np.array([20.0, 15.0]) * 1000, rng.uniform(1, 9, n) * 1000, np.array([25.0, 12.0]) * 1000,
                          np.full(m, -1), 0.7, np.zeros(len(pi), bool), np.zeros(0))
    rc = rng.uniform(-10, 3, len(pi))
    value, chosen = SiteKnapsacks(data).solve(rc, site_time_s=site_time_s)
    for j in range(m):
        ps = np.flatnonzero(pj == j)
        best = min(sum(rc[ps[list(c)]]) for r in range(n + 1) for c in itertools.combinations(range(n), r)
                   if data.need_land[pi[ps[list(c)]]].sum() <= data.cap_land[j]
                   and data.need_floor[pi[ps[list(c)]]].sum() <= data.cap_floor[j])
        assert value[j] <= best + 1e-9
        if site_time_s > 0:
            assert value[j] == pytest.approx(best, abs=1e-5)
            assert rc[chosen & (pj == j)].sum() == pytest.approx(best, abs=1e-5)


def test_lagrangian_bound_at_any_multipliers_is_below_the_optimum():
    from analysis._assign_lagrange import LagrangianBound

    data = tiny_model(11)
    best, _ = model_brute_force(data)
    bound = LagrangianBound(data)
    rng = np.random.default_rng(0)
    for _ in range(20):
        value, _ = bound.evaluate(rng.uniform(-50, 200, data.n), rng.uniform(0, 80, data.n_groups))
        assert value <= best + 1e-6


def test_knapsack_bound_closes_the_lp_gap():
    """Two firms of 6 m² compete for one 10 m² site (cost 1 each) or stay out (penalty 10).
    The LP takes 1 + 4/6 firms (5.0); the site knapsack takes one whole firm: bound 11 = optimum."""
    from analysis._assign_lagrange import lp_relaxation

    data = AssignmentData(2, 1, np.array([0, 1]), np.array([0, 0]), np.array([1.0, 1.0]), np.array([10.0, 10.0]),
                          np.array([6.0, 6.0]), np.array([10.0]), np.zeros(2), np.array([np.inf]), np.array([-1]),
                          0.7, np.zeros(2, bool), np.zeros(0))
    lp_value, *_ = lp_relaxation(data)
    assert lp_value == pytest.approx(5.0)
    res = solve_assignment(data, solver="scip", strategy="lagrange", time_limit_s=5, gap=0.0, workers=1)
    assert res.objective == pytest.approx(11.0)
    assert res.bound == pytest.approx(11.0)
    assert res.status == "OPTIMAL"
    assert sorted(res.assign.tolist()) == [-1, 0]


def test_lagrange_with_the_bound_in_a_second_process():
    """workers = 2: the multipliers are improved in a child process; its bound comes back."""
    from analysis._assign_lagrange import lp_relaxation

    rng = np.random.default_rng(5)
    n, m = 80, 12
    elig = rng.random((n, m)) < 0.5
    pi, pj = np.nonzero(elig)
    need = rng.uniform(1, 6, n)
    group = np.where(np.arange(m) < 3, 0, -1)
    lead = rng.random(n) < 0.7
    data = AssignmentData(n, m, pi, pj, rng.uniform(1, 100, len(pi)), np.full(n, 150.0), need,
                          np.full(m, need.sum() * 1.1 / m), need * 1.5, np.full(m, need.sum() * 1.5 * 1.2 / m), group,
                          0.7, lead[pi] & (group[pj] == 0), np.array([-500.0]))
    lp_value, *_ = lp_relaxation(data)
    res = solve_assignment(data, solver="scip", strategy="lagrange", time_limit_s=6, gap=0.0, workers=2)
    check_feasible(data, res.assign)
    assert lp_value - 1e-6 * abs(lp_value) <= res.bound <= res.objective + 1e-9
    assert res.objective <= objective_of(data, greedy_assignment(data)) + 1e-9


def test_auto_strategy_is_lagrange_for_larger_models():
    rng = np.random.default_rng(2)
    n, m = 120, 30
    cost = rng.uniform(1, 100, (n, m))
    need = rng.integers(1, 5, n).astype(float) * 1000
    cap = np.full(m, need.sum() * 1.15 / m)
    prob = siting.RelocationProblem.from_cost_matrix(cost, need, cap, params=params(time_limit_s=3.0, gap=0.01))
    prob.solve()
    assert siting.SitingParams().strategy == "auto"
    assert prob.solver == "lagrange+scip"
    assert prob.bound <= prob.objective


def test_sub_model_nets_out_the_share_group_outside_the_neighbourhood():
    """Sites 0 and 1 are one park; re-solving site 0 alone must count the firms kept at site 1."""
    from analysis._assign_search import Moves, sub_model

    n, m = 4, 3
    pi, pj = np.nonzero(np.ones((n, m), bool))
    lead = np.array([True, False, False, True])
    group = np.array([0, 0, -1])
    data = AssignmentData(n, m, pi, pj, np.ones(len(pi)), np.full(n, 50.0), np.ones(n), np.full(m, 5.0), np.ones(n),
                          np.full(m, np.inf), group, 0.7, lead[pi] & (group[pj] == 0), np.array([-400.0]))
    assign = np.array([1, 1, 2, 0])        # site 1: one leading, one not; site 0: one leading
    sub, firms = sub_model(Moves(data), assign, np.array([0]))
    assert firms.tolist() == [3]
    # kept at site 1: +300 (leading) − 700 (not) = −400 thousandths; rhs −400 − (−400) = 0
    assert sub.share_rhs.tolist() == [0.0]
    assert sub.share_group.tolist() == [0]
    assert sub.m == 1 and sub.n == 1 and sub.cost.tolist() == [1.0]


@pytest.mark.parametrize("seed", [0, 3])
def test_lagrange_places_every_firm_when_it_must(seed):
    """allow_unassigned = False: the search may pass through incomplete solutions, the result may not."""
    import dataclasses

    data = dataclasses.replace(tiny_model(seed), cap_land=np.array([9.0, 8.0, 8.0]), cap_floor=np.full(3, np.inf),
                               allow_unassigned=False)
    best, _ = model_brute_force(dataclasses.replace(data, penalty=np.full(data.n, 1e6)))
    res = solve_assignment(data, solver="scip", strategy="lagrange", time_limit_s=5, gap=0.0, workers=1)
    check_feasible(data, res.assign)
    assert (res.assign >= 0).all()
    assert res.objective == pytest.approx(best, rel=1e-9)
    assert res.bound <= best + 1e-6
