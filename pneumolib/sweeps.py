"""Many independent training runs in parallel worker processes, resumable, collected into one table.

A sweep is a list of :class:`Task` objects (seeds, ablation arms, grid cells, CV folds). Each
task runs in a worker through any :class:`concurrent.futures.Executor`: a process pool on this
machine by default, or a Dask cluster's ``Client(address).get_executor()`` across machines.
When a task finishes, its result is written to ``<out_dir>/<key>.json`` at once, so an
interrupted sweep resumes without redoing finished runs. There is no scheduler of our own.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import torch

from .config import TrainConfig
from .data import PneumoniaData, cv_fold, load_pneumoniamnist, subsample
from .devices import describe_device, resolve_device
from .errors import ConfigError
from .metrics import binary_metrics
from .paths import write_atomically
from .repro import package_versions, seed_everything
from .runs import data_provenance, evaluate, same_recipe
from .thresholds import choose_threshold


@dataclass(frozen=True)
class DataSpec:
    """How a worker loads its data (small and picklable; the folder must exist on every worker)."""

    data_dir: str
    image_size: int = 28
    subset: tuple[int, int] | None = None  # (n_train, n_eval) stratified subset, e.g. the smoke profile
    subset_seed: int = 0

    def load(self) -> PneumoniaData:
        data = load_pneumoniamnist(self.image_size, self.data_dir, download=False)
        if self.subset:
            data = subsample(data, n_train=self.subset[0], n_eval=self.subset[1], seed=self.subset_seed)
        return data


@dataclass(frozen=True)
class Task:
    """One training run of a sweep. ``key`` names its result file (``a/b/c`` -> ``a/b/c.json``).

    With ``fold`` set, the run trains on the other folds of a stratified ``n_folds``-fold CV of
    train+val and validates on this fold; ``labels`` are copied into the result table.
    """

    key: str
    config: TrainConfig
    labels: dict[str, Any] = field(default_factory=dict)
    fold: int | None = None
    n_folds: int | None = None
    fold_seed: int = 0
    tta: bool = False  # also store test-time-augmented probabilities (pneumolib.tta)
    save_model: bool = False  # keep the trained model (with its val-picked threshold) as <out_dir>/<key>.pt
    teacher: tuple[str, ...] = ()  # keys of saved models whose ensemble teaches this run (distillation)

    def identity(self) -> dict[str, Any]:
        """What must match for a saved result to count as this task's result (options at their
        defaults are left out, so results saved before an option existed still match)."""
        identity = {"key": self.key, "config": self.config.to_dict(), "fold": self.fold, "n_folds": self.n_folds,
                    "fold_seed": self.fold_seed}
        if self.tta:
            identity["tta"] = True
        if self.save_model:
            identity["save_model"] = True
        if self.teacher:
            identity["teacher"] = list(self.teacher)
        return identity


TUNED_CRITERION = "youden"  # the val-picked threshold stored with every result


def saved_model_path(out_dir: str | Path, key: str) -> Path:
    """Where a task with ``save_model`` keeps its model."""
    return _result_path(Path(out_dir), key).with_suffix(".pt")


def load_teacher(out_dir: str | Path, keys: tuple[str, ...]) -> torch.nn.Module:
    """The equal-weight ensemble of the models saved under ``keys`` (each a finished task with
    ``save_model``), in eval mode."""
    from .checkpoint import load_model
    from .ensemble import ProbabilityEnsemble

    members = []
    for key in keys:
        path = saved_model_path(out_dir, key)
        if not path.is_file():
            raise FileNotFoundError(f"Teacher model {key!r} is missing ({path.name} in {Path(out_dir).name}/); "
                                    "run the teacher tasks (with save_model=True) first.")
        members.append(load_model(path)[0])
    return ProbabilityEnsemble(members).eval()


def round_probabilities(values) -> list[float]:
    """Probabilities as stored in result files: plain floats, 6 decimals."""
    return [round(float(v), 6) for v in values]


def load_results(out_dir: str | Path, keys: list[str]) -> list[dict[str, Any]]:
    """The saved results of the tasks named ``keys`` in ``out_dir``."""
    paths = [_result_path(Path(out_dir), k) for k in keys]
    missing = [k for k, p in zip(keys, paths) if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"No saved result for {missing} in {Path(out_dir).name}/; run the sweep first.")
    return [json.loads(p.read_text()) for p in paths]


def run_task(task: Task, data_spec: DataSpec, threads: int | None = 1, out_dir: str | Path | None = None) -> dict[str, Any]:
    """Train and score one task (runs inside a worker). Test is scored once, after selection:
    the epoch and the threshold are both picked on the task's val split. The result keeps the
    val and test probabilities (6 decimals), so ensembles and bootstrap CIs need no retraining."""
    from .checkpoint import save_checkpoint
    from .models import build_model_from_config
    from .train import fit
    from .tta import predict_tta

    if threads:
        torch.set_num_threads(threads)
    if (task.save_model or task.teacher) and out_dir is None:
        raise ConfigError(f"Task {task.key!r} saves or loads models, so run_task needs out_dir.")
    start = time.perf_counter()
    data = data_spec.load()
    if task.fold is not None:
        data = cv_fold(data, task.n_folds, task.fold, task.fold_seed)
    teacher = load_teacher(out_dir, task.teacher) if task.teacher else None
    seed_everything(task.config.seed)
    model = build_model_from_config(task.config)
    history = fit(model, data, task.config, progress=False, teacher=teacher)
    metrics, probs = evaluate(model, data, task.config)
    threshold = choose_threshold(data.val.labels, probs["val"], TUNED_CRITERION)
    extra: dict[str, Any] = {}
    if task.tta:
        extra["tta_probabilities"] = {s: round_probabilities(predict_tta(model, data.split(s), task.config)) for s in ("val", "test")}
    if task.save_model:
        save_checkpoint(saved_model_path(out_dir, task.key), model, task.config, threshold=threshold,
                        metrics=metrics["test"], provenance=data_provenance(data))
    return {
        **task.identity(),
        "data_spec": _spec_dict(data_spec),
        "labels": task.labels,
        "best_epoch": history.best_epoch,
        "val": metrics["val"], "test": metrics["test"], "medmnist": metrics["medmnist"],
        "tuned": {"criterion": TUNED_CRITERION, "threshold": threshold,
                  "test": binary_metrics(data.test.labels, probs["test"], threshold)},
        "data": data_provenance(data),
        "device": describe_device(resolve_device(task.config.device)),
        "threads": torch.get_num_threads(),
        "wall_seconds": round(time.perf_counter() - start, 1),
        "versions": package_versions(),
        "probabilities": {s: round_probabilities(probs[s]) for s in ("val", "test")},
        **extra,
    }


def _result_path(out_dir: Path, key: str) -> Path:
    if not key or key.startswith("/") or ".." in key.split("/"):
        raise ConfigError(f"Task key {key!r} must be a relative name such as 'ablation/full/seed0'.")
    return out_dir / f"{key}.json"


def _finished(path: Path, task: Task, data_spec: DataSpec) -> dict[str, Any] | None:
    """The saved result of ``task`` when one exists for exactly this task and data, else None."""
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    identity = {**task.identity(), "data_spec": _spec_dict(data_spec)}
    try:  # configs saved before a TrainConfig option existed match with that option at its default
        saved_config = TrainConfig.from_dict(saved.get("config", {}))
    except (ConfigError, TypeError):
        return None
    for option in ("tta", "save_model", "teacher"):
        if option in saved and option not in identity:
            return None
    if task.save_model and not path.with_suffix(".pt").is_file():
        return None
    matches = same_recipe(saved_config, task.config) and all(  # the device it ran on is not part of the task
        saved.get(k) == v for k, v in identity.items() if k != "config")
    return saved if matches else None


def _spec_dict(data_spec: DataSpec) -> dict[str, Any]:
    """The data spec as saved with results (JSON types; the folder is not part of the identity)."""
    return {"image_size": data_spec.image_size, "subset": list(data_spec.subset) if data_spec.subset else None,
            "subset_seed": data_spec.subset_seed}


def default_executor(workers: int) -> Executor:
    """A process pool with ``workers`` processes started by ``spawn`` (safe with torch threads)."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def run_sweep(
    tasks: list[Task],
    data_spec: DataSpec,
    out_dir: str | Path,
    executor: Executor | None = None,
    workers: int | None = None,
    threads_per_worker: int | None = 1,
    log: Callable[[str], None] | None = print,
) -> pd.DataFrame:
    """Run every task not already finished in ``out_dir``; return the table of all results.

    ``executor`` is any :class:`concurrent.futures.Executor`, e.g. a Dask cluster's
    ``client.get_executor()``; by default a spawn process pool of ``workers`` processes
    (default: CPU cores / ``threads_per_worker``) is created and shut down here. Failed tasks
    are reported in the table (status ``failed``) and are retried on the next call.
    """
    out_dir = Path(out_dir)
    keys = [t.key for t in tasks]
    if len(set(keys)) != len(keys):
        raise ConfigError("Task keys must be unique within a sweep.")
    say = log or (lambda message: None)
    results: dict[str, dict[str, Any]] = {}
    pending = []
    for task in tasks:
        saved = _finished(_result_path(out_dir, task.key), task, data_spec)
        if saved is not None:
            results[task.key] = saved
        else:
            pending.append(task)
    say(f"{len(tasks)} runs: {len(results)} already finished in {out_dir.name}/, {len(pending)} to run")
    if pending:
        own = executor is None
        if own:
            workers = workers or max(1, (os.cpu_count() or 1) // (threads_per_worker or 1))
            executor = default_executor(min(workers, len(pending)))
        try:
            done = 0
            for wave in _waves(pending):  # students wait for their teachers
                futures = {executor.submit(run_task, task, data_spec, threads_per_worker, str(out_dir)): task
                           for task in wave}
                for future in as_completed(futures):
                    done += 1
                    task = futures[future]
                    try:
                        result = future.result()
                    except Exception as exc:  # one failed run must not lose the others
                        results[task.key] = {**task.identity(), "labels": task.labels, "error": f"{type(exc).__name__}: {exc}"}
                        say(f"[{done}/{len(pending)}] {task.key}: FAILED ({type(exc).__name__}: {exc})")
                        continue
                    write_atomically(_result_path(out_dir, task.key), lambda handle: json.dump(result, handle, indent=1))
                    results[task.key] = result
                    say(f"[{done}/{len(pending)}] {task.key}: val AUC {result['val']['auc']:.4f}, "
                        f"test AUC {result['test']['auc']:.4f} ({result['wall_seconds']:.0f} s)")
        finally:
            if own:
                executor.shutdown(wait=True, cancel_futures=True)
    return results_table([results[k] for k in keys])


def _waves(pending: list[Task]) -> list[list[Task]]:
    """Pending tasks in the order they can run: a task comes after every pending task it learns from."""
    waves, placed = [], set()
    remaining = list(pending)
    pending_keys = {t.key for t in pending}
    while remaining:
        wave = [t for t in remaining if all(k in placed or k not in pending_keys for k in t.teacher)]
        if not wave:
            raise ConfigError(f"Teacher keys form a cycle among {[t.key for t in remaining]}.")
        waves.append(wave)
        placed.update(t.key for t in wave)
        remaining = [t for t in remaining if t.key not in placed]
    return waves


def results_table(results: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per result: key, labels, status, selection, and val/test metrics (at 0.5 and tuned)."""
    rows = []
    for r in results:
        row = {"key": r["key"], **r.get("labels", {}), "seed": r["config"]["seed"], "fold": r.get("fold")}
        if "error" in r:
            rows.append({**row, "status": "failed", "error": r["error"]})
            continue
        row.update({"status": "ran", "best_epoch": r["best_epoch"], "val_auc": r["val"]["auc"]})
        for k in ("auc", "acc", "balanced_accuracy", "sensitivity", "specificity", "f1"):
            row[f"test_{k}"] = r["test"][k]
        row["tuned_threshold"] = r["tuned"]["threshold"]
        for k in ("acc", "balanced_accuracy", "sensitivity", "specificity", "f1"):
            row[f"tuned_test_{k}"] = r["tuned"]["test"][k]
        row.update({"val_acc": r["val"]["acc"], "val_balanced_accuracy": r["val"]["balanced_accuracy"],
                    "medmnist_test_auc": r["medmnist"]["test"]["auc"], "medmnist_test_acc": r["medmnist"]["test"]["acc"],
                    "seconds": r["wall_seconds"]})
        rows.append(row)
    table = pd.DataFrame(rows)
    for name in dict.fromkeys(k for r in results for k in r.get("labels", {})):
        # labels keep their Python types (batch size 64, not 64.0) where other tasks lack them
        table[name] = pd.Series([r.get("labels", {}).get(name) for r in results], dtype=object, index=table.index)
    if "fold" in table:
        table["fold"] = table["fold"].astype("Int64")
    return table


def select_runs(table: pd.DataFrame, prefix: str) -> pd.DataFrame:
    """The rows of a sweep table whose key starts with ``prefix``, without columns they all lack."""
    runs = table[table.key.str.startswith(prefix)]
    return runs.loc[:, runs.notna().any()].reset_index(drop=True)

