"""Threshold selection on val, sweeps, calibration and the vectorised bootstrap."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from pneumolib.evaluation.calibration import (TemperatureScaler, brier_score, calibration_summary,
                                   expected_calibration_error, reliability_table)
from pneumolib.evaluation.metrics import _bootstrap_indices, binary_metrics, bootstrap_table
from pneumolib.evaluation.thresholds import (apply_thresholds, choose_threshold, select_thresholds, threshold_sweep,
                                  val_test_table)

# 4 normals at 0.1..0.4, 4 pneumonia at 0.35..0.9: the best cut-off separates all but one pair.
Y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
P = np.array([0.1, 0.2, 0.3, 0.4, 0.35, 0.6, 0.8, 0.9])


def test_youden_and_balanced_accuracy_pick_the_best_cut():
    # any cut in (0.4, 0.6] gives sens 3/4, spec 1 -> J 0.75; 0.35 gives sens 1, spec 3/4 -> J 0.75.
    # Ties go to the candidate closest to 0.5, and 0.5 itself is a candidate.
    assert choose_threshold(Y, P, "youden") == 0.5
    assert choose_threshold(Y, P, "balanced_accuracy") == 0.5
    assert choose_threshold(Y[[0, 1, 2, 4, 5, 6]], np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9]), "youden") == 0.5
    assert choose_threshold(Y, np.array([0.1, 0.2, 0.3, 0.4, 0.62, 0.7, 0.8, 0.9]), "youden") == 0.5
    assert choose_threshold(Y, np.array([0.01, 0.02, 0.03, 0.04, 0.06, 0.07, 0.8, 0.9]), "youden") == 0.06
    m = binary_metrics(Y, P, 0.6)
    assert m["sensitivity"] + m["specificity"] - 1 == pytest.approx(0.75)


def test_f1_prefers_catching_all_positives_here():
    # at 0.35: tp 4, fp 1 -> F1 8/9; at 0.6: tp 3, fn 1 -> F1 6/7
    assert choose_threshold(Y, P, "f1") == 0.35


def test_target_sensitivity_is_the_highest_threshold_that_reaches_it():
    assert choose_threshold(Y, P, "sensitivity", 1.0) == 0.35
    assert choose_threshold(Y, P, "sensitivity", 0.75) == 0.6
    assert binary_metrics(Y, P, choose_threshold(Y, P, "sensitivity", 0.75))["sensitivity"] >= 0.75


def test_target_specificity_is_the_lowest_threshold_that_reaches_it():
    t = choose_threshold(Y, P, "specificity", 1.0)
    assert t == 0.5  # 0.5 is a candidate; everything above 0.4 gives specificity 1
    assert binary_metrics(Y, P, t)["specificity"] == 1.0


@pytest.mark.parametrize("kwargs, message", [
    ({"criterion": "accuracy"}, "Unknown threshold criterion"),
    ({"criterion": "sensitivity"}, "needs a target"),
    ({"criterion": "sensitivity", "target": 1.5}, "needs a target"),
])
def test_bad_criteria_are_explained(kwargs, message):
    with pytest.raises(ValueError, match=message):
        choose_threshold(Y, P, **kwargs)


def test_selection_needs_both_classes():
    with pytest.raises(ValueError, match="both classes"):
        choose_threshold(np.ones(4), np.array([0.1, 0.2, 0.3, 0.4]), "youden")


def test_selection_api_takes_only_one_split():
    """The selection functions see one split (val) and nothing else: no test argument exists."""
    for function in (choose_threshold, select_thresholds):
        params = list(inspect.signature(function).parameters)
        assert params[:2] == ["y_val", "p_val"]
        assert not any("test" in p for p in params)


def test_select_apply_and_shift_table():
    rng = np.random.default_rng(0)
    y_val, y_test = rng.integers(0, 2, 200), rng.integers(0, 2, 200)
    p_val = np.clip(0.3 * y_val + 0.7 * rng.random(200), 0, 1)
    p_test = np.clip(0.3 * y_test + 0.7 * rng.random(200) + 0.1, 0, 1)  # shifted cohort
    chosen = select_thresholds(y_val, p_val, {"sensitivity 0.9": ("sensitivity", 0.9)})
    assert list(chosen) == ["default 0.5", "youden", "f1", "sensitivity 0.9"]
    applied = apply_thresholds(chosen, {"val": (y_val, p_val), "test": (y_test, p_test)})
    assert applied.loc[("sensitivity 0.9", "val"), "sensitivity"] >= 0.9
    table = val_test_table(applied)
    assert list(table.index) == list(chosen)
    expected = applied.loc[("youden", "test"), "specificity"] - applied.loc[("youden", "val"), "specificity"]
    assert table.loc["youden", "shift specificity"] == pytest.approx(expected)


def test_sweep_is_monotone():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    p = rng.random(300)
    sweep = threshold_sweep(y, p)
    assert sweep.index[0] == 0.05 and sweep.index[-1] == 0.95 and len(sweep) == 19
    assert (np.diff(sweep.sensitivity) <= 0).all() and (np.diff(sweep.specificity) >= 0).all()


def test_reliability_ece_and_brier_on_known_values():
    y = np.array([0, 1, 1, 1])
    p = np.array([0.25, 0.75, 0.75, 0.75])
    table = reliability_table(y, p, n_bins=4)
    assert table["count"].tolist() == [0, 1, 0, 3]
    # bin 2 (0.25): observed 0 vs 0.25; bin 4: observed 1 vs 0.75 -> ECE 0.25
    assert expected_calibration_error(y, p, n_bins=4) == pytest.approx(0.25)
    assert brier_score(y, p) == pytest.approx(0.0625)


def test_temperature_scaling_recovers_overconfidence_and_keeps_auc():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, 20000)
    y = (rng.random(20000) < 1 / (1 + np.exp(-logits))).astype(int)
    overconfident = 1 / (1 + np.exp(-3 * logits))  # true temperature 3
    scaler = TemperatureScaler.fit(y, overconfident)
    assert scaler.temperature == pytest.approx(3.0, rel=0.05)
    fixed = scaler(overconfident)
    assert roc_auc_score(y, fixed) == pytest.approx(roc_auc_score(y, overconfident))
    summary = calibration_summary({"before": (y, overconfident), "after": (y, fixed)})
    assert summary.loc["after", "ece"] < summary.loc["before", "ece"] / 3
    assert summary.loc["after", "nll"] < summary.loc["before", "nll"]


def test_vectorised_bootstrap_equals_draw_by_draw_metrics():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 120)
    p = np.round(np.clip(0.35 * y + 0.65 * rng.random(120), 0, 1), 1)  # many ties, as AUC must handle
    table = bootstrap_table(y, p, threshold=0.4, n_boot=200, seed=5)
    draws = [binary_metrics(y[i], p[i], 0.4) for i in _bootstrap_indices(y, 200, 5)]
    for metric in table.index:
        low, high = np.nanquantile([d[metric] for d in draws], [0.025, 0.975])
        assert table.loc[metric, "low"] == pytest.approx(low)
        assert table.loc[metric, "high"] == pytest.approx(high)
        assert table.loc[metric, "estimate"] == pytest.approx(binary_metrics(y, p, 0.4)[metric])


def test_youden_and_balanced_accuracy_always_agree():
    """J = 2 x balanced accuracy - 1, so select_thresholds keeps only Youden's rule."""
    rng = np.random.default_rng(3)
    for _ in range(20):
        y = rng.integers(0, 2, 150)
        p = np.clip(0.4 * y + 0.6 * rng.random(150), 0, 1)
        assert choose_threshold(y, p, "youden") == choose_threshold(y, p, "balanced_accuracy")


