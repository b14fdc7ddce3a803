"""Import page: bring a planner's own file into the workspace, step by step.

Screen, top to bottom: ① upload (files, target layer, department templates to download) →
② encoding and CRS (detected, with overrides; GCJ-02; swap axes; more options) → "preview"
→ ③ column mapping (editable, re-preview) with the encoding, CRS steps, notes and the
first source rows → ④ the validation report (every problem with its row and fix; geometry
repairs with the area change) → ⑤ the rows on the map → ⑥ commit with cancel / skip / fix
and an optional saved mapping.

Nothing is written before ⑥: the page calls :func:`layers.importers.plan_import` and
:func:`layers.importers.commit_import`, nothing else.  Uploaded bytes go to a private
temporary folder under sanitised names; every text that came from a file is shown through
``st.dataframe``/``st.code`` or escaped (:func:`plain`) before Streamlit renders Markdown.
"""
from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import streamlit as st

from geo.errors import PlannerError
from geo.web import display_copy
from layers.importers import (DEPARTMENT_TABLES, ON_PROBLEMS, ImportPlan, commit_import, default_limits, list_mappings,
                              load_mapping, plan_import, template_xlsx)
from layers.schema import RASTER_KINDS, SPECS
from layers.workspace import Workspace
from ui.i18n import layer_label, t
from ui.shell import current_lang, plain, workspace_path

__all__ = ["render", "plain", "safe_filename", "MAP_KEY", "PLAN_KEY", "DEFAULT_LAYER", "guess_layer"]

MAP_KEY = "import_map"
PLAN_KEY = "import_plan"
_DIR_KEY = "import_dir"
_RESULT_KEY = "import_result"
_MAP_MAX_ROWS = 20_000  # the preview map draws at most this many features
_MAIN_EXTS = (".zip", ".kmz", ".shp", ".gpkg", ".geojson", ".json", ".kml", ".csv", ".xlsx", ".tif", ".tiff")


def safe_filename(name: str) -> str:
    """The last path part of an uploaded name, with anything but letters, digits, CJK, ``._-`` replaced."""
    base = Path(str(name).replace("\\", "/")).name
    base = re.sub(r"[^\w.\-\u4e00-\u9fff]", "_", base).lstrip(".")
    return base[:120] or "upload"


def _layer_choices() -> list[str]:
    return [*SPECS, *RASTER_KINDS, "_other"]


# Words in a file name that say which layer it holds (DLTB: the 三调 land-use layer of plots).
_NAME_HINTS = (
    ("micro_parks", ("小微", "micro")), ("industrial_parks", ("园区", "集聚区", "功能区", "park")),
    ("townships", ("镇街", "乡镇", "街道", "township", "xzq")), ("enterprises", ("企业", "enterprise", "firm")),
    ("constraints", ("红线", "农田", "水源", "constraint")), ("infrastructure", ("道路", "road", "infra")),
    ("plots", ("地块", "宗地", "dltb", "plot")),
)
DEFAULT_LAYER = "plots"  # what planners import most; never the townships (imported once, rarely replaced)


def guess_layer(file_names) -> str:
    """The target layer a file name suggests (``厂区地块.shp`` → plots); :data:`DEFAULT_LAYER` when none does."""
    text = " ".join(str(n) for n in file_names).lower()
    return next((layer for layer, words in _NAME_HINTS if layer in SPECS and any(w in text for w in words)),
                DEFAULT_LAYER)


def _on_upload() -> None:
    # Follow the file until the planner picks the layer by hand.
    if not st.session_state.get("_imp_layer_picked"):
        st.session_state["imp_layer"] = guess_layer(f.name for f in st.session_state.get("imp_files") or [])


def _picked() -> None:
    st.session_state["_imp_layer_picked"] = True


def _upload_step(lang: str) -> tuple[list, str]:
    st.subheader(t("imp_step_upload", lang))
    files = st.file_uploader(t("imp_files", lang), accept_multiple_files=True, key="imp_files",
                             type=[e.lstrip(".") for e in (*_MAIN_EXTS, ".shx", ".dbf", ".prj", ".cpg")],
                             on_change=_on_upload)
    st.session_state.setdefault("imp_layer", DEFAULT_LAYER)
    choice = st.selectbox(t("imp_layer", lang), _layer_choices(), key="imp_layer", on_change=_picked,
                          format_func=lambda n: t("imp_other", lang) if n == "_other" else f"{layer_label(n, lang)} ({n})")
    layer = st.text_input(t("imp_other_layer", lang), key="imp_other_name").strip() if choice == "_other" else choice
    with st.expander(t("imp_templates", lang)):
        cols = st.columns(len(DEPARTMENT_TABLES))
        for col, kind in zip(cols, DEPARTMENT_TABLES):
            col.download_button(t(f"imp_tpl_{kind}", lang), data=template_xlsx(kind), file_name=f"导入模板_{kind}.xlsx",
                                mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                                key=f"imp_tpl_{kind}")
    return files or [], layer


