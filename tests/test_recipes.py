"""The best-recipe search's decision rules, the leaderboard's CIs, and the `best` command that
reproduces the final model from notebook 06's saved decisions."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pneumocourse import final_model as best_module  # the final model of 06, reproduced by `best`
from pneumocourse import search as recipes
from pneumolib.experiments.scoring import ScoredModel, seed_mean_ci
from pneumocourse import nbtools
from pneumocourse.goal import goal_table
from pneumolib.cli import main
from pneumocourse.cli import main as course_main
from pneumolib.config import TrainConfig
from pneumolib.errors import ConfigError
from pneumolib.experiments.leaderboard import build_leaderboard
from pneumolib.evaluation.metrics import binary_metrics
from pneumolib.experiments.runs import (RECORD_FORMAT, RECORD_VERSION, DataSpec, RunRecord, RunSpec, ensemble_record,
                                        round_probabilities, score)
from pneumolib.experiments.store import RunStore

COMMITTED_DECISIONS = Path(__file__).parents[1] / "results" / "metrics" / best_module.DECISIONS_FILE


def _runs(val: dict[str, list[float]]) -> pd.DataFrame:
    """A run table: one row per arm and seed (seeds 0, 1, ...), all ran."""
    return pd.DataFrame([{"arm": arm, "seed": seed, "val_auc": v, "status": "ran"}
                         for arm, values in val.items() for seed, v in enumerate(values)])


def test_components_are_kept_only_when_val_auc_rises_beyond_the_seed_noise():
    base = [0.9900, 0.9910, 0.9905]  # seed sd 0.0005: the noise is two of them, 0.0010
    runs = _runs({"base": base, "+ mixup (alpha 0.2)": [v + 0.0020 for v in base],  # 4 seed sds: kept
                  "+ CutMix (alpha 1.0)": [v - 0.0010 for v in base],
                  "+ EMA of weights (0.99)": [v + 0.0007 for v in base]})  # a gain beyond one seed sd, inside two
    assert recipes.kept_components(runs) == ["mixup (alpha 0.2)"]
    ema = next(d for d in recipes.component_decisions(runs) if d.option == "+ EMA of weights (0.99)")
    assert ema.noise == pytest.approx(0.0010) and not ema.kept and ema.verdict == "within the noise"
    assert recipes.choose_arm(runs)[0] == "+ mixup (alpha 0.2)"
    assert recipes.kept_components(_runs({"base": base, "+ mixup (alpha 0.2)": base})) == []  # a tie is no gain


def test_combined_recipe_adds_every_kept_component():
    settings = recipes.component_settings("ssl:results/ssl/x.pt")
    combined = recipes.combined_recipe(recipes.BASE_RECIPE, settings, ["mixup (alpha 0.2)", recipes.SSL_COMPONENT])
    assert combined.mixup_alpha == 0.2 and combined.pretrained == "ssl:results/ssl/x.pt" and combined.cutmix_alpha == 0
    assert recipes.SSL_COMPONENT not in recipes.component_settings(None)


def test_seed_mean_ci_brackets_the_mean_and_narrows_with_better_models():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(200, int), np.ones(300, int)]
    models = [ScoredModel(f"s{i}", np.empty(0), np.clip(y * 0.6 + rng.normal(0.2, 0.2, len(y)), 0, 1))
              for i in range(3)]
    ci = seed_mean_ci(y, models, [0.5, 0.5, 0.5], n_boot=400)
    mean_auc = np.mean([binary_metrics(y, m.p_test)["auc"] for m in models])
    assert ci.loc["test_auc", "ci_low"] < mean_auc < ci.loc["test_auc", "ci_high"]
    assert ci.loc["test_auc", "ci_high"] - ci.loc["test_auc", "ci_low"] < 0.05


def test_goal_table_says_plainly_whether_the_goal_is_met():
    final = pd.DataFrame({"test_auc": [0.97, 0.99], "test_acc_val_threshold": [0.93, 0.95], "test_acc_at_0.5": [0.9, 0.9]})
    ci = pd.DataFrame({"ci_low": [0.9] * 3, "ci_high": [1.0] * 3}, index=["test_auc", "test_acc_val_threshold", "test_acc_at_0.5"])
    goal = goal_table(final, ci)
    assert not goal.loc["test_auc", "goal_met"] and goal.loc["test_acc_val_threshold", "goal_met"]
    assert goal.loc["test_acc_val_threshold", "stretch_met"] is False or not goal.loc["test_acc_val_threshold", "stretch_met"]
    assert goal.loc["test_acc_at_0.5", "goal_met"] is None


def test_seed_groups_parameter_is_checked():
    assert nbtools.check_seed_groups([[0, 1], [2, 3]]) == [[0, 1], [2, 3]]
    for bad, message in (([[0, 1], [1, 2]], "each in one group only"), ([[0, 1], [2]], "equal size"),
                         ([], "non-empty list"), ([[0], [-1]], "distinct integers >= 0")):
        with pytest.raises(ConfigError, match=message):
            nbtools.check_seed_groups(bad)


FINGERPRINT = "0123456789abcdef"  # stands for the data's fingerprint


def _stored_run(store, config, y_val, p_val, y_test, p_test, fold=None, test_images=None) -> RunRecord:
    """A training run's record as the runner stores it (scored by the real scoring function)."""
    spec = RunSpec(config, fold=fold, n_folds=5 if fold is not None else None)
    record = RunRecord({
        "format": RECORD_FORMAT, "format_version": RECORD_VERSION, "kind": "training",
        "run_id": spec.run_id(FINGERPRINT), "identity": spec.identity(FINGERPRINT),
        "config": config.to_dict(), "seed": config.seed, **score(y_val, p_val, y_test, p_test),
        "data": {"source": "PneumoniaMNIST", "image_size": 28, "fingerprint": FINGERPRINT,
                 "images": {"train": 4708, "val": len(y_val), "test": test_images or len(y_test)}},
        "probabilities": {"val": round_probabilities(p_val), "test": round_probabilities(p_test)},
        "tta_probabilities": {"val": round_probabilities(p_val), "test": round_probabilities(p_test)},
    })
    store.save_record(record)
    return record


