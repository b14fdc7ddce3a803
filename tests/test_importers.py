"""layers.importers: every format in, the right rows, units, CRS and provenance out."""
from __future__ import annotations

import io
import json
import zipfile

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.crs import wgs84_to_gcj02
from geo.errors import ImportDataError, SchemaError
from geo.units import M2_PER_MU
from layers.access import SYSTEM
from layers.importers import DEPARTMENT_TABLES, commit_import, list_mappings, load_mapping, plan_import, template_xlsx

X0, Y0 = 560_000.0, 3_070_000.0


@pytest.fixture
def ws(sample_copy):
    """A writable copy of the sample, once on each backend."""
    return sample_copy


def plots(n=3, crs="EPSG:4549", x0=X0, size=50.0):
    return gpd.GeoDataFrame(
        {"地块编号": [f"N{i:03d}" for i in range(n)], "用地分类": ["0601"] * n, "利用状态": ["在用", "闲置", "停产"][:n],
         "权利人": ["瑞安市甲乙机械有限公司"] * n},
        geometry=[shapely.box(x0 + 100 * i, Y0, x0 + 100 * i + size, Y0 + size) for i in range(n)], crs=crs)


def test_gbk_shapefile_zip_in_4528_lands_in_4549_with_provenance(ws, tmp_path):
    g = plots(crs="EPSG:4528", x0=40_000_000 + X0)
    folder = tmp_path / "s"
    folder.mkdir()
    g.to_file(folder / "地块.shp", encoding="GB18030")
    (folder / "地块.cpg").unlink()  # the usual 三调 export: GBK and no .cpg
    z = tmp_path / "plots.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in folder.iterdir():
            zf.write(f, f"data/{f.name}")
    plan = plan_import(z, layer="plots", workspace=ws)
    assert plan.encoding.encoding == "GB18030" and plan.encoding.how == "detected"
    assert plan.crs["file"] == "EPSG:4528" and plan.crs["steps"] == ["EPSG:4528 → EPSG:4549"]
    assert plan.frame.crs.to_epsg() == 4549
    # 40 560 000 in zone 40 with prefix is 560 000 without: the same place
    assert plan.frame.total_bounds[0] == pytest.approx(X0, abs=1e-3)
    assert plan.frame["status"].tolist() == ["in_use", "idle", "halted"]  # Chinese labels → codes
    assert plan.frame["area_m2"].tolist() == [2500.0] * 3  # computed from the geometry, no area column
    assert "权利人" in plan.unmapped and plan.problems.empty
    before = len(ws.read("plots"))
    with pytest.raises(ImportDataError, match=f"would remove {before:,} of the {before:,} rows of plots"):
        commit_import(ws, plan, actor=SYSTEM, on_problems="cancel", save_mapping_as="plots_2025")
    assert len(ws.read("plots")) == before  # refused: nothing written
    result = commit_import(ws, plan, actor=SYSTEM, on_problems="cancel", save_mapping_as="plots_2025", confirm_removal=True)
    assert result.rows_written == 3 and before > 3 and result.removed == before and result.added == 3
    got = ws.read("plots")
    assert got["plot_id"].tolist() == ["N000", "N001", "N002"]  # re-import replaces the layer
    meta = ws.metadata("plots")
    imp = meta["extra"]["importer"]
    assert meta["row_count"] == 3 and meta["source"] == "plots.zip/data/地块.shp"
    assert imp["sha256"] == plan.sha256 and imp["encoding"] == "GB18030" and imp["rows_read"] == 3
    assert imp["mapping"] == {"地块编号": "plot_id", "用地分类": "land_use", "利用状态": "status"}
    assert load_mapping(ws, "plots_2025")["columns"] == imp["mapping"]


def test_loose_shapefile_parts_with_cpg(tmp_path):
    g = plots()
    g.to_file(tmp_path / "p.shp", encoding="GB18030")
    plan = plan_import(tmp_path / "p.shp", layer="plots")
    assert plan.encoding.how == "cpg" and plan.encoding.encoding == "GB18030"
    assert plan.rows == 3 and plan.problems.empty


