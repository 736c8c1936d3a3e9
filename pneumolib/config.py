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
INTENSITY_PRESETS = ("none", "robust")
MONITORS = ("val_auc", "val_loss", "val_balanced_accuracy")
DEVICES = ("auto", "cpu", "cuda")
DATA_PATHS = ("auto", "fast", "reference")
AMP_MODES = ("auto", "off", "bf16")
MEMORY_FORMATS = ("auto", "channels_last", "contiguous")


_NO_OFF_VALUE = object()


def option(default: Any, help: str, group: str, choices: tuple | None = None, off: Any = _NO_OFF_VALUE) -> Any:
    """A :class:`TrainConfig` field with what the command line needs: help text, group, choices.

    ``python -m pneumolib train`` builds one flag per field from this, so the dataclass is the only
    place where an option, its default, its allowed values and its meaning are written down.
    ``off`` is the value at which the option does nothing; a run with the option off leaves it out
    of its identity, so adding such an option later does not rename the runs already stored.
    """
    metadata = {"help": help, "group": group, "choices": choices}
    if off is not _NO_OFF_VALUE:
        metadata["off"] = off
    return field(default=default, metadata=metadata)


@dataclass
class TrainConfig:
    """Everything that determines a training run. Validated once, on construction.

    ``image_size`` selects the data file (28, 64, 128 or 224 px); ``input_size``, when set,
    upsamples to a larger model input explicitly (for example 28 px data into a 224 px model).
    """

    model: str = option("resnet18", "architecture", "model", MODEL_NAMES)
    pretrained: str | None = option(
        None, "none, imagenet, a path to a torchvision state dict, or ssl:<checkpoint> from `pretrain`", "model")
    stem: str = option("standard", "ResNet stem: standard, or small (3x3 stride 1, no max-pool, for 28 px)", "model", STEMS)
    head_hidden: tuple[int, ...] | None = option(
        None, "hidden widths of the MLP head, e.g. 256 or 512,256; none = the model's own head", "model")
    head_dropout: tuple[float, ...] | None = option(
        None, "dropout before each linear layer of the head, e.g. 0.5,0.3,0; none = no dropout", "model")
    freeze: str = option("none", "which layers to freeze", "model", FREEZE_POLICIES)
    batch_norm: bool = option(True, "small_cnn only: false removes its BatchNorm layers (an ablation)", "model")
    head_epochs: int = option(0, "two-stage fine-tuning: first train only the head for this many epochs; 0 = off",
                              "model", off=0)
    head_lr: float | None = option(None, "learning rate of the head-only stage; none = 10 x lr", "model", off=None)
    image_size: int = option(28, "which PneumoniaMNIST file to load (px)", "data", IMAGE_SIZES)
    input_size: int | None = option(None, "upsample to this model input size (px); none = image size", "data")
    augment: str = option("light", "augmentation preset for training images", "data", AUGMENT_PRESETS)
    hflip: bool = option(False, "also flip training images horizontally (mirrors the anatomy; no preset does)",
                         "data", off=False)
    intensity: str = option("none", "photometric augmentation preset: gamma, contrast, brightness, blur and noise",
                            "data", INTENSITY_PRESETS, off="none")
    sampler: str = option("shuffle", "shuffle, or class-balanced sampling", "data", SAMPLERS)
    data_path: str = option(
        "auto", "auto/fast: device-resident batches with on-device augmentation; reference: DataLoader + "
        "per-image transforms, fp32", "data", DATA_PATHS)
    num_workers: int = option(0, "DataLoader worker processes (reference data path only)", "data")
    norm_mean: float = option(0.5, "input normalisation mean (pixels scaled to [0, 1] first)", "data")
    norm_std: float = option(0.5, "input normalisation standard deviation", "data")
    epochs: int = option(10, "training epochs", "optimisation")
    batch_size: int = option(64, "batch size", "optimisation")
    lr: float = option(1e-3, "learning rate", "optimisation")
    optimizer: str = option("adam", "optimiser", "optimisation", OPTIMIZERS)
    weight_decay: float = option(0.0, "weight decay", "optimisation")
    momentum: float = option(0.9, "SGD momentum", "optimisation")
    scheduler: str = option("cosine", "learning-rate schedule (per epoch)", "optimisation", SCHEDULERS)
    step_size: int = option(5, "step scheduler: epochs between decays", "optimisation")
    gamma: float = option(0.1, "step/plateau scheduler: decay factor", "optimisation")
    grad_clip: float | None = option(None, "clip the gradient norm to this value; none = off", "optimisation", off=None)
    class_weighting: str = option("none", "pos_weight = n_normal/n_pneumonia in the BCE loss", "optimisation",
                                  CLASS_WEIGHTING)
    label_smoothing: float = option(0.0, "binary label smoothing epsilon, in [0, 0.5)", "optimisation",
                                   off=0.0)
    mixup_alpha: float = option(0.0, "mixup of batch pairs, Beta(alpha, alpha); 0 = off", "optimisation", off=0.0)
    cutmix_alpha: float = option(0.0, "CutMix, Beta(alpha, alpha); 0 = off (with mixup, each batch uses one)",
                                 "optimisation", off=0.0)
    ema_decay: float | None = option(None, "validate and keep an EMA of the weights (e.g. 0.99); none = off",
                                     "optimisation", off=None)
    warmup_epochs: int = option(0, "linear learning-rate warm-up epochs before the schedule (cosine or none)",
                                "optimisation", off=0)
    distill_weight: float = option(0.0, "weight of a teacher's probabilities in the targets (needs a teacher)",
                                   "optimisation", off=0.0)
    monitor: str = option("val_auc", "val metric for epoch selection and early stopping", "optimisation", MONITORS)
    patience: int | None = option(None, "early-stopping patience in epochs; none = off", "optimisation", off=None)
    amp: str = option("auto", "bf16 autocast; auto = on CUDA; on a CPU with native bf16; without native bf16 from "
                      "128 px (a rule, never a timing: see pneumolib.models.formats)",
                      "run", AMP_MODES)
    memory_format: str = option(
        "auto", "channels_last or contiguous; auto = channels_last, except ResNets below 64 px on a CPU "
        "(fast data path only)", "run", MEMORY_FORMATS, off="auto")
    device: str = option("auto", "auto picks CUDA when available; cuda without a GPU is an error", "run", DEVICES)
    seed: int = option(0, "random seed (recorded with the results)", "run")
    extra: dict[str, Any] = field(default_factory=dict, metadata={"help": "free-form notes kept with the config"})

    def __post_init__(self) -> None:
        if self.head_hidden is not None:
            self.head_hidden = tuple(int(h) for h in self.head_hidden)
        if self.head_dropout is not None:
            self.head_dropout = tuple(float(d) for d in self.head_dropout)
        for option_field in dataclasses.fields(self):
            allowed = option_field.metadata.get("choices")
            if allowed is not None:
                _choice(option_field.name, getattr(self, option_field.name), allowed)
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
        if isinstance(self.head_epochs, bool) or not isinstance(self.head_epochs, int) or self.head_epochs < 0:
            raise ConfigError(f"head_epochs must be an integer >= 0, got {self.head_epochs!r}.")
        if self.head_epochs and self.head_epochs >= self.epochs:
            raise ConfigError(f"head_epochs={self.head_epochs} must be smaller than epochs={self.epochs}: the second "
                              "stage fine-tunes everything for the remaining epochs.")
        if self.head_lr is not None:
            _positive("head_lr", self.head_lr)
            if not self.head_epochs:
                raise ConfigError("head_lr is the learning rate of the head-only stage; set head_epochs too, or drop it.")
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

    def identity_dict(self) -> dict[str, Any]:
        """The options that make a run this run: all but the device it ran on and options left off."""
        values = self.to_dict()
        for f in dataclasses.fields(self):
            if f.name == "device" or ("off" in f.metadata and values[f.name] == f.metadata["off"]):
                values.pop(f.name)
        return values

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


def train_option(name: str, default: Any = _NO_OFF_VALUE) -> Any:
    """A field of another config (:class:`~pneumolib.training.ssl.PretrainConfig`) that is
    :class:`TrainConfig`'s option ``name``: the same help, group and choices, the same default
    unless ``default`` is given, and the same checks (:func:`shared_train_config`)."""
    source = TrainConfig.__dataclass_fields__[name]
    return field(default=source.default if default is _NO_OFF_VALUE else default,
                 metadata={**source.metadata, "train_option": True})


def shared_train_config(config: Any) -> TrainConfig:
    """The :class:`TrainConfig` of another config's :func:`train_option` fields (the others at
    their defaults), validated by TrainConfig itself: one home for those checks."""
    return TrainConfig(**{f.name: getattr(config, f.name) for f in dataclasses.fields(config)
                          if f.metadata.get("train_option")})


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
