"""Models: the zoo (a small CNN, ResNet-18/34/50 with 1-channel input, heads, freezing), pretrained
weights (ImageNet, a local state dict, in-domain SSL checkpoints), checkpoints, and ensembles.

Imports only the foundation modules and ``data``; nothing here trains.
"""

from .checkpoint import load_checkpoint, load_weights, save_checkpoint
from .ensemble import ProbabilityEnsemble, average_probabilities
from .pretrained import SSL_PREFIX
from .zoo import (
    SMALL_CNN_HEAD,
    SmallCNN,
    adapt_input_channels,
    apply_freeze,
    build_head,
    build_model,
    build_model_from_config,
    count_parameters,
    load_model,
)

__all__ = [
    "SMALL_CNN_HEAD", "SSL_PREFIX", "ProbabilityEnsemble", "SmallCNN", "adapt_input_channels", "apply_freeze",
    "average_probabilities", "build_head", "build_model", "build_model_from_config", "count_parameters",
    "load_checkpoint", "load_model", "load_weights", "save_checkpoint",
]
