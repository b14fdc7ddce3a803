"""The analysis chain on a county set larger than memory: partitions on a dask cluster, county figures reduced.

:func:`run_chain_out_of_core` reads a county set (:mod:`scale.countyset`: partitioned GeoParquet
on a disk that the client and every worker share) and writes the run's results as GeoParquet
beside it — never the whole county in one process.  Each task reads one partition, works on it
and writes what it made to a scratch folder or the results; what travels back to the client are
sums and small tables.  A worker's memory is bounded by one partition's working set (set the
workers' ``--memory-limit``; the bench shows it holds).

The passes, with what is reduced between them:

1. **Per-mu, three passes** (:func:`analysis.per_mu.evaluate` on a partition's firms with
   :class:`analysis.per_mu.GroupFigures`): count which imputable indicators the groups have and
   sum each indicator's numerator and denominator (→ county group-average benchmarks); then the
   sub-scores of firms that have the indicator (→ the mean sub-score given to those that lack
   it); then the scores.  The first pass also sums the county 亩均税收 average of the share rule,
   collects the credit codes (duplicates refused, as in one process) and every reference that
   leaves its partition (refused if it lands in another one).
2. **Classes and ranks, once**: the evaluated firms' score, 亩均税收, credit code, veto,
   township and industry — a few columns per firm — are gathered and classed
   (:func:`analysis.per_mu.assign_classes`: cut-offs, quota rules) and ranked
   (:func:`analysis.per_mu.rank_within_groups`) by the same functions as in one process.
3. **Per partition**: classes back, re-grades, price ledger, township and park totals, the
   low-efficiency rules against the county average, redevelopment criteria (zonal statistics),
   potential and local clusters.
4. **Clusters across partition edges** (:mod:`scale._clusters`): edges between neighbouring
   partitions' candidates, connected components of the local clusters — numbered as one
   process numbers them.
5. **Per partition**: cluster sizes back, suggested modes, the per-plot result and the rows of
   the clusters inside it; clusters that span partitions are merged in the client.
6. **County tables**: townships and parks from their summed totals.

Results equal :func:`analysis.pipeline.run_chain` on the concatenated partitions: every class,
flag, rule, mode, cluster and id the same; floats up to the order of additions in the county sums
(relative 1e-12).  Tested on a county set small enough to fit, with many partitions.

Results directory (:func:`read_results` reads it back): ``run.json`` (preset, parameters,
counts, timings), ``per_mu/``, ``plots/``, ``ledger/`` (one GeoParquet per partition),
``clusters/`` (one file per partition for its own clusters, ``spanning.parquet`` for the
others), ``parks.parquet``, ``townships.parquet``.
"""
from __future__ import annotations

import datetime as _dt
import json
import pickle
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from analysis import low_efficiency, parks as parks_mod, per_mu, pipeline, redevelopment
from analysis._common import combine_parks, positions, text
from analysis.params import Params
from geo.errors import ParameterError, SchemaError, WorkspaceError
from scale import _clusters, rasters as worker_rasters
from scale.countyset import CountySet
from scale.partitioned import county_tax_totals

__all__ = ["run_chain_out_of_core", "OutOfCoreRun", "read_results", "RESULTS"]

RESULTS = ("per_mu", "plots", "clusters", "parks", "ledger", "townships")
_PARTITIONED = ("per_mu", "plots", "ledger")
_PARK_KINDS = ("industrial_parks", "micro_parks")
_SLIM = ("status", "group", "score", "ind_tax_per_mu", "credit_code", "veto", "township_code", "industry_div")


@dataclass
class OutOfCoreRun:
    """Where the results are, the run's counts (as ``RunResult.counts``) and timings (s)."""

    out: Path
    counts: dict[str, int]
    timings: dict[str, float]
    partitions: int


