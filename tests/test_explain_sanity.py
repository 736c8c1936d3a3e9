"""Grad-CAM sanity checks (deletion, model randomisation), outcome picking, and models from the run store."""

from __future__ import annotations

from pathlib import Path

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


class NegativeEvidence(nn.Module):
    """Pneumonia logit = -scale * mean of a ReLU feature map + bias: bright images are called normal,
    so the pneumonia logit's gradient is negative everywhere and its Grad-CAM map is empty."""

    def __init__(self, scale: float = 8.0, bias: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 2, 1, bias=False), nn.ReLU())
        with torch.no_grad():
            self.features[0].weight.copy_(torch.tensor([1.0, 0.5]).reshape(2, 1, 1, 1))
        self.scale, self.bias = scale, bias

    def forward(self, x):
        return -self.scale * self.features(x).mean(dim=(1, 2, 3)).unsqueeze(1) + self.bias


def _bright_patch_images(n: int = 3) -> torch.Tensor:
    x = torch.zeros(n, 1, 8, 8)
    for i in range(n):
        x[i, 0, 2 + i : 4 + i, 1:4] = 2.0  # a bright patch in a different place per image
    return x


def test_explaining_the_predicted_class_fills_the_maps_of_images_called_normal():
    from pneumolib.explain.cams import empty_map_table, empty_maps, predicted_classes

    model, x = NegativeEvidence(), _bright_patch_images()
    with torch.no_grad():
        probs = torch.sigmoid(model(x)).reshape(-1).numpy()
    predicted = predicted_classes(probs, 0.5)
    assert predicted.tolist() == [0, 0, 0]  # all called normal
    pneumonia = cam_maps(model, x, model.features, target_class=1)
    own = cam_maps(model, x, model.features, target_class=predicted)
    assert empty_maps(pneumonia).all() and not empty_maps(own).any()
    for i in range(len(x)):  # the map of "normal" peaks on the bright patch, which argues for normal
        assert x[i, 0].reshape(-1)[own[i].argmax()] == 2.0
    mixed = cam_maps(model, x, model.features, target_class=[0, 1, 0])
    assert np.allclose(mixed[[0, 2]], own[[0, 2]]) and empty_maps(mixed).tolist() == [False, True, False]
    table = empty_map_table(pneumonia, own, predicted)
    assert table.loc["normal", "empty, explaining pneumonia"] == 1.0
    assert table.loc["normal", "empty, explaining the prediction"] == 0.0
    assert np.isnan(table.loc["pneumonia", "empty, explaining pneumonia"])
    with pytest.raises(ValueError, match="target_class must be 0"):
        cam_maps(model, x, model.features, target_class=2)


def test_layer_contribution_splits_the_logit_exactly():
    from pneumolib.explain.cams import layer_contribution

    x = _bright_patch_images()
    model = NegativeEvidence(bias=2.0)
    parts = layer_contribution(model, x, model.features)
    assert np.allclose(parts["layer term"] + parts["rest"], parts["logit"])
    assert np.allclose(parts["rest"], 2.0, atol=1e-5) and (parts["layer term"] < 0).all()


class CentreBlob(nn.Module):
    """Pneumonia logit from the mean of the central 8x8 pixels, as in the synthetic data (a bright
    centre blob is pneumonia); a mid-grey centre (0 in normalised units) also reads as pneumonia."""

    def forward(self, x):
        c = x.shape[-1] // 2
        return 10 * (x[..., c - 4 : c + 4, c - 4 : c + 4].mean(dim=(1, 2, 3)).unsqueeze(1) + 0.3)


