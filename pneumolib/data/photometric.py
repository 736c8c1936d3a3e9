"""Photometric augmentation: per-image gamma, contrast, brightness, blur and noise.

Aimed at the differences between X-ray cohorts that no geometric augmentation covers: exposure
(brightness, gamma), processing (contrast), detector sharpness (blur) and quantum noise. Applied
to a batch, each image with its own draw, after the geometry (:func:`.augment.augment_batch`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

# Generic ranges, not fitted to any cohort's images; the course's shift study checks that they cover the shift
# it measures between the training and the test cohort (a few grey levels of mean and sd).
INTENSITY_PRESETS: dict[str, dict] = {
    "none": {},
    "robust": {"gamma": (0.8, 1.25), "contrast": (0.8, 1.25), "brightness": 0.08, "blur": (0.0, 0.8), "noise": 0.03},
}
BLUR_RADIUS = 2  # pixels each side of the Gaussian kernel (sigma up to 0.8 px fits comfortably)


@dataclass(frozen=True)
class Photometric:
    """Random per-image intensity changes of images in [0, 1], in this order:

    gamma ``x ** g`` (g uniform in ``gamma``), contrast around the image's own mean (factor uniform
    in ``contrast``), an added brightness uniform in ``[-brightness, brightness]``, a Gaussian blur
    of sigma uniform in ``blur`` (pixels), Gaussian noise of an sd uniform in ``[0, noise]``, and a
    clip back to [0, 1].
    """

    gamma: tuple[float, float] | None = None
    contrast: tuple[float, float] | None = None
    brightness: float = 0.0
    blur: tuple[float, float] | None = None
    noise: float = 0.0

    @classmethod
    def preset(cls, name: str) -> "Photometric | None":
        """The preset's ranges; None for "none"."""
        if name not in INTENSITY_PRESETS:
            raise ValueError(f"Unknown intensity preset {name!r}; choose one of {list(INTENSITY_PRESETS)}.")
        return cls(**INTENSITY_PRESETS[name]) if INTENSITY_PRESETS[name] else None

    def describe(self) -> str:
        """The ranges in words, e.g. "gamma 0.8-1.25, contrast ×0.8-1.25"."""
        parts = []
        if self.gamma:
            parts.append(f"gamma {self.gamma[0]:g}-{self.gamma[1]:g}")
        if self.contrast:
            parts.append(f"contrast ×{self.contrast[0]:g}-{self.contrast[1]:g}")
        if self.brightness:
            parts.append(f"brightness ±{self.brightness:g}")
        if self.blur:
            parts.append(f"blur sigma {self.blur[0]:g}-{self.blur[1]:g} px")
        if self.noise:
            parts.append(f"noise sd up to {self.noise:g}")
        return ", ".join(parts) or "nothing"

    def draw(self, n: int, generator: torch.Generator | None, device: torch.device) -> dict[str, torch.Tensor]:
        """Parameters for ``n`` images (each a tensor of shape (n,))."""

        def uniform(low: float, high: float) -> torch.Tensor:
            return low + (high - low) * torch.rand(n, generator=generator, device=device)

        return {
            "gamma": uniform(*self.gamma) if self.gamma else torch.ones(n, device=device),
            "contrast": uniform(*self.contrast) if self.contrast else torch.ones(n, device=device),
            "brightness": uniform(-self.brightness, self.brightness) if self.brightness else torch.zeros(n, device=device),
            "blur": uniform(*self.blur) if self.blur else torch.zeros(n, device=device),
            "noise": uniform(0.0, self.noise) if self.noise else torch.zeros(n, device=device),
        }

    def apply(self, x: torch.Tensor, params: dict[str, torch.Tensor], generator: torch.Generator | None) -> torch.Tensor:
        """Apply drawn ``params`` to ``x`` (B, 1, H, W) in [0, 1]."""
        view = (-1, 1, 1, 1)
        x = x.clamp(0, 1).pow(params["gamma"].view(view))
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * params["contrast"].view(view) + mean + params["brightness"].view(view)
        if self.blur:
            x = _gaussian_blur(x, params["blur"])
        if self.noise:
            noise = torch.randn(x.shape, generator=generator, device=x.device)
            x = x + noise * params["noise"].view(view)
        return x.clamp(0, 1)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw parameters for every image of the batch ``x`` (B, 1, H, W) and apply them."""
        return self.apply(x, self.draw(len(x), generator, x.device), generator)


def _gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Each image blurred with its own sigma (pixels; 0 leaves it unchanged), separably, with
    reflected borders."""
    offsets = torch.arange(-BLUR_RADIUS, BLUR_RADIUS + 1, device=x.device, dtype=x.dtype)
    safe = sigma.clamp_min(1e-3).to(x.dtype).view(-1, 1)
    kernel = torch.exp(-offsets.view(1, -1) ** 2 / (2 * safe**2))
    kernel = kernel / kernel.sum(dim=1, keepdim=True)  # (B, K); sigma 1e-3 is a delta
    b, c, h, w = x.shape
    flat = x.reshape(1, b * c, h, w)
    flat = F.pad(flat, (BLUR_RADIUS,) * 4, mode="reflect")
    kernels = kernel.repeat_interleave(c, dim=0)
    flat = F.conv2d(flat, kernels.view(b * c, 1, 1, -1), groups=b * c)
    flat = F.conv2d(flat, kernels.view(b * c, 1, -1, 1), groups=b * c)
    return flat.reshape(b, c, h, w)
