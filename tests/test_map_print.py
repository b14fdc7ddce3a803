"""Printing the map: what the view shows, coloured as on screen, with legend, scale bar and north arrow."""
from __future__ import annotations

import io
import subprocess

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import LineString, Point, box

from exports.map_print import PrintLayer, render_map_image, scale_bar_length
from geo.errors import ParameterError
from ui.mapview import MARKS, STYLE_BY, legend_sections, print_layers

X0, Y0 = 560_000.0, 3_075_000.0  # EPSG:4549 near Ruian


@pytest.fixture
def layers():
    plots = gpd.GeoDataFrame({"plot_id": ["P1", "P2", "P3"], "land_use": ["0601", "0604", "0701"]},
                             geometry=[box(X0 + i * 300, Y0, X0 + i * 300 + 200, Y0 + 200) for i in range(3)],
                             crs="EPSG:4549")
    parks = gpd.GeoDataFrame({"park_id": ["IP01"], "name": ["园区"]}, geometry=[box(X0 - 100, Y0 - 100, X0 + 1000, Y0 + 400)],
                             crs="EPSG:4549")
    infra = gpd.GeoDataFrame({"kind": ["expressway", "port"]},
                             geometry=[LineString([(X0, Y0 + 300), (X0 + 900, Y0 + 300)]), Point(X0 + 450, Y0 + 350)],
                             crs="EPSG:4549")
    return {"plots": plots, "industrial_parks": parks, "infrastructure": infra}


def test_scale_bar_lengths_are_round():
    assert [scale_bar_length(s) for s in (12_000, 700, 52, 10_000)] == [2000.0, 100.0, 10.0, 2000.0]


def test_print_layers_use_the_screens_colours(layers):
    out = print_layers(layers, style_by="land_use", marks={"focus": layers["industrial_parks"]})
    kinds = [(len(p.gdf), p.kind) for p in out]
    assert kinds == [(1, "area"), (3, "area"), (1, "line"), (1, "point"), (1, "area")]  # parks, plots, road, port, mark
    plots = out[1]
    colours = {value: colour.lower() for value, colour, _ in STYLE_BY["land_use"].classes}
    assert list(plots.facecolor) == [colours["0601"] + "d9", colours["0604"] + "d9", "#b5b5b5d9"]  # 0.85 alpha
    assert out[0].facecolor == "#f5b0411f"  # the park fill at 12 %, as on screen
    assert out[-1].edgecolor == MARKS["focus"]["color"] and out[-1].linestyle == "--" and out[-1].facecolor is None


def test_png_a4_landscape(layers):
    from PIL import Image

    png = render_map_image(print_layers(layers), bbox=(X0, Y0, X0 + 1000, Y0 + 400), title="地块图", legend_title="图例",
                           legend=legend_sections({k: v.to_crs(4326) for k, v in layers.items()}, "land_use", "zh"),
                           footer="制图", fmt="png", dpi=100)
    img = Image.open(io.BytesIO(png))
    assert img.size == (1169, 827)
    px = np.asarray(img.convert("RGB"))
    assert (np.abs(px.astype(int) - [0xBB, 0x96, 0x74]).sum(axis=2) < 40).sum() > 500  # the plots, drawn at 85 % over the park


def test_pdf_has_the_legend_scale_and_north_arrow_as_text(layers, tmp_path):
    pdf = render_map_image(print_layers(layers), bbox=(X0, Y0, X0 + 1000, Y0 + 400), title="塘下镇地块图",
                           legend_title="图例", legend=legend_sections({k: v.to_crs(4326) for k, v in layers.items()},
                                                                      "land_use", "zh"),
                           footer="制图:测试 · EPSG:4549", fmt="pdf")
    (tmp_path / "m.pdf").write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "m.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    for expected in ("塘下镇地块图", "图例", "0601 工业用地", "工业集聚区/功能区", "高速公路", "北", "200 m", "EPSG:4549"):
        assert expected in text, expected
    assert "Easting" not in text and "Northing" not in text


def test_bad_requests_are_refused(layers):
    with pytest.raises(ParameterError, match="svg"):
        render_map_image([], bbox=(0, 0, 1, 1), title="", legend_title="", legend=[], fmt="svg")
    with pytest.raises(ParameterError, match="empty"):
        render_map_image([PrintLayer(layers["plots"])], bbox=(1, 1, 1, 1), title="", legend_title="", legend=[])


def test_cli_map_of_a_township_with_slope(sample_path, tmp_path):
    """``cli.py map``: the same print from the command line, framed on one township and outlined."""
    import cli

    out = tmp_path / "塘下.pdf"
    assert cli.main(["map", "--workspace", str(sample_path), "--township", "330381101", "--rasters", "slope",
                     "--style-by", "final_class", "--out", str(out)]) == 0
    text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True, check=True).stdout
    for expected in ("塘下镇地块图", "亩均评价分类", "坡度(°)", "15–25°", "定位范围", "北", "EPSG:4549"):
        assert expected in text, expected
    assert cli.main(["map", "--workspace", str(sample_path), "--park", "NOPE", "--out", str(tmp_path / "x.png")]) == 2
    assert cli.main(["map", "--workspace", str(sample_path), "--out", str(tmp_path / "x.svg")]) == 2
