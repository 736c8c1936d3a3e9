"""Many training runs collected into tables: arms x seeds, with skipped arms reported, not hidden."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .config import TrainConfig
from .data import PneumoniaData
from .errors import PretrainedWeightsUnavailableError
from .models import build_model_from_config
from .runs import RunResult, run_training


@dataclass(frozen=True)
class Arm:
    """One recipe to compare: a name, a config, and optionally a head-only first stage."""

    name: str
    config: TrainConfig
    head_epochs: int = 0


@dataclass
class ArmResults:
    """Per-run metrics (one row per arm and seed) and the runs themselves, keyed by (arm, seed)."""

    table: pd.DataFrame
    test_labels: np.ndarray
    runs: dict[tuple[str, int], RunResult] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # arm -> reason

    def test_predictions(self, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``{arm: (test labels, test probabilities)}`` for one seed, for plots and paired comparisons."""
        return {arm: (self.test_labels, run.probabilities["test"]) for (arm, s), run in self.runs.items() if s == seed}


def unavailable_reason(config: TrainConfig) -> str | None:
    """Why a config cannot be built here (for example ImageNet weights offline), else None."""
    if not config.pretrained:
        return None
    try:
        build_model_from_config(config)
    except PretrainedWeightsUnavailableError as exc:
        return str(exc).splitlines()[0]
    return None


SUMMARY_COLUMNS = ["val_auc", "test_auc", "test_acc", "test_balanced_accuracy", "test_sensitivity",
                   "test_specificity", "test_f1", "medmnist_test_auc", "medmnist_test_acc"]


def run_arms(
    arms: list[Arm], data: PneumoniaData, seeds: list[int], out_dir: Path, progress: bool = True,
    verbose: bool = True,
) -> ArmResults:
    """Train every available arm with every seed (same data, same budget). Unavailable arms are
    recorded with status ``skipped`` and the reason, never replaced by something else."""
    rows, results = [], ArmResults(pd.DataFrame(), test_labels=data.test.labels)
    for arm in arms:
        reason = unavailable_reason(arm.config)
        if reason:
            results.skipped[arm.name] = reason
            if verbose:
                print(f"{arm.name}: skipped ({reason})")
            rows.append({"arm": arm.name, "seed": None, "status": "skipped", "reason": reason})
            continue
        for seed in seeds:
            config = replace(arm.config, seed=seed)
            run = run_training(config, Path(out_dir) / f"{arm.name.replace(' ', '_')}_seed{seed}", data,
                               head_epochs=arm.head_epochs, progress=progress)
            results.runs[(arm.name, seed)] = run
            m = run.metrics
            if verbose:
                print(f"{arm.name}, seed {seed}: {m['selection']}; val AUC {m['val']['auc']:.4f}, "
                      f"test AUC {m['test']['auc']:.4f} ({m['wall_seconds']:.0f} s)")
            rows.append({
                "arm": arm.name, "seed": seed, "status": "ran", "reason": "",
                "best_epoch": m["best_epoch"], "val_auc": m["val"]["auc"],
                **{f"test_{k}": m["test"][k] for k in ("auc", "acc", "balanced_accuracy", "sensitivity", "specificity", "f1")},
                "medmnist_test_auc": m["medmnist"]["test"]["auc"], "medmnist_test_acc": m["medmnist"]["test"]["acc"],
                "seconds": m["wall_seconds"],
            })
    table = pd.DataFrame(rows)
    for column in ("seed", "best_epoch"):
        if column in table:
            table[column] = table[column].astype("Int64")  # integers, with <NA> for skipped arms
    results.table = table
    return results


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd over seeds per arm (``mean ± sd`` strings, 4 decimals); skipped arms keep their reason."""
    out = []
    for arm, group in table.groupby("arm", sort=False):
        if (group.status == "skipped").all():
            out.append({"arm": arm, "runs": 0, **{c: "skipped" for c in SUMMARY_COLUMNS}})
            continue
        ran = group[group.status == "ran"]
        row = {"arm": arm, "runs": len(ran)}
        for column in SUMMARY_COLUMNS:
            values = ran[column].astype(float)
            sd = values.std(ddof=1) if len(values) > 1 else 0.0
            row[column] = f"{values.mean():.4f} ± {sd:.4f}"
        out.append(row)
    return pd.DataFrame(out).set_index("arm")
