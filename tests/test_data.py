from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pneumolib import config as cfg
from pneumolib.data import (
    AUGMENT_PRESETS,
    TensorImageDataset,
    augmentation_preset,
    class_counts,
    class_weights,
    load_folder_dataset,
    load_pneumoniamnist,
    make_loader,
    pos_weight,
    resolve_data_dir,
    stratified_kfold,
)
from pneumolib.errors import DatasetCorruptError, DatasetNotFoundError

from conftest import write_fake_npz


@pytest.mark.parametrize("size", [28, 64, 128, 224])
def test_loads_every_medmnist_size(tmp_path, size):
    write_fake_npz(tmp_path, size, counts=(12, 6, 6))
    data = load_pneumoniamnist(size, tmp_path, download=False)
    assert data.image_size == size
    assert data.train.images.shape == (12, size, size) and data.train.images.dtype == np.uint8
    assert data.train.labels.dtype == np.int64 and data.train.labels.shape == (12,)
    assert [len(data.val), len(data.test)] == [6, 6]


def test_data_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("PNEUMOLIB_DATA", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_dir() == tmp_path / "env"
    monkeypatch.delenv("PNEUMOLIB_DATA")
    repo = Path(__file__).resolve().parents[1]
    assert resolve_data_dir() == repo / "data"
    monkeypatch.chdir(repo / "notebooks")  # the library alone: the working directory is the project folder
    assert resolve_data_dir() == repo / "notebooks" / "data"
    from pneumocourse.notebooks import use_checkout

    use_checkout()  # what a notebook's session does: the checkout's data/
    assert resolve_data_dir() == repo / "data"


@pytest.mark.parametrize("size, name", [(28, "pneumoniamnist.npz"), (64, "pneumoniamnist_64.npz")])
def test_missing_file_names_file_and_folder(tmp_path, size, name):
    with pytest.raises(DatasetNotFoundError) as err:
        load_pneumoniamnist(size, tmp_path, download=False)
    message = str(err.value)
    assert f"'{name}'" in message and str(tmp_path) in message and "--data-dir" in message


def test_offline_download_failure_is_actionable(tmp_path, monkeypatch):
    import medmnist

    def offline(self):
        raise RuntimeError("Automatic download failed!")

    monkeypatch.setattr(medmnist.dataset.MedMNIST, "download", offline)
    with pytest.raises(DatasetNotFoundError, match=r"pneumoniamnist_128\.npz.*\n.*download failed"):
        load_pneumoniamnist(128, tmp_path, download=True)


def test_corrupt_file(tmp_path):
    (tmp_path / "pneumoniamnist.npz").write_bytes(b"this is not a zip archive" * 10)
    with pytest.raises(DatasetCorruptError, match="cannot be read as a .npz"):
        load_pneumoniamnist(28, tmp_path, download=False)


def test_truncated_file(tmp_path):
    path = write_fake_npz(tmp_path, 28)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DatasetCorruptError, match="damaged or incomplete"):
        load_pneumoniamnist(28, tmp_path, download=False)


def test_wrong_size_file(tmp_path):
    src = write_fake_npz(tmp_path, 64)
    src.rename(tmp_path / "pneumoniamnist.npz")  # a 64 px file under the 28 px name
    with pytest.raises(DatasetCorruptError, match=r"shape \(N, 28, 28\).*\(\d+, 64, 64\)"):
        load_pneumoniamnist(28, tmp_path, download=False)


def test_missing_keys_and_bad_labels(tmp_path):
    np.savez(tmp_path / "pneumoniamnist.npz", train_images=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DatasetCorruptError, match="lacks the arrays"):
        load_pneumoniamnist(28, tmp_path, download=False)
    arrays = {f"{s}_images": np.zeros((2, 28, 28), np.uint8) for s in ("train", "val", "test")}
    arrays |= {f"{s}_labels": np.array([[0], [3]], np.uint8) for s in ("train", "val", "test")}
    np.savez(tmp_path / "pneumoniamnist.npz", **arrays)
    with pytest.raises(DatasetCorruptError, match=r"found \[0, 3\]"):
        load_pneumoniamnist(28, tmp_path, download=False)


def test_real_data_official_splits(real_data):
    """Counts from ../shared/data/README.md (the official MedMNIST split sizes)."""
    counts = {s: class_counts(real_data.split(s).labels) for s in ("train", "val", "test")}
    assert counts == {
        "train": {"normal": 1214, "pneumonia": 3494},
        "val": {"normal": 135, "pneumonia": 389},
        "test": {"normal": 234, "pneumonia": 390},
    }
    assert real_data.train.images.shape == (4708, 28, 28)


