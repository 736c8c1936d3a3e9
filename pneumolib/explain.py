"""Grad-CAM and friends through pytorch-grad-cam, for single-logit models."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

CAM_METHODS = ("gradcam", "gradcam++", "eigencam")


def spatial_sizes(model: nn.Module, input_size: int) -> dict[str, int]:
    """Output side length of each top-level block (``layer1``..``layer4``) at ``input_size`` px."""
    sizes: dict[str, int] = {}
    hooks = [
        module.register_forward_hook(lambda m, i, o, name=name: sizes.__setitem__(name, o.shape[-1]))
        for name, module in model.named_children()
        if name.startswith("layer")
    ]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, 1, input_size, input_size, device=next(model.parameters()).device))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    return sizes


def default_target_layer(model: nn.Module, input_size: int, min_side: int = 4) -> tuple[str, nn.Module]:
    """The deepest block whose feature map is at least ``min_side`` px wide: ``(name, module)``.

    The last block is the usual choice, but at 28 px a standard ResNet's layer4 is 1x1, which
    makes a map with no spatial information; an earlier block keeps some resolution.
    """
    sizes = spatial_sizes(model, input_size)
    usable = [name for name, side in sizes.items() if side >= min_side] or list(sizes)[:1]
    name = usable[-1]
    return name, getattr(model, name)


def _cam_class(method: str):
    from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus

    classes = {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus, "eigencam": EigenCAM}
    if method not in classes:
        raise ValueError(f"Unknown CAM method {method!r}; choose one of {list(classes)}.")
    return classes[method]


def cam_maps(
    model: nn.Module,
    inputs: torch.Tensor,
    target_layer: nn.Module | None = None,
    method: str = "gradcam",
    target_class: int = 1,
) -> np.ndarray:
    """Class-activation maps (N, H, W) in [0, 1] for a batch of normalised inputs (N, 1, H, W).

    ``target_class=1`` explains the pneumonia logit; 0 explains "normal" (the negated logit),
    via pytorch-grad-cam's ``BinaryClassifierOutputTarget``.
    """
    from pytorch_grad_cam.utils.model_targets import BinaryClassifierOutputTarget

    if target_layer is None:
        target_layer = default_target_layer(model, inputs.shape[-1])[1]
    model.eval()
    with _cam_class(method)(model=model, target_layers=[target_layer]) as cam:
        maps = cam(input_tensor=inputs, targets=[BinaryClassifierOutputTarget(target_class)] * len(inputs))
    return np.asarray(maps, dtype=np.float32)
