"""Exports: every format written from a real shortlist on a copy of the sample workspace and read back.

Excel with openpyxl, CSV with the csv module, GIS formats with pyogrio and with the
system's ogrinfo, the PDF with poppler's pdftotext and pdffonts.
"""
from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import zipfile

import geopandas as gpd
import openpyxl
import pandas as pd
import pyogrio
import pytest
from shapely.geometry import Point, box

import exports
from exports import export_shortlist, filename_for
from exports._fonts import FontNotFoundError, cjk_font_path
from exports._safe import neutralise_formula
from exports.gis import SHP_FIELD_NAMES
from geo.errors import ParameterError
from layers import shortlist as sl
from layers.access import Actor
from layers.store import open_workspace

PLANNER = Actor("guihuake", "planner", display_name="规划科")

EVIL = ["=HYPERLINK(\"http://x\",\"点我\")", "+1+2", "-3-4", "@SUM(A1)", "\t=1+1", "\r=1+1"]


@pytest.fixture(scope="module")
def shortlisted(sample_path, tmp_path_factory):
    """Twelve plots from three townships, one cluster, one site; statuses spread; hostile notes and reasons."""
    path = tmp_path_factory.mktemp("exports") / "ruian.gpkg"
    shutil.copyfile(sample_path, path)
    ws = open_workspace(path, readonly=False)
    plots = ws.read("plots", columns=["plot_id", "township_code", "land_holder"])
    towns = sorted(plots["township_code"].dropna().unique())[:3]
    picked = pd.concat([plots[plots["township_code"] == t].head(4) for t in towns])
    picked["reasons_zh"] = ["容积率低于行业控制指标;停产半停产"] * 6 + EVIL
    picked["score"] = [55.5, 61.0, 42.25, 70.0, 38.0, 49.5, 52.0, 66.0, 71.5, 44.0, 58.0, 63.0]
    picked["final_class"] = list("DCDCDDCCDDCD")
    sl.add(ws, picked, kind="plot", actor=PLANNER, source="test")
    base = picked.geometry.iloc[0].centroid
    cluster = gpd.GeoDataFrame({"cluster_id": [1], "reasons_zh": ["连片低效用地"], "township_code": [towns[0]]},
                               geometry=[box(base.x + 500, base.y + 500, base.x + 700, base.y + 650)], crs=ws.crs)
    sl.add(ws, cluster, kind="cluster", actor=PLANNER)
    site = gpd.GeoDataFrame({"site_id": ["S01"], "township_code": [towns[1]]},
                            geometry=[Point(base.x + 900, base.y + 900)], crs=ws.crs)
    sl.add(ws, site, kind="site", actor=PLANNER)
    ids = list(sl.load(ws)["entry_id"])
    sl.set_status(ws, ids[:6], "已核实", actor=PLANNER)
    sl.set_status(ws, ids[:3], "已上报", actor=PLANNER)
    sl.update(ws, ids[6], actor=PLANNER, notes="=cmd|' /c calc'!A0")
    items = sl.load(ws)
    meta = exports.meta_for(ws, maps=True, title="低效用地再开发候选清单")
    return items, meta, towns


def test_neutralise_formula():
    assert [neutralise_formula(v) for v in EVIL] == ["'" + v for v in EVIL]
    assert neutralise_formula("厂房出租") == "厂房出租"
    assert neutralise_formula(-3.5) == -3.5 and neutralise_formula(None) is None
    assert neutralise_formula("\x01=1") == "'=1"  # a control character cannot hide the trigger
    assert neutralise_formula("a=b") == "a=b"


