"""The fast data path: a split held as one uint8 tensor on the training device.

Batches are indexed on the device, and augmentation (flip, rotation, translation, scale, resized
crop, then the photometric changes of :mod:`.photometric`) and upsampling to the model's input size happen for the whole batch at once, in a single
``affine_grid`` + ``grid_sample`` on the device. No PIL, no DataLoader, no per-image Python.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Iterator

import numpy as np
import torch
from torch.nn import functional as F

from .core import Split
from .photometric import Photometric
from .splits import sample_weights
from .tensors import AUGMENT_PRESETS


@dataclass(frozen=True)
class BatchAugment:
    """Random per-image affine augmentation applied to a batch at once (same ranges as the presets)."""

    hflip: bool = False
    rotation: float = 0.0  # degrees, uniform in [-rotation, rotation]
    translate: float = 0.0  # fraction of the side, uniform in [-translate, translate]
    scale: tuple[float, float] | None = None  # zoom factor range
    resized_crop: tuple[float, float] | None = None  # area fraction of the crop, as RandomResizedCrop

    @classmethod
    def preset(cls, name: str, hflip: bool = False) -> "BatchAugment | None":
        """The preset's ranges, plus a random horizontal flip when ``hflip``; None when nothing is drawn."""
        if name not in AUGMENT_PRESETS:
            raise ValueError(f"Unknown augmentation preset {name!r}; choose one of {list(AUGMENT_PRESETS)}.")
        params = {**AUGMENT_PRESETS[name], **({"hflip": True} if hflip else {})}
        return cls(**params) if params else None

    def components(self) -> list["BatchAugment"]:
        """Each random transform of this augmentation on its own, with the same range."""
        return [BatchAugment(**{f.name: getattr(self, f.name)}) for f in fields(self) if getattr(self, f.name)]

    def describe(self) -> str:
        """The ranges in words, e.g. "rotation ±10°, translate ±5%, zoom 0.95-1.05"."""
        parts = []
        if self.hflip:
            parts.append("horizontal flip")
        if self.rotation:
            parts.append(f"rotation ±{self.rotation:g}°")
        if self.translate:
            parts.append(f"translate ±{self.translate:.0%}")
        if self.scale:
            parts.append(f"zoom {self.scale[0]:g}-{self.scale[1]:g}")
        if self.resized_crop:
            parts.append(f"square crop of {self.resized_crop[0]:.0%}-{self.resized_crop[1]:.0%} of the area")
        return ", ".join(parts) or "nothing"

    def thetas(self, n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
        """(n, 2, 3) affine matrices mapping output to input coordinates (``affine_grid`` convention)."""

        def uniform(low: float, high: float) -> torch.Tensor:
            return low + (high - low) * torch.rand(n, generator=generator, device=device)

        angle = uniform(-self.rotation, self.rotation) * (math.pi / 180) if self.rotation else torch.zeros(n, device=device)
        zoom = uniform(*self.scale) if self.scale else torch.ones(n, device=device)
        shift_x = uniform(-self.translate, self.translate) * 2 if self.translate else torch.zeros(n, device=device)
        shift_y = uniform(-self.translate, self.translate) * 2 if self.translate else torch.zeros(n, device=device)
        crop = torch.ones(n, device=device)
        if self.resized_crop:  # a square crop of the given area fraction, anywhere inside the image
            crop = uniform(*self.resized_crop).sqrt()
            shift_x = shift_x + uniform(-1, 1) * (1 - crop)
            shift_y = shift_y + uniform(-1, 1) * (1 - crop)
        flip = torch.ones(n, device=device)
        if self.hflip:
            flip = torch.where(torch.rand(n, generator=generator, device=device) < 0.5, -1.0, 1.0)
        cos, sin = torch.cos(angle), torch.sin(angle)
        size = crop / zoom  # sampling a smaller input window enlarges the content
        theta = torch.stack([
            torch.stack([cos * size * flip, -sin * size, shift_x], dim=1),
            torch.stack([sin * size * flip, cos * size, shift_y], dim=1),
        ], dim=1)
        return theta


def resample(x: torch.Tensor, size: int, theta: torch.Tensor | None = None) -> torch.Tensor:
    """Float images (B, 1, H, W) at ``size`` x ``size``: warped by the (B, 2, 3) affine ``theta``
    (bilinear, zeros outside), or else resized (bilinear, antialiased when shrinking). The one
    geometry of training batches, evaluation and prediction."""
    if theta is not None:
        grid = F.affine_grid(theta.to(x.device, x.dtype), [len(x), 1, size, size], align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if size != x.shape[-1]:
        return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=size < x.shape[-1])
    return x


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
        theta = None
        if view is not None:
            theta = view.to(x.device, torch.float32).expand(len(x), 2, 3)
        elif augment and self.augment is not None:
            theta = self.augment.thetas(len(x), generator, x.device)
        x = resample(x, self.size, theta)
        if augment and view is None and self.photometric is not None:
            x = self.photometric(x, generator)
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

