"""Demand: the firms to relocate (入园集聚, 梯度转移) and how much land and floor area each needs."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from analysis._common import boolean, num, positions, text
from analysis.membership import firm_parks
from analysis.siting.settings import DEMAND_RULES, SitingParams
from geo.errors import ParameterError
from geo.units import M2_PER_MU
from layers.codes import matches_prefix

__all__ = ["select_demand", "demand_problems"]


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
        Give each firm its floor area and, with ``parks``, its park.
    parks : GeoDataFrame, optional
        All parks (:func:`analysis._common.combine_parks`: ``park_id``, ``name``,
        ``allows_polluting``).  A firm's park is :func:`analysis.membership.firm_parks`' — its
        plot's park (the plot's ``park_id`` attribute when it names a park, else the outline),
        else the park around its point — so plots without ``park_id`` select the same firms.
    classes : Series, optional
        Class per credit code, when the enterprises frame has no class column.

    Returns
    -------
    GeoDataFrame
        The selected rows (original index) plus ``polluting``, ``current_park``,
        ``current_park_name``, ``land_m2``, ``floor_m2``, ``need_land_m2``, ``need_land_mu``,
        ``need_floor_m2``, ``selected_by``, and ``input_problem`` (why a row cannot be sited: no
        location, zero land need), NA when fine.

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
    polluting = matches_prefix(text(ents, "industry_code"), params.polluting_codes)
    park = firm_parks(ents, plots, parks)
    floor, plot_area = _plot_figures(ents, plots)
    designated, names = [], {}
    if parks is not None and len(parks):
        ids = parks["park_id"].astype(str)
        designated = ids[boolean(parks, "allows_polluting", False)].tolist()
        names = dict(zip(ids, text(parks, "name").fillna("")))
    in_park = park.notna().to_numpy()
    in_designated = park.isin(designated).fillna(False).to_numpy(dtype=bool)
    holder = boolean(ents, "is_land_holder", True) if params.holders_only else np.ones(len(ents), bool)
    sel, why = _select(rule, ents, params, polluting, in_park, in_designated, holder, firms, classes)
    out = ents.loc[sel].copy()
    idx = np.flatnonzero(sel)
    land = num(out, "land_area_m2")
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
    out["current_park_name"] = pd.array(park.iloc[idx].astype(object).map(names).to_numpy(dtype=object),
                                        dtype="string")
    out["land_m2"] = land
    out["floor_m2"] = fl
    out["need_land_m2"] = need_land
    out["need_land_mu"] = need_land / M2_PER_MU
    out["need_floor_m2"] = need_floor
    out["selected_by"] = f"{rule}: {why}"
    out["input_problem"] = demand_problems(out)
    return out


def _plot_figures(ents, plots) -> tuple[np.ndarray, np.ndarray]:
    """Floor area and land area of each firm's plot (NaN where unknown)."""
    n = len(ents)
    if plots is None or "plot_id" not in ents.columns or "plot_id" not in plots.columns:
        return np.full(n, np.nan), np.full(n, np.nan)
    p = plots.drop_duplicates("plot_id")
    pos = positions(text(ents, "plot_id").fillna(""), text(p, "plot_id").to_numpy(dtype=object))

    def pick(col):
        v = num(p, col)
        return np.where(pos >= 0, v[np.maximum(pos, 0)] if len(v) else np.nan, np.nan)

    return pick("floor_area_m2"), pick("area_m2")


def _select(rule, ents, params, polluting, in_park, in_designated, holder, firms, classes):
    """The rule's selection mask and its words."""
    if rule == "polluting":
        return polluting & ~in_designated & holder, "polluting industry outside a designated park"
    if rule == "d_class":
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
        return is_d & ~in_park & holder, f"class {'/'.join(params.d_classes)} outside parks"
    if rule == "midwest":
        if not params.midwest_townships:
            raise ParameterError("Rule 'midwest' needs the mid-western township codes (siting.midwest_townships) "
                                 "in the preset; it is empty.", message_zh="规则 midwest 需要在参数中给出中西部镇街代码")
        tw = text(ents, "township_code").isin(params.midwest_townships).fillna(False).to_numpy(dtype=bool)
        return tw & ~in_park & holder, "mid-western township, outside parks"
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
    return cc.isin(wanted).to_numpy(), "listed by the planner"


def demand_problems(d: pd.DataFrame) -> pd.Series:
    """Why a selected firm cannot enter the model (no location, no land or floor need); NA when fine."""
    g = d.geometry
    no_loc = (g.isna() | g.is_empty).to_numpy().copy()
    # POINT (NaN NaN) comes from blank coordinates in a spreadsheet import
    xy = shapely.get_coordinates(shapely.centroid(g.to_numpy()[~no_loc]))
    finite = np.isfinite(xy).all(axis=1) if len(xy) else np.zeros(0, bool)
    no_loc[np.flatnonzero(~no_loc)[~finite]] = True
    nl = num(d, "need_land_m2")
    nf = num(d, "need_floor_m2")
    msg = np.full(len(d), None, dtype=object)
    msg[~(nf > 0)] = "no floor-area need (floor area unknown or zero)"
    msg[~(nl > 0)] = "zero or unknown land need"
    msg[no_loc] = "no location (missing or empty point)"
    return pd.Series(msg, index=d.index, dtype="string")
