"""Siting on land (issue 11): sites are vacant plots / contiguous clusters inside parks, buffers take
only the land they reach, the 70 % rule holds over a whole micro-park with the policy for parks
below it, and every unplaced firm's reason names each park and why — hand-checkable frames, then
the sample's 飞云新区 case."""
from __future__ import annotations

import shutil

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point, box

from analysis import siting
from geo.units import M2_PER_MU
from tests.analysis_frames import CRS, X0, Y0, firm, firms, parks, plot, plots

MU = M2_PER_MU


def params(**kw):
    base = siting.load_siting_params().replace(same_township_discount=0.0, time_limit_s=20.0, gap=0.0)
    return base.replace(**kw) if kw else base


def industrial_park(pid="IP1", name="一号园", x0=0, x1=1000, allows=True, lead="34"):
    pk = parks([(pid, "industrial_park", allows, x0, 0, x1, 500)])
    pk["name"], pk["kind"], pk["leading_industries"], pk["township_code"] = name, "工业集聚区", lead, "330381001"
    return pk


def vacant(pid, x, y=0, w=100.0, **kw):
    return plot(pid, x, y, w=w, status="idle", land_holder=None, **kw)


def housing(x0, x1):
    return gpd.GeoDataFrame({"constraint_id": ["R1"], "kind": ["residential"], "name": ["村"]},
                            geometry=[box(X0 + x0, Y0 - 100, X0 + x1, Y0 + 200)], crs=CRS)


def demand(rows):
    """Firms to place: (x, need 亩, industry code, polluting)."""
    df = pd.DataFrame(rows, columns=["x", "need_mu", "industry_code", "polluting"])
    geom = [Point(X0 + x, Y0 + 50) for x in df.pop("x")]
    df["need_land_m2"] = df["need_mu"] * MU
    df["need_floor_m2"] = df["need_land_m2"]
    df["need_land_mu"] = df.pop("need_mu")
    df["credit_code"] = [f"F{i}" for i in range(len(df))]
    df["township_code"] = "330381001"
    return gpd.GeoDataFrame(df, geometry=geom, crs=CRS)


# --- sites are land ----------------------------------------------------------------------------------
def land_case():
    pl = plots([vacant("V1", 0), vacant("V2", 110),          # 10 m apart: one cluster of 30 亩
                vacant("V3", 600), vacant("V4", 710),        # contiguous, but V4 is 290 m from housing
                plot("U1", 300, 0)])                          # in use: not supply
    return pl, industrial_park(), housing(1100, 1300)


def test_vacant_clusters_split_along_the_buffer():
    pl, pk, resid = land_case()
    sites = siting.supply_from_layers(params(), industrial_parks=pk, plots=pl, constraints=resid).set_index("site_id")
    assert list(sites.index) == ["IP1-01", "IP1-02", "IP1-03"]
    assert sites.loc["IP1-01", "plot_ids"] == "V1, V2" and sites.loc["IP1-01", "capacity_land_mu"] == pytest.approx(30)
    assert sites.loc["IP1-02", "plot_ids"] == "V3" and sites.loc["IP1-03", "plot_ids"] == "V4"
    assert sites.loc["IP1-01", "name"] == "一号园 IP1-01" and (sites["park_name"] == "一号园").all()
    assert sites.loc["IP1-01", "capacity_floor_m2"] == pytest.approx(30 * MU * 2.0)   # site FAR 2
    assert sites.geometry.loc["IP1-01"].area == pytest.approx(20_000)                # the land itself
    # without the buffers, V3 and V4 are one contiguous site; one site per plot on request
    assert len(siting.supply_from_layers(params(), industrial_parks=pk, plots=pl)) == 2
    assert len(siting.supply_from_layers(params(site_unit="plot"), industrial_parks=pk, plots=pl)) == 4


def test_buffer_removes_only_the_plots_it_reaches():
    pl, pk, resid = land_case()
    p = params()
    sites = siting.supply_from_layers(p, industrial_parks=pk, plots=pl, constraints=resid)
    firms_ = demand([(900, 12, "3360", True), (900, 12, "3443", False)])   # both nearest to V4
    prob = siting.RelocationProblem.from_geodataframe(firms_, sites, params=p, constraints=resid).solve()
    a = prob.assignments.set_index("firm_id")
    assert a.loc["F0", "site_id"] == "IP1-02"          # the polluting firm: V3, outside the buffer, same park
    assert a.loc["F1", "site_id"] == "IP1-03"          # the other firm may use V4
    assert a.loc["F0", "park_name"] == "一号园" and a.loc["F0", "site_name"] == "一号园 IP1-02"
    assert a.loc["F0", "reason_zh"].startswith("地块 一号园 IP1-02,距离 ")
    # the line ends on the site's own land
    line = prob.lines.set_index("firm_id").geometry.loc["F0"]
    assert shapely.within(shapely.get_point(line, 1), sites.set_index("site_id").geometry.loc["IP1-02"])
    # the old rule (one site per park, excluded whole when any of its land is near housing) would place neither
    whole = sites.dissolve(by="park_id").reset_index().assign(site_id="IP1", capacity_land_m2=sites["capacity_land_m2"].sum(),
                                                               capacity_floor_m2=sites["capacity_floor_m2"].sum())
    old = siting.RelocationProblem.from_geodataframe(firms_.iloc[[0]], whole, params=p, constraints=resid).solve()
    assert old.assignments["status"].iloc[0] == "unassigned"


