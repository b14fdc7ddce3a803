"""Reading untrusted files for the importer: size limits, zip checks, encodings, CSV and Excel.

Part of :mod:`layers.imports`.  Everything here treats its input as hostile:

- sizes are checked before anything is parsed (:class:`ImportLimits`);
- a zip is checked member by member (absolute names, ``..`` traversal, symlinks, encryption,
  member count, total uncompressed size, compression ratio) and read through GDAL's
  ``/vsizip/`` or Python's :mod:`zipfile` *without extracting anything to disk*;
- vector formats go through :func:`geo.io.read_vector` (one GDAL driver per extension, VRT
  and network drivers off, content sniffed first); CSV and Excel are parsed by pandas and
  openpyxl (with defusedxml), never by GDAL;
- every failure becomes an :class:`~geo.errors.ImportDataError` or
  :class:`~geo.errors.UnsafeInputError` naming the file, what was wrong and how to fix it.
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import stat
import unicodedata
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from geo.errors import ImportDataError, PlannerError, UnsafeInputError
from geo.io import gdal_safe_config, read_vector, sniff_format

__all__ = [
    "ImportLimits",
    "default_limits",
    "Source",
    "RawData",
    "EncodingInfo",
    "FORMATS",
    "resolve_source",
    "read_source",
    "detect_encoding",
]

MB = 1024 * 1024

# extension → format name; the only formats the importer reads.
FORMATS = {
    ".zip": "zip", ".kmz": "zip",
    ".shp": "shapefile", ".gpkg": "gpkg", ".geojson": "geojson", ".json": "geojson", ".kml": "kml",
    ".csv": "csv", ".xlsx": "xlsx", ".tif": "geotiff", ".tiff": "geotiff",
}
_DATASET_EXTS = {".shp", ".gpkg", ".geojson", ".json", ".kml", ".csv", ".xlsx", ".tif", ".tiff"}
_REFUSED_HINTS = {
    ".xls": ("the old binary Excel format (.xls) is not read; open it in Excel or WPS and save as .xlsx",
             "不读取旧版 Excel(.xls);请在 Excel/WPS 中另存为 .xlsx"),
    ".vrt": ("GDAL VRT files are refused: they make GDAL read other files", "拒绝 GDAL VRT 文件:它会让 GDAL 读取其他文件"),
    ".dbf": ("a .dbf alone has no geometry; upload the .shp with its .shx, .dbf, .prj (and .cpg), or a zip of them",
             "单独的 .dbf 没有几何;请上传 .shp 及其 .shx、.dbf、.prj(和 .cpg),或它们的 zip"),
    ".rar": ("RAR archives are not read; repack as .zip", "不读取 RAR 压缩包;请重新打包为 .zip"),
    ".7z": ("7z archives are not read; repack as .zip", "不读取 7z 压缩包;请重新打包为 .zip"),
}
_REMOTE = re.compile(r"^(/vsi|[a-z][a-z0-9+.-]*://|[a-z]+:(?!\\|/))", re.IGNORECASE)


@dataclass(frozen=True)
class ImportLimits:
    """Size limits for uploaded files (all in bytes unless named otherwise).

    ``max_upload_bytes`` defaults to ``$PLANNER_MAX_UPLOAD_MB`` MB (200 MB when unset); it caps
    the file (or a Shapefile's parts together).  Zip limits apply to every archive,
    including the zip inside an ``.xlsx``: a member whose uncompressed size is more than
    ``max_compression_ratio`` times its compressed size is refused once it exceeds
    ``ratio_min_bytes`` (small, highly repetitive files are normal).
    """

    max_upload_bytes: int = 200 * MB
    max_zip_members: int = 1000
    max_uncompressed_bytes: int = 2048 * MB
    max_compression_ratio: float = 200.0
    ratio_min_bytes: int = 1 * MB
    max_rows: int = 2_000_000
    max_excel_cells: int = 20_000_000


def default_limits() -> ImportLimits:
    """Limits with ``max_upload_bytes`` taken from ``$PLANNER_MAX_UPLOAD_MB`` (a setting)."""
    raw = os.environ.get("PLANNER_MAX_UPLOAD_MB", "").strip()
    if not raw:
        return ImportLimits()
    try:
        mb = float(raw)
    except ValueError:
        raise ImportDataError(f"PLANNER_MAX_UPLOAD_MB={raw!r} is not a number of megabytes; set e.g. 200.",
                              message_zh=f"PLANNER_MAX_UPLOAD_MB={raw!r} 不是数字(单位 MB),例如 200。") from None
    return ImportLimits(max_upload_bytes=int(mb * MB))


@dataclass
class EncodingInfo:
    """How text bytes were decoded: the encoding used, how it was chosen, what else fits."""

    encoding: str | None
    how: str  # "declared" (user), "cpg", "bom", "detected", "ascii", "binary" (not text: GeoPackage...)
    candidates: dict[str, int] = field(default_factory=dict)  # encoding → undecodable bytes in the sample
    note: str = ""


@dataclass
class Source:
    """A resolved input: what the user gave and what will actually be read."""

    path: Path
    name: str
    format: str
    read_path: str
    member: str | None
    size: int
    sha256: str
    sidecars: dict[str, str] = field(default_factory=dict)  # ".dbf" → path/member for Shapefiles
    notes: list[str] = field(default_factory=list)


@dataclass
class RawData:
    """What a reader produced, before mapping: attribute columns as read plus an optional geometry."""

    frame: pd.DataFrame | gpd.GeoDataFrame
    crs: object | None
    source_rows: np.ndarray  # the row number the user sees in the file (Excel row, CSV line, feature number)
    encoding: EncodingInfo
    notes: list[str] = field(default_factory=list)
    notes_zh: list[str] = field(default_factory=list)
    formula_cells: list[tuple[int, str, str, bool]] = field(default_factory=list)  # (row pos, column, formula, has cached value)
    numeric_cells: dict[str, np.ndarray] = field(default_factory=dict)  # column → mask of cells stored as numbers
    header_rows: tuple[int, ...] = ()


# ----------------------------------------------------------------------------- helpers
def _unsafe(en: str, zh: str) -> UnsafeInputError:
    return UnsafeInputError(en, message_zh=zh)


def _bad(en: str, zh: str, details: list | None = None) -> ImportDataError:
    return ImportDataError(en, message_zh=zh, details=details)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(4 * MB):
            h.update(chunk)
    return h.hexdigest()


def _check_size(name: str, size: int, limits: ImportLimits) -> None:
    if size > limits.max_upload_bytes:
        raise _unsafe(
            f"{name}: {size / MB:,.1f} MB is over the upload limit of {limits.max_upload_bytes / MB:,.0f} MB; "
            "split the data (e.g. by township) or ask the administrator to raise PLANNER_MAX_UPLOAD_MB.",
            f"{name}:{size / MB:,.1f} MB 超过上传上限 {limits.max_upload_bytes / MB:,.0f} MB;请拆分数据(如按镇街)"
            "或请管理员调高 PLANNER_MAX_UPLOAD_MB。",
        )


def check_zip(path: Path, limits: ImportLimits, *, name: str | None = None) -> list[zipfile.ZipInfo]:
    """Check every member of a zip without extracting; return the members.

    Raises
    ------
    UnsafeInputError
        Absolute or ``..`` names, symlinks, encrypted members, too many members, too much
        uncompressed data, or a compression ratio typical of a zip bomb.
    ImportDataError
        Not a zip, or truncated.
    """
    name = name or path.name
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise _bad(f"{name}: not a readable zip archive ({exc}); the file may be truncated — upload it again, "
                   "or re-create the zip.",
                   f"{name}:不是可读的 zip 压缩包({exc});文件可能不完整,请重新上传或重新压缩。") from exc
    if len(infos) > limits.max_zip_members:
        raise _unsafe(f"{name}: the zip holds {len(infos):,} members, more than the limit of {limits.max_zip_members:,}; "
                      "zip only the files of the dataset to import.",
                      f"{name}:压缩包内有 {len(infos):,} 个文件,超过上限 {limits.max_zip_members:,};请只打包要导入的数据文件。")
    bad_names = []
    for info in infos:
        norm = info.filename.replace("\\", "/")
        parts = norm.split("/")
        if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm) or ".." in parts or "\x00" in norm:
            bad_names.append(info.filename)
        elif stat.S_ISLNK(info.external_attr >> 16):
            bad_names.append(info.filename + " (symlink)")
    if bad_names:
        shown = ", ".join(repr(n) for n in bad_names[:5])
        raise _unsafe(f"{name}: member names that point outside the archive (absolute paths, '..' or symlinks): {shown}; "
                      "the zip was refused and nothing was extracted. Re-create it with relative names.",
                      f"{name}:压缩包内的文件名指向包外(绝对路径、'..' 或符号链接):{shown};已拒绝,未解压任何内容。"
                      "请用相对路径重新打包。")
    encrypted = [i.filename for i in infos if i.flag_bits & 0x1]
    if encrypted:
        raise _unsafe(f"{name}: password-protected members ({', '.join(map(repr, encrypted[:5]))}) cannot be read; "
                      "zip them without a password.", f"{name}:压缩包内文件有密码保护,无法读取;请不加密重新打包。")
    total = sum(i.file_size for i in infos)
    if total > limits.max_uncompressed_bytes:
        raise _unsafe(f"{name}: the zip unpacks to {total / MB:,.0f} MB, more than the limit of "
                      f"{limits.max_uncompressed_bytes / MB:,.0f} MB (possible zip bomb); refused without unpacking.",
                      f"{name}:解压后 {total / MB:,.0f} MB,超过上限 {limits.max_uncompressed_bytes / MB:,.0f} MB"
                      "(可能是压缩炸弹);已拒绝,未解压。")
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > limits.ratio_min_bytes and ratio > limits.max_compression_ratio:
            raise _unsafe(f"{name}: member {info.filename!r} expands {ratio:,.0f}× ({info.compress_size:,} → "
                          f"{info.file_size:,} bytes), above the limit of {limits.max_compression_ratio:,.0f}× "
                          "(zip bomb pattern); refused without unpacking.",
                          f"{name}:成员 {info.filename!r} 压缩比 {ratio:,.0f} 倍,超过上限 "
                          f"{limits.max_compression_ratio:,.0f} 倍(压缩炸弹特征);已拒绝,未解压。")
    return infos


def _refuse_remote(raw: str) -> None:
    if _REMOTE.match(raw):
        raise _unsafe(f"{raw}: remote, database or GDAL virtual paths are not imported; download the file and import it "
                      "from disk.", f"{raw}:不导入远程、数据库或 GDAL 虚拟路径;请先下载到本地再导入。")


def _ext_error(name: str, ext: str) -> PlannerError:
    supported = "Shapefile (.shp or .zip), GeoPackage (.gpkg), GeoJSON (.geojson/.json), KML (.kml/.kmz), CSV, Excel (.xlsx), GeoTIFF (.tif)"
    if ext in _REFUSED_HINTS:
        en, zh = _REFUSED_HINTS[ext]
        return _unsafe(f"{name}: {en}.", f"{name}:{zh}。") if ext == ".vrt" else _bad(f"{name}: {en}.", f"{name}:{zh}。")
    return _bad(f"{name}: extension {ext or '(none)'!r} is not an importable format; expected {supported}. "
                "Convert the file, or give it its real extension.",
                f"{name}:扩展名 {ext or '(无)'} 不是可导入的格式;支持 Shapefile(.shp 或 .zip)、GeoPackage、GeoJSON、KML、"
                "CSV、Excel(.xlsx)、GeoTIFF。请转换格式或使用正确的扩展名。")


def resolve_source(path: str | os.PathLike, *, member: str | None = None, limits: ImportLimits | None = None,
                   display_name: str | None = None) -> Source:
    """Check a local input file (size, zip safety, Shapefile parts) and say what will be read."""
    limits = limits or default_limits()
    raw = os.fspath(path)
    _refuse_remote(raw)
    p = Path(raw)
    name = display_name or p.name
    if not p.is_file():
        raise _bad(f"{name}: no such file; check the path.", f"{name}:文件不存在,请检查路径。")
    ext = p.suffix.lower()
    fmt = FORMATS.get(ext)
    if fmt is None:
        raise _ext_error(name, ext)
    size = p.stat().st_size
    _check_size(name, size, limits)
    if fmt == "zip":
        return _resolve_zip(p, name, member, size, limits)
    src = Source(p, name, fmt, str(p), None, size, _sha256(p))
    if fmt == "shapefile":
        parts = {}
        for sext in (".shx", ".dbf", ".prj", ".cpg"):
            hits = [q for q in (p.with_suffix(sext), p.with_suffix(sext.upper())) if q.is_file()]
            if hits:
                parts[sext] = str(hits[0])
        src.sidecars = parts
        _check_size(name, size + sum(Path(v).stat().st_size for v in parts.values()), limits)
        _check_shapefile_parts(name, parts)
    return src


def _resolve_zip(p: Path, name: str, member: str | None, size: int, limits: ImportLimits) -> Source:
    infos = check_zip(p, limits, name=name)
    names = [i.filename for i in infos if not i.is_dir()]
    usable = [n for n in names if Path(n).suffix.lower() in _DATASET_EXTS
              and not n.startswith("__MACOSX/") and not Path(n).name.startswith(".")]
    if member is not None:
        if member not in names:
            raise _bad(f"{name}: no member {member!r} in the zip; it holds {', '.join(usable) or '(no datasets)'}.",
                       f"{name}:压缩包中没有 {member!r};包内数据:{', '.join(usable) or '(无)'}。")
        chosen = member
    elif len(usable) == 1:
        chosen = usable[0]
    elif not usable:
        raise _bad(f"{name}: the zip holds no importable dataset (found: {', '.join(names[:10]) or 'nothing'}); expected a .shp "
                   "with its .shx/.dbf/.prj, or a .gpkg, .geojson, .kml, .csv, .xlsx.",
                   f"{name}:压缩包中没有可导入的数据(包内:{', '.join(names[:10]) or '空'});应包含 .shp 及 .shx/.dbf/.prj,"
                   "或 .gpkg、.geojson、.kml、.csv、.xlsx。")
    else:
        shp = [n for n in usable if n.lower().endswith(".shp")]
        if p.suffix.lower() == ".kmz" and any(n.lower() == "doc.kml" for n in usable):
            chosen = next(n for n in usable if n.lower() == "doc.kml")
        elif len(shp) == 1:
            chosen = shp[0]  # a Shapefile with attachments (a readme.csv, a legend.xlsx)
        else:
            raise _bad(f"{name}: the zip holds several datasets ({', '.join(usable[:10])}); choose one with member=... "
                       "(CLI --member, or the member list on the import page).",
                       f"{name}:压缩包内有多个数据集({', '.join(usable[:10])});请选择其中一个(命令行 --member)。")
    ext = Path(chosen).suffix.lower()
    fmt = FORMATS.get(ext)
    if fmt is None:
        raise _ext_error(f"{name}/{chosen}", ext)
    if fmt == "geotiff":
        raise _bad(f"{name}: GeoTIFF {chosen!r} inside a zip is not imported; upload the .tif file itself.",
                   f"{name}:不导入压缩包内的 GeoTIFF {chosen!r};请直接上传 .tif 文件。")
    src = Source(p, f"{name}/{chosen}", fmt, f"/vsizip/{p.resolve()}/{chosen}", chosen, size, _sha256(p))
    if fmt == "shapefile":
        stem = chosen[: -len(Path(chosen).suffix)]
        lower = {n.lower(): n for n in names}
        parts = {}
        for sext in (".shx", ".dbf", ".prj", ".cpg"):
            hit = lower.get((stem + sext).lower())
            if hit is not None:
                parts[sext] = hit
        src.sidecars = parts
        _check_shapefile_parts(src.name, parts)
        # GDAL looks for sidecars as <stem>.shx or <stem>.SHX only.
        for sext, m in parts.items():
            if m not in (stem + sext, stem + sext.upper()) and sext in (".shx", ".dbf"):
                raise _bad(f"{src.name}: part {m!r} has a mixed-case extension GDAL will not find; rename it to "
                           f"{stem + sext!r} and zip again.",
                           f"{src.name}:部件 {m!r} 的扩展名大小写混杂,GDAL 无法识别;请改名为 {stem + sext!r} 后重新打包。")
    return src


def _check_shapefile_parts(name: str, parts: dict) -> None:
    missing = [s for s in (".shx", ".dbf") if s not in parts]
    if missing:
        what = {".shx": ".shx (the index of the shapes)", ".dbf": ".dbf (the attribute table)"}
        what_zh = {".shx": ".shx(图形索引)", ".dbf": ".dbf(属性表)"}
        raise _bad(f"{name}: the Shapefile is incomplete: {', '.join(what[m] for m in missing)} is missing. "
                   "A Shapefile is several files with the same name: upload .shp, .shx, .dbf, .prj (and .cpg) together, "
                   "or a zip of them.",
                   f"{name}:Shapefile 不完整,缺少 {'、'.join(what_zh[m] for m in missing)}。Shapefile 由同名的多个文件组成:"
                   "请同时上传 .shp、.shx、.dbf、.prj(及 .cpg),或将它们打成 zip 上传。")


def _read_bytes(src: Source, which: str | None = None, limit: int | None = None) -> bytes:
    """Bytes of the source (or of a sidecar ``which``), from disk or from the zip without extracting."""
    target = src.sidecars.get(which) if which else (src.member if src.member else str(src.path))
    if target is None:
        return b""
    if src.member is not None:
        with zipfile.ZipFile(src.path) as zf, zf.open(target) as fh:
            return fh.read(limit) if limit else fh.read()
    with open(target, "rb") as fh:
        return fh.read(limit) if limit else fh.read()


# ----------------------------------------------------------------------------- encodings
_CPG = {"936": "GB18030", "gbk": "GB18030", "gb2312": "GB18030", "gb18030": "GB18030", "cp936": "GB18030",
        "65001": "UTF-8", "utf-8": "UTF-8", "utf8": "UTF-8", "utf-8-sig": "UTF-8", "1252": "CP1252",
        "iso-8859-1": "ISO-8859-1", "88591": "ISO-8859-1", "latin1": "ISO-8859-1", "big5": "BIG5", "950": "BIG5"}
_CANDIDATES = ("UTF-8", "GB18030")


def normalise_encoding(name: str) -> str:
    """Canonical codec name for a user's or a ``.cpg``'s encoding ("GBK"/"936" → "GB18030", its superset)."""
    key = name.strip().lower().replace("_", "-")
    key = re.sub(r"^(cp|windows-)(?=\d)", "", key) if key.startswith(("cp9", "cp6", "windows-")) else key
    out = _CPG.get(key) or _CPG.get(key.replace("-", ""))
    if out:
        return out
    import codecs

    try:
        return codecs.lookup(name.strip()).name.upper()
    except LookupError:
        raise _bad(f"encoding {name!r} is not known; use UTF-8 or GB18030 (covers GBK/GB2312).",
                   f"未知编码 {name!r};请使用 UTF-8 或 GB18030(兼容 GBK/GB2312)。") from None


def _undecodable(data: bytes, enc: str) -> int:
    text = data.decode(enc, errors="replace")
    return text.count("\ufffd")


def detect_encoding(data: bytes) -> EncodingInfo:
    """UTF-8 or GB18030 for a sample of text bytes: strict UTF-8 first, then GB18030, then fewest errors.

    Counts the bytes each candidate cannot decode (``candidates``) so the preview can show
    how sure the choice is; pure ASCII is reported as such (both fit).
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return EncodingInfo("UTF-8", "bom", {"UTF-8": 0})
    if not any(b >= 0x80 for b in data):
        return EncodingInfo("UTF-8", "ascii", {"UTF-8": 0, "GB18030": 0}, "only ASCII characters: UTF-8 and GBK read it the same")
    counts = {enc: _undecodable(data, enc) for enc in _CANDIDATES}
    if counts["UTF-8"] == 0:
        return EncodingInfo("UTF-8", "detected", counts)
    if counts["GB18030"] == 0:
        return EncodingInfo("GB18030", "detected", counts)
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data[: 256 * 1024]).best()
        guess = normalise_encoding(best.encoding) if best is not None else None
    except (ImportError, LookupError, PlannerError):
        guess = None
    if guess and guess not in counts:
        counts[guess] = _undecodable(data, guess)
    enc = min(counts, key=lambda e: (counts[e], e != "GB18030"))
    return EncodingInfo(enc, "detected", counts,
                        f"no candidate decodes every byte ({counts}); {enc} fits best — check the preview and override if wrong")


