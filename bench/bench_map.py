"""Map reruns, naive vs ours: latency after a filter change and bytes sent, at the sample size and at 100k plots.

    .venv/bin/python bench/bench_map.py                      # sample + data/bench/100k.gpkg if present
    .venv/bin/python bench/bench_map.py --workspace A.gpkg --workspace B.gpkg
    .venv/bin/python bench/bench_map.py --browser [--runs 2] # chromium: start-to-paint and bytes per first view

Default mode, per workspace (each copied to a temp folder; an analysis run is made on the copy
when it has none, so the plot view carries results), a filter change (land use = 0601 → all)
is replayed and, for each rerun, reported side by side:

- naive: the whole filtered plots layer as one folium ``GeoJson`` with a per-feature style
  function and a ``GeoJsonTooltip`` (``ui.mapview.layer_group``), rendered into the map script
  the way streamlit-folium does (``_get_map_string``) — the map is rebuilt and re-sent on every
  rerun, so the component reloads;
- ours: the mounted base map (same script every run: not reloaded) plus the dynamic feature
  groups (``ui.map_page.dynamic_content`` → ``_get_feature_group_string``), for the initial view
  (township totals when more than ``MAX_PLOTS`` plots are in view) and for a street-level view;
- the server time of that rerun's map work (filter mask, content, strings) and the bytes of
  the component arguments that travel over the websocket (script + feature groups + layer control);
- end to end: Streamlit ``AppTest`` rerun time of the real page after the filter change.

Browser mode (``--browser``), the earlier measurement, kept:

Starts ``streamlit run app.py`` on a free local port, opens it in Debian's chromium (every
non-local request aborted, as in tests/test_browser.py) and waits until Leaflet has drawn the
plots inside the streamlit-folium iframe. Reported per run:

- server up: process start → ``/_stcore/health`` answers;
- first paint (cold): process start → plots drawn, the first page view after start (workspace
  read and display copies built on this view);
- first paint (warm): a fresh page on the running server (layers cached) → plots drawn;
- bytes: HTTP response bodies as decoded by the browser (Playwright ``response.body()``),
  split into the vendored map assets (/app/static/), the streamlit-folium component and
  Streamlit's own frontend; bytes on the wire (CDP ``encodedDataLength``, after gzip); and
  the websocket frames from the server, which carry the map (GeoJSON inside the component's
  script) to the browser.

Also printed: when, after the page opened, the component iframe appeared (the server's script
run is done by then), Leaflet loaded, and the plots were painted.

Printed, not asserted (timings depend on the machine; this one is shared).
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
PAINTED = ("() => window.map && Object.values(window.map._layers).some(l => l instanceof L.GeoJSON"
           " && l.options.plannerLayer === 'plots' && l.getLayers().some(x => x._parts && x._parts.length > 0))")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_health(url: str, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"streamlit did not answer at {url}")


def _category(url: str) -> str:
    path = urlparse(url).path
    if path.startswith("/app/static/"):
        return "map assets (/app/static)"
    if path.startswith("/component/"):
        return "streamlit-folium component"
    return "streamlit frontend"


def _view(browser, url: str, *, count_bytes: bool) -> dict:
    """Open ``url`` in a fresh context (empty cache); return the paint time, and with ``count_bytes``
    the bytes of this first view.

    Counting bytes hands every response and websocket payload to Python, which slows the view
    on a busy machine, so timed views do not count and the byte view is not timed.  Non-local
    hosts are unresolvable in every view (``--host-resolver-rules``); the byte view also routes
    every request through Python to record any that was attempted.
    """
    context = browser.new_context(viewport={"width": 1500, "height": 950})
    blocked: list[str] = []
    page = context.new_page()
    responses = []
    wire = {"http": 0}
    ws_in = {"frames": 0, "bytes": 0}
    if count_bytes:
        def route(r):
            if r.request.url.startswith(("data:", "blob:")) or urlparse(r.request.url).hostname in LOCAL_HOSTS:
                return r.continue_()
            blocked.append(r.request.url)
            return r.abort()

        context.route("**/*", route)
        page.on("response", lambda r: responses.append(r))
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.on("Network.loadingFinished",
               lambda e: wire.__setitem__("http", wire["http"] + int(e["encodedDataLength"])))

        def on_ws(ws):
            def frame(payload):
                ws_in["frames"] += 1
                ws_in["bytes"] += len(payload)
            ws.on("framereceived", frame)

        page.on("websocket", on_ws)
    t0 = time.perf_counter()
    page.goto(url)
    frame = page.wait_for_selector('iframe[title="streamlit_folium.st_folium"]', timeout=180_000).content_frame()
    iframe_at = time.perf_counter() - t0
    frame.wait_for_function("() => !!window.L", timeout=180_000, polling=50)
    leaflet_at = time.perf_counter() - t0
    frame.wait_for_function(PAINTED, timeout=180_000, polling=50)
    paint = time.perf_counter() - t0
    page.wait_for_timeout(500 if count_bytes else 0)  # let late responses finish before counting
    bodies: dict[str, int] = {}
    for r in responses:
        try:
            size = len(r.body())
        except Exception:  # redirects and aborted requests have no body
            continue
        bodies[_category(r.url)] = bodies.get(_category(r.url), 0) + size
    context.close()
    phases = {"iframe": iframe_at, "Leaflet loaded": leaflet_at, "painted": paint}
    return {"paint_s": paint, "phases": phases, "bodies": bodies, "wire": dict(wire), "ws": dict(ws_in), "blocked": blocked,
            "t0": t0}


def run_once(workspace: Path) -> dict:
    from playwright.sync_api import sync_playwright

    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    env = dict(os.environ, PLANNER_WORKSPACE=str(workspace))
    env.pop("TIANDITU_KEY", None)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.headless",
             "true", "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            _wait_health(url, proc)
            up = time.perf_counter() - start
            cold = _view(browser, url, count_bytes=False)
            cold_total = cold["t0"] - start + cold["paint_s"]
            warm = _view(browser, url, count_bytes=False)
            counted = _view(browser, url, count_bytes=True)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
            browser.close()
    return {"up": up, "cold_total": cold_total, "cold": cold, "warm": warm, "counted": counted}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", action="append", help="workspace(s) to measure (default: sample + 100k)")
    ap.add_argument("--runs", type=int, default=2, help="browser mode: server starts to time (default %(default)s)")
    ap.add_argument("--browser", action="store_true", help="chromium start-to-paint mode")
    ap.add_argument("--repeat", type=int, default=3, help="reruns timed per case (best reported)")
    ap.add_argument("--make-dense", metavar="OUT", help="write a 100k-plot workspace by splitting each sample plot "
                    "into 20 parcels (same county, 20× denser) and exit (fallback generator)")
    ap.add_argument("--no-run", action="store_true", help="do not make an analysis run on copies without one")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args.make_dense:
        return make_dense(ROOT / "data" / "ruian" / "ruian.gpkg", Path(args.make_dense))
    if not args.browser:
        paths = args.workspace or [str(p) for p in (ROOT / "data" / "ruian" / "ruian.gpkg", ROOT / "data" / "bench" / "100k.gpkg")
                                   if p.exists()]
        return reruns(paths, repeat=args.repeat, analysis_run=not args.no_run)
    return browser_mode(args.workspace[0] if args.workspace else str(ROOT / "data" / "ruian" / "ruian.gpkg"), args.runs)


def browser_mode(workspace: str, runs: int) -> int:
    from layers.workspace import Workspace

    class args:  # noqa: N801  (the old mode's argument names)
        pass
    args.workspace, args.runs = workspace, runs
    ws = Workspace.open(args.workspace, readonly=True)
    meta = ws.metadata().set_index("layer")["row_count"].to_dict()
    print(f"workspace {args.workspace}: " + ", ".join(f"{k} {v}" for k, v in sorted(meta.items())))
    for i in range(args.runs):
        r = run_once(Path(args.workspace))
        cold, warm, v = r["cold"], r["warm"], r["counted"]
        print(f"\nrun {i + 1}")
        print(f"  server up (process start → health)            {r['up']:6.2f} s")
        print(f"  first map paint, cold (process start → plots) {r['cold_total']:6.2f} s"
              f"   (page open → plots {cold['paint_s']:.2f} s)")
        print(f"  first map paint, warm (page open → plots)     {warm['paint_s']:6.2f} s")
        for label, view in (("cold", cold), ("warm", warm)):
            print(f"  {label} view, since page open: "
                  + ", ".join(f"{k} {t:.2f} s" for k, t in view["phases"].items()))
        total = sum(v["bodies"].values())
        parts = ", ".join(f"{k} {b / 1e6:.2f} MB" for k, b in sorted(v["bodies"].items()))
        print(f"  bytes to the browser, first view: HTTP bodies {total / 1e6:.2f} MB ({parts}); "
              f"HTTP on the wire {v['wire']['http'] / 1e6:.2f} MB; websocket in {v['ws']['bytes'] / 1e6:.2f} MB "
              f"in {v['ws']['frames']} frames (the map travels here); total decoded {(total + v['ws']['bytes']) / 1e6:.2f} MB")
        print(f"  non-local requests attempted: {len(v['blocked'])} {v['blocked'] or ''}")
    return 0


# --- default mode: naive vs ours per rerun ------------------------------------------------------------------
def make_dense(sample: Path, out: Path, *, nx: int = 5, ny: int = 4) -> int:
    """Split every sample plot into ``nx × ny`` parcels by its bounding-box grid (vectorised shapely).

    ``python cli.py sample --plots 100000`` is the intended generator; this is the fallback used
    when it is too slow or too big for the machine (before commit 5635ca1 it needed > 18 GB after 17 min).
    The map bench reads whichever is at data/bench/100k.gpkg.
    """
    import geopandas as gpd
    import numpy as np
    import pandas as pd
    import shapely

    from layers.workspace import Workspace

    src = Workspace.open(sample, readonly=True)
    plots = src.read("plots")
    g = np.asarray(plots.geometry.values, dtype=object)
    b = shapely.bounds(g)
    k = nx * ny
    i = np.repeat(np.arange(len(g)), k)
    cx, cy = np.tile(np.repeat(np.arange(nx), ny), len(g)), np.tile(np.arange(ny), nx * len(g))
    w, h = (b[:, 2] - b[:, 0])[i] / nx, (b[:, 3] - b[:, 1])[i] / ny
    x0, y0 = b[i, 0] + cx * w, b[i, 1] + cy * h
    parts = shapely.intersection(g[i], shapely.box(x0, y0, x0 + w, y0 + h))
    parts = shapely.make_valid(parts)
    keep = ~shapely.is_empty(parts) & np.isin(shapely.get_type_id(parts), (3, 6)) & (shapely.area(parts) > 1.0)
    parts = np.array([p if p.geom_type == "MultiPolygon" else shapely.MultiPolygon([p]) for p in parts[keep]],
                     dtype=object)
    dense = pd.DataFrame(plots.drop(columns=plots.geometry.name)).iloc[i[keep]].reset_index(drop=True)
    dense["plot_id"] = [f"{p}{n:02d}" for p, n in zip(plots["plot_id"].astype(str).to_numpy()[i[keep]], (cx * ny + cy)[keep])]
    dense["area_m2"] = shapely.area(parts)
    dense = gpd.GeoDataFrame(dense, geometry=parts, crs=plots.crs)
    out.parent.mkdir(parents=True, exist_ok=True)
    ws = Workspace.create(out, crs=plots.crs.to_string(), overwrite=True)
    layers = {n: src.read(n) for n in src.layers() if n not in ("plots", "enterprises", "runs", "shortlist",
                                                                "shortlist_history") and not n.startswith("run_")}
    layers["plots"] = dense
    ws.write_many(layers, source=f"bench_map.make_dense({sample.name}, {nx}x{ny})")
    print(f"wrote {out}: {len(dense):,} plots")
    return 0


def _copy_with_run(src: str, tmp: Path, analysis_run: bool = True) -> Path:
    import shutil

    from analysis import pipeline
    from layers.workspace import Workspace

    dest = tmp / Path(src).name
    shutil.copy2(src, dest)
    if Path(src + ".rasters").exists():
        shutil.copytree(src + ".rasters", str(dest) + ".rasters")
    ws = Workspace.open(dest, readonly=False)
    if analysis_run and not len(pipeline.list_runs(ws)):
        t0 = time.perf_counter()
        pipeline.run(ws, "ruian_default", run_id="bench")
        print(f"  (analysis run on the copy: {time.perf_counter() - t0:.1f} s, not part of any rerun below)")
    return dest


def _best(fn, repeat: int):
    out, best = None, float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _naive(view, flt, lang="zh") -> int:
    """Whole filtered layer as one folium GeoJson in a freshly built map; bytes of the script sent."""
    import folium
    from streamlit_folium import _get_map_string

    from ui.filters import apply
    from ui.mapview import base_map, layer_group

    mask = apply(view, flt)
    m = base_map(tuple(view.total_bounds))
    layer_group("plots", view[mask.to_numpy()], lang=lang, style_by="land_use").add_to(m)
    folium.LayerControl().add_to(m)
    m.render()
    return len(_get_map_string(m).encode())


def _ours(view, flt, bounds, townships, tips, box_prev=None, lang="zh") -> tuple[int, str, int]:
    """Mounted base + dynamic groups for ``bounds``; bytes of script + feature groups + control."""
    import folium
    from streamlit_folium import _get_feature_group_string, _get_layer_control_string, _get_map_string

    from ui import map_page
    from ui.filters import apply
    from ui.mapview import mounted_map

    mask = apply(view, flt)
    box = map_page.query_box(bounds, box_prev)
    content = map_page.dynamic_content(view, mask, box, others={}, style_by="land_use", lang=lang,
                                       township_names={}, townships=townships, tips=tips)
    m = mounted_map(tuple(view.total_bounds))
    m.render()
    script = _get_map_string(m)
    groups = "".join(_get_feature_group_string(g, map=m, idx=i) for i, g in enumerate(content["groups"]))
    control = _get_layer_control_string(folium.LayerControl(collapsed=False), m)
    return len(groups.encode()) + len(control.encode()), content["mode"], len(script.encode())


def _apptest_rerun(path: Path, repeat: int) -> tuple[float, float]:
    """End-to-end server rerun of the real page (AppTest): after a filter change, and a plain rerun."""
    from streamlit.testing.v1 import AppTest

    os.environ["PLANNER_WORKSPACE"] = str(path)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    times = []
    for i in range(repeat):
        at.sidebar.multiselect(key="w_flt_land_uses").set_value(["0601"] if i % 2 == 0 else [])
        t0 = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    at.run()
    return min(times), time.perf_counter() - t0


def reruns(paths: list[str], *, repeat: int = 3, analysis_run: bool = True) -> int:
    import tempfile

    import streamlit  # noqa: F401  (quiet cache warnings outside a runtime)

    from geo.web import display_copy
    from layers.workspace import Workspace
    from ui.data import plot_view
    from ui.filters import PlotFilters

    for src in paths:
        with tempfile.TemporaryDirectory() as tmp:
            print(f"\n== {src}")
            path = _copy_with_run(src, Path(tmp), analysis_run and "bench" not in Path(src).parts)
            ws = Workspace.open(path, readonly=True)
            t0 = time.perf_counter()
            view = plot_view(ws)
            print(f"  plot view (display copy + run join), built once per layer version: {time.perf_counter() - t0:.1f} s; "
                  f"{len(view):,} plots")
            townships = display_copy(ws.read("townships"), tolerance_m=0.5, decimals=6, name="townships")
            from ui.mapview import tooltip_frame
            tips = tooltip_frame("plots", view, lang="zh")  # the page caches this per plots version and language
            full = tuple(view.total_bounds)
            c = view.geometry.iloc[len(view) // 2].centroid
            street = (c.x - 0.006, c.y - 0.004, c.x + 0.006, c.y + 0.004)  # ≈ 1.2 × 0.9 km, zoom ~16
            print(f"  {'filter':<18}{'view':<9}{'naive s':>9}{'naive MB':>10}{'ours s':>9}{'ours MB':>9}  ours mode")
            for label, flt in (("land use 0601", PlotFilters(land_uses=("0601",))), ("none (all)", PlotFilters())):
                tn, nb = _best(lambda: _naive(view, flt), repeat)
                for vname, bounds in (("county", full), ("street", street)):
                    to, (ob, mode, base_bytes) = _best(lambda: _ours(view, flt, bounds, townships, tips), repeat)
                    print(f"  {label:<18}{vname:<9}{tn:9.2f}{nb / 1e6:10.2f}{to:9.2f}{ob / 1e6:9.2f}  {mode}")
            print(f"  ours: the base map script ({base_bytes / 1e3:.1f} kB) is sent again only if the base map "
                  "changes (same hash → component kept)")
            best, plain = _apptest_rerun(path, repeat)
            print(f"  end to end (AppTest, real page, initial view): rerun after a filter change {best:.2f} s; "
                  f"plain rerun {plain:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
