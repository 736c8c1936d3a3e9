"""Checkpoints: saved atomically with their config, loaded safely with ``weights_only=True``."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..config import TrainConfig
from ..errors import CheckpointError
from ..paths import write_atomically
from ..repro import package_versions

FORMAT = "pneumolib-checkpoint"
FORMAT_VERSION = 1
HALF_PRECISION_ABOVE_MB = 8.0  # reference copies of larger models keep fp16 weights (ResNets; not the small CNN)


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    config: TrainConfig,
    threshold: float = 0.5,
    metrics: dict[str, Any] | None = None,
    provenance: dict[str, Any] | None = None,
) -> Path:
    """Write model weights, config, decision threshold and metrics; atomic (temp file + rename).

    ``provenance`` records what the model was trained on (e.g. ``{"data_source": ...}``).
    ``threshold`` must lie strictly between 0 and 1, as the detector and ``predict`` require:
    a saved model is always one they load.
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be a number strictly between 0 and 1, got {threshold!r}; "
                         "the detector could not load this checkpoint.")
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": config.model,
        "config": config.to_dict(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "threshold": float(threshold),
        "metrics": metrics or {},
        "provenance": provenance or {},
        "versions": package_versions(),
    }
    return atomic_torch_save(payload, path)


def atomic_torch_save(payload: dict[str, Any], path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file beside ``path``, then rename: never a half-written file."""
    return write_atomically(path, lambda handle: torch.save(payload, handle), binary=True)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint safely. Raises :class:`CheckpointError` for anything that is not one."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint '{path}' does not exist.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "global" not in str(exc).lower():  # garbage, not a forbidden object
            raise CheckpointError(f"'{path}' is not a readable PyTorch checkpoint ({str(exc).splitlines()[-1]}).") from None
        raise CheckpointError(
            f"Refused to load '{path}': it contains Python objects that safe loading (weights_only=True) "
            f"does not allow, so it could run code. Only load checkpoints you trust. Detail: {str(exc).splitlines()[0]}"
        ) from None
    except Exception as exc:  # torch raises many types for non-checkpoints (KeyError, EOFError, ...)
        raise CheckpointError(
            f"'{path}' is not a readable PyTorch checkpoint ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})."
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"'{path}' is a PyTorch file but not a pneumolib checkpoint (no '{FORMAT}' marker). "
            "Create checkpoints with pneumolib.checkpoint.save_checkpoint or `python -m pneumolib train`."
        )
    return payload


def load_weights(model: nn.Module, payload: dict[str, Any], expected_model: str) -> nn.Module:
    """Load a checkpoint's weights into ``model`` (built as ``expected_model``), checking the architecture."""
    saved = payload.get("model")
    if saved != expected_model:
        raise CheckpointError(
            f"This checkpoint holds a {saved!r} model, but the model to load it into is {expected_model!r}. "
            f"Build a {saved!r} (or use pneumolib.checkpoint.load_model, which reads the architecture from the file)."
        )
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(
            f"The checkpoint's {saved!r} weights do not fit this model (different head or stem?): "
            f"{str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else exc}"
        ) from None
    return model


def store_half_precision(path: str | os.PathLike, above_mb: float = HALF_PRECISION_ABOVE_MB) -> bool:
    """Rewrite a checkpoint whose float weights take more than ``above_mb`` MB with fp16 weights, to
    keep the committed reference small (ResNet-18: 45 MB -> 22 MB). Loading converts them back to
    fp32 (``load_state_dict`` copies into the fp32 model); the run's record keeps the numbers its
    fp32 weights gave. Returns whether the file was rewritten."""
    payload = load_checkpoint(path)
    weights = payload["state_dict"]
    size_mb = sum(v.numel() * v.element_size() for v in weights.values() if v.is_floating_point()) / 2**20
    if payload.get("weights_dtype") == "float16" or size_mb <= above_mb:
        return False
    payload["state_dict"] = {k: v.half() if v.is_floating_point() else v for k, v in weights.items()}
    payload["weights_dtype"] = "float16"
    atomic_torch_save(payload, path)
    return True

