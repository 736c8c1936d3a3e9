"""Grading runs each notebook up to its last graded cell: the cut, on the course's notebooks."""

from __future__ import annotations

from pathlib import Path

import nbformat

from pneumolib.teaching.exercises import last_graded_id, nbgrader_meta, through_last_graded_cell

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _ids(nb) -> list:
    return [nbgrader_meta(cell).get("grade_id") for cell in nb.cells]


def test_the_cut_keeps_every_graded_cell_and_nothing_after_the_last():
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        cut = through_last_graded_cell(nb, nb)
        graded = [i for i, meta in enumerate(map(nbgrader_meta, nb.cells)) if meta.get("grade") or meta.get("solution")]
        assert len(cut.cells) == graded[-1] + 1 < len(nb.cells), path.name
        assert _ids(cut)[-1] == last_graded_id(nb) and len(nb.cells) > len(cut.cells), "the original is not changed"


def test_a_submission_is_cut_where_the_source_says_and_kept_whole_without_that_cell():
    source = nbformat.read(NOTEBOOKS[0], as_version=4)
    last = last_graded_id(source)
    student = nbformat.from_dict(source)
    student.cells.insert(3, nbformat.v4.new_code_cell("helper = 1"))  # a cell of the student's own, early on
    student.cells.append(nbformat.v4.new_code_cell("print('after')"))
    assert _ids(through_last_graded_cell(student, source))[-1] == last
    assert len(through_last_graded_cell(student, source).cells) == len(through_last_graded_cell(source, source).cells) + 1
    without = nbformat.from_dict(student)
    without.cells = [c for c in without.cells if nbgrader_meta(c).get("grade_id") != last]
    assert len(through_last_graded_cell(without, source).cells) == len(without.cells), "nothing is cut blind"


def test_a_notebook_without_graded_cells_is_kept_whole():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_markdown_cell("text")])
    assert last_graded_id(nb) is None and len(through_last_graded_cell(nb, nb).cells) == 2
