"""Uploaded files on the server: one private folder per browser session, gone when the session is.

An upload is written into ``$TMPDIR/planner-upload-<pid>-<random>/`` (the server process id
in the name).  The folder is deleted

- when the page replaces it with a new upload;
- when the session ends: the :class:`UploadFolder` lives in the session's state, and Streamlit
  frees that state once the browser has gone (a disconnected session is kept about two
  minutes for a reconnect); the finaliser then removes the folder;
- at server start (:func:`sweep`, run once per process): folders of server processes that
  no longer run, and folders older than :data:`MAX_AGE_HOURS` whoever made them.

Only folders with the ``planner-upload-`` prefix in the temporary directory are touched.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
import weakref
from pathlib import Path

__all__ = ["PREFIX", "MAX_AGE_HOURS", "UploadFolder", "sweep"]

PREFIX = "planner-upload-"
MAX_AGE_HOURS = 24.0
_PID = re.compile(rf"^{re.escape(PREFIX)}(\d+)-")


class UploadFolder:
    """A private folder for one session's uploads, deleted by :meth:`close` or when the object is freed."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=root))
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(self.path), True)

    def close(self) -> None:
        """Delete the folder now (idempotent)."""
        self._finalizer()

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def sweep(root: str | os.PathLike | None = None, *, max_age_hours: float = MAX_AGE_HOURS,
          now: float | None = None) -> list[Path]:
    """Delete upload folders left by server processes that have ended, and any older than ``max_age_hours``.

    Returns the folders deleted.
    """
    base = Path(root or tempfile.gettempdir())
    now = time.time() if now is None else now
    removed = []
    for folder in base.glob(f"{PREFIX}*"):
        if not folder.is_dir() or folder.is_symlink():
            continue
        match = _PID.match(folder.name)
        orphan = match is not None and not _running(int(match.group(1)))
        try:
            old = now - folder.stat().st_mtime > max_age_hours * 3600
        except FileNotFoundError:
            continue
        if orphan or old:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed
