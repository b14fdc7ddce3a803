"""geo.web: display copies, viewport filtering, compact GeoJSON."""
import json

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import CRS

from geo.errors import CRSError, MissingCRSError
from geo.web import display_copy, to_geojson_bytes, viewport_filter

X0, Y0 = 560_000.0, 3_070_000.0
WORK = "EPSG:4549"


def notched_square(offset_m):
    """A 100 m square whose top edge has a middle vertex ``offset_m`` above the line."""
    return shapely.Polygon([(X0, Y0), (X0 + 100, Y0), (X0 + 100, Y0 + 100), (X0 + 50, Y0 + 100 + offset_m),
                            (X0, Y0 + 100)])


def frame(geoms, crs=WORK, **cols):
    return gpd.GeoDataFrame(cols or {"v": list(range(len(geoms)))}, geometry=geoms,
                            index=[f"f{i}" for i in range(len(geoms))], crs=crs)


def n_coords(g):
    return len(shapely.get_coordinates(g))


def test_display_copy_crs_index_columns():
    g = frame([notched_square(0.5), shapely.Point(X0, Y0)], name=["甲", "乙"])
    d = display_copy(g)
    assert d.crs == CRS.from_epsg(4326)
    assert list(d.index) == ["f0", "f1"] and list(d.columns) == ["name", "geometry"]
    assert g.crs == CRS.from_user_input(WORK)  # input untouched


@pytest.mark.parametrize("tolerance, expected_vertices", [(1.0, 5), (0.1, 6), (0.0, 6)])
def test_simplify_in_metres(tolerance, expected_vertices):
    d = display_copy(frame([notched_square(0.5)]), tolerance_m=tolerance)
    assert n_coords(d.geometry.iloc[0]) == expected_vertices  # ring repeats its first point


def test_simplify_in_metres_for_geographic_input():
    g = frame([notched_square(0.5)]).to_crs(4326)
    assert n_coords(display_copy(g, tolerance_m=1.0).geometry.iloc[0]) == 5
    assert n_coords(display_copy(g, tolerance_m=0.1).geometry.iloc[0]) == 6


def test_tiny_polygon_never_vanishes():
    tiny = shapely.box(X0, Y0, X0 + 2, Y0 + 2)
    d = display_copy(frame([tiny]), tolerance_m=5.0)
    g = d.geometry.iloc[0]
    assert not g.is_empty and g.is_valid and g.area > 0


@pytest.mark.parametrize("decimals", [6, 4])
def test_quantized_to_decimals(decimals):
    d = display_copy(frame([notched_square(3.0)]), tolerance_m=0.0, decimals=decimals)
    xy = shapely.get_coordinates(d.geometry.values)
    np.testing.assert_array_equal(xy, np.round(xy, decimals))
    # 6 decimals ≈ 0.1 m: the quantized copy stays within 0.15 m of the exact one
    if decimals == 6:
        exact = shapely.get_coordinates(frame([notched_square(3.0)]).to_crs(4326).geometry.values)
        assert np.abs(xy - exact).max() <= 0.5e-6 + 1e-12


def test_display_copy_needs_crs():
    with pytest.raises(MissingCRSError, match="plots: .*no CRS"):
        display_copy(frame([notched_square(0)], crs=None), name="plots")


def test_negative_tolerance():
    with pytest.raises(ValueError, match="tolerance_m"):
        display_copy(frame([notched_square(0)]), tolerance_m=-1)


def test_viewport_filter_uses_index_and_keeps_order():
    boxes = [shapely.box(120.0 + i * 0.1, 27.0, 120.05 + i * 0.1, 27.05) for i in range(5)]
    g = frame(boxes, crs="EPSG:4326")
    out = viewport_filter(g, (120.22, 26.9, 120.42, 27.1))
    assert list(out.index) == ["f2", "f3", "f4"]
    assert viewport_filter(g, (0, 0, 1, 1)).empty


def test_viewport_filter_bad_bounds():
    with pytest.raises(ValueError, match="west ≤ east"):
        viewport_filter(frame([shapely.Point(0, 0)], crs="EPSG:4326"), (1, 0, 0, 1))


def test_geojson_compact_and_valid():
    g = frame([shapely.Point(120.507123, 27.742416), None, shapely.Polygon()], crs="EPSG:4326",
              name=["瑞安 <b>", "a/b", "x"], value=[1.5, np.nan, 3.0])
    raw = to_geojson_bytes(g)
    assert isinstance(raw, bytes)
    doc = json.loads(raw)
    assert doc["type"] == "FeatureCollection" and len(doc["features"]) == 3
    f0, f1, f2 = doc["features"]
    assert f0["properties"] == {"name": "瑞安 <b>", "value": 1.5}
    assert f0["geometry"] == {"type": "Point", "coordinates": [120.507123, 27.742416]}
    assert f1["properties"]["value"] is None and f1["geometry"] is None
    assert f2["geometry"] is None
    assert b", " not in raw and b"\n" not in raw and b": " not in raw
    assert "瑞安".encode() in raw  # UTF-8, not \\u escapes


def test_geojson_reprints_long_floats():
    # GEOS writes this rounded coordinate as 120.50712300000001
    d = display_copy(frame([shapely.box(550000, 3070000, 550100, 3070100)]), tolerance_m=0)
    raw = to_geojson_bytes(d)
    assert not any(len(tok.split(".")[-1]) > 6 for tok in raw.decode().replace("]", ",").replace("[", ",").split(",")
                   if tok.replace(".", "").replace("-", "").isdigit())
    raw_long = to_geojson_bytes(d, decimals=None)
    assert len(raw_long) >= len(raw)


def test_geojson_column_selection():
    g = frame([shapely.Point(120.5, 27.7)], crs="EPSG:4326", a=[1], b=["x"])
    assert json.loads(to_geojson_bytes(g, ["b"]))["features"][0]["properties"] == {"b": "x"}
    assert json.loads(to_geojson_bytes(g, []))["features"][0]["properties"] == {}
    with pytest.raises(KeyError, match="not in the frame"):
        to_geojson_bytes(g, ["nope"])


def test_geojson_refuses_projected():
    with pytest.raises(CRSError, match="display_copy"):
        to_geojson_bytes(frame([notched_square(0)]))


def test_geojson_empty_frame():
    g = frame([], crs="EPSG:4326")
    assert json.loads(to_geojson_bytes(g)) == {"type": "FeatureCollection", "features": []}
