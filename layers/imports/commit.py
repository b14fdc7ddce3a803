"""Stage 8, the commit: the plan's rows written into the workspace as one atomic step, with provenance.

The layer written is the one :meth:`ImportPlan.change` showed in the preview (the same
function computes both).  A commit refuses, writing nothing, when the plan is not ready
(columns to map, fields to supply), when the workspace changed since the preview, when every
row has an error the choice cannot resolve, and when rows would be removed without the
planner's confirmation (``confirm_removal``: CLI ``--yes``, the confirmation box on the page).

The one place where an import writes the workspace is :func:`_write`: one transaction of the
store, by an administrator (``import``), in which the layer it replaces is kept as a version
(restorable: :meth:`~layers.store.base.WorkspaceBase.restore_layer`), the mapping is saved when
asked, and the audit log records the import.
"""
from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from geo.errors import ImportDataError
from geo.progress import Progress, Steps
from layers import access, references
from layers.imports.mappings import store_mapping
from layers.imports.modes import LayerChange, format_cell
from layers.imports.plan import ON_PROBLEMS, ImportPlan
from layers.imports.problems import check_choice
from layers.imports.raster import WARP_PREFIX
from layers.references import KEYS, references_text
from layers.workspace import Workspace

__all__ = ["ImportResult", "commit_import", "removal_references"]

_log = logging.getLogger(__name__)

_CELLS_KEPT = 1000  # changed cells recorded in the layer's metadata


@dataclass
class ImportResult:
    """What :func:`commit_import` wrote: rows of the file applied, and what that did to the layer."""

    layer: str
    mode: str
    rows_written: int
    rows_skipped: int
    rows_repaired: int
    skipped_rows: list[int]
    repaired_rows: list[int]
    mapping_saved: str | None = None
    added: int = 0
    changed: int = 0
    removed: int = 0
    cells: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["key", "field", "old", "new"]))

    def summary(self, lang: str = "en") -> str:
        if lang == "zh":
            return (f"已写入 {self.layer}:{self.rows_written} 行,跳过 {self.rows_skipped} 行,修复 {self.rows_repaired} 行;"
                    f"新增 {self.added} 行,修改 {self.changed} 行,删除 {self.removed} 行")
        return (f"wrote {self.layer}: {self.rows_written} row(s), skipped {self.rows_skipped}, repaired "
                f"{self.rows_repaired}; added {self.added}, changed {self.changed}, removed {self.removed}")


def commit_import(workspace: Workspace, plan: ImportPlan, *, actor,
                  on_problems: Literal["cancel", "skip", "fix"] = "cancel",
                  save_mapping_as: str | None = None, confirm_removal: bool = False,
                  progress: Progress | None = None) -> ImportResult:
    """Write ``plan`` into ``workspace`` as one transaction, with provenance in the layer's metadata.

    Parameters
    ----------
    actor : layers.access.Actor
        An administrator (imports replace the county's data).
    on_problems : {"cancel", "skip", "fix"}
        What to do with rows that have errors (warnings never block): ``cancel`` writes
        nothing and raises; ``skip`` leaves those rows out; ``fix`` repairs geometries
        (make_valid, force_2d, closed rings) and empties bad optional values — in a join the
        stored cell is emptied too, never left at last year's value — and leaves out rows
        that cannot be repaired.  Skipped and repaired source rows are recorded.
    save_mapping_as : str, optional
        Also store the column mapping under this name in ``import_mappings`` (same write).
    confirm_removal : bool
        The planner confirmed that rows of the layer are removed (a replace by a file that
        lacks them).  Without it such a commit raises and writes nothing.
    progress : callable, optional
        Told as resolving the rows, computing the change and writing start (:mod:`geo.progress`).

    Raises
    ------
    SchemaError
        The plan is not ready: columns to map or required fields to supply.
    ImportDataError
        Cancelled with errors, nothing left to write, a plan for another CRS, a workspace
        changed since the preview, or rows removed without confirmation.  The workspace is
        then unchanged.
    """
    check_choice("on_problems", on_problems, ON_PROBLEMS)
    access.require(actor, "import")
    workspace.require_writable()
    if plan.target_crs != workspace.crs.to_string():
        raise ImportDataError(f"the plan was made for {plan.target_crs} but the workspace works in "
                              f"{workspace.crs.to_string()}; preview the import again with this workspace.",
                              message_zh="导入预览所用坐标系与工作空间不同;请用该工作空间重新预览。")
    if plan.mode == "raster":
        workspace.register_raster(plan.layer, plan.raster_path, actor=actor,
                                  source=f"{plan.source_name} sha256:{plan.sha256[:16]}")
        warped = Path(plan.raster_path).parent
        if warped.name.startswith(WARP_PREFIX):  # the workspace holds its own copy now
            shutil.rmtree(warped, ignore_errors=True)
        return ImportResult(plan.layer, "raster", 1, 0, 0, [], [])
    plan.check_ready()
    steps = Steps(progress, ("resolve", "change", "write"), task="import")
    steps.start("resolve")
    # the layer's own version: other writes (a shortlist click) do not make the preview stale
    if plan.workspace_version is not None and workspace.layer_versions().get(plan.layer) != plan.workspace_version:
        raise ImportDataError(
            f"{plan.layer} changed in the workspace since this import was previewed; preview it again.",
            message_zh=f"预览之后工作空间中的{plan.layer}已被修改;请重新预览。")
    resolved = plan.resolved(on_problems)
    if len(resolved.frame) == 0:
        raise ImportDataError(
            f"{plan.source_name}: every row has an error that '{on_problems}' cannot resolve; nothing was written. "
            + plan.summary("en"),
            message_zh=f"{plan.source_name}:所有行都有无法处理的错误,未写入任何数据。" + plan.summary("zh"))
    steps.start("change")
    change = plan.change(on_problems)
    if change.removed and not confirm_removal:
        raise _removal_refused(plan, change, removal_references(workspace, plan, change))
    result = ImportResult(plan.layer, plan.mode, int(len(resolved.frame)), len(resolved.skipped),
                          len(resolved.repaired), resolved.skipped, resolved.repaired, save_mapping_as,
                          change.added, change.changed, change.removed, change.cells)
    steps.start("write")
    _write(workspace, plan, change.layer, _provenance(plan, change, result, on_problems), save_mapping_as, actor,
           progress=steps.part("write"))
    steps.finish()
    _log.info("import: %s into %s (%s): %d added, %d changed, %d removed", plan.source_name, plan.layer, plan.mode,
              change.added, change.changed, change.removed)
    return result


