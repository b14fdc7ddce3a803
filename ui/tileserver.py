"""HTTP routes beside the Streamlit app: the office's local tile package, the raster overlays and the plots' vector tiles.

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
- ``GET <base>/_planner/vt/{layer}/{stamp}/{z}/{x}/{y}`` — one vector tile of the workspace's tile
  set of ``layer`` (:mod:`layers.tiles`), only while ``stamp`` is the layer's current stamp (a stale
  tile is never served: 404).  A township official gets the tile with their township's layers only.
- ``GET <base>/_planner/vt/{layer}/{stamp}/style?run=…&by=…&f=…`` — the colour of every feature of
  the set under a run, a colouring and the shared filters: one byte per feature id (its class's
  position in ``ui.mapview.STYLE_BY[by]``, 255 = not shown: filtered out or outside the user's scope).
  The firms' set (``enterprises``) is drawn in one colour: code 0 for each firm the user may see.

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
           "raster_url", "vector_tiles_url", "style_url", "style_codes", "plain_codes", "remember_actor", "filters_token",
           "scope_key", "visible_groups", "in_groups", "HIDDEN"]

ROUTE_PREFIX = "_planner"
_MOUNTED = False
HIDDEN = 255  # style code of a feature not drawn
# Session token hash → the signed-in actor, as the pages last saw it (a single sign-on session's role and
# township are known to the page, not to the sessions table); password sessions are also resumed from the table.
_ACTORS: dict[str, object] = {}


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


def vector_tiles_url(layer: str, stamp: str, base_url_path: str = "", scope: str = "") -> str:
    """Template of a tile set's tiles (``{z}/{x}/{y}``); ``scope`` keeps browser caches of two users apart."""
    return f"{route_base_url(base_url_path)}vt/{layer}/{stamp}/{{z}}/{{x}}/{{y}}" + (f"?s={scope}" if scope else "")


def filters_token(filters) -> str:
    """The shared filters (:class:`ui.filters.PlotFilters`) as URL-safe text (:func:`style_url`)."""
    import base64
    import dataclasses
    import json

    text = json.dumps(dataclasses.asdict(filters), separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _filters_from(token: str):
    import base64
    import json

    from ui.filters import PlotFilters

    raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode())
    return PlotFilters(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in raw.items()})


def style_url(layer: str, stamp: str, *, run_id: str | None, style_by: str, filters, base_url_path: str = "",
              scope: str = "") -> str:
    """URL of the per-feature colour codes under a run, a colouring and the shared filters (None: none apply)."""
    from urllib.parse import urlencode

    query = {"run": run_id or "", "by": style_by}
    if filters is not None:
        query["f"] = filters_token(filters)
    if scope:
        query["s"] = scope
    return f"{route_base_url(base_url_path)}vt/{layer}/{stamp}/style?{urlencode(query)}"


def style_codes(ws, *, run_id: str | None, style_by: str, filters, townships: frozenset | None) -> bytes:
    """One byte per feature of the plots' tile set: its colour code under ``style_by``, or :data:`HIDDEN`
    when the filters or the user's townships (``townships``; None = all) leave it out."""
    from ui import data

    return _style_codes(ws.location, data.plot_tiles(ws).stamp, data.latest_run_id(ws) if run_id == "latest" else run_id,
                        style_by, filters, townships)


@functools.lru_cache(maxsize=8)
def _style_codes(location: str, stamp: str, run_id, style_by: str, filters, townships) -> bytes:
    import numpy as np

    from ui import data
    from ui.filters import apply
    from ui.mapview import plot_codes
    from ui.shell import open_workspace

    ws = open_workspace(location)
    view = data.plot_view(ws, run_id or None, columns=data.MAP_COLUMNS, scoped=False)
    show = apply(view, filters).to_numpy()
    if townships is not None:
        mine = view["township_code"].astype("object").isin(townships).to_numpy() \
            if "township_code" in view.columns else np.zeros(len(view), dtype=bool)
        show = show & mine  # not in place: pandas hands out read-only arrays
    codes = np.where(show, plot_codes(view, style_by), HIDDEN).astype(np.uint8)
    info = data.plot_tiles(ws)
    out = np.full(info.count, HIDDEN, dtype=np.uint8)
    tile_id = data.plot_index(ws).loc[view.index, "tile_id"].to_numpy()
    ok = tile_id >= 0
    out[tile_id[ok]] = codes[ok]
    return out.tobytes()


def plain_codes(ws, layer: str, *, townships: frozenset | None) -> bytes:
    """One byte per feature of ``layer``'s tile set drawn in one colour: 0, or :data:`HIDDEN` outside ``townships``."""
    from ui import data

    return _plain_codes(ws.location, layer, data.tile_set(ws, layer).stamp, townships)


@functools.lru_cache(maxsize=8)
def _plain_codes(location: str, layer: str, stamp: str, townships) -> bytes:
    import numpy as np

    from ui import data
    from ui.shell import open_workspace

    show = in_groups(data.tile_index(open_workspace(location), layer)["group"], townships)
    return np.where(show, 0, HIDDEN).astype(np.uint8).tobytes()


def scope_key(townships) -> str:
    """A short key of the townships a user may see (in tile URLs: two users' caches never mix)."""
    return hashlib.sha1(",".join(sorted(str(t) for t in townships)).encode()).hexdigest()[:8]