def _options_step(lang: str, ws: Workspace) -> dict:
    st.subheader(t("imp_step_options", lang))
    c1, c2, c3 = st.columns(3)
    enc = c1.selectbox(t("imp_encoding", lang), ["auto", "UTF-8", "GB18030"], key="imp_encoding",
                       format_func=lambda e: t("imp_auto", lang) if e == "auto" else e)
    crs = c2.text_input(t("imp_crs", lang), key="imp_crs").strip()
    mode = c3.selectbox(t("imp_mode", lang), ["auto", "replace", "join"], key="imp_mode",
                        format_func=lambda m: t(f"imp_mode_{m}", lang))
    c4, c5 = st.columns(2)
    gcj02 = c4.checkbox(t("imp_gcj02", lang), key="imp_gcj02")
    swap = c5.checkbox(t("imp_swap", lang), key="imp_swap")
    with st.expander(t("imp_advanced", lang)):
        sheet = st.text_input(t("imp_sheet", lang), key="imp_sheet").strip()
        member = st.text_input(t("imp_member", lang), key="imp_member").strip()
        source_layer = st.text_input(t("imp_source_layer", lang), key="imp_source_layer").strip()
        saved = list(list_mappings(ws)["name"])
        mapping_name = st.selectbox(t("imp_saved_mapping", lang), ["", *saved], key="imp_saved_mapping",
                                    format_func=lambda n: n or t("imp_none", lang))
    return {"encoding": None if enc == "auto" else enc, "crs": crs or None, "mode": mode, "gcj02": gcj02,
            "swap_axes": swap or None, "sheet": sheet or None, "member": member or None,
            "source_layer": source_layer or None,
            "mapping": load_mapping(ws, mapping_name) if mapping_name else None}


def _save_uploads(files, lang: str) -> Path | None:
    """Write the uploads into a fresh private folder; return the file to import (zip, .shp or the single file)."""
    limit = default_limits().max_upload_bytes
    total = sum(f.size for f in files)
    if total > limit:
        st.error(t("imp_too_big", lang, mb=f"{total / 2**20:,.1f}", limit=f"{limit / 2**20:,.0f}"))
        return None
    old = st.session_state.get(_DIR_KEY)
    if old:
        shutil.rmtree(old, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(prefix="planner-upload-"))
    st.session_state[_DIR_KEY] = str(folder)
    paths = []
    for f in files:
        p = folder / safe_filename(f.name)
        p.write_bytes(f.getvalue())
        paths.append(p)
    mains = [p for p in paths if p.suffix.lower() in _MAIN_EXTS]
    shp = [p for p in mains if p.suffix.lower() == ".shp"]
    return (shp or mains or paths)[0]


def _plan(files, layer: str, options: dict, ws: Workspace, lang: str, mapping=None) -> None:
    st.session_state.pop(_RESULT_KEY, None)
    path = _save_uploads(files, lang)
    if path is None:
        return
    opts = dict(options)
    if mapping is not None:
        opts["mapping"] = mapping
    try:
        st.session_state[PLAN_KEY] = plan_import(path, layer=layer, workspace=ws, display_name=path.name, **opts)
    except PlannerError as exc:
        st.session_state.pop(PLAN_KEY, None)
        st.session_state["import_error"] = exc.localized(lang)


def _mapping_step(plan: ImportPlan, lang: str) -> dict | None:
    st.subheader(t("imp_step_mapping", lang))
    if plan.encoding.encoding:
        st.caption(plain(t("imp_encoding_found", lang, enc=plan.encoding.encoding, how=plan.encoding.how)
                         + (f" · {plan.encoding.candidates}" if plan.encoding.candidates else "")))
    if plan.crs.get("steps"):
        st.caption(plain(t("imp_crs_steps", lang) + ": " + " → ".join(plan.crs["steps"])))
    notes = plan.notes_zh if lang == "zh" else plan.notes
    if notes:
        st.code("\n".join(notes), language=None)
    if plan.preview is not None and len(plan.preview):
        st.caption(t("imp_raw_preview", lang))
        st.dataframe(plan.preview.astype("string"), hide_index=True, key="imp_raw")
    if plan.layer not in SPECS or plan.mode == "raster":
        return None
    fields = [""] + SPECS[plan.layer].field_names
    table = pd.DataFrame({
        "source": [m.source for m in plan.mapping] + plan.unmapped,
        "field": [m.field for m in plan.mapping] + [""] * len(plan.unmapped),
        "unit": [m.unit or "" for m in plan.mapping] + [""] * len(plan.unmapped),
    })
    edited = st.data_editor(
        table, key="imp_mapping_editor", hide_index=True, disabled=["source"],
        column_config={
            "source": st.column_config.TextColumn(t("imp_source_col", lang)),
            "field": st.column_config.SelectboxColumn(t("imp_field", lang), options=fields),
            "unit": st.column_config.TextColumn(t("imp_unit", lang)),
        },
    )
    if st.button(t("imp_apply_mapping", lang), key="imp_apply_mapping"):
        cols = {r.source: (r.field or "skip") for r in edited.itertuples()}
        units = {r.source: r.unit for r in edited.itertuples() if r.unit}
        return {"columns": cols, "units": units}
    return None


