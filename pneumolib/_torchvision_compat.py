"""Make torchvision importable next to a CPU-only torch build.

The only torchvision wheel that matches ``torch==2.13.0`` on our machines is a CUDA
build. Its compiled extension (``torchvision/_C.so``) cannot load against a CPU-only
torch, and ``import torchvision`` then fails with
``RuntimeError: operator torchvision::nms does not exist`` because torchvision's meta
registrations refer to operators the extension would have defined.

:func:`ensure_torchvision_importable` defines just the schemas of those operators
(``nms`` and ``qnms``) so that the import succeeds. Models and ``transforms.v2`` then
work; ``torchvision.ops.nms`` and ``torchvision.io`` do not (PIL reads our images).

It does nothing when torchvision is already imported, is not installed, or when its own
extension loads (any normal CPU or CUDA install). Without torchvision it does not import torch
either, so a torch-free install (ONNX inference) stays torch-free. It must run before the first
``import torchvision``; ``pneumolib/__init__.py`` calls it first thing.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

_OPERATOR_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_fragment: Any = None  # the torch.library.Library holding the schemas, kept alive with the module


def _extension_loads(package_dir: Path) -> bool:
    """True when torchvision's compiled extension loads against this torch."""
    import torch

    candidates = sorted(package_dir.glob("_C*.so")) + sorted(package_dir.glob("_C*.pyd"))
    if not candidates:
        return False
    try:
        torch.ops.load_library(str(candidates[0]))
    except (OSError, RuntimeError):
        return False
    return True


def ensure_torchvision_importable() -> bool:
    """Define the missing torchvision operator schemas if, and only if, they are needed.

    Returns True when the schemas were defined by this call, False when nothing was done.
    """
    global _fragment
    if "torchvision" in sys.modules or _fragment is not None:
        return False
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return False
    try:
        import torch
    except ImportError:  # torchvision without torch cannot work anyway; nothing to fix
        return False
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    if _extension_loads(package_dir):
        return False

    fragment = torch.library.Library("torchvision", "FRAGMENT")
    for schema in _OPERATOR_SCHEMAS.values():
        fragment.define(schema)
    _fragment = fragment
    return True