def test_unplaced_reason_names_every_park_and_why():
    pl, pk, resid = land_case()
    other = industrial_park("IP2", "二号园", 2000, 2600, allows=False, lead="36")
    pl = pd.concat([pl, plots([vacant("W1", 2100)])], ignore_index=True)
    both = pd.concat([pk, other], ignore_index=True)
    p = params()
    sites = siting.supply_from_layers(p, industrial_parks=both, plots=pl, constraints=resid)
    big = demand([(900, 40, "3360", True)])               # 40 亩: larger than any site of 一号园
    prob = siting.RelocationProblem.from_geodataframe(big, sites, params=p, constraints=resid).solve()
    r = prob.unassigned.iloc[0]
    assert r["reason_code"] == "land_capacity"
    assert r["reason"] == ("no eligible site; relaxing any one of these alone would open one: site's vacant land is "
                           "smaller than the firm's land need. By park — 一号园: all 3 sites smaller than the need of "
                           "40.0 亩 (largest 30.0 亩); 2 of 3 sites floor capacity below the need; 1 of 3 sites within "
                           "the residential buffer. 二号园: does not accept polluting industries")
    assert r["reason_zh"] == ("无可用园区;放宽以下任一条件即可:用地容量不足。各园区:一号园:全部 3 处地块小于需求 40.0 亩"
                              "(最大 30.0 亩);2/3 处地块建筑面积容量小于需求;1/3 处地块在居住区缓冲距离内。"
                              "二号园:不接纳污染行业")


# --- the 70 % rule over a whole micro-park --------------------------------------------------------------
def micro_case(n_lead: int):
    """A micro-park (leading 34) with 10 firms on in-use plots, n_lead of them leading, and two vacant sites."""
    pk = parks([("MP1", "micro_park", False, 0, 0, 2000, 500)])
    pk["name"], pk["status"], pk["leading_industry"] = "小微园", "operating", "34"
    used = [plot(f"U{i}", 150 * i, 300, park_id="MP1") for i in range(10)]
    pl = plots(used + [vacant("V1", 0), vacant("V2", 600)])
    codes = ["3443"] * n_lead + ["1311"] * (10 - n_lead)
    ents = firms([firm(f"E{i}", plot_id=f"U{i}", industry_code=c) for i, c in enumerate(codes)])
    return pk, pl, ents


def test_share_rule_holds_over_the_park_at_70_percent():
    pk, pl, ents = micro_case(7)                      # exactly 70 %: keep it there
    p = params()
    sites = siting.supply_from_layers(p, micro_parks=pk, plots=pl, enterprises=ents)
    assert len(sites) == 2 and sites["share_group"].tolist() == ["MP1", "MP1"]
    assert sites["n_existing"].tolist() == [10, 10] and sites["n_existing_leading"].tolist() == [7, 7]
    firms_ = demand([(10, 1, "1311", False), (620, 1, "1311", False), (30, 1, "3443", False)])
    prob = siting.RelocationProblem.from_geodataframe(firms_, sites, params=p).solve()
    a = prob.assignments.set_index("firm_id")
    # (7 + 1) / (10 + 1 + N) ≥ 0.7 allows N = 0: neither non-leading firm, at either site
    assert a.loc["F2", "status"] == "assigned" and (a.loc[["F0", "F1"], "status"] == "unassigned").all()
    assert a.loc["F0", "reason_zh"].endswith("小微园:再入驻非主导产业企业将使主导产业占比低于 70%")
    shares = prob.park_shares.set_index("park_id").loc["MP1"]
    assert shares["policy"] == "keep_minimum" and shares["firms_after"] == 11
    assert shares["leading_share_before"] == pytest.approx(0.7) and shares["status_before"] == "pass"
    assert shares["leading_share_after"] == pytest.approx(8 / 11) and shares["status_after"] == "pass"
    # by land: 7 × 10 亩 of 100 亩 before; the leading firm brings 1 亩
    assert shares["leading_land_share_before"] == pytest.approx(0.7)
    assert shares["leading_land_share_after"] == pytest.approx(71 / 101)


