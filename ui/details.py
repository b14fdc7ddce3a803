"""The details panel beside the map: what was clicked, everything known about it, and why.

Screen (a plot): title (plot id, township, park) and an "add to shortlist" button; its
attributes under their Chinese labels (``layers.schema``); the run's results — 亩均税收, the
main firm's class, the suitability score with each criterion's input and points, every
low-efficiency rule with whether it fires and the reason text, the suggested mode and the rule
that chose it, the cluster; then the firms on the plot.  Any other layer: its attributes
under their labels.

The lookup (:func:`feature_at`) runs on the server: the clicked point is tested against the
display copies of the visible layers through each frame's spatial index (a shapely STRtree
that geopandas builds once per cached frame and keeps), topmost layer first, so a click works
for every layer, whatever the browser sent.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import streamlit as st

from analysis.low_efficiency import RULE_LABELS
from layers.schema import SPECS, labels
from ui.data import RULES, mode_rule_column, reasons_column
from ui.i18n import layer_label, t
from ui.readable import Names, extra_label, format_value, format_values

__all__ = ["Hit", "feature_at", "click_tolerance_deg", "plot_details", "feature_details", "CRITERIA_LABELS",
           "RESULT_LABELS", "column_label"]

# Suitability criteria of analysis.redevelopment (names as in the presets' [redevelopment.criteria]).
CRITERIA_LABELS = {
    "road": ("道路可达性(距道路)", "Road access (distance to a road)"),
    "park": ("距园区", "Distance to a park"),
    "logistics": ("距物流中心", "Distance to logistics"), "slope": ("坡度(平均)", "Slope (mean)"),
    "flood": ("洪涝风险(最大水深)", "Flood risk (max depth)"), "size": ("地块规模", "Plot size"),
    "soft": ("软约束占比", "Soft-constraint share"),
}
# Result columns of the per-plot view shown in the panel, with their labels (zh, en).
RESULT_LABELS = {
    "final_class": ("亩均评价分类(主要企业)", "Per-mu class (main firm)"),
    "tax_per_mu": ("亩均税收(万元/亩)", "Tax per mu (10k CNY/mu)"),
    "tax_10k": ("税收合计(万元)", "Tax (10k CNY)"),
    "is_low_efficiency": ("低效用地", "Low-efficiency"),
    "n_rules": ("触发规则数", "Rules fired"),
    "candidate": ("再开发候选", "Redevelopment candidate"),
    "added_floor_m2": ("技改可增建筑面积(m²)", "Floor area gained (m²)"),
    "restricted": ("受限制", "Restricted"),
    "restricted_by": ("限制因素", "Restricted by"),
    "cluster_id": ("连片地块组", "Cluster"),
    "cluster_area_mu": ("连片面积(亩)", "Cluster area (mu)"),
}
# Draw order, topmost first, for click lookups.
_PICK_ORDER = ("enterprises", "infrastructure", "plots", "micro_parks", "industrial_parks", "constraints", "townships")
_CLICK_PX = 6  # points and lines are picked within this many screen pixels


class Hit(tuple):
    """``(layer, index label)`` of a picked feature."""

    __slots__ = ()

    def __new__(cls, layer: str, index):
        return super().__new__(cls, (layer, index))

    @property
    def layer(self) -> str:
        return self[0]

    @property
    def index(self):
        return self[1]


def click_tolerance_deg(zoom: float | None) -> float:
    """Degrees covered by :data:`_CLICK_PX` screen pixels at Web-Mercator ``zoom`` (longitude)."""
    z = 15 if zoom is None else float(zoom)
    return _CLICK_PX * 360.0 / (256.0 * 2.0 ** z)


def feature_at(layers: Mapping[str, gpd.GeoDataFrame], lat: float, lng: float, *, zoom: float | None = None,
               order: Sequence[str] = _PICK_ORDER) -> Hit | None:
    """The topmost feature under (lat, lng) among ``layers`` (EPSG:4326 display frames), or None.

    Areas are hit when they contain the point; points and lines when within a few pixels
    (:func:`click_tolerance_deg`).  Among several hits in one layer the smallest area (or the
    nearest point/line) wins, so a plot inside a park is picked before the park.
    """
    pt = shapely.Point(float(lng), float(lat))
    tol = click_tolerance_deg(zoom)
    names = [n for n in order if n in layers] + sorted(n for n in layers if n not in order)
    for name in names:
        gdf = layers[name]
        if not len(gdf):
            continue
        idx = gdf.sindex.query(pt, predicate="dwithin", distance=tol)
        if not len(idx):
            continue
        geoms = gdf.geometry.values[idx]
        areal = np.isin(shapely.get_type_id(np.asarray(geoms)), (3, 6))  # Polygon, MultiPolygon
        inside = areal & shapely.contains(np.asarray(geoms), pt)
        near = ~areal
        keep = inside | near
        if not keep.any():
            continue
        idx, geoms = idx[keep], np.asarray(geoms)[keep]
        key = np.where(np.isin(shapely.get_type_id(geoms), (3, 6)), shapely.area(geoms), shapely.distance(geoms, pt))
        return Hit(name, gdf.index[idx[int(np.argmin(key))]])
    return None


# --- formatting ------------------------------------------------------------------------------------------
def column_label(field: str, lang: str, layer: str = "plots") -> str:
    """Label of a column of the plot view (or of ``layer``) in ``lang``, without unit (values carry theirs)."""
    zh = lang == "zh"
    spec = SPECS.get(layer)
    if spec is not None and field in spec.field_names:
        return spec.field(field).label(lang, with_unit=False)
    if field in RESULT_LABELS:
        return RESULT_LABELS[field][0 if zh else 1]
    return extra_label(field, lang) or field


def _fmt(value, field: str, lang: str, names: Names | None = None) -> str:
    return format_value(value, field, lang, names=names)


def _table(rows: list[tuple[str, str]], lang: str) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["项目", "值"] if lang == "zh" else ["Field", "Value"])


def _key_values(table: pd.DataFrame) -> None:
    """A two-column label/value table as static text (wraps in the narrow panel; a grid would cut columns)."""
    st.table(table, hide_index=True, hide_header=True)


def _attributes(layer: str, row: pd.Series, lang: str, names: Names | None = None) -> pd.DataFrame:
    """Every attribute of ``row`` under its label (schema fields first, then the rest by name), values readable."""
    lab = labels(layer, lang, with_unit=False) if layer in SPECS else {}
    geom = row.index[row.map(lambda v: isinstance(v, shapely.Geometry))]
    fields = [f for f in lab if f in row.index] + [c for c in row.index if c not in lab and c not in geom]
    return _table([(lab.get(f) or column_label(f, lang, layer), _fmt(row[f], f, lang, names)) for f in fields], lang)


def feature_details(layer: str, row: pd.Series, lang: str, *, names: Names | None = None) -> None:
    """A non-plot feature: its layer and every attribute under its label."""
    name = row.get("name") if "name" in row.index else None
    if not isinstance(name, str) and "name_zh" in row.index:  # e.g. the county outline
        name = row.get("name_zh" if lang == "zh" else "name_en")
    st.markdown(f"**{layer_label(layer, lang)}** · {_escape_md(name) if isinstance(name, str) else row.name}")
    _key_values(_attributes(layer, row, lang, names))


def _criteria(params_json: str | None) -> dict:
    try:
        params = json.loads(params_json) if params_json else {}
        crit = params.get("redevelopment", {}).get("criteria", {})
        # stored as a list of {"name", "column", "weight", "best", "worst"} (Params.to_dict), or as a TOML-style table
        return {c["name"]: c for c in crit} if isinstance(crit, list) else dict(crit)
    except (TypeError, ValueError):
        return {}


def _score_parts(row: pd.Series, params_json: str | None, lang: str) -> pd.DataFrame:
    """One row per criterion: its name, the plot's input with its unit, the weight (%), the points."""
    zh = lang == "zh"
    spec = _criteria(params_json)
    parts = []
    for c in [c for c in row.index if c.startswith("crit_")]:
        name = c[len("crit_"):]
        info = spec.get(name, {})
        column = info.get("column")
        weight = info.get("weight")
        parts.append({
            ("指标" if zh else "Criterion"): CRITERIA_LABELS.get(name, (name, name))[0 if zh else 1],
            ("输入值" if zh else "Input"): _fmt(row.get(column), column, lang) if column else "—",
            ("权重" if zh else "Weight"): f"{float(weight) * 100:.0f}%" if weight is not None else "—",
            ("得分" if zh else "Points"): f"{float(row[c]):.2f}" if pd.notna(row[c]) else "—",
        })
    return pd.DataFrame(parts)


