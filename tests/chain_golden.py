"""Frozen outputs of the analysis chain: the cases, and how their frames are stored and compared.

``tests/test_chain_golden.py`` runs :func:`analysis.pipeline.run_chain` on each case of
:data:`CASES` and compares every result frame (per_mu, plots, clusters, parks, ledger,
townships), column by column, with the frames stored under ``tests/data/chain_golden/``, which
were written by the code *before* the chain was made faster.  So a speed-up that changes a
result — a class, a flag, a reason, a distance, a cluster's members or outline — fails.

The cases cover what the bundled sample alone does not reach:

``sample_ruian``
    the Ruian sample workspace as shipped, ``ruian_default``, both rasters;
``sample_huangyan_outline``
    the sample with a third of the plots' ``park_id`` emptied (membership by outline), some
    naming a park that does not contain them or no park at all (the disagreements), one firm
    in 25 without ``plot_id`` (placed by its point), three manual re-grades, no flood raster
    (a criterion listed as missing), ``huangyan_2022``;
``synthetic_10k``
    the benchmark's synthetic county (:func:`bench.bench_pipeline.synthetic`, 10,000 plots,
    seed 11) with a fifth of the plots' ``park_id`` emptied and every industrial plot a
    redevelopment candidate (big clusters across roads, outlines dissolved).

Comparison: the same columns in the same order with the same dtypes, the same index; floats
equal within a relative 1e-9 (and 1e-9 absolute: sums taken in another order may differ in the
last bits); everything else exactly equal (NA where NA).  Geometries: a result that carries its
input's geometry (plots, firms, parks) must carry it unchanged; the clusters' outlines (stored
as WKB) must be topologically equal to the stored ones.

Regenerate the stored frames only from code whose results are the reference (never to make a
failing comparison pass)::

    python -m tests.chain_golden --write
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

__all__ = ["CASES", "GOLDEN_DIR", "GEOMETRY_FROM", "run_case", "write_case", "compare_case"]

GOLDEN_DIR = ROOT / "tests" / "data" / "chain_golden"
SAMPLE = ROOT / "data" / "ruian" / "ruian.gpkg"
AS_OF = "2026-06-30"
CASES = ("sample_ruian", "sample_huangyan_outline", "synthetic_10k")
#: result frame → the input layer whose geometry it carries unchanged (clusters: their own outlines)
GEOMETRY_FROM = {"per_mu": "enterprises", "plots": "plots", "parks": None}
RTOL = ATOL = 1e-9


# --- the cases ------------------------------------------------------------------------------
def _sample_inputs():
    from analysis import pipeline
    from layers.store import open_workspace

    ws = open_workspace(SAMPLE, readonly=True)
    layers, _ = ws.read_many(pipeline.INPUT_LAYERS)
    rasters = {k: v for k, v in ws.rasters().items() if k in ("slope", "flood_depth")}
    return dict(layers), rasters


def _outline_membership(plots: gpd.GeoDataFrame, *, every: int, unknown: int, wrong: int) -> gpd.GeoDataFrame:
    """Empty every ``every``-th plot's park_id; then name no park on ``unknown`` plots and the
    wrong park on ``wrong`` plots (chosen among the plots inside a park)."""
    plots = plots.copy()
    pid = plots["park_id"].astype("string").to_numpy(dtype=object, na_value=None).copy()
    pid[::every] = None
    inside = np.flatnonzero(pd.notna(pid))
    pid[inside[1:2 * unknown:2]] = "NO_SUCH_PARK"
    parks = sorted({p for p in pid if p is not None and p != "NO_SUCH_PARK"})
    for k, pos in enumerate(inside[2 * unknown + 1:2 * unknown + 1 + 2 * wrong:2]):
        others = [p for p in parks if p != pid[pos]]
        pid[pos] = others[k % len(others)]
    plots["park_id"] = pd.array(pid, dtype="string")
    return plots


def _case_inputs(case: str, tmp: Path):
    """(layers, params, rasters, regrades) of one case."""
    from analysis.params import load_preset

    if case == "sample_ruian":
        layers, rasters = _sample_inputs()
        return layers, load_preset("ruian_default"), rasters, None
    if case == "sample_huangyan_outline":
        layers, rasters = _sample_inputs()
        layers["plots"] = _outline_membership(layers["plots"], every=3, unknown=4, wrong=6)
        ents = layers["enterprises"].copy()
        firm_plot = ents["plot_id"].astype("string").to_numpy(dtype=object, na_value=None).copy()
        firm_plot[::25] = None
        ents["plot_id"] = pd.array(firm_plot, dtype="string")
        layers["enterprises"] = ents
        regrades = pd.DataFrame({"credit_code": ["913303810659314635", "91330381082504244G", "91330381331562729U"],
                                 "new_class": ["D", "A", "A"],
                                 "reason": ["审核下调", "复核上调", "复核调整"]})
        return layers, load_preset("huangyan_2022"), {"slope": rasters["slope"]}, regrades
    if case == "synthetic_10k":
        from bench.bench_pipeline import synthetic

        layers, rasters = synthetic(10_000, 11, tmp / "rasters")
        layers["plots"] = _outline_membership(layers["plots"], every=5, unknown=10, wrong=10)
        params = load_preset("ruian_default")
        params = dataclasses.replace(params, redevelopment=dataclasses.replace(params.redevelopment,
                                                                               candidates="industrial"))
        return layers, params, rasters, None
    raise ValueError(f"unknown case {case!r}; choose one of {CASES}")


def run_case(case: str, tmp: Path):
    """(result of run_chain, its input layers) for one case."""
    from analysis import pipeline

    layers, params, rasters, regrades = _case_inputs(case, tmp)
    result = pipeline.run_chain(layers, params, rasters=rasters, as_of=AS_OF, regrades=regrades)
    return result, layers


# --- storing ----------------------------------------------------------------------------------
def _plain(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    """The frame as parquet can hold it: the index as a column, the clusters' outlines as WKB,
    other geometries dropped (they are checked against the inputs)."""
    out = pd.DataFrame({c: frame[c] for c in frame.columns if not isinstance(frame[c].dtype, gpd.array.GeometryDtype)})
    out.insert(0, "__index__", frame.index.to_numpy())
    if kind == "clusters":
        out["__wkb__"] = shapely.to_wkb(shapely.normalize(frame.geometry.to_numpy()))
    return out


def write_case(case: str, result) -> None:
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    manifest = {"counts": result.counts, "frames": {}}
    for kind, frame in result.frames.items():
        _plain(frame, kind).to_parquet(GOLDEN_DIR / f"{case}__{kind}.parquet", compression="zstd",
                                       compression_level=19, index=False,
                                       use_byte_stream_split=[c for c in frame.columns if frame[c].dtype == "float64"])
        manifest["frames"][kind] = {"columns": [str(c) for c in frame.columns],
                                    "dtypes": [str(t) for t in frame.dtypes], "rows": len(frame)}
    (GOLDEN_DIR / f"{case}.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n",
                                             encoding="utf-8")


# --- comparing --------------------------------------------------------------------------------
def _values(s: pd.Series) -> np.ndarray:
    """Comparable values: objects with None for NA."""
    return s.astype(object).where(s.notna(), None).to_numpy(dtype=object)


def _compare_column(name: str, got: pd.Series, want: pd.Series) -> str | None:
    if pd.api.types.is_float_dtype(got.dtype) or pd.api.types.is_float_dtype(want.dtype):
        g = pd.to_numeric(got, errors="raise").to_numpy(dtype=float, na_value=np.nan)
        w = pd.to_numeric(want, errors="raise").to_numpy(dtype=float, na_value=np.nan)
        bad = ~(np.isclose(g, w, rtol=RTOL, atol=ATOL) | (np.isnan(g) & np.isnan(w)))
    else:
        g, w = _values(got), _values(want)
        bad = np.array([not (a is None and b is None) and (a is None or b is None or a != b) for a, b in zip(g, w)],
                       dtype=bool)
    if bad.any():
        k = np.flatnonzero(bad)
        return f"{name}: {bad.sum()} row(s) differ, e.g. row {k[0]}: got {g[k[0]]!r}, expected {w[k[0]]!r}"
    return None


def compare_case(case: str, result, layers) -> list[str]:
    """Every difference between the run's frames and the stored ones (empty when equal)."""
    manifest = json.loads((GOLDEN_DIR / f"{case}.json").read_text(encoding="utf-8"))
    problems = []
    if result.counts != manifest["counts"]:
        problems.append(f"counts differ: got {result.counts}, expected {manifest['counts']}")
    if sorted(result.frames) != sorted(manifest["frames"]):
        problems.append(f"frames differ: got {sorted(result.frames)}, expected {sorted(manifest['frames'])}")
    for kind, spec in manifest["frames"].items():
        frame = result.frames.get(kind)
        if frame is None:
            continue
        where = f"{case}/{kind}"
        if [str(c) for c in frame.columns] != spec["columns"]:
            problems.append(f"{where}: columns differ: got {list(frame.columns)}, expected {spec['columns']}")
            continue
        dtypes = [str(t) for t in frame.dtypes]
        if dtypes != spec["dtypes"]:
            diff = [(c, a, b) for c, a, b in zip(spec["columns"], dtypes, spec["dtypes"]) if a != b]
            problems.append(f"{where}: dtypes differ (column, got, expected): {diff}")
        want = pd.read_parquet(GOLDEN_DIR / f"{case}__{kind}.parquet")
        got = _plain(frame, kind)
        if len(got) != len(want):
            problems.append(f"{where}: {len(got)} rows, expected {len(want)}")
            continue
        for col in want.columns:
            if col == "__wkb__":
                continue
            msg = _compare_column(col, got[col].reset_index(drop=True), want[col])
            if msg:
                problems.append(f"{where}: {msg}")
        if kind == "clusters":
            problems += _compare_outlines(where, frame.geometry.to_numpy(), shapely.from_wkb(want["__wkb__"].to_numpy()))
        elif isinstance(frame, gpd.GeoDataFrame) and kind in GEOMETRY_FROM:
            problems += _compare_carried(where, frame, layers, GEOMETRY_FROM[kind])
    return problems


