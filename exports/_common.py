"""Shared by the writers: export metadata, township selection, column order and Chinese labels.

Values become readable here, once for every table format (:func:`tabular`): the firm's name
beside its credit code, the park's name beside its id, the industry's GB/T 4754 title, the
land-use name, times in Asia/Shanghai (:mod:`exports.formatting`).
"""
from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import geopandas as gpd
import pandas as pd

from exports.formatting import (
    TIME_ZONE,
    ident,
    industries_in_text,
    industry_label,
    land_use_label,
    local_times,
    value_label,
)
from geo.errors import MissingCRSError, ParameterError
from geo.io import atomic_path
from geo.units import m2_to_mu
from layers.schema import labels as schema_labels

__all__ = [
    "ExportMeta",
    "SHORTLIST_LABELS",
    "STATUS_ORDER",
    "STATUS_COLOURS",
    "KIND_LABELS",
    "UNASSIGNED",
    "TEXT_COLUMNS",
    "TIME_COLUMNS",
    "local_now",
    "prepare",
    "with_names",
    "select_township",
    "table_columns",
    "tabular",
    "township_groups",
    "deliver",
]

STATUS_ORDER = ("候选", "已核实", "已上报", "已处置")
STATUS_COLOURS = {"候选": "#e9a100", "已核实": "#2a9d8f", "已上报": "#3a5ba0", "已处置": "#7f7f7f"}
KIND_LABELS = {"plot": "地块", "cluster": "连片区", "site": "选址"}
UNASSIGNED = "未分配镇街"

# The shortlist's own fields (same text as layers.shortlist.FIELD_LABELS; repeated here so
# exports/ depends only on the schema, not on the store).
_OWN_LABELS = {
    "rank": "排序", "entry_id": "条目编号", "item_kind": "对象类型", "item_id": "对象编号", "status": "状态",
    "township_name": "责任镇街", "township_code": "镇街代码", "area_mu": "面积(亩)",
    "reasons": "列入理由", "score": "评分", "grade": "亩均评价类别", "notes": "备注", "source": "来源",
    "added_by": "添加人", "added_at": "添加时间", "updated_by": "修改人", "updated_at": "修改时间",
    "firm_name": "企业名称", "park_name": "所在园区", "park_id": "园区编号", "industry_name": "行业名称",
    "land_use_name": "用地分类名称", "item_missing": "对象状态",
}
#: Column → Chinese header: the shortlist's own labels, then layers.schema's plot labels for
#: the plot fields it snapshots (area_m2, land_use, land_holder, industry_code, park_id...).
SHORTLIST_LABELS: dict[str, str] = {**schema_labels("enterprises"), **schema_labels("plots"), **_OWN_LABELS}

# Order of the columns in tables; other columns the caller hands over follow, in their order.
_ORDER = ("rank", "item_id", "item_kind", "status", "item_missing", "township_name", "township_code", "area_mu", "area_m2",
          "reasons", "score", "grade", "firm_name", "land_holder", "park_name", "park_id", "industry_name",
          "industry_code", "land_use_name", "land_use", "notes", "source", "entry_id", "added_by", "added_at",
          "updated_by", "updated_at")
#: Stored times (UTC, ISO 8601) written in the workspace's time zone.
TIME_COLUMNS = ("added_at", "updated_at")

#: The store's own bookkeeping columns: never in an export.
_INTERNAL = ("row_version",)

#: Columns written as text (ids and codes: Excel would turn 18-digit credit codes into floats).
TEXT_COLUMNS = frozenset({"entry_id", "item_id", "township_code", "land_use", "land_holder", "industry_code", "park_id",
                          "credit_code", "plot_id", "code"})


def local_now(tz: str = TIME_ZONE) -> _dt.datetime:
    """Now in the workspace's time zone (Asia/Shanghai), whatever the server's own zone."""
    return _dt.datetime.now(ZoneInfo(tz))


