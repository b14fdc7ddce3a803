"""Stored runs: result layers under a run id plus one row of ``runs``, in one transaction.

Three kinds of run share the ``runs`` table (:mod:`layers.store.tables`)::

    chain        run_id "<id>"               layers run_<id>_per_mu, run_<id>_plots, …
    siting       run_id "siting_<id>"        layers siting_<id>_assignments, …_sites, …_lines
    integration  run_id "integration_<id>"   layers integration_<id>_zones, …_links, …_joint

A run is stored by :func:`store_run`: its layers and its row commit together (a killed run
leaves nothing half-stored), the id is checked and — when none was asked for — made unique
inside that transaction, so two runs started in the same second both keep their own id.
The row records the version of every input layer (and raster) the run read:
:func:`stale_inputs` says which have changed since, so the app can mark a run whose inputs
were replaced.  :func:`prune` drops the layers of older runs to bound the workspace's size.
"""
from __future__ import annotations

import datetime as _dt
import json
import re
import zoneinfo
from collections.abc import Mapping

import pandas as pd

from geo.errors import ParameterError
from geo.progress import Progress, Steps
from layers import access
from layers.access import Actor
from layers.store.base import now_utc

__all__ = ["RUN_KINDS", "KIND_ACTIONS", "run_key", "layer_name", "new_run_id", "store_run", "list_runs",
           "load_run", "run_parts", "stale_inputs", "prune", "inputs_of", "RUN_COLUMNS"]

RUN_KINDS = ("chain", "siting", "integration")
KIND_ACTIONS = {"chain": "run.chain", "siting": "run.siting", "integration": "run.integration"}
_PREFIX = {"chain": "run", "siting": "siting", "integration": "integration"}
_RUN_ID = re.compile(r"^[a-z0-9_]{1,40}$")
RUN_COLUMNS = ["run_id", "kind", "preset", "created", "as_of", "parameters", "counts", "seconds",
               "workspace_version", "input_versions", "created_by", "layers"]


def run_key(kind: str, run_id: str) -> str:
    """The ``runs.run_id`` of a run: the bare id for the chain, ``<kind>_<id>`` for the others."""
    _check_kind(kind)
    return run_id if kind == "chain" else f"{kind}_{run_id}"


def layer_name(kind: str, run_id: str, part: str) -> str:
    """Name of one result layer of a run (``run_<id>_plots``, ``siting_<id>_sites``…)."""
    return f"{_PREFIX[_check_kind(kind)]}_{run_id}_{part}"


def _check_kind(kind: str) -> str:
    if kind not in RUN_KINDS:
        raise ParameterError(f"run kind {kind!r} is not one of {RUN_KINDS}", message_zh=f"未知的运行类型 {kind!r}")
    return kind


def new_run_id(tz: str = "Asia/Shanghai") -> str:
    """A default run id: the local date and time, ``YYYYMMDD_HHMMSS``."""
    return _dt.datetime.now(zoneinfo.ZoneInfo(tz)).strftime("%Y%m%d_%H%M%S")


def _check_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        raise ParameterError(f"run id {run_id!r} must be 1–40 lower-case letters, digits or underscores",
                             message_zh=f"运行编号 {run_id!r} 只能包含小写字母、数字和下划线")
    return run_id


def _for_store(frame: pd.DataFrame) -> pd.DataFrame:
    """Store-friendly dtypes: object columns become text (lists and dicts as JSON)."""
    out = frame.copy()
    geom = getattr(out, "_geometry_column_name", None)
    for col in out.columns:
        if col != geom and out[col].dtype == object:
            out[col] = out[col].map(lambda v: json.dumps(v, ensure_ascii=False, default=str)
                                    if isinstance(v, (list, dict, tuple)) else v).astype("string")
    return out


def inputs_of(ws, layers: list[str]) -> dict[str, object]:
    """``{layer: version}`` of the input layers present and ``{"raster:<kind>": file}`` of the rasters."""
    versions = ws.layer_versions()
    out: dict[str, object] = {n: versions[n] for n in layers if n in versions}
    out.update({f"raster:{k}": p.name for k, p in ws.rasters().items()})
    return out


