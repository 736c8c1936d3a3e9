"""Predictions into numbers: clinical metrics, MedMNIST's AUC/ACC pair, confusion, ROC and PR data."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn import metrics as skm

from ..data.core import CLASS_NAMES
from .bootstrap import bootstrap_indices, percentile_interval


def check_predictions(y_true: np.ndarray, y_prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels as int64 0/1 and probabilities as float64 in [0, 1], same length; ValueError otherwise."""
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


def count_rates(tp, fp, tn, fn) -> dict[str, Any]:
    """Every ratio of a confusion matrix, from its counts (numbers, or arrays of them: one matrix
    per element): acc, balanced_accuracy, sensitivity, specificity, precision, npv and f1. A ratio
    with an empty denominator is NaN. The one definition that :func:`binary_metrics`, the
    bootstrap and the threshold sweep share."""
    tp, fp, tn, fn = (np.asarray(v, dtype=np.float64) for v in (tp, fp, tn, fn))
    with np.errstate(invalid="ignore", divide="ignore"):
        sens, spec = tp / (tp + fn), tn / (tn + fp)
        rates = {"acc": (tp + tn) / (tp + fp + tn + fn), "balanced_accuracy": (sens + spec) / 2, "sensitivity": sens,
                 "specificity": spec, "precision": tp / (tp + fp), "npv": tn / (tn + fn), "f1": 2 * tp / (2 * tp + fp + fn)}
    return {k: float(v) if v.ndim == 0 else v for k, v in rates.items()}


def confusion(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """2x2 confusion matrix, rows = truth (normal, pneumonia), columns = prediction."""
    return skm.confusion_matrix(np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1), labels=[0, 1])


