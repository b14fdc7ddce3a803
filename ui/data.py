"""Cached, read-only data shared by every page: layers, the latest analysis run, the per-plot view.

Every loader here is cached by hashable ids only — the workspace path, a *layer stamp* and a
run id — never by a frame.  A layer stamp (:func:`layer_stamp`) is the layer's own
``(imported_at, row_count, source)`` from the workspace metadata, not the whole file's
``ws.version``: adding an item to the shortlist rewrites the GeoPackage but leaves the stamp of
``plots`` unchanged, so the 100k-plot view is not rebuilt after each click.  A run's layers
(``run_<id>_*``) are written once under a unique id, so the run id plus the stamp of its
``run_<id>_plots`` layer identify it.

Cached objects are shared between sessions and reruns: **never mutate them** (copy first).

The per-plot *view* (:func:`plot_view`) is what pages filter, tabulate and map:

- every attribute of the ``plots`` layer (working-CRS areas in m², see ``area_mu`` for 亩);
- ``township_name``; ``park_id`` and ``park_name`` — the plot's park by :mod:`analysis.membership`
  (its ``park_id`` attribute, else the park outline containing it), so plots imported without a
  park id still show and filter by park;
- from the run (``analysis.pipeline``, ``run_<id>_plots``): 亩均税收 ``tax_per_mu`` (万元/亩),
  the low-efficiency flags ``rule_<name>`` with ``n_rules``, ``is_low_efficiency`` and the
  readable ``reasons_zh`` / ``reasons_en``; the suitability score ``suitability`` (0–100)
  with its parts ``crit_<name>`` (points), ``restricted``/``restricted_by``; the suggested
  mode ``mode`` / ``mode_key`` with ``mode_rule_zh`` / ``mode_rule_en``; ``cluster_id``;
  the firms' 亩均 figures ``pm_*``;
- ``final_class``: the 亩均 class (A–D) of the plot's main evaluated firm — the evaluated firm
  holding the most land on the plot (the land holder, whose unit absorbs merged tenants);
  missing when no firm on the plot was evaluated;
- geometry: the EPSG:4326 display copy (``geo.web.display_copy``, 0.5 m, 6 decimals), which
  is what the map draws and what a click is looked up against.

Without a run, the view holds the plot attributes only (``has_results`` is False) and
:func:`run_pipeline` offers to make one.
"""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import streamlit as st

from analysis import pipeline
from analysis._common import combine_parks
from analysis.membership import plot_parks
from analysis.params import LOW_EFFICIENCY_RULES, list_presets
from geo.units import m2_to_mu
from geo.web import display_copy
from layers import shortlist, tiles
from layers.runs import layer_name
from layers.store import WorkspaceBase as Workspace, open_workspace as _open_store
from ui.i18n import t
from ui.shell import layer_stamp

__all__ = [
    "RESULT_COLUMNS",
    "RULES",
    "CLASSES",
    "layer_stamp",
    "read_layer",
    "latest_run_id",
    "run_ids",
    "load_run",
    "plot_view",
    "MAP_COLUMNS",
    "plot_tiles",
    "plot_tiles_stale",
    "tile_set",
    "tile_index",
    "store_tiles",
    "plot_index",
    "with_geometry",
    "plot_shapes",
    "read_in_box",
    "plot_rows",
    "has_results",
    "township_names",
    "park_names",
    "enterprises",
    "presets",
    "run_pipeline",
    "run_chain_stored",
    "cluster_note",
    "run_offer",
    "run_parameters",
    "firms_on",
    "firm_directory",
    "add_plots_to_shortlist",
    "reasons_column",
    "mode_rule_column",
]

