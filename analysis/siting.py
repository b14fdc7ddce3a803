"""Relocation siting: which park should each relocating firm move to (入园集聚, 梯度转移)?

A problem class in the spirit of PySAL spopt: :meth:`RelocationProblem.from_geodataframe`
builds the cost matrix and site eligibility from firms and candidate sites, then calls
:meth:`RelocationProblem.from_cost_matrix`; :meth:`~RelocationProblem.solve` returns ``self``
with the results as attributes.

Model (pairs (i, j) are created only where site *j* is eligible for firm *i*)::

    minimise   Σ_ij c_ij x_ij + Σ_i P_i u_i
               c_ij = w_i · d_ij · (1 − δ·[same township])   w_i = land need (亩) or 1,  d_ij in m
               P_i  = w_i · unassigned_penalty_m
    s.t.       Σ_j x_ij + u_i = 1                              every firm placed or counted unplaced
               Σ_i L_i x_ij ≤ C_j,  Σ_i F_i x_ij ≤ G_j         land and floor capacity (m²)
               lead_j + Σ_i a_ij x_ij ≥ s · (n_j + Σ_i x_ij)    micro-parks: leading share ≥ s (70 %)

Eligibility (each exclusion keeps its reason, see :data:`EXCLUSIONS`): leading-industry fit
of industrial parks; polluting industries only into parks that allow them; polluting firms
not into sites whose vacant land lies within the residential / water-source buffers; optional maximum distance;
the firm's need larger than the site's whole capacity.

Solver — SCIP through OR-Tools ``pywraplp`` by default (CP-SAT is wired too).  Measured on
the benchmark instances (``bench/bench_siting.py``, 2 cores): the model is a generalised
assignment problem whose LP relaxation is tight but hard to round; CP-SAT with two workers
finds good solutions yet proves weak bounds, while SCIP's LP bound is close to the optimum.
Large models (> 15,000 pairs) use LP-guided fixing (:mod:`analysis._assign`): the LP
relaxation (GLOP) gives a valid lower bound, firms it places wholly are fixed, the rest is
solved exactly by SCIP, then a SCIP large-neighbourhood search re-packs groups of nearby
sites until the gap to the LP bound is within ``gap`` or time runs out; the gap reported is
against the LP bound (conservative).  A greedy
nearest-feasible-site assignment warm-starts the solver and is the benchmark baseline.

With ``k_nearest > 0`` only the k cheapest eligible sites of each firm get a variable: the
model shrinks by m/k, but the optimum, bound and gap are those of the *restricted* model
(``restricted`` is True in the result); a firm might have fared better at a farther site if
its k nearer ones fill up.  The exclusions still explain every site.

Distances are straight-line metres between the firm's point and the site's representative
point, in the working CRS (EPSG:4549); ``friction`` (a cost surface raster as array +
transform) multiplies each distance by the mean friction sampled along the segment.
"""
from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from analysis import _assign
from analysis._common import Reasons, check_crs, fmt
from analysis.params import PRESET_DIR, _bool, _known, _num, _strs, list_presets
from geo.errors import InfeasibleAllocationError, ParameterError
from geo.units import M2_PER_MU

__all__ = [
    "DEMAND_RULES",
    "EXCLUSIONS",
    "SitingParams",
    "load_siting_params",
    "siting_params_from_dict",
    "select_demand",
    "supply_from_layers",
    "site_exclusions",
    "RelocationProblem",
    "rank_sites_for_firm",
    "explain_exclusions",
]

DEMAND_RULES = ("polluting", "d_class", "midwest", "list")
_NEED_METHODS = ("intensify", "far")
_WEIGHTS = ("land_mu", "firm")

# bit → (code, English, Chinese): why site j is not eligible for firm i.
EXCLUSIONS: dict[int, tuple[str, str, str]] = {
    1: ("industry", "industry does not fit the site's leading industries", "行业不匹配(园区主导产业)"),
    2: ("polluting", "site does not accept polluting industries", "污染行业须入驻指定园区"),
    4: ("residential_buffer", "site lies within the residential buffer (polluting firm)", "距居住区缓冲距离内(污染企业)"),
    8: ("water_buffer", "site lies within the water-source protection buffer (polluting firm)",
        "距水源保护区缓冲距离内(污染企业)"),
    16: ("distance", "site is beyond the maximum distance", "超出最大搬迁距离"),
    32: ("land_capacity", "site's vacant land is smaller than the firm's land need", "用地容量不足"),
    64: ("floor_capacity", "site's floor capacity is smaller than the firm's floor need", "建筑面积容量不足"),
    128: ("leading_share", "the firm would bring the micro-park's leading-industry share below the minimum",
          "小微园主导产业占比将低于下限"),
    256: ("invalid_site", "site has no location or a negative/missing capacity", "园区位置或容量无效"),
}
_BIT = {code: bit for bit, (code, _, _) in EXCLUSIONS.items()}

# input problems of a firm (English as stored in ``input_problem``) → Chinese
_PROBLEM_ZH = {
    "no location (missing or empty point)": "无位置(点位缺失或为空)",
    "zero or unknown land need": "用地需求为零或未知",
    "no floor-area need (floor area unknown or zero)": "建筑面积需求为零或未知",
}


def _exclusion_words(lang: str, share: float | None = None) -> dict[int, str]:
    """bit → exclusion text in ``lang``; the Chinese share rule names the minimum when known."""
    k = 1 if lang == "en" else 2
    words = {bit: entry[k] for bit, entry in EXCLUSIONS.items()}
    if lang != "en" and share is not None:
        words[_BIT["leading_share"]] = f"小微园主导产业占比将低于{share:.0%}"
    return words


def _problems_zh(problems) -> np.ndarray:
    """Chinese for the known input-problem sentences (other text, e.g. a planner's own, kept as is)."""
    s = pd.Series(np.asarray(problems, dtype=object), dtype=object)
    return s.map(_PROBLEM_ZH).fillna(s).to_numpy(dtype=object)


# --- parameters --------------------------------------------------------------------------
@dataclass(frozen=True)
class SitingParams:
    """Relocation siting settings (section ``[siting]`` of a preset). Distances in m, areas in m²."""

    rule: str = "polluting"
    polluting_codes: tuple[str, ...] = ("3360", "3460", "1713", "1723", "1733", "1743", "1752", "1762", "31", "32",
                                        "3391", "3392", "3393", "26", "4220")
    midwest_townships: tuple[str, ...] = ()
    d_classes: tuple[str, ...] = ("D",)
    class_column: str = "final_class"
    holders_only: bool = True
    land_need_method: str = "intensify"
    intensification_factor: float = 0.8
    target_far: float = 1.2
    vacant_statuses: tuple[str, ...] = ("idle",)
    park_kinds: tuple[str, ...] = ("工业集聚区", "镇街工业功能区")
    micro_park_statuses: tuple[str, ...] = ("operating", "under_construction", "planned")
    site_far: float = 2.0
    leading_share: float = 0.70
    open_if_no_leading: bool = True
    designated_take_polluting: bool = True
    buffer_residential_m: float = 300.0
    buffer_water_source_m: float = 1000.0
    max_distance_m: float = 0.0
    same_township_discount: float = 0.2
    demand_weight: str = "land_mu"
    unassigned_penalty_m: float = 60000.0
    allow_unassigned: bool = True
    k_nearest: int = 0
    solver: str = "scip"
    strategy: str = "auto"
    time_limit_s: float = 60.0
    gap: float = 0.01
    workers: int = 2
    name: str = "custom"

    def replace(self, **changes) -> "SitingParams":
        """A validated copy with some fields changed."""
        data = dataclasses.asdict(self)
        data.update(changes)
        name = data.pop("name")
        return siting_params_from_dict({"name": name, "siting": data})


