"""The map's search: townships and parks by name first, then plots and firms; how many matched; the cut."""
from __future__ import annotations

import pandas as pd
import pytest

from ui.map_search import search_places

PLOTS = pd.DataFrame({"plot_id": ["P000001", "P000002", "P000010", "Q000001"]})
FIRMS = pd.DataFrame({
    "credit_code": ["91330381AAAA00001X", "91330381AAAA00002X", "91330381BBBB00003X", "91330381CCCC00004X"],
    "name": ["瑞安市塘下机械有限公司", "瑞安市飞云机械厂", "塘下汽配公司", "无地块机械公司"],
    "plot_id": ["P000001", "P000002", "P000010", None],
})
TOWNSHIPS = pd.DataFrame({"code": ["330381101", "330381102"], "name": ["塘下镇", "飞云街道"]})
PARKS = pd.DataFrame({"park_id": ["IP01", "MP01"], "name": ["瑞安经济开发区飞云新区", "塘下小微企业创业园"]})


def _search(q, **kw):
    return search_places(q, plots=PLOTS, firms=FIRMS, townships=TOWNSHIPS, parks=PARKS, **kw)


def test_a_township_name_finds_the_township_first():
    r = _search("塘下")
    kinds = [h.kind for h in r.hits]
    assert kinds == ["township", "park", "firm", "firm"]
    assert r.hits[0].key == "330381101" and r.hits[0].label == "镇街 · 塘下镇"
    assert r.hits[1].key == "MP01"
    assert r.total == 4 and not r.cut


def test_an_exact_name_comes_before_longer_ones():
    r = _search("飞云街道")
    assert r.hits[0].kind == "township" and r.hits[0].key == "330381102"


@pytest.mark.parametrize("query, kind, key", [
    ("p000010", "plot", "P000010"),  # any case, exact first
    ("91330381BBBB", "firm", "P000010"),  # credit-code prefix of 4+ characters → the firm's plot
    ("飞云机械", "firm", "P000002"),
])
def test_plots_and_firms(query, kind, key):
    hit = _search(query).hits[0]
    assert (hit.kind, hit.key) == (kind, key)


def test_a_plot_id_prefix_lists_the_plots():
    r = _search("P0000")
    assert [h.key for h in r.hits] == ["P000001", "P000002", "P000010"]


def test_firms_without_a_plot_on_the_map_are_not_offered():
    assert all(h.ident != "firm:91330381CCCC00004X" for h in _search("机械").hits)


def test_the_cut_is_counted():
    r = _search("机械", limit=1)
    assert len(r.hits) == 1 and r.total == 2 and r.cut


def test_nothing_and_blank():
    assert _search("没有这个").total == 0
    assert _search("  ").hits == ()


def test_labels_in_english():
    r = _search("塘下", lang="en")
    assert r.hits[0].label == "Township · 塘下镇"
    assert r.hits[2].label.startswith("Firm · ") and "· Plot P000001" in r.hits[2].label
