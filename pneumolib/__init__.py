"""pneumolib: pneumonia detection on chest X-rays (PneumoniaMNIST) for teaching and research.

Sub-packages by stage, each importing only from those before it (``tests/test_layout.py``):
the foundation modules (``config``, the one typed run configuration; ``errors``, ``paths``,
``devices``, ``images``, ``repro``) -> ``data`` -> ``evaluation`` -> ``models`` -> ``training`` ->
``explain`` -> ``shift`` -> ``experiments`` -> ``deploy`` -> ``cli``. The notebooks' companions and
the course live apart, in ``pneumocourse`` (see the development guide's layout section).
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
