"""GeoPackage tables read and written through Python's ``sqlite3``, inside one SQLite transaction.

A GeoPackage (OGC 12-128r18, version 1.4) is an SQLite file with a few registry tables
(``gpkg_contents``, ``gpkg_geometry_columns``, ``gpkg_spatial_ref_sys``, ``gpkg_extensions``),
feature tables whose geometry column holds *GeoPackage binary* blobs (a small header with the
SRS id and the envelope, then ISO WKB), and an optional R*Tree spatial index per geometry
column kept current by triggers (GeoPackage 1.4 Annex F.3, ``gpkg_rtree_index``).  This module
implements exactly that much, vectorised with shapely, so that a whole logical change — a new
version of a layer, its metadata, an audit row — is *one* SQLite transaction.

Why not GDAL for the writes: GDAL carries its own copy of SQLite.  Two SQLite libraries in one
process do not see each other's POSIX advisory locks, and closing a file through one of them
drops the locks the other holds (sqlite.org, "How To Corrupt An SQLite Database File",
§2.2.1).  Measured here: GDAL (pyogrio) wrote a layer into a GeoPackage while a ``sqlite3``
connection of the same process held ``BEGIN IMMEDIATE``, and the file's schema was corrupt
afterwards.  So a file written through this module must not be opened by GDAL in the same
process while it is in use; other processes (QGIS, ogrinfo) are safe — there the locks work.

Functions that change the file take an open connection and never commit: the caller owns the
transaction (see :func:`connect` and :func:`transaction`).

Examples
--------
>>> import geopandas as gpd, shapely
>>> con = connect(":memory:")            # doctest: +SKIP
>>> blobs = encode([shapely.box(0, 0, 1, 1)], srs_id=4549)
>>> bytes(blobs[0][:2])
b'GP'
>>> decode(blobs)[0].bounds
(0.0, 0.0, 1.0, 1.0)
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import re
import sqlite3
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import shapely

__all__ = [
    "APPLICATION_ID",
    "connect",
    "transaction",
    "register_functions",
    "encode",
    "decode",
    "quote",
    "geometry_column",
    "table_columns",
    "table_exists",
    "create_table",
    "insert_rows",
    "update_rows",
    "delete_rows",
    "read_rows",
    "rename_table",
    "drop_table",
    "sqlite_type",
    "primary_key",
    "update_extent",
    "ensure_rtree_triggers",
]

APPLICATION_ID = 0x47504B47  # "GPKG"
USER_VERSION = 10400         # GeoPackage 1.4.0
_ENVELOPE_DOUBLES = {0: 0, 1: 4, 2: 6, 3: 6, 4: 8}
_HEADER = struct.Struct("<2sBBi4d")  # magic, version, flags, srs_id, minx, maxx, miny, maxy
_FLAGS_XY_LE = 0b0000_0011           # little-endian header, envelope [minx, maxx, miny, maxy]
_FLAGS_EMPTY_LE = 0b0001_0001        # little-endian header, empty geometry, no envelope
_RTREE_EXTENSION = ("gpkg_rtree_index", "http://www.geopackage.org/spec120/#extension_rtree", "write-only")


# --- connections ------------------------------------------------------------------------------
def connect(path, *, readonly: bool = False, timeout_s: float = 60.0) -> sqlite3.Connection:
    """Open a GeoPackage with ``sqlite3``: autocommit mode (transactions are explicit), WAL journal.

    Parameters
    ----------
    path : path-like
        The ``.gpkg`` file (``":memory:"`` for tests).
    readonly : bool
        Open with ``mode=ro``: SQLite cannot change the file.
    timeout_s : float
        How long a write waits for another writer (another app session, QGIS) before giving up.

    Notes
    -----
    Write-ahead logging lets the app's readers go on while one writer commits, and makes a
    commit cost the pages it changes.  WAL needs shared memory, so the file must live on a
    local disk (not a network share) — an office sharing one workspace uses PostGIS instead.
    """
    if readonly:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=timeout_s, isolation_level=None,
                              check_same_thread=False)
    else:
        con = sqlite3.connect(path, timeout=timeout_s, isolation_level=None, check_same_thread=False)
        if str(path) != ":memory:" and con.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at checkpoints, never corrupt
    register_functions(con)
    return con


@contextlib.contextmanager
def transaction(con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on any error).

    IMMEDIATE takes the write lock at the start, so a read-modify-write inside the block sees
    no other writer's change between its read and its write.
    """
    con.execute("BEGIN IMMEDIATE")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


