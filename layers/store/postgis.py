"""The PostGIS workspace: the same interface as the GeoPackage backend, on a PostgreSQL server.

For an office that keeps its planning data on a shared server.  Every layer is a table in one
schema (default ``planner``) with a ``geom`` column in the working CRS and a GiST index; the
bookkeeping tables (runs, shortlist, audit log…) and ``ws_info``/``ws_layers``/… live beside
them.  Rasters are stored *in the database* (``ws_raster_files``, the GeoTIFF's bytes under a
content-hashed name), so every app server reads them; each server keeps a local copy in a
cache folder (``$PLANNER_CACHE_DIR``, default ``~/.cache/planner``) to open them with rasterio.

Transactions are PostgreSQL's: DDL is transactional, so replacing a layer (rename the old
one to a kept version, create and fill the new one, record metadata, append the audit row)
commits whole or not at all.  Writers of one workspace take a transaction-scoped advisory
lock first, so a read-modify-write (the shortlist, run ids) is serialised across app servers;
readers are never blocked (MVCC).  Identifiers are validated names quoted here; values are
always bound parameters.

    ws = PostGISWorkspace.create("postgresql:///planning?host=/run/postgresql")
    ws.write("plots", plots, actor=actor)                      # one transaction
    ws.read("plots", bbox=(500000, 3070000, 505000, 3075000))  # uses the GiST index
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geo.errors import WorkspaceError
from geo.io import atomic_path
from layers import access
from layers.access import Actor
from layers.store._pool import IdlePool
from layers.store.base import DEFAULT_CRS, FORMAT, Transaction, WorkspaceBase, geometry_type_name, is_spatial, now_utc
from layers.store.tables import META_TABLES, TableDef

__all__ = ["PostGISWorkspace", "split_schema"]

_GEOM = "geom"
# Connections kept open between transactions (layers.store._pool): a few idle ones in all (a server has a
# connection limit), keyed by DSN and schema.
_IDLE = IdlePool(6, lambda con: con.close())
_PG_TYPES = {"text": "text", "int": "bigint", "real": "double precision", "bool": "boolean"}
_SCHEMA_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def _psycopg():
    import psycopg

    return psycopg


def split_schema(dsn: str) -> tuple[str, str | None]:
    """Take a ``schema`` parameter out of a DSN (URI query ``?schema=x`` or ``schema=x`` keyword)."""
    if dsn.startswith(("postgresql:", "postgres:")):
        base, _, query = dsn.partition("?")  # not urlsplit: it would fold "postgresql:///db" into "postgresql:/db"
        pairs = parse_qsl(query, keep_blank_values=True)
        schema = next((v for k, v in pairs if k == "schema"), None)
        rest = urlencode([(k, v) for k, v in pairs if k != "schema"])
        return base + (f"?{rest}" if rest else ""), schema
    words = dsn.split()
    schema = next((w.split("=", 1)[1] for w in words if w.startswith("schema=")), None)
    return " ".join(w for w in words if not w.startswith("schema=")), schema


def _q(*parts: str) -> str:
    """A (schema-qualified) identifier in double quotes."""
    return ".".join('"' + str(p).replace('"', '""') + '"' for p in parts)


def _pg_type(series: pd.Series) -> str:
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "bigint"
    if pd.api.types.is_float_dtype(dtype):
        return "double precision"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "timestamp"
    return "text"


def _column(series: pd.Series) -> list:
    """A column as plain Python values for the driver, nulls as None (vectorised boxing, no per-value checks)."""
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return [None if pd.isna(v) else v.to_pydatetime() for v in series]
    return series.astype(object).where(series.notna(), None).tolist()


def _py(value):
    """Plain Python values for the driver (numpy scalars and pandas timestamps converted)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


