"""Vector tiles built when a tiled layer is stored (issue 14, item 3): ``layers.tiles.refresh`` after a commit,
from the CLI commands that store the plots or the firms, and what a failed build leaves (the data, stored).

Before, the tile sets were built only on the map's first view (``tiles.ensure``), so the first planner to open
the map after an import waited for the build; now the command or page that stored the layer builds them.
"""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from layers import tiles
from layers.access import SYSTEM
from layers.store import open_workspace

X0, Y0 = 560_000.0, 3_070_000.0  # a spot inside the sample county, EPSG:4549


def _plots(n: int) -> gpd.GeoDataFrame:
    boxes = [shapely.MultiPolygon([shapely.box(X0 + 100 * i, Y0, X0 + 100 * i + 50, Y0 + 50)]) for i in range(n)]
    return gpd.GeoDataFrame({"plot_id": [f"T{i:03d}" for i in range(n)], "land_use": ["0601"] * n,
                             "area_m2": [2500.0] * n, "status": ["in_use"] * n, "township_code": ["A"] * n},
                            geometry=boxes, crs=4549)


def _fail_builds(monkeypatch, message: str = "disk full") -> None:
    def broken(*args, **kwargs):
        raise OSError(message)

    monkeypatch.setattr(tiles, "build", broken)


# --- layers.tiles.refresh (both backends) ------------------------------------------------------------------------
def test_refresh_builds_the_sets_of_what_was_stored_and_keeps_current_ones(empty_ws):
    ws = empty_ws
    ws.write("plots", _plots(3), actor=SYSTEM)
    assert tiles.info(ws, "plots") is None
    done = tiles.refresh(ws)  # every tiled layer held: the plots (no firms in this workspace)
    assert list(done.built) == ["plots"] and not done.kept and not done.failed
    assert done.built["plots"].count == 3 and done.built["plots"].stamp == tiles.layer_stamp(ws, "plots")
    assert tiles.info(ws, "plots") == done.built["plots"]
    # nothing changed: kept; layers that are not tiled (or not held) are passed over
    again = tiles.refresh(ws, ["plots", "townships", "enterprises"])
    assert not again.built and list(again.kept) == ["plots"] and not again.failed
    # a new version of the plots: its set is stale, the next refresh builds it
    ws.write("plots", _plots(2), actor=SYSTEM)
    third = tiles.refresh(ws, ["plots"])
    assert third.built["plots"].count == 2 and third.built["plots"].stamp == tiles.layer_stamp(ws, "plots")


def test_a_build_that_fails_leaves_the_stored_layer_and_the_map_builds_it_later(empty_ws, monkeypatch):
    ws = empty_ws
    ws.write("plots", _plots(3), actor=SYSTEM)
    _fail_builds(monkeypatch)
    done = tiles.refresh(ws)  # does not raise
    assert list(done.failed) == ["plots"] and not done.built
    assert "disk full" in done.failed["plots"].localized("en") and "切片生成失败" in done.failed["plots"].localized("zh")
    assert len(ws.read("plots")) == 3 and tiles.info(ws, "plots") is None  # the data stands, no set
    monkeypatch.undo()
    assert tiles.ensure(ws, "plots").count == 3  # what the map does on its first view


def test_a_real_failure_on_a_geopackage_is_reported_not_raised(tmp_path):
    from layers.store import create_workspace

    ws = create_workspace(str(tmp_path / "ws.gpkg"))
    ws.write("plots", _plots(2), actor=SYSTEM)
    Path(ws.location + ".tiles").write_text("not a folder")  # where the tile sets go: unusable
    done = tiles.refresh(ws)
    assert list(done.failed) == ["plots"] and len(ws.read("plots")) == 2


# --- the CLI: every command that stores a tiled layer builds its tiles --------------------------------------------
def _geojson(tmp_path, n: int = 2) -> str:
    g = gpd.GeoDataFrame({"地块编号": [f"U{i}" for i in range(n)], "用地分类": ["0601"] * n, "利用状态": ["在用"] * n},
                         geometry=[shapely.box(X0 + 60 * i, Y0, X0 + 60 * i + 50, Y0 + 50) for i in range(n)],
                         crs="EPSG:4549")
    path = tmp_path / "up.geojson"
    g.to_file(path, driver="GeoJSON")
    return str(path)


