"""In-domain self-supervised pretraining (SimCLR) on the training images, labels unused.

``python -m pneumolib pretrain`` writes an SSL checkpoint holding the backbone weights;
``build_model(..., pretrained="ssl:<checkpoint>")`` starts a supervised run from them. Only the
train split's images are read: val and test labels and images play no part.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from ..config import TrainConfig, option, shared_train_config, train_option
from ..models.pretrained import (SSL_PREFIX, load_ssl_checkpoint, read_ssl_description, save_ssl_checkpoint,
                                ssl_checkpoint_path, ssl_description_path)
from ..models.zoo import build_model
from ..data import Split
from ..data.augment import BatchAugment
from ..data.device_batches import DeviceBatches
from ..devices import resolve_device
from ..errors import CheckpointError, ConfigError
from ..paths import display_path, reference_counterpart
from ..repro import seed_everything
from ..models.formats import autocast, choose_formats, flush_denormals, fused_optimizer

# Views for X-rays: crops of 35-100% of the area, small rotations, no flips (anatomy is not
# symmetric), then per-image brightness/contrast jitter and occasional blur.
SSL_AUGMENT = BatchAugment(rotation=10.0, resized_crop=(0.35, 1.0))


@dataclass(frozen=True)
class PretrainConfig:
    """Everything that determines an SSL pretraining run (saved in its checkpoint). The fields it
    shares with :class:`~pneumolib.config.TrainConfig` are TrainConfig's options (help, choices,
    checks), with SimCLR's own defaults for epochs, batch size and weight decay."""

    model: str = train_option("model")
    stem: str = train_option("stem")
    image_size: int = train_option("image_size")
    input_size: int | None = train_option("input_size")
    epochs: int = train_option("epochs", default=20)
    batch_size: int = train_option("batch_size", default=256)
    lr: float = train_option("lr")
    weight_decay: float = train_option("weight_decay", default=1e-6)
    temperature: float = option(0.5, "NT-Xent temperature", "ssl")
    projection_dim: int = option(128, "output width of the projection head (dropped after pretraining)", "ssl")
    jitter: float = option(0.4, "strength of the per-view contrast and brightness jitter, in [0, 1)", "ssl")
    norm_mean: float = train_option("norm_mean")
    norm_std: float = train_option("norm_std")
    seed: int = train_option("seed")
    device: str = train_option("device")

    def __post_init__(self) -> None:
        shared_train_config(self)  # TrainConfig's own checks of the options it shares
        if not isinstance(self.projection_dim, int) or isinstance(self.projection_dim, bool) or self.projection_dim < 1:
            raise ConfigError(f"projection_dim must be a positive integer, got {self.projection_dim!r}.")
        if self.batch_size < 2:
            raise ConfigError("batch_size must be at least 2: contrastive learning needs negatives.")
        if not self.temperature > 0:
            raise ConfigError(f"temperature must be positive, got {self.temperature!r}.")
        if not 0 <= self.jitter < 1:
            raise ConfigError(f"jitter must be in [0, 1), got {self.jitter!r}.")

    def train_config(self) -> TrainConfig:
        """The supervised config of the same model, input and batch size (for the run formats)."""
        return shared_train_config(self)


def backbone(model: nn.Module) -> nn.Module:
    """The model without its classifier head (``fc`` replaced by identity), sharing weights."""
    model.fc = nn.Identity()
    return model