# --- SQL functions the R*Tree triggers call ---------------------------------------------------------
def _envelope(blob) -> tuple[float, float, float, float] | None:
    if blob is None or len(blob) < 8 or blob[:2] != b"GP":
        return None
    flags = blob[3]
    if flags & 0b1_0000:  # empty
        return None
    order = "<" if flags & 1 else ">"
    if (flags >> 1) & 0b111:
        minx, maxx, miny, maxy = struct.unpack_from(order + "4d", blob, 8)
        return minx, maxx, miny, maxy
    minx, miny, maxx, maxy = shapely.from_wkb(bytes(blob[8:])).bounds  # no envelope (GDAL's points)
    return minx, maxx, miny, maxy


def _is_empty(blob) -> int | None:
    if blob is None:
        return None
    return 1 if len(blob) < 8 or blob[3] & 0b1_0000 else 0


def register_functions(con: sqlite3.Connection) -> None:
    """``ST_MinX``/``ST_MaxX``/``ST_MinY``/``ST_MaxY``/``ST_IsEmpty`` on GeoPackage blobs.

    The spatial-index triggers of GeoPackage 1.4 (Annex F.3) call these; GDAL and SpatiaLite
    define them for their own connections, plain SQLite does not.
    """
    for name, pos in (("ST_MinX", 0), ("ST_MaxX", 1), ("ST_MinY", 2), ("ST_MaxY", 3)):
        con.create_function(name, 1, lambda b, _p=pos: None if (e := _envelope(b)) is None else e[_p],
                            deterministic=True)
    con.create_function("ST_IsEmpty", 1, _is_empty, deterministic=True)


# --- geometry blobs ---------------------------------------------------------------------------
def encode(geoms: Sequence | np.ndarray, *, srs_id: int) -> list[bytes | None]:
    """Shapely geometries → GeoPackage binary blobs (little-endian, xy envelope, ISO WKB).

    ``None`` stays NULL; an empty geometry gets the empty flag and no envelope.
    """
    arr = np.asarray(geoms, dtype=object)
    n = len(arr)
    if n == 0:
        return []
    missing = shapely.is_missing(arr)
    empty = shapely.is_empty(arr)  # False where missing
    wkb = shapely.to_wkb(arr, byte_order=1, flavor="iso")
    bounds = shapely.bounds(arr)  # (minx, miny, maxx, maxy); NaN where missing/empty
    head = np.zeros(n, dtype=[("magic", "S2"), ("version", "u1"), ("flags", "u1"), ("srs", "<i4"),
                              ("env", "<f8", 4)])
    head["magic"] = b"GP"
    head["flags"] = np.where(empty, _FLAGS_EMPTY_LE, _FLAGS_XY_LE)
    head["srs"] = int(srs_id)
    head["env"] = bounds[:, [0, 2, 1, 3]]
    raw = head.tobytes()
    size = head.itemsize
    out: list[bytes | None] = []
    for i in range(n):  # concatenating two byte strings per row: no per-feature geometry work
        if missing[i]:
            out.append(None)
        elif empty[i]:
            out.append(raw[i * size:i * size + 8] + wkb[i])
        else:
            out.append(raw[i * size:(i + 1) * size] + wkb[i])
    return out


def decode(blobs: Iterable) -> np.ndarray:
    """GeoPackage binary blobs (any header byte order or envelope) → array of shapely geometries."""
    items = list(blobs)
    bodies: list[bytes | None] = []
    for b in items:
        if b is None or len(b) < 8 or b[:2] != b"GP":
            bodies.append(None)
            continue
        flags = b[3]
        start = 8 + 8 * _ENVELOPE_DOUBLES.get((flags >> 1) & 0b111, 0)
        bodies.append(bytes(b[start:]))
    return shapely.from_wkb(np.array(bodies, dtype=object))


# --- identifiers and schema -------------------------------------------------------------------
def quote(name: str) -> str:
    """An SQL identifier in double quotes, embedded quotes doubled (values are always bound)."""
    text = str(name)
    if "\x00" in text:
        raise ValueError(f"identifier {text!r} contains a NUL character")
    return '"' + text.replace('"', '""') + '"'


