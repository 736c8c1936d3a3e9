"""Final models scored from stored probabilities: single runs and seed ensembles, with and
without test-time augmentation, at 0.5 and at the threshold picked on val; bootstrap CIs of the
mean over independent final models. Nothing here trains."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..evaluation.metrics import binary_metrics, bootstrap_seed_mean
from ..models import average_probabilities
from .runs import RunRecord, score


def val_auc_by_run(runs: dict[str, RunRecord], y_val: np.ndarray, tta: bool) -> pd.Series:
    """Val AUC of each run (index: its key), with or without TTA: one value per seed, so that a
    decision can pair runs seed by seed (:mod:`pneumolib.evaluation.noise`)."""
    return pd.Series({key: binary_metrics(y_val, r.probabilities("val", tta))["auc"] for key, r in runs.items()},
                     dtype=float)


def tta_gain(runs: list[RunRecord], y_val: np.ndarray) -> float:
    """Mean over runs of val AUC with TTA minus without."""
    keyed = dict(enumerate(runs))
    return float((val_auc_by_run(keyed, y_val, True) - val_auc_by_run(keyed, y_val, False)).mean())


@dataclass
class ScoredModel:
    """Val and test probabilities of one final model (a run or an ensemble), scored at 0.5 and at
    the threshold picked on its val probabilities."""

    name: str
    p_val: np.ndarray
    p_test: np.ndarray
    members: list[str] = field(default_factory=list)

    def record(self, y_val: np.ndarray, y_test: np.ndarray) -> dict[str, Any]:
        """Val and test metrics (at 0.5), MedMNIST's test pair, and the val-picked threshold with
        the test metrics there: the fields of a sweep result."""
        return score(y_val, self.p_val, y_test, self.p_test)

    def score(self, y_val: np.ndarray, y_test: np.ndarray) -> dict[str, Any]:
        """One table row: val AUC, the val-picked threshold, test AUC and ACC at 0.5 and at it."""
        r = self.record(y_val, y_test)
        tuned = r["tuned"]["test"]
        return {
            "model": self.name, "members": " ".join(self.members), "val_auc": r["val"]["auc"],
            "threshold": r["tuned"]["threshold"],
            "test_auc": r["medmnist"]["test"]["auc"], "test_acc_at_0.5": r["medmnist"]["test"]["acc"],
            "test_acc_val_threshold": tuned["acc"], "test_balanced_accuracy_val_threshold": tuned["balanced_accuracy"],
        }


def ensemble(name: str, runs: dict[str, RunRecord], tta: bool) -> ScoredModel:
    """Equal-weight ensemble of runs (probabilities averaged), members named by their keys' last part."""
    return ScoredModel(name, average_probabilities([r.probabilities("val", tta) for r in runs.values()]),
                       average_probabilities([r.probabilities("test", tta) for r in runs.values()]),
                       members=[key.rsplit("/", 1)[-1] for key in runs])


def single(key: str, run: RunRecord, tta: bool) -> ScoredModel:
    """One run as a final model."""
    return ScoredModel(key.rsplit("/", 1)[-1], run.probabilities("val", tta), run.probabilities("test", tta))


def score_models(models: list[ScoredModel], y_val: np.ndarray, y_test: np.ndarray) -> pd.DataFrame:
    """One row per model: val AUC, val-picked threshold, test AUC and ACC at 0.5 and at the threshold."""
    return pd.DataFrame([m.score(y_val, y_test) for m in models]).set_index("model")


def seed_mean_ci(y_test: np.ndarray, models: list[ScoredModel], thresholds: list[float], n_boot: int = 2000,
                 seed: int = 0) -> pd.DataFrame:
    """Bootstrap 95% CI of the mean over ``models`` of test AUC, ACC at 0.5 and ACC at each model's
    val-picked threshold (rows named like the score columns)."""
    ci = bootstrap_seed_mean(y_test, [m.p_test for m in models], thresholds, n_boot=n_boot, seed=seed)
    return ci.rename(index={"auc": "test_auc", "acc_at_0.5": "test_acc_at_0.5", "acc_at_threshold": "test_acc_val_threshold"})