def test_encoding_override_is_used(tmp_path):
    (tmp_path / "t.csv").write_bytes("名称,X,Y\n甲,560000,3070000\n".encode("gb18030"))
    wrong = plan_import(tmp_path / "t.csv", layer="my_points", encoding="UTF-8", crs="EPSG:4549")
    right = plan_import(tmp_path / "t.csv", layer="my_points", crs="EPSG:4549")
    assert right.frame["名称"].tolist() == ["甲"] and right.encoding.encoding == "GB18030"
    assert "名称" not in wrong.frame.columns and wrong.encoding.how == "declared"  # mojibake, as asked


@pytest.mark.parametrize("fmt", ["gpkg", "geojson", "kml", "csv_wkt", "csv_lonlat", "xlsx_lonlat"])
def test_every_vector_format(fmt, tmp_path):
    g = plots()
    kwargs = {}
    if fmt == "gpkg":
        path = tmp_path / "p.gpkg"
        g.to_file(path, driver="GPKG")
    elif fmt == "geojson":
        path = tmp_path / "p.geojson"
        g.to_crs(4326).to_file(path, driver="GeoJSON")
    elif fmt == "kml":
        path = tmp_path / "p.kml"
        k = g.to_crs(4326).rename(columns={"地块编号": "Name"})
        k.to_file(path, driver="KML")
        kwargs = {"mapping": {"Name": "plot_id", "用地分类": "land_use", "利用状态": "status"}}
    elif fmt == "csv_wkt":
        path = tmp_path / "p.csv"
        pd.DataFrame(g.drop(columns="geometry")).assign(WKT=g.geometry.to_wkt()).to_csv(path, index=False)
        kwargs = {"crs": "EPSG:4549"}
    else:
        c = g.to_crs(4326).geometry.centroid if False else g.geometry.centroid.to_crs(4326)
        df = pd.DataFrame(g.drop(columns="geometry")).assign(经度=c.x.round(7), 纬度=c.y.round(7))
        path = tmp_path / ("p.csv" if fmt == "csv_lonlat" else "p.xlsx")
        df.to_csv(path, index=False) if fmt == "csv_lonlat" else df.to_excel(path, index=False)
        kwargs = {"crs": "EPSG:4490"}
    layer = "my_points" if "lonlat" in fmt else "plots"
    plan = plan_import(path, layer=layer, **kwargs)
    assert plan.frame.crs.to_epsg() == 4549 and plan.rows == 3
    if layer == "plots":
        assert plan.problems.empty, plan.problems
        assert plan.frame.geometry.area.round(0).tolist() == [2500.0] * 3
        assert plan.frame["plot_id"].tolist() == ["N000", "N001", "N002"]
    else:
        np.testing.assert_allclose(plan.frame.geometry.x, X0 + 25 + 100 * np.arange(3), atol=0.05)


def test_gcj02_declared_is_converted(tmp_path):
    # A square digitised on Gaode: its GCJ-02 coordinates are the WGS84 ones shifted ~500 m.
    g = plots(1).to_crs(4326)
    true_centre = plots(1).geometry.centroid.to_crs(4326).iloc[0]
    lon, lat = wgs84_to_gcj02(*np.asarray(g.geometry.iloc[0].exterior.coords).T)
    g.geometry = [shapely.Polygon(np.column_stack([lon, lat]))]
    path = tmp_path / "gaode.geojson"
    g.to_file(path, driver="GeoJSON")
    naive = plan_import(path, layer="plots")
    fixed = plan_import(path, layer="plots", gcj02=True)
    expected = gpd.GeoSeries([true_centre], crs=4326).to_crs(4549).iloc[0]
    assert fixed.frame.geometry.centroid.iloc[0].distance(expected) < 0.01
    assert 300 < naive.frame.geometry.centroid.iloc[0].distance(expected) < 800
    assert "GCJ-02 → WGS84 (EPSG:4326)" in fixed.crs["steps"]


def test_swapped_axes_and_zone_fix_once_declared(tmp_path):
    g = plots(2)
    swapped = g.copy()
    swapped.geometry = shapely.transform(g.geometry.values, lambda c: c[:, ::-1])
    swapped.to_file(tmp_path / "sw.geojson", driver="GeoJSON")
    plan = plan_import(tmp_path / "sw.geojson", layer="plots", swap_axes=True)
    np.testing.assert_allclose(plan.frame.total_bounds, g.total_bounds, atol=1e-6)
    assert "x and y swapped (declared)" in plan.crs["steps"]


