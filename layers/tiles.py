"""Vector tiles of the big layers, kept with the workspace: every plot on the map at every zoom.

A *tile set* is one layer of the workspace (``plots``; ``enterprises``) cut into Mapbox Vector
Tiles (:mod:`geo.vtiles`) for zooms :data:`ZOOMS`, plus its *index*: one row per feature, in
the order of the features' ids in the tiles — the layer's key (``plot_id``), its group
(``township_code``: each township's features are a layer of their own inside a tile, so a
township official is handed only theirs), the feature's bounding box in degrees and its
representative point in the working CRS.  The app draws the tiles and colours each feature by
looking its id up in a small array made per run and filter (``ui.tileserver``); the server
never holds the geometries.

Where tile sets live — beside the layers, so that every app server reads the same ones:

- GeoPackage workspace: ``<workspace>.gpkg.tiles/<layer>.mbtiles`` (MBTiles 1.3, ``format =
  pbf``, gzip-compressed tiles; the index as a Parquet blob in table ``planner_index``),
  written to a temporary file and renamed into place, so a reader sees the old set or the
  new one.  GDAL, QGIS or tippecanoe's tools open the file as any vector MBTiles.
- PostGIS workspace: tables ``ws_tile_sets`` (one row per layer: stamp, metadata, index)
  and ``ws_tiles`` (layer, z, x, y, data) in the workspace's schema, replaced in one
  transaction.

**When they are built**: right after a user action stores a tiled layer — ``cli.py sample``,
``cli.py import`` and the import page, ``cli.py workspace copy``, a restored layer version; and
after a stored run (``cli.py evaluate``, "run the analyses") when the plots' set is missing —
each of those calls :func:`refresh` once its transaction has committed (never inside one: the
store knows nothing of tiles).  A build that fails there leaves the stored data as it is (the
caller says so); the map page still asks :func:`ensure` on first view, which builds a missing or
stale set then (a planner waits for it once), and ``python cli.py tiles`` builds one on demand.
Each set records the *stamp* of the layer it was cut from (the layer's version, change time and
row count in the workspace metadata); a set whose stamp is not the layer's current one is stale: :func:`tile` returns
nothing for it (the routes answer 404) and :func:`ensure` rebuilds it.  A build of a big layer
runs in a child process (``python -m layers.tiles build``), so the app server never holds the
layer's geometries; builds of one set are serialised across processes (a lock file; a
PostgreSQL advisory lock).
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import io
import json
import logging
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from geo.errors import PlannerError, WorkspaceError
from geo.io import atomic_path
from geo.progress import Progress, Steps
from geo.vtiles import MEDIA_TYPE, encode_tiles, spatial_order
from geo.web import display_copy

__all__ = ["ZOOMS", "TILED_LAYERS", "IN_PROCESS_MAX", "TileSetInfo", "layer_stamp", "info", "tile", "index", "build",
           "ensure", "refresh", "Refreshed", "tile_store", "MEDIA_TYPE", "read_columns", "read_many_columns", "EMPTY"]

# Native zooms of a tile set: 10 shows a county (≈ 40 km across on a screen), 16 a street block.  The browser
# draws zooms below 10 from the z10 tiles and above 16 from the z16 tiles (ui/static renderer), so every zoom
# shows every feature.
ZOOMS = tuple(range(10, 17))
# Layers cut into tiles: their key (the feature's id in the app) and group (who may see it) columns.
TILED_LAYERS: dict[str, tuple[str, str]] = {"plots": ("plot_id", "township_code"),
                                            "enterprises": ("credit_code", "township_code")}
IN_PROCESS_MAX = 50_000  # more features than this: build in a child process (its memory is freed when it exits)
_ROOT = Path(__file__).resolve().parents[1]
_TOLERANCE_M, _DECIMALS = 0.5, 6  # the display copies' simplification and rounding (as ui.shell's)
_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TileSetInfo:
    """A stored tile set: its layer, the layer stamp it was cut from, what it holds and what it cost."""

    layer: str
    stamp: str
    count: int
    minzoom: int
    maxzoom: int
    bounds: tuple[float, float, float, float]
    n_tiles: int
    n_bytes: int
    build_s: float
    built_at: str

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> TileSetInfo:
        d = json.loads(text)
        d["bounds"] = tuple(d["bounds"])
        return cls(**d)


def layer_stamp(ws, layer: str) -> str:
    """The layer's current stamp: a hash of its version, change time and row count (what a set must match)."""
    meta = ws.metadata(layer)
    text = f"{meta.get('version')}|{meta.get('changed_at')}|{meta.get('row_count')}|{meta.get('imported_at')}"
    return hashlib.sha1(text.encode()).hexdigest()[:12]


