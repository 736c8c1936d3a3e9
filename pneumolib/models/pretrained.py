"""Pretrained weights, in one place: ImageNet through torchvision's weights API, a local state
dict, and the in-domain self-supervised (SSL) checkpoint format that ``training.ssl`` writes."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
from pathlib import Path
from typing import Any
import urllib.error

import torch
from torch import nn
from torchvision import models as tv_models

from ..errors import CheckpointError, PretrainedWeightsUnavailableError
from ..paths import resolve_display_path, write_atomically
from ..repro import package_versions
from .checkpoint import atomic_torch_save

IMAGENET_WEIGHTS = {
    "resnet18": tv_models.ResNet18_Weights.IMAGENET1K_V1,
    "resnet34": tv_models.ResNet34_Weights.IMAGENET1K_V1,
    "resnet50": tv_models.ResNet50_Weights.IMAGENET1K_V2,
}
SSL_PREFIX = "ssl:"  # pretrained="ssl:<checkpoint>" loads a self-supervised backbone
SSL_FORMAT = "pneumolib-ssl-checkpoint"


def imagenet_state_dict(name: str) -> dict[str, torch.Tensor]:
    """ImageNet weights through torchvision's weights API (torch hub cache, else download)."""
    weights = IMAGENET_WEIGHTS[name]
    filename = os.path.basename(weights.url)
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    try:
        # torch.hub announces each download attempt, with the local cache path; the error below
        # says everything a reader needs, so the announcement is kept out of outputs.
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return weights.get_state_dict(progress=False, check_hash=True)
    except (urllib.error.URLError, OSError, RuntimeError) as exc:
        raise PretrainedWeightsUnavailableError(  # the first line is the notice a skipped arm shows
            f"ImageNet weights for {name} are not available offline: the arm needs '{filename}' in the torch hub "
            f"cache ($TORCH_HOME/hub/checkpoints) or a local copy passed as pretrained='/path/to/{filename}'.\n"
            f"The cache here is '{cache}'; the download failed ({type(exc).__name__}: {exc}).\n"
            "To fix it, on a machine with network do one of:\n"
            f"  - download {weights.url} into that cache folder (set $TORCH_HOME to move the cache);\n"
            f"  - pass a local state dict: pretrained='/path/to/{filename}' (CLI: --pretrained PATH);\n"
            "  - or train from scratch: pretrained=None."
        ) from None


def local_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise PretrainedWeightsUnavailableError(
            f"Pretrained weights file '{path}' does not exist. Pass pretrained='imagenet', None, or an existing path."
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise PretrainedWeightsUnavailableError(
            f"'{path}' is not a loadable state dict ({type(exc).__name__}: {exc})."
        ) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise PretrainedWeightsUnavailableError(f"'{path}' holds a {type(state).__name__}, not a state dict.")
    return state


def ssl_checkpoint_path(source: str | None) -> Path | None:
    """The file an ``ssl:<path>`` source names (``results/...`` resolved as every results path is),
    or None for any other source."""
    if not source or not source.startswith(SSL_PREFIX):
        return None
    return resolve_display_path(source[len(SSL_PREFIX):])


def ssl_description_path(path: str | os.PathLike) -> Path:
    """The description beside an SSL checkpoint (``x_simclr.pt`` -> ``x_simclr.json``): its pretraining
    config, history and data provenance without the weights. It is small and committed with the
    reference results, so a run's identity (and the notebooks' account of the pretraining) never
    needs the weights; they are pretrained only when a run must train from them."""
    return Path(path).with_suffix(".json")


def save_ssl_checkpoint(path: str | os.PathLike, encoder: nn.Module, config: Any,
                        history: list[dict[str, float]], provenance: dict[str, Any],
                        describe: bool = True) -> Path:
    """Write the backbone weights with the pretraining config, history and data provenance (atomic),
    and (``describe``) the description beside them (:func:`ssl_description_path`)."""
    payload = {
        "format": SSL_FORMAT, "model": config.model, "stem": config.stem, "config": dataclasses.asdict(config),
        "state_dict": {k: v.detach().cpu().clone() for k, v in encoder.state_dict().items()},
        "history": history, "provenance": provenance, "versions": package_versions(),
    }
    saved = atomic_torch_save(payload, path)
    if describe:
        description = {k: v for k, v in payload.items() if k != "state_dict"}
        text = json.dumps(description, indent=1, sort_keys=True, default=str) + "\n"
        write_atomically(ssl_description_path(path), lambda handle: handle.write(text))
    return saved


def read_ssl_description(path: str | os.PathLike) -> dict[str, Any] | None:
    """An SSL checkpoint's description: from its ``.json`` when there is one, else from the
    checkpoint itself (without the weights); None when neither exists or is readable."""
    described = ssl_description_path(path)
    if described.is_file():
        try:
            description = json.loads(described.read_text())
        except ValueError:
            description = None
        if isinstance(description, dict) and description.get("format") == SSL_FORMAT:
            return description
    if Path(path).is_file():
        try:
            payload = load_ssl_checkpoint(path)
        except (CheckpointError, PretrainedWeightsUnavailableError):
            return None
        return {k: v for k, v in payload.items() if k != "state_dict"}
    return None


def load_ssl_checkpoint(path: str | os.PathLike, model: str = "resnet18") -> dict[str, Any]:
    """Read an SSL checkpoint safely (``weights_only=True``); clear errors for anything else."""
    path = Path(path)
    if not path.is_file():
        raise PretrainedWeightsUnavailableError(
            f"SSL checkpoint '{path}' does not exist. Make it with "
            f"`python -m pneumolib pretrain --model {model} --out {path}` (trains on the train images only)"
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"'{path}' is not a readable SSL checkpoint ({type(exc).__name__}).") from None
    if not isinstance(payload, dict) or payload.get("format") != SSL_FORMAT:
        raise CheckpointError(f"'{path}' is not an SSL checkpoint made by `python -m pneumolib pretrain`.")
    return payload


def load_ssl_backbone(model: nn.Module, name: str, stem: str, source: str) -> nn.Module:
    """Load ``ssl:<path>`` backbone weights into ``model`` (its head stays freshly initialised)."""
    path = source[len(SSL_PREFIX):]
    payload = load_ssl_checkpoint(resolve_display_path(path), model=name)
    if (payload["model"], payload["stem"]) != (name, stem):
        raise CheckpointError(
            f"SSL checkpoint '{path}' holds a {payload['model']!r} backbone with the {payload['stem']!r} stem, "
            f"but the model to build is {name!r} with the {stem!r} stem. Pretrain a matching backbone."
        )
    missing, unexpected = model.load_state_dict(payload["state_dict"], strict=False)
    if unexpected or any(not k.startswith("fc.") for k in missing):
        raise CheckpointError(f"SSL checkpoint '{path}' does not fit {name!r}: missing {missing}, unexpected {unexpected}.")
    return model
