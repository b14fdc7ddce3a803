"""Web-Mercator ("XYZ") tiles: tile arithmetic and local tile packages (MBTiles, a {z}/{x}/{y} folder).

A planning office on an intranet (政务内网) often holds its base map as a *tile package*: an
MBTiles file (SQLite, https://github.com/mapbox/mbtiles-spec, version 1.3) or a folder of
``{z}/{x}/{y}.png`` files exported by a desktop GIS.  :func:`open_tiles` opens either and
returns a :class:`TileSource` whose :meth:`~TileSource.tile` gives the bytes of one tile in
the XYZ scheme Leaflet asks for (row 0 at the top; MBTiles stores TMS rows, row 0 at the
bottom, so ``tile_row = 2**z - 1 - y``).

Only raster tiles (PNG, JPEG, WebP) are served: vector tiles (``format = pbf``) would need a
vector renderer in the browser, and PMTiles a range-request reader; both are refused with an
explanation (convert them to a raster MBTiles first).

:func:`write_mbtiles` writes a package (used to build a small one from a workspace's own
layers in tests); it writes to a temporary file and renames it, so a reader never sees half
a package.

The formulas (Web Mercator, EPSG:3857, 256-pixel tiles)::

    n = 2 ** z
    x = floor((lon + 180) / 360 * n)
    y = floor((1 - asinh(tan(lat)) / π) / 2 * n)
"""
from __future__ import annotations

import math
import os
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from geo.errors import ImportDataError
from geo.io import atomic_path

__all__ = [
    "MAX_LAT",
    "TileSource",
    "MBTiles",
    "TileFolder",
    "open_tiles",
    "tile_bounds",
    "tile_range",
    "lonlat_to_tile",
    "write_mbtiles",
    "MEDIA_TYPES",
    "iter_tiles",
]

MAX_LAT = 85.0511287798066  # Web Mercator's latitude limit: atan(sinh(π))
# Tile image formats a browser draws as an <img>, by MBTiles ``format`` / file extension.
MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}
_MAX_ZOOM = 24