def store_run(ws, *, kind: str, frames: Mapping[str, pd.DataFrame], actor: Actor, run_id: str | None = None,
              preset: str = "", parameters: Mapping | None = None, counts: Mapping | None = None,
              seconds: float = 0.0, as_of: str = "", inputs: Mapping | None = None,
              progress: Progress | None = None) -> str:
    """Store a run's result layers and its ``runs`` row in one transaction; returns the run id used.

    Parameters
    ----------
    kind : {"chain", "siting", "integration"}
    frames : mapping
        Part name → frame (``{"plots": …, "per_mu": …}``); stored as ``layer_name(kind, id, part)``.
    actor : Actor
        A planner or admin (``run.chain`` / ``run.siting`` / ``run.integration``).
    run_id : str, optional
        Lower-case letters, digits, underscores; refused if taken.  Default: the local date and
        time, with ``_2``, ``_3``… added inside the transaction if another run took it.
    inputs : mapping, optional
        What :func:`inputs_of` returned when the run read its layers.
    progress : callable, optional
        Told as the frames are checked and as each is written (:mod:`geo.progress`).
    """
    action = KIND_ACTIONS[_check_kind(kind)]
    access.require(actor, action)
    ws.require_writable()
    asked = _check_run_id(run_id) if run_id else None
    base = asked or new_run_id(ws.timezone)
    steps = Steps(progress, ["check", *frames], task="store")
    steps.start("check")
    prepared = ws._validate_frames({layer_name(kind, base, p): _for_store(f) for p, f in frames.items()})
    with ws.transaction(actor, action) as tx:
        taken = {r[0] for r in tx.execute("SELECT run_id FROM runs")}
        rid = _unique_id(kind, base, taken, asked is not None)
        names = {}
        for part, frame in zip(frames, prepared.values()):
            steps.start(part)
            names[part] = layer_name(kind, rid, part)
            tx.replace_layer(names[part], frame, kind="result", source=f"{kind} run {rid} ({preset})")
        tx.insert("runs", pd.DataFrame([{
            "run_id": run_key(kind, rid), "kind": kind, "preset": preset, "created": now_utc(precise=True), "as_of": str(as_of or ""),
            "parameters": json.dumps(parameters or {}, ensure_ascii=False, default=str),
            "counts": json.dumps(counts or {}, ensure_ascii=False, default=str), "seconds": round(float(seconds), 3),
            "workspace_version": str(tx.bump_version()), "input_versions": json.dumps(inputs or {}, ensure_ascii=False),
            "created_by": actor.username, "layers": json.dumps(list(names.values())),
        }]))
        tx.target = run_key(kind, rid)
        tx.summary = f"{kind} 运行 {rid}(方案 {preset}):" + ",".join(f"{p} {len(f)} 行" for p, f in frames.items())
        tx.detail = {"counts": dict(counts or {}), "inputs": dict(inputs or {})}
    steps.finish()
    return rid


def _unique_id(kind: str, base: str, taken: set[str], asked: bool) -> str:
    if run_key(kind, base) not in taken:
        return base
    if asked:
        raise ParameterError(f"run {run_key(kind, base)!r} already exists; pick another id",
                             message_zh=f"运行 {run_key(kind, base)} 已存在,请换一个编号")
    n = 2
    while run_key(kind, f"{base}_{n}") in taken:
        n += 1
    return f"{base}_{n}"


def list_runs(ws, kind: str | None = None) -> pd.DataFrame:
    """The ``runs`` table, oldest first (empty frame when no run was stored), optionally of one kind.

    ``run_id`` is the table's key (``siting_<id>`` for siting runs); rows of older workspaces
    without a ``kind`` get it from the id's prefix.
    """
    if kind is not None:
        _check_kind(kind)
    if not ws.has_layer("runs"):
        return pd.DataFrame({c: pd.Series([], dtype="object") for c in RUN_COLUMNS})
    runs = ws.read_table("runs")
    for c in RUN_COLUMNS:
        if c not in runs.columns:
            runs[c] = None
    ids = runs["run_id"].astype(str)
    guessed = ids.map(lambda r: "siting" if r.startswith("siting_") else
                      ("integration" if r.startswith("integration_") else "chain"))
    runs["kind"] = runs["kind"].where(runs["kind"].notna(), guessed)
    runs = runs[RUN_COLUMNS]
    if kind is not None:
        runs = runs[runs["kind"] == kind]
    return runs.reset_index(drop=True)


def _bare_id(kind: str, key: str) -> str:
    return key if kind == "chain" else key[len(kind) + 1:]