# --- the two stores ---------------------------------------------------------------------------------------
class _FileStore:
    """Tile sets of a GeoPackage workspace: ``<workspace>.tiles/<layer>.mbtiles`` beside the file."""

    def __init__(self, ws):
        self.dir = Path(ws.location + ".tiles")

    def path(self, layer: str) -> Path:
        return self.dir / f"{layer}.mbtiles"

    def _connect(self, layer: str) -> sqlite3.Connection | None:
        p = self.path(layer)
        if not p.exists():
            return None
        return sqlite3.connect(f"file:{p}?mode=ro", uri=True, check_same_thread=False)

    def info(self, layer: str) -> TileSetInfo | None:
        con = self._connect(layer)
        if con is None:
            return None
        with contextlib.closing(con):
            row = con.execute("SELECT value FROM metadata WHERE name = 'planner'").fetchone()
        return TileSetInfo.from_json(row[0]) if row else None

    def tile(self, layer: str, stamp: str, z: int, x: int, y: int) -> bytes | None:
        con = self._connect(layer)
        if con is None:
            return None
        with contextlib.closing(con):
            row = con.execute("SELECT value FROM metadata WHERE name = 'planner'").fetchone()
            if not row or TileSetInfo.from_json(row[0]).stamp != stamp:
                return None
            hit = con.execute("SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
                              (z, x, (1 << z) - 1 - y)).fetchone()
        return bytes(hit[0]) if hit else None

    def index(self, layer: str) -> bytes | None:
        con = self._connect(layer)
        if con is None:
            return None
        with contextlib.closing(con):
            row = con.execute("SELECT data FROM planner_index").fetchone()
        return bytes(row[0]) if row else None

    def replace(self, info: TileSetInfo, tiles: Iterable[tuple[int, int, int, bytes]], index_parquet: bytes,
                started: float) -> None:
        meta = {"name": info.layer, "format": "pbf", "type": "overlay", "version": "1.3",
                "minzoom": str(info.minzoom), "maxzoom": str(info.maxzoom),
                "bounds": ",".join(f"{v:.6f}" for v in info.bounds),
                "description": "planner: feature ids are rows of table planner_index",
                "json": json.dumps({"vector_layers": [{"id": info.layer, "minzoom": info.minzoom,
                                                       "maxzoom": info.maxzoom, "fields": {}}]})}
        with atomic_path(self.path(info.layer)) as tmp:
            con = sqlite3.connect(tmp)
            try:
                con.executescript(
                    "CREATE TABLE metadata (name TEXT, value TEXT);"
                    "CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB);"
                    "CREATE TABLE planner_index (data BLOB);")
                n_tiles = n_bytes = 0
                rows = []
                for z, x, y, data in tiles:
                    rows.append((z, x, (1 << z) - 1 - y, data))
                    n_tiles += 1
                    n_bytes += len(data)
                    if len(rows) >= 2000:
                        con.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)", rows)
                        rows = []
                con.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)", rows)
                con.execute("CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row)")
                info = _finished(info, n_tiles, n_bytes, started)
                meta["planner"] = info.to_json()
                con.executemany("INSERT INTO metadata VALUES (?, ?)", list(meta.items()))
                con.execute("INSERT INTO planner_index VALUES (?)", (index_parquet,))
                con.commit()
            finally:
                con.close()

    @contextlib.contextmanager
    def lock(self, layer: str) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / f"{layer}.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