# Low-efficiency rules as stored by analysis.low_efficiency (``rule_<name>`` columns), in display order.
RULES = LOW_EFFICIENCY_RULES
CLASSES = ("A", "B", "C", "D")
# Per-plot result columns the view takes from run_<id>_plots (those present are joined; the rest of
# that layer's columns — distances, constraint shares, pm_* — come along too, see plot_view).
RESULT_COLUMNS = (
    "tax_per_mu", "n_rules", "is_low_efficiency", "is_idle_land", "reasons_zh", "reasons_en", "suitability",
    "suitability_status",
    "restricted", "restricted_by", "missing_criteria", "mode", "mode_key", "mode_rule_zh", "mode_rule_en",
    "cluster_id", "candidate",
)
# Display copies: 0.5 m Douglas–Peucker in the working CRS, 6 decimals of a degree (≈ 0.1 m).
_TOLERANCE_M = 0.5
_DECIMALS = 6


# --- layers ----------------------------------------------------------------------------------
def _open(path: str) -> Workspace:
    return _open_store(path)


@st.cache_resource(show_spinner=False, max_entries=16)
def _read_layer(path: str, name: str, stamp: tuple) -> pd.DataFrame:
    return _open(path).read(name)


def read_layer(ws: Workspace, name: str, *, scoped: bool = True) -> pd.DataFrame:
    """Layer or table ``name`` in the working CRS, cached by (path, name, layer stamp). Read-only."""
    from ui.scope import visible

    frame = _read_layer(ws.location, name, layer_stamp(ws, name))
    return visible(frame) if scoped else frame  # (inside shared caches: never the session's scope)


def enterprises(ws: Workspace) -> pd.DataFrame:
    """The ``enterprises`` layer (working CRS), cached; empty frame if the workspace has none."""
    if not ws.has_layer("enterprises"):
        return pd.DataFrame(columns=["credit_code", "name", "plot_id"])
    return read_layer(ws, "enterprises")


@st.cache_data(show_spinner=False, max_entries=8)
def _names(path: str, name: str, stamp: tuple, key: str) -> dict[str, str]:
    df = _open(path).read(name, columns=[key, "name"])
    return dict(zip(df[key].astype(str), df["name"].astype(str)))


def township_names(ws: Workspace) -> dict[str, str]:
    """``{township code: name}`` (empty without a townships layer)."""
    if not ws.has_layer("townships"):
        return {}
    return _names(ws.location, "townships", layer_stamp(ws, "townships"), "code")


def park_names(ws: Workspace) -> dict[str, str]:
    """``{park_id: name}`` over industrial parks and micro-parks."""
    out: dict[str, str] = {}
    for name in ("industrial_parks", "micro_parks"):
        if ws.has_layer(name):
            out.update(_names(ws.location, name, layer_stamp(ws, name), "park_id"))
    return out


# --- runs ------------------------------------------------------------------------------------
@st.cache_data(show_spinner=False, max_entries=8)
def _run_ids(path: str, stamp: tuple) -> list[str]:
    runs = pipeline.list_runs(_open(path), kind="chain")
    if not len(runs):
        return []
    # newest first by creation time (ISO 8601 with offset sorts as text within one offset; ties by id)
    runs = runs.sort_values(["created", "run_id"], ascending=False)
    return runs["run_id"].astype(str).tolist()


def run_ids(ws: Workspace) -> list[str]:
    """Stored run ids, newest first (empty list when no run was stored)."""
    if not ws.has_layer("runs"):
        return []
    return _run_ids(ws.location, layer_stamp(ws, "runs"))


def latest_run_id(ws: Workspace) -> str | None:
    """The newest stored run id, or None."""
    ids = run_ids(ws)
    return ids[0] if ids else None


@st.cache_resource(show_spinner=False, max_entries=4)
def _load_run(path: str, run_id: str, stamp: tuple) -> dict[str, pd.DataFrame]:
    return pipeline.load_run(_open(path), run_id)


def load_run(ws: Workspace, run_id: str) -> dict[str, pd.DataFrame]:
    """Every stored frame of run ``run_id`` by kind (``analysis.pipeline.load_run``), cached. Read-only."""
    from ui.scope import visible_all

    return visible_all(_load_run(ws.location, run_id, layer_stamp(ws, f"run_{run_id}_plots")))


