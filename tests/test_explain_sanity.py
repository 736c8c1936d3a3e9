"""Grad-CAM sanity checks (deletion, model randomisation), outcome picking, and models from the run store."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from pneumolib.models.checkpoint import load_checkpoint
from pneumolib.config import TrainConfig
from pneumolib.data import model_inputs
from pneumolib.errors import CheckpointError, ConfigError
from pneumolib.explain.cams import (OUTCOMES, cam_maps, deletion_area, deletion_curve, pick_outcomes,
                               randomization_similarity, randomized_copy)
from pneumolib.models.zoo import build_model
from pneumolib.experiments.runner import ensure_run
from pneumolib.experiments.runs import DataSpec, RunSpec
from pneumolib.experiments.store import RunStore


class LeftHalf(nn.Module):
    """Pneumonia logit = mean brightness of the left half of the image (the right half is ignored)."""

    def forward(self, x):
        return x[..., : x.shape[-1] // 2].mean(dim=(1, 2, 3)).unsqueeze(1) * 8


def test_deletion_curve_falls_faster_when_the_map_is_right():
    torch.manual_seed(0)
    x = torch.rand(8, 1, 8, 8) + 0.5  # bright images: high probability
    right_map = np.zeros((8, 8, 8), np.float32)
    right_map[..., :4] = 1.0  # says "the left half matters"
    wrong_map = 1.0 - right_map
    good = deletion_curve(LeftHalf(), x, right_map, steps=8)
    bad = deletion_curve(LeftHalf(), x, wrong_map, steps=8)
    assert good.fraction.tolist() == pytest.approx(np.linspace(0, 1, 9).tolist())
    assert good.cam.iloc[0] == pytest.approx(good.random.iloc[0])  # nothing removed yet
    assert good.cam.iloc[4] == pytest.approx(0.5, abs=1e-6)  # left half gone -> logit 0
    assert deletion_area(good)["cam"] < deletion_area(good)["random"] < deletion_area(bad)["cam"]
    with pytest.raises(ValueError, match="maps must have shape"):
        deletion_curve(LeftHalf(), x, right_map[:, :4], steps=4)


def test_randomized_copy_changes_every_layer_and_leaves_the_model_alone():
    model = build_model("small_cnn").eval()
    with torch.no_grad():  # stand-in for training: move every parameter and running statistic
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.add_(0.3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    control = randomized_copy(model, seed=1)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    unchanged = [k for k, v in control.state_dict().items() if v.is_floating_point() and torch.equal(v, before[k])]
    assert unchanged == []


def test_randomization_similarity_is_one_for_the_same_weights_and_bounded():
    torch.manual_seed(0)
    model = build_model("small_cnn").eval()
    x = torch.randn(4, 1, 28, 28)
    rho = randomization_similarity(model, x, "layer2", seed=0)
    assert rho.shape == (4,) and np.all(np.abs(rho) <= 1)
    same = cam_maps(model, x, model.layer2)
    assert np.allclose(same, cam_maps(model, x, model.layer2))  # deterministic maps


def test_pick_outcomes_returns_the_most_confident_of_each_kind():
    labels = np.array([1, 1, 0, 0, 1, 0, 1, 0])
    probs = np.array([0.9, 0.6, 0.1, 0.45, 0.2, 0.8, 0.99, 0.3])
    picked = pick_outcomes(labels, probs, threshold=0.5, n=2)
    assert list(picked) == list(OUTCOMES)
    assert picked["true positive"].tolist() == [6, 0]
    assert picked["true negative"].tolist() == [2, 7]
    assert picked["false positive"].tolist() == [5]
    assert picked["false negative"].tolist() == [4]


def test_model_inputs_match_training_normalisation_and_upsampling():
    images = np.full((2, 28, 28), 255, np.uint8)
    x = model_inputs(images, 0.5, 0.5)
    assert x.shape == (2, 1, 28, 28) and torch.allclose(x, torch.ones_like(x))
    assert model_inputs(images, 0.5, 0.5, input_size=64).shape == (2, 1, 64, 64)


def test_small_cnn_without_batch_norm_and_only_there():
    plain = build_model("small_cnn", batch_norm=False)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in plain.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in build_model("small_cnn").modules())
    with pytest.raises(ConfigError, match="only available for small_cnn"):
        TrainConfig(model="resnet18", batch_norm=False)
    with pytest.raises(ConfigError, match="only available for small_cnn"):
        build_model("resnet18", batch_norm=False)


def test_ensure_run_reuses_only_the_same_recipe_and_data(fake_data_dir, tmp_path):
    data = DataSpec(str(fake_data_dir))
    store = RunStore(tmp_path / "store")
    config = TrainConfig(model="small_cnn", epochs=1, batch_size=32, augment="none", device="cpu")
    first, how = ensure_run(RunSpec(config, "04/model"), data, store)
    ckpt = store.model_path(first.run_id)
    assert how.startswith("trained now") and ckpt.is_file()
    assert load_checkpoint(ckpt)["provenance"]["images"] == {"train": 240, "val": 60, "test": 60}
    assert load_checkpoint(ckpt)["threshold"] == first.threshold  # the model carries its val-picked threshold
    again, how = ensure_run(RunSpec(config, "03/model"), data, store)  # another notebook, the same run
    assert how.startswith("loaded") and again.run_id == first.run_id
    assert all(torch.equal(a, b) for a, b in zip(first.model.state_dict().values(), again.model.state_dict().values()))
    other, how = ensure_run(RunSpec(TrainConfig(**{**config.to_dict(), "lr": 0.01}), "04/model"), data, store)
    assert how.startswith("trained now") and other.run_id != first.run_id  # a different recipe is a different run
    smaller, how = ensure_run(RunSpec(config, "04/model"), DataSpec(str(fake_data_dir), subset=(90, 40)), store)
    assert how.startswith("trained now") and smaller.run_id != first.run_id  # so is different data
    assert smaller.fields["data"]["images"] == {"train": 90, "val": 40, "test": 40}
    (store.folder(first.run_id) / "record.json").write_text("not a record")  # unreadable: trained again
    _, how = ensure_run(RunSpec(config, "04/model"), data, store)
    assert how.startswith("trained now") and store.get(first.run_id) is not None
    ckpt.unlink()  # a record without its model serves tables, and is trained again where the model is needed
    _, how = ensure_run(RunSpec(config, "04/model"), data, store, need_model=False)
    assert how.startswith("loaded") and not ckpt.exists()
    _, how = ensure_run(RunSpec(config, "04/model"), data, store)
    assert how.startswith("trained now") and ckpt.is_file()
    ckpt.write_bytes(b"not a checkpoint")  # a damaged model file is never used: a clear error names it
    with pytest.raises(CheckpointError, match="model.pt' is not a readable PyTorch checkpoint"):
        ensure_run(RunSpec(config, "04/model"), data, store)


@pytest.mark.parametrize("name, size, expected", [
    ("resnet18", 28, "layer2"), ("resnet18", 64, "layer3"), ("resnet18", 224, "layer4"), ("small_cnn", 28, "layer3"),
])
def test_target_layer_is_the_deepest_with_spatial_resolution(name, size, expected):
    from pneumolib.explain.cams import default_target_layer, spatial_sizes

    model = build_model(name).eval()
    chosen, module = default_target_layer(model, size)
    assert chosen == expected and module is getattr(model, expected)
    sizes = spatial_sizes(model, size)
    assert sizes[chosen] >= 3 and all(side < 3 for layer, side in sizes.items() if layer > chosen)