def test_a_normal_donor_fill_does_not_raise_the_pneumonia_probability_and_grey_does():
    from conftest import synthetic_split

    from pneumolib.explain.cams import blurred, fill_check, pick_donors

    images, labels = synthetic_split(90, 28, np.random.default_rng(0))
    labels = labels.reshape(-1)
    x = model_inputs(images, 0.5, 0.5)
    donors = pick_donors(np.flatnonzero(labels == 0), len(x), seed=0)
    assert donors.tolist() == pick_donors(np.flatnonzero(labels == 0), len(x), seed=0).tolist()
    assert (labels[donors] == 0).all()
    check = fill_check(CentreBlob(), x, {"mid-grey": 0.0, "blurred copy": blurred(x, 4.0), "normal image": x[donors]}, 0.5)
    original = check["mean probability, original"]
    assert check.loc["normal image", "mean probability, fully filled"] <= original["normal image"]
    assert check.loc["normal image", "share called pneumonia, fully filled"] == 0.0
    assert check.loc["mid-grey", "mean probability, fully filled"] > original["mid-grey"]  # the check sees a bad fill
    with pytest.raises(ValueError, match="at least one candidate"):
        pick_donors(np.array([], dtype=int), 3)


def test_deletion_gap_has_a_ci_around_its_mean_and_a_sign_that_follows_the_map():
    from pneumolib.explain.cams import deletion_summary, deletion_test

    torch.manual_seed(0)
    x = torch.rand(16, 1, 8, 8) + 0.5
    right_map = np.zeros((16, 8, 8), np.float32)
    right_map[..., :4] = 1.0
    results = {}
    for name, maps in (("right", right_map), ("wrong", 1.0 - right_map), ("empty", np.zeros_like(right_map))):
        test = deletion_test(LeftHalf(), x, maps, steps=8, n_random=6, seed=0)
        assert test.cam.shape == (16, 9) and test.random.shape == (6, 16, 9)
        gap = test.gap(n_boot=500, seed=0)
        assert gap["low"] <= gap["mean"] <= gap["high"] and gap["order_low"] <= gap["order_high"]
        curve = test.curve()
        assert (curve.random_low <= curve.random + 1e-12).all() and (curve.random <= curve.random_high + 1e-12).all()
        results[name] = deletion_summary(test, maps, n_boot=500)
    assert results["right"]["gap low"] > 0 and results["wrong"]["gap high"] < 0
    assert results["empty"]["empty maps"] == 16 and results["right"]["empty maps"] == 0
    assert results["empty"]["gap low"] <= 0 <= results["empty"]["gap high"]  # an empty map deletes in random order
    # deletion_curve is the same test with one random order
    single = deletion_test(LeftHalf(), x, right_map, steps=8, n_random=1, seed=3).curve()
    assert np.allclose(deletion_curve(LeftHalf(), x, right_map, steps=8, seed=3)[["cam", "random"]], single[["cam", "random"]])


def test_bootstrap_mean_ci_and_randomisation_summary_leave_nan_out():
    from pneumolib.explain.cams import bootstrap_mean_ci, randomisation_summary

    ci = bootstrap_mean_ci(np.array([0.1, 0.2, np.nan, 0.3]), n_boot=500, seed=0)
    assert ci["n"] == 3 and ci["mean"] == pytest.approx(0.2) and ci["low"] <= 0.2 <= ci["high"]
    assert np.isnan(bootstrap_mean_ci(np.array([np.nan]))["mean"])
    row = randomisation_summary(np.array([np.nan, 0.5, -0.1]), n_boot=500)
    assert row["images"] == 3 and row["compared"] == 2 and row["max"] == 0.5


def test_randomization_similarity_can_leave_empty_maps_out():
    model, x = NegativeEvidence(), _bright_patch_images()
    model.layer = model.features  # randomization_similarity takes the layer by name
    counted = randomization_similarity(model, x, "layer", target_class=1)  # every pneumonia map is empty
    left_out = randomization_similarity(model, x, "layer", target_class=1, constant=np.nan)
    assert np.all(counted == 0.0) and np.isnan(left_out).all()


def test_region_shares_partition_the_map_mass():
    from pneumolib.explain.cams import REGIONS, area_shares, map_consistency, region_masks, region_shares

    masks = region_masks(28)
    assert list(masks) == list(REGIONS) and (sum(m.astype(int) for m in masks.values()) == 1).all()
    assert area_shares(28).sum() == pytest.approx(1.0)
    maps = np.zeros((3, 28, 28), np.float32)
    maps[0][masks["lung fields"]] = 1.0
    maps[1] = 1.0
    shares = region_shares(maps)
    assert shares.loc[0, "lung fields"] == pytest.approx(1.0)
    assert np.allclose(shares.loc[1], area_shares(28).to_numpy()) and shares.loc[2].isna().all()
    assert map_consistency(np.stack([maps[0], maps[0]])) == pytest.approx(1.0)
    assert np.isnan(map_consistency(maps[2:]))


