"""Prior estimation under label shift recovers a known target prior from unlabeled predictions."""

import numpy as np
import pytest

from pneumolib.shift import bbse_prior, bootstrap_prior, em_prior, prior_corrected


def _cohort(n, prior, rng, source_prior=0.74):
    """Labels, and the exact posteriors under ``source_prior`` for 1-D Gaussian classes (+-1, sd 1)."""
    y = (rng.random(n) < prior).astype(int)
    x = rng.normal(np.where(y == 1, 1.0, -1.0), 1.0)
    likelihood_ratio = np.exp(2 * x)  # N(1, 1) / N(-1, 1)
    odds = likelihood_ratio * source_prior / (1 - source_prior)
    return y, odds / (1 + odds)


def test_bbse_and_em_recover_a_shifted_prior_without_target_labels():
    rng = np.random.default_rng(0)
    y_val, p_val = _cohort(3000, 0.74, rng)
    y_test, p_test = _cohort(3000, 0.60, rng)
    assert abs(bbse_prior(y_val, p_val, p_test) - y_test.mean()) < 0.03
    assert abs(em_prior(p_test, 0.74) - y_test.mean()) < 0.03
    unchanged = em_prior(p_val, 0.74)
    assert abs(unchanged - y_val.mean()) < 0.03
    ci = bootstrap_prior(lambda ys, ps, pt: bbse_prior(ys, ps, pt), y_val, p_val, p_test, n_boot=200)
    assert ci["low"] <= y_test.mean() <= ci["high"] and ci["low"] < ci["estimate"] < ci["high"]


def test_prior_correction_is_bayes_rule_and_the_identity_at_equal_priors():
    p = np.array([0.1, 0.5, 0.9])
    assert np.allclose(prior_corrected(p, 0.7, 0.7), p)
    corrected = prior_corrected(p, 0.75, 0.5)  # odds shrink by 3
    assert np.allclose(corrected / (1 - corrected), (p / (1 - p)) / 3)
    with pytest.raises(ValueError, match="strictly between"):
        prior_corrected(p, 1.0, 0.5)


def test_too_few_images_or_logits_get_a_clear_error():
    with pytest.raises(ValueError, match="at least 20 unlabeled images"):
        em_prior(np.full(5, 0.5), 0.7)
    with pytest.raises(ValueError, match="sigmoid"):
        em_prior(np.linspace(-2, 2, 50), 0.7)


def test_domain_classifier_finds_a_brightness_shift_and_not_a_random_split():
    from pneumolib.shift import domain_classifier

    rng = np.random.default_rng(0)
    a = rng.integers(0, 200, size=(200, 8, 8))
    same, _ = domain_classifier(a[:100], a[100:])
    shifted, out_of_fold = domain_classifier(a[:100], a[100:] + 40)
    assert abs(same["auc"] - 0.5) < 0.15 and shifted["auc"] > 0.95 and out_of_fold.shape == (200,)


def test_adabn_re_estimates_batch_norm_on_the_new_images_and_refuses_models_without_it():
    import torch
    from torch import nn

    from pneumolib.shift import adabn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.LazyLinear(1))
    model(torch.rand(8, 1, 8, 8))
    model.eval()
    target = torch.rand(64, 1, 8, 8) * 3 + 2  # brighter, higher-contrast cohort
    adapted = adabn(model, target, batch_size=16)
    features = adapted[0](target)
    assert torch.allclose(adapted[1].running_mean, features.mean(dim=(0, 2, 3)), atol=1e-4)
    assert torch.equal(adapted[0].weight, model[0].weight) and not adapted.training
    assert not torch.allclose(model[1].running_mean, adapted[1].running_mean), "the original is untouched"
    with pytest.raises(ValueError, match="no batch-norm layers"):
        adabn(nn.Sequential(nn.Flatten(), nn.Linear(64, 1)), target)
