"""Vector tiles of the plots (issue 14, item 3): the encoder (geo/vtiles.py), the tile sets kept with the
workspace on both backends (layers/tiles.py), the colour codes and the scope of the tile routes (ui/tileserver.py).

Tiny synthetic layers with hand-checkable answers: which feature lands in which tile at which zoom,
at which grid position, as a polygon or (too small to draw) a point; tiles decoded by an independent
reader (mapbox-vector-tile).
"""
from __future__ import annotations

import gzip

import geopandas as gpd
import mapbox_vector_tile
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.vtiles import EXTENT, encode_tiles, keep_layers, layer_names, lonlat_to_world, spatial_order
from layers import tiles
from layers.access import SYSTEM


def _decode(blob: bytes) -> dict:
    return mapbox_vector_tile.decode(gzip.decompress(blob), default_options={"y_coord_down": True})


# --- the encoder ----------------------------------------------------------------------------------------------
# A 0.01° square at (120.60, 27.80): at zoom 12 it lies in tile (3420, 1718) — x = (120.60 + 180) / 360 · 4096
# = 3420.16, so its west edge is 0.16 · 4096 = 655 grid units into the tile; at zoom 10 it is ~7 px wide.
SQUARE = shapely.box(120.60, 27.80, 120.61, 27.81)
SPECK = shapely.box(120.6001, 27.8001, 120.60012, 27.80012)  # ≈ 2 m: a dot at any zoom up to 16


def test_a_square_lands_in_its_tile_at_its_grid_position_wound_clockwise():
    [(z, x, y, blob)] = list(encode_tiles(np.array([SQUARE]), zooms=[12], layer="plots"))
    assert (z, x, y) == (12, 3420, 1718)
    layer = _decode(blob)["plots"]
    assert layer["extent"] == EXTENT
    [f] = layer["features"]
    assert f["id"] == 0 and f["geometry"]["type"] == "Polygon" and f["properties"] == {}
    ring = np.array(f["geometry"]["coordinates"][0])
    assert ring[:, 0].min() == 655 and ring[:, 0].max() == 655 + 466  # 0.01° = 0.01 / 360 · 2¹² · 4096 = 466 units
    # exterior ring clockwise on screen (y down): positive surveyor's area, as MVT 2.1 §4.3.4.4 asks
    x, y = ring[:-1, 0], ring[:-1, 1]
    assert (x * np.roll(y, -1) - np.roll(x, -1) * y).sum() > 0


def test_every_feature_is_in_every_zoom_tiny_ones_as_points():
    geoms = np.array([SQUARE, SPECK, shapely.Point(120.605, 27.805)])
    per_zoom = {}
    for z, _x, _y, blob in encode_tiles(geoms, zooms=range(8, 17), layer="plots"):
        for f in _decode(blob)["plots"]["features"]:
            per_zoom.setdefault(z, {})[f["id"]] = f["geometry"]["type"]
    assert sorted(per_zoom) == list(range(8, 17))
    for z, found in per_zoom.items():
        assert set(found) == {0, 1, 2}, z  # every feature at every zoom
        assert found[1] == "Point" and found[2] == "Point"
    # the square is a dot while under 3 px across (zoom 8: 1.8 px), a polygon from zoom 9 on (3.6 px)
    assert per_zoom[8][0] == "Point" and all(per_zoom[z][0] == "Polygon" for z in range(9, 17))


