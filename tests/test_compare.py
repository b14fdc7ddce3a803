"""Comparing two runs: the pure comparison on hand-made frames, the CLI command and the page.

The tiny case: four firms and four plots whose answers can be checked by eye — one firm moves
from B to D, one stays, one is evaluated only in run B; plot P1 enters the list because the
tax-share threshold went from 20 % to 50 %, P2 enters because the scattered rule was switched
on, P3 leaves because its firm's class changed (same setting: the data changed), P4 stays.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import cli
from analysis import pipeline
from analysis.compare import NOT_EVALUATED, compare
from exports.comparison import tables, write_comparison
from layers.access import SYSTEM, Actor
from layers.store import open_workspace
from tests.apptest import sign_in

ROOT = Path(__file__).resolve().parents[1]
RULES = ("far_below_min", "coverage_below_min", "tax_below_abs", "tax_below_share", "class_d", "halted",
         "completion_overdue", "polluting_outside_park", "scattered")


def _plots(listed: dict[str, tuple[str, ...]]) -> pd.DataFrame:
    rows = []
    for pid, fired in listed.items():
        row = {"plot_id": pid, "township_code": "330381008", "area_mu": 10.0, "is_low_efficiency": bool(fired),
               "reasons_zh": "、".join(fired) or None, "reasons_en": ", ".join(fired) or None}
        row.update({f"rule_{r}": r in fired for r in RULES})
        rows.append(row)
    return pd.DataFrame(rows)


def _params(share: float, rules: tuple[str, ...]) -> str:
    return json.dumps({"per_mu": {"cutoffs": [130.0, 75.0, 40.0]},
                       "low_efficiency": {"rules": list(rules), "tax_share_of_average": share, "coverage_min": 0.3}})


@pytest.fixture(scope="module")
def tiny():
    per_mu_a = pd.DataFrame({"credit_code": ["F1", "F2", "F3", "F4"], "name": ["甲", "乙", "丙", "丁"],
                             "township_code": "330381008", "final_class": ["B", "A", None, "D"],
                             "score": [80.0, 140.0, None, 30.0]})
    per_mu_b = per_mu_a.assign(final_class=["D", "A", "C", "C"], score=[35.0, 141.0, 60.0, 50.0])
    plots_a = _plots({"P1": (), "P2": (), "P3": ("class_d",), "P4": ("halted",)})
    plots_b = _plots({"P1": ("tax_below_share",), "P2": ("scattered",), "P3": (), "P4": ("halted",)})
    on = RULES[:-1]
    return compare(per_mu_a, per_mu_b, plots_a, plots_b, params_a=_params(0.2, on), params_b=_params(0.5, RULES))


def test_class_transitions_and_score_changes(tiny):
    trans = tiny["transitions"]
    assert trans.at["B", "D"] == 1 and trans.at["A", "A"] == 1 and trans.at["D", "C"] == 1
    assert trans.at[NOT_EVALUATED, "C"] == 1 and int(trans.to_numpy().sum()) == 4
    changes = tiny["class_changes"].set_index("credit_code")
    assert set(changes.index) == {"F1", "F3", "F4"}
    assert (changes.at["F1", "class_a"], changes.at["F1", "class_b"]) == ("B", "D")
    assert pd.isna(changes.at["F3", "class_a"])  # not evaluated in run A
    scores = tiny["scores"]
    assert list(scores["credit_code"]) == ["F1", "F4", "F2"]  # biggest change first; F3 is not in both
    assert scores.set_index("credit_code").at["F1", "score_change"] == pytest.approx(-45.0)
    assert tiny["summary"]["mean_abs_score_change"] == pytest.approx((45 + 20 + 1) / 3)


def test_plots_entering_and_leaving_say_why(tiny):
    assert tiny["entered"] == ["P1", "P2"] and tiny["left"] == ["P3"]
    why = tiny["plots"].set_index("plot_id")["why_zh"]
    assert why["P1"] == "新触发:亩均税收低于全市平均水平一定比例(占全市平均的比例 20% → 50%)"
    assert why["P2"] == "新触发:零散分布于园区外(规则已启用)"
    assert why["P3"] == "不再触发:亩均评价D类企业(参数未变,数据变化)"
    assert tiny["plots"].set_index("plot_id").at["P1", "why_en"].startswith("now fires: tax per mu below share")
    settings = set(tiny["settings"]["setting"])
    assert settings == {"low_efficiency.rules", "low_efficiency.tax_share_of_average"}


def test_readable_tables_and_exports(tiny, tmp_path):
    shown = tables(tiny, run_a="a", run_b="b", townships={"330381008": "飞云街道"})
    plots = shown["plots"]
    assert set(plots["镇街"]) == {"飞云街道"} and set(plots["变化"]) == {"新列入", "移出"}
    assert "—" in set(plots["运行 A 触发的规则"])  # nothing fired: a dash, not an empty cell or NaN
    assert list(shown["transitions"].iloc[:, 0]) == ["A", "B", "D", "未参评"]
    assert set(shown["settings"]["参数"]) == {"启用的规则", "占全市平均的比例"}
    assert "50%" in set(shown["settings"]["运行 B(b)"])
    english = tables(tiny, run_a="a", run_b="b", lang="en")
    assert set(english["plots"]["Change"]) == {"Entered the list", "Left the list"}
    path = write_comparison(tiny, fmt="xlsx", run_a="a", run_b="b", out=tmp_path / "c.xlsx")
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["概要", "参数变化", "类别转移", "类别变化企业", "得分变化", "清单变化地块"]
    cells = [c.value for row in book["清单变化地块"].iter_rows() for c in row]
    assert "P1" in cells and None not in cells[:len(plots.columns) * 4]
    data = write_comparison(tiny, fmt="csv", run_a="a", run_b="b")
    assert data.startswith(b"\xef\xbb\xbf") and b"P3" in data
    with pytest.raises(Exception, match="xlsx, csv|'xlsx', 'csv'"):
        write_comparison(tiny, fmt="pdf", run_a="a", run_b="b")


@pytest.fixture(scope="module")
def two_runs(sample_path, tmp_path_factory) -> Path:
    """A sample copy with two runs: ruian_default (a) and huangyan_2022 (b)."""
    path = tmp_path_factory.mktemp("compare") / "ruian.gpkg"
    shutil.copy2(sample_path, path)
    rasters = Path(str(sample_path) + ".rasters")
    if rasters.exists():
        shutil.copytree(rasters, str(path) + ".rasters")
    pipeline.run(open_workspace(path, readonly=False), "ruian_default", run_id="a", actor=SYSTEM)
    pipeline.run(open_workspace(path, readonly=False), "huangyan_2022", run_id="b", actor=SYSTEM)
    return path


def test_cli_compare_prints_and_writes(two_runs, tmp_path, capsys):
    out = tmp_path / "diff.xlsx"
    assert cli.main(["--lang", "zh", "compare", "a", "b", "--workspace", str(two_runs), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "类别转移" in text and "清单变化地块" in text and "占全市平均的比例" in text and "wrote" in text
    diff = pipeline.compare_runs(open_workspace(two_runs), "a", "b")
    book = openpyxl.load_workbook(out)
    assert book["清单变化地块"].max_row == len(diff["plots"]) + 1
    assert cli.main(["compare", "a", "nope", "--workspace", str(two_runs)]) == 2
    assert "no chain run 'nope'" in capsys.readouterr().err


def _page():
    from ui.pages import compare

    compare.render()


def test_compare_page(two_runs, monkeypatch):
    monkeypatch.setenv("PLANNER_WORKSPACE", str(two_runs))
    at = AppTest.from_function(_page, default_timeout=120)
    at.session_state["lang"] = "zh"
    sign_in(at, Actor("zhang", "planner"))
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    diff = pipeline.compare_runs(open_workspace(two_runs), "a", "b")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["新列入低效清单"] == f"{len(diff['entered']):,} 块"
    assert metrics["类别变化的企业"] == f"{len(diff['class_changes']):,} 家"
    plots = at.dataframe[0].value
    assert len(plots) == len(diff["plots"]) and plots["原因(规则变化)"].str.len().gt(0).all()
    assert [b.label for b in at.get("download_button")] == ["下载比较结果 Excel", "下载清单变化地块 CSV"]
    # the township filter narrows every part and is named
    town = str(diff["plots"]["township_code"].mode().iloc[0])
    at.sidebar.multiselect[0].set_value([town]).run()
    assert any("当前筛选" in i.value for i in at.info)
    assert len(at.dataframe[0].value) == int((diff["plots"]["township_code"] == town).sum())
    # the other tabs
    at.session_state["cmp_tabs"] = at.tabs[1].label
    at.run()
    assert at.dataframe[0].value.columns[0] == "运行 A 类别 \\ 运行 B 类别"
    at.session_state["cmp_tabs"] = at.tabs[3].label
    at.run()
    assert "占全市平均的比例" in set(at.dataframe[0].value["参数"])
    at.session_state["lang"] = "en"
    at.run()
    assert not at.exception and at.header[0].value == "Compare runs"


def test_official_compares_their_own_township_only(two_runs, monkeypatch):
    monkeypatch.setenv("PLANNER_WORKSPACE", str(two_runs))
    diff = pipeline.compare_runs(open_workspace(two_runs), "a", "b")
    town = str(diff["plots"]["township_code"].mode().iloc[0])
    at = AppTest.from_function(_page, default_timeout=120)
    at.session_state["lang"] = "zh"
    sign_in(at, Actor("town1", "official", town))
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert len(at.dataframe[0].value) == int((diff["plots"]["township_code"] == town).sum())
    assert at.sidebar.multiselect[0].options == [open_workspace(two_runs).read("townships").set_index("code")
                                                 .at[town, "name"]]
