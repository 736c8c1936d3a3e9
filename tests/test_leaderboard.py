"""The leaderboard: our runs grouped by recipe, ordered by val AUC, next to published rows."""

from __future__ import annotations

import shutil

from pneumolib.cli import main
from pneumolib.config import TrainConfig
from pneumolib.experiments.leaderboard import OFFICIAL_TEST_IMAGES, PUBLISHED, build_leaderboard, recipe_name
from pneumolib.experiments.runs import RECORD_FORMAT, RECORD_VERSION, RunRecord, RunSpec
from pneumolib.experiments.store import RunStore

FINGERPRINT = "0123456789abcdef"  # stands for the data's fingerprint


def _run(store: RunStore, config: TrainConfig, val_auc: float, test_auc: float, fold=None) -> RunRecord:
    """A run's record as the runner stores it (in its own folder, named by its run id)."""
    spec = RunSpec(config, fold=fold, n_folds=5 if fold is not None else None)
    record = RunRecord({
        "format": RECORD_FORMAT, "format_version": RECORD_VERSION, "kind": "training",
        "run_id": spec.run_id(FINGERPRINT), "identity": spec.identity(FINGERPRINT),
        "config": config.to_dict(), "seed": config.seed,
        "val": {"auc": val_auc}, "test": {"auc": test_auc}, "medmnist": {"test": {"auc": test_auc, "acc": 0.9}},
        "tuned": {"criterion": "youden", "threshold": 0.5, "test": {"acc": 0.9}},
        "data": {"fingerprint": FINGERPRINT, "images": {"train": 4708, "val": 524, "test": OFFICIAL_TEST_IMAGES}},
        "probabilities": {"val": [0.5] * 524, "test": [0.5] * OFFICIAL_TEST_IMAGES},
        "tta_probabilities": {"val": [0.5] * 524, "test": [0.5] * OFFICIAL_TEST_IMAGES},
    })
    store.save_record(record)
    return record


def test_runs_group_by_recipe_and_order_by_val(tmp_path):
    store = RunStore(tmp_path / "store")
    small = TrainConfig(model="small_cnn", epochs=4)
    a0 = _run(store, small, 0.99, 0.95)
    _run(store, TrainConfig(model="small_cnn", epochs=4, seed=1), 0.97, 0.97)
    _run(store, TrainConfig(model="resnet18"), 0.995, 0.90)
    _run(store, small, 0.999, 0.99, fold=0)  # other training data: not on the board
    board = build_leaderboard(store)
    ours = board[board.source.str.startswith("this repository")]
    assert ours.result.tolist() == ["ResNet-18, scratch", "small CNN, scratch"]  # by val AUC, not by test AUC
    assert ours.epochs.tolist() == [10, 4] and ours.final_model.tolist() == ["one run", "one run"]
    row = ours.set_index("result").loc["small CNN, scratch"]
    assert row.seeds == "0, 1" and row.runs == 2 and abs(row.test_auc - 0.96) < 1e-12
    published = board[board.source.str.startswith("published")]
    assert len(published) == len(PUBLISHED) and published.source.str.contains("taken from the paper").all()
    assert recipe_name(TrainConfig(model="resnet18", seed=5, device="cpu").to_dict()) == "ResNet-18, scratch"

    # the same run, asked for again by another notebook, is stored once and counts once ...
    _run(store, small, 0.99, 0.95)
    # ... and a copy of its folder under another name is no run of the store
    shutil.copytree(store.folder(a0.run_id), store.root / "05_ablation_copy")
    again = build_leaderboard(store)
    row = again[again.source.str.startswith("this repository")].set_index("result").loc["small CNN, scratch"]
    assert row.runs == 2 and row.seeds == "0, 1" and abs(row.test_auc - 0.96) < 1e-12
    assert len(row.run_ids.split()) == len(set(row.run_ids.split())) == 2


def test_cli_writes_the_csv(tmp_path, capsys):
    _run(RunStore(tmp_path / "store"), TrainConfig(model="small_cnn"), 0.99, 0.95)
    assert main(["leaderboard", "--results", str(tmp_path)]) == 0
    assert (tmp_path / "metrics" / "leaderboard.csv").is_file()
    assert "1 rows from 1 runs, 5 published results" in capsys.readouterr().out


def test_one_row_per_recipe_budget_and_final_model_with_readable_names(tmp_path):
    """Runs that differ only in epochs are two rows with an epochs column; names are words, not cut."""
    store = RunStore(tmp_path / "store")
    ssl = "ssl:results/ssl/06_small_cnn_simclr.pt"
    for seed in range(3):
        _run(store, TrainConfig(model="small_cnn", epochs=4, seed=seed), 0.99, 0.95)
        _run(store, TrainConfig(model="small_cnn", seed=seed), 0.991, 0.96)
        _run(store, TrainConfig(model="small_cnn", seed=seed, mixup_alpha=0.2, warmup_epochs=1, ema_decay=0.99,
                                augment="strong", weight_decay=1e-4, class_weighting="pos_weight"), 0.992, 0.96)
    ours = build_leaderboard(store).query("source.str.startswith('this repository')", engine="python")
    assert len(ours) == 3 and sorted(ours.epochs.tolist()) == [4, 10, 10]
    long = ours.result.iloc[0]
    assert long == ("small CNN, scratch, strong augmentation, weight decay 0.0001, pos_weight loss, mixup α=0.2, "
                    "EMA 0.99, warm-up 1 epoch")
    assert recipe_name(TrainConfig(model="small_cnn", pretrained=ssl).to_dict()) == "small CNN, SimCLR init (06_small_cnn_simclr)"


def test_transductive_results_have_a_section_of_their_own_and_are_never_ranked(tmp_path):
    """An adapted final model, however high it scores, sits after every inductive row, in the
    transductive section, and the reading of the ranking leaves it out."""
    import numpy as np

    from pneumolib.experiments.leaderboard import INDUCTIVE, TRANSDUCTIVE
    from pneumolib.experiments.runs import adapted_record
    from pneumocourse.companions.best_model import leaderboard_findings

    store = RunStore(tmp_path / "store")
    base = _run(store, TrainConfig(model="small_cnn", epochs=4), 0.99, 0.95)
    _run(store, TrainConfig(model="resnet18"), 0.98, 0.93)
    y_test = np.r_[np.zeros(234, int), np.ones(390, int)]
    perfect = y_test.astype(float)  # an adapted result that scores perfectly on test
    store.save_record(adapted_record(base, "AdaBN", perfect, 0.5, y_test, prior=None))
    board = build_leaderboard(store)
    ours = board[board.source.str.startswith("this repository")]
    assert ours.section.tolist() == [INDUCTIVE, INDUCTIVE, TRANSDUCTIVE]
    adapted = ours[ours.section == TRANSDUCTIVE].iloc[0]
    assert adapted.final_model == "one run, adapted by AdaBN" and adapted.test_auc == 1.0
    assert "uses unlabeled test images" in TRANSDUCTIVE
    reading = leaderboard_findings(board)
    assert "ranks 1 of 2 on test" in reading and "1 transductive row" in reading