# --- the per-plot view ---------------------------------------------------------------------------
# What the map page needs of each plot (filters, colourings, tooltips, the selection table): a view with only
# these columns costs tens of MB at a million plots, the whole run's hundred columns a few GB.
MAP_COLUMNS = (
    "plot_id", "township_code", "township_name", "park_id", "park_name", "land_use", "status", "area_m2",
    "area_mu", "far", "final_class", "tax_per_mu", "is_low_efficiency", "suitability", "mode_key", "candidate",
    "restricted", *(f"rule_{r}" for r in LOW_EFFICIENCY_RULES),
)
# Text columns of few distinct values, kept as categories (one byte per plot instead of a string).
_CATEGORIES = ("township_code", "township_name", "park_id", "park_name", "land_use", "status", "final_class",
               "mode", "mode_key", "suitability_status", "restricted_by")


def _main_class(per_mu: pd.DataFrame) -> pd.Series:
    """Final class of the evaluated firm holding the most land on each plot (Series by plot_id)."""
    need = {"plot_id", "status", "final_class", "land_m2"}
    if per_mu is None or not need <= set(per_mu.columns):
        return pd.Series(dtype="string")
    ev = per_mu.loc[(per_mu["status"] == "evaluated") & per_mu["plot_id"].notna(), ["plot_id", "final_class", "land_m2"]]
    ev = ev.sort_values("land_m2", ascending=False, kind="stable").drop_duplicates("plot_id")
    return ev.set_index("plot_id")["final_class"].astype("string")


def _wanted(ws: Workspace, name: str, wanted: tuple[str, ...] | None, keep: tuple[str, ...] = ()) -> list[str] | None:
    """The columns of layer ``name`` to read: ``wanted`` that exist plus ``keep``, or None for all."""
    if wanted is None:
        return None
    present = ws.columns(name)
    return [c for c in dict.fromkeys((*keep, *wanted)) if c in present]


@st.cache_resource(show_spinner=False, max_entries=4)
def _plot_index(path: str, plots_stamp: tuple, tiles_stamp: str) -> pd.DataFrame:
    ws = _open(path)
    idx = tiles.index(ws, "plots")
    n = int(ws.metadata("plots").get("row_count") or 0)
    rows = idx["row"].to_numpy()
    tile_id = np.full(n, -1, dtype=np.int32)
    tile_id[rows] = np.arange(len(idx), dtype=np.int32)
    out = {"tile_id": tile_id}
    for c in _PLACE:
        out[c] = np.full(n, np.nan)
        out[c][rows] = idx[c].to_numpy(dtype=float)
    return pd.DataFrame(out)


_PLACE = ("west", "south", "east", "north", "x", "y")


def plot_tiles(ws: Workspace) -> tiles.TileSetInfo:
    """The current vector-tile set of the plots (:mod:`layers.tiles`), built first when missing or stale."""
    return tile_set(ws, "plots")


def tile_set(ws: Workspace, layer: str) -> tiles.TileSetInfo:
    """The current vector-tile set of ``layer`` (one of ``layers.tiles.TILED_LAYERS``), built first when missing
    or stale (normally it was built when the layer was stored: :func:`store_tiles`)."""
    return _tile_set(ws.location, layer, layer_stamp(ws, layer))


@st.cache_resource(show_spinner=False, max_entries=8)
def _tile_set(path: str, layer: str, stamp: tuple) -> tiles.TileSetInfo:
    return tiles.ensure(_open(path), layer)


def tile_index(ws: Workspace, layer: str) -> pd.DataFrame:
    """The index of ``layer``'s tile set (``layers.tiles.index``: a row per feature id — key, group, box in
    degrees, point in the working CRS), cached per set; never scoped (callers filter by ``group``)."""
    info = tile_set(ws, layer)
    return _tile_index(ws.location, layer, info.stamp)


@st.cache_resource(show_spinner=False, max_entries=4)
def _tile_index(path: str, layer: str, tiles_stamp: str) -> pd.DataFrame:
    idx = tiles.index(_open(path), layer)
    # compact: a million keys as Python strings would cost ~100 MB of the server's memory
    return idx.astype({"key": "string[pyarrow]", "group": "category"})


