"""Peak resident memory of a process and its children, sampled in a thread (what the benchmarks print)."""
from __future__ import annotations

import threading

import psutil

__all__ = ["PeakRSS"]


class PeakRSS:
    """The largest resident memory of process ``pid`` (default: this one) plus its children seen while sampling
    every ``every`` seconds, from creation until :meth:`close` — or as a context manager (``.peak`` after it)."""

    def __init__(self, pid: int | None = None, every: float = 0.1):
        self.proc, self.every, self.peak = psutil.Process(pid), every, 0
        self._stop = threading.Event()
        self.peak = self.now()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def now(self) -> int:
        """Resident memory of the process and its children now (bytes; those gone meanwhile are skipped)."""
        total = 0
        try:
            for p in [self.proc, *self.proc.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
        except psutil.Error:
            pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.now())
            self._stop.wait(self.every)

    def close(self) -> int:
        """Stop sampling; the peak (bytes)."""
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.now())
        return self.peak

    def __enter__(self) -> PeakRSS:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