def test_cli_import_builds_the_tiles_of_the_layer_it_stored(sample_copy, tmp_path, capsys):
    import cli

    ws = sample_copy
    n = len(ws.keys("plots", "plot_id"))
    assert cli.main(["import", "--workspace", ws.location, "--layer", "plots", "--file", _geojson(tmp_path),
                     "--mode", "upsert"]) == 0
    out = capsys.readouterr().out
    built = tiles.info(ws, "plots")
    assert built is not None and built.stamp == tiles.layer_stamp(ws, "plots") and built.count == n + 2
    assert f"tiles of plots: {n + 2:,} features" in out
    assert tiles.info(ws, "enterprises") is None  # only the layer stored


def test_cli_import_whose_tile_build_fails_still_stores_and_says_so(sample_gpkg_copy, tmp_path, capsys):
    import cli

    ws = sample_gpkg_copy
    n = len(ws.keys("plots", "plot_id"))
    Path(ws.location + ".tiles").write_text("not a folder")
    assert cli.main(["import", "--workspace", ws.location, "--layer", "plots", "--file", _geojson(tmp_path),
                     "--mode", "upsert"]) == 0
    err = capsys.readouterr().err
    assert "tiles of plots not built" in err and "the map builds the tiles when it is first opened" in err
    assert len(open_workspace(ws.location).keys("plots", "plot_id")) == n + 2  # committed


def test_cli_restore_and_copy_build_the_tiles(sample_gpkg_copy, tmp_path, capsys):
    import cli

    ws = sample_gpkg_copy
    assert cli.main(["import", "--workspace", ws.location, "--layer", "plots", "--file", _geojson(tmp_path),
                     "--mode", "upsert"]) == 0
    capsys.readouterr()
    assert cli.main(["workspace", "restore", "plots", "1", "--workspace", ws.location]) == 0
    restored = tiles.info(ws, "plots")
    assert restored.stamp == tiles.layer_stamp(ws, "plots") and restored.count == 5000
    assert "tiles of plots: 5,000 features" in capsys.readouterr().out
    copy = str(tmp_path / "copy.gpkg")
    assert cli.main(["workspace", "copy", ws.location, copy]) == 0
    out = capsys.readouterr().out
    dst = open_workspace(copy)
    for layer in ("plots", "enterprises"):
        assert tiles.info(dst, layer).stamp == tiles.layer_stamp(dst, layer)
        assert f"tiles of {layer}: " in out


def test_cli_sample_builds_the_tiles_of_plots_and_firms(tmp_path, capsys):
    import cli

    out = tmp_path / "small.gpkg"
    assert cli.main(["sample", "--plots", "600", "--no-rasters", "--no-run", "--out", str(out)]) == 0
    ws = open_workspace(str(out))
    for layer in ("plots", "enterprises"):
        built = tiles.info(ws, layer)
        assert built is not None and built.stamp == tiles.layer_stamp(ws, layer)
        assert built.count == len(ws.keys(layer, tiles.TILED_LAYERS[layer][0]))
    assert "tiles of plots: 600 features" in capsys.readouterr().out


def test_cli_evaluate_makes_sure_the_plots_tiles_exist(sample_gpkg_copy, capsys):
    import cli

    ws = sample_gpkg_copy
    assert tiles.info(ws, "plots") is None
    assert cli.main(["evaluate", "--workspace", ws.location, "--run-id", "t1"]) == 0
    assert tiles.info(ws, "plots").stamp == tiles.layer_stamp(ws, "plots")
    assert "tiles of plots: " in capsys.readouterr().out
    assert cli.main(["evaluate", "--workspace", ws.location, "--run-id", "t2"]) == 0
    assert "tiles of plots: " not in capsys.readouterr().out  # a run changes no tiles: the set is kept


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_apps_helper_reports_built_sets_and_failures(sample_gpkg_copy, monkeypatch, lang):
    from ui import data

    ws = sample_gpkg_copy
    notes = data.store_tiles(ws.location, ["plots", "townships"], lang)
    assert [k for k, _ in notes] == ["success"] and ("5,000" in notes[0][1])
    ws.write("plots", _plots(2), actor=SYSTEM)
    _fail_builds(monkeypatch)
    notes = data.store_tiles(ws.location, ["plots"], lang)
    assert [k for k, _ in notes] == ["warning"]
    assert ("数据已保存" if lang == "zh" else "The data is stored") in notes[0][1] and "disk full" in notes[0][1]