def remember_actor(token: str | None, actor) -> None:
    """Tell the routes who holds session ``token`` (the page calls this on each run)."""
    if token and actor is not None:
        _ACTORS[hashlib.sha256(token.encode()).hexdigest()] = actor


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


def _actor_of(token):
    """The actor of a live session (for the scope of what the vector-tile routes hand out), or None."""
    from layers import access
    from ui.login import MAX_SESSION_S, idle_limit_s
    from ui.shell import open_workspace

    if not isinstance(token, str) or not token:
        return None
    try:
        ws = open_workspace()
        if not access.session_signed_in(ws, token, idle_s=idle_limit_s(), max_s=MAX_SESSION_S):
            return None
        known = _ACTORS.get(hashlib.sha256(token.encode()).hexdigest())
        return known or access.resume_session(ws, token, idle_s=idle_limit_s(), max_s=MAX_SESSION_S)
    except PlannerError:
        return None


def visible_groups(actor) -> frozenset | None:
    """The township codes ``actor`` may see in a tile set (its features' groups), or None for all (also for no actor)."""
    from layers import access

    towns = access.visible_townships(actor) if actor is not None else None
    return None if towns is None else frozenset(str(t) for t in towns)


def in_groups(groups, towns: frozenset | None):
    """Boolean array: which features of a tile set's index (its ``group`` column) lie in ``towns`` (None: all)."""
    import numpy as np

    if towns is None:
        return np.ones(len(groups), dtype=bool)
    return groups.astype("object").isin(towns).to_numpy(dtype=bool)


def _vector_tile(layer: str, stamp: str, z: int, x: int, y: int, towns: frozenset | None) -> bytes | None:
    from geo.vtiles import keep_layers
    from layers import tiles
    from ui.shell import open_workspace

    if layer not in tiles.TILED_LAYERS:
        return None
    data = tiles.tile(open_workspace(), layer, stamp, z, x, y)
    if not data or towns is None:
        return data
    return keep_layers(data, lambda name: name.partition("/")[2] in towns)


async def _vt(request):
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import Response

    from geo.vtiles import MEDIA_TYPE
    from ui.login import COOKIE

    actor = await run_in_threadpool(_actor_of, request.cookies.get(COOKIE))
    if actor is None:
        return Response(status_code=403)
    p = request.path_params
    data = await run_in_threadpool(_vector_tile, p["layer"], p["stamp"], int(p["z"]), int(p["x"]), int(p["y"]),
                                   visible_groups(actor))
    if data is None:
        return Response(status_code=404)  # no such set, or a stale stamp: never an old tile
    if not data:
        # nothing there (for this user: an official's tile may hold only other townships' plots)
        return Response(status_code=204, headers={"Vary": "Cookie", "Cache-Control": "private, max-age=86400"})
    # the stamp is in the URL: a tile never changes under it (another user gets another URL, ?s=)
    return Response(data, media_type=MEDIA_TYPE, headers={"Content-Encoding": "gzip", "Vary": "Cookie",
                                                          "Cache-Control": "private, max-age=86400"})


def _style_bytes(layer: str, stamp: str, query, towns) -> bytes | None:
    from ui import data
    from ui.mapview import STYLE_BY
    from ui.shell import open_workspace

    ws = open_workspace()
    if layer not in ("plots", "enterprises") or not ws.has_layer(layer) or data.tile_set(ws, layer).stamp != stamp:
        return None
    if layer == "enterprises":
        return plain_codes(ws, layer, townships=towns)
    by = query.get("by", "land_use")
    if by not in STYLE_BY:
        return None
    run = query.get("run") or None
    if run is not None and run not in data.run_ids(ws):
        return None
    return style_codes(ws, run_id=run, style_by=by, filters=_filters_from(query.get("f", "")), townships=towns)


async def _vt_style(request):
    import gzip

    from starlette.concurrency import run_in_threadpool
    from starlette.responses import Response

    from ui.login import COOKIE

    actor = await run_in_threadpool(_actor_of, request.cookies.get(COOKIE))
    if actor is None:
        return Response(status_code=403)
    p = request.path_params
    try:
        codes = await run_in_threadpool(_style_bytes, p["layer"], p["stamp"], request.query_params, visible_groups(actor))
    except (ValueError, TypeError, KeyError):  # a filter token that is not ours
        return Response(status_code=400)
    if codes is None:
        return Response(status_code=404)
    return Response(gzip.compress(codes, compresslevel=6, mtime=0), media_type="application/octet-stream",
                    headers={"Content-Encoding": "gzip", "Vary": "Cookie", "Cache-Control": "private, max-age=3600"})


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
                           (f"{ROUTE_PREFIX}/raster/{{name:str}}.png", _raster),
                           (f"{ROUTE_PREFIX}/vt/{{layer:str}}/{{stamp:str}}/style", _vt_style),
                           (f"{ROUTE_PREFIX}/vt/{{layer:str}}/{{stamp:str}}/{{z:int}}/{{x:int}}/{{y:int}}", _vt)):
        out.append(Route(f"/{path}", endpoint, methods=["GET"]))
        out.append(Route(f"/{{base:path}}/{path}", endpoint, methods=["GET"]))
    return out
