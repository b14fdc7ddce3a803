"""Stage 7, the plan: what an import will do, and every problem found — before anything is written.

:class:`ImportPlan` is what :func:`~layers.imports.pipeline.plan_import` returns: the typed rows in
the working CRS, the report (problems with rows and fixes, blocking issues, hints), and — per
choice of ``on_problems`` — the rows a commit writes (:meth:`ImportPlan.resolve`) and what that
does to the layer (:meth:`ImportPlan.change`, the same computation the commit uses).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.errors import ImportDataError, SchemaError
from geo.io import UNCLOSED_RINGS_ATTR
from layers.imports.decode import EncodingInfo
from layers.imports.modes import LayerChange, apply_mode
from layers.imports.problems import PROBLEM_INFO, check_choice
from layers.schema import SPECS, get_spec

__all__ = ["ImportPlan", "Resolved", "ON_PROBLEMS"]


ON_PROBLEMS = ("cancel", "skip", "fix")


class Resolved(NamedTuple):
    """The file's rows as a commit writes them under one ``on_problems`` choice."""

    frame: pd.DataFrame | gpd.GeoDataFrame
    skipped: list[int]  # source rows left out
    repaired: list[int]  # source rows repaired (geometry) or with values emptied
    cleared: pd.DataFrame  # bool, same index as ``frame``: the cells ``fix`` emptied


