"""Times as people read them: stored in UTC, shown in the workspace's time zone (Asia/Shanghai).

Every time the system stores is UTC ISO 8601 text (``2026-11-28T06:02:11Z``; rows of older
workspaces carry an offset such as ``+08:00``, which is just as exact).  Screens, the history,
the audit log and every export show local time through these two functions, never the raw text
(:mod:`exports.formatting` and :mod:`ui.format` use them too: one place for the rule).

>>> local_time("2026-11-28T06:02:11Z", "Asia/Shanghai")
'2026-11-28 14:02'
>>> local_time(None, "Asia/Shanghai")
'—'
>>> local_time("2026-11-28")          # a plain date stays a date
'2026-11-28'
"""
from __future__ import annotations

import datetime as _dt
import re

import pandas as pd

__all__ = ["local_time", "local_times", "DEFAULT_FORMAT", "SECONDS_FORMAT", "TIME_ZONE"]

#: The default time zone (DESIGN.md: times are stored in UTC, shown in Asia/Shanghai); a
#: workspace may set another (``planner workspace set timezone``).
TIME_ZONE = "Asia/Shanghai"
DEFAULT_FORMAT = "%Y-%m-%d %H:%M"
SECONDS_FORMAT = "%Y-%m-%d %H:%M:%S"
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


def local_time(value, tz: str = TIME_ZONE, *, fmt: str = DEFAULT_FORMAT, seconds: bool = False,
               missing: str = "—") -> str:
    """One stored time as local text: ``missing`` when empty, a plain date as itself, text that is
    not a time as itself."""
    if isinstance(value, _dt.date) and not isinstance(value, _dt.datetime):
        return value.isoformat()
    if isinstance(value, str) and _DATE_ONLY.fullmatch(value.strip()):
        return value.strip()
    out = local_times(pd.Series([value], dtype=object), tz, fmt=fmt, seconds=seconds, missing=missing).iloc[0]
    if out == missing and isinstance(value, str) and value.strip():
        return value
    return out


def local_times(values: pd.Series, tz: str = TIME_ZONE, *, fmt: str = DEFAULT_FORMAT, seconds: bool = False,
                missing: str = "—") -> pd.Series:
    """A column of stored times as local text (vectorised); text without an offset is taken as UTC,
    mixed offsets are normalised first; ``seconds`` adds the seconds (exports, the audit log)."""
    stamps = pd.to_datetime(pd.Series(values, dtype=object).astype("string"), utc=True, errors="coerce",
                            format="ISO8601")
    stamps.index = values.index if isinstance(values, pd.Series) else stamps.index
    text = stamps.dt.tz_convert(tz).dt.strftime(SECONDS_FORMAT if seconds else fmt)
    return text.astype(object).where(stamps.notna(), missing)