def store_tiles(location: str, layers: list[str] | None, lang: str) -> list[tuple[str, str]]:
    """Build the map's vector tiles of the layers just stored (:func:`layers.tiles.refresh`) under a spinner.

    Call it after the write has committed.  Returns what to tell the planner: ``("success", text)``
    per set built, ``("warning", text)`` per build that failed — the data stays stored and the map
    builds the set when it is first opened.
    """
    from ui.i18n import layer_label

    wanted = [n for n in (layers if layers is not None else tiles.TILED_LAYERS) if n in tiles.TILED_LAYERS]
    if not wanted:
        return []
    with st.spinner(t("tiles_storing", lang, layers="、".join(layer_label(n, lang) for n in wanted))):
        done = tiles.refresh(_open(location), wanted)
    out = [("success", t("tiles_stored", lang, layer=layer_label(n, lang), n=i.count, s=i.build_s))
           for n, i in done.built.items()]
    out += [("warning", t("tiles_store_failed", lang, layer=layer_label(n, lang), why=exc.localized(lang)))
            for n, exc in done.failed.items()]
    return out


def plot_tiles_stale(ws: Workspace) -> bool:
    """True when the plots' tile set is missing or older than the plots layer (the next :func:`plot_tiles` builds)."""
    found = tiles.info(ws, "plots")
    return found is None or found.stamp != tiles.layer_stamp(ws, "plots")


def plot_index(ws: Workspace) -> pd.DataFrame:
    """Where each plot is, without its geometry: on the plots layer's index (as :func:`plot_view`),
    ``tile_id`` (the plot's feature id in the vector tiles, −1 for an empty geometry), its box in
    degrees ``west``/``south``/``east``/``north`` and its representative point ``x``/``y`` in the working CRS."""
    info = plot_tiles(ws)
    return _plot_index(ws.location, layer_stamp(ws, "plots"), info.stamp)


def _memberships(ws: Workspace, plots: pd.DataFrame, places: pd.DataFrame) -> pd.Series:
    """Each plot's park by :mod:`analysis.membership`, its geometry stood in for by its representative point
    (what the rule tests against the park outlines): no plot geometry is read."""
    parks = combine_parks(*(ws.read(n) if ws.has_layer(n) else None for n in ("industrial_parks", "micro_parks")))
    pts = gpd.GeoDataFrame(plots[["park_id"]] if "park_id" in plots.columns else pd.DataFrame(index=plots.index),
                           geometry=gpd.points_from_xy(places["x"], places["y"]), crs=ws.crs)
    return plot_parks(pts, parks)


def _by_plot(frame: pd.DataFrame, plot_ids: pd.Series) -> pd.DataFrame:
    """``frame`` (with a ``plot_id`` column) lined up with ``plot_ids``: one row each, in that order."""
    ids = plot_ids.astype(str).to_numpy()
    keys = frame["plot_id"].astype(str).to_numpy()
    if len(keys) == len(ids) and (keys == ids).all():  # a run's plots come in the plots' order: no look-up
        return frame.drop(columns="plot_id").set_axis(plot_ids.index)
    frame = frame.drop_duplicates("plot_id").set_index("plot_id")
    return frame.reindex(ids).set_axis(plot_ids.index)


def _as_category(values: pd.Series) -> pd.Series:
    return values if isinstance(values.dtype, pd.CategoricalDtype) else values.astype("category")


