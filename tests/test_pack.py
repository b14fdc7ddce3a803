"""The township pack an official reads: index map labels that never overlap, a small map per item, firm and
park names, Beijing time, a file name that says what it is.

The PDF is checked with poppler (pdftotext for the text, pdfimages for the maps, pdftoppm renders
the first page to ``artifacts/pack_page1.png`` for a look); the Excel with openpyxl.
"""
from __future__ import annotations

import io
import re
import shutil
import subprocess

import numpy as np
import openpyxl
import pytest

import exports
from exports import export_shortlist, filename_for, meta_for
from exports._labels import overlaps, place_labels
from layers import shortlist
from layers.access import SYSTEM, Actor
from layers.store import open_workspace


def _no_overlap(centres, sizes) -> bool:
    boxes = np.column_stack([centres - sizes / 2, centres + sizes / 2])
    return not any(overlaps(np.delete(boxes, i, axis=0), boxes[i]).any() for i in range(len(boxes)))


def test_labels_never_overlap_even_in_a_crowd():
    rng = np.random.default_rng(20150116)
    crowd = rng.normal([300, 200], 6, size=(70, 2))          # 70 plots inside one park
    spread = rng.uniform([0, 0], [900, 500], size=(30, 2))
    points = np.vstack([crowd, spread])
    sizes = np.tile([18.0, 11.0], (len(points), 1))
    centres, moved = place_labels(points, sizes, (0, 0, 900, 500))
    assert _no_overlap(centres, sizes)
    boxes = np.column_stack([centres - sizes / 2, centres + sizes / 2])
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= 900).all() and (boxes[:, 1] >= 0).all() and (boxes[:, 3] <= 500).all()
    assert moved[:70].sum() > 30 and moved[70:].sum() < 10  # the crowd gets leader lines, the spread mostly not


def test_a_lone_label_stays_beside_its_point():
    centres, moved = place_labels(np.array([[100.0, 100.0]]), np.array([[10.0, 8.0]]), (0, 0, 300, 300))
    assert not moved[0] and np.hypot(*(centres[0] - [100, 100])) < 15


def test_a_full_frame_uses_the_edge_columns_without_overlap():
    points = np.full((60, 2), 50.0)
    sizes = np.tile([20.0, 10.0], (60, 1))
    centres, moved = place_labels(points, sizes, (0, 0, 200, 120), max_radius=20)
    assert _no_overlap(centres, sizes) and moved.sum() >= 55  # all but the first ring beside the point


@pytest.fixture(scope="module")
def packed(sample_path, tmp_path_factory):
    """A sample copy with 30 low-efficiency plots of 飞云街道 on the shortlist, added from a run (no land holder)."""
    from analysis import pipeline

    path = tmp_path_factory.mktemp("pack") / "ruian.gpkg"
    shutil.copy2(sample_path, path)
    shutil.copytree(str(sample_path) + ".rasters", str(path) + ".rasters")
    ws = open_workspace(path, readonly=False)
    pipeline.run(ws, "ruian_default", run_id="pack", actor=SYSTEM)
    plots = pipeline.load_run(ws, "pack")["plots"]
    town = "330381008"
    ids = plots.loc[plots["is_low_efficiency"].astype(bool) & (plots["township_code"] == town), "plot_id"].head(30)
    shortlist.add(open_workspace(path, readonly=False), list(ids), kind="plot", actor=Actor("规划科", "planner"),
                  source_layer="run_pack_plots", source="low_efficiency:pack")
    return path, town, list(ids)


def test_pdf_pack_names_firms_and_parks_and_maps_every_item(packed, tmp_path, artifacts_dir):
    path, town, ids = packed
    ws = open_workspace(path)
    items = shortlist.load(ws)
    out = export_shortlist(items, fmt="pdf", township=town, meta=meta_for(ws, maps=True),
                           out=tmp_path / filename_for("pdf", township_name="飞云街道"))
    assert out.name.startswith("候选清单报告_飞云街道_")
    text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True, check=True).stdout
    firms = ws.read("enterprises", columns=["plot_id", "name", "is_land_holder"])
    holder = firms[firms["is_land_holder"].astype(bool)].set_index("plot_id")["name"]
    named = [holder[i] for i in ids if i in holder.index]
    assert named and all(n in text for n in named)  # firm names, though the items carry no land holder
    parks = {**dict(zip(ws.read("industrial_parks")["park_id"], ws.read("industrial_parks")["name"])),
             **dict(zip(ws.read("micro_parks")["park_id"], ws.read("micro_parks")["name"]))}
    for park in items.loc[items["item_id"].isin(ids), "park_id"].dropna().unique():
        assert parks[park] in text.replace("\n", "")
    assert re.search(r"导出时间 \d{4}-\d{2}-\d{2} \d{2}:\d{2}.北京时间.", text)
    assert "逐项位置图" in text and "None" not in text and "nan" not in text
    # one index map, then one small map per item
    images = subprocess.run(["pdfimages", "-list", str(out)], capture_output=True, text=True, check=True).stdout
    rows = [ln for ln in images.splitlines()[2:] if ln.strip()]
    assert len(rows) == 1 + len(ids)
    subprocess.run(["pdftoppm", "-r", "80", "-png", "-f", "1", "-l", "1", "-singlefile", str(out),
                    str(artifacts_dir / "pack_page1")], check=True)
    assert (artifacts_dir / "pack_page1.png").stat().st_size > 20_000


def test_index_map_zooms_to_the_items_and_keeps_the_township_in_an_inset(packed):
    from exports.pdf import render_map

    path, town, _ = packed
    ws = open_workspace(path)
    meta = meta_for(ws, maps=True)
    rows = shortlist.load(ws)
    towns = meta.townships
    png = render_map(rows, outline=towns[towns["code"] == town], context=towns[towns["code"] != town])
    assert png.startswith(b"\x89PNG")
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    red = (img[..., 0] > 200) & (img[..., 1] < 60) & (img[..., 2] < 60)  # the inset's red frame
    assert red.sum() > 50


def test_xlsx_pack_has_names_and_local_times(packed):
    path, town, ids = packed
    ws = open_workspace(path)
    data = export_shortlist(shortlist.load(ws), fmt="xlsx", township=town, meta=meta_for(ws))
    book = openpyxl.load_workbook(io.BytesIO(data))
    sheet = book.worksheets[1]
    header = [c.value for c in sheet[1]]
    col = {h: i for i, h in enumerate(header)}
    assert {"企业名称", "所在园区", "行业名称", "用地分类名称"} <= set(col)
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert all(r[col["企业名称"]] and r[col["企业名称"]] != "—" for r in rows[:5])
    assert all(not str(r[col["所在园区"]]).startswith(("IP", "IZ", "MP")) for r in rows)
    added = rows[0][col["添加时间"]]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", added)
    stored = shortlist.load(ws)["added_at"].iloc[0]
    from exports.formatting import local_time

    assert added == local_time(stored, seconds=True) and stored.endswith("Z")  # stored UTC, shown local
    assert book["汇总"]["B5"].value.endswith("(北京时间)")
    assert exports.filename_for("xlsx", township_name="飞云街道").startswith("候选清单_飞云街道_")
