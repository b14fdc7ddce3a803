"""Compatibility name of the GeoPackage workspace (the store lives in :mod:`layers.store`).

``Workspace`` is :class:`layers.store.gpkg.GeoPackageWorkspace`; :func:`open_workspace` picks
the backend by location.  New code imports from :mod:`layers.store`.
"""
from layers.store import DEFAULT_CRS, WorkspaceBase, open_workspace
from layers.store.gpkg import GeoPackageWorkspace as Workspace

__all__ = ["Workspace", "WorkspaceBase", "open_workspace", "DEFAULT_CRS"]