@st.cache_resource(show_spinner=False, max_entries=4)
def _plot_view(path: str, plots_stamp: tuple, names_stamp: tuple, run_id: str | None,
               run_stamp: tuple | None, columns: tuple[str, ...] | None) -> pd.DataFrame:
    ws = _open(path)
    run_plots, per_mu = (layer_name("chain", run_id, p) for p in ("plots", "per_mu")) if run_id else (None, None)
    wanted = {"plots": _wanted(ws, "plots", columns, keep=("plot_id", "park_id", "area_m2", "township_code"))}
    if run_plots and ws.has_layer(run_plots):
        wanted[run_plots] = _wanted(ws, run_plots, columns, keep=("plot_id", "park_id"))
    need = ["plot_id", "status", "final_class", "land_m2"]
    if per_mu and (columns is None or "final_class" in columns) and ws.has_layer(per_mu) \
            and set(need) <= set(ws.columns(per_mu)):
        wanted[per_mu] = need
    frames = tiles.read_many_columns(ws, wanted)  # one child process for a big workspace
    view = frames["plots"]
    if "area_mu" not in view.columns and "area_m2" in view.columns:
        view["area_mu"] = m2_to_mu(pd.to_numeric(view["area_m2"], errors="coerce").astype(float))
    res = frames.get(run_plots) if run_plots else None
    res = _by_plot(res, view["plot_id"]) if res is not None and "plot_id" in res.columns else None
    # each plot's park by the one rule of analysis.membership (the park_id attribute, else the outlines):
    # as the run found it, or found now from the plots' representative points
    view["park_id"] = res.pop("park_id").astype("string") if res is not None and "park_id" in res.columns \
        else _memberships(ws, view, plot_index(ws)).to_numpy()
    for code, name, names in (("township_code", "township_name", township_names(ws)),
                              ("park_id", "park_name", park_names(ws))):
        if code in view.columns:
            view[code] = _as_category(view[code])
            view[name] = view[code].map(names).astype("category")  # categories only: a few dozen look-ups
    if res is not None:
        view = pd.concat([view, res[[c for c in res.columns if c not in view.columns]]], axis=1)
    if per_mu in frames:
        view["final_class"] = view["plot_id"].astype("object").map(_main_class(frames[per_mu])).astype("category")
    elif run_id is not None and (columns is None or "final_class" in columns):
        view["final_class"] = pd.Series(pd.NA, index=view.index, dtype="string").astype("category")
    for c in _CATEGORIES:
        if c in view.columns:
            view[c] = _as_category(view[c])
    view.attrs["run_id"] = run_id
    return view


def plot_view(ws: Workspace, run_id: str | None = "latest", *, scoped: bool = True,
              columns: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Plots joined with run ``run_id``'s per-plot results: attributes only (module docstring lists the columns).

    Parameters
    ----------
    ws : Workspace
    run_id : str or None
        A stored run id, ``"latest"`` (default: the newest run, or none if there is no run)
        or None (plot attributes only).
    columns : tuple of str, optional
        Only these columns (those that exist; ``plot_id`` always): :data:`MAP_COLUMNS` is what the map
        needs.  Default: every column of the plots layer and the run.

    Returns
    -------
    DataFrame
        No geometry (:func:`with_geometry` adds it to a few rows; :func:`plot_index` says where each
        plot is), the plots layer's index; ``view.attrs["run_id"]`` is the run joined (None if none).
        Cached and shared: never mutate it.
    """
    if run_id == "latest":
        run_id = latest_run_id(ws)
    run_stamp = layer_stamp(ws, f"run_{run_id}_plots") if run_id else None
    names_stamp = tuple(layer_stamp(ws, n) if ws.has_layer(n) else None
                        for n in ("townships", "industrial_parks", "micro_parks"))
    from ui.scope import visible

    view = _plot_view(ws.location, layer_stamp(ws, "plots"), names_stamp, run_id, run_stamp,
                      tuple(columns) if columns is not None else None)
    return visible(view) if scoped else view  # (inside shared caches: never the session's scope)


def with_geometry(ws: Workspace, rows: pd.DataFrame) -> gpd.GeoDataFrame:
    """``rows`` of a plot view with their display geometry (EPSG:4326, ``geo.web.display_copy``), read from the
    store by the rows' boxes (its spatial index) — for a page map of some plots, never for all of them."""
    if not len(rows):
        return gpd.GeoDataFrame(rows.copy(), geometry=gpd.GeoSeries([], index=rows.index, crs=4326), crs=4326)
    shapes = plot_shapes(ws, rows["plot_id"].astype(str).tolist(), boxes=plot_index(ws).loc[rows.index])
    geom = rows["plot_id"].astype(str).map(shapes[~shapes.index.duplicated()]) if len(shapes) else None
    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry=gpd.GeoSeries(
        geom.to_numpy() if geom is not None else [None] * len(rows), index=rows.index, crs=4326), crs=4326)


