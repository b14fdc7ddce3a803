"""Tables and charts as a planner reads them: the Streamlit side of :mod:`exports.formatting`.

A page describes each table column once — which stored column, its label, what kind of value
it holds, its unit and rounding (:class:`Col`) — and :func:`table` turns the stored frame
into what the screen shows: names for township, park and industry codes, labels for enums
and booleans, local times, ids without ".0", numbers rounded with their unit in the header
and a matching ``st.column_config`` (numbers stay numbers, so the grid still sorts them).
Missing values show as "—" (``st.dataframe(placeholder=DASH)``, see :func:`show`).

Charts use :func:`label_axis` (labels never cut, never thinned out) and :func:`tall` (one
bar row per label, so every township is labelled).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import altair as alt
import pandas as pd
import streamlit as st

from exports import formatting as fmt
from ui.i18n import STRINGS, t

__all__ = ["Col", "KINDS", "DASH", "header", "table", "show", "label_axis", "tall", "tooltip", "histogram"]

DASH = fmt.DASH
#: Kinds of column values :func:`table` knows.
KINDS = ("text", "id", "int", "num", "share", "bar", "bool", "enum", "industry", "land_use", "mix", "township",
         "park", "codes", "reasons", "time", "wide")


@dataclass(frozen=True)
class Col:
    """One column of a displayed table.

    Attributes
    ----------
    name : str
        Column of the stored frame.
    label : str
        UI string key (:mod:`ui.i18n`) of the header; a key missing there is used as the text.
    kind : str
        One of :data:`KINDS`: ``text``; ``id`` (a code or number shown as text, "44.0" → "44");
        ``int``; ``num`` (rounded to ``digits``); ``share`` (0–1 shown as %); ``bar`` (a share as
        a progress bar); ``bool`` (是/否); ``enum`` (:func:`exports.formatting.value_label`);
        ``industry`` (GB/T 4754 code with its name); ``land_use`` (GB/T 21010 code with its name); ``mix`` (an industry mix "34 44%, 33 25%");
        ``township`` / ``park`` (a code → its name); ``codes`` (free text whose township and
        park codes become names); ``reasons`` (an analysis reason: codes become names, "行业 23"
        gains the industry's title); ``time`` (UTC → Asia/Shanghai); ``wide`` (long text).
    digits : int
        Decimals of ``num`` and ``share``.
    unit : str, optional
        Key of :data:`exports.formatting.UNITS`, written in the header ("面积(亩)").
    """

    name: str
    label: str
    kind: str = "text"
    digits: int = 1
    unit: str | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"column kind {self.kind!r} is not one of {KINDS}")


def header(col: Col, lang: str) -> str:
    """The column's header in ``lang``, with its unit unless the label already names it."""
    label = t(col.label, lang) if col.label in STRINGS else col.label
    unit = fmt.unit_label(col.unit, lang)
    if unit and f"({unit}" in label:  # "面积(亩)" already names it
        return label
    return fmt.with_unit(label, col.unit, lang)


def _as_text(series: pd.Series, func) -> pd.Series:
    out = series.astype("object").map(func)
    return out.where(out != DASH, None).astype("string")


def _values(s: pd.Series, col: Col, lang: str, names: Mapping[str, Mapping[str, str]], tz: str = fmt.TIME_ZONE):
    """(display values, column_config) of one column."""
    kind = col.kind
    if kind in ("int", "num", "share", "bar"):
        x = pd.to_numeric(s, errors="coerce").astype("float64")
        if kind == "int":
            return x.round().astype("Int64"), st.column_config.NumberColumn(format="%d")
        if kind in ("share", "bar"):
            x = (x * 100).round(col.digits)
            spec = f"%.{col.digits}f%%"
            if kind == "bar":
                return x, st.column_config.ProgressColumn(format=spec, min_value=0.0, max_value=100.0)
            return x, st.column_config.NumberColumn(format=spec)
        x = x.round(col.digits)
        big = col.digits == 0 and x.abs().max(skipna=True) >= 10_000
        return x, st.column_config.NumberColumn(format="localized" if big else f"%.{col.digits}f")
    if kind == "bool":
        return _as_text(s, lambda v: fmt.yes_no(v, lang)), None
    if kind == "enum":  # one value, or several joined by commas ("ecological_red_line,water_source")
        sep = ", " if lang == "en" else "、"

        def labels(v):
            if fmt.is_missing(v) or not isinstance(v, str) or "," not in v:
                return fmt.value_label(v, lang)
            return sep.join(fmt.value_label(part.strip(), lang) for part in v.split(",") if part.strip())
        return _as_text(s, labels), None
    if kind == "industry":
        return _as_text(s, lambda v: fmt.industry_label(v, lang)), st.column_config.TextColumn(width="medium")
    if kind == "land_use":
        return _as_text(s, lambda v: fmt.land_use_label(v, lang)), None
    if kind == "mix":
        return _as_text(s, lambda v: fmt.industry_mix(v, lang)), st.column_config.TextColumn(width="large")
    if kind in ("township", "park"):
        table = names.get(kind, {})
        return _as_text(s, lambda v: fmt.name_of(v, table)), None
    if kind in ("codes", "reasons"):
        table = {**names.get("township", {}), **names.get("park", {})}
        func = (lambda v: fmt.units_in_text(fmt.industries_in_text(fmt.names_in_text(v, table), lang), lang)) \
            if kind == "reasons" else (lambda v: fmt.names_in_text(v, table))
        return _as_text(s, func), st.column_config.TextColumn(width="large")
    if kind == "time":
        out = fmt.local_times(s, tz)
        return out.where(out != DASH, None).astype("string"), None
    if kind == "id":
        return _as_text(s, fmt.ident), None
    out = _as_text(s, fmt.text)
    return out, st.column_config.TextColumn(width="large") if kind == "wide" else None


def table(frame: pd.DataFrame, cols: Sequence[Col], lang: str, *,
          townships: Mapping[str, str] | None = None,
          parks: Mapping[str, str] | None = None, tz: str = fmt.TIME_ZONE) -> tuple[pd.DataFrame, dict]:
    """The displayed table: ``cols`` present in ``frame``, formatted and renamed, with their column config.

    Parameters
    ----------
    frame : DataFrame
        Stored values (codes, enums, floats); the geometry, if any, is never shown.
    cols : sequence of Col
        Columns in display order; those missing from ``frame`` are skipped.
    lang : str
    townships, parks : mapping, optional
        ``{code: name}`` for ``township``, ``park`` and ``codes`` columns.
    tz : str
        The workspace's time zone for ``time`` columns (``ws.timezone``).

    Returns
    -------
    (DataFrame, dict)
        The frame to hand to ``st.dataframe`` (same row order and index as ``frame``) and its
        ``column_config`` keyed by header.
    """
    names = {"township": dict(townships or {}), "park": dict(parks or {})}
    out, config = {}, {}
    for col in cols:
        if col.name not in frame.columns:
            continue
        values, cfg = _values(frame[col.name], col, lang, names, tz)
        head = header(col, lang)
        out[head] = values
        if cfg is not None:
            config[head] = cfg
    return pd.DataFrame(out, index=frame.index), config


def show(frame: pd.DataFrame, cols: Sequence[Col], lang: str, *, height="auto", townships=None, parks=None,
         tz: str = fmt.TIME_ZONE, **kwargs):
    """``st.dataframe`` of :func:`table` with "—" for missing values and no index."""
    shown, config = table(frame, cols, lang, townships=townships, parks=parks, tz=tz)
    return st.dataframe(shown.reset_index(drop=True), hide_index=True, width="stretch", height=height,
                        column_config=config, placeholder=DASH, **kwargs)


# --- charts ---------------------------------------------------------------------------------------
def label_axis(title: str | None = None, **kw) -> alt.Axis:
    """An axis whose labels are never cut (``labelLimit=0``) nor thinned out (``labelOverlap=False``)."""
    return alt.Axis(title=title, labelLimit=0, labelOverlap=False, **kw)


def tall(n: int, *, per: int = 24, least: int = 160) -> int:
    """Chart height giving each of ``n`` bar rows ``per`` pixels (every label fits)."""
    return max(least, per * int(n))


def tooltip(field: str, title: str, *, digits: int | None = None, unit: str | None = None, lang: str = "zh",
            kind: str = "Q") -> alt.Tooltip:
    """A tooltip entry with a readable title, rounding and unit (``面积(亩)``, ``,.1f``)."""
    if kind != "Q":
        return alt.Tooltip(f"{field}:{kind}", title=title)
    return alt.Tooltip(f"{field}:Q", title=fmt.with_unit(title, unit, lang),
                       format=f",.{1 if digits is None else digits}f")


def histogram(frame: pd.DataFrame, field: str, *, title: str, x_title: str, y_title: str, bins: int = 20,
              colour: str = "#3a5ba0", height: int = 260) -> alt.Chart:
    """Counts of ``frame[field]`` in ``bins`` bins, with the same titles on the axes and the tooltip."""
    binned = alt.Bin(maxbins=bins)
    return alt.Chart(frame[[field]], title=title).mark_bar(color=colour).encode(
        x=alt.X(f"{field}:Q", bin=binned, title=x_title), y=alt.Y("count():Q", title=y_title),
        tooltip=[alt.Tooltip(f"{field}:Q", bin=binned, title=x_title), alt.Tooltip("count():Q", title=y_title)],
    ).properties(height=height)