def test_cam_grid_labels_empty_maps_and_has_a_colour_bar():
    from pneumocourse import plots

    images = {"a": np.zeros((2, 8, 8), np.uint8)}
    maps = {"a": np.stack([np.zeros((8, 8)), np.eye(8)]).astype(np.float32)}
    fig = plots.cam_grid(images, maps, {"a": ["p=0.10", "p=0.90"]}, save_as=None, title="model x")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:2] == ["p=0.10\nmap empty", "p=0.90"]
    assert len(fig.axes) == 3 and fig._suptitle.get_text() == "model x"  # two panels and the colour bar


# notebook 04's rules, as its cells show them (test_notebook_04_shows_the_rules_its_findings_read checks they are there)
RULES_ON_THE_PAGE = {
    "deletion": 'deletion["verdict"] = np.select([deletion["gap low"] > 0, deletion["gap high"] < 0], ["passes", "fails"], "about level")',
    "road": 'road["verdict"] = np.select([road.low > 0, road.high < 0], ["passes", "fails"], "about level")',
    "randomisation": 'within = (randomisation.low > -rho_cutoff) & (randomisation.high < rho_cutoff)\n'
                     'beyond = (randomisation.low > rho_cutoff) | (randomisation.high < -rho_cutoff)\n'
                     'randomisation["verdict"] = np.select([within, beyond], ["passes", "fails"], "inconclusive")',
    "dependence": 'dependence["verdict"] = np.select([dependence.low > rho_cutoff, dependence.high < rho_cutoff], '
                  '["fails", "passes"],\n                                  "inconclusive")',
}


def _judged(check: str, table, rho_cutoff: float = 0.5):
    """``table`` with the verdict column that notebook 04's rule for ``check`` adds."""
    table = table.copy()
    exec(RULES_ON_THE_PAGE[check], {"np": np, "rho_cutoff": rho_cutoff}, {check: table})
    return table


def test_notebook_04_shows_the_rules_its_findings_read():
    import nbformat

    cells = nbformat.read(Path(__file__).resolve().parents[1] / "notebooks" / "04_gradcam.ipynb", as_version=4).cells
    code = "\n".join(c.source for c in cells if c.cell_type == "code")
    for check, rule in RULES_ON_THE_PAGE.items():
        assert rule in code, f"notebook 04 no longer shows the {check} rule its findings read: {rule}"


def test_findings_without_the_verdict_of_the_rule_say_so():
    import pandas as pd

    from pneumocourse.companions import gradcam

    table = pd.DataFrame({"images": [64], "empty maps": [0], "area Grad-CAM": [0.4], "area random": [0.5], "orders": [20],
                          "gap": [0.1], "gap low": [0.05], "gap high": [0.15]}, index=["a"])
    with pytest.raises(ValueError, match="no 'verdict' column: notebook 04's cell adds it"):
        gradcam.deletion_findings(table)


