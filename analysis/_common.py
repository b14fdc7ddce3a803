"""Private helpers shared by the analyses: vectorised reason strings, CRS checks, park lookup."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geo.errors import CRSMismatchError, MissingCRSError

__all__ = ["Reasons", "num", "text", "fmt", "positions", "check_crs", "combine_parks", "plot_parks", "empty_like"]


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

        en_v, zh_v = pick(en), pick(zh)
        self.en[mask] = self.en[mask] + np.where(self.en[mask] == "", "", "; ") + en_v
        self.zh[mask] = self.zh[mask] + np.where(self.zh[mask] == "", "", ";") + zh_v

    def series(self, index, lang: str) -> pd.Series:
        arr = self.en if lang == "en" else self.zh
        return pd.Series(arr, index=index, dtype="string").replace("", pd.NA)


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


def positions(keys, universe) -> np.ndarray:
    """Position of each key in ``universe`` (−1 when absent): one hash lookup, no Python loop.

    Both sides are compared as plain objects, which is much faster than Arrow-backed string
    ``isin``/``map`` on large frames.
    """
    k = pd.Series(keys).astype(object).to_numpy()
    u = pd.Index(pd.Series(universe).astype(object).to_numpy())
    if u.is_unique:
        return u.get_indexer(k)
    first = ~u.duplicated(keep="first")                 # duplicates resolve to their first position
    where = np.flatnonzero(first)
    hit = u[first].get_indexer(k)
    return np.where(hit >= 0, where[hit], -1)


def fmt(values: np.ndarray, spec: str = "%.2f") -> np.ndarray:
    """Format a float array as text, vectorised ('—' for NaN)."""
    v = np.asarray(values, dtype=float)
    out = np.char.mod(spec, np.nan_to_num(v)).astype(object)
    out[np.isnan(v)] = "—"
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
    """Industrial parks and micro-parks in one frame: park_id, park_kind, allows_polluting, geometry."""
    frames = []
    for kind, gdf in (("industrial_park", industrial_parks), ("micro_park", micro_parks)):
        if gdf is None or len(gdf) == 0:
            continue
        allow = gdf["allows_polluting"].astype("boolean").fillna(False).to_numpy(dtype=bool) \
            if "allows_polluting" in gdf.columns else np.zeros(len(gdf), dtype=bool)
        frames.append(gpd.GeoDataFrame({"park_id": gdf["park_id"].astype("string").to_numpy(), "park_kind": kind,
                                        "allows_polluting": allow}, geometry=gdf.geometry.to_numpy(), crs=gdf.crs))
    if not frames:
        return gpd.GeoDataFrame({"park_id": pd.Series([], dtype="string"), "park_kind": pd.Series([], dtype="string"),
                                 "allows_polluting": pd.Series([], dtype=bool)}, geometry=gpd.GeoSeries([]))
    crs = frames[0].crs
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=crs)


def plot_parks(plots: gpd.GeoDataFrame, parks: gpd.GeoDataFrame) -> pd.Series:
    """Park id of each plot: the ``park_id`` attribute when the plots carry one, else the park
    containing the plot's representative point (micro-parks win over industrial parks)."""
    if "park_id" in plots.columns:
        return plots["park_id"].astype("string")
    out = pd.Series(pd.NA, index=plots.index, dtype="string")
    if len(parks) == 0 or len(plots) == 0:
        return out
    pts = shapely.point_on_surface(plots.geometry.to_numpy())
    order = np.argsort((parks["park_kind"] == "micro_park").to_numpy(), kind="stable")  # industrial first
    tree = shapely.STRtree(parks.geometry.to_numpy()[order])
    i_pt, j = tree.query(pts, predicate="within")
    vals = parks["park_id"].to_numpy(dtype=object)[order][j]
    # later matches (micro-parks) overwrite earlier ones
    sel = np.argsort(j, kind="stable")
    arr = out.to_numpy(dtype=object)
    arr[i_pt[sel]] = vals[sel]
    return pd.Series(arr, index=plots.index, dtype="string")


def empty_like(frame: gpd.GeoDataFrame, columns: dict[str, str]) -> gpd.GeoDataFrame:
    """A typed empty GeoDataFrame with ``columns`` (name → dtype) and the frame's CRS."""
    data = {k: pd.Series([], dtype=v) for k, v in columns.items()}
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=frame.crs), crs=frame.crs)
