"""Batch-level training targets: mixup, CutMix, and soft targets from a teacher (distillation).

All three act on a batch that is already on the device, after augmentation, so they work the
same on the fast and the reference data path. Targets become probabilities in [0, 1], which the
binary loss takes as they are.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class BatchMixer:
    """Mixup (Zhang et al. 2018) and CutMix (Yun et al. 2019) for binary targets.

    Each batch is mixed with a shuffled copy of itself using ``lam ~ Beta(alpha, alpha)``:
    mixup blends whole images, CutMix pastes a box covering ``1 - lam`` of the image (``lam``
    is then corrected to the box's exact area). With both alphas set, each batch uses one of
    the two with equal probability. Random numbers come from the mixer's own generator, so a
    run without mixing draws exactly the same batches as before.
    """

    def __init__(self, mixup_alpha: float, cutmix_alpha: float, seed: int) -> None:
        self.mixup_alpha, self.cutmix_alpha = float(mixup_alpha), float(cutmix_alpha)
        self.rng = np.random.default_rng([seed, 7919])  # its own stream: scalar draws on the host

    @property
    def enabled(self) -> bool:
        return self.mixup_alpha > 0 or self.cutmix_alpha > 0

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.enabled or len(x) < 2:
            return x, y
        use_cutmix = self.cutmix_alpha > 0 and (self.mixup_alpha == 0 or self.rng.random() < 0.5)
        alpha = self.cutmix_alpha if use_cutmix else self.mixup_alpha
        lam = float(self.rng.beta(alpha, alpha))
        perm = torch.from_numpy(self.rng.permutation(len(x))).to(x.device)
        y = y.to(torch.float32)
        if use_cutmix:
            x, lam = self._paste_box(x, perm, lam)
        else:
            x = lam * x + (1 - lam) * x[perm]
        return x, lam * y + (1 - lam) * y[perm]

    def _paste_box(self, x: torch.Tensor, perm: torch.Tensor, lam: float) -> tuple[torch.Tensor, float]:
        h, w = x.shape[-2:]
        cut = (1 - lam) ** 0.5
        bh, bw = int(round(h * cut)), int(round(w * cut))
        cy, cx = int(self.rng.integers(h)), int(self.rng.integers(w))
        top, bottom = max(cy - bh // 2, 0), min(cy + (bh + 1) // 2, h)
        left, right = max(cx - bw // 2, 0), min(cx + (bw + 1) // 2, w)
        x = x.clone()
        x[..., top:bottom, left:right] = x[perm][..., top:bottom, left:right]
        return x, 1 - (bottom - top) * (right - left) / (h * w)


@torch.no_grad()
def distillation_targets(teacher: nn.Module, x: torch.Tensor, y: torch.Tensor, weight: float) -> torch.Tensor:
    """``(1 - weight) * y + weight * p_teacher(x)``: hard (or mixed) labels blended with the
    teacher's probabilities on exactly the images the student sees."""
    probs = torch.sigmoid(teacher(x).float()).view_as(y)
    return (1 - weight) * y.to(probs.dtype) + weight * probs