def _rules(row: pd.Series, lang: str) -> str:
    zh = lang == "zh"
    rule_rows = []
    for r in RULES:
        col = f"rule_{r}"
        if col in row.index:
            en, zh_label = RULE_LABELS[r]
            fired = bool(row[col]) if pd.notna(row[col]) else False
            rule_rows.append(("⚠️ " if fired else "· ") + (zh_label if zh else en) + " — "
                             + t("det_flag_on" if fired else "det_flag_off", lang))
    return "\n".join(f"- {x}" for x in rule_rows) if rule_rows else t("det_no_flags", lang)


def _results(row: pd.Series, lang: str, params_json: str | None, names: Names | None) -> None:
    """The run's results for one plot: class, flag and score; each rule; reasons; score parts; mode; cluster."""
    zh = lang == "zh"
    le = row.get("is_low_efficiency")
    badge = _fmt(le, "is_low_efficiency", lang) if pd.notna(le) else t("no_result", lang)
    cls = row.get("final_class")
    score = row.get("suitability")
    # three key figures as one short table: metric tiles cut their labels in a narrow panel
    _key_values(_table([(RESULT_LABELS["final_class"][0 if zh else 1], cls if isinstance(cls, str) else "—"),
                        (t("style_low_efficiency", lang), badge),
                        (t("style_suitability", lang), _fmt(score, "suitability", lang))], lang))
    st.markdown(f"**{t('det_flags', lang)}**")
    st.markdown(_rules(row, lang))
    reasons = row.get(reasons_column(lang))
    if isinstance(reasons, str) and reasons:
        st.markdown(f"**{t('det_reasons', lang)}**: {_escape_md(reasons)}")
    if any(c.startswith("crit_") for c in row.index) and pd.notna(score):
        st.markdown(f"**{t('det_score', lang, score=_fmt(score, 'suitability', lang))}** — {t('det_parts', lang)}")
        st.table(_score_parts(row, params_json, lang), hide_index=True)
        if pd.notna(row.get("restricted")) and bool(row.get("restricted")):
            st.caption(f"{RESULT_LABELS['restricted'][0 if zh else 1]}: {_fmt(row.get('restricted_by'), 'restricted_by', lang)}")
    mode = row.get("mode_key")
    if isinstance(mode, str):
        st.markdown(t("det_mode", lang, mode=t(f"mode_{mode}", lang),
                      rule=_escape_md(str(row.get(mode_rule_column(lang)) or "—"))))
    cid = row.get("cluster_id")
    if pd.notna(cid):
        st.caption(t("det_cluster", lang, cid=_fmt(cid, "cluster_id", lang)))
    extra = [(v[0 if zh else 1], _fmt(row.get(k), k, lang, names)) for k, v in RESULT_LABELS.items()
             if k in row.index and k not in ("final_class", "is_low_efficiency")]
    with st.expander(t("det_results", lang)):
        _key_values(_table(extra, lang))


