"""The PostGIS workspace backend: the same interface as the GeoPackage :class:`~layers.workspace.Workspace`.

For a county that keeps its planning data on a shared PostgreSQL server.  Every layer is a
table in one schema (default ``planner``) with a ``geom`` column in the working CRS and a
GiST index; ``ws_info``, ``ws_layers`` and ``ws_rasters`` hold the same bookkeeping as in a
GeoPackage workspace.  Rasters stay GeoTIFF files in a folder named at creation.

Atomicity comes from PostgreSQL itself: DDL is transactional, so replacing several layers
(drop, create, COPY, index, metadata) runs in one transaction that commits whole or not at
all.  Identifiers are always composed with :class:`psycopg.sql.Identifier` and values are
bound parameters — nothing user-supplied is formatted into SQL.

    ws = PostGISWorkspace.create("postgresql:///planning?host=/run/postgresql", raster_dir="rasters")
    ws.write("plots", plots)                                   # one transaction
    ws.read("plots", bbox=(500000, 3070000, 505000, 3075000))  # uses the GiST index
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geo.errors import WorkspaceError
from layers.schema import SPECS, cast_fields
from layers.workspace import (DEFAULT_CRS, WorkspaceBase, _check_name, _copy_raster_file, _forget_raster_file, _is_spatial,
                              _now)

__all__ = ["PostGISWorkspace"]

_GEOM = "geom"


def _psycopg():
    import psycopg
    from psycopg import sql

    return psycopg, sql


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


class PostGISWorkspace(WorkspaceBase):
    """A planning workspace in a PostGIS schema.

    Parameters
    ----------
    dsn : str
        A libpq connection string or URI (``postgresql://user@host/db``).
    schema : str
        The schema holding the workspace's tables.
    readonly : bool
        Open every session read-only (``default_transaction_read_only``).
    """

    def __init__(self, dsn: str, *, schema: str = "planner", readonly: bool = True):
        psycopg, sql = _psycopg()
        self.dsn = dsn
        self.schema = _check_name(schema)
        self.readonly = readonly
        try:
            rows = self._fetch(sql.SQL("SELECT key, value FROM {}.ws_info").format(sql.Identifier(self.schema)))
        except psycopg.errors.UndefinedTable:
            raise WorkspaceError(
                f"Schema {schema!r} of {self._safe_dsn()} holds no planner workspace (no ws_info table); "
                "create one with PostGISWorkspace.create(dsn, schema=...).",
                message_zh=f"数据库模式 {schema!r} 中没有规划工作空间;请先创建。",
            ) from None
        self.info = dict(rows)
        self.crs = CRS.from_user_input(self.info["crs"])
        self.srid = int(self.crs.to_epsg())
        self.raster_dir = Path(self.info.get("raster_dir") or ".")

    # --- connections ----------------------------------------------------------------
    def _safe_dsn(self) -> str:
        """The DSN without its password, for messages."""
        from psycopg.conninfo import conninfo_to_dict

        try:
            parts = conninfo_to_dict(self.dsn)
        except Exception:  # noqa: BLE001 - a malformed DSN is reported as such below
            return "(unparsable connection string)"
        parts.pop("password", None)
        return " ".join(f"{k}={v}" for k, v in parts.items())

    def _connect(self):
        psycopg, _ = _psycopg()
        try:
            con = psycopg.connect(self.dsn, connect_timeout=10)
        except psycopg.OperationalError as exc:
            raise WorkspaceError(
                f"Cannot connect to PostGIS at {self._safe_dsn()}: {str(exc).strip()}. Check that the server runs "
                "and the connection string (host, port, database, user) is right.",
                message_zh=f"无法连接 PostGIS({self._safe_dsn()}):请检查服务器是否运行以及连接参数。",
            ) from exc
        if self.readonly:
            con.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        return con

    def _fetch(self, query, params: tuple = ()) -> list:
        with self._connect() as con:
            return con.execute(query, params).fetchall()

    def describe(self) -> str:
        return f"{self._safe_dsn()} schema={self.schema}"

    # --- construction ---------------------------------------------------------------
    @classmethod
    def open(cls, dsn: str, *, schema: str = "planner", readonly: bool = True) -> "PostGISWorkspace":
        return cls(dsn, schema=schema, readonly=readonly)

    @classmethod
    def create(cls, dsn: str, *, schema: str = "planner", crs: str = DEFAULT_CRS, raster_dir: str | os.PathLike = "rasters",
               overwrite: bool = False, title: str = "") -> "PostGISWorkspace":
        """Create the workspace schema (PostGIS extension, bookkeeping tables) in one transaction."""
        psycopg, sql = _psycopg()
        _check_name(schema)
        working = CRS.from_user_input(crs)
        if not working.is_projected or working.to_epsg() is None:
            raise WorkspaceError(f"Working CRS {crs} must be a projected CRS with an EPSG code (e.g. {DEFAULT_CRS}).",
                                 message_zh=f"工作坐标系 {crs} 必须是有 EPSG 代码的投影坐标系。")
        ident = sql.Identifier(schema)
        probe = cls.__new__(cls)
        probe.dsn, probe.readonly = dsn, False
        with probe._connect() as con:
            con.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            exists = con.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", (schema,)).fetchone()
            if exists and not overwrite:
                raise WorkspaceError(f"Schema {schema!r} already exists; pass overwrite=True to replace it.",
                                     message_zh=f"数据库模式 {schema!r} 已存在;如需覆盖请选择覆盖。")
            if exists:
                con.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(ident))
            con.execute(sql.SQL("CREATE SCHEMA {}").format(ident))
            con.execute(sql.SQL("CREATE TABLE {}.ws_info (key text PRIMARY KEY, value text)").format(ident))
            con.execute(sql.SQL("CREATE TABLE {}.ws_layers (layer text PRIMARY KEY, kind text, crs text, source text, "
                                "imported_at text, row_count bigint, extra text)").format(ident))
            con.execute(sql.SQL("CREATE TABLE {}.ws_rasters (kind text PRIMARY KEY, file text, crs text, source text, "
                                "imported_at text, info text)").format(ident))
            with con.cursor() as cur:
                cur.executemany(sql.SQL("INSERT INTO {}.ws_info(key, value) VALUES (%s, %s)").format(ident), [
                    ("crs", working.to_string()), ("created", _now()), ("title", title),
                    ("format", "planner-workspace/1"), ("raster_dir", str(Path(raster_dir).resolve())), ("version", "0"),
                ])
        return cls(dsn, schema=schema, readonly=False)

    # --- queries --------------------------------------------------------------------
    @property
    def version(self) -> tuple[int]:
        """A counter bumped by every commit: a cache key for loaded layers."""
        _, sql = _psycopg()
        row = self._fetch(sql.SQL("SELECT value FROM {}.ws_info WHERE key = 'version'").format(sql.Identifier(self.schema)))
        return (int(row[0][0]),)

    def layers(self) -> list[str]:
        _, sql = _psycopg()
        names = [r[0] for r in self._fetch(sql.SQL("SELECT layer FROM {}.ws_layers ORDER BY layer").format(
            sql.Identifier(self.schema)))]
        return [n for n in SPECS if n in names] + [n for n in names if n not in SPECS]

    def metadata(self, name: str | None = None) -> dict | pd.DataFrame:
        _, sql = _psycopg()
        rows = self._fetch(sql.SQL("SELECT layer, kind, crs, source, imported_at, row_count, extra FROM {}.ws_layers "
                                   "ORDER BY layer").format(sql.Identifier(self.schema)))
        return self._metadata_of(rows, name)

    def read(self, name: str, *, bbox: tuple | None = None, columns: list[str] | None = None,
             where_in: Mapping[str, Iterable] | None = None, where: str | None = None) -> gpd.GeoDataFrame | pd.DataFrame:
        """Read a layer or table; ``bbox`` uses the GiST index, ``where_in`` values are bound parameters.

        A raw ``where`` string is not accepted here: build filters with ``where_in``.
        """
        _, sql = _psycopg()
        if where is not None:
            raise WorkspaceError("PostGIS workspaces take filters as where_in={column: values}, not raw SQL text.",
                                 message_zh="PostGIS 工作空间只接受 where_in 形式的过滤条件。")
        if not self.has_layer(name):
            raise self._not_found(name)
        meta = self.metadata(name)
        spatial = bool(meta["crs"])
        table = sql.Identifier(self.schema, name)
        with self._connect() as con:
            present = [r[0] for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
                "ORDER BY ordinal_position", (self.schema, name)).fetchall()]
            attrs = [c for c in present if c not in (_GEOM, "_row")]
            if columns is not None:
                missing = [c for c in columns if c not in attrs]
                if missing:
                    raise WorkspaceError(f"Layer {name!r} has no column(s) {missing}; it has {attrs}.",
                                         message_zh=f"图层 {name!r} 没有字段 {missing}。")
                attrs = list(columns)
            select = [sql.Identifier(c) for c in attrs]
            if spatial:
                select.append(sql.SQL("ST_AsBinary({}) AS {}").format(sql.Identifier(_GEOM), sql.Identifier(_GEOM)))
            clauses, params = [], []
            if bbox is not None and spatial:
                clauses.append(sql.SQL("{} && ST_MakeEnvelope(%s, %s, %s, %s, %s)").format(sql.Identifier(_GEOM)))
                params += [float(v) for v in bbox] + [self.srid]
            for column, values in (where_in or {}).items():
                if column not in present:
                    raise WorkspaceError(f"Layer {name!r} has no column {column!r} to filter on.",
                                         message_zh=f"图层 {name!r} 没有字段 {column!r}。")
                clauses.append(sql.SQL("{} = ANY(%s)").format(sql.Identifier(column)))
                params.append(list(values))
            query = sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(select) if select else sql.SQL("1"), table)
            if clauses:
                query = query + sql.SQL(" WHERE ") + sql.SQL(" AND ").join(clauses)
            query = query + sql.SQL(" ORDER BY {}").format(sql.Identifier("_row"))
            cur = con.execute(query, params)
            rows = cur.fetchall()
        df = pd.DataFrame(rows, columns=attrs + ([_GEOM] if spatial else []))
        if not spatial:
            return df
        geoms = shapely.from_wkb(np.array([bytes(g) if g is not None else None for g in df[_GEOM]], dtype=object))
        gdf = gpd.GeoDataFrame(df.drop(columns=_GEOM), geometry=gpd.GeoSeries(geoms, crs=self.crs), crs=self.crs)
        if name in SPECS:
            cast_fields(gdf, name)
        return gdf

    # --- writes ---------------------------------------------------------------------
    def _commit(self, prepared: dict, metas: list[tuple], drop: tuple[str, ...]) -> None:
        _, sql = _psycopg()
        schema = sql.Identifier(self.schema)
        with self._connect() as con:  # one transaction: commits on success, rolls back on any error
            for name in drop:
                con.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(self.schema, name)))
                con.execute(sql.SQL("DELETE FROM {}.ws_layers WHERE layer = %s").format(schema), (name,))
            for name, frame in prepared.items():
                self._replace_table(con, name, frame)
            with con.cursor() as cur:
                cur.executemany(sql.SQL(
                    "INSERT INTO {}.ws_layers(layer, kind, crs, source, imported_at, row_count, extra) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (layer) DO UPDATE SET kind = EXCLUDED.kind, "
                    "crs = EXCLUDED.crs, source = EXCLUDED.source, imported_at = EXCLUDED.imported_at, "
                    "row_count = EXCLUDED.row_count, extra = EXCLUDED.extra").format(schema), metas)
            con.execute(sql.SQL("UPDATE {}.ws_info SET value = (value::bigint + 1)::text WHERE key = 'version'").format(schema))

    def _replace_table(self, con, name: str, frame) -> None:
        _, sql = _psycopg()
        table = sql.Identifier(self.schema, name)
        spatial = _is_spatial(frame)
        attrs = frame.drop(columns=frame.geometry.name) if spatial else frame
        attrs = pd.DataFrame(attrs)
        for col in attrs.columns:
            _check_column(name, col)
        defs = [sql.SQL("{} bigint").format(sql.Identifier("_row"))]
        defs += [sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(_pg_type(attrs[c]))) for c in attrs.columns]
        if spatial:
            defs.append(sql.SQL("{} geometry(Geometry, {})").format(sql.Identifier(_GEOM), sql.Literal(self.srid)))
        con.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
        con.execute(sql.SQL("CREATE TABLE {} ({})").format(table, sql.SQL(", ").join(defs)))
        cols = [sql.Identifier("_row")] + [sql.Identifier(c) for c in attrs.columns] + ([sql.Identifier(_GEOM)] if spatial else [])
        values = [attrs[c].astype(object).where(attrs[c].notna(), None).to_numpy() for c in attrs.columns]
        if spatial:
            geoms = shapely.set_srid(np.asarray(frame.geometry.values), self.srid)
            values.append(np.array(shapely.to_wkb(geoms, hex=True, include_srid=True), dtype=object))
        with con.cursor().copy(sql.SQL("COPY {} ({}) FROM STDIN").format(table, sql.SQL(", ").join(cols))) as copy:
            for i, row in enumerate(zip(*values) if values else ((),) * len(attrs)):
                copy.write_row((i, *[_py(v) for v in row]))
        if spatial:
            con.execute(sql.SQL("CREATE INDEX ON {} USING GIST ({})").format(table, sql.Identifier(_GEOM)))

    def _store_raster(self, kind: str, src: Path, info: dict, source: str) -> Path:
        _, sql = _psycopg()
        previous = self.rasters().get(kind)
        dest = _copy_raster_file(src, self.raster_dir, kind)
        with self._connect() as con:
            con.execute(sql.SQL(
                "INSERT INTO {}.ws_rasters(kind, file, crs, source, imported_at, info) VALUES (%s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (kind) DO UPDATE SET file = EXCLUDED.file, crs = EXCLUDED.crs, source = EXCLUDED.source, "
                "imported_at = EXCLUDED.imported_at, info = EXCLUDED.info").format(sql.Identifier(self.schema)),
                (kind, dest.name, self.crs.to_string(), source, _now(), json.dumps(info)))
        _forget_raster_file(previous, dest)
        return dest

    def rasters(self) -> dict[str, Path]:
        _, sql = _psycopg()
        rows = self._fetch(sql.SQL("SELECT kind, file FROM {}.ws_rasters ORDER BY kind").format(sql.Identifier(self.schema)))
        return {kind: self.raster_dir / file for kind, file in rows}


def _check_column(layer: str, column) -> None:
    if not isinstance(column, str) or not column or len(column) > 63 or "\x00" in column:
        raise WorkspaceError(f"Layer {layer!r}: column name {column!r} cannot be stored (1–63 characters, no NUL).",
                             message_zh=f"图层 {layer!r}:字段名 {column!r} 无法存储。")


def _py(value):
    """Plain Python values for COPY (numpy scalars and pandas timestamps converted)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value