class _DatabaseStore:
    """Tile sets of a PostGIS workspace: tables ``ws_tile_sets`` and ``ws_tiles`` in its schema."""

    def __init__(self, ws):
        self.ws = ws
        self.sets, self.tiles = f'"{ws.schema}"."ws_tile_sets"', f'"{ws.schema}"."ws_tiles"'

    def _exists(self, con) -> bool:
        return con.execute("SELECT to_regclass(%s)", (self.sets,)).fetchone()[0] is not None

    def info(self, layer: str) -> TileSetInfo | None:
        with contextlib.closing(self.ws._connect()) as con:
            if not self._exists(con):
                return None
            row = con.execute(f"SELECT info FROM {self.sets} WHERE layer = %s", (layer,)).fetchone()
        return TileSetInfo.from_json(row[0]) if row else None

    def tile(self, layer: str, stamp: str, z: int, x: int, y: int) -> bytes | None:
        with contextlib.closing(self.ws._connect()) as con:
            if not self._exists(con):
                return None
            row = con.execute(f"SELECT t.data FROM {self.tiles} t JOIN {self.sets} s ON s.layer = t.layer "
                              "WHERE t.layer = %s AND s.stamp = %s AND t.z = %s AND t.x = %s AND t.y = %s",
                              (layer, stamp, z, x, y)).fetchone()
        return bytes(row[0]) if row else None

    def index(self, layer: str) -> bytes | None:
        with contextlib.closing(self.ws._connect()) as con:
            if not self._exists(con):
                return None
            row = con.execute(f"SELECT index_data FROM {self.sets} WHERE layer = %s", (layer,)).fetchone()
        return bytes(row[0]) if row else None

    def replace(self, info: TileSetInfo, tiles: Iterable[tuple[int, int, int, bytes]], index_parquet: bytes,
                started: float) -> None:
        with contextlib.closing(self.ws._connect()) as con:
            con.execute(f"CREATE TABLE IF NOT EXISTS {self.sets} (layer text PRIMARY KEY, stamp text NOT NULL, "
                        "info text NOT NULL, index_data bytea NOT NULL)")
            con.execute(f"CREATE TABLE IF NOT EXISTS {self.tiles} (layer text, z integer, x integer, y integer, "
                        "data bytea NOT NULL, PRIMARY KEY (layer, z, x, y))")
            con.execute(f"DELETE FROM {self.tiles} WHERE layer = %s", (info.layer,))
            n_tiles = n_bytes = 0
            with con.cursor().copy(f"COPY {self.tiles} (layer, z, x, y, data) FROM STDIN") as copy:
                for z, x, y, data in tiles:
                    copy.write_row((info.layer, z, x, y, data))
                    n_tiles += 1
                    n_bytes += len(data)
            info = _finished(info, n_tiles, n_bytes, started)
            con.execute(f"INSERT INTO {self.sets} (layer, stamp, info, index_data) VALUES (%s, %s, %s, %s) "
                        "ON CONFLICT (layer) DO UPDATE SET stamp = EXCLUDED.stamp, info = EXCLUDED.info, "
                        "index_data = EXCLUDED.index_data", (info.layer, info.stamp, info.to_json(), index_parquet))
            con.commit()  # tiles and set together: a reader sees the old set or the new one

    @contextlib.contextmanager
    def lock(self, layer: str) -> Iterator[None]:
        key = int.from_bytes(hashlib.sha256(f"planner-tiles:{self.ws.schema}:{layer}".encode()).digest()[:8], "big",
                             signed=True)
        with contextlib.closing(self.ws._connect()) as con:
            con.autocommit = True
            con.execute("SELECT pg_advisory_lock(%s)", (key,))
            try:
                yield
            finally:
                con.execute("SELECT pg_advisory_unlock(%s)", (key,))


def _finished(info: TileSetInfo, n_tiles: int, n_bytes: int, started: float) -> TileSetInfo:
    """``info`` with its tiles counted and the build timed up to now (the tiles are encoded while being written)."""
    return dataclasses.replace(info, n_tiles=n_tiles, n_bytes=n_bytes, build_s=round(time.perf_counter() - started, 2))


