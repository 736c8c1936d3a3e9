"""The parallel sweep runner: process pool, resume, failures, and a real Dask LocalCluster."""

from __future__ import annotations

import json
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import replace

import pandas as pd
import pytest

from pneumolib.config import TrainConfig
from pneumolib.data import cv_fold, cv_pool, load_pneumoniamnist
from pneumolib.errors import ConfigError
from pneumolib.experiments.studies import (FULL_RECIPE, NO_THRESHOLD_TUNING, ablation_table, ablation_tasks, cv_summary,
                                   cv_tasks, fold_table, full_recipe, grid_tasks)
from pneumolib.experiments.runner import DataSpec, Task, run_sweep, select_runs

TINY = TrainConfig(model="small_cnn", epochs=1, batch_size=32, augment="none", device="cpu")


def tasks_for(config=TINY):
    return [Task("demo/a", config, labels={"arm": "a"}), Task("demo/b", replace(config, lr=3e-3), labels={"arm": "b"})]


class RefusingExecutor(Executor):
    """Fails the test if anything is submitted (a fully resumed sweep must not run anything)."""

    def submit(self, fn, *args, **kwargs):
        raise AssertionError("a finished task was submitted again")


def test_process_pool_sweep_writes_each_result_and_resumes(fake_data_dir, tmp_path):
    spec = DataSpec(str(fake_data_dir))
    table = run_sweep(tasks_for(), spec, tmp_path / "sweep", workers=2, log=None)
    assert table.status.tolist() == ["ran", "ran"] and table.arm.tolist() == ["a", "b"]
    saved = json.loads((tmp_path / "sweep" / "demo" / "a.json").read_text())
    assert saved["config"]["lr"] == TINY.lr and saved["versions"]["torch"]
    assert 0 < saved["tuned"]["threshold"] < 1 and saved["data"]["images"] == {"train": 240, "val": 60, "test": 60}

    resumed = run_sweep(tasks_for(), spec, tmp_path / "sweep", executor=RefusingExecutor(), log=None)
    pd.testing.assert_frame_equal(resumed, table)


def test_changed_config_or_data_reruns_only_the_changed_task(fake_data_dir, tmp_path):
    spec = DataSpec(str(fake_data_dir))
    run_sweep(tasks_for(), spec, tmp_path / "sweep", executor=ThreadPoolExecutor(1), log=None)
    messages = []
    changed = [tasks_for()[0], replace(tasks_for()[1], config=replace(TINY, lr=1e-2))]
    run_sweep(changed, spec, tmp_path / "sweep", executor=ThreadPoolExecutor(1), log=messages.append)
    assert messages[0].startswith("2 runs: 1 already finished") and "demo/b" in messages[1]
    messages.clear()
    subset = DataSpec(str(fake_data_dir), subset=(90, 40))
    run_sweep(changed, subset, tmp_path / "sweep", executor=ThreadPoolExecutor(1), log=messages.append)
    assert messages[0].startswith("2 runs: 0 already finished")


def test_a_failed_task_is_reported_and_retried_later(tmp_path, fake_data_dir):
    missing = DataSpec(str(tmp_path / "nowhere"))
    table = run_sweep(tasks_for()[:1], missing, tmp_path / "sweep", executor=ThreadPoolExecutor(1), log=None)
    assert table.status.tolist() == ["failed"] and "DatasetNotFoundError" in table.error.iloc[0]
    assert not (tmp_path / "sweep" / "demo" / "a.json").exists()
    table = run_sweep(tasks_for()[:1], DataSpec(str(fake_data_dir)), tmp_path / "sweep",
                      executor=ThreadPoolExecutor(1), log=None)
    assert table.status.tolist() == ["ran"]


@pytest.mark.parametrize("key", ["", "/abs", "a/../b"])
def test_task_keys_must_be_relative_names(key, tmp_path, fake_data_dir):
    with pytest.raises(ConfigError, match="relative name"):
        run_sweep([Task(key, TINY)], DataSpec(str(fake_data_dir)), tmp_path, executor=RefusingExecutor(), log=None)


