import numpy as np
import pytest
import torch

from pneumolib.config import TrainConfig
from pneumolib.data import TensorImageDataset, load_pneumoniamnist
from pneumolib.data.device_batches import BatchAugment, DeviceBatches
from pneumolib.models.zoo import build_model
from pneumolib.training.loop import fit

CPU = torch.device("cpu")


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def train_split(real_data):
    return real_data.train.subset(np.arange(256))


def test_shapes_dtype_and_range(train_split):
    batches = DeviceBatches(train_split, CPU, augment=BatchAugment.preset("strong"))
    x, y = next(batches.batches(64, _gen(), shuffle=True, augment=True))
    assert x.shape == (64, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.float32
    assert x.min() >= -1.0 - 1e-6 and x.max() <= 1.0 + 1e-6
    assert set(y.unique().tolist()) <= {0.0, 1.0}
    up = DeviceBatches(train_split, CPU, input_size=64, augment=BatchAugment.preset("light"))
    assert next(up.batches(8, _gen(), augment=True))[0].shape == (8, 1, 64, 64)
    assert next(up.batches(8))[0].shape == (8, 1, 64, 64)


def test_fixed_seed_reproduces(train_split):
    batches = DeviceBatches(train_split, CPU, augment=BatchAugment.preset("strong"))
    a = [x for x, _ in batches.batches(64, _gen(3), shuffle=True, augment=True)]
    b = [x for x, _ in batches.batches(64, _gen(3), shuffle=True, augment=True)]
    c = [x for x, _ in batches.batches(64, _gen(4), shuffle=True, augment=True)]
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    assert not all(torch.equal(p, q) for p, q in zip(a, c))


def test_flips_really_flip(train_split):
    batches = DeviceBatches(train_split, CPU, augment=BatchAugment(hflip=True))
    plain = next(batches.batches(128))[0]
    flipped = next(batches.batches(128, _gen(), augment=True))[0]
    is_plain = [(torch.allclose(f, p, atol=1e-5)) for f, p in zip(flipped, plain)]
    is_mirror = [(torch.allclose(f, p.flip(-1), atol=1e-5)) for f, p in zip(flipped, plain)]
    assert all(a or b for a, b in zip(is_plain, is_mirror))
    assert 30 < sum(is_mirror) < 98  # about half of 128


def test_rotation_changes_images_and_keeps_content(train_split):
    batches = DeviceBatches(train_split, CPU, augment=BatchAugment(rotation=15))
    plain = next(batches.batches(64))[0]
    rotated = next(batches.batches(64, _gen(), augment=True))[0]
    changed = (rotated - plain).abs().flatten(1).mean(1)
    assert (changed > 1e-3).float().mean() > 0.9
    centre = slice(10, 18)
    assert torch.corrcoef(torch.stack([rotated[:, :, centre, centre].flatten(), plain[:, :, centre, centre].flatten()]))[0, 1] > 0.8


def test_no_augmentation_matches_reference_path(train_split):
    fast = DeviceBatches(train_split, CPU)
    reference = TensorImageDataset(train_split)
    x = next(fast.batches(32))[0]
    expected = torch.stack([reference[i][0] for i in range(32)])
    assert torch.equal(x, expected)
    up_fast = next(DeviceBatches(train_split, CPU, input_size=56).batches(32))[0]
    up_ref = torch.stack([TensorImageDataset(train_split, input_size=56)[i][0] for i in range(32)])
    assert torch.allclose(up_fast, up_ref, atol=1e-5)


def test_balanced_sampling_uses_multinomial(real_data):
    batches = DeviceBatches(real_data.train, CPU)
    labels = torch.cat([y for _, y in batches.batches(512, _gen(), balanced=True)])
    assert len(labels) == len(real_data.train) and 0.45 < labels.mean() < 0.55


@pytest.mark.parametrize("path", ["fast", "reference"])
def test_fit_runs_on_both_paths(fake_data_dir, path):
    data = load_pneumoniamnist(28, fake_data_dir, download=False)
    config = TrainConfig(model="small_cnn", epochs=2, batch_size=32, lr=3e-3, device="cpu", data_path=path)
    history = fit(build_model("small_cnn"), data, config, progress=False)
    assert history.to_frame().val_auc.max() > 0.9