# Perfectly separated val set whose pneumonia probabilities saturate at exactly 1.0 (a float32
# sigmoid does so for logits above about 17): only a cut in (0.99, 1.0] separates the classes, so
# the best candidate is 1.0 itself, which the detector refuses (thresholds lie strictly in (0, 1)).
Y_SATURATED = np.array([0, 0, 0, 0, 1, 1, 1, 1])
P_SATURATED = np.array([0.2, 0.6, 0.9, 0.99, 1.0, 1.0, 1.0, 1.0])


@pytest.mark.parametrize("criterion, target", [("youden", None), ("balanced_accuracy", None), ("f1", None),
                                               ("sensitivity", 1.0), ("specificity", 1.0)])
def test_a_pick_of_one_moves_inside_the_interval_with_the_same_calls_on_val(criterion, target):
    t = choose_threshold(Y_SATURATED, P_SATURATED, criterion, target)
    assert 0 < t < 1 and t == pytest.approx(0.995)  # the midpoint between 0.99 and 1.0
    assert np.array_equal(P_SATURATED >= t, P_SATURATED >= 1.0)  # the calls the pick of 1.0 made
    assert binary_metrics(Y_SATURATED, P_SATURATED, t)["balanced_accuracy"] == 1.0


def test_saturated_float32_probabilities_and_adjacent_floats_stay_below_one():
    just_below_f32 = float(np.nextafter(np.float32(1), np.float32(0)))  # the largest float32 below 1
    p = np.array([0.1, 0.2, just_below_f32, 1.0, 1.0])
    y = np.array([0, 0, 0, 1, 1])
    t = choose_threshold(y, p.astype(np.float32), "youden")
    assert just_below_f32 < t < 1 and np.array_equal(p >= t, y == 1)
    just_below_f64 = float(np.nextafter(1.0, 0.0))  # nothing lies between it and 1.0
    t = choose_threshold(y, np.array([0.1, 0.2, just_below_f64, 1.0, 1.0]), "youden")
    assert t == just_below_f64 and t < 1


def test_zero_is_never_picked():
    # anti-correlated scores: before, "pneumonia for every image" (threshold 0.0, J = 0) won
    y, p = np.array([1, 1, 0, 0]), np.array([0.0, 0.1, 0.8, 0.9])
    for criterion in ("youden", "f1"):
        assert 0 < choose_threshold(y, p, criterion) < 1
    with pytest.raises(ValueError, match="No threshold reaches sensitivity 1.0"):
        choose_threshold(np.array([0, 1, 1]), np.array([0.5, 0.0, 0.9]), "sensitivity", 1.0)


def test_thresholds_inside_the_interval_are_unchanged_and_all_picks_lie_inside():
    assert choose_threshold(Y, np.r_[P[:-1], 1.0], "youden") == 0.5  # a 1.0 that is not the pick changes nothing
    rng = np.random.default_rng(0)
    for _ in range(200):
        y = rng.integers(0, 2, 30)
        y[:2] = (0, 1)
        p = np.round(rng.uniform(0, 1, 30) ** rng.choice([0.1, 1, 10]), 2)  # many exact 0.0 and 1.0
        for criterion in ("youden", "f1"):
            assert 0 < choose_threshold(y, p, criterion) < 1
        for criterion in ("sensitivity", "specificity"):
            try:
                assert 0 < choose_threshold(y, p, criterion, 0.9) < 1
            except ValueError as exc:
                assert "No threshold reaches" in str(exc)