def plot_shapes(ws: Workspace, plot_ids, *, boxes: pd.DataFrame | None = None) -> gpd.GeoSeries:
    """Display geometries (EPSG:4326) of the plots ``plot_ids``, indexed by plot id.

    Read by their bounding box through the store's spatial index when ``boxes`` (rows of
    :func:`plot_index`) are given and close together, else by id.
    """
    ids = list(dict.fromkeys(str(i) for i in plot_ids))
    if not ids:
        return gpd.GeoSeries([], crs=4326)
    frame = None
    if boxes is not None and len(boxes) and boxes["west"].notna().all():
        w, s, e, n = boxes["west"].min(), boxes["south"].min(), boxes["east"].max(), boxes["north"].max()
        if (e - w) * (n - s) < 0.05 ** 2:  # a few km: the box query reads only the neighbourhood
            frame = read_in_box(ws, "plots", (w, s, e, n), columns=["plot_id"])
    if frame is None:
        frame = ws.read("plots", columns=["plot_id"], where_in={"plot_id": ids})
    frame = frame[frame["plot_id"].astype(str).isin(set(ids))]
    shown = display_copy(frame, tolerance_m=_TOLERANCE_M, decimals=_DECIMALS, name="plots")
    return gpd.GeoSeries(shown.geometry.to_numpy(), index=shown["plot_id"].astype(str).to_numpy(), crs=4326)


def plot_rows(ws: Workspace, rows: pd.DataFrame, run_id: str | None) -> pd.DataFrame:
    """Every column of the plot view (plots layer, run results) for ``rows`` of a :data:`MAP_COLUMNS` view.

    The plots and the run's per-plot layer are read for these plots only, by their boxes through
    the store's spatial index (by id when they lie far apart); what the map view holds already
    (park by membership, class of the main firm, names) is taken from ``rows``.
    """
    ids = set(rows["plot_id"].astype(str))
    boxes = plot_index(ws).loc[rows.index]
    out = pd.DataFrame(rows)

    def read(name: str) -> pd.DataFrame:
        w, s, e, n = boxes["west"].min(), boxes["south"].min(), boxes["east"].max(), boxes["north"].max()
        if len(boxes) and np.isfinite([w, s, e, n]).all() and (e - w) * (n - s) < 0.05 ** 2:
            bbox = tuple(gpd.GeoSeries([shapely.box(w, s, e, n)], crs=4326).to_crs(ws.crs).total_bounds)
            got = ws.read(name, bbox=bbox, geometry=False)
        else:
            got = ws.read(name, where_in={"plot_id": sorted(ids)}, geometry=False)
        got = got[got["plot_id"].astype(str).isin(ids)].drop_duplicates("plot_id").set_index("plot_id")
        return got.reindex(out["plot_id"].astype(str).to_numpy())

    layers = ["plots"] + ([layer_name("chain", run_id, "plots")] if run_id else [])
    for name in layers:
        if not ws.has_layer(name):
            continue
        got = read(name)
        extra = [c for c in got.columns if c not in out.columns]
        out = pd.concat([out, got[extra].set_axis(out.index)], axis=1)
    out.attrs["run_id"] = run_id
    return out


def read_in_box(ws: Workspace, name: str, box: tuple[float, float, float, float], *,
                columns: list[str] | None = None) -> gpd.GeoDataFrame:
    """Features of layer ``name`` whose box meets ``box`` (west, south, east, north in degrees), working CRS,
    through the store's spatial index."""
    bbox = gpd.GeoSeries([shapely.box(*box)], crs=4326).to_crs(ws.crs).total_bounds
    present = ws.columns(name)
    return ws.read(name, bbox=tuple(bbox), columns=[c for c in columns if c in present] if columns else None)


def has_results(view: pd.DataFrame) -> bool:
    """True when ``view`` carries a run's per-plot results."""
    return view.attrs.get("run_id") is not None and "is_low_efficiency" in view.columns


