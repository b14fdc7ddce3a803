"""UI strings in Chinese (default) and English.

Layer and field labels are not here: they come from ``layers/schema.py`` (``SPECS[name].label_zh``,
:func:`layers.schema.labels`) so the map, tables and exports all say the same thing.
:func:`layer_label` and :func:`value_label` are thin lookups into that module.
"""
from __future__ import annotations

from layers.schema import SPECS, VALUE_LABELS_ZH

__all__ = ["LANGS", "DEFAULT_LANG", "STRINGS", "t", "layer_label", "value_label", "check_lang"]

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"

STRINGS: dict[str, dict[str, str]] = {
    "app_title": {"zh": "园区与低效用地再开发规划系统", "en": "Industrial Parks & Land Reuse Planner"},
    "page_map": {"zh": "地图浏览", "en": "Map"},
    "language": {"zh": "语言 / Language", "en": "Language / 语言"},
    "layers": {"zh": "图层", "en": "Layers"},
    "basemap": {"zh": "底图", "en": "Base map"},
    "basemap_none": {"zh": "无底图(离线)", "en": "None (offline)"},
    "basemap_osm": {"zh": "OpenStreetMap", "en": "OpenStreetMap"},
    "basemap_tianditu_vec": {"zh": "天地图 矢量", "en": "Tianditu vector"},
    "basemap_tianditu_img": {"zh": "天地图 影像", "en": "Tianditu imagery"},
    "tianditu_no_key": {
        "zh": "未设置天地图密钥:请设置环境变量 TIANDITU_KEY 或在 .streamlit/secrets.toml 中写入 TIANDITU_KEY。",
        "en": "No Tianditu key: set the TIANDITU_KEY environment variable or TIANDITU_KEY in .streamlit/secrets.toml.",
    },
    "basemap_online_note": {
        "zh": "在线底图需要互联网;内网环境请选择“无底图”。",
        "en": "Online base maps need internet access; on an intranet choose “None”.",
    },
    "style_by": {"zh": "地块着色", "en": "Colour plots by"},
    "style_land_use": {"zh": "用地分类", "en": "Land use"},
    "style_status": {"zh": "利用状态", "en": "Status"},
    "legend": {"zh": "图例", "en": "Legend"},
    "other": {"zh": "其他", "en": "Other"},
    "workspace": {"zh": "工作空间", "en": "Workspace"},
    "no_workspace": {
        "zh": "找不到工作空间 {path}。请运行 `python cli.py sample` 生成示例数据,或设置环境变量 PLANNER_WORKSPACE。",
        "en": "No workspace at {path}. Run `python cli.py sample` to build the sample, or set PLANNER_WORKSPACE.",
    },
    "no_layers": {"zh": "未选择任何图层。", "en": "No layer selected."},
    "features": {"zh": "要素数", "en": "Features"},
    "loading": {"zh": "正在加载图层…", "en": "Loading layers…"},
    "mu": {"zh": "亩", "en": "mu"},
    # non-core layers the map knows by name (core layer names come from layers/schema.py)
    "layer_county_outline": {"zh": "市域范围", "en": "County outline"},
    # land-use classes of GB/T 21010 used in plot styling
    "lu_0601": {"zh": "工业用地", "en": "Industrial"},
    "lu_0604": {"zh": "仓储用地", "en": "Warehousing"},
    "lu_other": {"zh": "其他用地", "en": "Other land use"},
}

_VALUE_LABELS_EN = {
    "in_use": "In use", "halted": "Halted", "idle": "Idle", "under_construction": "Under construction",
    "planned": "Planned", "operating": "Operating",
    "ecological_red_line": "Ecological red line", "basic_farmland": "Permanent basic farmland",
    "water_source": "Water-source protection", "river_corridor": "River corridor", "flood_zone": "Flood zone",
    "residential": "Residential", "expressway": "Expressway", "national_road": "National road",
    "provincial_road": "Provincial road", "rail_station": "Rail station", "port": "Port",
    "logistics_centre": "Logistics centre",
}


def check_lang(lang: str) -> str:
    """Return ``lang`` if supported, else raise ``ValueError`` naming the choices."""
    if lang not in LANGS:
        raise ValueError(f"lang={lang!r} is not supported; choose one of {list(LANGS)}")
    return lang


def t(key: str, lang: str = DEFAULT_LANG, **fmt) -> str:
    """The UI string ``key`` in ``lang``, formatted with ``fmt``.

    An unknown key raises ``KeyError`` (a typo must fail in tests, not show a blank).

    >>> t("layers", "en")
    'Layers'
    """
    check_lang(lang)
    try:
        text = STRINGS[key][lang]
    except KeyError:
        raise KeyError(f"no UI string {key!r}; add it to ui/i18n.py STRINGS") from None
    return text.format(**fmt) if fmt else text


def layer_label(name: str, lang: str = DEFAULT_LANG) -> str:
    """Display name of layer ``name``: from its spec, else from ``STRINGS["layer_<name>"]``, else the name."""
    check_lang(lang)
    spec = SPECS.get(name)
    if spec is not None:
        return spec.label(lang)
    known = STRINGS.get(f"layer_{name}")
    return known[lang] if known else name


def value_label(value: str, lang: str = DEFAULT_LANG) -> str:
    """Display label of a categorical value (status, constraint kind...); unknown values pass through."""
    check_lang(lang)
    table = VALUE_LABELS_ZH if lang == "zh" else _VALUE_LABELS_EN
    return table.get(value, value)
