import numpy as np
import pytest
from medmnist.evaluator import getACC, getAUC
from sklearn.metrics import roc_auc_score

from pneumolib.evaluation.metrics import binary_metrics, confusion, medmnist_auc_acc, per_class_report, pr_curve_data, roc_curve_data

Y = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
P = np.array([0.1, 0.4, 0.6, 0.2, 0.9, 0.8, 0.3, 0.7, 0.55, 0.95])


def test_binary_metrics_by_hand():
    m = binary_metrics(Y, P, threshold=0.5)
    # predictions: [0,0,1,0,1,1,0,1,1,1] -> tp=5 fn=1 tn=3 fp=1
    assert (m["tp"], m["fn"], m["tn"], m["fp"]) == (5, 1, 3, 1)
    assert m["acc"] == pytest.approx(0.8)
    assert m["sensitivity"] == pytest.approx(5 / 6)
    assert m["specificity"] == pytest.approx(3 / 4)
    assert m["balanced_accuracy"] == pytest.approx((5 / 6 + 3 / 4) / 2)
    assert m["precision"] == pytest.approx(5 / 6)
    assert m["npv"] == pytest.approx(3 / 4)
    assert m["f1"] == pytest.approx(10 / 12)
    assert m["auc"] == pytest.approx(roc_auc_score(Y, P))
    assert binary_metrics(Y, P, threshold=0.65)["tp"] == 4


def test_confusion_layout():
    assert confusion(Y, P >= 0.5).tolist() == [[3, 1], [1, 5]]


def test_medmnist_pair_matches_medmnist_evaluator():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    p = rng.random(200).astype(np.float32)
    p[:5] = 0.5  # MedMNIST uses prob > 0.5
    ours = medmnist_auc_acc(y, p)
    assert ours["auc"] == getAUC(y, p, "binary-class")
    assert ours["acc"] == getACC(y, p, "binary-class")


def test_curves_and_report():
    roc = roc_curve_data(Y, P)
    assert list(roc.columns) == ["fpr", "tpr", "threshold"]
    assert roc.fpr.iloc[0] == 0 and roc.tpr.iloc[-1] == 1
    pr = pr_curve_data(Y, P)
    assert list(pr.columns) == ["recall", "precision", "threshold"] and pr.recall.iloc[-1] == 0
    report = per_class_report(Y, P)
    assert report.loc["pneumonia", "recall"] == pytest.approx(5 / 6)
    assert report.loc["normal", "support"] == 4


@pytest.mark.parametrize(
    "y, p, match",
    [
        (Y, P[:-1], "10 values but y_prob has 9"),
        (Y, P * 3, "pass sigmoid"),
        (Y, np.where(P > 0.5, np.nan, P), "finite"),
        (Y * 2, P, "Labels must be 0 or 1"),
    ],
)
def test_bad_inputs(y, p, match):
    with pytest.raises(ValueError, match=match):
        binary_metrics(y, p)


def test_single_class_auc_is_nan():
    m = binary_metrics(np.ones(4), np.array([0.2, 0.6, 0.7, 0.9]))
    assert np.isnan(m["auc"]) and np.isnan(m["specificity"]) and m["sensitivity"] == 0.75


def test_paired_threshold_difference_is_paired_and_catches_a_real_gap():
    from pneumolib.evaluation.metrics import binary_metrics, paired_bootstrap_threshold_diff

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 300)
    p = np.clip(0.35 + 0.3 * y + rng.normal(0, 0.15, 600), 0, 1)  # 0.5 separates well, 0.2 does not
    result = paired_bootstrap_threshold_diff(y, p, 0.5, 0.2, n_boot=500)
    expected = binary_metrics(y, p, 0.5)["balanced_accuracy"] - binary_metrics(y, p, 0.2)["balanced_accuracy"]
    assert result["diff"] == pytest.approx(expected) and result["low"] > 0
    same = paired_bootstrap_threshold_diff(y, p, 0.5, 0.5, n_boot=200)
    assert same["diff"] == 0 and same["low"] == same["high"] == 0  # paired: identical rules never differ
    with pytest.raises(ValueError, match="threshold metric"):
        paired_bootstrap_threshold_diff(y, p, 0.5, 0.2, metric="auc")


def test_one_definition_of_the_confusion_ratios_for_a_point_the_bootstrap_and_the_sweep():
    from pneumolib.evaluation.metrics import _draw_metrics, count_rates
    from pneumolib.evaluation.thresholds import _rates

    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 2, 50), rng.random(50)
    point = binary_metrics(y, p, 0.4)
    drawn = _draw_metrics(y[None, :], p[None, :], 0.4)
    swept = _rates(y, p, np.array([0.4]))
    for key in ("acc", "balanced_accuracy", "sensitivity", "specificity", "precision", "npv", "f1"):
        assert point[key] == pytest.approx(float(drawn[key][0])) == pytest.approx(float(swept[key][0])), key
    empty = count_rates(0, 0, 5, 0)
    assert np.isnan(empty["sensitivity"]) and np.isnan(empty["precision"]) and empty["specificity"] == 1.0
    assert type(empty["acc"]) is float


def test_one_bootstrap_draws_within_class_or_over_all_and_cuts_percentiles():
    from pneumolib.evaluation.bootstrap import bootstrap_indices, percentile_interval

    y = np.array([0, 1, 1, 0, 1, 1, 1])
    index = bootstrap_indices(500, strata=y, seed=3)
    assert index.shape == (500, 7) and (y[index].sum(axis=1) == 5).all(), "each draw keeps both classes' counts"
    plain = bootstrap_indices(500, size=7, seed=3)
    assert plain.shape == (500, 7) and len(np.unique(plain)) == 7 and (y[plain].sum(axis=1) != 5).any()
    assert (bootstrap_indices(5, size=7, seed=3) == np.random.default_rng(3).integers(0, 7, (5, 7))).all()
    low, high = percentile_interval(np.r_[np.arange(101.0), np.nan], 0.9)
    assert (low, high) == pytest.approx((5.0, 95.0))
    with pytest.raises(ValueError, match="either size"):
        bootstrap_indices(5)
    with pytest.raises(ValueError, match="level"):
        percentile_interval(np.arange(3.0), 95)