def _dbf_sample(src: Source) -> bytes:
    """Field names and the first records of a .dbf (record-aligned, ≤ 2 MB), for encoding detection."""
    head = _read_bytes(src, ".dbf", 2 * MB)
    if len(head) < 32:
        return b""
    header_len = int.from_bytes(head[8:10], "little")
    rec_len = max(int.from_bytes(head[10:12], "little"), 1)
    names = head[32:max(32, min(header_len, len(head)))]
    body = head[header_len:]
    body = body[: (len(body) // rec_len) * rec_len]
    return names + b" " + body


def shapefile_encoding(src: Source, declared: str | None) -> EncodingInfo:
    sample = _dbf_sample(src)
    detected = detect_encoding(sample)
    if declared:
        enc = normalise_encoding(declared)
        return EncodingInfo(enc, "declared", detected.candidates)
    if ".cpg" in src.sidecars:
        raw = _read_bytes(src, ".cpg", 64).decode("ascii", errors="replace").strip()
        try:
            enc = normalise_encoding(raw)
        except ImportDataError:
            enc = None
        if enc and detected.candidates.get(enc, _undecodable(sample, enc)) == 0:
            return EncodingInfo(enc, "cpg", detected.candidates)
        return EncodingInfo(detected.encoding, "detected", detected.candidates,
                            f".cpg says {raw!r} but the attributes do not decode as that; using {detected.encoding} — "
                            "check the preview and override if wrong")
    return detected


# ----------------------------------------------------------------------------- readers
def read_source(src: Source, *, encoding: str | None = None, sheet: str | None = None,
                source_layer: str | None = None, header_score: Callable[[list[str]], int] | None = None,
                limits: ImportLimits | None = None) -> RawData:
    """Read a resolved vector or tabular source into a :class:`RawData` (not GeoTIFF)."""
    limits = limits or default_limits()
    if src.format in ("shapefile", "gpkg", "geojson", "kml"):
        return _read_vector(src, encoding=encoding, source_layer=source_layer)
    if src.format == "csv":
        return _read_csv(src, encoding=encoding, limits=limits)
    if src.format == "xlsx":
        return _read_xlsx(src, sheet=sheet, header_score=header_score, limits=limits)
    raise AssertionError(src.format)  # pragma: no cover


def _gdal_error(src: Source, exc: Exception) -> ImportDataError:
    msg = str(exc).replace(str(src.path.parent), "…") if src.path else str(exc)
    return _bad(f"{src.name}: cannot be read as {src.format} ({msg}). The file may be truncated or not really "
                f"{src.format}: export it again from the source software.",
                f"{src.name}:无法按 {src.format} 读取({msg})。文件可能不完整或格式不符:请从原软件重新导出。")


def _read_vector(src: Source, *, encoding: str | None, source_layer: str | None) -> RawData:
    if src.format == "shapefile":
        enc = shapefile_encoding(src, encoding)
    elif src.format == "kml" or src.format == "geojson":
        enc = EncodingInfo("UTF-8", "declared" if encoding else "format", note="GeoJSON and KML are UTF-8 by definition")
        if encoding and normalise_encoding(encoding) != "UTF-8":
            enc.note = f"{src.format} is always UTF-8; the encoding {encoding!r} was ignored"
    else:
        enc = EncodingInfo(None, "binary")
    notes: list[str] = []
    try:
        sniff_format(src.read_path)
        with gdal_safe_config(), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            layers = pyogrio.list_layers(src.read_path)
            names = [str(n) for n in layers[:, 0]] if len(layers) else []
            if source_layer is not None and source_layer not in names:
                raise _bad(f"{src.name}: no layer {source_layer!r}; it holds {', '.join(names) or '(none)'}.",
                           f"{src.name}:没有图层 {source_layer!r};现有:{', '.join(names) or '(无)'}。")
            if source_layer is None and len(names) > 1 and src.format == "gpkg":
                raise _bad(f"{src.name}: the GeoPackage holds {len(names)} layers ({', '.join(names[:20])}); choose one "
                           "with source_layer=... (CLI --source-layer).",
                           f"{src.name}:GeoPackage 中有 {len(names)} 个图层({', '.join(names[:20])});请选择一个"
                           "(命令行 --source-layer)。")
            kw = {"encoding": enc.encoding} if src.format == "shapefile" and enc.encoding else {}
            layer_arg = source_layer if source_layer is not None else (names[0] if src.format == "kml" and names else None)
            gdf = read_vector(src.read_path, layer=layer_arg, **kw)
        notes += [f"GDAL: {w.message}" for w in caught][:20]
    except PlannerError as exc:
        if isinstance(exc, (UnsafeInputError, ImportDataError)):
            raise
        raise _bad(f"{src.name}: {exc.message.split(': ', 1)[-1]}", f"{src.name}:{exc.message_zh.split(':', 1)[-1]}",
                   details=exc.details) from exc
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, pyogrio.errors.FieldError,
            pyogrio.errors.GeometryError, pyogrio.errors.CRSError, shapely.errors.GEOSException,
            OSError, ValueError, RuntimeError, zipfile.BadZipFile, KeyError, IndexError) as exc:
        raise _gdal_error(src, exc) from exc
    if src.format == "shapefile" and ".prj" not in src.sidecars:
        gdf = gdf.set_crs(None, allow_override=True) if gdf.crs is not None else gdf
    frame = gdf.reset_index(drop=True)
    return RawData(frame, frame.crs, np.arange(1, len(frame) + 1), enc, notes)


def _text_or_refuse(src: Source, data: bytes) -> None:
    head = data[:4096].lstrip(b"\xef\xbb\xbf").lstrip()
    if b"<OGRVRTDataSource" in data[:4096] or b"<VRTDataset" in data[:4096] or head.startswith(b"<"):
        raise _unsafe(f"{src.name}: named .csv but the content is XML (possibly a GDAL VRT that would read other files); "
                      "the file was not read. Export the table as real CSV.",
                      f"{src.name}:扩展名为 .csv,但内容是 XML(可能是会读取其他文件的 GDAL VRT);未读取。请导出为真正的 CSV。")
    if b"\x00" in data[:65536]:
        raise _bad(f"{src.name}: named .csv but the content is binary (NUL bytes); export the table as CSV text "
                   "(UTF-8 or GBK), or upload the Excel file itself.",
                   f"{src.name}:扩展名为 .csv,但内容是二进制;请导出为文本 CSV(UTF-8 或 GBK),或直接上传 Excel 文件。")


def _read_csv(src: Source, *, encoding: str | None, limits: ImportLimits) -> RawData:
    data = _read_bytes(src)
    _text_or_refuse(src, data)
    detected = detect_encoding(data[: 4 * MB])
    if encoding:
        enc = EncodingInfo(normalise_encoding(encoding), "declared", detected.candidates)
    else:
        enc = detected
    codec = "utf-8-sig" if enc.encoding == "UTF-8" else enc.encoding
    text = data.decode(codec, errors="replace")
    bad = text.count("\ufffd")
    if bad and enc.how != "declared" and bad > max(10, len(text) // 1000):
        raise _bad(f"{src.name}: {bad:,} bytes cannot be decoded as UTF-8 or GB18030 (GBK); the file is not text in a "
                   "known encoding. Save it as CSV UTF-8 from Excel, or declare its encoding.",
                   f"{src.name}:有 {bad:,} 个字节无法按 UTF-8 或 GB18030(GBK)解码;请在 Excel 中另存为“CSV UTF-8”,或指定编码。")
    if not text.strip():
        raise _bad(f"{src.name}: the CSV is empty; expected a header row and data rows.",
                   f"{src.name}:CSV 为空;应有表头行和数据行。")
    first = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    sep = max([",", "\t", ";", "|"], key=first.count)
    try:
        df = pd.read_csv(io.StringIO(text.lstrip("\ufeff")), sep=sep, dtype=str, keep_default_na=False,
                         na_values=[""], skip_blank_lines=True, nrows=limits.max_rows + 1, quoting=csv.QUOTE_MINIMAL)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, csv.Error, IndexError) as exc:
        raise _bad(f"{src.name}: the CSV cannot be parsed ({str(exc).strip()}); check for unbalanced quotes or rows "
                   "with extra separators.",
                   f"{src.name}:CSV 无法解析({str(exc).strip()});请检查引号是否成对、各行分隔符数量是否一致。") from exc
    if len(df) > limits.max_rows:
        raise _unsafe(f"{src.name}: more than {limits.max_rows:,} rows; split the file.",
                      f"{src.name}:超过 {limits.max_rows:,} 行;请拆分文件。")
    df.columns = [str(c).strip() for c in df.columns]
    _check_header(src, list(df.columns))
    return RawData(df, None, np.arange(2, len(df) + 2), enc, [f"CSV separator {sep!r}"])


def _check_header(src: Source, cols: list[str]) -> None:
    if not cols or all(c.startswith("Unnamed:") or not c for c in cols):
        raise _bad(f"{src.name}: no header row found; the first row must name the columns (e.g. 统一社会信用代码, 税收(万元)).",
                   f"{src.name}:未找到表头行;第一行应为列名(如 统一社会信用代码、税收(万元))。")


def _cell_text(v) -> str:
    if v is None:
        return ""
    return unicodedata.normalize("NFKC", str(v)).strip()


def _read_xlsx(src: Source, *, sheet: str | None, header_score, limits: ImportLimits) -> RawData:
    import openpyxl
    from openpyxl.utils import get_column_letter

    data = _read_bytes(src)
    tmp = io.BytesIO(data)
    # An .xlsx is a zip of XML: the same member, size and ratio checks as any upload.
    try:
        with zipfile.ZipFile(tmp) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise _bad(f"{src.name}: not a valid .xlsx workbook ({exc}); the file may be truncated or be an old .xls renamed — "
                   "open it in Excel or WPS and save as .xlsx.",
                   f"{src.name}:不是有效的 .xlsx 工作簿({exc});文件可能不完整,或是改了扩展名的 .xls。请在 Excel/WPS 中另存为 .xlsx。") from exc
    _check_zip_infos(src.name, infos, limits)
    try:
        with warnings.catch_warnings():
            # openpyxl warns about workbook features it drops (data validation, styles); not our concern.
            warnings.simplefilter("ignore")
            wb = openpyxl.load_workbook(io.BytesIO(data), data_only=False)
            wb_values = None
            names = wb.sheetnames
            if sheet is not None and sheet not in names:
                raise _bad(f"{src.name}: no sheet {sheet!r}; the workbook has {', '.join(names)}.",
                           f"{src.name}:没有工作表 {sheet!r};现有:{'、'.join(names)}。")
            ws = wb[sheet] if sheet is not None else next((wb[n] for n in names if wb[n].max_row > 1), wb[names[0]])
            if ws.max_row * ws.max_column > limits.max_excel_cells:
                raise _unsafe(f"{src.name}: sheet {ws.title!r} spans {ws.max_row:,} × {ws.max_column:,} cells, over the limit; "
                              "delete empty rows/columns or split it.",
                              f"{src.name}:工作表 {ws.title!r} 有 {ws.max_row:,} × {ws.max_column:,} 个单元格,超过上限;请删除空行列或拆分。")
            grid = [list(r) for r in ws.iter_rows(values_only=True)]
            kinds = [[c.data_type for c in r] for r in ws.iter_rows()]
            merged = [tuple(m.bounds) for m in ws.merged_cells.ranges]  # (min_col, min_row, max_col, max_row)
            if any("f" in r for r in kinds):
                wb_values = openpyxl.load_workbook(io.BytesIO(data), data_only=True)
                values = [list(r) for r in wb_values[ws.title].iter_rows(values_only=True)]
            else:
                values = grid
    except PlannerError:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, OSError, EOFError, IndexError, AttributeError) as exc:
        raise _bad(f"{src.name}: the workbook cannot be read ({type(exc).__name__}: {exc}); open it in Excel or WPS and "
                   "save it again as .xlsx.",
                   f"{src.name}:工作簿无法读取({exc});请在 Excel/WPS 中打开并重新保存为 .xlsx。") from exc
    except Exception as exc:  # defusedxml refuses entity tricks with its own exception types
        if type(exc).__module__.startswith(("defusedxml", "xml.")):
            raise _unsafe(f"{src.name}: the workbook's XML uses entities or external references ({type(exc).__name__}); "
                          "refused. Save it again from Excel or WPS.",
                          f"{src.name}:工作簿 XML 含实体或外部引用;已拒绝。请用 Excel/WPS 重新保存。") from exc
        raise
    notes, notes_zh = [f"sheet {ws.title!r}"], [f"工作表 {ws.title!r}"]
    if len([n for n in names if wb[n].max_row > 1]) > 1 and sheet is None:
        notes.append(f"the workbook has several sheets ({', '.join(names)}); read {ws.title!r} — choose another with sheet=")
        notes_zh.append(f"工作簿有多个工作表({'、'.join(names)});已读取 {ws.title!r},可另选")
    if not grid or all(all(v is None for v in r) for r in grid):
        raise _bad(f"{src.name}: sheet {ws.title!r} is empty; expected a header row and data rows.",
                   f"{src.name}:工作表 {ws.title!r} 为空;应有表头行和数据行。")
    width = max(len(r) for r in grid)
    for r in (grid, values, kinds):
        for row in r:
            row.extend([None] * (width - len(row)))
    # Fill merged ranges with their top-left value, so a merged header names every column it spans.
    filled = [list(r) for r in grid[:30]]
    for c0, r0, c1, r1 in merged:
        if r0 > len(filled):
            continue
        v = grid[r0 - 1][c0 - 1]
        for rr in range(r0, min(r1, len(filled)) + 1):
            for cc in range(c0, c1 + 1):
                filled[rr - 1][cc - 1] = v
    title_rows = {r0 for c0, r0, c1, r1 in merged if c1 - c0 + 1 >= max(2, width - 1) and r0 == r1}
    header, first_data, header_rows = _find_header(filled, title_rows, header_score)
    labels = []
    seen: dict[str, int] = {}
    for j, lab in enumerate(header):
        lab = lab or f"列{get_column_letter(j + 1)}"
        seen[lab] = seen.get(lab, 0) + 1
        labels.append(lab if seen[lab] == 1 else f"{lab} ({seen[lab]})")
    rows = values[first_data:]
    kinds_rows = kinds[first_data:]
    excel_rows = np.arange(first_data + 1, len(values) + 1)
    keep = np.array([any(v is not None and str(v).strip() != "" for v in r) for r in rows], dtype=bool)
    rows = [r for r, k in zip(rows, keep) if k]
    kinds_rows = [r for r, k in zip(kinds_rows, keep) if k]
    grid_rows = [r for r, k in zip(grid[first_data:], keep) if k]
    excel_rows = excel_rows[keep] if len(keep) else excel_rows[:0]
    if len(rows) > limits.max_rows:
        raise _unsafe(f"{src.name}: more than {limits.max_rows:,} rows; split the workbook.",
                      f"{src.name}:超过 {limits.max_rows:,} 行;请拆分工作簿。")
    df = pd.DataFrame(rows, columns=labels, dtype=object)
    numeric = {lab: np.array([isinstance(r[j], (int, float)) and not isinstance(r[j], bool) for r in rows], dtype=bool)
               for j, lab in enumerate(labels)}
    formulas = [(i, labels[j], str(grid_rows[i][j]), rows[i][j] is not None)
                for i, r in enumerate(kinds_rows) for j, k in enumerate(r) if k == "f"]
    if header_rows and (header_rows[0] > 1 or len(header_rows) > 1):
        skipped = header_rows[0] - 1
        notes.append(f"header on row(s) {'–'.join(map(str, (header_rows[0], header_rows[-1])))}"
                     + (" (merged cells combined)" if len(header_rows) > 1 else "")
                     + (f"; {skipped} title row(s) above it skipped" if skipped else ""))
        notes_zh.append(f"表头位于第 {header_rows[0]}" + (f"–{header_rows[-1]}" if len(header_rows) > 1 else "")
                        + " 行" + (",已合并多级表头" if len(header_rows) > 1 else "")
                        + (f";跳过上方 {skipped} 行标题" if skipped else ""))
    return RawData(df, None, excel_rows, EncodingInfo(None, "binary", note="Excel stores text as Unicode"),
                   notes, notes_zh, formulas, numeric, header_rows)