def tile_store(ws) -> _FileStore | _DatabaseStore:
    """Where ``ws`` keeps its tile sets (a folder beside a GeoPackage, tables of a PostGIS schema)."""
    from layers.store import is_database

    return _DatabaseStore(ws) if is_database(ws.location) else _FileStore(ws)


# --- reading -------------------------------------------------------------------------------------------------------
def info(ws, layer: str) -> TileSetInfo | None:
    """The stored tile set of ``layer`` (current or stale), or None."""
    return tile_store(ws).info(layer)


EMPTY = b""  # a tile of a current set with no feature there (not an error: the area is simply empty)


def tile(ws, layer: str, stamp: str, z: int, x: int, y: int) -> bytes | None:
    """One gzip-compressed tile of ``layer``'s set, only while ``stamp`` is both the set's and the layer's stamp.

    None when the set is missing or stale; :data:`EMPTY` when the set is current and holds nothing there.
    """
    if not ws.has_layer(layer) or layer_stamp(ws, layer) != stamp:
        return None
    store = tile_store(ws)
    found = store.tile(layer, stamp, int(z), int(x), int(y))
    if found is not None:
        return found
    current = store.info(layer)
    return EMPTY if current is not None and current.stamp == stamp else None


def index(ws, layer: str) -> pd.DataFrame:
    """The set's index: one row per feature id — ``row`` (the feature's position in the layer as
    ``ws.read`` returns it), ``key``, ``group``, ``west``/``south``/``east``/``north`` (degrees),
    ``x``/``y`` (the representative point, working CRS)."""
    blob = tile_store(ws).index(layer)
    if blob is None:
        raise WorkspaceError(f"no tile set of {layer!r} in {ws.describe()}; build it with "
                             f"`python cli.py tiles --layer {layer}`",
                             message_zh=f"{ws.describe()} 中没有图层 {layer} 的切片;请运行 python cli.py tiles --layer {layer}")
    import pyarrow.parquet as pq

    return pq.read_table(io.BytesIO(blob)).to_pandas()


