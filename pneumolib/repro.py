"""Seeds and the package versions recorded next to every result."""

from __future__ import annotations

import platform
import random
from importlib import metadata

import numpy as np
import torch

RECORDED_PACKAGES = ("torch", "torchvision", "numpy", "scikit-learn", "medmnist", "pandas", "pneumolib")


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and torch; on CPU this makes a run bit-for-bit repeatable."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages that determine results."""
    versions = {"python": platform.python_version()}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