def test_fix_and_skip(ws, tmp_path):
    bow = shapely.Polygon([(X0, Y0), (X0 + 50, Y0 + 50), (X0 + 50, Y0), (X0, Y0 + 50)])
    g = plots(3)
    g.loc[1, "geometry"] = bow
    g.loc[2, "geometry"] = shapely.Point(X0, Y0)
    g.to_file(tmp_path / "p.gpkg", driver="GPKG")
    plan = plan_import(tmp_path / "p.gpkg", layer="plots", workspace=ws)
    assert plan.counts() == {"invalid": 1, "geometry_type": 1}
    rep = plan.geometry_report.set_index("row")
    assert rep.loc[2, "area_before"] == 0.0 and rep.loc[2, "area_after"] == pytest.approx(1250.0)
    frame, skipped, repaired, _cleared = plan.resolve("skip")
    assert frame["plot_id"].tolist() == ["N000"] and skipped == [2, 3] and repaired == []
    frame, skipped, repaired, _cleared = plan.resolve("fix")
    assert frame["plot_id"].tolist() == ["N000", "N001"] and skipped == [3] and repaired == [2]
    assert frame.geometry.is_valid.all() and frame.geometry.geom_type.eq("MultiPolygon").all()
    result = commit_import(ws, plan, actor=SYSTEM, on_problems="fix", confirm_removal=True)
    assert (result.rows_written, result.rows_skipped, result.rows_repaired) == (2, 1, 1)
    meta = ws.metadata("plots")["extra"]["importer"]
    assert meta["skipped_rows"] == [3] and meta["repaired_rows"] == [2] and meta["on_problems"] == "fix"


def test_excel_join_with_title_row_units_and_text_codes(ws, tmp_path):
    e = ws.read("enterprises", columns=["credit_code", "name", "electricity_10k_kwh"]).head(3)
    n_before = len(ws.read("enterprises", columns=["credit_code"]))
    import openpyxl

    wb = openpyxl.Workbook()
    sh = wb.active
    sh.append(["2025年度企业用电量统计"])
    sh.merge_cells("A1:C1")
    sh.append(["统一社会信用代码", "企业名称", "用电量(千瓦时)"])
    for i, r in enumerate(e.itertuples()):
        sh.append([r.credit_code, r.name, 12_345.0 * (i + 1)])
    bio = io.BytesIO()
    wb.save(bio)
    (tmp_path / "power.xlsx").write_bytes(bio.getvalue())
    plan = plan_import(tmp_path / "power.xlsx", layer="enterprises", workspace=ws)
    assert plan.mode == "join" and plan.problems.empty, plan.problems
    assert any("header on row(s) 2" in n for n in plan.notes)
    assert any("千瓦时 → 万kWh (× 0.0001)" in n for n in plan.notes)
    commit_import(ws, plan, actor=SYSTEM)
    got = ws.read("enterprises").set_index("credit_code")
    assert got.loc[e.credit_code, "electricity_10k_kwh"].tolist() == pytest.approx([1.2345, 2.469, 3.7035])
    assert len(got) == n_before  # no rows added or lost


def test_mu_area_and_csv_codes_stay_text(ws, tmp_path):
    codes = ws.read("enterprises", columns=["credit_code"])["credit_code"]
    numeric = [c for c in codes if c.isdigit()][:2]
    text = "统一社会信用代码,占地面积(亩),税收(元)\n" + "".join(f"{c},1.5,{10_000 * (i + 1)}\n" for i, c in enumerate(numeric))
    (tmp_path / "t.csv").write_text(text, encoding="utf-8")
    plan = plan_import(tmp_path / "t.csv", layer="enterprises", workspace=ws)
    assert plan.frame["credit_code"].tolist() == numeric  # 18 digits, exact: read as text
    assert plan.frame["land_area_m2"].tolist() == pytest.approx([1.5 * M2_PER_MU] * 2)
    assert plan.frame["tax_10k"].tolist() == [1.0, 2.0]


