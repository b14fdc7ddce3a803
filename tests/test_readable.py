"""Readable values on the map side: units, rounding, names for codes, labels for enumerations, "—" for missing."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ui.readable import Names, format_value, format_values

NAMES = Names(townships={"330381101": "塘下镇"}, parks={"IP01": "瑞安经济开发区飞云新区"},
              firms={"913303810659314635": "瑞安市某机械有限公司"})


@pytest.mark.parametrize("value, field, lang, expected", [
    (6666.67, "area_m2", "zh", "10.00 亩(6,667 m²)"),
    (6666.67, "area_m2", "en", "10.00 mu (6,667 m²)"),
    (8652.1, "floor_area_m2", "zh", "8,652 m²"),  # floor areas stay in m²
    (470.73, "dist_road_m", "zh", "471 m"),
    (3.456, "slope_mean", "zh", "3.5°"),
    (0.82, "flood_depth_max", "zh", "0.82 m"),
    (0.353, "building_coverage", "zh", "35.3%"),
    (0.25, "share_basic_farmland", "en", "25.0%"),
    (12.345, "tax_per_mu", "zh", "12.35 万元/亩"),
    (12.345, "tax_per_mu", "en", "12.35 10k CNY/mu"),
    (1492624.932, "revenue_10k", "zh", "1,492,624.93 万元"),
    (77.1106, "suitability", "zh", "77.1 分"),
    (44.0, "cluster_id", "zh", "44"),
    (2019, "build_year", "zh", "2019"),
    (1.53, "far", "zh", "1.53"),
    (True, "above_scale", "zh", "是"),
    (False, "is_land_holder", "en", "No"),
    (None, "far", "zh", "—"),
    (np.nan, "tax_per_mu", "zh", "—"),
    ("3360", "industry_code", "zh", "3360 金属制品业"),
    ("3360", "industry_code", "en", "3360 Fabricated metal products"),
    ("36,34", "leading_industries", "zh", "36 汽车制造业、34 通用设备制造业"),
    ("0601", "land_use", "zh", "0601 工业用地"),
    ("330381101", "township_code", "zh", "塘下镇"),
    ("330381999", "township_code", "zh", "330381999"),  # unknown code: shown as is
    ("IP01", "park_id", "zh", "IP01 瑞安经济开发区飞云新区"),
    ("913303810659314635", "land_holder", "zh", "瑞安市某机械有限公司(913303810659314635)"),
    ("halted", "status", "zh", "停产"),
    ("halted", "status", "en", "Halted"),
    ("省级", "level", "en", "Provincial"),
    ("not_candidate", "suitability_status", "zh", "非再开发候选"),
    ("ecological_red_line,water_source", "restricted_by", "zh", "生态保护红线、饮用水水源保护区"),
    ("tengtui", "mode_key", "zh", "腾退收储"),
    (pd.Timestamp("2019-02-15"), "completion_date", "zh", "2019-02-15"),
])
def test_one_value(value, field, lang, expected):
    assert format_value(value, field, lang, names=NAMES) == expected


def test_a_column_at_once_short_form_and_missing():
    s = pd.Series([6666.67, None, 1000.0], index=[5, 6, 7])
    out = format_values(s, "area_m2", "zh")
    assert out.tolist() == ["10.00 亩", "—", "1.50 亩"] and list(out.index) == [5, 6, 7]
    b = pd.Series([True, None, False], dtype="boolean")
    assert format_values(b, "is_low_efficiency", "zh").tolist() == ["是", "—", "否"]
