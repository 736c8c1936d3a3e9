"""Recipe components of issue 7: mixup/CutMix, EMA, warm-up, distillation, TTA and ensembles."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from pneumolib.config import TrainConfig
from pneumolib.data import load_pneumoniamnist
from pneumolib.models.ensemble import ProbabilityEnsemble, average_probabilities
from pneumolib.errors import ConfigError
from pneumolib.training.mixing import BatchMixer, distillation_targets
from pneumolib.models.zoo import build_model_from_config
from pneumolib.models.inference import predict_probabilities
from pneumolib.training.loop import _ema_copy, build_optimizer, build_scheduler, fit
from pneumolib.training.tta import TTA_VIEWS, predict_tta

TINY = TrainConfig(model="small_cnn", epochs=2, batch_size=32, device="cpu")


def _constant_batch(n: int = 6, size: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Image i is filled with the value i, so every output pixel tells which image it came from."""
    x = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 1, size, size).clone()
    return x, torch.tensor([0, 1] * (n // 2), dtype=torch.float32)


def test_mixer_off_returns_the_batch_unchanged():
    x, y = _constant_batch()
    out_x, out_y = BatchMixer(0.0, 0.0, seed=0)(x, y)
    assert out_x is x and out_y is y


def test_mixup_blends_images_and_targets_with_the_same_weight():
    x, y = _constant_batch()
    out_x, out_y = BatchMixer(0.4, 0.0, seed=1)(x, y)
    assert torch.all((out_y >= 0) & (out_y <= 1))
    # each output image is constant: lam * i + (1 - lam) * perm(i)
    assert torch.allclose(out_x.amax(dim=(1, 2, 3)), out_x.amin(dim=(1, 2, 3)))
    assert not torch.equal(out_x, x)


def test_cutmix_target_weight_equals_the_pasted_area():
    x, y = _constant_batch(n=8, size=10)
    mixer = BatchMixer(0.0, 1.0, seed=3)
    for _ in range(5):
        out_x, out_y = mixer(x, y)
        for i in range(len(x)):
            own = (out_x[i] == i).float().mean().item()
            other_values = out_x[i][out_x[i] != i].unique()
            assert len(other_values) <= 1
            if len(other_values):
                j = int(other_values.item())
                assert out_y[i].item() == pytest.approx(own * y[i].item() + (1 - own) * y[j].item())
            else:
                assert out_y[i].item() == pytest.approx(y[i].item()) or own == 1.0


def test_mixing_is_reproducible_from_the_seed():
    x, y = _constant_batch()
    a, b = BatchMixer(0.2, 1.0, seed=5), BatchMixer(0.2, 1.0, seed=5)
    for _ in range(3):
        (xa, ya), (xb, yb) = a(x, y), b(x, y)
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_ema_follows_the_exponential_average():
    model = nn.Linear(2, 1, bias=False)
    ema = _ema_copy(model, decay=0.9)
    expected = model.weight.detach().clone()
    for step in range(3):
        with torch.no_grad():
            model.weight.add_(1.0)
        ema.update_parameters(model)
        expected = model.weight.detach().clone() if step == 0 else 0.9 * expected + 0.1 * model.weight.detach()
    assert torch.allclose(ema.module.weight, expected)


def test_warmup_ramps_linearly_then_follows_cosine():
    config = replace(TINY, epochs=6, warmup_epochs=2, lr=0.3)
    optimizer = build_optimizer(nn.Linear(1, 1).parameters(), config)
    scheduler = build_scheduler(optimizer, config)
    lrs = []
    for _ in range(config.epochs):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[:3] == pytest.approx([0.1, 0.2, 0.3])
    assert lrs[3] < lrs[2] and lrs[4] < lrs[3]  # cosine decay over the remaining epochs


@pytest.mark.parametrize("change, message", [
    ({"ema_decay": 1.0}, "ema_decay must be in (0, 1)"),
    ({"warmup_epochs": 2, "epochs": 2}, "leaves no epochs after warm-up"),
    ({"warmup_epochs": 1, "scheduler": "step"}, "works with scheduler 'cosine' or 'none'"),
    ({"mixup_alpha": -0.1}, "mixup_alpha must be >= 0"),
    ({"distill_weight": 1.5}, "distill_weight must be in [0, 1]"),
])
def test_bad_component_settings_are_rejected_by_name(change, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")):
        replace(TINY, **change)


def test_distillation_targets_blend_labels_and_teacher():
    teacher = nn.Sequential(nn.Flatten(), nn.Linear(4, 1))
    x, y = torch.randn(5, 1, 2, 2), torch.tensor([0.0, 1, 1, 0, 1])
    p = torch.sigmoid(teacher(x)).view(-1).detach()
    assert torch.equal(distillation_targets(teacher, x, y, 0.0), y)
    assert torch.allclose(distillation_targets(teacher, x, y, 1.0), p)
    assert torch.allclose(distillation_targets(teacher, x, y, 0.25), 0.75 * y + 0.25 * p)


def test_fit_needs_a_teacher_for_distillation(fake_data_dir):
    data = load_pneumoniamnist(28, fake_data_dir, download=False)
    config = replace(TINY, distill_weight=0.5)
    with pytest.raises(ValueError, match="needs a teacher model"):
        fit(build_model_from_config(config), data, config, progress=False)


def test_every_component_trains_end_to_end(fake_data_dir):
    data = load_pneumoniamnist(28, fake_data_dir, download=False)
    teacher = build_model_from_config(TINY).eval()
    config = replace(TINY, epochs=3, mixup_alpha=0.2, cutmix_alpha=1.0, ema_decay=0.9, warmup_epochs=1, distill_weight=0.5)
    model = build_model_from_config(config)
    history = fit(model, data, config, progress=False, teacher=teacher)
    assert len(history.records) == 3 and all(np.isfinite(r["train_loss"]) for r in history.records)
    # the model ends with the weights of the best epoch, which were the EMA's weights
    assert all(torch.equal(v, history.best_state[k]) for k, v in model.state_dict().items())


def test_two_stage_fine_tuning_distils_from_the_teacher(fake_data_dir):
    """With head_epochs, both stages learn from the teacher: at distill_weight 1 the targets are the
    teacher's alone, so two different teachers give two different students from the same seed."""
    data = load_pneumoniamnist(28, fake_data_dir, download=False)
    config = replace(TINY, epochs=2, head_epochs=1, distill_weight=1.0)
    students = []
    for teacher_seed in (1, 2):
        torch.manual_seed(teacher_seed)
        teacher = build_model_from_config(TINY).eval()
        student = build_model_from_config(config)
        history = fit(student, data, config, progress=False, teacher=teacher)
        assert [r["stage"] for r in history.records] == [1, 2]
        students.append(student.state_dict())
    assert any(not torch.equal(v, students[1][k]) for k, v in students[0].items())


def test_tta_identity_view_matches_plain_prediction(fake_data_dir):
    data = load_pneumoniamnist(28, fake_data_dir, download=False)
    model = build_model_from_config(TINY).eval()
    plain = predict_probabilities(model, data.test.images, TINY, precision="run", device="cpu")
    assert np.allclose(predict_tta(model, data.test, TINY, views=("identity",)), plain, atol=1e-6)
    all_views = predict_tta(model, data.test, TINY)
    assert all_views.shape == plain.shape and not np.allclose(all_views, plain)
    with pytest.raises(ValueError, match="Unknown or empty TTA views"):
        predict_tta(model, data.test, TINY, views=("vflip",))
    # no view mirrors the image (a negative determinant would put the heart on the right)
    assert all(float(torch.linalg.det(view[:, :2])) > 0 for view in TTA_VIEWS.values())


def test_ensemble_module_returns_the_logit_of_the_mean_probability():
    torch.manual_seed(0)
    members = [nn.Sequential(nn.Flatten(), nn.Linear(4, 1)) for _ in range(3)]
    x = torch.randn(7, 1, 2, 2)
    expected = torch.stack([torch.sigmoid(m(x)) for m in members]).mean(0)
    assert torch.allclose(torch.sigmoid(ProbabilityEnsemble(members)(x)), expected, atol=1e-6)
    weighted = ProbabilityEnsemble(members, weights=[0.5, 0.5, 0.0])
    assert torch.allclose(torch.sigmoid(weighted(x)), (torch.sigmoid(members[0](x)) + torch.sigmoid(members[1](x))) / 2,
                          atol=1e-6)
    with pytest.raises(ValueError, match="summing to 1"):
        ProbabilityEnsemble(members, weights=[0.5, 0.5, 0.5])


def test_average_probabilities_checks_its_members():
    assert np.allclose(average_probabilities([np.array([0.2, 0.4]), np.array([0.4, 0.8])]), [0.3, 0.6])
    with pytest.raises(ValueError, match="at least one member"):
        average_probabilities([])
    with pytest.raises(ValueError, match="same length"):
        average_probabilities([np.zeros(2), np.zeros(3)])
