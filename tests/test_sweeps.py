"""The runner: process pool, resume from the run store, failures, shared runs, and a real Dask
LocalCluster; one run function for every kind of run."""

from __future__ import annotations

import json
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import replace

import pandas as pd
import pytest

from pneumolib.errors import ReferenceChangedError

from pneumolib.config import TrainConfig
from pneumolib.data import cv_fold, cv_pool
from pneumolib.errors import ConfigError, DatasetNotFoundError
from pneumolib.experiments.executors import InProcessExecutor
from pneumolib.experiments.runner import ensure_run, run_many, select_runs
from pneumolib.experiments.runs import DataSpec, RunSpec, data_fingerprint
from pneumolib.experiments.store import RECORD_FILE, RunStore
from pneumolib.experiments.studies import (FULL_RECIPE, NO_THRESHOLD_TUNING, ablation_table, ablation_tasks, cv_summary,
                                           cv_tasks, fold_table, full_recipe, grid_tasks)
from pneumolib.models.checkpoint import load_checkpoint

TINY = TrainConfig(model="small_cnn", epochs=1, batch_size=32, augment="none", device="cpu")


def tasks_for(config=TINY):
    return [RunSpec(config, "demo/a", labels={"arm": "a"}), RunSpec(replace(config, lr=3e-3), "demo/b", labels={"arm": "b"})]


def saved_record(store: RunStore, run_id: str) -> dict:
    return json.loads((store.folder(run_id) / RECORD_FILE).read_text())


class RefusingExecutor(Executor):
    """Fails the test if anything is submitted (a fully resumed sweep must not run anything)."""

    def submit(self, fn, *args, **kwargs):
        raise AssertionError("a finished task was submitted again")


@pytest.mark.integration
def test_process_pool_sweep_writes_each_result_and_resumes(fake_data_dir, tmp_path):
    spec, store = DataSpec(str(fake_data_dir)), RunStore(tmp_path / "store")
    result = run_many(tasks_for(), spec, store, workers=2, log=None)
    table = result.table
    assert table.status.tolist() == ["ran", "ran"] and table.arm.tolist() == ["a", "b"]
    saved = saved_record(store, result["demo/a"].run_id)
    assert saved["config"]["lr"] == TINY.lr and saved["versions"]["torch"]
    assert 0 < saved["tuned"]["threshold"] < 1 and saved["data"]["images"] == {"train": 240, "val": 60, "test": 60}

    resumed = run_many(tasks_for(), spec, store, executor=RefusingExecutor(), log=None)
    pd.testing.assert_frame_equal(resumed.table, table)
    assert resumed.reused == ["demo/a", "demo/b"]


def test_changed_config_or_data_reruns_only_the_changed_task(fake_data_dir, tmp_path):
    spec, store = DataSpec(str(fake_data_dir)), RunStore(tmp_path / "store")
    run_many(tasks_for(), spec, store, executor=ThreadPoolExecutor(1), log=None)
    messages = []
    changed = [tasks_for()[0], replace(tasks_for()[1], config=replace(TINY, lr=1e-2))]
    run_many(changed, spec, store, executor=ThreadPoolExecutor(1), log=messages.append)
    assert messages[0].startswith("2 runs: 1 already in the store") and "demo/b" in messages[1]
    messages.clear()
    subset = DataSpec(str(fake_data_dir), subset=(90, 40))
    run_many(changed, subset, store, executor=ThreadPoolExecutor(1), log=messages.append)
    assert messages[0].startswith("2 runs: 0 already in the store")


def test_a_failed_task_is_reported_and_retried_later(tmp_path, fake_data_dir):
    from pneumolib.training.ssl import PretrainConfig, pretrain, save_ssl_checkpoint

    # data that cannot be loaded stops the sweep before any run, with the loader's clear error
    with pytest.raises(DatasetNotFoundError):
        run_many(tasks_for()[:1], DataSpec(str(tmp_path / "nowhere")), tmp_path / "store", executor=RefusingExecutor(),
                 log=None)
    # a run that fails (here: its SSL checkpoint does not exist yet) is reported, not stored ...
    ssl = tmp_path / "ssl.pt"
    task = [RunSpec(replace(TINY, pretrained=f"ssl:{ssl}"), "demo/a", labels={"arm": "a"})]
    spec, store = DataSpec(str(fake_data_dir)), RunStore(tmp_path / "store")
    result = run_many(task, spec, store, executor=ThreadPoolExecutor(1), log=None)
    assert result.table.status.tolist() == ["failed"] and "PretrainedWeightsUnavailableError" in result.table.error.iloc[0]
    assert not store.root.exists() or not any(store.root.iterdir())
    # ... and run once its cause is fixed
    data = spec.load()
    config = PretrainConfig(model="small_cnn", epochs=1, batch_size=64, device="cpu")
    encoder, history = pretrain(data.train, config, progress=False)
    save_ssl_checkpoint(ssl, encoder, config, history, {"data_source": data.source})
    result = run_many(task, spec, store, executor=ThreadPoolExecutor(1), log=None)
    assert result.table.status.tolist() == ["ran"]


