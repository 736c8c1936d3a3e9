"""Predictions into numbers: clinical metrics, MedMNIST's AUC/ACC pair, confusion, ROC and PR data."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from .data.core import CLASS_NAMES


def _check(y_true: np.ndarray, y_prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true).reshape(-1)
    y_prob = np.asarray(y_prob, dtype=np.float64).reshape(-1)
    if y_true.shape != y_prob.shape:
        raise ValueError(f"y_true has {y_true.size} values but y_prob has {y_prob.size}.")
    if y_true.size == 0:
        raise ValueError("No predictions to score.")
    if not np.isin(y_true, (0, 1)).all():
        raise ValueError(f"Labels must be 0 or 1, found {sorted(set(np.unique(y_true).tolist()))}.")
    if not np.isfinite(y_prob).all() or (y_prob < 0).any() or (y_prob > 1).any():
        raise ValueError("Probabilities must be finite and in [0, 1]; pass sigmoid(logits), not logits.")
    return y_true.astype(np.int64), y_prob


def _ratio(num: int, den: int) -> float:
    return float(num / den) if den else float("nan")


def confusion(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """2x2 confusion matrix, rows = truth (normal, pneumonia), columns = prediction."""
    return skm.confusion_matrix(np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1), labels=[0, 1])


def binary_metrics(y_true: np.ndarray, y_prob: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Every clinical metric at ``threshold`` (predict pneumonia when ``prob >= threshold``).

    Keys: auc, acc, balanced_accuracy, sensitivity, specificity, precision, npv, f1,
    tp, fp, tn, fn, n, threshold. Undefined ratios (empty denominators) are NaN.
    """
    y_true, y_prob = _check(y_true, y_prob)
    y_pred = (y_prob >= threshold).astype(np.int64)
    (tn, fp), (fn, tp) = confusion(y_true, y_pred)
    sens, spec = _ratio(tp, tp + fn), _ratio(tn, tn + fp)
    prec = _ratio(tp, tp + fp)
    both_classes = len(np.unique(y_true)) == 2
    return {
        "auc": float(skm.roc_auc_score(y_true, y_prob)) if both_classes else float("nan"),
        "acc": _ratio(tp + tn, len(y_true)),
        "balanced_accuracy": (sens + spec) / 2,
        "sensitivity": sens,
        "specificity": spec,
        "precision": prec,
        "npv": _ratio(tn, tn + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "tp": int(tp), "fp": int(fp), "tn": int(tn), "fn": int(fn),
        "n": int(len(y_true)),
        "threshold": float(threshold),
    }


def medmnist_auc_acc(y_true: np.ndarray, y_prob: np.ndarray) -> dict[str, float]:
    """MedMNIST's own benchmark pair, computed by ``medmnist.evaluator``: AUC, and ACC at 0.5.

    As in the MedMNIST tables, the model is picked on val and these are reported on test.
    Note MedMNIST predicts pneumonia when ``prob > 0.5`` (strict), as reproduced here.
    """
    from medmnist.evaluator import getACC, getAUC

    y_true, y_prob = _check(y_true, y_prob)
    return {
        "auc": float(getAUC(y_true, y_prob, "binary-class")),
        "acc": float(getACC(y_true, y_prob, "binary-class", threshold=0.5)),
    }


def per_class_report(y_true: np.ndarray, y_prob: np.ndarray, threshold: float = 0.5) -> pd.DataFrame:
    """Precision, recall, F1 and support per class, as a DataFrame indexed by class name."""
    y_true, y_prob = _check(y_true, y_prob)
    y_pred = (y_prob >= threshold).astype(np.int64)
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, labels=[0, 1], zero_division=np.nan)
    return pd.DataFrame(
        {"precision": p, "recall": r, "f1": f, "support": s}, index=pd.Index(CLASS_NAMES, name="class")
    )


def roc_curve_data(y_true: np.ndarray, y_prob: np.ndarray) -> pd.DataFrame:
    """ROC curve points: columns fpr, tpr, threshold."""
    y_true, y_prob = _check(y_true, y_prob)
    fpr, tpr, thr = skm.roc_curve(y_true, y_prob)
    return pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": thr})


def pr_curve_data(y_true: np.ndarray, y_prob: np.ndarray) -> pd.DataFrame:
    """Precision-recall curve points: columns recall, precision, threshold (NaN for the end point)."""
    y_true, y_prob = _check(y_true, y_prob)
    precision, recall, thr = skm.precision_recall_curve(y_true, y_prob)
    return pd.DataFrame({"recall": recall, "precision": precision, "threshold": np.append(thr, np.nan)})


def _bootstrap_indices(y_true: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, N) index draws, resampled within each class so every draw has both classes."""
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(y_true == c) for c in (0, 1)]
    draws = [rng.choice(g, size=(n_boot, len(g)), replace=True) for g in groups if len(g)]
    return np.concatenate(draws, axis=1)


def bootstrap_ci(
    y_true: np.ndarray,
    y_prob: np.ndarray,
    metric: str = "auc",
    threshold: float = 0.5,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """Percentile bootstrap CI of one :func:`binary_metrics` key: ``{estimate, low, high}``."""
    y_true, y_prob = _check(y_true, y_prob)
    values = [binary_metrics(y_true[i], y_prob[i], threshold)[metric] for i in _bootstrap_indices(y_true, n_boot, seed)]
    alpha = (1 - level) / 2
    low, high = np.nanquantile(values, [alpha, 1 - alpha])
    return {"estimate": binary_metrics(y_true, y_prob, threshold)[metric], "low": float(low), "high": float(high)}


def paired_bootstrap_auc_diff(
    y_true: np.ndarray, p_a: np.ndarray, p_b: np.ndarray, n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> dict[str, float]:
    """AUC(a) - AUC(b) on the same images, with a paired percentile bootstrap CI.

    Both models are scored on the same resampled images in every draw, so the CI reflects
    the difference between models, not the noise of the test set alone. ``p_two_sided`` is the
    bootstrap share of draws on the other side of zero, doubled.
    """
    y_true, p_a = _check(y_true, p_a)
    _, p_b = _check(y_true, p_b)
    diffs = np.array([
        skm.roc_auc_score(y_true[i], p_a[i]) - skm.roc_auc_score(y_true[i], p_b[i])
        for i in _bootstrap_indices(y_true, n_boot, seed)
    ])
    alpha = (1 - level) / 2
    low, high = np.quantile(diffs, [alpha, 1 - alpha])
    observed = skm.roc_auc_score(y_true, p_a) - skm.roc_auc_score(y_true, p_b)
    tail = (diffs <= 0).mean() if observed > 0 else (diffs >= 0).mean()
    return {"diff": float(observed), "low": float(low), "high": float(high), "p_two_sided": float(min(1.0, 2 * tail))}
