"""Stage 1a, the source: what the user gave and what will be read, checked before anything is parsed.

Everything here treats its input as hostile:

- sizes are checked before anything is parsed (:class:`ImportLimits`);
- a zip is checked member by member (absolute names, ``..`` traversal, symlinks, encryption,
  member count, total uncompressed size, compression ratio) and later read through GDAL's
  ``/vsizip/`` or Python's :mod:`zipfile` *without extracting anything to disk*;
- every failure becomes an :class:`~geo.errors.ImportDataError` or
  :class:`~geo.errors.UnsafeInputError` naming the file, what was wrong and how to fix it.
"""
from __future__ import annotations

import hashlib
import os
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from geo.errors import ImportDataError, PlannerError, UnsafeInputError

__all__ = [
    "MB",
    "FORMATS",
    "ImportLimits",
    "default_limits",
    "Source",
    "resolve_source",
    "check_zip",
    "check_zip_infos",
    "read_bytes",
    "bad_input",
    "unsafe_input",
    "member_name",
    "scrub_paths",
    "without_paths",
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


def unsafe_input(en: str, zh: str) -> UnsafeInputError:
    return UnsafeInputError(en, message_zh=zh)


def bad_input(en: str, zh: str, details: list | None = None) -> ImportDataError:
    return ImportDataError(en, message_zh=zh, details=details)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(4 * MB):
            h.update(chunk)
    return h.hexdigest()


def _check_size(name: str, size: int, limits: ImportLimits) -> None:
    if size > limits.max_upload_bytes:
        raise unsafe_input(
            f"{name}: {size / MB:,.1f} MB is over the upload limit of {limits.max_upload_bytes / MB:,.0f} MB; "
            "split the data (e.g. by township) or ask the administrator to raise PLANNER_MAX_UPLOAD_MB.",
            f"{name}:{size / MB:,.1f} MB 超过上传上限 {limits.max_upload_bytes / MB:,.0f} MB;请拆分数据(如按镇街)"
            "或请管理员调高 PLANNER_MAX_UPLOAD_MB。",
        )


def member_name(info: zipfile.ZipInfo) -> str:
    """A zip member's name as its author wrote it.

    Zips made on Chinese Windows store names in GBK without the UTF-8 flag (bit 11); Python
    (and GDAL) then read them as CP437 and show mojibake.  Such a name is shown decoded as
    UTF-8 if it is valid UTF-8, else as GB18030; the stored name is still what is read.
    """
    if info.flag_bits & 0x800:
        return info.filename
    try:
        raw = info.filename.encode("cp437")
    except UnicodeEncodeError:
        return info.filename
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return info.filename


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
        raise bad_input(f"{name}: not a readable zip archive ({exc}); the file may be truncated — upload it again, "
                   "or re-create the zip.",
                   f"{name}:不是可读的 zip 压缩包({exc});文件可能不完整,请重新上传或重新压缩。") from exc
    if len(infos) > limits.max_zip_members:
        raise unsafe_input(f"{name}: the zip holds {len(infos):,} members, more than the limit of {limits.max_zip_members:,}; "
                      "zip only the files of the dataset to import.",
                      f"{name}:压缩包内有 {len(infos):,} 个文件,超过上限 {limits.max_zip_members:,};请只打包要导入的数据文件。")
    bad_names = []
    for info in infos:
        norm = info.filename.replace("\\", "/")
        parts = norm.split("/")
        if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm) or ".." in parts or "\x00" in norm:
            bad_names.append(member_name(info))
        elif stat.S_ISLNK(info.external_attr >> 16):
            bad_names.append(member_name(info) + " (symlink)")
    if bad_names:
        shown = ", ".join(repr(n) for n in bad_names[:5])
        raise unsafe_input(f"{name}: member names that point outside the archive (absolute paths, '..' or symlinks): {shown}; "
                      "the zip was refused and nothing was extracted. Re-create it with relative names.",
                      f"{name}:压缩包内的文件名指向包外(绝对路径、'..' 或符号链接):{shown};已拒绝,未解压任何内容。"
                      "请用相对路径重新打包。")
    encrypted = [member_name(i) for i in infos if i.flag_bits & 0x1]
    if encrypted:
        raise unsafe_input(f"{name}: password-protected members ({', '.join(map(repr, encrypted[:5]))}) cannot be read; "
                      "zip them without a password.", f"{name}:压缩包内文件有密码保护,无法读取;请不加密重新打包。")
    total = sum(i.file_size for i in infos)
    if total > limits.max_uncompressed_bytes:
        raise unsafe_input(f"{name}: the zip unpacks to {total / MB:,.0f} MB, more than the limit of "
                      f"{limits.max_uncompressed_bytes / MB:,.0f} MB (possible zip bomb); refused without unpacking.",
                      f"{name}:解压后 {total / MB:,.0f} MB,超过上限 {limits.max_uncompressed_bytes / MB:,.0f} MB"
                      "(可能是压缩炸弹);已拒绝,未解压。")
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > limits.ratio_min_bytes and ratio > limits.max_compression_ratio:
            raise unsafe_input(f"{name}: member {member_name(info)!r} expands {ratio:,.0f}× ({info.compress_size:,} → "
                          f"{info.file_size:,} bytes), above the limit of {limits.max_compression_ratio:,.0f}× "
                          "(zip bomb pattern); refused without unpacking.",
                          f"{name}:成员 {member_name(info)!r} 压缩比 {ratio:,.0f} 倍,超过上限 "
                          f"{limits.max_compression_ratio:,.0f} 倍(压缩炸弹特征);已拒绝,未解压。")
    return infos