class _PgTx(Transaction):
    """The transaction primitives on one psycopg connection (``search_path`` = the workspace schema)."""

    def __init__(self, ws: PostGISWorkspace, con, *args, **kw):
        super().__init__(ws, *args, **kw)
        self.con = con
        self.schema = ws.schema

    def execute(self, sql, params=()):
        cur = self.con.execute(sql.replace("?", "%s"), [_py(p) for p in params])
        return cur.fetchall() if cur.description else []

    def executemany(self, sql, rows):
        with self.con.cursor() as cur:
            cur.executemany(sql.replace("?", "%s"), [[_py(v) for v in r] for r in rows])

    def table_exists(self, name):
        return bool(self.execute("SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                                 (self.schema, name)))

    def primary_key(self, name):
        row = self.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            "WHERE i.indrelid = to_regclass(?) AND i.indisprimary", (_q(self.schema, name),))
        return row[0][0] if row else ""

    def _all_columns(self, name) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self.execute(
            "SELECT column_name, udt_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
            "ORDER BY ordinal_position", (self.schema, name))]

    def columns(self, name):
        pk = self.primary_key(name)
        return [c for c, t in self._all_columns(name) if c != pk and t != "geometry"]

    def _is_spatial_table(self, name):
        return any(t == "geometry" for _, t in self._all_columns(name))

    def select(self, table, *, columns=None, where_in=None, bbox=None, order_by=None, include_pk=False,
               geometry=True):
        cols = self._all_columns(table)
        if not cols:
            raise WorkspaceError(f"no table {table!r}", message_zh=f"没有表 {table!r}")
        pk = self.primary_key(table)
        has_geom = any(t == "geometry" for _, t in cols)
        spatial = has_geom and geometry
        attrs = [c for c, t in cols if c != pk and t != "geometry"]
        if columns is not None:
            missing = [c for c in columns if c not in attrs]
            if missing:
                raise KeyError(f"table {table!r} has no column(s) {missing}; it has {attrs}")
            attrs = list(dict.fromkeys(columns))
        if include_pk and pk not in attrs:
            attrs.insert(0, pk)
        select = [_q(c) for c in attrs] + ([f"ST_AsBinary({_q(_GEOM)})"] if spatial else [])
        sql = f"SELECT {', '.join(select) or '1'} FROM {_q(self.schema, table)}"
        clauses, params = [], []
        if bbox is not None and has_geom:
            clauses.append(f"{_q(_GEOM)} && ST_MakeEnvelope(%s, %s, %s, %s, %s)")
            params += [float(v) for v in bbox] + [self.ws.srid]
        for column, values in (where_in or {}).items():
            if column not in {c for c, _ in cols}:
                raise KeyError(f"table {table!r} has no column {column!r} to filter on")
            clauses.append(f"{_q(column)} = ANY(%s)")
            params.append([_py(v) for v in values])
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        order = order_by or pk or ("_row" if "_row" in {c for c, _ in cols} else None)  # format 1 kept "_row"
        if order:
            sql += f" ORDER BY {_q(order)}"
        rows = self.con.execute(sql, params).fetchall()
        names = attrs + ([_GEOM] if spatial else [])
        df = pd.DataFrame(rows, columns=names) if rows else pd.DataFrame({c: [] for c in names})
        types = dict(cols)
        for c in attrs:
            df[c] = _typed(df[c], types[c])
        if not spatial:
            return df
        geoms = shapely.from_wkb(np.array([bytes(g) if g is not None else None for g in df[_GEOM]], dtype=object))
        return gpd.GeoDataFrame(df.drop(columns=_GEOM), geometry=gpd.GeoSeries(geoms, index=df.index, crs=self.ws.crs),
                                crs=self.ws.crs)

    def _values(self, frame, names, geometry):
        values = [_column(frame[c]) for c in names]
        if geometry is not None:
            values.append(_ewkb(frame[geometry], self.ws.srid))
        return values

    def insert(self, table, frame):
        self._refuse_readonly()
        if len(frame) == 0:
            return
        geometry = frame.geometry.name if is_spatial(frame) else None
        names = [c for c in frame.columns if c != geometry]
        cols = [_q(c) for c in names] + ([_q(_GEOM)] if geometry else [])
        with self.con.cursor().copy(f"COPY {_q(self.schema, table)} ({', '.join(cols)}) FROM STDIN") as copy:
            for row in zip(*self._values(frame, names, geometry)):
                copy.write_row(row)
        pk = self.primary_key(table)
        if pk in names:  # explicit ids: move the identity past them
            self.execute(f"SELECT setval(pg_get_serial_sequence(?, ?), (SELECT max({_q(pk)}) FROM {_q(self.schema, table)}))",
                         (_q(self.schema, table), pk))

    def update(self, table, key, frame):
        self._refuse_readonly()
        geometry = frame.geometry.name if is_spatial(frame) else None
        names = [c for c in frame.columns if c not in (key, geometry)]
        sets = [f"{_q(c)} = %s" for c in names] + ([f"{_q(_GEOM)} = ST_GeomFromEWKB(decode(%s, 'hex'))"] if geometry else [])
        if not sets:
            return 0
        values = self._values(frame, names, geometry) + [frame[key].astype(object).to_numpy()]
        with self.con.cursor() as cur:
            cur.executemany(f"UPDATE {_q(self.schema, table)} SET {', '.join(sets)} WHERE {_q(key)} = %s",
                            [[_py(v) for v in row] for row in zip(*values)])
            return cur.rowcount if cur.rowcount >= 0 else len(frame)

    def delete(self, table, key, values):
        self._refuse_readonly()
        cur = self.con.execute(f"DELETE FROM {_q(self.schema, table)} WHERE {_q(key)} = ANY(%s)", [[_py(v) for v in values]])
        return cur.rowcount

    def create_layer_table(self, name, frame, *, description=""):
        self._refuse_readonly()
        spatial = is_spatial(frame)
        data = pd.DataFrame(frame.drop(columns=frame.geometry.name)) if spatial else pd.DataFrame(frame)
        defs = [f"{_q('fid')} bigint PRIMARY KEY"] + [f"{_q(c)} {_pg_type(data[c])}" for c in data.columns]
        for c in data.columns:
            _check_column(name, c)
        if spatial:
            gtype, geoms = geometry_type_name(frame.geometry)
            defs.append(f"{_q(_GEOM)} geometry({'Geometry' if gtype == 'GEOMETRY' else gtype}, {int(self.ws.srid)})")
        self.con.execute(f"CREATE TABLE {_q(self.schema, name)} ({', '.join(defs)})")
        if description:
            self.con.execute(f"COMMENT ON TABLE {_q(self.schema, name)} IS {_literal(description)}")
        cols = [_q("fid")] + [_q(c) for c in data.columns] + ([_q(_GEOM)] if spatial else [])
        values = [list(range(1, len(data) + 1))] + [_column(data[c]) for c in data.columns]
        if spatial:
            values.append(_ewkb(geoms, self.ws.srid))
        with self.con.cursor().copy(f"COPY {_q(self.schema, name)} ({', '.join(cols)}) FROM STDIN") as copy:
            for row in zip(*values):
                copy.write_row(row)
        if spatial:
            self.con.execute(f"CREATE INDEX ON {_q(self.schema, name)} USING GIST ({_q(_GEOM)})")

    def create_table(self, table: TableDef):
        self._refuse_readonly()
        names = table.column_names
        if table.pk in names:
            defs = [f"{_q(c)} {_PG_TYPES[t]}{' PRIMARY KEY' if c == table.pk else ''}" for c, t in table.columns]
        else:
            defs = [f"{_q(table.pk)} bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"]
            defs += [f"{_q(c)} {_PG_TYPES[t]}" for c, t in table.columns]
            if table.geometry:
                defs.append(f"{_q(_GEOM)} geometry(Geometry, {int(self.ws.srid)})")
        self.con.execute(f"CREATE TABLE {_q(self.schema, table.name)} ({', '.join(defs)})")
        if table.description:
            self.con.execute(f"COMMENT ON TABLE {_q(self.schema, table.name)} IS {_literal(table.description)}")
        if table.geometry:
            self.con.execute(f"CREATE INDEX ON {_q(self.schema, table.name)} USING GIST ({_q(_GEOM)})")
        if table.unique:
            self.ensure_unique(table.name, table.unique)
        if table.append_only:
            self.con.execute(
                f"CREATE OR REPLACE FUNCTION {_q(self.schema, 'ws_append_only')}() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$")
            self.con.execute(f"CREATE TRIGGER {_q('ws_' + table.name + '_append_only')} BEFORE UPDATE OR DELETE ON "
                             f"{_q(self.schema, table.name)} FOR EACH ROW EXECUTE FUNCTION "
                             f"{_q(self.schema, 'ws_append_only')}()")

    def ensure_unique(self, table, columns):
        self.con.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {_q('ux_' + table + '_' + '_'.join(columns))} ON "
                         f"{_q(self.schema, table)} ({', '.join(_q(c) for c in columns)})")

    def add_column(self, table, column, ctype):
        self._refuse_readonly()
        self.con.execute(f"ALTER TABLE {_q(self.schema, table)} ADD COLUMN {_q(column)} {_PG_TYPES[ctype]}")

    def rename(self, old, new, *, description=""):
        self._refuse_readonly()
        self.con.execute(f"ALTER TABLE {_q(self.schema, old)} RENAME TO {_q(new)}")
        if description:
            self.con.execute(f"COMMENT ON TABLE {_q(self.schema, new)} IS {_literal(description)}")

    def drop(self, name):
        self._refuse_readonly()
        self.con.execute(f"DROP TABLE IF EXISTS {_q(self.schema, name)}")

    def _refuse_readonly(self):
        if self.readonly:
            raise WorkspaceError("write attempted in a read-only snapshot", message_zh="只读读取中不能写入")


