"""Model and threshold selection never see test labels: changing them changes nothing chosen."""

from __future__ import annotations

import json

import numpy as np

from pneumolib.config import TrainConfig
from pneumolib.data import npz_filename
from pneumolib.experiments.runs import DataSpec, RunSpec, train_run
from conftest import write_fake_npz


def _with_flipped_test_labels(source_dir, target_dir):
    target_dir.mkdir()
    arrays = dict(np.load(source_dir / npz_filename(28)))
    arrays["test_labels"] = 1 - arrays["test_labels"]
    np.savez_compressed(target_dir / npz_filename(28), **arrays)
    return target_dir


def test_selected_epoch_and_threshold_ignore_test_labels(tmp_path):
    honest = tmp_path / "honest"
    honest.mkdir()
    write_fake_npz(honest, 28, counts=(240, 60, 60))
    flipped = _with_flipped_test_labels(honest, tmp_path / "flipped")
    config = TrainConfig(model="small_cnn", epochs=3, batch_size=32, augment="light", device="cpu")
    spec = RunSpec(config, "honesty/run")
    a = train_run(spec, DataSpec(str(honest)).load()).fields
    b = train_run(spec, DataSpec(str(flipped)).load()).fields
    # everything chosen is identical ...
    assert a["best_epoch"] == b["best_epoch"]
    assert a["tuned"]["threshold"] == b["tuned"]["threshold"]
    assert json.dumps(a["val"]) == json.dumps(b["val"])  # NaN-safe equality
    # ... while the test numbers really did see different labels
    assert a["test"]["auc"] != b["test"]["auc"]
    assert abs(a["test"]["auc"] + b["test"]["auc"] - 1) < 1e-9  # flipped labels mirror the AUC


def test_the_recipe_search_decides_the_same_without_test_labels(tmp_path):
    """The whole best-recipe search (components, combination, TTA, ensemble, thresholds,
    distillation) makes identical decisions when only the test labels differ."""
    from concurrent.futures import ThreadPoolExecutor
    from dataclasses import replace

    from pneumocourse import search as recipes

    honest = tmp_path / "honest"
    honest.mkdir()
    write_fake_npz(honest, 28, counts=(240, 60, 60))
    flipped = _with_flipped_test_labels(honest, tmp_path / "flipped")
    base = replace(recipes.BASE_RECIPE, epochs=2, batch_size=32, device="cpu")
    found = []
    for folder in (honest, flipped):
        result = recipes.run_search(DataSpec(str(folder)), tmp_path / f"store_{folder.name}", None, [[0], [1]],
                                    base=base, log=None, executor=ThreadPoolExecutor(1))
        found.append(result)
    a, b = found
    assert a.decisions() == b.decisions()
    assert a.components.val_auc_mean.equals(b.components.val_auc_mean)
    assert list(a.ensembles.threshold) == list(b.ensembles.threshold)
    assert not a.components.test_auc_mean.equals(b.components.test_auc_mean)  # test really differed
