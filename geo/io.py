"""Safe vector I/O: explicit GDAL drivers per format, atomic GeoPackage writes.

Reading never lets GDAL guess the driver from the file's content: the driver is chosen
from the extension, the file's first bytes must match that format before GDAL sees it
(:func:`sniff_format`: a VRT renamed ``.geojson`` is refused unread), and the driver GDAL
actually used is checked again.  Rings left unclosed in a file are closed on read and
their rows listed in ``gdf.attrs[UNCLOSED_RINGS_ATTR]`` for the validation report.  Writing goes to a temporary file in the same folder, is checked
with SQLite's integrity check, fsynced, then renamed over the target: an interrupted or
failed write leaves the old file byte-identical.
"""
from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pyogrio
import shapely

from geo.errors import UnsafeInputError, WorkspaceError

__all__ = [
    "DRIVERS",
    "driver_for",
    "read_vector",
    "atomic_path",
    "check_sqlite_integrity",
    "gdal_safe_config",
    "sniff_format",
    "UNCLOSED_RINGS_ATTR",
]

#: ``gdf.attrs`` key listing index labels whose rings were unclosed in the file and closed
#: on read; :func:`geo.validate.validate_geometries` reports them as ``unclosed_ring``.
UNCLOSED_RINGS_ATTR = "geo_unclosed_ring_rows"

# Extension → the only GDAL driver allowed to open it.
DRIVERS = {
    ".gpkg": "GPKG",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".shp": "ESRI Shapefile",
    ".kml": "LIBKML" if "LIBKML" in pyogrio.list_drivers() else "KML",
    ".csv": "CSV",
    ".fgb": "FlatGeobuf",
}

# GDAL config that keeps a read from touching the network or following references.
SAFE_GDAL_CONFIG = {
    "GDAL_HTTP_TIMEOUT": "1",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".none",
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "OGR_SQLITE_ALLOW_EXTERNAL_ACCESS": "NO",
}
_REFUSED_PREFIXES = ("/vsicurl", "/vsihttp", "/vsis3", "/vsigs", "/vsiaz", "/vsioss", "/vsiswift", "/vsiwebhdfs",
                     "http:", "https:", "ftp:", "wfs:", "pg:", "mysql:", "odbc:")


def driver_for(path: str | os.PathLike) -> str:
    """The GDAL vector driver for ``path``'s extension; refuses unknown extensions."""
    name = str(path)
    inner = name.split("/vsizip/", 1)[-1]
    ext = Path(inner).suffix.lower()
    if ext not in DRIVERS:
        raise UnsafeInputError(
            f"{name}: extension {ext or '(none)'!r} is not a supported vector format; "
            f"expected one of {sorted(DRIVERS)}. Rename or convert the file.",
            message_zh=f"{name}:不支持的扩展名 {ext or '(无)'};支持 {sorted(DRIVERS)}。请转换文件格式。",
        )
    return DRIVERS[ext]


def _head(path: str, size: int = 4096) -> bytes | None:
    """First bytes of a local file or of a member inside ``/vsizip/…zip/member``; None if unknown."""
    if path.startswith("/vsizip/"):
        inner = path[len("/vsizip/"):]
        low = inner.lower()
        cut = low.find(".zip/")
        if cut < 0:
            return None
        archive, member = inner[:cut + 4], inner[cut + 5:]
        try:
            with zipfile.ZipFile(archive) as zf, zf.open(member) as fh:
                return fh.read(size)
        except (OSError, KeyError, zipfile.BadZipFile):
            return None
    if path.startswith("/vsi"):
        return None
    try:
        with open(path, "rb") as fh:
            return fh.read(size)
    except OSError:
        return None


