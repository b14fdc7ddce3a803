"""Private helpers shared by the analyses: vectorised reason strings, CRS checks, thresholds, dates.

Thresholds (:func:`at_least`, :func:`below`) compare with a relative tolerance of
:data:`TOLERANCE`: areas pass through m² → 亩 (÷ 666.67), so a cluster of exactly 50 亩 computes
as 49.99999999999999 and must still count as 50.  :func:`fmt_against` prints a value with as
many decimals as it takes to differ from its threshold, so a reason never reads "0.70 < 0.70".
:func:`calendar_years` counts years by anniversaries (the dateutil ``relativedelta`` rule:
29 February's anniversary in a common year is 28 February), so "halted ≥ 1 year" fires on the
first anniversary itself.
"""
from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyproj import CRS

from geo.errors import CRSMismatchError, MissingCRSError

__all__ = ["Reasons", "TOLERANCE", "shared_steps", "once", "rows_of", "num", "text", "boolean", "fmt",
           "fmt_against", "at_least", "below", "calendar_years", "positions", "text_positions", "check_crs", "combine_parks", "empty_like"]

#: Relative tolerance of threshold comparisons (areas in 亩, FAR, shares): far below any
#: measurement precision, far above float rounding (1e-16).
TOLERANCE = 1e-9


_SHARED: contextvars.ContextVar[dict | None] = contextvars.ContextVar("analysis_shared_steps", default=None)


@contextlib.contextmanager
def shared_steps() -> Iterator[None]:
    """Within the block, :func:`once` computes a step on a set of geometries only the first time.

    The chain (:func:`analysis.pipeline.run_chain`) opens one around its stages: the per-mu
    evaluation, the low-efficiency rules and both park assessments each place the plots in
    their parks from the same representative points, which then cost one GEOS pass instead of six.
    Outside a block every call computes.  Per thread and task (a context variable).
    """
    token = _SHARED.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)


def once(step: str, geoms: np.ndarray, compute: Callable[[np.ndarray], object]):
    """``compute(geoms)``, or what it returned for the same geometry objects earlier in the
    :func:`shared_steps` block.  Never mutate the result: callers share it.

    The key is the geometries' identity — the addresses in the object array, compared in one
    ``memcmp`` — not their values; the block keeps the geometries alive, so no address is reused
    for another geometry while it is open.
    """
    memo = _SHARED.get()
    geoms = np.asarray(geoms, dtype=object)
    if memo is None:
        return compute(geoms)
    key = (step, geoms.tobytes())
    if key not in memo:
        memo[key] = (geoms, compute(geoms))
    return memo[key][1]


class Reasons:
    """Readable reasons per row, built with one numpy operation per rule (never per row)."""

    def __init__(self, n: int):
        self.en = np.full(n, "", dtype=object)
        self.zh = np.full(n, "", dtype=object)

    def add(self, mask: np.ndarray, en, zh) -> None:
        """Append ``en``/``zh`` where ``mask``: a string, an array on all rows, or a callable that
        receives the mask and returns the texts of the masked rows only (so numbers are formatted
        for the few flagged rows, not for every row)."""
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return

        def pick(v):
            if callable(v):
                return np.asarray(v(mask), dtype=object)
            return v[mask] if isinstance(v, np.ndarray) else v

        rows = np.flatnonzero(mask)
        self._append(self.en, rows, pick(en), "; ")
        self._append(self.zh, rows, pick(zh), ";")

    @staticmethod
    def _append(texts: np.ndarray, rows: np.ndarray, new, sep: str) -> None:
        """``texts[rows]`` += ``sep`` + ``new`` where they hold a text already, else = ``new``."""
        old = texts[rows]
        has = old != ""
        if not has.any():
            texts[rows] = new
            return
        new = np.broadcast_to(np.asarray(new, dtype=object), rows.shape)
        joined = new.copy()
        joined[has] = old[has] + sep + new[has]
        texts[rows] = joined

    def series(self, index, lang: str) -> pd.Series:
        """The texts as a string Series on ``index``, NA where a row has none."""
        arr = self.en if lang == "en" else self.zh
        texts = pa.array(arr, type=pa.large_string(), mask=arr == "")
        return pd.Series(pd.arrays.ArrowStringArray(texts), index=index)


