"""HTTP routes beside the Streamlit app: the office's local tile package and the raster overlays.

Streamlit serves pages and ``static/`` only; a tile package (an MBTiles file holds its tiles
inside SQLite) and images made from the workspace's rasters need a small endpoint each.
``server.py`` mounts :func:`routes` into the app with ``st.App("app.py", routes=…)``, and
``./run.sh app`` starts ``streamlit run server.py``.  Both routes are read-only and take
no file names from the request: a tile is addressed by three integers, an overlay by the name
of a raster registered in the workspace.  Both answer only a browser signed in to the app (its
``planner_session`` cookie names a live session of an enabled user, :func:`layers.access.session_signed_in`);
anything else gets 403.

- ``GET <base>/_planner/tiles/{z}/{x}/{y}`` — one tile of the package named by the
  ``PLANNER_TILES`` setting (environment variable or ``.streamlit/secrets.toml``): an
  ``.mbtiles`` file or a ``{z}/{x}/{y}`` folder (:mod:`geo.tiles`).  404 when the package
  has no such tile.
- ``GET <base>/_planner/raster/{name}.png`` — raster ``name`` of the workspace coloured by
  :mod:`ui.overlays`.

``<base>`` is Streamlit's ``server.baseUrlPath`` (empty by default); each route is registered
with and without a leading path so it answers under any base.
"""
from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

from geo.errors import PlannerError
from geo.tiles import TileSource, open_tiles
from ui.offline import base_prefix

__all__ = ["ROUTE_PREFIX", "routes", "mounted", "tile_package_path", "tile_source", "route_base_url", "tiles_url",
           "raster_url"]

ROUTE_PREFIX = "_planner"
_MOUNTED = False


def mounted() -> bool:
    """True when this process serves :func:`routes` (the app was started with ``streamlit run server.py``)."""
    return _MOUNTED


def tile_package_path() -> Path | None:
    """The tile package from ``$PLANNER_TILES`` or ``st.secrets["PLANNER_TILES"]`` (None if neither)."""
    value = os.environ.get("PLANNER_TILES")
    if not value:
        try:
            import streamlit as st

            value = st.secrets.get("PLANNER_TILES")
        except Exception:  # no secrets.toml at all: Streamlit raises its own not-found error
            value = None
    return Path(str(value)).expanduser() if value else None


@functools.lru_cache(maxsize=4)
def _open(path: str, mtime_ns: int) -> TileSource:
    return open_tiles(path)


def tile_source() -> TileSource | None:
    """The configured tile package, opened (cached per path and modification time); None when none is set.

    Raises
    ------
    ImportDataError
        The setting names something that is not a usable tile package (the message says why).
    """
    path = tile_package_path()
    if path is None:
        return None
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        mtime = 0
    return _open(str(path), mtime)


def route_base_url(base_url_path: str = "") -> str:
    """URL prefix of the routes for an app served under ``server.baseUrlPath``.

    >>> route_base_url("")
    '/_planner/'
    >>> route_base_url("/planner/")
    '/planner/_planner/'
    """
    return f"{base_prefix(base_url_path)}/{ROUTE_PREFIX}/"


def tiles_url(source: TileSource, base_url_path: str = "") -> str:
    """Leaflet URL template of the tile route; the package's stamp in the query makes browsers refetch a new package."""
    return f"{route_base_url(base_url_path)}tiles/{{z}}/{{x}}/{{y}}?v={_version(source.stamp)}"


def raster_url(name: str, stamp: object, base_url_path: str = "") -> str:
    """URL of the overlay image of raster ``name`` (``stamp`` in the query: a new raster is a new URL)."""
    return f"{route_base_url(base_url_path)}raster/{name}.png?v={_version(stamp)}"


def _version(stamp: object) -> str:
    return hashlib.sha1(repr(stamp).encode()).hexdigest()[:10]


# --- the endpoints ------------------------------------------------------------------------------------
def _signed_in(token) -> bool:
    from layers import access
    from ui.login import MAX_SESSION_S, idle_limit_s
    from ui.shell import open_workspace

    try:
        return access.session_signed_in(open_workspace(), token, idle_s=idle_limit_s(), max_s=MAX_SESSION_S)
    except PlannerError:
        return False


async def _refused(request):
    """A 403 for a request without a live session (None when the browser is signed in)."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import Response

    from ui.login import COOKIE

    if await run_in_threadpool(_signed_in, request.cookies.get(COOKIE)):
        return None
    return Response(status_code=403)


async def _tile(request):
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import Response

    if (refused := await _refused(request)) is not None:
        return refused
    p = request.path_params
    try:
        source = tile_source()
    except PlannerError:
        source = None
    if source is None:
        return Response(status_code=404)
    data = await run_in_threadpool(source.tile, int(p["z"]), int(p["x"]), int(p["y"]))
    if data is None:
        return Response(status_code=404)
    return Response(data, media_type=source.media_type, headers={"Cache-Control": "private, max-age=3600"})


def _raster_png(name: str) -> bytes | None:
    from ui.overlays import overlay_image
    from ui.shell import open_workspace

    path = open_workspace().rasters().get(name)  # the workspace the pages open, read-only
    return None if path is None else overlay_image(path, name).png


async def _raster(request):
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import Response

    if (refused := await _refused(request)) is not None:
        return refused
    try:
        png = await run_in_threadpool(_raster_png, request.path_params["name"])
    except (PlannerError, OSError):
        png = None
    if png is None:
        return Response(status_code=404)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


def routes() -> list:
    """The Starlette routes to pass to ``st.App(routes=…)`` (each with and without a base path)."""
    from starlette.routing import Route

    global _MOUNTED
    _MOUNTED = True
    out = []
    for path, endpoint in ((f"{ROUTE_PREFIX}/tiles/{{z:int}}/{{x:int}}/{{y:int}}", _tile),
                           (f"{ROUTE_PREFIX}/raster/{{name:str}}.png", _raster)):
        out.append(Route(f"/{path}", endpoint, methods=["GET"]))
        out.append(Route(f"/{{base:path}}/{path}", endpoint, methods=["GET"]))
    return out