def check_zip_infos(name: str, infos, limits: ImportLimits) -> None:
    if len(infos) > limits.max_zip_members:
        raise unsafe_input(f"{name}: the workbook holds {len(infos):,} parts, over the limit; refused.",
                      f"{name}:工作簿内部文件数 {len(infos):,} 超过上限;已拒绝。")
    total = sum(i.file_size for i in infos)
    worst = max((i.file_size / max(i.compress_size, 1) for i in infos if i.file_size > limits.ratio_min_bytes), default=0)
    if total > limits.max_uncompressed_bytes or worst > limits.max_compression_ratio:
        raise unsafe_input(f"{name}: the workbook unpacks to {total / MB:,.0f} MB (ratio up to {worst:,.0f}×), over the limits "
                      "(possible zip bomb); refused without unpacking.",
                      f"{name}:工作簿解压后 {total / MB:,.0f} MB(压缩比最高 {worst:,.0f} 倍),超过上限(可能是压缩炸弹);已拒绝。")


def _refuse_remote(raw: str) -> None:
    if _REMOTE.match(raw):
        raise unsafe_input(f"{raw}: remote, database or GDAL virtual paths are not imported; download the file and import it "
                      "from disk.", f"{raw}:不导入远程、数据库或 GDAL 虚拟路径;请先下载到本地再导入。")