def table_exists(con: sqlite3.Connection, name: str) -> bool:
    return con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None


def geometry_column(con: sqlite3.Connection, table: str) -> tuple[str, str, int] | None:
    """``(column, geometry type name, srs_id)`` of a feature table, None for an attributes table."""
    row = con.execute("SELECT column_name, geometry_type_name, srs_id FROM gpkg_geometry_columns "
                      "WHERE lower(table_name) = lower(?)", (table,)).fetchone()
    return (str(row[0]), str(row[1]), int(row[2])) if row else None


def table_columns(con: sqlite3.Connection, table: str) -> list[tuple[str, str]]:
    """``[(name, declared type), ...]`` in table order (the primary key included)."""
    return [(str(r[1]), str(r[2] or "")) for r in con.execute(f"PRAGMA table_info({quote(table)})")]


def sqlite_type(series: pd.Series) -> str:
    """The GeoPackage column type for a pandas column (GeoPackage 1.4 Table 1 data types)."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "BOOLEAN"
    if pd.api.types.is_integer_dtype(dtype):
        return "INTEGER"
    if pd.api.types.is_float_dtype(dtype):
        return "REAL"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "DATETIME"
    if pd.api.types.is_object_dtype(dtype):
        sample = series.dropna()
        if len(sample) and all(isinstance(v, (bytes, bytearray, memoryview)) for v in sample.head(20)):
            return "BLOB"
        if len(sample) and all(isinstance(v, (bool, np.bool_)) for v in sample.head(20)):
            return "BOOLEAN"
    return "TEXT"


def create_table(con: sqlite3.Connection, name: str, columns: Sequence[tuple[str, str]], *,
                 geometry: tuple[str, str, int] | None = None, identifier: str | None = None,
                 description: str = "", extent: Sequence[float] | None = None, pk: str = "fid",
                 register: bool = True, triggers: bool = True) -> None:
    """Create a feature table (``geometry`` = (column, type name, srs_id)) or an attributes table.

    The table gets an ``INTEGER PRIMARY KEY AUTOINCREMENT`` column ``pk`` (GeoPackage requires
    one) — or, when ``pk`` is one of ``columns``, that column becomes the primary key (plain
    SQLite tables, ``register=False``).  A registered table is listed in ``gpkg_contents`` (and
    ``gpkg_geometry_columns``), and a feature table gets its R*Tree index and triggers
    (``triggers=False`` for a bulk load: :func:`insert_rows` with ``bulk_index`` adds them).
    """
    names = [c for c, _ in columns]
    if pk in names:
        defs = [f"{quote(c)} {t}{' PRIMARY KEY' if c == pk else ''}" for c, t in columns]
    else:
        defs = [f"{quote(pk)} INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL"]
        if geometry:
            defs.append(f"{quote(geometry[0])} {geometry[1]}")
        defs += [f"{quote(c)} {t}" for c, t in columns]
    con.execute(f"CREATE TABLE {quote(name)} ({', '.join(defs)})")
    if not register:
        return
    ext = list(extent) if extent is not None else [None] * 4
    con.execute("INSERT INTO gpkg_contents(table_name, data_type, identifier, description, last_change, min_x, min_y, "
                "max_x, max_y, srs_id) VALUES (?, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ','now'), ?, ?, ?, ?, ?)",
                (name, "features" if geometry else "attributes", identifier or name, description, *ext,
                 geometry[2] if geometry else None))
    if geometry:
        con.execute("INSERT INTO gpkg_geometry_columns(table_name, column_name, geometry_type_name, srs_id, z, m) "
                    "VALUES (?, ?, ?, ?, 0, 0)", (name, geometry[0], geometry[1], geometry[2]))
        _create_rtree(con, name, geometry[0], pk)
        if triggers:
            ensure_rtree_triggers(con, name, geometry[0], pk)


def _rtree_name(table: str, column: str) -> str:
    return f"rtree_{table}_{column}"


def _create_rtree(con, table: str, column: str, pk: str) -> None:
    con.execute(f"CREATE VIRTUAL TABLE {quote(_rtree_name(table, column))} USING rtree(id, minx, maxx, miny, maxy)")
    con.execute("INSERT OR REPLACE INTO gpkg_extensions(table_name, column_name, extension_name, definition, scope) "
                "VALUES (?, ?, ?, ?, ?)", (table, column, *_RTREE_EXTENSION))


def _rtree_triggers(table: str, column: str, pk: str) -> list[str]:
    """The seven triggers of GeoPackage 1.4 Annex F.3 (the set GDAL 3.8+ writes too)."""
    t, c, i, r = quote(table), quote(column), quote(pk), quote(_rtree_name(table, column))
    name = _rtree_name(table, column)
    box = f"ST_MinX(NEW.{c}), ST_MaxX(NEW.{c}), ST_MinY(NEW.{c}), ST_MaxY(NEW.{c})"
    new_ok = f"(NEW.{c} NOTNULL AND NOT ST_IsEmpty(NEW.{c}))"
    old_ok = f"(OLD.{c} NOTNULL AND NOT ST_IsEmpty(OLD.{c}))"
    return [
        f"CREATE TRIGGER {quote(name + '_insert')} AFTER INSERT ON {t} WHEN {new_ok} "
        f"BEGIN INSERT OR REPLACE INTO {r} VALUES (NEW.{i}, {box}); END",
        f"CREATE TRIGGER {quote(name + '_update6')} AFTER UPDATE OF {c} ON {t} WHEN OLD.{i} = NEW.{i} AND {new_ok} "
        f"AND {old_ok} BEGIN UPDATE {r} SET minx = ST_MinX(NEW.{c}), maxx = ST_MaxX(NEW.{c}), miny = ST_MinY(NEW.{c}), "
        f"maxy = ST_MaxY(NEW.{c}) WHERE id = NEW.{i}; END",
        f"CREATE TRIGGER {quote(name + '_update7')} AFTER UPDATE OF {c} ON {t} WHEN OLD.{i} = NEW.{i} AND {new_ok} "
        f"AND (OLD.{c} ISNULL OR ST_IsEmpty(OLD.{c})) BEGIN INSERT INTO {r} VALUES (NEW.{i}, {box}); END",
        f"CREATE TRIGGER {quote(name + '_update2')} AFTER UPDATE OF {c} ON {t} WHEN OLD.{i} = NEW.{i} AND "
        f"(NEW.{c} ISNULL OR ST_IsEmpty(NEW.{c})) BEGIN DELETE FROM {r} WHERE id = OLD.{i}; END",
        f"CREATE TRIGGER {quote(name + '_update5')} AFTER UPDATE ON {t} WHEN OLD.{i} != NEW.{i} AND {new_ok} "
        f"BEGIN DELETE FROM {r} WHERE id = OLD.{i}; INSERT OR REPLACE INTO {r} VALUES (NEW.{i}, {box}); END",
        f"CREATE TRIGGER {quote(name + '_update4')} AFTER UPDATE ON {t} WHEN OLD.{i} != NEW.{i} AND "
        f"(NEW.{c} ISNULL OR ST_IsEmpty(NEW.{c})) BEGIN DELETE FROM {r} WHERE id IN (OLD.{i}, NEW.{i}); END",
        f"CREATE TRIGGER {quote(name + '_delete')} AFTER DELETE ON {t} WHEN OLD.{c} NOT NULL "
        f"BEGIN DELETE FROM {r} WHERE id = OLD.{i}; END",
    ]


def ensure_rtree_triggers(con, table: str, column: str, pk: str) -> None:
    have = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (table,))}
    for sql in _rtree_triggers(table, column, pk):
        name = re.search(r'TRIGGER "([^"]+)"', sql)
        if name is None or name.group(1) not in have:
            con.execute(sql)


def primary_key(con, table: str) -> str:
    """The table's INTEGER PRIMARY KEY column (``rowid`` if it has none)."""
    for r in con.execute(f"PRAGMA table_info({quote(table)})"):
        if r[5]:
            return str(r[1])
    return "rowid"


