"""Many runs, one runner: every :class:`RunSpec` goes through :func:`run_many`, on any
:class:`concurrent.futures.Executor`, and every finished run lands in the run store.

Runs the store already holds are loaded, not trained (so an interrupted sweep resumes, and two
notebooks asking for the same run share it). The rest run in a spawn process pool by default
(workers exit with their parent), in this process with ``executor=InProcessExecutor()``, or on
a Dask cluster with ``client.get_executor()``. A worker trains, saves the model into the store
and returns the record; this process writes ``record.json``. There is no scheduler of our own.
"""

from __future__ import annotations

import os
from concurrent.futures import Executor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch

from ..devices import resolve_device
from ..errors import ConfigError, ReferenceChangedError
from ..paths import display_path
from .executors import InProcessExecutor, process_pool
from .runs import DataSpec, RunRecord, RunSpec, data_fingerprint, data_provenance, train_run
from .store import RunStore


def _execute(spec: RunSpec, data_spec: DataSpec, store_root: str, threads: int | None, fingerprint: str,
             progress: bool = False) -> dict[str, Any]:
    """Train one run (inside a worker) and save its model into the store; returns the record's fields."""
    if threads:
        torch.set_num_threads(threads)
    data = data_spec.load()
    if data_fingerprint(data) != fingerprint:
        raise ConfigError(f"The data this worker loaded ({data_spec}) differs from the data the sweep was planned on; "
                          "every worker must see the same data folder.")
    store = RunStore(store_root)
    teacher = store.teacher(spec.teacher) if spec.teacher else None
    record = train_run(spec, data, fingerprint, teacher=teacher, progress=progress)
    store.save_model(record, record.model, data_provenance(data))
    return record.fields


@dataclass
class RunResults:
    """What :func:`run_many` returns: the table (one row per spec, in order) and the records by key."""

    table: pd.DataFrame
    records: dict[str, RunRecord] = field(default_factory=dict)
    reused: list[str] = field(default_factory=list)  # keys loaded from the store
    failures: dict[str, BaseException] = field(default_factory=dict)  # key -> the exception of a failed run

    def __getitem__(self, key: str) -> RunRecord:
        return self.records[key]


def run_many(
    specs: list[RunSpec],
    data_spec: DataSpec,
    store: RunStore | str | Path | None = None,
    executor: Executor | None = None,
    workers: int | None = None,
    threads_per_worker: int | None = 1,
    need_models: bool = False,
    progress: bool = False,
    log: Callable[[str], None] | None = print,
) -> RunResults:
    """Run every spec the store does not hold yet; return the table of all of them.

    Specs need unique keys (they name rows and log lines). By default a process pool of
    ``workers`` processes (one per GPU, each on its own GPU, when the runs go to CUDA; else CPU
    cores / ``threads_per_worker``) is started and shut down here.
    With ``need_models``, a stored run whose model file is missing is run again. Failed runs are
    reported in the table (status ``failed``, with the error) and run again next time.
    """
    store = store if isinstance(store, RunStore) else RunStore(store)
    keys = [s.key for s in specs]
    if len(set(keys)) != len(keys) or not all(keys):
        raise ConfigError("Every run of a sweep needs a unique, non-empty key.")
    say = log or (lambda message: None)
    data = data_spec.load()
    fingerprint = data_fingerprint(data)
    teachers = {t for s in specs for t in s.teacher}
    done: dict[str, RunRecord] = {}
    recreating: dict[str, RunRecord] = {}  # stored record, model file missing (a fresh clone): run again for it
    pending = []
    for spec in specs:
        run_id = spec.run_id(fingerprint)
        record = store.find(spec, fingerprint)
        if record is not None and ((not need_models and run_id not in teachers) or store.has_model(run_id)):
            done[spec.key] = record
            continue
        pending.append(spec)
        if record is not None:
            recreating[spec.key] = record
    reused = list(done)
    say(f"{len(specs)} runs: {len(done)} already in the store ({display_path(store.root)}/), {len(pending)} to run"
        + (f" ({len(recreating)} to re-create a missing model file)" if recreating else ""))
    errors: dict[str, str] = {}
    failures: dict[str, BaseException] = {}
    if pending:
        own = executor is None
        if own:
            gpus = gpus_for(pending)
            workers = min(workers or default_workers(pending, threads_per_worker), len(pending))
            executor = process_pool(workers, gpus=gpus if gpus > 1 else 0)
        in_process = isinstance(executor, InProcessExecutor)
        threads = None if in_process else threads_per_worker
        try:
            finished = 0
            for wave in _waves(pending, fingerprint):  # students wait for their teachers
                futures = {executor.submit(_execute, spec, data_spec, str(store.root), threads, fingerprint,
                                           progress and in_process): spec for spec in wave}
                for future in as_completed(futures):
                    finished += 1
                    spec = futures[future]
                    try:
                        record = RunRecord(future.result())
                        if spec.key in recreating and _same_predictions(record, recreating[spec.key]):
                            record = recreating[spec.key]  # the model file is back; the committed record stays as it is
                        else:
                            store.save_record(record)
                    except Exception as exc:  # one failed run must not lose the others
                        if spec.key in recreating and isinstance(exc, ReferenceChangedError):  # its model file belongs to the refused numbers
                            store.model_path(spec.run_id(fingerprint)).unlink(missing_ok=True)
                        errors[spec.key] = f"{type(exc).__name__}: {exc}"
                        failures[spec.key] = exc
                        say(f"[{finished}/{len(pending)}] {spec.key}: FAILED ({errors[spec.key]})")
                        continue
                    done[spec.key] = record
                    say(f"[{finished}/{len(pending)}] {spec.key}: val AUC {record.fields['val']['auc']:.4f}, "
                        f"test AUC {record.fields['test']['auc']:.4f} ({record.fields['wall_seconds']:.0f} s)")
        finally:
            if own:
                executor.shutdown(wait=True, cancel_futures=True)
    table = results_table([(spec, done.get(spec.key), errors.get(spec.key)) for spec in specs])
    return RunResults(table, {k: done[k] for k in keys if k in done}, reused, failures)


