"""What every workspace backend shares: names, validation, transactions, versions, the audit row.

A workspace holds the planning layers (``plots``, ``enterprises``…, custom layers, result
layers of runs), the bookkeeping tables of :mod:`layers.store.tables` (runs, re-grades,
shortlist and its history, import mappings, users, the audit log) and registered rasters.

Every write is one transaction of the store (SQLite in the GeoPackage, PostgreSQL):

- :meth:`WorkspaceBase.transaction` checks the acting user's role once
  (:func:`layers.access.require`), opens the database transaction, hands out a
  :class:`Transaction`, and on success appends one ``audit_log`` row and bumps the
  workspace's version counter — in the same transaction as the change;
- a read-modify-write of a shared table reads *inside* that transaction, which serialises
  writers (SQLite ``BEGIN IMMEDIATE``; PostgreSQL an advisory lock of the workspace), so two
  writers never overwrite each other;
- replacing a layer keeps the old one as a version (``ws_version_<n>`` table, listed in
  ``ws_layer_versions``; how many: the workspace setting ``keep_versions``) and
  :meth:`WorkspaceBase.restore_layer` brings one back.

Backends implement the primitives of :class:`Transaction` and :class:`WorkspaceBase`
(connections, DDL, typed reads and writes); the logic above lives here once.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from geo.errors import CRSMismatchError, LayerNotFoundError, MissingCRSError, SchemaError, WorkspaceError
from geo.progress import Progress, Steps
from layers import access
from layers.access import Actor
from layers.schema import RASTER_KINDS, SPECS, cast_fields, conform
from layers.store.tables import META_TABLES, TABLES, TableDef

__all__ = [
    "DEFAULT_CRS",
    "FORMAT",
    "DEFAULT_KEEP_VERSIONS",
    "DEFAULT_TIMEZONE",
    "WorkspaceBase",
    "Transaction",
    "check_name",
    "now_utc",
    "is_spatial",
    "geometry_type_name",
]

DEFAULT_CRS = "EPSG:4549"
FORMAT = "planner-workspace/2"
DEFAULT_KEEP_VERSIONS = 3
DEFAULT_TIMEZONE = "Asia/Shanghai"
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_RESERVED_PREFIXES = ("gpkg_", "rtree_", "sqlite_", "ws_", "pg_", "trigger_")
_VERSIONED_KINDS = ("core", "spatial", "table")
_KEYS_CHUNK = 500   # values bound per query of keys(among=…): under every SQLite build's host-parameter limit


def now_utc(*, precise: bool = False) -> str:
    """The current time in UTC as ISO 8601 text (``2026-11-28T06:02:11Z``): how every time is stored.

    ``precise`` adds microseconds (``…T06:02:11.250731Z``) where rows are ordered by the time and two
    can fall in one second (runs: the sample's chain takes well under a second)."""
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ" if precise else "%Y-%m-%dT%H:%M:%SZ")


def check_name(name: str) -> str:
    """A layer or table name the store accepts: lower-case letters, digits, underscores."""
    reserved = name in TABLES or name in META_TABLES if isinstance(name, str) else False
    if (not isinstance(name, str) or not _NAME_RE.match(name) or name.startswith(_RESERVED_PREFIXES)
            or reserved):
        raise WorkspaceError(
            f"Layer name {name!r} is not allowed: use lower-case letters, digits and underscores, starting with a letter "
            "(and not a reserved name such as gpkg_*, rtree_*, ws_*, or a bookkeeping table like runs, shortlist).",
            message_zh=f"图层名 {name!r} 不合法:只能用小写字母、数字和下划线,且以字母开头,不能使用系统保留名。",
        )
    return name


def is_spatial(frame) -> bool:
    return isinstance(frame, gpd.GeoDataFrame) and getattr(frame, "_geometry_column_name", None) in frame.columns


_MULTI = {"Polygon": "MultiPolygon", "LineString": "MultiLineString", "Point": "MultiPoint"}


def geometry_type_name(geoms: gpd.GeoSeries) -> tuple[str, gpd.GeoSeries]:
    """The GeoPackage geometry type of a column, and the column with single parts promoted to multi
    where single and multi parts of one family are mixed (what GDAL does when writing)."""
    types = set(geoms.geom_type.dropna().unique())
    if len(types) == 1:
        return next(iter(types)).upper(), geoms
    for single, multi in _MULTI.items():
        if types == {single, multi}:
            import shapely

            out = geoms.copy()
            mask = (out.geom_type == single).to_numpy()
            parts = np.asarray(out.values[mask], dtype=object)
            fn = {"Polygon": shapely.multipolygons, "LineString": shapely.multilinestrings,
                  "Point": shapely.multipoints}[single]
            out[mask] = fn(parts.reshape(-1, 1))
            return multi.upper(), out
    return "GEOMETRY", geoms


def _json(value) -> str:
    return json.dumps(value or {}, ensure_ascii=False, default=str)


class Transaction:
    """One write (or read) transaction of a workspace.

    Backends implement the primitives (``execute``, ``select``, ``insert``, ``update``,
    ``delete``, ``create_layer_table``, ``create_table``, ``add_column``, ``rename``,
    ``drop``, ``table_exists``, ``columns``); the shared operations below are written once
    on top of them.  SQL passed to :meth:`execute` uses ``?`` placeholders.

    Attributes set by the caller become the audit row: ``summary`` (one line a person reads),
    ``detail`` (before/after, as a dict stored as JSON), ``target``.
    """

    def __init__(self, ws: WorkspaceBase, actor: Actor | None, action: str | None, *, target: str = "",
                 readonly: bool = False):
        self.ws, self.actor, self.action = ws, actor, action
        self.target, self.summary, self.detail = target, "", {}
        self.readonly = readonly
        self._version: int | None = None

    # --- primitives (backend) ----------------------------------------------------------------
    def execute(self, sql: str, params: tuple | list = ()) -> list[tuple]:
        raise NotImplementedError

    def executemany(self, sql: str, rows) -> None:
        raise NotImplementedError

    def table_exists(self, name: str) -> bool:
        raise NotImplementedError

    def columns(self, name: str) -> list[str]:
        """Attribute columns of a table: neither its row id nor its geometry."""
        raise NotImplementedError

    def primary_key(self, name: str) -> str:
        raise NotImplementedError

    def ensure_unique(self, table: str, columns: tuple[str, ...]) -> None:
        raise NotImplementedError

    def select(self, table: str, *, columns=None, where_in: Mapping | None = None, bbox=None,
               order_by: str | None = None, include_pk: bool = False,
               geometry: bool = True) -> pd.DataFrame | gpd.GeoDataFrame:
        """Rows in row-id order; ``include_pk`` adds the row id column (``history_id``, ``audit_id``…);
        ``geometry=False`` reads a spatial table's attributes only (a DataFrame)."""
        raise NotImplementedError

    def insert(self, table: str, frame: pd.DataFrame) -> None:
        raise NotImplementedError

    def update(self, table: str, key: str, frame: pd.DataFrame) -> int:
        raise NotImplementedError

    def delete(self, table: str, key: str, values: Iterable) -> int:
        raise NotImplementedError

    def create_layer_table(self, name: str, frame, *, description: str = "") -> None:
        raise NotImplementedError

    def create_table(self, table: TableDef) -> None:
        raise NotImplementedError

    def add_column(self, table: str, column: str, ctype: str) -> None:
        raise NotImplementedError

    def rename(self, old: str, new: str, *, description: str = "") -> None:
        raise NotImplementedError

    def drop(self, name: str) -> None:
        raise NotImplementedError

    # --- shared: metadata -----------------------------------------------------------------------
    def info(self, key: str, default: str | None = None) -> str | None:
        row = self.execute("SELECT value FROM ws_info WHERE key = ?", (key,))
        return row[0][0] if row else default

    def set_info(self, key: str, value) -> None:
        self.execute("INSERT INTO ws_info(key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                     (key, str(value)))

    def meta(self, layer: str) -> dict | None:
        rows = self.execute("SELECT layer, kind, crs, source, imported_at, row_count, extra, version, changed_at, "
                            "changed_by FROM ws_layers WHERE layer = ?", (layer,))
        if not rows:
            return None
        keys = ("layer", "kind", "crs", "source", "imported_at", "row_count", "extra", "version", "changed_at",
                "changed_by")
        out = dict(zip(keys, rows[0]))
        out["extra"] = json.loads(out["extra"]) if out["extra"] else {}
        return out

    def bump_version(self) -> int:
        """The workspace version this transaction commits as (bumped once per transaction)."""
        if self._version is None:
            current = int(self.info("version", "0") or 0)
            self._version = current + 1
            self.set_info("version", self._version)
        return self._version

    def _next_seq(self, key: str) -> int:
        value = int(self.info(key, "0") or 0) + 1
        self.set_info(key, value)
        return value

    # --- shared: layers --------------------------------------------------------------------------
    def replace_layer(self, name: str, frame, *, kind: str, source: str = "", extra: Mapping | None = None) -> None:
        """Write ``frame`` as layer ``name``; the layer it replaces becomes a kept version."""
        old = self.meta(name)
        if old is not None or self.table_exists(name):
            self._retire(name, old)
        self.create_layer_table(name, frame, description=source)
        version = (int(old["version"] or 0) + 1) if old else 1
        if old is None:
            version = max(version, self._highest_version(name) + 1)
        self._record_layer(name, frame, kind=kind, source=source, extra=extra, version=version)

    def _highest_version(self, name: str) -> int:
        row = self.execute("SELECT max(version) FROM ws_layer_versions WHERE layer = ?", (name,))
        return int(row[0][0] or 0) if row else 0

    def _record_layer(self, name: str, frame, *, kind: str, source: str, extra, version: int,
                      imported_at: str | None = None) -> None:
        spatial = is_spatial(frame)
        self.execute(
            "INSERT INTO ws_layers(layer, kind, crs, source, imported_at, row_count, extra, version, changed_at, changed_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (layer) DO UPDATE SET kind = excluded.kind, "
            "crs = excluded.crs, source = excluded.source, imported_at = excluded.imported_at, "
            "row_count = excluded.row_count, extra = excluded.extra, version = excluded.version, "
            "changed_at = excluded.changed_at, changed_by = excluded.changed_by",
            (name, kind, self.ws.crs.to_string() if spatial else "", source, imported_at or now_utc(), int(len(frame)),
             _json(extra), int(version), now_utc(), self._who()))
        self.bump_version()

    def _who(self) -> str:
        return self.actor.username if self.actor else "system"

    def _retire(self, name: str, old: dict | None) -> None:
        """Keep the current table of ``name`` as a version (or drop it when versions are off)."""
        keep = self.ws.keep_versions
        kind = (old or {}).get("kind") or "table"
        if keep <= 0 or kind not in _VERSIONED_KINDS:
            self.drop(name)
            self.execute("DELETE FROM ws_layers WHERE layer = ?", (name,))
            return
        table = f"ws_version_{self._next_seq('version_seq')}"
        version = int((old or {}).get("version") or 0) or (self._highest_version(name) + 1)
        self.rename(name, table, description=f"{name} version {version}, replaced {now_utc()} by {self._who()}")
        o = old or {}
        self.execute("INSERT INTO ws_layer_versions(layer, version, table_name, replaced_at, replaced_by, row_count, "
                     "source, imported_at, extra) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (name, version, table, now_utc(), self._who(), o.get("row_count"), o.get("source"),
                      o.get("imported_at"), _json(dict(o.get("extra") or {}, kind=kind))))
        self.execute("DELETE FROM ws_layers WHERE layer = ?", (name,))
        self._prune_versions(name, keep)

    def _prune_versions(self, name: str, keep: int) -> None:
        rows = self.execute("SELECT version, table_name FROM ws_layer_versions WHERE layer = ? ORDER BY version DESC",
                            (name,))
        for _version, table in rows[keep:]:
            self.drop(table)
            self.execute("DELETE FROM ws_layer_versions WHERE table_name = ?", (table,))

    def drop_layer(self, name: str) -> None:
        """Remove layer ``name``; it is kept as a version like a replaced layer."""
        old = self.meta(name)
        if old is None and not self.table_exists(name):
            raise self.ws._not_found(name)
        self._retire(name, old)
        self.bump_version()

    def restore_layer(self, name: str, version: int) -> dict:
        """Make a kept version the current layer again; the current one becomes a version."""
        rows = self.execute("SELECT table_name, row_count, source, imported_at, extra FROM ws_layer_versions "
                            "WHERE layer = ? AND version = ?", (name, int(version)))
        if not rows:
            kept = [r[0] for r in self.execute("SELECT version FROM ws_layer_versions WHERE layer = ? ORDER BY version",
                                               (name,))]
            raise WorkspaceError(
                f"Layer {name!r} has no kept version {version}; kept: {kept or '(none)'}.",
                message_zh=f"图层 {name!r} 没有保留的版本 {version};现有版本:{kept or '(无)'}。")
        table, row_count, source, imported_at, extra = rows[0]
        extra = json.loads(extra) if extra else {}
        kind = extra.pop("kind", "core" if name in SPECS else "table")
        current = self.meta(name)
        # The restored version leaves the list first, so pruning after retiring the current
        # layer can never drop the table being restored.
        self.execute("DELETE FROM ws_layer_versions WHERE table_name = ?", (table,))
        if current is not None or self.table_exists(name):
            self._retire(name, current)
        self.rename(table, name, description=source or "")
        new_version = max(self._highest_version(name), int((current or {}).get("version") or 0)) + 1
        self.execute(
            "INSERT INTO ws_layers(layer, kind, crs, source, imported_at, row_count, extra, version, changed_at, changed_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (name, kind, self.ws.crs.to_string() if self._is_spatial_table(name) else "",
             f"{source or ''} (restored from version {version})".strip(), imported_at, row_count,
             _json(dict(extra, restored_from=int(version))), new_version, now_utc(), self._who()))
        self.bump_version()
        return {"layer": name, "restored": int(version), "new_version": new_version, "rows": row_count}

    def _is_spatial_table(self, name: str) -> bool:
        raise NotImplementedError

    # --- shared: audit -------------------------------------------------------------------------------
    def audit(self, action: str | None = None, *, target: str | None = None, summary: str | None = None,
              detail: Mapping | None = None, actor: Actor | None = None) -> None:
        """Append one row to the audit log (the transaction's own row is added on commit)."""
        who = actor or self.actor or access.SYSTEM
        self.execute("INSERT INTO audit_log(at, username, role, township, action, target, summary, detail) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (now_utc(), who.username, who.role, who.township, action or self.action or "",
                      target if target is not None else self.target, summary if summary is not None else self.summary,
                      _json(detail if detail is not None else self.detail)))


