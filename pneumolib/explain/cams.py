"""Grad-CAM and friends through pytorch-grad-cam, for single-logit models."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr
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


def default_target_layer(model: nn.Module, input_size: int, min_side: int = 3) -> tuple[str, nn.Module]:
    """The deepest block whose feature map is at least ``min_side`` px wide: ``(name, module)``.

    The last block is the usual choice (its gradients are the most class-specific), but at 28 px
    a standard ResNet's layer4 is 1x1 and layer3 2x2, which make maps with little or no spatial
    information; the deepest block with at least 3x3 cells keeps some. Going shallower than
    needed costs class-specificity: the gradient-weighted sum of an early block can be negative
    everywhere, which Grad-CAM shows as an empty map.
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


def _probabilities(model: nn.Module, inputs: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return torch.sigmoid(model(inputs).float()).reshape(-1).cpu().numpy()


def deletion_curve(
    model: nn.Module, inputs: torch.Tensor, maps: np.ndarray, steps: int = 10,
    fill: float | torch.Tensor = 0.0, seed: int = 0,
) -> pd.DataFrame:
    """Deletion test: remove the most salient pixels first and watch the pneumonia probability.

    For fractions 0, 1/steps, ..., 1 of the pixels, the top-ranked pixels of each map are
    replaced by ``fill`` (a value, e.g. 0 = mid-grey in the normalised inputs, or a tensor shaped
    like ``inputs``, e.g. a blurred copy), and the same fractions are replaced in a random order
    for comparison. A map that points at what the model uses makes the probability fall faster
    than random deletion. Returns columns fraction, cam, random (mean probability).
    """
    model.eval()
    n, _, h, w = inputs.shape
    if maps.shape != (n, h, w):
        raise ValueError(f"maps must have shape {(n, h, w)} to match the inputs, got {maps.shape}.")
    rng = np.random.default_rng(seed)
    jitter = rng.random(maps.shape) * 1e-6  # break ties of upsampled maps reproducibly
    cam_order = np.argsort(-(maps + jitter).reshape(n, -1), axis=1)
    random_order = np.argsort(rng.random((n, h * w)), axis=1)
    flat = inputs.reshape(n, -1)
    fill_flat = (fill.to(inputs.device, inputs.dtype) if torch.is_tensor(fill) else torch.full_like(inputs, fill)).reshape(n, -1)
    if fill_flat.shape != flat.shape:
        raise ValueError(f"fill must be a number or a tensor shaped like the inputs {tuple(inputs.shape)}.")
    rows = []
    for fraction in np.linspace(0.0, 1.0, steps + 1):
        k = int(round(fraction * h * w))
        row = {"fraction": float(fraction)}
        for name, order in (("cam", cam_order), ("random", random_order)):
            index = torch.as_tensor(order[:, :k], device=inputs.device)
            masked = flat.clone().scatter_(1, index, fill_flat.gather(1, index))
            row[name] = float(_probabilities(model, masked.reshape(inputs.shape)).mean())
        rows.append(row)
    return pd.DataFrame(rows)


def deletion_area(curve: pd.DataFrame) -> dict[str, float]:
    """Area under the deletion curves (trapezoid over the fraction removed); lower falls faster."""
    return {name: float(np.trapezoid(curve[name], curve["fraction"])) for name in ("cam", "random")}


def randomized_copy(model: nn.Module, seed: int = 0) -> nn.Module:
    """A copy of ``model`` with every layer re-initialised (the model-randomisation test's control)."""
    torch.manual_seed(seed)
    clone = copy.deepcopy(model)
    for module in clone.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
        if hasattr(module, "reset_running_stats"):
            module.reset_running_stats()
    return clone.eval()


def randomization_similarity(
    model: nn.Module, inputs: torch.Tensor, layer_name: str, method: str = "gradcam", seed: int = 0
) -> np.ndarray:
    """Model-randomisation test (Adebayo et al., 2018): Spearman correlation, per image, between
    the maps of the trained model and of a re-initialised copy at the same layer.

    Values near 1 would mean the map does not depend on what the model learned.
    """
    trained = cam_maps(model, inputs, getattr(model, layer_name), method)
    control = randomized_copy(model, seed)
    random_maps = cam_maps(control, inputs, getattr(control, layer_name), method)
    # a constant map (e.g. all zero after the ReLU) carries no ranking, so it correlates with nothing
    rho = [0.0 if np.ptp(a) == 0 or np.ptp(b) == 0 else spearmanr(a.ravel(), b.ravel()).statistic
           for a, b in zip(trained, random_maps)]
    return np.asarray(rho, dtype=np.float64)


OUTCOMES = ("true positive", "true negative", "false positive", "false negative")


def pick_outcomes(labels: np.ndarray, probs: np.ndarray, threshold: float, n: int = 6) -> dict[str, np.ndarray]:
    """Indices of up to ``n`` images per outcome at ``threshold``, most confident first
    (for errors: the most confidently wrong)."""
    labels, probs = np.asarray(labels).reshape(-1), np.asarray(probs).reshape(-1)
    predicted = probs >= threshold
    masks = {
        "true positive": predicted & (labels == 1), "true negative": ~predicted & (labels == 0),
        "false positive": predicted & (labels == 0), "false negative": ~predicted & (labels == 1),
    }
    confidence = np.abs(probs - threshold)
    return {name: (idx := np.flatnonzero(mask))[np.argsort(-confidence[idx], kind="stable")][:n]
            for name, mask in masks.items()}