@dataclass(frozen=True)
class ExportMeta:
    """What a report says about itself, and the look-ups that make its values readable.

    Parameters
    ----------
    title : str
        Report title (zh).
    source : str
        Where the data comes from (workspace file, run id) — printed on every export.
    date : datetime.date
        Date printed on the export (default: today in Asia/Shanghai).
    townships : GeoDataFrame, optional
        Township polygons (``code``, ``name``, geometry) for the PDF map outline and names
        of townships; not needed by the other formats.
    firms : mapping, optional
        ``{credit code: firm name}``: the land holder's name beside its code.
    plot_firms : mapping, optional
        ``{plot id: firm name(s)}``: the firms registered on a plot, for items that carry no
        land holder of their own (a plot listed from an analysis result).
    parks : mapping, optional
        ``{park id: park name}``: the park's name beside its id (a site's id is its park's).
    context : callable, optional
        ``context(bbox) -> {"plots": gdf, "parks": gdf, "roads": gdf}`` in the items' CRS, for
        the PDF's map of each item (neighbouring plots, park outlines, roads).
    exported_at : datetime
        When the export was made (printed in ``timezone``).
    timezone : str
        The workspace's time zone (IANA name): times in the export are shown in it.
    """

    title: str = "低效用地再开发候选清单"
    source: str = ""
    date: _dt.date = field(default_factory=lambda: local_now().date())
    townships: gpd.GeoDataFrame | None = field(default=None, compare=False, hash=False)
    firms: Mapping[str, str] | None = field(default=None, compare=False, hash=False)
    plot_firms: Mapping[str, str] | None = field(default=None, compare=False, hash=False)
    parks: Mapping[str, str] | None = field(default=None, compare=False, hash=False)
    context: Callable[[tuple], dict] | None = field(default=None, compare=False, hash=False)
    exported_at: _dt.datetime = field(default_factory=local_now, compare=False)
    timezone: str = TIME_ZONE

    def exported_text(self) -> str:
        """When the export was made, in the workspace's time zone and saying which ("(北京时间)")."""
        zone = "北京时间" if self.timezone == TIME_ZONE else self.timezone
        return f"{self.exported_at.astimezone(ZoneInfo(self.timezone)):%Y-%m-%d %H:%M}({zone})"


def prepare(items: gpd.GeoDataFrame | pd.DataFrame, *, need_geometry: bool = False) -> gpd.GeoDataFrame | pd.DataFrame:
    """Check the handed-over items and return a copy ordered by rank with ``area_mu`` added.

    Missing optional columns are added empty so every writer can rely on them.
    """
    if "item_id" not in items.columns:
        raise ParameterError(f"items to export need an 'item_id' column; got {list(items.columns)}. "
                             "Pass the frame returned by layers.shortlist.load().",
                             message_zh="导出数据缺少 item_id 列;请传入清单数据。")
    spatial = isinstance(items, gpd.GeoDataFrame) and items._geometry_column_name in items.columns
    if need_geometry and not spatial:
        raise ParameterError("this format needs geometries; pass the shortlist as a GeoDataFrame",
                             message_zh="该格式需要几何数据;请传入带几何的清单。")
    if spatial and items.crs is None and len(items):
        raise MissingCRSError("items have no CRS; set it before exporting (gdf.set_crs('EPSG:4549'))",
                              message_zh="数据没有坐标系,无法导出。")
    out = items.drop(columns=[c for c in _INTERNAL if c in items.columns])  # bookkeeping, not for officials
    for col in ("rank", "item_kind", "status", "township_code", "township_name", "area_m2"):
        if col not in out.columns:
            out[col] = pd.NA
    if out["area_m2"].isna().all() and spatial and out.crs is not None and out.crs.is_projected:
        out["area_m2"] = out.geometry.area
    out["area_m2"] = pd.to_numeric(out["area_m2"], errors="coerce").astype("float64")
    out["area_mu"] = m2_to_mu(out["area_m2"]).round(2)
    out["rank"] = pd.to_numeric(out["rank"], errors="coerce").astype("Int64")
    if "item_missing" in out.columns and not out["item_missing"].notna().any():
        out = out.drop(columns="item_missing")  # the column appears only when an object is gone
    out = out.sort_values("rank", kind="stable", na_position="last")
    return out.reset_index(drop=True)


def select_township(items, township: str | None):
    """Rows of one township (by code); ``None`` keeps all. Unknown codes raise, listing the ones present."""
    if township is None:
        return items
    hit = items[items["township_code"].astype("string") == str(township)]
    if hit.empty:
        present = sorted(items["township_code"].dropna().astype(str).unique())
        raise ParameterError(
            f"no shortlisted items for township {township!r}; townships on the shortlist: {', '.join(present) or '(none)'}",
            message_zh=f"镇街 {township} 没有列入清单的对象;清单涉及镇街:{', '.join(present) or '(无)'}")
    return hit.reset_index(drop=True)


def table_columns(items) -> list[str]:
    """Columns of a table export, in order (known ones first, then the caller's extra columns)."""
    geom = items.geometry.name if isinstance(items, gpd.GeoDataFrame) and items._geometry_column_name in items.columns else None
    known = [c for c in _ORDER if c in items.columns]
    extra = [c for c in items.columns if c not in known and c != geom]
    return known + extra


