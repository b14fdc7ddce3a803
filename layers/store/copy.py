"""Move a whole workspace between backends: GeoPackage ⇄ PostGIS, verified.

``python cli.py workspace copy data/ruian/ruian.gpkg "postgresql://planner@server/planning"``
is how an office moves from the embedded default to a server.  Everything moves: the layers
(with their kind, source, metadata and version numbers), the kept previous versions, the
bookkeeping tables (runs, re-grades, shortlist and its history, mappings, users, audit log —
row ids kept), the settings and the rasters.  Afterwards every layer and table is read back
from the destination and compared with the source: row counts and a content checksum that
does not depend on the backend's types (:func:`content_digest`).  A mismatch raises and
names what differs.
"""
from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from geo.errors import WorkspaceError
from geo.progress import Progress, Steps
from layers import access
from layers.access import Actor
from layers.store.base import is_spatial
from layers.store.tables import TABLES

__all__ = ["copy_workspace", "content_digest"]

_log = logging.getLogger(__name__)

_SETTINGS = ("title", "reference_date", "keep_versions", "timezone")


def _column_bytes(col: pd.Series) -> bytes:
    """One column's values as bytes that do not depend on the backend's dtype (vectorised).

    Numbers and booleans as float64 (nulls as NaN), times as int64 nanoseconds, text as text
    with nulls as ∅.
    """
    if pd.api.types.is_bool_dtype(col.dtype) or pd.api.types.is_numeric_dtype(col.dtype):
        values = pd.to_numeric(col.astype("Float64"), errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        values[np.isnan(values)] = np.nan  # one NaN bit pattern
        return b"n" + values.tobytes()
    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        return b"t" + col.astype("datetime64[ns]").to_numpy().astype("int64").tobytes()
    text = col.astype(object).where(col.notna(), "∅").astype(str)
    return b"s" + "\x1f".join(text.tolist()).encode()


def content_digest(frame: pd.DataFrame) -> str:
    """SHA-256 of a frame's content, independent of the backend's dtypes and the column order.

    Numbers (and booleans) as float64, times as nanoseconds, text as UTF-8 with nulls as ∅,
    geometries as 2-D WKB.
    """
    h = hashlib.sha256()
    geom = frame.geometry.name if is_spatial(frame) else None
    cols = sorted(c for c in frame.columns if c != geom)
    h.update(("|".join(cols) + "\n").encode())
    for c in cols:
        h.update(_column_bytes(frame[c]) + b"\x1e")
    if geom:
        for b in shapely.to_wkb(np.asarray(frame.geometry.values, dtype=object), output_dimension=2, byte_order=1):
            h.update(b or b"\x00")
    return h.hexdigest()


def copy_workspace(source, destination, *, overwrite: bool = False, actor: Actor = access.SYSTEM,
                   verify: bool = True, progress: Progress | None = None) -> dict:
    """Copy the workspace at ``source`` to a new workspace at ``destination`` and verify it.

    Parameters
    ----------
    source, destination : str
        ``.gpkg`` paths or PostgreSQL DSNs (``?schema=`` picks the schema).
    overwrite : bool
        Replace an existing destination.
    verify : bool
        Read everything back and compare (default).  Only test fixtures copying their own
        template turn it off.
    progress : callable, optional
        Told as reading, writing (layer by layer), the rasters and the check start (:mod:`geo.progress`).

    Returns
    -------
    dict
        ``{"layers": {name: rows}, "tables": {name: rows}, "versions": n, "rasters": [kinds],
        "verified": True}``.
    """
    from layers.store import create_workspace, open_workspace

    access.require(actor, "layer.write")
    steps = Steps(progress, ("read", "write", "rasters", "verify"), task="copy")
    steps.start("read")
    src = open_workspace(source, readonly=True)
    settings = {k: src.info[k] for k in _SETTINGS if src.info.get(k) not in (None, "") and k != "title"}
    dst = create_workspace(destination, crs=src.crs.to_string(), overwrite=overwrite, title=src.info.get("title", ""),
                           info=settings)
    meta = src.metadata()
    frames, _ = src.read_many(list(meta["layer"]))
    tables = {t: src.read(t) for t in TABLES if src.has_layer(t)}
    with src.reading() as r:
        kept = r.execute("SELECT layer, version, table_name, replaced_at, replaced_by, row_count, source, imported_at, "
                         "extra FROM ws_layer_versions ORDER BY layer, version")
        kept_frames = {row[2]: r.select(row[2]) for row in kept}
    _log.info("copy: read %d layers, %d kept versions, %d tables from %s", len(frames), len(kept), len(tables),
              src.describe())
    steps.start("write")
    writing = Steps(steps.part("write"), [*meta["layer"], *(row[2] for row in kept), "tables"], task="copy")
    with dst.transaction(actor, "layer.write", target="workspace copy") as tx:
        for row in meta.itertuples():
            writing.start(row.layer)
            tx.create_layer_table(row.layer, frames[row.layer], description=row.source or "")
            tx.execute("INSERT INTO ws_layers(layer, kind, crs, source, imported_at, row_count, extra, version, changed_at, "
                       "changed_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (row.layer, row.kind, row.crs, row.source, row.imported_at, row.row_count,
                        json.dumps(row.extra or {}, ensure_ascii=False), row.version, row.changed_at, row.changed_by))
        for layer, version, table, *rest in kept:
            writing.start(table)
            tx.create_layer_table(table, kept_frames[table], description=f"{layer} version {version}")
            tx.execute("INSERT INTO ws_layer_versions(layer, version, table_name, replaced_at, replaced_by, row_count, "
                       "source, imported_at, extra) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (layer, version, table, *rest))
        seq = tx.info("version_seq")
        src_seq = src.info.get("version_seq")
        if src_seq and (not seq or int(src_seq) > int(seq)):
            tx.set_info("version_seq", src_seq)
        writing.start("tables")
        for name, frame in tables.items():
            # the copy's own audit rows (creation) came first: the source's rows follow, renumbered
            tx.insert(name, frame.drop(columns="audit_id") if name == "audit_log" else frame)
        tx.summary = (f"从 {src.describe()} 复制:{len(frames)} 个图层,{len(kept)} 个历史版本,"
                      f"{sum(len(f) for f in tables.values())} 行登记表记录")
        tx.detail = {"source": src.describe()}
    writing.finish()
    steps.start("rasters")
    rasters = _copy_rasters(src, dst, actor)
    steps.start("verify")
    report = _verify(src, dst, frames, tables) if verify else {
        "layers": {n: len(f) for n, f in frames.items()}, "tables": {n: len(f) for n, f in tables.items()}}
    report.update(versions=len(kept), rasters=rasters, verified=verify)
    steps.finish()
    _log.info("copy: %s written%s", dst.describe(), " and verified" if verify else "")
    return report


def _copy_rasters(src, dst, actor: Actor) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        for kind, (name, content) in src.raster_bytes().items():
            path = Path(tmp) / name
            path.write_bytes(content)
            dst.register_raster(kind, path, actor=actor, source=f"copied from {src.describe()}")
    return sorted(src.rasters())


def _verify(src, dst, frames: dict, tables: dict) -> dict:
    problems = []
    layers_out, tables_out = {}, {}
    back, _ = dst.read_many(list(frames))
    for name, frame in frames.items():
        got = back.get(name)
        if got is None or len(got) != len(frame) or content_digest(got) != content_digest(frame):
            problems.append(f"layer {name}: {len(frame)} rows in the source, "
                            f"{'missing' if got is None else len(got)} in the copy or content differs")
        layers_out[name] = len(frame)
    for name, frame in tables.items():
        got = dst.read(name)
        if name == "audit_log":  # renumbered, after the copy's creation row
            got = got.sort_values("audit_id").iloc[1:1 + len(frame)].drop(columns="audit_id").reset_index(drop=True)
            frame = frame.drop(columns="audit_id").reset_index(drop=True)
        if len(got) != len(frame) or content_digest(got) != content_digest(frame):
            problems.append(f"table {name}: {len(frame)} rows in the source, {len(got)} in the copy or content differs")
        tables_out[name] = len(frame)
    src_r = {k: hashlib.sha256(c).hexdigest() for k, (_, c) in src.raster_bytes().items()}
    dst_r = {k: hashlib.sha256(c).hexdigest() for k, (_, c) in dst.raster_bytes().items()}
    if src_r != dst_r:
        problems.append(f"rasters differ: source {sorted(src_r)}, copy {sorted(dst_r)}")
    if problems:
        raise WorkspaceError("The copy does not match its source: " + "; ".join(problems),
                             message_zh="复制结果与源工作空间不一致:" + ";".join(problems), details=problems)
    return {"layers": layers_out, "tables": tables_out}