# --- values -------------------------------------------------------------------------------------
def _column_values(series: pd.Series, decl: str) -> list:
    """One column as plain Python values for SQLite (NULL for missing; dates as ISO text)."""
    decl = decl.upper()
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        s = series
        if getattr(s.dt, "tz", None) is not None:
            text = s.dt.tz_convert("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ").str.replace(r"\.(\d{3})\d{3}Z$", r".\1Z",
                                                                                             regex=True)
        else:
            text = s.dt.strftime("%Y-%m-%dT%H:%M:%S")
        return [None if pd.isna(v) else v for v in text.astype(object)]
    if decl == "BOOLEAN" or pd.api.types.is_bool_dtype(series.dtype):
        return [None if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else int(bool(v))
                for v in series.astype(object)]
    values = series.astype(object).where(series.notna(), None).tolist()
    if pd.api.types.is_integer_dtype(series.dtype):
        return [None if v is None else int(v) for v in values]
    if pd.api.types.is_float_dtype(series.dtype):
        return [None if v is None else float(v) for v in values]
    return [_plain(v) for v in values]


def _plain(v):
    if v is None:
        return None
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (pd.Timestamp, _dt.datetime)):
        return v.isoformat()
    if isinstance(v, _dt.date):
        return v.isoformat()
    return v


