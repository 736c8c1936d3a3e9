import os
import pickle

import pytest
import torch

from pneumolib.models import load_checkpoint, load_model, load_weights, save_checkpoint
from pneumolib.config import TrainConfig
from pneumolib.errors import CheckpointError
from pneumolib.models.zoo import build_model


@pytest.fixture
def saved(tmp_path):
    config = TrainConfig(model="small_cnn", seed=3)
    torch.manual_seed(0)
    model = build_model("small_cnn").eval()
    path = save_checkpoint(tmp_path / "m.pt", model, config, threshold=0.42, metrics={"auc": 0.9})
    return path, model, config


def test_round_trip(saved):
    path, model, config = saved
    loaded, loaded_config, payload = load_model(path)
    assert loaded_config == config and payload["threshold"] == 0.42 and payload["metrics"] == {"auc": 0.9}
    assert "torch" in payload["versions"]
    x = torch.randn(4, 1, 28, 28)
    assert torch.equal(loaded(x), model(x))
    assert [p.name for p in path.parent.iterdir()] == ["m.pt"]  # no temp file left behind


def test_other_architecture_is_named(saved):
    path, _, _ = saved
    with pytest.raises(CheckpointError, match="holds a 'small_cnn' model.*'resnet18'"):
        load_weights(build_model("resnet18"), load_checkpoint(path), "resnet18")
    with pytest.raises(CheckpointError, match="do not fit this model"):
        load_weights(build_model("small_cnn", head_hidden=(64,)), load_checkpoint(path), "small_cnn")


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "x.pt").write_bytes(b"hello")
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        load_checkpoint(tmp_path / "x.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "y.pt")
    with pytest.raises(CheckpointError, match="not a pneumolib checkpoint"):
        load_checkpoint(tmp_path / "y.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_malicious_pickle_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save({"format": "pneumolib-checkpoint", "payload": _Exploit()}, tmp_path / "evil.pt", pickle_protocol=2)
    with pytest.raises(CheckpointError, match="Refused to load.*could run code"):
        load_checkpoint(tmp_path / "evil.pt")
    assert not (tmp_path / "pwned").exists()
    with open(tmp_path / "evil2.pt", "wb") as handle:  # a plain (non-zip) pickle
        pickle.dump(_Exploit(), handle)
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "evil2.pt")
    assert not (tmp_path / "pwned").exists()


def test_a_saturated_val_pick_saves_a_model_that_predict_accepts(tmp_path, capsys):
    """A run whose val probabilities saturate at 1.0 (Youden's best cut is then 1.0) is scored and
    saved by the run store as train and best do; the detector and ``predict`` load its model."""
    import numpy as np
    from PIL import Image

    from pneumolib.cli import main
    from pneumolib.deploy.detector import PneumoniaDetector
    from pneumolib.experiments.runs import RunRecord, score
    from pneumolib.experiments.store import RunStore

    y_val, p_val = np.array([0, 0, 0, 0, 1, 1, 1, 1]), np.array([0.2, 0.6, 0.9, 0.99, 1.0, 1.0, 1.0, 1.0])
    config = TrainConfig(model="small_cnn")
    record = RunRecord({"run_id": "saturated", "config": config.to_dict(), **score(y_val, p_val, y_val, p_val)})
    assert 0 < record.threshold < 1
    torch.manual_seed(0)
    store = RunStore(tmp_path / "store")
    path = store.save_model(record, build_model("small_cnn").eval(), provenance={})
    detector = PneumoniaDetector.from_checkpoint(path, device="cpu")
    assert detector.threshold == record.threshold
    Image.fromarray(np.full((28, 28), 128, np.uint8)).save(tmp_path / "x.png")
    assert main(["predict", str(tmp_path / "x.png"), "--model", str(path), "--device", "cpu"]) == 0
    assert f"{record.threshold:9.4f}" in capsys.readouterr().out


@pytest.mark.parametrize("threshold", [0.0, 1.0, float("inf"), float("nan")])
def test_a_threshold_the_detector_refuses_is_not_saved(tmp_path, threshold):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        save_checkpoint(tmp_path / "m.pt", build_model("small_cnn"), TrainConfig(model="small_cnn"), threshold=threshold)
    assert not (tmp_path / "m.pt").exists()
