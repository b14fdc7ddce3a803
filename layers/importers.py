"""Kept for callers of the old module name: everything lives in :mod:`layers.imports` now."""
from layers.imports import *  # noqa: F401,F403
from layers.imports import __all__  # noqa: F401
