"""The workspace: every layer, raster and result of a planning project in one place.

:class:`Workspace` is the one interface the rest of the system uses; the default backend
is a GeoPackage read and written through GDAL (pyogrio).  Layout on disk::

    ruian.gpkg              vector layers, result layers, tables (shortlists, runs)
    ruian.gpkg.rasters/     GeoTIFFs registered in the workspace (dem-<hash>.tif, slope-<hash>.tif...)

Inside the GeoPackage three bookkeeping tables record the working CRS (``ws_info``),
per-layer metadata (``ws_layers``: CRS, source, import time, row count) and registered
rasters (``ws_rasters``).

Every write is one atomic step (copy → write → integrity check → rename, under a file
lock): a failed or killed write leaves the previous file byte-identical.  A workspace
opened read-only is only ever read.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import glob
import json
import os
import re
import shutil
import sqlite3
from pathlib import Path
from typing import Iterable, Iterator, Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
from pyproj import CRS

from geo.errors import CRSMismatchError, LayerNotFoundError, MissingCRSError, SchemaError, WorkspaceError
from geo.io import atomic_path, check_sqlite_integrity, write_gpkg_layers
from layers.schema import RASTER_KINDS, SPECS, cast_fields, conform

__all__ = ["Workspace", "WorkspaceBase", "open_workspace", "DEFAULT_CRS"]

DEFAULT_CRS = "EPSG:4549"
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_META_TABLES = ("ws_info", "ws_layers", "ws_rasters")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).astimezone().isoformat(timespec="seconds")


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name) or name in _META_TABLES or name.startswith(("gpkg_", "rtree_", "sqlite_")):
        raise WorkspaceError(
            f"Layer name {name!r} is not allowed: use lower-case letters, digits and underscores, starting with a letter "
            "(and not a reserved name such as gpkg_*, rtree_*, ws_info).",
            message_zh=f"图层名 {name!r} 不合法:只能用小写字母、数字和下划线,且以字母开头。",
        )
    return name


class WorkspaceBase:
    """What every workspace backend shares: validation before writing, metadata records, rasters.

    A backend implements :meth:`layers`, :meth:`read`, :meth:`metadata`, :meth:`rasters`,
    :attr:`version`, ``_commit(prepared, metas, drop)`` (write every prepared frame and
    metadata row, and drop the named layers, as one atomic step) and
    ``_store_raster(kind, src, info, source)``.
    """

    crs: CRS
    readonly: bool

    def describe(self) -> str:  # pragma: no cover - overridden
        return type(self).__name__

    def has_layer(self, name: str) -> bool:
        return name in self.layers()

    def _not_found(self, name: str) -> LayerNotFoundError:
        return LayerNotFoundError(
            f"Workspace {self.describe()} has no layer {name!r}; it holds: {', '.join(self.layers()) or '(nothing)'}.",
            message_zh=f"工作空间中没有图层 {name!r};现有:{', '.join(self.layers()) or '(无)'}。",
        )

    def require_writable(self) -> None:
        if self.readonly:
            raise WorkspaceError(
                f"{self.describe()} was opened read-only; open it with readonly=False to change it.",
                message_zh=f"{self.describe()} 以只读方式打开,不能修改。",
            )

    def _metadata_of(self, rows: list, name: str | None) -> dict | pd.DataFrame:
        """``ws_layers`` rows as a table, or one layer's row as a dict."""
        df = pd.DataFrame(rows, columns=["layer", "kind", "crs", "source", "imported_at", "row_count", "extra"])
        df["extra"] = df["extra"].map(lambda s: json.loads(s) if s else {})
        if name is None:
            return df
        hit = df[df["layer"] == name]
        if hit.empty:
            raise self._not_found(name)
        return hit.iloc[0].to_dict()

    def read_table(self, name: str) -> pd.DataFrame:
        """Read a non-spatial table (shortlists, run records) as a DataFrame."""
        df = self.read(name)
        return pd.DataFrame(df.drop(columns="geometry", errors="ignore"))

    def write(self, name: str, frame: gpd.GeoDataFrame | pd.DataFrame, *, source: str = "", kind: str | None = None,
              extra: Mapping | None = None) -> None:
        """Write or replace one layer atomically. See :meth:`write_many`."""
        self.write_many({name: frame}, source=source, kind=kind, extra={name: extra} if extra else None)

    def write_many(self, frames: Mapping[str, gpd.GeoDataFrame | pd.DataFrame], *, source: str = "",
                   kind: str | None = None, extra: Mapping[str, Mapping] | None = None,
                   drop: tuple[str, ...] = ()) -> None:
        """Write or replace several layers (and drop others) as one atomic step.

        Core layers (``SPECS``) are checked with :func:`layers.schema.conform` first;
        spatial frames must carry the workspace CRS. Everything is validated before the
        store is touched; then the whole change lands or none of it does.
        """
        self.require_writable()
        prepared: dict[str, gpd.GeoDataFrame | pd.DataFrame] = {}
        metas: list[tuple] = []
        problems: list[str] = []
        errors: list[Exception] = []
        for name, frame in frames.items():
            _check_name(name)
            try:
                prepared[name] = self._prepare(name, frame)
            except (SchemaError, MissingCRSError, CRSMismatchError) as exc:
                problems.append(f"{name}: {exc}")
                errors.append(exc)
                continue
            gdf = prepared[name]
            is_spatial = _is_spatial(gdf)
            metas.append((
                name, kind or ("core" if name in SPECS else ("spatial" if is_spatial else "table")),
                self.crs.to_string() if is_spatial else "", source, _now(), int(len(gdf)),
                json.dumps((extra or {}).get(name) or {}, ensure_ascii=False, default=str),
            ))
        if len(errors) == 1:
            raise errors[0]
        if problems:
            raise SchemaError("Nothing was written. " + " | ".join(problems),
                              message_zh="未写入任何数据。" + " | ".join(problems), details=problems)
        for name in drop:
            _check_name(name)
        self._commit(prepared, metas, tuple(drop))

    def _prepare(self, name: str, frame) -> gpd.GeoDataFrame | pd.DataFrame:
        if not _is_spatial(frame):
            if name in SPECS:
                raise SchemaError(f"layer {name!r} needs geometries; got a table without a geometry column")
            return pd.DataFrame(frame).copy()
        if frame.crs is None:
            raise MissingCRSError(
                f"layer {name!r} has no CRS; set it (e.g. gdf.set_crs('EPSG:4549')) or declare it on import",
                message_zh=f"图层 {name!r} 没有坐标系;请在导入时声明坐标系",
            )
        if not CRS.from_user_input(frame.crs).equals(self.crs):
            raise CRSMismatchError(
                f"layer {name!r} is in {frame.crs.to_string()} but the workspace works in {self.crs.to_string()}; "
                f"reproject with gdf.to_crs('{self.crs.to_string()}') first",
                message_zh=f"图层 {name!r} 的坐标系 {frame.crs.to_string()} 与工作空间 {self.crs.to_string()} 不一致;请先转换",
            )
        return conform(frame, name) if name in SPECS else frame

    def delete(self, name: str) -> None:
        """Remove a layer or table (atomic)."""
        self.require_writable()
        if not self.has_layer(name):
            raise self._not_found(name)
        self.write_many({}, drop=(name,))

    def register_raster(self, kind: str, src: str | os.PathLike, *, source: str = "") -> Path:
        """Copy a GeoTIFF into the workspace as raster ``kind`` (dem, slope, flood_depth...).

        The raster must be georeferenced in the working CRS; it is copied atomically into
        the workspace's raster folder as ``<kind>.tif`` and recorded in ``ws_rasters``.
        """
        from geo.raster import open_raster

        self.require_writable()
        _check_name(kind)
        src = Path(src)
        with open_raster(src) as ds:
            if not CRS.from_user_input(ds.crs.to_wkt()).equals(self.crs):
                raise CRSMismatchError(
                    f"{src.name}: raster is in {ds.crs} but the workspace works in {self.crs.to_string()}; warp it first "
                    f"(gdalwarp -t_srs {self.crs.to_string()})",
                    message_zh=f"{src.name}:栅格坐标系 {ds.crs} 与工作空间不一致;请先重投影",
                )
            info = {"width": ds.width, "height": ds.height, "res": list(ds.res), "dtype": ds.dtypes[0],
                    "nodata": ds.nodata, "bounds": list(ds.bounds)}
        return self._store_raster(kind, src, info, source)

    def raster_path(self, kind: str) -> Path:
        paths = self.rasters()
        if kind not in paths:
            raise LayerNotFoundError(
                f"Workspace has no raster {kind!r}; registered: {', '.join(paths) or '(none)'}; expected kinds include {RASTER_KINDS}.",
                message_zh=f"工作空间中没有栅格 {kind!r}。",
            )
        return paths[kind]


