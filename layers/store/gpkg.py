"""The GeoPackage workspace: one ``.gpkg`` file written in SQLite transactions.

Layout on disk::

    ruian.gpkg              layers, result layers, bookkeeping tables (runs, shortlist, audit log…)
    ruian.gpkg.rasters/     GeoTIFFs registered in the workspace (dem-<hash>.tif, slope-<hash>.tif…)

Every change is one SQLite transaction in the file (:mod:`geo.gpkg`), in write-ahead-log
mode: a shortlist click writes the rows it changes — not a copy of the file — and a killed
writer leaves the last committed state, which SQLite's journal restores on the next open.
Concurrent writers (other app sessions, the CLI, QGIS in another process) wait for each
other (``busy_timeout``); none overwrites another.  Keep the file on a local disk: SQLite's
locks are unreliable on network shares — an office sharing one workspace uses PostGIS.

Never open a workspace file with GDAL (pyogrio) inside a process that writes it through
this module: GDAL's own SQLite does not see these locks (see :mod:`geo.gpkg`).
"""
from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
from pyproj import CRS

from geo import gpkg
from geo.errors import WorkspaceError
from geo.io import atomic_path
from layers import access
from layers.access import Actor
from layers.store._pool import IdlePool
from layers.store.base import DEFAULT_CRS, FORMAT, Transaction, WorkspaceBase, geometry_type_name, is_spatial, now_utc
from layers.store.tables import META_TABLES, TableDef

__all__ = ["GeoPackageWorkspace"]

_GEOM = "geom"
# Read-only connections kept between reads (layers.store._pool): a page asks a few dozen small questions per rerun.
_READERS = IdlePool(8, lambda con: con.close())
_SQL_TYPES = {"text": "TEXT", "int": "INTEGER", "real": "REAL", "bool": "BOOLEAN"}


class _SqliteTx(Transaction):
    """The transaction primitives on one ``sqlite3`` connection."""

    def __init__(self, ws: GeoPackageWorkspace, con: sqlite3.Connection, *args, **kw):
        super().__init__(ws, *args, **kw)
        self.con = con

    def execute(self, sql, params=()):
        return self.con.execute(sql, tuple(params)).fetchall()

    def executemany(self, sql, rows):
        self.con.executemany(sql, rows)

    def table_exists(self, name):
        return gpkg.table_exists(self.con, name)

    def primary_key(self, name):
        return gpkg.primary_key(self.con, name)

    def columns(self, name):
        geom = gpkg.geometry_column(self.con, name)
        pk = gpkg.primary_key(self.con, name)
        return [c for c, _ in gpkg.table_columns(self.con, name) if c != pk and c != (geom[0] if geom else None)]

    def _is_spatial_table(self, name):
        return gpkg.geometry_column(self.con, name) is not None

    def select(self, table, *, columns=None, where_in=None, bbox=None, order_by=None, include_pk=False,
               geometry=True):
        df, geoms = gpkg.read_rows(self.con, table, columns=columns, where_in=where_in, bbox=bbox, order_by=order_by,
                                   include_pk=include_pk, geometry=geometry)
        if geoms is None:
            return df
        return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geoms, index=df.index, crs=self.ws.crs), crs=self.ws.crs)

    def _frame_for(self, table, frame):
        geom = gpkg.geometry_column(self.con, table)
        if not is_spatial(frame):
            return pd.DataFrame(frame), None
        if geom is None:
            raise WorkspaceError(f"table {table!r} has no geometry column; got a GeoDataFrame")
        out = pd.DataFrame(frame).rename(columns={frame.geometry.name: geom[0]})
        return out, geom[0]

    def insert(self, table, frame):
        self._refuse_readonly()
        data, gcol = self._frame_for(table, frame)
        gpkg.insert_rows(self.con, table, data, geometry=gcol, srs_id=self.ws.srs_id)

    def update(self, table, key, frame):
        self._refuse_readonly()
        data, gcol = self._frame_for(table, frame)
        return gpkg.update_rows(self.con, table, key, data, geometry=gcol, srs_id=self.ws.srs_id)

    def delete(self, table, key, values):
        self._refuse_readonly()
        return gpkg.delete_rows(self.con, table, key, values)

    def create_layer_table(self, name, frame, *, description=""):
        self._refuse_readonly()
        if is_spatial(frame):
            gtype, geoms = geometry_type_name(frame.geometry)
            data = pd.DataFrame(frame.drop(columns=frame.geometry.name))
            data[_GEOM] = geoms.values
            cols = [(c, gpkg.sqlite_type(data[c])) for c in data.columns if c != _GEOM]
            gpkg.create_table(self.con, name, cols, geometry=(_GEOM, gtype, self.ws.srs_id), description=description,
                              triggers=False)
            gpkg.insert_rows(self.con, name, data, geometry=_GEOM, srs_id=self.ws.srs_id, bulk_index=True)
        else:
            data = pd.DataFrame(frame)
            cols = [(c, gpkg.sqlite_type(data[c])) for c in data.columns]
            gpkg.create_table(self.con, name, cols, description=description)
            gpkg.insert_rows(self.con, name, data)

    def create_table(self, table: TableDef):
        self._refuse_readonly()
        cols = [(c, _SQL_TYPES[t]) for c, t in table.columns]
        geometry = (_GEOM, table.geometry, self.ws.srs_id) if table.geometry else None
        gpkg.create_table(self.con, table.name, cols, geometry=geometry, pk=table.pk, register=table.registered,
                          description=table.description)
        if table.unique:
            self.ensure_unique(table.name, table.unique)
        if table.append_only:
            for op in ("UPDATE", "DELETE"):
                self.con.execute(
                    f"CREATE TRIGGER IF NOT EXISTS {gpkg.quote(f'ws_{table.name}_no_{op.lower()}')} BEFORE {op} ON "
                    f"{gpkg.quote(table.name)} BEGIN SELECT RAISE(ABORT, '{table.name} is append-only'); END")

    def ensure_unique(self, table, columns):
        name = f"ux_{table}_{'_'.join(columns)}"
        self.con.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {gpkg.quote(name)} ON {gpkg.quote(table)} "
                         f"({', '.join(gpkg.quote(c) for c in columns)})")

    def add_column(self, table, column, ctype):
        self._refuse_readonly()
        self.con.execute(f"ALTER TABLE {gpkg.quote(table)} ADD COLUMN {gpkg.quote(column)} {_SQL_TYPES[ctype]}")

    def rename(self, old, new, *, description=""):
        self._refuse_readonly()
        gpkg.rename_table(self.con, old, new, description=description or None)

    def drop(self, name):
        self._refuse_readonly()
        gpkg.drop_table(self.con, name)

    def _refuse_readonly(self):
        if self.readonly:
            raise WorkspaceError("write attempted in a read-only snapshot", message_zh="只读读取中不能写入")


