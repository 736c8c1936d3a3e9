"""The best-recipe search's decision rules, the leaderboard's CIs, and `train --recipe best`."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from pneumolib.experiments import search as recipes
from pneumolib.notebooks import nbtools
from pneumolib.cli import main
from pneumolib.config import TrainConfig
from pneumolib.errors import ConfigError
from pneumolib.experiments.leaderboard import build_leaderboard
from pneumolib.evaluation.metrics import binary_metrics
from pneumolib.experiments.runner import DataSpec


def _arms(val: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({"val_auc_mean": val}).rename_axis("arm")


def test_components_are_kept_only_when_val_auc_rises():
    arms = _arms({"base": 0.990, "+ mixup (alpha 0.2)": 0.992, "+ CutMix (alpha 1.0)": 0.989,
                  "+ EMA of weights (0.99)": 0.991})
    assert recipes.kept_components(arms) == ["mixup (alpha 0.2)", "EMA of weights (0.99)"]
    assert recipes.choose_arm(arms) == "+ mixup (alpha 0.2)"
    assert recipes.kept_components(_arms({"base": 0.99, "+ mixup (alpha 0.2)": 0.99})) == []  # a tie is no gain


def test_combined_recipe_adds_every_kept_component():
    settings = recipes.component_settings("ssl:results/ssl/x.pt")
    combined = recipes.combined_recipe(recipes.BASE_RECIPE, settings, ["mixup (alpha 0.2)", recipes.SSL_COMPONENT])
    assert combined.mixup_alpha == 0.2 and combined.pretrained == "ssl:results/ssl/x.pt" and combined.cutmix_alpha == 0
    assert recipes.SSL_COMPONENT not in recipes.component_settings(None)


def test_seed_mean_ci_brackets_the_mean_and_narrows_with_better_models():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(200, int), np.ones(300, int)]
    models = [recipes.ScoredModel(f"s{i}", np.empty(0), np.clip(y * 0.6 + rng.normal(0.2, 0.2, len(y)), 0, 1))
              for i in range(3)]
    ci = recipes.seed_mean_ci(y, models, [0.5, 0.5, 0.5], n_boot=400)
    mean_auc = np.mean([binary_metrics(y, m.p_test)["auc"] for m in models])
    assert ci.loc["test_auc", "ci_low"] < mean_auc < ci.loc["test_auc", "ci_high"]
    assert ci.loc["test_auc", "ci_high"] - ci.loc["test_auc", "ci_low"] < 0.05


def test_goal_table_says_plainly_whether_the_goal_is_met():
    final = pd.DataFrame({"test_auc": [0.97, 0.99], "test_acc_val_threshold": [0.93, 0.95], "test_acc_at_0.5": [0.9, 0.9]})
    ci = pd.DataFrame({"ci_low": [0.9] * 3, "ci_high": [1.0] * 3}, index=["test_auc", "test_acc_val_threshold", "test_acc_at_0.5"])
    goal = recipes.goal_table(final, ci)
    assert not goal.loc["test_auc", "goal_met"] and goal.loc["test_acc_val_threshold", "goal_met"]
    assert goal.loc["test_acc_val_threshold", "stretch_met"] is False or not goal.loc["test_acc_val_threshold", "stretch_met"]
    assert goal.loc["test_acc_at_0.5", "goal_met"] is None


def test_seed_groups_parameter_is_checked():
    assert nbtools.check_seed_groups([[0, 1], [2, 3]]) == [[0, 1], [2, 3]]
    for bad, message in (([[0, 1], [1, 2]], "each in one group only"), ([[0, 1], [2]], "equal size"),
                         ([], "non-empty list"), ([[0], [-1]], "distinct integers >= 0")):
        with pytest.raises(ConfigError, match=message):
            nbtools.check_seed_groups(bad)


def _record(folder, name, config, p_test, y_test, p_val=None, threshold=0.5, **extra):
    folder.mkdir(parents=True, exist_ok=True)
    record = {"config": config.to_dict(), "val": {"auc": 0.99}, "test": binary_metrics(y_test, p_test),
              "medmnist": {"test": {"auc": binary_metrics(y_test, p_test)["auc"], "acc": binary_metrics(y_test, p_test)["acc"]}},
              "tuned": {"threshold": threshold, "test": binary_metrics(y_test, p_test, threshold)},
              "probabilities": {"test": list(map(float, p_test))}, **extra}
    (folder / f"{name}.json").write_text(json.dumps(record))


def test_leaderboard_gives_bootstrap_cis_and_leaves_out_subset_runs(tmp_path):
    rng = np.random.default_rng(1)
    y = np.r_[np.zeros(234, int), np.ones(390, int)]
    config = TrainConfig(model="small_cnn")
    for seed in range(3):
        _record(tmp_path / "runs" / "06_best_default" / "components", f"seed{seed}", replace(config, seed=seed),
                np.clip(y * 0.5 + rng.uniform(0, 0.5, len(y)), 0, 1), y, data={"images": {"test": 624}})
    _record(tmp_path / "runs" / "06_best_smoke", "seed0", replace(config, epochs=2), np.full(len(y), 0.5), y,
            data_spec={"subset": [384, 160]})
    _record(tmp_path / "runs" / "final", "ens", config, np.clip(y * 0.6 + 0.2, 0, 1), y, recipe="best recipe (06): x",
            seed="seed0 seed1")
    board = build_leaderboard(tmp_path, y_test=y, n_boot=300)
    ours = board[board.source.str.startswith("this repository")].set_index("result")
    assert list(ours.index) == ["best recipe (06): x", "small_cnn"] or set(ours.index) == {"best recipe (06): x", "small_cnn"}
    row = ours.loc["small_cnn"]
    low, high = (float(v) for v in row.test_auc_ci.strip("[]").split(","))
    assert row.runs == 3 and low <= row.test_auc <= high
    assert isinstance(row.test_acc_val_threshold_ci, str)
    assert "small_cnn epochs=2" not in ours.index  # the smoke subset run is not on the board
    assert build_leaderboard(tmp_path).get("test_auc_ci") is None  # no labels, no CI


def test_train_recipe_best_refuses_other_training_options(capsys):
    assert main(["train", "--recipe", "best", "--lr", "0.01"]) == 2
    assert "--recipe best fixes the training configuration; drop --lr" in capsys.readouterr().err
    assert main(["train", "--recipe", "best", "--amp", "off"]) == 2  # not silently ignored
    assert "drop --amp" in capsys.readouterr().err


def test_train_best_reproduces_a_recorded_recipe(fake_data_dir, tmp_path):
    decisions = {"chosen_arm": "+ mixup (alpha 0.2)", "tta": True, "ensemble": True,
                 "ensemble_groups": [["seed0", "seed1"]],
                 "chosen_config": {**TrainConfig(model="small_cnn", epochs=2, batch_size=32, mixup_alpha=0.2).to_dict()}}
    record, table = recipes.train_best(DataSpec(str(fake_data_dir)), tmp_path / "best", decisions, device="cpu", log=None,
                                       executor=ThreadPoolExecutor(1))
    assert table.status.tolist() == ["ran", "ran", "ran"] and record["seed"] == "0 1"
    saved = json.loads((tmp_path / "best" / "final.json").read_text())
    assert saved["recipe"] == "best recipe (06): ensemble of 2 x small_cnn '+ mixup (alpha 0.2)' + TTA"
    assert 0 < saved["tuned"]["threshold"] < 1 and len(saved["probabilities"]["test"]) == 60
    assert (tmp_path / "best" / "members" / "mixup__alpha_0_2" / "seed1.pt").is_file()
    # the distilled student is an ordinary checkpoint that carries its val-picked threshold
    from pneumolib.models import load_model

    _, config, payload = load_model(tmp_path / "best" / "student.pt")
    assert config.distill_weight == recipes.DISTILL_WEIGHT and 0 < payload["threshold"] < 1
    assert payload["threshold"] == json.loads((tmp_path / "best" / "distilled" / "mixup__alpha_0_2" / "seed0.json")
                                              .read_text())["tuned"]["threshold"]


def test_best_recipe_is_what_notebook_06_decided():
    from pathlib import Path

    saved = json.loads((Path(__file__).parents[1] / "results" / "metrics" / recipes.DECISIONS_FILE).read_text())
    assert saved == recipes.BEST_RECIPE
    TrainConfig.from_dict(saved["chosen_config"])  # a valid configuration


def test_bootstrap_seed_mean_needs_one_threshold_per_model():
    from pneumolib.evaluation.metrics import bootstrap_seed_mean

    with pytest.raises(ValueError, match="one threshold per model"):
        bootstrap_seed_mean(np.array([0, 1]), [np.array([0.2, 0.8])], [0.5, 0.5])


def test_cli_train_recipe_best_end_to_end(fake_data_dir, tmp_path, capsys):
    out = tmp_path / "best"
    assert main(["train", "--recipe", "best", "--data-dir", str(fake_data_dir), "--out", str(out),
                 "--device", "cpu", "--workers", "2"]) == 0
    printed = capsys.readouterr().out
    assert "best recipe (06): ensemble of 3 x small_cnn 'base + kept components' + TTA (members: seeds 0 1 2)" in printed
    assert "distilled student (one small CNN, no TTA)" in printed and (out / "student.pt").is_file()
    # the student is a drop-in model for the detector, with its own val-picked threshold
    from PIL import Image

    from pneumolib.models import load_model

    image = tmp_path / "xray.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (28, 28), dtype=np.uint8)).save(image)
    assert main(["predict", str(image), "--model", str(out / "student.pt"), "--json"]) == 0
    prediction = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert prediction["threshold"] == pytest.approx(load_model(out / "student.pt")[2]["threshold"])
