"""Tensors and loaders of the per-image path: the training loop never goes through PIL per image."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler
from torchvision.transforms import v2

from .core import Split
from .splits import sample_weights

def to_float_tensor(images: np.ndarray | torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """uint8 (N, H, W) or (H, W) into normalised float32 (N, 1, H, W) / (1, H, W)."""
    x = torch.as_tensor(images)
    x = x.unsqueeze(-3).to(torch.float32).div_(255.0)
    return x.sub_(mean).div_(std)


class TensorImageDataset(Dataset):
    """A split held as one uint8 tensor; items are normalised float tensors (1, S, S).

    ``input_size`` upsamples (bilinear, antialiased) when the model expects larger images.
    ``augment`` (:func:`~pneumolib.data.augment.augmentation_preset`, made for the same size) takes
    the image as stored and returns it augmented at that size, in one resampling.
    """

    def __init__(
        self,
        split: Split,
        mean: float = 0.5,
        std: float = 0.5,
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
        input_size: int | None = None,
    ) -> None:
        self.images = torch.from_numpy(np.ascontiguousarray(split.images))
        self.labels = torch.from_numpy(split.labels.astype(np.float32))
        self.mean, self.std = mean, std
        self.augment = augment
        size = split.images.shape[-1]
        self.resize = v2.Resize(input_size, antialias=True) if input_size and input_size != size else None

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.images[index].unsqueeze(0).to(torch.float32).div_(255.0)
        if self.augment is not None:
            x = self.augment(x)
        elif self.resize is not None:
            x = self.resize(x)
        return x.sub_(self.mean).div_(self.std), self.labels[index]


def make_loader(
    dataset: TensorImageDataset,
    batch_size: int,
    train: bool,
    seed: int,
    balanced: bool = False,
    num_workers: int = 0,
) -> DataLoader:
    """A seeded DataLoader: shuffled (or class-balanced with a WeightedRandomSampler) for training."""
    generator = torch.Generator().manual_seed(seed)
    sampler = None
    if train and balanced:
        weights = torch.from_numpy(sample_weights(dataset.labels.numpy().astype(np.int64)))
        sampler = WeightedRandomSampler(weights, num_samples=len(dataset), replacement=True, generator=generator)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=train and sampler is None,
        sampler=sampler,
        generator=generator,
        num_workers=num_workers,
        drop_last=False,
        persistent_workers=num_workers > 0,
    )


def model_inputs(images: np.ndarray, mean: float = 0.5, std: float = 0.5, input_size: int | None = None) -> torch.Tensor:
    """uint8 images (N, H, W) as the model sees them at evaluation: (N, 1, S, S), normalised,
    upsampled to ``input_size`` exactly as :class:`TensorImageDataset` does."""
    dataset = TensorImageDataset(Split(images, np.zeros(len(images), np.int64)), mean, std, input_size=input_size)
    return torch.stack([dataset[i][0] for i in range(len(dataset))])