def rows_of(frame: pd.DataFrame, mask, columns) -> pd.DataFrame:
    """``frame.loc[mask]`` restricted to those of ``columns`` it has (the others would be copied for
    nothing: on a million rows, a copy of every text column costs seconds)."""
    return frame.loc[mask, [c for c in dict.fromkeys(columns) if c in frame.columns]]


def num(frame: pd.DataFrame, col: str) -> np.ndarray:
    """Column as float array (NaN where missing or absent)."""
    if col not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def text(frame: pd.DataFrame, col: str) -> pd.Series:
    """Column as stripped string Series (NA where missing or absent)."""
    if col not in frame.columns:
        return pd.Series(pd.NA, index=frame.index, dtype="string")
    return frame[col].astype("string").str.strip()


def boolean(frame: pd.DataFrame, col: str, default: bool) -> np.ndarray:
    """Column as bool array (``default`` where missing or absent)."""
    if col not in frame.columns:
        return np.full(len(frame), default, dtype=bool)
    return frame[col].astype("boolean").fillna(default).to_numpy(dtype=bool)


def positions(keys, universe) -> np.ndarray:
    """Position of each key in ``universe`` (−1 when absent; the first position of a repeated
    value; a missing key finds a missing value): one hash lookup, no Python loop.

    Text on both sides is looked up in Arrow (``pyarrow.compute.index_in``), never turned into
    Python strings — at a million keys that is most of the cost; anything else is compared as
    plain objects.
    """
    k, u = _arrow_text(keys), _arrow_text(universe)
    if k is not None and u is not None:
        return pc.index_in(k, value_set=u).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    k = pd.Series(keys).astype(object).to_numpy()
    u = pd.Index(pd.Series(universe).astype(object).to_numpy())
    if u.is_unique:
        return u.get_indexer(k)
    first = ~u.duplicated(keep="first")                 # duplicates resolve to their first position
    where = np.flatnonzero(first)
    hit = u[first].get_indexer(k)
    return np.where(hit >= 0, where[hit], -1)


def text_positions(frame: pd.DataFrame, col: str, universe: pd.DataFrame, universe_col: str, *,
                   missing_as_empty: bool = False) -> np.ndarray:
    """``positions(text(frame, col), text(universe, universe_col))`` (with ``missing_as_empty``: missing
    keys looked up as ""), computed once per :func:`shared_steps` block for the same two columns.

    The chain looks the firms' plots up in half a dozen places; at a million plots each lookup
    (strip, hash, probe) costs a third of a second.  Same columns means the same Arrow buffers —
    immutable, and kept alive by the memo, so an address cannot come back with other text.
    """
    def compute():
        keys = text(frame, col)
        return positions(keys.fillna("") if missing_as_empty else keys, text(universe, universe_col))

    memo = _SHARED.get()
    parts = [_buffers(frame, col), _buffers(universe, universe_col)]
    if memo is None or parts[0] is None or parts[1] is None:
        return compute()
    key = ("text_positions", missing_as_empty, parts[0][0], parts[1][0])
    if key not in memo:
        found = compute()
        found.setflags(write=False)          # shared by every caller
        memo[key] = ((parts[0][1], parts[1][1]), found)
    return memo[key][1]


def _buffers(frame: pd.DataFrame, col: str) -> tuple[tuple, pa.ChunkedArray] | None:
    """The addresses, offsets and lengths of an Arrow-backed column's buffers, and the array (None for
    other columns)."""
    if col not in frame.columns or not hasattr(frame[col].array, "__arrow_array__"):
        return None
    arr = frame[col].array.__arrow_array__()
    if not isinstance(arr, pa.ChunkedArray):
        return None
    return tuple((c.offset, len(c), *(b.address if b is not None else 0 for b in c.buffers())) for c in arr.chunks), arr


def _arrow_text(values) -> pa.Array | None:
    """``values`` as one Arrow large-string array (missing values null), or None when they are not
    all text (or missing)."""
    if isinstance(values, (pd.Series, pd.Index)):
        values = values.array
    try:
        arr = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        return None
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type) or pa.types.is_null(arr.type)):
        return None
    return arr.cast(pa.large_string())


