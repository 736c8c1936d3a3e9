"""The students' code flows into the lesson: after each mechanics exercise a try-it cell runs the
student's own functions on the notebook's data (the solution's, in the course), and grading leaves
those cells out, so they cost a grade nothing."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from pneumocourse.teaching.cell_names import bound_names, cell_tree, free_names
from pneumocourse.teaching.exercises import graded_part, nbgrader_meta

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("0*.ipynb"))
TRY_IT_HEADING = "#### Try it"

# The code exercises no try-it cell runs, and why (every other one must flow into the lesson).
WITHOUT_TRY_IT = {
    "ex05_nested_cv": "each call of its score trains a model, so nested CV of a recipe takes hours on a CPU; the "
                      "notebook says so and stops at the non-nested estimate",
    "ex06_tta": "the search's TTA views are affine grids inside pneumolib's predictor, not the batch-to-batch "
                "functions the exercise takes; its try-it would re-implement them",
}


def _answers(nb: nbformat.NotebookNode) -> dict[str, set[str]]:
    """grade_id -> the functions and classes a code answer cell defines."""
    found = {}
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type == "code" and meta.get("solution"):
            found[meta["grade_id"]] = bound_names(cell_tree(cell.source), imports=False)
    return found


def _try_it_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """The code cells that follow a Markdown cell headed "#### Try it"."""
    return [nb.cells[i + 1] for i, cell in enumerate(nb.cells[:-1])
            if cell.cell_type == "markdown" and cell.source.startswith(TRY_IT_HEADING)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_code_exercise_flows_into_a_try_it_cell_after_it(path):
    nb = nbformat.read(path, as_version=4)
    position = {cell.get("id"): i for i, cell in enumerate(nb.cells)}
    answer_at = {nbgrader_meta(c)["grade_id"]: position[c.get("id")] for c in nb.cells if nbgrader_meta(c).get("solution")}
    try_its = [(position[cell.get("id")], free_names(cell_tree(cell.source))) for cell in _try_it_cells(nb)]
    for grade_id, names in _answers(nb).items():
        used = any(at > answer_at[grade_id] and names & reads for at, reads in try_its)
        if grade_id in WITHOUT_TRY_IT:
            assert not used, f"{grade_id} now has a try-it cell: take it off WITHOUT_TRY_IT"
        else:
            assert used, (f"{path.stem}: no try-it cell after {grade_id} calls {sorted(names)}; add one "
                          f"(a Markdown cell headed '{TRY_IT_HEADING}' and a code cell that runs the student's code)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_try_it_cells_are_lesson_cells_that_grading_leaves_out(path):
    nb = nbformat.read(path, as_version=4)
    graded = {cell.get("id") for cell in graded_part(nb, nb, skip_lessons=True).cells if cell.cell_type == "code"}
    for cell in _try_it_cells(nb):
        assert cell.cell_type == "code" and not nbgrader_meta(cell), f"{path.stem}: a try-it cell is a plain code cell"
        assert cell.get("id") not in graded, (f"{path.stem}: grading would run try-it cell {cell.get('id')}: it binds "
                                              "a name a later graded cell reads; rename it")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_try_it_cells_ran_without_error_in_the_committed_render(path):
    nb = nbformat.read(path, as_version=4)
    for cell in _try_it_cells(nb):
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert cell.outputs and not errors, f"{path.stem}: try-it cell {cell.get('id')} has no output or failed"