def test_gradcam_verdicts_follow_the_intervals():
    import pandas as pd

    from pneumocourse.companions import gradcam

    deletion = pd.DataFrame({"images": [64, 64], "empty maps": [52, 0], "area Grad-CAM": [0.19, 0.42],
                             "area random": [0.19, 0.46], "orders": [20, 20], "gap": [-0.004, 0.041],
                             "gap low": [-0.016, 0.003], "gap high": [0.008, 0.079]}, index=["a", "b"])
    lines = gradcam.deletion_findings(_judged("deletion", deletion))
    assert "about level" in lines[0] and "52 of the 64 maps are empty" in lines[0]
    assert "faster than random order" in lines[1]
    rand = pd.DataFrame({"images": [64, 64, 64, 64, 64], "compared": [12, 64, 0, 64, 64],
                         "mean rho": [0.0, 0.7, np.nan, -0.87, 0.4], "low": [-0.2, 0.6, np.nan, -0.9, 0.3],
                         "high": [0.2, 0.8, np.nan, -0.8, 0.6]}, index=list("abcde"))
    lines = gradcam.randomisation_findings(_judged("randomisation", rand))
    assert "**passes**" in lines[0] and "do not strongly resemble" in lines[0] and "Only 12 of 64" in lines[0]
    assert "holds zero" in lines[0]
    below = rand.assign(low=[-0.17] * 5, high=[-0.001] * 5).iloc[:1]
    assert "weak inverse correlation" in gradcam.randomisation_findings(_judged("randomisation", below))[0]
    assert "**fails**" in lines[1] and "says nothing" in lines[2]
    assert "**fails**" in lines[3] and "mirror" in lines[3] and "**inconclusive**" in lines[4]
    assert "EigenCAM" in gradcam.cam_method_description("eigencam")
    with pytest.raises(ValueError, match="No description"):
        gradcam.cam_method_description("scorecam")


def test_rank_agreement_is_one_for_a_monotone_copy_and_nan_for_an_empty_map():
    from pneumolib.explain import rank_agreement

    rng = np.random.default_rng(0)
    maps = rng.random((3, 7, 7))
    copy = maps ** 2  # same ranking
    copy[2] = 0.0  # an empty map has no ranking
    rho = rank_agreement(maps, copy)
    assert rho[:2] == pytest.approx([1.0, 1.0]) and np.isnan(rho[2])
    assert rank_agreement(maps, -maps)[0] == pytest.approx(-1.0)


def test_image_dependence_fails_for_one_pattern_and_passes_for_maps_of_their_own_image():
    from pneumolib.explain import dependence_table, map_dependence
    from pneumocourse.companions.gradcam import dependence_findings

    rng = np.random.default_rng(0)
    pattern = rng.random((7, 7))
    one_pattern = pattern + 0.1 * rng.random((40, 7, 7))
    own = rng.random((40, 7, 7))
    same, different = map_dependence(one_pattern), map_dependence(own)
    assert same["low"] > 0.9 and abs(different["pairwise r"]) < 0.1 and different["high"] < 0.5
    assert map_dependence(np.zeros((5, 7, 7)))["maps"] == 0, "empty maps are left out"
    maps, predicted = np.concatenate([one_pattern, own]), np.r_[np.zeros(40, int), np.ones(40, int)]
    table = dependence_table(maps, predicted).assign(model="m").set_index("model", append=True).swaplevel()
    lines = dependence_findings(_judged("dependence", table), 0.5)
    assert "images called normal: **fails**" in lines[0] and "one pattern for every image" in lines[0]
    assert "images called pneumonia: **passes**" in lines[1]


def test_road_passes_a_map_on_the_evidence_and_fails_the_reversed_map():
    import pandas as pd
    import torch

    from pneumolib.explain import road_scores, road_summary
    from pneumocourse.companions.gradcam import road_findings

    region = torch.zeros(28, 28, dtype=torch.float64)
    region[:14, :14] = 1.0
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 1, bias=False)).double().eval()
    with torch.no_grad():
        model[1].weight.copy_(region.reshape(1, -1) / 196)
    images = (region + 0.05 * torch.rand(12, 1, 28, 28, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
    good = np.broadcast_to(region.numpy(), (12, 28, 28)) * 0.9 + 0.05
    rows = {"on the evidence": road_summary(road_scores(model, images, good)),
            "reversed": road_summary(road_scores(model, images, 1 - good)),
            "empty": road_summary(road_scores(model, images, np.zeros((12, 28, 28))))}
    table = pd.DataFrame(rows).T.rename_axis("model")
    assert table.loc["on the evidence", "low"] > 0 and table.loc["reversed", "high"] < 0
    lines = road_findings(_judged("road", table))
    assert "**passes**" in lines[0] and "**fails**" in lines[1] and "says nothing" in lines[2]
