"""Stage 8, the commit: the plan's rows written into the workspace as one atomic step, with provenance.

The one place where an import writes the workspace is :func:`_write`; the mapping is saved
in the same step when asked.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import geopandas as gpd
import pandas as pd

from geo.errors import ImportDataError
from layers.imports.mappings import MAPPINGS_TABLE, _mappings_with
from layers.imports.plan import ON_PROBLEMS, ImportPlan
from layers.imports.problems import check_choice
from layers.workspace import Workspace

__all__ = ["ImportResult", "commit_import"]


@dataclass
class ImportResult:
    """What :func:`commit_import` wrote."""

    layer: str
    mode: str
    rows_written: int
    rows_skipped: int
    rows_repaired: int
    skipped_rows: list[int]
    repaired_rows: list[int]
    mapping_saved: str | None = None


def commit_import(workspace: Workspace, plan: ImportPlan, *, on_problems: Literal["cancel", "skip", "fix"] = "cancel",
                  save_mapping_as: str | None = None) -> ImportResult:
    """Write ``plan`` into ``workspace`` as one atomic step, with provenance in the layer's metadata.

    Parameters
    ----------
    on_problems : {"cancel", "skip", "fix"}
        What to do with rows that have errors (warnings never block): ``cancel`` writes
        nothing and raises; ``skip`` leaves those rows out; ``fix`` repairs geometries
        (make_valid, force_2d, closed rings) and clears bad optional values, and leaves out
        rows that cannot be repaired.  Skipped and repaired source rows are recorded.
    save_mapping_as : str, optional
        Also store the column mapping under this name in ``import_mappings`` (same write).

    Raises
    ------
    ImportDataError
        Cancelled with errors, nothing left to write, a plan for another CRS, or a join
        whose layer changed since the preview. The workspace is then unchanged.
    """
    check_choice("on_problems", on_problems, ON_PROBLEMS)
    workspace.require_writable()
    if plan.target_crs != workspace.crs.to_string():
        raise ImportDataError(f"the plan was made for {plan.target_crs} but the workspace works in "
                              f"{workspace.crs.to_string()}; preview the import again with this workspace.",
                              message_zh="导入预览所用坐标系与工作空间不同;请用该工作空间重新预览。")
    if plan.mode == "raster":
        workspace.register_raster(plan.layer, plan.raster_path, source=f"{plan.source_name} sha256:{plan.sha256[:16]}")
        return ImportResult(plan.layer, "raster", 1, 0, 0, [], [])
    frame, skipped, repaired = plan.resolve(on_problems)
    if len(frame) == 0:
        raise ImportDataError(
            f"{plan.source_name}: every row has an error that '{on_problems}' cannot resolve; nothing was written. "
            + plan.summary("en"),
            message_zh=f"{plan.source_name}:所有行都有无法处理的错误,未写入任何数据。" + plan.summary("zh"))
    if plan.mode == "join":
        if workspace.version != plan.workspace_version:
            raise ImportDataError(
                f"{plan.layer} changed in the workspace since this import was previewed; preview it again.",
                message_zh=f"预览之后工作空间中的{plan.layer}已被修改;请重新预览。")
        frame = _joined(workspace, plan, frame)
    provenance = {
        "importer": {
            "source": plan.source_name, "sha256": plan.sha256, "bytes": plan.size, "format": plan.format,
            "mode": plan.mode, "encoding": plan.encoding.encoding, "encoding_how": plan.encoding.how,
            "crs": plan.crs, "mapping": {m.source: m.field for m in plan.mapping},
            "units": {m.source: [m.unit, m.factor] for m in plan.mapping if m.unit},
            "rows_read": plan.rows, "rows_written": int(len(frame)) if plan.mode != "join" else plan.rows - len(skipped),
            "rows_skipped": len(skipped), "skipped_rows": skipped[:1000], "rows_repaired": len(repaired),
            "repaired_rows": repaired[:1000], "on_problems": on_problems, "problems": plan.counts(),
            "key": plan.key if plan.mode == "join" else None,
        }
    }
    frames = {plan.layer: frame}
    if save_mapping_as:
        frames[MAPPINGS_TABLE] = _mappings_with(workspace, save_mapping_as, plan)
    workspace.write_many(frames, source=plan.source_name, extra={plan.layer: provenance})
    return ImportResult(plan.layer, plan.mode, int(len(frame)) if plan.mode != "join" else plan.rows - len(skipped),
                        len(skipped), len(repaired), skipped, repaired, save_mapping_as)


def _joined(ws: Workspace, plan: ImportPlan, table: pd.DataFrame) -> gpd.GeoDataFrame:
    """The workspace layer with the table's non-empty values written onto the rows with the same key."""
    key = plan.key
    layer = ws.read(plan.layer)
    cols = [c for c in table.columns if c not in (key, "name")]
    upd = table.drop_duplicates(key).set_index(key)
    keys = layer[key].astype("string")
    hit = keys.isin(upd.index).to_numpy(dtype=bool)
    for c in cols:
        new = keys[hit].map(upd[c])
        if c not in layer.columns:
            layer[c] = pd.Series(pd.NA, index=layer.index, dtype=upd[c].dtype)
        current = layer.loc[hit, c]
        layer.loc[hit, c] = new.where(new.notna(), current).to_numpy()
    return layer
