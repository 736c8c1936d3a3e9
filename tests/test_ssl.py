"""In-domain SimCLR pretraining and the ssl:<checkpoint> weights source."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pneumolib.config import TrainConfig
from pneumolib.data import load_pneumoniamnist
from pneumolib.errors import CheckpointError, ConfigError, PretrainedWeightsUnavailableError
from pneumolib.models.zoo import build_model
from pneumolib.training.ssl import PretrainConfig, nt_xent, pretrain, save_ssl_checkpoint


def test_nt_xent_is_low_for_matching_views_and_high_for_random_ones():
    torch.manual_seed(0)
    z = torch.randn(16, 8)
    matched = nt_xent(z, z + 0.01 * torch.randn_like(z), temperature=0.1)
    shuffled = nt_xent(z, torch.randn(16, 8), temperature=0.1)
    assert matched < 0.1 < np.log(31) * 0.5 < shuffled


@pytest.fixture
def ssl_checkpoint(fake_data_dir, tmp_path):
    data = load_pneumoniamnist(28, fake_data_dir)
    config = PretrainConfig(model="small_cnn", epochs=2, batch_size=64, device="cpu")
    encoder, history = pretrain(data.train, config, progress=False)
    assert len(history) == 2 and all(np.isfinite(h["loss"]) for h in history)
    return save_ssl_checkpoint(tmp_path / "ssl.pt", encoder, config, history, {"data_source": data.source}), encoder


def test_ssl_weights_load_into_the_backbone_and_train(ssl_checkpoint, fake_data_dir):
    path, encoder = ssl_checkpoint
    model = build_model("small_cnn", pretrained=f"ssl:{path}")
    for key, value in encoder.state_dict().items():
        assert torch.equal(model.state_dict()[key], value)
    scratch = build_model("small_cnn")
    assert not torch.equal(scratch.layer1[0].weight, model.layer1[0].weight)
    config = TrainConfig(model="small_cnn", pretrained=f"ssl:{path}", epochs=1, batch_size=32, device="cpu")
    from pneumolib.models.zoo import build_model_from_config
    assert torch.equal(build_model_from_config(config).layer1[0].weight, model.layer1[0].weight)


def test_pretraining_never_reads_labels(fake_data_dir):
    data = load_pneumoniamnist(28, fake_data_dir)
    config = PretrainConfig(model="small_cnn", epochs=1, batch_size=64, device="cpu")
    a, _ = pretrain(data.train, config, progress=False)
    flipped = type(data.train)(data.train.images, 1 - data.train.labels)
    b, _ = pretrain(flipped, config, progress=False)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_ssl_source_errors_are_specific(ssl_checkpoint, tmp_path):
    path, _ = ssl_checkpoint
    with pytest.raises(PretrainedWeightsUnavailableError, match="python -m pneumolib pretrain"):
        build_model("resnet18", pretrained=f"ssl:{tmp_path / 'missing.pt'}")
    with pytest.raises(CheckpointError, match="holds a 'small_cnn' backbone"):
        build_model("resnet18", pretrained=f"ssl:{path}")
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(CheckpointError, match="not an SSL checkpoint"):
        build_model("small_cnn", pretrained=f"ssl:{other}")
    with pytest.raises(ConfigError, match="batch_size must be at least 2"):
        PretrainConfig(batch_size=1)


def test_cli_pretrain_then_train_from_it(fake_data_dir, tmp_path, capsys, monkeypatch):
    from pneumolib.cli import main
    from pneumolib.experiments.store import RunStore

    monkeypatch.setenv("PNEUMOLIB_RESULTS", str(tmp_path / "results"))
    ckpt = tmp_path / "ssl.pt"
    pretrain_args = ["pretrain", "--data-dir", str(fake_data_dir), "--model", "small_cnn", "--epochs", "1",
                     "--batch-size", "64", "--device", "cpu", "--out", str(ckpt), "--no-progress"]
    assert main(pretrain_args) == 0
    assert f"--pretrained ssl:{ckpt}" in capsys.readouterr().out
    written = ckpt.read_bytes()
    assert main(pretrain_args) == 2  # an existing checkpoint is not replaced without a word
    assert "exists already; pass --out elsewhere, or --overwrite to replace it." in capsys.readouterr().err
    assert ckpt.read_bytes() == written
    assert main(["train", "--data-dir", str(fake_data_dir), "--model", "small_cnn", "--pretrained", f"ssl:{ckpt}",
                 "--epochs", "1", "--augment", "none", "--device", "cpu", "--no-progress"]) == 0
    (record,) = RunStore(tmp_path / "results" / "store").records()
    assert record.config.pretrained == f"ssl:{ckpt}"
    assert record.fields["identity"]["pretrained_checkpoint"]  # the run depends on this very pretraining
    assert main(["train", "--data-dir", str(fake_data_dir), "--model", "resnet18", "--pretrained", f"ssl:{ckpt}",
                 "--epochs", "1", "--device", "cpu", "--no-progress"]) == 2
    assert "holds a 'small_cnn' backbone" in capsys.readouterr().err
    assert main([*pretrain_args, "--overwrite"]) == 0 and ckpt.read_bytes() != written


def test_a_described_pretraining_needs_no_weights_until_a_run_trains_from_it(fake_data_dir, tmp_path, monkeypatch):
    """The reference ships each SSL checkpoint's description (config, history, provenance), not its
    weights: run ids and the notebooks' account of the pretraining come from the description, and
    the weights are pretrained only when a run must train from them, leaving the description as it is."""
    from pneumolib.experiments.runs import _pretrained_identity
    from pneumolib.training import ssl

    monkeypatch.setenv("PNEUMOLIB_RESULTS", str(tmp_path / "results"))
    monkeypatch.chdir(tmp_path)  # "results/ssl/..." must not find a checkout's own file beside the working directory
    data = load_pneumoniamnist(28, fake_data_dir)
    config, provenance = PretrainConfig(model="small_cnn", epochs=1, batch_size=64, device="cpu"), {"data_source": data.source}
    path = tmp_path / "results" / "ssl" / "06_small_cnn_simclr.pt"
    source, how = ssl.load_or_pretrain(config, data.train, path, provenance, progress=False)
    description = path.with_suffix(".json")
    committed, identity = description.read_bytes(), _pretrained_identity(source)
    assert source == "ssl:results/ssl/06_small_cnn_simclr.pt" and how.startswith("pretrained now, ") and identity
    path.unlink()  # a fresh clone of the reference: the description only
    with monkeypatch.context() as patched:
        patched.setattr(ssl, "pretrain", lambda *a, **k: pytest.fail("a described pretraining must not run again"))
        again, how_again = ssl.load_or_pretrain(config, data.train, path, provenance, progress=False)
    assert again == source and how_again == how.removeprefix("pretrained now, ")
    assert _pretrained_identity(source) == identity, "the run ids must not depend on the weights being there"
    ssl.ensure_ssl_weights(source, data.train, provenance)
    assert path.is_file() and description.read_bytes() == committed
    with pytest.raises(CheckpointError, match="describes a pretraining on other data"):
        path.unlink()
        ssl.ensure_ssl_weights(source, data.train, {"data_source": "other"})


def test_pretrain_config_shares_train_configs_options_and_checks():
    """The options both configs have are TrainConfig's (help, choices, checks), and the committed
    SSL checkpoints' configs read back unchanged, so their runs keep their identities."""
    import dataclasses
    import json
    from pathlib import Path

    train_fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    shared = [f for f in dataclasses.fields(PretrainConfig) if f.name in train_fields]
    assert len(shared) == 12 and all(f.metadata.get("train_option") for f in shared)
    for f in shared:
        assert {k: v for k, v in f.metadata.items() if k != "train_option"} == dict(train_fields[f.name].metadata)
    with pytest.raises(ConfigError, match=r"input_size=14 is smaller than image_size=28"):  # TrainConfig's own check
        PretrainConfig(input_size=14)
    with pytest.raises(ConfigError, match=r"stem='wide' is not valid"):
        PretrainConfig(stem="wide")
    descriptions = sorted((Path(__file__).resolve().parents[1] / "results" / "ssl").glob("*.json"))
    assert descriptions
    for path in descriptions:
        config = json.loads(path.read_text())["config"]
        assert json.loads(json.dumps(dataclasses.asdict(PretrainConfig(**config)))) == config, path.name
