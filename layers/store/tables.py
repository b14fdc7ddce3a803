"""The workspace's bookkeeping tables: one catalogue, created and migrated by every backend.

Each table has an integer row id (``TableDef.pk``, assigned by the database), a natural
key where one exists (``unique``), and typed columns in backend-neutral terms
(``text``, ``int``, ``real``, ``bool``).  ``geometry`` marks the one spatial bookkeeping
table (the shortlist).  Tables marked ``append_only`` refuse UPDATE and DELETE by trigger:
the audit log is written once and never edited by the app.

Shared tables are only ever changed inside one transaction of the store (read-modify-write
serialised by the database) or by appending a row of their own — never by rewriting the
whole table (DESIGN.md, rules of the house).
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TableDef", "TABLES", "META_TABLES", "COLUMN_TYPES"]

COLUMN_TYPES = ("text", "int", "real", "bool")


@dataclass(frozen=True)
class TableDef:
    name: str
    columns: tuple[tuple[str, str], ...]
    pk: str = "fid"                    # row id; when it names a column, that text column is the key
    unique: tuple[str, ...] = ()
    geometry: str | None = None        # geometry type name of a spatial table ("GEOMETRY")
    append_only: bool = False
    registered: bool = True            # listed in gpkg_contents (GIS tools see it)
    description: str = ""

    @property
    def column_names(self) -> list[str]:
        return [c for c, _ in self.columns]


def _t(name, columns, **kw) -> TableDef:
    return TableDef(name, tuple((c.split(":")[0], c.split(":")[1]) for c in columns.split()), **kw)


#: Internal registry tables (never listed as layers, not registered for GIS tools).
META_TABLES: dict[str, TableDef] = {t.name: t for t in (
    _t("ws_info", "key:text value:text", pk="key", registered=False),
    _t("ws_layers", "layer:text kind:text crs:text source:text imported_at:text row_count:int extra:text "
       "version:int changed_at:text changed_by:text", pk="layer", registered=False),
    _t("ws_layer_versions", "layer:text version:int table_name:text replaced_at:text replaced_by:text row_count:int "
       "source:text imported_at:text extra:text", registered=False, unique=("table_name",)),
    _t("ws_rasters", "kind:text file:text crs:text source:text imported_at:text info:text", pk="kind",
       registered=False),
)}

#: Bookkeeping tables of the planners' work (GIS tools see them as attribute tables).
TABLES: dict[str, TableDef] = {t.name: t for t in (
    _t("runs", "run_id:text kind:text preset:text created:text as_of:text parameters:text counts:text seconds:real "
       "workspace_version:text input_versions:text created_by:text layers:text", unique=("run_id",),
       description="analysis runs (chain, siting, integration)"),
    _t("regrades", "credit_code:text name:text computed_class:text new_class:text reason:text run_id:text who:text "
       "at:text", pk="regrade_id", description="manual re-grades of firms (latest per firm applies)"),
    _t("import_mappings", "name:text layer:text format:text mapping:text saved_at:text saved_by:text",
       unique=("name",), description="saved column mappings of imports"),
    _t("shortlist", "entry_id:text item_kind:text item_id:text rank:int status:text township_code:text "
       "township_name:text area_m2:real reasons:text score:real grade:text land_use:text land_holder:text "
       "industry_code:text park_id:text notes:text source:text added_by:text added_at:text updated_by:text "
       "updated_at:text row_version:int", unique=("entry_id",), geometry="GEOMETRY",
       description="候选清单: plots, clusters and sites the planners listed"),
    _t("shortlist_history", "at:text who:text action:text entry_id:text item_kind:text item_id:text field:text "
       "old_value:text new_value:text reason:text", pk="history_id", append_only=True,
       description="every change to the shortlist"),
    _t("audit_log", "at:text username:text role:text township:text action:text target:text summary:text "
       "detail:text", pk="audit_id", append_only=True, description="操作日志: every write, who and when"),
    _t("users", "username:text display_name:text role:text township:text password_hash:text source:text "
       "disabled:bool failed_count:int last_failed_at:text locked_until:text created_at:text updated_at:text "
       "last_login_at:text", unique=("username",), registered=False, description="accounts of the app"),
    _t("sessions", "token_hash:text username:text method:text created_at:text last_seen:text", unique=("token_hash",),
       registered=False, description="signed-in browser sessions (the cookie holds the token, this its hash)"),
)}