def _ext_error(name: str, ext: str) -> PlannerError:
    supported = "Shapefile (.shp or .zip), GeoPackage (.gpkg), GeoJSON (.geojson/.json), KML (.kml/.kmz), CSV, Excel (.xlsx), GeoTIFF (.tif)"
    if ext in _REFUSED_HINTS:
        en, zh = _REFUSED_HINTS[ext]
        return unsafe_input(f"{name}: {en}.", f"{name}:{zh}。") if ext == ".vrt" else bad_input(f"{name}: {en}.", f"{name}:{zh}。")
    return bad_input(f"{name}: extension {ext or '(none)'!r} is not an importable format; expected {supported}. "
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
        raise bad_input(f"{name}: no such file; check the path.", f"{name}:文件不存在,请检查路径。")
    ext = p.suffix.lower()
    fmt = FORMATS.get(ext)
    if fmt is None:
        raise _ext_error(name, ext)
    size = p.stat().st_size
    if size == 0:
        raise bad_input(f"{name}: the file is empty (0 bytes): the upload or the export did not complete. Export it "
                        "again and upload the new file.",
                        f"{name}:文件为空(0 字节):上传或导出未完成。请重新导出后再上传。")
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
    shown = {i.filename: member_name(i) for i in infos if not i.is_dir()}  # stored name → as its author wrote it
    names = list(shown)
    usable = [n for n in names if Path(n).suffix.lower() in _DATASET_EXTS
              and not n.startswith("__MACOSX/") and not Path(n).name.startswith(".")]
    listing = ", ".join(shown[n] for n in usable[:10])
    if member is not None:
        by_shown = {v: k for k, v in shown.items()}
        if member not in shown and member not in by_shown:
            raise bad_input(f"{name}: no member {member!r} in the zip; it holds {listing or '(no datasets)'}.",
                            f"{name}:压缩包中没有 {member!r};包内数据:{listing or '(无)'}。")
        chosen = member if member in shown else by_shown[member]
    elif len(usable) == 1:
        chosen = usable[0]
    elif not usable:
        found = ", ".join(shown[n] for n in names[:10]) or "nothing"
        raise bad_input(f"{name}: the zip holds no importable dataset (found: {found}); expected a .shp "
                        "with its .shx/.dbf/.prj, or a .gpkg, .geojson, .kml, .csv, .xlsx.",
                        f"{name}:压缩包中没有可导入的数据(包内:{found if names else '空'});应包含 .shp 及 .shx/.dbf/.prj,"
                        "或 .gpkg、.geojson、.kml、.csv、.xlsx。")
    else:
        shp = [n for n in usable if n.lower().endswith(".shp")]
        if p.suffix.lower() == ".kmz" and any(n.lower() == "doc.kml" for n in usable):
            chosen = next(n for n in usable if n.lower() == "doc.kml")
        elif len(shp) == 1:
            chosen = shp[0]  # a Shapefile with attachments (a readme.csv, a legend.xlsx)
        else:
            raise bad_input(f"{name}: the zip holds several datasets ({listing}); choose one with member=... "
                            "(CLI --member, or the member list on the import page).",
                            f"{name}:压缩包内有多个数据集({listing});请选择其中一个(命令行 --member)。")
    ext = Path(chosen).suffix.lower()
    fmt = FORMATS.get(ext)
    if fmt is None:
        raise _ext_error(f"{name}/{shown[chosen]}", ext)
    if fmt == "geotiff":
        raise bad_input(f"{name}: GeoTIFF {shown[chosen]!r} inside a zip is not imported; upload the .tif file itself.",
                        f"{name}:不导入压缩包内的 GeoTIFF {shown[chosen]!r};请直接上传 .tif 文件。")
    src = Source(p, f"{name}/{shown[chosen]}", fmt, f"/vsizip/{p.resolve()}/{chosen}", chosen, size, _sha256(p))
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
                raise bad_input(f"{src.name}: part {shown[m]!r} has a mixed-case extension GDAL will not find; rename it to "
                           f"{stem + sext!r} and zip again.",
                           f"{src.name}:部件 {shown[m]!r} 的扩展名大小写混杂,GDAL 无法识别;请改名为 {stem + sext!r} 后重新打包。")
    return src


def _check_shapefile_parts(name: str, parts: dict) -> None:
    missing = [s for s in (".shx", ".dbf") if s not in parts]
    if missing:
        what = {".shx": ".shx (the index of the shapes)", ".dbf": ".dbf (the attribute table)"}
        what_zh = {".shx": ".shx(图形索引)", ".dbf": ".dbf(属性表)"}
        raise bad_input(f"{name}: the Shapefile is incomplete: {', '.join(what[m] for m in missing)} is missing. "
                   "A Shapefile is several files with the same name: upload .shp, .shx, .dbf, .prj (and .cpg) together, "
                   "or a zip of them.",
                   f"{name}:Shapefile 不完整,缺少 {'、'.join(what_zh[m] for m in missing)}。Shapefile 由同名的多个文件组成:"
                   "请同时上传 .shp、.shx、.dbf、.prj(及 .cpg),或将它们打成 zip 上传。")


def read_bytes(src: Source, which: str | None = None, limit: int | None = None) -> bytes:
    """Bytes of the source (or of a sidecar ``which``), from disk or from the zip without extracting."""
    target = src.sidecars.get(which) if which else (src.member if src.member else str(src.path))
    if target is None:
        return b""
    if src.member is not None:
        with zipfile.ZipFile(src.path) as zf, zf.open(target) as fh:
            return fh.read(limit) if limit else fh.read()
    with open(target, "rb") as fh:
        return fh.read(limit) if limit else fh.read()


def scrub_paths(text: str, source) -> str:
    """``text`` without the server folder ``source`` lies in: messages name the file as the user knows it.

    >>> scrub_paths("/vsizip//tmp/planner-upload-x/a.zip/p.shp: bad", "/tmp/planner-upload-x/a.zip")
    'a.zip/p.shp: bad'
    """
    p = Path(os.fspath(source))
    folders = sorted({str(p.parent), str(p.resolve().parent)} - {"", ".", "/"}, key=len, reverse=True)
    for folder in folders:
        text = text.replace("/vsizip/" + folder + os.sep, "").replace(folder + os.sep, "").replace(folder, "…")
    return text


def without_paths(exc: PlannerError, source) -> PlannerError:
    """The same error with the server folder of ``source`` taken out of its messages and text details."""
    exc.message = scrub_paths(exc.message, source)
    exc.message_zh = scrub_paths(exc.message_zh, source)
    exc.details = [scrub_paths(d, source) if isinstance(d, str) else d for d in exc.details]
    exc.args = (exc.message, *exc.args[1:])
    return exc
