import os
import subprocess
import sys
from pathlib import Path

import pytest

from pneumolib.cli import main
from pneumolib.experiments.store import RunStore


def run_cli(*args, cwd=None, results=None):
    env = {**os.environ, "PNEUMOLIB_RESULTS": str(results)} if results else None
    return subprocess.run([sys.executable, "-m", "pneumolib", *args], capture_output=True, text=True, cwd=cwd, env=env)


@pytest.fixture
def store(tmp_path, monkeypatch) -> RunStore:
    """The run store the CLI writes to: results/store in this test's own results folder."""
    monkeypatch.setenv("PNEUMOLIB_RESULTS", str(tmp_path / "results"))
    return RunStore(tmp_path / "results" / "store")


def stored_records(store: RunStore) -> list[dict]:
    return [r.fields for r in store.records()]


@pytest.mark.integration
def test_help_lists_commands():
    out = run_cli("--help")
    assert out.returncode == 0
    assert "train" in out.stdout and "download" in out.stdout


def _commands(parser) -> set[str]:
    return set(parser._subparsers._group_actions[0].choices)


def test_each_command_line_has_its_own_commands():
    from pneumocourse.cli import build_parser as course_parser
    from pneumolib.cli import build_parser as library_parser
    from tools.notebooks import build_parser as suite_parser

    library, course = _commands(library_parser()), _commands(course_parser())
    assert {"train", "pretrain", "predict", "export", "adapt", "bench-inference", "leaderboard", "download"} == library
    assert course == {"assignments", "best"} and _commands(suite_parser()) == {"run", "report", "times"}


def test_the_tools_command_lines_answer_a_bad_flag_with_one_line(capsys):
    from pneumocourse.cli import main as course_main
    from tools.bench import main as bench_main

    assert course_main(["assignments", "grade", "nowhere", "--workers", "-1"]) == 2
    assert capsys.readouterr().err == "error: --workers must be >= 0, --cell-timeout >= 1 and --notebook-timeout >= 0.\n"
    assert bench_main(["--profile", "vgg@28"]) == 2 and "MODEL@SIZE" in capsys.readouterr().err


@pytest.mark.integration
def test_every_train_option_has_help():
    out = run_cli("train", "--help").stdout
    options = [tok.split("=")[0] for tok in out.split() if tok.startswith("--") and tok != "--help"]
    assert len(set(options)) > 25
    import argparse

    from pneumolib.cli import build_parser

    train = next(a for a in build_parser()._subparsers._group_actions[0].choices.values() if a.prog.endswith("train"))
    missing = [a.dest for a in train._actions if not isinstance(a, argparse._HelpAction) and not a.help]
    assert missing == []