def lonlat_to_tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The XYZ tile ``(x, y)`` holding the point (lon, lat in degrees, EPSG:4326) at zoom ``z``.

    >>> lonlat_to_tile(0.0, 0.0, 1)
    (1, 1)
    >>> lonlat_to_tile(120.63, 27.78, 12)
    (3420, 1710)
    """
    n = 2 ** int(z)
    lat = min(max(float(lat), -MAX_LAT), MAX_LAT)
    x = int(np.floor((float(lon) + 180.0) / 360.0 * n))
    y = int(np.floor((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n))
    return min(max(x, 0), n - 1), min(max(y, 0), n - 1)


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """``(west, south, east, north)`` in degrees of XYZ tile (z, x, y).

    >>> tile_bounds(0, 0, 0)[0], round(tile_bounds(0, 0, 0)[3], 6)
    (-180.0, 85.051129)
    """
    n = 2 ** int(z)

    def lat(row: int) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return x / n * 360.0 - 180.0, lat(y + 1), (x + 1) / n * 360.0 - 180.0, lat(y)


def tile_range(bounds: tuple[float, float, float, float], z: int) -> tuple[range, range]:
    """The ``x`` and ``y`` ranges of the tiles covering ``bounds`` (west, south, east, north) at zoom ``z``."""
    w, s, e, n = (float(v) for v in bounds)
    x0, y0 = lonlat_to_tile(w, n, z)
    x1, y1 = lonlat_to_tile(e, s, z)
    return range(x0, x1 + 1), range(y0, y1 + 1)


@dataclass
class TileSource:
    """A local tile package: metadata and :meth:`tile`.

    Attributes
    ----------
    path : Path
    name : str
        Human name (MBTiles ``name``, else the file or folder name).
    format : str
        ``png``, ``jpg`` or ``webp``.
    minzoom, maxzoom : int
    bounds : (west, south, east, north) or None
        Degrees, when the package says.
    attribution : str
    """

    path: Path
    name: str
    format: str
    minzoom: int = 0
    maxzoom: int = 18
    bounds: tuple[float, float, float, float] | None = None
    attribution: str = ""
    stamp: tuple = field(default=(), repr=False)

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]

    def tile(self, z: int, x: int, y: int) -> bytes | None:  # pragma: no cover - overridden
        raise NotImplementedError

    @staticmethod
    def _valid(z: int, x: int, y: int) -> bool:
        return 0 <= z <= _MAX_ZOOM and 0 <= x < 2 ** z and 0 <= y < 2 ** z


class MBTiles(TileSource):
    """An MBTiles file opened read-only (``file:…?mode=ro``): nothing is ever written to it."""

    def __init__(self, path: str | os.PathLike):
        path = Path(path)
        meta = _mbtiles_metadata(path)
        fmt = str(meta.get("format", "png")).lower()
        if fmt not in MEDIA_TYPES:
            raise ImportDataError(
                f"{path.name}: tile format {fmt!r} is not supported; the map draws raster tiles "
                f"({', '.join(sorted(set(MEDIA_TYPES)))}). Vector tiles (pbf) need converting to a raster MBTiles first.",
                message_zh=f"{path.name}:切片格式 {fmt!r} 不受支持;地图只能显示栅格切片(png/jpg/webp)。"
                "矢量切片(pbf)请先转换为栅格 MBTiles。",
            )
        bounds = None
        try:
            w, s, e, n = (float(v) for v in str(meta["bounds"]).split(","))
            bounds = (w, s, e, n)
        except (KeyError, ValueError):
            pass
        st = path.stat()
        super().__init__(path=path, name=str(meta.get("name") or path.stem), format=fmt,
                         minzoom=int(meta.get("minzoom", 0)), maxzoom=int(meta.get("maxzoom", 18)), bounds=bounds,
                         attribution=str(meta.get("attribution", "")), stamp=(str(path), st.st_mtime_ns, st.st_size))

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """The tile's bytes, or None when the package has no such tile."""
        if not self._valid(z, x, y):
            return None
        with _connect(self.path) as con:
            row = con.execute("SELECT tile_data FROM tiles WHERE zoom_level=? AND tile_column=? AND tile_row=?",
                              (int(z), int(x), (2 ** int(z)) - 1 - int(y))).fetchone()
        return bytes(row[0]) if row else None


class TileFolder(TileSource):
    """A folder of ``{z}/{x}/{y}.<ext>`` files (XYZ rows, as desktop GIS exports write them)."""

    def __init__(self, path: str | os.PathLike):
        path = Path(path)
        zooms = sorted(int(p.name) for p in path.iterdir() if p.is_dir() and p.name.isdigit())
        if not zooms:
            raise ImportDataError(
                f"{path}: no zoom folders (0, 1, …) inside; expected a {{z}}/{{x}}/{{y}}.png tile folder.",
                message_zh=f"{path}:没有缩放级别文件夹(0、1、…);需要 {{z}}/{{x}}/{{y}}.png 结构的切片文件夹。",
            )
        fmt = _folder_format(path / str(zooms[0]))
        st = path.stat()
        super().__init__(path=path, name=path.name, format=fmt, minzoom=zooms[0], maxzoom=zooms[-1],
                         stamp=(str(path), st.st_mtime_ns))

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        if not self._valid(z, x, y):
            return None
        # z, x, y are integers: the path cannot leave the folder
        f = self.path / str(int(z)) / str(int(x)) / f"{int(y)}.{self.format}"
        try:
            return f.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None


def _folder_format(zoom_dir: Path) -> str:
    for x_dir in zoom_dir.iterdir():
        if x_dir.is_dir():
            for f in x_dir.iterdir():
                ext = f.suffix.lower().lstrip(".")
                if ext in MEDIA_TYPES:
                    return ext
    raise ImportDataError(
        f"{zoom_dir}: no .png/.jpg/.webp tiles found under the zoom folder.",
        message_zh=f"{zoom_dir}:缩放级别文件夹下没有 .png/.jpg/.webp 切片。",
    )


