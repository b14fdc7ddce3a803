"""The shortlist pipeline: plots, clusters and sites a planner has picked, stored in the workspace.

Planners' work is never lost: the shortlist is two bookkeeping tables of the workspace
(:mod:`layers.store.tables`), and every change is one transaction of the store that reads
the current list, checks the change, writes only the rows it changes, appends its history
rows and one audit row — so a crash leaves the last committed list, and two people editing
at once never overwrite each other (the second waits for the first, then sees its change).

``shortlist`` (spatial layer, working CRS)
    One row per listed item, with the geometry *as it was when added* (so exports need no
    joins and a later edit of the plots layer does not silently change what was handed
    over).  Fields: see :data:`ITEM_FIELDS` — ``entry_id`` (``"<kind>:<id>"``, the key),
    ``item_kind`` (plot / cluster / site), ``item_id``, ``rank`` (1…n, contiguous),
    ``status`` (:data:`STATUSES`), ``township_code`` / ``township_name`` (the responsible
    township), ``area_m2``, the reasons it was listed (``reasons``, ``score``, ``grade``)
    when the caller provides them, a snapshot of the plot's ``land_use``, ``land_holder``,
    ``industry_code``, ``park_id``, ``notes``, ``source`` (the page or run that listed it),
    ``added_by``/``added_at``/``updated_by``/``updated_at`` (ISO 8601, UTC), ``row_version``
    (bumped by every change of status, notes or township: an edit made on an older version is
    refused with :class:`~geo.errors.ConflictError` naming who changed it and when).

``shortlist_history`` (table)
    One row per changed field: ``history_id``, ``at``, ``who``, ``action`` (add / remove /
    update / reorder), ``entry_id``, ``item_kind``, ``item_id``, ``field``, ``old_value``,
    ``new_value`` (as text), ``reason``.  An add records one row (field ``*``, new value
    the status); a removal records the whole removed row as JSON in ``old_value`` so it can
    be re-created; rank shifts caused by an insert, move or removal are recorded too.

Status pipeline (候选 → 已核实 → 已上报 → 已处置)
    An item moves forward one step at a time (no skipping: a plot is verified before it is
    reported).  Moving *back* one step is allowed to correct a mistake but needs a
    ``reason``, which lands in the history.  Setting the status an item already has is a
    no-op and records nothing.  English names (candidate, verified, reported, disposed)
    are accepted as input and stored as the Chinese values.

Who may do what (:mod:`layers.access`): planners and admins make every change; a township
official may add notes to, and move to 已处置, the entries of their own township only; a
viewer changes nothing.  The check is made here, on the server, whatever the UI shows.

API (all functions take the workspace first; mutations need a workspace opened with
``readonly=False`` and the acting user, validate everything before writing and return the
new shortlist)::

    load(ws, *, actor=None) -> GeoDataFrame                    # ordered by rank; an official sees their township;
                                                               # item_missing marks entries whose object is gone
    history(ws, entry_id=None) -> DataFrame                    # oldest first
    add(ws, items, *, kind, actor, id_column=None, source_layer=None, status="候选",
        notes="", source="", rank=None, on_duplicate="raise") -> GeoDataFrame
    remove(ws, entry_ids, *, actor, reason="") -> GeoDataFrame
    update(ws, entry_id, *, actor, status=None, notes=None, township_code=None, reason="",
           expected_version=None) -> GeoDataFrame
    set_status(ws, entry_ids, status, *, actor, reason="", expected_versions=None) -> GeoDataFrame
    move(ws, entry_id, rank, *, actor, reason="") -> GeoDataFrame
    reorder(ws, order, *, actor, reason="") -> GeoDataFrame
    entry_id_for(kind, item_id) -> str
    allowed_statuses(current) -> tuple[str, ...]               # for a UI select box

Errors are :class:`ShortlistError` (a ``PlannerError`` and ``ValueError``, with
``message_zh`` for the UI), :class:`~geo.errors.AccessDeniedError` for a role or township
that may not make the change, :class:`~geo.errors.ConflictError` for an edit of an entry
someone changed since it was read; a workspace opened read-only raises ``WorkspaceError``.

Examples
--------
>>> ws = open_workspace("ruian.gpkg", readonly=False)                           # doctest: +SKIP
>>> add(ws, ["P000001", "P000002"], kind="plot", actor=planner, source="map")  # doctest: +SKIP
>>> set_status(ws, ["plot:P000001"], "已核实", actor=planner)                   # doctest: +SKIP
>>> update(ws, "plot:P000001", actor=planner, status="候选", reason="现场核实有误")  # doctest: +SKIP
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geo.errors import ConflictError, CRSMismatchError, MissingCRSError, ShortlistError
from layers import access
from layers.access import Actor
from layers.store.base import now_utc
from layers.timefmt import local_time

__all__ = [
    "ShortlistError",
    "SHORTLIST_LAYER",
    "HISTORY_TABLE",
    "STATUSES",
    "STATUS_EN",
    "ITEM_KINDS",
    "ITEM_KIND_LABELS",
    "ITEM_FIELDS",
    "HISTORY_FIELDS",
    "FIELD_LABELS",
    "SOURCE_LAYERS",
    "entry_id_for",
    "allowed_statuses",
    "load",
    "history",
    "add",
    "remove",
    "update",
    "set_status",
    "move",
    "reorder",
]

SHORTLIST_LAYER = "shortlist"
HISTORY_TABLE = "shortlist_history"

#: The status pipeline, in order.
STATUSES: tuple[str, ...] = ("候选", "已核实", "已上报", "已处置")
#: English names, accepted as input and used by the English UI.
STATUS_EN: dict[str, str] = {"候选": "candidate", "已核实": "verified", "已上报": "reported", "已处置": "disposed"}
ITEM_KINDS: tuple[str, ...] = ("plot", "cluster", "site")
ITEM_KIND_LABELS: dict[str, str] = {"plot": "地块", "cluster": "连片区", "site": "选址"}

#: Where an id without a geometry is looked up: kind → (layer, key column).  Clusters and
#: sites live in result layers whose name depends on the run: pass ``source_layer=``.
SOURCE_LAYERS: dict[str, tuple[str, str]] = {
    "plot": ("plots", "plot_id"),
    "cluster": ("clusters", "cluster_id"),
    "site": ("sites", "site_id"),
}

# field → dtype of the stored layer (geometry excluded).
ITEM_FIELDS: dict[str, str] = {
    "entry_id": "string", "item_kind": "string", "item_id": "string", "rank": "int64", "status": "string",
    "township_code": "string", "township_name": "string", "area_m2": "float64",
    "reasons": "string", "score": "float64", "grade": "string",
    "land_use": "string", "land_holder": "string", "industry_code": "string", "park_id": "string",
    "notes": "string", "source": "string",
    "added_by": "string", "added_at": "string", "updated_by": "string", "updated_at": "string",
    "row_version": "int64",
}
HISTORY_FIELDS: dict[str, str] = {
    "history_id": "int64", "at": "string", "who": "string", "action": "string", "entry_id": "string",
    "item_kind": "string", "item_id": "string", "field": "string", "old_value": "string", "new_value": "string",
    "reason": "string",
}
#: Chinese labels of the shortlist's own fields (exports use layers.schema labels where fields match).
FIELD_LABELS: dict[str, str] = {
    "entry_id": "条目编号", "item_kind": "对象类型", "item_id": "对象编号", "rank": "排序", "status": "状态",
    "township_code": "责任镇街代码", "township_name": "责任镇街", "area_m2": "面积(m²)",
    "reasons": "列入理由", "score": "评分", "grade": "亩均评价类别", "notes": "备注", "source": "来源",
    "added_by": "添加人", "added_at": "添加时间", "updated_by": "修改人", "updated_at": "修改时间",
    "row_version": "版本",
    "history_id": "记录号", "at": "时间", "who": "操作人", "action": "操作", "field": "字段",
    "old_value": "原值", "new_value": "新值", "reason": "原因",
}
# Columns the caller's frame may carry to explain the listing: stored name ← accepted names.
_EXPLAIN_ALIASES: dict[str, tuple[str, ...]] = {
    "reasons": ("reasons", "reasons_zh", "reason"),
    "score": ("score", "potential_score", "suitability"),
    "grade": ("grade", "final_class", "class"),
    "township_code": ("township_code",),
    "land_use": ("land_use",),
    "land_holder": ("land_holder",),
    "industry_code": ("industry_code",),
    "park_id": ("park_id",),
}
_UPDATABLE = ("status", "notes", "township_code")
_MAX_TEXT = 4000  # notes and reasons: long enough for a paragraph, short enough for a table cell


def _err(en: str, zh: str, details: list | None = None) -> ShortlistError:
    return ShortlistError(en, message_zh=zh, details=details)


def entry_id_for(kind: str, item_id) -> str:
    """The shortlist key of an item: ``"<kind>:<id>"`` (e.g. ``"plot:P000001"``)."""
    return f"{_check_kind(kind)}:{item_id}"


def _check_kind(kind: str) -> str:
    if kind not in ITEM_KINDS:
        raise _err(f"item kind {kind!r} is not one of {list(ITEM_KINDS)}; pick one of them.",
                   f"对象类型 {kind!r} 无效,应为 {list(ITEM_KINDS)} 之一。")
    return kind


def _check_who(who) -> str:
    if not isinstance(who, str) or not who.strip():
        raise _err("who is empty: every shortlist change records who made it; pass the user's name.",
                   "未填写操作人:清单的每次修改都要记录操作人,请填写姓名。")
    return who.strip()[:64]


def _normalise_status(status) -> str:
    if status in STATUSES:
        return status
    back = {v: k for k, v in STATUS_EN.items()}
    if isinstance(status, str) and status.strip().lower() in back:
        return back[status.strip().lower()]
    raise _err(f"status {status!r} is not one of {list(STATUSES)} (or {list(STATUS_EN.values())}).",
               f"状态 {status!r} 无效,应为 {' → '.join(STATUSES)} 之一。")


def allowed_statuses(current: str) -> tuple[str, ...]:
    """Statuses an item in ``current`` may move to: the next one, and the previous one (with a reason)."""
    i = STATUSES.index(_normalise_status(current))
    return tuple(STATUSES[j] for j in (i - 1, i + 1) if 0 <= j < len(STATUSES))


def _check_transition(entry_id: str, old: str, new: str, reason: str) -> tuple[str, str] | None:
    """None if ``old → new`` is allowed, else the problem as (English, Chinese)."""
    i, j = STATUSES.index(old), STATUSES.index(new)
    if j == i + 1 or i == j:
        return None
    if j == i - 1:
        return None if reason.strip() else (
            f"{entry_id}: moving back {old} → {new} needs a reason (it is recorded in the history)",
            f"{entry_id}:由 {old} 退回 {new} 需要填写原因(记入修改记录)")
    nxt = [s for s in allowed_statuses(old) if STATUSES.index(s) > i]
    prev = [s for s in allowed_statuses(old) if STATUSES.index(s) < i]
    allowed = " or ".join([*nxt, *(f"{s} (back, with a reason)" for s in prev)])
    allowed_zh = "或".join([*nxt, *(f"{s}(退回,需填写原因)" for s in prev)])
    return (f"{entry_id}: {old} → {new} skips the pipeline {' → '.join(STATUSES)}; from {old} it may go to {allowed}",
            f"{entry_id}:{old} → {new} 跳过了流程 {' → '.join(STATUSES)};{old} 只能改为 {allowed_zh}")


# --- frames ---------------------------------------------------------------------------
def _empty_items(crs) -> gpd.GeoDataFrame:
    data = {name: pd.Series([], dtype="Int64" if dt == "int64" else dt) for name, dt in ITEM_FIELDS.items()}
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=crs), crs=crs)


def _cast(df: pd.DataFrame, fields: dict[str, str]) -> pd.DataFrame:
    for name, dt in fields.items():
        if name not in df.columns:
            df[name] = pd.Series(pd.NA, index=df.index)
        if dt == "int64":
            df[name] = pd.to_numeric(df[name], errors="coerce").astype("Int64")
        elif dt == "float64":
            df[name] = pd.to_numeric(df[name], errors="coerce").astype("float64")
        else:
            df[name] = df[name].astype("string")
    return df


def _items(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    gdf = _cast(frame, ITEM_FIELDS)
    gdf["row_version"] = gdf["row_version"].fillna(0)
    gdf = gdf[list(ITEM_FIELDS) + [gdf.geometry.name]]
    return gdf.sort_values("rank", kind="stable").reset_index(drop=True)


def load(ws, *, actor: Actor | None = None) -> gpd.GeoDataFrame:
    """The shortlist ordered by rank (index 0…n-1), in the working CRS; empty with every field if none yet.

    With ``actor`` a township official gets only their township's entries (what they may see).
    The column ``item_missing`` says which entries no longer point at a live object
    (``plot_removed``, ``run_removed``; missing when live: :func:`layers.references.missing_items`).
    """
    from layers.references import missing_items

    if not ws.has_layer(SHORTLIST_LAYER):
        return _empty_items(ws.crs).assign(item_missing=pd.Series([], dtype="string"))
    gdf = _items(ws.read(SHORTLIST_LAYER))
    towns = access.visible_townships(actor) if actor is not None else None
    if towns is not None:
        gdf = gdf[gdf["township_code"].isin(towns).fillna(False).to_numpy(dtype=bool)].reset_index(drop=True)
    gdf["item_missing"] = missing_items(ws, gdf)
    return gdf


def history(ws, entry_id: str | None = None) -> pd.DataFrame:
    """Every recorded change (oldest first), optionally of one entry."""
    if not ws.has_layer(HISTORY_TABLE):
        return _cast(pd.DataFrame(index=pd.RangeIndex(0)), HISTORY_FIELDS)
    df = ws.read_table(HISTORY_TABLE, **({"where_in": {"entry_id": [entry_id]}} if entry_id is not None else {}))
    df = _cast(df, HISTORY_FIELDS)[list(HISTORY_FIELDS)]
    return df.sort_values("history_id", kind="stable").reset_index(drop=True)


class _Change:
    """Accumulates history rows of one mutation (all share ``at`` and ``who``)."""

    def __init__(self, who: str, at: str):
        self.who, self.at, self.rows = who, at, []

    def record(self, action: str, row, field: str, old, new, reason: str = "") -> None:
        self.rows.append({
            "at": self.at, "who": self.who, "action": action, "entry_id": row["entry_id"],
            "item_kind": row["item_kind"], "item_id": row["item_id"], "field": field,
            "old_value": _text(old), "new_value": _text(new), "reason": reason or "",
        })

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=[c for c in HISTORY_FIELDS if c != "history_id"]).astype("string")


def _records(frame: pd.DataFrame) -> list[dict]:
    """The key fields of each row as dicts (what the history needs; no geometry, no iterrows)."""
    return frame[["entry_id", "item_kind", "item_id", "rank", "status"]].to_dict("records")


def _text(value) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _current(tx) -> gpd.GeoDataFrame:
    """The shortlist as it is inside the transaction (the write lock is held: nobody else changes it)."""
    return _items(tx.select(SHORTLIST_LAYER))


def _write_ranks(tx, frame: pd.DataFrame) -> None:
    if len(frame):
        tx.update(SHORTLIST_LAYER, "entry_id", pd.DataFrame({"entry_id": frame["entry_id"].astype(str),
                                                              "rank": frame["rank"].astype("int64")}))


def _finish(tx, change: _Change, summary: str) -> None:
    if change.rows:
        tx.insert(HISTORY_TABLE, change.frame())
    tx.summary = summary
    tx.detail = {"changes": change.rows[:50], "n_changes": len(change.rows)}


def _find(items: gpd.GeoDataFrame, entry_ids: Sequence[str]) -> np.ndarray:
    """Row positions of ``entry_ids``; one error naming every unknown id."""
    ids = list(entry_ids)
    pos = pd.Index(items["entry_id"]).get_indexer(ids)
    missing = [e for e, p in zip(ids, pos) if p < 0]
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (" …" if len(missing) > 10 else "")
        raise _err(f"not on the shortlist: {shown}. Reload the list; entries look like 'plot:P000001'.",
                   f"清单中没有:{shown}。请刷新清单后重试。", details=missing)
    return pos


def _check_fresh(ws, row, expected_version) -> None:
    """Refuse an edit made on an older version of the entry, naming who changed it and when."""
    if expected_version is None:
        return
    current = int(row["row_version"] if pd.notna(row["row_version"]) else 0)
    if int(expected_version) == current:
        return
    who, at = row["updated_by"], row["updated_at"]
    when = local_time(at, ws.timezone, fmt="%H:%M") if isinstance(at, str) else "—"
    day = local_time(at, ws.timezone, fmt="%Y-%m-%d") if isinstance(at, str) else ""
    state = {k: _text(row[k]) for k in ("entry_id", "status", "notes", "township_name", "updated_by", "updated_at")}
    state["row_version"] = current
    raise ConflictError(
        f"{row['entry_id']} was changed by {who} at {when} ({day}) after you opened it; nothing was saved. "
        f"Here is the current entry: status {row['status']}, notes {_text(row['notes']) or '—'}.",
        message_zh=f"{row['entry_id']} 已被 {who} 于 {day} {when} 修改,您的修改未保存。当前内容:状态 {row['status']},"
                   f"备注 {_text(row['notes']) or '—'}。请在当前内容的基础上重新修改。",
        current=state)


def _require_for(actor: Actor, rows: pd.DataFrame, action: str) -> None:
    access.require(actor, action)
    access.require_township(actor, action, rows["township_code"].fillna("(未定镇街)"))


def _status_action(old: str, new: str, notes_only: bool = False) -> str:
    if notes_only:
        return "shortlist.note"
    if new == STATUSES[-1] and old == STATUSES[-2]:
        return "shortlist.dispose"
    return "shortlist.update"


# --- add ------------------------------------------------------------------------------
def _resolve(ws, kind: str, ids: list[str], source_layer: str | None,
             id_column: str | None = None) -> gpd.GeoDataFrame:
    """Look ids up in the source layer (plots by default) and return those rows with their geometry."""
    layer, key = SOURCE_LAYERS[kind]
    layer, key = source_layer or layer, id_column or key
    if not ws.has_layer(layer):
        raise _err(f"cannot look up {kind} ids: the workspace has no layer {layer!r}. Pass the items as a "
                   f"GeoDataFrame with geometries, or source_layer= naming the layer that holds them.",
                   f"无法查找{ITEM_KIND_LABELS[kind]}:工作空间中没有图层 {layer!r}。请直接传入带几何的数据。")
    if key not in ws.columns(layer):
        raise _err(f"layer {layer!r} has no key column {key!r}; it has {ws.columns(layer)}.",
                   f"图层 {layer!r} 缺少编号字段 {key!r}。")
    found = ws.read(layer, where_in={key: ids})
    found = found.assign(**{key: found[key].astype("string")}).drop_duplicates(key)
    missing = sorted(set(ids) - set(found[key].dropna()))
    if missing:
        shown = ", ".join(missing[:10]) + (" …" if len(missing) > 10 else "")
        raise _err(f"{len(missing)} {kind} id(s) not found in layer {layer!r}: {shown}. Check the ids.",
                   f"图层 {layer!r} 中找不到 {len(missing)} 个编号:{shown}。请核对编号。", details=missing)
    return found.set_index(key).loc[ids].reset_index().rename(columns={key: "_item_id"})


def _township_table(ws) -> gpd.GeoDataFrame | None:
    return ws.read("townships", columns=["code", "name"]) if ws.has_layer("townships") else None


def _townships_for(towns: gpd.GeoDataFrame | None, geoms: gpd.GeoSeries) -> pd.Series:
    """Township code containing each geometry's representative point; NA where none."""
    out = pd.Series(pd.NA, index=geoms.index, dtype="string")
    if towns is None or geoms.empty:
        return out
    pts = gpd.GeoDataFrame(geometry=geoms.representative_point(), crs=geoms.crs)
    hit = gpd.sjoin(pts, towns, how="left", predicate="within")
    hit = hit[~hit.index.duplicated(keep="first")]
    return hit["code"].astype("string").reindex(geoms.index)


