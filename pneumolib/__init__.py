"""pneumolib: pneumonia detection on chest X-rays (PneumoniaMNIST) for teaching and research.

Sub-packages by stage, in the order data flows: ``data`` -> ``models`` -> ``training`` ->
``evaluation`` -> ``explain`` -> ``experiments`` -> ``deploy``, and ``notebooks`` for the notebooks'
helpers. ``config`` holds the one typed run configuration (see the README's Layout section).
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
