"""AppTest of the app: sign-in, pages by role, the map page on a tiny workspace and on the sample (both backends):
language, layers, filters, search, click, draw-select, add to the shortlist as the signed-in user."""
from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box
from streamlit.testing.v1 import AppTest

from layers.access import SYSTEM, Actor
from layers.store import create_workspace, open_workspace
from tests.apptest import app

PLANNER = Actor("zhanggong", "planner", display_name="张工")
ADMIN = Actor("admin1", "admin")


@pytest.fixture
def tiny_workspace(tmp_path) -> Path:
    """Two townships and six plots (EPSG:4549 near Ruian), one township named like an XSS probe."""
    path = tmp_path / "tiny.gpkg"
    ws = create_workspace(path, crs="EPSG:4549")
    x0, y0 = 560_000, 3_075_000
    townships = gpd.GeoDataFrame(
        {"code": ["330381001", "330381002"], "name": ["安阳街道", "<script>alert(1)</script>"], "kind": ["街道", "镇"]},
        geometry=[box(x0, y0, x0 + 3000, y0 + 3000), box(x0 + 3000, y0, x0 + 6000, y0 + 3000)], crs="EPSG:4549",
    )
    plots = gpd.GeoDataFrame(
        {"plot_id": [f"P{i:06d}" for i in range(1, 7)], "land_use": ["0601", "0604", "0601", "0601", "0604", "0601"],
         "status": ["in_use", "idle", "halted", "in_use", "under_construction", "in_use"],
         "area_m2": [250_000.0] * 6, "township_code": ["330381001"] * 3 + ["330381002"] * 3},
        geometry=[box(x0 + 200 + i * 900, y0 + 200, x0 + 700 + i * 900, y0 + 700) for i in range(6)], crs="EPSG:4549",
    )
    ws.write_many({"townships": townships, "plots": plots}, source="test", actor=SYSTEM)
    return path


def _run(monkeypatch, workspace, actor=PLANNER) -> AppTest:
    return app(monkeypatch, workspace, actor=actor)


def _captions(at: AppTest) -> str:
    return " | ".join(c.value for c in at.caption)


def test_app_runs_and_shows_the_layers_in_chinese(monkeypatch, tiny_workspace):
    at = _run(monkeypatch, tiny_workspace)
    assert at.sidebar.radio(key="lang").value == "zh"
    assert [c.label for c in at.sidebar.checkbox] == ["镇街", "地块"]
    assert "镇街 2 · 地块 6" in _captions(at)
    assert "工作空间: tiny.gpkg" in _captions(at)
    assert not at.error


def test_switching_to_english(monkeypatch, tiny_workspace):
    at = _run(monkeypatch, tiny_workspace)
    at.sidebar.radio(key="lang").set_value("en").run()
    assert not at.exception
    assert [c.label for c in at.sidebar.checkbox] == ["Townships", "Plots"]
    assert "Townships 2 · Plots 6" in _captions(at)
    assert at.sidebar.selectbox(key="basemap").label == "Base map"
    at.sidebar.radio(key="lang").set_value("zh").run()
    assert "镇街 2 · 地块 6" in _captions(at)


def test_unticking_a_layer_removes_it(monkeypatch, tiny_workspace):
    at = _run(monkeypatch, tiny_workspace)
    at.sidebar.checkbox(key="layer_plots").uncheck().run()
    assert not at.exception
    assert "镇街 2" in [c.value for c in at.main.caption]
    at.sidebar.checkbox(key="layer_plots").check().run()
    assert "镇街 2 · 地块 6" in [c.value for c in at.main.caption]


def test_tianditu_without_a_key_warns_and_falls_back(monkeypatch, tiny_workspace):
    at = _run(monkeypatch, tiny_workspace)
    at.sidebar.selectbox(key="basemap").set_value("tianditu_vec").run()
    assert not at.exception
    assert any("TIANDITU_KEY" in w.value for w in at.sidebar.warning)


