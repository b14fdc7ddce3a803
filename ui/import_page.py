"""Import page: bring a planner's own file into the workspace, step by step.

Screen, top to bottom: ① upload (files, target layer, department templates to download) →
② encoding, CRS and mode (detected, with overrides; GCJ-02; swap axes; replace / append /
upsert / replace one township / join; more options) → "preview" → hints (a file that says it
comes from Gaode) → ③ column mapping (editable) with the fields the file lacks — a constant
for every row, or derived from the geometry — and what still blocks the import, the
encoding, CRS steps, notes and the first source rows → ④ the validation report (every problem
with its row, fix and suggested value; geometry repairs with the area change) → ⑤ the rows
on the map → ⑥ the commit: what it does to the layer (rows before → after, added, changed,
removed; every changed cell, old → new), a confirmation when rows would be removed, cancel /
skip / fix, an optional saved mapping.

The mapping step is always reached once the file could be read: missing or ambiguous columns
block the commit, not the preview.  Nothing is written before ⑥: the page calls
:func:`layers.imports.plan_import` and :func:`layers.imports.commit_import`, nothing else.
Uploaded bytes go to the session's private folder (:mod:`ui.uploads`) under sanitised names
and messages name the file, never the folder; every text that came from a file is shown
through ``st.dataframe``/``st.code`` or escaped (:func:`plain`) before Streamlit renders Markdown.
After a commit or a restored version of a tiled layer (plots, enterprises) the page builds the map's
vector tiles under a spinner (:func:`ui.data.store_tiles`); a build that fails is a warning, the
data stays stored.
"""
from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import pandas as pd
import streamlit as st

from geo.errors import PlannerError
from geo.web import display_copy
from layers.imports import (
    DEPARTMENT_TABLES,
    MODES,
    ON_PROBLEMS,
    ImportPlan,
    commit_import,
    default_limits,
    list_mappings,
    load_mapping,
    plan_import,
    template_xlsx,
)
from layers.imports.modes import format_cell
from layers.imports.supply import DERIVABLE
from layers.schema import RASTER_KINDS, SPECS
from layers.store import WorkspaceBase as Workspace, open_workspace as _open_store
from ui import data
from ui.i18n import layer_label, t, value_label
from ui.shell import current_lang, plain, workspace_location
from ui.uploads import UploadFolder, sweep

__all__ = ["render", "plain", "safe_filename", "sweep_uploads_once", "MAP_KEY", "PLAN_KEY", "UPLOAD_KEY",
           "DEFAULT_LAYER", "guess_layer"]

MAP_KEY = "import_map"
PLAN_KEY = "import_plan"
UPLOAD_KEY = "import_uploads"  # the session's UploadFolder
_SUPPLY_KEY = "import_supply"  # {"set": {field: value}, "derive": [field]} the planner chose in step ③
_RESULT_KEY = "import_result"
_TILES_KEY = "import_tiles"  # what building the map's tiles after the last write said (ui.data.store_tiles)
_MAP_MAX_ROWS = 20_000  # the preview map draws at most this many features
_CELLS_SHOWN = 500  # changed cells listed on the page (all are counted)
_MAIN_EXTS = (".zip", ".kmz", ".shp", ".gpkg", ".geojson", ".json", ".kml", ".csv", ".xlsx", ".tif", ".tiff")


@st.cache_resource
def sweep_uploads_once() -> int:
    """Once per server process: delete the upload folders of servers that are gone (see :mod:`ui.uploads`)."""
    return len(sweep())


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


def _field_label(layer: str, name: str, lang: str) -> str:
    if name == "geometry":
        return "几何" if lang == "zh" else "Geometry"
    spec = SPECS.get(layer)
    if spec is None or name not in spec.field_names:
        return name
    f = spec.field(name)
    return f"{f.label_zh if lang == 'zh' else f.label_en} ({name})"


# ----------------------------------------------------------------------------- ① ② upload and options
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
    mode = c3.selectbox(t("imp_mode", lang), list(MODES), key="imp_mode", format_func=lambda m: t(f"imp_mode_{m}", lang))
    township = None
    if mode == "replace_township" and ws.has_layer("townships"):
        towns = ws.read("townships", columns=["code", "name"])
        names = dict(zip(towns["code"].astype(str), towns["name"].astype(str)))
        township = st.selectbox(t("imp_township", lang), list(names), key="imp_township",
                                format_func=lambda c: f"{names[c]} ({c})")
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
    return {"encoding": None if enc == "auto" else enc, "crs": crs or None, "mode": mode, "township": township,
            "gcj02": gcj02, "swap_axes": swap or None, "sheet": sheet or None, "member": member or None,
            "source_layer": source_layer or None,
            "mapping": load_mapping(ws, mapping_name) if mapping_name else None}


