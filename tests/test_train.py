import numpy as np
import pytest
import torch

from pneumolib.config import TrainConfig
from pneumolib.data import load_pneumoniamnist
from pneumolib.devices import resolve_device
from pneumolib.errors import DeviceUnavailableError
from pneumolib.evaluation.metrics import binary_metrics
from pneumolib.models.zoo import build_model, count_parameters
from pneumolib.repro import seed_everything
from pneumolib.models.inference import predict_probabilities
from pneumolib.training.loop import BinaryLoss, fit, fit_two_stage

FAST = dict(model="small_cnn", batch_size=32, epochs=2, lr=3e-3, device="cpu")


@pytest.fixture
def fake_data(fake_data_dir):
    return load_pneumoniamnist(28, fake_data_dir, download=False)


def test_fit_learns_and_restores_best(fake_data):
    config = TrainConfig(**{**FAST, "epochs": 3})
    model = build_model("small_cnn")
    history = fit(model, fake_data, config, progress=False)
    frame = history.to_frame()
    assert list(frame.epoch) == [1, 2, 3]
    assert {"train_loss", "val_loss", "val_auc", "val_acc", "lr", "seconds"} <= set(frame.columns)
    assert history.best_epoch == int(frame.val_auc.idxmax()) + 1
    assert binary_metrics(fake_data.test.labels, predict_probabilities(model, fake_data.test.images, config, precision="run", device="cpu"))["auc"] > 0.95
    # the model ends with the best epoch's weights
    assert all(torch.equal(v, history.best_state[k]) for k, v in model.state_dict().items())


def test_best_state_is_a_copy(fake_data):
    model = build_model("small_cnn")
    history = fit(model, fake_data, TrainConfig(**FAST), progress=False, restore_best=False)
    saved = {k: v.clone() for k, v in history.best_state.items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    assert all(torch.equal(saved[k], v) for k, v in history.best_state.items())


def test_same_seed_same_history_on_cpu(fake_data):
    runs = []
    for _ in range(2):
        seed_everything(5)  # the initial weights come from the seed too
        model = build_model("small_cnn")
        h = fit(model, fake_data, TrainConfig(**FAST, seed=5, sampler="balanced"), progress=False)
        runs.append(h.to_frame().drop(columns="seconds"))
    assert runs[0].equals(runs[1])
    other = fit(build_model("small_cnn"), fake_data, TrainConfig(**FAST, seed=6), progress=False)
    assert not np.allclose(other.to_frame().train_loss, runs[0].train_loss)


def test_early_stopping(fake_data):
    config = TrainConfig(**{**FAST, "epochs": 30, "patience": 1, "lr": 1e-9, "monitor": "val_loss"})
    history = fit(build_model("small_cnn"), fake_data, config, progress=False)
    assert history.stopped_early and len(history.records) < 30


@pytest.mark.parametrize(
    "options",
    [
        {"scheduler": "step", "step_size": 1, "optimizer": "sgd"},
        {"scheduler": "plateau", "optimizer": "adamw", "weight_decay": 1e-2},
        {"scheduler": "none", "grad_clip": 1.0, "class_weighting": "pos_weight", "label_smoothing": 0.1},
        {"augment": "strong", "sampler": "balanced"},
    ],
)
def test_recipe_options_run(fake_data, options):
    history = fit(build_model("small_cnn"), fake_data, TrainConfig(**{**FAST, **options}), progress=False)
    assert len(history.records) == 2 and np.isfinite(history.to_frame().train_loss).all()
    if options.get("scheduler") == "step":
        assert history.records[1]["lr"] == pytest.approx(FAST["lr"] * 0.1)


def test_two_stage(fake_data, monkeypatch):
    import pneumolib.training.loop as train_module

    trainable_per_stage = []
    real_fit = train_module.fit

    def spy(model, data, config, **kwargs):
        trainable_per_stage.append(count_parameters(model, trainable_only=True))
        return real_fit(model, data, config, **kwargs)

    monkeypatch.setattr(train_module, "fit", spy)
    model = build_model("resnet18")
    config = TrainConfig(**{**FAST, "model": "resnet18", "epochs": 3, "lr": 1e-3, "head_epochs": 1})
    history = fit_two_stage(model, fake_data, config, progress=False)
    frame = history.to_frame()
    assert list(frame.stage) == [1, 2, 2] and list(frame.epoch) == [1, 2, 3]
    assert frame.lr.iloc[0] == pytest.approx(1e-2) and frame.lr.iloc[1] == pytest.approx(1e-3)
    assert trainable_per_stage == [count_parameters(model.fc), count_parameters(model)]
    assert history.best_epoch == int(frame.val_auc.idxmax()) + 1
    assert all(torch.equal(v, history.best_state[k]) for k, v in model.state_dict().items())


def test_loss_weighting_and_smoothing():
    logits, targets = torch.tensor([[2.0], [-1.0]]), torch.tensor([1.0, 0.0])
    plain = BinaryLoss()(logits, targets)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits.view(-1), targets)
    assert plain.item() == pytest.approx(expected.item())
    weighted = BinaryLoss(pos_weight=0.5)(logits, targets)
    assert weighted.item() < plain.item()
    smooth = BinaryLoss(label_smoothing=0.2)(logits, targets)
    soft = torch.tensor([0.9, 0.1])
    assert smooth.item() == pytest.approx(torch.nn.functional.binary_cross_entropy_with_logits(logits.view(-1), soft).item())


def test_cuda_request_without_gpu_is_an_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceUnavailableError, match="CUDA is not available.*device='cpu'"):
        resolve_device("cuda")
    assert resolve_device("auto").type == "cpu"


@pytest.mark.slow
def test_small_cnn_learns_real_data(real_data):
    """One epoch on the real data already separates the classes well on test."""
    config = TrainConfig(model="small_cnn", epochs=1, device="cpu", seed=0)
    model = build_model("small_cnn")
    fit(model, real_data, config, progress=False)
    auc = binary_metrics(real_data.test.labels, predict_probabilities(model, real_data.test.images, config, precision="run"))["auc"]
    assert auc > 0.9