def _check_zip_infos(name: str, infos, limits: ImportLimits) -> None:
    if len(infos) > limits.max_zip_members:
        raise _unsafe(f"{name}: the workbook holds {len(infos):,} parts, over the limit; refused.",
                      f"{name}:工作簿内部文件数 {len(infos):,} 超过上限;已拒绝。")
    total = sum(i.file_size for i in infos)
    worst = max((i.file_size / max(i.compress_size, 1) for i in infos if i.file_size > limits.ratio_min_bytes), default=0)
    if total > limits.max_uncompressed_bytes or worst > limits.max_compression_ratio:
        raise _unsafe(f"{name}: the workbook unpacks to {total / MB:,.0f} MB (ratio up to {worst:,.0f}×), over the limits "
                      "(possible zip bomb); refused without unpacking.",
                      f"{name}:工作簿解压后 {total / MB:,.0f} MB(压缩比最高 {worst:,.0f} 倍),超过上限(可能是压缩炸弹);已拒绝。")


def _find_header(filled: list[list], title_rows: set[int], header_score) -> tuple[list[str], int, tuple[int, ...]]:
    """The header (one row, or two rows of a merged two-level header) that names the most known fields.

    Returns (labels, index of the first data row in the grid, 1-based header row numbers).
    Candidates are each of the first 10 rows and each pair of adjacent rows (parent + child
    label, the parent repeated across its merged span); without a ``header_score`` the
    first row with at least two non-empty cells that is not a merged title wins.
    """
    n = min(len(filled), 10)
    candidates = []
    for i in range(n):
        if (i + 1) in title_rows:
            continue
        row = [_cell_text(v) for v in filled[i]]
        if sum(bool(v) for v in row) < 2 and n > 1:
            continue
        candidates.append(((i + 1,), row, i + 1))
        if i + 1 < len(filled):
            below = [_cell_text(v) for v in filled[i + 1]]
            if sum(bool(v) for v in below) >= 1 and below != row:
                pair = [a if (a == b or not b) else (b if not a else f"{a}/{b}") for a, b in zip(row, below)]
                candidates.append(((i + 1, i + 2), pair, i + 2))
    if not candidates:
        row = [_cell_text(v) for v in filled[0]]
        return row, 1, (1,)
    if header_score is None:
        rows, labels, first = candidates[0]
        return labels, first, rows
    # Best score; then the candidate with more distinct labels (a two-level header that tells
    # "2024年" from "2025年" beats its parent row alone); then the earlier one.
    best = max(range(len(candidates)),
               key=lambda k: (header_score(candidates[k][1]), len({v for v in candidates[k][1] if v}), -k))
    rows, labels, first = candidates[best]
    return labels, first, rows

