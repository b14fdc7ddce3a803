"""geo.crs: CRS recognition from bounds, working/display conversion, axis swap, GCJ-02."""
import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import CRS, Geod, Transformer

from geo.crs import (
    WORKING_CRS,
    CRSFinding,
    bounds_in_china,
    detect_crs_issue,
    gcj02_to_wgs84,
    gdf_gcj02_to_wgs84,
    gdf_wgs84_to_gcj02,
    recognise_crs,
    swap_axes,
    to_display,
    to_working,
    wgs84_to_gcj02,
)
from geo.errors import CRSError, MissingCRSError

# A box around Ruian (lon 120.5–120.7, lat 27.7–27.9) in each CRS under test.
RUIAN_LONLAT = (120.5, 27.7, 120.7, 27.9)


def _bounds_in(epsg: int) -> tuple:
    tr = Transformer.from_crs(4326, epsg, always_xy=True)
    xs, ys = tr.transform([120.5, 120.7, 120.5, 120.7], [27.7, 27.7, 27.9, 27.9])
    return (min(xs), min(ys), max(xs), max(ys))


def _swapped(b):
    return (b[1], b[0], b[3], b[2])


B4549, B4528, B4499, B4510 = (_bounds_in(e) for e in (4549, 4528, 4499, 4510))


# ---------------------------------------------------------------- EPSG families
@pytest.mark.parametrize("zone", range(25, 46))
def test_gk3_prefixed_family_matches_pyproj(zone):
    crs = CRS.from_epsg(4513 + zone - 25)
    assert f"zone {zone}" in crs.name
    fe = [p.value for p in crs.coordinate_operation.params if "easting" in p.name.lower()][0]
    assert fe == zone * 1_000_000 + 500_000


@pytest.mark.parametrize("zone", range(13, 24))
def test_gk6_prefixed_family_matches_pyproj(zone):
    crs = CRS.from_epsg(4491 + zone - 13)
    assert crs.name.endswith(f"Gauss-Kruger zone {zone}")


def test_plain_families_central_meridians():
    assert CRS.from_epsg(4549).name.endswith("CM 120E")
    assert CRS.from_epsg(4534).name.endswith("CM 75E")
    assert CRS.from_epsg(4510).name.endswith("CM 123E")


# ---------------------------------------------------------------- recognise_crs
@pytest.mark.parametrize(
    "bounds, code, suggested, swap, certain",
    [
        (B4528, "gk3_prefixed", "EPSG:4528", False, True),
        (B4549, "gk_unprefixed", "EPSG:4549", False, False),
        (B4499, "gk6_prefixed", "EPSG:4499", False, True),
        (RUIAN_LONLAT, "geographic", "EPSG:4490", False, True),
        (_swapped(RUIAN_LONLAT), "swapped_axes", "EPSG:4490", True, True),
        (_swapped(B4528), "swapped_axes", "EPSG:4528", True, True),
        (_swapped(B4549), "swapped_axes", "EPSG:4549", True, False),
        ((0.0, 0.0, 1.0, 1.0), "unrecognised", None, False, True),
        ((40_500_000.0, 100.0, 40_600_000.0, 200.0), "unrecognised", None, False, True),
        ((np.nan,) * 4, "empty", None, False, True),
    ],
    ids=["4528", "4549", "4499", "lonlat", "lonlat-swapped", "4528-swapped", "4549-swapped", "unit-square",
         "prefix-no-northing", "empty"],
)
def test_recognise_crs(bounds, code, suggested, swap, certain):
    f = recognise_crs(bounds)
    assert isinstance(f, CRSFinding)
    assert (f.code, f.suggested, f.swap_axes, f.certain) == (code, suggested, swap, certain)
    assert f.message and f.message_zh


def test_recognise_unprefixed_keeps_declared_plain_gk():
    f = recognise_crs(B4510, "EPSG:4510")
    assert (f.code, f.suggested) == ("gk_unprefixed", "EPSG:4510")


def test_finding_is_frozen():
    f = recognise_crs(B4528)
    with pytest.raises(AttributeError):
        f.code = "x"