class WorkspaceBase:
    """The interface every backend offers (GeoPackage: :class:`layers.store.gpkg.GeoPackageWorkspace`,
    PostGIS: :class:`layers.store.postgis.PostGISWorkspace`)."""

    crs: CRS
    readonly: bool
    info: dict

    # --- identity -----------------------------------------------------------------------------------
    @property
    def location(self) -> str:
        """What :func:`layers.store.open_workspace` takes to open this workspace again."""
        raise NotImplementedError

    @property
    def identity(self) -> str:
        """A stable key of this workspace for caches (no password)."""
        return self.describe()

    def describe(self) -> str:  # pragma: no cover - overridden
        return type(self).__name__

    # --- backend primitives --------------------------------------------------------------------------
    def _begin(self, actor: Actor | None, action: str | None, *, target: str = "",
               readonly: bool = False) -> contextlib.AbstractContextManager[Transaction]:
        raise NotImplementedError

    def _store_raster(self, kind: str, src: Path, info: dict, source: str, actor: Actor) -> Path:
        raise NotImplementedError

    def rasters(self) -> dict[str, Path]:
        raise NotImplementedError

    # --- transactions ------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self, actor: Actor, action: str, *, target: str = "", summary: str = "") -> Iterator[Transaction]:
        """One write transaction on behalf of ``actor``: role checked, audit row appended on commit.

        Examples
        --------
        >>> with ws.transaction(actor, "shortlist.note", target="plot:P000001") as tx:   # doctest: +SKIP
        ...     tx.update("shortlist", "entry_id", frame)
        ...     tx.summary = "备注:已现场核实"
        """
        access.require(actor, action)
        self.require_writable()
        with self._begin(actor, action, target=target) as tx:
            tx.summary = summary
            yield tx
            tx.audit()
            tx.bump_version()

    @contextlib.contextmanager
    def reading(self) -> Iterator[Transaction]:
        """A read-only snapshot (one database transaction) for several consistent reads."""
        with self._begin(None, None, readonly=True) as tx:
            yield tx

    def require_writable(self) -> None:
        if self.readonly:
            raise WorkspaceError(
                f"{self.describe()} was opened read-only; open it with readonly=False to change it.",
                message_zh=f"{self.describe()} 以只读方式打开,不能修改。",
            )

    # --- settings --------------------------------------------------------------------------------------------
    @property
    def keep_versions(self) -> int:
        """How many previous versions of a replaced layer are kept (workspace setting ``keep_versions``)."""
        try:
            return max(0, int(self.info.get("keep_versions", DEFAULT_KEEP_VERSIONS)))
        except (TypeError, ValueError):
            return DEFAULT_KEEP_VERSIONS

    @property
    def timezone(self) -> str:
        """The time zone times are shown in (setting ``timezone``; stored times are UTC)."""
        return str(self.info.get("timezone") or DEFAULT_TIMEZONE)

    def set_setting(self, key: str, value, *, actor: Actor) -> None:
        """Change a workspace setting (``keep_versions``, ``timezone``, ``title``, ``reference_date``)."""
        allowed = ("keep_versions", "timezone", "title", "reference_date")
        if key not in allowed:
            raise WorkspaceError(f"setting {key!r} is not one of {allowed}", message_zh=f"未知的设置项 {key!r}")
        if key == "keep_versions" and (not str(value).isdigit() or int(value) > 50):
            raise WorkspaceError(f"keep_versions must be a whole number 0–50, got {value!r}",
                                 message_zh=f"保留版本数应为 0–50 的整数,收到 {value!r}")
        if key == "timezone":
            import zoneinfo

            try:
                zoneinfo.ZoneInfo(str(value))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise WorkspaceError(f"unknown time zone {value!r} (e.g. Asia/Shanghai)",
                                     message_zh=f"未知的时区 {value!r}(例如 Asia/Shanghai)") from None
        with self.transaction(actor, "workspace.settings", target=key) as tx:
            tx.detail = {"before": self.info.get(key), "after": str(value)}
            tx.summary = f"{key} = {value}"
            tx.set_info(key, value)
        self.info[key] = str(value)

    # --- reading -------------------------------------------------------------------------------------------
    def layers(self) -> list[str]:
        """Names of the layers held (core layers first in spec order, then the others by name)."""
        with self.reading() as r:
            names = [row[0] for row in r.execute("SELECT layer FROM ws_layers ORDER BY layer")]
        return [n for n in SPECS if n in names] + [n for n in names if n not in SPECS]

    def tables(self) -> list[str]:
        """The bookkeeping tables present (runs, shortlist, audit_log…)."""
        with self.reading() as r:
            return [t for t in TABLES if r.table_exists(t)]

    def has_layer(self, name: str) -> bool:
        """True for a layer of :meth:`layers` or a bookkeeping table present in the store."""
        if name in TABLES:
            with self.reading() as r:
                return r.table_exists(name)
        return name in self.layers()

    def _not_found(self, name: str) -> LayerNotFoundError:
        held = self.layers()
        return LayerNotFoundError(
            f"Workspace {self.describe()} has no layer {name!r}; it holds: {', '.join(held) or '(nothing)'}.",
            message_zh=f"工作空间中没有图层 {name!r};现有:{', '.join(held) or '(无)'}。",
        )

    @property
    def version(self) -> tuple[int]:
        """A counter bumped by every committed write: a cache key for what was loaded."""
        with self.reading() as r:
            return (int(r.info("version", "0") or 0),)

    def metadata(self, name: str | None = None) -> dict | pd.DataFrame:
        """Per-layer metadata: kind, CRS, source, import time (UTC), row count, version (one layer as a dict)."""
        cols = ["layer", "kind", "crs", "source", "imported_at", "row_count", "extra", "version", "changed_at",
                "changed_by"]
        with self.reading() as r:
            rows = r.execute(f"SELECT {', '.join(cols)} FROM ws_layers ORDER BY layer")
        df = pd.DataFrame(rows, columns=cols)
        df["extra"] = df["extra"].map(lambda s: json.loads(s) if s else {})
        if name is None:
            return df
        hit = df[df["layer"] == name]
        if hit.empty:
            raise self._not_found(name)
        out = hit.iloc[0].to_dict()
        out["row_count"] = int(out["row_count"]) if out["row_count"] is not None else None
        return out

    def layer_versions(self) -> dict[str, int]:
        """``{layer: version}`` of every current layer (a run records these for its inputs)."""
        with self.reading() as r:
            return {row[0]: int(row[1] or 0) for row in r.execute("SELECT layer, version FROM ws_layers")}

    def read(self, name: str, *, bbox: tuple | None = None, columns: list[str] | None = None,
             where_in: Mapping[str, Iterable] | None = None, geometry: bool = True) -> gpd.GeoDataFrame | pd.DataFrame:
        """Read a layer (or a bookkeeping table) as a frame in the working CRS.

        Parameters
        ----------
        bbox : tuple, optional
            (minx, miny, maxx, maxy) in the working CRS; uses the spatial index.
        columns : list of str, optional
            Attribute columns to read; the geometry is always included for spatial layers.
        where_in : mapping, optional
            ``{column: values}``: keep rows whose column is one of the values (bound
            parameters: untrusted ids are safe to pass).
        geometry : bool
            False: the attributes only, as a DataFrame (no geometry is read or decoded: what a
            million-row attribute table costs without its shapes).
        """
        with self.reading() as r:
            if name not in TABLES and not r.execute("SELECT 1 FROM ws_layers WHERE layer = ?", (name,)):
                raise self._not_found(name)
            if name in TABLES and not r.table_exists(name):
                return self._empty_table(name)
            named_id = name in TABLES and TABLES[name].pk != "fid"
            try:
                df = r.select(name, columns=columns, where_in=where_in, bbox=bbox, include_pk=named_id,
                              geometry=geometry)
            except KeyError as exc:
                raise WorkspaceError(f"Layer {name!r}: {exc.args[0]}", message_zh=f"图层 {name!r}:{exc.args[0]}") from None
        if name in SPECS:
            cast_fields(df, name)
        return df

    def _empty_table(self, name: str) -> pd.DataFrame:
        tdef = TABLES[name]
        data = {c: pd.Series([], dtype=_PANDAS_TYPES[t]) for c, t in tdef.columns}
        if tdef.geometry:
            return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=self.crs), crs=self.crs)
        return pd.DataFrame(data)

    def read_many(self, names: Iterable[str]) -> tuple[dict[str, pd.DataFrame], dict[str, int]]:
        """Several layers read from one snapshot, with the version of every layer at that moment.

        What an analysis run reads: a write committed by someone else half-way through cannot
        mix old and new layers, and the versions say exactly what was read.
        """
        with self.reading() as r:
            versions = {row[0]: int(row[1] or 0) for row in r.execute("SELECT layer, version FROM ws_layers")}
            frames = {}
            for name in names:
                if name in versions:
                    frames[name] = r.select(name)
                    if name in SPECS:
                        cast_fields(frames[name], name)
        return frames, versions

    def keys(self, name: str, column: str, among: Iterable | None = None) -> pd.Index:
        """The distinct non-empty values of one column, as text, without reading rows or geometries
        (what references to a layer's objects are checked against, :mod:`layers.references`).

        ``among``: only those of these values that are present — what checking a few references
        needs, at the cost of those few rather than of the whole layer's keys."""
        wanted = None if among is None else list(dict.fromkeys(str(v) for v in among))
        with self.reading() as r:
            if not r.table_exists(name):
                raise self._not_found(name)
            if column not in r.columns(name):
                return pd.Index([], dtype=object)
            sql = f'SELECT DISTINCT "{column}" FROM "{name}" WHERE "{column}" IS NOT NULL'
            if wanted is None:
                rows = r.execute(sql)
            else:   # bound values, in chunks under every SQLite build's limit of host parameters
                rows = [row for i in range(0, len(wanted), _KEYS_CHUNK) for row in r.execute(
                    f'{sql} AND CAST("{column}" AS TEXT) IN ({", ".join("?" * len(wanted[i:i + _KEYS_CHUNK]))})',
                    tuple(wanted[i:i + _KEYS_CHUNK]))]
        return pd.Index([str(v[0]) for v in rows], dtype=object)

    def read_table(self, name: str, **kw) -> pd.DataFrame:
        """A layer or table as a plain DataFrame (the geometry left out)."""
        df = self.read(name, geometry=False, **kw)
        return pd.DataFrame(df.drop(columns=df.geometry.name)) if is_spatial(df) else df

    def columns(self, name: str) -> list[str]:
        """Attribute columns of a layer or table (no rows read)."""
        with self.reading() as r:
            if not r.table_exists(name):
                raise self._not_found(name)
            return r.columns(name)

    # --- writing layers --------------------------------------------------------------------------------------
    def write(self, name: str, frame: gpd.GeoDataFrame | pd.DataFrame, *, actor: Actor, source: str = "",
              kind: str | None = None, extra: Mapping | None = None, action: str = "layer.write") -> None:
        """Write or replace one layer in one transaction. See :meth:`write_many`."""
        self.write_many({name: frame}, actor=actor, source=source, kind=kind, extra={name: extra} if extra else None,
                        action=action)

    def write_many(self, frames: Mapping[str, gpd.GeoDataFrame | pd.DataFrame], *, actor: Actor, source: str = "",
                   kind: str | None = None, extra: Mapping[str, Mapping] | None = None, drop: tuple[str, ...] = (),
                   action: str = "layer.write", summary: str = "", within=None,
                   progress: Progress | None = None) -> None:
        """Write or replace several layers (and drop others) as one transaction.

        Core layers (``SPECS``) are checked with :func:`layers.schema.conform` first; spatial
        frames must carry the workspace CRS.  Everything is validated before the store is
        touched; then the whole change lands or none of it does.  A replaced or dropped
        layer is kept as a version (see :meth:`layer_history`).  ``within(tx)``, if given, runs
        inside the same transaction (e.g. saving an import's column mapping with its layer).
        ``progress`` is told as each layer is written (:mod:`geo.progress`).
        """
        access.require(actor, action)
        self.require_writable()
        prepared = self._validate_frames(frames)
        for name in drop:
            check_name(name)
        steps = Steps(progress, list(prepared), task="write")
        with self.transaction(actor, action, target=", ".join([*prepared, *drop]), summary=summary) as tx:
            for name in drop:
                tx.drop_layer(name)
            for name, frame in prepared.items():
                steps.start(name)
                tx.replace_layer(name, frame, kind=kind or _kind_of(name, frame), source=source,
                                 extra=(extra or {}).get(name))
            if within is not None:
                within(tx)
            tx.detail = {"layers": {n: int(len(f)) for n, f in prepared.items()}, "dropped": list(drop),
                         "source": source, **(tx.detail or {})}
            if not tx.summary:
                parts = [f"{n}: {len(f)} 行" for n, f in prepared.items()] + [f"删除 {n}" for n in drop]
                tx.summary = ";".join(parts)
        steps.finish()

    def _validate_frames(self, frames: Mapping) -> dict:
        prepared: dict[str, gpd.GeoDataFrame | pd.DataFrame] = {}
        problems: list[str] = []
        errors: list[Exception] = []
        for name, frame in frames.items():
            check_name(name)
            try:
                prepared[name] = self._prepare(name, frame)
            except (SchemaError, MissingCRSError, CRSMismatchError) as exc:
                problems.append(f"{name}: {exc}")
                errors.append(exc)
        if len(errors) == 1:
            raise errors[0]
        if problems:
            raise SchemaError("Nothing was written. " + " | ".join(problems),
                              message_zh="未写入任何数据。" + " | ".join(problems), details=problems)
        return prepared

    def _prepare(self, name: str, frame) -> gpd.GeoDataFrame | pd.DataFrame:
        if not is_spatial(frame):
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

    def delete(self, name: str, *, actor: Actor) -> None:
        """Remove a layer in one transaction (kept as a version, restorable)."""
        if not self.has_layer(name):
            raise self._not_found(name)
        self.write_many({}, drop=(name,), actor=actor)

    # --- versions -------------------------------------------------------------------------------------------
    def layer_history(self, name: str) -> pd.DataFrame:
        """The current version and the kept previous versions of layer ``name``, newest first.

        Columns: ``version``, ``current`` (bool), ``rows``, ``source``, ``imported_at`` (UTC),
        ``replaced_at``, ``replaced_by``.
        """
        with self.reading() as r:
            kept = r.execute("SELECT version, row_count, source, imported_at, replaced_at, replaced_by "
                             "FROM ws_layer_versions WHERE layer = ? ORDER BY version DESC", (name,))
            cur = r.meta(name)
        rows = [{"version": int(v), "current": False, "rows": n, "source": s, "imported_at": i, "replaced_at": ra,
                 "replaced_by": rb} for v, n, s, i, ra, rb in kept]
        if cur is not None:
            rows.insert(0, {"version": int(cur["version"] or 0), "current": True, "rows": cur["row_count"],
                            "source": cur["source"], "imported_at": cur["imported_at"], "replaced_at": None,
                            "replaced_by": None})
        if not rows:
            raise self._not_found(name)
        return pd.DataFrame(rows, columns=["version", "current", "rows", "source", "imported_at", "replaced_at",
                                           "replaced_by"])

    def restore_layer(self, name: str, version: int, *, actor: Actor) -> dict:
        """Make kept version ``version`` of layer ``name`` current again (the current one is kept)."""
        with self.transaction(actor, "layer.restore", target=name) as tx:
            out = tx.restore_layer(name, version)
            tx.summary = f"{name}:恢复到版本 {version}({out['rows']} 行),原当前版本已保留"
            tx.detail = out
        return out

    # --- rasters ---------------------------------------------------------------------------------------------
    def register_raster(self, kind: str, src: str | os.PathLike, *, actor: Actor, source: str = "") -> Path:
        """Store a GeoTIFF in the workspace as raster ``kind`` (dem, slope, flood_depth...).

        The raster must be georeferenced in the working CRS; its content is stored under a
        name with its hash (see the backend) and recorded in ``ws_rasters`` in one transaction.
        """
        from geo.raster import open_raster

        access.require(actor, "import")
        self.require_writable()
        check_name(kind)
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
        return self._store_raster(kind, src, info, source, actor)

    def raster_path(self, kind: str) -> Path:
        paths = self.rasters()
        if kind not in paths:
            raise LayerNotFoundError(
                f"Workspace has no raster {kind!r}; registered: {', '.join(paths) or '(none)'}; expected kinds include {RASTER_KINDS}.",
                message_zh=f"工作空间中没有栅格 {kind!r}。",
            )
        return paths[kind]

    def _record_raster(self, tx: Transaction, kind: str, file: str, info: dict, source: str) -> str | None:
        """Point raster ``kind`` at ``file`` in ``ws_rasters``; returns the file it pointed at before."""
        before = tx.execute("SELECT file FROM ws_rasters WHERE kind = ?", (kind,))
        tx.execute("INSERT INTO ws_rasters(kind, file, crs, source, imported_at, info) VALUES (?, ?, ?, ?, ?, ?) "
                   "ON CONFLICT (kind) DO UPDATE SET file = excluded.file, crs = excluded.crs, "
                   "source = excluded.source, imported_at = excluded.imported_at, info = excluded.info",
                   (kind, file, self.crs.to_string(), source, now_utc(), json.dumps(info)))
        tx.summary = f"栅格 {kind}:{file}"
        tx.detail = {"kind": kind, "file": file, "before": before[0][0] if before else None}
        tx.bump_version()
        return before[0][0] if before else None

    # --- schema ---------------------------------------------------------------------------------------------------
    def _ensure_schema(self, tx: Transaction) -> None:
        """Create missing bookkeeping tables and add missing columns (workspaces of older formats)."""
        for tdef in TABLES.values():
            if not tx.table_exists(tdef.name):
                tx.create_table(tdef)
                continue
            if tx.primary_key(tdef.name) != tdef.pk:
                _rebuild(tx, tdef)
                continue
            have = tx.columns(tdef.name)
            for col, ctype in tdef.columns:
                if col not in have:
                    tx.add_column(tdef.name, col, ctype)
            if tdef.unique:
                tx.ensure_unique(tdef.name, tdef.unique)


_PANDAS_TYPES = {"text": "object", "int": "Int64", "real": "float64", "bool": "boolean"}


def _kind_of(name: str, frame) -> str:
    return "core" if name in SPECS else ("spatial" if is_spatial(frame) else "table")


def _rebuild(tx: Transaction, tdef: TableDef) -> None:
    """A bookkeeping table of an older format (another row id): copy its rows into the current layout.

    A column named like the new row id (``history_id`` of an old shortlist history) keeps its values.
    """
    old = tx.select(tdef.name)
    tx.drop(tdef.name)
    tx.create_table(tdef)
    keep = [c for c in old.columns if c in tdef.column_names or c == tdef.pk
            or c == (old.geometry.name if is_spatial(old) else None)]
    if len(old):
        tx.insert(tdef.name, old[keep])