def _connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)


def _mbtiles_metadata(path: Path) -> dict[str, str]:
    try:
        with _connect(path) as con:
            rows = con.execute("SELECT name, value FROM metadata").fetchall()
            con.execute("SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles LIMIT 1").fetchall()
    except sqlite3.DatabaseError as exc:
        raise ImportDataError(
            f"{path.name} is not an MBTiles file ({exc}); expected an SQLite file with 'metadata' and 'tiles' tables.",
            message_zh=f"{path.name} 不是 MBTiles 文件({exc});需要含 metadata 与 tiles 表的 SQLite 文件。",
        ) from None
    return {str(k): v for k, v in rows}


def open_tiles(path: str | os.PathLike) -> TileSource:
    """Open a tile package: an ``.mbtiles`` file or a ``{z}/{x}/{y}`` folder.

    Raises
    ------
    ImportDataError
        The path is missing, a PMTiles file, or not a tile package (the message says what to provide).
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise ImportDataError(
            f"Tile package {p} does not exist; give an .mbtiles file or a {{z}}/{{x}}/{{y}} folder.",
            message_zh=f"切片包 {p} 不存在;请提供 .mbtiles 文件或 {{z}}/{{x}}/{{y}} 切片文件夹。",
        )
    if p.is_dir():
        return TileFolder(p)
    if p.suffix.lower() == ".pmtiles":
        raise ImportDataError(
            f"{p.name}: PMTiles is not served yet; convert it to MBTiles (`pmtiles convert {p.name} out.mbtiles`).",
            message_zh=f"{p.name}:暂不支持 PMTiles;请先转换为 MBTiles(pmtiles convert {p.name} out.mbtiles)。",
        )
    return MBTiles(p)


def write_mbtiles(path: str | os.PathLike, tiles: Iterable[tuple[int, int, int, bytes]], *, name: str,
                  format: str = "png", bounds: tuple[float, float, float, float] | None = None,
                  attribution: str = "", description: str = "") -> Path:
    """Write an MBTiles 1.3 file from ``(z, x, y, data)`` tiles in the XYZ scheme (rows flipped to TMS here).

    Written to a temporary file and renamed into place (:func:`geo.io.atomic_path`).
    """
    if format not in MEDIA_TYPES:
        raise ValueError(f"format={format!r}; choose one of {sorted(MEDIA_TYPES)}")
    rows: list[tuple[int, int, int, bytes]] = [(int(z), int(x), (2 ** int(z)) - 1 - int(y), bytes(d))
                                               for z, x, y, d in tiles]
    zooms = [r[0] for r in rows] or [0]
    meta = {"name": name, "format": format, "type": "baselayer", "version": "1.3", "description": description,
            "attribution": attribution, "minzoom": str(min(zooms)), "maxzoom": str(max(zooms))}
    if bounds is not None:
        meta["bounds"] = ",".join(f"{v:.6f}" for v in bounds)
    with atomic_path(path) as tmp:
        con = sqlite3.connect(tmp)
        try:
            con.executescript(
                "CREATE TABLE metadata (name TEXT, value TEXT);"
                "CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB);"
                "CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row);"
            )
            con.executemany("INSERT INTO metadata VALUES (?, ?)", list(meta.items()))
            con.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)", rows)
            con.commit()
        finally:
            con.close()
    return Path(path)


def iter_tiles(bounds: tuple[float, float, float, float], zooms: Iterable[int]) -> Iterator[tuple[int, int, int]]:
    """Every ``(z, x, y)`` covering ``bounds`` at each zoom of ``zooms``."""
    for z in zooms:
        xs, ys = tile_range(bounds, z)
        for x in xs:
            for y in ys:
                yield z, x, y

