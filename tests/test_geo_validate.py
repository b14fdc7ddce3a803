"""geo.validate: one shared catalogue of bad geometries with exact expected answers."""
import json
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.errors import InvalidGeometryError, MissingCRSError
from geo.io import UNCLOSED_RINGS_ATTR, read_vector
from geo.validate import PROBLEMS, problem_counts, validate_geometries

CRS = "EPSG:4549"
X0, Y0 = 560_000.0, 3_070_000.0  # inside Ruian in EPSG:4549


def at(wkt: str):
    """A WKT geometry shifted to Ruian (coordinates in the WKT are metres from X0, Y0)."""
    g = shapely.from_wkt(wkt)
    return shapely.transform(g, lambda c: c + np.array([X0, Y0, 0.0][: c.shape[1]]), include_z=None)


def square(size=10.0):
    return shapely.box(X0, Y0, X0 + size, Y0 + size)


def with_coord(x, y):
    """A triangle with one non-finite coordinate."""
    with np.errstate(invalid="ignore"):  # shapely's ufunc reports the NaN we put there on purpose
        return shapely.Polygon([(X0, Y0), (X0 + 1, Y0), (x, y), (X0, Y0)])


# name: (geometry, problem code, reason substring, area_before, area_after with fix, repaired)
CATALOGUE = {
    "valid": (square(), "", "", 100.0, 100.0, False),
    "bow_tie": (at("POLYGON((0 0,2 2,2 0,0 2,0 0))"), "invalid", "Self-intersection", 0.0, 2.0, True),
    "ring_self_intersection": (at("POLYGON((0 0,4 0,4 4,2 0,0 4,0 0))"), "invalid", "Ring Self-intersection",
                               None, None, True),
    # GEOS' structure method takes holes by symmetric difference: a hole outside the shell
    # becomes its own polygon (100 + 1 m²).
    "hole_outside_shell": (at("POLYGON((0 0,10 0,10 10,0 10,0 0),(20 20,21 20,21 21,20 21,20 20))"), "invalid",
                           "Hole lies outside shell", 99.0, 101.0, True),
    "ring_under_4_points": (at("POLYGON((0 0,1 0,0 0))"), "invalid", "Too few points", 0.0, 0.0, True),
    "nan_coordinate": (with_coord(np.nan, Y0 + 1), "non_finite", "NaN or infinite", np.nan, np.nan, False),
    "inf_coordinate": (with_coord(np.inf, Y0 + 1), "non_finite", "NaN or infinite", np.nan, np.nan, False),
    "huge_coordinates": (shapely.box(1e15, 1e15, 1e15 + 10, 1e15 + 10), "outside_china", "outside lon 73",
                         100.0, 100.0, False),
    "empty": (shapely.from_wkt("POLYGON EMPTY"), "empty", "no coordinates", 0.0, 0.0, False),
    "null": (None, "null", "no geometry", np.nan, np.nan, False),
    "z": (at("POLYGON Z((0 0 5,10 0 5,10 10 5,0 10 5,0 0 5))"), "z_m", "Z or M", 100.0, 100.0, True),
    # shapely.transform would drop M, so the M polygon is written at its final coordinates.
    "m": (shapely.from_wkt(f"POLYGON M(({X0} {Y0} 5,{X0 + 10} {Y0} 5,{X0 + 10} {Y0 + 10} 5,{X0} {Y0 + 10} 5,"
                           f"{X0} {Y0} 5))"), "z_m", "Z or M", 100.0, 100.0, True),
    "line_in_polygon_layer": (at("LINESTRING(0 0,5 5)"), "mixed_types",
                              "layer holds Polygon 2, LineString 1", 0.0, 0.0, False),
}


def layer(geom, index=("a", "b", "c")):
    """Two valid squares and the case under test, on a non-default index."""
    return gpd.GeoDataFrame({"v": [1, 2, 3]}, geometry=[square(), square(20.0), geom], index=list(index), crs=CRS)


@pytest.mark.parametrize("case", list(CATALOGUE))
def test_catalogue_report(case):
    geom, code, reason, before, _after, _rep = CATALOGUE[case]
    gdf = layer(geom)
    if code == "":
        out, rep = validate_geometries(gdf)
        assert out is gdf
    else:
        with pytest.raises(InvalidGeometryError):
            validate_geometries(gdf, name="plots.shp")
        out, rep = validate_geometries(gdf, on_invalid="fix")
    assert list(rep.index) == ["a", "b", "c"]
    assert list(rep.columns) == ["problem", "reason", "geom_type", "repaired", "area_before", "area_after",
                                 "area_change"]
    assert rep.loc["c", "problem"] == code
    assert reason in rep.loc["c", "reason"]
    assert (rep.loc[["a", "b"], "problem"] == "").all()
    if before is not None:
        np.testing.assert_equal(rep.loc["c", "area_before"], before)