def removal_references(workspace: Workspace, plan: ImportPlan, change: LayerChange) -> dict:
    """Shortlist entries and stored runs that refer to rows this import would remove
    (:func:`layers.references.removal_references`); nothing when no row is removed."""
    key = KEYS.get(plan.layer)
    if not change.removed or key is None or key not in change.layer.columns:
        return {"removed": 0, "shortlist": 0, "runs": {}}
    return references.removal_references(workspace, plan.layer, change.layer[key])


def _removal_refused(plan: ImportPlan, change: LayerChange, refs: dict) -> ImportDataError:
    shown = ", ".join(map(str, change.removed_keys[:5])) + (", …" if change.removed > 5 else "")
    how = "mode auto chose replace; " if plan.requested_mode == "auto" else ""
    en, zh = references_text(refs, "en"), references_text(refs, "zh")
    return ImportDataError(
        f"{plan.source_name}: {how}this import would remove {change.removed:,} of the {change.before:,} rows of "
        f"{plan.layer} ({shown}) and keep {change.after:,}; nothing was written. {en + ' ' if en else ''}If that is "
        "what you want, confirm it (CLI --yes, on the page: the confirmation box). To update only the file's rows use "
        "mode upsert; to replace one township's rows, replace_township with --township.",
        message_zh=f"{plan.source_name}:本次导入将删除 {plan.layer} 全部 {change.before:,} 行中的 {change.removed:,} 行"
                   f"({shown}),只保留 {change.after:,} 行;未写入任何数据。{zh}如确需如此,请确认(命令行 --yes,页面上勾选确认)。"
                   "只更新文件中的行请用“按编号更新”;只替换一个镇街请用“按镇街替换”。",
        details=[{"removed": change.removed, "before": change.before, "after": change.after,
                  "removed_keys": change.removed_keys, "references": refs}])


def _provenance(plan: ImportPlan, change: LayerChange, result: ImportResult, on_problems: str) -> dict:
    """What the layer's metadata records about this import (source, mapping, rows, the change, changed cells)."""
    cells = change.cells.head(_CELLS_KEPT)
    return {
        "importer": {
            "source": plan.source_name, "sha256": plan.sha256, "bytes": plan.size, "format": plan.format,
            "mode": plan.mode, "requested_mode": plan.requested_mode, "township": plan.township,
            "encoding": plan.encoding.encoding, "encoding_how": plan.encoding.how,
            "crs": plan.crs, "mapping": {m.source: m.field for m in plan.mapping},
            "units": {m.source: [m.unit, m.factor] for m in plan.mapping if m.unit}, "supplied": plan.supplied,
            "rows_read": plan.rows, "rows_written": result.rows_written,
            "rows_skipped": result.rows_skipped, "skipped_rows": result.skipped_rows[:1000],
            "rows_repaired": result.rows_repaired, "repaired_rows": result.repaired_rows[:1000],
            "on_problems": on_problems, "problems": plan.counts(),
            "key": plan.key if plan.mode == "join" else None,
            "change": change.counts(), "removed_keys": change.removed_keys,
            "cells_changed": [[str(r.key), str(r.field), format_cell(r.old), format_cell(r.new)]
                              for r in cells.itertuples(index=False)],
        }
    }


def _write(workspace: Workspace, plan: ImportPlan, layer, provenance: dict, save_mapping_as: str | None,
           actor, *, progress: Progress | None = None) -> None:
    """The one write of an import: the layer (and the saved mapping) in one transaction, audited."""
    within = (lambda tx: store_mapping(tx, save_mapping_as, plan, actor)) if save_mapping_as else None
    c = provenance["importer"]["change"]
    workspace.write_many({plan.layer: layer}, actor=actor, action="import", source=plan.source_name,
                         extra={plan.layer: provenance}, within=within, progress=progress,
                         summary=f"导入 {plan.source_name}({plan.mode}):{plan.layer} {c['before']:,} → {c['after']:,} 行,"
                                 f"新增 {c['added']:,},修改 {c['changed']:,},删除 {c['removed']:,}")