def gpus_for(specs: list[RunSpec]) -> int:
    """How many GPUs the runs can use: every GPU when any of them runs on CUDA, else 0."""
    if any(resolve_device(spec.config.device).type == "cuda" for spec in specs):
        return torch.cuda.device_count()
    return 0


def default_workers(specs: list[RunSpec], threads_per_worker: int | None = 1) -> int:
    """One worker per GPU when the runs go to CUDA (workers sharing a GPU only compete for its
    memory), else one per ``threads_per_worker`` CPU cores."""
    gpus = gpus_for(specs)
    if gpus:
        return gpus
    return max(1, (os.cpu_count() or 1) // (threads_per_worker or 1))


def _same_predictions(new: RunRecord, stored: RunRecord, tolerance: float = 1e-5) -> bool:
    """A re-run that reproduces the stored record: the same val and test probabilities (as stored,
    rounded) and the same picked epoch."""
    if new.fields.get("best_epoch") != stored.fields.get("best_epoch"):
        return False
    for split in ("val", "test"):
        a, b = np.asarray(new.probabilities(split)), np.asarray(stored.probabilities(split))
        if a.shape != b.shape or np.abs(a - b).max(initial=0.0) > tolerance:
            return False
    return True


def _waves(pending: list[RunSpec], fingerprint: str) -> list[list[RunSpec]]:
    """Pending runs in the order they can run: a run comes after every pending run it learns from."""
    ids = {s.run_id(fingerprint): s for s in pending}
    waves, placed, remaining = [], set(), list(pending)
    while remaining:
        wave = [s for s in remaining if all(t in placed or t not in ids for t in s.teacher)]
        if not wave:
            raise ConfigError(f"Teachers form a cycle among {[s.key for s in remaining]}.")
        waves.append(wave)
        placed.update(s.run_id(fingerprint) for s in wave)
        remaining = [s for s in remaining if s not in wave]
    return waves


def results_table(rows: list[tuple[RunSpec, RunRecord | None, str | None]]) -> pd.DataFrame:
    """One row per run: key, labels, status, run id, selection, and val/test metrics (at 0.5 and tuned)."""
    out = []
    for spec, record, error in rows:
        row = {"key": spec.key, **spec.labels, "seed": spec.config.seed, "fold": spec.fold}
        if record is None:
            out.append({**row, "status": "failed", "error": error or "not run"})
            continue
        r = record.fields
        row.update({"status": "ran", "run_id": record.run_id, "best_epoch": r["best_epoch"], "val_auc": r["val"]["auc"]})
        for k in ("auc", "acc", "balanced_accuracy", "sensitivity", "specificity", "f1"):
            row[f"test_{k}"] = r["test"][k]
        row["tuned_threshold"] = r["tuned"]["threshold"]
        for k in ("acc", "balanced_accuracy", "sensitivity", "specificity", "f1"):
            row[f"tuned_test_{k}"] = r["tuned"]["test"][k]
        row.update({"val_acc": r["val"]["acc"], "val_balanced_accuracy": r["val"]["balanced_accuracy"],
                    "medmnist_test_auc": r["medmnist"]["test"]["auc"], "medmnist_test_acc": r["medmnist"]["test"]["acc"],
                    "seconds": r["wall_seconds"]})
        out.append(row)
    table = pd.DataFrame(out)
    for name in dict.fromkeys(k for spec, _, _ in rows for k in spec.labels):
        # labels keep their Python types (batch size 64, not 64.0) where other runs lack them
        table[name] = pd.Series([spec.labels.get(name) for spec, _, _ in rows], dtype=object, index=table.index)
    if "fold" in table:
        table["fold"] = table["fold"].astype("Int64")
    return table


def select_runs(table: pd.DataFrame, prefix: str) -> pd.DataFrame:
    """The rows of a sweep table whose key starts with ``prefix``, without columns they all lack."""
    runs = table[table.key.str.startswith(prefix)]
    return runs.loc[:, runs.notna().any()].reset_index(drop=True)


def ensure_run(spec: RunSpec, data_spec: DataSpec, store: RunStore | None = None, progress: bool = False,
               need_model: bool = True) -> tuple[RunRecord, str]:
    """One run with its model, in this process: loaded from the store when it holds exactly this
    run, else trained now and stored. Returns ``(record with .model, how)``."""
    store = store or RunStore()
    result = run_many([spec], data_spec, store, executor=InProcessExecutor(), need_models=need_model,
                      progress=progress, log=None)
    if spec.key in result.failures:  # the run's own error (a clear ConfigError, DeviceUnavailableError, ...)
        raise result.failures[spec.key]
    if spec.key not in result.records:
        raise RuntimeError(f"Run {spec.key!r} failed: {result.table.error.iloc[0]}")
    record = result[spec.key]
    if spec.key in result.reused:
        how = f"loaded from the store (run {record.run_id})"
    else:
        how = f"trained now and stored (run {record.run_id})"
    if need_model:
        record.model = store.load_model(record.run_id)
    return record, how