def siting_params_from_dict(data: Mapping[str, Any], *, origin: str = "preset") -> SitingParams:
    """Validate a parsed preset (``{"name":…, "siting": {...}}``); every problem reported at once."""
    problems: list[str] = []
    _known(data, {"name", "title", "source", "siting"}, "", problems)
    s = dict(data.get("siting", {}))
    d = SitingParams()
    w = "siting"
    _known(s, {f.name for f in dataclasses.fields(SitingParams)} - {"name"}, w, problems)

    def choice(key, options):
        v = s.get(key, getattr(d, key))
        if v not in options:
            problems.append(f"{w}.{key} = {v!r}; expected one of {list(options)}")
            return getattr(d, key)
        return v

    codes = _strs(s, "polluting_codes", d.polluting_codes, w, problems)
    bad = [c for c in codes if not (c.isdigit() and 2 <= len(c) <= 4)]
    if bad:
        problems.append(f"{w}.polluting_codes {bad} are not 2–4 digit GB/T 4754 codes")
    share = _num(s, "leading_share", d.leading_share, w, problems, maximum=1)
    k = _num(s, "k_nearest", d.k_nearest, w, problems)
    if k != int(k):
        problems.append(f"{w}.k_nearest = {k} must be a whole number (0 = all eligible sites)")
    factor = _num(s, "intensification_factor", d.intensification_factor, w, problems)
    far = _num(s, "target_far", d.target_far, w, problems)
    site_far = _num(s, "site_far", d.site_far, w, problems)
    for key, v in (("intensification_factor", factor), ("target_far", far), ("site_far", site_far)):
        if v == 0:
            problems.append(f"{w}.{key} must be > 0")
    tl = _num(s, "time_limit_s", d.time_limit_s, w, problems)
    if tl <= 0:
        problems.append(f"{w}.time_limit_s must be > 0 seconds")
    params = SitingParams(
        rule=choice("rule", DEMAND_RULES),
        polluting_codes=codes,
        midwest_townships=_strs(s, "midwest_townships", d.midwest_townships, w, problems),
        d_classes=_strs(s, "d_classes", d.d_classes, w, problems, ("A", "B", "C", "D")),
        class_column=str(s.get("class_column", d.class_column)),
        holders_only=_bool(s, "holders_only", d.holders_only, w, problems),
        land_need_method=choice("land_need_method", _NEED_METHODS),
        intensification_factor=factor, target_far=far,
        vacant_statuses=_strs(s, "vacant_statuses", d.vacant_statuses, w, problems),
        park_kinds=_strs(s, "park_kinds", d.park_kinds, w, problems),
        micro_park_statuses=_strs(s, "micro_park_statuses", d.micro_park_statuses, w, problems),
        site_far=site_far, leading_share=share,
        open_if_no_leading=_bool(s, "open_if_no_leading", d.open_if_no_leading, w, problems),
        designated_take_polluting=_bool(s, "designated_take_polluting", d.designated_take_polluting, w, problems),
        buffer_residential_m=_num(s, "buffer_residential_m", d.buffer_residential_m, w, problems),
        buffer_water_source_m=_num(s, "buffer_water_source_m", d.buffer_water_source_m, w, problems),
        max_distance_m=_num(s, "max_distance_m", d.max_distance_m, w, problems),
        same_township_discount=_num(s, "same_township_discount", d.same_township_discount, w, problems, maximum=0.99),
        demand_weight=choice("demand_weight", _WEIGHTS),
        unassigned_penalty_m=_num(s, "unassigned_penalty_m", d.unassigned_penalty_m, w, problems),
        allow_unassigned=_bool(s, "allow_unassigned", d.allow_unassigned, w, problems),
        k_nearest=int(k), solver=choice("solver", _assign.SOLVERS), strategy=choice("strategy", _assign.STRATEGIES),
        time_limit_s=tl, gap=_num(s, "gap", d.gap, w, problems, maximum=1),
        workers=int(_num(s, "workers", d.workers, w, problems, minimum=1)),
        name=str(data.get("name", "custom")),
    )
    if problems:
        raise ParameterError(
            f"{origin}: {len(problems)} problem(s) in the siting parameters: " + "; ".join(problems)
            + ". Fix them in the preset and retry.",
            message_zh=f"{origin}:选址参数有 {len(problems)} 处问题:" + ";".join(problems), details=problems)
    return params