def _printf(spec: str, values: np.ndarray) -> np.ndarray:
    """``spec % value`` per value, as an object array: the texts ``np.char.mod`` gives, in a third
    of its time (it formats numpy scalars one by one; this formats Python floats) — and each
    distinct value once when values repeat (FAR to two decimals, thresholds), distinct meaning
    distinct bits (so −0.0 still prints "-0.00")."""
    v = np.asarray(values, dtype=float)
    if len(v) > 1000:
        bits, inverse = np.unique(v.view(np.int64), return_inverse=True)
        if len(bits) < len(v) // 2:
            return np.array([spec % x for x in bits.view(np.float64).tolist()], dtype=object)[inverse.ravel()]
    return np.array([spec % x for x in v.tolist()] or [], dtype=object)


def fmt(values: np.ndarray, spec: str = "%.2f") -> np.ndarray:
    """Format a float array as text, vectorised ('—' for NaN)."""
    v = np.asarray(values, dtype=float)
    out = _printf(spec, np.nan_to_num(v))
    out[np.isnan(v)] = "—"
    return out


def _slack(threshold) -> np.ndarray:
    t = np.asarray(threshold, dtype=float)
    return TOLERANCE * np.maximum(1.0, np.abs(t))


def at_least(values, threshold) -> np.ndarray:
    """``values ≥ threshold`` up to :data:`TOLERANCE` (NaN → False)."""
    v = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        return v >= np.asarray(threshold, dtype=float) - _slack(threshold)


def below(values, threshold) -> np.ndarray:
    """``values < threshold`` beyond :data:`TOLERANCE` (NaN → False): the negation of :func:`at_least`
    for known values."""
    v = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        return v < np.asarray(threshold, dtype=float) - _slack(threshold)


def fmt_against(values, threshold, decimals: int = 2, *, most: int = 6) -> np.ndarray:
    """Format ``values`` with ``decimals``, or more (up to ``most``) where needed to tell a value
    from its ``threshold``: 0.6999 against 0.7 reads "0.6999", not "0.70".  Vectorised: one pass
    per extra decimal, not per value.

    >>> fmt_against(np.array([0.6999, 0.5, 0.700004, 49.99999999999999]), [0.7, 0.7, 0.7, 50]).tolist()
    ['0.6999', '0.50', '0.700004', '50.00']
    """
    v = np.asarray(values, dtype=float)
    t = np.broadcast_to(np.asarray(threshold, dtype=float), v.shape)
    need = np.full(v.shape, -1, dtype=np.int64)
    for d in range(decimals, most + 1):   # the fewest decimals at which value and threshold print apart
        apart = np.round(v, d) != np.round(t, d)
        need = np.where((need < 0) & apart, d, need)
    need = np.where(need < 0, decimals, need)   # equal to the threshold (within 10^-most): base decimals
    out = np.full(v.shape, "—", dtype=object)
    ok = ~np.isnan(v)
    for d in np.unique(need[ok]):
        m = ok & (need == d)
        out[m] = _printf(f"%.{d}f", v[m])
    return out


def calendar_years(start, end) -> np.ndarray:
    """Years from ``start`` to ``end`` counted by anniversaries, NaN where either date is missing.

    Whole years are those whose anniversary (``relativedelta(years=k)``: same month and day,
    29 February → 28 February in common years) is on or before ``end``; the rest is the
    elapsed share of the year to the next anniversary.  So exactly one year after
    2025-06-30 is 2026-06-30 → 1.0, and a threshold of 1 year fires that day.
    """
    s = pd.to_datetime(pd.Series(start), errors="coerce")
    e = pd.to_datetime(pd.Series(end), errors="coerce")
    if len(e) == 1 and len(s) != 1:
        e = pd.Series(np.repeat(e.to_numpy(), len(s)))
    s, e = s.reset_index(drop=True), e.reset_index(drop=True)
    ok = (s.notna() & e.notna()).to_numpy()
    out = np.full(len(s), np.nan)
    if not ok.any():
        return out
    sy, sm, sd = (s[ok].dt.year.to_numpy().astype(np.int64), s[ok].dt.month.to_numpy().astype(np.int64),
                  s[ok].dt.day.to_numpy().astype(np.int64))
    ed = e[ok].dt.normalize().to_numpy().astype("datetime64[D]")

    def anniversary(k):
        """The k-th anniversary of each start, as days (numpy calendar months: no pandas per call)."""
        month = ((sy + k - 1970) * 12 + sm - 1).astype("datetime64[M]")
        first = month.astype("datetime64[D]")
        days_in_month = ((month + 1).astype("datetime64[D]") - first).astype(np.int64)
        return first + (np.minimum(sd, days_in_month) - 1)

    k = e[ok].dt.year.to_numpy() - sy
    k = np.where(anniversary(k) > ed, k - 1, k)
    this, nxt = anniversary(k), anniversary(k + 1)
    frac = (ed - this) / (nxt - this)
    out[ok] = k + frac.astype(float)
    return out