def binary_metrics(y_true: np.ndarray, y_prob: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Every clinical metric at ``threshold`` (predict pneumonia when ``prob >= threshold``).

    Keys: auc, acc, balanced_accuracy, sensitivity, specificity, precision, npv, f1,
    tp, fp, tn, fn, n, threshold. Undefined ratios (empty denominators) are NaN.
    """
    y_true, y_prob = check_predictions(y_true, y_prob)
    y_pred = (y_prob >= threshold).astype(np.int64)
    (tn, fp), (fn, tp) = confusion(y_true, y_pred)
    both_classes = len(np.unique(y_true)) == 2
    return {
        "auc": float(skm.roc_auc_score(y_true, y_prob)) if both_classes else float("nan"),
        **count_rates(tp, fp, tn, fn),
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

    y_true, y_prob = check_predictions(y_true, y_prob)
    return {
        "auc": float(getAUC(y_true, y_prob, "binary-class")),
        "acc": float(getACC(y_true, y_prob, "binary-class", threshold=0.5)),
    }


def per_class_report(y_true: np.ndarray, y_prob: np.ndarray, threshold: float = 0.5) -> pd.DataFrame:
    """Precision, recall, F1 and support per class, as a DataFrame indexed by class name."""
    y_true, y_prob = check_predictions(y_true, y_prob)
    y_pred = (y_prob >= threshold).astype(np.int64)
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, labels=[0, 1], zero_division=np.nan)
    return pd.DataFrame(
        {"precision": p, "recall": r, "f1": f, "support": s}, index=pd.Index(CLASS_NAMES, name="class")
    )


def roc_curve_data(y_true: np.ndarray, y_prob: np.ndarray) -> pd.DataFrame:
    """ROC curve points: columns fpr, tpr, threshold."""
    y_true, y_prob = check_predictions(y_true, y_prob)
    fpr, tpr, thr = skm.roc_curve(y_true, y_prob)
    return pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": thr})


def pr_curve_data(y_true: np.ndarray, y_prob: np.ndarray) -> pd.DataFrame:
    """Precision-recall curve points: columns recall, precision, threshold (NaN for the end point)."""
    y_true, y_prob = check_predictions(y_true, y_prob)
    precision, recall, thr = skm.precision_recall_curve(y_true, y_prob)
    return pd.DataFrame({"recall": recall, "precision": precision, "threshold": np.append(thr, np.nan)})


def _bootstrap_indices(y_true: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, N) index draws, resampled within each class so every draw has both classes."""
    return bootstrap_indices(n_boot, strata=y_true, seed=seed)


def paired_bootstrap_auc_diff(
    y_true: np.ndarray, p_a: np.ndarray, p_b: np.ndarray, n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> dict[str, float]:
    """AUC(a) - AUC(b) on the same images, with a paired percentile bootstrap CI.

    Both models are scored on the same resampled images in every draw, so the CI reflects
    the difference between models, not the noise of the test set alone. ``p_two_sided`` is the
    bootstrap share of draws on the other side of zero, doubled.
    """
    y_true, p_a = check_predictions(y_true, p_a)
    _, p_b = check_predictions(y_true, p_b)
    index = _bootstrap_indices(y_true, n_boot, seed)
    diffs = _draw_aucs(y_true[index], p_a[index]) - _draw_aucs(y_true[index], p_b[index])
    observed = skm.roc_auc_score(y_true, p_a) - skm.roc_auc_score(y_true, p_b)
    return _paired_summary(diffs, observed, level)


def _paired_summary(diffs: np.ndarray, observed: float, level: float) -> dict[str, float]:
    low, high = percentile_interval(diffs, level)
    tail = np.nanmean(diffs <= 0) if observed > 0 else np.nanmean(diffs >= 0)
    return {"diff": float(observed), "low": float(low), "high": float(high), "p_two_sided": float(min(1.0, 2 * tail))}


def paired_bootstrap_threshold_diff(
    y_true: np.ndarray, y_prob: np.ndarray, threshold_a: float, threshold_b: float, metric: str = "balanced_accuracy",
    n_boot: int = 2000, level: float = 0.95, seed: int = 0,
) -> dict[str, float]:
    """``metric`` at ``threshold_a`` minus at ``threshold_b``, for one model on the same images, with a
    paired percentile bootstrap CI (both thresholds are scored on each resampled set of images)."""
    if metric not in BOOTSTRAP_METRICS or metric == "auc":
        raise ValueError(f"metric must be a threshold metric from {BOOTSTRAP_METRICS[1:]}, got {metric!r}.")
    y_true, y_prob = check_predictions(y_true, y_prob)
    index = _bootstrap_indices(y_true, n_boot, seed)
    y, p = y_true[index], y_prob[index]
    diffs = _draw_metrics(y, p, threshold_a)[metric] - _draw_metrics(y, p, threshold_b)[metric]
    observed = binary_metrics(y_true, y_prob, threshold_a)[metric] - binary_metrics(y_true, y_prob, threshold_b)[metric]
    return _paired_summary(diffs, observed, level)


BOOTSTRAP_METRICS = ("auc", "acc", "balanced_accuracy", "sensitivity", "specificity", "precision", "npv", "f1")


def _draw_aucs(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """ROC AUC of each row of (draws, N) labels and probabilities (Mann-Whitney, ties count 1/2)."""
    ranks = rankdata(p, axis=1)
    n_pos = y.sum(axis=1)
    n_neg = y.shape[1] - n_pos
    with np.errstate(invalid="ignore", divide="ignore"):
        return ((ranks * y).sum(axis=1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def _draw_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, np.ndarray]:
    """:func:`binary_metrics` keys for each row of (draws, N) labels and probabilities, vectorised."""
    pred = p >= threshold
    tp = (pred & (y == 1)).sum(axis=1)
    fp = (pred & (y == 0)).sum(axis=1)
    fn = (~pred & (y == 1)).sum(axis=1)
    tn = (~pred & (y == 0)).sum(axis=1)
    return {"auc": _draw_aucs(y, p), **count_rates(tp, fp, tn, fn)}


def bootstrap_table(
    y_true: np.ndarray,
    y_prob: np.ndarray,
    threshold: float = 0.5,
    metrics: tuple[str, ...] = BOOTSTRAP_METRICS,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Every metric with a percentile bootstrap CI, from one set of draws: columns estimate, low, high.

    Draws resample within each class (both classes are always present), so class-conditional
    metrics such as sensitivity keep their denominators.
    """
    y_true, y_prob = check_predictions(y_true, y_prob)
    unknown = sorted(set(metrics) - set(BOOTSTRAP_METRICS))
    if unknown:
        raise ValueError(f"Unknown bootstrap metrics {unknown}; choose from {list(BOOTSTRAP_METRICS)}.")
    index = _bootstrap_indices(y_true, n_boot, seed)
    draws = _draw_metrics(y_true[index], y_prob[index], threshold)
    point = binary_metrics(y_true, y_prob, threshold)
    rows = {m: (point[m], *percentile_interval(draws[m], level)) for m in metrics}
    return pd.DataFrame.from_dict(rows, orient="index", columns=["estimate", "low", "high"]).rename_axis("metric")


def bootstrap_mean_table(
    y_true: np.ndarray,
    probs: list[np.ndarray],
    thresholds: list[float],
    metrics: tuple[str, ...] = ("auc", "acc", "balanced_accuracy", "sensitivity", "specificity"),
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """The mean over several models (e.g. seeds) of each metric, each model at its own threshold,
    with a percentile bootstrap CI of that mean: every draw resamples the images (within class)
    once and scores every model on it. Columns estimate, sd (over the models), low, high."""
    if not probs or len(probs) != len(thresholds):
        raise ValueError(f"Need one threshold per model, got {len(probs)} models and {len(thresholds)} thresholds.")
    unknown = sorted(set(metrics) - set(BOOTSTRAP_METRICS))
    if unknown:
        raise ValueError(f"Unknown bootstrap metrics {unknown}; choose from {list(BOOTSTRAP_METRICS)}.")
    checked = [check_predictions(y_true, p) for p in probs]
    y_true = checked[0][0]
    index = _bootstrap_indices(y_true, n_boot, seed)
    draws = [_draw_metrics(y_true[index], p[index], t) for (_, p), t in zip(checked, thresholds)]
    points = [binary_metrics(y_true, p, t) for (_, p), t in zip(checked, thresholds)]
    rows = {}
    for m in metrics:
        values = np.array([point[m] for point in points])
        low, high = percentile_interval(np.mean([d[m] for d in draws], axis=0), level)
        rows[m] = (values.mean(), values.std(ddof=1) if len(values) > 1 else np.nan, low, high)
    return pd.DataFrame.from_dict(rows, orient="index", columns=["estimate", "sd", "low", "high"]).rename_axis("metric")


def bootstrap_seed_mean(
    y_true: np.ndarray,
    probs: list[np.ndarray],
    thresholds: list[float],
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Percentile CI of the *mean over several models* (e.g. seeds) of AUC, ACC at 0.5 and ACC at
    each model's own threshold. Each draw resamples the images (within class) once and scores
    every model on that same draw. Rows ``auc``, ``acc_at_0.5``, ``acc_at_threshold``; columns
    ``ci_low``, ``ci_high``."""
    if not probs or len(probs) != len(thresholds):
        raise ValueError(f"Need one threshold per model, got {len(probs)} models and {len(thresholds)} thresholds.")
    checked = [check_predictions(y_true, p) for p in probs]
    y_true = checked[0][0]
    index = _bootstrap_indices(y_true, n_boot, seed)
    draws: dict[str, list[np.ndarray]] = {"auc": [], "acc_at_0.5": [], "acc_at_threshold": []}
    for (_, p), threshold in zip(checked, thresholds):
        at_half = _draw_metrics(y_true[index], p[index], 0.5)
        draws["auc"].append(at_half["auc"])
        draws["acc_at_0.5"].append(at_half["acc"])
        draws["acc_at_threshold"].append(_draw_metrics(y_true[index], p[index], threshold)["acc"])
    rows = {name: percentile_interval(np.mean(per_model, axis=0), level) for name, per_model in draws.items()}
    return pd.DataFrame.from_dict(rows, orient="index", columns=["ci_low", "ci_high"])