@dataclass(frozen=True)
class _Job:
    """What every task knows: where to read, where to write, the parameters."""

    source: str
    work: str
    out: str
    params: Params
    as_of: str

    def read(self, layer: str, part: str) -> gpd.GeoDataFrame:
        return CountySet(self.source).read(layer, part)

    def save(self, stage: str, part: str, obj) -> None:
        path = Path(self.work) / stage / f"{part}.pkl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)

    def load(self, stage: str, part: str):
        with open(Path(self.work) / stage / f"{part}.pkl", "rb") as fh:
            return pickle.load(fh)

    def write(self, kind: str, part: str, frame: pd.DataFrame) -> None:
        path = Path(self.out) / kind / f"{part}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(path)


# --- tasks (module-level: they pickle by reference) ---------------------------------------------
def _evaluate(job: _Job, part: str, small: dict, figures: per_mu.GroupFigures):
    plots, firms = job.read("plots", part), job.read("enterprises", part)
    ev = per_mu.evaluate(firms, job.params.per_mu, plots=plots, micro_parks=small.get("micro_parks"),
                         parks=small["parks"], group_figures=figures)
    return plots, firms, ev


def _first_pass(job: _Job, part: str, small: dict) -> dict:
    """Per-mu counts and sums, the county-average sums, the credit codes, references leaving the partition."""
    plots, firms, ev = _evaluate(job, part, small, per_mu.GroupFigures().accept_every_indicator())
    tax, area = county_tax_totals(plots, job.params.low_efficiency, firms)
    codes = text(firms, "credit_code")
    holder = text(firms, "land_holder")
    tenant = holder.notna() & (holder != codes).fillna(False)
    plot_ids = text(firms, "plot_id")
    return {"group": per_mu.group_totals(ev, job.params.per_mu), "tax": tax, "area_mu": area,
            "codes": codes.dropna().to_numpy(dtype=object).astype(str).astype(bytes),
            "plots_elsewhere": sorted(set(plot_ids[plot_ids.notna() & (positions(plot_ids, text(plots, "plot_id")) < 0)])),
            "holders_elsewhere": sorted(set(holder[tenant & (positions(holder, codes) < 0)]))}


def _second_pass(job: _Job, part: str, small: dict, figures: per_mu.GroupFigures) -> pd.DataFrame:
    """Per-mu sub-score sums with the county benchmarks."""
    return per_mu.group_totals(_evaluate(job, part, small, figures)[2], job.params.per_mu)


def _held_here(job: _Job, part: str, plot_ids: list, codes: list) -> tuple[list, list]:
    """Which of these plot ids and credit codes this partition holds."""
    plots, firms = job.read("plots", part), job.read("enterprises", part)
    return (sorted(set(plot_ids) & set(text(plots, "plot_id").dropna())),
            sorted(set(codes) & set(text(firms, "credit_code").dropna())))


def _scored(job: _Job, part: str, small: dict, figures: per_mu.GroupFigures, regraded: list) -> dict:
    """Scores with every county figure; kept in the scratch folder.  Returns the evaluated firms'
    columns the classes and ranks need, and the status of the re-graded firms found here."""
    _, _, ev = _evaluate(job, part, small, figures)
    job.save("per_mu", part, ev)
    slim = pd.DataFrame({c: ev[c] for c in _SLIM}).loc[ev["status"] == "evaluated"]
    found = ev.loc[ev["credit_code"].isin(regraded), ["credit_code", "status"]]
    return {"slim": slim, "regraded": found}


