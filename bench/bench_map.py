"""Time from app start to first map paint in chromium, and bytes sent to the browser for the first view.

    .venv/bin/python bench/bench_map.py [--workspace data/ruian/ruian.gpkg] [--runs 2]

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
    ap.add_argument("--workspace", default=str(ROOT / "data" / "ruian" / "ruian.gpkg"))
    ap.add_argument("--runs", type=int, default=2, help="server starts to time (default %(default)s)")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from layers.workspace import Workspace

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


if __name__ == "__main__":
    raise SystemExit(main())