# --- Excel ----------------------------------------------------------------------------
def test_xlsx_sheets_headers_types_and_safety(shortlisted, sample_ws, tmp_path):
    items, meta, towns = shortlisted
    path = export_shortlist(items, fmt="xlsx", meta=meta, out=tmp_path / "清单.xlsx")
    wb = openpyxl.load_workbook(path)
    names = {c: n for c, n in zip(items["township_code"], items["township_name"])}
    assert wb.sheetnames == ["汇总"] + [names[t] for t in towns]
    sheet = wb[names[towns[0]]]
    header = [c.value for c in sheet[1]]
    assert header[:8] == ["排序", "对象编号", "对象类型", "状态", "责任镇街", "镇街代码", "面积(亩)", "用地面积(m²)"]
    assert "土地使用权人(信用代码)" in header and "列入理由" in header
    col = {h: i for i, h in enumerate(header)}
    rows = list(sheet.iter_rows(min_row=2, values_only=False))
    expected = items[items["township_code"] == towns[0]]
    assert len(rows) == len(expected)  # 4 plots + the cluster
    first = rows[0]
    assert isinstance(first[col["排序"]].value, int)
    assert isinstance(first[col["面积(亩)"]].value, float)
    assert first[col["面积(亩)"]].value == pytest.approx(expected["area_m2"].iloc[0] / (10000 / 15), abs=0.005)
    holder = first[col["土地使用权人(信用代码)"]]
    assert holder.data_type == "s" and holder.number_format == "@"
    assert holder.value == expected["land_holder"].iloc[0] and len(holder.value) == 18
    # the firm's and the park's names beside their codes, the industry's title beside its code
    firms = sample_ws.read("enterprises", columns=["credit_code", "name"]).set_index("credit_code")["name"]
    assert first[col["企业名称"]].value == firms[holder.value]
    park = expected["park_id"].iloc[0]
    assert first[col["所在园区"]].value == (meta.parks[park] if isinstance(park, str) else "—")
    assert first[col["行业名称"]].value and not first[col["行业名称"]].value[0].isdigit()
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", first[col["添加时间"]].value)
    code = first[col["镇街代码"]]
    assert code.data_type == "s" and code.number_format == "@" and code.value == towns[0]
    # no cell anywhere is a formula; every hostile text is shown with a leading apostrophe
    texts = []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                assert c.data_type != "f", (ws.title, c.coordinate, c.value)
                if isinstance(c.value, str):
                    texts.append(c.value)
    assert not [t for t in texts if t.startswith(("=", "+", "-", "@", "\t", "\r"))]
    norm = {t.replace("\r", "\n") for t in texts}  # XML readers turn a stored CR into LF
    for v in EVIL:
        assert "'" + v.replace("\r", "\n") in norm
    assert "'=cmd|' /c calc'!A0" in texts


def test_xlsx_summary_counts_and_mu(shortlisted, tmp_path):
    items, meta, towns = shortlisted
    wb = openpyxl.load_workbook(io.BytesIO(export_shortlist(items, fmt="xlsx", meta=meta)))
    s = wb["汇总"]
    assert s["A1"].value == "低效用地再开发候选清单"
    assert [s["A2"].value, s["B2"].value] == ["导出日期", meta.date.isoformat()]
    assert s["B3"].value == meta.source
    assert s["A5"].value == "导出时间" and s["B5"].value.endswith("(北京时间)")
    table = [[c.value for c in r] for r in s.iter_rows(min_row=7)]
    head, body, total = table[0], table[1:-1], table[-1]
    assert head[:3] == ["镇街", "镇街代码", "候选(宗)"] and head[-2:] == ["合计(宗)", "合计(亩)"]
    assert [r[1] for r in body] == towns
    by_town = items.groupby("township_code")
    for r in body:
        rows = by_town.get_group(r[1])
        counts = [int((rows["status"] == st).sum()) for st in sl.STATUSES]
        assert r[2:6] == counts and r[-2] == len(rows)
        assert r[-1] == pytest.approx((rows["area_m2"] / (10000 / 15)).round(2).sum(), abs=0.011)
    assert total[0] == "合计" and total[-2] == len(items)
    assert total[2:6] == [len(items) - 6, 3, 3, 0]  # six verified, three of them reported


def test_xlsx_one_township(shortlisted):
    items, meta, towns = shortlisted
    wb = openpyxl.load_workbook(io.BytesIO(export_shortlist(items, fmt="xlsx", township=towns[1], meta=meta)))
    assert len(wb.sheetnames) == 2
    assert wb["汇总"]["B4"].value == items.loc[items.township_code == towns[1], "township_name"].iloc[0]


# --- CSV ------------------------------------------------------------------------------
def test_csv_bom_headers_and_neutralising(shortlisted):
    items, meta, _ = shortlisted
    data = export_shortlist(items, fmt="csv", meta=meta)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    header, body = rows[0], rows[1:]
    assert header[:3] == ["排序", "对象编号", "对象类型"] and len(body) == len(items)
    assert [r[0] for r in body] == [str(i) for i in range(1, len(items) + 1)]
    cells = [c for r in body for c in r]
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))]
    assert "'=HYPERLINK(\"http://x\",\"点我\")" in cells and "'\t=1+1" in cells
    assert float(body[0][header.index("面积(亩)")]) == pytest.approx(items["area_m2"].iloc[0] / (10000 / 15), abs=0.005)
    holder = body[0][header.index("土地使用权人(信用代码)")]
    assert holder == items["land_holder"].iloc[0]  # verbatim, not 9.13E+17
    assert data.count(b"\r\n") >= len(items) + 1


# --- GIS formats ----------------------------------------------------------------------
def _read_back(fmt, path):
    if fmt == "shp":
        return pyogrio.read_dataframe(f"/vsizip/{path}/shortlist.shp")
    return pyogrio.read_dataframe(path)