def _compare_outlines(where: str, got: np.ndarray, want: np.ndarray) -> list[str]:
    same = shapely.equals(got, want)
    if not same.all():
        # topological equality can miss by a rounding; accept a negligible symmetric difference
        k = ~same
        sym = shapely.area(shapely.symmetric_difference(got[k], want[k]))
        same[k] = sym <= 1e-9 * shapely.area(want[k]) + 1e-6
    if not same.all():
        return [f"{where}: {int((~same).sum())} cluster outline(s) differ, e.g. cluster row {np.flatnonzero(~same)[0]}"]
    return []


def _compare_carried(where: str, frame: gpd.GeoDataFrame, layers, source: str | None) -> list[str]:
    if source is None:   # parks: the industrial parks, then the micro-parks, in their order
        parts = [layers[k].geometry for k in ("industrial_parks", "micro_parks") if layers.get(k) is not None
                 and len(layers[k])]
        expected = np.concatenate([p.to_numpy() for p in parts]) if parts else np.zeros(0, dtype=object)
    else:
        expected = layers[source].geometry.reindex(frame.index).to_numpy()
    got = frame.geometry.to_numpy()
    same = shapely.equals_exact(got, expected, tolerance=0.0) | (shapely.is_missing(got) & shapely.is_missing(expected))
    if len(got) != len(expected) or not same.all():
        return [f"{where}: the geometry is not the input's ({int((~same).sum())} rows differ)"]
    return []


def main() -> None:
    ap = argparse.ArgumentParser(description="Write (or check) the frozen outputs of the analysis chain.")
    ap.add_argument("--write", action="store_true", help="write tests/data/chain_golden/ from the current code")
    ap.add_argument("cases", nargs="*", default=list(CASES))
    args = ap.parse_args()
    import geo  # noqa: F401  (GDAL safety settings first)

    with tempfile.TemporaryDirectory() as tmp:
        for case in args.cases:
            result, layers = run_case(case, Path(tmp) / case)
            if args.write:
                write_case(case, result)
                print(f"{case}: written")
            else:
                problems = compare_case(case, result, layers)
                print(f"{case}: " + ("equal" if not problems else "\n  ".join(["DIFFERS"] + problems)))


if __name__ == "__main__":
    main()