def test_mapping_reuse_next_year(ws, tmp_path):
    c = ws.read("enterprises", columns=["credit_code"])["credit_code"].iloc[0]
    (tmp_path / "a.csv").write_text(f"代码,电\n{c},5\n", encoding="utf-8")
    blocked = plan_import(tmp_path / "a.csv", layer="enterprises", workspace=ws)
    assert blocked.missing == ["credit_code"] and "required column" in blocked.summary()
    with pytest.raises(SchemaError, match="required column"):
        commit_import(ws, blocked, actor=SYSTEM)
    mapping = {"columns": {"代码": "credit_code", "电": "electricity_10k_kwh"}, "units": {"电": "千瓦时"}}
    plan = plan_import(tmp_path / "a.csv", layer="enterprises", workspace=ws, mapping=mapping)
    assert plan.frame["electricity_10k_kwh"].tolist() == [0.0005]
    commit_import(ws, plan, actor=SYSTEM, save_mapping_as="power")
    saved = load_mapping(ws, "power")
    (tmp_path / "m.json").write_text(json.dumps(saved, ensure_ascii=False), encoding="utf-8")
    again = plan_import(tmp_path / "a.csv", layer="enterprises", workspace=ws, mapping=tmp_path / "m.json")
    assert again.frame["electricity_10k_kwh"].tolist() == [0.0005]
    assert list(list_mappings(ws)["name"]) == ["power"]


def test_join_plan_goes_stale(ws, tmp_path):
    c = ws.read("enterprises", columns=["credit_code"])["credit_code"].iloc[0]
    (tmp_path / "a.csv").write_text(f"统一社会信用代码,税收(万元)\n{c},5\n", encoding="utf-8")
    plan = plan_import(tmp_path / "a.csv", layer="enterprises", workspace=ws)
    ws.write("scratch", pd.DataFrame({"a": [1]}), actor=SYSTEM)  # another layer changing does not matter
    assert plan_import(tmp_path / "a.csv", layer="enterprises", workspace=ws).workspace_version == plan.workspace_version
    ws.write("enterprises", ws.read("enterprises"), actor=SYSTEM)  # the joined layer changing does
    with pytest.raises(ImportDataError, match="changed in the workspace since this import was previewed"):
        commit_import(ws, plan, actor=SYSTEM)


@pytest.mark.parametrize("kind", sorted(DEPARTMENT_TABLES))
def test_templates_round_trip(kind, ws, tmp_path):
    import openpyxl

    data = template_xlsx(kind)
    wb = openpyxl.load_workbook(io.BytesIO(data))
    assert wb.sheetnames == ["数据", "说明"]
    headers = [c.value for c in wb["数据"][1]]
    layer = DEPARTMENT_TABLES[kind][0]
    if kind == "tax":
        assert headers == ["统一社会信用代码", "企业名称", "税收(万元)", "数据年度"]
    assert wb["数据"]["A2"].number_format == "@"  # codes typed into the template stay text
    # Fill one row with a real key and import it: every header is recognised.
    key_col = "plot_id" if layer == "plots" else "credit_code"
    row0 = ws.read(layer).iloc[0]
    sh = wb["数据"]
    values = {"plot_id": row0.get("plot_id"), "credit_code": row0.get("credit_code"), "name": row0.get("name"),
              "land_holder": row0.get("land_holder"), "land_use": "0601", "status": "在用", "above_scale": "是",
              "major_incident": "否", "producing": "是", "industry_code": "3670", "year": 2025, "build_year": 2010,
              "halted_since": None, "contract_completion_date": None, "completion_date": None, "employees": 12}
    fields = DEPARTMENT_TABLES[kind][3]
    for j, f in enumerate(fields, start=1):
        sh.cell(row=2, column=j, value=values.get(f, 0.5))
    bio = io.BytesIO()
    wb.save(bio)
    (tmp_path / "t.xlsx").write_bytes(bio.getvalue())
    plan = plan_import(tmp_path / "t.xlsx", layer=layer, workspace=ws)
    assert plan.mode == "join" and {m.field for m in plan.mapping} == set(fields)
    assert plan.errors.empty, plan.problems
    if kind == "land":
        assert plan.frame["area_m2"].iloc[0] == pytest.approx(0.5 * M2_PER_MU)  # template asks for 亩
    commit_import(ws, plan, actor=SYSTEM)
    assert ws.read(layer).set_index(key_col).loc[values[key_col], fields[2]] is not None