def _srs_id(srs_id: int | None, table: str) -> int:
    """The SRS id geometries are written with: required as soon as a geometry column is written."""
    if srs_id is None:
        raise ValueError(f"writing geometries into {table!r} needs srs_id (the table's gpkg_spatial_ref_sys id)")
    return int(srs_id)


def insert_rows(con: sqlite3.Connection, table: str, frame: pd.DataFrame, *, geometry: str | None = None,
                srs_id: int | None = None, bulk_index: bool = False) -> None:
    """Insert the rows of ``frame`` (columns must exist in the table; missing ones stay NULL).

    ``geometry`` names the frame's geometry column and the table's (they must match).  With
    ``bulk_index`` (a table just made by :func:`create_table`, still empty) the rows get
    primary keys 1…n, the R*Tree is filled from the geometries' bounds in one statement and
    the triggers are created afterwards — far faster than one trigger call per row.
    """
    if len(frame) == 0:
        if bulk_index and geometry:
            ensure_rtree_triggers(con, table, geometry, primary_key(con, table))
        return
    decls = dict(table_columns(con, table))
    cols = [c for c in frame.columns if c != geometry]
    unknown = [c for c in cols if c not in decls]
    if unknown:
        raise KeyError(f"table {table!r} has no column(s) {unknown}")
    values = [_column_values(frame[c], decls[c]) for c in cols]
    names = list(cols)
    pk = primary_key(con, table) if bulk_index else ""
    if geometry:
        geoms = np.asarray(frame[geometry].values, dtype=object)
        values.append(encode(geoms, srs_id=_srs_id(srs_id, table)))
        names.append(geometry)
    if bulk_index:
        n0 = con.execute(f"SELECT count(*) FROM {quote(table)}").fetchone()[0]
        if n0:
            raise ValueError(f"bulk_index needs an empty table; {table!r} holds {n0} rows")
        values.insert(0, list(range(1, len(frame) + 1)))
        names.insert(0, pk)
    sql = (f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in names)}) "
           f"VALUES ({', '.join('?' * len(names))})")
    con.executemany(sql, zip(*values))
    if bulk_index and geometry:
        geoms = np.asarray(frame[geometry].values, dtype=object)
        ok = ~shapely.is_missing(geoms)
        ok[ok] = ~shapely.is_empty(geoms[ok])
        b = shapely.bounds(geoms[ok])
        ids = np.arange(1, len(frame) + 1)[ok]
        con.executemany(f"INSERT INTO {quote(_rtree_name(table, geometry))} VALUES (?, ?, ?, ?, ?)",
                        zip(ids.tolist(), b[:, 0].tolist(), b[:, 2].tolist(), b[:, 1].tolist(), b[:, 3].tolist()))
        ensure_rtree_triggers(con, table, geometry, pk)
        update_extent(con, table, b)


def update_extent(con: sqlite3.Connection, table: str, bounds: np.ndarray | None = None) -> None:
    """Set ``gpkg_contents``' extent and last change of ``table`` (extent from ``bounds`` rows if given)."""
    if bounds is not None and len(bounds):
        ext = (float(np.nanmin(bounds[:, 0])), float(np.nanmin(bounds[:, 1])), float(np.nanmax(bounds[:, 2])),
               float(np.nanmax(bounds[:, 3])))
        con.execute("UPDATE gpkg_contents SET min_x = ?, min_y = ?, max_x = ?, max_y = ?, "
                    "last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE table_name = ?", (*ext, table))
    else:
        con.execute("UPDATE gpkg_contents SET last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE table_name = ?",
                    (table,))