class SimCLR(nn.Module):
    """Backbone + 2-layer projection head; the head is discarded after pretraining."""

    def __init__(self, encoder: nn.Module, features: int, projection_dim: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.projector = nn.Sequential(nn.Linear(features, features), nn.ReLU(inplace=True),
                                       nn.Linear(features, projection_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projector(self.encoder(x))


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's normalised-temperature cross-entropy: each view must pick out its partner
    among the 2N - 1 other views of the batch."""
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    n = len(z1)
    similarity = z @ z.T / temperature
    similarity.fill_diagonal_(float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(similarity, targets)


def _jitter(x: torch.Tensor, strength: float, generator: torch.Generator) -> torch.Tensor:
    """Per-image contrast and brightness changes on normalised images."""
    if not strength:
        return x
    n = len(x)
    shape = (n, 1, 1, 1)
    contrast = 1 + strength * (2 * torch.rand(shape, generator=generator, device=x.device) - 1)
    brightness = strength * (2 * torch.rand(shape, generator=generator, device=x.device) - 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * contrast + mean + brightness


def _feature_width(encoder: nn.Module, size: int, device: torch.device) -> int:
    was_training = encoder.training
    encoder.eval()
    with torch.no_grad():
        width = encoder(torch.zeros(2, 1, size, size, device=device)).shape[1]
    encoder.train(was_training)
    return int(width)


def pretrain(train: Split, config: PretrainConfig, progress: bool = True) -> tuple[nn.Module, list[dict[str, float]]]:
    """SimCLR on ``train.images`` (labels are not read). Returns ``(backbone, history)``."""
    seed_everything(config.seed)
    device = resolve_device(config.device)
    encoder = backbone(build_model(config.model, stem=config.stem)).to(device)
    size = config.input_size or config.image_size
    model = SimCLR(encoder, _feature_width(encoder, size, device), config.projection_dim).to(device)
    formats = choose_formats(device, config.train_config())
    channels_last = formats["memory_format"] == "channels_last"
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    unlabeled = Split(train.images, np.zeros(len(train), np.int64))
    views = DeviceBatches(unlabeled, device, config.norm_mean, config.norm_std, config.input_size, SSL_AUGMENT,
                          channels_last=channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay,
                                  fused=fused_optimizer(device))
    steps = config.epochs * (len(unlabeled) // config.batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, steps))
    generator = torch.Generator(device=device).manual_seed(config.seed)
    history = []
    for epoch in tqdm(range(1, config.epochs + 1), desc="SimCLR", unit="epoch", disable=not progress, leave=False):
        start, total, count = time.perf_counter(), 0.0, 0
        model.train()
        order = torch.randperm(len(unlabeled), generator=generator, device=device)
        for first in range(0, len(order) - config.batch_size + 1, config.batch_size):  # full batches only
            images = views.images[order[first: first + config.batch_size]]
            x1 = _jitter(views.transform(images, generator, augment=True), config.jitter, generator)
            x2 = _jitter(views.transform(images, generator, augment=True), config.jitter, generator)
            flush_denormals(device)
            with autocast(device, formats["bf16"]):
                z1, z2 = model(x1), model(x2)
            loss = nt_xent(z1.float(), z2.float(), config.temperature)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += float(loss.detach()) * len(images)
            count += len(images)
        history.append({"epoch": epoch, "loss": total / max(count, 1), "seconds": time.perf_counter() - start,
                        "bf16": formats["bf16"], "memory_format": formats["memory_format"]})
    return encoder.eval(), history


def load_or_pretrain(config: PretrainConfig, train: Split, path: str | os.PathLike, provenance: dict[str, Any],
                     progress: bool = True) -> tuple[str, str]:
    """An ``ssl:<path>`` source for ``config`` on these images: reused when ``path`` (its weights, or
    only its committed description, :func:`~pneumolib.models.pretrained.ssl_description_path`)
    describes exactly this pretraining (config and data provenance), else pretrained now and saved
    there. Weights that are only described are pretrained when a run must train from them
    (:func:`ensure_ssl_weights`), so rendering stored runs never pretrains.
    Returns ``(source, how)``: the source names the file relative to the project (``results/...``)
    so that configs saved with results carry no machine-specific path; ``how`` reads the same
    whether the weights were made now or earlier (the loss of the described pretraining)."""
    path = Path(path)
    source = f"{SSL_PREFIX}{display_path(path)}"
    description = read_ssl_description(path)
    if description is None:  # a render or a custom run: the reference's description serves, copied here
        description = _copy_reference_description(path)
    if description is not None and _describes(description, config, provenance):
        return source, _account(path, description)
    pretrained_now = "pretrained now, " if description is None else "pretrained now (the saved one differs), "
    encoder, history = pretrain(train, config, progress=progress)
    save_ssl_checkpoint(path, encoder, config, history, provenance)
    return source, pretrained_now + _account(path, read_ssl_description(path))


def _copy_reference_description(path: Path) -> dict[str, Any] | None:
    """The description of ``path`` in the reference results (:func:`pneumolib.paths.reference_counterpart`),
    copied beside ``path``; None when the reference has none."""
    counterpart = reference_counterpart(ssl_description_path(path))
    if counterpart is None:
        return None
    target = ssl_description_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(counterpart.read_bytes())
    return read_ssl_description(path)


def _describes(description: dict[str, Any], config: PretrainConfig, provenance: dict[str, Any]) -> bool:
    same_config = {**description["config"], "device": "auto"} == json.loads(json.dumps({**asdict(config), "device": "auto"}))
    return same_config and description.get("provenance") == json.loads(json.dumps(provenance))


def _account(path: Path, description: dict[str, Any]) -> str:
    history = description.get("history") or [{"loss": float("nan")}]
    return (f"{path.stem}: SimCLR, {len(history)} epochs, loss {history[0]['loss']:.3f} -> {history[-1]['loss']:.3f}")


def ensure_ssl_weights(source: str | None, train: Split, provenance: dict[str, Any], progress: bool = False) -> None:
    """Make the weights of an ``ssl:`` source that is only described (a fresh clone of the reference)
    before a run trains from them: the described pretraining, run now on ``train``. The description
    stays as committed; the weights get a history of their own."""
    path = ssl_checkpoint_path(source)
    if path is None or path.is_file():
        return
    description = read_ssl_description(path)
    if description is None:
        load_ssl_checkpoint(path)  # the clear "does not exist, make it with ..." error
    if description.get("provenance") != json.loads(json.dumps(provenance)):
        raise CheckpointError(f"{display_path(path)} describes a pretraining on other data "
                              f"({description.get('provenance')}); pretrain again for this data.")
    config = PretrainConfig(**description["config"])
    encoder, history = pretrain(train, config, progress=progress)
    save_ssl_checkpoint(path, encoder, config, history, provenance, describe=False)
