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
        Criterion("explains, with this notebook's numbers, why accuracy misleads on this dataset "
                  "and why it moves between val and test",
                  "Says accuracy rewards the majority class: the all-pneumonia baseline scores the "
                  "pneumonia share without finding a single normal image, and that this share "
                  "differs between val and test",
                  1.0),
        Criterion("names the measures you would report instead, and what each one shows",
                  "Names better measures: sensitivity with specificity, balanced accuracy or AUC",
                  1.0),
    ],
    "ex02_small_model_question": [
        Criterion("gives two distinct reasons, each tied to this input size or this architecture "
                  "(one reason alone: half a point)",
                  "Two reasons: at 28 px ResNet-18's downsampling leaves (almost) no spatial map, "
                  "and its many parameters overfit a few thousand images (either reason alone: 0.5)",
                  1.0),
        Criterion("proposes one concrete change that would give ResNet-18 a fairer chance",
                  "One fair change: larger inputs (64-224 px), a stem without early downsampling, "
                  "or pretrained weights",
                  1.0),
    ],
    "ex03_keep_youden_question": [
        Criterion("explains why the kept threshold follows from the rule the notebook applies to "
                  "every choice",
                  "The threshold is a choice and must not use test labels: switching to what scores"
                  " better on test tunes on test and spoils the estimate",
                  1.0),
        Criterion("says what data an honest threshold for the test cohort needs, and what you would"
                  " report on afterwards",
                  "Names what an honest pick needs: labelled data from the test cohort (a new "
                  "validation set), then a fresh test set",
                  1.0),
    ],
    "ex04_empty_maps_question": [
        Criterion("names the steps of Grad-CAM that produce an all-zero map, and when they do",
                  "Grad-CAM's ReLU removes a map whose weighted sum is negative everywhere, and the"
                  " min-max scaling keeps it at zero",
                  1.0),
        Criterion("uses the two tables to explain why explaining the predicted class cannot help "
                  "images called pneumonia",
                  "Uses the tables: for an image called pneumonia the predicted class is already "
                  "pneumonia, so asking for it changes nothing; a negative layer term (the layer "
                  "argues against pneumonia) makes an empty map likely but not certain, as the "
                  "tables show the term negative far more often than the map empty",
                  1.0),
    ],
    "ex05_val_test_question": [
        Criterion("says what an arm that rises on val and falls on test tells you about where the "
                  "val split comes from",
                  "Val comes from the training cohort, so a recipe can fit that cohort better and "
                  "transfer worse to the test cohort",
                  1.0),
        Criterion("says concretely how that changes the way you read a comparison made on val",
                  "Reads val gains against the seed spread (small gains are weak evidence), or asks"
                  " for data like the deployment cohort",
                  1.0),
    ],
    "ex06_val_question": [
        Criterion("explains why val cannot separate the best recipes, with the noise the notebook "
                  "measures",
                  "The good recipes sit near val's ceiling and differ by about the seed spread, so "
                  "val ranks them partly by noise",
                  1.0),
        Criterion("proposes one remedy and says what it needs or costs",
                  "Names a remedy: more seeds, a larger val split or cross-validation, or "
                  "validation data from the test cohort",
                  1.0),
    ],
    "ex07_transductive_question": [
        Criterion("explains why results that read the test images must be ranked apart from those "
                  "that did not",
                  "Transductive rows saw the test images they are scored on, information an "
                  "inductive model never has, so ranking them together is unfair",
                  1.0),
        Criterion("says what a hospital needs before it trusts a prior estimated on its own scans",
                  "Names what a hospital needs: enough of its own unlabeled scans and a small "
                  "labelled sample to check the label-shift assumption",
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
