"""The one typed configuration of a training run, saved next to every result."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

MODEL_NAMES = ("small_cnn", "resnet18", "resnet34", "resnet50")
IMAGE_SIZES = (28, 64, 128, 224)
FREEZE_POLICIES = ("none", "backbone", "up_to_layer2", "up_to_layer3")
STEMS = ("standard", "small")
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULERS = ("none", "cosine", "step", "plateau")
CLASS_WEIGHTING = ("none", "pos_weight")
SAMPLERS = ("shuffle", "balanced")
AUGMENT_PRESETS = ("none", "light", "strong")
MONITORS = ("val_auc", "val_loss", "val_balanced_accuracy")
DEVICES = ("auto", "cpu", "cuda")
DATA_PATHS = ("auto", "fast", "reference")


@dataclass
class TrainConfig:
    """Everything that determines a training run. Validated on construction.

    ``image_size`` selects the data file (28, 64, 128 or 224 px); ``input_size``, when set,
    upsamples to a larger model input explicitly (for example 28 px data into a 224 px model).
    """

    model: str = "resnet18"
    pretrained: str | None = None  # None, "imagenet", or a path to a state dict
    stem: str = "standard"  # ResNets only: "small" = 3x3 stride-1 conv1, no max-pool (for 28 px)
    head_hidden: tuple[int, ...] | None = None  # None: the model's default head
    head_dropout: tuple[float, ...] | None = None  # one rate per linear layer; None: no dropout
    freeze: str = "none"
    batch_norm: bool = True  # small_cnn only: False removes its BatchNorm layers (an ablation)
    image_size: int = 28
    input_size: int | None = None
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    momentum: float = 0.9
    scheduler: str = "cosine"
    step_size: int = 5
    gamma: float = 0.1
    grad_clip: float | None = None
    class_weighting: str = "none"
    sampler: str = "shuffle"
    label_smoothing: float = 0.0
    augment: str = "light"
    mixup_alpha: float = 0.0  # Beta(alpha, alpha) mixup of batch pairs; 0 = off
    cutmix_alpha: float = 0.0  # Beta(alpha, alpha) CutMix; with mixup too, each batch uses one of the two
    ema_decay: float | None = None  # evaluate and keep an exponential moving average of the weights
    warmup_epochs: int = 0  # linear learning-rate warm-up before the schedule (cosine or none)
    distill_weight: float = 0.0  # weight of a teacher's probabilities in the targets (needs a teacher)
    monitor: str = "val_auc"
    patience: int | None = None
    amp: str = "auto"  # "auto" (bf16 on CUDA, and on CPU for large inputs), "off", "bf16"
    data_path: str = "auto"  # "auto"/"fast": device-resident batches; "reference": DataLoader + per-image transforms
    device: str = "auto"
    num_workers: int = 0
    seed: int = 0
    norm_mean: float = 0.5
    norm_std: float = 0.5
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.head_hidden is not None:
            self.head_hidden = tuple(int(h) for h in self.head_hidden)
        if self.head_dropout is not None:
            self.head_dropout = tuple(float(d) for d in self.head_dropout)
        _choice("model", self.model, MODEL_NAMES)
        _choice("stem", self.stem, STEMS)
        _choice("freeze", self.freeze, FREEZE_POLICIES)
        _choice("image_size", self.image_size, IMAGE_SIZES)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("scheduler", self.scheduler, SCHEDULERS)
        _choice("class_weighting", self.class_weighting, CLASS_WEIGHTING)
        _choice("sampler", self.sampler, SAMPLERS)
        _choice("augment", self.augment, AUGMENT_PRESETS)
        _choice("monitor", self.monitor, MONITORS)
        _choice("device", self.device, DEVICES)
        _choice("amp", self.amp, ("auto", "off", "bf16"))
        _choice("data_path", self.data_path, DATA_PATHS)
        _positive("epochs", self.epochs, integer=True)
        _positive("batch_size", self.batch_size, integer=True)
        _positive("lr", self.lr)
        _positive("norm_std", self.norm_std)
        _non_negative("weight_decay", self.weight_decay)
        _non_negative("num_workers", self.num_workers)
        if not self.batch_norm and self.model != "small_cnn":
            raise ConfigError(f"batch_norm=False is only available for small_cnn, not {self.model!r}.")
        if self.input_size is not None and self.input_size < self.image_size:
            raise ConfigError(
                f"input_size={self.input_size} is smaller than image_size={self.image_size}; "
                "input_size only upsamples. Load a smaller image_size instead."
            )
        if not 0.0 <= self.label_smoothing < 0.5:
            raise ConfigError(f"label_smoothing must be in [0, 0.5), got {self.label_smoothing}.")
        if self.grad_clip is not None:
            _positive("grad_clip", self.grad_clip)
        _non_negative("mixup_alpha", self.mixup_alpha)
        _non_negative("cutmix_alpha", self.cutmix_alpha)
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be in (0, 1) (e.g. 0.99), or None for no EMA; got {self.ema_decay!r}.")
        if isinstance(self.warmup_epochs, bool) or not isinstance(self.warmup_epochs, int) or self.warmup_epochs < 0:
            raise ConfigError(f"warmup_epochs must be an integer >= 0, got {self.warmup_epochs!r}.")
        if self.warmup_epochs and self.warmup_epochs >= self.epochs:
            raise ConfigError(f"warmup_epochs={self.warmup_epochs} leaves no epochs after warm-up (epochs={self.epochs}).")
        if self.warmup_epochs and self.scheduler not in ("cosine", "none"):
            raise ConfigError(f"warmup_epochs works with scheduler 'cosine' or 'none', not {self.scheduler!r}.")
        if not 0.0 <= self.distill_weight <= 1.0:
            raise ConfigError(f"distill_weight must be in [0, 1], got {self.distill_weight!r}.")
        if self.patience is not None:
            _positive("patience", self.patience, integer=True)
        if self.head_dropout is not None:
            n_linear = len(self.head_hidden or ()) + 1
            if len(self.head_dropout) != n_linear:
                raise ConfigError(
                    f"head_dropout needs one rate per linear layer of the head ({n_linear} for "
                    f"head_hidden={list(self.head_hidden or ())}), got {list(self.head_dropout)}."
                )
            if any(not 0.0 <= d < 1.0 for d in self.head_dropout):
                raise ConfigError(f"head_dropout rates must be in [0, 1), got {list(self.head_dropout)}.")

    @property
    def model_input_size(self) -> int:
        """The image size the model actually sees."""
        return self.input_size or self.image_size

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Rebuild a config, rejecting unknown keys by name."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"Unknown configuration keys {unknown}; known keys are {sorted(known)}.")
        return cls(**values)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")


def _choice(name: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not valid; choose one of {list(allowed)}.")


def _positive(name: str, value: Any, integer: bool = False) -> None:
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or not value > 0:
        what = "a positive integer" if integer else "a positive number"
        raise ConfigError(f"{name} must be {what}, got {value!r}.")


def _non_negative(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(f"{name} must be >= 0, got {value!r}.")