def test_task_keys_must_be_non_empty_names(tmp_path, fake_data_dir):
    with pytest.raises(ConfigError, match="unique, non-empty key"):
        run_many([RunSpec(TINY, "")], DataSpec(str(fake_data_dir)), tmp_path, executor=RefusingExecutor(), log=None)


def test_a_key_is_a_name_never_a_path(tmp_path, fake_data_dir):
    """Keys only name rows and log lines: a run is stored under its run id, inside the store."""
    store = RunStore(tmp_path / "store")
    result = run_many([RunSpec(TINY, "../a/../../b")], DataSpec(str(fake_data_dir)), store, executor=InProcessExecutor(),
                      log=None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "store"]  # data: the fake_data_dir fixture
    assert [p.name for p in store.root.iterdir()] == [result["../a/../../b"].run_id]


def test_duplicate_keys_are_refused(tmp_path, fake_data_dir):
    with pytest.raises(ConfigError, match="unique"):
        run_many([RunSpec(TINY, "x"), RunSpec(TINY, "x")], DataSpec(str(fake_data_dir)), tmp_path, log=None)


@pytest.mark.integration
def test_dask_local_cluster_executor_gives_the_same_results(fake_data_dir, tmp_path):
    """The README's multi-machine path: a Dask cluster's executor runs the same sweep."""
    distributed = pytest.importorskip("distributed")
    spec = DataSpec(str(fake_data_dir))
    local = run_many(tasks_for(), spec, tmp_path / "local", workers=2, log=None).table
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        dask_store = RunStore(tmp_path / "dask")
        on_dask = run_many(tasks_for(), spec, dask_store, executor=client.get_executor(), log=None)
    metrics = ["val_auc", "test_auc", "tuned_threshold", "best_epoch"]
    pd.testing.assert_frame_equal(on_dask.table[metrics], local[metrics])  # CPU training is deterministic
    assert (dask_store.folder(on_dask["demo/b"].run_id) / RECORD_FILE).is_file()
    assert dask_store.has_model(on_dask["demo/b"].run_id)


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
    assert summary.loc[FULL_RECIPE, "test AUC"] == "0.91 ± 0.01"
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
    spec, store = DataSpec(str(fake_data_dir)), RunStore(tmp_path / "store")
    fingerprint = data_fingerprint(spec.load())
    teachers = [RunSpec(replace(TINY, seed=s), f"t/seed{s}") for s in (0, 1)]
    teacher_ids = tuple(t.run_id(fingerprint) for t in teachers)
    student = RunSpec(replace(TINY, distill_weight=0.5), "s/seed0", teacher=teacher_ids)
    result = run_many([student, *teachers], spec, store, executor=ThreadPoolExecutor(2), log=None)
    assert result.table.status.tolist() == ["ran"] * 3
    assert store.has_model(teacher_ids[0])  # every run's model is saved
    saved = saved_record(store, teacher_ids[0])
    assert len(saved["probabilities"]["test"]) == 60 and len(saved["tta_probabilities"]["val"]) == 60
    assert saved_record(store, result["s/seed0"].run_id)["identity"]["teacher"] == list(teacher_ids)
    # a teacher whose model file was removed is retrained; its finished student is not
    store.model_path(teacher_ids[1]).unlink()
    messages = []
    run_many([student, *teachers], spec, store, executor=ThreadPoolExecutor(1), log=messages.append)
    assert messages[0].startswith("3 runs: 2 already in the store") and "t/seed1" in messages[1]


def test_a_missing_teacher_fails_with_a_clear_message(fake_data_dir, tmp_path):
    student = RunSpec(replace(TINY, distill_weight=0.5), "s/seed0", teacher=("small_cnn-seed0-none",))
    table = run_many([student], DataSpec(str(fake_data_dir)), tmp_path / "store", executor=ThreadPoolExecutor(1),
                     log=None).table
    assert table.status.tolist() == ["failed"]
    assert "Run small_cnn-seed0-none has no model file in store/ (model.pt)" in table.error.iloc[0]