def update_rows(con: sqlite3.Connection, table: str, key: str, frame: pd.DataFrame, *, geometry: str | None = None,
                srs_id: int | None = None) -> int:
    """``UPDATE table SET <other columns> WHERE key = <row's key>`` for every row of ``frame``; rows changed."""
    decls = dict(table_columns(con, table))
    cols = [c for c in frame.columns if c not in (key, geometry)]
    values = [_column_values(frame[c], decls.get(c, "")) for c in cols]
    names = list(cols)
    if geometry and geometry in frame.columns:
        values.append(encode(np.asarray(frame[geometry].values, dtype=object), srs_id=_srs_id(srs_id, table)))
        names.append(geometry)
    if not names:
        return 0
    values.append(_column_values(frame[key], decls.get(key, "")))
    sql = f"UPDATE {quote(table)} SET {', '.join(f'{quote(c)} = ?' for c in names)} WHERE {quote(key)} = ?"
    before = con.total_changes
    con.executemany(sql, zip(*values))
    return con.total_changes - before


def delete_rows(con: sqlite3.Connection, table: str, key: str, values: Iterable) -> int:
    """``DELETE FROM table WHERE key IN values``; rows deleted."""
    before = con.total_changes
    con.executemany(f"DELETE FROM {quote(table)} WHERE {quote(key)} = ?", [(_plain(v),) for v in values])
    return con.total_changes - before


# --- reading ---------------------------------------------------------------------------------------
def read_rows(con: sqlite3.Connection, table: str, *, columns: Sequence[str] | None = None,
              bbox: Sequence[float] | None = None, where_in: Mapping[str, Iterable] | None = None,
              order_by: str | None = None, include_pk: bool = False,
              geometry: bool = True) -> tuple[pd.DataFrame, np.ndarray | None]:
    """Rows of ``table`` as a DataFrame of attributes plus an array of geometries (None for a table, or
    when ``geometry`` is False: the attributes are read without the geometry column).

    ``bbox`` (minx, miny, maxx, maxy) uses the R*Tree; ``where_in`` values are bound parameters
    (one temporary table per column, so thousands of ids cost one join).  Declared types give the
    dtypes: INTEGER → int64 (Int64 with NULLs), REAL → float64, BOOLEAN → bool ("boolean" with
    NULLs), DATE/DATETIME → datetime64, TEXT → object.
    """
    decls = table_columns(con, table)
    geom = geometry_column(con, table)
    gcol = geom[0] if geom else None
    pk = primary_key(con, table)
    present = [c for c, _ in decls if c != gcol and (include_pk or c != pk)]
    if columns is not None:
        missing = [c for c in columns if c not in present]
        if missing:
            raise KeyError(f"table {table!r} has no column(s) {missing}; it has {present}")
        present = ([pk] if include_pk and pk in present and pk not in columns else []) + list(dict.fromkeys(columns))
    select = [f"t.{quote(c)}" for c in present] + ([f"t.{quote(gcol)}"] if gcol and geometry else [])
    sql = f"SELECT {', '.join(select) or '1'} FROM {quote(table)} AS t"
    params: list = []
    clauses: list[str] = []
    if bbox is not None and gcol:
        rtree = _rtree_name(table, gcol)
        if table_exists(con, rtree):
            clauses.append(f"t.{quote(pk)} IN (SELECT id FROM {quote(rtree)} WHERE maxx >= ? AND minx <= ? "
                           "AND maxy >= ? AND miny <= ?)")
            params += [float(bbox[0]), float(bbox[2]), float(bbox[1]), float(bbox[3])]
    for n, (column, vals) in enumerate((where_in or {}).items()):
        if column not in dict(decls):
            raise KeyError(f"table {table!r} has no column {column!r} to filter on")
        tmp = f"_ws_in_{n}"
        con.execute(f"CREATE TEMP TABLE IF NOT EXISTS {quote(tmp)} (v)")
        con.execute(f"DELETE FROM temp.{quote(tmp)}")
        con.executemany(f"INSERT INTO temp.{quote(tmp)} VALUES (?)", [(_plain(v),) for v in vals])
        clauses.append(f"t.{quote(column)} IN (SELECT v FROM temp.{quote(tmp)})")
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    sql += f" ORDER BY {'t.' + quote(order_by) if order_by else 't.' + quote(pk)}"
    rows = con.execute(sql, params).fetchall()
    names = present + ([gcol] if gcol and geometry else [])
    df = pd.DataFrame.from_records(rows, columns=names) if rows else pd.DataFrame({c: [] for c in names})
    geoms = None
    if gcol and geometry:
        geoms = decode(df[gcol].tolist()) if len(df) else np.array([], dtype=object)
        df = df.drop(columns=gcol)
    types = dict(decls)
    for c in present:
        df[c] = _typed(df[c], types[c])
    return df, geoms


