"""ONNX export of a checkpoint, verified against PyTorch on real images with onnxruntime."""

from __future__ import annotations

import copy
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..models.zoo import load_model
from ..config import TrainConfig
from ..errors import PneumolibError
from .detector import ONNX_METADATA_KEY
from ..models.inference import predict_probabilities

PARITY_TOLERANCE = 1e-4


class ExportError(PneumolibError, RuntimeError):
    """An export that failed, or that does not reproduce the PyTorch model."""


class PixelsToProbability(nn.Module):
    """The model with its preprocessing: raw pixels 0-255 (N, 1, S, S) -> P(pneumonia) (N, 1).

    Scaling, optional upsampling and normalisation come from the run's config, in training order.
    """

    def __init__(self, model: nn.Module, config: TrainConfig) -> None:
        super().__init__()
        self.model = model.eval()
        self.mean, self.std = float(config.norm_mean), float(config.norm_std)
        # A constant scale (not a size) keeps the spatial shape static in the ONNX graph.
        self.scale = config.input_size / config.image_size if config.input_size else None

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = pixels / 255.0
        if self.scale:  # bilinear upsampling; antialiasing only matters when shrinking
            x = nn.functional.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        x = (x - self.mean) / self.std
        return torch.sigmoid(self.model(x))


class StaticAdaptiveAvgPool2d(nn.Module):
    """``AdaptiveAvgPool2d`` for one known input size, written with slices so ONNX can export it.

    Same windows as PyTorch's: rows ``floor(i*H/out)`` to ``ceil((i+1)*H/out)``, likewise columns.
    """

    def __init__(self, in_size: tuple[int, int], out_size: tuple[int, int]) -> None:
        super().__init__()
        self.rows = [(i * in_size[0] // out_size[0], -(-(i + 1) * in_size[0] // out_size[0])) for i in range(out_size[0])]
        self.cols = [(j * in_size[1] // out_size[1], -(-(j + 1) * in_size[1] // out_size[1])) for j in range(out_size[1])]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = [
            torch.stack([x[:, :, r0:r1, c0:c1].mean(dim=(2, 3)) for c0, c1 in self.cols], dim=-1)
            for r0, r1 in self.rows
        ]
        return torch.stack(rows, dim=-2)


def _static_pools(model: nn.Module, input_size: int) -> nn.Module:
    """A copy of ``model`` whose non-global adaptive average pools are fixed for ``input_size``."""
    model = copy.deepcopy(model).eval()
    pools = {name: m for name, m in model.named_modules() if isinstance(m, nn.AdaptiveAvgPool2d)}
    seen: dict[str, tuple[int, int]] = {}
    hooks = [m.register_forward_hook(lambda mod, inp, out, name=name: seen.__setitem__(name, tuple(inp[0].shape[-2:])))
             for name, m in pools.items()]
    with torch.no_grad():
        model(torch.zeros(1, 1, input_size, input_size))
    for hook in hooks:
        hook.remove()
    for name, pool in pools.items():
        out = pool.output_size if isinstance(pool.output_size, tuple) else (pool.output_size, pool.output_size)
        if tuple(out) != (1, 1):
            parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
            setattr(parent, name.rpartition(".")[2], StaticAdaptiveAvgPool2d(seen[name], tuple(out)))
    return model


def export_onnx(checkpoint: str | os.PathLike, out: str | os.PathLike, verify_images: np.ndarray) -> float:
    """Export ``checkpoint`` to ``out`` (dynamic batch) and verify it on ``verify_images`` (uint8 N x S x S).

    Returns the maximum absolute difference in probability between onnxruntime and PyTorch.
    Raises :class:`ExportError` (and removes the file) when it exceeds ``PARITY_TOLERANCE``.
    """
    import onnx
    import onnxruntime as ort

    model, config, payload = load_model(checkpoint)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    wrapper = PixelsToProbability(_static_pools(model, config.model_input_size), config).eval()
    example = torch.zeros(2, 1, config.image_size, config.image_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notices
        torch.onnx.export(
            wrapper, (example,), str(out), dynamo=False, opset_version=17,
            input_names=["pixels"], output_names=["probability"],
            dynamic_axes={"pixels": {0: "batch"}, "probability": {0: "batch"}},
        )
    graph = onnx.load(str(out))
    meta = {"model": config.model, "image_size": config.image_size, "threshold": payload.get("threshold", 0.5),
            "config": config.to_dict()}
    onnx.helper.set_model_props(graph, {ONNX_METADATA_KEY: json.dumps(meta)})
    onnx.save(graph, str(out))

    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    onnx_probs = session.run(None, {"pixels": verify_images.astype(np.float32)[:, None]})[0].reshape(-1)
    torch_probs = predict_probabilities(model, verify_images, config, precision="run", device="cpu")
    max_diff = float(np.abs(onnx_probs - torch_probs).max())
    if not max_diff <= PARITY_TOLERANCE:
        out.unlink(missing_ok=True)
        raise ExportError(
            f"ONNX export does not reproduce PyTorch: max |p_onnx - p_torch| = {max_diff:.2e} on "
            f"{len(verify_images)} images (tolerance {PARITY_TOLERANCE:.0e}). '{out}' was removed."
        )
    return max_diff