def test_results_saved_before_new_config_options_still_read(fake_data_dir, tmp_path):
    """A record written by an older pneumolib (its config without the issue-7 options) still reads:
    its config fills in the defaults, and tables and the leaderboard take it as it is."""
    from pneumolib.experiments.leaderboard import recipe_name
    from pneumolib.experiments.runner import results_table

    spec, store = DataSpec(str(fake_data_dir)), RunStore(tmp_path / "store")
    result = run_many(tasks_for(), spec, store, executor=ThreadPoolExecutor(1), log=None)
    for key in ("demo/a", "demo/b"):
        path = store.folder(result[key].run_id) / RECORD_FILE
        saved = json.loads(path.read_text())
        for option in ("mixup_alpha", "cutmix_alpha", "ema_decay", "warmup_epochs", "distill_weight"):
            del saved["config"][option]
        path.write_text(json.dumps(saved))
    records = {r.run_id: r for r in store.records()}
    assert len(records) == 2
    for spec_, key in zip(tasks_for(), ("demo/a", "demo/b")):
        record = records[result[key].run_id]
        assert record.config == spec_.config
        assert recipe_name(record.fields["config"]) == recipe_name(spec_.config.to_dict())
    table = results_table([(s, records[result[s.key].run_id], None) for s in tasks_for()])
    pd.testing.assert_frame_equal(table, result.table)


def test_results_saved_before_new_config_options_still_count(fake_data_dir, tmp_path):
    """Runs stored before new config options existed are not run again: an option that is off is not
    part of a run's identity. A changed value of an existing option still makes a new run."""
    import hashlib

    spec, store = DataSpec(str(fake_data_dir)), RunStore(tmp_path / "store")
    result = run_many(tasks_for(), spec, store, executor=ThreadPoolExecutor(1), log=None)
    for key in ("demo/a", "demo/b"):  # as an older pneumolib, without the issue-7 options, would have stored them
        saved = saved_record(store, result[key].run_id)
        for option in ("mixup_alpha", "cutmix_alpha", "ema_decay", "warmup_epochs", "distill_weight"):
            del saved["config"][option]
            saved["identity"]["config"].pop(option, None)
        digest = hashlib.sha256(json.dumps(saved["identity"], sort_keys=True).encode()).hexdigest()[:12]
        assert f"small_cnn-seed0-{digest}" == result[key].run_id  # options that are off are not in the identity
        (store.folder(result[key].run_id) / RECORD_FILE).write_text(json.dumps(saved))
    run_many(tasks_for(), spec, store, executor=RefusingExecutor(), log=None)
    with pytest.raises(AssertionError, match="submitted again"):  # a changed default is a new run
        run_many(tasks_for(replace(TINY, weight_decay=1e-4)), spec, store, executor=RefusingExecutor(), log=None)
    with pytest.raises(AssertionError, match="submitted again"):  # and so is an option switched on
        run_many(tasks_for(replace(TINY, mixup_alpha=0.2)), spec, store, executor=RefusingExecutor(), log=None)


