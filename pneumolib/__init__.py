"""pneumolib: pneumonia detection on chest X-rays (PneumoniaMNIST) for teaching and research.

Modules, in the order data flows: ``data`` -> ``models`` -> ``train`` -> ``metrics``.
``config`` holds the one typed run configuration; ``checkpoint`` saves and loads models.
"""

from ._torchvision_compat import ensure_torchvision_importable

ensure_torchvision_importable()  # must run before anything imports torchvision

from .config import TrainConfig  # noqa: E402
from .errors import (  # noqa: E402
    CheckpointError,
    ConfigError,
    DatasetCorruptError,
    DatasetNotFoundError,
    DeviceUnavailableError,
    PneumolibError,
    PretrainedWeightsUnavailableError,
)

__version__ = "0.1.0"

__all__ = [
    "CheckpointError", "ConfigError", "DatasetCorruptError", "DatasetNotFoundError",
    "DeviceUnavailableError", "PneumolibError", "PretrainedWeightsUnavailableError", "TrainConfig",
    "__version__",
]
