"""The leaderboard: our runs grouped by recipe, ordered by val AUC, next to published rows."""

from __future__ import annotations

import json

from pneumolib.cli import main
from pneumolib.config import TrainConfig
from pneumolib.experiments.leaderboard import PUBLISHED, build_leaderboard, recipe_name


def _run(folder, config: TrainConfig, val_auc: float, test_auc: float, fold=None):
    folder.mkdir(parents=True)
    record = {"config": config.to_dict(), "val": {"auc": val_auc}, "test": {"auc": test_auc},
              "medmnist": {"test": {"auc": test_auc, "acc": 0.9}}}
    if fold is not None:
        record["fold"] = fold
    (folder / "metrics.json").write_text(json.dumps(record))


def test_runs_group_by_recipe_and_order_by_val(tmp_path):
    small = TrainConfig(model="small_cnn", epochs=4)
    _run(tmp_path / "runs" / "a0", small, 0.99, 0.95)
    _run(tmp_path / "runs" / "a1", TrainConfig(model="small_cnn", epochs=4, seed=1), 0.97, 0.97)
    _run(tmp_path / "runs" / "b0", TrainConfig(model="resnet18"), 0.995, 0.90)
    _run(tmp_path / "runs" / "cv", small, 0.999, 0.99, fold=0)  # other training data: not on the board
    board = build_leaderboard(tmp_path)
    ours = board[board.source.str.startswith("this repository")]
    assert ours.result.tolist() == ["resnet18", "small_cnn epochs=4"]  # by val AUC, not by test AUC
    row = ours.set_index("result").loc["small_cnn epochs=4"]
    assert row.seeds == "0 1" and row.runs == 2 and abs(row.test_auc - 0.96) < 1e-12
    published = board[board.source.str.startswith("published")]
    assert len(published) == len(PUBLISHED) and published.source.str.contains("taken from the paper").all()
    assert recipe_name(TrainConfig(model="resnet18", seed=5, device="cpu").to_dict()) == "resnet18"


def test_cli_writes_the_csv(tmp_path, capsys):
    _run(tmp_path / "runs" / "a0", TrainConfig(model="small_cnn"), 0.99, 0.95)
    assert main(["leaderboard", "--results", str(tmp_path)]) == 0
    assert (tmp_path / "metrics" / "leaderboard.csv").is_file()
    assert "1 recipes from 1 runs, 5 published results" in capsys.readouterr().out