# --- the firms from their tiles (ui._map_tiles, ui.tileserver) ---------------------------------------------------
def test_a_click_finds_the_nearest_firm_from_the_index_within_the_users_townships(module_sample):
    import numpy as np

    from layers.access import Actor
    from ui._map_tiles import firm_at, firm_row
    from ui.details import click_tolerance_deg

    ws = module_sample
    firms = ws.read("enterprises", columns=["credit_code", "township_code"]).to_crs(4326)
    tiles.ensure(ws, "enterprises")
    # the firm farthest from any other: a click beside it can mean only it
    tree = shapely.STRtree(firms.geometry.to_numpy())
    _, gap = tree.query_nearest(firms.geometry.to_numpy(), exclusive=True, return_distance=True, all_matches=False)
    first = firms.iloc[int(np.argmax(gap))]
    lng, lat = first.geometry.x, first.geometry.y
    planner = Actor("p", "planner")
    assert firm_at(ws, lat, lng, 16, planner) == first["credit_code"]
    tol = click_tolerance_deg(16)
    assert gap.max() > 5 * tol
    assert firm_at(ws, lat + tol / 2, lng, 16, planner) == first["credit_code"]  # a few pixels off: still it
    assert firm_at(ws, lat + 2 * tol, lng, 16, planner) is None  # beyond the tolerance: nothing
    # an official of another township neither finds nor reads it
    other = next(str(t) for t in firms["township_code"].unique() if str(t) != str(first["township_code"]))
    official = Actor("o", "official", township=other)
    assert firm_at(ws, lat, lng, 16, official) != first["credit_code"]
    assert firm_row(ws, first["credit_code"], official) is None
    row = firm_row(ws, first["credit_code"], planner)
    assert row["credit_code"] == first["credit_code"] and "name" in row.index


def test_the_firms_codes_are_one_colour_hidden_outside_the_users_townships(module_sample):
    import numpy as np

    from ui import data, tileserver

    ws = module_sample
    idx = data.tile_index(ws, "enterprises")
    codes = np.frombuffer(tileserver.plain_codes(ws, "enterprises", townships=None), dtype=np.uint8)
    assert len(codes) == data.tile_set(ws, "enterprises").count == len(idx) and (codes == 0).all()
    town = str(idx["group"].iloc[0])
    mine = (idx["group"].astype(str) == town).to_numpy()
    scoped = np.frombuffer(tileserver.plain_codes(ws, "enterprises", townships=frozenset({town})), dtype=np.uint8)
    assert (scoped[mine] == 0).all() and (scoped[~mine] == tileserver.HIDDEN).all()
    # the firms' style URL carries no plot filters
    url = tileserver.style_url("enterprises", "abc", run_id=None, style_by="plain", filters=None)
    assert "f=" not in url and url.startswith("/_planner/vt/enterprises/abc/style?")


def test_the_map_content_draws_a_tiled_layer_above_the_plots_with_its_count_and_legend(module_sample):
    import folium

    from ui import map_page
    from ui._map_tiles import TiledLayer

    group = folium.FeatureGroup(name="企业")
    content = map_page.dynamic_content(None, (120.0, 27.0, 121.0, 28.0), others={}, style_by="land_use", lang="zh",
                                       township_names={}, townships=None, tiled={"enterprises": TiledLayer(group, 12_345)})
    assert group in content["groups"] and content["counts"] == {"enterprises": 12_345}
    assert any("企业" in label for _, rows in content["legend"] for _, label, _ in rows)
