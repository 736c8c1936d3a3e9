"""The bootstrap behind every confidence interval of the package: index draws with replacement
(over all items, or within each class so that every draw keeps both classes and their counts),
and the percentile interval of the draws.

Metrics (:mod:`~pneumolib.evaluation.metrics`), the Grad-CAM checks (:mod:`~pneumolib.explain`)
and the prior estimates (:mod:`~pneumolib.shift.priors`) all cut their intervals here, and all but
one draw here: a prior estimate resamples its two cohorts independently and skips the draws that
give no estimate, so it keeps its own loop of draws.
"""

from __future__ import annotations

import numpy as np


def bootstrap_indices(n_boot: int, size: int | None = None, strata: np.ndarray | None = None,
                      seed: int | np.random.Generator = 0) -> np.ndarray:
    """(n_boot, N) indices drawn with replacement: over all ``size`` items, or, with ``strata``
    (one label per item), within each stratum in sorted order, so that each draw holds every
    stratum as often as the data does (a draw of class-conditional metrics keeps its denominators)."""
    if (size is None) == (strata is None):
        raise ValueError("pass either size (resample all items) or strata (resample within each stratum).")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if strata is None:
        groups = [np.arange(size)]
    else:
        strata = np.asarray(strata)
        groups = [np.flatnonzero(strata == value) for value in np.unique(strata)]
    draws = [rng.choice(group, size=(n_boot, len(group)), replace=True) for group in groups if len(group)]
    return np.concatenate(draws, axis=1) if draws else np.zeros((n_boot, 0), dtype=np.int64)


def percentile_interval(draws: np.ndarray, level: float = 0.95, axis: int | None = None) -> tuple:
    """The ``level`` percentile interval of bootstrap ``draws`` (NaN draws left out): (low, high)."""
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level!r}.")
    alpha = (1 - level) / 2
    low, high = np.nanquantile(np.asarray(draws, dtype=np.float64), [alpha, 1 - alpha], axis=axis)
    return low, high