@pytest.mark.parametrize("fmt,epsg", [("gpkg", 4549), ("geojson", 4326), ("kml", 4326), ("shp", 4549)])
def test_gis_round_trip(shortlisted, tmp_path, fmt, epsg):
    items, meta, _ = shortlisted
    out = tmp_path / filename_for(fmt, township_name="全部")
    assert export_shortlist(items, fmt=fmt, meta=meta, out=out) == out
    got = _read_back(fmt, out)
    polys = items[items.geom_type != "Point"]
    expect = items if fmt != "shp" else polys  # the shapefile holds the point site in a second file
    assert got.crs.to_epsg() == epsg
    id_col = "item_id"
    assert sorted(got[id_col]) == sorted(expect["item_id"])
    town_col = "twp_name" if fmt == "shp" else "township_name"
    assert set(got[town_col]) == set(expect["township_name"])  # Chinese text survives
    back = got.set_index(id_col).to_crs(items.crs)
    area = back.loc[polys["item_id"]].area.to_numpy()
    # lon/lat formats keep 7 decimals (≈ 1 cm), a few 0.01 % of a small plot's area
    assert area == pytest.approx(polys.geometry.area.to_numpy(), rel=1e-3 if epsg == 4326 else 1e-9)
    if fmt != "kml":  # KML has no numeric types for Integer64; GDAL reads it back as text
        assert pd.api.types.is_numeric_dtype(got["area_mu"])
    # the system's GDAL (ogrinfo) opens it too
    target = f"/vsizip/{out}/shortlist.shp" if fmt == "shp" else str(out)
    info = subprocess.run(["ogrinfo", "-ro", "-so", "-al", target], capture_output=True, text=True, check=True).stdout
    assert re.search(rf"Feature Count: {len(expect)}\b", info)


def test_geojson_is_rfc7946(shortlisted):
    items, meta, _ = shortlisted
    doc = json.loads(export_shortlist(items, fmt="geojson", meta=meta))
    assert doc["type"] == "FeatureCollection" and "crs" not in doc
    lon, lat = doc["features"][0]["geometry"]["coordinates"][0][0][0][:2]
    assert 119.5 < lon < 121.5 and 27 < lat < 28.5  # lon/lat order, Ruian
    assert doc["features"][0]["properties"]["status"] in sl.STATUSES


def test_kml_names_and_wgs84(shortlisted):
    items, meta, _ = shortlisted
    text = export_shortlist(items, fmt="kml", meta=meta).decode("utf-8")
    assert text.count("<Placemark") == len(items)
    assert f"<name>1. 地块 {items['item_id'].iloc[0]}</name>" in text
    coords = re.search(r"<coordinates>([^<]+)</coordinates>", text).group(1).split()[0].split(",")
    assert 119.5 < float(coords[0]) < 121.5 and 27 < float(coords[1]) < 28.5


def test_shapefile_zip_members_fields_and_points(shortlisted, tmp_path):
    items, meta, _ = shortlisted
    data = export_shortlist(items, fmt="shp", meta=meta)
    zf = zipfile.ZipFile(io.BytesIO(data))
    names = set(zf.namelist())
    for part in ("shortlist", "shortlist_points"):
        assert {f"{part}.{ext}" for ext in ("shp", "shx", "dbf", "prj", "cpg")} <= names
    assert zf.read("shortlist.cpg").decode().strip().upper() in ("UTF-8", "UTF8")
    assert "Gauss_Kruger" in zf.read("shortlist.prj").decode() or "CGCS2000" in zf.read("shortlist.prj").decode()
    (tmp_path / "s.zip").write_bytes(data)
    got = pyogrio.read_dataframe(f"/vsizip/{tmp_path / 's.zip'}/shortlist.shp")
    assert all(len(c) <= 10 for c in got.columns)
    assert {"twp_code", "twp_name", "holder", "industry", "upd_by"} <= set(got.columns)
    assert set(SHP_FIELD_NAMES.values()) >= set(got.columns) - {"geometry"}
    pts = pyogrio.read_dataframe(f"/vsizip/{tmp_path / 's.zip'}/shortlist_points.shp")
    assert list(pts["item_id"]) == ["S01"]


def test_shapefile_cuts_long_text_at_254_bytes(shortlisted, tmp_path):
    items, meta, _ = shortlisted
    long = items.copy()
    long.loc[0, "notes"] = "低效" * 200  # 1200 bytes of UTF-8
    path = export_shortlist(long, fmt="shp", meta=meta, out=tmp_path / "long.zip")
    got = pyogrio.read_dataframe(f"/vsizip/{path}/shortlist.shp")
    note = got.loc[got["item_id"] == items["item_id"].iloc[0], "notes"].item()
    assert note.startswith("低效低效") and note.endswith("…") and 240 < len(note.encode()) <= 254


