"""How values read: exports.formatting (one module for pages, charts, exports and the CLI) and the
GB/T 4754 titles of layers.codes."""
from __future__ import annotations

import datetime as dt
import doctest

import numpy as np
import pandas as pd
import pytest

import exports.formatting as fmt
import layers.codes as codes
from ui.format import Col, header, table


def test_doctests():
    assert doctest.testmod(fmt).failed == 0
    assert doctest.testmod(codes).failed == 0


@pytest.mark.parametrize("value", [None, np.nan, pd.NA, pd.NaT, "", "  ", float("nan")])
def test_missing_reads_as_a_dash(value):
    assert fmt.text(value) == fmt.number(value) == fmt.percent(value) == fmt.value_label(value) == "—"
    assert fmt.industry_label(value) == fmt.local_time(value) == fmt.yes_no(value) == "—"


def test_numbers_are_rounded_with_their_unit():
    assert fmt.number(1492624.932, unit="m2") == "1,492,625 m²"
    assert fmt.number(77.1106, unit="points") == "77.1 分"
    assert fmt.number(77.1106, 2, "points", "en") == "77.11 pts"
    assert fmt.number(2.6168, 2, "10k_yuan_per_mu") == "2.62 万元/亩"
    assert fmt.number(-0.01, 1) == "0.0"  # no "-0.0"
    assert fmt.percent(0.3837) == "38%" and fmt.percent(0.0302, 2) == "3.02%"
    assert fmt.with_unit("面积", "mu") == "面积(亩)" and fmt.with_unit("Area", "mu", "en") == "Area (mu)"


def test_ids_lose_a_float_tail():
    assert fmt.text(44.0) == "44" and fmt.ident("44.00") == "44" and fmt.ident("P000044") == "P000044"
    assert fmt.ident("330381008") == "330381008"


def test_enums_and_booleans_in_words():
    assert [fmt.value_label(v) for v in ("industrial_park", "micro_park", "halted", "assigned", "pass")] == [
        "工业集聚区/功能区", "小微企业创业园", "停产", "已安置", "达标"]
    assert [fmt.value_label(v, "en") for v in ("industrial_park", "halted", "unassigned", "候选")] == [
        "Industrial park", "Halted", "Not placed", "Candidate"]
    assert fmt.value_label(True) == "是" and fmt.value_label("false", "en") == "No"
    assert fmt.value_label("瑞安经济开发区") == "瑞安经济开发区"  # names pass through


def test_industry_codes_read_with_their_gb_t_4754_title():
    assert codes.industry_title("3670") == "汽车零部件及配件制造"
    assert codes.industry_title("1310") == "谷物磨制"  # a group-level code resolves to its group
    assert codes.industry_title("3675") == "汽车制造业"  # an unlisted class reads as its division
    assert codes.industry_title("9999") is None
    assert fmt.industry_label("3670") == "3670 汽车零部件及配件制造"
    assert fmt.industry_label("3670", "en") == "3670 Motor vehicles"
    assert fmt.industry_label("ZZ") == "ZZ"
    assert fmt.industry_mix("26:13, 33:7") == "26 化学原料和化学制品制造业 13 家、33 金属制品业 7 家"
    assert fmt.industry_mix("36,34", "en") == "36 Motor vehicles, 34 General-purpose machinery"
    assert fmt.industries_in_text("容积率 0.72 < 0.80(行业 23)") == "容积率 0.72 < 0.80(行业 23 印刷和记录媒介复制业)"
    # every division of the 亩均 scope 06–46 has a Chinese and an English title
    for div in (f"{d:02d}" for d in range(6, 47)):
        assert codes.DIVISIONS_ZH[div] and codes.DIVISIONS_EN[div]


def test_codes_in_text_become_names():
    names = {"330381103": "陶山镇", "330381109": "桐浦镇"}
    assert fmt.names_in_text("跨镇街 330381103/330381109", names) == "跨镇街 陶山镇/桐浦镇"
    assert fmt.names_in_text("P3303811030", names) == "P3303811030"  # not inside a longer token
    assert fmt.units_in_text("tax 2.62 万元/亩 < 15 亩", "en") == "tax 2.62 10k yuan/mu < 15 mu"
    assert fmt.units_in_text("2.62 万元/亩", "zh") == "2.62 万元/亩"
    assert fmt.units_in_text("亩均税收 0.65 万元/亩", "en") == "亩均税收 0.65 万元/亩"  # Chinese text is left whole


def test_times_are_shown_in_beijing_time():
    assert fmt.local_time("2026-11-28T08:31:37+00:00") == "2026-11-28 16:31"
    assert fmt.local_time("2026-11-28T23:59:00") == "2026-11-29 07:59"  # no offset: UTC
    assert fmt.local_time(dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC), seconds=True) == "2026-01-01 20:00:00"
    assert fmt.local_time("2026-06-30") == "2026-06-30"  # a date stays a date
    got = fmt.local_times(pd.Series(["2026-11-28T08:31:37+00:00", None, "2026-01-01T00:00:00+08:00"]))
    assert got.tolist() == ["2026-11-28 16:31", "—", "2026-01-01 00:00"]


def test_ui_table_formats_each_kind():
    frame = pd.DataFrame({"plot_id": ["P1", "P2"], "cluster_id": [44.0, np.nan], "kind": ["micro_park", None],
                          "ok": [True, False], "area_mu": [1.23456, np.nan], "share": [0.3837, 1.0],
                          "town": ["330381008", "x"], "industry": ["3670", None], "at": ["2026-11-28T08:31:37+00:00", None]})
    cols = (Col("plot_id", "le_col_plot_id", "id"), Col("cluster_id", "rd_col_cluster", "id"),
            Col("kind", "st_col_site_kind", "enum"), Col("ok", "st_col_eligible", "bool"),
            Col("area_mu", "le_area", "num", 1, "mu"), Col("share", "pk_col_leading_share", "share", 0),
            Col("town", "le_col_township_name", "township"), Col("industry", "ev_col_industry_code", "industry"),
            Col("at", "sl_col_updated_at", "time"), Col("absent", "le_col_mode"))
    shown, config = table(frame, cols, "zh", townships={"330381008": "飞云街道"})
    assert list(shown.columns) == ["地块编号", "连片区", "类型", "可选", "面积(亩)", "主导产业占比(企业数)", "镇街", "行业代码",
                                   "修改时间"]
    assert shown["连片区"].tolist()[0] == "44" and pd.isna(shown["连片区"].iloc[1])
    assert shown["类型"].tolist()[0] == "小微企业创业园" and shown["可选"].tolist() == ["是", "否"]
    assert shown["面积(亩)"].iloc[0] == pytest.approx(1.2) and shown["主导产业占比(企业数)"].tolist() == [38.0, 100.0]
    assert shown["镇街"].tolist() == ["飞云街道", "x"] and shown["行业代码"].iloc[0] == "3670 汽车零部件及配件制造"
    assert shown["修改时间"].iloc[0] == "2026-11-28 16:31"
    assert header(Col("score", "rd_col_score", "num", unit="points"), "zh") == "适宜性得分(分)"
    assert header(Col("area_mu", "le_col_area_mu", "num", unit="mu"), "zh") == "面积(亩)"  # the unit only once
    with pytest.raises(ValueError, match="column kind 'nope'"):
        Col("x", "y", "nope")
