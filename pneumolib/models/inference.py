"""Inference: a model's pneumonia probabilities for uint8 images, without the training loop.

:func:`predict_probabilities` is the one way in. ``precision="run"`` predicts as the run's own
evaluation did (its formats: bf16 autocast and memory layout by the rules of
:mod:`~pneumolib.models.formats`): the run records, the detector, ONNX parity and TTA use it.
``precision="analysis"`` (the default) predicts in a precision that renders the same numbers on
every CPU.

On a CPU the analyses of the notebooks (Grad-CAM and its checks, adaptation to a new cohort, the
shift study's features) run in float64. Two CPUs differ only in the order their kernels add up
(AVX-512 or AVX2, oneDNN or not); in float32 that moves results in the fourth decimal after a
re-initialised network or a ReLU cut-off, in float64 by about 1e-15, far below anything shown. On
a GPU they run in float32 (a GPU's results are a replicate, never the reference).
"""

from __future__ import annotations

import copy
from contextlib import nullcontext
from typing import Iterable, Sequence

import numpy as np
import torch
from torch import nn

from ..config import TrainConfig
from ..data.augment import resample
from ..devices import resolve_device
from .formats import autocast, batch_formats, flush_denormals, use_bf16

PRECISIONS = ("analysis", "run")


def inference_dtype(device: torch.device | str) -> torch.dtype:
    """float64 on a CPU (the same numbers on every CPU), float32 on an accelerator."""
    return torch.float64 if torch.device(device).type == "cpu" else torch.float32


def model_device(model: nn.Module) -> torch.device:
    """The device of ``model``'s parameters (CPU for a model without any)."""
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def model_dtype(model: nn.Module) -> torch.dtype:
    """The dtype of ``model``'s parameters (float32 for a model without any)."""
    parameter = next(model.parameters(), None)
    return parameter.dtype if parameter is not None else torch.float32


def analysis_copy(model: nn.Module, device: torch.device | str | None = None) -> nn.Module:
    """An evaluation-mode copy of ``model`` on ``device`` (default: where it is) in
    :func:`inference_dtype`, in the default memory layout; ``model`` itself is not changed."""
    device = torch.device(device) if device is not None else model_device(model)
    clone = copy.deepcopy(model).to(device=device, dtype=inference_dtype(device), memory_format=torch.contiguous_format)
    return clone.eval()


def in_inference_dtype(model: nn.Module) -> nn.Module:
    """``model`` itself when it is in :func:`inference_dtype` already, else an :func:`analysis_copy`."""
    return model if model_dtype(model) == inference_dtype(model_device(model)) else analysis_copy(model)


def as_model_input(x: torch.Tensor, model: nn.Module) -> torch.Tensor:
    """``x`` on ``model``'s device and in its dtype."""
    return x.to(model_device(model), model_dtype(model))


def preprocess(images: np.ndarray, config: TrainConfig, dtype: torch.dtype, device: torch.device,
               view: torch.Tensor | None = None) -> torch.Tensor:
    """uint8 images (N, H, W) as the model sees them at evaluation, (N, 1, S, S) in ``dtype``:
    scaled to [0, 1], warped by the (2, 3) affine ``view`` (test-time augmentation) or resized to
    the input size, and normalised, as the training batches do it."""
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"images must be a uint8 array (N, H, W), got shape {images.shape}.")
    x = torch.from_numpy(np.ascontiguousarray(images)).unsqueeze(1).to(device=device, dtype=dtype).div_(255.0)
    theta = None if view is None else view.to(device, dtype).expand(len(x), 2, 3)
    x = resample(x, config.input_size or images.shape[-1], theta)
    return x.sub_(config.norm_mean).div_(config.norm_std)


@torch.no_grad()
def predict_batches(
    model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], device: torch.device | str = "auto",
    config: TrainConfig | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(labels, probabilities)`` (float32) over batches of ``(inputs, labels)``, in order, under
    bf16 autocast where ``config``'s evaluation rule says so (:func:`~.formats.use_bf16`)."""
    device = resolve_device(device) if isinstance(device, str) else device
    model.eval().to(device)
    flush_denormals(device)
    amp = autocast(device, use_bf16(device, config, training=False)) if config is not None else nullcontext()
    labels, probs = [], []
    for x, y in batches:
        with amp:
            logits = model(x.to(device, non_blocking=True))
        probs.append(torch.sigmoid(logits.float()).view(-1).cpu())
        labels.append(y.view(-1).cpu())
    return torch.cat(labels).numpy().astype(np.int64), torch.cat(probs).numpy()


@torch.no_grad()
def predict_probabilities(model: nn.Module, images: np.ndarray, config: TrainConfig,
                          views: Sequence[torch.Tensor] | None = None, batch_size: int = 256,
                          precision: str = "analysis", device: torch.device | str | None = None) -> np.ndarray:
    """Pneumonia probabilities (N,) for uint8 ``images`` (N, H, W), averaged over the affine
    ``views`` when given (test-time augmentation).

    ``precision="analysis"``: float64 results from a model in :func:`inference_dtype` (else through
    an :func:`analysis_copy`) on its own device; each image gets the same probability whatever its
    position in the batch, up to float64 rounding. ``precision="run"``: float32 results as the
    run's evaluation batches gave them, on ``device`` (default: the config's), in the run's
    formats (:func:`~.formats.batch_formats`; the model is moved there and into that layout),
    in batches of ``max(batch_size, config.batch_size)``.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}.")
    if precision == "run":
        return _predict_as_run(model, images, config, views, batch_size, device)
    model = in_inference_dtype(model).eval()
    device, dtype = model_device(model), model_dtype(model)
    outputs = []
    for view in (views or [None]):
        probs = []
        for start in range(0, len(images), batch_size):
            x = preprocess(images[start:start + batch_size], config, dtype, device, view)
            probs.append(torch.sigmoid(model(x).to(torch.float64)).reshape(-1).cpu())
        outputs.append(torch.cat(probs).numpy() if probs else np.zeros(0))
    return np.mean(outputs, axis=0)


def _predict_as_run(model: nn.Module, images: np.ndarray, config: TrainConfig, views: Sequence[torch.Tensor] | None,
                    batch_size: int, device: torch.device | str | None) -> np.ndarray:
    device = resolve_device(device or config.device) if not isinstance(device, torch.device) else device
    layout = batch_formats(device, config)["memory_format"]
    model.to(device)
    if layout == "channels_last":
        model.to(memory_format=torch.channels_last)
    batch_size = max(batch_size, config.batch_size)
    images = np.asarray(images)
    labels = torch.zeros(0)
    outputs = []
    for view in (views or [None]):
        # TTA views come in the default layout, as the training loop's evaluation of them always has
        memory = torch.channels_last if layout == "channels_last" and view is None else torch.contiguous_format
        batches = ((preprocess(images[start:start + batch_size], config, torch.float32, device, view)
                    .contiguous(memory_format=memory), labels) for start in range(0, len(images), batch_size))
        outputs.append(predict_batches(model, batches, device, config)[1] if len(images) else np.zeros(0, np.float32))
    return np.mean(outputs, axis=0) if views else outputs[0]
