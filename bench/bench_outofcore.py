"""The county beyond memory: a county set evaluated out of core on a real dask cluster, per-worker memory.

    python bench/bench_outofcore.py --sizes 1000000 5000000 [--workers 2] [--worker-memory 4GB] [--keep DIR]

For each size, printed (never asserted):

1. **County set**: ``python cli.py sample --plots N --parquet DIR`` (a partition in memory at a time):
   seconds, the process's peak resident memory, partitions and bytes on disk.
2. **Out of core on a TCP cluster**: a ``dask scheduler`` and ``--workers`` ``dask worker`` processes
   (one thread each, ``--memory-limit`` = ``--worker-memory``) started on this machine, then
   ``python cli.py evaluate --parquet DIR --out OUT --scheduler tcp://…``: seconds, and the peak resident
   memory of each worker (the kernel's high-water mark, ``VmHWM``, read before the worker stops), the
   scheduler's and the client's.
3. **Single process, for the sizes that fit** (``--single-max``, default 1,000,000 plots): the same county
   set read whole and ``analysis.pipeline.run_chain`` in one process: seconds and peak memory, and whether
   the out-of-core results equal it (counts of evaluated firms, classes, low-efficiency plots, candidates,
   clusters ≥ the preset's size) — the tests check equality row by row at small sizes.

Heavy (5M plots: several GB on disk, tens of minutes on two cores): run it under
``flock /tmp/planner-heavy.lock`` on a shared machine.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _hwm(pid: int) -> int:
    """Peak resident memory (bytes) of a live process: the kernel's high-water mark."""
    with open(f"/proc/{pid}/status") as fh:
        line = next(x for x in fh if x.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def _timed(cmd: list[str], **kw) -> tuple[float, int, str]:
    """Run ``cmd`` under GNU time: seconds, peak resident memory (bytes), its standard output."""
    stats = tempfile.NamedTemporaryFile(suffix=".time", delete=False).name
    t0 = time.perf_counter()
    out = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", stats, *cmd], cwd=ROOT, check=True,
                         stdout=subprocess.PIPE, text=True, **kw).stdout
    seconds = time.perf_counter() - t0
    peak = int(Path(stats).read_text().split()[-1]) * 1024
    os.unlink(stats)
    return seconds, peak, out


class Cluster:
    """A dask scheduler and workers over TCP on this machine, as an office would start them."""

    def __init__(self, workers: int, memory: str, scratch: Path):
        port = _free_port()
        self.address = f"tcp://127.0.0.1:{port}"
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        bindir = Path(PYTHON).parent
        self.log = open(scratch / "cluster.log", "w")
        self.scheduler = subprocess.Popen([str(bindir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                           "--no-dashboard"], cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.workers = [subprocess.Popen([str(bindir / "dask"), "worker", self.address, "--nthreads", "1",
                                          "--nworkers", "1", "--memory-limit", memory, "--no-dashboard",
                                          "--local-directory", str(scratch / f"w{i}")], cwd=ROOT, env=env,
                                         stdout=self.log, stderr=subprocess.STDOUT) for i in range(workers)]
        self._wait(workers)

    def _wait(self, n: int) -> None:
        from distributed import Client

        with Client(self.address, timeout=60) as client:
            client.wait_for_workers(n, timeout=120)

    def worker_processes(self) -> list[list[int]]:
        """Per ``dask worker``: its processes (the nanny and the worker it runs in a child process, with the
        child's helpers); the worker's peak is the largest of theirs."""
        import psutil

        return [[w.pid, *(k.pid for k in psutil.Process(w.pid).children(recursive=True))] for w in self.workers]

    def close(self) -> None:
        for p in [*self.workers, self.scheduler]:
            p.terminate()
        for p in [*self.workers, self.scheduler]:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        self.log.close()


def county_set(n: int, where: Path) -> dict:
    shutil.rmtree(where, ignore_errors=True)
    s, peak, _ = _timed([PYTHON, "cli.py", "-q", "sample", "--plots", str(n), "--parquet", str(where)])
    files = list(where.rglob("*.parquet"))
    parts = len({p.parent for p in files if "plots" in p.parts or p.name.startswith("plots")}) or len(files)
    return {"s": s, "peak": peak, "bytes": sum(p.stat().st_size for p in files), "files": len(files), "parts": parts}


def out_of_core(source: Path, out: Path, workers: int, memory: str, scratch: Path) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    cluster = Cluster(workers, memory, scratch)
    try:
        pids = cluster.worker_processes()
        s, client_peak, text = _timed([PYTHON, "cli.py", "evaluate", "--parquet", str(source), "--out", str(out),
                                       "--scheduler", cluster.address])
        peaks = [max(_hwm(pid) for pid in group) for group in pids]
        sched = _hwm(cluster.scheduler.pid)
    finally:
        cluster.close()
    return {"s": s, "workers": peaks, "scheduler": sched, "client": client_peak, "summary": text}


def _single(source: str) -> None:
    """(child) The county set read whole, the chain in this process; prints the counts as JSON."""
    sys.path.insert(0, str(ROOT))
    import analysis.pipeline as pipeline
    from analysis.params import load_preset
    from scale.countyset import CountySet

    cs = CountySet(source)
    layers = cs.read_all()
    t0 = time.perf_counter()
    result = pipeline.run_chain(layers, load_preset("ruian_default"), rasters=cs.rasters(), as_of=cs.reference_date)
    print(json.dumps({"s": time.perf_counter() - t0, "counts": {k: int(v) for k, v in result.counts.items()
                                                                if isinstance(v, (int, float))}}))


def single(source: Path) -> dict:
    s, peak, text = _timed([PYTHON, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
                            f"from bench.bench_outofcore import _single; _single({str(source)!r})"])
    res = json.loads(text.strip().splitlines()[-1])
    res.update(total_s=s, peak=peak)
    return res


def _gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--worker-memory", default="4GB")
    ap.add_argument("--single-max", type=int, default=1_000_000, help="also run one process up to this many plots")
    ap.add_argument("--keep", help="directory for the county sets and results (default: a temporary one, removed)")
    args = ap.parse_args(argv)
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-ooc-"))
    base.mkdir(parents=True, exist_ok=True)
    try:
        for n in args.sizes:
            src, out = base / f"county_{n}", base / f"run_{n}"
            print(f"\n== {n:,} plots")
            c = county_set(n, src)
            print(f"county set: {c['s']:.0f} s, peak {_gb(c['peak'])}, {c['files']} files, {_gb(c['bytes'])} on disk")
            r = out_of_core(src, out, args.workers, args.worker_memory, base)
            print(f"out of core, {args.workers} TCP workers × 1 thread (memory limit {args.worker_memory}): {r['s']:.0f} s")
            print("  peak memory per worker: " + ", ".join(_gb(p) for p in r["workers"])
                  + f"; scheduler {_gb(r['scheduler'])}; client {_gb(r['client'])}")
            print("  " + r["summary"].strip().replace("\n", "\n  "))
            if n <= args.single_max:
                s = single(src)
                print(f"single process (county set read whole): chain {s['s']:.0f} s, {s['total_s']:.0f} s with the read; "
                      f"peak {_gb(s['peak'])}")
                print(f"  counts: {s['counts']}")
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