def _names_of(towns: gpd.GeoDataFrame | None) -> dict[str, str]:
    if towns is None:
        return {}
    return dict(zip(towns["code"].astype(str), towns["name"].astype(str)))


def _normalise_geometry(geoms: gpd.GeoSeries) -> gpd.GeoSeries:
    # One layer holds plots, clusters (polygons) and sites (polygons or points): polygons are
    # stored as MultiPolygon so GIS tools see one polygon type.
    polys = geoms.geom_type == "Polygon"
    if polys.any():
        geoms = geoms.copy()
        geoms[polys] = shapely.multipolygons(shapely.get_parts(geoms[polys].values).reshape(-1, 1))
    return geoms


def _input_frame(ws, items, kind: str, id_column: str | None, source_layer: str | None) -> gpd.GeoDataFrame:
    key_default = SOURCE_LAYERS[kind][1]
    if isinstance(items, gpd.GeoDataFrame):
        frame = _check_frame_crs(ws, items)
        col = id_column or next((c for c in (key_default, "item_id") if c in frame.columns), None)
        if col is None or col not in frame.columns:
            raise _err(f"items have no id column ({id_column or key_default!r} or 'item_id'); columns: {list(frame.columns)}. "
                       "Pass id_column= naming it.", f"数据中没有编号列 {id_column or key_default!r}。")
        frame = frame.rename(columns={col: "_item_id"}) if col != "_item_id" else frame
        frame = frame.reset_index(drop=True)
        frame["_item_id"] = frame["_item_id"].astype("string")
        return frame
    if isinstance(items, (str, bytes)):
        items = [items]
    return _resolve(ws, kind, [str(i) for i in items], source_layer, id_column)