def reasons_column(lang: str) -> str:
    """Column of the low-efficiency reasons in ``lang``."""
    return "reasons_en" if lang == "en" else "reasons_zh"


def mode_rule_column(lang: str) -> str:
    """Column of the rule that picked the suggested mode, in ``lang``."""
    return "mode_rule_en" if lang == "en" else "mode_rule_zh"


# --- running the chain ---------------------------------------------------------------------------
def presets() -> list[str]:
    """Analysis presets of ``data/presets`` usable by :func:`run_pipeline` (siting/integration excluded)."""
    return [p for p in list_presets() if not p.startswith(("siting", "integration"))]


def run_pipeline(path: str | Path, preset: str, *, actor, lang: str = "zh", run_id: str | None = None) -> str:
    """Run the analysis chain (``analysis.pipeline.run``) on the workspace at ``path``, with a progress box.

    Opens the workspace writable for the run, stores the results under a new run id and
    returns it; every cache keyed by that run id or the ``runs`` stamp then sees it.
    Errors (``PlannerError``) propagate for the page to show in the user's language.
    """
    where = cluster_note(lang)
    with st.status(t("pg_running", lang) + where, expanded=False) as box:
        ws = _open_store(str(path), readonly=False)
        new_id, result = run_chain_stored(ws, preset, run_id=run_id, actor=actor)
        tiles.refresh(ws, ["plots"])  # the run's map colours the plots' tiles: made now if missing
        secs = sum(result.timings.values())
        box.update(label=t("pg_run_done", lang, run=new_id, secs=secs) + where, state="complete")
    return new_id


def run_chain_stored(ws: Workspace, preset, *, actor, run_id: str | None = None):
    """Run and store the chain (:func:`analysis.pipeline.run`): in this process, or on the dask cluster
    named by ``PLANNER_SCHEDULER`` (:func:`scale.cluster.run`). Returns ``(run id, RunResult)``."""
    from scale import cluster

    return cluster.run(ws, preset, actor=actor, run_id=run_id)


def cluster_note(lang: str) -> str:
    """" (on the dask cluster at …)" when ``PLANNER_SCHEDULER`` sends runs to a cluster, else ""."""
    from scale import cluster

    address = cluster.scheduler_address()
    return t("pg_on_cluster", lang, address=address) if address else ""



def run_offer(ws: Workspace, lang: str, *, key: str = "data_run") -> str | None:
    """The latest run id; without one, a note with a preset choice and a "run" button.

    Clicking the button runs :func:`run_pipeline` (progress shown) and reruns the page.
    Returns None while no run exists.
    """
    rid = latest_run_id(ws)
    if rid is not None:
        return rid
    st.info(t("data_no_run", lang))
    names = presets()
    cols = st.columns([2, 1])
    preset = cols[0].selectbox(t("data_preset", lang), names, key=f"{key}_preset",
                               index=names.index("ruian_default") if "ruian_default" in names else 0)
    if cols[1].button(t("data_run", lang), key=f"{key}_btn", type="primary"):
        from ui.login import current_actor

        run_pipeline(ws.location, preset, lang=lang, actor=current_actor())
        st.rerun()
    return None


# --- look-ups for the map and the shortlist -------------------------------------------------------
def run_parameters(ws: Workspace, run_id: str | None) -> str | None:
    """The JSON parameters a run was made with (``runs.parameters``), or None."""
    if not run_id or not ws.has_layer("runs"):
        return None
    runs = read_layer(ws, "runs")
    hit = runs.loc[runs["run_id"].astype(str) == run_id, "parameters"]
    return str(hit.iloc[0]) if len(hit) else None