def test_geotiff_is_warped_and_registered(ws, tmp_path):
    import rasterio
    from rasterio.transform import from_origin

    src = tmp_path / "dem4326.tif"
    with rasterio.open(src, "w", driver="GTiff", width=20, height=20, count=1, dtype="float32", crs="EPSG:4326",
                       transform=from_origin(120.60, 27.80, 0.001, 0.001), nodata=-9999) as dst:
        dst.write(np.arange(400, dtype="float32").reshape(1, 20, 20))
    plan = plan_import(src, layer="dem2", workspace=ws)
    assert plan.mode == "raster" and plan.crs["steps"][0].startswith("warped EPSG:4326 → EPSG:4549")
    commit_import(ws, plan, actor=SYSTEM)
    with rasterio.open(ws.raster_path("dem2")) as ds:
        assert ds.crs.to_epsg() == 4549 and ds.width > 15


def test_geotiff_in_working_crs_is_registered_as_is(ws, tmp_path):
    import rasterio
    from rasterio.transform import from_origin

    src = tmp_path / "flood.tif"
    with rasterio.open(src, "w", driver="GTiff", width=4, height=4, count=1, dtype="float32", crs="EPSG:4549",
                       transform=from_origin(X0, Y0, 10, 10)) as dst:
        dst.write(np.ones((1, 4, 4), dtype="float32"))
    plan = plan_import(src, layer="flood_depth", workspace=ws)
    assert plan.raster_path == str(src) and plan.crs["steps"] == []
    commit_import(ws, plan, actor=SYSTEM)
    assert ws.raster_path("flood_depth").read_bytes() == src.read_bytes()


def test_area_column_in_mu_without_unit_is_flagged(tmp_path):
    g = plots(1)
    g["占地面积"] = [2500.0 / M2_PER_MU]  # 3.75 亩 in a column without a unit
    g.to_file(tmp_path / "p.gpkg", driver="GPKG")
    plan = plan_import(tmp_path / "p.gpkg", layer="plots")
    assert plan.counts() == {"area_mismatch": 1} and plan.errors.empty
    assert "check the unit of the area column" in plan.summary()
    ok = plan_import(tmp_path / "p.gpkg", layer="plots", mapping={"columns": {"占地面积": "area_m2"}, "units": {"占地面积": "亩"}})
    assert ok.problems.empty and ok.frame["area_m2"].iloc[0] == pytest.approx(2500.0)


def test_cli_import_dry_run_commit_and_template(ws, tmp_path, capsys):
    import cli

    g = plots(2)
    g.to_file(tmp_path / "p.geojson", driver="GeoJSON")
    before = ws.version
    assert cli.main(["import", "--workspace", ws.location, "--layer", "plots", "--file", str(tmp_path / "p.geojson"),
                     "--dry-run"]) == 0
    assert "(dry run: nothing written)" in capsys.readouterr().out and ws.version == before
    assert cli.main(["import", "--workspace", ws.location, "--layer", "plots", "--file", str(tmp_path / "p.geojson"),
                     "--save-mapping", "p"]) == 2  # would remove the sample's plots: refused without --yes
    assert "would remove 5,000 of the 5,000 rows of plots" in capsys.readouterr().err and ws.version == before
    assert cli.main(["import", "--workspace", ws.location, "--layer", "plots", "--file", str(tmp_path / "p.geojson"),
                     "--save-mapping", "p", "--yes"]) == 0
    assert "wrote plots: 2 row(s)" in capsys.readouterr().out
    assert ws.read("plots")["plot_id"].tolist() == ["N000", "N001"]
    # a saved mapping by name; a CRS that does not fit → exit 2 with the message
    assert ws.layer_history("plots")["rows"].tolist()[:2] == [2, 5000]  # the replaced plots are kept: undo
    assert cli.main(["--lang", "zh", "import", "--workspace", ws.location, "--layer", "plots", "--file",
                     str(tmp_path / "p.geojson"), "--crs", "EPSG:4528", "--mapping", "p"]) == 2
    assert "带号" in capsys.readouterr().err
    assert cli.main(["import", "--template", "power", "--out", str(tmp_path / "power.xlsx")]) == 0
    assert (tmp_path / "power.xlsx").read_bytes()[:2] == b"PK"
