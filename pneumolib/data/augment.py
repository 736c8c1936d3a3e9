"""Training augmentation, defined once: random affine geometry (rotation, zoom, translation, a
square resized crop, an optional flip) and the photometric changes of :mod:`.photometric`, drawn
per image and applied to a whole batch in one ``affine_grid`` + ``grid_sample``.

The fast path (:class:`~pneumolib.data.device_batches.DeviceBatches`) augments a batch on the
device; the per-image path (``data_path="reference"``: a DataLoader over
:class:`~pneumolib.data.tensors.TensorImageDataset`) calls :class:`ImageAugment`, which is the same
function on a batch of one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
from torch.nn import functional as F

from .photometric import Photometric

# No preset flips horizontally: a mirrored chest X-ray puts the heart on the right, an image the
# model never meets, and on val the flip hurt (the course's ablation of the light preset's flip,
# before it was removed, and its search's "+ horizontal flip" component, which re-tests it on val
# and is not kept). ``TrainConfig.hflip`` adds the flip back to any preset.
AUGMENT_PRESETS: dict[str, dict] = {
    "none": {},
    "light": {"rotation": 10.0, "translate": 0.05, "scale": (0.95, 1.05)},
    "strong": {"rotation": 15.0, "translate": 0.1, "scale": (0.9, 1.1), "resized_crop": (0.8, 1.0)},
}


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

    def thetas(self, n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
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


def augment_batch(x: torch.Tensor, size: int, augment: BatchAugment | None, photometric: Photometric | None,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Float images (B, 1, H, W) in [0, 1], augmented and resampled to ``size`` x ``size``: each
    image's own affine draw (one resampling), then its own photometric draw. ``generator`` None
    draws from torch's global random state."""
    theta = augment.thetas(len(x), generator, x.device) if augment is not None else None
    x = resample(x, size, theta)
    return photometric(x, generator) if photometric is not None else x


@dataclass(frozen=True)
class ImageAugment:
    """The per-image path's augmentation: :func:`augment_batch` on a batch of one, drawing from
    torch's global random state (which a seeded DataLoader sets per worker)."""

    augment: BatchAugment | None
    photometric: Photometric | None
    size: int

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        """A float image (1, H, W) in [0, 1] -> (1, size, size)."""
        return augment_batch(image.unsqueeze(0), self.size, self.augment, self.photometric)[0]


def augmentation_preset(name: str, size: int, hflip: bool = False, intensity: str = "none") -> ImageAugment | None:
    """One of :data:`AUGMENT_PRESETS` ("none", "light", "strong") for images of ``size`` px, plus a
    random horizontal flip when ``hflip`` and the photometric preset ``intensity``
    (:data:`~pneumolib.data.photometric.INTENSITY_PRESETS`), as the per-image path applies them;
    None when nothing is drawn."""
    geometry, photometric = BatchAugment.preset(name, hflip), Photometric.preset(intensity)
    if geometry is None and photometric is None:
        return None
    return ImageAugment(geometry, photometric, size)
