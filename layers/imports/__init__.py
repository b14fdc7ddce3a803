"""Bring your own data into the workspace: read, decode, CRS, map columns, type, validate, plan, commit.

The public face of the importer; :mod:`layers.imports.pipeline` describes the two steps
(:func:`plan_import` previews, :func:`commit_import` writes) and the stages between them.
"""
from layers.imports.commit import ImportResult, commit_import, removal_references
from layers.imports.mappings import MAPPINGS_TABLE, list_mappings, load_mapping, save_mapping
from layers.imports.modes import MODES
from layers.imports.pipeline import plan_import
from layers.imports.plan import ON_PROBLEMS, ImportPlan
from layers.imports.source import ImportLimits, default_limits
from layers.imports.templates import DEPARTMENT_TABLES, template_xlsx

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
    "removal_references",
    "save_mapping",
    "load_mapping",
    "list_mappings",
    "template_xlsx",
    "default_limits",
]
