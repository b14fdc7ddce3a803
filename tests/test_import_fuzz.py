"""Fuzzing the import entry point: random bytes, CSV and GeoJSON fragments.

Whatever the file holds, :func:`plan_import` either returns a plan or raises a
:class:`~geo.errors.PlannerError` subclass — never another exception type — and the
workspace is never modified (planning writes nothing; a commit with ``cancel`` either
writes a complete layer or nothing).  Bounded: 150 examples per strategy, no deadline.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from geo.errors import ImportDataError, PlannerError, SchemaError
from layers.access import SYSTEM
from layers.importers import commit_import, plan_import
from layers.store import open_workspace

FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def ws(tmp_path_factory, sample_path):
    path = tmp_path_factory.mktemp("fuzz") / "ws.gpkg"
    shutil.copyfile(sample_path, path)
    return open_workspace(path, readonly=False)


@pytest.fixture(scope="module")
def ws_hash(ws):
    return hashlib.sha256(ws.path.read_bytes()).hexdigest()


def _run(ws, ws_hash, name: str, data: bytes, **kwargs) -> None:
    folder = Path(tempfile.mkdtemp(prefix="fuzz-"))
    try:
        path = folder / name
        path.write_bytes(data)
        with warnings.catch_warnings():
            # GDAL and pandas may warn about odd input; the contract is about exceptions.
            warnings.simplefilter("ignore")
            try:
                plan = plan_import(path, workspace=ws, **kwargs)
            except PlannerError:
                plan = None
            if plan is not None and not plan.ready:
                with pytest.raises(SchemaError):  # columns to map or fields to supply: nothing is written
                    commit_import(ws, plan, actor=SYSTEM, on_problems="cancel")
            elif plan is not None and plan.mode == "join" and not plan.errors.empty:
                with pytest.raises(ImportDataError, match="Import cancelled"):
                    commit_import(ws, plan, actor=SYSTEM, on_problems="cancel")
        assert hashlib.sha256(ws.path.read_bytes()).hexdigest() == ws_hash
    finally:
        shutil.rmtree(folder, ignore_errors=True)


EXTS = st.sampled_from(["x.csv", "x.geojson", "x.json", "x.kml", "x.zip", "x.xlsx", "x.gpkg", "x.tif", "x.shp"])


@FUZZ
@given(name=EXTS, data=st.binary(max_size=2048))
def test_random_bytes(ws, ws_hash, name, data):
    _run(ws, ws_hash, name, data, layer="plots", crs="EPSG:4549")


CELL = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12),
    st.sampled_from(["913303816107991557", "9.13304E+17", "=1+2", "-5", "1,234.5", "35%", "是", "否", "在用",
                     "POLYGON((560000 3070000, 560050 3070000, 560050 3070050, 560000 3070000))", "POINT(nan 1)",
                     "POLYGON((0 0, 1 1, 0 0))", "", '"', "\n", "nan", "inf", "1e308"]),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
)
HEADER = st.lists(st.sampled_from(["统一社会信用代码", "企业名称", "税收(万元)", "税收(元)", "税收(美元)", "占地面积(亩)",
                                   "地块编号", "用地分类", "利用状态", "WKT", "经度", "纬度", "X", "Y", "容积率",
                                   "规上", "年度", "x", "", "a,b"]), min_size=1, max_size=6)


@FUZZ
@given(header=HEADER, rows=st.lists(st.lists(CELL, max_size=7), max_size=6),
       encoding=st.sampled_from(["utf-8", "gb18030"]), layer=st.sampled_from(["plots", "enterprises", "extra_table"]),
       sep=st.sampled_from([",", "\t", ";"]))
def test_csv_fragments(ws, ws_hash, header, rows, encoding, layer, sep):
    text = sep.join(header) + "\n" + "\n".join(sep.join(r) for r in rows)
    _run(ws, ws_hash, "t.csv", text.encode(encoding, errors="replace"), layer=layer)


COORD = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32),
                  st.floats(min_value=559_000, max_value=561_000), st.floats(min_value=3_069_000, max_value=3_071_000),
                  st.floats(min_value=120, max_value=121), st.floats(min_value=27, max_value=28))
POSITION = st.lists(COORD, min_size=0, max_size=4)
GEOMETRY = st.one_of(
    st.none(),
    st.builds(lambda p: {"type": "Point", "coordinates": p}, POSITION),
    st.builds(lambda ring: {"type": "Polygon", "coordinates": [ring]}, st.lists(POSITION, max_size=6)),
    st.builds(lambda rings: {"type": "MultiPolygon", "coordinates": [rings]}, st.lists(st.lists(POSITION, max_size=5), max_size=2)),
    st.builds(lambda t: {"type": t}, st.sampled_from(["Polygon", "Nope", "GeometryCollection"])),
)
PROPS = st.dictionaries(st.sampled_from(["地块编号", "用地分类", "利用状态", "容积率", "name", "占地面积(亩)"]),
                        st.one_of(st.text(max_size=8), st.integers(), st.floats(), st.none(), st.booleans()), max_size=5)


@FUZZ
@given(features=st.lists(st.builds(lambda g, p: {"type": "Feature", "geometry": g, "properties": p}, GEOMETRY, PROPS),
                         max_size=5),
       crs=st.sampled_from([None, "EPSG:4549", "EPSG:4528", "EPSG:4326", "EPSG:3857"]), cut=st.integers(0, 400),
       gcj02=st.booleans())
def test_geojson_fragments(ws, ws_hash, features, crs, cut, gcj02):
    doc = {"type": "FeatureCollection", "features": features}
    if crs:
        doc["crs"] = {"type": "name", "properties": {"name": crs}}
    text = json.dumps(doc, ensure_ascii=False, allow_nan=True)
    if cut:
        text = text[: max(1, len(text) - cut)]  # truncated fragments too
    _run(ws, ws_hash, "t.geojson", text.encode("utf-8"), layer="plots", gcj02=gcj02)
