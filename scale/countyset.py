"""A county set: the analysis inputs as partitioned GeoParquet on a disk every worker reads.

For a county too big for one machine's memory the layers are not read from a workspace but
from a directory of GeoParquet files, one file per partition for the big layers::

    DIR/county.json                     what is here: CRS, partitions and their sizes, source
    DIR/plots/part-00000.parquet …      the plots of each partition (index: row in the county)
    DIR/enterprises/part-00000.parquet  the firms on those plots (a tenant with its land holder)
    DIR/townships.parquet …             the small layers, whole: townships, industrial_parks,
                                        micro_parks, constraints, infrastructure, county_outline
    DIR/rasters/slope.tif …             GeoTIFFs (dem, slope, flood_depth)

The rule that makes a partition self-contained: a firm lies in the partition of its plot, and a
tenant in that of its land holder, so every per-plot and per-firm figure is computed from one
partition and only county-wide figures need a reduction (``scale.outofcore``).  Partitions are
compact pieces of the county (Hilbert order), so neighbouring plots mostly share one.

Made by :func:`sample_county_set` (the scale-mode sample streamed a partition at a time —
``cli.py sample --plots 5000000 --parquet DIR``) or :func:`county_set_from_workspace`
(``cli.py partition``); read by :class:`CountySet`.  ``dask_geopandas.read_parquet(DIR/"plots")``
reads the plots too.
"""
from __future__ import annotations

import datetime as _dt
import json
import shutil
from collections.abc import Iterable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.errors import WorkspaceError

__all__ = ["CountySet", "SMALL_LAYERS", "MANIFEST", "write_county_set", "sample_county_set",
           "county_set_from_workspace", "partition_plots"]

MANIFEST = "county.json"
FORMAT = 1
SMALL_LAYERS = ("townships", "industrial_parks", "micro_parks", "constraints", "infrastructure", "county_outline")
BIG_LAYERS = ("plots", "enterprises")
RASTERS = ("dem", "slope", "flood_depth")