def test_duplicate_keys_are_refused(tmp_path, fake_data_dir):
    with pytest.raises(ConfigError, match="unique"):
        run_sweep([Task("x", TINY), Task("x", TINY)], DataSpec(str(fake_data_dir)), tmp_path, log=None)


def test_dask_local_cluster_executor_gives_the_same_results(fake_data_dir, tmp_path):
    """The README's multi-machine path: a Dask cluster's executor runs the same sweep."""
    distributed = pytest.importorskip("distributed")
    spec = DataSpec(str(fake_data_dir))
    local = run_sweep(tasks_for(), spec, tmp_path / "local", workers=2, log=None)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        on_dask = run_sweep(tasks_for(), spec, tmp_path / "dask", executor=client.get_executor(), log=None)
    metrics = ["val_auc", "test_auc", "tuned_threshold", "best_epoch"]
    pd.testing.assert_frame_equal(on_dask[metrics], local[metrics])  # CPU training is deterministic
    assert (tmp_path / "dask" / "demo" / "b.json").is_file()


def test_cv_pool_drops_duplicates_and_folds_are_disjoint(real_data):
    pool = cv_pool(real_data)
    assert len(pool) == len(real_data.train) + len(real_data.val) - 26  # 18 within train, 8 shared with val
    seen = []
    for fold in range(5):
        data = cv_fold(real_data, 5, fold)
        assert data.test is real_data.test
        assert len(data.train) + len(data.val) == len(pool)
        assert abs(data.val.labels.mean() - pool.labels.mean()) < 0.01  # stratified
        seen.append({img.tobytes() for img in data.val.images})
    assert sum(len(s) for s in seen) == len(pool) == len(set().union(*seen))
    with pytest.raises(ValueError, match="fold must be"):
        cv_fold(real_data, 5, 5)


def test_ablation_arms_each_remove_exactly_one_component():
    full = full_recipe("small_cnn")
    tasks, not_applicable = ablation_tasks(full, seeds=[0, 1])
    arms = {t.labels["arm"]: t.config for t in tasks}
    assert len(tasks) == 2 * len(arms) and FULL_RECIPE in arms
    assert set(not_applicable) == {"− pretrained weights"}
    for arm, config in arms.items():
        changed = {k for k, v in config.to_dict().items() if v != full.to_dict()[k] and k != "seed"}
        if arm == FULL_RECIPE:
            assert not changed
        elif arm == "− head dropout":
            assert changed == {"head_hidden", "head_dropout"} and config.head_dropout == (0.0, 0.0)
        else:
            assert len(changed) == 1, (arm, changed)


def test_resnet_recipe_offline_reports_pretrained_arms_as_not_applicable():
    tasks, not_applicable = ablation_tasks(full_recipe("resnet18"), seeds=[0])
    arms = {t.labels["arm"] for t in tasks}
    assert "− batch norm" in not_applicable
    if FULL_RECIPE not in arms:  # no ImageNet weights here: the reason is the loader's own message
        assert "resnet18" in not_applicable[FULL_RECIPE] and arms == {"− pretrained weights"}


