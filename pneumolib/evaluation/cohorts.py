"""How two cohorts differ within each class, read with labels after the fact (for reporting, never
for a choice): a domain classifier's held-out scores can separate two cohorts only because their
class mix differs; within one class, what is left is how the images look."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from ..data.core import CLASS_NAMES


def _within(out_of_fold: np.ndarray, labels_a: np.ndarray, labels_b: np.ndarray, label: int):
    """Indices into a and into b of the images of one class, and their held-out scores (a first)."""
    scores = np.asarray(out_of_fold, dtype=np.float64).reshape(-1)
    labels_a, labels_b = np.asarray(labels_a).reshape(-1), np.asarray(labels_b).reshape(-1)
    if len(scores) != len(labels_a) + len(labels_b):
        raise ValueError(f"out_of_fold holds {len(scores)} scores for {len(labels_a)} + {len(labels_b)} images.")
    in_a, in_b = np.flatnonzero(labels_a == label), np.flatnonzero(labels_b == label)
    return in_a, in_b, scores[:len(labels_a)][in_a], scores[len(labels_a):][in_b]


def within_class_separation(out_of_fold: np.ndarray, labels_a: np.ndarray, labels_b: np.ndarray) -> pd.DataFrame:
    """Per class: how many images of it each cohort holds, and the AUC with which the domain
    classifier's held-out scores (cohort a's images first, as :func:`pneumolib.shift.domain_classifier`
    returns them) tell cohort b from cohort a among the images of that class alone (0.5: not at all)."""
    rows = []
    for label, name in enumerate(CLASS_NAMES):
        _, _, a, b = _within(out_of_fold, labels_a, labels_b, label)
        auc = roc_auc_score(np.r_[np.zeros(len(a)), np.ones(len(b))], np.r_[a, b]) if len(a) and len(b) else np.nan
        rows.append({"class": name, "images a": len(a), "images b": len(b), "auc": float(auc)})
    return pd.DataFrame(rows).set_index("class")


def class_matched_typical(out_of_fold: np.ndarray, labels_a: np.ndarray, labels_b: np.ndarray,
                          k: int) -> dict[str, dict[str, np.ndarray]]:
    """Per class, the ``k`` images most typical of each cohort among the images of that class:
    ``{class name: {"a": lowest-scored indices into a, "b": highest-scored indices into b}}``."""
    found = {}
    for label, name in enumerate(CLASS_NAMES):
        in_a, in_b, a, b = _within(out_of_fold, labels_a, labels_b, label)
        found[name] = {"a": in_a[np.argsort(a, kind="stable")[:k]], "b": in_b[np.argsort(-b, kind="stable")[:k]]}
    return found