def check_crs(reference: gpd.GeoDataFrame, *others: tuple[str, gpd.GeoDataFrame | None]) -> None:
    """Raise when the reference has no CRS, or another frame's CRS differs (naming both)."""
    if reference.crs is None:
        raise MissingCRSError("Cannot measure naive geometries: the plots have no CRS. Set it (gdf.set_crs(...)) first.",
                              message_zh="地块没有坐标系,无法量算。")
    ref = CRS.from_user_input(reference.crs)
    if not ref.is_projected:
        raise MissingCRSError(f"The plots are in {ref.to_string()}, a geographic CRS; metric analysis needs a projected "
                              "CRS such as EPSG:4549. Reproject with gdf.to_crs('EPSG:4549').",
                              message_zh=f"地块坐标系 {ref.to_string()} 不是投影坐标系;请先转换到 EPSG:4549。")
    for name, frame in others:
        if frame is None or frame.crs is None or len(frame) == 0:
            continue
        if not CRS.from_user_input(frame.crs).equals(ref):
            raise CRSMismatchError(f"{name} is in {frame.crs.to_string()} but the plots are in {ref.to_string()}; "
                                   f"reproject {name} with to_crs('{ref.to_string()}') first",
                                   message_zh=f"{name} 的坐标系与地块不一致;请先转换")


def combine_parks(industrial_parks: gpd.GeoDataFrame | None, micro_parks: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    """Industrial parks and micro-parks in one frame: park_id, name, park_kind, allows_polluting,
    leading_industries (the micro-parks' ``leading_industry``), township_code, geometry."""
    frames = []
    for kind, gdf in (("industrial_park", industrial_parks), ("micro_park", micro_parks)):
        if gdf is None or len(gdf) == 0:
            continue
        allow = gdf["allows_polluting"].astype("boolean").fillna(False).to_numpy(dtype=bool) \
            if "allows_polluting" in gdf.columns else np.zeros(len(gdf), dtype=bool)
        lead = text(gdf, "leading_industries" if kind == "industrial_park" else "leading_industry")
        frames.append(gpd.GeoDataFrame({"park_id": gdf["park_id"].astype("string").to_numpy(),
                                        "name": text(gdf, "name").to_numpy(), "park_kind": kind,
                                        "allows_polluting": allow, "leading_industries": lead.to_numpy(),
                                        "township_code": text(gdf, "township_code").to_numpy()},
                                       geometry=gdf.geometry.to_numpy(), crs=gdf.crs))
    if not frames:
        return gpd.GeoDataFrame({"park_id": pd.Series([], dtype="string"), "name": pd.Series([], dtype="string"),
                                 "park_kind": pd.Series([], dtype="string"),
                                 "allows_polluting": pd.Series([], dtype=bool),
                                 "leading_industries": pd.Series([], dtype="string"),
                                 "township_code": pd.Series([], dtype="string")}, geometry=gpd.GeoSeries([]))
    crs = frames[0].crs
    out = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=crs)
    for c in ("park_id", "name", "leading_industries", "township_code"):
        out[c] = out[c].astype("string")
    return out


def empty_like(frame: gpd.GeoDataFrame, columns: dict[str, str]) -> gpd.GeoDataFrame:
    """A typed empty GeoDataFrame with ``columns`` (name → dtype) and the frame's CRS."""
    data = {k: pd.Series([], dtype=v) for k, v in columns.items()}
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=frame.crs), crs=frame.crs)
