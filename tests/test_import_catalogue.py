"""The bad-input catalogue: every way a planner's file can be wrong, each with its clear message.

Each case builds a small file in ``tmp_path``, runs :func:`layers.importers.plan_import`
against a copy of the sample workspace and expects either one error (type and message:
what was received, where, how to fix it — in English and Chinese) or a per-row report
naming the problem, the rows and the fix.  Whatever happens, the workspace file is
byte-identical afterwards (its SHA-256 is compared), also after a commit with
``on_problems="cancel"``.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geo.errors import CRSError, ImportDataError, MissingCRSError, PlannerError, SchemaError, UnsafeInputError
from layers.access import SYSTEM
from layers.importers import ImportLimits, commit_import, plan_import
from layers.store import open_workspace
from tests.office_files import xlsx

X0, Y0 = 560_000.0, 3_070_000.0  # inside Ruian in EPSG:4549 (CGCS2000 3° GK, CM 120°E)
SECRET = "TOP-SECRET-7f3a9"


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def ws(tmp_path_factory, sample_path):
    path = tmp_path_factory.mktemp("ws") / "ws.gpkg"
    shutil.copyfile(sample_path, path)
    shutil.copytree(sample_path.with_name(sample_path.name + ".rasters"), path.with_name(path.name + ".rasters"))
    return open_workspace(path, readonly=False)


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def geojson(features, crs: str | None = "EPSG:4549") -> str:
    doc = {"type": "FeatureCollection", "features": features}
    if crs:
        doc["crs"] = {"type": "name", "properties": {"name": f"urn:ogc:def:crs:{crs.replace(':', '::')}"}}
    return json.dumps(doc, ensure_ascii=False, allow_nan=True)


def plot_feature(i: int, geometry, **props) -> dict:
    base = {"地块编号": f"T{i:03d}", "用地分类": "0601", "利用状态": "在用"}
    base.update(props)
    return {"type": "Feature", "properties": base, "geometry": geometry}


def square(x: float, y: float, size: float = 50.0) -> dict:
    return {"type": "Polygon", "coordinates": [[[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]]}


def good(i: int) -> dict:
    return plot_feature(i, square(X0 + 100 * i, Y0))


def write(tmp_path: Path, name: str, content) -> Path:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content, encoding="utf-8")
    return p


def plots_gdf(n: int = 3, crs: str = "EPSG:4549", dx: float = 0.0) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"地块编号": [f"S{i:03d}" for i in range(n)], "用地分类": ["0601"] * n, "利用状态": ["在用"] * n,
         "权利人": ["瑞安市甲乙机械有限公司"] * n},
        geometry=[shapely.box(X0 + dx + 100 * i, Y0, X0 + dx + 100 * i + 50, Y0 + 50) for i in range(n)], crs=crs)


def shapefile_zip(tmp_path: Path, gdf: gpd.GeoDataFrame, *, drop=(), encoding="GB18030", name="plots") -> Path:
    folder = tmp_path / "shp"
    folder.mkdir(exist_ok=True)
    gdf.to_file(folder / f"{name}.shp", encoding=encoding)
    out = tmp_path / f"{name}.zip"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.iterdir()):
            if f.suffix.lower() not in drop:
                zf.write(f, f"{name}/{f.name}")
    return out


def vrt_text(tmp_path: Path) -> str:
    secret = tmp_path / "secret.csv"
    secret.write_text(f"id,WKT,note\n1,POINT (560000 3070000),{SECRET}\n")
    return (f'<OGRVRTDataSource><OGRVRTLayer name="secret"><SrcDataSource>{secret}</SrcDataSource>'
            f"</OGRVRTLayer></OGRVRTDataSource>")


def xlsx_bytes(rows: list[list], merges: tuple[str, ...] = (), text_cols: tuple[int, ...] = ()) -> bytes:
    return xlsx(rows, merges, text_cols=text_cols)


def tif(tmp_path: Path, name: str, *, georef: bool) -> Path:
    import rasterio
    from rasterio.transform import from_origin

    p = tmp_path / name
    profile = {"driver": "GTiff", "width": 10, "height": 10, "count": 1, "dtype": "float32"}
    if georef:
        profile.update(crs="EPSG:4549", transform=from_origin(X0, Y0 + 100, 10, 10))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NotGeoreferencedWarning: that is the point of this file
        with rasterio.open(p, "w", **profile) as dst:
            dst.write(np.ones((1, 10, 10), dtype="float32"))
    return p


# Valid credit codes from the sample (check characters right), for table cases.
def codes(ws, n=3) -> list[str]:
    return ws.read("enterprises", columns=["credit_code"])["credit_code"].head(n).tolist()


# ----------------------------------------------------------------------------- the catalogue
# Each builder: (tmp_path, ws) -> (path, plan_import kwargs).  Expectation: ("raises", type, regex);
# ("blocked", type, regex): the preview is complete (the mapping step can show every column) but
# the commit raises; or ("report", {codes}, regex on the English summary, regex on the Chinese summary).
CASES: dict[str, tuple] = {}


def case(name, expect):
    def deco(builder):
        CASES[name] = (builder, expect)
        return builder
    return deco


# --- geometry -------------------------------------------------------------------------
@case("bow_tie", ("report", {"invalid"}, r"Self-intersection.*rows?\)?.*2.*make_valid", r"几何无效"))
def _(tmp, ws):
    bow = {"type": "Polygon", "coordinates": [[[X0, Y0], [X0 + 50, Y0 + 50], [X0 + 50, Y0], [X0, Y0 + 50], [X0, Y0]]]}
    return write(tmp, "bow.geojson", geojson([good(0), plot_feature(1, bow)])), {"layer": "plots"}


@case("unclosed_ring", ("report", {"unclosed_ring"}, r"ring does not end on its first point.*closes the ring", r"环未闭合"))
def _(tmp, ws):
    ring = {"type": "Polygon", "coordinates": [[[X0, Y0], [X0 + 50, Y0], [X0 + 50, Y0 + 50], [X0, Y0 + 50]]]}
    return write(tmp, "open.geojson", geojson([good(0), plot_feature(1, ring)])), {"layer": "plots"}


@case("ring_under_4_points", ("report", {"invalid"}, r"Too few points", r"几何无效"))
def _(tmp, ws):
    csv = f'地块编号,用地分类,利用状态,WKT\nA,0601,在用,"POLYGON(({X0} {Y0}, {X0 + 50} {Y0}, {X0} {Y0}))"\n' \
          f'B,0601,在用,"POLYGON(({X0} {Y0}, {X0 + 9} {Y0}, {X0 + 9} {Y0 + 9}, {X0} {Y0}))"\n'
    return write(tmp, "tri.csv", csv), {"layer": "plots", "crs": "EPSG:4549"}


@case("nan_coordinates", ("report", {"non_finite"}, r"NaN or infinite coordinate.*\(1 row\(s\): 3\)", r"NaN 或无穷"))
def _(tmp, ws):
    csv = f'地块编号,用地分类,利用状态,WKT\nA,0601,在用,"POLYGON(({X0} {Y0}, {X0 + 50} {Y0}, {X0 + 50} {Y0 + 50}, {X0} {Y0}))"\n' \
          f'B,0601,在用,"POLYGON(({X0} {Y0}, nan {Y0}, {X0 + 50} {Y0 + 50}, {X0} {Y0}))"\n'
    return write(tmp, "nan.csv", csv), {"layer": "plots", "crs": "EPSG:4549"}


@case("inf_coordinates", ("report", {"non_finite"}, r"NaN or infinite", r"无穷"))
def _(tmp, ws):
    csv = f'地块编号,用地分类,利用状态,WKT\nA,0601,在用,"POLYGON(({X0} {Y0}, {X0 + 50} {Y0}, {X0 + 50} {Y0 + 50}, {X0} {Y0}))"\n' \
          f'B,0601,在用,"POLYGON(({X0} {Y0}, inf {Y0}, {X0 + 50} {Y0 + 50}, {X0} {Y0}))"\n'
    return write(tmp, "inf.csv", csv), {"layer": "plots", "crs": "EPSG:4549"}


@case("huge_coordinates", ("report", {"outside_china"}, r"outside China .*3\)", r"中国范围之外"))
def _(tmp, ws):
    huge = square(4.0e9, 7.0e9)
    return write(tmp, "huge.geojson", geojson([good(0), good(1), plot_feature(2, huge)])), {"layer": "plots"}


@case("empty_geometry", ("report", {"empty"}, r"empty geometry \(1 row\(s\): 3\).*leave it out", r"几何为空"))
def _(tmp, ws):
    csv = f'地块编号,用地分类,利用状态,WKT\nA,0601,在用,"POLYGON(({X0} {Y0}, {X0 + 50} {Y0}, {X0 + 50} {Y0 + 50}, {X0} {Y0}))"\n' \
          f'B,0601,在用,POLYGON EMPTY\n'
    return write(tmp, "empty.csv", csv), {"layer": "plots", "crs": "EPSG:4549"}


@case("null_geometry", ("report", {"null"}, r"no geometry.*\(1 row\(s\): 2\)", r"没有几何"))
def _(tmp, ws):
    return write(tmp, "null.geojson", geojson([good(0), plot_feature(1, None)])), {"layer": "plots"}


@case("unreadable_wkt", ("report", {"null"}, r"WKT.*cannot be read as a geometry", r"无法解析为几何"))
def _(tmp, ws):
    csv = f'地块编号,用地分类,利用状态,WKT\nA,0601,在用,"POLYGON(({X0} {Y0}, {X0 + 50} {Y0}, {X0 + 50} {Y0 + 50}, {X0} {Y0}))"\n' \
          'B,0601,在用,POLYGON((oops))\n'
    return write(tmp, "badwkt.csv", csv), {"layer": "plots", "crs": "EPSG:4549"}


@case("mixed_types", ("report", {"geometry_type"}, r"Point where plots holds MultiPolygon", r"应为 MultiPolygon"))
def _(tmp, ws):
    pt = {"type": "Point", "coordinates": [X0, Y0]}
    return write(tmp, "mixed.geojson", geojson([good(0), plot_feature(1, pt)])), {"layer": "plots"}


@case("z_m_values", ("report", {"z_m"}, r"Z/M values.*drops the Z/M", r"含 Z/M"))
def _(tmp, ws):
    z = {"type": "Polygon", "coordinates": [[[X0, Y0, 5], [X0 + 50, Y0, 5], [X0 + 50, Y0 + 50, 5], [X0, Y0, 5]]]}
    return write(tmp, "z.geojson", geojson([good(0), plot_feature(1, z)])), {"layer": "plots"}


@case("hole_outside_shell", ("report", {"invalid"}, r"Hole lies outside shell", r"几何无效"))
def _(tmp, ws):
    holed = {"type": "Polygon", "coordinates": [square(X0, Y0)["coordinates"][0],
                                                square(X0 + 500, Y0 + 500, 10)["coordinates"][0]]}
    return write(tmp, "hole.geojson", geojson([plot_feature(0, holed)])), {"layer": "plots"}


# --- Shapefile and files --------------------------------------------------------------------
@case("shapefile_without_shx", ("raises", ImportDataError, r"plots\.shp: the Shapefile is incomplete: \.shx .* missing.*upload .shp, .shx, .dbf"))
def _(tmp, ws):
    return shapefile_zip(tmp, plots_gdf(), drop=(".shx",)), {"layer": "plots"}


@case("shapefile_without_dbf", ("raises", ImportDataError, r"incomplete: \.dbf \(the attribute table\) is missing"))
def _(tmp, ws):
    return shapefile_zip(tmp, plots_gdf(), drop=(".dbf",)), {"layer": "plots"}


@case("shapefile_without_prj", ("raises", MissingCRSError, r"plots\.shp: the data has no CRS.*never guesses.*EPSG:4549.*--crs"))
def _(tmp, ws):
    return shapefile_zip(tmp, plots_gdf(), drop=(".prj",)), {"layer": "plots"}


@case("loose_shp_without_dbf", ("raises", ImportDataError, r"\.dbf \(the attribute table\) is missing"))
def _(tmp, ws):
    folder = tmp / "loose"
    folder.mkdir()
    plots_gdf().to_file(folder / "p.shp", encoding="GB18030")  # UTF-8 would cut 4-character names at 10 bytes
    (folder / "p.dbf").unlink()
    return folder / "p.shp", {"layer": "plots"}


@case("truncated_shp", ("raises", ImportDataError, r"p\.shp: cannot be read as shapefile.*truncated"))
def _(tmp, ws):
    folder = tmp / "trunc"
    folder.mkdir()
    plots_gdf().to_file(folder / "p.shp", encoding="GB18030")
    data = (folder / "p.shp").read_bytes()
    (folder / "p.shp").write_bytes(data[:60])
    return folder / "p.shp", {"layer": "plots"}


@case("truncated_zip", ("raises", ImportDataError, r"plots\.zip: not a readable zip archive.*truncated"))
def _(tmp, ws):
    z = shapefile_zip(tmp, plots_gdf())
    z.write_bytes(z.read_bytes()[: len(z.read_bytes()) // 2])
    return z, {"layer": "plots"}


@case("truncated_gpkg", ("raises", (ImportDataError, UnsafeInputError), r"p\.gpkg: .*(cannot be read|something else)"))
def _(tmp, ws):
    p = tmp / "p.gpkg"
    plots_gdf().to_file(p, driver="GPKG")
    p.write_bytes(p.read_bytes()[:3000])
    return p, {"layer": "plots"}


@case("truncated_xlsx", ("raises", ImportDataError, r"t\.xlsx: not a valid \.xlsx workbook.*save as \.xlsx"))
def _(tmp, ws):
    data = xlsx_bytes([["统一社会信用代码", "税收(万元)"], ["x", 1]])
    return write(tmp, "t.xlsx", data[: len(data) // 2]), {"layer": "enterprises", "workspace": ws}


@case("truncated_geotiff", ("raises", (ImportDataError, UnsafeInputError), r"d\.tif: the GeoTIFF is truncated.*upload it again"))
def _(tmp, ws):
    p = tif(tmp, "d.tif", georef=True)
    p.write_bytes(p.read_bytes()[:200])
    return p, {"layer": "dem"}


@case("gpkg_renamed_geojson", ("raises", UnsafeInputError, r"x\.geojson: the extension says GeoJSON but the content is something else"))
def _(tmp, ws):
    p = tmp / "x.gpkg"
    plots_gdf().to_file(p, driver="GPKG")
    return write(tmp, "x.geojson", p.read_bytes()), {"layer": "plots"}


@case("unknown_extension", ("raises", ImportDataError, r"plots\.txt: extension '\.txt' is not an importable format.*Convert"))
def _(tmp, ws):
    return write(tmp, "plots.txt", "a,b\n1,2\n"), {"layer": "plots"}


@case("old_xls", ("raises", ImportDataError, r"tax\.xls: the old binary Excel format.*save as \.xlsx"))
def _(tmp, ws):
    return write(tmp, "tax.xls", b"\xd0\xcf\x11\xe0" + b"\x00" * 100), {"layer": "enterprises"}


@case("vrt_renamed_geojson", ("raises", UnsafeInputError, r"evil\.geojson: .*GDAL VRT.*not read"))
def _(tmp, ws):
    return write(tmp, "evil.geojson", vrt_text(tmp)), {"layer": "plots"}


@case("vrt_renamed_tif", ("raises", UnsafeInputError, r"evil\.tif: named \.tif but the content is GDAL VRT"))
def _(tmp, ws):
    return write(tmp, "evil.tif", vrt_text(tmp).replace("OGRVRTDataSource", "VRTDataset")), {"layer": "dem"}


@case("vrt_renamed_csv", ("raises", UnsafeInputError, r"evil\.csv: named \.csv but the content is XML.*GDAL VRT"))
def _(tmp, ws):
    return write(tmp, "evil.csv", vrt_text(tmp)), {"layer": "plots", "crs": "EPSG:4549"}


@case("vrt_in_zip", ("raises", UnsafeInputError, r"GDAL VRT.*not read"))
def _(tmp, ws):
    z = tmp / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("d/plots.geojson", vrt_text(tmp))
    return z, {"layer": "plots"}


@case("zip_bomb_ratio", ("raises", UnsafeInputError, r"bomb\.zip: member 'plots\.geojson' expands .*zip bomb"))
def _(tmp, ws):
    z = tmp / "bomb.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("plots.geojson", b" " * (40 * 1024 * 1024))
    return z, {"layer": "plots"}


@case("zip_total_size", ("raises", UnsafeInputError, r"big\.zip: the zip unpacks to .* more than the limit"))
def _(tmp, ws):
    z = tmp / "big.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("plots.geojson", geojson([good(0)]).encode() + b" " * 3_000_000)
    return z, {"layer": "plots", "limits": ImportLimits(max_uncompressed_bytes=1_000_000)}


@case("zip_member_count", ("raises", UnsafeInputError, r"many\.zip: the zip holds 1,201 members, more than the limit"))
def _(tmp, ws):
    z = tmp / "many.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("plots.geojson", geojson([good(0)]))
        for i in range(1200):
            zf.writestr(f"junk/{i}.txt", "")
    return z, {"layer": "plots"}


@case("zip_traversal", ("raises", UnsafeInputError, r"trav\.zip: member names that point outside the archive.*\.\./\.\./evil\.geojson.*nothing was extracted"))
def _(tmp, ws):
    z = tmp / "trav.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("../../evil.geojson", geojson([good(0)]))
    return z, {"layer": "plots"}


@case("zip_absolute_name", ("raises", UnsafeInputError, r"abs\.zip: member names that point outside.*'/tmp/plots\.geojson'"))
def _(tmp, ws):
    z = tmp / "abs.zip"
    with zipfile.ZipFile(z, "w") as zf:
        info = zipfile.ZipInfo("/tmp/plots.geojson")
        zf.writestr(info, geojson([good(0)]))
    return z, {"layer": "plots"}


@case("zip_several_datasets", ("raises", ImportDataError, r"two\.zip: the zip holds several datasets.*member="))
def _(tmp, ws):
    z = tmp / "two.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("a.geojson", geojson([good(0)]))
        zf.writestr("b.geojson", geojson([good(1)]))
    return z, {"layer": "plots"}


@case("upload_too_big", ("raises", UnsafeInputError, r"big\.geojson: .* MB is over the upload limit.*PLANNER_MAX_UPLOAD_MB"))
def _(tmp, ws):
    return write(tmp, "big.geojson", geojson([good(i) for i in range(50)])), \
        {"layer": "plots", "limits": ImportLimits(max_upload_bytes=2_000)}


@case("gpkg_several_layers", ("raises", ImportDataError, r"two\.gpkg: the GeoPackage holds 2 layers.*source_layer"))
def _(tmp, ws):
    p = tmp / "two.gpkg"
    plots_gdf().to_file(p, layer="a", driver="GPKG")
    plots_gdf().to_file(p, layer="b", driver="GPKG")
    return p, {"layer": "plots"}


# --- CRS ------------------------------------------------------------------------------------
@case("missing_crs_table", ("raises", MissingCRSError, r"xy\.csv: the data has no CRS.*EPSG:4549 \(CGCS2000 3° GK.*Declare the CRS"))
def _(tmp, ws):
    csv = f"地块编号,用地分类,利用状态,X,Y\nA,0601,在用,{X0},{Y0}\n"
    return write(tmp, "xy.csv", csv), {"layer": "plots", "mode": "replace"}


@case("missing_crs_lonlat", ("raises", MissingCRSError, r"ll\.csv: the data has no CRS.*EPSG:4490.*EPSG:4326.*GCJ-02"))
def _(tmp, ws):
    csv = "地块编号,用地分类,利用状态,经度,纬度\nA,0601,在用,120.62,27.78\n"
    return write(tmp, "ll.csv", csv), {"layer": "plots"}


@case("swapped_axes", ("raises", CRSError, r"sw\.geojson: x and y are swapped.*swap_axes=True.*--swap-axes"))
def _(tmp, ws):
    feats = [plot_feature(i, {"type": "Polygon", "coordinates": [[[y, x] for x, y in square(X0 + 100 * i, Y0)["coordinates"][0]]]})
             for i in range(2)]
    return write(tmp, "sw.geojson", geojson(feats)), {"layer": "plots"}


@case("wrong_zone_prefix", ("raises", CRSError, r"zone\.geojson: .*zone prefix.*EPSG:4528.*--crs EPSG:4528"))
def _(tmp, ws):
    feats = [plot_feature(i, square(40_000_000 + X0 + 100 * i, Y0)) for i in range(2)]
    return write(tmp, "zone.geojson", geojson(feats, crs="EPSG:4549")), {"layer": "plots"}


@case("metres_labelled_degrees", ("raises", CRSError, r"deg\.geojson: EPSG:4326 is geographic \(degrees\) but the coordinates .* are metres.*EPSG:4549"))
def _(tmp, ws):
    return write(tmp, "deg.geojson", geojson([good(0), good(1)], crs=None)), {"layer": "plots"}


@case("gcj02_on_projected", ("raises", CRSError, r"GCJ-02 conversion needs longitude/latitude"))
def _(tmp, ws):
    return write(tmp, "p.geojson", geojson([good(0)])), {"layer": "plots", "gcj02": True}


@case("unknown_crs_text", ("raises", CRSError, r"CRS 'EPSG:999999' is not understood"))
def _(tmp, ws):
    return write(tmp, "p.geojson", geojson([good(0)])), {"layer": "plots", "crs": "EPSG:999999"}


# --- tables -----------------------------------------------------------------------------------
@case("csv_gbk_bad_code", ("report", {"credit_code_check"}, r"91330381MA2XXXXX1X is not a valid unified social credit code.*\(1 row\(s\): 3\)", r"不是有效的统一社会信用代码"))
def _(tmp, ws):
    e = ws.read("enterprises", columns=["credit_code", "name"]).iloc[0]
    text = f"统一社会信用代码,企业名称,税收(万元)\n{e.credit_code},{e['name']},12.5\n91330381MA2XXXXX1X,瑞安市某厂,3\n"
    return write(tmp, "gbk.csv", text.encode("gb18030")), {"layer": "enterprises", "workspace": ws}


@case("excel_code_as_number", ("report", {"code_as_number"}, r"stored as a number, so the code's digits are lost.*format the column as text", r"精度已丢失"))
def _(tmp, ws):
    c = [x for x in ws.read("enterprises", columns=["credit_code"])["credit_code"] if x.isdigit()][0]
    return write(tmp, "num.xlsx", xlsx_bytes([["统一社会信用代码", "税收(万元)"], [float(c), 10.0]])), \
        {"layer": "enterprises", "workspace": ws}


@case("csv_code_scientific", ("report", {"code_as_number"}, r"9\.13304E\+17 was stored as a number", r"以数字形式保存"))
def _(tmp, ws):
    return write(tmp, "sci.csv", "统一社会信用代码,税收(万元)\n9.13304E+17,5\n"), {"layer": "enterprises", "workspace": ws}


@case("csv_formula_text", ("report", {"formula_text", "name_mismatch"}, r"run as a formula \(=HYPERLINK.*stored as plain text", r"当作公式"))
def _(tmp, ws):
    c = codes(ws, 1)[0]
    text = f'统一社会信用代码,企业名称,税收(万元)\n{c},"=HYPERLINK(""http://evil"",""点我"")",1\n'
    return write(tmp, "f.csv", text), {"layer": "enterprises", "workspace": ws}


@case("excel_uncalculated_formula", ("report", {"formula_uncalculated"}, r"holds a formula \(=B2\*2\) with no calculated value.*let it calculate", r"没有计算结果"))
def _(tmp, ws):
    c = codes(ws, 1)[0]
    return write(tmp, "f.xlsx", xlsx_bytes([["统一社会信用代码", "税收(万元)", "用电量(万千瓦时)"], [c, 3, "=B2*2"]],
                                           text_cols=(1,))), {"layer": "enterprises", "workspace": ws}


@case("excel_ambiguous_two_level_header", ("blocked", SchemaError, r"amb\.xlsx: the columns cannot be mapped.*'税收/2024年\(万元\)', '税收/2025年\(万元\)' all look like 税收.*mapping="))
def _(tmp, ws):
    c = codes(ws, 1)[0]
    rows = [["2025年企业税收"], ["统一社会信用代码", "企业名称", "税收", None], [None, None, "2024年(万元)", "2025年(万元)"],
            [c, "甲", 1, 2]]
    return write(tmp, "amb.xlsx", xlsx_bytes(rows, merges=("A1:D1", "A2:A3", "B2:B3", "C2:D2"), text_cols=(1,))), \
        {"layer": "enterprises", "workspace": ws}


@case("duplicate_keys", ("report", {"duplicate_key"}, r"appears in more than one row.*\(2 row\(s\): 2, 3\)", r"出现在多行"))
def _(tmp, ws):
    c = codes(ws, 1)[0]
    return write(tmp, "dup.csv", f"统一社会信用代码,税收(万元)\n{c},1\n{c},2\n"), {"layer": "enterprises", "workspace": ws}


@case("negative_and_far", ("report", {"negative", "far_range"}, r"outside 0–20.*negative value -5", r"数值为负"))
def _(tmp, ws):
    feats = [plot_feature(0, square(X0, Y0), 容积率=25), plot_feature(1, square(X0 + 100, Y0), **{"建筑面积(平方米)": -5})]
    return write(tmp, "range.geojson", geojson(feats)), {"layer": "plots"}


@case("join_to_nothing", ("report", {"no_match"}, r"joins to nothing in the workspace's enterprises", r"找不到"))
def _(tmp, ws):
    from layers.codes import credit_code_check_char

    first17 = "91330381AAAAAAAAA"
    code = first17 + credit_code_check_char([first17])[0]
    return write(tmp, "nomatch.csv", f"统一社会信用代码,用电量(万千瓦时)\n{code},5\n"), \
        {"layer": "enterprises", "workspace": ws}


@case("missing_required_column", ("blocked", SchemaError, r"req\.geojson: required column\(s\) 利用状态 \(status\) not found"))
def _(tmp, ws):
    f = plot_feature(0, square(X0, Y0))
    del f["properties"]["利用状态"]
    return write(tmp, "req.geojson", geojson([f])), {"layer": "plots"}


@case("unknown_unit", ("blocked", SchemaError, r"unit '美元' cannot be converted to 万元"))
def _(tmp, ws):
    return write(tmp, "usd.csv", f"统一社会信用代码,税收(美元)\n{codes(ws, 1)[0]},5\n"), {"layer": "enterprises", "workspace": ws}


@case("header_only", ("raises", ImportDataError, r"h\.csv: no rows to import"))
def _(tmp, ws):
    return write(tmp, "h.csv", "统一社会信用代码,税收(万元)\n"), {"layer": "enterprises", "workspace": ws}


@case("table_without_geometry_no_layer", ("raises", ImportDataError, r"needs geometries, but the table has no WKT column and no lon/lat"))
def _(tmp, ws):
    return write(tmp, "nogeom.csv", "地块编号,用地分类,利用状态\nA,0601,在用\n"), {"layer": "plots", "mode": "replace"}


@case("bad_values", ("report", {"bad_value", "bad_choice"}, r"'abc' is not a valid number.*'废弃' is not one of", r"不是有效的数值"))
def _(tmp, ws):
    feats = [plot_feature(0, square(X0, Y0), 容积率="abc"), plot_feature(1, square(X0 + 100, Y0), 利用状态="废弃")]
    return write(tmp, "vals.geojson", geojson(feats)), {"layer": "plots"}


@case("raster_without_georeference", ("raises", CRSError, r"nogeo\.tif: .*(no CRS|georeference|geotransform)"))
def _(tmp, ws):
    return tif(tmp, "nogeo.tif", georef=False), {"layer": "dem"}


@case("raster_outside_china", ("raises", CRSError, r"far\.tif: .*(outside China|match neither)"))
def _(tmp, ws):
    import rasterio
    from rasterio.transform import from_origin

    p = tmp / "far.tif"
    with rasterio.open(p, "w", driver="GTiff", width=5, height=5, count=1, dtype="uint8", crs="EPSG:4549",
                       transform=from_origin(9e7, 9e7, 10, 10)) as dst:
        dst.write(np.ones((1, 5, 5), dtype="uint8"))
    return p, {"layer": "dem"}


def test_catalogue_is_big_enough():
    assert len(CASES) >= 40, len(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input(name, tmp_path, ws):
    builder, expect = CASES[name]
    before = sha(ws.path)
    path, kwargs = builder(tmp_path, ws)
    kwargs = {"workspace": ws, **kwargs}
    if expect[0] in ("raises", "blocked"):
        _, exc_type, pattern = expect
        with pytest.raises(exc_type, match=pattern) as info:
            plan = plan_import(path, **kwargs)
            assert not plan.ready and plan.mapping is not None  # the mapping step has something to show
            commit_import(ws, plan, actor=SYSTEM, on_problems="skip", confirm_removal=True)
        assert ("plan" in locals()) == (expect[0] == "blocked"), "a blocked plan previews; other errors come at once"
        err = info.value
        assert isinstance(err, PlannerError)
        assert err.message_zh and err.message_zh != err.message, "a Chinese message for the UI"
        assert SECRET not in str(err) and SECRET not in err.message_zh and SECRET not in repr(err.details)
    else:
        _, codes_expected, pattern, pattern_zh = expect
        plan = plan_import(path, **kwargs)
        assert set(plan.counts()) == codes_expected, plan.problems[["row", "code", "message"]]
        summary = plan.summary("en")
        import re

        assert re.search(pattern, summary), summary
        assert re.search(pattern_zh, plan.summary("zh")), plan.summary("zh")
        assert (plan.problems["row"] >= 1).all()  # where: the row number the user sees
        if not plan.errors.empty:
            with pytest.raises(ImportDataError, match="Import cancelled, nothing was written"):
                commit_import(ws, plan, actor=SYSTEM, on_problems="cancel")
    assert sha(ws.path) == before, "the workspace must be unchanged"