def test_a_feature_across_tiles_is_whole_in_each_and_a_hole_winds_the_other_way():
    donut = shapely.Polygon(shapely.box(120.58, 27.78, 120.64, 27.84).exterior.coords,
                            [shapely.box(120.60, 27.80, 120.61, 27.81).exterior.coords])
    out = {(x, y): _decode(b)["plots"]["features"] for z, x, y, b in encode_tiles(np.array([donut]), zooms=[12],
                                                                                   layer="plots")}
    assert sorted(out) == [(3419, 1717), (3419, 1718), (3420, 1717), (3420, 1718)]
    for feats in out.values():
        [f] = feats
        outer, hole = (np.array(r) for r in f["geometry"]["coordinates"])
        assert len(outer) == len(hole) == 5
        area = [(r[:-1, 0] * np.roll(r[:-1, 1], -1) - np.roll(r[:-1, 0], -1) * r[:-1, 1]).sum() for r in (outer, hole)]
        assert area[0] > 0 > area[1]
    # the same shape in each tile, shifted by one tile (4096 units)
    a = np.array(out[(3419, 1718)][0]["geometry"]["coordinates"][0])
    b = np.array(out[(3420, 1718)][0]["geometry"]["coordinates"][0])
    assert (a[:, 0] - b[:, 0] == EXTENT).all() and (a[:, 1] == b[:, 1]).all()


def test_groups_are_layers_and_a_server_keeps_whole_layers():
    geoms = np.array([SQUARE, shapely.box(120.602, 27.802, 120.605, 27.805), SPECK])
    [(_, _, _, blob)] = list(encode_tiles(geoms, zooms=[12], layer="plots", groups=np.array(["a", "b", "a"])))
    assert layer_names(blob) == ["plots/a", "plots/b"]
    decoded = _decode(blob)
    assert [f["id"] for f in decoded["plots/a"]["features"]] == [0, 2]
    assert [f["id"] for f in decoded["plots/b"]["features"]] == [1]
    only_b = keep_layers(blob, lambda name: name.endswith("/b"))
    assert list(_decode(only_b)) == ["plots/b"]
    assert keep_layers(blob, lambda name: False, compress=False) == keep_layers(blob, lambda name: False) == b""


def test_spatial_order_keeps_neighbours_together():
    lon = np.array([120.0, 121.0, 120.0001, 121.0001])
    lat = np.array([27.0, 28.0, 27.0001, 28.0001])
    order = spatial_order(lon, lat)
    assert abs(int(np.flatnonzero(order == 0)[0]) - int(np.flatnonzero(order == 2)[0])) == 1
    x, _ = lonlat_to_world(np.array([-180.0, 180.0]), np.array([0.0, 0.0]), 0)
    assert x.tolist() == [0.0, EXTENT]


def test_lines_are_refused():
    with pytest.raises(ValueError, match="Points, Polygons and MultiPolygons"):
        list(encode_tiles(np.array([shapely.LineString([(120, 27), (121, 28)])]), zooms=[10], layer="roads"))


# --- tile sets with the workspace (both backends) --------------------------------------------------------------
def _plots(boxes, towns) -> gpd.GeoDataFrame:
    """Plots in the working CRS (EPSG:4549) from boxes in degrees."""
    g = gpd.GeoSeries([shapely.MultiPolygon([shapely.box(*b)]) for b in boxes], crs=4326).to_crs(4549)
    n = len(boxes)
    return gpd.GeoDataFrame({"plot_id": [f"P{i:03d}" for i in range(n)], "land_use": ["0601"] * n,
                             "area_m2": g.area.to_numpy(), "status": ["in_use"] * n, "township_code": towns},
                            geometry=g.to_numpy(), crs=4549)


BOXES = [(120.60, 27.80, 120.601, 27.801), (120.70, 27.85, 120.701, 27.851), (120.6005, 27.8005, 120.6008, 27.8008)]