def test_leaderboard_gives_bootstrap_cis_and_leaves_out_subset_runs(tmp_path):
    rng = np.random.default_rng(1)
    y = np.r_[np.zeros(234, int), np.ones(390, int)]
    y_val = np.r_[np.zeros(135, int), np.ones(389, int)]
    store = RunStore(tmp_path / "store")
    config = TrainConfig(model="small_cnn")
    members = [_stored_run(store, replace(config, seed=seed), y_val, np.clip(y_val * 0.5 + rng.uniform(0, 0.5, len(y_val)), 0, 1),
                           y, np.clip(y * 0.5 + rng.uniform(0, 0.5, len(y)), 0, 1)) for seed in range(3)]
    smoke_y = y[::4][:160]  # the smoke profile's stratified subset: not the official test split
    _stored_run(store, replace(config, epochs=2), smoke_y, np.full(len(smoke_y), 0.5), smoke_y, np.full(len(smoke_y), 0.5))
    final = ensemble_record("final", members[:2], False, y_val, y, recipe="best recipe (06): x")
    store.save_record(final)
    board = build_leaderboard(store, y_test=y, n_boot=300)
    ours = board[board.source.str.startswith("this repository")].set_index("result")
    assert ours.index.tolist() == ["small CNN, scratch"] * 2
    assert sorted(ours.final_model) == ["ensemble of 2", "one run"]  # the ensemble is a row of its own
    ours = ours.set_index("final_model")
    row = ours.loc["one run"]
    low, high = (float(v) for v in row.test_auc_ci.strip("[]").split(","))
    assert row.runs == 3 and low <= row.test_auc <= high
    assert isinstance(row.test_acc_val_threshold_ci, str)
    assert ours.loc["ensemble of 2", "runs"] == 1 and ours.loc["ensemble of 2", "seeds"] == "0 1"
    assert 2 not in ours.epochs.tolist()  # the smoke subset run is not on the board
    assert build_leaderboard(store).get("test_auc_ci") is None  # no labels, no CI
    # the same run stored again (another notebook asked for it) is still one run of its recipe
    store.save_record(members[0])
    again = build_leaderboard(store, y_test=y, n_boot=300).set_index("final_model")
    assert again.loc["one run", "runs"] == 3 and again.loc["one run", "test_auc"] == pytest.approx(row.test_auc)


def test_best_subcommand_has_no_training_options(capsys):
    with pytest.raises(SystemExit) as exit_:
        course_main(["best", "--lr", "0.01"])  # best trains the recipe 06 decided: no training flags to pass
    assert exit_.value.code == 2 and "unrecognized arguments: --lr 0.01" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        course_main(["best", "--amp", "off"])  # not silently ignored either
    assert "unrecognized arguments: --amp off" in capsys.readouterr().err
    assert course_main(["best", "--workers", "-1"]) == 2
    err = capsys.readouterr().err
    assert err == "error: --workers must be >= 0, got -1.\n"  # one line, no traceback


def test_train_best_reproduces_a_recorded_recipe(fake_data_dir, tmp_path):
    decisions = {"chosen_arm": "+ mixup (alpha 0.2)", "tta": True, "ensemble": True,
                 "ensemble_groups": [["seed0", "seed1"]],
                 "chosen_config": {**TrainConfig(model="small_cnn", epochs=2, batch_size=32, mixup_alpha=0.2).to_dict()}}
    store = RunStore(tmp_path / "store")
    best = best_module.train_best(DataSpec(str(fake_data_dir)), decisions, store, device="cpu", out=tmp_path / "best",
                                  log=None, executor=ThreadPoolExecutor(1))
    table, record = best.runs, best.record.fields
    assert table.status.tolist() == ["ran", "ran", "ran"] and record["seed"] == "0 1"
    saved = json.loads((store.folder(best.record.run_id) / "record.json").read_text())
    assert saved["recipe"] == "best recipe (06): ensemble of 2 x small_cnn '+ mixup (alpha 0.2)' + TTA"
    assert 0 < saved["tuned"]["threshold"] < 1 and len(saved["probabilities"]["test"]) == 60
    member_seed1 = table.set_index("key").loc["members/mixup__alpha_0_2/seed1", "run_id"]
    assert store.model_path(member_seed1).is_file()
    # the distilled student is an ordinary checkpoint that carries its val-picked threshold
    from pneumolib.models import load_model

    assert best.student_path == tmp_path / "best" / best_module.STUDENT_FILE
    _, config, payload = load_model(tmp_path / "best" / "student.pt")
    assert config.distill_weight == best_module.DISTILL_WEIGHT and 0 < payload["threshold"] < 1
    student_id = table.set_index("key").loc["distilled/mixup__alpha_0_2/seed0", "run_id"]
    assert payload["threshold"] == json.loads((store.folder(student_id) / "record.json").read_text())["tuned"]["threshold"]


