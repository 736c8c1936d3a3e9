"""Exceptions with messages that say what was wrong and how to fix it.

Each one subclasses a built-in exception (``FileNotFoundError``, ``ValueError``, ...) so
that generic ``except`` clauses keep working.
"""

from __future__ import annotations


class PneumolibError(Exception):
    """Base class of every error pneumolib raises on purpose."""

    def _render_traceback_(self) -> list[str]:
        """IPython/Jupyter show these errors as their message alone, without a traceback."""
        return [f"{type(self).__name__}: {self}"]


class DatasetNotFoundError(PneumolibError, FileNotFoundError):
    """A dataset file or folder is missing."""


class DatasetCorruptError(PneumolibError, ValueError):
    """A dataset file exists but cannot be read, or has the wrong content."""


class PretrainedWeightsUnavailableError(PneumolibError, FileNotFoundError):
    """ImageNet (or other) weights were asked for but cannot be obtained."""


class CheckpointError(PneumolibError, ValueError):
    """A checkpoint cannot be loaded: not a checkpoint, unsafe, or for another model."""


class DeviceUnavailableError(PneumolibError, RuntimeError):
    """The requested device (for example ``cuda``) is not available."""


class ConfigError(PneumolibError, ValueError):
    """A configuration value (or notebook parameter) is invalid."""


class ReferenceChangedError(PneumolibError, RuntimeError):
    """A command would replace reference results (another machine's, or another precision's) with
    its own, or a reference file does not match its checksum."""
