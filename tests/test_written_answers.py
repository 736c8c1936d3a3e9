"""The written questions ask for reasoning the notebook does not print (a prediction, a
counterfactual, a design choice with its cost), and every number or finding a model answer states
agrees with the committed results."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from pneumocourse.teaching.exercises import nbgrader_meta
from pneumocourse.teaching.rubrics import RUBRICS

ROOT = Path(__file__).resolve().parents[1]
METRICS = ROOT / "results" / "metrics"
ASKS_FOR_REASONING = re.compile(r"\*\*(Predict|Before you compute anything)\*\*|\bSuppose\b|\bWhich\b.*\bwould you\b", re.S)


def _cells(notebook: str, grade_id: str) -> tuple[str, str]:
    """(the prompt, the model answer) of one written question, each on one line."""
    nb = nbformat.read(ROOT / "notebooks" / f"{notebook}.ipynb", as_version=4)
    by_id = {nbgrader_meta(c).get("grade_id"): c.source for c in nb.cells}
    return " ".join(by_id[f"{grade_id}_prompt"].split()), " ".join(by_id[grade_id].split())


def _notebook_of(grade_id: str) -> str:
    return next(p.stem for p in (ROOT / "notebooks").glob(f"{grade_id[2:4]}_*.ipynb"))


@pytest.mark.parametrize("grade_id", sorted(RUBRICS))
def test_each_question_asks_for_a_prediction_a_counterfactual_or_a_choice(grade_id):
    prompt, _ = _cells(_notebook_of(grade_id), grade_id)
    assert ASKS_FOR_REASONING.search(prompt), (f"{grade_id}: the question should ask for a prediction, a "
                                               "counterfactual ('Suppose ...') or a choice with its cost")


def test_01_answer_states_the_baselines_accuracy_as_the_table_holds_it():
    _, answer = _cells("01_data_exploration", "ex01_accuracy_question")
    table = pd.read_csv(METRICS / "01_always_pneumonia.csv", index_col=0)
    assert "it reads each split's pneumonia share here" in answer
    summary = pd.read_csv(METRICS / "01_split_summary.csv", index_col=0)
    assert (table.acc.round(4) == summary.pneumonia_share[table.index].round(4)).all()
    assert (table.balanced_accuracy == 0.5).all() and (table.sensitivity == 1).all() and (table.specificity == 0).all()


def test_03_answer_describes_the_val_to_test_shift_of_every_threshold_as_measured():
    _, answer = _cells("03_thresholds", "ex03_keep_youden_question")
    table = pd.read_csv(METRICS / "03_thresholds_val_test.csv").pivot(index="criterion", columns="split")
    # "every val-picked threshold keeps or raises its sensitivity there and loses specificity"
    assert (table["sensitivity"]["test"] >= table["sensitivity"]["val"]).all()
    assert (table["specificity"]["test"] < table["specificity"]["val"]).all()
    # "and the loss grows as the threshold falls"
    loss = (table["specificity"]["val"] - table["specificity"]["test"]).sort_index(key=lambda i: -table["threshold"]["val"][i])
    assert loss.is_monotonic_increasing, loss
    row = table.loc["sensitivity 0.99"]
    assert "sensitivity 0.99's threshold loses almost half its val specificity on test" in answer
    assert 0.4 < 1 - row["specificity"]["test"] / row["specificity"]["val"] < 0.5


def test_04_answer_says_the_layer_term_is_negative_for_most_resnet18_pneumonia_calls():
    _, answer = _cells("04_gradcam", "ex04_empty_maps_question")
    assert "negative for most images ResNet-18 calls pneumonia" in answer
    nb = nbformat.read(ROOT / "notebooks" / "04_gradcam.ipynb", as_version=4)
    printed = next("".join(o.get("data", {}).get("text/plain", "")) for c in nb.cells if "contribution_rows" in c.source
                   for o in c.outputs if "share layer term < 0" in o.get("data", {}).get("text/plain", ""))
    share = float(re.search(r"^resnet18\s+\S+\s+\d+\s+\S+\s+\S+\s+(\S+)$", printed, re.M).group(1))
    assert share > 0.5, printed


def test_05_answer_names_the_arm_that_rises_on_val_and_falls_on_test():
    _, answer = _cells("05_ablations", "ex05_val_test_question")
    table = pd.read_csv(METRICS / "05_ablation_summary.csv", index_col="arm")
    mean = table[["val AUC", "test AUC"]].apply(lambda c: c.str.split(" ").str[0]).replace("n/a", None).astype(float)
    gains = mean - mean.loc["full recipe"]
    assert "without augmentation" in answer
    assert gains.loc["− augmentation", "val AUC"] > 0 > gains.loc["− augmentation", "test AUC"]


def test_07_answer_says_the_cohorts_differ_beyond_the_class_mix():
    _, answer = _cells("07_dataset_shift", "ex07_transductive_question")
    assert "margin over the class mix says they differ" in answer
    domain = pd.read_csv(METRICS / "07_domain_classifier.csv").set_index(["inputs", "cohorts"]).auc
    assert domain["model features", "train vs test"] > domain["model output only", "train vs test"]
