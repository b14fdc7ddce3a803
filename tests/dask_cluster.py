"""A real dask cluster over TCP on this machine for tests: ``dask scheduler`` and ``dask worker`` processes.

The scheduler picks a free port itself (``--port 0``) and writes its address to a scheduler
file; each worker is one process (one thread, a memory limit) started in an empty directory,
so it finds the planner's code only where a machine of a cluster would: on ``PYTHONPATH`` here
(the source tree, until the project is installed with ``pip install .``), or nowhere
(``code=False`` / ``scheduler_code=False``, to see the refusal).  Every process is stopped by its own id afterwards.
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

__all__ = ["tcp_cluster", "start_worker"]


def _wait_for(predicate, timeout: float, what: str, procs=()) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"{what}: process {p.args[:4]} exited with {p.returncode}")
        time.sleep(0.2)
    raise TimeoutError(f"{what} within {timeout} s")


def _env(code: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PLANNER_SCHEDULER")}
    if code:
        env["PYTHONPATH"] = str(ROOT)
    env["PYTHONWARNINGS"] = "ignore"
    return env


def start_worker(address: str, directory: Path, name: str, *, memory_limit: str = "4GB",
                 code: bool = True) -> subprocess.Popen:
    """One ``dask worker`` process (1 thread, ``memory_limit``) for the scheduler at ``address``."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / f"{name}.log", "wb") as log:   # the child keeps its own descriptor
        return subprocess.Popen([sys.executable, "-m", "dask", "worker", address, "--name", name, "--nthreads", "1",
                                 "--nworkers", "1", "--memory-limit", memory_limit, "--no-dashboard",
                                 "--local-directory", str(directory / name)],
                                cwd=directory, env=_env(code), stdout=log, stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextlib.contextmanager
def tcp_cluster(directory: Path, *, n_workers: int = 2, memory_limit: str = "4GB",
                code: bool = True, scheduler_code: bool = True) -> Iterator[str]:
    """Start a scheduler and ``n_workers`` workers over TCP on 127.0.0.1; yield the scheduler address.

    ``code``/``scheduler_code``: whether the workers / the scheduler find the planner's code."""
    from distributed import Client

    directory.mkdir(parents=True, exist_ok=True)
    sfile = directory / "scheduler.json"
    procs: list[subprocess.Popen] = []
    try:
        with open(directory / "scheduler.log", "wb") as log:
            procs.append(subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1",
                                           "--port", "0", "--no-dashboard", "--scheduler-file", str(sfile)],
                                          cwd=directory, env=_env(scheduler_code), stdout=log,
                                          stderr=subprocess.STDOUT))
        _wait_for(lambda: sfile.exists() and sfile.stat().st_size > 0, 60, "dask scheduler start", procs)
        address = json.loads(sfile.read_text())["address"]
        for i in range(n_workers):
            procs.append(start_worker(address, directory, f"worker-{i + 1}", memory_limit=memory_limit, code=code))
        with Client(address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(n_workers, timeout=120)
        yield address
    finally:
        for p in reversed(procs):
            _stop(p)
