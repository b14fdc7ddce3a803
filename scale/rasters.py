"""Rasters for the workers of a cluster: a path every worker reads, or the file sent to each worker.

A GeoPackage workspace keeps its GeoTIFFs beside the file; a PostGIS workspace keeps them in the
database, and this process reads a local copy (``ws.raster_path``, in ``$PLANNER_CACHE_DIR``).
A worker on another machine reads neither path unless it sits on a disk they share.

:func:`for_workers` decides once per run, per raster:

* ``"auto"`` (default): every worker is asked for the SHA-256 of the file at the same path;
  when all of them read the very same file, the tasks carry the path; otherwise the file is
  sent (below);
* ``"path"``: the tasks carry the path (the operator says every worker reads it);
* ``"send"``: the file's bytes are scattered to every worker once (``broadcast=True``) and
  the tasks carry a reference to them; :func:`local_paths`, called inside the task, writes
  them once into the worker's local directory under their hash and returns that path.

Either way the analysis functions receive ``{kind: path}`` readable where they run, so the
zonal statistics (exactextract over GDAL) are unchanged.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from geo.errors import ParameterError

__all__ = ["MODES", "for_workers", "local_paths", "sha256_of"]

MODES = ("auto", "path", "send")
_SENT = "planner_raster"          # marks a sent raster in a task's arguments


def sha256_of(path: str | os.PathLike) -> str | None:
    """SHA-256 of the file at ``path`` (hex), None when this process cannot read it."""
    try:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    except OSError:
        return None


def for_workers(client, rasters: Mapping[str, str | os.PathLike] | None, *, mode: str = "auto") -> dict:
    """``{kind: path or sent reference}`` for tasks on ``client``'s workers (see the module doc).

    Parameters
    ----------
    client : distributed.Client
    rasters : mapping
        ``{kind: local GeoTIFF path}`` as read by this process (``ws.rasters()``).
    mode : {"auto", "path", "send"}

    Returns
    -------
    dict
        Pass it to a task and call :func:`local_paths` on it there.
    """
    if mode not in MODES:
        raise ParameterError(f"raster mode {mode!r} is not one of {MODES}", message_zh=f"未知的栅格分发方式 {mode!r}")
    out: dict = {}
    for kind, path in dict(rasters or {}).items():
        path = str(path)
        if mode == "path":
            out[kind] = path
            continue
        digest = sha256_of(path)
        if digest is None:
            raise ParameterError(f"raster {kind!r}: cannot read {path}", message_zh=f"无法读取栅格 {kind!r}:{path}")
        if mode == "auto" and _every_worker_reads(client, path, digest):
            out[kind] = path
            continue
        data = Path(path).read_bytes()
        future = client.scatter(data, broadcast=True, hash=False)
        out[kind] = {_SENT: True, "name": f"{digest[:16]}-{Path(path).name}", "data": future}
    return out


def _every_worker_reads(client, path: str, digest: str) -> bool:
    seen = client.run(sha256_of, path)
    return bool(seen) and all(d == digest for d in seen.values())


def local_paths(rasters: Mapping | None) -> dict[str, str]:
    """Inside a task: ``{kind: path}`` readable here, writing sent rasters once to the worker's directory."""
    out = {}
    for kind, ref in dict(rasters or {}).items():
        if isinstance(ref, dict) and ref.get(_SENT):
            folder = Path(_local_directory()) / "planner-rasters"
            target = folder / ref["name"]
            if not target.exists():
                folder.mkdir(parents=True, exist_ok=True)
                tmp = folder / f".{ref['name']}.{os.getpid()}.part"
                tmp.write_bytes(ref["data"])
                os.replace(tmp, target)          # atomic: two tasks on one worker never read half a file
            out[kind] = str(target)
        else:
            out[kind] = str(ref)
    return out


def _local_directory() -> str:
    try:
        from distributed import get_worker

        return get_worker().local_directory
    except (ImportError, ValueError):       # not inside a worker (a test, the client)
        return tempfile.gettempdir()