def run_parts(ws, kind: str, run_id: str) -> list[str]:
    """Part names of the result layers a stored run has (``plots``, ``per_mu``…)."""
    prefix = layer_name(kind, run_id, "")
    return [n[len(prefix):] for n in ws.layers() if n.startswith(prefix)]


def load_run(ws, kind: str, run_id: str, parts: tuple[str, ...] | None = None) -> dict[str, pd.DataFrame]:
    """Every stored result layer of a run by part name (or only ``parts``)."""
    runs = list_runs(ws, kind)
    keys = runs["run_id"].astype(str)
    if not (keys == run_key(kind, run_id)).any():
        known = ", ".join(_bare_id(kind, k) for k in keys) or "(none)"
        raise ParameterError(f"no {kind} run {run_id!r} in {ws.describe()}; stored runs: {known}",
                             message_zh=f"没有运行 {run_id!r};已有:{known}")
    held = set(ws.layers())
    wanted = parts if parts is not None else run_parts(ws, kind, run_id)
    return {p: ws.read(layer_name(kind, run_id, p)) for p in wanted if layer_name(kind, run_id, p) in held}


def stale_inputs(ws, row) -> dict[str, tuple]:
    """Inputs of a stored run that changed since it ran: ``{layer: (version then, version now)}``.

    ``row`` is a row of :func:`list_runs` (or its ``input_versions`` JSON).  A layer replaced,
    restored or deleted since the run counts; a run recorded before versions were kept
    (no ``input_versions``) reports nothing.
    """
    text = row["input_versions"] if not isinstance(row, str) else row
    if not isinstance(text, str) or not text:
        return {}
    then = json.loads(text)
    now = ws.layer_versions()
    rasters = {f"raster:{k}": p.name for k, p in ws.rasters().items()}
    out = {}
    for name, v in then.items():
        current = rasters.get(name) if name.startswith("raster:") else now.get(name)
        if current != v:
            out[name] = (v, current)
    return out


def prune(ws, *, keep: int, actor: Actor, kind: str | None = None, dry_run: bool = False) -> list[str]:
    """Drop the result layers and rows of all but the ``keep`` newest runs of each kind (admin).

    Returns the ``runs`` keys removed (or that would be, with ``dry_run``).  The sample's own
    run ``sample`` is kept whatever its age: it is the newcomer's starting point.
    """
    access.require(actor, "runs.prune")
    if not isinstance(keep, int) or keep < 0:
        raise ParameterError(f"keep must be a whole number ≥ 0, got {keep!r}", message_zh=f"保留数量应为 ≥ 0 的整数:{keep!r}")
    if not dry_run:
        ws.require_writable()
    with ws.transaction(actor, "runs.prune", target=kind or "all") if not dry_run else _nothing() as tx:
        source = tx if tx is not None else None
        runs = _runs_in(source, ws)
        victims = []
        for k in ([kind] if kind else list(RUN_KINDS)):
            of_kind = runs[runs["kind"] == k].sort_values(["created", "run_id"])
            of_kind = of_kind[of_kind["run_id"] != "sample"]
            victims += of_kind["run_id"].iloc[:max(len(of_kind) - keep, 0)].astype(str).tolist()
        if tx is None:
            return victims
        kinds = dict(zip(runs["run_id"].astype(str), runs["kind"]))
        held = [r[0] for r in tx.execute("SELECT layer FROM ws_layers")]
        for key in victims:
            prefix = layer_name(kinds[key], _bare_id(kinds[key], key), "")
            for layer in [h for h in held if h.startswith(prefix)]:
                tx.drop_layer(layer)
        tx.delete("runs", "run_id", victims)
        tx.summary = f"清理历史运行 {len(victims)} 个(每类保留最新 {keep} 个)"
        tx.detail = {"removed": victims, "keep": keep}
    return victims


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def _runs_in(tx, ws) -> pd.DataFrame:
    if tx is None:
        return list_runs(ws)
    rows = tx.execute("SELECT run_id, kind, created FROM runs")
    df = pd.DataFrame(rows, columns=["run_id", "kind", "created"])
    guess = df["run_id"].astype(str).map(lambda r: "siting" if r.startswith("siting_") else
                                         ("integration" if r.startswith("integration_") else "chain"))
    df["kind"] = df["kind"].where(df["kind"].notna(), guess)
    return df