def test_a_tile_set_is_built_stored_and_served_only_while_current(empty_ws):
    ws = empty_ws
    ws.write("plots", _plots(BOXES, ["A", "B", "A"]), actor=SYSTEM)
    assert tiles.info(ws, "plots") is None
    first = tiles.ensure(ws, "plots")
    assert first.count == 3 and first.stamp == tiles.layer_stamp(ws, "plots")
    assert (first.minzoom, first.maxzoom) == (min(tiles.ZOOMS), max(tiles.ZOOMS))
    idx = tiles.index(ws, "plots")
    assert sorted(idx["key"]) == ["P000", "P001", "P002"] and set(idx["group"]) == {"A", "B"}
    # the index says where each feature is: the box of P001 holds its corner, in degrees
    p1 = idx.set_index("key").loc["P001"]
    assert p1["west"] == pytest.approx(120.70, abs=1e-5) and p1["north"] == pytest.approx(27.851, abs=1e-5)
    # and ``row`` is the feature's position in the layer as the store reads it
    read = ws.read("plots", columns=["plot_id"], geometry=False)
    assert sorted(idx["row"]) == [0, 1, 2] and (read["plot_id"].to_numpy()[idx["row"]] == idx["key"]).all()
    # the tile holding P000 and P002 at zoom 14: both features, ids = index rows
    z = 14
    x = int((120.6005 + 180) / 360 * 2 ** z)
    import math

    y = int((1 - math.asinh(math.tan(math.radians(27.8005))) / math.pi) / 2 * 2 ** z)
    blob = tiles.tile(ws, "plots", first.stamp, z, x, y)
    ids = sorted(f["id"] for f in _decode(blob)["plots/A"]["features"])
    assert [idx["key"][i] for i in ids] == ["P000", "P002"]
    assert tiles.tile(ws, "plots", first.stamp, z, x + 5, y) == tiles.EMPTY  # current set, nothing there
    assert tiles.tile(ws, "plots", "not-the-stamp", z, x, y) is None
    # a new version of the layer: the old stamp is refused at once, the next ensure rebuilds
    ws.write("plots", _plots(BOXES[:2], ["A", "B"]), actor=SYSTEM)
    assert tiles.tile(ws, "plots", first.stamp, z, x, y) is None
    second = tiles.ensure(ws, "plots")
    assert second.stamp != first.stamp and second.count == 2
    idx2 = tiles.index(ws, "plots")
    ids = [f["id"] for f in _decode(tiles.tile(ws, "plots", second.stamp, z, x, y))["plots/A"]["features"]]
    assert [idx2["key"][i] for i in ids] == ["P000"]
    assert tiles.info(ws, "plots") == second


def test_a_big_layer_is_built_in_a_child_process(empty_ws, monkeypatch):
    ws = empty_ws
    ws.write("plots", _plots(BOXES, ["A", "B", "A"]), actor=SYSTEM)
    monkeypatch.setattr(tiles, "IN_PROCESS_MAX", 1)
    called = []
    real = tiles._build_in_child
    monkeypatch.setattr(tiles, "_build_in_child", lambda *a: (called.append(a), real(*a)))
    built = tiles.ensure(ws, "plots")
    assert called and built.count == 3 and built.stamp == tiles.layer_stamp(ws, "plots")


def test_attribute_columns_of_a_big_layer_read_in_a_child_equal_the_store_read(sample_gpkg_copy, monkeypatch):
    ws = sample_gpkg_copy
    cols = ["plot_id", "township_code", "land_use", "area_m2", "status", "far"]
    small = tiles.read_columns(ws, "plots", cols)
    monkeypatch.setattr(tiles, "IN_PROCESS_MAX", 10)  # the sample's 5,000 plots count as big now
    frames = tiles.read_many_columns(ws, {"plots": cols, "run_sample_plots": ["plot_id", "is_low_efficiency",
                                                                               "suitability", "mode_key"]})
    assert list(frames["plots"].columns) == cols
    pd.testing.assert_frame_equal(frames["plots"], small, check_dtype=False)
    run = ws.read("run_sample_plots", columns=["plot_id", "is_low_efficiency", "suitability", "mode_key"],
                  geometry=False)
    assert frames["run_sample_plots"]["is_low_efficiency"].astype(bool).tolist() == run["is_low_efficiency"].tolist()
    assert np.allclose(frames["run_sample_plots"]["suitability"].astype(float), run["suitability"].astype(float),
                       equal_nan=True)


