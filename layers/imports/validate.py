"""Stage 5, validation: every row checked (values, keys, geometries), every problem recorded with its row.

Nothing here raises for a single bad row: problems are collected (see
:mod:`layers.imports.problems`) so the plan can report them all at once.
"""
from __future__ import annotations

import datetime as _dt
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.validate import validate_geometries
from layers.imports.problems import Problems, field_label
from layers.imports.values import credit_code_ok
from layers.schema import LayerSpec

__all__ = ["check_values", "check_keys", "check_join", "check_against_layer", "check_geometries", "check_area"]


GEOMETRY_FAMILIES = {"MultiPolygon": {"Polygon", "MultiPolygon"}, "Point": {"Point"},
                      "Geometry": {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"}}
NONNEGATIVE = ("area_m2", "land_area_m2", "floor_area_m2", "planned_area_m2", "developed_area_m2", "tax_10k",
                "revenue_10k", "employees", "energy_tce", "electricity_10k_kwh", "emissions_t", "rd_10k")
YEARS = ("build_year", "year")
MAX_FAR = 20.0


def check_values(frame: pd.DataFrame, spec: LayerSpec, problems: Problems, *, mode: str, key: str) -> None:
    """Record the rows whose typed values break a rule: credit-code check characters, negative amounts,
    FAR and building coverage out of range, implausible years, required fields left empty."""
    for fld in ("credit_code", "land_holder"):
        if fld in frame.columns:
            vals = frame[fld]
            lost_mask = np.zeros(len(frame), dtype=bool)
            for r in problems.records:
                if r["code"] == "code_as_number" and r["field"] == fld:
                    lost_mask[r["pos"]] = True
            bad = vals.notna().to_numpy() & ~credit_code_ok(vals) & ~lost_mask
            en, zh = field_label(spec, fld)
            code = "credit_code_check" if fld == "credit_code" else "credit_code_check_warn"
            problems.add(bad, code, fld, f"{en}: {{value}} is not a valid unified social credit code (GB 32100: 18 "
                                         "characters, the last a check character)",
                         f"{zh}:{{value}} 不是有效的统一社会信用代码(GB 32100:18 位,末位为校验码)", vals)
    for fld in (c for c in frame.columns if c in spec.field_names):
        f = spec.field(fld)
        en, zh = field_label(spec, fld)
        v = frame[fld]
        if fld in NONNEGATIVE:
            problems.add((v < 0).fillna(False).to_numpy(dtype=bool), "negative", fld,
                         f"{en}: negative value {{value}}", f"{zh}:数值为负({{value}})", v)
        if fld == "far":
            problems.add(((v > MAX_FAR) | (v < 0)).fillna(False).to_numpy(dtype=bool), "far_range", fld,
                         f"{en}: {{value}} is outside 0–{MAX_FAR:g}", f"{zh}:{{value}} 超出 0–{MAX_FAR:g}", v)
        if fld == "building_coverage":
            problems.add(((v > 1) | (v < 0)).fillna(False).to_numpy(dtype=bool), "coverage_range", fld,
                         f"{en}: {{value}} is outside 0–1", f"{zh}:{{value}} 超出 0–1", v)
        if fld in YEARS:
            this = _dt.date.today().year
            problems.add(((v < 1900) | (v > this + 1)).fillna(False).to_numpy(dtype=bool), "year_range", fld,
                         f"{en}: year {{value}} is outside 1900–{this + 1}", f"{zh}:年份 {{value}} 超出 1900–{this + 1}", v)
        if f.required and mode != "join" or (mode == "join" and fld == key):
            problems.add(v.isna().to_numpy(), "required_missing", fld, f"{en}: required but empty",
                         f"{zh}:必填但为空")


def check_area(frame: gpd.GeoDataFrame, geometry_area: np.ndarray, spec: LayerSpec, problems: Problems) -> None:
    """Warn where a stated area is more than ×2 away from the geometry's (a 亩 column read as m²?)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = frame["area_m2"].to_numpy(dtype=float, na_value=np.nan) / geometry_area
    off = np.isfinite(ratio) & ((ratio < 0.5) | (ratio > 2.0))
    en, zh = field_label(spec, "area_m2")
    problems.add(off, "area_mismatch", "area_m2",
                 f"{en}: {{value}} m² is not the geometry's area (more than ×2 apart)",
                 f"{zh}:{{value}} 平方米与几何面积相差超过 2 倍", frame["area_m2"])


def check_keys(frame: pd.DataFrame, spec: LayerSpec, key: str, problems: Problems) -> None:
    if key in frame.columns:
        v = frame[key]
        dup = (v.duplicated(keep=False) & v.notna()).to_numpy(dtype=bool)
        en, zh = field_label(spec, key)
        problems.add(dup, "duplicate_key", key, f"{en}: {{value}} appears in more than one row",
                     f"{zh}:{{value}} 出现在多行", v)


def check_join(frame: pd.DataFrame, existing: pd.DataFrame, key: str, problems: Problems, spec: LayerSpec) -> None:
    """A department table joined by ``key``: duplicate keys, keys that join to nothing, names that differ."""
    if key not in frame.columns:
        return  # the key column is missing: the plan is blocked until it is mapped
    check_keys(frame, spec, key, problems)
    layer = spec.name
    cols = [key] + (["name"] if "name" in frame.columns and "name" in spec.field_names else [])
    known = pd.Index(existing[key].astype("string").dropna())
    v = frame[key].astype("string")
    flagged = np.zeros(len(frame), dtype=bool)  # a key already reported as corrupt is not also "no match"
    for r in problems.records:
        if r["field"] == key and r["code"] in ("code_as_number", "credit_code_check"):
            flagged[r["pos"]] = True
    no_match = (v.notna() & ~v.isin(known)).to_numpy(dtype=bool) & ~flagged
    en, zh = field_label(spec, key)
    problems.add(no_match, "no_match", key, f"{en}: {{value}} joins to nothing in the workspace's {layer}",
                 f"{zh}:{{value}} 在工作空间的{spec.label_zh}中找不到", v)
    if "name" in cols:
        names = existing.drop_duplicates(key).set_index(key)["name"].astype("string")
        theirs = v.map(names)
        ours = frame["name"].astype("string")
        differs = (ours.notna() & theirs.notna() & (ours != theirs)).fillna(False).to_numpy(dtype=bool)
        problems.add(differs, "name_mismatch", "name",
                     "Name: {value} differs from the name held for this code",
                     "企业名称:{value} 与该代码在工作空间中的名称不同", ours)


def check_against_layer(frame: pd.DataFrame, existing: pd.DataFrame | None, *, mode: str, key: str,
                        township: str | None, spec: LayerSpec, problems: Problems) -> None:
    """What a mode forbids: appending a key the layer has; replacing a township with another township's rows
    or with keys that belong to another township."""
    if existing is None or key not in frame.columns or key not in existing.columns:
        return
    keys = frame[key].astype("string")
    en, zh = field_label(spec, key)
    if mode == "append":
        taken = keys.isin(existing[key].astype("string")).fillna(False).to_numpy(dtype=bool)
        problems.add(taken, "key_exists", key, f"{en}: {{value}} is already in the layer",
                     f"{zh}:{{value}} 已在图层中", keys)
    if mode == "replace_township":
        town = frame["township_code"].astype("string")
        outside = (town.notna() & (town != township)).fillna(False).to_numpy(dtype=bool)
        ten, tzh = field_label(spec, "township_code")
        problems.add(outside, "other_township", "township_code", f"{ten}: {{value}} is not {township}",
                     f"{tzh}:{{value}} 不是 {township}", town)
        others = existing.loc[existing["township_code"].astype("string") != township, key].astype("string")
        elsewhere = keys.isin(others).fillna(False).to_numpy(dtype=bool)
        problems.add(elsewhere, "key_elsewhere", key, f"{en}: {{value}} belongs to a row of another township",
                     f"{zh}:{{value}} 属于其他镇街的数据", keys)


def check_geometries(gdf: gpd.GeoDataFrame, spec: LayerSpec | None, problems: Problems, source_rows, *, name: str,
                     skip_null_rows=None):
    """validate_geometries' report as per-row problems; the repaired geometries; polygons promoted to multi."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fixed_gdf, report = validate_geometries(gdf, on_invalid="fix", name=name, china_bounds=True)
    fixed = fixed_gdf.geometry
    codes = report["problem"].astype(str)
    reasons = report["reason"].astype(str)
    already = np.zeros(len(gdf), bool) if skip_null_rows is None else np.asarray(skip_null_rows, dtype=bool)
    wanted = GEOMETRY_FAMILIES.get(spec.geometry_type) if spec is not None else None
    for code in ("null", "empty", "non_finite", "unclosed_ring", "invalid", "z_m", "outside_china", "mixed_types"):
        if code == "mixed_types" and wanted is not None:
            continue  # the spec's geometry type is checked below, more precisely
        mask = codes.str.split(";").map(lambda cs, c=code: c in cs).to_numpy(dtype=bool).copy()
        if code == "null":
            mask &= ~already
        if not mask.any():
            continue
        detail = reasons.map(lambda r, c=code: next((p.split(": ", 1)[-1] for p in r.split("; ") if p.startswith(c)), ""))
        en_what = {"null": "no geometry", "empty": "empty geometry", "non_finite": "NaN or infinite coordinate",
                   "unclosed_ring": "a ring does not end on its first point", "invalid": "invalid geometry ({value})",
                   "z_m": "has Z/M values", "outside_china": "coordinates fall outside China (huge or misplaced)",
                   "mixed_types": "{value}"}[code]
        zh_what = {"null": "没有几何", "empty": "几何为空", "non_finite": "坐标为 NaN 或无穷", "unclosed_ring": "环未闭合",
                   "invalid": "几何无效({value})", "z_m": "含 Z/M 值", "outside_china": "坐标落在中国范围之外(数值过大或错位)",
                   "mixed_types": "{value}"}[code]
        problems.add(mask, code, "geometry", f"geometry: {en_what}", f"几何:{zh_what}", detail)
    if wanted is not None:
        types = gdf.geometry.geom_type.to_numpy(dtype=object)
        present = ~(gdf.geometry.isna() | gdf.geometry.is_empty).to_numpy()
        wrong = present & ~np.isin(types.astype(str), list(wanted))
        problems.add(wrong, "geometry_type", "geometry",
                     f"geometry: {{value}} where {spec.name} holds {spec.geometry_type}",
                     f"几何:{{value}},而{spec.label_zh}应为 {spec.geometry_type}", types)
    if wanted is not None and spec.geometry_type == "MultiPolygon":
        fixed = gpd.GeoSeries(_as_multipolygons(np.asarray(fixed.values, dtype=object)), index=gdf.index, crs=gdf.crs)
        frame_geoms = np.asarray(gdf.geometry.values, dtype=object)
        poly = shapely.get_type_id(frame_geoms) == 3
        frame_geoms = frame_geoms.copy()
        frame_geoms[poly] = shapely.multipolygons(frame_geoms[poly][:, None]) if poly.any() else frame_geoms[poly]
        gdf = gdf.set_geometry(gpd.GeoSeries(frame_geoms, index=gdf.index, crs=gdf.crs))
    report = report.copy()
    report.insert(0, "row", source_rows)
    return gdf, fixed, report


def _as_multipolygons(geoms: np.ndarray) -> np.ndarray:
    """Polygonal part of each geometry as a MultiPolygon (make_valid can return collections with lines)."""
    out = geoms.copy()
    present = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
    if not present.any():
        return out
    parts, owner = shapely.get_parts(geoms[present], return_index=True)
    keep = shapely.get_type_id(parts) == 3
    idx = np.flatnonzero(present)
    multi = np.full(present.sum(), None, dtype=object)
    if keep.any():
        built = shapely.multipolygons(parts[keep], indices=owner[keep])
        # multipolygons() returns one geometry per distinct index, in order
        multi[np.unique(owner[keep])] = built
    res = out.copy()
    polygonal = shapely.get_type_id(geoms[present]) != 0
    empty = shapely.from_wkt("MULTIPOLYGON EMPTY")
    res[idx] = np.where(pd.isna(multi), np.where(polygonal, empty, geoms[present]), multi)
    return res