def _low_efficiency_part(job: _Job, part: str, small: dict, classes: pd.DataFrame, tax_average: float,
                         regrades: pd.DataFrame | None) -> dict:
    """Classes and ranks back; re-grades, ledger, township totals; low-efficiency rules; park totals."""
    p = job.params
    plots, firms = job.read("plots", part), job.read("enterprises", part)
    ev = job.load("per_mu", part)
    ev["computed_class"] = classes["computed_class"].reindex(ev.index).astype("string")
    ev["final_class"] = ev["computed_class"].copy()
    for col in ("rank_county", "rank_township", "rank_industry"):
        ev[col] = classes[col].reindex(ev.index).astype("Int64")
    if regrades is not None and len(regrades):
        ev = per_mu.apply_regrade(ev, regrades)
    job.write("per_mu", part, ev)
    job.write("ledger", part, per_mu.price_ledger(ev, p.prices))
    le = low_efficiency.assess(plots, p.low_efficiency, enterprises=firms, evaluation=ev, parks=small["parks"],
                               as_of=job.as_of, tax_average=tax_average)
    job.save("per_mu", part, ev)
    job.save("low_efficiency", part, le)
    park_totals = {kind: parks_mod.park_totals(small[kind], p.parks, plots=le, enterprises=firms, evaluation=ev)
                   for kind in _PARK_KINDS if kind in small}
    return {"townships": per_mu.aggregate_totals(ev, "township_code"), "parks": park_totals}


def _potential_part(job: _Job, part: str, small: dict, rasters: dict) -> dict:
    """Redevelopment criteria (zonal statistics), potential and the partition's own clusters."""
    p = job.params.redevelopment
    le = job.load("low_efficiency", part)
    redevelopment.check_input(le, parks=small["parks"], infrastructure=small.get("infrastructure"),
                              constraints=small.get("constraints"))
    c = le.loc[redevelopment.candidates(le, p)]
    crit = redevelopment.plot_criteria(c, p, parks=small["parks"], infrastructure=small.get("infrastructure"),
                                       constraints=small.get("constraints"),
                                       rasters=worker_rasters.local_paths(rasters))
    res = redevelopment.potential(c, p, crit)
    free = ~res["restricted"].to_numpy(dtype=bool)
    geoms = c.geometry.to_numpy()
    labels = np.full(len(c), -1, dtype=np.int64)
    labels[free] = redevelopment.clusters(geoms[free], p.cluster_gap_m)
    job.save("potential", part, (res, labels))
    cands = gpd.GeoDataFrame({"label": labels[free]}, geometry=geoms[free], crs=le.crs)
    job.save("candidates", part, cands)
    k = int(labels.max()) + 1 if free.any() else 0
    return {"n_plots": np.bincount(labels[free], minlength=k),
            "area_m2": np.bincount(labels[free], weights=c["area_m2"].to_numpy(dtype=float)[free], minlength=k),
            "bounds": [float(v) for v in cands.total_bounds] if len(cands) else None}


def _edges(job: _Job, part_a: str, part_b: str, gap: float) -> np.ndarray:
    return _clusters.edges(job.load("candidates", part_a), job.load("candidates", part_b), gap)


def county_labels(labels: np.ndarray, label_of: np.ndarray) -> np.ndarray:
    """A partition's cluster labels (−1: not clustered) as the county's, by ``label_of`` (local → county).

    Only the clustered plots are looked up: a partition whose candidates are all restricted has no
    cluster, so ``label_of`` is empty (an eager ``np.where`` indexed it anyway and failed on such a
    partition — a 5M-plot county has one).
    """
    out = np.full(len(labels), -1, dtype=np.int64)
    clustered = labels >= 0
    out[clustered] = label_of[labels[clustered]]
    return out


def _finish_part(job: _Job, part: str, label_of: np.ndarray, county: dict) -> dict:
    """County cluster sizes back; modes; the per-plot result and the rows of the clusters inside."""
    p = job.params.redevelopment
    le, ev = job.load("low_efficiency", part), job.load("per_mu", part)
    res, labels = job.load("potential", part)
    glabels = county_labels(labels, label_of)
    redevelopment.attach_clusters(res, glabels, county["n_plots"], county["area_mu"])
    cand = redevelopment.candidates(le, p)
    c = le.loc[cand]
    redevelopment.suggest_modes(res, c, p)
    red_plots = redevelopment.plot_frame(le, cand, res)
    job.write("plots", part, pipeline.plots_result(le, red_plots, ev, job.read("plots", part)))
    free = glabels >= 0
    present = np.unique(glabels[free])
    cl = redevelopment.cluster_parts(c.loc[free], np.searchsorted(present, glabels[free]), res.loc[free], p,
                                     sites=county["sites"][present])
    cl["cluster"] = present
    cl["site"] = county["sites"][present]
    inside = ~county["spanning"][present]
    table = redevelopment.cluster_table(cl.loc[inside], p, le.crs)
    table["cluster_id"] = present[inside] + 1
    job.write("clusters", part, table)
    return {"counts": pipeline.chain_counts(ev, le, red_plots), "spanning": cl.loc[~inside]}