def _typed(col: pd.Series, decl: str) -> pd.Series:
    d = decl.upper()
    if d in ("INTEGER", "INT", "MEDIUMINT", "SMALLINT", "TINYINT", "BIGINT"):
        num = pd.to_numeric(col, errors="coerce")
        return num.astype("int64") if num.notna().all() else num.astype("Int64")
    if d in ("REAL", "FLOAT", "DOUBLE"):
        return pd.to_numeric(col, errors="coerce").astype("float64")
    if d == "BOOLEAN":
        vals = pd.to_numeric(col, errors="coerce")
        return vals.astype(bool) if vals.notna().all() else vals.astype("boolean")
    if d in ("DATE", "DATETIME"):
        text = col.astype("string")
        aware = text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True, na=False).any()
        out = pd.to_datetime(text, format="ISO8601", utc=bool(aware), errors="coerce")
        if not aware:
            out = out.astype("datetime64[ms]")
        return out
    return col.astype(object).where(col.notna(), None)


# --- renaming and dropping ------------------------------------------------------------------------------
def _triggers_of(con, table: str) -> list[str]:
    return [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (table,))]


def rename_table(con: sqlite3.Connection, old: str, new: str, *, identifier: str | None = None,
                 description: str | None = None) -> None:
    """Rename a GeoPackage table with its registrations, spatial index and triggers.

    What GDAL's layer rename does, in the caller's transaction: every trigger of the table is
    dropped, the table and its R*Tree are renamed, the registry tables are updated, and the
    spatial-index triggers are recreated under the new names.  GDAL's feature-count triggers
    and ``gpkg_ogr_contents`` row are dropped (GDAL then counts the rows itself).
    """
    geom = geometry_column(con, old)
    pk = primary_key(con, old)
    for trig in _triggers_of(con, old):
        con.execute(f"DROP TRIGGER IF EXISTS {quote(trig)}")
    con.execute(f"ALTER TABLE {quote(old)} RENAME TO {quote(new)}")
    if geom and table_exists(con, _rtree_name(old, geom[0])):
        con.execute(f"ALTER TABLE {quote(_rtree_name(old, geom[0]))} RENAME TO {quote(_rtree_name(new, geom[0]))}")
    con.execute("UPDATE gpkg_contents SET table_name = ?, identifier = ?, description = coalesce(?, description), "
                "last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE table_name = ?",
                (new, identifier or new, description, old))
    for registry in ("gpkg_geometry_columns", "gpkg_extensions", "gpkg_data_columns", "gpkg_metadata_reference"):
        if table_exists(con, registry):
            con.execute(f"UPDATE {registry} SET table_name = ? WHERE table_name = ?", (new, old))
    if table_exists(con, "gpkg_ogr_contents"):
        con.execute("DELETE FROM gpkg_ogr_contents WHERE lower(table_name) IN (lower(?), lower(?))", (old, new))
    if geom:
        ensure_rtree_triggers(con, new, geom[0], pk)


def drop_table(con: sqlite3.Connection, name: str) -> None:
    """Drop a table with its spatial index, triggers and every registry row naming it."""
    geom = geometry_column(con, name)
    for trig in _triggers_of(con, name):
        con.execute(f"DROP TRIGGER IF EXISTS {quote(trig)}")
    if geom:
        con.execute(f"DROP TABLE IF EXISTS {quote(_rtree_name(name, geom[0]))}")
    con.execute(f"DROP TABLE IF EXISTS {quote(name)}")
    for registry in ("gpkg_contents", "gpkg_geometry_columns", "gpkg_extensions", "gpkg_ogr_contents",
                     "gpkg_data_columns", "gpkg_metadata_reference"):
        if table_exists(con, registry):
            con.execute(f"DELETE FROM {registry} WHERE table_name = ?", (name,))
