"""Adapting a trained model to a new cohort with its unlabeled images only.

AdaBN (Li et al., 2016): re-estimate every batch-norm layer's running mean and variance on the
new cohort's images, leaving all learned weights as they are.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def batch_norm_layers(model: nn.Module) -> list[_BatchNorm]:
    """Every batch-norm layer of ``model``."""
    return [m for m in model.modules() if isinstance(m, _BatchNorm)]


@torch.no_grad()
def adabn(model: nn.Module, inputs: torch.Tensor, batch_size: int = 256) -> nn.Module:
    """A copy of ``model`` whose batch-norm statistics are the new cohort's (``inputs``: the
    images preprocessed as in training, (N, C, H, W)). Raises ValueError for a model without
    batch norm, or when there are fewer images than one batch needs."""
    layers = batch_norm_layers(model)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no batch-norm layers, so AdaBN has nothing to re-estimate; "
                         "use prior correction instead.")
    if len(inputs) < 2:
        raise ValueError(f"AdaBN needs at least 2 images of the new cohort, got {len(inputs)}.")
    adapted = copy.deepcopy(model).eval()
    for layer in batch_norm_layers(adapted):
        layer.reset_running_stats()
        layer.momentum = None  # a cumulative average over all the batches below
        layer.train()
    device = next(adapted.parameters()).device
    for start in range(0, len(inputs), batch_size):
        batch = inputs[start:start + batch_size]
        if len(batch) > 1:  # batch norm cannot take statistics of one image
            adapted(batch.to(device))
    return adapted.eval()