def _save_uploads(files, lang: str) -> Path | None:
    """Write the uploads into the session's fresh private folder; return the file to import (zip, .shp or the single file)."""
    limit = default_limits().max_upload_bytes
    total = sum(f.size for f in files)
    if total > limit:
        st.error(t("imp_too_big", lang, mb=f"{total / 2**20:,.1f}", limit=f"{limit / 2**20:,.0f}"))
        return None
    old = st.session_state.get(UPLOAD_KEY)
    if isinstance(old, UploadFolder):
        old.close()
    folder = UploadFolder()
    st.session_state[UPLOAD_KEY] = folder
    paths = []
    for f in files:
        p = folder.path / safe_filename(f.name)
        p.write_bytes(f.getvalue())
        paths.append(p)
    mains = [p for p in paths if p.suffix.lower() in _MAIN_EXTS]
    if len(mains) > 1:  # several datasets uploaded (a .shp counts once with its parts): the planner picks one
        names = [p.name for p in mains]
        chosen = st.session_state.get("imp_main_file")
        return mains[names.index(chosen)] if chosen in names else mains[-1]
    return (mains or paths)[0]


def _plan(files, layer: str, options: dict, ws: Workspace, lang: str, mapping=None) -> None:
    st.session_state.pop(_RESULT_KEY, None)
    path = _save_uploads(files, lang)
    if path is None:
        return
    opts = dict(options)
    if mapping is not None:
        opts["mapping"] = mapping
    supply = st.session_state.get(_SUPPLY_KEY) or {}
    try:
        st.session_state[PLAN_KEY] = plan_import(path, layer=layer, workspace=ws, display_name=path.name,
                                                 constants=supply.get("set") or None, derive=supply.get("derive") or (),
                                                 **opts)
    except PlannerError as exc:
        st.session_state.pop(PLAN_KEY, None)
        st.session_state["import_error"] = exc.localized(lang)


# ----------------------------------------------------------------------------- ③ mapping and supply
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
            "field": st.column_config.SelectboxColumn(t("imp_field", lang), options=fields,
                                                      format_func=lambda f: _field_label(plan.layer, f, lang) if f else ""),
            "unit": st.column_config.TextColumn(t("imp_unit", lang)),
        },
    )
    supply = _supply_inputs(plan, lang)
    for en, zh in plan.blocking:
        st.error(plain(t("imp_blocked", lang) + (zh if lang == "zh" else en)))
    if st.button(t("imp_apply_mapping", lang), key="imp_apply_mapping", type="primary" if plan.blocking else "secondary"):
        st.session_state[_SUPPLY_KEY] = supply
        cols = {r.source: (r.field or "skip") for r in edited.itertuples()}
        units = {r.source: r.unit for r in edited.itertuples() if r.unit}
        return {"columns": cols, "units": units}
    return None


def _supply_inputs(plan: ImportPlan, lang: str) -> dict:
    """Fields the file lacks: a constant for every row (required ones first), or derived from the geometry."""
    spec = SPECS[plan.layer]
    constants = {f: how.removeprefix("constant ") for f, how in plan.supplied.items() if how.startswith("constant ")}
    derived = [f for f, how in plan.supplied.items() if how == "derived"]
    mapped = {m.field for m in plan.mapping}
    wanted = list(dict.fromkeys([*plan.missing, *constants]))
    st.markdown(f"**{t('imp_supply', lang)}**")
    if plan.missing:
        st.caption(t("imp_supply_missing", lang, fields="、".join(_field_label(plan.layer, f, lang) for f in plan.missing)))
    out: dict = {"set": {}, "derive": []}
    for name in wanted:
        f = spec.field(name)
        label = t("imp_constant", lang, field=_field_label(plan.layer, name, lang))
        if f.choices:
            options = ["", *f.choices]
            current = constants.get(name, "")
            value = st.selectbox(label, options, index=options.index(current) if current in options else 0,
                                 key=f"imp_set_{name}", format_func=lambda v: value_label(v, lang) if v else "—")
        else:
            value = st.text_input(label, value=str(constants.get(name, "")), key=f"imp_set_{name}").strip()
        if value:
            out["set"][name] = value
    if isinstance(plan.frame, gpd.GeoDataFrame):
        can = [d for d in DERIVABLE if d in spec.field_names and (d not in mapped or d in derived)]
        if can:
            out["derive"] = st.multiselect(t("imp_derive", lang), can, default=[d for d in derived if d in can],
                                           key="imp_derive", format_func=lambda d: _field_label(plan.layer, d, lang))
    return out


