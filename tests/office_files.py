"""Files as offices send them, built in code for the import tests (AppTest, browser and library tests)."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import geopandas as gpd
import openpyxl
import pyogrio
import shapely

from layers.store import open_workspace


def park_place(workspace_path) -> dict:
    """A spot inside the park IP01 of the sample and the township that holds it."""
    ws = open_workspace(workspace_path)
    park = ws.read("industrial_parks").set_index("park_id").loc["IP01"]
    pt = park.geometry.representative_point()
    towns = ws.read("townships")
    town = towns[towns.contains(pt)].iloc[0]
    return {"x": pt.x, "y": pt.y, "park": "IP01", "township": str(town["code"])}


def sandiao_shapefile(folder: Path, place: dict, n: int = 3, *, start: int = 0) -> Path:
    """A 三调 地类图斑 (DLTB) export: GBK attributes, no .cpg, standard field codes, no 利用状态."""
    folder.mkdir(parents=True, exist_ok=True)
    x, y = place["x"], place["y"]
    g = gpd.GeoDataFrame(
        {"BSM": [f"3303812{i:05d}" for i in range(start, start + n)], "TBBH": [str(i + 1) for i in range(n)],
         "DLBM": ["0601"] * n, "DLMC": ["工业用地"] * n, "QSXZ": ["20"] * n,
         "QSDWMC": ["瑞安市某某村股份经济合作社"] * n, "ZLDWDM": [place["township"] + "2010000000"] * n,
         "ZLDWMC": ["某某村"] * n, "TBMJ": [400.0] * n, "TBDLMJ": [390.0] * n},
        geometry=[shapely.box(x + 30 * i, y, x + 30 * i + 20, y + 20) for i in range(n)], crs="EPSG:4549")
    path = folder / "DLTB.shp"
    pyogrio.write_dataframe(g, path, encoding="GBK")
    folder.joinpath("DLTB.cpg").unlink(missing_ok=True)  # the usual 三调 export: GBK, no .cpg
    return path


def xlsx(rows: list[list], merges=(), path: Path | None = None, *, text_cols: tuple[int, ...] = (1,)) -> bytes:
    """An .xlsx of ``rows`` (merged ranges like ``"A1:C1"``; ``text_cols`` formatted as text, 1-based)."""
    wb = openpyxl.Workbook()
    sh = wb.active
    for r in rows:
        sh.append(r)
    for m in merges:
        sh.merge_cells(m)
    for c in text_cols:
        for row in sh.iter_rows(min_col=c, max_col=c):
            for cell in row:
                cell.number_format = "@"
    bio = io.BytesIO()
    wb.save(bio)
    if path is not None:
        path.write_bytes(bio.getvalue())
    return bio.getvalue()



class GbkName(zipfile.ZipInfo):
    """A member written as Chinese Windows zip tools do: GBK bytes, UTF-8 flag (bit 11) clear."""

    def _encodeFilenameFlags(self):
        return self.filename.encode("gb18030"), self.flag_bits & ~0x800


def sandiao_zip(folder: Path, place: dict, n: int = 3, *, name: str = "三调地类图斑.zip") -> Path:
    """The 三调 Shapefile zipped with GBK member names and no UTF-8 flag."""
    shp = sandiao_shapefile(folder / "parts", place, n)
    out = folder / name
    with zipfile.ZipFile(out, "w") as zf:
        for f in sorted(shp.parent.glob("DLTB.*")):
            zf.writestr(GbkName(f"瑞安市/地类图斑{f.suffix}"), f.read_bytes())
    return out
