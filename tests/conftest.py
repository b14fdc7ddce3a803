"""Shared fixtures: the sample workspace (built once per session if missing) and tiny frames."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import geo  # noqa: F401  (GDAL safety settings first)

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "ruian" / "ruian.gpkg"
ARTIFACTS = ROOT / "artifacts"


@pytest.fixture(scope="session")
def sample_path() -> Path:
    """The bundled Ruian sample workspace (committed; rebuilt by `python cli.py sample`)."""
    if not SAMPLE.exists():
        pytest.fail(f"{SAMPLE} is missing; build it with `python cli.py sample`")
    return SAMPLE


@pytest.fixture(scope="session")
def sample_ws(sample_path):
    from layers.workspace import Workspace

    return Workspace.open(sample_path, readonly=True)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
