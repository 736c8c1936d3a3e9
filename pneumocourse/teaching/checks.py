"""What the notebooks' exercise tests compare with: a student's return value converted to a builtin
type (``float``, ``int``, ``bool``, ``dict``, a plain ``numpy`` array) before any comparison, so an object
that claims to equal anything, or a subclass with its own ``__eq__``, ``__sub__`` or
``__torch_function__``, is refused with a line that says what to return.

Test cells import these names inside the cell (``from pneumocourse.teaching.checks import ...``), so
a student's cell that rebinds a name (``abs = ...``, ``isinstance = ...``) cannot change what a
test calls. Patching this module or a library from a student's cell is flagged by
:mod:`~pneumocourse.teaching.integrity`.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

_FLOATS = (float, np.float16, np.float32, np.float64)
_INTS = (int, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64)


def _kind(value: Any) -> str:
    return type(value).__name__


def as_float(value: Any, what: str = "the result") -> float:
    """``value`` as a builtin float: a Python or numpy float or int of exactly that type (no
    subclass); anything else fails with what to return."""
    if type(value) not in _FLOATS + _INTS:
        raise AssertionError(f"{what}: return a float, got {_kind(value)}")
    return float(value)


def as_int(value: Any, what: str = "the result") -> int:
    """``value`` as a builtin int: a Python or numpy integer of exactly that type (not a bool)."""
    if type(value) not in _INTS:
        raise AssertionError(f"{what}: return an int, got {_kind(value)}")
    return int(value)


def as_bool(value: Any, what: str = "the result") -> bool:
    """``value`` as a builtin bool: ``True``/``False`` or a numpy bool (not 0 or 1, not a truthy object)."""
    if type(value) not in (bool, np.bool_):
        raise AssertionError(f"{what}: return True or False, got {_kind(value)}")
    return bool(value)


def as_array(value: Any, what: str = "the result", dtype: type = np.float64) -> np.ndarray:
    """A fresh plain ``numpy`` array of ``value``: a ``numpy.ndarray`` or a ``torch.Tensor`` of
    exactly that type (a subclass is refused), copied into ``dtype``."""
    if type(value) is np.ndarray:
        return np.array(value, dtype=dtype, copy=True)
    import torch

    if type(value) in (torch.Tensor, torch.nn.Parameter):
        return np.array(value.detach().to("cpu", torch.float64).numpy(), dtype=dtype, copy=True)
    raise AssertionError(f"{what}: return a numpy array, got {_kind(value)}")


def as_float_dict(value: Any, keys: Iterable[str], what: str = "the result") -> dict[str, float]:
    """A builtin ``dict`` with exactly ``keys`` (strings), each value a builtin float."""
    if type(value) is not dict:
        raise AssertionError(f"{what}: return a dict, got {_kind(value)}")
    wanted = sorted(keys)
    got = sorted(k if type(k) is str else repr(k) for k in value)
    if got != wanted:
        raise AssertionError(f"{what}: the keys must be {wanted}, got {got}")
    return {str(k): as_float(v, f"{what}[{k!r}]") for k, v in value.items()}


def as_float_tuple(value: Any, length: int, what: str = "the result") -> tuple[float, ...]:
    """A builtin ``tuple`` of ``length`` builtin floats."""
    if type(value) is not tuple or len(value) != length:
        raise AssertionError(f"{what}: return a tuple of {length} floats, got {_kind(value)}")
    return tuple(as_float(v, f"{what}[{i}]") for i, v in enumerate(value))


def close(actual: float, expected: float, tol: float = 1e-12) -> bool:
    """Whether two builtin floats agree within ``tol`` (two nans agree; a nan and a number do not)."""
    actual, expected = float(actual), float(expected)
    if math.isnan(actual) or math.isnan(expected):
        return math.isnan(actual) and math.isnan(expected)
    return math.fabs(actual - expected) <= tol


def arrays_close(actual: np.ndarray, expected: Any, tol: float = 1e-6) -> bool:
    """Whether a plain array (from :func:`as_array`) has ``expected``'s shape and values within ``tol``."""
    expected = np.array(expected, dtype=np.float64, copy=True)
    return actual.shape == expected.shape and bool(np.allclose(actual, expected, atol=tol, rtol=0.0, equal_nan=True))


__all__ = ["arrays_close", "as_array", "as_float", "as_float_dict", "as_float_tuple", "as_int", "close"]