def _expected_name(decisions: dict) -> str:
    """The final model's name as the decisions say it: the chosen arm, single or an ensemble, TTA or not."""
    what = f"ensemble of {len(decisions['ensemble_groups'][0])} x" if decisions["ensemble"] else "single"
    return f"best recipe (06): {what} small_cnn '{decisions['chosen_arm']}'" + (" + TTA" if decisions["tta"] else "")


def test_saved_decisions_of_notebook_06_load_into_a_valid_recipe(monkeypatch):
    committed = json.loads(COMMITTED_DECISIONS.read_text())
    decisions = best_module.load_decisions(COMMITTED_DECISIONS)
    assert decisions == committed
    TrainConfig.from_dict(decisions["chosen_config"])  # a valid configuration
    assert best_module.recipe_name(decisions) == _expected_name(committed)  # whatever 06 chose last
    monkeypatch.setenv("PNEUMOLIB_RESULTS", str(COMMITTED_DECISIONS.parents[1]))
    assert best_module.load_decisions() == committed  # the default: results/metrics/06_decisions.json


def test_missing_or_garbled_decisions_are_a_clear_error(tmp_path, capsys):
    with pytest.raises(ConfigError, match="No saved decisions at nowhere.json; run notebooks/06_best_model.ipynb"):
        best_module.load_decisions(tmp_path / "nowhere.json")
    garbled = tmp_path / "garbled.json"
    garbled.write_text('{"chosen_arm": "base", ')
    with pytest.raises(ConfigError, match="garbled.json is not a decisions file saved by notebook 06"):
        best_module.load_decisions(garbled)
    incomplete = tmp_path / "incomplete.json"
    incomplete.write_text(json.dumps({k: v for k, v in json.loads(COMMITTED_DECISIONS.read_text()).items() if k != "tta"}))
    with pytest.raises(ConfigError, match="incomplete.json is not a decisions file saved by notebook 06 .*'tta'"):
        best_module.load_decisions(incomplete)
    bad_config = tmp_path / "bad_config.json"
    bad_config.write_text(json.dumps({**json.loads(COMMITTED_DECISIONS.read_text()), "chosen_config": {"lr": -1}}))
    with pytest.raises(ConfigError, match="lr must be a positive number"):
        best_module.load_decisions(bad_config)
    assert course_main(["best", "--decisions", str(tmp_path / "nowhere.json")]) == 2  # the command: one line, no traceback
    err = capsys.readouterr().err
    assert err.startswith("error: No saved decisions at nowhere.json") and err.count("\n") == 1


def test_bootstrap_seed_mean_needs_one_threshold_per_model():
    from pneumolib.evaluation.metrics import bootstrap_seed_mean

    with pytest.raises(ValueError, match="one threshold per model"):
        bootstrap_seed_mean(np.array([0, 1]), [np.array([0.2, 0.8])], [0.5, 0.5])


@pytest.mark.integration
def test_cli_best_end_to_end(fake_data_dir, tmp_path, capsys, monkeypatch):
    results = tmp_path / "results"
    monkeypatch.setenv("PNEUMOLIB_RESULTS", str(results))
    (results / "metrics").mkdir(parents=True)
    shutil.copyfile(COMMITTED_DECISIONS, results / "metrics" / best_module.DECISIONS_FILE)  # as notebook 06 saved them
    out = tmp_path / "best"
    assert course_main(["best", "--data-dir", str(fake_data_dir), "--out", str(out), "--device", "cpu", "--workers", "2"]) == 0
    printed = capsys.readouterr().out
    committed = json.loads(COMMITTED_DECISIONS.read_text())
    seeds = [s.removeprefix("seed") for s in committed["ensemble_groups"][0]] if committed["ensemble"] else ["0"]
    assert f"{_expected_name(committed)} (members: seeds {' '.join(seeds)})" in printed
    assert "distilled student (one small CNN, no TTA)" in printed and (out / "student.pt").is_file()
    # the student is a drop-in model for the detector, with its own val-picked threshold
    from PIL import Image

    from pneumolib.models import load_model

    image = tmp_path / "xray.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (28, 28), dtype=np.uint8)).save(image)
    assert main(["predict", str(image), "--model", str(out / "student.pt"), "--json"]) == 0
    prediction = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert prediction["threshold"] == pytest.approx(load_model(out / "student.pt")[2]["threshold"])