# --- PDF ------------------------------------------------------------------------------
def test_pdf_text_and_embedded_cjk_font(shortlisted, tmp_path):
    items, meta, towns = shortlisted
    out = export_shortlist(items, fmt="pdf", township=towns[0], meta=meta, out=tmp_path / "report.pdf")
    text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True, check=True).stdout
    name = items.loc[items.township_code == towns[0], "township_name"].iloc[0]
    plot_id = items.loc[(items.township_code == towns[0]) & (items.item_kind == "plot"), "item_id"].iloc[0]
    assert "低效用地再开发候选清单" in text and name in text and plot_id in text
    assert "合计" in text and "镇街边界" not in text  # legend text is inside the map image, not the text layer
    other = items.loc[items.township_code == towns[1], "township_name"].iloc[0]
    assert other not in text
    fonts = subprocess.run(["pdffonts", str(out)], capture_output=True, text=True, check=True).stdout
    lines = fonts.splitlines()[2:]
    assert lines and all(re.search(r"\byes\s+yes\s+yes\b", ln) for ln in lines), fonts  # embedded, subset, ToUnicode
    assert any("WenQuanYi" in ln or "CJK" in ln for ln in lines)


def test_pdf_whole_shortlist_has_every_township(shortlisted):
    items, meta, towns = shortlisted
    data = export_shortlist(items, fmt="pdf", meta=meta)
    text = subprocess.run(["pdftotext", "-", "-"], input=data, capture_output=True, check=True).stdout.decode()
    for name in items["township_name"].unique():
        assert f"低效用地再开发候选清单 — {name}" in text
    assert "'=cmd" not in text and "=cmd|' /c calc'!A0" in text  # PDF shows text as typed, escaped for markup


def test_pdf_map_png(shortlisted):
    from exports.pdf import render_map

    items, meta, towns = shortlisted
    rows = items[items.township_code == towns[0]]
    png = render_map(rows, outline=meta.townships[meta.townships.code == towns[0]], context=meta.townships)
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_font_lookup_names_the_debian_package(monkeypatch):
    path, index = cjk_font_path()
    assert path.is_file() and index == 0
    monkeypatch.delenv("PLANNER_CJK_FONT", raising=False)
    monkeypatch.setattr("exports._fonts.CJK_FONT_CANDIDATES", (("/nonexistent/font.ttc", 0),))
    with pytest.raises(FontNotFoundError, match="fonts-wqy-zenhei"):
        cjk_font_path()


# --- dispatcher -----------------------------------------------------------------------
def test_dispatcher_errors_and_outputs(shortlisted, tmp_path):
    items, meta, towns = shortlisted
    with pytest.raises(ParameterError, match=r"export format 'docx' is not one of \['xlsx', 'csv'"):
        export_shortlist(items, fmt="docx")
    with pytest.raises(ParameterError, match=r"no shortlisted items for township '999'; townships on the shortlist: "):
        export_shortlist(items, fmt="csv", township="999")
    with pytest.raises(ParameterError, match=r"does not end in \.zip"):
        export_shortlist(items, fmt="shp", out=tmp_path / "x.shp")
    with pytest.raises(ParameterError, match="needs geometries"):
        export_shortlist(pd.DataFrame(items.drop(columns="geometry")), fmt="kml")
    assert isinstance(export_shortlist(pd.DataFrame(items.drop(columns="geometry")), fmt="csv"), bytes)
    assert list(tmp_path.iterdir()) == []  # nothing written by the refused calls
    assert set(exports.FORMATS) == {"xlsx", "csv", "gpkg", "geojson", "kml", "shp", "pdf"}
    assert filename_for("shp", township_name="飞云街道").startswith("候选清单_飞云街道_")
    assert filename_for("pdf", township_name="飞云街道").startswith("候选清单报告_飞云街道_")
    assert filename_for("shp").endswith(".zip")


def test_cli_export_and_shortlist(sample_path, tmp_path):
    import cli

    path = tmp_path / "ws.gpkg"
    shutil.copyfile(sample_path, path)
    w = ["--workspace", str(path)]
    assert cli.main(["shortlist", "add", *w, "P000001,P000002"]) == 0
    assert cli.main(["shortlist", "status", *w, "--to", "已核实", "plot:P000001"]) == 0
    assert cli.main(["shortlist", "status", *w, "--to", "已处置", "plot:P000002"]) == 2
    ws = open_workspace(path)
    assert list(sl.load(ws)["status"]) == ["已核实", "候选"]
    town = sl.load(ws)["township_code"].iloc[0]
    out = tmp_path / "t.xlsx"
    assert cli.main(["export", *w, "--format", "xlsx", "--township", town, "--out", str(out)]) == 0
    assert openpyxl.load_workbook(out).sheetnames[0] == "汇总"
    assert cli.main(["export", *w, "--format", "pdf", "--township", "nope", "--out", str(tmp_path / "r.pdf")]) == 2