def _lookup(codes: pd.Series, names: Mapping[str, str] | None) -> pd.Series:
    if not names:
        return pd.Series(pd.NA, index=codes.index, dtype="string")
    return codes.astype("string").map(lambda c: names.get(c) if isinstance(c, str) else None).astype("string")


def with_names(items, meta: ExportMeta | None = None):
    """``items`` with readable companions of their codes: ``firm_name`` (land holder, else the firms on
    the plot), ``park_name`` (park, or the site's own park), ``industry_name`` and ``land_use_name``;
    industry codes in the reasons gain their titles; ids without ".0"."""
    meta = meta or ExportMeta()
    out = items.copy()
    if "item_id" in out.columns:
        out["item_id"] = out["item_id"].map(ident).astype("string")
    firm = _lookup(out["land_holder"], meta.firms) if "land_holder" in out.columns else \
        pd.Series(pd.NA, index=out.index, dtype="string")
    if meta.plot_firms and "item_kind" in out.columns:
        on_plot = _lookup(out["item_id"], meta.plot_firms).where(out["item_kind"].astype("string") == "plot")
        firm = firm.fillna(on_plot)
    if "land_holder" in out.columns or firm.notna().any():
        out["firm_name"] = firm
    park = out["park_id"].astype("string") if "park_id" in out.columns else pd.Series(pd.NA, index=out.index, dtype="string")
    if "item_kind" in out.columns:  # a site is a park: its id names it
        park = park.where(out["item_kind"].astype("string") != "site", out["item_id"].astype("string"))
    if "park_id" in out.columns or park.notna().any():
        out["park_name"] = _lookup(park, meta.parks)
    if "industry_code" in out.columns:
        out["industry_name"] = out["industry_code"].map(
            lambda c: industry_label(c, with_code=False) if isinstance(c, str) and c else None).astype("string")
    if "reasons" in out.columns:  # "容积率 0.72 < 0.80(行业 23)" → "(行业 23 印刷和记录媒介复制业)"
        out["reasons"] = out["reasons"].map(lambda r: industries_in_text(r) if isinstance(r, str) and r else r)
    if "item_missing" in out.columns:  # an object removed since it was listed (layers.references)
        missing = out["item_missing"].astype("string")
        out["item_missing"] = missing.map(lambda v: value_label(v, "zh") if isinstance(v, str) else None).astype("string")
    if "land_use" in out.columns:
        out["land_use_name"] = out["land_use"].map(
            lambda c: land_use_label(c).partition(" ")[2] or None if isinstance(c, str) and c else None).astype("string")
    return out


def tabular(items, meta: ExportMeta | None = None) -> tuple[pd.DataFrame, list[str]]:
    """A plain frame for table exports and its Chinese headers: kinds in Chinese, names beside codes,
    times in Asia/Shanghai (:func:`with_names`)."""
    named = with_names(items, meta)
    cols = table_columns(named)
    df = pd.DataFrame(named[cols]).copy()
    if "item_kind" in df.columns:
        df["item_kind"] = df["item_kind"].map(lambda k: KIND_LABELS.get(k, k) if isinstance(k, str) else k)
    for col in TIME_COLUMNS:
        if col in df.columns:
            tz = meta.timezone if meta is not None else TIME_ZONE
            df[col] = local_times(df[col], tz, seconds=True).where(df[col].notna(), None)
    return df, [SHORTLIST_LABELS.get(c, c) for c in cols]


def township_groups(items) -> list[tuple[str | None, str, pd.DataFrame]]:
    """(code, name, rows) per township in code order; rows without a township come last as 未分配镇街."""
    code = items["township_code"].astype("string")
    name = items["township_name"].astype("string") if "township_name" in items.columns else code
    groups = []
    for c in sorted(code.dropna().unique()):
        rows = items[code == c]
        n = name[code == c].dropna()
        groups.append((str(c), str(n.iloc[0]) if len(n) else str(c), rows))
    rest = items[code.isna()]
    if len(rest):
        groups.append((None, UNASSIGNED, rest))
    return groups


def deliver(data: bytes, out: str | os.PathLike | None) -> bytes | Path:
    """Return ``data`` as bytes, or write it atomically to ``out`` and return the path."""
    if out is None:
        return data
    out = Path(out)
    with atomic_path(out) as tmp:
        tmp.write_bytes(data)
    return out