def _new_rows(ws, frame: gpd.GeoDataFrame, kind: str, status: str, notes: str, source: str,
              who: str, at: str) -> gpd.GeoDataFrame:
    """The shortlist rows for ``frame`` (no rank yet): explanation, area, responsible township."""
    geoms = _normalise_geometry(gpd.GeoSeries(frame.geometry.values, crs=ws.crs))
    new = gpd.GeoDataFrame({"entry_id": [entry_id_for(kind, i) for i in frame["_item_id"]], "item_kind": kind,
                            "item_id": frame["_item_id"].to_numpy()}, geometry=geoms, crs=ws.crs)
    for stored, names in _EXPLAIN_ALIASES.items():
        src = next((n for n in names if n in frame.columns), None)
        if src is not None:
            new[stored] = frame[src].values
    new = _cast(new, ITEM_FIELDS)
    new["reasons"] = new["reasons"].str.slice(0, _MAX_TEXT)
    new["area_m2"] = new.geometry.area.round(1)
    towns = _township_table(ws)
    missing_town = new["township_code"].isna()
    if missing_town.any():
        new.loc[missing_town, "township_code"] = _townships_for(towns, new.geometry[missing_town])
    names = _names_of(towns)
    new["township_name"] = new["township_code"].map(lambda c: names.get(c) if isinstance(c, str) else None).astype("string")
    new["status"], new["notes"], new["source"] = status, notes or pd.NA, source or pd.NA
    new["added_by"] = new["updated_by"] = who
    new["added_at"] = new["updated_at"] = at
    new["row_version"] = 1
    return new