def load_siting_params(name: str | Path = "siting_default", *, directory: Path | None = None) -> SitingParams:
    """Load section ``[siting]`` of preset ``name`` (in ``data/presets`` or a path to a TOML file).

    ``analysis.params.load_preset`` validates a fixed set of sections (per_mu … parks), so
    the siting section has its own small loader; it reuses that module's preset folder and
    value validators.
    """
    directory = directory or PRESET_DIR
    path = Path(name)
    if path.suffix != ".toml":
        path = directory / f"{name}.toml"
    if not path.exists():
        known = ", ".join(p for p in list_presets(directory) if "siting" in p) or "(none)"
        raise ParameterError(f"Unknown siting preset {str(name)!r}; known: {known}. Add data/presets/<name>.toml "
                             "with a [siting] section.", message_zh=f"未知的选址参数方案 {str(name)!r};已有:{known}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ParameterError(f"Preset {path.name} is not valid TOML: {exc}", message_zh=f"{path.name} 不是有效的 TOML:{exc}") from None
    data.setdefault("name", path.stem)
    return siting_params_from_dict(data, origin=path.name)


# --- helpers -----------------------------------------------------------------------------
def _codes(series) -> np.ndarray:
    return pd.Series(series, dtype="string").str.strip().fillna("").to_numpy(dtype=object)


def _prefix_match(codes: np.ndarray, prefixes: tuple[str, ...] | list[str]) -> np.ndarray:
    """(len(codes), len(prefixes)) bool: code starts with prefix (vectorised per prefix)."""
    s = pd.Series(codes, dtype="string").fillna("")
    if len(prefixes) == 0:
        return np.zeros((len(s), 0), dtype=bool)
    return np.column_stack([s.str.startswith(p).to_numpy(dtype=bool) for p in prefixes])


def _split_codes(values) -> list[tuple[str, ...]]:
    s = pd.Series(values, dtype="string").fillna("")
    return [tuple(c.strip() for c in str(v).split(",") if c.strip()) for v in s]


def _bool_col(frame: pd.DataFrame, col: str, default: bool) -> np.ndarray:
    if col not in frame.columns:
        return np.full(len(frame), default, dtype=bool)
    return frame[col].astype("boolean").fillna(default).to_numpy(dtype=bool)


def _num_col(frame: pd.DataFrame, col: str) -> np.ndarray:
    if col not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _str_col(frame: pd.DataFrame, col: str) -> pd.Series:
    if col not in frame.columns:
        return pd.Series(pd.NA, index=frame.index, dtype="string")
    return frame[col].astype("string")


# --- demand ------------------------------------------------------------------------------
def select_demand(enterprises: gpd.GeoDataFrame, params: SitingParams, *, rule: str | None = None,
                  firms: list[str] | None = None, plots: gpd.GeoDataFrame | None = None,
                  parks: gpd.GeoDataFrame | None = None, classes: pd.Series | None = None) -> gpd.GeoDataFrame:
    """The firms to relocate, with their land and floor need.

    Parameters
    ----------
    enterprises : GeoDataFrame
        Points in the working CRS (layer ``enterprises``); a class column (``params.class_column``,
        e.g. ``final_class`` from :func:`analysis.per_mu.evaluate`) is used by rule ``d_class``.
    rule : {"polluting", "d_class", "midwest", "list"}, optional
        Default ``params.rule``. polluting: policy-named polluting industries outside parks
        that allow them; d_class: class D firms outside parks; midwest: firms in
        ``params.midwest_townships`` outside parks; list: the credit codes in ``firms``.
    plots : GeoDataFrame, optional
        Gives each firm its park (``park_id``) and floor area; otherwise parks are found by
        point-in-polygon against ``parks``.
    parks : GeoDataFrame, optional
        Industrial parks and micro-parks (``park_id``, ``allows_polluting``).
    classes : Series, optional
        Class per credit code, when the enterprises frame has no class column.

    Returns
    -------
    GeoDataFrame
        The selected rows (original index) plus ``polluting``, ``current_park``,
        ``land_m2``, ``floor_m2``, ``need_land_m2``, ``need_land_mu``, ``need_floor_m2``,
        ``selected_by``, and ``input_problem`` (why a row cannot be sited: no location,
        zero land need), NA when fine.

    Formula
    -------
    intensify: need_land = land × intensification_factor; need_floor = current floor area
    (or need_land × target_far when unknown).  far: need_floor = current floor area;
    need_land = need_floor ÷ target_far.
    """
    rule = rule or params.rule
    if rule not in DEMAND_RULES:
        raise ParameterError(f"demand rule {rule!r} is not one of {list(DEMAND_RULES)}",
                             message_zh=f"搬迁企业选择规则 {rule!r} 无效,可选:{list(DEMAND_RULES)}")
    ents = enterprises
    if "credit_code" not in ents.columns or "industry_code" not in ents.columns:
        raise ParameterError(f"enterprises need columns credit_code and industry_code; got {list(ents.columns)}",
                             message_zh="企业图层缺少 credit_code 或 industry_code 字段")
    code = _codes(ents["industry_code"])
    polluting = _prefix_match(code, params.polluting_codes).any(axis=1)
    # current park and floor area
    park = pd.Series(pd.NA, index=ents.index, dtype="string")
    floor = np.full(len(ents), np.nan)
    plot_area = np.full(len(ents), np.nan)
    if plots is not None and "plot_id" in ents.columns and "plot_id" in plots.columns:
        p = plots.drop_duplicates("plot_id").set_index(plots.drop_duplicates("plot_id")["plot_id"].astype(str))
        key = ents["plot_id"].astype("string").fillna("").to_numpy(dtype=object)
        if "park_id" in p.columns:
            park = pd.Series(p["park_id"].astype("string").reindex(key).to_numpy(), index=ents.index, dtype="string")
        floor = pd.to_numeric(p["floor_area_m2"], errors="coerce").reindex(key).to_numpy(dtype=float) \
            if "floor_area_m2" in p.columns else floor
        plot_area = pd.to_numeric(p["area_m2"], errors="coerce").reindex(key).to_numpy(dtype=float) \
            if "area_m2" in p.columns else plot_area
    elif parks is not None and len(parks):
        pts = ents.geometry.to_numpy()
        i_pt, j = shapely.STRtree(parks.geometry.to_numpy()).query(pts, predicate="within")
        arr = np.full(len(ents), None, dtype=object)
        arr[i_pt] = parks["park_id"].astype(str).to_numpy()[j]
        park = pd.Series(arr, index=ents.index, dtype="string")
    allows = {}
    if parks is not None and len(parks) and "allows_polluting" in parks.columns:
        allows = dict(zip(parks["park_id"].astype(str), _bool_col(parks, "allows_polluting", False)))
    in_park = park.notna().to_numpy()
    in_designated = park.fillna("").map(lambda v: allows.get(v, False)).to_numpy(dtype=bool)

    holder = _bool_col(ents, "is_land_holder", True) if params.holders_only else np.ones(len(ents), bool)
    if rule == "polluting":
        sel = polluting & ~in_designated & holder
        why = "polluting industry outside a designated park"
    elif rule == "d_class":
        if classes is not None:
            cls = pd.Series(classes).astype("string").reindex(ents["credit_code"].astype(str).to_numpy()).to_numpy(dtype=object)
        elif params.class_column in ents.columns:
            cls = ents[params.class_column].astype("string").to_numpy(dtype=object)
        else:
            raise ParameterError(
                f"Rule 'd_class' needs each firm's evaluation class, but the enterprises have no column "
                f"{params.class_column!r} and no classes were given. Run the per-mu evaluation first "
                "(`python cli.py evaluate`, column final_class of run_<id>_per_mu) and pass it, or use another rule.",
                message_zh=f"规则 d_class 需要企业的亩均评价等级(字段 {params.class_column}),请先运行亩均评价(python cli.py evaluate)。")
        is_d = pd.Series(cls, dtype="string").isin(params.d_classes).fillna(False).to_numpy(dtype=bool)
        sel = is_d & ~in_park & holder
        why = f"class {'/'.join(params.d_classes)} outside parks"
    elif rule == "midwest":
        if not params.midwest_townships:
            raise ParameterError("Rule 'midwest' needs the mid-western township codes (siting.midwest_townships) "
                                 "in the preset; it is empty.", message_zh="规则 midwest 需要在参数中给出中西部镇街代码")
        tw = _str_col(ents, "township_code").isin(params.midwest_townships).fillna(False).to_numpy(dtype=bool)
        sel = tw & ~in_park & holder
        why = "mid-western township, outside parks"
    else:
        if not firms:
            raise ParameterError("Rule 'list' needs the credit codes of the firms to relocate (--firms CODE,CODE…).",
                                 message_zh="规则 list 需要给出搬迁企业的信用代码")
        wanted = [str(f).strip() for f in firms]
        cc = ents["credit_code"].astype(str)
        unknown = sorted(set(wanted) - set(cc))
        if unknown:
            raise ParameterError(f"{len(unknown)} credit code(s) are not in the enterprises layer: {unknown[:10]}. "
                                 "Check the codes (18 characters, read as text).",
                                 message_zh=f"{len(unknown)} 个信用代码不在企业图层中:{unknown[:10]}")
        sel = cc.isin(wanted).to_numpy()
        why = "listed by the planner"
    out = ents.loc[sel].copy()
    idx = np.flatnonzero(sel)
    land = _num_col(out, "land_area_m2")
    land = np.where(np.isfinite(land) & (land > 0), land, plot_area[idx])  # holders: the plot's area
    fl = floor[idx]
    if params.land_need_method == "intensify":
        need_land = land * params.intensification_factor
        need_floor = np.where(np.isfinite(fl) & (fl > 0), fl, need_land * params.target_far)
    else:
        need_floor = fl
        need_land = need_floor / params.target_far
    out["polluting"] = polluting[idx]
    out["current_park"] = park.iloc[idx].to_numpy()
    out["land_m2"] = land
    out["floor_m2"] = fl
    out["need_land_m2"] = need_land
    out["need_land_mu"] = need_land / M2_PER_MU
    out["need_floor_m2"] = need_floor
    out["selected_by"] = f"{rule}: {why}"
    out["input_problem"] = _demand_problems(out)
    return out


def _demand_problems(d: pd.DataFrame) -> pd.Series:
    g = d.geometry
    no_loc = (g.isna() | g.is_empty).to_numpy().copy()
    # POINT (NaN NaN) comes from blank coordinates in a spreadsheet import
    xy = shapely.get_coordinates(shapely.centroid(g.to_numpy()[~no_loc]))
    finite = np.isfinite(xy).all(axis=1) if len(xy) else np.zeros(0, bool)
    no_loc[np.flatnonzero(~no_loc)[~finite]] = True
    nl = _num_col(d, "need_land_m2")
    nf = _num_col(d, "need_floor_m2")
    msg = np.full(len(d), None, dtype=object)
    msg[~(nf > 0)] = "no floor-area need (floor area unknown or zero)"
    msg[~(nl > 0)] = "zero or unknown land need"
    msg[no_loc] = "no location (missing or empty point)"
    return pd.Series(msg, index=d.index, dtype="string")


# --- supply ------------------------------------------------------------------------------
def supply_from_layers(params: SitingParams, *, industrial_parks: gpd.GeoDataFrame | None = None,
                       micro_parks: gpd.GeoDataFrame | None = None, plots: gpd.GeoDataFrame | None = None,
                       enterprises: gpd.GeoDataFrame | None = None,
                       clusters: gpd.GeoDataFrame | None = None, exclude_firms: pd.Index | None = None) -> gpd.GeoDataFrame:
    """Candidate sites: vacant land per park (and released cluster land), with capacities.

    A park's site is the union of its plots whose status is in ``params.vacant_statuses``;
    land capacity C = Σ vacant plot area (m²), floor capacity G = C × ``site_far``.
    Redevelopment clusters (``analysis.redevelopment`` output: ``cluster_id``,
    ``release_m2`` or ``area_m2``, ``is_candidate_site``) become sites of kind ``cluster``
    with no industry restriction.  Micro-parks carry the existing firms (all enterprises
    inside the polygon, except ``exclude_firms``) and those of the leading industry, for the
    share rule.

    Returns
    -------
    GeoDataFrame
        site_id, site_kind, name, township_code, leading_industries, allows_polluting,
        capacity_land_m2, capacity_land_mu, capacity_floor_m2, share_rule, n_existing,
        n_existing_leading, existing_mix, geometry (vacant land).
    """
    frames = []
    crs = None
    vacant = None
    if plots is not None and len(plots):
        crs = plots.crs
        st = _str_col(plots, "status").isin(params.vacant_statuses).fillna(False).to_numpy(dtype=bool)
        vacant = plots.loc[st & _str_col(plots, "park_id").notna().to_numpy()]
    for kind, parks in (("industrial_park", industrial_parks), ("micro_park", micro_parks)):
        if parks is None or len(parks) == 0:
            continue
        crs = crs or parks.crs
        keep = np.ones(len(parks), dtype=bool)
        if kind == "industrial_park" and "kind" in parks.columns and params.park_kinds:
            keep &= _str_col(parks, "kind").isin(params.park_kinds).fillna(False).to_numpy(dtype=bool)
        if kind == "micro_park" and "status" in parks.columns and params.micro_park_statuses:
            keep &= _str_col(parks, "status").isin(params.micro_park_statuses).fillna(False).to_numpy(dtype=bool)
        pk = parks.loc[keep]
        if len(pk) == 0:
            continue
        ids = pk["park_id"].astype(str).to_numpy()
        if vacant is not None and len(vacant):
            v = vacant.loc[_str_col(vacant, "park_id").isin(ids).fillna(False).to_numpy(dtype=bool)]
            cap = pd.to_numeric(v["area_m2"], errors="coerce").groupby(v["park_id"].astype(str).to_numpy()).sum()
            geo = v[["park_id", "geometry"]].assign(park_id=v["park_id"].astype(str)).dissolve(by="park_id").geometry
        else:
            cap, geo = pd.Series(dtype=float), gpd.GeoSeries(dtype="geometry")
        lead = (_str_col(pk, "leading_industries") if kind == "industrial_park"
                else _str_col(pk, "leading_industry")).fillna("").to_numpy(dtype=object)
        capacity = cap.reindex(ids).fillna(0.0).to_numpy(dtype=float)
        geoms = geo.reindex(ids).to_numpy()
        has = capacity > 0
        frames.append(gpd.GeoDataFrame({
            "site_id": ids[has], "site_kind": kind, "name": _str_col(pk, "name").to_numpy(dtype=object)[has],
            "township_code": _str_col(pk, "township_code").to_numpy(dtype=object)[has],
            "leading_industries": lead[has],
            "allows_polluting": _bool_col(pk, "allows_polluting", False)[has],
            "capacity_land_m2": capacity[has],
            "share_rule": np.full(has.sum(), kind == "micro_park"),
            "park_geometry": pk.geometry.to_numpy()[has],
        }, geometry=geoms[has], crs=pk.crs))
    if clusters is not None and len(clusters):
        crs = crs or clusters.crs
        cl = clusters
        if "is_candidate_site" in cl.columns:
            cl = cl.loc[_bool_col(cl, "is_candidate_site", False)]
        capcol = "release_m2" if "release_m2" in cl.columns else "area_m2"
        cap = _num_col(cl, capcol)
        cap = np.where(np.isfinite(cap) & (cap > 0), cap, _num_col(cl, "area_m2"))
        frames.append(gpd.GeoDataFrame({
            "site_id": ("CL" + cl["cluster_id"].astype(str)).to_numpy(), "site_kind": "cluster",
            "name": ("released cluster " + cl["cluster_id"].astype(str)).to_numpy(),
            "township_code": _str_col(cl, "township_code").to_numpy(dtype=object),
            "leading_industries": "", "allows_polluting": False, "capacity_land_m2": cap,
            "share_rule": False, "park_geometry": cl.geometry.to_numpy(),
        }, geometry=cl.geometry.to_numpy(), crs=cl.crs))
    cols = ["site_id", "site_kind", "name", "township_code", "leading_industries", "allows_polluting",
            "capacity_land_m2", "capacity_land_mu", "capacity_floor_m2", "share_rule", "n_existing",
            "n_existing_leading", "existing_mix"]
    if not frames:
        empty = {c: pd.Series([], dtype="float64" if c.startswith(("capacity", "n_")) else "object") for c in cols}
        return gpd.GeoDataFrame(empty, geometry=gpd.GeoSeries([], crs=crs), crs=crs)
    sites = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=crs)
    sites["capacity_land_mu"] = sites["capacity_land_m2"] / M2_PER_MU
    sites["capacity_floor_m2"] = sites["capacity_land_m2"] * params.site_far
    n_ex, n_lead, mix = _existing_firms(sites, enterprises, exclude_firms)
    sites["n_existing"] = n_ex
    sites["n_existing_leading"] = n_lead
    sites["existing_mix"] = mix
    return sites[cols + ["geometry"]]