@pytest.mark.parametrize("case", [c for c in CATALOGUE if CATALOGUE[c][1]])
def test_catalogue_fix(case):
    geom, code, _reason, before, after, repaired = CATALOGUE[case]
    gdf = layer(geom)
    out, rep = validate_geometries(gdf, on_invalid="fix")
    assert isinstance(out, gpd.GeoDataFrame) and out.crs == gdf.crs
    assert list(out.index) == ["a", "b", "c"] and list(out.columns) == ["v", "geometry"]
    assert bool(rep.loc["c", "repaired"]) is repaired
    if after is not None:
        np.testing.assert_allclose(rep.loc["c", "area_after"], after)
        np.testing.assert_allclose(rep.loc["c", "area_change"], after - before)
    g = out.geometry.loc["c"]
    if repaired:
        assert shapely.is_valid(g) and not shapely.has_z(g) and not shapely.has_m(g)
    # the clean rows are untouched
    assert out.geometry.loc["a"].equals(square())


def test_collapsed_ring_reports_empty_result():
    _out, rep = validate_geometries(layer(CATALOGUE["ring_under_4_points"][0]), on_invalid="fix")
    assert "collapsed it to an empty geometry" in rep.loc["c", "reason"]


def test_bow_tie_repair_is_two_triangles():
    out, _ = validate_geometries(layer(CATALOGUE["bow_tie"][0]), on_invalid="fix")
    g = out.geometry.loc["c"]
    assert g.geom_type == "MultiPolygon" and len(g.geoms) == 2
    assert sorted(p.area for p in g.geoms) == [1.0, 1.0]


def test_raise_collects_every_problem_once():
    geoms = [square(), CATALOGUE["bow_tie"][0], None, CATALOGUE["bow_tie"][0], CATALOGUE["z"][0],
             CATALOGUE["nan_coordinate"][0], shapely.box(0, 0, 1, 1)]
    gdf = gpd.GeoDataFrame({"v": range(7)}, geometry=geoms, index=[10, 11, 12, 13, 14, 15, 16], crs=CRS)
    with pytest.raises(InvalidGeometryError) as exc:
        validate_geometries(gdf, name="plots.shp")
    msg = exc.value.message
    assert msg.startswith("plots.shp: 6 of 7 features have geometry problems")
    assert "invalid: 2 (rows 11, 13, e.g. Self-intersection" in msg
    assert "null: 1 (rows 12)" in msg
    assert "z_m: 1 (rows 14)" in msg
    assert "non_finite: 1 (rows 15)" in msg
    assert "outside_china: 1 (rows 16)" in msg
    assert "on_invalid='fix'" in msg
    assert "plots.shp" in exc.value.message_zh and "几何无效:2 个" in exc.value.message_zh
    assert [d["row"] for d in exc.value.details] == [11, 12, 13, 14, 15, 16]


def test_many_rows_are_abbreviated():
    gdf = gpd.GeoDataFrame(geometry=[None] * 25, crs=CRS)
    with pytest.raises(InvalidGeometryError, match=r"null: 25 \(rows 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, … \(\+15\)\)"):
        validate_geometries(gdf)


