"""The fast data path: a split held as one uint8 tensor on the training device.

Batches are indexed on the device, and augmentation (:mod:`.augment`: flip, rotation, translation,
scale, resized crop, then the photometric changes) and upsampling to the model's input size happen
for the whole batch at once, in a single ``affine_grid`` + ``grid_sample`` on the device. No PIL,
no DataLoader, no per-image Python.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from .core import Split
from .augment import BatchAugment, augment_batch, resample
from .photometric import Photometric
from .splits import sample_weights

__all__ = ["BatchAugment", "DeviceBatches", "augmented_views", "resample"]


class DeviceBatches:
    """One split on ``device``: shuffled, balanced or ordered batches of normalised float images."""

    def __init__(
        self,
        split: Split,
        device: torch.device,
        mean: float = 0.5,
        std: float = 0.5,
        input_size: int | None = None,
        augment: BatchAugment | None = None,
        channels_last: bool = False,
        photometric: Photometric | None = None,
    ) -> None:
        self.device = device
        self.images = torch.from_numpy(np.ascontiguousarray(split.images)).unsqueeze(1).to(device, non_blocking=True)
        self.labels = torch.from_numpy(split.labels.astype(np.float32)).to(device, non_blocking=True)
        self.weights = None
        if len(np.unique(split.labels)) == 2:
            self.weights = torch.from_numpy(sample_weights(split.labels)).to(device)
        self.mean, self.std = mean, std
        self.size = input_size or split.images.shape[-1]
        self.augment, self.photometric = augment, photometric
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def __len__(self) -> int:
        return len(self.labels)

    def transform(
        self, images: torch.Tensor, generator: torch.Generator | None = None, augment: bool = False,
        view: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """uint8 (B, 1, H, W) -> normalised float (B, 1, S, S), augmented and resized on the device.

        ``view`` is one fixed (2, 3) affine matrix applied to every image (test-time augmentation).
        """
        x = images.to(torch.float32).div_(255.0)
        if view is not None:
            x = resample(x, self.size, view.to(x.device, torch.float32).expand(len(x), 2, 3))
        elif augment:
            x = augment_batch(x, self.size, self.augment, self.photometric, generator)
        else:
            x = resample(x, self.size)
        x = x.sub_(self.mean).div_(self.std)
        return x.contiguous(memory_format=self.memory_format)

    def batches(
        self, batch_size: int, generator: torch.Generator | None = None, shuffle: bool = False,
        balanced: bool = False, augment: bool = False, view: torch.Tensor | None = None,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches of ``(images, labels)``; ``balanced`` draws with replacement, each class equally often."""
        n = len(self)
        if balanced:
            if self.weights is None:
                raise ValueError("balanced sampling needs both classes in the split.")
            order = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        elif shuffle:
            order = torch.randperm(n, generator=generator, device=self.device)
        else:
            order = None
        for start in range(0, n, batch_size):
            index = order[start : start + batch_size] if order is not None else slice(start, start + batch_size)
            yield self.transform(self.images[index], generator, augment, view), self.labels[index]


def augmented_views(image: np.ndarray, augment: BatchAugment, n: int, seed: int = 0) -> np.ndarray:
    """``n`` random augmentations of one uint8 image, exactly as the training loop draws them
    (:meth:`DeviceBatches.transform` on the CPU), as (n, H, W) floats in [0, 1]."""
    batches = DeviceBatches(Split(np.repeat(image[None], n, axis=0), np.zeros(n, dtype=np.int64)),
                            torch.device("cpu"), mean=0.0, std=1.0, augment=augment)
    generator = torch.Generator().manual_seed(seed)
    return batches.transform(batches.images, generator, augment=True)[:, 0].clamp(0, 1).numpy()

