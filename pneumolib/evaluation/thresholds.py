"""Decision thresholds picked on validation data, then applied once to test.

Every selection function takes validation labels and probabilities only. Picking a threshold
on test would tune the reported number to the very images it is reported on (leakage).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .metrics import binary_metrics, check_predictions, count_rates

CRITERIA = ("youden", "balanced_accuracy", "f1", "sensitivity", "specificity")
SWEEP_THRESHOLDS = np.round(np.arange(0.05, 0.951, 0.05), 2)


def _candidates(y_prob: np.ndarray) -> np.ndarray:
    """Every distinct probability (each changes the confusion matrix), plus 0.5 for ties; 0.0 is
    left out (see :func:`_inside_unit_interval`)."""
    candidates = np.unique(np.append(y_prob, 0.5))
    return candidates[candidates > 0.0]


def _inside_unit_interval(threshold: float, y_prob: np.ndarray) -> float:
    """``threshold`` moved strictly inside (0, 1) where it sits on an end, classifying every val
    image as before, so that a model saved with it is one the detector accepts.

    A sigmoid saturates at exactly 1.0 in float32 (logits above about 17), so the pick can be
    1.0: "pneumonia only where the probability is 1.0". The midpoint between 1.0 and the largest
    val probability below it makes the same calls on val (and still calls 1.0 pneumonia). Only
    if that probability is the float just below 1.0 (nothing lies between) does it become that
    float, which then counts as pneumonia as well. The other end needs no rule: 0.0 is never a
    candidate, because "pneumonia for every image" is no decision rule worth keeping (Youden's J
    is 0 there) and, with some probability exactly 0.0, no threshold above 0 makes those calls.
    Thresholds inside (0, 1) are returned unchanged."""
    if threshold < 1.0:
        return threshold
    below = y_prob[y_prob < 1.0]
    lower = float(below.max()) if below.size else 0.5
    midpoint = (lower + 1.0) / 2
    return midpoint if midpoint < 1.0 else float(np.nextafter(1.0, 0.0))


def _rates(y_true: np.ndarray, y_prob: np.ndarray, thresholds: np.ndarray) -> dict[str, np.ndarray]:
    """The confusion ratios (:func:`~.metrics.count_rates`) at each threshold (predict 1 when prob >= t)."""
    pos, neg = y_prob[y_true == 1], y_prob[y_true == 0]
    tp = (pos[None, :] >= thresholds[:, None]).sum(1)
    fp = (neg[None, :] >= thresholds[:, None]).sum(1)
    fn, tn = len(pos) - tp, len(neg) - fp
    return count_rates(tp, fp, tn, fn)


def choose_threshold(y_val: np.ndarray, p_val: np.ndarray, criterion: str = "youden", target: float | None = None) -> float:
    """The decision threshold that ``criterion`` prefers on the validation split.

    - ``youden``: maximise sensitivity + specificity - 1 (Youden's J)
    - ``balanced_accuracy``: maximise (sensitivity + specificity) / 2 (same optimum as Youden)
    - ``f1``: maximise F1 of the pneumonia class
    - ``sensitivity``: the highest threshold whose sensitivity is still >= ``target``
      (fewest false alarms at that sensitivity)
    - ``specificity``: the lowest threshold whose specificity is >= ``target``
      (most pneumonia found at that specificity)

    Ties go to the threshold closest to 0.5. The result always lies strictly between 0 and 1 (the
    detector accepts no other threshold): a pick of 1.0, which saturated probabilities can give,
    becomes the midpoint between 1.0 and the next lower val probability (the same calls on val),
    and 0.0 is never a candidate (:func:`_inside_unit_interval`). Nothing else changes.
    """
    y_val, p_val = check_predictions(y_val, p_val)
    if criterion not in CRITERIA:
        raise ValueError(f"Unknown threshold criterion {criterion!r}; choose one of {list(CRITERIA)}.")
    if len(np.unique(y_val)) != 2:
        raise ValueError("Threshold selection needs both classes in the validation labels.")
    thresholds = _candidates(p_val)
    rates = _rates(y_val, p_val, thresholds)
    if criterion in ("sensitivity", "specificity"):
        if target is None or not 0 < target <= 1:
            raise ValueError(f"criterion {criterion!r} needs a target in (0, 1], got {target!r}.")
        ok = rates[criterion] >= target - 1e-12
        if not ok.any():
            raise ValueError(f"No threshold reaches {criterion} {target} on the validation split.")
        picked = float(thresholds[ok].max() if criterion == "sensitivity" else thresholds[ok].min())
        return _inside_unit_interval(picked, p_val)
    score = rates["f1"] if criterion == "f1" else rates["sensitivity"] + rates["specificity"]
    score = np.nan_to_num(score, nan=-np.inf)
    best = np.flatnonzero(score >= score.max() - 1e-12)
    return _inside_unit_interval(float(thresholds[best[np.argmin(np.abs(thresholds[best] - 0.5))]]), p_val)


def select_thresholds(
    y_val: np.ndarray, p_val: np.ndarray, targets: dict[str, tuple[str, float]] | None = None
) -> dict[str, float]:
    """Thresholds for every criterion, picked on validation data: ``{name: threshold}``.

    ``targets`` adds target rules, e.g. ``{"sensitivity 0.95": ("sensitivity", 0.95)}``;
    the default adds sensitivity 0.95 and 0.99 and specificity 0.90. ``default 0.5`` is included
    for comparison. Balanced accuracy is not a separate rule: Youden's J = sensitivity +
    specificity - 1 = 2 x balanced accuracy - 1, so both always pick the same threshold.
    """
    targets = targets if targets is not None else {"sensitivity 0.95": ("sensitivity", 0.95),
                                                   "sensitivity 0.99": ("sensitivity", 0.99),
                                                   "specificity 0.90": ("specificity", 0.90)}
    chosen = {"default 0.5": 0.5}
    for criterion in ("youden", "f1"):
        chosen[criterion] = choose_threshold(y_val, p_val, criterion)
    for name, (criterion, target) in targets.items():
        chosen[name] = choose_threshold(y_val, p_val, criterion, target)
    return chosen


def threshold_sweep(y_true: np.ndarray, y_prob: np.ndarray, thresholds: np.ndarray = SWEEP_THRESHOLDS) -> pd.DataFrame:
    """Metrics at each threshold (0.05 to 0.95 by default), one row per threshold."""
    keys = ("acc", "balanced_accuracy", "sensitivity", "specificity", "precision", "f1", "tp", "fp", "tn", "fn")
    rows = []
    for t in thresholds:
        m = binary_metrics(y_true, y_prob, t)
        rows.append({"threshold": float(t), **{k: m[k] for k in keys}})
    return pd.DataFrame(rows).set_index("threshold")


def apply_thresholds(
    chosen: dict[str, float], splits: dict[str, tuple[np.ndarray, np.ndarray]],
    metrics: tuple[str, ...] = ("acc", "balanced_accuracy", "sensitivity", "specificity", "precision", "f1"),
) -> pd.DataFrame:
    """Each chosen threshold applied to each split: rows ``(criterion, split)``, metric columns."""
    rows = []
    for name, threshold in chosen.items():
        for split, (y, p) in splits.items():
            m = binary_metrics(y, p, threshold)
            rows.append({"criterion": name, "split": split, "threshold": threshold, **{k: m[k] for k in metrics}})
    return pd.DataFrame(rows).set_index(["criterion", "split"])


def val_test_table(
    applied: pd.DataFrame, metrics: tuple[str, ...] = ("balanced_accuracy", "sensitivity", "specificity", "acc")
) -> pd.DataFrame:
    """One row per criterion from :func:`apply_thresholds` output (with ``val`` and ``test``):
    each metric on val and test side by side, and ``shift <metric>`` = test - val."""
    wide = applied.unstack("split")
    table = pd.DataFrame({"threshold (picked on val)": wide[("threshold", "val")]})
    for metric in metrics:
        for split in ("val", "test"):
            table[f"{metric} ({split})"] = wide[(metric, split)]
    for metric in metrics:
        table[f"shift {metric}"] = wide[(metric, "test")] - wide[(metric, "val")]
    return table.loc[list(dict.fromkeys(applied.index.get_level_values("criterion")))]
