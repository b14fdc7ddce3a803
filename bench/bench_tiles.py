"""Every plot on the map: vector tiles vs the viewport cut, at 100k and 1M plots, side by side in one run.

    .venv/bin/python bench/bench_tiles.py --workspace W100K.gpkg --workspace W1M.gpkg [--baseline-root /work/main]

Per workspace (each with an analysis run: ``python cli.py sample --plots N --out W.gpkg``), printed, not
asserted (timings depend on the machine):

1. **Tile build**: the plots' and the firms' tile sets built from scratch in a child process (``python -m
   layers.tiles build``, what ``layers.tiles.refresh`` runs after a layer is stored and the map on first need
   when that failed): seconds, tiles, bytes, the child's peak memory.  ``--build-only`` stops here.
2. **Viewport cut** (what the map sent before vector tiles, without its 6,000-plot cliff): the plots
   meeting a view read from the store by box, their display copy and the lean GeoJSON the page would
   send — server seconds and bytes — for the county view and a street view; in a child process, whose
   peak memory is reported too.
3. **Browser** (Debian's chromium, every non-local request blocked): ``streamlit run server.py`` started
   fresh; sign in, open the map and wait until the plots are drawn — *first paint* (from the process
   start and from opening the page); a second page on the same server — *warm paint*; then a pan by
   half a map, a zoom in and a jump to a street view (z16), each until the page's rerun has answered
   (its last websocket frame) and the map's layers are drawn after it; bytes received (HTTP on the
   wire by kind, websocket frames); the server's memory (RSS, largest seen during the run).
   With ``--baseline-root`` the same is measured on another checkout (e.g. main before this change),
   whose map draws township totals above 6,000 plots in view: its "painted" is whatever it draws.

Heavy: run it under ``flock /tmp/planner-heavy.lock`` on a shared machine.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._memory import PeakRSS  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"]
# Drawn: the plots' tile layer with every tile of the view loaded, or a GeoJSON layer of plots or township totals.
PAINTED = """() => {
    if (!window.map) return false;
    const layers = Object.values(window.map._layers);
    const tiles = layers.filter(l => window.L.PlannerTiles && l instanceof L.PlannerTiles);
    if (tiles.length) return tiles.every(l => Object.values(l._tiles).length > 0 && Object.values(l._tiles).every(t => t.loaded));
    return layers.some(l => l instanceof L.GeoJSON && ['plots', 'township_aggregates'].includes(l.options.plannerLayer)
                       && l.getLayers().length > 0);
}"""
MODE = """() => Object.values(window.map._layers).some(l => window.L.PlannerTiles && l instanceof L.PlannerTiles)
    ? 'tiles' : (Object.values(window.map._layers).some(l => l instanceof L.GeoJSON && l.options.plannerLayer === 'plots')
    ? 'geojson' : 'totals')"""


# --- 1. tile build --------------------------------------------------------------------------------------------
def tile_build(workspace: str, layer: str = "plots") -> dict:
    Path(workspace + ".tiles", f"{layer}.mbtiles").unlink(missing_ok=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "layers.tiles", "build", workspace, layer], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    peak = PeakRSS(proc.pid)
    out, _ = proc.communicate()
    seconds = time.perf_counter() - t0
    info = json.loads(out.decode().strip().splitlines()[-1])
    return {"s": seconds, "tiles": info["n_tiles"], "bytes": info["n_bytes"], "peak": peak.close(),
            "count": info["count"], "file": Path(workspace + ".tiles", f"{layer}.mbtiles").stat().st_size}


# --- 2. the viewport cut, in a child process -------------------------------------------------------------------
def _cut(workspace: str, box: tuple) -> dict:
    """(child) The plots meeting ``box`` read by box, display copy, lean GeoJSON: seconds and bytes."""
    import folium
    import streamlit  # noqa: F401  (quiet caches outside a runtime)
    from streamlit_folium import _get_feature_group_string

    from geo.web import display_copy
    from layers.store import open_workspace
    from ui import data
    from ui.mapview import plots_group, tooltip_frame

    ws = open_workspace(workspace)
    t0 = time.perf_counter()
    frame = data.read_in_box(ws, "plots", box, columns=["plot_id", "land_use", "status", "area_m2", "far",
                                                          "township_code"])
    shown = display_copy(frame, tolerance_m=0.5, decimals=6, name="plots")
    group = plots_group(shown, style_by="land_use", lang="zh", tips=tooltip_frame("plots", shown, lang="zh"))
    m = folium.Map()
    text = _get_feature_group_string(group, map=m, idx=0)
    return {"s": time.perf_counter() - t0, "bytes": len(text.encode()), "n": len(shown)}


def viewport_cut(workspace: str, box: tuple) -> dict:
    code = (f"import json, sys; sys.path.insert(0, {str(ROOT)!r}); from bench.bench_tiles import _cut; "
            f"print(json.dumps(_cut({workspace!r}, {tuple(box)!r})))")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = PeakRSS(proc.pid)
    out, err = proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"the viewport cut failed:\n{err.decode()[-2000:]}")
    res = json.loads(out.decode().strip().splitlines()[-1])
    res["peak"] = peak.close()
    return res


def views(workspace: str) -> dict[str, tuple]:
    """The county view (every plot) and a street view (≈ 1.2 × 0.9 km around the middle plot)."""
    import streamlit  # noqa: F401

    from layers import tiles
    from layers.store import open_workspace

    ws = open_workspace(workspace)
    info = tiles.ensure(ws, "plots")
    idx = tiles.index(ws, "plots")
    mid = idx.iloc[len(idx) // 2]
    cx, cy = float(mid["west"] + mid["east"]) / 2, float(mid["south"] + mid["north"]) / 2
    return {"county": tuple(info.bounds), "street": (cx - 0.006, cy - 0.004, cx + 0.006, cy + 0.004)}


# --- 3. the browser ------------------------------------------------------------------------------------------------
def _kind(url: str) -> str:
    path = urlparse(url).path
    if "/_planner/vt/" in path:
        return "style" if path.endswith("/style") else "tiles"
    if path.startswith("/app/static/") or "/component/" in path:
        return "map assets"
    return "app"


def browser(workspace: str, root: Path, street: tuple) -> dict:
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT))
    from tests.test_browser import _free_port, _wait_until_up, sign_in, stop_process

    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    env = dict(os.environ, PLANNER_WORKSPACE=workspace)
    env.pop("TIANDITU_KEY", None)
    log = open(Path(workspace).with_suffix(".streamlit.log"), "w")
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "server.py", "--server.port", str(port),
                             "--server.headless", "true", "--server.address", "127.0.0.1",
                             "--browser.gatherUsageStats", "false"], cwd=root, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    rss = PeakRSS(proc.pid)
    out: dict = {}
    try:
        _wait_until_up(url, proc, Path(log.name))
        out["up"] = time.perf_counter() - start
        with sync_playwright() as p:
            chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for label in ("fresh", "warm"):
                context = chromium.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
                page = context.new_page()
                wire: dict[str, int] = {}
                ws_in = {"bytes": 0, "frames": 0, "last": 0.0}
                cdp = context.new_cdp_session(page)
                cdp.send("Network.enable")
                urls: dict[str, str] = {}
                cdp.on("Network.requestWillBeSent", lambda e: urls.__setitem__(e["requestId"], e["request"]["url"]))
                cdp.on("Network.loadingFinished", lambda e: wire.__setitem__(
                    _kind(urls.get(e["requestId"], "")), wire.get(_kind(urls.get(e["requestId"], "")), 0)
                    + int(e["encodedDataLength"])))
                page.on("websocket", lambda w: w.on("framereceived", lambda f: _received(ws_in, f)))
                sign_in(page, url, "planner", "ruian-planner")
                t0 = time.perf_counter()
                page.goto(url + "map")
                frame = page.wait_for_selector('iframe[title="streamlit_folium.st_folium"]',
                                               timeout=600_000).content_frame()
                frame.wait_for_function(PAINTED, timeout=600_000, polling=100)
                paint = time.perf_counter() - t0
                out[label] = {"paint": paint, "since_start": time.perf_counter() - start, "mode": frame.evaluate(MODE),
                              "wire": dict(wire), "ws": ws_in["bytes"], "rss": rss.now()}
                if label == "warm":
                    out["pan"] = _move(page, frame, "(m) => m.panBy([m.getSize().x / 2, 0], {animate: false})", wire,
                                       ws_in)
                    out["zoom"] = _move(page, frame, "(m) => m.setZoom(m.getZoom() + 1, {animate: false})", wire,
                                        ws_in)
                    cx, cy = (street[0] + street[2]) / 2, (street[1] + street[3]) / 2
                    out["street"] = _move(page, frame, f"(m) => m.setView([{cy}, {cx}], 16, {{animate: false}})",
                                          wire, ws_in)
                context.close()
            chromium.close()
    finally:
        out["rss_peak"] = rss.close()
        stop_process(proc)
        log.close()
    return out


def _received(ws_in: dict, payload) -> None:
    ws_in["bytes"] += len(payload)
    ws_in["frames"] += 1
    ws_in["last"] = time.perf_counter()


def _move(page, frame, js: str, wire: dict, ws_in: dict, quiet_s: float = 0.8, no_rerun_s: float = 5.0) -> dict:
    """Move the map, then wait for the page's rerun (websocket frames, then ``quiet_s`` without one; none within
    ``no_rerun_s``: no rerun) and the layers drawn.  Seconds until the later of the rerun's last frame and
    the map drawn after it, and bytes received."""
    before, ws_before, frames_before = sum(wire.values()), ws_in["bytes"], ws_in["frames"]
    t0 = time.perf_counter()
    frame.evaluate(f"() => {{ ({js})(window.map); return true; }}")  # not the map object: no serialising it
    painted_at = None
    while True:
        page.wait_for_timeout(50)
        now = time.perf_counter()
        rerun = ws_in["frames"] > frames_before
        if painted_at is not None and rerun and ws_in["last"] > painted_at:
            painted_at = None  # drawn before the rerun's answer: wait for the answer drawn
        if painted_at is None and frame.evaluate(PAINTED):
            painted_at = now
        settled = (now - ws_in["last"] > quiet_s) if rerun else (now - t0 > no_rerun_s)
        if settled and painted_at is not None:
            break
        if now - t0 > 600:
            raise TimeoutError("the map was not drawn within 10 minutes of a move")
    end = max(painted_at, ws_in["last"] if rerun else t0)
    return {"s": end - t0, "bytes": sum(wire.values()) - before + ws_in["bytes"] - ws_before,
            "mode": frame.evaluate(MODE), "rerun": rerun}


# --- report ---------------------------------------------------------------------------------------------------------
def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", action="append", required=True, help="a workspace with a run (repeat)")
    ap.add_argument("--baseline-root", help="another checkout to measure in the browser beside this one")
    ap.add_argument("--skip-build", action="store_true", help="keep an existing tile set (no build timing)")
    ap.add_argument("--skip-cut", action="store_true", help="skip the viewport-cut measurement")
    ap.add_argument("--build-only", action="store_true", help="measure the tile builds only (no cut, no browser)")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    for ws in args.workspace:
        print(f"\n== {ws}")
        if not args.skip_build:
            for layer in ("plots", "enterprises"):
                b = tile_build(ws, layer)
                print(f"tile build: {b['count']:,} {layer} → {b['tiles']:,} tiles, {_mb(b['bytes'])} "
                      f"(file {_mb(b['file'])}) in {b['s']:.1f} s; child peak memory {_mb(b['peak'])}")
        if args.build_only:
            continue
        box = views(ws)
        if not args.skip_cut:
            print(f"{'viewport cut (before)':<26}{'plots':>10}{'server s':>10}{'GeoJSON':>12}{'peak mem':>12}")
            for name, b in box.items():
                c = viewport_cut(ws, b)
                print(f"  {name:<24}{c['n']:>10,}{c['s']:>10.1f}{_mb(c['bytes']):>12}{_mb(c['peak']):>12}")
        roots = [("tiles (this)", ROOT)] + ([("baseline", Path(args.baseline_root))] if args.baseline_root else [])
        rows = {label: browser(ws, root, box["street"]) for label, root in roots}
        print(f"{'browser':<34}" + "".join(f"{label:>30}" for label in rows))

        def line(name, fn):
            print(f"  {name:<32}" + "".join(f"{fn(r):>30}" for r in rows.values()))

        line("server up (s)", lambda r: f"{r['up']:.1f}")
        line("first paint, fresh server (s)", lambda r: f"{r['fresh']['since_start']:.1f} "
             f"(page {r['fresh']['paint']:.1f}) {r['fresh']['mode']}")
        line("warm paint (s)", lambda r: f"{r['warm']['paint']:.1f} {r['warm']['mode']}")
        line("pan half a map (s, bytes)", lambda r: f"{r['pan']['s']:.1f} {_mb(r['pan']['bytes'])} {r['pan']['mode']}")
        line("zoom in (s, bytes)", lambda r: f"{r['zoom']['s']:.1f} {_mb(r['zoom']['bytes'])} {r['zoom']['mode']}")
        line("street view z16 (s, bytes)",
             lambda r: f"{r['street']['s']:.1f} {_mb(r['street']['bytes'])} {r['street']['mode']}")
        line("first view: tiles + style", lambda r: f"{_mb(r['fresh']['wire'].get('tiles', 0))} + "
             f"{_mb(r['fresh']['wire'].get('style', 0))}")
        line("first view: websocket", lambda r: _mb(r["fresh"]["ws"]))
        line("server RSS after warm", lambda r: _mb(r["warm"]["rss"]))
        line("server RSS peak", lambda r: _mb(r["rss_peak"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
