"""Compatibility name of the PostGIS workspace (the store lives in :mod:`layers.store.postgis`)."""
from layers.store.postgis import PostGISWorkspace

__all__ = ["PostGISWorkspace"]