def test_missing_workspace_is_a_clear_error(monkeypatch, tmp_path):
    at = _run(monkeypatch, tmp_path / "nowhere.gpkg")
    assert len(at.error) == 1
    assert "python cli.py sample" in at.error[0].value.replace("\\", "")  # (Markdown-escaped text)
    at = _run(monkeypatch, tmp_path / "nowhere.gpkg", actor=None)  # the sign-in page says it too
    assert len(at.error) == 1 and "python cli.py sample" in at.error[0].value.replace("\\", "")


# --- sign-in ------------------------------------------------------------------------------------------
def test_every_page_needs_a_signed_in_user(monkeypatch, sample_path):
    at = _run(monkeypatch, sample_path, actor=None)
    assert at.subheader[0].value == "登录"
    assert not at.sidebar.checkbox  # no map, no layers: only the sign-in form
    assert any("planner" in i.value and "ruian-planner" in i.value for i in at.info)  # the sample's demo accounts


def test_sign_in_wrong_password_then_right(monkeypatch, sample_gpkg_copy):
    at = _run(monkeypatch, sample_gpkg_copy.location, actor=None)
    at.text_input(key="login_user").input("planner")
    at.text_input(key="login_password").input("wrong-password")
    at.button[0].click().run()
    assert any("用户名或密码错误" in e.value for e in at.error)
    from ui.login import SESSION_KEY

    assert SESSION_KEY not in at.session_state
    import time

    time.sleep(1.1)  # the back-off after one failure is 1 s
    at.text_input(key="login_password").input("ruian-planner")
    at.button[0].click().run()
    assert not at.exception
    assert at.session_state[SESSION_KEY]["username"] == "planner"
    assert any("示例规划员" in c.value and "规划人员" in c.value for c in at.sidebar.caption)
    at.sidebar.button(key="logout_button").click().run()
    assert SESSION_KEY not in at.session_state and at.subheader[0].value == "登录"
    log = open_workspace(sample_gpkg_copy.location).read_table("audit_log")
    assert log["summary"].str.startswith("登录失败").any() and (log["summary"] == "登录成功").any()


def test_session_expires_when_idle(monkeypatch, sample_path):
    import time

    from ui.login import SESSION_KEY

    at = _run(monkeypatch, sample_path)
    at.session_state[SESSION_KEY]["last_seen"] = time.time() - 3 * 3600
    at.run()
    assert at.subheader[0].value == "登录" and any("超时" in w.value for w in at.warning)


def test_pages_listed_by_role():
    from layers.access import ROLES
    from ui.nav import page_specs

    for role in ROLES:
        paths = [p.url_path for p in page_specs(Actor("x", role, "330381008" if role == "official" else None))]
        assert paths[0] == "map" and "shortlist" in paths
        assert ("import" in paths) == ("audit" in paths) == (role == "admin")


# --- map page interactions (issue 5): filters, search, click lookup, draw-select, shortlist ----------------
MAP_KEY = "main_map"


@pytest.fixture
def ws_copy(sample_copy) -> str:
    """Per-test copy of the sample (with its run 'sample'), on each backend: writes do not leak between tests."""
    return sample_copy.location


def _view(location):
    """The plot view with its display geometry (the app's view holds attributes only; a test may read every shape)."""
    from ui.data import plot_view, with_geometry

    ws = open_workspace(location, readonly=True)
    return with_geometry(ws, plot_view(ws))


def _shown(at: AppTest) -> str:
    return next(c.value for c in at.main.caption if c.value.startswith(("显示", "Showing", "当前范围")))


def test_filters_narrow_the_map_and_persist(monkeypatch, ws_copy):
    at = _run(monkeypatch, ws_copy)
    view = _view(ws_copy)
    assert "显示 5,000 个地块(筛选后共 5,000 / 5,000)" == _shown(at)
    at.sidebar.multiselect(key="w_flt_classes").select("D").run()
    n_d = int((view["final_class"] == "D").sum())
    assert n_d > 0 and f"筛选后共 {n_d:,} / 5,000" in _shown(at)
    at.sidebar.multiselect(key="w_flt_flags").select("low_efficiency").run()
    n = int(((view["final_class"] == "D") & view["is_low_efficiency"].astype(bool)).sum())
    assert f"筛选后共 {n:,} / 5,000" in _shown(at)
    # the result styles are offered once a run exists, and the legend is drawn from the same table
    at.sidebar.selectbox(key="style_by").set_value("final_class").run()
    assert not at.exception
    assert at.session_state["flt_classes"] == ["D"]  # kept outside the widget, for the other pages


