"""The planner as an installed tool, run with no source tree on its path.

A wheel is built from this checkout (``pip wheel --no-deps``, the build backend from the shared
environment: no network) and installed into a fresh virtual environment that sees the shared
environment's packages (its dependencies are not downloaded again).  Every command then runs
from an empty temporary directory: ``planner --help``, ``planner evaluate`` and ``planner
workspace info`` on the bundled sample found beside the installed package, ``PLANNER_WORKSPACE``
taking precedence, and ``planner app`` serving the app with its vendored map assets.
"""
from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.test_browser import _free_port, _wait_until_up, stop_process

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _run(cmd, *, cwd, env=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv, clean environment, an empty working directory) with the wheel of this checkout installed."""
    base = tmp_path_factory.mktemp("packaging")
    wheels = base / "wheels"
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                  "--disable-pip-version-check", "-q", "-w", str(wheels), str(ROOT)], cwd=base)
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("parks_land_planner-*.whl")
    venv = base / "venv"
    made = _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], cwd=base)
    assert made.returncode == 0, made.stderr
    # `--system-site-packages` of a venv made from a venv reaches the base interpreter only: a .pth line
    # adds the shared environment's packages (the dependencies), never this checkout.
    (new_site,) = (venv / "lib").glob("python3*/site-packages")
    shared = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (new_site / "_shared_dependencies.pth").write_text("\n".join(shared) + "\n")
    python = venv / "bin" / "python"
    inst = _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                 "--disable-pip-version-check", "-q", str(wheel)], cwd=base)
    assert inst.returncode == 0, inst.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PLANNER_WORKSPACE", "VIRTUAL_ENV")}
    work = base / "elsewhere"
    work.mkdir()
    return venv, env, work, wheel


def test_wheel_carries_what_the_tool_needs(installed):
    *_, wheel = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for must in ("cli.py", "app.py", "server.py", "geo/progress.py", "analysis/pipeline.py", "ui/pages/shortlist.py",
                 "data/presets/ruian_default.toml", "data/ruian/ruian.gpkg", "data/source/ruian_outline_gcj02.geojson",
                 "static/leaflet-1.9.3/leaflet.js", ".streamlit/config.toml"):
        assert must in names, must
    assert not any(n.startswith(("tests/", "bench/", ".venv/")) or n.endswith("secrets.toml") for n in names)
    assert any(n.startswith("data/ruian/ruian.gpkg.rasters/slope-") for n in names)


def test_installed_code_is_not_the_checkout(installed):
    venv, env, work, _ = installed
    out = _run([str(venv / "bin" / "python"), "-c", "import cli, ui.offline; print(cli.DEFAULT_WORKSPACE); "
                "print(ui.offline.STATIC_DIR)"], cwd=work, env=env)
    assert out.returncode == 0, out.stderr
    workspace, static = out.stdout.split()
    assert Path(workspace).is_relative_to(venv) and Path(workspace).is_file()
    assert Path(static).is_relative_to(venv) and (Path(static) / "leaflet-1.9.3" / "leaflet.js").is_file()


def test_planner_help(installed):
    venv, env, work, _ = installed
    out = _run([str(venv / "bin" / "planner"), "--help"], cwd=work, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: planner")
    for command in ("sample", "evaluate", "import", "workspace", "app", "-v", "-q"):
        assert command in out.stdout


def test_planner_evaluate_and_info_on_the_bundled_sample(installed):
    venv, env, work, _ = installed
    planner = str(venv / "bin" / "planner")
    run = _run([planner, "-v", "evaluate", "--run-id", "installed"], cwd=work, env=env)
    assert run.returncode == 0, run.stderr
    assert "run installed stored in ruian.gpkg" in run.stdout
    assert "firms: 4073" in run.stdout and "plots: 5000" in run.stdout
    # -v: the steps on stderr, not on stdout; no progress bars without a terminal
    assert "INFO    analysis.pipeline: chain: 4073 firms, 5000 plots" in run.stderr
    assert "INFO" not in run.stdout and "%|" not in run.stderr
    info = _run([planner, "workspace", "info"], cwd=work, env=env)
    assert info.returncode == 0, info.stderr
    assert info.stdout.startswith("ruian.gpkg  CRS EPSG:4549")
    assert "run_installed_plots" in info.stdout  # the same installed sample the evaluate wrote to
    assert not any(work.iterdir()), "nothing is written into the current directory"


def test_planner_workspace_setting_comes_first(installed, tmp_path):
    venv, env, work, _ = installed
    copy = tmp_path / "office.gpkg"
    shutil.copy(ROOT / "data" / "ruian" / "ruian.gpkg", copy)
    out = _run([str(venv / "bin" / "planner"), "workspace", "info"], cwd=work, env={**env, "PLANNER_WORKSPACE": str(copy)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("office.gpkg  CRS EPSG:4549")


def test_planner_app_serves_the_app_and_its_assets(installed, tmp_path):
    venv, env, work, _ = installed
    port = _free_port()
    log = tmp_path / "app.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen([str(venv / "bin" / "planner"), "app", "--port", str(port),
                                 "--browser.gatherUsageStats", "false"],
                                cwd=work, env=env, stdout=fh, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_until_up(url, proc, log, timeout=120)
        with urllib.request.urlopen(url + "app/static/leaflet-1.9.3/leaflet.js", timeout=5) as r:  # the installed static/
            assert r.status == 200 and b"Leaflet" in r.read()[:2000]
        with urllib.request.urlopen(url, timeout=5) as r:
            assert r.status == 200
    finally:
        stop_process(proc)