def add(ws, items, *, kind: str, actor: Actor, id_column: str | None = None,
        source_layer: str | None = None, status: str = "候选", notes: str = "", source: str = "",
        rank: int | None = None, on_duplicate: str = "raise") -> gpd.GeoDataFrame:
    """Add plots, clusters or sites to the shortlist (role: planner or admin).

    Parameters
    ----------
    items : GeoDataFrame, or sequence of ids
        A GeoDataFrame (in the working CRS) of the items with their geometry — its
        ``id_column`` gives the ids, and optional columns explain the listing: ``reasons``
        (or ``reasons_zh``), ``score``, ``grade`` (or ``final_class``), ``township_code``,
        ``land_use``, ``land_holder``, ``industry_code``, ``park_id``.  Or a plain sequence
        of ids, looked up in ``source_layer`` (default :data:`SOURCE_LAYERS`: plots by
        ``plot_id``) for their geometry and attributes.
    kind : {"plot", "cluster", "site"}
    actor : Actor
        The user making the change (recorded in the item, the history and the audit log).
    id_column : str, optional
        Column of ``items`` (or key column of ``source_layer``) holding the ids (default
        ``plot_id`` / ``cluster_id`` / ``site_id``, else ``item_id``).
    source_layer : str, optional
        Layer to look plain ids up in (e.g. a run's result layer, whose ``reasons_zh``,
        ``score`` and ``final_class`` columns are then kept as the explanation).
    status : str
        Starting status, default 候选.
    rank : int, optional
        Insert at this rank (1 = top), pushing later items down; default: at the end.
    on_duplicate : {"raise", "skip"}
        Items already on the list raise (default) or are left as they are.

    Returns
    -------
    GeoDataFrame
        The whole new shortlist, ordered by rank.

    Notes
    -----
    The township is taken from the item's ``township_code`` if given, else from the
    ``townships`` layer polygon containing the item's representative point.  ``area_m2``
    is the geometry's area in the working CRS (m²; 0 for points).
    """
    access.require(actor, "shortlist.add")
    ws.require_writable()
    _check_kind(kind)
    status = _normalise_status(status)
    if on_duplicate not in ("raise", "skip"):
        raise _err(f"on_duplicate={on_duplicate!r}; expected 'raise' or 'skip'.", "on_duplicate 参数应为 raise 或 skip。")
    notes = _clip(notes, "notes")
    frame = _input_frame(ws, items, kind, id_column, source_layer)
    problems = _check_new_frame(frame)
    if problems:
        raise _err("Nothing was added: " + "; ".join(problems), "未添加任何对象:" + ";".join(problems), details=problems)
    new = _new_rows(ws, frame, kind, status, notes, source, actor.username, now_utc())
    with ws.transaction(actor, "shortlist.add", target=", ".join(new["entry_id"].head(5))) as tx:
        current = _current(tx)
        dup = new["entry_id"].isin(current["entry_id"]).to_numpy(dtype=bool)
        if dup.any() and on_duplicate == "raise":
            shown = ", ".join(new.loc[dup, "entry_id"].head(10))
            raise _err(f"already on the shortlist: {shown}. Use on_duplicate='skip' to add only the others.",
                       f"以下对象已在清单中:{shown}。", details=list(new.loc[dup, "entry_id"]))
        new = new[~dup].reset_index(drop=True)
        if new.empty:
            return current
        pos = len(current) + 1 if rank is None else _check_rank(rank, len(current) + 1)
        change = _Change(actor.username, str(new["added_at"].iloc[0]))
        shifted = current.loc[current["rank"] >= pos].copy()
        for row in _records(shifted):
            change.record("reorder", row, "rank", row["rank"], row["rank"] + len(new), f"{len(new)} item(s) inserted above")
        shifted["rank"] = shifted["rank"] + len(new)
        _write_ranks(tx, shifted)
        new["rank"] = np.arange(pos, pos + len(new))
        for row in _records(new):
            change.record("add", row, "*", None, row["status"], notes)
        tx.insert(SHORTLIST_LAYER, new)
        _finish(tx, change, f"加入候选清单 {len(new)} 项:{'、'.join(new['item_id'].astype(str).head(5))}"
                            f"{' 等' if len(new) > 5 else ''}")
    return load(ws)