def test_one_run_function_for_every_path_with_resume_and_shared_runs(fake_data_dir, tmp_path):
    """Two-stage, distilled and plain runs go through the same run function into the same kind of
    record; a second call trains nothing (resume), and a run another notebook stored under its own
    key is loaded, not trained again (shared run)."""
    spec, store = DataSpec(str(fake_data_dir)), RunStore(tmp_path / "store")
    fingerprint = data_fingerprint(spec.load())
    plain = RunSpec(TINY, "02/plain/seed0", labels={"arm": "plain"})
    two_stage = RunSpec(replace(TINY, epochs=2, head_epochs=1), "02/two_stage/seed0", labels={"arm": "two-stage"})
    distilled = RunSpec(replace(TINY, distill_weight=0.5), "06/distilled/seed0", labels={"arm": "distilled"},
                        teacher=(plain.run_id(fingerprint),))
    specs = [distilled, plain, two_stage]
    first = run_many(specs, spec, store, executor=InProcessExecutor(), log=None)
    assert first.table.status.tolist() == ["ran"] * 3 and first.reused == []
    records = [first[s.key] for s in (plain, two_stage, distilled)]
    assert len({frozenset(r.fields) for r in records}) == 1  # the same keys in every record
    assert {"probabilities", "tta_probabilities", "tuned", "history", "identity"} <= set(records[0].fields)
    for record in records:
        assert len(record.probabilities("val", tta=True)) == 60 and len(record.probabilities("test", tta=True)) == 60
        assert 0 < record.threshold < 1 and record.fields["tuned"]["criterion"] == "youden"
        assert len(record.history()) == record.fields["epochs_run"]
        assert load_checkpoint(store.model_path(record.run_id))["threshold"] == record.threshold
    assert records[1].history().stage.tolist() == [1, 2]  # two-stage fine-tuning, in the record's history
    assert records[2].fields["identity"]["teacher"] == [records[0].run_id]
    assert records[2].config.distill_weight == 0.5

    again = run_many(specs, spec, store, executor=RefusingExecutor(), log=None)  # resume: nothing to train
    assert again.reused == [s.key for s in specs]
    pd.testing.assert_frame_equal(again.table, first.table)

    other = RunSpec(TINY, "05/full_recipe/seed0", labels={"arm": "full recipe"})  # another notebook, another key
    shared = run_many([other], spec, store, executor=RefusingExecutor(), log=None)
    assert shared.reused == [other.key] and shared[other.key].run_id == records[0].run_id
    record, how = ensure_run(RunSpec(replace(TINY, device="auto"), "04/gradcam"), spec, store)  # the device is no part of a run
    assert how.startswith("loaded from the store") and record.run_id == records[0].run_id and record.model is not None
    assert sorted(p.name for p in store.root.iterdir()) == sorted(r.run_id for r in records)  # each run stored once


def test_a_missing_model_is_recreated_and_a_reproduced_record_kept(fake_data_dir, tmp_path, monkeypatch):
    """A run whose model file is missing trains again; when it reproduces the stored predictions the
    record stays byte for byte. When it does not, the stored record is another machine's measurement:
    it is kept, the run fails with a message that names the replicate, and its model file is not left
    beside the wrong record. Only ``--update-reference`` replaces it."""
    monkeypatch.delenv("PNEUMOLIB_UPDATE_REFERENCE", raising=False)
    spec, store = DataSpec(str(fake_data_dir)), RunStore(tmp_path / "store")
    task = tasks_for()[:1]
    run_id = run_many(task, spec, store, executor=InProcessExecutor(), log=None)[task[0].key].run_id
    record_file = store.folder(run_id) / RECORD_FILE
    committed = record_file.read_bytes()
    store.model_path(run_id).unlink()
    again = run_many(task, spec, store, executor=InProcessExecutor(), need_models=True, log=None)
    assert store.has_model(run_id) and record_file.read_bytes() == committed and again.reused == []
    changed = json.loads(committed)
    changed["probabilities"]["test"][0] = 0.123456  # a record this machine does not reproduce
    record_file.write_text(json.dumps(changed))
    store.model_path(run_id).unlink()
    refused = run_many(task, spec, store, executor=InProcessExecutor(), need_models=True, log=None)
    assert json.loads(record_file.read_text())["probabilities"]["test"][0] == 0.123456, "the stored record is kept"
    assert "ReferenceChangedError" in refused.table.error.iloc[0] and "--replicate" in refused.table.error.iloc[0]
    assert not store.has_model(run_id), "the refused run's model must not sit beside the stored record"
    monkeypatch.setenv("PNEUMOLIB_UPDATE_REFERENCE", "1")
    run_many(task, spec, store, executor=InProcessExecutor(), need_models=True, log=None)
    assert json.loads(record_file.read_text())["probabilities"]["test"][0] != 0.123456
    assert store.has_model(run_id)


def test_the_store_checks_its_files_against_its_checksums(fake_data_dir, tmp_path):
    """A reference store lists its files' SHA-256; a changed record or model is a clear error on read."""
    spec, store = DataSpec(str(fake_data_dir)), RunStore(tmp_path / "store")
    task = tasks_for()[:1]
    run_id = run_many(task, spec, store, executor=InProcessExecutor(), log=None)[task[0].key].run_id
    store.write_checksums()
    listed = (store.root / "checksums.sha256").read_text()
    assert f"{run_id}/record.json" in listed and f"{run_id}/model.pt" in listed
    fresh = RunStore(store.root)
    assert fresh.get(run_id) is not None and fresh.load_model(run_id) is not None
    with open(store.model_path(run_id), "ab") as handle:
        handle.write(b"damage")
    with pytest.raises(ReferenceChangedError, match="does not match its checksum.*git checkout"):
        RunStore(store.root).load_model(run_id)
