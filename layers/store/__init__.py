"""The workspace store: one interface, a GeoPackage backend and a PostGIS backend.

:func:`open_workspace` takes a location — a ``.gpkg`` path, or a PostgreSQL connection string
(``postgresql://user@host/db`` or ``host=… dbname=…``, optionally ``?schema=NAME`` / ``schema=``
to pick the workspace's schema, default ``planner``) — and returns the matching backend.
Every caller (CLI ``--workspace``, ``$PLANNER_WORKSPACE``, the app) goes through it.
"""
from __future__ import annotations

import os

from layers.store.base import DEFAULT_CRS, Transaction, WorkspaceBase, check_name, now_utc
from layers.store.gpkg import GeoPackageWorkspace

__all__ = ["open_workspace", "create_workspace", "is_database", "WorkspaceBase", "GeoPackageWorkspace",
           "Transaction", "DEFAULT_CRS", "check_name", "now_utc"]


def is_database(location) -> bool:
    """True when ``location`` is a PostgreSQL connection string rather than a file path."""
    text = os.fspath(location)
    return text.startswith(("postgresql:", "postgres:")) or "dbname=" in text


def open_workspace(location, *, readonly: bool = True, schema: str | None = None) -> WorkspaceBase:
    """Open a workspace by location: a ``.gpkg`` path, or a PostgreSQL DSN (PostGIS backend)."""
    if is_database(location):
        from layers.store.postgis import PostGISWorkspace, split_schema

        dsn, found = split_schema(os.fspath(location))
        return PostGISWorkspace.open(dsn, schema=schema or found or "planner", readonly=readonly)
    return GeoPackageWorkspace.open(location, readonly=readonly)


def create_workspace(location, *, crs: str = DEFAULT_CRS, overwrite: bool = False, title: str = "",
                     info: dict | None = None, schema: str | None = None) -> WorkspaceBase:
    """Create an empty workspace at ``location`` (a ``.gpkg`` path or a PostgreSQL DSN)."""
    if is_database(location):
        from layers.store.postgis import PostGISWorkspace, split_schema

        dsn, found = split_schema(os.fspath(location))
        return PostGISWorkspace.create(dsn, schema=schema or found or "planner", crs=crs, overwrite=overwrite,
                                       title=title, info=info)
    return GeoPackageWorkspace.create(location, crs=crs, overwrite=overwrite, title=title, info=info)
