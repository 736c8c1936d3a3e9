"""Many training runs collected into tables: arms x seeds, with skipped arms reported, not hidden."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from itertools import product
from concurrent.futures import Executor
from typing import Any

import numpy as np
import pandas as pd

from ..config import TrainConfig
from ..evaluation.precision import format_with_spread
from ..errors import PretrainedWeightsUnavailableError
from ..models.pretrained import read_ssl_description, ssl_checkpoint_path
from ..models.zoo import SMALL_CNN_HEAD, build_model_from_config, effective_head
from .executors import InProcessExecutor
from .runner import run_many
from .runs import DataSpec, RunRecord, RunSpec
from .store import RunStore


@dataclass(frozen=True)
class Arm:
    """One recipe to compare: a name and a config (two-stage fine-tuning is ``config.head_epochs``)."""

    name: str
    config: TrainConfig


@dataclass
class ArmResults:
    """Per-run metrics (one row per arm and seed) and the run records, keyed by (arm, seed)."""

    table: pd.DataFrame
    test_labels: np.ndarray
    runs: dict[tuple[str, int], RunRecord] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # arm -> reason
    reused: list[str] = field(default_factory=list)  # keys of runs loaded from the store

    def test_predictions(self, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``{arm: (test labels, test probabilities)}`` for one seed, for plots and paired comparisons."""
        return {arm: (self.test_labels, run.probabilities("test")) for (arm, s), run in self.runs.items() if s == seed}


def unavailable_reason(config: TrainConfig) -> str | None:
    """Why a config cannot be built here (for example ImageNet weights offline), else None."""
    if not config.pretrained:
        return None
    ssl_path = ssl_checkpoint_path(config.pretrained)
    if ssl_path is not None and read_ssl_description(ssl_path) is not None:
        return None  # described: its weights are pretrained when a run trains from them
    try:
        build_model_from_config(config)
    except PretrainedWeightsUnavailableError as exc:
        return str(exc).splitlines()[0]
    return None


SUMMARY_COLUMNS = ["val_auc", "test_auc", "test_acc", "test_balanced_accuracy", "test_sensitivity",
                   "test_specificity", "test_f1", "medmnist_test_auc", "medmnist_test_acc"]


def arm_key(arm: str, seed: int) -> str:
    return f"{_slug(arm)}/seed{seed}"


def run_arms(
    arms: list[Arm], data_spec: DataSpec, seeds: list[int], store: RunStore | None = None,
    executor: Executor | None = None, progress: bool = True, verbose: bool = True, **runner_options: Any,
) -> ArmResults:
    """Train every available arm with every seed (same data, same budget) through the runner, so
    finished runs are loaded from the store (resume). Unavailable arms are recorded with status
    ``skipped`` and the reason, never replaced by something else. In this process by default."""
    say = print if verbose else None
    skipped = {arm.name: reason for arm in arms if (reason := unavailable_reason(arm.config))}
    for name, reason in skipped.items():
        if verbose:
            print(f"{name}: skipped ({reason})")
    specs = [RunSpec(replace(arm.config, seed=seed), key=arm_key(arm.name, seed), labels={"arm": arm.name})
             for arm in arms if arm.name not in skipped for seed in seeds]
    result = run_many(specs, data_spec, store, executor=executor or InProcessExecutor(), progress=progress, log=say,
                      **runner_options)
    runs = {(spec.labels["arm"], spec.config.seed): result.records[spec.key] for spec in specs if spec.key in result.records}
    table = result.table.rename(columns={"error": "reason"}) if len(result.table) else result.table
    if "reason" not in table:
        table["reason"] = ""
    table["reason"] = table["reason"].fillna("")
    rows = [table] + [pd.DataFrame([{"arm": name, "seed": None, "status": "skipped", "reason": reason}])
                      for name, reason in skipped.items()]
    table = pd.concat(rows, ignore_index=True)
    order = {arm.name: i for i, arm in enumerate(arms)}
    table = table.sort_values("arm", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)
    for column in ("seed", "best_epoch"):
        if column in table:
            table[column] = table[column].astype("Int64")  # integers, with <NA> for skipped arms
    return ArmResults(table, data_spec.load().test.labels, runs, skipped, result.reused)