def test_search_by_plot_id_firm_name_and_credit_code_flies_there(monkeypatch, ws_copy):
    at = _run(monkeypatch, ws_copy)
    ents = open_workspace(ws_copy, readonly=True).read("enterprises")
    firm = ents[ents["plot_id"].notna()].iloc[7]
    for query, expected in (("p000042", "P000042"), (firm["credit_code"], firm["plot_id"]), (firm["name"], None)):
        at.text_input(key="map_search").input(str(query)).run()
        assert not at.exception
        if expected is None:  # a name may match several firms: pick the one we mean
            picks = [s for s in at.selectbox if s.key == "map_search_pick"]
            if picks:
                picks[0].set_value(f"firm:{firm['credit_code']}").run()
            expected = firm["plot_id"]
        assert at.session_state["map_selected"] == ("plots", expected)
        (lat, lng), zoom = at.session_state["map_fly"]
        geom = _view(ws_copy).set_index("plot_id").geometry[expected]
        assert geom.bounds[1] - 1e-3 < lat < geom.bounds[3] + 1e-3 and geom.bounds[0] - 1e-3 < lng < geom.bounds[2] + 1e-3
        assert zoom >= 15
        assert any(expected in m.value for m in at.markdown)
    at.text_input(key="map_search").input("没有这个企业").run()
    assert any("没有找到" in w.value for w in at.warning)


def test_search_says_how_many_matched_and_finds_townships_parks_and_hits_outside_the_filters(monkeypatch, ws_copy):
    at = _run(monkeypatch, ws_copy)
    view = _view(ws_copy)
    at.text_input(key="map_search").input("机械").run()
    assert any(re.fullmatch(r"共找到 [\d,]+ 个结果,只列出前 20 个;请输入更多文字缩小范围。", c.value) for c in at.caption)
    at.text_input(key="map_search").input("塘下镇").run()
    assert at.session_state["map_focus"] == ("search", ("330381101",), ())
    # a plot outside the township filter: marked on its own and explained
    other = view[view["township_code"] != "330381101"].iloc[0]
    at.sidebar.multiselect(key="w_flt_townships").select("330381101").run()
    # filtering to a township frames and outlines it too
    assert at.session_state["map_focus"] == ("filter", ("330381101",), ())
    (lat, lng), zoom = at.session_state["map_fly"]
    town = open_workspace(ws_copy).read("townships").to_crs(4326).set_index("code").geometry["330381101"]
    assert town.bounds[1] < lat < town.bounds[3] and town.bounds[0] < lng < town.bounds[2] and zoom >= 11
    at.text_input(key="map_search").input(other["plot_id"]).run()
    assert at.session_state["map_found"] == other["plot_id"]
    assert any("不符合当前筛选条件" in w.value for w in at.warning)
    assert any("另有 1 个搜索结果不在筛选范围内" in c.value for c in at.caption)


def test_the_mouse_up_that_ends_a_drawing_is_not_a_click(monkeypatch, ws_copy):
    at = _run(monkeypatch, ws_copy)
    view = _view(ws_copy)
    p = view.geometry.iloc[10].representative_point()
    at.session_state[MAP_KEY] = {"last_clicked": {"lat": p.y, "lng": p.x}, "zoom": 17, "bounds": None,
                                 "all_drawings": None}
    at.run()
    assert at.session_state["map_selected"] == ("plots", view["plot_id"].iloc[10])
    w, s, e, n = view.iloc[:3].total_bounds
    rect = {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [
        [[w, s], [e, s], [e, n], [w, n], [w, s]]]}}
    # Leaflet.draw's mouse-up: a new drawing and a new click (at a corner of it) in the same update
    at.session_state[MAP_KEY] = {"last_clicked": {"lat": n, "lng": e}, "zoom": 17, "bounds": None,
                                 "all_drawings": [rect]}
    at.run()
    assert at.session_state["map_selected"] == ("plots", view["plot_id"].iloc[10])
    assert any(c.value.startswith("框选范围 ") and c.value.endswith(" 亩。") for c in at.caption)


