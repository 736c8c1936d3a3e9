"""The final project's honesty check: a procedure that reads only train and val passes; one that
picks its threshold on the test labels, or that is not deterministic, is named for what it does."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from pneumolib.data import load_pneumoniamnist
from pneumolib.evaluation.thresholds import choose_threshold
from pneumocourse.teaching.honesty import honesty_check, permuted_test_labels


def _fit(data, seed=0):
    flat = lambda split: split.images.reshape(len(split), -1) / 255.0  # noqa: E731
    model = LogisticRegression(C=0.1, max_iter=300, random_state=seed).fit(flat(data.train), data.train.labels.ravel())
    return model, flat


def honest(data):
    model, flat = _fit(data)
    threshold = choose_threshold(data.val.labels, model.predict_proba(flat(data.val))[:, 1])
    return {"test_probabilities": model.predict_proba(flat(data.test))[:, 1], "threshold": threshold, "C": 0.1}


def threshold_on_test(data):
    model, flat = _fit(data)
    p = model.predict_proba(flat(data.test))[:, 1]
    candidates = np.unique(p)
    accuracy = [((p >= t) == data.test.labels.ravel()).mean() for t in candidates]
    return {"test_probabilities": p, "threshold": float(candidates[int(np.argmax(accuracy))])}


def noisy(data):
    model, flat = _fit(data)
    return {"test_probabilities": model.predict_proba(flat(data.test))[:, 1], "threshold": float(np.random.random())}


@pytest.fixture()
def data(fake_data_dir):
    return load_pneumoniamnist(28, fake_data_dir, download=False)


def test_an_honest_procedure_passes(data):
    report = honesty_check(honest, data)
    assert report.passed and report.verdict == "honest" and "changed nothing" in report.describe()


def test_a_threshold_picked_on_test_labels_is_caught(data):
    report = honesty_check(threshold_on_test, data)
    assert not report.passed and report.verdict == "reads the test labels" and report.changed == ("threshold",)
    assert "train and val only" in report.describe()


def test_a_procedure_that_is_not_deterministic_is_told_to_fix_its_seeds(data):
    report = honesty_check(noisy, data)
    assert report.verdict == "not deterministic" and "fix every seed" in report.describe()


def test_permuting_keeps_the_images_and_the_other_splits(data):
    permuted = permuted_test_labels(data, seed=3)
    assert permuted.test.images is data.test.images and permuted.train is data.train and permuted.val is data.val
    assert sorted(permuted.test.labels.ravel()) == sorted(data.test.labels.ravel())
    assert not np.array_equal(permuted.test.labels, data.test.labels)


def test_a_result_without_test_probabilities_is_refused(data):
    with pytest.raises(ValueError, match="missing \\['test_probabilities'\\]"):
        honesty_check(lambda d: {"threshold": 0.5}, data)
    with pytest.raises(ValueError, match="one value per test image"):
        honesty_check(lambda d: {"threshold": 0.5, "test_probabilities": [0.5]}, data)