def test_train_writes_run_folder(fake_data_dir, store, capsys):
    args = ["train", "--model", "small_cnn", "--epochs", "2", "--batch-size", "32", "--seed", "4",
            "--data-dir", str(fake_data_dir), "--no-progress"]
    assert main(args) == 0
    (metrics,) = stored_records(store)
    for key in ("auc", "acc", "balanced_accuracy", "sensitivity", "specificity", "f1"):
        assert 0.0 <= metrics["test"][key] <= 1.0 and 0.0 <= metrics["val"][key] <= 1.0
    assert set(metrics["medmnist"]["test"]) == {"auc", "acc"}
    assert metrics["seed"] == 4 and metrics["config"]["model"] == "small_cnn"
    assert {"torch", "torchvision", "numpy", "medmnist"} <= set(metrics["versions"])
    assert metrics["data"]["counts"]["train"] == {"normal": 80, "pneumonia": 160}
    assert len(metrics["history"]) == 2 and 0 < metrics["tuned"]["threshold"] < 1  # history and config are in the record
    folder = store.folder(metrics["run_id"])
    assert sorted(p.name for p in folder.iterdir()) == ["model.pt", "record.json"]
    printed = capsys.readouterr().out
    assert "MedMNIST test AUC/ACC" in printed
    # $PNEUMOLIB_RESULTS is a temporary folder here: the printed folder is where the run is, not results/store/...
    (shown,) = [line.split("run folder: ")[1].split(" (")[0] for line in printed.splitlines() if "run folder: " in line]
    assert Path(shown).resolve() == folder.resolve() and (Path(shown) / "model.pt").is_file()
    assert main(args) == 0  # the same run again: loaded from the store, not trained
    assert f"run {metrics['run_id']}: loaded from the store" in capsys.readouterr().out
    assert len(stored_records(store)) == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--lr", "-1"], "error: lr must be a positive number, got -1.0."),
        (["--device", "cuda"], "CUDA is not available"),
        (["--image-size", "64", "--no-download"], "'pneumoniamnist_64.npz' not found"),
        (["--pretrained", "/nonexistent/weights.pth", "--model", "resnet18"], "does not exist"),
    ],
)
def test_bad_input_gives_one_clear_line(fake_data_dir, store, args, message, monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code = main(["train", "--model", "small_cnn", "--epochs", "1", "--data-dir", str(fake_data_dir),
                 "--no-progress", *args])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert stored_records(store) == []


@pytest.mark.integration
def test_bad_input_message_and_no_traceback(fake_data_dir, tmp_path):
    out = run_cli("train", "--lr", "-1", "--data-dir", str(fake_data_dir), results=tmp_path / "results")
    assert out.returncode == 2
    assert out.stderr.strip() == "error: lr must be a positive number, got -1.0."
    out = run_cli("train", "--image-size", "128", "--no-download", "--data-dir", str(tmp_path), results=tmp_path / "results")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"'pneumoniamnist_128.npz' not found in folder '{tmp_path}'" in out.stderr


@pytest.mark.integration
@pytest.mark.slow
def test_train_on_real_data(real_data_dir, tmp_path):
    out = run_cli("train", "--model", "small_cnn", "--epochs", "1", "--data-dir", str(real_data_dir),
                  "--no-progress", results=tmp_path / "results")
    assert out.returncode == 0, out.stderr
    (metrics,) = stored_records(RunStore(tmp_path / "results" / "store"))
    assert metrics["data"]["counts"]["test"] == {"normal": 234, "pneumonia": 390}
    assert metrics["test"]["auc"] > 0.9


def test_train_has_no_out_flag_and_writes_to_the_run_store(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--out", "somewhere"])
    assert "unrecognized arguments: --out somewhere" in capsys.readouterr().err


def test_printed_paths_are_where_the_files_are(tmp_path, monkeypatch):
    """Results paths read ``results/...`` only where that is where they are: from the project root
    with the project's results folder; elsewhere (another $PNEUMOLIB_RESULTS, another working
    directory) the command prints the absolute path."""
    from pneumolib.cli import where
    from pneumolib.paths import project_root, results_base

    root = project_root()
    monkeypatch.chdir(root)
    monkeypatch.delenv("PNEUMOLIB_RESULTS", raising=False)
    assert where(results_base() / "store" / "run-x") == str(Path("results", "store", "run-x"))
    assert where(root / "pneumolib" / "cli.py") == str(Path("pneumolib", "cli.py"))
    monkeypatch.setenv("PNEUMOLIB_RESULTS", str(tmp_path / "elsewhere"))
    assert where(results_base() / "store" / "run-x") == str((tmp_path / "elsewhere" / "store" / "run-x").resolve())
    monkeypatch.delenv("PNEUMOLIB_RESULTS")
    monkeypatch.chdir(tmp_path)
    assert where(root / "results" / "store" / "run-x") == str(root / "results" / "store" / "run-x")
    assert where(tmp_path / "other" / "file.csv") == str(Path("other", "file.csv"))  # relative to the working directory


def test_leaderboard_prints_where_it_wrote(fake_data_dir, store, capsys):
    assert main(["leaderboard", "--data-dir", str(fake_data_dir)]) == 0
    shown = capsys.readouterr().out.strip().splitlines()[-1].split(" -> ")[1]
    assert Path(shown).is_file() and Path(shown).resolve() == (store.root.parent / "metrics" / "leaderboard.csv").resolve()