def _check_frame_crs(ws, frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if frame.crs is None:
        raise MissingCRSError("items have no CRS; set it (gdf.set_crs(...)) before adding them to the shortlist",
                              message_zh="数据没有坐标系,无法加入清单。")
    if not CRS.from_user_input(frame.crs).equals(ws.crs):
        raise CRSMismatchError(
            f"items are in {frame.crs.to_string()} but the workspace works in {ws.crs.to_string()}; "
            f"reproject with gdf.to_crs('{ws.crs.to_string()}') first",
            message_zh=f"数据坐标系 {frame.crs.to_string()} 与工作空间 {ws.crs.to_string()} 不一致。")
    return frame.copy()


def _check_new_frame(frame) -> list[str]:
    problems = []
    ids = frame["_item_id"]
    if ids.isna().any() or (ids.astype(str).str.strip() == "").any():
        problems.append(f"{int(ids.isna().sum() + (ids.astype(str).str.strip() == '').sum())} item(s) have an empty id")
    dup = ids.duplicated(keep=False) & ids.notna()
    if dup.any():
        problems.append(f"ids repeated in the input: {sorted(set(ids[dup]))[:10]}")
    geom = frame.geometry
    bad = geom.isna() | geom.is_empty
    if bad.any():
        problems.append(f"{int(bad.sum())} item(s) have no geometry (ids {list(ids[bad].head(5))})")
    types = set(geom[~bad].geom_type) - {"Polygon", "MultiPolygon", "Point"}
    if types:
        problems.append(f"geometry types {sorted(types)} cannot be listed (expected polygons or points)")
    return problems


def _clip(text, field: str) -> str:
    text = "" if text is None else str(text)
    if len(text) > _MAX_TEXT:
        raise _err(f"{field} is {len(text)} characters; at most {_MAX_TEXT} are kept. Shorten it.",
                   f"{FIELD_LABELS.get(field, field)} 共 {len(text)} 字,最多 {_MAX_TEXT} 字,请精简。")
    return text


def _check_rank(rank, n_max: int) -> int:
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or not 1 <= int(rank) <= n_max:
        raise _err(f"rank {rank!r} is outside 1…{n_max}; ranks are whole numbers from 1 (the top).",
                   f"排序 {rank!r} 超出范围 1…{n_max}。")
    return int(rank)


# --- remove ---------------------------------------------------------------------------
def remove(ws, entry_ids: Iterable[str] | str, *, actor: Actor, reason: str = "") -> gpd.GeoDataFrame:
    """Take entries off the shortlist; the removed rows are kept (as JSON) in the history."""
    access.require(actor, "shortlist.remove")
    ws.require_writable()
    ids = [entry_ids] if isinstance(entry_ids, str) else list(entry_ids)
    with ws.transaction(actor, "shortlist.remove", target=", ".join(ids[:5])) as tx:
        current = _current(tx)
        pos = _find(current, ids)
        change = _Change(actor.username, now_utc())
        gone = current.iloc[pos]
        wkt = shapely.to_wkt(np.asarray(gone.geometry.values, dtype=object), rounding_precision=3)
        for row, geometry_wkt in zip(gone[list(ITEM_FIELDS)].astype(object).to_dict("records"), wkt):
            attrs = {k: _text(v) for k, v in row.items()}
            attrs["geometry_wkt"] = geometry_wkt
            change.record("remove", row, "*", json.dumps(attrs, ensure_ascii=False), None, reason)
        tx.delete(SHORTLIST_LAYER, "entry_id", ids)
        keep = current.drop(index=current.index[pos]).reset_index(drop=True)
        new_rank = np.arange(1, len(keep) + 1)
        moved = keep["rank"].to_numpy() != new_rank
        for row, r in zip(_records(keep[moved]), new_rank[moved]):
            change.record("reorder", row, "rank", row["rank"], r, "renumbered after removal")
        keep["rank"] = new_rank
        _write_ranks(tx, keep[moved])
        _finish(tx, change, f"移出候选清单 {len(ids)} 项:{'、'.join(ids[:5])}{' 等' if len(ids) > 5 else ''}"
                            + (f"(原因:{reason})" if reason else ""))
    return load(ws)


# --- update ---------------------------------------------------------------------------
def update(ws, entry_id: str, *, actor: Actor, status: str | None = None, notes: str | None = None,
           township_code: str | None = None, reason: str = "", expected_version: int | None = None) -> gpd.GeoDataFrame:
    """Change an entry's status, notes and/or responsible township (each change goes to the history).

    Status steps follow the pipeline (see the module docstring): one step forward, or one
    step back with a ``reason``.  ``township_code`` must be a code of the ``townships``
    layer (when the workspace has one); the name is updated with it.  ``expected_version``
    is the entry's ``row_version`` when the user read it: if someone changed the entry since,
    nothing is saved and :class:`~geo.errors.ConflictError` says who, when, and what it holds now.
    """
    access.require(actor, "shortlist.note")  # the least any update needs; each part is checked below
    ws.require_writable()
    if status is None and notes is None and township_code is None:
        raise _err("nothing to update: pass status=, notes= or township_code=.", "没有要修改的内容。")
    new_status = _normalise_status(status) if status is not None else None
    notes = _clip(notes, "notes") if notes is not None else None
    names = _names_of(_township_table(ws))
    with ws.transaction(actor, "shortlist.note", target=entry_id) as tx:
        current = _current(tx)
        i = int(_find(current, [entry_id])[0])
        row = current.iloc[i]
        _check_fresh(ws, row, expected_version)
        _authorise_update(actor, current.iloc[[i]], row, new_status, township_code)
        problems = _update_problems(entry_id, row, new_status, township_code, reason, names)
        if problems:
            raise _err("Nothing was changed: " + "; ".join(p[0] for p in problems),
                       "未做任何修改:" + ";".join(p[1] for p in problems), details=[p[0] for p in problems])
        change = _Change(actor.username, now_utc())
        values = {}
        for field, value in (("status", new_status), ("notes", notes), ("township_code", township_code)):
            if value is None or _text(row[field]) == (value or None):
                continue
            change.record("update", row, field, row[field], value, reason)
            values[field] = value if value != "" else None
            if field == "township_code":
                values["township_name"] = names.get(value)
        if not change.rows:
            return load(ws)
        values.update(updated_by=actor.username, updated_at=change.at,
                      row_version=int(row["row_version"] if pd.notna(row["row_version"]) else 0) + 1)
        tx.update(SHORTLIST_LAYER, "entry_id", pd.DataFrame([{"entry_id": entry_id, **values}]))
        tx.action = _update_action(row, new_status, notes, township_code)
        _finish(tx, change, f"{entry_id}:" + ";".join(f"{FIELD_LABELS.get(r['field'], r['field'])} "
                                                       f"{r['old_value'] or '—'} → {r['new_value'] or '—'}"
                                                       for r in change.rows))
    return load(ws)


def _update_action(row, new_status, notes, township_code) -> str:
    if township_code is not None or (new_status is not None and new_status != row["status"]
                                     and _status_action(row["status"], new_status) == "shortlist.update"):
        return "shortlist.update"
    if new_status is not None and new_status != row["status"]:
        return "shortlist.dispose"
    return "shortlist.note"


def _authorise_update(actor: Actor, rows: pd.DataFrame, row, new_status, township_code) -> None:
    """The permission each part of an update needs (officials: notes, and 已上报 → 已处置, own township)."""
    if township_code is not None and township_code != _text(row["township_code"]):
        _require_for(actor, rows, "shortlist.update")
    if new_status is not None and new_status != row["status"]:
        _require_for(actor, rows, _status_action(row["status"], new_status))
    _require_for(actor, rows, "shortlist.note")


def _update_problems(entry_id, row, new_status, township_code, reason, names) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if new_status is not None:
        p = _check_transition(entry_id, row["status"], new_status, reason)
        if p:
            problems.append(p)
    if township_code is not None and names and township_code not in names:
        problems.append((f"township_code {township_code!r} is not a township of this workspace "
                         f"(known: {', '.join(sorted(names))})",
                         f"镇街代码 {township_code!r} 不属于本工作空间(现有:{', '.join(sorted(names))})"))
    return problems


def set_status(ws, entry_ids: Iterable[str] | str, status: str, *, actor: Actor, reason: str = "",
               expected_versions: dict[str, int] | None = None) -> gpd.GeoDataFrame:
    """Move several entries to ``status`` at once; all steps are checked before anything is written."""
    access.require(actor, "shortlist.dispose")  # the least a status change needs; each step is checked below
    ws.require_writable()
    new_status = _normalise_status(status)
    ids = [entry_ids] if isinstance(entry_ids, str) else list(entry_ids)
    with ws.transaction(actor, "shortlist.dispose", target=", ".join(ids[:5])) as tx:
        current = _current(tx)
        pos = _find(current, ids)
        chosen = current.iloc[pos]
        for e, (_, row) in zip(ids, chosen.iterrows()):
            _check_fresh(ws, row, (expected_versions or {}).get(e))
        actions = {_status_action(s, new_status) for s in chosen["status"] if s != new_status}
        for action in sorted(actions):
            _require_for(actor, chosen, action)
        problems = [p for p in (_check_transition(e, current.loc[i, "status"], new_status, reason)
                                for e, i in zip(ids, pos)) if p]
        if problems:
            raise _err(f"Nothing was changed ({len(problems)} problem(s)): " + "; ".join(p[0] for p in problems),
                       f"未做任何修改({len(problems)} 处问题):" + ";".join(p[1] for p in problems),
                       details=[p[0] for p in problems])
        change = _Change(actor.username, now_utc())
        moving = chosen[(chosen["status"] != new_status).to_numpy()]
        if moving.empty:
            return load(ws)
        for row in _records(moving):
            change.record("update", row, "status", row["status"], new_status, reason)
        tx.update(SHORTLIST_LAYER, "entry_id", pd.DataFrame({
            "entry_id": moving["entry_id"].astype(str), "status": new_status, "updated_by": actor.username,
            "updated_at": change.at, "row_version": moving["row_version"].fillna(0).astype("int64") + 1}))
        tx.action = "shortlist.dispose" if actions == {"shortlist.dispose"} else "shortlist.update"
        _finish(tx, change, f"{len(moving)} 项改为 {new_status}:{'、'.join(moving['entry_id'].head(5))}"
                            + (f"(原因:{reason})" if reason else ""))
    return load(ws)


# --- order ----------------------------------------------------------------------------
def move(ws, entry_id: str, rank: int, *, actor: Actor, reason: str = "") -> gpd.GeoDataFrame:
    """Move one entry to ``rank`` (1 = top); the entries in between shift by one."""
    access.require(actor, "shortlist.order")
    ws.require_writable()
    with ws.transaction(actor, "shortlist.order", target=entry_id) as tx:
        current = _current(tx)
        i = int(_find(current, [entry_id])[0])
        rank = _check_rank(rank, len(current))
        order = list(current["entry_id"])
        order.insert(rank - 1, order.pop(i))
        _apply_order(tx, current, order, actor, reason)
    return load(ws)


def reorder(ws, order: Sequence[str], *, actor: Actor, reason: str = "") -> gpd.GeoDataFrame:
    """Set the whole order: ``order`` lists every entry id once, top first."""
    access.require(actor, "shortlist.order")
    ws.require_writable()
    with ws.transaction(actor, "shortlist.order", target="(whole list)") as tx:
        current = _current(tx)
        order = list(order)
        have, given = set(current["entry_id"]), set(order)
        problems = []
        if len(order) != len(given):
            problems.append(f"repeated entries: {sorted({e for e in order if order.count(e) > 1})[:10]}")
        if given - have:
            problems.append(f"not on the shortlist: {sorted(given - have)[:10]}")
        if have - given:
            problems.append(f"missing from the order: {sorted(have - given)[:10]}")
        if problems:
            raise _err("The order must list every shortlist entry exactly once: " + "; ".join(problems),
                       "排序必须恰好包含清单中的每一项:" + ";".join(problems), details=problems)
        _apply_order(tx, current, order, actor, reason)
    return load(ws)


def _apply_order(tx, current: gpd.GeoDataFrame, order: list[str], actor: Actor, reason: str) -> None:
    new_rank = pd.Series(np.arange(1, len(order) + 1), index=order)
    change = _Change(actor.username, now_utc())
    target = current["entry_id"].map(new_rank).astype("Int64")
    moved = (target != current["rank"]).to_numpy(dtype=bool)
    if not moved.any():
        return
    for row, r in zip(_records(current[moved]), target[moved]):
        change.record("reorder", row, "rank", row["rank"], r, reason)
    changed = current.loc[moved, ["entry_id"]].assign(rank=target[moved].astype("int64"))
    _write_ranks(tx, changed)
    _finish(tx, change, f"调整排序:{int(moved.sum())} 项" + (f"(原因:{reason})" if reason else ""))
