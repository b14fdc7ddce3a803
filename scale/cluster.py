"""Where the analysis chain runs: in this process, or on an existing dask.distributed cluster.

The setting is a scheduler address — ``cli.py evaluate --scheduler tcp://HOST:PORT``, or
``PLANNER_SCHEDULER`` in the environment, which the CLI and the app both read.  Empty, the
chain runs in this process (:func:`analysis.pipeline.run_chain`); set, :func:`run` connects to
the scheduler, checks its workers and runs :func:`scale.partitioned.run_chain_distributed`
there.  Either way the run is stored by :func:`analysis.pipeline.run` — one transaction, the
same layers, the same ``runs`` row and audit entry, the same acting user.

The workers need this project's code, at the same version, and so does the scheduler (since
dask 2023 it unpickles the task graph, which names our task functions): install it on every
machine of the cluster (``pip install`` the same release or commit into the environment that
runs ``dask scheduler`` and ``dask worker``).  :func:`connect` asks the scheduler and each
worker for a fingerprint of the code the tasks import (:func:`code_fingerprint`) and refuses,
naming them, when one cannot import it or runs other code — instead of ``No module named
'scale'`` half-way through a run.  Rasters reach the workers as :mod:`scale.rasters` says (a path every worker reads, or
the file sent to each).
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from geo.errors import ClusterError

__all__ = ["SCHEDULER_ENV", "scheduler_address", "connect", "code_fingerprint", "check_workers", "run"]

SCHEDULER_ENV = "PLANNER_SCHEDULER"
#: Packages whose code runs in the tasks (the fingerprint covers every ``.py`` file in them).
CODE_PACKAGES = ("analysis", "geo", "layers", "scale")


def scheduler_address(given: str | None = None) -> str | None:
    """``given``, else ``$PLANNER_SCHEDULER``, else None (run in this process)."""
    address = (given or os.environ.get(SCHEDULER_ENV) or "").strip()
    return address or None


def code_fingerprint() -> str:
    """SHA-256 over the planner's source files the tasks import (paths relative to their package)."""
    import importlib

    digest = hashlib.sha256()
    for name in CODE_PACKAGES:
        root = Path(importlib.import_module(name).__file__).parent
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root.parent)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def check_workers(client) -> None:
    """Refuse a cluster that cannot run the chain: no workers, or other code on the scheduler or a worker.

    Raises
    ------
    ClusterError
        Naming the scheduler or each worker that cannot import the planner or runs a different version of it.
    """
    if not client.scheduler_info()["workers"]:
        raise ClusterError(f"the scheduler at {client.scheduler.address} has no workers; start some with "
                           f"`dask worker {client.scheduler.address}` on machines where the planner is installed",
                           message_zh=f"调度器 {client.scheduler.address} 没有可用的计算节点(worker);"
                                      "请在已安装本系统的机器上启动 dask worker")
    mine = code_fingerprint()
    theirs = client.run(code_fingerprint, on_error="return")
    try:   # the scheduler unpickles the task graph, so it imports the task functions too
        theirs[f"scheduler {client.scheduler.address}"] = client.run_on_scheduler(code_fingerprint)
    except Exception as exc:  # noqa: BLE001 — whatever the scheduler raised is named in the refusal
        theirs[f"scheduler {client.scheduler.address}"] = exc
    missing = {w: r for w, r in theirs.items() if isinstance(r, BaseException)}
    other = sorted(w for w, r in theirs.items() if not isinstance(r, BaseException) and r != mine)
    if missing or other:
        named = "; ".join([f"{w}: {type(r).__name__}: {r}" for w, r in sorted(missing.items())]
                          + [f"{w}: different code" for w in other])
        raise ClusterError(f"the cluster cannot run this version of the planner ({named}). Install the same version "
                           "on the scheduler and every worker (pip install the same release or commit into the "
                           "environment that runs dask scheduler / dask worker) and restart them.",
                           message_zh=f"计算集群无法运行当前版本的规划系统({named})。请在调度器和每个计算节点上安装"
                                      "相同版本(pip install 同一发布版或同一提交),然后重启它们。")


@contextlib.contextmanager
def connect(address: str, *, timeout: float = 10.0) -> Iterator:
    """A ``distributed.Client`` on the scheduler at ``address``, its workers checked; closed on exit.

    Raises
    ------
    ClusterError
        The scheduler cannot be reached within ``timeout`` seconds, or :func:`check_workers` refuses.
    """
    from distributed import Client

    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterError(f"cannot reach the dask scheduler at {address!r} ({exc}); check {SCHEDULER_ENV} / "
                           "--scheduler (tcp://HOST:PORT) and that the scheduler is running",
                           message_zh=f"无法连接 dask 调度器 {address!r};请检查 {SCHEDULER_ENV} 或 --scheduler 设置"
                                      "(tcp://主机:端口)以及调度器是否在运行") from exc
    try:
        check_workers(client)
        yield client
    finally:
        client.close()


def run(ws, preset, *, actor, scheduler: str | None = None, run_id: str | None = None, as_of: str | None = None,
        regrades=None, rasters_to_workers: str = "auto", progress=None):
    """:func:`analysis.pipeline.run` in this process, or on the cluster the setting names.

    Parameters
    ----------
    ws, preset, actor, run_id, as_of, regrades, progress
        As for :func:`analysis.pipeline.run`.
    scheduler : str, optional
        Scheduler address (``tcp://HOST:PORT``); default ``$PLANNER_SCHEDULER``; neither → this process.
    rasters_to_workers : {"auto", "path", "send"}
        :func:`scale.rasters.for_workers`.

    Returns
    -------
    (run id, RunResult)
    """
    from analysis import pipeline
    from layers import access

    address = scheduler_address(scheduler)
    if address is None:
        return pipeline.run(ws, preset, actor=actor, run_id=run_id, as_of=as_of, regrades=regrades, progress=progress)
    access.require(actor, "run.chain")        # before connecting: a viewer learns it at once
    from scale.partitioned import run_chain_distributed

    with connect(address) as client:
        chain = functools.partial(run_chain_distributed, client=client, rasters_to_workers=rasters_to_workers)
        return pipeline.run(ws, preset, actor=actor, run_id=run_id, as_of=as_of, regrades=regrades, chain=chain,
                            progress=progress)
