"""A trained model adapted to a new hospital's unlabeled scans: the front end of
:mod:`pneumolib.shift` (``python -m pneumolib adapt``).

The model's own val split (PneumoniaMNIST at the model's size) calibrates the methods and, with
``method="auto"``, chooses one on simulated shifts; the new images are read, never labelled.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..images import ImageInputError, find_images, read_image
from ..models.zoo import load_model
from ..shift.methods import METHODS, SourceReference, adapt, predict
from ..shift.priors import MIN_IMAGES
from ..shift.select import choose_method

AUTO = "auto"


def _read_all(files: list[Path], size: int) -> np.ndarray:
    from PIL import Image

    images = []
    for path in files:
        with Image.open(path) as opened:
            width, height = opened.size
        if min(width, height) < size:
            raise ImageInputError(f"{path}: {width}x{height} px is smaller than the model's {size} px input; "
                                  "adaptation needs images at least that large (upsampling would invent detail).")
        images.append(read_image(path, size))
    return np.stack(images)


def adapt_folder(model_path: str | os.PathLike, inputs: Sequence[str | os.PathLike], method: str = AUTO,
                 data_dir: str | os.PathLike | None = None) -> tuple[pd.DataFrame, dict]:
    """Adapted probabilities for every image found in ``inputs``: ``(table, info)``, where the
    table has file, probability, label and threshold, and ``info`` the method, how it was chosen
    and its prior estimate."""
    from ..data import load_pneumoniamnist

    if method != AUTO and method not in METHODS:
        raise ConfigError(f"--method must be {AUTO!r} or one of {list(METHODS)}, got {method!r}.")
    model, config, _ = load_model(model_path)
    files = find_images(list(inputs))
    if len(files) < MIN_IMAGES:
        raise ConfigError(f"found {len(files)} images; adapting to a new cohort needs at least {MIN_IMAGES} of its "
                          "images to estimate anything about it.")
    images = _read_all(files, config.image_size)
    data = load_pneumoniamnist(config.image_size, data_dir, download=False)
    chosen_by = "given"
    if method == AUTO:
        method, _ = choose_method(model, config, data, images)
        chosen_by = "best mean ACC over simulated shifts of val"
    source = SourceReference.fit(data.val.labels, predict(model, data.val.images, config))
    try:
        adapted = adapt(method, model, config, source, images)
    except ValueError as exc:  # e.g. AdaBN on a model without batch norm
        raise ConfigError(f"method {method!r} cannot adapt this model: {exc}") from exc
    table = pd.DataFrame({"file": [str(f) for f in files], "probability": adapted.probabilities,
                          "label": np.where(adapted.predictions() == 1, "pneumonia", "normal"),
                          "threshold": adapted.threshold})
    info = {"method": method, "chosen_by": chosen_by, "images": len(files),
            "estimated_prior": adapted.prior, "source_prior": source.prior}
    return table, info
