"""One augmentation: the per-image path (``data_path="reference"``) is the fast path on a batch of one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pneumolib.data import Split, TensorImageDataset, augmentation_preset
from pneumolib.data.augment import AUGMENT_PRESETS, BatchAugment, ImageAugment, augment_batch
from pneumolib.data.device_batches import DeviceBatches
from pneumolib.data.photometric import Photometric


def _images(n: int, size: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, size, size), dtype=np.uint8)


@pytest.mark.parametrize("preset, intensity, hflip, size, input_size", [
    ("light", "none", False, 28, None), ("strong", "robust", True, 28, None), ("light", "robust", False, 28, 64),
    ("none", "robust", False, 28, None),
])
def test_the_per_image_path_draws_exactly_what_the_batch_path_draws_for_a_batch_of_one(preset, intensity, hflip, size,
                                                                                     input_size):
    images = _images(5, size)
    split = Split(images, np.zeros(5, dtype=np.int64))
    out_size = input_size or size
    augment = augmentation_preset(preset, out_size, hflip, intensity)
    per_image = TensorImageDataset(split, augment=augment, input_size=input_size)
    batches = DeviceBatches(split, torch.device("cpu"), input_size=input_size, augment=BatchAugment.preset(preset, hflip),
                            photometric=Photometric.preset(intensity))
    for i in range(5):
        torch.manual_seed(100 + i)  # the per-image path draws from the global state, as a DataLoader worker does
        mine = per_image[i][0]
        generator = torch.Generator().manual_seed(100 + i)
        theirs = batches.transform(batches.images[i : i + 1], generator, augment=True)[0]
        assert mine.shape == (1, out_size, out_size)
        assert torch.equal(mine, theirs), (preset, intensity, i)


def test_draws_differ_between_images_and_nothing_is_drawn_without_a_preset():
    x = torch.rand(8, 1, 28, 28)
    out = augment_batch(x, 28, BatchAugment.preset("strong"), Photometric.preset("robust"), torch.Generator().manual_seed(0))
    assert not torch.allclose(out[0], out[1]) and out.min() >= 0 and out.max() <= 1
    assert torch.equal(augment_batch(x, 28, None, None), x)
    assert augmentation_preset("none", 28) is None
    assert augmentation_preset("light", 28) == ImageAugment(BatchAugment(**AUGMENT_PRESETS["light"]), None, 28)
    with pytest.raises(ValueError, match="Unknown augmentation preset 'medium'"):
        augmentation_preset("medium", 28)
