"""TENT (Wang et al., ICLR 2021): test-time entropy minimisation of the batch-norm affine
parameters on the new cohort's unlabeled images.

This variant starts from AdaBN's statistics (:func:`~pneumolib.shift.adapt.adabn`) and keeps
them fixed, so the adapted model predicts every image the same way whatever batch it comes in;
only each batch-norm layer's scale and shift are trained, for one pass over the new images.
"""

from __future__ import annotations

import torch
from torch import nn

from .adapt import adabn, batch_norm_layers


def binary_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Mean entropy (nats) of the Bernoulli predictions ``sigmoid(logits)``."""
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))  # bf16 up to float32, float64 kept
    p = torch.sigmoid(logits)
    log_p, log_q = nn.functional.logsigmoid(logits), nn.functional.logsigmoid(-logits)
    return -(p * log_p + (1 - p) * log_q).mean()


def tent(model: nn.Module, inputs: torch.Tensor, lr: float = 1e-3, epochs: int = 1, batch_size: int = 64,
         seed: int = 0) -> nn.Module:
    """A copy of ``model`` with AdaBN statistics and batch-norm affine parameters fitted by
    minimising the prediction entropy on ``inputs`` (the new cohort's preprocessed images)."""
    adapted = adabn(model, inputs)
    for parameter in adapted.parameters():
        parameter.requires_grad_(False)
    affine = [p for layer in batch_norm_layers(adapted) if layer.affine for p in (layer.weight, layer.bias)]
    if not affine:
        raise ValueError(f"{type(model).__name__}'s batch-norm layers have no affine parameters for TENT to train.")
    for parameter in affine:
        parameter.requires_grad_(True)
    optimizer = torch.optim.Adam(affine, lr=lr)
    device = affine[0].device
    generator = torch.Generator().manual_seed(seed)
    adapted.eval()  # the running statistics stay AdaBN's
    with torch.enable_grad():
        for _ in range(epochs):
            order = torch.randperm(len(inputs), generator=generator)
            for start in range(0, len(inputs), batch_size):
                loss = binary_entropy(adapted(inputs[order[start:start + batch_size]].to(device)))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    for parameter in adapted.parameters():
        parameter.requires_grad_(False)
    return adapted.eval()
