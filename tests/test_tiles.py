"""Local tile packages: XYZ arithmetic, MBTiles (TMS rows) and {z}/{x}/{y} folders, what is refused, the routes."""
from __future__ import annotations

import io
import sqlite3

import pytest

from geo.errors import ImportDataError
from geo.tiles import (
    MBTiles,
    TileFolder,
    iter_tiles,
    lonlat_to_tile,
    open_tiles,
    tile_bounds,
    tile_range,
    write_mbtiles,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"tile"  # the route passes bytes through: any content will do here


def test_tile_arithmetic_by_hand():
    assert lonlat_to_tile(0.0, 0.0, 1) == (1, 1)
    assert lonlat_to_tile(-180.0, 85.0, 2) == (0, 0)
    assert lonlat_to_tile(179.999, -85.0, 2) == (3, 3)
    w, s, e, n = tile_bounds(1, 1, 0)  # the north-east quarter of the world
    assert (w, e) == (0.0, 180.0) and s == pytest.approx(0.0, abs=1e-9) and n == pytest.approx(85.0511288)
    # every point of a tile maps back into that tile
    z, x, y = 12, 3420, 1710
    w, s, e, n = tile_bounds(z, x, y)
    assert lonlat_to_tile((w + e) / 2, (s + n) / 2, z) == (x, y)
    xs, ys = tile_range((w + 1e-9, s + 1e-9, e - 1e-9, n - 1e-9), z)
    assert list(xs) == [x] and list(ys) == [y]
    assert len(list(iter_tiles((w, s, e, n), [z, z + 1]))) >= 1 + 4


def test_mbtiles_round_trip_flips_rows_to_tms(tmp_path):
    path = write_mbtiles(tmp_path / "base.mbtiles", [(2, 1, 0, PNG), (3, 5, 6, PNG + b"2")], name="底图",
                         bounds=(120.0, 27.0, 121.0, 28.0), attribution="示例")
    rows = sqlite3.connect(path).execute("SELECT zoom_level, tile_column, tile_row FROM tiles ORDER BY 1").fetchall()
    assert rows == [(2, 1, 3), (3, 5, 1)]  # TMS: row = 2^z − 1 − y
    src = open_tiles(path)
    assert isinstance(src, MBTiles)
    assert (src.name, src.format, src.minzoom, src.maxzoom, src.attribution) == ("底图", "png", 2, 3, "示例")
    assert src.bounds == (120.0, 27.0, 121.0, 28.0) and src.media_type == "image/png"
    assert src.tile(2, 1, 0) == PNG and src.tile(3, 5, 6) == PNG + b"2"
    assert src.tile(2, 1, 1) is None  # not in the package
    assert src.tile(2, 9, 0) is None and src.tile(-1, 0, 0) is None  # outside the tile grid


def test_mbtiles_is_opened_read_only(tmp_path):
    path = write_mbtiles(tmp_path / "base.mbtiles", [(0, 0, 0, PNG)], name="x")
    before = path.read_bytes()
    src = open_tiles(path)
    assert src.tile(0, 0, 0) == PNG
    assert path.read_bytes() == before


def test_tile_folder(tmp_path):
    for z, x, y in ((10, 854, 429), (11, 1708, 858)):
        d = tmp_path / "tiles" / str(z) / str(x)
        d.mkdir(parents=True)
        (d / f"{y}.jpg").write_bytes(PNG)
    src = open_tiles(tmp_path / "tiles")
    assert isinstance(src, TileFolder)
    assert (src.format, src.minzoom, src.maxzoom, src.media_type) == ("jpg", 10, 11, "image/jpeg")
    assert src.tile(10, 854, 429) == PNG and src.tile(10, 854, 430) is None


@pytest.mark.parametrize("make, match", [
    (lambda p: p / "missing.mbtiles", "does not exist"),
    (lambda p: (p / "a.pmtiles").write_bytes(b"PMTiles") and p / "a.pmtiles", "PMTiles"),
    (lambda p: (p / "a.mbtiles").write_bytes(b"not sqlite at all" * 100) and p / "a.mbtiles", "not an MBTiles"),
    (lambda p: (p / "empty").mkdir() or p / "empty", "no zoom folders"),
])
def test_what_is_refused_says_why(tmp_path, make, match):
    with pytest.raises(ImportDataError, match=match) as err:
        open_tiles(make(tmp_path))
    assert err.value.localized("zh") != str(err.value)  # a Chinese message too


def test_vector_tiles_are_refused(tmp_path):
    path = write_mbtiles(tmp_path / "v.mbtiles", [(0, 0, 0, b"x")], name="v")
    con = sqlite3.connect(path)
    con.execute("UPDATE metadata SET value='pbf' WHERE name='format'")
    con.commit()
    con.close()
    with pytest.raises(ImportDataError, match="pbf"):
        open_tiles(path)


def test_the_tile_package_setting_and_routes(tmp_path, monkeypatch):
    from ui import tileserver

    monkeypatch.delenv("PLANNER_TILES", raising=False)
    assert tileserver.tile_source() is None
    path = write_mbtiles(tmp_path / "base.mbtiles", [(0, 0, 0, PNG)], name="x")
    monkeypatch.setenv("PLANNER_TILES", str(path))
    src = tileserver.tile_source()
    assert src.tile(0, 0, 0) == PNG
    assert tileserver.tiles_url(src).startswith("/_planner/tiles/{z}/{x}/{y}?v=")
    assert tileserver.tiles_url(src, "/planner/").startswith("/planner/_planner/tiles/")
    assert tileserver.raster_url("slope", (1, 2)).startswith("/_planner/raster/slope.png?v=")
    paths = sorted(r.path for r in tileserver.routes())
    own = ["/_planner/raster/{name:str}.png", "/_planner/tiles/{z:int}/{x:int}/{y:int}",
           "/_planner/vt/{layer:str}/{stamp:str}/style", "/_planner/vt/{layer:str}/{stamp:str}/{z:int}/{x:int}/{y:int}"]
    assert paths == sorted(own + ["/{base:path}" + p for p in own])  # each also under a base path
    assert tileserver.mounted()


def test_sample_package_from_the_workspaces_own_layers(sample_path, tmp_path):
    from PIL import Image

    from tests.tiles_sample import PAPER, build_sample_mbtiles

    src = open_tiles(build_sample_mbtiles(sample_path, tmp_path / "s.mbtiles", zooms=(9,)))
    assert src.minzoom == src.maxzoom == 9
    z, x, y = next(iter_tiles(src.bounds, [9]))
    img = Image.open(io.BytesIO(src.tile(z, x, y))).convert("RGB")
    assert img.size == (256, 256)
    paper = tuple(int(PAPER[i:i + 2], 16) for i in (1, 3, 5))
    assert paper in {c for _, c in img.getcolors(256 * 256)}


def test_routes_answer_only_a_signed_in_browser(sample_gpkg_copy, tmp_path, monkeypatch):
    """Tiles and raster overlays need the app's session cookie: a stranger on the network gets 403."""
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from layers import access
    from layers.access import Actor
    from ui import tileserver
    from ui.login import COOKIE

    ws = sample_gpkg_copy
    monkeypatch.setenv("PLANNER_WORKSPACE", ws.location)
    monkeypatch.setenv("PLANNER_TILES", str(write_mbtiles(tmp_path / "base.mbtiles", [(0, 0, 0, PNG)], name="x")))
    client = TestClient(Starlette(routes=tileserver.routes()))
    raster = next(iter(ws.rasters()))
    assert client.get("/_planner/tiles/0/0/0").status_code == 403
    assert client.get(f"/_planner/raster/{raster}.png").status_code == 403
    client.cookies.set(COOKIE, "forged")
    assert client.get("/_planner/tiles/0/0/0").status_code == 403
    access.add_user(ws, "li", role="viewer", password="a long passphrase", actor=access.SYSTEM)
    token = access.open_session(ws, Actor("li", "viewer"))
    client.cookies.set(COOKIE, token)
    tile = client.get("/_planner/tiles/0/0/0")
    assert tile.status_code == 200 and tile.content == PNG and "private" in tile.headers["cache-control"]
    png = client.get(f"/_planner/raster/{raster}.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    access.close_session(ws, token)  # signed out: the cookie no longer opens anything
    assert client.get("/_planner/tiles/0/0/0").status_code == 403
