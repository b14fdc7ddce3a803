"""Issue 13: runs and shortlist entries that refer to objects an import removed are marked, never
silently left pointing at nothing — before the commit (the confirmation names them), after it
(shortlist column, run warning, CLI, exports) and gone again once the layer is restored."""
from __future__ import annotations

import io

import openpyxl
import pytest

import cli
from exports import export_shortlist, meta_for
from geo.errors import ImportDataError
from layers import references, shortlist
from layers.access import SYSTEM, Actor
from layers.imports import commit_import, plan_import, removal_references

PLANNER = Actor("zhang", "planner")


@pytest.fixture
def ws(sample_copy):
    return sample_copy


def _two_plots_file(ws, tmp_path):
    """A GeoJSON of two of the sample's plots: importing it as a replace removes all the others."""
    plots = ws.read("plots").head(2)
    path = tmp_path / "two.geojson"
    plots[["plot_id", "land_use", "status", "township_code", "geometry"]].to_file(path, driver="GeoJSON")
    return path, plots["plot_id"].astype(str).tolist()


def _listed(ws, keep: list[str]) -> tuple[str, str]:
    """One plot entry whose plot survives the import and one whose plot does not."""
    gone = ws.read("plots")["plot_id"].astype(str)
    gone = next(p for p in gone if p not in keep)
    shortlist.add(ws, [keep[0], gone], kind="plot", actor=PLANNER)
    return f"plot:{keep[0]}", f"plot:{gone}"


def _shortlist_page(monkeypatch, ws):
    from streamlit.testing.v1 import AppTest

    from tests.apptest import TIMEOUT, sign_in

    def page():
        from ui.pages import shortlist as shortlist_page

        shortlist_page.render()

    monkeypatch.setenv("PLANNER_WORKSPACE", ws.location)
    at = sign_in(AppTest.from_function(page, default_timeout=TIMEOUT), PLANNER)
    at.session_state["lang"] = "zh"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_references_named_before_marked_after_and_cleared_by_restore(ws, tmp_path, capsys, monkeypatch):
    path, keep = _two_plots_file(ws, tmp_path)
    live_entry, gone_entry = _listed(ws, keep)
    assert shortlist.load(ws)["item_missing"].isna().all()
    n_plots = len(ws.read("plots"))

    plan = plan_import(path, layer="plots", workspace=ws, mode="replace")
    refs = removal_references(ws, plan, plan.change())
    assert refs["removed"] == n_plots - 2 and refs["shortlist"] == 1
    assert refs["runs"].get("sample", 0) == n_plots - 2  # the sample's run holds every plot
    with pytest.raises(ImportDataError) as refused:
        commit_import(ws, plan, actor=SYSTEM)
    assert "1 条候选清单条目" in refused.value.localized("zh") and "sample" in refused.value.localized("en")

    commit_import(ws, plan, actor=SYSTEM, confirm_removal=True)
    items = shortlist.load(ws).set_index("entry_id")
    assert items.at[gone_entry, "item_missing"] == "plot_removed"
    assert items["item_missing"].isna()[live_entry]
    assert references.run_missing(ws, "chain", "sample") == {"plots": n_plots - 2}

    # every reader says so: the CLI list and runs, the Excel export
    assert cli.main(["shortlist", "list", "--workspace", ws.location]) == 0
    listing = capsys.readouterr().out
    assert "[地块已不在地块图层中]" in next(line for line in listing.splitlines() if gone_entry in line)
    assert cli.main(["runs", "list", "--workspace", ws.location]) == 0
    assert f"{n_plots - 2:,} of its plots no longer in the layer" in capsys.readouterr().out
    book = openpyxl.load_workbook(io.BytesIO(export_shortlist(shortlist.load(ws), fmt="xlsx", meta=meta_for(ws))))
    sheet = book.worksheets[1]
    header = [c.value for c in sheet[1]]
    states = [r[header.index("对象状态")] for r in sheet.iter_rows(min_row=2, values_only=True)]
    assert sorted(states) == ["—", "地块已不在地块图层中"]

    # the shortlist page says so above the table and in the entry's row
    page = _shortlist_page(monkeypatch, ws)
    assert any("1 条所指对象已不存在" in w.value for w in page.warning)
    table = page.dataframe[0].value
    assert (table["对象状态"] == "地块已不在地块图层中").fillna(False).sum() == 1

    # restoring the replaced version brings the plots back: nothing is marked any more
    version = int(ws.layer_history("plots")["version"].iloc[1])
    ws.restore_layer("plots", version, actor=SYSTEM)
    assert shortlist.load(ws)["item_missing"].isna().all()
    assert references.run_missing(ws, "chain", "sample") == {}


def test_cluster_entry_of_a_pruned_run_is_marked(ws):
    from layers import runs

    clusters = ws.read("run_sample_clusters")
    shortlist.add(ws, [str(clusters["cluster_id"].iloc[0])], kind="cluster", actor=PLANNER,
                  source_layer="run_sample_clusters", source="clusters:sample")
    assert shortlist.load(ws)["item_missing"].isna().all()
    ws.delete("run_sample_clusters", actor=SYSTEM)
    missing = shortlist.load(ws).set_index("entry_id")["item_missing"].dropna()
    assert missing.tolist() == ["run_removed"] and missing.index[0].startswith("cluster:")
    assert runs.list_runs(ws, "chain")["run_id"].tolist()  # the run row itself is untouched


def test_nothing_refers_when_nothing_is_removed(ws, tmp_path):
    path, keep = _two_plots_file(ws, tmp_path)
    plan = plan_import(path, layer="plots", workspace=ws, mode="upsert")
    assert removal_references(ws, plan, plan.change()) == {"removed": 0, "shortlist": 0, "runs": {}}
    assert references.references_text({"removed": 0, "shortlist": 0, "runs": {}}, "zh") == ""


def test_keys_among_a_few_values_equal_the_whole_lookup(ws):
    """``ws.keys(…, among=…)``: only the present ones of the values asked for — the same answer as
    looking them up in every key, in chunks past the bound-parameter limit, numbers as text."""
    every = ws.keys("plots", "plot_id")
    asked = list(every[:1200]) + ["P-nope", "", "P-nope"]   # > 2 chunks, a missing one twice
    assert sorted(ws.keys("plots", "plot_id", among=asked)) == sorted(every[:1200])
    assert list(ws.keys("plots", "plot_id", among=[])) == []
    years = ws.keys("plots", "build_year")   # a numeric column: compared as its text
    assert list(ws.keys("plots", "build_year", among=[years[0], "no"])) == [years[0]]
