"""Cohort differences within a class: a domain classifier's scores that only follow the class mix
separate the cohorts overall but not within a class."""

import numpy as np

from pneumolib.evaluation.cohorts import class_matched_typical, within_class_separation


def test_scores_that_follow_the_class_mix_do_not_separate_the_cohorts_within_a_class():
    rng = np.random.default_rng(0)
    labels_a, labels_b = (rng.random(400) < 0.75).astype(int), (rng.random(300) < 0.6).astype(int)
    labels = np.r_[labels_a, labels_b]
    mix_only = labels + 0.3 * rng.random(700)  # the score knows the class, not the cohort
    table = within_class_separation(mix_only, labels_a, labels_b)
    assert list(table.index) == ["normal", "pneumonia"] and table["images a"].sum() == 400
    assert (abs(table.auc - 0.5) < 0.1).all()
    looks = mix_only + np.r_[np.zeros(400), np.ones(300)]  # and now the cohort too
    assert (within_class_separation(looks, labels_a, labels_b).auc > 0.99).all()


def test_class_matched_typical_images_keep_to_their_class():
    labels_a, labels_b = np.array([0, 1, 0, 1, 1]), np.array([1, 0, 0])
    scores = np.array([0.1, 0.2, 0.9, 0.0, 0.5, 0.3, 0.8, 0.4])
    picked = class_matched_typical(scores, labels_a, labels_b, k=1)
    assert picked["normal"]["a"].tolist() == [0] and picked["normal"]["b"].tolist() == [1]
    assert picked["pneumonia"]["a"].tolist() == [3] and picked["pneumonia"]["b"].tolist() == [0]
