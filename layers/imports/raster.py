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

__all__ = ["PreparedRaster", "prepare_raster"]


@dataclass
class PreparedRaster:
    """A GeoTIFF ready to register: its file in the working CRS (the source itself, or a warped copy)."""

    path: str
    info: dict  # width, height, bands, bounds, crs (and the warped size)
    crs: dict  # file, declared, steps, target, finding


def prepare_raster(src: Source, *, layer: str, crs, gcj02: bool, target: str, resampling: str) -> PreparedRaster:
    """Check ``src`` whole (truncation, georeference, CRS against its bounds) and warp it to ``target`` if needed."""
    import rasterio
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    from geo.raster import _SAFE_ENV, open_raster

    if gcj02:
        raise ImportDataError(f"{src.name}: GCJ-02 rasters are not converted (the shift is not a grid transform); "
                              "obtain the raster in CGCS2000 or WGS84.",
                              message_zh=f"{src.name}:不转换 GCJ-02 栅格;请获取 CGCS2000 或 WGS84 的栅格。")
    methods = {"bilinear": Resampling.bilinear, "nearest": Resampling.nearest, "cubic": Resampling.cubic}
    check_choice("resampling", resampling, tuple(methods))
    steps = []
    truncated = ImportDataError(
        f"{src.name}: the GeoTIFF is truncated (its data ends before the file says it does); upload it again or "
        "export it again.", message_zh=f"{src.name}:GeoTIFF 文件不完整(数据在声明的位置之前就结束了);请重新上传或重新导出。")
    if _tiff_header_truncated(src.path):
        raise truncated
    try:
        with open_raster(src.path) as ds:
            src_crs = CRS.from_user_input(ds.crs.to_wkt())
            bounds, width, height, count = tuple(ds.bounds), ds.width, ds.height, ds.count
            try:  # read every block once: a file cut short fails here, not later in an analysis
                for _ij, window in ds.block_windows(1):
                    ds.read(window=window)
            except rasterio.errors.RasterioIOError as exc:
                raise truncated from exc
    except MissingCRSError:
        if crs is None:
            raise
        with rasterio.Env(**_SAFE_ENV), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with rasterio.open(src.path, driver="GTiff") as ds:  # the extension and TIFF magic were checked above
                if ds.transform.is_identity:
                    raise CRSError(f"{src.name}: the raster has no georeference (no CRS and no geotransform); add one "
                                   "with gdal_translate -a_srs … -a_ullr … and import again.",
                                   message_zh=f"{src.name}:栅格没有地理参考(无坐标系和仿射变换);请用 gdal_translate 补充后再导入。")
                src_crs = None
                bounds, width, height, count = tuple(ds.bounds), ds.width, ds.height, ds.count
    except (rasterio.errors.RasterioError, OSError) as exc:
        raise ImportDataError(f"{src.name}: the GeoTIFF cannot be read ({exc}); it may be truncated — export it again.",
                              message_zh=f"{src.name}:GeoTIFF 无法读取({exc});文件可能不完整,请重新导出。") from exc
    declared = CRS.from_user_input(crs) if crs else src_crs
    finding = detect_crs_issue(bounds, declared)
    if not finding.ok:
        raise CRSError(f"{src.name}: {finding.message} Declare the raster's CRS (crs=…) or fix it with gdal_translate -a_srs.",
                       message_zh=f"{src.name}:{finding.message_zh}请声明栅格坐标系或用 gdal_translate 修正。",
                       details=[finding])
    target_crs = CRS.from_user_input(target)
    path = str(src.path)
    info = {"width": width, "height": height, "bands": count, "bounds": list(bounds), "crs": declared.to_string()}
    if not declared.equals(target_crs) or src_crs is None:
        tmpdir = tempfile.mkdtemp(prefix="planner-import-")
        out = Path(tmpdir) / f"{layer}.tif"
        with rasterio.Env(**_SAFE_ENV), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with rasterio.open(src.path, driver="GTiff") as ds:
                transform, w, h = calculate_default_transform(declared, target_crs, ds.width, ds.height, *ds.bounds)
                profile = ds.profile.copy()
                profile.update(driver="GTiff", crs=target_crs.to_wkt(), transform=transform, width=w, height=h,
                               compress="deflate")
                profile.pop("blockxsize", None), profile.pop("blockysize", None), profile.pop("tiled", None)
                with rasterio.open(out, "w", **profile) as dst:
                    for b in range(1, ds.count + 1):
                        reproject(rasterio.band(ds, b), rasterio.band(dst, b), src_transform=ds.transform,
                                  src_crs=declared, dst_transform=transform, dst_crs=target_crs,
                                  resampling=methods[resampling], src_nodata=ds.nodata, dst_nodata=ds.nodata)
        steps.append(f"warped {declared.to_string()} → {target_crs.to_string()} ({resampling})")
        path = str(out)
        info.update({"warped_width": w, "warped_height": h})
    crs_info = {"file": src_crs.to_string() if src_crs else None, "declared": str(crs) if crs else None, "steps": steps,
                "target": target, "finding": finding.code}
    return PreparedRaster(path, info, crs_info)


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
