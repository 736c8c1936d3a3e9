"""Folder datasets laid out as NORMAL/ and PNEUMONIA/ (as in the Kermany et al. release).

Accepted layouts (class folder names are case-insensitive)::

    root/NORMAL/*.jpeg, root/PNEUMONIA/*.jpeg                 -> seeded stratified train/val/test
    root/train/{NORMAL,PNEUMONIA}, root/test/..., [root/val/...]

Images are read with :func:`pneumolib.images.read_image`: grayscale, center-cropped to a
square and resized, which is how MedMNIST built PneumoniaMNIST from the same source images.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import DatasetCorruptError, DatasetNotFoundError
from ..images import IMAGE_SUFFIXES, ImageInputError, read_image
from .core import PneumoniaData, Split
from .splits import stratified_split

CLASS_DIRS = {"normal": 0, "pneumonia": 1}


def _class_dirs(folder: Path) -> dict[int, Path]:
    found = {}
    for child in folder.iterdir() if folder.is_dir() else []:
        label = CLASS_DIRS.get(child.name.lower())
        if child.is_dir() and label is not None:
            found[label] = child
    return found


def _read_class_folders(folder: Path, size: int) -> Split:
    dirs = _class_dirs(folder)
    if set(dirs) != {0, 1}:
        raise DatasetNotFoundError(
            f"'{folder}' must contain the subfolders NORMAL/ and PNEUMONIA/; found "
            f"{sorted(p.name for p in folder.iterdir() if p.is_dir())}."
        )
    images, labels = [], []
    for label, class_dir in sorted(dirs.items()):
        files = sorted(p for p in class_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DatasetNotFoundError(f"'{class_dir}' holds no images ({sorted(IMAGE_SUFFIXES)}).")
        for path in files:
            try:
                images.append(read_image(path, size))
            except ImageInputError as exc:
                raise DatasetCorruptError(f"Cannot use image {exc} Remove or replace the file and load again.") from None
            labels.append(label)
    return Split(np.stack(images), np.asarray(labels, dtype=np.int64))


def load_folder_dataset(
    root: str | os.PathLike,
    image_size: int = 28,
    val_fraction: float = 0.1,
    test_fraction: float = 0.15,
    min_val_size: int = 100,
    seed: int = 0,
) -> PneumoniaData:
    """Load a NORMAL/PNEUMONIA folder dataset with a reproducible, stratified re-split.

    A given ``test`` split is kept as it is. A ``val`` split with fewer than
    ``min_val_size`` images (the Kermany release ships 16) is merged into train and a
    stratified ``val_fraction`` of train is held out instead, with ``seed``.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetNotFoundError(f"Folder dataset '{root}' does not exist or is not a folder.")
    split_dirs = {p.name.lower(): p for p in root.iterdir() if p.is_dir()}
    if "train" in split_dirs:
        train = _read_class_folders(split_dirs["train"], image_size)
        if "test" not in split_dirs:
            raise DatasetNotFoundError(f"'{root}' has train/ but no test/ folder.")
        test = _read_class_folders(split_dirs["test"], image_size)
        val = _read_class_folders(split_dirs["val"], image_size) if "val" in split_dirs else None
        note = "given splits"
        if val is None or len(val) < min_val_size:
            if val is not None:
                train = Split(np.concatenate([train.images, val.images]), np.concatenate([train.labels, val.labels]))
            keep, held = stratified_split(train.labels, val_fraction, seed)
            train, val = train.subset(keep), train.subset(held)
            note = f"val re-split from train ({val_fraction:.0%}, seed {seed})"
    else:
        everything = _read_class_folders(root, image_size)
        rest, test_idx = stratified_split(everything.labels, test_fraction, seed)
        test, rest_split = everything.subset(test_idx), everything.subset(rest)
        keep, held = stratified_split(rest_split.labels, val_fraction / (1 - test_fraction), seed)
        train, val = rest_split.subset(keep), rest_split.subset(held)
        note = f"stratified re-split (test {test_fraction:.0%}, val {val_fraction:.0%}, seed {seed})"
    return PneumoniaData(train, val, test, image_size=image_size, source=f"folder:{root.name} ({note})")
