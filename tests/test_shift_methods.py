"""The shift package's building blocks: TENT, model features, typical images, seed-mean CIs."""

import copy

import numpy as np
import pytest
import torch

from pneumolib.config import TrainConfig
from pneumolib.models import ProbabilityEnsemble, build_model


def _inputs(n=64, seed=0):
    return torch.randn(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def test_tent_trains_only_the_batch_norm_affine_parameters_and_lowers_entropy():
    from pneumolib.shift.adapt import batch_norm_layers
    from pneumolib.shift.tent import binary_entropy, tent

    model = build_model("small_cnn").eval()
    inputs = _inputs(128)
    adapted = tent(model, inputs, lr=1e-2, epochs=3)
    affine = {id(p) for layer in batch_norm_layers(adapted) for p in (layer.weight, layer.bias)}
    changed = [name for (name, p), q in zip(adapted.named_parameters(), model.parameters())
               if not torch.equal(p, q)]
    assert changed and all(id(dict(adapted.named_parameters())[n]) in affine for n in changed)
    with torch.no_grad():
        from pneumolib.shift.adapt import adabn
        assert binary_entropy(adapted(inputs)) < binary_entropy(adabn(model, inputs)(inputs))
    assert not any(p.requires_grad for p in adapted.parameters())


def test_tent_refuses_a_model_without_batch_norm():
    from pneumolib.shift.tent import tent

    model = build_model("small_cnn", batch_norm=False)
    with pytest.raises(ValueError, match="no batch-norm layers"):
        tent(model, _inputs())


def test_model_features_are_what_the_last_layer_reads():
    from pneumolib.shift.measure import model_features

    model = build_model("small_cnn").eval()
    images = np.random.default_rng(0).integers(0, 256, (10, 28, 28), dtype=np.uint8)
    config = TrainConfig(model="small_cnn", device="cpu")
    single = model_features(model, images, config)
    last = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    assert single.shape == (10, last.in_features)
    with torch.no_grad():
        from pneumolib.data import model_inputs
        logits = model(model_inputs(images)).reshape(-1).numpy()
    np.testing.assert_allclose(single @ last.weight.detach().numpy().reshape(-1) + last.bias.item(), logits, atol=1e-4)
    pair = model_features(ProbabilityEnsemble([model, copy.deepcopy(model)]).eval(), images, config)
    np.testing.assert_allclose(pair, np.concatenate([single, single], axis=1), atol=1e-6)


def test_most_typical_takes_the_extremes_of_each_cohort():
    from pneumolib.shift.measure import most_typical

    held_out = np.array([0.9, 0.1, 0.5, 0.2, 0.95, 0.3])  # cohort a: first 3, cohort b: last 3
    picks = most_typical(held_out, 3, 2)
    assert picks["a"].tolist() == [1, 2] and picks["b"].tolist() == [1, 2]


def test_bootstrap_mean_table_averages_models_at_their_own_thresholds():
    from pneumolib.evaluation.metrics import binary_metrics, bootstrap_mean_table

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    probs = [np.clip(0.4 * y + rng.random(300) * 0.6, 0, 1) for _ in range(3)]
    thresholds = [0.3, 0.5, 0.7]
    table = bootstrap_mean_table(y, probs, thresholds, n_boot=300)
    expected = np.mean([binary_metrics(y, p, t)["acc"] for p, t in zip(probs, thresholds)])
    assert table.loc["acc", "estimate"] == pytest.approx(expected)
    assert (table.low <= table.estimate).all() and (table.estimate <= table.high).all() and (table.sd > 0).all()
    with pytest.raises(ValueError, match="one threshold per model"):
        bootstrap_mean_table(y, probs, [0.5])