def _existing_firms(sites, enterprises, exclude) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    m = len(sites)
    n_ex, n_lead = np.zeros(m, dtype=np.int64), np.zeros(m, dtype=np.int64)
    mix = np.full(m, "", dtype=object)
    if enterprises is None or len(enterprises) == 0:
        return n_ex, n_lead, mix
    ents = enterprises if exclude is None else enterprises.loc[~enterprises.index.isin(exclude)]
    area = sites["park_geometry"].to_numpy()
    i_pt, j = shapely.STRtree(area).query(ents.geometry.to_numpy(), predicate="within")
    div = _codes(ents["industry_code"])[i_pt]
    div = np.array([c[:2] for c in div], dtype=object) if len(div) else div
    lead_sets = _split_codes(sites["leading_industries"])
    df = pd.DataFrame({"j": j, "div": div})
    n_ex[:] = np.bincount(j, minlength=m)
    lead_pairs = pd.DataFrame([(jj, c[:2]) for jj, codes in enumerate(lead_sets) for c in codes], columns=["j", "div"])
    if len(df) and len(lead_pairs):
        hit = df.merge(lead_pairs.drop_duplicates(), on=["j", "div"], how="inner")
        n_lead[:] = np.bincount(hit["j"].to_numpy(dtype=np.int64), minlength=m)
    mix[:] = _mix_strings(df, m)
    return n_ex, n_lead, mix


def _mix_strings(df: pd.DataFrame, m: int) -> np.ndarray:
    """'34:12, 33:3' per site, largest first (df: j, div)."""
    out = np.full(m, "", dtype=object)
    if len(df) == 0:
        return out
    c = df.groupby(["j", "div"]).size().rename("n").reset_index().sort_values(["j", "n"], ascending=[True, False])
    c["t"] = c["div"].astype(str) + ":" + c["n"].astype(str)
    s = c.groupby("j")["t"].agg(", ".join)
    out[s.index.to_numpy(dtype=np.int64)] = s.to_numpy()
    return out


# --- eligibility ---------------------------------------------------------------------------
def site_exclusions(demand: pd.DataFrame, sites: pd.DataFrame, params: SitingParams, *,
                    distance: np.ndarray, constraints: gpd.GeoDataFrame | None = None,
                    single_firm_share: bool = False) -> np.ndarray:
    """Exclusion bit mask (n × m, uint16; 0 = eligible) — see :data:`EXCLUSIONS`.

    Vectorised: industry fit by a firm × code and a site × code incidence matrix; the
    buffers by one STRtree ``dwithin`` query per constraint kind over all sites.
    """
    n, m = len(demand), len(sites)
    mask = np.zeros((n, m), dtype=np.uint16)
    if n == 0 or m == 0:
        return mask
    code = _codes(demand["industry_code"])
    lead_sets = _split_codes(sites["leading_industries"])
    universe = sorted({c for codes in lead_sets for c in codes})
    firm_u = _prefix_match(code, universe).astype(np.int32)                     # n × U
    site_u = np.zeros((m, len(universe)), dtype=np.int32)
    pos = {c: k for k, c in enumerate(universe)}
    for jj, codes in enumerate(lead_sets):  # m small: building the incidence, not a loop over firms
        site_u[jj, [pos[c] for c in codes]] = 1
    fit = (firm_u @ site_u.T) > 0
    no_lead = np.array([len(c) == 0 for c in lead_sets])
    fit[:, no_lead] = params.open_if_no_leading
    share_sites = _bool_col(sites, "share_rule", False)
    fit[:, share_sites] = True  # micro-parks: governed by the share rule, not a hard fit
    polluting = _bool_col(demand, "polluting", False)
    allows = _bool_col(sites, "allows_polluting", False)
    if params.designated_take_polluting:  # a park designated for polluting industries exists for them
        fit[np.ix_(polluting, allows)] = True
    mask[~fit] |= _BIT["industry"]
    mask[np.ix_(polluting, ~allows)] |= _BIT["polluting"]
    if constraints is not None and len(constraints) and polluting.any():
        # the site's vacant land (not just its anchor point) must keep the distance
        land = sites.geometry.to_numpy()
        for kind, buf, bit in (("residential", params.buffer_residential_m, _BIT["residential_buffer"]),
                               ("water_source", params.buffer_water_source_m, _BIT["water_buffer"])):
            c = constraints.loc[_str_col(constraints, "kind").eq(kind).fillna(False).to_numpy(dtype=bool)]
            if len(c) == 0 or buf <= 0:
                continue
            j_site, _ = shapely.STRtree(c.geometry.to_numpy()).query(land, predicate="dwithin", distance=buf)
            near_site = np.zeros(m, dtype=bool)
            near_site[j_site] = True
            mask[np.ix_(polluting, near_site)] |= bit
    if params.max_distance_m > 0:
        mask[distance > params.max_distance_m] |= _BIT["distance"]
    need_land = _num_col(demand, "need_land_m2")
    need_floor = _num_col(demand, "need_floor_m2")
    cap_land = _num_col(sites, "capacity_land_m2")
    cap_floor = _num_col(sites, "capacity_floor_m2")
    cap_floor = np.where(np.isnan(cap_floor), np.inf, cap_floor)
    mask[need_land[:, None] > cap_land[None, :]] |= _BIT["land_capacity"]
    mask[need_floor[:, None] > cap_floor[None, :]] |= _BIT["floor_capacity"]
    bad_site = ~(cap_land >= 0) | (cap_floor < 0) | sites.geometry.isna().to_numpy() | sites.geometry.is_empty.to_numpy()
    mask[:, bad_site] |= _BIT["invalid_site"]
    if single_firm_share and share_sites.any():
        lead = _leading_matrix(code, lead_sets)
        n_ex = _num_col(sites, "n_existing")
        n_ld = _num_col(sites, "n_existing_leading")
        after = (n_ld[None, :] + lead) / (n_ex[None, :] + 1)
        mask[(after < params.leading_share - 1e-12) & share_sites[None, :]] |= _BIT["leading_share"]
    return mask


def _leading_matrix(code: np.ndarray, lead_sets: list[tuple[str, ...]]) -> np.ndarray:
    """n × m: the firm's industry is one of the site's leading ones (prefix match)."""
    universe = sorted({c for codes in lead_sets for c in codes})
    firm_u = _prefix_match(code, universe).astype(np.int32)
    site_u = np.zeros((len(lead_sets), len(universe)), dtype=np.int32)
    pos = {c: k for k, c in enumerate(universe)}
    for jj, codes in enumerate(lead_sets):
        site_u[jj, [pos[c] for c in codes]] = 1
    return (firm_u @ site_u.T) > 0