def test_warn_once():
    gdf = layer(None)
    gdf.loc["a", "geometry"] = CATALOGUE["bow_tie"][0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out, rep = validate_geometries(gdf, on_invalid="warn", name="parks")
    assert len(caught) == 1 and issubclass(caught[0].category, UserWarning)
    assert str(caught[0].message).startswith("parks: 2 of 3 features")
    assert out is gdf
    assert problem_counts(rep) == {"null": 1, "invalid": 1}


def test_clean_layer_returns_input_and_empty_problems():
    gdf = layer(square(5.0))
    out, rep = validate_geometries(gdf, on_invalid="raise")
    assert out is gdf
    assert (rep["problem"] == "").all() and not rep["repaired"].any()
    np.testing.assert_allclose(rep["area_change"], 0.0)
    assert problem_counts(rep) == {}


def test_mixed_types_point_and_line_counts():
    gdf = gpd.GeoDataFrame(geometry=[square(), square(3), square(4), at("POINT(1 1)"), at("LINESTRING(0 0,1 1)")],
                           crs=CRS)
    with pytest.raises(InvalidGeometryError, match=r"mixed_types: 2 \(rows 3, 4; the layer holds Polygon 3, "
                                                   r"Point 1, LineString 1\)"):
        validate_geometries(gdf)


def test_multipolygon_and_polygon_are_not_mixed():
    gdf = gpd.GeoDataFrame(geometry=[square(), shapely.MultiPolygon([square(2)])], crs=CRS)
    _, rep = validate_geometries(gdf)
    assert (rep["problem"] == "").all()


def test_outside_china_in_geographic_crs():
    gdf = gpd.GeoDataFrame(geometry=[shapely.Point(120.6, 27.8), shapely.Point(2.35, 48.85),
                                     shapely.Point(27.8, 120.6)], crs="EPSG:4326")
    _, rep = validate_geometries(gdf, on_invalid="fix")
    assert rep["problem"].tolist() == ["", "outside_china", "outside_china"]
    assert rep["repaired"].tolist() == [False, False, False]


def test_missing_crs_needs_china_bounds_off():
    gdf = layer(square()).set_crs(None, allow_override=True)
    with pytest.raises(MissingCRSError, match="plots: .*no CRS"):
        validate_geometries(gdf, name="plots")
    _, rep = validate_geometries(gdf, china_bounds=False)
    assert (rep["problem"] == "").all()


def test_several_problems_on_one_feature():
    g = at("POLYGON Z((0 0 1,2 2 1,2 0 1,0 2 1,0 0 1))")  # bow-tie with Z
    out, rep = validate_geometries(layer(g), on_invalid="fix")
    assert rep.loc["c", "problem"] == "invalid;z_m"
    assert rep.loc["c", "repaired"]
    assert not shapely.has_z(out.geometry.loc["c"]) and out.geometry.loc["c"].area == pytest.approx(2.0)


def test_unrepairable_and_repairable_mixed():
    g = shapely.Polygon([(1e15, 1e15), (1e15 + 2, 1e15 + 2), (1e15 + 2, 1e15), (1e15, 1e15 + 2)])
    _, rep = validate_geometries(layer(g), on_invalid="fix")
    assert rep.loc["c", "problem"] == "invalid;outside_china"
    assert not rep.loc["c", "repaired"]


def test_empty_frame():
    gdf = gpd.GeoDataFrame(geometry=[], crs=CRS)
    out, rep = validate_geometries(gdf)
    assert len(out) == 0 and len(rep) == 0


def test_bad_option_lists_choices():
    with pytest.raises(ValueError, match=r"\('raise', 'warn', 'fix'\)"):
        validate_geometries(layer(square()), on_invalid="repair")


def test_problem_order_is_documented():
    assert PROBLEMS == ("null", "empty", "non_finite", "unclosed_ring", "invalid", "z_m", "outside_china",
                        "mixed_types")


# ---------------------------------------------------------------- unclosed rings (need a file: shapely refuses them)
def test_shapely_refuses_unclosed_ring():
    with pytest.raises(shapely.errors.GEOSException, match="closed"):
        shapely.from_wkt("POLYGON((0 0,1 0,1 1,0 1))")


def test_unclosed_ring_from_file_is_reported_and_fixed(tmp_path):
    ring_open = [[120.60, 27.70], [120.61, 27.70], [120.61, 27.71], [120.60, 27.71]]
    ring_closed = ring_open + [ring_open[0]]
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"n": 1}, "geometry": {"type": "Polygon", "coordinates": [ring_closed]}},
        {"type": "Feature", "properties": {"n": 2}, "geometry": {"type": "Polygon", "coordinates": [ring_open]}},
    ]}
    path = tmp_path / "open.geojson"
    path.write_text(json.dumps(fc))
    gdf = read_vector(path)
    assert gdf.attrs[UNCLOSED_RINGS_ATTR] == [1]
    assert gdf["n"].tolist() == [1, 2]
    assert gdf.geometry.iloc[1].equals(gdf.geometry.iloc[0])  # closed on read
    with pytest.raises(InvalidGeometryError, match=r"open.geojson: 1 of 2 .*unclosed_ring: 1 \(rows 1\)"):
        validate_geometries(gdf, name="open.geojson")
    out, rep = validate_geometries(gdf, on_invalid="fix")
    assert rep["problem"].tolist() == ["", "unclosed_ring"] and rep["repaired"].tolist() == [False, True]
    assert UNCLOSED_RINGS_ATTR not in out.attrs


def test_report_dtypes():
    _, rep = validate_geometries(layer(None), on_invalid="fix")
    assert rep["repaired"].dtype == bool
    assert pd.api.types.is_float_dtype(rep["area_change"])
