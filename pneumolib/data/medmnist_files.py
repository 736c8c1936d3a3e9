"""Locating, downloading and validating PneumoniaMNIST files, and loading them through medmnist."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from ..config import IMAGE_SIZES
from ..paths import project_root
from ..errors import DatasetCorruptError, DatasetNotFoundError
from .core import SPLITS, PneumoniaData, Split

FLAG = "pneumoniamnist"
DATA_ENV_VAR = "PNEUMOLIB_DATA"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data folder: the argument, then ``$PNEUMOLIB_DATA``, then the project's ``data/``."""
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir).expanduser()
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        return Path(env).expanduser()
    return project_root() / "data"


def npz_filename(size: int) -> str:
    """MedMNIST's file name for a size: ``pneumoniamnist.npz`` at 28, ``pneumoniamnist_64.npz`` ..."""
    if size not in IMAGE_SIZES:
        raise ValueError(f"PneumoniaMNIST comes in sizes {list(IMAGE_SIZES)}, not {size}.")
    return f"{FLAG}.npz" if size == 28 else f"{FLAG}_{size}.npz"


def _missing_message(path: Path, size: int, download_error: str | None) -> str:
    from medmnist import INFO

    key = "" if size == 28 else f"_{size}"
    url = INFO[FLAG][f"url{key}"]
    md5 = INFO[FLAG][f"MD5{key}"]
    lines = [f"PneumoniaMNIST file '{path.name}' not found in folder '{path.parent}'."]
    if download_error:
        lines.append(f"Automatic download failed ({download_error}).")
    lines += [
        "To fix it, do one of:",
        f"  - copy {path.name} into that folder (official file: {url}, MD5 {md5});",
        f"  - point --data-dir or ${DATA_ENV_VAR} at a folder that holds it;",
        f"  - on a machine with network: python -m pneumolib download --size {size} --data-dir {path.parent}",
    ]
    return "\n".join(lines)


def download_pneumoniamnist(size: int = 28, data_dir: str | os.PathLike | None = None) -> Path:
    """Download one PneumoniaMNIST file with medmnist (needs network). Returns its path."""
    import medmnist

    folder = resolve_data_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / npz_filename(size)
    try:
        medmnist.PneumoniaMNIST(split="train", root=str(folder), download=True, size=size)
    except Exception as exc:  # medmnist wraps every failure in a bare RuntimeError
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatasetNotFoundError(_missing_message(path, size, reason)) from None
    return path


def validate_npz(path: Path, size: int) -> None:
    """Raise :class:`DatasetCorruptError` unless ``path`` is a readable PneumoniaMNIST file of ``size``."""
    try:
        with np.load(path) as npz:
            keys = set(npz.files)
            expected = {f"{s}_{kind}" for s in SPLITS for kind in ("images", "labels")}
            missing = sorted(expected - keys)
            if missing:
                raise DatasetCorruptError(
                    f"'{path}' is not a PneumoniaMNIST file: it lacks the arrays {missing} "
                    f"(it has {sorted(keys)}). Replace it with the official {path.name}."
                )
            for split in SPLITS:
                images, labels = npz[f"{split}_images"], npz[f"{split}_labels"]
                _check_split_arrays(path, split, images, labels, size)
    except DatasetCorruptError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise DatasetCorruptError(
            f"'{path}' cannot be read as a .npz archive ({type(exc).__name__}: {exc}). "
            f"The file is damaged or incomplete: delete it and copy or download {path.name} again."
        ) from None


def _check_split_arrays(path: Path, split: str, images: np.ndarray, labels: np.ndarray, size: int) -> None:
    where = f"'{path}' [{split}]"
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (size, size):
        raise DatasetCorruptError(
            f"{where}: expected uint8 images of shape (N, {size}, {size}), got {images.dtype} "
            f"{images.shape}. Is this the file for another size or another MedMNIST dataset?"
        )
    flat = labels.reshape(len(labels), -1) if labels.ndim == 2 else labels
    if flat.ndim != 1 and flat.shape[1:] != (1,):
        raise DatasetCorruptError(f"{where}: expected labels of shape (N, 1), got {labels.shape}.")
    if len(flat) != len(images):
        raise DatasetCorruptError(f"{where}: {len(images)} images but {len(flat)} labels.")
    values = set(np.unique(flat).tolist())
    if not values <= {0, 1}:
        raise DatasetCorruptError(f"{where}: labels must be 0 (normal) or 1 (pneumonia), found {sorted(values)}.")


def load_pneumoniamnist(
    size: int = 28,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
) -> PneumoniaData:
    """Load PneumoniaMNIST (official train/val/test splits) at ``size`` px through medmnist.

    A missing file is downloaded when ``download`` is true and the network allows it;
    otherwise the error names the exact file, the folder, and how to fill it.
    """
    import medmnist

    folder = resolve_data_dir(data_dir)
    path = folder / npz_filename(size)
    if not path.is_file():
        if not download:
            raise DatasetNotFoundError(_missing_message(path, size, None))
        download_pneumoniamnist(size, folder)
    validate_npz(path, size)
    splits = {}
    for split in SPLITS:
        ds = medmnist.PneumoniaMNIST(split=split, root=str(folder), download=False, size=size)
        splits[split] = Split(np.ascontiguousarray(ds.imgs), ds.labels.reshape(-1).astype(np.int64))
    return PneumoniaData(**splits, image_size=size, source=f"medmnist:{path.name}")
