"""What every page shares: the language switch, the workspace location and its cached, read-only layers.

The workspace is ``$PLANNER_WORKSPACE`` (a ``.gpkg`` path or a PostgreSQL DSN) or the bundled
Ruian sample.  Pages read it through :func:`display_layer` (an EPSG:4326 display copy, cached
by ``st.cache_resource`` on the workspace's location + the layer's version stamp, so a change
to one layer makes a new key for that layer only).  Cached frames are shared between
sessions: never mutate them.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import pandas as pd
import streamlit as st

from geo.web import display_copy
from layers.store import WorkspaceBase as Workspace, open_workspace as _open_store
from ui.i18n import DEFAULT_LANG, LANGS
from ui.mapview import display_columns, tooltip_frame

__all__ = [
    "plain",
    "show_error",
    "ROOT",
    "DEFAULT_WORKSPACE",
    "language_switch",
    "current_lang",
    "workspace_location",
    "open_workspace",
    "map_layers",
    "display_layer",
    "display_tips",
    "layer_stamp",
    "tianditu_key",
]

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_WORKSPACE = ROOT / "data" / "ruian" / "ruian.gpkg"
_LANG_NAMES = {"zh": "中文", "en": "English"}
# Display copies (geo.web.display_copy): simplify by 0.5 m in the working CRS, round degrees to 6 decimals (≈0.1 m).
_TOLERANCE_M = 0.5
_DECIMALS = 6


def language_switch() -> str:
    """Sidebar radio 中文 / English (session key ``lang``); returns the chosen language."""
    st.sidebar.radio(
        "语言 / Language", LANGS, key="lang", horizontal=True,
        format_func=_LANG_NAMES.__getitem__, index=LANGS.index(DEFAULT_LANG),
    )
    return current_lang()


def current_lang() -> str:
    lang = st.session_state.get("lang", DEFAULT_LANG)
    return lang if lang in LANGS else DEFAULT_LANG


def workspace_location() -> str:
    """The workspace: ``$PLANNER_WORKSPACE`` (a ``.gpkg`` path or a PostgreSQL DSN) or the bundled sample."""
    given = os.environ.get("PLANNER_WORKSPACE")
    if given and (given.startswith(("postgresql:", "postgres:")) or "dbname=" in given):
        return given
    return str(Path(given or DEFAULT_WORKSPACE).expanduser().resolve())


def open_workspace(location: str | None = None, *, readonly: bool = True) -> Workspace:
    """The app's workspace (read-only unless asked), by location."""
    return _open_store(location or workspace_location(), readonly=readonly)


def map_layers(ws: Workspace) -> list[str]:
    """Spatial layers of the workspace (core layers first), i.e. what the map can draw."""
    meta = ws.metadata()
    spatial = set(meta.loc[meta["crs"].astype(str) != "", "layer"])
    return [n for n in ws.layers() if n in spatial]


@st.cache_data(show_spinner=False, max_entries=8)
def _layer_stamps(location: str, version: tuple) -> dict[str, tuple]:
    meta = _open_store(location).metadata()
    return {str(r.layer): (int(r.version or 0), str(r.changed_at), int(r.row_count or 0)) for r in meta.itertuples()}


def layer_stamp(ws: Workspace, name: str) -> tuple:
    """A cache key for one layer: its version number and change time from the workspace metadata.

    Finer than ``ws.version`` (bumped by every write): a shortlist click does not change the
    plots layer, so cached plots survive it.  The metadata table is read once per workspace
    version.  A name without a metadata row (a bookkeeping table: runs, shortlist…) falls back
    to ``ws.version``.
    """
    version = tuple(ws.version)
    return _layer_stamps(ws.location, version).get(name) or ("version",) + version


@st.cache_resource(show_spinner=False, max_entries=32)
def _cached_display_layer(location: str, version: tuple, name: str) -> gpd.GeoDataFrame:
    ws = _open_store(location)
    cols = display_columns(name)
    if cols is not None:
        present = set(ws.columns(name))  # schema only: read no rows
        cols = [c for c in cols if c in present]
    return display_copy(ws.read(name, columns=cols), tolerance_m=_TOLERANCE_M, decimals=_DECIMALS, name=name)


def display_layer(ws: Workspace, name: str) -> gpd.GeoDataFrame:
    """Cached EPSG:4326 display copy of layer ``name`` (read-only: never mutate it)."""
    from ui.scope import visible

    return visible(_cached_display_layer(ws.location, layer_stamp(ws, name), name))


@st.cache_resource(show_spinner=False, max_entries=64)
def _cached_display_tips(location: str, version: tuple, name: str, lang: str,
                         township_names: tuple[tuple[str, str], ...]) -> pd.DataFrame:
    return tooltip_frame(name, _cached_display_layer(location, version, name), lang=lang,
                         township_names=dict(township_names))


def display_tips(ws: Workspace, name: str, lang: str, township_names: Mapping[str, str]) -> pd.DataFrame:
    """The map's tooltips of every feature of :func:`display_layer` ``name`` (``ui.mapview.tooltip_frame``),
    cached with it: a rerun of the map takes its rows instead of formatting a layer's values again.
    Unscoped (on the whole layer's index): take the rows drawn.  Read-only."""
    return _cached_display_tips(ws.location, layer_stamp(ws, name), name, lang, tuple(sorted(township_names.items())))


def tianditu_key() -> str | None:
    """The Tianditu ``tk`` from ``$TIANDITU_KEY`` or ``st.secrets["TIANDITU_KEY"]`` (None if neither)."""
    key = os.environ.get("TIANDITU_KEY")
    if key:
        return key
    try:
        return st.secrets.get("TIANDITU_KEY") or None
    except Exception:  # no secrets.toml at all: Streamlit raises its own not-found error
        return None


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def plain(text) -> str:
    """Escape Markdown (and the HTML Markdown allows) in untrusted text, so it shows as typed.

    ``st.error``/``st.info`` render Markdown: a firm or file name like ``![x](http://…)`` would
    otherwise make the browser fetch an image.
    """
    return _MD_SPECIAL.sub(r"\\\1", str(text)).replace("\n", "  \n")


def show_error(exc: BaseException, lang: str, *, where=None) -> None:
    """An error box in the user's language: what went wrong and what to do (never a traceback)."""
    import pandas as pd

    from geo.errors import PlannerError
    from ui.i18n import t

    box = where if where is not None else st
    if isinstance(exc, PlannerError):
        box.error(plain(exc.localized(lang)))
        if exc.details and len(exc.details) > 1:
            with st.expander(t("pg_error_details", lang)):
                st.write(pd.DataFrame({"": [str(d) for d in exc.details]}))
    else:
        box.error(t("pg_unexpected_error", lang, kind=type(exc).__name__, msg=plain(str(exc)[:300])))
