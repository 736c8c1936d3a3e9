"""Ensembles of binary classifiers: averaged probabilities, as arrays or as one exportable model."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn


def average_probabilities(members: Sequence[np.ndarray], weights: Sequence[float] | None = None) -> np.ndarray:
    """Weighted mean of the members' probabilities (equal weights by default)."""
    if not members:
        raise ValueError("An ensemble needs at least one member.")
    arrays = [np.asarray(m, dtype=np.float64) for m in members]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1 or arrays[0].ndim != 1:
        raise ValueError(f"Each member must be a 1-D probability vector of the same length, got shapes {sorted(shapes)}.")
    stacked = np.stack(arrays)
    w = np.full(len(members), 1.0 / len(members)) if weights is None else np.asarray(weights, dtype=np.float64)
    if len(w) != len(members) or np.any(w < 0) or not np.isclose(w.sum(), 1.0):
        raise ValueError(f"Ensemble weights must be {len(members)} non-negative numbers summing to 1, got {list(w)}.")
    return w @ stacked


class ProbabilityEnsemble(nn.Module):
    """Several models as one: returns the logit of their mean probability, so ``sigmoid(output)``
    is the ensemble probability and the module drops in wherever a single model goes (evaluation,
    distillation teacher, ONNX export)."""

    def __init__(self, members: Sequence[nn.Module], weights: Sequence[float] | None = None) -> None:
        super().__init__()
        if not members:
            raise ValueError("An ensemble needs at least one member.")
        self.members = nn.ModuleList(members)
        w = torch.full((len(members),), 1.0 / len(members)) if weights is None else torch.as_tensor(weights, dtype=torch.float32)
        if len(w) != len(members) or bool((w < 0).any()) or not torch.isclose(w.sum(), torch.tensor(1.0)):
            raise ValueError(f"Ensemble weights must be {len(members)} non-negative numbers summing to 1, got {w.tolist()}.")
        self.register_buffer("weights", w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probs = torch.stack([torch.sigmoid(m(x).float()) for m in self.members], dim=0)
        mean = (self.weights.view(-1, *([1] * (probs.dim() - 1))) * probs).sum(0)
        return torch.logit(mean.clamp(1e-7, 1 - 1e-7))