# --- building ------------------------------------------------------------------------------------------------------
def build(ws, layer: str, *, zooms: Iterable[int] = ZOOMS) -> TileSetInfo:
    """Cut ``layer`` into vector tiles and store the set with the workspace (in this process).

    Reads the layer once (geometry, key and group columns), makes the display copy (0.5 m,
    EPSG:4326), orders the features along a Z-order curve (:func:`geo.vtiles.spatial_order`),
    encodes every zoom and replaces the stored set in one step.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    key, group = TILED_LAYERS[layer]
    t0 = time.perf_counter()
    stamp = layer_stamp(ws, layer)
    present = set(ws.columns(layer))
    frame = ws.read(layer, columns=[c for c in (key, group) if c in present])
    frame.index = pd.RangeIndex(len(frame))
    geoms = frame.geometry.to_numpy()
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    frame = frame[ok]
    points = shapely.point_on_surface(frame.geometry.to_numpy())
    shown = display_copy(frame, tolerance_m=_TOLERANCE_M, decimals=_DECIMALS, name=layer)
    pts = shapely.transform(points, _to_4326(ws.crs), interleaved=False)
    order = spatial_order(shapely.get_x(pts), shapely.get_y(pts))
    shown, points, pts = shown.iloc[order], points[order], pts[order]
    geoms = shown.geometry.to_numpy()
    groups = shown[group].astype("string").fillna("").to_numpy(dtype=str) if group in shown.columns else None
    bounds = shapely.bounds(geoms)
    keys = frame[key].astype("string").to_numpy()[order] if key in frame.columns else np.arange(len(frame)).astype(str)
    table = pa.table({"row": frame.index.to_numpy()[order].astype(np.int64),  # position in the layer as read
                      "key": pa.array(keys, type=pa.string()),
                      "group": pa.array(groups if groups is not None else np.full(len(keys), ""), type=pa.string()),
                      "west": bounds[:, 0], "south": bounds[:, 1], "east": bounds[:, 2], "north": bounds[:, 3],
                      "x": shapely.get_x(points), "y": shapely.get_y(points)})
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    zooms = tuple(int(z) for z in zooms)
    total = (float(bounds[:, 0].min()), float(bounds[:, 1].min()), float(bounds[:, 2].max()), float(bounds[:, 3].max())) \
        if len(bounds) else (0.0, 0.0, 0.0, 0.0)
    tiles = encode_tiles(geoms, zooms=zooms, layer=layer, groups=groups, points=pts) if len(geoms) else iter(())
    meta = TileSetInfo(layer=layer, stamp=stamp, count=len(keys), minzoom=min(zooms), maxzoom=max(zooms), bounds=total,
                       n_tiles=0, n_bytes=0, build_s=0.0, built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    store = tile_store(ws)
    store.replace(meta, tiles, sink.getvalue(), started=t0)
    return store.info(layer) or meta


def _to_4326(crs):
    from pyproj import Transformer

    tr = Transformer.from_crs(crs, 4326, always_xy=True)
    return lambda x, y: tr.transform(x, y)


def ensure(ws, layer: str, *, in_process: bool | None = None) -> TileSetInfo:
    """The current tile set of ``layer``: the stored one when its stamp is the layer's, else built now.

    A build of more than :data:`IN_PROCESS_MAX` features runs in a child process
    (``python -m layers.tiles build``), so the caller (an app server) never holds the
    layer's geometries; ``in_process`` forces one way.  Builds of one set are serialised
    across processes; a caller that waited for another's build takes its result.
    """
    store = tile_store(ws)
    current = layer_stamp(ws, layer)
    found = store.info(layer)
    if found is not None and found.stamp == current:
        return found
    with store.lock(layer):
        found = store.info(layer)
        if found is not None and found.stamp == layer_stamp(ws, layer):
            return found
        rows = int(ws.metadata(layer).get("row_count") or 0)
        if in_process if in_process is not None else rows <= IN_PROCESS_MAX:
            return build(ws, layer)
        _build_in_child(ws.location, layer)
        found = store.info(layer)
    if found is None:
        raise WorkspaceError(f"building the tiles of {layer!r} left no tile set", message_zh=f"图层 {layer} 切片生成失败")
    return found


@dataclasses.dataclass(frozen=True)
class Refreshed:
    """What :func:`refresh` did per layer: sets built now, sets already current, builds that failed (and why)."""

    built: dict[str, TileSetInfo]
    kept: dict[str, TileSetInfo]
    failed: dict[str, PlannerError]


def refresh(ws, layers: Iterable[str] | None = None, *, progress: Progress | None = None) -> Refreshed:
    """Make the tile sets of ``layers`` (default: every tiled layer held) current, right after they were stored.

    Called by each user action that stores a tiled layer, once its transaction has committed
    (see the module's docstring).  Each set missing or stale is built by :func:`ensure` (in a
    child process for a big layer); a current one is kept.  A build that fails does not raise:
    the layer is stored and stays so, the failure is returned (and logged) for the caller to
    report, and the map builds the set on first view instead.

    Parameters
    ----------
    ws : Workspace
        The workspace just written (read-only is enough: tile sets are not layers).
    layers : iterable of str, optional
        The layers just stored; those not in :data:`TILED_LAYERS` or not held are skipped.
    progress : Progress, optional
        Told as each layer's set is made (:mod:`geo.progress`).
    """
    wanted = [n for n in dict.fromkeys(TILED_LAYERS if layers is None else layers)
              if n in TILED_LAYERS and ws.has_layer(n)]
    built: dict[str, TileSetInfo] = {}
    kept: dict[str, TileSetInfo] = {}
    failed: dict[str, PlannerError] = {}
    steps = Steps(progress, wanted, task="tiles")
    for name in wanted:
        steps.start(name)
        before = info(ws, name)
        try:
            done = ensure(ws, name)
        except Exception as exc:  # any failure: the set is derived, the stored layer must stand regardless
            _log.warning("tiles of %s not built (the layer is stored; the map builds them on first view): %s",
                         name, exc, exc_info=_log.isEnabledFor(logging.DEBUG))
            failed[name] = exc if isinstance(exc, PlannerError) else WorkspaceError(
                f"building the tiles of {name} failed: {exc}", message_zh=f"图层 {name} 的矢量切片生成失败:{exc}")
            continue
        (kept if before is not None and before.stamp == done.stamp else built)[name] = done
        _log.info("tiles of %s: %s (%d features, %d tiles, %.1f s)", name, "built" if name in built else "current",
                  done.count, done.n_tiles, done.build_s)
    steps.finish()
    return Refreshed(built, kept, failed)


def _child(*args: str, what: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "layers.tiles", *args], cwd=_ROOT, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(_ROOT)))
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise WorkspaceError(f"{what} failed: {' / '.join(tail)}", message_zh=f"{what} 失败:{' / '.join(tail)}")


def _build_in_child(location: str, layer: str) -> None:
    _child("build", location, layer, what=f"building the tiles of {layer}")


# --- attribute columns of a big layer -----------------------------------------------------------------------------
def read_columns(ws, name: str, columns: list[str] | None = None) -> pd.DataFrame:
    """Attribute columns of a layer (no geometry), as ``ws.read(name, columns=…, geometry=False)`` gives them
    (see :func:`read_many_columns`)."""
    return read_many_columns(ws, {name: columns})[name]


def read_many_columns(ws, wanted: dict[str, list[str] | None]) -> dict[str, pd.DataFrame]:
    """Attribute columns of several layers (no geometry): ``{layer: columns or None for all}`` → frames.

    GeoPackage layers of more than :data:`IN_PROCESS_MAX` rows are read by GDAL (pyogrio, Arrow)
    in one child process — a million plots with their run's results in about 3 s instead of
    15 s of Python rows — and handed back as Arrow files (GDAL never opens the workspace in this
    process: ``geo/gpkg.py`` says why).  The same columns, in the same order, either way; spec
    fields cast by ``layers.schema.cast_fields``.
    """
    from layers.store import is_database

    held = set(ws.layers())
    big = {n: c for n, c in wanted.items()
           if not is_database(ws.location) and n in held and int(ws.metadata(n).get("row_count") or 0) > IN_PROCESS_MAX}
    out = {n: ws.read(n, columns=c, geometry=False) for n, c in wanted.items() if n not in big}
    if not big:
        return out
    import tempfile

    import pyarrow.feather as feather

    from layers.schema import SPECS, cast_fields

    with tempfile.TemporaryDirectory(prefix="planner-cols-") as tmp:
        args = []
        for i, (n, c) in enumerate(big.items()):
            args += [n, ",".join(c) if c is not None else "*", str(Path(tmp) / f"{i}.arrow")]
        _child("columns", ws.location, *args, what=f"reading {', '.join(big)}")
        for i, n in enumerate(big):
            df = feather.read_table(Path(tmp) / f"{i}.arrow").to_pandas()
            if n in SPECS:
                cast_fields(df, n)
            out[n] = df
    return out


def _write_columns(location: str, *specs: str) -> None:
    """Each (layer, comma-separated columns or ``*``, output file) triple as an Arrow file (GDAL, child process)."""
    import pyarrow.feather as feather
    import pyogrio

    for name, columns, out in zip(specs[0::3], specs[1::3], specs[2::3]):
        cols = None if columns == "*" else [c for c in columns.split(",") if c]
        table = pyogrio.read_arrow(location, layer=name, columns=cols, read_geometry=False)[1]
        if cols is not None:
            table = table.select([c for c in cols if c in table.column_names])
        feather.write_feather(table, out, compression="uncompressed")


def _main(argv: list[str]) -> int:
    """``python -m layers.tiles build LOCATION LAYER`` / ``columns LOCATION LAYER COLS OUT``: the child processes
    of :func:`ensure` and :func:`read_columns`."""
    import geo  # noqa: F401  (GDAL settings before any GDAL import)

    if len(argv) == 3 and argv[0] == "build":
        from layers.store import open_workspace

        print(build(open_workspace(argv[1]), argv[2]).to_json())
        return 0
    if len(argv) >= 5 and argv[0] == "columns" and (len(argv) - 2) % 3 == 0:
        _write_columns(*argv[1:])
        return 0
    print("usage: python -m layers.tiles build LOCATION LAYER | columns LOCATION (LAYER COLS OUT)...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