class CountySet:
    """A county set on disk (see the module doc): its manifest, small layers, partitions and rasters."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        path = self.directory / MANIFEST
        if not path.exists():
            raise WorkspaceError(f"{self.directory} is not a county set: {MANIFEST} is missing. Make one with "
                                 "`cli.py sample --parquet DIR` or `cli.py partition --out DIR`.",
                                 message_zh=f"{self.directory} 不是分区数据集(缺少 {MANIFEST});"
                                            "请先用 cli.py sample --parquet 或 cli.py partition 生成")
        self.manifest = json.loads(path.read_text(encoding="utf-8"))
        if self.manifest.get("format") != FORMAT:
            raise WorkspaceError(f"county set format {self.manifest.get('format')!r}; this version reads {FORMAT}",
                                 message_zh="分区数据集格式版本不符")

    @property
    def partitions(self) -> list[str]:
        """Partition names in county order (their rows follow one another)."""
        return [p["name"] for p in self.manifest["partitions"]]

    @property
    def crs(self) -> str:
        return self.manifest["crs"]

    @property
    def reference_date(self) -> str | None:
        return self.manifest.get("reference_date")

    def counts(self) -> dict[str, int]:
        return {layer: int(sum(p[layer] for p in self.manifest["partitions"])) for layer in BIG_LAYERS}

    def small_layers(self) -> dict[str, gpd.GeoDataFrame]:
        return {name: gpd.read_parquet(self.directory / f"{name}.parquet") for name in self.manifest["small_layers"]}

    def read(self, layer: str, partition: str) -> gpd.GeoDataFrame:
        """``plots`` or ``enterprises`` of one partition."""
        return gpd.read_parquet(self.directory / layer / f"{partition}.parquet")

    def rasters(self) -> dict[str, Path]:
        return {kind: self.directory / rel for kind, rel in self.manifest.get("rasters", {}).items()}

    def read_all(self) -> dict[str, gpd.GeoDataFrame]:
        """Every layer in memory (the partitions concatenated): for sizes that fit, and to compare."""
        layers = self.small_layers()
        for layer in BIG_LAYERS:
            layers[layer] = pd.concat([self.read(layer, p) for p in self.partitions])
        return layers


def write_county_set(directory: str | Path, small_layers: dict[str, gpd.GeoDataFrame],
                     parts: Iterable[tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]], *,
                     rasters: dict[str, Path] | None = None, info: dict | None = None,
                     overwrite: bool = False) -> CountySet:
    """Write a county set, streaming ``parts`` — ``(plots, enterprises)`` per partition — to disk.

    Only one partition is in memory at a time (as ``parts`` yields it).  That each partition
    keeps its firms (the module doc's rule) is checked when the set is analysed
    (``scale.outofcore``), where every partition can be asked.
    """
    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()):
        if not overwrite:
            raise WorkspaceError(f"{directory} exists and is not empty; choose a new directory or overwrite",
                                 message_zh=f"{directory} 已存在且非空")
        shutil.rmtree(directory)
    for layer in BIG_LAYERS:
        (directory / layer).mkdir(parents=True, exist_ok=True)
    crs = None
    for name, frame in small_layers.items():
        frame.to_parquet(directory / f"{name}.parquet")
        crs = crs or (frame.crs.to_string() if frame.crs is not None else None)
    written = []
    for i, (plots, firms) in enumerate(parts):
        name = f"part-{i:05d}"
        plots.to_parquet(directory / "plots" / f"{name}.parquet")
        firms.to_parquet(directory / "enterprises" / f"{name}.parquet")
        written.append({"name": name, "plots": len(plots), "enterprises": len(firms),
                        "bounds": [float(v) for v in plots.total_bounds]})
        crs = crs or plots.crs.to_string()
    kept = {}
    if rasters:
        (directory / "rasters").mkdir(exist_ok=True)
        for kind, src in rasters.items():
            shutil.copyfile(src, directory / "rasters" / f"{kind}.tif")
            kept[kind] = f"rasters/{kind}.tif"
    manifest = {"format": FORMAT, "crs": crs, "small_layers": list(small_layers), "partitions": written,
                "rasters": kept, "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                **(info or {})}
    (directory / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    return CountySet(directory)


def sample_county_set(directory: str | Path, *, n_plots: int, partitions: int, seed: int | None = None,
                      rasters: bool = True, overwrite: bool = False) -> CountySet:
    """The synthetic sample at scale as a county set, one partition in memory at a time
    (:func:`layers.sample.generate_partitions`; DEM, slope and flood rasters as the sample's)."""
    import tempfile

    from layers import sample

    seed = sample.SAMPLE_SEED if seed is None else seed
    small, parts = sample.generate_partitions(n_plots=n_plots, partitions=partitions, seed=seed)
    info = {"source": f"layers.sample seed={seed} n_plots={n_plots} partitions={partitions} (synthetic)",
            "reference_date": str(sample.REFERENCE_DATE.date())}
    with tempfile.TemporaryDirectory() as tmp:
        paths = sample.make_rasters(small, Path(tmp), seed=seed) if rasters else None
        return write_county_set(directory, small, parts, rasters=paths, info=info, overwrite=overwrite)


def partition_plots(plots: gpd.GeoDataFrame, firms: pd.DataFrame, partitions: int) -> tuple[np.ndarray, np.ndarray]:
    """Partition number of each plot and of each firm.

    Plots in Hilbert order (:meth:`geopandas.GeoSeries.hilbert_distance`) cut into ``partitions``
    runs of near-equal size; plots bound together by firms — a tenant's plot and its land
    holder's plot — form one group that is never cut.  A firm goes with its plot (a firm without
    one with its land holder's plot, else with the first partition).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from analysis._common import positions, text

    n = len(plots)
    own = positions(text(firms, "plot_id"), text(plots, "plot_id"))
    holder = positions(text(firms, "land_holder"), text(firms, "credit_code"))
    holder_plot = np.where(holder >= 0, own[np.maximum(holder, 0)], -1)
    tie = (own >= 0) & (holder_plot >= 0) & (own != holder_plot)
    graph = coo_matrix((np.ones(int(tie.sum())), (own[tie], holder_plot[tie])), shape=(n, n))
    _, group = connected_components(graph, directed=False)
    key = plots.geometry.hilbert_distance().to_numpy() if n > 1 else np.zeros(n)
    first = pd.Series(key).groupby(group).transform("min").to_numpy()      # a group sits where its first plot is
    order = np.lexsort((key, group, first))
    g = group[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])                   # where a group begins along the order
    targets = (np.arange(1, max(1, min(partitions, n))) * n) // max(1, min(partitions, n))
    cuts = np.unique(np.r_[starts, n][np.searchsorted(starts, targets)])    # cut only where a group begins
    part = np.empty(n, dtype=np.int64)
    part[order] = np.searchsorted(cuts, np.arange(n), side="right")
    part = np.unique(part, return_inverse=True)[1].astype(np.int64)         # no empty partitions
    firm_plot = np.where(own >= 0, own, holder_plot)
    firm_part = np.where(firm_plot >= 0, part[np.maximum(firm_plot, 0)], 0) if n else np.zeros(len(firms), np.int64)
    return part, firm_part


def county_set_from_workspace(ws, directory: str | Path, *, partitions: int, overwrite: bool = False) -> CountySet:
    """A workspace's layers as a county set of ``partitions`` compact partitions (:func:`partition_plots`).

    The rows keep the workspace's order inside each partition; their index becomes the row's
    position in the county set.  Rasters are copied.
    """
    from analysis.pipeline import INPUT_LAYERS

    layers, _ = ws.read_many(tuple(dict.fromkeys((*INPUT_LAYERS, "county_outline"))))
    plots = layers.pop("plots").reset_index(drop=True)
    firms = layers.pop("enterprises").reset_index(drop=True)
    part, firm_part = partition_plots(plots, firms, partitions)

    def parts():
        p0 = f0 = 0
        for i in range(int(part.max()) + 1 if len(part) else 0):   # the rows keep the workspace's order
            p, f = plots.loc[part == i].copy(), firms.loc[firm_part == i].copy()
            p.index = pd.RangeIndex(p0, p0 + len(p))
            f.index = pd.RangeIndex(f0, f0 + len(f))
            p0, f0 = p0 + len(p), f0 + len(f)
            yield p, f

    small = {k: v for k, v in layers.items() if k in SMALL_LAYERS and v is not None}
    info = {"source": f"workspace {ws.describe()}", "reference_date": getattr(ws, "info", {}).get("reference_date")}
    return write_county_set(directory, small, parts(), rasters=ws.rasters(), info=info, overwrite=overwrite)
