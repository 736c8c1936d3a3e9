"""Test-time augmentation: average a model's probabilities over a few fixed views of each image.

The views are mild versions of the training augmentation (the light preset rotates by up to 10
degrees and zooms by up to 5 %; no preset flips), so the model has seen images like them.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..config import TrainConfig
from ..data import Split
from ..models.inference import predict_probabilities


def _affine(angle_deg: float = 0.0, zoom: float = 1.0) -> torch.Tensor:
    """One (2, 3) ``affine_grid`` matrix (output -> input coordinates)."""
    a = math.radians(angle_deg)
    s = 1.0 / zoom
    return torch.tensor([[math.cos(a) * s, -math.sin(a) * s, 0.0],
                         [math.sin(a) * s, math.cos(a) * s, 0.0]])


TTA_VIEWS: dict[str, torch.Tensor] = {
    "identity": _affine(),
    "rotate +5°": _affine(angle_deg=5.0),
    "rotate −5°": _affine(angle_deg=-5.0),
    "zoom 1.05": _affine(zoom=1.05),
}


def predict_tta(
    model: nn.Module, split: Split, config: TrainConfig, views: tuple[str, ...] = tuple(TTA_VIEWS),
    device: torch.device | str | None = None,
) -> np.ndarray:
    """Mean probability over ``views`` (names from :data:`TTA_VIEWS`) for every image of ``split``."""
    unknown = [v for v in views if v not in TTA_VIEWS]
    if unknown or not views:
        raise ValueError(f"Unknown or empty TTA views {unknown or list(views)}; choose from {list(TTA_VIEWS)}.")
    return predict_probabilities(model, split.images, config, [TTA_VIEWS[v] for v in views], precision="run",
                                 device=device)
