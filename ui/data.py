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
import pandas as pd
import streamlit as st

from analysis import pipeline
from analysis._common import combine_parks
from analysis.membership import plot_parks
from analysis.params import LOW_EFFICIENCY_RULES, list_presets
from geo.units import m2_to_mu
from geo.web import display_copy
from layers import shortlist
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
def _main_class(per_mu: pd.DataFrame) -> pd.Series:
    """Final class of the evaluated firm holding the most land on each plot (Series by plot_id)."""
    need = {"plot_id", "status", "final_class", "land_m2"}
    if per_mu is None or not need <= set(per_mu.columns):
        return pd.Series(dtype="string")
    ev = per_mu.loc[(per_mu["status"] == "evaluated") & per_mu["plot_id"].notna(), ["plot_id", "final_class", "land_m2"]]
    ev = ev.sort_values("land_m2", ascending=False, kind="stable").drop_duplicates("plot_id")
    return ev.set_index("plot_id")["final_class"].astype("string")


@st.cache_resource(show_spinner=False, max_entries=4)
def _plot_view(path: str, plots_stamp: tuple, names_stamp: tuple, run_id: str | None,
               run_stamp: tuple | None) -> gpd.GeoDataFrame:
    ws = _open(path)
    plots = ws.read("plots")
    view = display_copy(plots, tolerance_m=_TOLERANCE_M, decimals=_DECIMALS, name="plots")
    if "area_mu" not in view.columns and "area_m2" in view.columns:
        view["area_mu"] = m2_to_mu(pd.to_numeric(view["area_m2"], errors="coerce").astype(float))
    tn, pn = township_names(ws), park_names(ws)
    if "township_code" in view.columns:
        view["township_name"] = view["township_code"].astype("object").map(tn).astype("string")
    # each plot's park by the one rule of analysis.membership: the park_id attribute, else the outlines
    parks = combine_parks(*(ws.read(n) if ws.has_layer(n) else None for n in ("industrial_parks", "micro_parks")))
    view["park_id"] = plot_parks(plots, parks).to_numpy()
    view["park_name"] = view["park_id"].astype("object").map(pn).astype("string")
    if run_id is not None:
        run = _load_run(path, run_id, run_stamp)
        res = run.get("plots")
        if res is not None and "plot_id" in res.columns:
            res = pd.DataFrame(res.drop(columns=[res.geometry.name] if isinstance(res, gpd.GeoDataFrame) else []))
            extra = [c for c in res.columns if c not in view.columns]
            res = res.drop_duplicates("plot_id").set_index("plot_id")[extra]
            joined = res.reindex(view["plot_id"].astype(str).to_numpy())
            joined.index = view.index
            view = pd.concat([view, joined], axis=1)
            view = gpd.GeoDataFrame(view, geometry=plots.geometry.name, crs=4326)
        cls = _main_class(run.get("per_mu"))
        view["final_class"] = view["plot_id"].astype("object").map(cls).astype("string")
    view.attrs["run_id"] = run_id
    return view


def plot_view(ws: Workspace, run_id: str | None = "latest", *, scoped: bool = True) -> gpd.GeoDataFrame:
    """Plots joined with run ``run_id``'s per-plot results (module docstring lists the columns).

    Parameters
    ----------
    ws : Workspace
    run_id : str or None
        A stored run id, ``"latest"`` (default: the newest run, or none if there is no run)
        or None (plot attributes only).

    Returns
    -------
    GeoDataFrame
        EPSG:4326 display geometry, the plots layer's index; ``view.attrs["run_id"]`` is the
        run joined (None if none).  Cached and shared: never mutate it.
    """
    if run_id == "latest":
        run_id = latest_run_id(ws)
    run_stamp = layer_stamp(ws, f"run_{run_id}_plots") if run_id else None
    names_stamp = tuple(layer_stamp(ws, n) if ws.has_layer(n) else None
                        for n in ("townships", "industrial_parks", "micro_parks"))
    from ui.scope import visible

    view = _plot_view(ws.location, layer_stamp(ws, "plots"), names_stamp, run_id, run_stamp)
    return visible(view) if scoped else view  # (inside shared caches: never the session's scope)


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
    """The firms registered on plot ``plot_id`` (land holder first), with their 亩均 class when a run exists."""
    ents = enterprises(ws)
    if "plot_id" not in ents.columns:
        return ents.iloc[:0]
    firms = pd.DataFrame(ents.loc[ents["plot_id"].astype("object") == plot_id])
    firms = firms.drop(columns=[c for c in firms.columns if c == "geometry"])
    if run_id:
        ev = load_run(ws, run_id).get("per_mu")
        if ev is not None and {"credit_code", "final_class"} <= set(ev.columns):
            cls = dict(zip(ev["credit_code"].astype(str), ev["final_class"]))
            firms["final_class"] = firms["credit_code"].astype(str).map(cls)
    if "is_land_holder" in firms.columns:
        firms = firms.sort_values("is_land_holder", ascending=False, kind="stable")
    return firms


def add_plots_to_shortlist(ws: Workspace, plot_ids: list[str], *, actor, view: pd.DataFrame,
                           source: str = "map") -> tuple[list[str], list[str]]:
    """Add plots to the shortlist with their explanation; returns (added ids, ids already listed).

    The geometry comes from the plots layer in the working CRS; the reasons (``reasons_zh``),
    the score (``suitability``) and the class (``final_class``) come from ``view``, so the
    township pack says why each plot was listed.  Raises ``ShortlistError`` (``message_zh``)
    on bad input; nothing is written then.
    """
    ids = list(dict.fromkeys(str(i) for i in plot_ids))
    plots = read_layer(ws, "plots")
    items = plots.loc[plots["plot_id"].astype(str).isin(ids)].copy()
    explain = [c for c in ("reasons_zh", "suitability", "final_class") if c in view.columns]
    if explain:
        extra = pd.DataFrame(view.loc[view["plot_id"].astype(str).isin(ids), ["plot_id", *explain]])
        items = items.merge(extra.drop_duplicates("plot_id"), on="plot_id", how="left")
        items = gpd.GeoDataFrame(items, geometry=plots.geometry.name, crs=plots.crs)
    wws = _open_store(ws.location, readonly=False)
    before = set(shortlist.load(wws)["entry_id"])
    dup = [i for i in ids if shortlist.entry_id_for("plot", i) in before]
    shortlist.add(wws, items, kind="plot", actor=actor, on_duplicate="skip", source=source)
    return [i for i in ids if i not in dup and i in set(items["plot_id"].astype(str))], dup
