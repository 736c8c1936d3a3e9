import json
import subprocess
import sys

import pytest

from pneumolib.cli import main


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "pneumolib", *args], capture_output=True, text=True, cwd=cwd)


def test_help_lists_commands():
    out = run_cli("--help")
    assert out.returncode == 0
    assert "train" in out.stdout and "download" in out.stdout


def test_every_train_option_has_help():
    out = run_cli("train", "--help").stdout
    options = [tok.split("=")[0] for tok in out.split() if tok.startswith("--") and tok != "--help"]
    assert len(set(options)) > 25
    import argparse

    from pneumolib.cli import build_parser

    train = next(a for a in build_parser()._subparsers._group_actions[0].choices.values() if a.prog.endswith("train"))
    missing = [a.dest for a in train._actions if not isinstance(a, argparse._HelpAction) and not a.help]
    assert missing == []


def test_train_writes_run_folder(fake_data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--model", "small_cnn", "--epochs", "2", "--batch-size", "32", "--seed", "4",
                 "--data-dir", str(fake_data_dir), "--out", str(out), "--no-progress"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("auc", "acc", "balanced_accuracy", "sensitivity", "specificity", "f1"):
        assert 0.0 <= metrics["test"][key] <= 1.0 and 0.0 <= metrics["val"][key] <= 1.0
    assert set(metrics["medmnist"]["test"]) == {"auc", "acc"}
    assert metrics["seed"] == 4 and metrics["config"]["model"] == "small_cnn"
    assert {"torch", "torchvision", "numpy", "medmnist"} <= set(metrics["versions"])
    assert metrics["data"]["counts"]["train"] == {"normal": 80, "pneumonia": 160}
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "history.csv", "metrics.json", "model.pt"]
    assert "MedMNIST test AUC/ACC" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--lr", "-1"], "error: lr must be a positive number, got -1.0."),
        (["--device", "cuda"], "CUDA is not available"),
        (["--image-size", "64", "--no-download"], "'pneumoniamnist_64.npz' not found"),
        (["--pretrained", "/nonexistent/weights.pth", "--model", "resnet18"], "does not exist"),
    ],
)
def test_bad_input_gives_one_clear_line(fake_data_dir, tmp_path, args, message, monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code = main(["train", "--model", "small_cnn", "--epochs", "1", "--data-dir", str(fake_data_dir),
                 "--out", str(tmp_path / "r"), "--no-progress", *args])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert not (tmp_path / "r" / "metrics.json").exists()


def test_bad_input_message_and_no_traceback(fake_data_dir, tmp_path):
    out = run_cli("train", "--lr", "-1", "--data-dir", str(fake_data_dir), "--out", str(tmp_path / "r"))
    assert out.returncode == 2
    assert out.stderr.strip() == "error: lr must be a positive number, got -1.0."
    out = run_cli("train", "--image-size", "128", "--no-download", "--data-dir", str(tmp_path))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"'pneumoniamnist_128.npz' not found in folder '{tmp_path}'" in out.stderr


@pytest.mark.slow
def test_train_on_real_data(real_data_dir, tmp_path):
    out = run_cli("train", "--model", "small_cnn", "--epochs", "1", "--data-dir", str(real_data_dir),
                  "--out", str(tmp_path / "real"), "--no-progress")
    assert out.returncode == 0, out.stderr
    metrics = json.loads((tmp_path / "real" / "metrics.json").read_text())
    assert metrics["data"]["counts"]["test"] == {"normal": 234, "pneumonia": 390}
    assert metrics["test"]["auc"] > 0.9