# ---------------------------------------------------------------- detect_crs_issue
@pytest.mark.parametrize(
    "bounds, declared, code, suggested",
    [
        (B4549, "EPSG:4549", "ok", "EPSG:4549"),
        (B4528, "EPSG:4528", "ok", "EPSG:4528"),
        (RUIAN_LONLAT, "EPSG:4326", "ok", "EPSG:4326"),
        (RUIAN_LONLAT, "EPSG:4490", "ok", "EPSG:4490"),
        (B4528, "EPSG:4549", "zone_prefix", "EPSG:4528"),
        (B4549, "EPSG:4528", "zone_prefix", "EPSG:4549"),
        (B4499, "EPSG:4549", "wrong_projection", "EPSG:4499"),
        (B4549, "EPSG:4326", "metres_as_degrees", "EPSG:4549"),
        (B4528, "EPSG:4490", "metres_as_degrees", "EPSG:4528"),
        (RUIAN_LONLAT, "EPSG:4549", "degrees_as_metres", "EPSG:4490"),
        (_swapped(RUIAN_LONLAT), "EPSG:4326", "swapped_axes", "EPSG:4326"),
        (_swapped(B4528), "EPSG:4528", "swapped_axes", "EPSG:4528"),
        ((0.0, 0.0, 1.0, 1.0), "EPSG:4326", "unrecognised", None),
    ],
)
def test_detect_crs_issue(bounds, declared, code, suggested):
    f = detect_crs_issue(bounds, declared)
    assert (f.code, f.suggested) == (code, suggested)
    assert f.ok is (code == "ok")
    assert f.declared == declared


def test_detect_message_names_both_crs():
    f = detect_crs_issue(B4528, "EPSG:4549")
    assert "EPSG:4549" in f.message and "EPSG:4528" in f.message
    assert "EPSG:4528" in f.message_zh


def test_missing_crs_never_guessed():
    with pytest.raises(MissingCRSError, match=r"no CRS.*suggest EPSG:4528") as exc:
        detect_crs_issue(B4528, None)
    assert "EPSG:4528" in exc.value.message_zh
    assert exc.value.details[0].code == "gk3_prefixed"


def test_bad_declared_crs_is_crs_error():
    with pytest.raises(CRSError, match="not understood"):
        detect_crs_issue(B4549, "EPSG:99999999")


def test_bounds_in_china():
    assert bounds_in_china(B4549, "EPSG:4549")
    assert not bounds_in_china(B4528, "EPSG:4549")  # 40 million easting under a 500 000 false easting
    assert not bounds_in_china((0, 0, 1, 1), "EPSG:4326")


# ---------------------------------------------------------------- frames
def _frame(crs="EPSG:4326"):
    return gpd.GeoDataFrame({"v": [1, 2]}, geometry=[shapely.box(120.60, 27.70, 120.61, 27.71),
                                                     shapely.Point(120.65, 27.80)], index=["a", "b"], crs=crs)


def test_to_working_projects_to_metres_and_keeps_index():
    out = to_working(_frame())
    assert out.crs == CRS.from_user_input(WORKING_CRS)
    assert list(out.index) == ["a", "b"]
    # 0.01° × 0.01° at 27.7 °N ≈ 985 m × 1108 m.
    assert out.geometry.iloc[0].area == pytest.approx(985.7 * 1107.0, rel=0.01)
    assert 500_000 < out.total_bounds[0] < 600_000


def test_to_working_naive_raises_with_suggestion():
    with pytest.raises(MissingCRSError, match=r"plots: .*EPSG:4490"):
        to_working(_frame(crs=None), name="plots")


def test_to_working_refuses_geographic_target():
    with pytest.raises(CRSError, match="not projected in metres"):
        to_working(_frame(), crs="EPSG:4326")


def test_to_display_round_trip():
    work = to_working(_frame())
    back = to_display(work)
    assert back.crs == CRS.from_epsg(4326)
    np.testing.assert_allclose(back.total_bounds, _frame().total_bounds, atol=1e-9)


