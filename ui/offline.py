"""Offline map assets: point every Leaflet/folium JS and CSS link at files vendored under ``static/``.

folium writes links to public CDNs into each element's ``default_js`` / ``default_css``.  Planning offices on a government intranet
(政务内网) have no internet, so the map must load everything from the app itself.  Streamlit
serves the repository's ``static/`` folder at ``/app/static/`` when
``[server] enableStaticServing = true`` (``.streamlit/config.toml``).

streamlit-folium does not bundle Leaflet: its component frontend collects ``default_js`` /
``default_css`` from every element of the map tree and inserts them as ``<script>`` /
``<link>`` tags inside its iframe.  Rewriting those attributes on the element *instances*
(not on the folium classes, which would change every map in the process) therefore covers
both a plain ``Map.get_root().render()`` and ``st_folium``.

:func:`use_local_assets` refuses a link it has no local copy for, so a new plugin cannot
silently reintroduce a CDN: vendor it (static/README.md says how) and add it to
:data:`LOCAL_ASSETS`.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import branca.element
import folium

from geo.errors import PlannerError

__all__ = [
    "LOCAL_ASSETS", "OWN_ASSETS", "STATIC_DIR", "DEFAULT_BASE_URL", "LEAFLET_ONLY", "use_local_assets", "trim_map_assets",
    "asset_links", "static_base_url", "base_prefix",
]

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
DEFAULT_BASE_URL = "/app/static/"

# Path of the CDN URL that folium 0.20 (or a plugin we use) writes, without scheme and host →
# file under static/ (see static/README.md). Keyed by path so that no host needs naming here.
LOCAL_ASSETS: dict[str, str] = {
    # folium.Map default_js
    "npm/leaflet@1.9.3/dist/leaflet.js": "leaflet-1.9.3/leaflet.js",
    "jquery-3.7.1.min.js": "jquery-3.7.1/jquery.min.js",
    "npm/bootstrap@5.2.2/dist/js/bootstrap.bundle.min.js": "bootstrap-5.2.2/js/bootstrap.bundle.min.js",
    "ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.js":
        "leaflet.awesome-markers-2.0.5/leaflet.awesome-markers.js",
    # folium.Map default_css
    "npm/leaflet@1.9.3/dist/leaflet.css": "leaflet-1.9.3/leaflet.css",
    "npm/bootstrap@5.2.2/dist/css/bootstrap.min.css": "bootstrap-5.2.2/css/bootstrap.min.css",
    "bootstrap/3.0.0/css/bootstrap-glyphicons.css":
        "bootstrap-glyphicons-3.4.1/css/bootstrap-glyphicons.css",
    "npm/@fortawesome/fontawesome-free@6.2.0/css/all.min.css":
        "fontawesome-free-6.2.0/css/all.min.css",
    "ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.css":
        "leaflet.awesome-markers-2.0.5/leaflet.awesome-markers.css",
    "gh/python-visualization/folium/folium/templates/leaflet.awesome.rotate.min.css":
        "folium-0.20.0/leaflet.awesome.rotate.min.css",
    # folium.plugins.Draw (issue 5: draw a rectangle or polygon to select plots)
    "ajax/libs/leaflet.draw/1.0.2/leaflet.draw.js": "leaflet-draw-1.0.2/leaflet.draw.js",
    "ajax/libs/leaflet.draw/1.0.2/leaflet.draw.css": "leaflet-draw-1.0.2/leaflet.draw.css",
    # folium.plugins.Fullscreen (the npm package ships only the unminified file)
    "npm/leaflet.fullscreen@3.0.0/Control.FullScreen.min.js":
        "leaflet.fullscreen-3.0.0/Control.FullScreen.js",
    "npm/leaflet.fullscreen@3.0.0/Control.FullScreen.css":
        "leaflet.fullscreen-3.0.0/Control.FullScreen.css",
}

# Files under static/ that the planner's own map elements link directly (at DEFAULT_BASE_URL), never
# through a CDN address: leaflet-measure in the UI language (ui._map_chrome.MeasureTool; its npm
# package builds one file per locale), pbf and the vector-tile renderer (ui._map_tiles.TileAssets).
OWN_ASSETS: tuple[str, ...] = (
    "leaflet-measure-3.1.0/leaflet-measure.cn.js",
    "leaflet-measure-3.1.0/leaflet-measure.en.js",
    "leaflet-measure-3.1.0/leaflet-measure.css",
    "pbf-3.3.0/pbf.js",
    "planner/plot-tiles.js",
)

_LOCAL_FILES = tuple(sorted(set(LOCAL_ASSETS.values()) | set(OWN_ASSETS), key=len, reverse=True))


def static_base_url(base_url_path: str = "") -> str:
    """The URL prefix of ``static/`` for an app served under Streamlit's ``server.baseUrlPath``.

    >>> static_base_url("")
    '/app/static/'
    >>> static_base_url("/planner/")
    '/planner/app/static/'
    """
    return f"{base_prefix(base_url_path)}{DEFAULT_BASE_URL}"


def base_prefix(base_url_path: str = "") -> str:
    """``server.baseUrlPath`` as a URL prefix: "" at the root, "/planner" under /planner/.

    >>> base_prefix("/planner/")
    '/planner'
    """
    return "/" + base_url_path.strip("/") if base_url_path.strip("/") else ""


def _walk(element: branca.element.Element) -> Iterator[branca.element.Element]:
    yield element
    for child in list(element._children.values()):
        yield from _walk(child)


def _local(url: str, base_url: str, owner: str) -> str:
    for rel in _LOCAL_FILES:  # already rewritten, maybe under another base: re-point it
        if url.endswith("/" + rel):
            return base_url + rel
    try:
        rel = LOCAL_ASSETS[urlsplit(url).path.lstrip("/")]
    except KeyError:
        raise PlannerError(
            f"{owner} loads {url}, which has no vendored copy under static/; the map must work offline. "
            "Vendor the file (see static/README.md) and add it to ui.offline.LOCAL_ASSETS.",
            message_zh=f"地图组件 {owner} 需要在线资源 {url},但 static/ 下没有本地副本;"
            "请按 static/README.md 放入本地文件并登记到 ui.offline.LOCAL_ASSETS。",
        ) from None
    return base_url + rel


def use_local_assets(m: folium.Map, base_url: str = DEFAULT_BASE_URL) -> folium.Map:
    """Rewrite every JS/CSS link of ``m`` and its descendants to the vendored copy under ``base_url``.

    Call it after the last element is added (elements added later keep their CDN links).
    Returns ``m`` (modified in place; idempotent).

    Raises
    ------
    PlannerError
        An element links a file that is not vendored (the message names the element and URL).
    """
    if not base_url.endswith("/"):
        base_url += "/"
    for el in _walk(m):
        if hasattr(el, "default_js") or hasattr(el, "default_css"):  # folium JSCSSMixin and lookalikes
            owner = type(el).__name__
            js = [(name, _local(url, base_url, owner)) for name, url in getattr(el, "default_js", [])]
            css = [(name, _local(url, base_url, owner)) for name, url in getattr(el, "default_css", [])]
            el.default_js = js
            el.default_css = css
    return m


LEAFLET_ONLY = ("leaflet", "leaflet_css")


def trim_map_assets(m: folium.Map, keep: tuple[str, ...] = LEAFLET_ONLY) -> folium.Map:
    """Drop the ``folium.Map`` assets a map does not use (by folium's asset names).

    folium loads jQuery, Bootstrap 5 (JS + CSS), Font Awesome, Glyphicons and awesome-markers
    on every map for its popups and icon markers.  A map of GeoJSON layers, tooltips, a layer
    control and an HTML legend needs only Leaflet: dropping the rest saves about 0.5 MB and four
    sequential script loads per view (streamlit-folium loads scripts one after another).  All of
    them stay vendored in ``static/``; a page that adds ``folium.Icon`` markers or Bootstrap
    popups keeps them by passing a longer ``keep``.  Plugins' own assets are untouched.
    """
    m.default_js = [(name, url) for name, url in m.default_js if name in keep]
    m.default_css = [(name, url) for name, url in m.default_css if name in keep]
    return m


def asset_links(m: folium.Map) -> list[str]:
    """Every JS/CSS URL that ``m`` will make the browser load (what streamlit-folium collects)."""
    out: list[str] = []
    for el in _walk(m):
        out += [url for _, url in getattr(el, "default_js", [])]
        out += [url for _, url in getattr(el, "default_css", [])]
    return list(dict.fromkeys(out))