# --- the run ----------------------------------------------------------------------------------
def run_chain_out_of_core(source: str | Path | CountySet, params: Params, *, out: str | Path, client,
                          as_of: str | None = None, regrades: pd.DataFrame | None = None,
                          rasters_to_workers: str = "auto", overwrite: bool = False,
                          keep_scratch: bool = False) -> OutOfCoreRun:
    """Run the chain on a county set, a partition per task on ``client``'s cluster; results to ``out``.

    Parameters
    ----------
    source : path or CountySet
        The county set (partitioned GeoParquet, :mod:`scale.countyset`), on a disk every worker reads.
    params : Params
        A loaded preset.
    out : path
        Results directory (created; on a disk every worker writes and this process reads).
    client : distributed.Client
    as_of : date, optional
        Reference date of the date rules; default the set's ``reference_date``, else today.
    regrades : DataFrame, optional
        Re-grades (``credit_code``, ``new_class``, ``reason``), checked as in one process.
    rasters_to_workers : {"auto", "path", "send"}
        :func:`scale.rasters.for_workers`.
    overwrite : bool
        Replace an existing, non-empty ``out``.
    keep_scratch : bool
        Keep ``out/_scratch`` (the partitions' intermediate frames) for inspection.
    """
    cs = source if isinstance(source, CountySet) else CountySet(source)
    out = _prepare(Path(out), overwrite)
    job = _Job(str(cs.directory.resolve()), str(out / "_scratch"), str(out), params,
               str(as_of or cs.reference_date or _dt.date.today().isoformat()))
    parts = cs.partitions
    small = cs.small_layers()
    small["parks"] = combine_parks(small.get("industrial_parks"), small.get("micro_parks"))
    small_f = client.scatter(small, broadcast=True, hash=False)
    t: dict[str, float] = {}

    t0 = time.perf_counter()
    first = _gather(client, _first_pass, [(job, p, small_f) for p in parts])
    _check_references(client, job, parts, first)
    figures = per_mu.GroupFigures.from_totals(pd.concat([f["group"] for f in first]))
    second = _gather(client, _second_pass, [(job, p, small_f, figures) for p in parts])
    figures = per_mu.GroupFigures.from_totals(pd.concat(second), with_imputed_sub=True)
    regraded = [] if regrades is None else regrades["credit_code"].astype(str).str.strip().tolist()
    scored = _gather(client, _scored, [(job, p, small_f, figures, regraded) for p in parts])
    classes = _classes(scored, params)
    regrades_by_part = _regrades_by_partition(scored, regrades)
    t["per_mu"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    tax = sum(f["tax"] for f in first)
    area = sum(f["area_mu"] for f in first)
    average = float(tax / area) if area > 0 else float("nan")
    class_f = client.scatter([classes.loc[s["slim"].index] for s in scored], hash=False)
    low = _gather(client, _low_efficiency_part, [(job, p, small_f, cf, average, rg)
                                                 for p, cf, rg in zip(parts, class_f, regrades_by_part)])
    t["low_efficiency"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    shipped = worker_rasters.for_workers(client, {k: v for k, v in cs.rasters().items()
                                                  if k in ("slope", "flood_depth")}, mode=rasters_to_workers)
    pot = _gather(client, _potential_part, [(job, p, small_f, shipped) for p in parts])
    gap = params.redevelopment.cluster_gap_m
    pairs = _clusters.near_pairs([r["bounds"] for r in pot], gap)
    found = _gather(client, _edges, [(job, parts[a], parts[b], gap) for a, b in pairs])
    county = _clusters.join([r["n_plots"] for r in pot], [r["area_m2"] for r in pot], dict(zip(pairs, found)),
                            params.redevelopment.cluster_min_mu)
    county_f = client.scatter({"n_plots": county.n_plots, "area_mu": county.area_mu, "sites": county.sites,
                               "spanning": county.spanning}, broadcast=True, hash=False)
    done = _gather(client, _finish_part, [(job, p, lab, county_f) for p, lab in zip(parts, county.label_of)])
    crs = small["parks"].crs or cs.crs
    spanning = _clusters.merge_spanning([d["spanning"] for d in done], params.redevelopment, crs)
    (out / "clusters").mkdir(exist_ok=True)
    spanning.to_parquet(out / "clusters" / "spanning.parquet")
    t["redevelopment"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    _county_tables(out, small, params, low, crs)
    t["parks"] = time.perf_counter() - t0

    counts = {k: int(sum(d["counts"][k] for d in done)) for k in done[0]["counts"]} if done else {}
    counts.update(clusters=len(county), candidate_sites=int(county.sites.sum()))
    _write_record(out, cs, params, job.as_of, counts, t, len(parts))
    if not keep_scratch:
        shutil.rmtree(out / "_scratch", ignore_errors=True)
    return OutOfCoreRun(out, counts, t, len(parts))


def _prepare(out: Path, overwrite: bool) -> Path:
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise WorkspaceError(f"results directory {out} exists and is not empty; choose a new one or overwrite",
                                 message_zh=f"结果目录 {out} 已存在且非空;请另选目录或允许覆盖")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _gather(client, fn, args: list[tuple]) -> list:
    """``fn(*a)`` for each ``a`` on the cluster, results in order."""
    if not args:
        return []
    return client.gather(client.map(fn, *zip(*args), pure=False))


def _check_references(client, job: _Job, parts: list[str], first: list[dict]) -> None:
    """Refuse duplicate credit codes, and firms whose plot or land holder sits in another partition."""
    codes = np.concatenate([f["codes"] for f in first]) if first else np.zeros(0, dtype=bytes)
    uniq, counts = np.unique(codes, return_counts=True)
    if (counts > 1).any():
        dup = uniq[counts > 1]
        raise SchemaError(f"enterprises.credit_code must be unique and present; {int(counts[counts > 1].sum())} row(s) "
                          f"are duplicated across the county (e.g. {dup[0].decode()!r}). Fix the codes and retry.",
                          message_zh=f"统一社会信用代码必须唯一且非空;全县有 {int(counts[counts > 1].sum())} 行重复。")
    plot_ids = sorted({x for f in first for x in f["plots_elsewhere"]})
    holders = sorted({x for f in first for x in f["holders_elsewhere"]})
    if not plot_ids and not holders:
        return
    held = _gather(client, _held_here, [(job, p, plot_ids, holders) for p in parts])
    away_plots = sorted({x for h in held for x in h[0]})
    away_holders = sorted({x for h in held for x in h[1]})
    if away_plots or away_holders:
        raise SchemaError(f"the county set puts firms apart from their plot ({away_plots[:5]}) or tenants apart "
                          f"from their land holder ({away_holders[:5]}); rewrite it with `cli.py partition`, which "
                          "keeps them in one partition",
                          message_zh="分区数据集中有企业与其所在地块(或承租企业与其土地使用权人)不在同一分区;"
                                     "请用 cli.py partition 重新生成")


def _classes(scored: list[dict], params: Params) -> pd.DataFrame:
    """Classes and ranks of every evaluated firm of the county, by the single-process functions."""
    slim = pd.concat([s["slim"] for s in scored])
    if not slim.index.is_unique:
        raise SchemaError("the county set's enterprises repeat row numbers across partitions",
                          message_zh="分区数据集的企业行号在分区间重复")
    _, computed = per_mu.assign_classes(slim, params.per_mu, veto=slim["veto"].to_numpy(dtype=bool))
    out = per_mu.rank_within_groups(slim)
    out.insert(0, "computed_class", computed)
    return out


def _regrades_by_partition(scored: list[dict], regrades: pd.DataFrame | None) -> list:
    """Re-grades checked against the whole county (the single-process refusals), then split by partition."""
    if regrades is None or not len(regrades):
        return [None] * len(scored)
    found = pd.concat([s["regraded"] for s in scored], ignore_index=True)
    probe = found.assign(computed_class=pd.array([pd.NA] * len(found), dtype="string"))
    per_mu.apply_regrade(probe, regrades)     # raises what one process would raise
    codes = regrades["credit_code"].astype(str).str.strip()
    return [regrades.loc[codes.isin(set(s["regraded"]["credit_code"].astype(str)))] for s in scored]


def _county_tables(out: Path, small: dict, params: Params, low: list[dict], crs) -> None:
    town = pd.concat([r["townships"] for r in low])
    per_mu.aggregate_ratios(town.groupby(level=0).sum()).reset_index().to_parquet(out / "townships.parquet")
    by_kind = {}
    for kind in _PARK_KINDS:
        gdf = small.get(kind)
        if gdf is None or not len(gdf):
            continue
        totals = pd.concat([r["parks"][kind] for r in low]).groupby(level=0).sum().reindex(gdf.index)
        by_kind[kind] = parks_mod.park_figures(gdf, params.parks, totals)
    frame = pipeline.parks_result(by_kind, crs)
    if frame is not None:
        frame.to_parquet(out / "parks.parquet")


def _write_record(out: Path, cs: CountySet, params: Params, as_of: str, counts: dict, timings: dict,
                  n_parts: int) -> None:
    record = {"preset": params.name, "parameters": params.to_dict(), "as_of": as_of, "counts": counts,
              "seconds": timings, "county_set": str(cs.directory.resolve()), "source": cs.manifest.get("source"),
              "partitions": n_parts,
              "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")}
    (out / "run.json").write_text(json.dumps(record, ensure_ascii=False, indent=1, default=str), encoding="utf-8")


def read_results(out: str | Path, *, kinds: tuple[str, ...] = RESULTS) -> dict[str, pd.DataFrame]:
    """The results of :func:`run_chain_out_of_core` in memory, shaped as ``RunResult.frames``
    (partitions concatenated in county order; clusters by id) — all of them, or ``kinds``."""
    out = Path(out)
    if not (out / "run.json").exists():
        raise ParameterError(f"{out} holds no out-of-core run (run.json is missing)",
                             message_zh=f"{out} 中没有分区运行结果(缺少 run.json)")
    frames: dict[str, pd.DataFrame] = {}
    for kind in set(kinds) & set(_PARTITIONED):
        files = sorted((out / kind).glob("part-*.parquet"))
        frames[kind] = pd.concat([_read(f) for f in files]) if files else pd.DataFrame()
    if "clusters" in kinds:
        cl = [_read(f) for f in sorted((out / "clusters").glob("*.parquet"))]
        cl = [c for c in cl if len(c)] or cl[:1]
        frames["clusters"] = pd.concat(cl).sort_values("cluster_id").reset_index(drop=True)
    for kind in set(kinds) & {"parks", "townships"}:
        if (out / f"{kind}.parquet").exists():
            frames[kind] = _read(out / f"{kind}.parquet")
    return {k: frames[k] for k in RESULTS if k in frames}


def _read(path: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    is_geo = b"geo" in (pq.read_schema(path).metadata or {})
    return gpd.read_parquet(path) if is_geo else pd.read_parquet(path)
