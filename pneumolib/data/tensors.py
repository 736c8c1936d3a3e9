"""Tensors, augmentation and loaders: the training loop never goes through PIL per image."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler
from torchvision.transforms import v2

from .core import Split
from .splits import sample_weights

AUGMENT_PRESETS: dict[str, dict] = {
    "none": {},
    "light": {"hflip": True, "rotation": 10.0, "translate": 0.05, "scale": (0.95, 1.05)},
    "strong": {
        "hflip": True,
        "rotation": 15.0,
        "translate": 0.1,
        "scale": (0.9, 1.1),
        "resized_crop": (0.8, 1.0),
    },
}


def build_augmentation(
    size: int,
    hflip: bool = False,
    rotation: float = 0.0,
    translate: float = 0.0,
    scale: tuple[float, float] | None = None,
    resized_crop: tuple[float, float] | None = None,
) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """A ``transforms.v2`` pipeline for float image tensors (C, H, W), or None when empty."""
    steps: list[Callable] = []
    if resized_crop is not None:
        steps.append(v2.RandomResizedCrop(size, scale=resized_crop, ratio=(0.9, 1.1), antialias=True))
    if hflip:
        steps.append(v2.RandomHorizontalFlip())
    if rotation or translate or scale:
        steps.append(
            v2.RandomAffine(
                degrees=rotation,
                translate=(translate, translate) if translate else None,
                scale=scale,
                interpolation=v2.InterpolationMode.BILINEAR,
            )
        )
    return v2.Compose(steps) if steps else None


def augmentation_preset(name: str, size: int) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """One of :data:`AUGMENT_PRESETS` ("none", "light", "strong") for images of ``size`` px."""
    if name not in AUGMENT_PRESETS:
        raise ValueError(f"Unknown augmentation preset {name!r}; choose one of {list(AUGMENT_PRESETS)}.")
    return build_augmentation(size, **AUGMENT_PRESETS[name])


def to_float_tensor(images: np.ndarray | torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """uint8 (N, H, W) or (H, W) into normalised float32 (N, 1, H, W) / (1, H, W)."""
    x = torch.as_tensor(images)
    x = x.unsqueeze(-3).to(torch.float32).div_(255.0)
    return x.sub_(mean).div_(std)


class TensorImageDataset(Dataset):
    """A split held as one uint8 tensor; items are normalised float tensors (1, S, S).

    ``input_size`` upsamples (bilinear, antialiased) when the model expects larger images.
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
        if self.resize is not None:
            x = self.resize(x)
        if self.augment is not None:
            x = self.augment(x)
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
