"""Choosing the compute device, with a clear error instead of a silent CPU run."""

from __future__ import annotations

import torch

from .errors import ConfigError, DeviceUnavailableError


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` picks CUDA when available, else CPU. ``cuda`` without a GPU is an error."""
    name = str(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
            raise DeviceUnavailableError(
                f"device={name!r} was requested but CUDA is not available (torch {torch.__version__}, {build}). "
                "Use device='cpu' or device='auto', or run on a machine with a GPU and a CUDA build of torch."
            )
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise ConfigError(f"device={name!r} is not valid; choose 'auto', 'cpu' or 'cuda'.")


def describe_device(device: torch.device) -> str:
    """A human-readable name, e.g. 'cpu (2 threads)' or 'cuda:0 (NVIDIA H100)'."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"
