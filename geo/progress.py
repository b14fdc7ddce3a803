"""Progress of long steps: library functions report it through an optional callback; only a front end draws.

A function that can take more than a few seconds (the analysis chain, building the sample,
an import, a workspace copy, siting) takes ``progress: Progress | None = None`` and announces
its named steps with :class:`Steps`; it never imports a progress-bar library and is silent
when no callback is given.  The command line passes :meth:`Bars.task` (tqdm bars on stderr,
only on a terminal and not with ``-q``); the app could pass one that draws ``st.progress``.

The callback is ``progress(done, total, what)``: ``done`` of ``total`` steps are finished
(``done`` may be fractional while a nested task runs inside one step) and ``what`` names the
step running now (empty once ``done == total``).

>>> seen = []
>>> steps = Steps(lambda done, total, what: seen.append((done, total, what)), ["read", "evaluate", "store"])
>>> steps.start("read"); steps.start("evaluate"); steps.part("evaluate")(1, 2, "per mu"); steps.finish()
>>> seen
[(0, 3, 'read'), (1, 3, 'evaluate'), (1.5, 3, 'evaluate: per mu'), (3, 3, '')]
>>> Steps(None, ["read"]).start("read")   # no callback: nothing happens
"""
from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import Any, TextIO

__all__ = ["Progress", "Steps", "Bars"]

Progress = Callable[[float, int, str], None]
"""``progress(done, total, what)``: ``done`` of ``total`` steps finished, ``what`` running now."""

_log = logging.getLogger(__name__)


class Steps:
    """The named steps of one task, announced to an optional :data:`Progress` callback.

    Each :meth:`start` also logs the step at DEBUG with the time the previous one took, so
    ``-vv`` on the command line shows where the time goes even without a terminal.

    Parameters
    ----------
    progress : Progress or None
        Where to report; ``None`` reports nothing.
    names : sequence of str
        Every step, in the order they run (a step may be skipped: the bar then jumps).
    task : str
        Named in the log lines.
    """

    def __init__(self, progress: Progress | None, names: Sequence[str], *, task: str = "") -> None:
        self.progress = progress
        self.names = list(names)
        self.task = task
        self._current: str | None = None
        self._t0 = time.perf_counter()

    def _log_previous(self) -> None:
        if self._current is not None:
            _log.debug("%s%s took %.2f s", f"{self.task}: " if self.task else "", self._current,
                       time.perf_counter() - self._t0)
        self._t0 = time.perf_counter()

    def start(self, name: str) -> None:
        """Step ``name`` starts now (the steps before it are done)."""
        self._log_previous()
        self._current = name
        if self.progress is not None:
            self.progress(self.names.index(name), len(self.names), name)

    def part(self, name: str) -> Progress | None:
        """A callback for a nested task that runs as step ``name``: it moves the bar within that step."""
        if self.progress is None:
            return None
        outer, index, total = self.progress, self.names.index(name), len(self.names)

        def nested(done: float, of: int, what: str) -> None:
            outer(index + (done / of if of else 0.0), total, f"{name}: {what}" if what else name)

        return nested

    def finish(self) -> None:
        """Every step is done."""
        self._log_previous()
        self._current = None
        if self.progress is not None:
            self.progress(len(self.names), len(self.names), "")


class Bars:
    """Progress bars on a stream (stderr), one per task: the command line's :data:`Progress` callbacks.

    Parameters
    ----------
    enabled : bool, optional
        Draw at all; default: only when ``stream`` is a terminal.
    stream : file, optional
        Default ``sys.stderr``, so that a command's output on stdout stays clean for pipes.

    Use as a context manager: log records are then written above the bars instead of through
    them, and every bar is closed at the end.
    """

    def __init__(self, *, enabled: bool | None = None, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = bool(self.stream.isatty()) if enabled is None else enabled
        self._bars: dict[str, Any] = {}

    def task(self, description: str) -> Progress | None:
        """A callback drawing one bar labelled ``description``; ``None`` when bars are off."""
        if not self.enabled:
            return None

        def update(done: float, total: int, what: str) -> None:
            bar = self._bars.get(description)
            if total <= 0 or (bar is None and done >= total):  # nothing (more) to do: no new bar
                return
            if bar is None:
                from tqdm import tqdm

                bar = self._bars[description] = tqdm(
                    total=total, desc=description, file=self.stream, leave=False, dynamic_ncols=True,
                    bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}{postfix}")
            bar.n = min(done, total)
            bar.set_postfix_str(what, refresh=False)
            bar.refresh()
            if done >= total:
                bar.close()
                del self._bars[description]

        return update

    def close(self) -> None:
        """Close every bar still open (a task that failed half-way)."""
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()

    def __enter__(self) -> Bars:
        self._stack = ExitStack()
        if self.enabled:
            from tqdm.contrib.logging import logging_redirect_tqdm

            # log lines go above the bars (through tqdm.write), not through them
            self._stack.enter_context(logging_redirect_tqdm(loggers=[logging.getLogger()]))
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
        self._stack.close()