@dataclass
class ImportPlan:
    """The preview of an import: everything :func:`commit_import` will do, and every problem found.

    Attributes
    ----------
    frame : GeoDataFrame or DataFrame
        Mapped, typed rows in the workspace CRS, geometries as read (index 0..n-1).
    fixed_geometry : GeoSeries or None
        The geometries after repair (``make_valid``, ``force_2d``, closed rings) — used by
        ``on_problems="fix"``.
    problems : DataFrame
        One row per (row, field, problem): ``pos`` (index in ``frame``), ``row`` (the row
        number the user sees in the file), ``field``, ``code``, ``severity``
        ("error"/"warning"), ``fix`` ("repair", "clear" or None = row is skipped), ``value``,
        ``suggestion`` (the value probably meant, or None), ``message``, ``message_zh``.
    geometry_report : DataFrame
        :func:`geo.validate.validate_geometries`'s report plus the source ``row``; the area
        columns are m² in the workspace CRS.
    mapping : list of ColumnMap
        source column → field, with the header's unit and the conversion factor.
    blocking : list of (str, str)
        What stops a commit until the planner acts (English, Chinese): columns that cannot
        be mapped, required fields neither in the file nor supplied.  The plan is still
        complete, so the mapping step can show every column.
    missing : list of str
        Required fields the file lacks and nothing supplies.
    supplied : dict
        Field → how it was supplied: ``{"status": "constant in_use", "township_code": "derived"}``.
    existing : DataFrame or None
        The layer as it was at the preview (None: the workspace had none); the commit
        refuses if the workspace changed since.
    hints : list of (str, str)
        Things the planner should check before writing (a file that says it comes from Gaode).
    """

    source_name: str
    source_path: str
    sha256: str
    size: int
    format: str
    layer: str
    mode: str
    target_crs: str
    encoding: EncodingInfo
    crs: dict
    mapping: list
    unmapped: list[str]
    frame: pd.DataFrame | gpd.GeoDataFrame
    source_rows: np.ndarray
    problems: pd.DataFrame
    geometry_report: pd.DataFrame | None = None
    fixed_geometry: gpd.GeoSeries | None = None
    notes: list[str] = field(default_factory=list)
    notes_zh: list[str] = field(default_factory=list)
    preview: pd.DataFrame | None = None
    key: str | None = None
    workspace_version: tuple | None = None
    raster_path: str | None = None
    raster_info: dict | None = None
    options: dict = field(default_factory=dict)
    blocking: list[tuple[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    supplied: dict[str, str] = field(default_factory=dict)
    existing: pd.DataFrame | None = None
    township: str | None = None
    requested_mode: str = "auto"
    hints: list[tuple[str, str]] = field(default_factory=list)
    _changes: dict = field(default_factory=dict, repr=False)

    # --- report ---------------------------------------------------------------------
    @property
    def rows(self) -> int:
        return int(len(self.frame)) if self.frame is not None else 0

    @property
    def errors(self) -> pd.DataFrame:
        return self.problems[self.problems["severity"] == "error"]

    @property
    def warnings(self) -> pd.DataFrame:
        return self.problems[self.problems["severity"] == "warning"]

    @property
    def ready(self) -> bool:
        """Whether nothing but row problems stands between this plan and a commit."""
        return not self.blocking

    def check_ready(self) -> None:
        """Raise :class:`SchemaError` with every blocking problem (columns to map, fields to supply)."""
        if self.blocking:
            raise SchemaError(f"{self.source_name}: " + "; ".join(en for en, _ in self.blocking) + ".",
                              message_zh=f"{self.source_name}:" + ";".join(zh for _, zh in self.blocking) + "。",
                              details=[en for en, _ in self.blocking])

    def counts(self) -> dict[str, int]:
        """Rows per problem code (a row counts once per code)."""
        if self.problems.empty:
            return {}
        return {str(k): int(v) for k, v in self.problems.drop_duplicates(["pos", "code"])["code"].value_counts().items()}

    def mapping_dict(self) -> dict:
        """The column mapping as saved for reuse: columns, units, key, and the constants and derived fields."""
        constants = {f: how.removeprefix("constant ") for f, how in self.supplied.items() if how.startswith("constant ")}
        if self.mode == "replace_township":
            constants.pop("township_code", None)  # this year's township, not next year's
        return {"layer": self.layer, "columns": {m.source: m.field for m in self.mapping},
                "units": {m.source: m.unit for m in self.mapping if m.unit}, "key": self.key,
                "set": constants, "derive": [f for f, how in self.supplied.items() if how == "derived"]}

    def summary(self, lang: str = "en") -> str:
        """One paragraph: what will be imported, what blocks it, and each problem with its count, rows and fix."""
        zh = lang == "zh"
        head = (f"{self.source_name} → {self.layer}:{self.rows} 行" if zh else
                f"{self.source_name} → {self.layer}: {self.rows} row(s)")
        if self.mode == "raster":
            return head
        lead = "".join((f"。无法导入:{zh_}" if zh else f". Cannot be imported yet: {en}") for en, zh_ in self.blocking)
        lead += "".join((f"。请注意:{zh_}" if zh else f". Check: {en}") for en, zh_ in self.hints)
        if self.problems.empty:
            if lead:
                return head + lead + ("。" if zh else ".")
            return head + ("，未发现问题。" if zh else ", no problems found.")
        parts = []
        order = self.problems.sort_values(["row", "pos"], kind="stable")
        for code, grp in order.groupby("code", sort=False):
            rows = sorted(set(int(r) for r in grp["row"]))
            shown = ", ".join(map(str, rows[:8])) + (f", … (+{len(rows) - 8})" if len(rows) > 8 else "")
            sev, _fix, fix_en, fix_zh = PROBLEM_INFO[code]
            first = grp.iloc[0]
            if zh:
                parts.append(f"{first['message_zh']}(共 {len(rows)} 行:第 {shown} 行)→ {fix_zh}")
            else:
                parts.append(f"{first['message']} ({len(rows)} row(s): {shown}) → {fix_en}")
        n_err = self.errors["pos"].nunique()
        tail = (f"。{n_err} 行有错误;选择“修复”“跳过”或“取消”。" if zh
                else f". {n_err} row(s) have errors: choose fix, skip or cancel.")
        return head + lead + (";" if zh else "; ") + ("; ".join(parts)) + tail

    # --- what a commit writes ---------------------------------------------------------
    def resolve(self, on_problems: str) -> Resolved:
        """The rows to write under ``on_problems``.

        ``cancel`` raises :class:`ImportDataError` when any row has an error; ``skip``
        leaves out every row with an error; ``fix`` repairs geometries and empties bad
        optional values (recorded in ``cleared``: a join stores them empty, never keeping the
        old value), and leaves out the rows whose errors cannot be repaired.
        """
        check_choice("on_problems", on_problems, ON_PROBLEMS)
        errors = self.errors
        if on_problems == "cancel" and not errors.empty:
            raise ImportDataError(
                "Import cancelled, nothing was written: " + self.summary("en"),
                message_zh="已取消导入,未写入任何数据:" + self.summary("zh"),
                details=errors[["row", "field", "code", "message"]].to_dict("records"),
            )
        out = self.frame.copy()
        n = len(out)
        skip = np.zeros(n, dtype=bool)
        repaired = np.zeros(n, dtype=bool)
        cleared = pd.DataFrame(index=out.index)
        if on_problems == "skip":
            skip[errors["pos"].to_numpy(dtype=int)] = True
        elif on_problems == "fix":
            optional = {f.name for f in get_spec(self.layer).fields if not f.required} if self.layer in SPECS else set()
            for (code, fld), grp in errors.groupby(["code", "field"], sort=False):
                pos = grp["pos"].to_numpy(dtype=int)
                action = PROBLEM_INFO[code][1]
                if action == "repair" and self.fixed_geometry is not None:
                    repaired[pos] = True
                elif action == "clear" and fld in optional and fld in out.columns:
                    out.iloc[pos, out.columns.get_loc(fld)] = pd.NA
                    if fld not in cleared.columns:
                        cleared[fld] = False
                    cleared.iloc[pos, cleared.columns.get_loc(fld)] = True
                    repaired[pos] = True
                else:
                    skip[pos] = True
            if repaired.any() and self.fixed_geometry is not None:
                geo_rows = repaired & ~skip
                col = out.geometry.name
                fixed = self.fixed_geometry.to_numpy()
                values = out[col].to_numpy().copy()
                values[geo_rows] = fixed[geo_rows]
                out[col] = gpd.GeoSeries(values, index=out.index, crs=out.crs)
                # A repair may collapse a polygon to nothing (a ring of 3 points): such rows cannot be written.
                gone = geo_rows & (shapely.is_missing(values) | shapely.is_empty(values))
                skip |= gone
        repaired &= ~skip
        rows = self.source_rows
        keep = np.flatnonzero(~skip)
        kept = out.iloc[keep]
        if isinstance(kept, gpd.GeoDataFrame) and UNCLOSED_RINGS_ATTR in kept.attrs:
            kept.attrs.pop(UNCLOSED_RINGS_ATTR, None)
        return Resolved(kept, [int(r) for r in rows[skip]], [int(r) for r in rows[repaired]], cleared.iloc[keep])

    def change(self, on_problems: str = "cancel") -> LayerChange:
        """The layer as the commit would write it under ``on_problems``, and what changes (rows, cells).

        Raises like :meth:`resolve` (``cancel`` with errors).
        """
        if on_problems not in self._changes:
            resolved = self.resolve(on_problems)
            spec = SPECS.get(self.layer)
            fields = [c for c in resolved.frame.columns if spec is not None and c in spec.field_names]
            mode = "replace" if self.mode == "table" else self.mode
            self._changes[on_problems] = (resolved, apply_mode(
                self.existing, resolved.frame, mode=mode, key=self.key if spec is not None else None, fields=fields,
                township=self.township, cleared=resolved.cleared))
        return self._changes[on_problems][1]

    def resolved(self, on_problems: str = "cancel") -> Resolved:
        """The resolved rows behind :meth:`change` (computed once per choice)."""
        self.change(on_problems)
        return self._changes[on_problems][0]

    def change_summary(self, lang: str = "en", on_problems: str = "cancel") -> str:
        """What the commit does to the layer: rows before → after, added, changed, removed (and why it may need a yes)."""
        ch = self.change(on_problems)
        text = ch.summary(lang, layer=self.layer)
        if ch.removed:
            text += ("。删除数据需要确认(命令行 --yes,页面上勾选确认)" if lang == "zh"
                     else ". Removing rows needs a confirmation (CLI --yes, the confirmation box on the page)")
        return text


