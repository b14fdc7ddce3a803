"""Rasters (GeoTIFF): checked whole (a truncated file says so), georeferenced, warped to the working CRS.

A raster is not mapped or validated row by row: it is read block by block once, its CRS and
bounds checked like a vector's, and warped to the workspace CRS when it is in another.
"""
from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from pyproj import CRS

from geo.crs import detect_crs_issue
from geo.errors import CRSError, ImportDataError, MissingCRSError
from layers.imports.problems import check_choice
from layers.imports.source import Source

__all__ = ["PreparedRaster", "prepare_raster", "WARP_PREFIX"]

WARP_PREFIX = "planner-import-"  # the folder of a warped copy, deleted once the copy is registered


@dataclass
class PreparedRaster:
    """A GeoTIFF ready to register: its file in the working CRS (the source itself, or a warped copy)."""

    path: str
    info: dict  # width, height, bands, bounds, crs (and the warped size)
    crs: dict  # file, declared, steps, target, finding


def prepare_raster(src: Source, *, layer: str, crs, gcj02: bool, target: str, resampling: str) -> PreparedRaster:
    """Check ``src`` whole (truncation, georeference, CRS against its bounds) and warp it to ``target`` if needed.

    A raster without a full georeference is refused with the step that completes it: no CRS
    → declare it (``crs=``, CLI ``--crs``) or ``gdal_translate -a_srs``; no position for its
    pixels (no geotransform) → ``gdal_translate -a_ullr`` with the corner coordinates (a CRS
    alone does not place pixels); neither → both.
    """
    from rasterio.warp import Resampling

    if gcj02:
        raise ImportDataError(f"{src.name}: GCJ-02 rasters are not converted (the shift is not a grid transform); "
                              "obtain the raster in CGCS2000 or WGS84.",
                              message_zh=f"{src.name}:不转换 GCJ-02 栅格;请获取 CGCS2000 或 WGS84 的栅格。")
    methods = {"bilinear": Resampling.bilinear, "nearest": Resampling.nearest, "cubic": Resampling.cubic}
    check_choice("resampling", resampling, tuple(methods))
    file_crs, bounds, info = _read_checked(src, declared=crs)
    declared = CRS.from_user_input(crs) if crs else file_crs
    finding = detect_crs_issue(bounds, declared)
    if not finding.ok:
        raise CRSError(f"{src.name}: {finding.message} Declare the raster's CRS (CLI --crs, on the page: the CRS box) "
                       f"or write the right one into the file: gdal_translate -a_srs {finding.suggested or 'EPSG:…'} "
                       "in.tif out.tif.",
                       message_zh=f"{src.name}:{finding.message_zh}请声明栅格坐标系(命令行 --crs,或在导入页面填写),"
                                  f"或用 gdal_translate -a_srs {finding.suggested or 'EPSG:…'} 写入正确的坐标系。",
                       details=[finding])
    info["crs"] = declared.to_string()
    target_crs = CRS.from_user_input(target)
    steps: list[str] = []
    path = str(src.path)
    if not declared.equals(target_crs) or file_crs is None:
        path, size = _warped(src, layer, declared, target_crs, methods[resampling])
        steps.append(f"warped {declared.to_string()} → {target_crs.to_string()} ({resampling})")
        info.update({"warped_width": size[0], "warped_height": size[1]})
    crs_info = {"file": file_crs.to_string() if file_crs else None, "declared": str(crs) if crs else None, "steps": steps,
                "target": target, "finding": finding.code}
    return PreparedRaster(path, info, crs_info)


def _read_checked(src: Source, *, declared) -> tuple[CRS | None, tuple, dict]:
    """The file's CRS (None), bounds and size, every block read once; truncated or half-georeferenced files raise."""
    import rasterio

    from geo.raster import open_raster

    truncated = ImportDataError(
        f"{src.name}: the GeoTIFF is truncated (its data ends before the file says it does); upload it again or "
        "export it again.", message_zh=f"{src.name}:GeoTIFF 文件不完整(数据在声明的位置之前就结束了);请重新上传或重新导出。")
    if _tiff_header_truncated(src.path):
        raise truncated
    try:
        with open_raster(src.path) as ds:  # extension, TIFF magic, GDAL safety settings
            file_crs = CRS.from_user_input(ds.crs.to_wkt())
            bounds, info = tuple(ds.bounds), {"width": ds.width, "height": ds.height, "bands": ds.count}
            try:  # read every block once: a file cut short fails here, not later in an analysis
                for _ij, window in ds.block_windows(1):
                    ds.read(window=window)
            except rasterio.errors.RasterioIOError as exc:
                raise truncated from exc
    except (MissingCRSError, CRSError) as exc:
        file_crs, bounds, info = _half_georeferenced(src, declared, exc)
    except (rasterio.errors.RasterioError, OSError) as exc:
        raise ImportDataError(f"{src.name}: the GeoTIFF cannot be read ({exc}); it may be truncated — export it again.",
                              message_zh=f"{src.name}:GeoTIFF 无法读取({exc});文件可能不完整,请重新导出。") from exc
    info["bounds"] = list(bounds)
    return file_crs, bounds, info