def _ewkb(geoms, srid: int) -> list:
    """Geometries as hex EWKB with the SRID (what COPY and ST_GeomFromEWKB take); None stays NULL."""
    g = shapely.set_srid(np.asarray(geoms.values if hasattr(geoms, "values") else geoms, dtype=object), srid)
    return list(shapely.to_wkb(g, hex=True, include_srid=True))


def _literal(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _typed(col: pd.Series, udt: str) -> pd.Series:
    if udt in ("int2", "int4", "int8"):
        num = pd.to_numeric(col, errors="coerce")
        return num.astype("int64") if num.notna().all() else num.astype("Int64")
    if udt in ("float4", "float8", "numeric"):
        return pd.to_numeric(col, errors="coerce").astype("float64")
    if udt == "bool":
        return col.astype(bool) if col.notna().all() else col.astype("boolean")
    if udt in ("timestamp", "timestamptz", "date"):
        return pd.to_datetime(col, errors="coerce").astype("datetime64[ms]")
    return col.astype(object).where(col.notna(), None)


def _check_column(layer: str, column) -> None:
    if not isinstance(column, str) or not column or len(column) > 63 or "\x00" in column:
        raise WorkspaceError(f"Layer {layer!r}: column name {column!r} cannot be stored (1–63 characters, no NUL).",
                             message_zh=f"图层 {layer!r}:字段名 {column!r} 无法存储。")


class PostGISWorkspace(WorkspaceBase):
    """A planning workspace in a PostGIS schema.

    Parameters
    ----------
    dsn : str
        A libpq connection string or URI (``postgresql://user@host/db``).
    schema : str
        The schema holding the workspace's tables.
    readonly : bool
        Refuse every write through this object (and open sessions read-only).
    """

    def __init__(self, dsn: str, *, schema: str = "planner", readonly: bool = True, _creating: bool = False):
        self.dsn = dsn
        self.schema = _check_schema(schema)
        self.readonly = readonly
        psycopg = _psycopg()
        con = self._checkout()
        try:
            rows = con.execute(f"SELECT key, value FROM {_q(self.schema, 'ws_info')}").fetchall()
            con.rollback()
        except psycopg.errors.UndefinedTable:
            raise WorkspaceError(
                f"Schema {schema!r} of {self._safe_dsn()} holds no planner workspace (no ws_info table); "
                "create one with `python cli.py workspace copy SRC DSN` or PostGISWorkspace.create(dsn, schema=...).",
                message_zh=f"数据库模式 {schema!r} 中没有规划工作空间;请先创建或迁移(python cli.py workspace copy)。",
            ) from None
        finally:
            self._checkin(con)
        self.info = dict(rows)
        self.crs = CRS.from_user_input(self.info["crs"])
        self.srid = int(self.crs.to_epsg())
        if not _creating and (self.info.get("format") != FORMAT or self._missing_tables()):
            self._upgrade()

    # --- identity -------------------------------------------------------------------------------------------
    def _safe_dsn(self) -> str:
        """The DSN without its password, for messages and cache keys."""
        from psycopg.conninfo import conninfo_to_dict

        try:
            parts = conninfo_to_dict(self.dsn)
        except Exception:  # noqa: BLE001 - a malformed DSN is reported as such
            return "(unparsable connection string)"
        parts.pop("password", None)
        return " ".join(f"{k}={v}" for k, v in sorted(parts.items()))

    @property
    def location(self) -> str:
        sep = "&" if "?" in self.dsn else "?"
        return f"{self.dsn}{sep}schema={self.schema}" if self.dsn.startswith(("postgresql:", "postgres:")) \
            else f"{self.dsn} schema={self.schema}"

    @property
    def identity(self) -> str:
        return f"postgis:{self._safe_dsn()} schema={self.schema}"

    def describe(self) -> str:
        return f"{self._safe_dsn()} schema={self.schema}"

    @classmethod
    def open(cls, dsn: str, *, schema: str = "planner", readonly: bool = True) -> PostGISWorkspace:
        return cls(dsn, schema=schema, readonly=readonly)

    # --- connections ----------------------------------------------------------------------------------------
    def _checkout(self):
        """An open connection at the workspace's schema: an idle one that still answers, else a new one."""
        while True:
            con = _IDLE.take((self.dsn, self.schema))
            if con is None:
                return self._connect()
            try:   # the server may have restarted since: ask, then leave no transaction open
                con.execute("SELECT 1")
                con.rollback()
                return con
            except _psycopg().Error:
                _IDLE.discard(con)

    def _checkin(self, con) -> None:
        """Keep ``con`` for the next transaction if it is sound and idle."""
        psycopg = _psycopg()
        if con.closed or con.broken or con.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            _IDLE.discard(con)
            return
        _IDLE.give((self.dsn, self.schema), con)

    def _connect(self):
        psycopg = _psycopg()
        try:
            con = psycopg.connect(self.dsn, connect_timeout=10)
        except psycopg.OperationalError as exc:
            raise WorkspaceError(
                f"Cannot connect to PostGIS at {self._safe_dsn()}: {str(exc).strip()}. Check that the server runs "
                "and the connection string (host, port, database, user) is right.",
                message_zh=f"无法连接 PostGIS({self._safe_dsn()}):请检查服务器是否运行以及连接参数。",
            ) from exc
        con.execute(f"SET search_path TO {_q(self.schema)}, public")
        con.commit()
        return con

    def _lock_key(self) -> int:
        return int.from_bytes(hashlib.sha256(f"planner-workspace:{self.schema}".encode()).digest()[:8], "big",
                              signed=True)

    @contextlib.contextmanager
    def _begin(self, actor: Actor | None, action: str | None, *, target: str = "",
               readonly: bool = False) -> Iterator[_PgTx]:
        con = self._checkout()
        try:
            if readonly:
                con.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            else:
                # One writer per workspace at a time: read-modify-writes see no other writer's change.
                con.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_key(),))
            tx = _PgTx(self, con, actor, action, target=target, readonly=readonly)
            try:
                yield tx
            except BaseException:
                con.rollback()
                raise
            con.commit()
        finally:
            self._checkin(con)

    # --- construction -----------------------------------------------------------------------------------------
    @classmethod
    def create(cls, dsn: str, *, schema: str = "planner", crs: str = DEFAULT_CRS, overwrite: bool = False,
               title: str = "", info: dict | None = None, raster_dir=None) -> PostGISWorkspace:
        """Create the workspace schema (PostGIS extension, bookkeeping tables) in one transaction."""
        psycopg = _psycopg()
        _check_schema(schema)
        working = CRS.from_user_input(crs)
        if not working.is_projected or working.to_epsg() is None:
            raise WorkspaceError(f"Working CRS {crs} must be a projected CRS with an EPSG code (e.g. {DEFAULT_CRS}).",
                                 message_zh=f"工作坐标系 {crs} 必须是有 EPSG 代码的投影坐标系。")
        try:
            con = psycopg.connect(dsn, connect_timeout=10)
        except psycopg.OperationalError as exc:
            raise WorkspaceError(f"Cannot connect to PostGIS: {str(exc).strip()}",
                                 message_zh="无法连接 PostGIS:请检查服务器是否运行以及连接参数。") from exc
        with con:
            con.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            exists = con.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", (schema,)).fetchone()
            if exists and not overwrite:
                raise WorkspaceError(f"Schema {schema!r} already exists; pass overwrite=True to replace it.",
                                     message_zh=f"数据库模式 {schema!r} 已存在;如需覆盖请选择覆盖。")
            if exists:
                con.execute(f"DROP SCHEMA {_q(schema)} CASCADE")
            con.execute(f"CREATE SCHEMA {_q(schema)}")
            for table in META_TABLES.values():
                defs = [f"{_q(c)} {_PG_TYPES[t]}{' PRIMARY KEY' if c == table.pk else ''}" for c, t in table.columns]
                if table.pk not in table.column_names:
                    defs.insert(0, f"{_q(table.pk)} bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
                con.execute(f"CREATE TABLE {_q(schema, table.name)} ({', '.join(defs)})")
                for u in table.unique:
                    con.execute(f"CREATE UNIQUE INDEX ON {_q(schema, table.name)} ({_q(u)})")
            con.execute(f"CREATE TABLE {_q(schema, 'ws_raster_files')} (file text PRIMARY KEY, content bytea)")
            with con.cursor() as cur:
                cur.executemany(f"INSERT INTO {_q(schema, 'ws_info')}(key, value) VALUES (%s, %s)", [
                    ("crs", working.to_string()), ("created", now_utc()), ("title", title), ("format", FORMAT),
                    ("version", "0"), *((str(k), str(v)) for k, v in (info or {}).items()),
                ])
        ws = cls(dsn, schema=schema, readonly=False, _creating=True)  # create() makes the tables itself, below
        with ws._begin(access.SYSTEM, "layer.write") as tx:
            ws._ensure_schema(tx)
            tx.audit("layer.write", target="workspace", summary=f"创建工作空间(坐标系 {working.to_string()})",
                     detail={"crs": working.to_string(), "title": title})
        return ws

    def _missing_tables(self) -> bool:
        from layers.store.tables import TABLES

        with self.reading() as r:
            have = {row[0] for row in r.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
                                                (self.schema,))}
        return bool(set(TABLES) - have)

    def _upgrade(self) -> None:
        """Bring a schema of an older format (or missing a bookkeeping table) up to :data:`FORMAT` (one transaction)."""
        with self._begin(access.SYSTEM, "layer.write") as tx:
            for table in META_TABLES.values():
                have = [c for c, _ in tx._all_columns(table.name)]
                for col, ctype in table.columns:
                    if have and col not in have:
                        tx.add_column(table.name, col, ctype)
                if not have:
                    tx.create_table(table)
            if not tx.table_exists("ws_raster_files"):
                tx.execute(f"CREATE TABLE {_q(self.schema, 'ws_raster_files')} (file text PRIMARY KEY, content bytea)")
            tx.execute("UPDATE ws_layers SET version = 1 WHERE version IS NULL")
            from layers.store.tables import TABLES

            for name in TABLES:
                tx.execute("DELETE FROM ws_layers WHERE layer = ?", (name,))
            # format 1 ordered rows by a "_row" column: it becomes the row id
            for (name,) in tx.execute("SELECT layer FROM ws_layers"):
                if "_row" in [c for c, _ in tx._all_columns(name)] and not tx.primary_key(name):
                    tx.execute(f"ALTER TABLE {_q(self.schema, name)} RENAME COLUMN {_q('_row')} TO {_q('fid')}")
                    tx.execute(f"ALTER TABLE {_q(self.schema, name)} ADD PRIMARY KEY ({_q('fid')})")
            self._ensure_schema(tx)
            before = tx.info("format")
            tx.set_info("format", FORMAT)
            tx.audit("layer.write", target="workspace", summary=(f"工作空间格式升级:{before} → {FORMAT}" if before != FORMAT else "补建缺少的登记表"),
                     detail={"before": before, "after": FORMAT})
        with self.reading() as r:
            self.info = dict(r.execute("SELECT key, value FROM ws_info"))

    # --- rasters -------------------------------------------------------------------------------------------------
    @property
    def raster_dir(self) -> Path:
        """This server's local copy of the workspace's rasters (a cache; the database holds them)."""
        base = Path(os.environ.get("PLANNER_CACHE_DIR") or Path.home() / ".cache" / "planner").expanduser()
        return base / "rasters" / hashlib.sha256(self.identity.encode()).hexdigest()[:16]

    def _store_raster(self, kind: str, src: Path, info: dict, source: str, actor: Actor) -> Path:
        content = src.read_bytes()
        name = f"{kind}-{hashlib.sha256(content).hexdigest()[:12]}.tif"
        with self.transaction(actor, "import", target=f"raster:{kind}") as tx:
            tx.execute("INSERT INTO ws_raster_files(file, content) VALUES (?, ?) ON CONFLICT (file) DO NOTHING",
                       (name, content))
            previous = self._record_raster(tx, kind, name, info, source)
            if previous and previous != name:
                tx.execute("DELETE FROM ws_raster_files WHERE file = ?", (previous,))
        return self._cached(name, content)

    def _cached(self, name: str, content: bytes | None = None) -> Path:
        path = self.raster_dir / name
        if not path.exists():
            if content is None:
                with self.reading() as r:
                    row = r.execute("SELECT content FROM ws_raster_files WHERE file = ?", (name,))
                if not row:
                    legacy = Path(self.info.get("raster_dir") or ".") / name  # format 1: files in a folder
                    if legacy.exists():
                        return legacy
                    raise WorkspaceError(f"raster file {name} is registered but not stored in the database",
                                         message_zh=f"栅格 {name} 已登记但数据库中没有其内容")
                content = bytes(row[0][0])
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                tmp.write_bytes(content)
        return path

    def rasters(self) -> dict[str, Path]:
        """Registered rasters: kind → local GeoTIFF path (copied from the database on first use)."""
        with self.reading() as r:
            rows = r.execute("SELECT kind, file FROM ws_rasters ORDER BY kind")
        return {kind: self._cached(file) for kind, file in rows}

    def raster_bytes(self) -> dict[str, tuple[str, bytes]]:
        return {k: (p.name, p.read_bytes()) for k, p in self.rasters().items()}


def _check_schema(schema: str) -> str:
    if not isinstance(schema, str) or not _SCHEMA_RE.match(schema) or schema in ("public", "postgis"):
        raise WorkspaceError(f"schema name {schema!r} is not allowed (lower-case letters, digits, underscores; not public).",
                             message_zh=f"数据库模式名 {schema!r} 不合法。")
    return schema