def test_ablation_and_cv_tables_from_a_sweep_table():
    rows = []
    for arm, aucs in ((FULL_RECIPE, [0.90, 0.92]), ("− augmentation", [0.85, 0.87])):
        for seed, auc in enumerate(aucs):
            rows.append({"key": f"ablation/{arm}/seed{seed}", "arm": arm, "seed": seed, "status": "ran",
                         "val_auc": 0.99, "test_auc": auc, "test_acc": 0.8, "tuned_test_acc": 0.9,
                         "test_balanced_accuracy": 0.7, "tuned_test_balanced_accuracy": 0.75,
                         "test_sensitivity": 0.9, "tuned_test_sensitivity": 0.95, "test_specificity": 0.6,
                         "tuned_test_specificity": 0.55, "test_f1": 0.8, "tuned_test_f1": 0.85})
    summary = ablation_table(pd.DataFrame(rows), {"− batch norm": "not here"})
    assert summary.loc[FULL_RECIPE, "test AUC"] == "0.9100 ± 0.0141"
    assert summary.loc[FULL_RECIPE, "test ACC"].startswith("0.9000")
    assert summary.loc[NO_THRESHOLD_TUNING, "test ACC"].startswith("0.8000")
    assert summary.loc["− augmentation", "Δ test AUC"] == "-0.0500"
    assert summary.loc["− batch norm", "note"] == "not here"

    grid = grid_tasks(TINY, {"batch_size": [32, 64], "lr": [1e-3]}, n_folds=3)
    assert [t.key for t in grid][:2] == ["grid/batch_size32_lr0.001/fold0", "grid/batch_size32_lr0.001/fold1"]
    table = pd.DataFrame([{"key": t.key, **t.labels, "fold": t.fold, "status": "ran", "val_auc": 0.9 + 0.01 * t.fold,
                           "val_balanced_accuracy": 0.8, "test_auc": 0.85} for t in grid])
    cells = cv_summary(table, ["batch_size", "lr"])
    assert cells.folds.tolist() == [3, 3] and cells.cv_auc_mean.iloc[0] == pytest.approx(0.91)
    cv = pd.DataFrame([{"key": t.key, "fold": t.fold, "status": "ran", "val_auc": 0.9, "val_balanced_accuracy": 0.8,
                        "test_auc": 0.85, "tuned_threshold": 0.4, "tuned_test_balanced_accuracy": 0.8}
                       for t in cv_tasks(TINY, 5)])
    folds = fold_table(cv)
    assert list(folds.index) == ["0", "1", "2", "3", "4", "mean", "sd"]
    assert select_runs(pd.concat([table, cv]), "grid/").shape[0] == 6


def test_students_run_after_their_teachers_and_store_probabilities(fake_data_dir, tmp_path):
    spec = DataSpec(str(fake_data_dir))
    teachers = [Task(f"t/seed{s}", replace(TINY, seed=s), save_model=True, tta=True) for s in (0, 1)]
    student = Task("s/seed0", replace(TINY, distill_weight=0.5), teacher=("t/seed0", "t/seed1"))
    table = run_sweep([student, *teachers], spec, tmp_path / "sweep", executor=ThreadPoolExecutor(2), log=None)
    assert table.status.tolist() == ["ran"] * 3
    assert (tmp_path / "sweep" / "t" / "seed0.pt").is_file()
    saved = json.loads((tmp_path / "sweep" / "t" / "seed0.json").read_text())
    assert len(saved["probabilities"]["test"]) == 60 and len(saved["tta_probabilities"]["val"]) == 60
    assert json.loads((tmp_path / "sweep" / "s" / "seed0.json").read_text())["teacher"] == ["t/seed0", "t/seed1"]
    # a teacher whose model file was removed is retrained; its finished student is not
    (tmp_path / "sweep" / "t" / "seed1.pt").unlink()
    messages = []
    run_sweep([student, *teachers], spec, tmp_path / "sweep", executor=ThreadPoolExecutor(1), log=messages.append)
    assert messages[0].startswith("3 runs: 2 already finished") and "t/seed1" in messages[1]


def test_a_missing_teacher_fails_with_a_clear_message(fake_data_dir, tmp_path):
    student = Task("s/seed0", replace(TINY, distill_weight=0.5), teacher=("t/none",))
    table = run_sweep([student], DataSpec(str(fake_data_dir)), tmp_path / "sweep", executor=ThreadPoolExecutor(1), log=None)
    assert table.status.tolist() == ["failed"] and "Teacher model 't/none' is missing" in table.error.iloc[0]


def test_results_saved_before_new_config_options_still_count(fake_data_dir, tmp_path):
    spec = DataSpec(str(fake_data_dir))
    run_sweep(tasks_for(), spec, tmp_path / "sweep", executor=ThreadPoolExecutor(1), log=None)
    for name in ("a", "b"):  # as written by an older pneumolib, without the issue-7 options
        path = tmp_path / "sweep" / "demo" / f"{name}.json"
        saved = json.loads(path.read_text())
        for option in ("mixup_alpha", "cutmix_alpha", "ema_decay", "warmup_epochs", "distill_weight"):
            del saved["config"][option]
        path.write_text(json.dumps(saved))
    run_sweep(tasks_for(), spec, tmp_path / "sweep", executor=RefusingExecutor(), log=None)