def test_weights():
    labels = np.array([0] * 10 + [1] * 30)
    assert pos_weight(labels) == pytest.approx(10 / 30)
    w = class_weights(labels)
    assert w == pytest.approx([2.0, 40 / 60])
    assert (w * [10, 30]).sum() == pytest.approx(40)
    with pytest.raises(ValueError, match="Both classes"):
        pos_weight(np.ones(5))


def test_stratified_kfold_is_disjoint_stratified_and_seeded():
    labels = np.array([0] * 50 + [1] * 150)
    folds = stratified_kfold(labels, 5, seed=3)
    val_all = np.concatenate([va for _, va in folds])
    assert sorted(val_all.tolist()) == list(range(200))
    for tr, va in folds:
        assert set(tr).isdisjoint(va)
        assert class_counts(labels[va]) == {"normal": 10, "pneumonia": 30}
    again = stratified_kfold(labels, 5, seed=3)
    assert all((a[1] == b[1]).all() for a, b in zip(folds, again))
    assert any((a[1] != b[1]).any() for a, b in zip(folds, stratified_kfold(labels, 5, seed=4)))


def _write_images(folder: Path, n: int, size=(40, 30), mode="L"):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(len(str(folder)))
    for i in range(n):
        shape = (size[1], size[0]) + ((3,) if mode == "RGB" else ())
        Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8), mode).save(folder / f"img{i:03d}.png")


def test_folder_dataset_kermany_layout_resplits_small_val(tmp_path):
    for split, (n0, n1) in {"train": (30, 60), "val": (2, 2), "test": (10, 20)}.items():
        _write_images(tmp_path / split / "NORMAL", n0)
        _write_images(tmp_path / split / "PNEUMONIA", n1, mode="RGB")
    data = load_folder_dataset(tmp_path, image_size=28, val_fraction=0.2, min_val_size=10, seed=1)
    assert data.train.images.shape[1:] == (28, 28)
    assert len(data.train) + len(data.val) == 94 and len(data.test) == 30
    assert class_counts(data.val.labels) == {"normal": 6, "pneumonia": 13}
    again = load_folder_dataset(tmp_path, image_size=28, val_fraction=0.2, min_val_size=10, seed=1)
    assert (again.val.images == data.val.images).all()
    assert "re-split" in data.source


def test_folder_dataset_flat_layout(tmp_path):
    _write_images(tmp_path / "normal", 20)
    _write_images(tmp_path / "pneumonia", 40)
    data = load_folder_dataset(tmp_path, image_size=28, val_fraction=0.1, test_fraction=0.2, seed=0)
    assert len(data.train) + len(data.val) + len(data.test) == 60
    assert class_counts(data.test.labels) == {"normal": 4, "pneumonia": 8}


def test_folder_dataset_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        load_folder_dataset(tmp_path / "nope")
    _write_images(tmp_path / "NORMAL", 3)
    with pytest.raises(DatasetNotFoundError, match="NORMAL/ and PNEUMONIA/"):
        load_folder_dataset(tmp_path)
    _write_images(tmp_path / "PNEUMONIA", 3)
    (tmp_path / "PNEUMONIA" / "broken.png").write_bytes(b"not an image")
    with pytest.raises(DatasetCorruptError, match="broken.png"):
        load_folder_dataset(tmp_path)


def test_augmentation_presets_match_config():
    assert tuple(AUGMENT_PRESETS) == cfg.AUGMENT_PRESETS


def test_tensor_dataset_and_augmentation(real_data):
    torch.manual_seed(0)
    plain = TensorImageDataset(real_data.train, mean=0.5, std=0.5)
    augmented = TensorImageDataset(real_data.train, mean=0.5, std=0.5, augment=augmentation_preset("strong", 28))
    x, y = plain[0]
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32 and y.item() in (0.0, 1.0)
    assert -1.0 <= x.min() and x.max() <= 1.0
    expected = torch.from_numpy(real_data.train.images[0]).float().div(255).sub(0.5).div(0.5)
    assert torch.equal(x[0], expected)
    xa, _ = augmented[0]
    assert xa.shape == (1, 28, 28) and not torch.equal(xa, x)
    up = TensorImageDataset(real_data.train, input_size=64)
    assert up[0][0].shape == (1, 64, 64)


def test_balanced_sampler_balances_classes(real_data):
    dataset = TensorImageDataset(real_data.train)
    loader = make_loader(dataset, batch_size=512, train=True, seed=0, balanced=True)
    labels = torch.cat([y for _, y in loader])
    assert len(labels) == len(dataset)
    assert 0.45 < labels.mean().item() < 0.55  # vs 0.74 pneumonia without balancing