def test_park_below_70_percent_takes_only_leading_firms():
    pk, pl, ents = micro_case(6)                      # 60 %: the policy for parks below the minimum
    p = params()
    sites = siting.supply_from_layers(p, micro_parks=pk, plots=pl, enterprises=ents)
    firms_ = demand([(10, 1, "1311", False), (30, 1, "3443", False), (40, 1, "3411", False)])
    prob = siting.RelocationProblem.from_geodataframe(firms_, sites, params=p).solve()
    a = prob.assignments.set_index("firm_id")
    assert a.loc["F0", "status"] == "unassigned" and a.loc["F0", "reason_code"] == "park_below_share"
    assert a.loc["F0", "reason_zh"].endswith("小微园:主导产业占比 60.0% 低于 70%:达标前只接纳主导产业企业")
    assert (a.loc[["F1", "F2"], "status"] == "assigned").all()
    shares = prob.park_shares.set_index("park_id").loc["MP1"]
    assert shares["policy"] == "leading_only" and shares["status_before"] == "fail"
    assert shares["leading_share_after"] == pytest.approx(8 / 12) and shares["status_after"] == "fail"
    ranked = siting.rank_sites_for_firm(firms_.iloc[[0]], sites, p).set_index("site_id")
    assert (ranked["excluded_by"] == "park_below_share").all()
    assert siting.rank_sites_for_firm(firms_.iloc[[1]], sites, p)["eligible"].all()


def test_firms_leaving_count_out_of_the_base():
    pk, pl, ents = micro_case(7)
    p = params()
    leaving = ents.index[ents["industry_code"] == "1311"][:2]      # two non-leading firms relocate away
    sites = siting.supply_from_layers(p, micro_parks=pk, plots=pl, enterprises=ents, exclude_firms=leaving)
    assert sites["n_before"].iloc[0] == 10 and sites["n_existing"].iloc[0] == 8
    prob = siting.RelocationProblem.from_geodataframe(demand([(10, 1, "1311", False)]), sites, params=p).solve()
    shares = prob.park_shares.set_index("park_id").loc["MP1"]
    assert shares["firms_leaving"] == 2 and shares["firms_after"] == 9      # 10 − 2 + 1: (7 + 0) / 9 ≥ 70 %
    assert shares["leading_share_after"] == pytest.approx(7 / 9)


# --- the sample: 飞云新区 -------------------------------------------------------------------------------
@pytest.mark.slow
def test_sample_polluting_firms_use_feiyun_land_outside_the_buffers(sample_path, tmp_path, capsys):
    import cli
    from layers.store import open_workspace

    ws_path = tmp_path / "ruian.gpkg"
    shutil.copy(sample_path, ws_path)
    shutil.copytree(sample_path.parent / "ruian.gpkg.rasters", tmp_path / "ruian.gpkg.rasters")
    assert cli.main(["site", "--workspace", str(ws_path), "--rule", "polluting", "--run-id", "p",
                     "--time-limit", "20"]) == 0
    out = capsys.readouterr().out
    assert "micro-parks, leading-industry share ≥ 70%" in out and "by land" in out
    ws = open_workspace(ws_path)
    asg, sites = ws.read("siting_p_assignments"), ws.read("siting_p_sites")
    placed = asg["status"] == "assigned"
    # was 50 of 360 with one site per park; the greedy warm start alone places 164 (a loaded machine may
    # leave the solver no time to improve on it), the solver ~250 in 60 s on a quiet one
    assert placed.sum() > 150
    feiyun = sites[sites["park_id"] == "IP01"]
    used = feiyun[feiyun["firms_assigned"] > 0]
    assert used["used_land_mu"].sum() > 500                   # IP01's land outside the buffers is used
    resid = ws.read("constraints").query("kind == 'residential'")
    near = shapely.STRtree(resid.geometry.to_numpy()).query(used.geometry.to_numpy(), predicate="dwithin", distance=300)
    assert near.size == 0                                     # none of it within 300 m of housing
    buffered = feiyun[~feiyun.index.isin(feiyun.index[np.unique(shapely.STRtree(resid.geometry.to_numpy()).query(
        feiyun.geometry.to_numpy(), predicate="dwithin", distance=300)[1])])]
    assert len(buffered) < len(feiyun)
    # every unplaced firm's reason names every park, by name, in both languages
    un = asg[~placed]
    parks = ws.read("siting_p_parks")
    assert len(un) and un["reason"].str.contains("By park — ").all() and un["reason_zh"].str.contains("各园区:").all()
    for name in parks["name"]:
        assert un["reason_zh"].str.contains(name, regex=False).all(), name
        assert un["reason"].str.contains(name, regex=False).all(), name
    assert not un["reason_zh"].str.contains(r"\b(?:IP|IZ|MP)\d\d\b").any()
    assert un["reason_zh"].str.contains("瑞安经济开发区飞云新区:").all()
    micro = parks[parks["share_rule"].astype(bool)]
    assert set(micro["policy"]) <= {"keep_minimum", "leading_only", "new_park"}
    assert {"leading_land_share_before", "leading_land_share_after", "status_after", "land_status_after"} <= set(parks.columns)