# --- the map view and the colour codes ---------------------------------------------------------------------------
def test_the_view_holds_no_geometry_and_the_codes_follow_filters_and_scope(module_sample):
    from ui import data, tileserver
    from ui.filters import PlotFilters, apply
    from ui.mapview import STYLE_BY, plot_codes

    ws = module_sample
    view = data.plot_view(ws, columns=data.MAP_COLUMNS, scoped=False)
    assert not isinstance(view, gpd.GeoDataFrame) and "geometry" not in view.columns
    full = data.plot_view(ws, scoped=False)
    assert view["park_id"].astype("string").fillna("").tolist() == full["park_id"].astype("string").fillna("").tolist()
    info = data.plot_tiles(ws)
    place = data.plot_index(ws)
    assert (place["tile_id"] >= 0).all() and len(place) == len(view) == info.count
    flt = PlotFilters(classes=("D",))
    codes = np.frombuffer(tileserver.style_codes(ws, run_id=view.attrs["run_id"], style_by="final_class",
                                                  filters=flt, townships=None), dtype=np.uint8)
    assert len(codes) == info.count
    tile_id = place.loc[view.index, "tile_id"].to_numpy()
    shown = apply(view, flt).to_numpy()
    d = [v for v, _, _ in STYLE_BY["final_class"].classes].index("D")
    assert (codes[tile_id[shown]] == d).all() and (codes[tile_id[~shown]] == tileserver.HIDDEN).all()
    assert (plot_codes(view[shown], "final_class") == d).all()
    # a township official's codes hide every other township's plots
    town = str(view["township_code"].iloc[0])
    scoped = np.frombuffer(tileserver.style_codes(ws, run_id=view.attrs["run_id"], style_by="land_use",
                                                  filters=PlotFilters(), townships=frozenset({town})), dtype=np.uint8)
    mine = (view["township_code"].astype(str) == town).to_numpy()
    assert (scoped[tile_id[~mine]] == tileserver.HIDDEN).all() and (scoped[tile_id[mine]] != tileserver.HIDDEN).all()


def test_an_official_gets_only_their_townships_layers_of_a_tile(module_sample):
    from ui import data, tileserver

    ws = module_sample
    info = data.plot_tiles(ws)
    z = info.minzoom
    from geo.tiles import lonlat_to_tile

    cx, cy = (info.bounds[0] + info.bounds[2]) / 2, (info.bounds[1] + info.bounds[3]) / 2
    x, y = lonlat_to_tile(cx, cy, z)
    whole = tiles.tile(ws, "plots", info.stamp, z, x, y)
    names = layer_names(whole)
    assert len(names) > 1
    town = names[0].partition("/")[2]
    only = keep_layers(whole, lambda n: n.partition("/")[2] in {town})
    assert layer_names(only) == [f"plots/{town}"]
    assert tileserver.scope_key({town}) != tileserver.scope_key({town, "x"})


def test_the_cli_builds_the_tiles_ahead_and_keeps_a_current_set(sample_gpkg_copy, capsys):
    import cli

    ws = sample_gpkg_copy
    assert tiles.info(ws, "plots") is None
    assert cli.main(["tiles", "--workspace", ws.location]) == 0
    built = tiles.info(ws, "plots")
    assert built.stamp == tiles.layer_stamp(ws, "plots") and built.count == len(ws.keys("plots", "plot_id"))
    assert f"plots: {built.count:,} features" in capsys.readouterr().out
    assert cli.main(["tiles", "--workspace", ws.location]) == 0
    assert "current, kept" in capsys.readouterr().out and tiles.info(ws, "plots") == built
    assert cli.main(["tiles", "--workspace", ws.location, "--force"]) == 0
    assert "rebuilt" in capsys.readouterr().out and tiles.info(ws, "plots").built_at >= built.built_at
    assert cli.main(["tiles", "--workspace", ws.location, "--layer", "roads"]) == 2  # an error, said in words
    assert "no tiles for layer 'roads'" in capsys.readouterr().err