# ----------------------------------------------------------------------------- ④ ⑤ report and map
def _report_step(plan: ImportPlan, lang: str) -> None:
    st.subheader(t("imp_step_report", lang))
    st.info(plain(plan.summary(lang)))
    if plan.problems.empty:
        st.success(t("imp_no_problems", lang))
        return
    p = plan.problems
    table = pd.DataFrame({
        t("imp_col_row", lang): p["row"],
        t("imp_col_field", lang): p["field"].map(lambda f: _field_label(plan.layer, str(f), lang)),
        t("imp_col_severity", lang): p["severity"].map(lambda s: t(f"imp_sev_{s}", lang)),
        t("imp_col_message", lang): p["message_zh" if lang == "zh" else "message"],
        t("imp_col_suggestion", lang): p["suggestion"].fillna(""),
    })
    st.dataframe(table, hide_index=True, key="imp_problems")
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


# ----------------------------------------------------------------------------- ⑥ commit
def _cells_table(plan_layer: str, cells: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Changed cells for the planner: key, field label, old → new as text."""
    shown = cells.head(_CELLS_SHOWN)
    return pd.DataFrame({
        t("imp_col_key", lang): shown["key"].astype(str).to_numpy(),
        t("imp_col_field", lang): [_field_label(plan_layer, str(f), lang) for f in shown["field"]],
        t("imp_col_old", lang): [value_label(format_cell(v, lang), lang) for v in shown["old"]],
        t("imp_col_new", lang): [value_label(format_cell(v, lang), lang) for v in shown["new"]],
    })


def _change_step(plan: ImportPlan, choice: str, lang: str) -> int:
    """What the commit would do to the layer under ``choice``; returns the rows it would remove."""
    shown = choice
    if choice == "cancel" and not plan.errors.empty:
        st.caption(t("imp_cancel_note", lang))
        shown = "skip"
    try:
        change = plan.change(shown)
    except PlannerError as exc:
        st.warning(plain(exc.localized(lang)))
        return 0
    cols = st.columns(5)
    for col, key, value in zip(cols, ("imp_before", "imp_after", "imp_added", "imp_changed", "imp_removed"),
                               (change.before, change.after, change.added, change.changed, change.removed)):
        col.metric(t(key, lang), f"{value:,}")
    if len(change.cells):
        st.caption(t("imp_cells", lang, n=f"{len(change.cells):,}", shown=min(len(change.cells), _CELLS_SHOWN)))
        st.dataframe(_cells_table(plan.layer, change.cells, lang), hide_index=True, key="imp_cells")
    if change.removed:
        keys = "、".join(map(str, change.removed_keys[:5])) + ("…" if change.removed > 5 else "")
        st.warning(plain(t("imp_removes", lang, n=f"{change.removed:,}", before=f"{change.before:,}", keys=keys)))
        _references_step(plan, change, lang)
    return change.removed


def _references_step(plan: ImportPlan, change, lang: str) -> None:
    """Shortlist entries and stored runs that refer to the rows the commit would remove: said before it."""
    from layers.imports import removal_references
    from layers.references import references_text
    from ui.shell import open_workspace

    try:
        text = references_text(removal_references(open_workspace(), plan, change), lang)
    except PlannerError as exc:
        text = exc.localized(lang)
    if text:
        st.warning(plain(text))


def _commit_step(plan: ImportPlan, lang: str) -> None:
    st.subheader(t("imp_step_commit", lang))
    if not plan.ready:
        st.info(t("imp_not_ready", lang))
        return
    choice = st.radio(t("imp_on_problems", lang), ON_PROBLEMS, key="imp_on_problems", horizontal=True,
                      format_func=lambda o: t(f"imp_op_{o}", lang))
    removed = _change_step(plan, choice, lang) if plan.mode != "raster" else 0
    confirmed = st.checkbox(t("imp_confirm", lang, n=f"{removed:,}"), key="imp_confirm") if removed else False
    name = st.text_input(t("imp_save_mapping", lang), key="imp_save_mapping").strip() if plan.mapping else ""
    if st.button(t("imp_commit", lang), type="primary", key="imp_commit"):
        try:
            from ui.login import current_actor

            ws = _open_store(workspace_location(), readonly=False)
            result = commit_import(ws, plan, actor=current_actor(), on_problems=choice, save_mapping_as=name or None,
                                   confirm_removal=confirmed)
        except PlannerError as exc:
            st.error(plain(exc.localized(lang)))
            return
        st.session_state[_RESULT_KEY] = (result.summary(lang), _cells_table(plan.layer, result.cells, lang))
        st.session_state[_TILES_KEY] = data.store_tiles(ws.location, [plan.layer], lang)
        for key in (PLAN_KEY, _SUPPLY_KEY, "imp_confirm"):
            st.session_state.pop(key, None)
        st.rerun()


def _last_result(lang: str) -> None:
    done = st.session_state.get(_RESULT_KEY)
    if not done:
        return
    text, cells = done
    st.success(plain(text))
    for kind, note in st.session_state.get(_TILES_KEY) or []:
        (st.warning if kind == "warning" else st.caption)(plain(note))
    if len(cells):
        st.dataframe(cells, hide_index=True, key="imp_done_cells")


def render() -> None:
    """Draw the import page."""
    sweep_uploads_once()
    lang = current_lang()
    st.header(t("page_import", lang))
    st.caption(t("imp_intro", lang))
    try:
        ws = _open_store(workspace_location())
    except PlannerError as exc:
        st.error(plain(exc.localized(lang)))
        return
    _last_result(lang)
    _versions_step(ws, lang)
    files, layer = _upload_step(lang)
    mains = [safe_filename(f.name) for f in files if Path(f.name).suffix.lower() in _MAIN_EXTS]
    if len(mains) > 1:
        st.selectbox(t("imp_main_file", lang), mains, index=len(mains) - 1, key="imp_main_file")
    options = _options_step(lang, ws)
    if st.button(t("imp_preview", lang), key="imp_preview"):
        st.session_state.pop("import_error", None)
        st.session_state.pop(_SUPPLY_KEY, None)
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
    for en, zh in plan.hints:
        st.warning(plain(zh if lang == "zh" else en))
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


def _versions_step(ws: Workspace, lang: str) -> None:
    """Undo: the kept versions of a layer, and "restore" (administrators; the current version is kept)."""
    from layers.timefmt import local_times
    from ui.i18n import layer_label
    from ui.login import current_actor

    names = [n for n in ws.layers() if not n.startswith(("run_", "siting_", "integration_"))]
    if not names:
        return
    with st.expander(t("versions_title", lang)):
        st.caption(t("versions_intro", lang, n=ws.keep_versions))
        layer = st.selectbox(t("versions_layer", lang), names, key="imp_versions_layer",
                             format_func=lambda n: f"{layer_label(n, lang)} ({n})")
        hist = ws.layer_history(layer)
        shown = hist.assign(imported_at=local_times(hist["imported_at"], ws.timezone),
                            replaced_at=local_times(hist["replaced_at"], ws.timezone),
                            current=hist["current"].map({True: t("versions_current", lang), False: ""}))
        st.dataframe(shown.fillna("—"), hide_index=True, width="stretch")
        for v in hist.loc[~hist["current"], "version"].tolist():
            if st.button(t("versions_restore", lang, v=v), key=f"imp_restore_{layer}_{v}"):
                try:
                    out = _open_store(ws.location, readonly=False).restore_layer(layer, int(v), actor=current_actor())
                except PlannerError as exc:
                    st.error(plain(exc.localized(lang)))
                    return
                st.session_state[_RESULT_KEY] = (t("versions_restored", lang, layer=layer_label(layer, lang), v=v,
                                                   new=out["new_version"]), pd.DataFrame())
                st.session_state[_TILES_KEY] = data.store_tiles(ws.location, [layer], lang)
                st.rerun()