def _mean_sd(values: pd.Series) -> str:
    """``mean ± sd`` with the digits the sd supports (one run: a metric's decimals and ± 0)."""
    values = values.astype(float)
    sd = values.std(ddof=1) if len(values) > 1 else 0.0
    return format_with_spread(values.mean(), sd)


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd over seeds per arm (``mean ± sd`` strings, to the sd's first significant digit);
    skipped arms keep their reason."""
    out = []
    for arm, group in table.groupby("arm", sort=False):
        if (group.status == "skipped").all():
            out.append({"arm": arm, "runs": 0, **{c: "skipped" for c in SUMMARY_COLUMNS}})
            continue
        ran = group[group.status == "ran"]
        row = {"arm": arm, "runs": len(ran)}
        for column in SUMMARY_COLUMNS:
            row[column] = _mean_sd(ran[column])
        out.append(row)
    return pd.DataFrame(out).set_index("arm")


# --- Sweeps built on pneumolib.sweeps: ablations, grid search with CV, k-fold CV -------------------

FULL_RECIPE = "full recipe"
NO_THRESHOLD_TUNING = "− threshold tuning"


def full_recipe(model: str = "small_cnn", **overrides: Any) -> TrainConfig:
    """The complete recipe that the ablation study takes apart one component at a time.

    ``small_cnn`` (the CPU default): from scratch, head dropout 0.5, class weighting,
    balanced sampling, light augmentation, label smoothing 0.1, weight decay 1e-4, cosine
    schedule. ``resnet18/34/50`` (for a GPU): the same plus ImageNet weights, a 256-unit head
    with dropout 0.5, and lr 1e-4. Thresholds are tuned on val in both (Youden's J).
    """
    common = dict(class_weighting="pos_weight", sampler="balanced", augment="light", label_smoothing=0.1,
                  weight_decay=1e-4, scheduler="cosine", epochs=4, batch_size=64)
    if model == "small_cnn":
        config = TrainConfig(model=model, lr=1e-3, **common)
    else:
        config = TrainConfig(model=model, pretrained="imagenet", lr=1e-4, head_hidden=(256,),
                             head_dropout=(0.5, 0.0), **common)
    return replace(config, **overrides)


def recipe_settings(config: TrainConfig, name: str = "recipe") -> pd.Series:
    """A recipe's settings for display, with the head it is actually built with (the small CNN's
    default head is spelled out rather than shown as None)."""
    values = {k: v for k, v in config.to_dict().items() if k not in ("extra", "device")}
    hidden, dropout = effective_head(config.model, config.head_hidden, config.head_dropout)
    if (hidden, dropout) != (config.head_hidden, config.head_dropout):
        values["head_hidden"], values["head_dropout"] = f"{hidden} (model default)", f"{dropout} (model default)"
    return pd.Series(values, name=name)


def _without_head_dropout(config: TrainConfig) -> TrainConfig | str:
    if config.model == "small_cnn" and config.head_hidden is None:  # its default head has dropout
        hidden, rates = SMALL_CNN_HEAD
        return replace(config, head_hidden=hidden, head_dropout=tuple(0.0 for _ in rates))
    if not config.head_dropout or not any(config.head_dropout):
        return "the full recipe has no head dropout"
    return replace(config, head_dropout=tuple(0.0 for _ in config.head_dropout))


def _remove(field_name: str, off_value, reason: str):
    def remove(config: TrainConfig) -> TrainConfig | str:
        return reason if getattr(config, field_name) == off_value else replace(config, **{field_name: off_value})
    return remove


ABLATIONS = {
    "− class weighting": _remove("class_weighting", "none", "the full recipe has no class weighting"),
    "− balanced sampling": _remove("sampler", "shuffle", "the full recipe has no balanced sampling"),
    "− augmentation": _remove("augment", "none", "the full recipe has no augmentation"),
    "− batch norm": lambda c: (replace(c, batch_norm=False) if c.model == "small_cnn" and c.batch_norm
                               else "only the small CNN can be built without batch norm"),
    "− head dropout": _without_head_dropout,
    "− pretrained weights": _remove("pretrained", None, "the full recipe trains from scratch (no pretrained weights to remove)"),
    "− label smoothing": _remove("label_smoothing", 0.0, "the full recipe has no label smoothing"),
}


def ablation_tasks(full: TrainConfig, seeds: list[int], prefix: str = "ablation") -> tuple[list[RunSpec], dict[str, str]]:
    """Tasks for the full recipe and for each one-component removal, every seed.

    Returns ``(tasks, not_applicable)``, where ``not_applicable`` maps an arm to the reason it
    cannot run (component absent, or pretrained weights unavailable here). The threshold-tuning
    arm needs no training of its own: it re-scores the full recipe's runs at 0.5.
    """
    arms: dict[str, TrainConfig] = {FULL_RECIPE: full}
    not_applicable: dict[str, str] = {}
    for arm, remove in ABLATIONS.items():
        result = remove(full)
        if isinstance(result, str):
            not_applicable[arm] = result
        else:
            arms[arm] = result
    for arm, config in list(arms.items()):
        reason = unavailable_reason(config)
        if reason:
            not_applicable[arm] = reason
            del arms[arm]
    tasks = [RunSpec(replace(config, seed=seed), key=f"{prefix}/{_slug(arm)}/seed{seed}", labels={"arm": arm})
             for arm, config in arms.items() for seed in seeds]
    return tasks, not_applicable


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in text.replace("−", "no")).strip("_").lower()


ABLATION_COLUMNS = {"val_auc": "val AUC", "test_auc": "test AUC", "test_acc": "test ACC",
                    "test_balanced_accuracy": "test balanced acc", "test_sensitivity": "test sensitivity",
                    "test_specificity": "test specificity", "test_f1": "test F1"}


def ablation_table(table: pd.DataFrame, not_applicable: dict[str, str] | None = None) -> pd.DataFrame:
    """Mean ± sd over seeds per arm. Threshold-dependent test metrics use the val-picked
    (Youden) threshold, except in the ``− threshold tuning`` row, which scores the full recipe's
    runs at 0.5. ``Δ test AUC`` is the arm's mean minus the full recipe's."""
    ran = table[table.status == "ran"]
    full_auc = ran[ran.arm == FULL_RECIPE].test_auc.astype(float).mean() if len(ran) else float("nan")
    rows = []

    def row_for(arm: str, runs: pd.DataFrame, tuned: bool) -> dict[str, Any]:
        row = {"arm": arm, "runs": len(runs), "threshold": "val Youden" if tuned else "0.5"}
        for column, title in ABLATION_COLUMNS.items():
            source = f"tuned_{column}" if tuned and f"tuned_{column}" in runs else column
            row[title] = _mean_sd(runs[source])
        row["Δ test AUC"] = f"{runs.test_auc.astype(float).mean() - full_auc:+.4f}"
        return row

    for arm, runs in ran.groupby("arm", sort=False):
        rows.append(row_for(arm, runs, tuned=True))
        if arm == FULL_RECIPE:
            rows.append(row_for(NO_THRESHOLD_TUNING, runs, tuned=False))
    for arm, reason in (not_applicable or {}).items():
        rows.append({"arm": arm, "runs": 0, "threshold": "", **{t: "n/a" for t in ABLATION_COLUMNS.values()},
                     "Δ test AUC": "n/a", "note": reason})
    failed = table[table.status == "failed"]
    for arm, runs in failed.groupby("arm", sort=False):
        rows.append({"arm": arm, "runs": 0, "note": f"{len(runs)} run(s) failed: {runs.error.iloc[0]}"})
    return pd.DataFrame(rows).set_index("arm").fillna("")


def grid_tasks(base: TrainConfig, grid: dict[str, list], n_folds: int = 3, fold_seed: int = 0,
               prefix: str = "grid") -> list[RunSpec]:
    """Every combination of ``grid`` values (e.g. batch_size x lr), each with ``n_folds``-fold CV on train+val."""
    names = list(grid)
    combos = [dict(zip(names, values)) for values in product(*(grid[n] for n in names))]
    return [
        RunSpec(replace(base, **combo), key=f"{prefix}/" + "_".join(f"{n}{v}" for n, v in combo.items()) + f"/fold{fold}",
                labels=dict(combo), fold=fold, n_folds=n_folds, fold_seed=fold_seed)
        for combo in combos for fold in range(n_folds)
    ]


def cv_tasks(config: TrainConfig, n_folds: int = 5, fold_seed: int = 0, prefix: str = "cv") -> list[RunSpec]:
    """Stratified ``n_folds``-fold CV of one recipe on train+val (test stays untouched)."""
    return [RunSpec(config, key=f"{prefix}/fold{fold}", labels={"fold_of": n_folds}, fold=fold, n_folds=n_folds,
                    fold_seed=fold_seed) for fold in range(n_folds)]


def cv_summary(table: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per group (e.g. grid cell): folds, mean and sd of the held-out fold AUC, and mean test AUC.

    Choose among groups by ``cv_auc_mean`` only; the test column is for reporting afterwards.
    """
    ran = table[table.status == "ran"]
    grouped = ran.groupby(by, sort=True)
    return pd.DataFrame({
        "folds": grouped.size(),
        "cv_auc_mean": grouped.val_auc.mean(),
        "cv_auc_sd": grouped.val_auc.std(ddof=1),
        "cv_balanced_accuracy_mean": grouped.val_balanced_accuracy.mean(),
        "test_auc_mean": grouped.test_auc.mean(),
    })


def fold_table(cv_runs: pd.DataFrame) -> pd.DataFrame:
    """Per-fold results of a k-fold CV sweep with ``mean`` and ``sd`` rows: held-out fold AUC and
    balanced accuracy (at 0.5), test AUC, and the val-picked threshold with its test balanced accuracy."""
    columns = {"val_auc": "held-out fold AUC", "val_balanced_accuracy": "held-out fold balanced acc (0.5)",
               "test_auc": "test AUC", "tuned_threshold": "val-picked threshold",
               "tuned_test_balanced_accuracy": "test balanced acc (val-picked)"}
    ran = cv_runs[cv_runs.status == "ran"]
    per_fold = ran.set_index(ran["fold"].astype(int).rename("fold"))[list(columns)].rename(columns=columns)
    per_fold.index = per_fold.index.astype(str)
    summary = per_fold.agg(["mean", "std"]).rename(index={"std": "sd"})
    return pd.concat([per_fold, summary])
