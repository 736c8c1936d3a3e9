"""Choosing an adaptation method without test labels: simulate shifts on val, where the labels
are ours to use, and adapt only when a method beats no adaptation across them beyond the noise
(:func:`method_choice`).

Two kinds of simulated shift: val resampled to other pneumonia priors (label shift), and val
images with their brightness and contrast moved to the new cohort's measured statistics (which
reads the new images, never their labels).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from torch import nn

from ..config import TrainConfig
from ..data import PneumoniaData, Split
from ..data.splits import stratified_split
from ..evaluation.metrics import binary_metrics
from ..evaluation.noise import PAIRED_NOISE, Decision, choose_simplest
from .measure import intensity_statistics
from .methods import METHODS, Adapted, SourceReference, adapt_methods, predict

SIMULATED_PRIORS = (0.5, 0.6, 0.7, 0.8)


def resample_to_prior(split: Split, prior: float, n: int, seed: int = 0) -> Split:
    """``n`` images drawn with replacement from ``split`` so that a share ``prior`` are pneumonia."""
    rng = np.random.default_rng(seed)
    n_pos = int(round(prior * n))
    pos, neg = np.flatnonzero(split.labels == 1), np.flatnonzero(split.labels == 0)
    index = np.concatenate([rng.choice(pos, n_pos), rng.choice(neg, n - n_pos)])
    return split.subset(index)


def match_intensity(images: np.ndarray, brightness: float, contrast: float) -> np.ndarray:
    """Images rescaled per image so that their mean and sd move to ``brightness`` and ``contrast``
    on average (a linear intensity map, clipped to uint8)."""
    stats = intensity_statistics(images)
    scale = contrast / stats["contrast"]
    flat = images.astype(np.float64)
    shifted = (flat - stats["brightness"]) * scale + brightness
    return np.clip(np.rint(shifted), 0, 255).astype(np.uint8)


def simulated_shifts(val: Split, new_images: np.ndarray, seed: int = 0) -> dict[str, Split]:
    """Named val variants: each simulated prior, and each again with the new cohort's intensity."""
    target = intensity_statistics(new_images)
    shifts = {}
    for i, prior in enumerate(SIMULATED_PRIORS):
        resampled = resample_to_prior(val, prior, len(val), seed + i)
        shifts[f"prior {prior:g}"] = resampled
        shifts[f"prior {prior:g}, new cohort's intensity"] = Split(
            match_intensity(resampled.images, target["brightness"], target["contrast"]), resampled.labels)
    return shifts


def score(adapted: Adapted, labels: np.ndarray) -> dict[str, float]:
    """AUC, ACC, balanced accuracy, sensitivity and specificity of an adapted output."""
    metrics = binary_metrics(labels, adapted.probabilities, adapted.threshold)
    return {k: metrics[k] for k in ("auc", "acc", "balanced_accuracy", "sensitivity", "specificity")}


def method_choice(table: pd.DataFrame, metric: str = "acc", reference: str = "none") -> tuple[str, list[Decision]]:
    """The adaptation method chosen from the table of every method on every simulated shift (the
    table :func:`choose_method` returns), and the numbers behind it.

    The rule (:mod:`pneumolib.evaluation.noise`, ``PAIRED_NOISE``): ``reference`` ("none", no
    adaptation) is kept unless a method beats it **beyond the noise**: the method's ``metric`` minus
    the reference's, paired shift by shift, has a mean larger than two sds (ddof 1) of those
    per-shift differences. Methods are visited in the table's order (the order of ``METHODS``, so
    simplest first), and each replaces the current choice only when it beats that choice by the same
    rule. Methods that failed on some shift are no candidates; if the reference failed, the first
    complete method takes its place. Returns ``(method, decisions)``, one decision per other
    candidate with its gain, its noise and the number of shifts."""
    complete = table.groupby("method", sort=False).filter(lambda g: (g.error == "").all())
    if complete.empty:
        raise ValueError("every adaptation method failed on some simulated shift; see the table's error column.")
    per_shift = complete.pivot_table(index="shift", columns="method", values=metric, sort=False)
    order = list(dict.fromkeys(complete.method))
    if reference in order:
        order.remove(reference)
        order.insert(0, reference)
    return choose_simplest(order, per_shift, PAIRED_NOISE)


def choose_method(model: nn.Module, config: TrainConfig, data: PneumoniaData, new_images: np.ndarray,
                  methods: tuple[str, ...] = METHODS, metric: str = "acc", seed: int = 0,
                  tta: bool = False) -> tuple[str, pd.DataFrame]:
    """The method chosen by :func:`method_choice` on :func:`simulated_shifts` of val ("none" unless
    a method beats it beyond the noise of the paired per-shift differences), and the table of every
    method on every simulated shift; ``method_choice(table, metric)`` gives the gains and noise
    behind the choice. Reads val (images and labels) and the new cohort's images; never a test
    label. ``tta``: predict with test-time augmentation."""
    # one half of val calibrates the methods, the other half is shifted and scores them, so no
    # simulated shift is scored on the images that fitted the method
    fit_index, shift_index = stratified_split(data.val.labels, 0.5, seed)
    fit_half, shift_half = data.val.subset(fit_index), data.val.subset(shift_index)
    source = SourceReference.fit(fit_half.labels, predict(model, fit_half.images, config, tta))
    rows = []
    for shift, split in simulated_shifts(shift_half, new_images, seed).items():
        adapted, errors = adapt_methods(methods, model, config, source, split.images, tta, seed)
        for method in methods:
            if method in errors:  # e.g. BBSE's confusion matrix is singular: recorded, not hidden
                rows.append({"shift": shift, "method": method, "error": errors[method]})
            else:
                rows.append({"shift": shift, "method": method, **score(adapted[method], split.labels), "error": ""})
    table = pd.DataFrame(rows)
    chosen, _ = method_choice(table, metric)
    return chosen, table
