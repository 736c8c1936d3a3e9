"""Models by name: a small CNN and ResNet-18/34/50, 1-channel input, heads, freezing, weights.

Every model returns one logit per image (shape ``(N, 1)``) and keeps its classifier head at
``model.fc``, as torchvision's ResNets do, so that heads and freezing work the same for all.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn
from torchvision import models as tv_models

from ..config import FREEZE_POLICIES, MODEL_NAMES, TrainConfig
from ..errors import ConfigError, PretrainedWeightsUnavailableError
from .checkpoint import load_checkpoint, load_weights
from .pretrained import SSL_PREFIX, imagenet_state_dict, load_ssl_backbone, local_state_dict

_RESNETS = {"resnet18": tv_models.resnet18, "resnet34": tv_models.resnet34, "resnet50": tv_models.resnet50}


SMALL_CNN_HEAD = ((256,), (0.5, 0.0))  # the small CNN's default head: hidden units, dropout rates


def build_head(
    in_features: int, hidden: Sequence[int] = (), dropout: Sequence[float] | None = None
) -> nn.Sequential:
    """Linear head (``hidden=()``) or an MLP ``in -> hidden... -> 1``; ``dropout[i]`` precedes linear ``i``.

    Example: ``build_head(512, hidden=(256,), dropout=(0.5, 0.3))`` is 512 -> 256 -> 1.
    ``dropout=None`` means no dropout.
    """
    dropout = [0.0] * (len(hidden) + 1) if dropout is None else list(dropout)
    if len(dropout) != len(hidden) + 1:
        raise ConfigError(f"head needs {len(hidden) + 1} dropout rates for hidden={list(hidden)}, got {list(dropout)}.")
    layers: list[nn.Module] = []
    width = in_features
    for out, p in zip(list(hidden) + [1], dropout):
        if p > 0:
            layers.append(nn.Dropout(p))
        layers.append(nn.Linear(width, out))
        if out != 1:
            layers.append(nn.ReLU(inplace=True))
        width = out
    return nn.Sequential(*layers)


def _conv_block(cin: int, cout: int, dropout: float, batch_norm: bool = True) -> nn.Sequential:
    def norm() -> nn.Module:
        return nn.BatchNorm2d(cout) if batch_norm else nn.Identity()

    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=not batch_norm),
        norm(),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=not batch_norm),
        norm(),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Dropout2d(dropout) if dropout > 0 else nn.Identity(),
    )


class SmallCNN(nn.Module):
    """Three conv blocks (32/64/128 channels, BN, dropout) and a 2-layer head: about 0.6M parameters."""

    def __init__(
        self,
        in_channels: int = 1,
        block_dropout: float = 0.1,
        head_hidden: Sequence[int] = (256,),
        head_dropout: Sequence[float] | None = (0.5, 0.0),
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        self.layer1 = _conv_block(in_channels, 32, block_dropout, batch_norm)
        self.layer2 = _conv_block(32, 64, block_dropout, batch_norm)
        self.layer3 = _conv_block(64, 128, block_dropout, batch_norm)
        self.pool = nn.AdaptiveAvgPool2d(3)  # any input size >= 8 px gives 128*3*3 features
        self.fc = build_head(128 * 9, head_hidden, head_dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


def adapt_input_channels(conv: nn.Conv2d, in_channels: int) -> nn.Conv2d:
    """A copy of ``conv`` taking ``in_channels`` inputs.

    For 1 channel the RGB kernels are summed, so a grey image replicated to RGB gives the
    same response and the ImageNet filters are kept.
    """
    if conv.in_channels == in_channels:
        return conv
    new = nn.Conv2d(
        in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, bias=conv.bias is not None
    )
    with torch.no_grad():
        if in_channels == 1:
            new.weight.copy_(conv.weight.sum(dim=1, keepdim=True))
        else:
            mean = conv.weight.mean(dim=1, keepdim=True)
            new.weight.copy_(mean.repeat(1, in_channels, 1, 1) * conv.in_channels / in_channels)
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    return new


def _build_resnet(
    name: str, pretrained: str | None, in_channels: int, stem: str, head_hidden, head_dropout
) -> nn.Module:
    factory = _RESNETS[name]
    model = factory(weights=None)
    if pretrained:
        state = imagenet_state_dict(name) if pretrained == "imagenet" else local_state_dict(Path(pretrained))
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise PretrainedWeightsUnavailableError(
                f"The weights given by pretrained={pretrained!r} do not fit torchvision's {name}: "
                f"{str(exc).splitlines()[0]}"
            ) from None
    if stem == "small":
        model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    else:
        model.conv1 = adapt_input_channels(model.conv1, in_channels)
    model.fc = build_head(model.fc.in_features, head_hidden, head_dropout)
    return model


def build_model(
    name: str,
    pretrained: str | None = None,
    in_channels: int = 1,
    head_hidden: Sequence[int] | None = None,
    head_dropout: Sequence[float] | None = None,
    freeze: str = "none",
    stem: str = "standard",
    batch_norm: bool = True,
) -> nn.Module:
    """Build a model by name; see :data:`pneumolib.config.MODEL_NAMES`.

    ``pretrained``: None (scratch), ``"imagenet"`` (torchvision weights API), a path to a
    torchvision state dict, or ``"ssl:<checkpoint>"`` (a backbone from ``python -m pneumolib
    pretrain``; any model, the head stays new). ``stem="small"`` swaps a ResNet's 7x7/2 conv and max-pool for a
    3x3/1 conv, as MedMNIST's ResNet does at 28 px. ``head_hidden``/``head_dropout`` configure
    the head (defaults: linear for ResNets, 256-unit MLP for ``small_cnn``). ``batch_norm=False``
    builds the small CNN without BatchNorm (for ablations; ResNets always have it).
    """
    if name not in MODEL_NAMES:
        raise ConfigError(f"Unknown model {name!r}; choose one of {list(MODEL_NAMES)}.")
    if pretrained and pretrained.startswith(SSL_PREFIX):  # in-domain self-supervised backbone
        model = build_model(name, None, in_channels, head_hidden, head_dropout, "none", stem, batch_norm)
        load_ssl_backbone(model, name, stem, pretrained)
        return apply_freeze(model, freeze)
    if name == "small_cnn":
        if pretrained:
            raise ConfigError("small_cnn has no ImageNet weights; use pretrained=None, 'ssl:<checkpoint>' or a ResNet.")
        head_hidden, head_dropout = effective_head(name, head_hidden, head_dropout)
        model = SmallCNN(in_channels, head_hidden=head_hidden, head_dropout=head_dropout, batch_norm=batch_norm)
    elif not batch_norm:
        raise ConfigError(f"batch_norm=False is only available for small_cnn, not {name!r}.")
    else:
        model = _build_resnet(name, pretrained, in_channels, stem, head_hidden or (), head_dropout)
    apply_freeze(model, freeze)
    return model


def effective_head(name: str, head_hidden: tuple[int, ...] | None,
                   head_dropout: tuple[float, ...] | None) -> tuple[tuple[int, ...] | None, tuple[float, ...] | None]:
    """The head a model is built with: the small CNN's ``None`` means its default head
    (:data:`SMALL_CNN_HEAD`, 256 units with dropout 0.5); other models keep what they are given."""
    if name == "small_cnn" and head_hidden is None:
        return SMALL_CNN_HEAD[0], SMALL_CNN_HEAD[1] if head_dropout is None else head_dropout
    return head_hidden, head_dropout


def build_model_from_config(config: TrainConfig) -> nn.Module:
    """:func:`build_model` with the settings of a :class:`TrainConfig`."""
    return build_model(
        config.model,
        pretrained=config.pretrained,
        head_hidden=config.head_hidden,
        head_dropout=config.head_dropout,
        freeze=config.freeze,
        stem=config.stem,
        batch_norm=config.batch_norm,
    )


def _frozen_prefixes(model: nn.Module, policy: str) -> list[str]:
    if policy == "none":
        return []
    if policy == "backbone":
        return [name for name, _ in model.named_children() if name != "fc"]
    last = {"up_to_layer2": 2, "up_to_layer3": 3}[policy]
    stem = [n for n in ("conv1", "bn1") if hasattr(model, n)]
    return stem + [f"layer{i}" for i in range(1, last + 1)]


def apply_freeze(model: nn.Module, policy: str) -> nn.Module:
    """Set ``requires_grad`` by policy: none, backbone (all but ``fc``), up_to_layer2, up_to_layer3."""
    if policy not in FREEZE_POLICIES:
        raise ConfigError(f"Unknown freeze policy {policy!r}; choose one of {list(FREEZE_POLICIES)}.")
    prefixes = _frozen_prefixes(model, policy)
    for name, param in model.named_parameters():
        param.requires_grad = not any(name == p or name.startswith(p + ".") for p in prefixes)
    return model


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (optionally only those with ``requires_grad``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def load_model(path: str | os.PathLike) -> tuple[nn.Module, TrainConfig, dict[str, Any]]:
    """Rebuild the model a checkpoint describes and load its weights: ``(model, config, payload)``."""
    payload = load_checkpoint(path)
    config = TrainConfig.from_dict(payload["config"])
    # The weights come from the checkpoint: never fetch the pretrained source again.
    model = build_model_from_config(dataclasses.replace(config, pretrained=None))
    load_weights(model, payload, config.model)
    model.eval()
    return model, config, payload
