"""Reading any image a user may hand us into a uint8 grayscale array, safely. Needs no torch.

Accepted: a file path (PNG, JPEG, BMP, TIFF; 8- or 16-bit), a PIL image, or a numpy array
(H x W or H x W x C with C in 1/3/4; uint8, uint16 or float). Every rejection is an
:class:`ImageInputError` whose message says what was wrong and how to fix it. PIL's
decompression-bomb limit stays on.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import PneumolibError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
_ALPHA_MODES = {"RGBA", "LA", "PA", "La", "RGBa"}


class ImageInputError(PneumolibError, ValueError):
    """An input that cannot be read as a chest X-ray image."""


def center_crop_resize(image: Image.Image, size: int) -> np.ndarray:
    """Grayscale, center crop to square, resize to ``size``: uint8 (size, size), as MedMNIST did."""
    gray = image if image.mode == "L" else image.convert("L")
    w, h = gray.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    square = gray.crop((left, top, left + side, top + side))
    if square.size != (size, size):
        square = square.resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(square, dtype=np.uint8)


def _drop_opaque_alpha(image: Image.Image, name: str) -> Image.Image:
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode not in _ALPHA_MODES:
        return image
    alpha = np.asarray(image.getchannel("A"))
    if alpha.min() < 255:
        raise ImageInputError(
            f"{name}: the image has an alpha channel with transparent pixels; what lies under them is "
            "unknown. Flatten it onto a background first (e.g. Image.alpha_composite) and save it without alpha."
        )
    return image.convert("RGB" if image.mode.startswith("RGB") else "L")


def _to_gray_uint8(image: Image.Image, name: str) -> Image.Image:
    """8-bit grayscale, scaling 16-bit and float images to 0-255."""
    if image.width == 0 or image.height == 0:
        raise ImageInputError(f"{name}: the image is empty ({image.width}x{image.height} pixels).")
    image = _drop_opaque_alpha(image, name)
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        values = np.asarray(image, dtype=np.float64)
        if values.min() < 0 or values.max() > 65535:
            raise ImageInputError(f"{name}: integer pixel values outside 0-65535 (mode {image.mode}).")
        return Image.fromarray(np.round(values / 257.0).astype(np.uint8), mode="L")
    if image.mode == "F":
        return Image.fromarray(_float_to_uint8(np.asarray(image, dtype=np.float64), name), mode="L")
    return image if image.mode == "L" else image.convert("L")


def _float_to_uint8(values: np.ndarray, name: str) -> np.ndarray:
    if not np.isfinite(values).all():
        raise ImageInputError(f"{name}: the array holds NaN or infinite values; clean or mask them first.")
    low, high = float(values.min()), float(values.max())
    if low >= 0 and high <= 1:
        values = values * 255.0
    elif low < 0 or high > 255:
        raise ImageInputError(
            f"{name}: float pixel values span [{low:g}, {high:g}]; expected [0, 1] or [0, 255]. Rescale the image first."
        )
    return np.round(values).astype(np.uint8)


def _open_file(path: Path) -> Image.Image:
    name = str(path)
    if not path.exists():
        raise ImageInputError(f"{name}: no such file.")
    if path.is_dir():
        raise ImageInputError(f"{name}: is a folder; pass image files, or the folder to the command line.")
    if path.stat().st_size == 0:
        raise ImageInputError(f"{name}: the file is empty (0 bytes).")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as handle:
                handle.load()
                return handle.copy()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageInputError(
            f"{name}: the image is too large to open safely ({exc}). Downscale it before prediction."
        ) from None
    except UnidentifiedImageError:
        raise ImageInputError(f"{name}: not an image file that PIL can read (PNG, JPEG, BMP or TIFF expected).") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageInputError(f"{name}: the image file is damaged or truncated ({exc}).") from None


def _from_array(array: np.ndarray, name: str) -> Image.Image:
    if array.ndim == 3 and array.shape[-1] in (1, 3, 4):
        channels = array.shape[-1]
    elif array.ndim == 2:
        channels = 0
    else:
        raise ImageInputError(f"{name}: expected an array of shape HxW or HxWxC (C = 1, 3 or 4), got {array.shape}.")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageInputError(f"{name}: the image is empty ({array.shape[1]}x{array.shape[0]} pixels).")
    if array.dtype == np.uint8:
        data = array
    elif array.dtype == np.uint16:
        data = np.round(array / 257.0).astype(np.uint8)
    elif np.issubdtype(array.dtype, np.floating):
        data = _float_to_uint8(array.astype(np.float64), name)
    else:
        raise ImageInputError(f"{name}: unsupported array dtype {array.dtype}; use uint8, uint16 or float.")
    if channels == 1:
        data = data[..., 0]
    mode = {0: "L", 1: "L", 3: "RGB", 4: "RGBA"}[channels]
    return Image.fromarray(np.ascontiguousarray(data), mode=mode)


def read_image(source: Any, size: int, name: str | None = None) -> np.ndarray:
    """Any accepted input as a uint8 (size, size) grayscale image, center-cropped and resized."""
    if isinstance(source, (str, os.PathLike)):
        label = name or str(source)
        image = _open_file(Path(source))
    elif isinstance(source, Image.Image):
        label = name or "PIL image"
        image = source
    elif isinstance(source, np.ndarray):
        label = name or "array"
        image = _from_array(source, label)
    else:
        raise ImageInputError(
            f"{name or 'input'}: cannot read a {type(source).__name__}; pass a file path, a PIL image or a numpy array."
        )
    return center_crop_resize(_to_gray_uint8(image, label), size)


def find_images(paths: list[str | os.PathLike]) -> list[Path]:
    """Expand folders (recursively, image suffixes only, sorted) and keep files as given."""
    found: list[Path] = []
    for entry in map(Path, paths):
        if entry.is_dir():
            found += sorted(p for p in entry.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            found.append(entry)
    return found
