"""The planning data model: one spec per layer.

A :class:`LayerSpec` names the fields of a layer (English snake_case), their dtypes,
units, Chinese and English labels and whether they are required, plus the geometry type.
UI pages and exports take their column labels from here; importers map source columns
onto these names; :func:`conform` checks and casts a frame to its spec, collecting every
problem before raising once.

Units follow DESIGN.md: areas in m² (shown in 亩), money in 万元, energy in 吨标准煤 (tce),
electricity in 万kWh, emissions in tonnes.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import geopandas as gpd
import pandas as pd

from geo.errors import LayerNotFoundError, SchemaError
from layers.codes import invalid_code_lists

__all__ = [
    "Field",
    "LayerSpec",
    "SPECS",
    "LAYER_NAMES",
    "RASTER_KINDS",
    "PLOT_STATUSES",
    "MICRO_PARK_STATUSES",
    "CONSTRAINT_KINDS",
    "INFRASTRUCTURE_KINDS",
    "TOWNSHIP_KINDS",
    "get_spec",
    "conform",
    "cast_fields",
    "labels",
]

# dtype names used in specs; "date" is stored as a GeoPackage DATE and read as datetime64[ms].
_DTYPES = {"string", "int64", "float64", "bool", "date"}
DATE_DTYPE = "datetime64[ms]"

TOWNSHIP_KINDS = ("街道", "镇", "乡")
# 半停产 (half_halted): production partly stopped; counts with halted for the ≥ 1 year rule (DOMAIN §4).
PLOT_STATUSES = ("in_use", "halted", "half_halted", "idle", "under_construction")
MICRO_PARK_STATUSES = ("planned", "under_construction", "operating")
CONSTRAINT_KINDS = (
    "ecological_red_line",  # 生态保护红线
    "basic_farmland",  # 永久基本农田
    "water_source",  # 饮用水水源保护区
    "river_corridor",  # 河道管理范围
    "flood_zone",  # 洪涝风险区
    "residential",  # 居住区 (敏感目标)
)
INFRASTRUCTURE_KINDS = ("expressway", "national_road", "provincial_road", "urban_road", "rail_station", "port", "logistics_centre")
RASTER_KINDS = ("dem", "slope", "flood_depth")


@dataclass(frozen=True)
class Field:
    """One attribute of a layer.

    ``unit`` is the physical unit of stored values ("m²", "万元", "tce", ...);
    ``choices`` lists the allowed values of a categorical string field; ``code_list`` marks
    a cell holding GB/T 4754 codes (one or several, any separator), checked by
    :func:`layers.codes.invalid_code_lists`.
    """

    name: str
    dtype: str
    label_zh: str
    label_en: str
    unit: str = ""
    required: bool = False
    choices: tuple = ()
    description: str = ""
    code_list: bool = False

    def __post_init__(self):
        if self.dtype not in _DTYPES:
            raise ValueError(f"Field {self.name!r}: dtype {self.dtype!r} is not one of {sorted(_DTYPES)}")

    def label(self, lang: str = "zh", *, with_unit: bool = True) -> str:
        text = self.label_zh if lang == "zh" else self.label_en
        return f"{text}({self.unit})" if with_unit and self.unit else text


@dataclass(frozen=True)
class LayerSpec:
    """The spec of one vector layer: fields, geometry type and the key field."""

    name: str
    label_zh: str
    label_en: str
    geometry_type: str  # "MultiPolygon", "Point", "Geometry" (mixed lines and points)
    key: str
    fields: tuple[Field, ...] = field(default_factory=tuple)

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def required(self) -> list[str]:
        return [f.name for f in self.fields if f.required]

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"layer {self.name!r} has no field {name!r}; fields: {self.field_names}")

    def label(self, lang: str = "zh") -> str:
        return self.label_zh if lang == "zh" else self.label_en


def _f(name, dtype, zh, en, unit="", required=False, choices=(), description="", code_list=False):
    return Field(name, dtype, zh, en, unit, required, tuple(choices), description, code_list)


SPECS: dict[str, LayerSpec] = {
    "townships": LayerSpec(
        "townships", "镇街", "Townships", "MultiPolygon", "code",
        (
            _f("code", "string", "镇街代码", "Code", required=True),
            _f("name", "string", "镇街名称", "Name", required=True),
            _f("kind", "string", "类型", "Kind", required=True, choices=TOWNSHIP_KINDS),
            _f("area_m2", "float64", "面积", "Area", "m²"),
        ),
    ),
    "industrial_parks": LayerSpec(
        "industrial_parks", "工业集聚区/功能区", "Industrial parks", "MultiPolygon", "park_id",
        (
            _f("park_id", "string", "园区编号", "Park ID", required=True),
            _f("name", "string", "园区名称", "Name", required=True),
            _f("level", "string", "级别", "Level", choices=("国家级", "省级", "温州市级", "市级", "镇街级")),
            _f("kind", "string", "类型", "Kind", choices=("工业集聚区", "镇街工业功能区", "物流园区")),
            _f("leading_industries", "string", "主导产业(GB/T 4754)", "Leading industries (GB/T 4754)",
               description="2–4 digit GB/T 4754-2017 codes separated by , ， 、 ; ； / or spaces", code_list=True),
            _f("allows_polluting", "bool", "允许污染行业入驻", "Accepts polluting industries"),
            _f("township_code", "string", "所在镇街", "Township"),
            _f("planned_area_m2", "float64", "规划面积", "Planned area", "m²"),
            _f("developed_area_m2", "float64", "已开发面积", "Developed area", "m²"),
        ),
    ),
    "micro_parks": LayerSpec(
        "micro_parks", "小微企业创业园", "Micro-enterprise parks", "MultiPolygon", "park_id",
        (
            _f("park_id", "string", "园区编号", "Park ID", required=True),
            _f("name", "string", "园区名称", "Name", required=True),
            _f("status", "string", "建设状态", "Status", required=True, choices=MICRO_PARK_STATUSES),
            _f("area_m2", "float64", "占地面积", "Land area", "m²"),
            _f("floor_area_m2", "float64", "建筑面积", "Floor area", "m²"),
            _f("leading_industry", "string", "主导产业(GB/T 4754)", "Leading industry (GB/T 4754)",
               description="2–4 digit GB/T 4754-2017 code(s); several separated by , ， 、 ; ； / or spaces",
               code_list=True),
            _f("demonstration_level", "string", "示范等级", "Demonstration level"),
            _f("allows_polluting", "bool", "允许污染行业入驻", "Accepts polluting industries"),
            _f("township_code", "string", "所在镇街", "Township"),
        ),
    ),
    "plots": LayerSpec(
        "plots", "地块", "Plots", "MultiPolygon", "plot_id",
        (
            _f("plot_id", "string", "地块编号", "Plot ID", required=True),
            _f("land_use", "string", "用地分类(GB/T 21010)", "Land use (GB/T 21010)", required=True),
            _f("area_m2", "float64", "用地面积", "Land area", "m²", required=True),
            _f("floor_area_m2", "float64", "建筑面积", "Floor area", "m²"),
            _f("far", "float64", "容积率", "FAR"),
            _f("building_coverage", "float64", "建筑系数", "Building coverage", description="share 0–1"),
            _f("build_year", "int64", "建成年份", "Year built"),
            _f("status", "string", "利用状态", "Status", required=True, choices=PLOT_STATUSES),
            _f("halted_since", "date", "停产时间", "Halted since", description="start of the halt or half-halt"),
            _f("contract_completion_date", "date", "约定竣工日期", "Contracted completion"),
            _f("completion_date", "date", "实际竣工日期", "Completed"),
            _f("contract_investment_10k", "float64", "约定投资总额", "Contracted investment", "万元",
               description="fixed-asset investment agreed in the land contract (出让合同)"),
            _f("investment_10k", "float64", "实际投资额", "Investment made", "万元"),
            _f("contract_output_10k", "float64", "约定达产产值", "Contracted annual output", "万元",
               description="annual output agreed in the land contract"),
            _f("output_10k", "float64", "实际年产值", "Annual output", "万元"),
            _f("land_holder", "string", "土地使用权人(信用代码)", "Land holder (credit code)"),
            _f("industry_code", "string", "行业代码", "Industry (GB/T 4754)"),
            _f("township_code", "string", "所在镇街", "Township"),
            _f("park_id", "string", "所在园区", "Park"),
        ),
    ),
    "enterprises": LayerSpec(
        "enterprises", "企业", "Enterprises", "Point", "credit_code",
        (
            _f("credit_code", "string", "统一社会信用代码", "Unified social credit code", required=True),
            _f("name", "string", "企业名称", "Name", required=True),
            _f("industry_code", "string", "行业代码(GB/T 4754)", "Industry (GB/T 4754)", required=True),
            _f("above_scale", "bool", "规上企业", "Above designated size", required=True),
            _f("is_land_holder", "bool", "土地使用权人", "Holds the land"),
            _f("land_holder", "string", "所在用地权人(信用代码)", "Land holder (credit code)"),
            _f("plot_id", "string", "所在地块", "Plot"),
            _f("land_area_m2", "float64", "用地面积", "Land area", "m²"),
            _f("tax_10k", "float64", "税收", "Tax", "万元"),
            _f("value_added_10k", "float64", "工业增加值", "Value added", "万元"),
            _f("revenue_10k", "float64", "主营业务收入", "Main revenue", "万元"),
            _f("employees", "int64", "年平均职工人数", "Average employees", "人"),
            _f("energy_tce", "float64", "综合能耗", "Energy use", "tce"),
            _f("electricity_10k_kwh", "float64", "用电量", "Electricity", "万kWh"),
            _f("emissions_t", "float64", "主要污染物排放量", "Main pollutant emissions", "t"),
            _f("rd_10k", "float64", "研发经费", "R&D spending", "万元"),
            _f("year", "int64", "数据年度", "Data year"),
            _f("producing", "bool", "已投产", "In production"),
            _f("major_incident", "bool", "重大安全环保事故", "Major safety/environmental incident"),
            _f("township_code", "string", "所在镇街", "Township"),
        ),
    ),
    "constraints": LayerSpec(
        "constraints", "约束条件", "Constraints", "MultiPolygon", "constraint_id",
        (
            _f("constraint_id", "string", "编号", "ID", required=True),
            _f("kind", "string", "类型", "Kind", required=True, choices=CONSTRAINT_KINDS),
            _f("name", "string", "名称", "Name"),
        ),
    ),
    "infrastructure": LayerSpec(
        "infrastructure", "基础设施", "Infrastructure", "Geometry", "feature_id",
        (
            _f("feature_id", "string", "编号", "ID", required=True),
            _f("kind", "string", "类型", "Kind", required=True, choices=INFRASTRUCTURE_KINDS),
            _f("name", "string", "名称", "Name"),
        ),
    ),
}

LAYER_NAMES: tuple[str, ...] = tuple(SPECS)

# Chinese labels of categorical values, for legends and exports.
VALUE_LABELS_ZH = {
    "in_use": "在用", "halted": "停产", "half_halted": "半停产", "idle": "闲置", "under_construction": "在建",
    "plot_removed": "地块已不在地块图层中", "run_removed": "来源分析运行已清理",
    "planned": "规划", "operating": "运营",
    "ecological_red_line": "生态保护红线", "basic_farmland": "永久基本农田", "water_source": "饮用水水源保护区",
    "river_corridor": "河道管理范围", "flood_zone": "洪涝风险区", "residential": "居住区",
    "expressway": "高速公路", "national_road": "国道", "provincial_road": "省道", "urban_road": "城市道路", "rail_station": "铁路站",
    "port": "港口", "logistics_centre": "物流中心",
}


def get_spec(name: str) -> LayerSpec:
    """The spec of layer ``name``; raises :class:`LayerNotFoundError` listing the known layers."""
    try:
        return SPECS[name]
    except KeyError:
        raise LayerNotFoundError(
            f"No layer spec named {name!r}; known layers: {', '.join(LAYER_NAMES)}",
            message_zh=f"没有名为 {name!r} 的图层规格;已知图层:{', '.join(LAYER_NAMES)}",
        ) from None


def labels(name: str, lang: str = "zh", *, with_unit: bool = True) -> dict[str, str]:
    """Column → display label for layer ``name``."""
    return {f.name: f.label(lang, with_unit=with_unit) for f in get_spec(name).fields}


def _cast(series: pd.Series, dtype: str) -> pd.Series:
    if dtype == "string":
        return series.astype("string")
    if dtype == "float64":
        return pd.to_numeric(series, errors="coerce").astype("float64")
    if dtype == "int64":
        return pd.to_numeric(series, errors="coerce").astype("Int64")
    if dtype == "bool":
        return series.astype("boolean")
    if dtype == "date":
        return pd.to_datetime(series, errors="coerce").astype(DATE_DTYPE)
    raise AssertionError(dtype)


def cast_fields(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """Cast the spec fields present in ``df`` to their spec dtypes (in place of GDAL's guesses); no checks."""
    spec = get_spec(name)
    for f in spec.fields:
        if f.name in df.columns:
            df[f.name] = _cast(df[f.name], f.dtype)
    return df


def conform(gdf: gpd.GeoDataFrame, name: str, *, strict: bool = True) -> gpd.GeoDataFrame:
    """Check ``gdf`` against layer ``name``'s spec and return a copy with spec dtypes.

    Collects every problem (missing required fields, nulls in required fields, values
    that do not parse as the field's dtype, values outside a field's choices, duplicate
    keys, wrong geometry type) and raises one :class:`SchemaError` listing them all.
    Extra columns are kept (analyses add their own). Missing optional fields are added
    as nulls so downstream code can rely on every spec field being present.

    With ``strict=False`` problems other than missing required fields are tolerated.
    """
    spec = get_spec(name)
    problems: list[str] = []
    missing = [f for f in spec.required if f not in gdf.columns]
    if missing:
        problems.append(f"missing required field(s) {missing}")
        raise SchemaError(
            f"Layer {name!r}: missing required field(s) {missing}. Present: {list(gdf.columns)}. "
            "Map the source columns onto these names (see layers/schema.py) and try again.",
            message_zh=f"图层 {spec.label_zh}:缺少必填字段 {missing}。请在字段映射中对应这些字段后重试。",
            details=problems,
        )
    out = gdf.copy()
    for f in spec.fields:
        if f.name not in out.columns:
            out[f.name] = pd.Series(pd.NA, index=out.index)
        before_null = out[f.name].isna()
        out[f.name] = _cast(out[f.name], f.dtype)
        bad = out[f.name].isna() & ~before_null
        if bad.any():
            problems.append(f"{f.name}: {int(bad.sum())} value(s) are not {f.dtype} (rows {_rows(out.index[bad])})")
        if f.required:
            nulls = out[f.name].isna()
            if nulls.any():
                problems.append(f"{f.name}: required but empty in {int(nulls.sum())} row(s) (rows {_rows(out.index[nulls])})")
        if f.choices:
            vals = out[f.name]
            outside = vals.notna() & ~vals.isin(f.choices)
            if outside.any():
                problems.append(
                    f"{f.name}: {int(outside.sum())} value(s) not in {list(f.choices)}, e.g. {vals[outside].iloc[0]!r}"
                )
        if f.code_list:
            bad_codes = invalid_code_lists(out[f.name])
            if bad_codes.notna().any():
                rows = out.index[bad_codes.notna().to_numpy()]
                problems.append(f"{f.name}: {len(rows)} value(s) hold text that is not a GB/T 4754 code, e.g. "
                                f"{bad_codes.dropna().iloc[0]!r} (rows {_rows(rows)}); write 2–4 digit codes such "
                                "as 36,34")
    if spec.key in out.columns:
        dup = out[spec.key].duplicated(keep=False) & out[spec.key].notna()
        if dup.any():
            problems.append(f"{spec.key}: {int(dup.sum())} duplicate key value(s), e.g. {out.loc[dup, spec.key].iloc[0]!r}")
    if isinstance(out, gpd.GeoDataFrame) and out.geometry.name in out.columns and len(out):
        types = set(out.geometry.geom_type.dropna().unique())
        allowed = {
            "MultiPolygon": {"Polygon", "MultiPolygon"},
            "Point": {"Point"},
            "Geometry": {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"},
        }[spec.geometry_type]
        if types - allowed:
            problems.append(f"geometry: types {sorted(types - allowed)} not allowed (expected {spec.geometry_type})")
    if problems and strict:
        raise SchemaError(
            f"Layer {name!r} does not meet its spec ({len(problems)} problem(s)): " + "; ".join(problems)
            + ". Fix the source data or the column mapping and try again.",
            message_zh=f"图层 {spec.label_zh} 不符合规格({len(problems)} 处问题):" + ";".join(problems),
            details=problems,
        )
    return out


def _rows(index: Iterable, limit: int = 5) -> str:
    idx = list(index)
    shown = ", ".join(str(i) for i in idx[:limit])
    return shown + (f", … ({len(idx)} in all)" if len(idx) > limit else "")
