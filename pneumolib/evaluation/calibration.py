"""Calibration: reliability tables, expected calibration error, Brier score, temperature scaling.

Temperature scaling divides the logit by one scalar T fitted on validation data. It changes
the probabilities, never their order, so AUC stays the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from sklearn.metrics import brier_score_loss, log_loss

from .metrics import check_predictions

_EPS = 1e-7


def reliability_table(y_true: np.ndarray, y_prob: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Equal-width bins of predicted probability: count, mean confidence and observed pneumonia rate."""
    y_true, y_prob = check_predictions(y_true, y_prob)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.clip(np.digitize(y_prob, edges[1:-1], right=False), 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        members = index == b
        rows.append({
            "bin_low": edges[b], "bin_high": edges[b + 1], "count": int(members.sum()),
            "mean_predicted": float(y_prob[members].mean()) if members.any() else np.nan,
            "observed_rate": float(y_true[members].mean()) if members.any() else np.nan,
        })
    return pd.DataFrame(rows)


def expected_calibration_error(y_true: np.ndarray, y_prob: np.ndarray, n_bins: int = 10) -> float:
    """ECE: the count-weighted mean gap between predicted probability and observed rate per bin."""
    table = reliability_table(y_true, y_prob, n_bins).dropna()
    weights = table["count"] / table["count"].sum()
    return float((weights * (table["mean_predicted"] - table["observed_rate"]).abs()).sum())


def brier_score(y_true: np.ndarray, y_prob: np.ndarray) -> float:
    """Mean squared difference between probability and label (lower is better; 0.25 = always 0.5)."""
    y_true, y_prob = check_predictions(y_true, y_prob)
    return float(brier_score_loss(y_true, y_prob, pos_label=1))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p) - np.log1p(-p)


def _nll(y: np.ndarray, logits: np.ndarray) -> float:
    # from logits, so the temperature search stays stable: log(1 + exp(-z)) for y=1, log(1 + exp(z)) for y=0
    return float(np.mean(np.logaddexp(0.0, np.where(y == 1, -logits, logits))))


@dataclass(frozen=True)
class TemperatureScaler:
    """``sigmoid(logit(p) / temperature)``; fit on validation data with :meth:`fit`."""

    temperature: float = 1.0

    @classmethod
    def fit(cls, y_val: np.ndarray, p_val: np.ndarray) -> "TemperatureScaler":
        """The temperature that minimises validation negative log-likelihood (T in [0.05, 20])."""
        y_val, p_val = check_predictions(y_val, p_val)
        logits = _logit(p_val)
        result = minimize_scalar(lambda log_t: _nll(y_val, logits / np.exp(log_t)),
                                 bounds=(np.log(0.05), np.log(20.0)), method="bounded")
        return cls(float(np.exp(result.x)))

    def __call__(self, y_prob: np.ndarray) -> np.ndarray:
        """Rescaled probabilities (same order, so the same AUC)."""
        logits = _logit(np.asarray(y_prob, dtype=np.float64)) / self.temperature
        return 1.0 / (1.0 + np.exp(-logits))


def calibration_summary(splits: dict[str, tuple[np.ndarray, np.ndarray]], n_bins: int = 10) -> pd.DataFrame:
    """ECE, Brier score and negative log-likelihood per named set of predictions."""
    rows = []
    for name, (y, p) in splits.items():
        y, p = check_predictions(y, p)
        rows.append({"predictions": name, "ece": expected_calibration_error(y, p, n_bins),
                     "brier": brier_score(y, p), "nll": float(log_loss(y, p, labels=[0, 1]))})
    return pd.DataFrame(rows).set_index("predictions")
