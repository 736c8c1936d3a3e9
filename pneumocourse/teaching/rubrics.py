"""Rubrics for the written questions: criteria with points that a grader can apply in a minute,
written out beside the grades (``rubrics.csv``) and in each question's grading sheet
(``written/<grade_id>.md``: the question, the rubric, the model answer and every student's answer).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Sequence

import nbformat
import pandas as pd

from .exercises import Exercise, nbgrader_meta


class Criterion(NamedTuple):
    """One line of a written question's rubric: what the student reads in the prompt (``asks``,
    which gives no answer away), what the grader looks for (``looks_for``), and its points."""

    asks: str
    looks_for: str
    points: float


# grade_id -> criteria; each written question's criteria add up to its points, and its prompt ends
# with them as students read them (criteria_markdown; tests/test_rubrics.py checks each notebook)
RUBRICS: dict[str, list[Criterion]] = {
    "ex01_accuracy_question": [
        Criterion("predicts the baseline's four numbers at a 10% pneumonia share, and says which move with the share "
                  "and why",
                  "Accuracy 0.10, the pneumonia share (it is right on exactly the pneumonia images); sensitivity 1, "
                  "specificity 0 and balanced accuracy 0.5 at any share, since each is computed within one class; "
                  "only accuracy moves",
                  1.0),
        Criterion("names the numbers you would report instead, and what each one shows that accuracy hides",
                  "Sensitivity with specificity (or balanced accuracy) and AUC, which do not depend on the class "
                  "share, so they carry over to a cohort with another share",
                  1.0),
    ],
    "ex02_small_model_question": [
        Criterion("predicts the direction and ties it to what ResNet-18's downsampling leaves of the image at each "
                  "size",
                  "At 28 px the stem and three stride-2 stages leave ResNet-18 a 1 x 1 map at layer4 (04 prints 7, "
                  "4, 2, 1); at 64 px layer4 is 2 x 2 and every stage keeps at least four times the cells, so the "
                  "ResNet should gain more than the small CNN; either direction earns the point when the mechanism "
                  "is sound (e.g. upsampled 28 px images add no detail, so the gain may stay small)",
                  1.0),
        Criterion("says what the run costs and which result would refute the prediction",
                  "About (64/28)^2, five times the compute per epoch, for every arm and seed; refuted when the "
                  "paired bootstrap CI of the difference (as in this notebook) lies on the other side of zero from "
                  "the prediction; a CI holding zero settles nothing",
                  1.0),
    ],
    "ex03_keep_youden_question": [
        Criterion("chooses a rule that fits the stated costs, picked on val, and says why Youden's J does not fit "
                  "them",
                  "A target sensitivity (0.95 or 0.99) or a cost-weighted threshold, chosen on val only; Youden's J "
                  "weighs the two errors equally, these costs do not",
                  1.0),
        Criterion("predicts how the threshold's sensitivity and specificity move on test, and says what an honest "
                  "report needs",
                  "From the table: every val-picked threshold keeps its sensitivity on test and loses specificity, "
                  "far more at low thresholds; honest numbers need labelled data from the radiologist's cohort to "
                  "pick or check the threshold on, and a fresh test set",
                  1.0),
    ],
    "ex04_empty_maps_question": [
        Criterion("names the steps of Grad-CAM that produce an all-zero map, and when they do",
                  "Grad-CAM's ReLU removes a map whose weighted sum is negative everywhere, and the min-max scaling "
                  "keeps it at zero",
                  1.0),
        Criterion("predicts what the maps would show without the ReLU, and whether they still explain pneumonia",
                  "Min-max scaling of an everywhere-negative map puts 1 where the evidence against pneumonia is "
                  "weakest: a map of 'least against', not of evidence for pneumonia, which looks plausible and "
                  "misleads; the layer-term table shows the layer arguing against pneumonia for most ResNet-18 "
                  "images called pneumonia, so this is no edge case",
                  1.0),
    ],
    "ex05_val_test_question": [
        Criterion("predicts how a val split from the test cohort would move such an arm's val gain, and why",
                  "Val from the training cohort rewards fitting that cohort; a val from the test cohort would score "
                  "what transfers to it, so the arm's val gain would shrink or turn into a loss, as its test AUC "
                  "did, and the choice would follow the test cohort",
                  1.0),
        Criterion("says what such a val split costs",
                  "Its images leave the test set (or new labelled images of that cohort are needed), so the test "
                  "estimate needs a fresh test set; a smaller test set widens every CI",
                  1.0),
    ],
    "ex06_val_question": [
        Criterion("predicts what more seeds do to the band and to the mean gain, and why",
                  "The band is two seed sds: more seeds estimate the sd better but do not shrink it, while the mean "
                  "gain gets more precise (its sd falls by about the square root of 3); a real gain of half the band "
                  "usually stays below the band and is still not kept",
                  1.0),
        Criterion("names what would change the band, and its cost",
                  "A rule on the standard error of the mean paired gain (two seed sds divided by the square root of "
                  "the number of seeds), which shrinks with seeds at three times the training time; or less noise "
                  "per run (a larger val split, at the cost of training images)",
                  1.0),
    ],
    "ex07_transductive_question": [
        Criterion("predicts which adaptation rows would change with the share held at the training cohort's, and why",
                  "Prior correction would have (almost) no shift in the share to correct and would move little, "
                  "unless the estimators are biased by how the images look; AdaBN and TENT respond to the images, "
                  "which are unchanged; the unadapted AUC does not depend on the share, while ACC does",
                  1.0),
        Criterion("explains why results that read the test images must be ranked apart from those that did not",
                  "Transductive rows saw the test images they are scored on, information an inductive model never "
                  "has, so ranking them together is unfair",
                  1.0),
    ],
}


def criteria_markdown(grade_id: str) -> str:
    """What a written question's prompt ends with: its criteria as the student reads them."""
    criteria = RUBRICS[grade_id]
    lines = [f"**Graded on** ({sum(c.points for c in criteria):g} points):", ""]
    return "\n".join(lines + [f"- {c.points:g} point{'' if c.points == 1 else 's'}: {c.asks}" for c in criteria])