_FIRM_FACTS = ("industry_code", "above_scale", "is_land_holder", "tax_10k", "final_class", "employees")


def _firm_lines(firms: pd.DataFrame, lang: str, names: Names | None) -> list[str]:
    """One line per firm on the plot: its name and code, then its facts under their labels (values readable).

    A line, not a table: eight columns do not fit the narrow panel beside the map.
    """
    zh = lang == "zh"
    cols = [c for c in _FIRM_FACTS if c in firms.columns]
    text = {c: format_values(firms[c], c, lang, names=names).to_numpy() for c in cols}
    label = {c: RESULT_LABELS["final_class"][0 if zh else 1] if c == "final_class" else column_label(c, lang, "enterprises")
             for c in cols}
    name = firms["name"].astype(str).to_numpy() if "name" in firms.columns else [""] * len(firms)
    code = firms["credit_code"].astype(str).to_numpy() if "credit_code" in firms.columns else [""] * len(firms)
    sep = ":" if zh else ": "
    return [f"**{_escape_md(n)}**({_escape_md(k)})" + "".join(f" · {label[c]}{sep}{_escape_md(str(text[c][i]))}"
                                                            for c in cols)
            for i, (n, k) in enumerate(zip(name, code))]


def plot_details(row: pd.Series, *, firms: pd.DataFrame, lang: str, params_json: str | None = None,
                 names: Names | None = None) -> None:
    """Everything about one plot of the view (:func:`ui.data.plot_view` row): see the module docstring."""
    st.markdown(f"### {t('map_details', lang)} · {row['plot_id']}")
    place = " · ".join(str(v) for v in (row.get("township_name"), row.get("park_name")) if isinstance(v, str))
    if place:
        st.caption(place)
    if "is_low_efficiency" in row.index:
        _results(row, lang, params_json, names)
    st.markdown(f"**{t('det_attributes', lang)}**")
    plot_fields = [f for f in labels("plots", lang) if f in row.index]
    _key_values(_attributes("plots", row[plot_fields], lang, names))
    st.markdown(f"**{t('det_firms', lang, n=len(firms))}**")
    if len(firms):
        st.markdown("\n".join(f"- {line}" for line in _firm_lines(firms, lang, names)))
    else:
        st.caption(t("det_no_firms", lang))


def _escape_md(text: str) -> str:
    """Keep untrusted text literal in markdown (no links, emphasis or HTML)."""
    for ch in "\\`*_{}[]()#+-.!|<>~":
        text = text.replace(ch, "\\" + ch)
    return text