def _report_step(plan: ImportPlan, lang: str) -> None:
    st.subheader(t("imp_step_report", lang))
    st.info(plain(plan.summary(lang)))
    if plan.problems.empty:
        st.success(t("imp_no_problems", lang))
        return
    msg = "message_zh" if lang == "zh" else "message"
    st.dataframe(plan.problems[["row", "field", "code", "severity", msg]], hide_index=True, key="imp_problems")
    rep = plan.geometry_report
    if rep is not None:
        changed = rep[rep["problem"] != ""][["row", "problem", "reason", "area_before", "area_after", "area_change"]]
        if len(changed):
            st.caption(t("imp_repairs", lang))
            st.dataframe(changed, hide_index=True, key="imp_repairs")


def _map_step(plan: ImportPlan, lang: str) -> None:
    if not isinstance(plan.frame, gpd.GeoDataFrame) or plan.frame.empty:
        return
    from streamlit_folium import st_folium

    from ui.mapview import build_map
    from ui.offline import static_base_url

    st.subheader(t("imp_step_map", lang))
    shown = plan.frame.iloc[:_MAP_MAX_ROWS]
    fixed = plan.fixed_geometry.iloc[:_MAP_MAX_ROWS] if plan.fixed_geometry is not None else shown.geometry
    drawable = shown.set_geometry(fixed)
    drawable = drawable[drawable.geometry.notna() & ~drawable.geometry.is_empty & drawable.geometry.is_valid]
    try:
        layer = display_copy(drawable, tolerance_m=0.5, decimals=6, name=plan.layer)
        m = build_map({plan.layer: layer}, lang=lang, static_url=static_base_url(st.get_option("server.baseUrlPath") or ""))
    except PlannerError as exc:
        st.warning(plain(exc.localized(lang)))
        return
    st_folium(m, key=MAP_KEY, height=420, use_container_width=True, returned_objects=[])


def _commit_step(plan: ImportPlan, lang: str) -> None:
    st.subheader(t("imp_step_commit", lang))
    choice = st.radio(t("imp_on_problems", lang), ON_PROBLEMS, key="imp_on_problems", horizontal=True,
                      format_func=lambda o: t(f"imp_op_{o}", lang))
    name = st.text_input(t("imp_save_mapping", lang), key="imp_save_mapping").strip() if plan.mapping else ""
    if st.button(t("imp_commit", lang), type="primary", key="imp_commit"):
        try:
            ws = Workspace.open(workspace_path(), readonly=False)
            result = commit_import(ws, plan, on_problems=choice, save_mapping_as=name or None)
        except PlannerError as exc:
            st.error(plain(exc.localized(lang)))
            return
        st.session_state[_RESULT_KEY] = t("imp_done", lang, layer=result.layer, written=result.rows_written,
                                          skipped=result.rows_skipped, repaired=result.rows_repaired)
        st.session_state.pop(PLAN_KEY, None)
        st.rerun()


def render() -> None:
    """Draw the import page."""
    lang = current_lang()
    st.header(t("page_import", lang))
    st.caption(t("imp_intro", lang))
    path = workspace_path()
    if not path.exists():
        st.error(t("no_workspace", lang, path=path))
        return
    try:
        ws = Workspace.open(path, readonly=True)
    except PlannerError as exc:
        st.error(plain(exc.localized(lang)))
        return
    if st.session_state.get(_RESULT_KEY):
        st.success(plain(st.session_state[_RESULT_KEY]))
    files, layer = _upload_step(lang)
    options = _options_step(lang, ws)
    if st.button(t("imp_preview", lang), key="imp_preview"):
        st.session_state.pop("import_error", None)
        if not files:
            st.warning(t("imp_no_file", lang))
        elif layer:
            _plan(files, layer, options, ws, lang)
    if st.session_state.get("import_error"):
        st.error(plain(st.session_state["import_error"]))
        return
    plan: ImportPlan | None = st.session_state.get(PLAN_KEY)
    if plan is None:
        return
    if plan.mode == "raster":
        st.info(plain(t("imp_raster", lang, kind=plan.layer, info=plan.raster_info) + " " + " ".join(plan.crs["steps"])))
    else:
        new_mapping = _mapping_step(plan, lang)
        if new_mapping is not None:
            _plan(files, layer, options, ws, lang, mapping=new_mapping)
            st.rerun()
        _report_step(plan, lang)
        _map_step(plan, lang)
    _commit_step(plan, lang)