def explain_exclusions(mask_rows: np.ndarray, *, lang: str = "en",
                       share: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For firms with no eligible site: the binding constraint(s) and a sentence each.

    A constraint is *binding* for a firm when relaxing it alone would open at least one
    site; when no single constraint does, all constraints excluding sites are listed with
    how many sites each excludes.

    Returns ``(codes, text)`` arrays of strings, one per row of ``mask_rows``; ``lang`` "en"
    or "zh"; ``share`` (the leading-industry minimum) is named in the Chinese share rule.
    """
    n = mask_rows.shape[0]
    codes = np.full(n, "", dtype=object)
    text = np.full(n, "", dtype=object)
    if n == 0:
        return codes, text
    if mask_rows.shape[1] == 0:
        codes[:] = "no_sites"
        text[:] = "no candidate sites at all (supply is empty)" if lang == "en" else "没有任何候选园区(供给为空)"
        return codes, text
    words = _exclusion_words(lang, share)
    tsep_word = "; " if lang == "en" else ";"
    single = np.zeros(n, dtype=bool)
    for bit, entry in EXCLUSIONS.items():
        opens = ((mask_rows & ~np.uint16(bit)) == 0).any(axis=1)
        if opens.any():
            sep = np.where(codes[opens] == "", "", "+")
            codes[opens] = codes[opens] + sep + entry[0]
            tsep = np.where(text[opens] == "", "", tsep_word)
            text[opens] = text[opens] + tsep + words[bit]
            single |= opens
    head_en, head_zh = "no eligible site; relaxing any one of these alone would open one: ", "无可用园区;放宽以下任一条件即可:"
    text[single] = (head_en if lang == "en" else head_zh) + text[single]
    rest = ~single
    if rest.any():
        text[rest] = "no eligible site; several rules together exclude every site: " if lang == "en" else "无可用园区;多项条件共同排除:"
        for bit, entry in EXCLUSIONS.items():
            cnt = ((mask_rows[rest] & np.uint16(bit)) > 0).sum(axis=1)
            has = cnt > 0
            sub_c, sub_t = codes[rest], text[rest]
            sub_c[has] = sub_c[has] + np.where(sub_c[has] == "", "", "+") + entry[0]
            head_end = np.char.endswith(sub_t[has].astype(str), ": " if lang == "en" else ":")
            sub_t[has] = (sub_t[has] + np.where(head_end, "", tsep_word) + words[bit]
                          + ((" (" + cnt[has].astype(str) + " sites)") if lang == "en"
                             else ("(" + cnt[has].astype(str) + " 个园区)")))
            codes[rest], text[rest] = sub_c, sub_t
    return codes, text


# --- the problem ---------------------------------------------------------------------------
class RelocationProblem:
    """Capacitated relocation of firms to park sites (see the module docstring for the model).

    Build with :meth:`from_geodataframe` (firms and sites as frames) or
    :meth:`from_cost_matrix` (any cost matrix); :meth:`solve` returns ``self``.

    Attributes after solve
    ----------------------
    assignments : DataFrame (GeoDataFrame from frames)
        One row per firm on the demand index: status (assigned / unassigned / not_solved),
        site_id, distance_m, cost, objective_share, reason_code, reason (English) and
        reason_zh (the same in Chinese).
    site_utilisation : DataFrame
        Per site: land and floor used / capacity, firms assigned, leading share before and
        after, industry mix after.
    unassigned : DataFrame
        The firms not placed, with the binding reason.
    lines : GeoDataFrame or None
        Firm → site LineStrings for the map.
    problems : DataFrame
        Input problems: what (firm / site), id, problem (English), problem_zh.
    status, message, objective, bound, gap, solve_time_s, greedy_objective, n_pairs,
    n_pairs_eligible, restricted
    """

    def __init__(self, name: str = "relocation"):
        self.name = name
        self.status = "NOT_SOLVED"
        self.message = ""
        self.objective = self.bound = self.gap = self.greedy_objective = float("nan")
        self.solve_time_s = 0.0
        self.assignments = self.site_utilisation = self.unassigned = self.lines = None
        self.demand = self.supply = None

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_cost_matrix(cls, cost: np.ndarray, need_land: np.ndarray, capacity_land: np.ndarray, *,
                         params: SitingParams, need_floor: np.ndarray | None = None,
                         capacity_floor: np.ndarray | None = None, exclusions: np.ndarray | None = None,
                         weights: np.ndarray | None = None, leading: np.ndarray | None = None,
                         share_sites: np.ndarray | None = None, existing: np.ndarray | None = None,
                         existing_leading: np.ndarray | None = None, demand_ids=None, site_ids=None,
                         distance: np.ndarray | None = None, name: str = "relocation") -> "RelocationProblem":
        """Build from a cost matrix (n firms × m sites, objective units, NaN/inf = no link).

        Parameters
        ----------
        cost : (n, m) array
            c_ij, already weighted (e.g. 亩 × m).
        need_land, capacity_land : arrays (m²)
        exclusions : (n, m) uint16, optional
            Bits of :data:`EXCLUSIONS`; non-zero = ineligible.  Capacity exclusions (need
            larger than the whole site) are added here.
        weights : (n,), optional
            w_i; the unassigned penalty is P_i = w_i × ``params.unassigned_penalty_m``.
        leading, share_sites, existing, existing_leading : optional
            The micro-park share rule: ``leading[i, j]`` firm *i* counts as leading at *j*;
            ``share_sites[j]`` the rule applies; existing firms and leading firms per site.
        """
        self = cls(name)
        cost = np.asarray(cost, dtype=float)
        if cost.ndim != 2:
            raise ParameterError(f"cost must be a 2-d (firms × sites) matrix; got shape {cost.shape}")
        n, m = cost.shape
        self.params = params
        self.n, self.m = n, m
        self.cost = cost
        self.distance = cost if distance is None else np.asarray(distance, float)
        self.need_land = np.asarray(need_land, dtype=float).reshape(n)
        self.cap_land = np.asarray(capacity_land, dtype=float).reshape(m)
        self.need_floor = np.zeros(n) if need_floor is None else np.asarray(need_floor, float).reshape(n)
        self.cap_floor = np.full(m, np.inf) if capacity_floor is None else np.asarray(capacity_floor, float).reshape(m)
        self.weights = np.ones(n) if weights is None else np.asarray(weights, float).reshape(n)
        self.demand_ids = np.asarray(demand_ids if demand_ids is not None else np.arange(n), dtype=object)
        self.site_ids = np.asarray(site_ids if site_ids is not None else np.arange(m), dtype=object)
        mask = np.zeros((n, m), np.uint16) if exclusions is None else np.asarray(exclusions, np.uint16).copy()
        mask[self.need_land[:, None] > self.cap_land[None, :]] |= _BIT["land_capacity"]
        mask[self.need_floor[:, None] > self.cap_floor[None, :]] |= _BIT["floor_capacity"]
        bad_site = ~(self.cap_land >= 0) | ~(self.cap_floor >= 0)
        mask[:, bad_site] |= _BIT["invalid_site"]
        mask[~np.isfinite(cost)] |= _BIT["invalid_site"]
        self.mask = mask
        self.share_sites = np.zeros(m, bool) if share_sites is None else np.asarray(share_sites, bool).reshape(m)
        self.leading = np.zeros((n, m), bool) if leading is None else np.asarray(leading, bool)
        self.existing = np.zeros(m) if existing is None else np.nan_to_num(np.asarray(existing, float))
        self.existing_leading = np.zeros(m) if existing_leading is None else np.nan_to_num(np.asarray(existing_leading, float))
        # input problems: rows that cannot enter the model
        problems = []
        bad_need = ~(self.need_land > 0)
        for i in np.flatnonzero(bad_need):
            problems.append({"what": "firm", "id": str(self.demand_ids[i]), "problem": "zero or unknown land need",
                             "problem_zh": _PROBLEM_ZH["zero or unknown land need"]})
        for jj in np.flatnonzero(bad_site):
            problems.append({"what": "site", "id": str(self.site_ids[jj]),
                             "problem": f"negative or missing capacity (land {self.cap_land[jj]:g} m², floor {self.cap_floor[jj]:g} m²)",
                             "problem_zh": f"容量为负或缺失(用地 {self.cap_land[jj]:g} m²,建筑面积 {self.cap_floor[jj]:g} m²)"})
        self.firm_ok = ~bad_need
        self.site_ok = ~bad_site
        self.problems = pd.DataFrame(problems, columns=["what", "id", "problem", "problem_zh"])
        self.firm_problem = np.full(n, None, dtype=object)
        self.firm_problem[bad_need] = "zero or unknown land need"
        return self

    @classmethod
    def from_geodataframe(cls, demand: gpd.GeoDataFrame, supply: gpd.GeoDataFrame, *, params: SitingParams,
                          constraints: gpd.GeoDataFrame | None = None, id_col: str = "credit_code",
                          friction: tuple[np.ndarray, Any] | None = None,
                          name: str = "relocation") -> "RelocationProblem":
        """Build from firms (:func:`select_demand`) and sites (:func:`supply_from_layers`).

        Parameters
        ----------
        demand : GeoDataFrame
            Points; ``industry_code``, ``need_land_m2``, ``need_floor_m2``, ``polluting``,
            ``township_code``; rows with ``input_problem`` set are reported, not sited.
        supply : GeoDataFrame
            Site polygons with capacities, ``leading_industries``, ``allows_polluting``,
            ``share_rule``, ``n_existing``, ``n_existing_leading``.
        constraints : GeoDataFrame, optional
            Layer ``constraints`` (kinds ``residential`` and ``water_source`` are used).
        friction : (array, affine transform), optional
            A cost surface in the working CRS; distance × mean friction along the segment.
        """
        check_crs(demand, ("supply", supply), ("constraints", constraints))
        d = demand
        s = supply
        prob_col = _str_col(d, "input_problem") if "input_problem" in d.columns else _demand_problems(d)
        geom = d.geometry
        located = ~(geom.isna() | geom.is_empty).to_numpy()
        fx = np.where(located, shapely.get_x(shapely.centroid(geom.to_numpy())), np.nan) if len(d) else np.zeros(0)
        fy = np.where(located, shapely.get_y(shapely.centroid(geom.to_numpy())), np.nan) if len(d) else np.zeros(0)
        anchor = shapely.point_on_surface(s.geometry.to_numpy()) if len(s) else np.zeros(0, dtype=object)
        sx, sy = shapely.get_x(anchor), shapely.get_y(anchor)
        dist = np.hypot(fx[:, None] - sx[None, :], fy[:, None] - sy[None, :])
        if friction is not None and dist.size:
            dist = dist * _mean_friction(fx, fy, sx, sy, *friction)
        need_land = _num_col(d, "need_land_m2")
        weights = need_land / M2_PER_MU if params.demand_weight == "land_mu" else np.ones(len(d))
        weights = np.where(np.isfinite(weights) & (weights > 0), weights, 0.0)
        same = (_str_col(d, "township_code").fillna("?").to_numpy(dtype=object)[:, None]
                == _str_col(s, "township_code").fillna("!").to_numpy(dtype=object)[None, :])
        cost = weights[:, None] * dist * np.where(same, 1.0 - params.same_township_discount, 1.0)
        mask = site_exclusions(d, s, params, distance=dist, constraints=constraints)
        code = _codes(d["industry_code"])
        leading = _leading_matrix(code, _split_codes(s["leading_industries"])) if len(s) and len(d) \
            else np.zeros((len(d), len(s)), bool)
        ids = d[id_col].astype(str).to_numpy() if id_col in d.columns else d.index.astype(str).to_numpy()
        self = cls.from_cost_matrix(
            cost, need_land, _num_col(s, "capacity_land_m2"), params=params, need_floor=_num_col(d, "need_floor_m2"),
            capacity_floor=_num_col(s, "capacity_floor_m2"), exclusions=mask, weights=weights, leading=leading,
            share_sites=_bool_col(s, "share_rule", False), existing=_num_col(s, "n_existing"),
            existing_leading=_num_col(s, "n_existing_leading"), demand_ids=ids,
            site_ids=s["site_id"].astype(str).to_numpy(), distance=dist, name=name)
        # a located firm with a problem (e.g. no floor need) and unlocated firms stay out of the model
        has_problem = prob_col.fillna("").str.len().gt(0).to_numpy(dtype=bool)
        problem = prob_col.fillna("").to_numpy(dtype=object)
        extra = has_problem & self.firm_ok
        self.firm_problem[has_problem] = problem[has_problem]
        self.firm_ok &= ~has_problem
        if extra.any():
            self.problems = pd.concat([self.problems, pd.DataFrame(
                {"what": "firm", "id": ids[extra], "problem": problem[extra],
                 "problem_zh": _problems_zh(problem[extra])})], ignore_index=True)
        self.same_township = same
        self.demand, self.supply = d, s
        self.site_xy = np.column_stack([sx, sy]) if len(s) else np.zeros((0, 2))
        self.firm_xy = np.column_stack([fx, fy])
        return self

    # -- solving -------------------------------------------------------------------------
    def _pairs(self):
        p = self.params
        ok = (self.mask == 0) & self.firm_ok[:, None] & self.site_ok[None, :]
        pen = self.weights * p.unassigned_penalty_m
        if p.allow_unassigned:
            ok &= self.cost < pen[:, None]  # a move dearer than the penalty is never chosen
        n_eligible = int(ok.sum())
        restricted = False
        if p.k_nearest and p.k_nearest < self.m:
            c = np.where(ok, self.cost, np.inf)
            k = p.k_nearest
            keep_idx = np.argpartition(c, k - 1, axis=1)[:, :k]
            keep = np.zeros_like(ok)
            np.put_along_axis(keep, keep_idx, True, axis=1)
            restricted = bool((ok & ~keep).any())
            ok &= keep
        pi, pj = np.nonzero(ok)
        return pi, pj, pen, n_eligible, restricted

    def solve(self, *, time_limit_s: float | None = None, gap: float | None = None, solver: str | None = None,
              strategy: str | None = None) -> "RelocationProblem":
        """Check feasibility, solve, and fill the result attributes; returns ``self``.

        Raises
        ------
        InfeasibleAllocationError
            Only when ``params.allow_unassigned`` is False and some firm cannot be placed;
            the result attributes are filled first (``status`` = "INFEASIBLE") and the
            message names the firms and the constraint that stops each.
        """
        p = self.params
        time_limit_s = p.time_limit_s if time_limit_s is None else time_limit_s
        gap = p.gap if gap is None else gap
        solver = solver or p.solver
        strategy = strategy or p.strategy
        pi, pj, pen, n_eligible, restricted = self._pairs()
        self.n_pairs, self.n_pairs_eligible, self.restricted = len(pi), n_eligible, restricted
        if self.n == 0:
            self.status = "NO_DEMAND"
            self.message = "No firms to relocate: the demand is empty (check the selection rule)."
            self._finish(np.zeros(0, np.int64), pi, pj, pen)
            return self
        if self.m == 0 or not self.site_ok.any():
            self.status = "NO_SUPPLY"
            self.message = (f"No candidate sites with valid capacity: none of the {self.n} firms can be placed. "
                            "Check the parks' vacant plots (status in vacant_statuses) or pass clusters as supply.")
            self._finish(np.full(self.n, -1, np.int64), pi, pj, pen)
            if not p.allow_unassigned:
                self._raise(self.message)
            return self
        s_k = int(round(p.leading_share * _assign.SHARE_SCALE))
        room = self.existing_leading * _assign.SHARE_SCALE - s_k * self.existing
        share_rhs = np.where(room >= 0, -room, 0.0)  # below the minimum already: incoming firms must be ≥ s leading
        share_rhs = np.ceil(share_rhs - 1e-9)
        # One share group per site with the rule (a site is one park here).
        share_group = np.where(self.share_sites, np.cumsum(self.share_sites) - 1, -1).astype(np.int64)
        data = _assign.AssignmentData(
            n=self.n, m=self.m, pi=pi, pj=pj, cost=self.cost[pi, pj], penalty=pen, need_land=np.nan_to_num(self.need_land),
            cap_land=np.where(self.site_ok, self.cap_land, 0.0), need_floor=np.nan_to_num(self.need_floor),
            cap_floor=np.where(self.site_ok, self.cap_floor, 0.0), share_group=share_group,
            share_min=p.leading_share, pair_lead=self.leading[pi, pj], share_rhs=share_rhs[self.share_sites],
            allow_unassigned=p.allow_unassigned)
        self._data = data
        nowhere = self.firm_ok & (np.bincount(pi, minlength=self.n) == 0)
        if not p.allow_unassigned:
            if (~self.firm_ok).any() or nowhere.any():
                self.status = "INFEASIBLE"
                self._finish(np.full(self.n, -1, np.int64), pi, pj, pen)
                stuck = nowhere | ~self.firm_ok
                others = self.assignments.index[~stuck]
                self.assignments.loc[others, "status"] = "not_solved"
                self.assignments.loc[others, "reason_code"] = "not_solved"
                self.assignments.loc[others, "reason"] = ("not solved: other firms cannot be placed and every firm "
                                                          "must be (allow_unassigned = false)")
                self.assignments.loc[others, "reason_zh"] = ("未求解:部分企业无法安置,而参数要求全部安置"
                                                             "(allow_unassigned = false)")
                bad = self.assignments.loc[stuck]
                self.unassigned = bad
                listing = "; ".join(f"{r.firm_id}: {r.reason}" for r in bad.head(10).itertuples())
                self._raise(f"{len(bad)} firm(s) can go nowhere although every firm must be placed — {listing}"
                            f"{' …' if len(bad) > 10 else ''}. Relax the binding constraint or allow unassigned firms.")
            total_need = self.need_land[self.firm_ok].sum()
            total_cap = self.cap_land[self.site_ok].sum()
            if total_need > total_cap:
                self.status = "INFEASIBLE"
                self._finish(np.full(self.n, -1, np.int64), pi, pj, pen)
                self._raise(f"The firms need {total_need / M2_PER_MU:,.1f} 亩 in total but all sites together hold "
                            f"{total_cap / M2_PER_MU:,.1f} 亩; not every firm can be placed. Add supply or allow "
                            "unassigned firms.")
        hint = _assign.greedy_assignment(data)
        self.greedy_assign = hint
        self.greedy_objective = _assign.objective_of(data, hint)
        res = _assign.solve_assignment(data, solver=solver, time_limit_s=time_limit_s, gap=gap,
                                       workers=p.workers, hint=hint, strategy=strategy)
        self.solver_result = res
        self.status = res.status
        self.objective, self.bound, self.gap = res.objective, res.bound, res.gap
        self.solve_time_s = res.solve_time_s
        self.solver = res.solver
        if res.status == "INFEASIBLE":
            self._finish(np.full(self.n, -1, np.int64), pi, pj, pen)
            self._raise("The solver proved that the firms cannot all be placed together: their eligible sites do not "
                        "have enough land, floor area or leading-industry room for all of them at once. Allow unassigned "
                        "firms to see which ones stay out and why.")
        self._finish(res.assign, pi, pj, pen)
        n_un = int((self.assignments["status"] == "unassigned").sum())
        self.message = (f"{res.status}: {self.n - n_un - int((~self.firm_ok).sum())} of {self.n} firms placed, "
                        f"{n_un} unassigned, {int((~self.firm_ok).sum())} not solved (input problems); objective "
                        f"{self.objective:,.0f}, bound {self.bound:,.0f}, gap {self.gap:.2%}"
                        + (f" (restricted to the {p.k_nearest} nearest eligible sites per firm)" if restricted else ""))
        return self

    def _raise(self, msg: str):
        self.message = msg
        raise InfeasibleAllocationError(msg, message_zh="无法为全部搬迁企业安排园区:" + msg,
                                        details=[] if self.unassigned is None else self.unassigned.to_dict("records"))

    # -- results ---------------------------------------------------------------------------
    def _finish(self, assign: np.ndarray, pi, pj, pen) -> None:
        n, m, p = self.n, self.m, self.params
        self.assign = assign
        placed = assign >= 0
        jj = np.where(placed, assign, 0)
        rows = np.arange(n)
        dist = np.where(placed, self.distance[rows, jj] if m else np.nan, np.nan)
        cost = np.where(placed, self.cost[rows, jj] if m else np.nan, np.nan)
        cost_all = np.where(placed, cost, pen)
        cost_all = np.where(self.firm_ok, cost_all, np.nan)
        total = np.nansum(cost_all)
        status = np.where(placed, "assigned", "unassigned").astype(object)
        status[~self.firm_ok] = "not_solved"
        code = np.full(n, "", dtype=object)
        reason = np.full(n, "", dtype=object)
        reason_zh = np.full(n, "", dtype=object)
        # assigned: which site, how far, which choice
        if placed.any() and m:
            c_eligible = np.where((self.mask == 0) & self.site_ok[None, :], self.cost, np.inf)
            rank = (c_eligible < cost[:, None] - 1e-9).sum(axis=1) + 1
            same = self.same_township[rows, jj] if hasattr(self, "same_township") else np.zeros(n, bool)
            sid = self.site_ids[jj].astype(str)
            txt = ("site " + sid + ", " + fmt(dist / 1000.0, "%.1f") + " km"
                   + np.where(same, f", same township (cost −{p.same_township_discount:.0%})", "")
                   + np.where(rank == 1, ", cheapest eligible site",
                              ", eligible site no. " + rank.astype(str) + " by cost (cheaper ones full or needed by others)"))
            txt_zh = ("园区 " + sid + ",距离 " + fmt(dist / 1000.0, "%.1f") + " 公里"
                      + np.where(same, f",同一镇街(成本 −{p.same_township_discount:.0%})", "")
                      + np.where(rank == 1, ",成本最低的可用园区",
                                 ",按成本排第 " + rank.astype(str) + " 的可用园区(更近的园区已满或需留给其他企业)"))
            reason[placed] = txt[placed]
            reason_zh[placed] = txt_zh[placed]
            code[placed] = np.where(rank[placed] == 1, "best_site", "capacity_shared")
        # unassigned with no eligible site: the binding constraint(s)
        has_pair = np.bincount(pi, minlength=n) > 0 if len(pi) else np.zeros(n, bool)
        nowhere = ~placed & self.firm_ok & ~has_pair
        if nowhere.any():
            mrows = self.mask[nowhere][:, self.site_ok] if m else np.zeros((nowhere.sum(), 0), np.uint16)
            # sites whose move costs more than the penalty count as a reason of their own
            cst = self.cost[nowhere][:, self.site_ok] if m else np.zeros((nowhere.sum(), 0))
            c_codes, c_text = explain_exclusions(mrows)
            _, c_zh = explain_exclusions(mrows, lang="zh", share=p.leading_share)
            dear = (mrows == 0) & (cst >= pen[nowhere][:, None])
            any_dear = dear.any(axis=1) if dear.size else np.zeros(nowhere.sum(), bool)
            c_codes[any_dear] = "too_far"
            c_text[any_dear] = (f"every eligible site costs more than the unassigned penalty "
                                f"({p.unassigned_penalty_m / 1000:g} km × need)")
            c_zh[any_dear] = f"所有可用园区的搬迁成本均高于未安置惩罚({p.unassigned_penalty_m / 1000:g} 公里 × 需求)"
            code[nowhere], reason[nowhere], reason_zh[nowhere] = c_codes, c_text, c_zh
        # unassigned although eligible sites exist: what the solution left at those sites
        blocked = ~placed & self.firm_ok & has_pair
        if blocked.any():
            code[blocked], reason[blocked], reason_zh[blocked] = self._blocked_reasons(assign, pi, pj, blocked)
        code[~self.firm_ok] = "input_problem"
        reason[~self.firm_ok] = self.firm_problem[~self.firm_ok]
        reason_zh[~self.firm_ok] = _problems_zh(self.firm_problem[~self.firm_ok])
        frame = pd.DataFrame({
            "firm_id": self.demand_ids, "status": status,
            "site_id": pd.array(np.where(placed, self.site_ids[jj].astype(str) if m else "", None), dtype="string"),
            "distance_m": dist, "cost": cost_all,
            "objective_share": cost_all / total if total > 0 else np.where(np.isfinite(cost_all), 0.0, np.nan),
            "same_township": (self.same_township[rows, jj] & placed) if hasattr(self, "same_township") and m else False,
            "n_eligible_sites": ((self.mask == 0) & self.site_ok[None, :]).sum(axis=1) if m else 0,
            "reason_code": code, "reason": reason, "reason_zh": reason_zh,
        })
        frame["reason_code"] = frame["reason_code"].astype("string")
        frame["reason"] = frame["reason"].astype("string")
        frame["reason_zh"] = frame["reason_zh"].astype("string")
        frame["status"] = frame["status"].astype("string")
        if self.demand is not None:
            d = self.demand
            frame.index = d.index
            extra = [c for c in ("name", "industry_code", "township_code", "need_land_m2", "need_land_mu",
                                 "need_floor_m2", "polluting", "current_park", "selected_by") if c in d.columns]
            frame = pd.concat([frame[["firm_id"]], d[extra], frame.drop(columns="firm_id")], axis=1)
            if "site_id" in frame and self.supply is not None and m:
                frame.insert(frame.columns.get_loc("site_id") + 1, "site_name",
                             pd.array(np.where(placed, self.supply["name"].astype(str).to_numpy()[jj], None), dtype="string"))
            self.assignments = gpd.GeoDataFrame(frame, geometry=d.geometry.to_numpy(), crs=d.crs)
            self.assignments.index = d.index
            ok_line = placed & np.isfinite(self.firm_xy[:, 0])
            if m and ok_line.any():
                coords = np.stack([self.firm_xy[ok_line], self.site_xy[assign[ok_line]]], axis=1)
                lines = shapely.linestrings(coords)
            else:
                lines = np.zeros(0, dtype=object)
            self.lines = gpd.GeoDataFrame(
                {"firm_id": self.demand_ids[ok_line].astype(str), "site_id": self.site_ids[assign[ok_line]].astype(str)
                 if ok_line.any() else np.zeros(0, dtype=object), "distance_m": dist[ok_line], "cost": cost[ok_line]},
                geometry=gpd.GeoSeries(lines, crs=d.crs), crs=d.crs)
        else:
            self.assignments = frame
        self.unassigned = self.assignments.loc[self.assignments["status"] != "assigned"]
        self.site_utilisation = self._utilisation(assign)

    def _blocked_reasons(self, assign, pi, pj, blocked):
        """Why a firm with eligible sites stayed out: per eligible site, what the solution left."""
        n, m, p = self.n, self.m, self.params
        placed = assign >= 0
        used_land = np.bincount(assign[placed], weights=self.need_land[placed], minlength=m)
        used_floor = np.bincount(assign[placed], weights=self.need_floor[placed], minlength=m)
        d = self._data
        chosen = (assign[d.pi] == d.pj) & (assign[d.pi] >= 0)
        delta, pg = d.share_delta(), d.pair_group()
        grouped = chosen & (pg >= 0)
        # slack and rhs get one extra cell for the pairs with no share rule (group -1)
        slack = np.bincount(pg[grouped], weights=delta[grouped], minlength=d.n_groups + 1)
        rhs = np.append(d.share_rhs, -np.inf)
        sel = blocked[pi]
        fi, sj = pi[sel], pj[sel]
        land_full = used_land[sj] + self.need_land[fi] > self.cap_land[sj] + 1e-6
        floor_full = used_floor[sj] + self.need_floor[fi] > self.cap_floor[sj] + 1e-6
        share_block = slack[pg[sel]] + delta[sel] < rhs[pg[sel]]
        cause = np.where(land_full, "land_full", np.where(floor_full, "floor_full",
                         np.where(share_block, "leading_share", "objective")))
        df = pd.DataFrame({"i": fi, "site": self.site_ids[sj].astype(str), "cause": cause})
        df = df.sort_values(["i", "cause"])
        g = df.groupby(["i", "cause"])["site"].agg(lambda s: ", ".join(s.head(3)) + (" …" if len(s) > 3 else ""))
        g = g.reset_index()
        words = {"land_full": "full (land used by firms placed there)", "floor_full": "full (floor area)",
                 "leading_share": f"would fall below the {p.leading_share:.0%} leading-industry share",
                 "objective": "open, but placing this firm there would displace cheaper placements (optimal trade-off)"}
        words_zh = {"land_full": "已满(用地已被安置企业占用)", "floor_full": "已满(建筑面积)",
                    "leading_share": f"入驻后主导产业占比将低于{p.leading_share:.0%}",
                    "objective": "尚有余量,但安置本企业会挤占成本更低的安置(整体最优取舍)"}
        g["t"] = "eligible site(s) " + g["site"] + " " + g["cause"].map(words)
        g["t_zh"] = "可用园区 " + g["site"] + " " + g["cause"].map(words_zh)
        per_firm = g.groupby("i").agg(codes=("cause", "+".join), text=("t", "; ".join), text_zh=("t_zh", ";".join))
        idx = np.flatnonzero(blocked)
        codes = per_firm["codes"].reindex(idx).fillna("").to_numpy(dtype=object)
        text = per_firm["text"].reindex(idx).fillna("").to_numpy(dtype=object)
        text_zh = per_firm["text_zh"].reindex(idx).fillna("").to_numpy(dtype=object)
        if self.restricted:
            text = text + f" (only the {p.k_nearest} nearest eligible sites were considered)"
            text_zh = text_zh + f"(仅考虑了最近的 {p.k_nearest} 个可用园区)"
        return codes, text, text_zh

    def _utilisation(self, assign) -> pd.DataFrame:
        m, p = self.m, self.params
        placed = assign >= 0
        a = assign[placed]
        used_land = np.bincount(a, weights=self.need_land[placed], minlength=m)
        used_floor = np.bincount(a, weights=self.need_floor[placed], minlength=m)
        n_new = np.bincount(a, minlength=m)
        lead_new = np.bincount(a, weights=self.leading[np.flatnonzero(placed), a].astype(float), minlength=m) \
            if placed.any() else np.zeros(m)
        before = np.where(self.existing > 0, self.existing_leading / np.maximum(self.existing, 1), np.nan)
        tot = self.existing + n_new
        after = np.where(tot > 0, (self.existing_leading + lead_new) / np.maximum(tot, 1), np.nan)
        out = pd.DataFrame({
            "site_id": self.site_ids.astype(str), "capacity_land_m2": self.cap_land, "used_land_m2": used_land,
            "capacity_land_mu": self.cap_land / M2_PER_MU, "used_land_mu": used_land / M2_PER_MU,
            "land_utilisation": np.where(self.cap_land > 0, used_land / np.where(self.cap_land > 0, self.cap_land, 1), np.nan),
            "capacity_floor_m2": self.cap_floor, "used_floor_m2": used_floor,
            "floor_utilisation": np.where((self.cap_floor > 0) & np.isfinite(self.cap_floor),
                                          used_floor / np.where(self.cap_floor > 0, self.cap_floor, 1), np.nan),
            "firms_assigned": n_new.astype(np.int64), "firms_existing": self.existing.astype(np.int64),
            "share_rule": self.share_sites, "leading_share_before": np.where(self.share_sites, before, np.nan),
            "leading_share_after": np.where(self.share_sites, after, np.nan),
            "valid": self.site_ok,
        })
        if self.supply is not None and m:
            s = self.supply
            div = np.array([c[:2] for c in _codes(self.demand["industry_code"])], dtype=object)[placed] \
                if self.demand is not None and placed.any() else np.zeros(0, object)
            new_mix = _mix_strings(pd.DataFrame({"j": a, "div": div}), m)
            out["assigned_mix"] = new_mix
            out["existing_mix"] = s["existing_mix"].to_numpy() if "existing_mix" in s.columns else ""
            out["industry_mix_after"] = _merge_mix(out["existing_mix"].to_numpy(dtype=object), new_mix)
            for c in ("site_kind", "name", "township_code", "leading_industries", "allows_polluting"):
                if c in s.columns:
                    out.insert(1, c, s[c].to_numpy())
            out.index = s.index
            return gpd.GeoDataFrame(out, geometry=s.geometry.to_numpy(), crs=s.crs)
        return out


def _merge_mix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Add two 'code:n, code:n' mix strings per site (vectorised through one long table)."""
    def explode(arr):
        s = pd.Series(arr, dtype="string").fillna("").str.split(", ").explode()
        s = s[s.str.len() > 0]
        parts = s.str.split(":", expand=True) if len(s) else pd.DataFrame(columns=[0, 1])
        return pd.DataFrame({"j": s.index.to_numpy(dtype=np.int64), "div": parts[0].to_numpy() if len(s) else [],
                             "n": pd.to_numeric(parts[1]).to_numpy() if len(s) else []})
    t = pd.concat([explode(a), explode(b)], ignore_index=True)
    if len(t) == 0:
        return np.full(len(a), "", dtype=object)
    t = t.groupby(["j", "div"])["n"].sum().reset_index()
    return _mix_strings(t.loc[t.index.repeat(t["n"].astype(int))][["j", "div"]], len(a))


def _mean_friction(fx, fy, sx, sy, array: np.ndarray, transform, samples: int = 8) -> np.ndarray:
    """Mean of a friction raster at ``samples`` points along every firm→site segment (n × m)."""
    t = (np.arange(samples) + 0.5) / samples
    x = fx[:, None, None] + (sx[None, :, None] - fx[:, None, None]) * t
    y = fy[:, None, None] + (sy[None, :, None] - fy[:, None, None]) * t
    inv = ~transform
    col, row = inv * (x, y)
    row = np.clip(np.floor(row).astype(np.int64), 0, array.shape[0] - 1)
    col = np.clip(np.floor(col).astype(np.int64), 0, array.shape[1] - 1)
    vals = np.asarray(array, dtype=float)[row, col]
    return np.nanmean(vals, axis=2)


# --- single firm ---------------------------------------------------------------------------
def rank_sites_for_firm(firm: gpd.GeoDataFrame | pd.Series, supply: gpd.GeoDataFrame, params: SitingParams, *,
                        constraints: gpd.GeoDataFrame | None = None, need_mu: float | None = None,
                        lang: str = "en") -> gpd.GeoDataFrame:
    """Every site ranked for one firm, with the reason for each exclusion.

    "Where can this 20 亩 machinery firm go?" — ``firm`` is a one-row GeoDataFrame (or a
    Series with ``geometry``) holding ``industry_code`` and either ``need_land_m2`` or
    ``land_area_m2`` (need computed as in :func:`select_demand`); ``need_mu`` overrides the
    land need (亩).  A micro-park is excluded when this firm alone would bring its
    leading-industry share below the minimum.

    Returns
    -------
    GeoDataFrame
        The supply rows (same index) with ``distance_m``, ``cost``, ``eligible``, ``rank``
        (1 = cheapest eligible, NA when excluded), ``excluded_by`` (codes), ``reason`` (in
        ``lang``) and ``reason_zh`` (always Chinese), sorted by rank then distance.
    """
    if isinstance(firm, pd.Series):
        firm = gpd.GeoDataFrame([firm], geometry=[firm["geometry"]], crs=supply.crs)
    if len(firm) != 1:
        raise ParameterError(f"rank_sites_for_firm takes one firm; got {len(firm)} rows")
    f = firm.copy()
    if need_mu is not None:
        if not need_mu > 0:
            raise ParameterError(f"need_mu = {need_mu} must be > 0 亩", message_zh="用地需求必须大于 0 亩")
        f["need_land_m2"] = need_mu * M2_PER_MU
    elif "need_land_m2" not in f.columns:
        land = _num_col(f, "land_area_m2")
        f["need_land_m2"] = land * params.intensification_factor if params.land_need_method == "intensify" \
            else _num_col(f, "floor_m2") / params.target_far
    if "need_floor_m2" not in f.columns or not np.isfinite(_num_col(f, "need_floor_m2")).all():
        f["need_floor_m2"] = _num_col(f, "need_land_m2") * params.target_far
    if "polluting" not in f.columns:
        f["polluting"] = _prefix_match(_codes(f["industry_code"]), params.polluting_codes).any(axis=1)
    problem = _demand_problems(f).iloc[0]
    if pd.notna(problem):
        raise ParameterError(f"The firm cannot be sited: {problem}.",
                             message_zh=f"该企业无法选址:{_problems_zh([problem])[0]}")
    check_crs(f, ("supply", supply), ("constraints", constraints))
    pt = shapely.centroid(f.geometry.to_numpy())[0]
    anchor = shapely.point_on_surface(supply.geometry.to_numpy())
    dist = shapely.distance(pt, anchor)[None, :] if len(supply) else np.zeros((1, 0))
    mask = site_exclusions(f, supply, params, distance=dist, constraints=constraints, single_firm_share=True)[0]
    w = float(_num_col(f, "need_land_m2")[0] / M2_PER_MU) if params.demand_weight == "land_mu" else 1.0
    same = (_str_col(supply, "township_code").fillna("!").to_numpy(dtype=object)
            == (_str_col(f, "township_code").fillna("?").iloc[0]))
    cost = w * dist[0] * np.where(same, 1.0 - params.same_township_discount, 1.0)
    eligible = mask == 0
    order_cost = np.where(eligible, cost, np.inf)
    rank = np.argsort(np.argsort(order_cost, kind="stable"), kind="stable") + 1
    codes = np.full(len(supply), "", dtype=object)
    why = Reasons(len(supply))
    need = _num_col(f, "need_land_m2")[0]
    words_en, words_zh = _exclusion_words("en"), _exclusion_words("zh", params.leading_share)
    cap_mu = _num_col(supply, "capacity_land_mu")
    for bit, entry in EXCLUSIONS.items():  # 9 rules, each applied to all sites at once
        hit = (mask & np.uint16(bit)) > 0
        codes[hit] = codes[hit] + np.where(codes[hit] == "", "", "+") + entry[0]
        if bit == _BIT["land_capacity"]:  # the numbers say by how much
            nums = lambda h: fmt(cap_mu[h], "%.1f") + f" 亩 < {need / M2_PER_MU:.1f} 亩"  # noqa: E731
            why.add(hit, lambda h: words_en[bit] + " (" + nums(h) + ")", lambda h: words_zh[bit] + "(" + nums(h) + ")")
        else:
            why.add(hit, words_en[bit], words_zh[bit])
    why.add(eligible, np.where(same, "eligible; same township", "eligible"), np.where(same, "可用;同一镇街", "可用"))
    text_en, text_zh = why.en, why.zh
    out = supply.copy()
    out["distance_m"] = dist[0]
    out["cost"] = cost
    out["eligible"] = eligible
    out["rank"] = pd.array(np.where(eligible, rank, -1), dtype="Int64").astype("Int64")
    out.loc[~eligible, "rank"] = pd.NA
    out["excluded_by"] = pd.array(np.where(codes == "", None, codes), dtype="string")
    out["reason"] = pd.array(text_en if lang == "en" else text_zh, dtype="string")
    out["reason_zh"] = pd.array(text_zh, dtype="string")
    return out.sort_values(["rank", "distance_m"], na_position="last")
