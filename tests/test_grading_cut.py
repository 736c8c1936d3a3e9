"""Grading runs each notebook's cells up to its last graded code cell, then only its Markdown
cells (the written answers): the cut, on the course's notebooks."""

from __future__ import annotations

from pathlib import Path

import nbformat

from pneumocourse.teaching.exercises import graded_part, last_run_graded_id, nbgrader_meta

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _ids(nb) -> list:
    return [nbgrader_meta(cell).get("grade_id") for cell in nb.cells]


def test_the_cut_keeps_every_graded_cell_and_no_code_after_the_last_test():
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        cut = graded_part(nb, nb)
        graded = [g for g, meta in zip(_ids(nb), map(nbgrader_meta, nb.cells)) if meta.get("grade") or meta.get("solution")]
        assert [g for g in _ids(cut) if g in graded] == graded, f"{path.name}: every graded cell is kept, in order"
        last = _ids(cut).index(last_run_graded_id(nb))
        assert nb.cells[:last + 1] == cut.cells[:last + 1], f"{path.name}: everything up to the last test is kept"
        assert all(cell.cell_type == "markdown" for cell in cut.cells[last + 1:])
        code_after = [c for c in nb.cells[last + 1:] if c.cell_type == "code"]
        assert code_after and len(cut.cells) == len(nb.cells) - len(code_after), f"{path.name}: the original is not changed"


def test_the_last_run_graded_cell_is_a_code_cell_even_when_a_written_answer_comes_later():
    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    cells = dict(zip(_ids(nb), nb.cells))
    assert cells[last_run_graded_id(nb)].cell_type == "code"
    written = [g for g, c in cells.items() if g and c.cell_type == "markdown" and nbgrader_meta(c).get("grade")]
    assert written and _ids(nb).index(written[-1]) > _ids(nb).index(last_run_graded_id(nb))


def test_a_submission_is_cut_where_the_source_says_and_kept_whole_without_that_cell():
    source = nbformat.read(NOTEBOOKS[0], as_version=4)
    last = last_run_graded_id(source)
    student = nbformat.from_dict(source)
    student.cells.insert(3, nbformat.v4.new_code_cell("helper = 1"))  # a cell of the student's own, early on
    student.cells.append(nbformat.v4.new_code_cell("print('after')"))
    student.cells.append(nbformat.v4.new_markdown_cell("a note of the student's own"))
    cut = graded_part(student, source)
    assert len(cut.cells) == len(graded_part(source, source).cells) + 2, "the early cell and the note are kept"
    assert "print('after')" not in [c.source for c in cut.cells] and cut.cells[-1].source == "a note of the student's own"
    assert _ids(cut).index(last) == _ids(student).index(last)
    without = nbformat.from_dict(student)
    without.cells = [c for c in without.cells if nbgrader_meta(c).get("grade_id") != last]
    assert len(graded_part(without, source).cells) == len(without.cells), "nothing is cut blind"


def test_a_notebook_without_graded_cells_is_kept_whole():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_markdown_cell("text")])
    assert last_run_graded_id(nb) is None and len(graded_part(nb, nb).cells) == 2


def test_grading_leaves_out_the_lesson_cells_no_graded_cell_needs():
    """Tables, figures and the lesson's training are left out; what a graded cell reads stays,
    and so does the setup."""
    from pneumocourse.teaching.exercises import _cell_names, lesson_cells

    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        lessons = lesson_cells(nb)
        cut = graded_part(nb, nb, skip_lessons=True)
        assert lessons and len(cut.cells) == len(graded_part(nb, nb).cells) - len(lessons), path.name
        code = [c for c in cut.cells if c.cell_type == "code"]
        everything = [c for c in nb.cells if c.cell_type == "code"]
        parameters = next(i for i, c in enumerate(everything) if "parameters" in c.metadata.get("tags", []))
        assert [c.id for c in code[:parameters + 2]] == [c.id for c in everything[:parameters + 2]], "the setup runs"
        assert all(not nbgrader_meta(c) for c in nb.cells if c.get("id") in lessons), "no nbgrader cell is left out"
        bound = set().union(*(_cell_names(c.source)[0] for c in code))
        skipped = set().union(*(_cell_names(c.source)[0] for c in nb.cells if c.get("id") in lessons)) - bound
        assert not skipped & set().union(*(_cell_names(c.source)[1] for c in code)), path.name


def test_a_solution_that_reads_a_lesson_name_runs_the_whole_notebook():
    source = nbformat.read(NOTEBOOKS[0], as_version=4)
    lessons = lesson_cells_of(source)
    lesson = next(c for c in source.cells if c.get("id") in lessons and "data" in c.source.split("=")[0])
    student = nbformat.from_dict(source)
    solution = next(c for c in student.cells if nbgrader_meta(c).get("solution") and c.cell_type == "code")
    solution.source += "\n\nfirst_label = data.train.labels[0]  # reads the lesson's data"
    assert "data" in lesson.source
    assert len(graded_part(student, source, skip_lessons=True).cells) == len(graded_part(student, source).cells)
    broken = nbformat.from_dict(source)
    next(c for c in broken.cells if nbgrader_meta(c).get("solution")).source += "\ndef broken(:"
    assert len(graded_part(broken, source, skip_lessons=True).cells) == len(graded_part(broken, source).cells), \
        "a cell that does not parse: every cell runs"


def lesson_cells_of(nb):
    from pneumocourse.teaching.exercises import lesson_cells

    return lesson_cells(nb)
