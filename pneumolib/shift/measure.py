"""How different two cohorts of images are, without labels: intensity statistics, and a domain
classifier that tries to tell them apart (cross-validated AUC near 0.5: no detectable shift), on
raw pixels or on a model's features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ..config import TrainConfig
from ..models.inference import in_inference_dtype, model_device, model_dtype, preprocess


def intensity_statistics(images: np.ndarray) -> dict[str, float]:
    """Per-image brightness (mean), contrast (sd) and 5th/95th percentiles, averaged over images
    (uint8 scale 0-255)."""
    flat = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
    return {"brightness": float(flat.mean(axis=1).mean()), "contrast": float(flat.std(axis=1).mean()),
            "p5": float(np.percentile(flat, 5, axis=1).mean()), "p95": float(np.percentile(flat, 95, axis=1).mean())}


def split_statistics(splits: dict[str, np.ndarray]) -> pd.DataFrame:
    """:func:`intensity_statistics` for each named set of images, one row each."""
    return pd.DataFrame({name: intensity_statistics(images) for name, images in splits.items()}).T


def domain_classifier(features_a: np.ndarray, features_b: np.ndarray, folds: int = 5,
                      seed: int = 0) -> tuple[dict[str, float], np.ndarray]:
    """Cross-validated AUC of a logistic regression telling cohort b (1) from cohort a (0).

    Returns ``({"auc": mean over folds, "sd": sd over folds, "n_a", "n_b"}, out_of_fold)``, where
    ``out_of_fold`` gives each image (a then b) its held-out probability of belonging to b: the
    most typical images of each cohort are those with the most extreme values.
    """
    a = np.asarray(features_a, dtype=np.float64).reshape(len(features_a), -1)
    b = np.asarray(features_b, dtype=np.float64).reshape(len(features_b), -1)
    if min(len(a), len(b)) < folds:
        raise ValueError(f"each cohort needs at least {folds} images for {folds}-fold CV, got {len(a)} and {len(b)}.")
    x, y = np.concatenate([a, b]), np.r_[np.zeros(len(a)), np.ones(len(b))]
    scores, out_of_fold = [], np.zeros(len(y))
    for train, held in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
        model.fit(x[train], y[train])
        out_of_fold[held] = model.predict_proba(x[held])[:, 1]
        scores.append(roc_auc_score(y[held], out_of_fold[held]))
    return {"auc": float(np.mean(scores)), "sd": float(np.std(scores, ddof=1)), "n_a": len(a), "n_b": len(b)}, out_of_fold


@torch.no_grad()
def model_features(model: nn.Module, images: np.ndarray, config: TrainConfig, batch_size: int = 256) -> np.ndarray:
    """What the model's last linear layer reads for each image (its penultimate features), (N, D),
    with the images preprocessed as in training. A :class:`ProbabilityEnsemble` gives its members'
    features side by side."""
    model = in_inference_dtype(model)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(model).__name__} has no linear layer whose input could serve as features.")
    heads = [linears[-1]] if not hasattr(model, "members") else [
        [m for m in member.modules() if isinstance(m, nn.Linear)][-1] for member in model.members]
    captured: list[list[torch.Tensor]] = [[] for _ in heads]
    hooks = [head.register_forward_hook(lambda _m, inputs, _o, i=i: captured[i].append(inputs[0].to(torch.float64).cpu()))
             for i, head in enumerate(heads)]
    inputs = preprocess(np.asarray(images), config, model_dtype(model), model_device(model))
    try:
        model.eval()
        for start in range(0, len(inputs), batch_size):
            model(inputs[start:start + batch_size])
    finally:
        for hook in hooks:
            hook.remove()
    return torch.cat([torch.cat(c) for c in captured], dim=1).flatten(1).numpy()


def most_typical(out_of_fold: np.ndarray, n_a: int, k: int) -> dict[str, np.ndarray]:
    """Indices of the ``k`` images most typical of each cohort by a domain classifier's held-out
    probabilities (:func:`domain_classifier`'s second output; cohort a's images come first):
    ``{"a": lowest probabilities among a, "b": highest among b (indices into b)}``."""
    p = np.asarray(out_of_fold)
    return {"a": np.argsort(p[:n_a], kind="stable")[:k], "b": np.argsort(-p[n_a:], kind="stable")[:k]}
