"""Raster overlays: class breaks, legends with units, the warped PNG and its corners, the printed raster."""
from __future__ import annotations

import io

import numpy as np
import pytest
from affine import Affine

from geo.raster import read_raster, warp_to_web_mercator, write_geotiff
from ui.overlays import RASTER_STYLES, classify, legend_rows, overlay_image, print_raster, raster_label, raster_style


@pytest.fixture
def slope_tif(tmp_path):
    """10 × 10 cells of 100 m in EPSG:4549 near Ruian: slope rising 3° per column, one nodata cell."""
    values = np.tile(np.arange(10, dtype="float32") * 3.0, (10, 1))
    values[0, 0] = -9999.0
    transform = Affine(100.0, 0, 560_000.0, 0, -100.0, 3_076_000.0)
    return write_geotiff(tmp_path / "slope.tif", values, transform, "EPSG:4549", nodata=-9999.0)


def test_classes_by_hand():
    slope = RASTER_STYLES["slope"]
    v = np.array([0, 1.99, 2, 5, 6, 15, 24.9, 25, 40, np.nan])
    assert classify(v, slope).tolist() == [0, 0, 1, 1, 2, 3, 3, 4, 4, -1]
    flood = RASTER_STYLES["flood_depth"]
    assert classify(np.array([0.0, 0.1, 0.3, 0.7, 1.5, 3.0]), flood).tolist() == [-1, 0, 1, 2, 3, 4]  # 0 m: clear


def test_legends_carry_units():
    assert [r[1] for r in legend_rows(RASTER_STYLES["slope"], "zh")] == ["< 2°", "2–6°", "6–15°", "15–25°", "≥ 25°"]
    assert [r[1] for r in legend_rows(RASTER_STYLES["flood_depth"], "en")][0] == "0.0–0.3m"
    assert [r[0] for r in legend_rows(RASTER_STYLES["dem"], "zh")] == list(RASTER_STYLES["dem"].colors)
    assert raster_label("slope", "zh") == "坡度(°)" and raster_label("dem", "en") == "Elevation (m)"
    other = raster_style("noise", np.arange(100.0))
    assert len(other.colors) == len(other.edges) + 1 == 5


def test_warp_keeps_the_place_and_nodata(slope_tif):
    r = read_raster(slope_tif)
    values, (w, s, e, n) = warp_to_web_mercator(r)
    assert 120.5 < w < e < 120.8 and 27.7 < s < n < 27.9
    assert (e - w) == pytest.approx(1000 / (111_320 * np.cos(np.radians(27.8))), rel=0.02)  # 1 km wide
    assert np.isnan(values[0, 0]) and np.isfinite(values[5, 5])
    assert np.nanmax(values) <= 27.0 + 1e-6


def test_overlay_png_is_classed_and_transparent_where_nodata(slope_tif):
    from PIL import Image

    ov = overlay_image(slope_tif, "slope")
    (s, w), (n, e) = ov.bounds
    assert s < n and w < e
    img = np.asarray(Image.open(io.BytesIO(ov.png)))
    assert img.shape[2] == 4 and img[0, 0, 3] == 0  # the nodata corner is transparent
    colours = {"#{:02x}{:02x}{:02x}".format(*px[:3]) for px in img.reshape(-1, 4) if px[3] == 255}
    assert colours <= set(RASTER_STYLES["slope"].colors) and len(colours) >= 4
    assert overlay_image(slope_tif, "slope") is ov  # cached by path, size and mtime


def test_printed_raster_keeps_its_own_crs_extent(slope_tif):
    pr = print_raster(slope_tif, "slope")
    assert pr.extent == (560_000.0, 561_000.0, 3_075_000.0, 3_076_000.0)
    assert pr.rgba.shape == (10, 10, 4) and pr.rgba[0, 0, 3] == 0