class GeoPackageWorkspace(WorkspaceBase):
    """A planning workspace backed by one GeoPackage file.

    Use :meth:`create` for a new one and :meth:`open` (or :func:`layers.store.open_workspace`)
    for an existing one.

    Examples
    --------
    >>> ws = GeoPackageWorkspace.open("data/ruian/ruian.gpkg", readonly=True)   # doctest: +SKIP
    >>> plots = ws.read("plots", bbox=(498000, 3070000, 503000, 3075000), columns=["plot_id", "area_m2"])  # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike, *, readonly: bool = True, _creating: bool = False):
        self.path = Path(path).expanduser().resolve()
        self.readonly = readonly
        if not self.path.exists():
            raise WorkspaceError(
                f"No workspace at {self.path}. Create one with `python cli.py sample` (the Ruian sample) or "
                "`python cli.py workspace copy` from an existing one.",
                message_zh=f"{self.path} 处没有工作空间。请先创建(python cli.py sample)。",
            )
        self.info = self._read_info()
        self.crs = CRS.from_user_input(self.info["crs"])
        self.srs_id = self._srs_id()
        if not _creating and (self.info.get("format") != FORMAT or self._missing_tables()):
            self._upgrade()
        if not readonly:
            self._remove_stale_temps()

    # --- identity -----------------------------------------------------------------------------------------
    @property
    def location(self) -> str:
        return str(self.path)

    @property
    def identity(self) -> str:
        return f"gpkg:{self.path}"

    def describe(self) -> str:
        return str(self.path.name)

    @classmethod
    def open(cls, path: str | os.PathLike, *, readonly: bool = True) -> GeoPackageWorkspace:
        """Open an existing workspace; ``readonly=True`` refuses every write through this object."""
        return cls(path, readonly=readonly)

    # --- construction -------------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | os.PathLike, *, crs: str = DEFAULT_CRS, overwrite: bool = False, title: str = "",
               info: dict | None = None) -> GeoPackageWorkspace:
        """Create an empty workspace whose working CRS is ``crs`` (projected, metric).

        ``info`` adds settings to ``ws_info`` (e.g. ``reference_date``: the "today" of a data set,
        used by date rules such as halted ≥ 1 year; ``keep_versions``; ``timezone``).
        """
        path = Path(path)
        working = _check_working_crs(crs)
        if path.exists() and not overwrite:
            raise WorkspaceError(f"{path} already exists; pass overwrite=True to replace it.",
                                 message_zh=f"{path} 已存在;如需覆盖请选择覆盖。")
        rasters = path.with_name(path.name + ".rasters")
        if overwrite and rasters.exists():
            shutil.rmtree(rasters)
        with atomic_path(path) as tmp:
            # GDAL lays down the GeoPackage system tables and the working CRS's definition (a new
            # file no other connection of this process has open); everything after is sqlite3.
            pyogrio.write_dataframe(
                gpd.GeoDataFrame({"key": pd.Series([], dtype="string")}, geometry=gpd.GeoSeries([], crs=working)),
                tmp, layer="ws_bootstrap", driver="GPKG")
            con = gpkg.connect(tmp)
            try:
                with gpkg.transaction(con):
                    gpkg.drop_table(con, "ws_bootstrap")
                    for table in META_TABLES.values():
                        _create_meta(con, table)
                    con.executemany("INSERT INTO ws_info(key, value) VALUES (?, ?)", [
                        ("crs", working.to_string()), ("created", now_utc()), ("title", title), ("format", FORMAT),
                        ("version", "0"), *((str(k), str(v)) for k, v in (info or {}).items()),
                    ])
            finally:
                con.close()  # the last connection checkpoints and removes the -wal file
        ws = cls(path, readonly=False, _creating=True)  # create() makes the tables itself, below
        with ws._begin(access.SYSTEM, "layer.write") as tx:
            ws._ensure_schema(tx)
            tx.audit("layer.write", target="workspace", summary=f"创建工作空间(坐标系 {working.to_string()})",
                     detail={"crs": working.to_string(), "title": title})
        return ws

    # --- connections ----------------------------------------------------------------------------------------
    def _read_info(self) -> dict:
        try:
            con = gpkg.connect(self.path, readonly=True)
        except sqlite3.DatabaseError as exc:
            raise WorkspaceError(f"{self.path} is not a readable GeoPackage ({exc}).",
                                 message_zh=f"{self.path} 不是可读取的 GeoPackage。") from exc
        try:
            rows = con.execute("SELECT key, value FROM ws_info").fetchall()
        except sqlite3.DatabaseError:
            raise WorkspaceError(
                f"{self.path} is a GeoPackage but not a planner workspace (no ws_info table). "
                "Import it as data with `python cli.py import` instead.",
                message_zh=f"{self.path} 不是本系统的工作空间(缺少 ws_info 表)。请用导入功能导入其中的数据。",
            ) from None
        finally:
            con.close()
        return dict(rows)

    def _srs_id(self) -> int:
        epsg = self.crs.to_epsg()
        with self._reader() as con:
            row = con.execute("SELECT srs_id FROM gpkg_spatial_ref_sys WHERE upper(organization) = 'EPSG' AND "
                              "organization_coordsys_id = ?", (epsg,)).fetchone()
        if row is None:
            raise WorkspaceError(f"{self.path}: the working CRS {self.crs.to_string()} is not in gpkg_spatial_ref_sys.",
                                 message_zh=f"{self.path}:工作坐标系未登记在 gpkg_spatial_ref_sys 中。")
        return int(row[0])

    @contextlib.contextmanager
    def _begin(self, actor: Actor | None, action: str | None, *, target: str = "",
               readonly: bool = False) -> Iterator[_SqliteTx]:
        if readonly:
            with self._reader() as con:
                con.execute("BEGIN")  # deferred: one snapshot for every read in the block
                try:
                    yield _SqliteTx(self, con, actor, action, target=target, readonly=True)
                finally:
                    con.execute("COMMIT")
            return
        con = gpkg.connect(self.path)
        try:
            with gpkg.transaction(con):
                yield _SqliteTx(self, con, actor, action, target=target, readonly=False)
        finally:
            # The idle readers of this file go first: the last connection to close folds the log into the
            # file (a copy of the .gpkg alone is then whole, as before readers were kept).
            _READERS.drop(self._reader_key())
            con.close()

    def _reader_key(self) -> tuple:
        st = os.stat(self.path)
        return (self.path, st.st_dev, st.st_ino)

    @contextlib.contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection, kept idle afterwards (``layers.store._pool``) for the next read of this file.

        Kept under the file's device and inode, so a workspace replaced at the same path (a restore, a
        copy over it) is opened anew; one left inside a transaction (an error mid-read) is closed.
        """
        key = self._reader_key()
        con = _READERS.take(key) or gpkg.connect(self.path, readonly=True)
        try:
            yield con
        except BaseException:
            _READERS.discard(con)
            raise
        if con.in_transaction:
            _READERS.discard(con)
        else:
            _READERS.give(key, con)

    def _missing_tables(self) -> bool:
        from layers.store.tables import TABLES

        with self.reading() as r:
            have = {row[0] for row in r.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return bool((set(TABLES) | set(META_TABLES)) - have)

    def _upgrade(self) -> None:
        """Bring a workspace of an older format up to :data:`FORMAT` (one audited transaction).

        Read-only opens upgrade too when the file is writable: an older workspace must be
        readable by this version, and the upgrade only adds tables and columns.
        """
        if not os.access(self.path, os.W_OK):
            raise WorkspaceError(
                f"{self.path} is a workspace of format {self.info.get('format')!r}; this version reads {FORMAT!r}. "
                "Open it once on a writable copy to upgrade it.",
                message_zh=f"{self.path} 为旧版工作空间,且文件不可写,无法升级;请在可写副本上打开一次以完成升级。")
        with self._begin(access.SYSTEM, "layer.write") as tx:
            for table in META_TABLES.values():
                if not tx.table_exists(table.name):
                    _create_meta(tx.con, table)
                    continue
                have = [c for c, _ in gpkg.table_columns(tx.con, table.name)]
                for col, ctype in table.columns:
                    if col not in have:
                        tx.add_column(table.name, col, ctype)
            tx.execute("UPDATE ws_layers SET version = 1 WHERE version IS NULL")
            self._legacy_tables(tx)
            self._ensure_schema(tx)
            before = tx.info("format")
            tx.set_info("format", FORMAT)
            if tx.info("version") is None:
                tx.set_info("version", 0)
            tx.audit("layer.write", target="workspace", summary=(f"工作空间格式升级:{before} → {FORMAT}" if before != FORMAT else "补建缺少的登记表"),
                     detail={"before": before, "after": FORMAT})
        self.info = self._read_info()

    @staticmethod
    def _legacy_tables(tx: _SqliteTx) -> None:
        """Format 1 listed its bookkeeping tables as layers; they are the store's tables now."""
        from layers.store.tables import TABLES

        for name in TABLES:
            tx.execute("DELETE FROM ws_layers WHERE layer = ?", (name,))

    def _remove_stale_temps(self) -> None:
        # Earlier versions wrote a whole temp copy beside the file (.<stem>.<random>.tmp.gpkg);
        # a writer killed mid-copy left one behind.  Nothing writes such copies any more.
        for tmp in self.path.parent.glob(f".{glob.escape(self.path.stem)}.*.tmp{glob.escape(self.path.suffix)}*"):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    # --- rasters ----------------------------------------------------------------------------------------------
    @property
    def raster_dir(self) -> Path:
        return self.path.with_name(self.path.name + ".rasters")

    def _store_raster(self, kind: str, src: Path, info: dict, source: str, actor: Actor) -> Path:
        dest = _copy_raster_file(src, self.raster_dir, kind)
        with self.transaction(actor, "import", target=f"raster:{kind}") as tx:
            previous = self._record_raster(tx, kind, dest.name, info, source)
        if previous and previous != dest.name:
            with contextlib.suppress(FileNotFoundError):
                (self.raster_dir / previous).unlink()
        return dest

    def rasters(self) -> dict[str, Path]:
        """Registered rasters: kind → GeoTIFF path."""
        with self.reading() as r:
            rows = r.execute("SELECT kind, file FROM ws_rasters ORDER BY kind")
        return {kind: self.raster_dir / file for kind, file in rows}

    def raster_bytes(self) -> dict[str, tuple[str, bytes]]:
        """kind → (file name, content): what :func:`layers.store.copy_workspace` moves."""
        return {k: (p.name, p.read_bytes()) for k, p in self.rasters().items()}


def _check_working_crs(crs: str) -> CRS:
    working = CRS.from_user_input(crs)
    if not working.is_projected or working.axis_info[0].unit_name not in ("metre", "meter"):
        raise WorkspaceError(
            f"Working CRS {crs} is not a projected metric CRS; areas and distances need metres. "
            f"Use {DEFAULT_CRS} (CGCS2000 3° Gauss–Krüger CM 120°E) for Ruian.",
            message_zh=f"工作坐标系 {crs} 不是投影(米制)坐标系。瑞安请使用 {DEFAULT_CRS}。",
        )
    return working


def _create_meta(con: sqlite3.Connection, table: TableDef) -> None:
    cols = [(c, _SQL_TYPES[t]) for c, t in table.columns]
    gpkg.create_table(con, table.name, cols, pk=table.pk, register=False)
    for u in table.unique:
        con.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {gpkg.quote(f'ux_{table.name}_{u}')} ON "
                    f"{gpkg.quote(table.name)} ({gpkg.quote(u)})")


def _copy_raster_file(src: Path, raster_dir: Path, kind: str) -> Path:
    """Copy ``src`` to ``<kind>-<content hash>.tif`` (atomically) and return the new path.

    A new name per content means the metadata switches from the old file to the new one in one
    transaction: a crash between the copy and that commit leaves an unreferenced file, never
    metadata pointing at a half-written or different raster.
    """
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

