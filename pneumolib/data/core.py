"""Containers for a dataset in memory: uint8 images and integer labels per split."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLASS_NAMES = ("normal", "pneumonia")  # label 0, label 1
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Split:
    """One split: ``images`` uint8 (N, H, W), ``labels`` int64 (N,) with 0=normal, 1=pneumonia."""

    images: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        if self.images.ndim != 3 or self.images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 (N, H, W), got {self.images.dtype} {self.images.shape}")
        if self.labels.shape != (len(self.images),):
            raise ValueError(f"labels must have shape ({len(self.images)},), got {self.labels.shape}")

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: np.ndarray) -> "Split":
        return Split(self.images[indices], self.labels[indices])


@dataclass(frozen=True)
class PneumoniaData:
    """The three splits of one dataset at one image size, and where they came from."""

    train: Split
    val: Split
    test: Split
    image_size: int
    source: str

    def split(self, name: str) -> Split:
        if name not in SPLITS:
            raise ValueError(f"split must be one of {list(SPLITS)}, got {name!r}")
        return getattr(self, name)