def test_swap_axes_swaps_xy_keeps_z_index_crs():
    g = gpd.GeoDataFrame({"v": [1, 2]}, geometry=[shapely.Point(27.8, 120.6), shapely.Point(1, 2, 3)],
                         index=[10, 20], crs=4326)
    out = swap_axes(g)
    assert (out.geometry.iloc[0].x, out.geometry.iloc[0].y) == (120.6, 27.8)
    assert shapely.get_coordinates(out.geometry.iloc[1], include_z=True).tolist() == [[2.0, 1.0, 3.0]]
    assert list(out.index) == [10, 20] and out.crs == g.crs
    assert g.geometry.iloc[0].x == 27.8  # input untouched
    assert not detect_crs_issue(g.iloc[:1].total_bounds, "EPSG:4326").ok
    assert detect_crs_issue(out.iloc[:1].total_bounds, "EPSG:4326").ok


# ---------------------------------------------------------------- GCJ-02
GEOD = Geod(ellps="WGS84")


def _metres(lon1, lat1, lon2, lat2):
    return GEOD.inv(lon1, lat1, lon2, lat2)[2]


def test_forward_offset_near_ruian_is_a_few_hundred_metres():
    lon, lat = wgs84_to_gcj02(120.65, 27.78)
    d = _metres(120.65, 27.78, lon, lat)
    assert 300.0 < d < 700.0
    assert lon > 120.65 and lat < 27.78  # shifted east and south here


def test_identity_outside_china():
    lon, lat = wgs84_to_gcj02(np.array([-74.0, 2.35, 150.0]), np.array([40.7, 48.85, -33.9]))
    np.testing.assert_array_equal(lon, [-74.0, 2.35, 150.0])
    np.testing.assert_array_equal(lat, [40.7, 48.85, -33.9])
    assert gcj02_to_wgs84(2.35, 48.85) == (2.35, 48.85)


def test_scalars_in_scalars_out():
    lon, lat = gcj02_to_wgs84(120.65, 27.78)
    assert np.ndim(lon) == 0 and np.ndim(lat) == 0


def test_round_trip_over_ruian_within_one_metre():
    lon, lat = np.meshgrid(np.linspace(119.9, 121.3, 141), np.linspace(27.5, 28.0, 51))
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    w_lon, w_lat = gcj02_to_wgs84(g_lon, g_lat)
    err = _metres(lon.ravel(), lat.ravel(), w_lon.ravel(), w_lat.ravel())
    assert err.max() < 1.0
    assert err.max() < 0.01  # in fact far below a centimetre
    # One fixed-point step is not enough; the iteration is what buys the accuracy.
    one_lon, one_lat = gcj02_to_wgs84(g_lon, g_lat, iterations=1)
    assert _metres(lon.ravel(), lat.ravel(), one_lon.ravel(), one_lat.ravel()).max() > err.max()


def test_gdf_round_trip_and_labels():
    g = _frame()
    shifted = gdf_wgs84_to_gcj02(g)
    assert shifted.crs == CRS.from_epsg(4326)
    d = _metres(g.geometry.iloc[1].x, g.geometry.iloc[1].y, shifted.geometry.iloc[1].x, shifted.geometry.iloc[1].y)
    assert 300 < d < 700
    back = gdf_gcj02_to_wgs84(shifted)
    np.testing.assert_allclose(shapely.get_coordinates(back.geometry.values),
                               shapely.get_coordinates(g.geometry.values), atol=1e-8)
    assert list(back.index) == ["a", "b"] and list(back.columns) == ["v", "geometry"]


def test_gdf_gcj_accepts_unlabelled_lonlat():
    out = gdf_gcj02_to_wgs84(_frame(crs=None))
    assert out.crs == CRS.from_epsg(4326)


def test_gdf_gcj_refuses_projected():
    with pytest.raises(CRSError, match="needs longitude/latitude"):
        gdf_gcj02_to_wgs84(to_working(_frame()))


def test_gdf_gcj_refuses_metres_without_label():
    g = gpd.GeoDataFrame(geometry=[shapely.Point(560_000, 3_070_000)])
    with pytest.raises(CRSError, match="not longitude/latitude"):
        gdf_gcj02_to_wgs84(g)