def firms_on(ws: Workspace, plot_id: str, run_id: str | None = None) -> pd.DataFrame:
    """The firms registered on plot ``plot_id`` (land holder first), with their 亩均 class when a run exists.

    Read for this plot only (the enterprises and the run's per-firm layer by id), never the whole layers.
    """
    if not ws.has_layer("enterprises") or "plot_id" not in ws.columns("enterprises"):
        return pd.DataFrame(columns=["credit_code", "name", "plot_id"])
    firms = ws.read("enterprises", where_in={"plot_id": [str(plot_id)]}, geometry=False)
    from ui.scope import visible

    firms = visible(firms)
    per_mu = layer_name("chain", run_id, "per_mu") if run_id else None
    if per_mu and ws.has_layer(per_mu) and {"credit_code", "final_class"} <= set(ws.columns(per_mu)) and len(firms):
        ev = ws.read(per_mu, columns=["credit_code", "final_class"], geometry=False,
                     where_in={"credit_code": firms["credit_code"].astype(str).tolist()})
        cls = dict(zip(ev["credit_code"].astype(str), ev["final_class"]))
        firms["final_class"] = firms["credit_code"].astype(str).map(cls)
    if "is_land_holder" in firms.columns:
        firms = firms.sort_values("is_land_holder", ascending=False, kind="stable")
    return firms


@st.cache_resource(show_spinner=False, max_entries=4)
def _firm_directory(path: str, stamp: tuple) -> pd.DataFrame:
    ws = _open(path)
    present = ws.columns("enterprises")
    cols = [c for c in ("credit_code", "name", "plot_id", "township_code") if c in present]
    firms = tiles.read_columns(ws, "enterprises", cols)
    return firms.astype({c: "string[pyarrow]" for c in cols if c != "township_code"})


def firm_directory(ws: Workspace) -> pd.DataFrame:
    """Credit code, name, plot and township of every firm (no geometry, compact strings): what a search looks in."""
    if not ws.has_layer("enterprises"):
        return pd.DataFrame(columns=["credit_code", "name", "plot_id"])
    from ui.scope import visible

    return visible(_firm_directory(ws.location, layer_stamp(ws, "enterprises")))


def add_plots_to_shortlist(ws: Workspace, plot_ids: list[str], *, actor, view: pd.DataFrame,
                           source: str = "map") -> tuple[list[str], list[str]]:
    """Add plots to the shortlist with their explanation; returns (added ids, ids already listed).

    The geometry comes from the plots layer in the working CRS; the reasons (``reasons_zh``),
    the score (``suitability``) and the class (``final_class``) come from ``view``, so the
    township pack says why each plot was listed.  Raises ``ShortlistError`` (``message_zh``)
    on bad input; nothing is written then.
    """
    ids = list(dict.fromkeys(str(i) for i in plot_ids))
    items = ws.read("plots", where_in={"plot_id": ids})  # these plots only, never the whole layer
    run_id = view.attrs.get("run_id")
    explain = pd.DataFrame(view.loc[view["plot_id"].astype(str).isin(ids)]).drop_duplicates("plot_id")
    missing = [c for c in ("reasons_zh", "suitability") if c not in explain.columns]
    run_plots = layer_name("chain", run_id, "plots") if run_id else None
    if missing and run_plots and ws.has_layer(run_plots):
        present = ws.columns(run_plots)
        got = ws.read(run_plots, columns=["plot_id", *[c for c in missing if c in present]], geometry=False,
                      where_in={"plot_id": ids})
        explain = explain.merge(got.drop_duplicates("plot_id"), on="plot_id", how="left")
    cols = [c for c in ("reasons_zh", "suitability", "final_class") if c in explain.columns]
    if cols:
        extra = pd.DataFrame({c: explain[c].astype(object) if isinstance(explain[c].dtype, pd.CategoricalDtype)
                              else explain[c] for c in ["plot_id", *cols]})
        items = gpd.GeoDataFrame(items.merge(extra, on="plot_id", how="left"), geometry=items.geometry.name,
                                 crs=items.crs)
    wws = _open_store(ws.location, readonly=False)
    before = set(shortlist.load(wws)["entry_id"])
    dup = [i for i in ids if shortlist.entry_id_for("plot", i) in before]
    shortlist.add(wws, items, kind="plot", actor=actor, on_duplicate="skip", source=source)
    return [i for i in ids if i not in dup and i in set(items["plot_id"].astype(str))], dup