def _looks_like(driver: str, head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if b"<OGRVRTDataSource" in head or b"<VRTDataset" in head:
        return False
    if driver == "GPKG":
        return head.startswith(b"SQLite format 3\x00")
    if driver == "ESRI Shapefile":
        return head[:4] == b"\x00\x00\x27\x0a"
    if driver == "FlatGeobuf":
        return head[:3] == b"fgb"
    if driver == "GeoJSON":
        return text.startswith(b"{")
    if driver in ("KML", "LIBKML"):
        return text.startswith(b"<") and b"<kml" in head
    if driver == "CSV":
        return bool(text) and not text.startswith(b"<")
    return True


def sniff_format(path: str | os.PathLike) -> str:
    """Check a file's first bytes against the format its extension names, before GDAL opens it.

    A GDAL VRT (XML that makes GDAL read other files) renamed ``.geojson``, ``.csv`` or
    ``.kml`` is refused here, whatever drivers GDAL has registered.  Returns the driver.

    Raises
    ------
    UnsafeInputError
        When the content does not match the extension.
    """
    name = os.fspath(path)
    driver = driver_for(name)
    head = _head(name)
    if head is None:
        return driver
    if not _looks_like(driver, head):
        vrt = b"<OGRVRTDataSource" in head or b"<VRTDataset" in head
        what = "a GDAL VRT (it would make GDAL read other files)" if vrt else "something else"
        what_zh = "GDAL VRT(会让 GDAL 读取其他文件)" if vrt else "其他格式"
        raise UnsafeInputError(
            f"{name}: the extension says {driver} but the content is {what}; the file was not read. "
            f"Export the data as real {driver} and import that.",
            message_zh=f"{name}:扩展名表示 {driver},但内容是{what_zh};未读取。请导出为真正的 {driver} 后再导入。",
        )
    return driver


def _refuse_remote(path: str) -> None:
    low = path.lower()
    if any(low.startswith(p) or f"{p}" in low.split(",")[0] for p in _REFUSED_PREFIXES):
        raise UnsafeInputError(
            f"{path}: remote or database paths are not read by this importer; download the file and import it locally.",
            message_zh=f"{path}:不读取远程或数据库路径;请先下载到本地再导入。",
        )


def read_vector(path: str | os.PathLike, *, layer: str | int | None = None, bbox=None, columns=None,
                where: str | None = None, encoding: str | None = None, **kwargs) -> gpd.GeoDataFrame:
    """Read a vector file with the driver its extension names (never auto-detected).

    Parameters
    ----------
    path : path-like
        A local file, or a ``/vsizip/`` path into a zip already checked by the caller.
    bbox : tuple, optional
        (minx, miny, maxx, maxy) in the file's CRS.
    columns : list, optional
        Attribute columns to read (geometry is always read).
    encoding : str, optional
        Attribute encoding for Shapefile/CSV ("GB18030", "UTF-8"), overriding ``.cpg``.
    """
    name = os.fspath(path)
    _refuse_remote(name)
    driver = sniff_format(name)
    with gdal_safe_config():
        try:
            opened_by = pyogrio.read_info(name, layer=layer, encoding=encoding)["driver"]
            if opened_by != driver and not (driver in ("KML", "LIBKML") and opened_by in ("KML", "LIBKML")):
                raise UnsafeInputError(
                    f"{name}: the extension says {driver} but the content is {opened_by}; the file was not read. "
                    "Give the file its real extension.",
                    message_zh=f"{name}:扩展名表示 {driver},但内容是 {opened_by},未读取。请使用正确的扩展名。",
                )
            with warnings.catch_warnings():
                # GDAL warns about each unclosed ring it accepts; they are detected and
                # reported below (UNCLOSED_RINGS_ATTR), not hidden.
                warnings.filterwarnings("ignore", message="Non closed ring detected", category=RuntimeWarning)
                try:
                    return pyogrio.read_dataframe(
                        name, layer=layer, bbox=bbox, columns=columns, where=where, encoding=encoding,
                        use_arrow=False, **kwargs,
                    )
                except shapely.errors.GEOSException:
                    return _read_with_unclosed_rings(name, layer=layer, bbox=bbox, columns=columns, where=where,
                                                     encoding=encoding, **kwargs)
        except pyogrio.errors.DataSourceError as exc:
            raise WorkspaceError(
                f"{name}: cannot be read as {driver}: {exc}. Check that the file is complete and really is {driver}.",
                message_zh=f"{name}:无法按 {driver} 格式读取({exc})。请确认文件完整且格式正确。",
            ) from exc


def _read_with_unclosed_rings(name: str, **kw) -> gpd.GeoDataFrame:
    """Re-read a file whose WKB GEOS refused (unclosed rings), closing the rings and noting the rows.

    Attributes come from a geometry-less read and geometries from pyogrio's raw WKB with
    the same filters, so rows line up.  Rings are closed by ``shapely.from_wkb(...,
    on_invalid="fix")``; rows that needed it are listed in ``attrs[UNCLOSED_RINGS_ATTR]``.
    """
    frame = pyogrio.read_dataframe(name, read_geometry=False, use_arrow=False, **kw)
    raw_kw = {k: v for k, v in kw.items() if k in ("layer", "bbox", "where", "encoding")}
    meta, _fids, wkb, _fields = pyogrio.raw.read(name, columns=[], **raw_kw)
    strict = shapely.from_wkb(wkb, on_invalid="ignore")
    fixed = shapely.from_wkb(wkb, on_invalid="fix")
    bad = shapely.is_missing(strict) & ~shapely.is_missing(fixed)
    gdf = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(fixed, index=frame.index), crs=meta.get("crs"))
    gdf.attrs[UNCLOSED_RINGS_ATTR] = list(gdf.index[bad])
    return gdf


@contextlib.contextmanager
def gdal_safe_config() -> Iterator[None]:
    """Set GDAL options that keep reads local for the duration of the block."""
    old = {k: os.environ.get(k) for k in SAFE_GDAL_CONFIG}
    os.environ.update(SAFE_GDAL_CONFIG)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, *, check=None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success, fsync and rename it over ``target``.

    For whole files written once (exports, rasters, a new workspace); a workspace is changed
    in place by database transactions, never copied.  ``check(path)`` runs before the rename
    and may raise to abort.  On any error the temp file is removed and ``target`` is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # The temp name keeps the real extension: GDAL checks it (GeoPackage, GeoTIFF).
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        tmp.unlink()
        yield tmp
        if check is not None:
            check(tmp)
        # mkstemp creates 0600 files; keep the target's mode (or the usual 0644 under the umask).
        os.chmod(tmp, target.stat().st_mode & 0o777 if target.exists() else 0o666 & ~_umask())
        _fsync(tmp)
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        for extra in (tmp.with_name(tmp.name + "-journal"), tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
            with contextlib.suppress(FileNotFoundError):
                extra.unlink()
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def check_sqlite_integrity(path: str | os.PathLike) -> None:
    """Raise :class:`WorkspaceError` unless SQLite's ``PRAGMA integrity_check`` says ok."""
    try:
        con = sqlite3.connect(f"file:{os.fspath(path)}?mode=ro", uri=True)
        try:
            result = con.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:  # not a database at all, or unreadable pages
        result = str(exc)
    if result != "ok":
        raise WorkspaceError(
            f"{path}: GeoPackage failed its integrity check ({result}); the write was abandoned and the old file kept.",
            message_zh=f"{path}:GeoPackage 完整性检查失败({result});已放弃本次写入,原文件保持不变。",
        )