class Workspace(WorkspaceBase):
    """A planning workspace backed by one GeoPackage file.

    Use :meth:`create` for a new one and :meth:`open` for an existing one.

    Examples
    --------
    >>> ws = Workspace.open("data/ruian/ruian.gpkg", readonly=True)   # doctest: +SKIP
    >>> plots = ws.read("plots", bbox=(498000, 3070000, 503000, 3075000), columns=["plot_id", "area_m2"])  # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike, *, readonly: bool = True):
        self.path = Path(path)
        self.readonly = readonly
        if not self.path.exists():
            raise WorkspaceError(
                f"No workspace at {self.path}. Create one with Workspace.create(path) or `python cli.py sample`.",
                message_zh=f"{self.path} 处没有工作空间。请先创建(python cli.py sample)。",
            )
        info = self._query("SELECT key, value FROM ws_info")
        if info is None:
            raise WorkspaceError(
                f"{self.path} is a GeoPackage but not a planner workspace (no ws_info table). "
                "Import it as data with `python cli.py import` instead.",
                message_zh=f"{self.path} 不是本系统的工作空间(缺少 ws_info 表)。请用导入功能导入其中的数据。",
            )
        self.info = dict(info)
        self.crs = CRS.from_user_input(self.info["crs"])

    # --- construction ---------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike, *, readonly: bool = True) -> "Workspace":
        """Open an existing workspace; ``readonly=True`` guarantees the file is not modified."""
        return cls(path, readonly=readonly)

    @classmethod
    def create(cls, path: str | os.PathLike, *, crs: str = DEFAULT_CRS, overwrite: bool = False, title: str = "",
               info: Mapping[str, str] | None = None) -> "Workspace":
        """Create an empty workspace whose working CRS is ``crs`` (projected, metric).

        ``info`` adds keys to ``ws_info`` (e.g. ``reference_date``: the "today" of a data set,
        used by date rules such as halted ≥ 1 year).
        """
        path = Path(path)
        working = CRS.from_user_input(crs)
        if not working.is_projected or working.axis_info[0].unit_name not in ("metre", "meter"):
            raise WorkspaceError(
                f"Working CRS {crs} is not a projected metric CRS; areas and distances need metres. "
                f"Use {DEFAULT_CRS} (CGCS2000 3° Gauss–Krüger CM 120°E) for Ruian.",
                message_zh=f"工作坐标系 {crs} 不是投影(米制)坐标系。瑞安请使用 {DEFAULT_CRS}。",
            )
        if path.exists() and not overwrite:
            raise WorkspaceError(f"{path} already exists; pass overwrite=True to replace it.",
                                 message_zh=f"{path} 已存在;如需覆盖请选择覆盖。")
        rasters = cls._raster_dir_for(path)
        if overwrite and rasters.exists():
            shutil.rmtree(rasters)
        with atomic_path(path, check=check_sqlite_integrity) as tmp:
            # GDAL lays down the GeoPackage system tables first so any GIS opens the file.
            pyogrio.write_dataframe(
                gpd.GeoDataFrame({"key": pd.Series([], dtype="string")}, geometry=gpd.GeoSeries([], crs=working)),
                tmp, layer="ws_bootstrap", driver="GPKG")
            con = sqlite3.connect(tmp)
            try:
                _drop_layer_con(con, "ws_bootstrap")
                _create_meta_tables(con)
                con.executemany("INSERT INTO ws_info(key, value) VALUES (?, ?)", [
                    ("crs", working.to_string()), ("created", _now()), ("title", title), ("format", "planner-workspace/1"),
                    *((str(k), str(v)) for k, v in (info or {}).items()),
                ])
                con.commit()
            finally:
                con.close()
        return cls(path, readonly=False)

    # --- internal helpers -----------------------------------------------------------
    @staticmethod
    def _raster_dir_for(path: Path) -> Path:
        return path.with_name(path.name + ".rasters")

    @property
    def raster_dir(self) -> Path:
        return self._raster_dir_for(self.path)

    def _connect(self) -> sqlite3.Connection:
        # Read-only URI: SQLite cannot create journals or change the file.
        return sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)

    def _query(self, sql: str, params: tuple = ()) -> list | None:
        con = self._connect()
        try:
            return con.execute(sql, params).fetchall()
        except sqlite3.OperationalError:
            return None
        finally:
            con.close()

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        lock_path = self.path.with_name(self.path.name + ".lock")
        with open(lock_path, "a") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                self._remove_stale_temps()
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _remove_stale_temps(self) -> None:
        # A writer killed mid-write (power cut, SIGKILL) leaves its temp copy beside the file
        # (geo.io.atomic_path names it .<stem>.<random>.tmp<suffix>); the target itself was never
        # touched. Every writer of this file holds this lock, so any such temp is an orphan.
        for tmp in self.path.parent.glob(f".{glob.escape(self.path.stem)}.*.tmp{glob.escape(self.path.suffix)}*"):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    # --- queries --------------------------------------------------------------------
    @property
    def version(self) -> tuple[int, int]:
        """(mtime_ns, size) of the file: changes on every write; a cache key for loaded layers."""
        st = self.path.stat()
        return (st.st_mtime_ns, st.st_size)

    def layers(self) -> list[str]:
        """Names of the vector layers and tables held, core layers first in spec order."""
        rows = self._query("SELECT table_name FROM gpkg_contents ORDER BY table_name") or []
        names = [r[0] for r in rows]
        core = [n for n in SPECS if n in names]
        return core + [n for n in names if n not in SPECS]

    def metadata(self, name: str | None = None) -> dict | pd.DataFrame:
        """Per-layer metadata: CRS, source, import time, row count (one layer as a dict, else a table)."""
        rows = self._query("SELECT layer, kind, crs, source, imported_at, row_count, extra FROM ws_layers ORDER BY layer") or []
        return self._metadata_of(rows, name)

    def read(self, name: str, *, bbox: tuple | None = None, columns: list[str] | None = None,
             where_in: Mapping[str, Iterable] | None = None, where: str | None = None) -> gpd.GeoDataFrame | pd.DataFrame:
        """Read a layer (or table) as a frame in the working CRS.

        Parameters
        ----------
        bbox : tuple, optional
            (minx, miny, maxx, maxy) in the working CRS; uses the GeoPackage R-tree.
        columns : list of str, optional
            Attribute columns to read; the geometry is always included for spatial layers.
        where_in : mapping, optional
            ``{column: values}``: keep rows whose column is one of the values. Values are
            quoted here, so untrusted ids (plot ids, credit codes) are safe to pass.
        where : str, optional
            A raw OGR SQL attribute filter for program-built constants only (never user text).
        """
        if not self.has_layer(name):
            raise self._not_found(name)
        clauses = [f"({where})"] if where else []
        for column, values in (where_in or {}).items():
            clauses.append(_ogr_in_clause(column, values))
        df = pyogrio.read_dataframe(self.path, layer=name, bbox=bbox, columns=columns,
                                    where=" AND ".join(clauses) or None, use_arrow=False)
        if name in SPECS:
            cast_fields(df, name)
        return df

    def describe(self) -> str:
        return str(self.path.name)

    def _commit(self, prepared: dict, metas: list[tuple], drop: tuple[str, ...]) -> None:
        def record(tmp: Path) -> None:
            con = sqlite3.connect(tmp)
            try:
                for name in drop:
                    _drop_layer_con(con, name)
                    con.execute("DELETE FROM ws_layers WHERE layer = ?", (name,))
                con.executemany(
                    "INSERT OR REPLACE INTO ws_layers(layer, kind, crs, source, imported_at, row_count, extra) VALUES (?,?,?,?,?,?,?)",
                    metas)
                con.commit()
            finally:
                con.close()

        with self._lock():
            write_gpkg_layers(self.path, prepared, after_write=record)

    def _store_raster(self, kind: str, src: Path, info: dict, source: str) -> Path:
        with self._lock():
            previous = self.rasters().get(kind)
            dest = _copy_raster_file(src, self.raster_dir, kind)
            with atomic_path(self.path, copy_existing=True, check=check_sqlite_integrity) as tmp:
                con = sqlite3.connect(tmp)
                try:
                    con.execute("INSERT OR REPLACE INTO ws_rasters(kind, file, crs, source, imported_at, info) VALUES (?,?,?,?,?,?)",
                                (kind, dest.name, self.crs.to_string(), source, _now(), json.dumps(info)))
                    con.commit()
                finally:
                    con.close()
            _forget_raster_file(previous, dest)
        return dest

    def rasters(self) -> dict[str, Path]:
        """Registered rasters: kind → GeoTIFF path."""
        rows = self._query("SELECT kind, file FROM ws_rasters ORDER BY kind") or []
        return {kind: self.raster_dir / file for kind, file in rows}


def _copy_raster_file(src: Path, raster_dir: Path, kind: str) -> Path:
    """Copy ``src`` to ``<kind>-<content hash>.tif`` (atomically) and return the new path.

    A new name per content means the metadata switches from the old file to the new one in
    a single atomic write: a crash between the copy and that write leaves an unreferenced
    file, never metadata pointing at a half-written or different raster.
    """
    import hashlib

    digest = hashlib.sha256()
    with open(src, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    raster_dir.mkdir(parents=True, exist_ok=True)
    dest = raster_dir / f"{kind}-{digest.hexdigest()[:12]}.tif"
    if not dest.exists():
        with atomic_path(dest) as tmp:
            shutil.copyfile(src, tmp)
    return dest


def _forget_raster_file(previous: Path | None, current: Path) -> None:
    """Remove the file a kind pointed to before, once the metadata no longer names it."""
    if previous is not None and previous != current:
        with contextlib.suppress(FileNotFoundError):
            previous.unlink()


def open_workspace(location: str | os.PathLike, *, readonly: bool = True, schema: str = "planner") -> WorkspaceBase:
    """Open a workspace by location: a ``.gpkg`` path, or a PostgreSQL connection string (PostGIS backend)."""
    text = os.fspath(location)
    if text.startswith(("postgresql:", "postgres:")) or "dbname=" in text:
        from layers.postgis import PostGISWorkspace

        return PostGISWorkspace.open(text, schema=schema, readonly=readonly)
    return Workspace.open(text, readonly=readonly)


def _ogr_in_clause(column: str, values: Iterable) -> str:
    """``"col" IN ('a', 'b')`` with identifiers and literals escaped (OGR SQL has no bound parameters)."""
    ident = '"' + str(column).replace('"', '""') + '"'
    literals = []
    for v in values:
        if isinstance(v, (bool, np.bool_)):
            literals.append("1" if v else "0")
        elif isinstance(v, (int, float, np.integer, np.floating)):
            literals.append(repr(float(v)) if isinstance(v, (float, np.floating)) else str(int(v)))
        else:
            literals.append("'" + str(v).replace("'", "''") + "'")
    return f"{ident} IN ({', '.join(literals)})" if literals else "0 = 1"


def _is_spatial(frame) -> bool:
    return isinstance(frame, gpd.GeoDataFrame) and getattr(frame, "_geometry_column_name", None) in frame.columns


def _create_meta_tables(con: sqlite3.Connection) -> None:
    con.execute("CREATE TABLE IF NOT EXISTS ws_info (key TEXT PRIMARY KEY, value TEXT)")
    con.execute("CREATE TABLE IF NOT EXISTS ws_layers (layer TEXT PRIMARY KEY, kind TEXT, crs TEXT, source TEXT, "
                "imported_at TEXT, row_count INTEGER, extra TEXT)")
    con.execute("CREATE TABLE IF NOT EXISTS ws_rasters (kind TEXT PRIMARY KEY, file TEXT, crs TEXT, source TEXT, "
                "imported_at TEXT, info TEXT)")


def _quote_ident(name: str) -> str:
    """An SQL identifier in double quotes with embedded quotes doubled (SQLite and PostgreSQL rules)."""
    text = str(name)
    if "\x00" in text:
        raise WorkspaceError(f"identifier {text!r} contains a NUL character", message_zh="标识符中含有 NUL 字符")
    return '"' + text.replace('"', '""') + '"'


def _drop_layer_con(con: sqlite3.Connection, name: str) -> None:
    # Values go in as parameters; identifiers cannot, so they are quoted (never formatted raw).
    row = con.execute("SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?", (name,)).fetchone()
    if row:
        con.execute(f"DROP TABLE IF EXISTS {_quote_ident(f'rtree_{name}_{row[0]}')}")
        for trig in con.execute("SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name = ?", (name,)).fetchall():
            con.execute(f"DROP TRIGGER IF EXISTS {_quote_ident(trig[0])}")
    con.execute(f"DROP TABLE IF EXISTS {_quote_ident(name)}")
    for table in ("gpkg_contents", "gpkg_geometry_columns", "gpkg_extensions", "gpkg_ogr_contents"):
        with contextlib.suppress(sqlite3.OperationalError):
            con.execute(f"DELETE FROM {table} WHERE table_name = ?", (name,))


