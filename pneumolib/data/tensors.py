"""Tensors, augmentation and loaders: the training loop never goes through PIL per image."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler
from torchvision.transforms import v2

from .core import Split
from .photometric import Photometric, RandomPhotometric
from .splits import sample_weights

# No preset flips horizontally: a mirrored chest X-ray puts the heart on the right, an image the
# model never meets, and on val the flip hurt (the course's ablation of the light preset's flip,
# before it was removed, and its search's "+ horizontal flip" component, which re-tests it on val
# and is not kept). ``TrainConfig.hflip`` adds the flip back to any preset.
AUGMENT_PRESETS: dict[str, dict] = {
    "none": {},
    "light": {"rotation": 10.0, "translate": 0.05, "scale": (0.95, 1.05)},
    "strong": {"rotation": 15.0, "translate": 0.1, "scale": (0.9, 1.1), "resized_crop": (0.8, 1.0)},
}


class RandomAffineCrop(v2.Transform):
    """Per-image random rotation, zoom, translation and square resized crop, in one ``v2.functional.affine``.

    Draws exactly the distribution of :class:`~pneumolib.data.device_batches.BatchAugment` (the fast
    path), one image at a time: angle uniform in ``[-rotation, rotation]``; zoom uniform in ``scale``;
    translation uniform in ``[-translate, translate]`` of the input side on each axis, continuous and
    applied before zoom and rotation; a square crop of area fraction uniform in ``resized_crop``, placed
    uniformly (continuously) inside the image and resized back to the full side. Zero padding outside
    the image, bilinear, a single resampling. Stock ``RandomAffine`` rounds translations to whole pixels
    and translates after zoom and rotation, and ``RandomResizedCrop`` crops whole-pixel rectangles with
    a random aspect ratio (rejecting those that do not fit), so they cannot draw this distribution.
    """

    def __init__(
        self,
        rotation: float = 0.0,
        translate: float = 0.0,
        scale: tuple[float, float] | None = None,
        resized_crop: tuple[float, float] | None = None,
    ) -> None:
        super().__init__()
        self.rotation, self.translate, self.scale, self.resized_crop = rotation, translate, scale, resized_crop

    def make_params(self, flat_inputs: list) -> dict:
        def uniform(low: float, high: float) -> float:
            return low + (high - low) * torch.rand(()).item()

        height, width = v2.query_size(flat_inputs)
        angle = uniform(-self.rotation, self.rotation)
        zoom = uniform(*self.scale) if self.scale else 1.0
        # the window's centre in the input, in pixels from the image centre
        shift_x, shift_y = uniform(-1, 1) * self.translate * width, uniform(-1, 1) * self.translate * height
        crop = 1.0
        if self.resized_crop:
            crop = uniform(*self.resized_crop) ** 0.5  # side fraction of a square crop
            shift_x += uniform(-1, 1) * (1 - crop) * width / 2
            shift_y += uniform(-1, 1) * (1 - crop) * height / 2
        # affine() maps input p to s * R(angle) p + t; the window centre must land on the output centre
        s, a = zoom / crop, math.radians(angle)
        tx = -s * (math.cos(a) * shift_x - math.sin(a) * shift_y)
        ty = -s * (math.sin(a) * shift_x + math.cos(a) * shift_y)
        return {"angle": angle, "translate": [tx, ty], "scale": s}

    def transform(self, inpt: torch.Tensor, params: dict) -> torch.Tensor:
        return v2.functional.affine(
            inpt, angle=params["angle"], translate=params["translate"], scale=params["scale"], shear=[0.0, 0.0],
            interpolation=v2.InterpolationMode.BILINEAR, fill=None,  # fill=None: plain zero padding
        )


def build_augmentation(
    size: int,
    hflip: bool = False,
    rotation: float = 0.0,
    translate: float = 0.0,
    scale: tuple[float, float] | None = None,
    resized_crop: tuple[float, float] | None = None,
    photometric: Photometric | None = None,
) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """A per-image ``transforms.v2`` pipeline for float image tensors (C, H, W) in [0, 1], or None
    when empty.

    Returns images of ``size`` px (resizing first if they come in another size). Its random draws
    have the same distribution as :class:`~pneumolib.data.device_batches.BatchAugment` with the same
    arguments, followed by ``photometric`` as the fast path applies it
    (tests/test_augmentation_agreement.py checks this).
    """
    steps: list[Callable] = []
    if rotation or translate or scale or resized_crop:
        steps.append(RandomAffineCrop(rotation, translate, scale, resized_crop))
    if hflip:
        steps.append(v2.RandomHorizontalFlip())
    if photometric is not None:
        steps.append(RandomPhotometric(photometric))
    if not steps:
        return None
    return v2.Compose([_ToSize(size), *steps])


class _ToSize(v2.Transform):
    """Resize (bilinear, antialiased) to ``size`` px only when the image is not that size already."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def transform(self, inpt: torch.Tensor, params: dict) -> torch.Tensor:
        if tuple(inpt.shape[-2:]) == (self.size, self.size):
            return inpt
        return v2.functional.resize(inpt, [self.size, self.size], antialias=True)


def augmentation_preset(name: str, size: int, hflip: bool = False,
                        intensity: str = "none") -> Callable[[torch.Tensor], torch.Tensor] | None:
    """One of :data:`AUGMENT_PRESETS` ("none", "light", "strong") for images of ``size`` px, plus a
    random horizontal flip when ``hflip`` and the photometric preset ``intensity``
    (:data:`~pneumolib.data.photometric.INTENSITY_PRESETS`)."""
    if name not in AUGMENT_PRESETS:
        raise ValueError(f"Unknown augmentation preset {name!r}; choose one of {list(AUGMENT_PRESETS)}.")
    return build_augmentation(size, **{**AUGMENT_PRESETS[name], **({"hflip": True} if hflip else {})},
                              photometric=Photometric.preset(intensity))


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
