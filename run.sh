#!/usr/bin/env bash
# Set up and run the planner on a fresh Debian machine.
#   ./run.sh app            set up, build the sample workspace if missing, start the Streamlit app
#   ./run.sh test [ARGS]    set up (Python packages, chromium, poppler, fonts), lint, type-check, run every test
#   ./run.sh lint           ruff and mypy only (settings in pyproject.toml)
#   ./run.sh bench [NAME]   run the benchmarks under bench/ (printed, not asserted)
set -euo pipefail
cd "$(dirname "$0")"

VENV=.venv
# Debian packages: a CJK font for PDF reports, GDAL/poppler as second readers in tests,
# Debian's chromium for the browser tests (Playwright never downloads a browser here),
# PostgreSQL + PostGIS for the PostGIS backend tests (the tests start their own server).
APP_DEBS=(fonts-wqy-zenhei)
# `postgresql-postgis` is the server extension (CREATE EXTENSION postgis); Debian's `postgis`
# package is only the client tools, and a machine with just that fails every PostGIS test.
TEST_DEBS=(fonts-wqy-zenhei chromium poppler-utils gdal-bin postgresql postgresql-postgis)

install_debs() {
  local missing=()
  # "install ok installed" only: `dpkg -s` also succeeds for a removed package whose
  # configuration files remain (state rc), which would leave it missing.
  for pkg in "$@"; do
    [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" = "install ok installed" ] || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
}

install_python() {
  local reqs=$1
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  # Reinstall only when the requirements changed since the last successful install.
  local stamp="$VENV/.installed-$(cat requirements.txt "$reqs" | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$reqs"
    touch "$stamp"
  fi
}

# Lint and type check (pyproject.toml: [tool.ruff], [tool.mypy] on geo/ and analysis/), before any test runs.
lint() {
  "$VENV/bin/ruff" check --no-cache .
  "$VENV/bin/mypy" --no-incremental
}

case "${1:-}" in
  app)
    install_debs "${APP_DEBS[@]}"
    install_python requirements.txt
    [ -f data/ruian/ruian.gpkg ] || "$VENV/bin/python" cli.py sample
    # `cli.py app` (= the installed `planner app`) runs `streamlit run server.py`: app.py plus the local tile
    # and raster routes, on 127.0.0.1 unless PLANNER_ADDRESS says otherwise (an office server behind its
    # HTTPS proxy), port PLANNER_PORT or 8501; further Streamlit options pass through.
    exec "$VENV/bin/python" cli.py app "${@:2}"
    ;;
  test)
    install_debs "${TEST_DEBS[@]}"
    install_python requirements-dev.txt
    lint
    exec "$VENV/bin/python" -m pytest "${@:2}"
    ;;
  lint)
    install_python requirements-dev.txt
    lint
    ;;
  bench)
    install_python requirements-dev.txt
    for b in bench/bench_${2:-*}.py; do echo "== $b"; "$VENV/bin/python" "$b"; done
    ;;
  *)
    echo "usage: ./run.sh app [streamlit options] | test [pytest args] | lint | bench [name]" >&2
    exit 64
    ;;
esac
