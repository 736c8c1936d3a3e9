"""One run id, one set of numbers: every committed table that names a run (the notebooks' run
tables, the README's reference runs, the leaderboard) shows that run's numbers as its record in
the reference store holds them, and the reference store is complete and intact: every file is
listed in ``results/store/checksums.sha256`` with the right hash, and every model a notebook
loads is there.

``PNEUMOLIB_CHECK_RESULTS`` points the table checks at another results folder: ``make test`` runs
them on the smoke suite it has just executed, so that no two notebooks of one run show different
numbers for the same run id.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from pneumolib.experiments.store import CHECKSUMS_FILE, MODEL_FILE, RECORD_FILE, RunStore, sha256_of

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(os.environ.get("PNEUMOLIB_CHECK_RESULTS") or REPO / "results")
STORE = RunStore(RESULTS / "store")
CHECKING_REFERENCE = RESULTS.resolve() == (REPO / "results").resolve()
COLUMNS = {"val_auc": ("val", "auc"), "test_auc": ("test", "auc"), "test_acc": ("test", "acc"),
           "best_epoch": None}
TABLES = sorted(p for p in (RESULTS / "metrics").glob("*.csv")
                if "run_id" in pd.read_csv(p, nrows=0).columns)


def test_there_are_tables_to_check():
    assert len(TABLES) >= 4, [p.name for p in TABLES]


@pytest.mark.parametrize("table_path", TABLES, ids=lambda p: p.stem)
def test_each_table_shows_its_runs_as_the_store_holds_them(table_path):
    table = pd.read_csv(table_path)
    checked = 0
    for row in table.itertuples(index=False):
        run_id = str(getattr(row, "run_id"))
        if run_id in ("nan", ""):
            continue
        record = STORE.get(run_id)
        assert record is not None, f"{table_path.name}: run {run_id} is not in {STORE.root}"
        for column, where in COLUMNS.items():
            if column not in table.columns or pd.isna(getattr(row, column)):
                continue
            stored = record.fields["best_epoch"] if where is None else record.fields[where[0]][where[1]]
            # the table holds a metric's four decimals (pneumolib.evaluation.precision), the record all of them
            assert getattr(row, column) == pytest.approx(stored, abs=5.1e-5), \
                f"{table_path.name}: {run_id} {column} is {getattr(row, column)}, its record says {stored}"
            checked += 1
    assert checked, f"{table_path.name}: no number checked"


reference_only = pytest.mark.skipif(not CHECKING_REFERENCE, reason="checks of the committed reference store")


@reference_only
def test_every_reference_file_is_listed_with_its_hash():
    listed = STORE.checksums()
    files = {p.relative_to(STORE.root).as_posix(): p for p in STORE.root.glob("*/*")
             if p.name in (RECORD_FILE, MODEL_FILE)}
    assert set(files) == set(listed), (f"{CHECKSUMS_FILE} is out of date: unlisted {sorted(set(files) - set(listed))[:5]}, "
                                       f"missing {sorted(set(listed) - set(files))[:5]}")
    wrong = [name for name, path in files.items() if sha256_of(path) != listed[name]]
    assert not wrong, f"changed since the checksums were written: {wrong[:5]}"


@reference_only
def test_the_reference_ships_the_models_the_notebooks_load_within_the_size_budget():
    models = sorted(STORE.root.glob(f"*/{MODEL_FILE}"))
    assert models, "the reference store ships no model: 03, 04 and 07 would retrain them"
    megabytes = sum(p.stat().st_size for p in models) / 2**20
    assert megabytes <= 50, f"reference models take {megabytes:.1f} MB; the budget is about 50 MB"


@reference_only
def test_half_precision_reference_models_predict_as_their_records(real_data_dir):
    """ResNet weights are committed at half precision (the budget): loaded back as fp32 they give
    the val probabilities their record holds within 2e-3 (measured on the committed ResNet-18: at
    most 5.4e-4, and the same val AUC), and the record's val AUC within 1e-4."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from pneumolib.data import load_pneumoniamnist
    from pneumolib.models.checkpoint import load_checkpoint
    from pneumolib.models.inference import predict_probabilities

    halves = [p for p in sorted(STORE.root.glob(f"*/{MODEL_FILE}")) if load_checkpoint(p).get("weights_dtype") == "float16"]
    assert halves, "no model is stored at half precision"
    data = load_pneumoniamnist(28, real_data_dir)
    for path in halves:
        record = STORE.get(path.parent.name)
        model = STORE.load_model(record.run_id)
        probabilities = predict_probabilities(model, data.val.images, record.config, precision="run", device="cpu")
        stored = record.probabilities("val")
        assert np.abs(probabilities - stored).max() <= 2e-3, np.abs(probabilities - stored).max()
        assert abs(roc_auc_score(data.val.labels, probabilities) - record.fields["val"]["auc"]) <= 1e-4
