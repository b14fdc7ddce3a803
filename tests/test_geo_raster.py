"""geo.raster: 10×10 synthetic GeoTIFFs with hand-checkable answers."""
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from affine import Affine

import geo.raster as graster
from geo.errors import CRSError, CRSMismatchError, ImportDataError, MissingCRSError, UnsafeInputError
from geo.raster import RasterData, read_raster, slope_degrees, write_geotiff, zonal_stats

X0, Y0, CELL = 560_000.0, 3_070_100.0, 10.0  # top-left corner; 10 m cells, 10×10 → 100 m square
TRANSFORM = Affine(CELL, 0.0, X0, 0.0, -CELL, Y0)
CRS = "EPSG:4549"


def cell_box(row0, col0, rows=1.0, cols=1.0):
    """A box covering cells [row0, row0+rows) × [col0, col0+cols) (fractions allowed)."""
    return shapely.box(X0 + col0 * CELL, Y0 - (row0 + rows) * CELL, X0 + (col0 + cols) * CELL, Y0 - row0 * CELL)


@pytest.fixture
def grid(tmp_path):
    arr = np.zeros((10, 10), dtype="float64")
    arr[0:2, 0:2] = [[1.0, 2.0], [3.0, 4.0]]
    arr[5, 5] = -9999.0  # nodata
    arr[5, 6] = 7.0
    path = tmp_path / "grid.tif"
    write_geotiff(path, arr, TRANSFORM, CRS, nodata=-9999.0)
    return path


def test_write_read_round_trip(grid):
    r = read_raster(grid)
    assert isinstance(r, RasterData)
    assert r.array.shape == (10, 10) and r.array.dtype == np.float64
    assert r.array[0, 0] == 1.0 and r.array[1, 1] == 4.0
    assert np.isnan(r.array[5, 5])  # nodata → NaN
    assert r.transform == TRANSFORM and r.crs.to_epsg() == 4549 and r.nodata == -9999.0


def test_write_nan_becomes_nodata(tmp_path):
    arr = np.ones((10, 10))
    arr[3, 3] = np.nan
    path = write_geotiff(tmp_path / "n.tif", arr, TRANSFORM, CRS, nodata=-1.0)
    with rasterio.open(path) as ds:
        assert ds.read(1)[3, 3] == -1.0


def test_zonal_four_cells_mean(grid):
    zones = gpd.GeoDataFrame({"k": ["x"]}, geometry=[cell_box(0, 0, 2, 2)], index=[42], crs=CRS)
    out = zonal_stats(grid, zones, ["mean", "min", "max", "sum", "count"])
    assert list(out.index) == [42]
    assert out.loc[42].to_dict() == {"mean": 2.5, "min": 1.0, "max": 4.0, "sum": 10.0, "count": 4.0}


def test_zonal_half_covered_cell_weighted(grid):
    # cell (0,0)=1 fully, cell (0,1)=2 half: mean = (1·1 + 2·0.5) / 1.5
    zones = gpd.GeoDataFrame(geometry=[cell_box(0, 0, 1, 1.5)], crs=CRS)
    out = zonal_stats(grid, zones, ["mean", "count"])
    assert out.loc[0, "mean"] == pytest.approx(2.0 / 1.5)
    assert out.loc[0, "count"] == pytest.approx(1.5)


def test_zonal_skips_nodata_and_handles_null(grid):
    zones = gpd.GeoDataFrame(geometry=[cell_box(5, 5, 1, 2), None, shapely.Polygon()], index=["a", "b", "c"], crs=CRS)
    out = zonal_stats(grid, zones, ["mean", "count"])
    assert out.loc["a", "mean"] == 7.0 and out.loc["a", "count"] == 1.0
    assert out.loc[["b", "c"]].isna().all().all()


def test_zonal_crs_mismatch_names_both(grid):
    zones = gpd.GeoDataFrame(geometry=[cell_box(0, 0)], crs=CRS).to_crs(4326)
    with pytest.raises(CRSMismatchError, match=r"EPSG:4326.*EPSG:4549"):
        zonal_stats(grid, zones, ["mean"])


def test_zonal_naive_zones(grid):
    zones = gpd.GeoDataFrame(geometry=[cell_box(0, 0)])
    with pytest.raises(MissingCRSError, match="zones"):
        zonal_stats(grid, zones)


