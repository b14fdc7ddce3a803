"""Times as people read them: stored in UTC, shown in the workspace's time zone (Asia/Shanghai).

Every time the system stores is UTC ISO 8601 text (``2026-11-28T06:02:11Z``; rows of older
workspaces carry an offset such as ``+08:00``, which is just as exact).  Screens, the history,
the audit log and every export show local time through these two functions, never the raw text.

>>> local_time("2026-11-28T06:02:11Z", "Asia/Shanghai")
'2026-11-28 14:02'
>>> local_time(None, "Asia/Shanghai")
'—'
"""
from __future__ import annotations

import pandas as pd

__all__ = ["local_time", "local_times", "DEFAULT_FORMAT"]

DEFAULT_FORMAT = "%Y-%m-%d %H:%M"


def local_time(value, tz: str = "Asia/Shanghai", *, fmt: str = DEFAULT_FORMAT, missing: str = "—") -> str:
    """One stored time (UTC text, with or without offset) as local text; ``missing`` when empty or unreadable."""
    return local_times(pd.Series([value]), tz, fmt=fmt, missing=missing).iloc[0]


def local_times(values: pd.Series, tz: str = "Asia/Shanghai", *, fmt: str = DEFAULT_FORMAT,
                missing: str = "—") -> pd.Series:
    """A column of stored times as local text (vectorised); text without an offset is taken as UTC."""
    stamps = pd.to_datetime(values.astype("string"), utc=True, errors="coerce", format="ISO8601")
    text = stamps.dt.tz_convert(tz).dt.strftime(fmt)
    return text.astype(object).where(stamps.notna(), missing)
