"""Tiny synthetic frames for the analysis tests (EPSG:4549, metres, hand-checkable)."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import LineString, Point, box

from geo.units import M2_PER_MU

CRS = "EPSG:4549"
X0, Y0 = 500_000.0, 3_080_000.0


def firm(code: str, **kw) -> dict:
    """One enterprise row with sensible defaults (规上, producing, land holder, 10 亩)."""
    row = dict(credit_code=code, name=f"firm {code}", industry_code="3670", above_scale=True, is_land_holder=True,
               land_holder=None, plot_id=None, land_area_m2=10 * M2_PER_MU, tax_10k=300.0, value_added_10k=1500.0,
               revenue_10k=3000.0, employees=100, energy_tce=500.0, electricity_10k_kwh=800.0, emissions_t=0.3,
               rd_10k=60.0, year=2025, producing=True, major_incident=False, township_code="330381001")
    row.update(kw)
    return row


def firms(rows: list[dict]) -> gpd.GeoDataFrame:
    df = pd.DataFrame(rows)
    for col in ("credit_code", "name", "industry_code", "land_holder", "plot_id", "township_code"):
        df[col] = df[col].astype("string")
    for col in ("above_scale", "is_land_holder", "producing", "major_incident"):
        df[col] = df[col].astype("boolean")
    df["employees"] = pd.to_numeric(df["employees"]).astype("Int64")
    pts = [Point(X0 + 10 * i, Y0) for i in range(len(df))]
    return gpd.GeoDataFrame(df, geometry=pts, crs=CRS)


def empty_firms() -> gpd.GeoDataFrame:
    return firms([firm("X")]).iloc[:0]


def plot(pid: str, x: float, y: float, w: float = 100.0, h: float = 100.0, **kw) -> dict:
    """A rectangular plot at (x, y) offsets in metres from the origin; 100 × 100 m = 15 亩."""
    row = dict(plot_id=pid, land_use="0601", status="in_use", far=1.2, building_coverage=0.45, floor_area_m2=None,
               halted_since=None, contract_completion_date=None, completion_date=pd.Timestamp("2015-01-01"),
               land_holder=None, industry_code="3670", township_code="330381001", park_id=None,
               geometry=box(X0 + x, Y0 + y, X0 + x + w, Y0 + y + h))
    row.update(kw)
    return row


def plots(rows: list[dict]) -> gpd.GeoDataFrame:
    df = pd.DataFrame(rows)
    gdf = gpd.GeoDataFrame(df, geometry="geometry", crs=CRS)
    gdf["area_m2"] = gdf.geometry.area
    gdf["floor_area_m2"] = pd.to_numeric(gdf["floor_area_m2"]).fillna(gdf["far"] * gdf["area_m2"])
    for col in ("halted_since", "contract_completion_date", "completion_date"):
        gdf[col] = pd.to_datetime(gdf[col])
    for col in ("plot_id", "land_use", "status", "land_holder", "industry_code", "township_code", "park_id"):
        gdf[col] = gdf[col].astype("string")
    return gdf


def parks(rows: list[tuple]) -> gpd.GeoDataFrame:
    """rows: (park_id, park_kind, allows_polluting, x0, y0, x1, y1) in offsets (m)."""
    return gpd.GeoDataFrame(
        {"park_id": pd.Series([r[0] for r in rows], dtype="string"), "park_kind": [r[1] for r in rows],
         "allows_polluting": np.array([r[2] for r in rows], dtype=bool)},
        geometry=[box(X0 + r[3], Y0 + r[4], X0 + r[5], Y0 + r[6]) for r in rows], crs=CRS)


def infrastructure(rows: list[tuple]) -> gpd.GeoDataFrame:
    """rows: (feature_id, kind, geometry in offsets: ((x, y), ...) line or (x, y) point)."""
    geoms = []
    for _, _, g in rows:
        if isinstance(g[0], tuple):
            geoms.append(LineString([(X0 + x, Y0 + y) for x, y in g]))
        else:
            geoms.append(Point(X0 + g[0], Y0 + g[1]))
    return gpd.GeoDataFrame({"feature_id": [r[0] for r in rows], "kind": [r[1] for r in rows]}, geometry=geoms, crs=CRS)


def constraints(rows: list[tuple]) -> gpd.GeoDataFrame:
    """rows: (constraint_id, kind, x0, y0, x1, y1) offsets (m)."""
    return gpd.GeoDataFrame({"constraint_id": [r[0] for r in rows], "kind": [r[1] for r in rows]},
                            geometry=[box(X0 + r[2], Y0 + r[3], X0 + r[4], Y0 + r[5]) for r in rows], crs=CRS)
