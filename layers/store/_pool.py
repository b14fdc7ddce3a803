"""Idle database connections kept between transactions, per process (one place for both stores).

Opening a connection costs more than the statements of a short transaction: for PostGIS a
socket, the server's start-up and ``search_path``; for a GeoPackage the file's open, its WAL
index mapped and the SQL functions registered — a map page that asks the store a few dozen
small questions per rerun paid that a few dozen times.  A pool keeps a few idle connections,
each under a *key* saying what it is open on; a transaction takes one with the same key (the
caller checks it still answers) and gives it back when done.

Keys start with the process id, so a forked child (dask workers, the tile builder) never uses
the socket or file handle it inherited: at a fork the child forgets the parent's idle
connections without closing them (closing would end the parent's PostgreSQL session); at exit a
process closes its own.
"""
from __future__ import annotations

import atexit
import contextlib
import os
import threading
from collections.abc import Callable, Hashable

__all__ = ["IdlePool"]


class IdlePool:
    """At most ``limit`` idle connections (oldest closed first), each kept under ``(pid, *key)``.

    Parameters
    ----------
    limit : int
        Idle connections kept in all (a PostgreSQL server has a connection limit).
    close : callable
        Closes one connection, quietly (errors ignored by the pool).
    """

    _all: list[IdlePool] = []

    def __init__(self, limit: int, close: Callable[[object], None]):
        self.limit, self._close = limit, close
        self._idle: list[tuple[tuple, object]] = []
        self._lock = threading.Lock()
        self._inherited: list = []  # a forked child's copy of the parent's idle connections: never used or closed
        IdlePool._all.append(self)

    def take(self, key: Hashable) -> object | None:
        """The most recently returned idle connection kept under ``key`` (removed from the pool), or None."""
        full = (os.getpid(), key)
        with self._lock:
            at = next((i for i in range(len(self._idle) - 1, -1, -1) if self._idle[i][0] == full), None)
            return self._idle.pop(at)[1] if at is not None else None

    def give(self, key: Hashable, con: object) -> None:
        """Keep ``con`` (sound and outside any transaction: the caller checks) for the next :meth:`take` of ``key``."""
        with self._lock:
            self._idle.append(((os.getpid(), key), con))
            evicted = self._idle.pop(0)[1] if len(self._idle) > self.limit else None
        if evicted is not None:
            self.discard(evicted)

    def drop(self, key: Hashable) -> None:
        """Close this process's idle connections kept under ``key``."""
        full = (os.getpid(), key)
        with self._lock:
            gone = [con for k, con in self._idle if k == full]
            self._idle = [(k, con) for k, con in self._idle if k != full]
        for con in gone:
            self.discard(con)

    def discard(self, con: object) -> None:
        """Close ``con`` quietly (a connection found unsound, or not wanted back)."""
        with contextlib.suppress(Exception):
            self._close(con)

    def close_mine(self) -> None:
        """Close this process's idle connections (a forked child leaves its parent's alone)."""
        with self._lock:
            mine = [con for key, con in self._idle if key[0] == os.getpid()]
            self._idle.clear()
        for con in mine:
            self.discard(con)

    def _forget_after_fork(self) -> None:
        self._lock = threading.Lock()  # the parent's may have been held by another thread at the fork
        self._inherited.extend(con for _, con in self._idle)
        self._idle.clear()


def _close_all() -> None:
    for pool in IdlePool._all:
        pool.close_mine()


def _forget_all_after_fork() -> None:
    for pool in IdlePool._all:
        pool._forget_after_fork()


atexit.register(_close_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_all_after_fork)