def test_click_is_looked_up_on_the_server_and_shows_the_details(monkeypatch, ws_copy):
    at = _run(monkeypatch, ws_copy)
    view = _view(ws_copy)
    row = view[view["is_low_efficiency"].astype(bool) & view["suitability"].notna()
               & ~view["restricted"].astype("boolean").fillna(False).astype(bool)].iloc[0]
    p = row.geometry.representative_point()
    at.session_state[MAP_KEY] = {"last_clicked": {"lat": p.y, "lng": p.x}, "zoom": 17, "bounds": None,
                                 "all_drawings": None}
    at.run()
    assert not at.exception
    assert at.session_state["map_selected"] == ("plots", row["plot_id"])
    text = "\n".join(m.value for m in at.markdown)
    assert f"要素详情 · {row['plot_id']}" in text
    assert "低效认定规则" in text and "触发" in text
    assert "评分构成" in text
    parts = next(d.value for d in at.table if "权重" in d.value.columns)
    assert parts["权重"].notna().all() and (parts["输入值"] != "—").any()  # each part with its weight and input
    assert parts["得分"].astype(float).sum() == pytest.approx(row["suitability"], abs=0.05 * len(parts))
    # every input carries its unit (道路可达性 470.73 of what?), weights in %
    road = parts.set_index("指标").loc["道路可达性(距道路)"]
    assert re.fullmatch(r"[\d,]+ m", road["输入值"]) and road["权重"] == "20%"
    assert parts.set_index("指标").loc["地块规模", "输入值"].endswith(" 亩")
    # no raw value anywhere in the panel: None, NaN, True/False, English enums, unrounded numbers
    cells = [str(v) for d in at.table for v in d.value.to_numpy().ravel()]
    for raw in ("None", "nan", "True", "False", "in_use", "halted", "idle", "tengtui"):
        assert raw not in cells, raw
    assert not [c for c in cells if re.fullmatch(r"-?\d+\.\d{3,}", c)], "unrounded numbers"
    firms = "\n".join(m.value for m in at.markdown if m.value.startswith("- **"))
    assert "行业代码(GB/T 4754):" in firms or "地块上没有登记企业" in text
    for raw in ("None", "nan", "True", "False"):
        assert not re.search(rf"\b{raw}\b", firms), raw
    attrs = dict(next(d.value for d in at.table if "用地面积" in d.value.iloc[:, 0].tolist()).to_numpy())
    assert attrs["用地面积"].endswith("m²)") and " 亩(" in attrs["用地面积"]
    assert attrs["建筑面积"].endswith(" m²") and "亩" not in attrs["建筑面积"]  # floor area in m², not 亩
    assert re.fullmatch(r"\d{4} \S+", attrs["行业代码"])  # GB/T 4754 code with its name
    # a click on a park outside every plot picks the park (any layer works)
    parks = open_workspace(ws_copy, readonly=True).read("industrial_parks").to_crs(4326)
    free = parks.geometry.iloc[0].difference(view.geometry.union_all())
    q = free.representative_point()
    at.session_state[MAP_KEY] = {"last_clicked": {"lat": q.y, "lng": q.x}, "zoom": 17, "bounds": None,
                                 "all_drawings": None}
    at.run()
    assert at.session_state["map_selected"][0] == "industrial_parks"
    assert any(parks["name"].iloc[0] in m.value for m in at.markdown)


def test_add_to_shortlist_from_the_details_and_from_a_drawn_box(monkeypatch, ws_copy):
    from layers import shortlist

    at = _run(monkeypatch, ws_copy)
    view = _view(ws_copy)
    row = view.iloc[10]
    p = row.geometry.representative_point()
    at.session_state[MAP_KEY] = {"last_clicked": {"lat": p.y, "lng": p.x}, "zoom": 17, "bounds": None,
                                 "all_drawings": None}
    at.run()
    at.button(key="det_add").click().run()
    assert not at.exception
    assert any(row["plot_id"] in s.value for s in at.success)
    items = shortlist.load(open_workspace(ws_copy, readonly=True))
    assert items["item_id"].tolist() == [row["plot_id"]]
    assert items["added_by"].iloc[0] == "zhanggong"  # the signed-in user, not a name typed in
    # adding it again says so and writes nothing
    at.button(key="det_add").click().run()
    assert any("已在清单中" in s.value for s in at.success)
    # draw a rectangle around the first three plots: they are listed and can all be added
    w, s, e, n = view.iloc[:3].total_bounds
    rect = {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [
        [[w, s], [e, s], [e, n], [w, n], [w, s]]]}}
    at.session_state[MAP_KEY] = {"last_clicked": {"lat": p.y, "lng": p.x}, "zoom": 17, "bounds": None,
                                 "all_drawings": [rect]}
    at.run()
    ids = at.session_state["map_drawn_ids"]
    assert set(view["plot_id"].iloc[:3]) <= set(ids)
    assert any(f"框选的地块({len(ids)})" in m.value for m in at.markdown)
    at.button(key="sel_add_all").click().run()
    items = shortlist.load(open_workspace(ws_copy, readonly=True))
    assert set(ids) | {row["plot_id"]} == set(items["item_id"])
    assert items.set_index("item_id").loc[ids[0], "reasons"] == view.set_index("plot_id").loc[ids[0], "reasons_zh"] \
        or pd.isna(view.set_index("plot_id").loc[ids[0], "reasons_zh"])


def test_viewport_and_township_totals(monkeypatch, ws_copy):
    """Only plots in the returned bounds are sent; above MAX_PLOTS the townships' totals are drawn."""
    from ui import map_page

    at = _run(monkeypatch, ws_copy)
    view = _view(ws_copy)
    g = view.geometry.iloc[0].bounds
    at.session_state[MAP_KEY] = {"bounds": {"_southWest": {"lat": g[1], "lng": g[0]},
                                            "_northEast": {"lat": g[3], "lng": g[2]}}, "zoom": 18,
                                 "last_clicked": None, "all_drawings": None}
    at.run()
    shown = int(_shown(at).split(" ")[1].replace(",", ""))
    assert 1 <= shown < 200
    from ui.data import plot_index
    from ui.mapview import TileLayerSpec

    ws = open_workspace(ws_copy)
    towns = ws.read("townships").to_crs(4326)
    places = plot_index(ws).loc[view.index]
    everything = np.ones(len(view), dtype=bool)
    box = tuple(view.total_bounds)
    # more plots in the box than max_plots: the vector tiles, every plot counted as shown; no tiles → totals
    spec = TileLayerSpec("/_planner/vt/plots/x/{z}/{x}/{y}", "/_planner/vt/plots/x/style", 10, 16)
    tiled = map_page.dynamic_content(map_page.PlotLayer(view, everything, places, tiles=spec), box, others={},
                                     style_by="land_use", lang="zh", township_names={}, townships=towns, max_plots=10)
    assert tiled["mode"] == "tiles" and tiled["shown"] == tiled["n_view"] == len(view)
    totals = map_page.dynamic_content(map_page.PlotLayer(view, everything, places), box, others={},
                                      style_by="land_use", lang="zh", township_names={}, townships=towns, max_plots=10)
    assert totals["mode"] == "aggregate" and totals["n_view"] == len(view)
    # township totals on request, whatever the count
    asked = map_page.dynamic_content(map_page.PlotLayer(view, everything, places, tiles=spec, totals=True), box,
                                     others={}, style_by="land_use", lang="zh", township_names={}, townships=towns)
    assert asked["mode"] == "aggregate"