def test_vrt_renamed_tif_refused_before_gdal(tmp_path, monkeypatch):
    secret = tmp_path / "secret.tif"
    write_geotiff(secret, np.ones((10, 10)), TRANSFORM, CRS)
    evil = tmp_path / "evil.tif"
    evil.write_text(f'<VRTDataset rasterXSize="10" rasterYSize="10"><VRTRasterBand dataType="Float64" band="1">'
                    f"<SimpleSource><SourceFilename>{secret}</SourceFilename></SimpleSource></VRTRasterBand></VRTDataset>")

    def no_open(*a, **k):
        raise AssertionError("GDAL must not open the file")

    monkeypatch.setattr(graster.rasterio, "open", no_open)
    with pytest.raises(UnsafeInputError, match=r"evil.tif: named .tif but the content is GDAL VRT"):
        read_raster(evil)


def test_vrt_refused_by_gtiff_driver_too(tmp_path):
    # Even if the sniff were bypassed, the GTiff-only open would not follow the VRT.
    evil = tmp_path / "evil.tif"
    evil.write_text('<VRTDataset rasterXSize="1" rasterYSize="1"></VRTDataset>')
    with pytest.raises(rasterio.errors.RasterioIOError):
        rasterio.open(evil, driver="GTiff")


@pytest.mark.parametrize("name", ["dem.vrt", "dem.png", "dem"])
def test_wrong_extension(tmp_path, name):
    p = tmp_path / name
    p.write_bytes(b"II*\x00")
    with pytest.raises(UnsafeInputError, match="not a GeoTIFF"):
        read_raster(p)


def test_truncated_tiff(grid, tmp_path):
    cut = tmp_path / "cut.tif"
    cut.write_bytes(grid.read_bytes()[:12])
    with pytest.raises(ImportDataError, match="truncated or corrupt"):
        read_raster(cut)


def test_raster_without_crs(tmp_path):
    p = tmp_path / "nocrs.tif"
    with rasterio.open(p, "w", driver="GTiff", width=10, height=10, count=1, dtype="float32", transform=TRANSFORM) as ds:
        ds.write(np.ones((1, 10, 10), dtype="float32"))
    with pytest.raises(MissingCRSError, match="no CRS"):
        read_raster(p)


def test_raster_without_georeference(tmp_path):
    p = tmp_path / "pixels.tif"
    with pytest.warns(rasterio.errors.NotGeoreferencedWarning):  # rasterio warns when writing such a file
        with rasterio.open(p, "w", driver="GTiff", width=10, height=10, count=1, dtype="float32", crs=CRS) as ds:
            ds.write(np.ones((1, 10, 10), dtype="float32"))
    with pytest.raises(CRSError, match="no geotransform"):
        read_raster(p)


def test_write_requires_crs(tmp_path):
    with pytest.raises(MissingCRSError, match="needs a CRS"):
        write_geotiff(tmp_path / "x.tif", np.ones((10, 10)), TRANSFORM, None)


def test_failed_write_leaves_target_identical(grid):
    before = grid.read_bytes()
    with pytest.raises(TypeError):  # text cells cannot become a raster band
        write_geotiff(grid, np.array([["a"] * 10] * 10, dtype=object), TRANSFORM, CRS)
    assert grid.read_bytes() == before
    assert [p.name for p in grid.parent.iterdir()] == ["grid.tif"]


# ---------------------------------------------------------------- slope (Horn)
@pytest.mark.parametrize("gx, gy", [(0.1, 0.0), (0.0, 0.25), (1.0, 0.0), (0.3, 0.4)])
def test_slope_of_planes_is_exact_everywhere(gx, gy):
    rows, cols = np.mgrid[0:10, 0:10]
    dem = gx * cols * CELL + gy * rows * CELL  # metres
    s = slope_degrees(dem, TRANSFORM)
    np.testing.assert_allclose(s, math.degrees(math.atan(math.hypot(gx, gy))), atol=1e-9)


def test_flat_is_zero():
    np.testing.assert_array_equal(slope_degrees(np.full((10, 10), 5.0), TRANSFORM), 0.0)


def test_horn_weights_on_a_spike():
    dem = np.zeros((10, 10))
    dem[4, 4] = 8.0
    s = slope_degrees(dem, TRANSFORM)
    assert s[4, 4] == 0.0  # symmetric around the spike
    # east neighbour: spike at position d → ∂z/∂x = −2·8 / (8·10) = −0.2
    assert s[4, 5] == pytest.approx(math.degrees(math.atan(0.2)))
    # diagonal neighbour: spike at a → ∂z/∂x = ∂z/∂y = −8/80 = −0.1
    assert s[5, 5] == pytest.approx(math.degrees(math.atan(math.hypot(0.1, 0.1))))
    assert s[7, 7] == 0.0


