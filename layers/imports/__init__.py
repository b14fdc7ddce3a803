"""Bring your own data into the workspace: read, decode, CRS, map columns, type, validate, plan, commit.

The public face of the importer (see :mod:`layers.imports.plan` for the two-step design:
:func:`plan_import` previews, :func:`commit_import` writes).
"""
from layers.imports.plan import (DEPARTMENT_TABLES, MAPPINGS_TABLE, MODES, ON_PROBLEMS, ImportPlan, ImportResult,
                                 commit_import, list_mappings, load_mapping, plan_import, save_mapping, template_xlsx)
from layers.imports.read import ImportLimits, default_limits

__all__ = [
    "ImportPlan",
    "ImportResult",
    "ImportLimits",
    "ON_PROBLEMS",
    "MODES",
    "DEPARTMENT_TABLES",
    "MAPPINGS_TABLE",
    "plan_import",
    "commit_import",
    "save_mapping",
    "load_mapping",
    "list_mappings",
    "template_xlsx",
    "default_limits",
]