def _half_georeferenced(src: Source, declared, exc: Exception) -> tuple[None, tuple, dict]:
    """A raster that lacks its CRS or its geotransform: go on when a declared CRS completes it, else say what does."""
    import rasterio

    from geo.raster import _SAFE_ENV

    with rasterio.Env(**_SAFE_ENV), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NotGeoreferencedWarning: that is what is being handled
        with rasterio.open(src.path, driver="GTiff") as ds:  # the extension and TIFF magic were checked
            has_crs, placed = ds.crs is not None, not (ds.transform.is_identity and not ds.gcps[0])
            bounds, info = tuple(ds.bounds), {"width": ds.width, "height": ds.height, "bands": ds.count}
            crs_text = ds.crs.to_string() if has_crs else None
    corners = "<left> <top> <right> <bottom>"
    if not placed:
        srs = f" -a_srs {declared or 'EPSG:4549'}" if not has_crs else ""
        raise CRSError(
            f"{src.name}: the raster's pixels have no position (no geotransform)"
            + (f"; its CRS {crs_text} alone cannot place them" if has_crs else " and it has no CRS")
            + ("; the declared CRS alone cannot place them" if declared and not has_crs else "")
            + f". Add the corner coordinates: gdal_translate{srs} -a_ullr {corners} in.tif out.tif "
            f"(coordinates in {crs_text or declared or 'that CRS'}), then import out.tif.",
            message_zh=f"{src.name}:栅格像元没有位置(缺少仿射变换)" + ("" if has_crs else ",也没有坐标系")
                       + (";仅有坐标系无法定位像元" if declared or has_crs else "")
                       + f"。请补充四角坐标:gdal_translate{srs} -a_ullr 左 上 右 下 in.tif out.tif,然后导入 out.tif。",
        ) from exc
    if declared is None:
        from geo.crs import recognise_crs

        rec = recognise_crs(bounds)
        fits = f" (its bounds fit {rec.suggested})" if rec.suggested else ""
        example = rec.suggested or "EPSG:4549"
        raise MissingCRSError(
            f"{src.name}: the raster has no CRS{fits}; the importer never guesses. Declare it (CLI --crs {example}, "
            f"on the page: the CRS box) or write it into the file: gdal_translate -a_srs {example} in.tif out.tif.",
            message_zh=f"{src.name}:栅格没有坐标系{('(范围符合 ' + rec.suggested + ')') if rec.suggested else ''},系统不会自行猜测。"
                       f"请声明坐标系(命令行 --crs {example},或在导入页面填写),或用 gdal_translate -a_srs {example} 写入文件。",
            details=[rec],
        ) from exc
    return None, bounds, info


def _warped(src: Source, layer: str, declared: CRS, target: CRS, resampling) -> tuple[str, tuple[int, int]]:
    """A copy of the raster in ``target`` (deflate-compressed) in a private temporary folder; its path and size."""
    import rasterio
    from rasterio.warp import calculate_default_transform, reproject

    from geo.raster import _SAFE_ENV

    out = Path(tempfile.mkdtemp(prefix=WARP_PREFIX)) / f"{layer}.tif"
    with rasterio.Env(**_SAFE_ENV), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(src.path, driver="GTiff") as ds:
            transform, w, h = calculate_default_transform(declared, target, ds.width, ds.height, *ds.bounds)
            profile = ds.profile.copy()
            profile.update(driver="GTiff", crs=target.to_wkt(), transform=transform, width=w, height=h,
                           compress="deflate")
            for k in ("blockxsize", "blockysize", "tiled"):
                profile.pop(k, None)
            with rasterio.open(out, "w", **profile) as dst:
                for b in range(1, ds.count + 1):
                    reproject(rasterio.band(ds, b), rasterio.band(dst, b), src_transform=ds.transform,
                              src_crs=declared, dst_transform=transform, dst_crs=target,
                              resampling=resampling, src_nodata=ds.nodata, dst_nodata=ds.nodata)
    return str(out), (w, h)


def _tiff_header_truncated(path: Path) -> bool:
    """True when a classic TIFF's first directory, a tag's data or an image strip/tile lies past the file's end.

    GDAL opens such a file and silently drops the tags it cannot read (the georeference
    among them), which would be reported as "no CRS"; this says what really happened.
    BigTIFF is left to GDAL.
    """
    size = path.stat().st_size
    with open(path, "rb") as fh:
        data = fh.read(min(size, 64 * 1024 * 1024))
    if len(data) < 8 or data[:4] not in (b"II*\x00", b"MM\x00*"):
        return False
    order = "little" if data[:2] == b"II" else "big"

    def u(off: int, n: int) -> int:
        return int.from_bytes(data[off:off + n], order)

    ifd = u(4, 4)
    if ifd + 2 > size:
        return True
    if ifd + 2 > len(data):
        return False  # a directory beyond the sampled 64 MB: let GDAL judge
    n = u(ifd, 2)
    if ifd + 2 + 12 * n > size:
        return True
    sizes = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 16: 8}
    arrays: dict[int, list[int]] = {}
    for k in range(n):
        e = ifd + 2 + 12 * k
        tag, typ, count = u(e, 2), u(e + 2, 2), u(e + 4, 4)
        nbytes = sizes.get(typ, 1) * count
        where = e + 8 if nbytes <= 4 else u(e + 8, 4)
        if where + nbytes > size:
            return True
        if tag in (273, 279, 324, 325) and typ in (3, 4) and where + nbytes <= len(data):
            step = sizes[typ]
            arrays[tag] = [u(where + step * i, step) for i in range(count)]
    offsets = arrays.get(273) or arrays.get(324) or []
    counts = arrays.get(279) or arrays.get(325) or []
    return any(o + c > size for o, c in zip(offsets, counts))