def test_slope_uses_cell_size():
    dem = np.tile(np.arange(10.0), (10, 1))  # +1 m per column
    wide = Affine(20.0, 0, X0, 0, -20.0, Y0)
    np.testing.assert_allclose(slope_degrees(dem, wide), math.degrees(math.atan(1 / 20)))


def test_nan_propagates_to_neighbours_only():
    dem = np.zeros((10, 10))
    dem[4, 4] = np.nan
    s = slope_degrees(dem, TRANSFORM)
    assert np.isnan(s[3:6, 3:6]).all()
    assert np.isfinite(s[0, 0]) and np.isnan(s).sum() == 9


def test_rotated_transform_refused():
    with pytest.raises(ValueError, match="north-up"):
        slope_degrees(np.zeros((10, 10)), Affine(10, 1, 0, 0, -10, 0))


def _zones_catalogue(seed: int = 1) -> gpd.GeoDataFrame:
    """Polygons of every kind against the 10×10 grid: inside one cell, across cells, partly and wholly
    outside, on nodata only, with a hole, multi-part, slivers, on cell edges, rotated at random."""
    geoms = [cell_box(0, 0, 2, 2), cell_box(0.3, 0.2, 1.5, 1.7), cell_box(-3, -3, 4, 4), cell_box(20, 20),
             cell_box(5, 5), cell_box(4.5, 4.5), shapely.Polygon(cell_box(1, 1, 6, 6).exterior, [cell_box(2, 2, 2, 2).exterior]),
             shapely.MultiPolygon([cell_box(0, 0, 0.5, 0.5), cell_box(8, 8, 1.3, 1.1)]), cell_box(3, 3, 0.001, 5),
             cell_box(2, 2), cell_box(9.5, 9.5, 2, 2), cell_box(0, 0, 10, 10), cell_box(7, 0, 0.5, 0.5),
             shapely.Polygon([(X0 + 1, Y0 - 1), (X0 + 55, Y0 - 3), (X0 + 30, Y0 - 77)]), None, shapely.Polygon()]
    rng = np.random.default_rng(seed)
    for _ in range(200):
        x, y = rng.uniform(-2, 11, 2)
        w, h = rng.uniform(0.01, 4, 2)
        geoms.append(shapely.affinity.rotate(cell_box(y, x, h, w), rng.uniform(0, 90)))
    return gpd.GeoDataFrame(geometry=geoms, crs=CRS)


def test_zonal_coverage_route_equals_exactextract(tmp_path, monkeypatch):
    # The pairs route (GEOS clipping of each cell under a small polygon) and exactextract give
    # the same numbers to the last bit, whichever route zonal_stats takes.
    arr = np.arange(100, dtype="float64").reshape(10, 10) / 7
    arr[5, 5] = arr[2, 7] = -9999.0
    path = write_geotiff(tmp_path / "g.tif", arr, TRANSFORM, CRS, nodata=-9999.0)
    zones = _zones_catalogue()
    stats = ["mean", "sum", "count", "min", "max"]
    monkeypatch.setattr(graster, "COVERAGE_MAX_CELLS", 10**9)
    by_pairs = zonal_stats(path, zones, stats)
    monkeypatch.setattr(graster, "COVERAGE_MAX_CELLS", 0)
    by_exactextract = zonal_stats(path, zones, stats)
    assert by_pairs.notna().sum().min() > 150
    pd.testing.assert_frame_equal(by_pairs, by_exactextract, check_exact=True)


def test_zonal_stats_many_shares_the_grid(tmp_path):
    a = write_geotiff(tmp_path / "a.tif", np.arange(100.0).reshape(10, 10), TRANSFORM, CRS, nodata=-9999.0)
    b = write_geotiff(tmp_path / "b.tif", np.arange(100.0).reshape(10, 10)[::-1], TRANSFORM, CRS, nodata=-9999.0)
    zones = gpd.GeoDataFrame(geometry=[cell_box(0, 0, 1, 1.5), cell_box(9, 9)], index=[3, 4], crs=CRS)
    out = graster.zonal_stats_many({"a": a, "b": b}, zones, {"a": ["mean"], "b": ["max", "count"]})
    assert list(out.columns) == ["a_mean", "b_max", "b_count"] and list(out.index) == [3, 4]
    assert out.loc[3, "a_mean"] == pytest.approx((0 * 1 + 1 * 0.5) / 1.5)    # cells 0 and half of 1
    assert out.loc[3, "b_max"] == 91.0 and out.loc[3, "b_count"] == pytest.approx(1.5)
    assert out.loc[4, "a_mean"] == 99.0 and out.loc[4, "b_max"] == 9.0
