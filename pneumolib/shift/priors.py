"""The pneumonia prior of an unlabeled cohort, estimated from a model's predictions on it.

Two standard estimators of label shift, both reading the target images' predictions and never
their labels:

- black-box shift estimation (BBSE; Lipton, Wang and Smola, 2018): the source (val) confusion
  matrix, inverted against the target's distribution of hard predictions;
- the EM method of Saerens, Latinne and Decaestecker (2002): re-weight calibrated posteriors by
  the ratio of the current prior estimate to the source prior until the mean posterior is
  stable.

And the prior correction of posteriors that both rely on. No maintained library on PyPI
implements these for plain probability arrays, so they are written here (a few lines each).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..evaluation.bootstrap import percentile_interval
from ..evaluation.metrics import check_predictions

MIN_IMAGES = 20  # fewer target images than this give no usable prior estimate


def _check_target(p_target: np.ndarray) -> np.ndarray:
    p = np.asarray(p_target, dtype=np.float64).reshape(-1)
    if len(p) < MIN_IMAGES:
        raise ValueError(f"estimating a prior needs at least {MIN_IMAGES} unlabeled images, got {len(p)}; "
                         "collect more images of the new cohort first.")
    if not np.isfinite(p).all() or p.min() < 0 or p.max() > 1:
        raise ValueError("target probabilities must be finite and in [0, 1]; pass sigmoid(logits).")
    return p


def prior_corrected(p: np.ndarray, source_prior: float, target_prior: float) -> np.ndarray:
    """Posteriors of pneumonia re-weighted from ``source_prior`` to ``target_prior`` (Bayes' rule
    with the class-conditional likelihoods held fixed)."""
    p = np.asarray(p, dtype=np.float64)
    for name, prior in (("source_prior", source_prior), ("target_prior", target_prior)):
        if not 0 < prior < 1:
            raise ValueError(f"{name} must lie strictly between 0 and 1, got {prior}.")
    pos = p * (target_prior / source_prior)
    neg = (1 - p) * ((1 - target_prior) / (1 - source_prior))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pos + neg > 0, pos / (pos + neg), p)


def bbse_prior(y_source: np.ndarray, p_source: np.ndarray, p_target: np.ndarray, threshold: float = 0.5) -> float:
    """BBSE estimate of the target's pneumonia share from hard predictions at ``threshold``.

    ``C[i, j] = P_source(pred = i, y = j)``; the target's prediction shares ``q`` satisfy
    ``q = C w`` with ``w_j = pi_target(j) / pi_source(j)``; the prior is ``w_1 pi_source(1)``,
    clipped to [0, 1].
    """
    y_source, p_source = check_predictions(y_source, p_source)
    p_target = _check_target(p_target)
    pred_source = (p_source >= threshold).astype(int)
    confusion = np.array([[np.mean((pred_source == i) & (y_source == j)) for j in (0, 1)] for i in (0, 1)])
    if abs(np.linalg.det(confusion)) < 1e-9:
        raise ValueError("the source confusion matrix is singular at this threshold (the model predicts one class); "
                         "use another threshold.")
    q = np.array([np.mean(p_target < threshold), np.mean(p_target >= threshold)])
    weights = np.linalg.solve(confusion, q)
    source_prior = float(np.mean(y_source))
    return float(np.clip(weights[1] * source_prior, 0.0, 1.0))


def em_prior(p_target: np.ndarray, source_prior: float, tol: float = 1e-8, max_iter: int = 1000) -> float:
    """Saerens et al.'s EM estimate of the target's pneumonia share from calibrated posteriors
    (trained under ``source_prior``)."""
    p = _check_target(p_target)
    prior = source_prior
    for _ in range(max_iter):
        updated = float(np.mean(prior_corrected(p, source_prior, prior)))
        updated = min(max(updated, 1e-6), 1 - 1e-6)
        if abs(updated - prior) < tol:
            return updated
        prior = updated
    return prior


def bootstrap_prior(estimate: Callable[[np.ndarray, np.ndarray, np.ndarray], float], y_source: np.ndarray,
                    p_source: np.ndarray, p_target: np.ndarray, n_boot: int = 1000, level: float = 0.95,
                    seed: int = 0) -> dict[str, float]:
    """A prior estimate with a percentile bootstrap CI: the source and the target images are
    resampled independently in each draw. ``estimate(y_source, p_source, p_target)``."""
    y_source, p_source = check_predictions(y_source, p_source)
    p_target = _check_target(p_target)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        s = rng.integers(0, len(y_source), len(y_source))
        t = rng.integers(0, len(p_target), len(p_target))
        if y_source[s].min() == y_source[s].max():
            continue
        try:
            draws.append(estimate(y_source[s], p_source[s], p_target[t]))
        except ValueError:  # a singular resample: skip it
            continue
    estimated = float(estimate(y_source, p_source, p_target))  # raises when the full data cannot give one
    if not draws:
        raise ValueError(f"all {n_boot} bootstrap resamples failed to give an estimate (e.g. a singular confusion "
                         "matrix in every draw), so there is no CI; use more source and target images.")
    low, high = percentile_interval(draws, level)
    return {"estimate": estimated, "low": float(low), "high": float(high),
            "draws": len(draws)}
