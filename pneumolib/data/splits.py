"""Stratified splits and folds, class counts, and class weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split

from .core import CLASS_NAMES, PneumoniaData, Split


def class_counts(labels: np.ndarray) -> dict[str, int]:
    """``{"normal": n0, "pneumonia": n1}``."""
    labels = np.asarray(labels).reshape(-1)
    return {name: int((labels == i).sum()) for i, name in enumerate(CLASS_NAMES)}


def _require_both_classes(labels: np.ndarray) -> tuple[int, int]:
    counts = class_counts(labels)
    if min(counts.values()) == 0:
        raise ValueError(f"Both classes are needed, got counts {counts}.")
    return counts["normal"], counts["pneumonia"]


def pos_weight(labels: np.ndarray) -> float:
    """``n_normal / n_pneumonia``: the BCE positive-class weight that balances the two classes."""
    n_neg, n_pos = _require_both_classes(labels)
    return n_neg / n_pos


def class_weights(labels: np.ndarray) -> np.ndarray:
    """Balanced per-class weights ``N / (2 * n_c)``, indexed by label."""
    n_neg, n_pos = _require_both_classes(labels)
    n = n_neg + n_pos
    return np.array([n / (2 * n_neg), n / (2 * n_pos)])


def sample_weights(labels: np.ndarray) -> np.ndarray:
    """Per-sample weights for a class-balanced sampler (each class drawn equally often)."""
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    return class_weights(labels)[labels]


def stratified_split(
    labels: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(keep, held_out)`` with ``fraction`` of each class held out, reproducibly."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}.")
    indices = np.arange(len(labels))
    keep, held = train_test_split(indices, test_size=fraction, stratify=labels, random_state=seed)
    return np.sort(keep), np.sort(held)


def stratified_kfold(labels: np.ndarray, n_splits: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Shuffled, stratified k-fold: a list of ``(train_indices, val_indices)``."""
    labels = np.asarray(labels).reshape(-1)
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return [(tr, va) for tr, va in folds.split(np.zeros(len(labels)), labels)]


def subsample(data: PneumoniaData, n_train: int, n_eval: int, seed: int = 0) -> PneumoniaData:
    """A stratified, seeded subset of every split (for smoke runs: same code path, seconds of work)."""

    def take(split, n):
        if n >= len(split):
            return split
        _, held = stratified_split(split.labels, n / len(split), seed)
        return split.subset(held)

    return PneumoniaData(
        take(data.train, n_train), take(data.val, n_eval), take(data.test, n_eval),
        image_size=data.image_size, source=f"{data.source} [subset {n_train}/{n_eval}/{n_eval}, seed {seed}]",
    )


def split_summary(data: PneumoniaData) -> pd.DataFrame:
    """Images per class and pneumonia share, one row per split."""
    rows = []
    for name in ("train", "val", "test"):
        counts = class_counts(data.split(name).labels)
        total = sum(counts.values())
        rows.append({"split": name, "images": total, **counts, "pneumonia_share": round(counts["pneumonia"] / total, 4)})
    return pd.DataFrame(rows).set_index("split")


def cv_pool(data: PneumoniaData) -> Split:
    """Train and val together for cross-validation, without exact duplicate images.

    Byte-identical copies (within train, and shared by train and val) are kept once, so no image
    sits in a training fold and in the fold that scores it.
    """
    images = np.concatenate([data.train.images, data.val.images])
    labels = np.concatenate([data.train.labels, data.val.labels])
    _, first = np.unique(images.reshape(len(images), -1), axis=0, return_index=True)
    return Split(images, labels).subset(np.sort(first))


def cv_fold(data: PneumoniaData, n_folds: int, fold: int, seed: int = 0) -> PneumoniaData:
    """Fold ``fold`` of a stratified ``n_folds``-fold CV on :func:`cv_pool`: train on the other
    folds, validate on this one. ``test`` is the untouched official test split."""
    if not 0 <= fold < n_folds:
        raise ValueError(f"fold must be in 0..{n_folds - 1}, got {fold}.")
    pool = cv_pool(data)
    train_idx, val_idx = stratified_kfold(pool.labels, n_folds, seed)[fold]
    return PneumoniaData(pool.subset(train_idx), pool.subset(val_idx), data.test, image_size=data.image_size,
                         source=f"{data.source} [cv fold {fold + 1}/{n_folds} of train+val, seed {seed}]")