def rubric_table(exercises: Sequence[Exercise]) -> pd.DataFrame:
    """One row per criterion of every written exercise: notebook, exercise, criterion (as the
    student reads it), looks_for (the grader's note), points.
    Raises ValueError for a written exercise without a rubric, or one whose criteria do not add up
    to its points."""
    rows = []
    for exercise in (e for e in exercises if e.kind == "written"):
        criteria = RUBRICS.get(exercise.grade_id)
        if not criteria:
            raise ValueError(f"written exercise {exercise.grade_id} has no rubric; add one to RUBRICS in "
                             "pneumocourse/teaching/rubrics.py.")
        if abs(sum(c.points for c in criteria) - exercise.points) > 1e-9:
            raise ValueError(f"the rubric of {exercise.grade_id} adds up to {sum(c.points for c in criteria):g} "
                             f"points, the exercise is worth {exercise.points:g}.")
        rows += [{"notebook": exercise.notebook, "exercise": exercise.grade_id, "criterion": c.asks,
                  "looks_for": c.looks_for, "points": c.points} for c in criteria]
    return pd.DataFrame(rows, columns=["notebook", "exercise", "criterion", "looks_for", "points"])


def grading_sheets(exercises: Sequence[Exercise], sources: dict[str, Path], answers: dict[str, dict[str, str]],
                   folder: Path) -> list[Path]:
    """Write ``folder/<grade_id>.md`` for each written exercise: its question, rubric and model
    answer (from the course source), then each student's answer (``answers[student][grade_id]``)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for exercise in (e for e in exercises if e.kind == "written"):
        nb = nbformat.read(sources[exercise.notebook], as_version=4)
        index = next(i for i, c in enumerate(nb.cells) if nbgrader_meta(c).get("grade_id") == exercise.grade_id)
        question = nb.cells[index - 1].source if index else ""
        lines = [question, "", f"**Rubric ({exercise.points:g} points)**", ""]
        lines += [f"- [{c.points:g}] {c.asks}. Look for: {c.looks_for}" for c in RUBRICS[exercise.grade_id]]
        lines += ["", "**Model answer**", "", nb.cells[index].source, ""]
        for student in sorted(answers):
            answer = answers[student].get(exercise.grade_id, "").strip() or "*(no answer)*"
            lines += [f"## {student}", "", answer, ""]
        path = folder / f"{exercise.grade_id}.md"
        path.write_text("\n".join(lines), encoding="utf-8")
        written.append(path)
    return written


def written_answers(notebook: nbformat.NotebookNode, exercises: Sequence[Exercise]) -> dict[str, str]:
    """The student's text for each written exercise of ``notebook``, by grade_id."""
    wanted = {e.grade_id for e in exercises if e.kind == "written"}
    return {nbgrader_meta(c)["grade_id"]: c.source for c in notebook.cells if nbgrader_meta(c).get("grade_id") in wanted}


# The final project (notebooks/final_project.md): criteria with points, applied after the honesty
# check (pneumocourse.teaching.honesty); a project that fails that check scores 0 on the first two.
PROJECT_RUBRIC: list[tuple[str, float]] = [
    ("Result: the final model's test AUC against notebook 06's final model, paired bootstrap 95% CI on the same "
     "test images: beats it (CI above 0) 6, level with it 4, worse (CI below 0) 2", 6.0),
    ("Selection: every choice (architecture, recipe, epochs, threshold) listed with its val evidence and the seed "
     "noise, kept only beyond the noise as in notebook 06", 4.0),
    ("Budget: the procedure's measured training time is reported and within the stated budget (over it: 0)", 2.0),
    ("Reproducibility: seeds fixed and recorded with the config; a re-run returns the same numbers", 3.0),
    ("Write-up: what was tried, kept and dropped and why; each claim backed by an interval; the val-to-test "
     "cohort shift named as a limit", 5.0),
]


def project_rubric_markdown() -> str:
    """The final project's rubric as a Markdown table with its total."""
    lines = ["| criterion | points |", "|---|---|"] + [f"| {text} | {points:g} |" for text, points in PROJECT_RUBRIC]
    return "\n".join(lines + [f"| **total** | **{sum(p for _, p in PROJECT_RUBRIC):g}** |"]) + "\n"
