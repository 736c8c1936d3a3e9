"""The exercises in the notebooks, read from nbgrader's cell metadata.

An exercise is a graded cell: a locked test cell with points (auto-graded), or a Markdown answer
cell with points (graded by hand). Its title is the heading of the nearest Markdown cell above
that starts with ``### Exercise``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import nbformat
import pandas as pd

from .cell_names import bound_names, cell_tree, free_names

SOLUTION_BEGIN, SOLUTION_END = "### BEGIN SOLUTION", "### END SOLUTION"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
_HEADING = re.compile(r"^###\s+(Exercise[^\n]*)", re.MULTILINE)


@dataclass(frozen=True)
class Exercise:
    """One graded cell of one notebook."""

    notebook: str  # stem, e.g. 01_data_exploration
    grade_id: str
    points: float
    kind: str  # "auto" (a test cell) or "written" (a Markdown answer graded by hand)
    title: str


def nbgrader_meta(cell) -> dict:
    """A cell's nbgrader metadata ({} for an ordinary cell)."""
    return dict(cell.get("metadata", {}).get("nbgrader", {}))


def last_run_graded_id(nb: nbformat.NotebookNode) -> str | None:
    """The grade id of ``nb``'s last graded code cell (a test, or a code answer that tests read):
    the last cell whose run can change a score. None when it has none."""
    ids = [meta["grade_id"] for cell in nb.cells for meta in [nbgrader_meta(cell)]
           if cell.cell_type == "code" and meta.get("grade_id") and (meta.get("grade") or meta.get("solution"))]
    return ids[-1] if ids else None


def graded_part(nb: nbformat.NotebookNode, source: nbformat.NotebookNode,
                skip_lessons: bool = False) -> nbformat.NotebookNode:
    """A copy of ``nb`` as grading runs it: every cell up to the cell of ``source``'s last graded
    code cell, then only the Markdown cells (written answers are read, not run). The code cells
    after it cannot change a score, so grading does not run them. ``nb`` whole when that cell is
    not in it (a deleted test cell is added back by nbgrader). With ``skip_lessons``, the lesson
    cells of :func:`lesson_cells` are left out too, unless a cell that stays reads a name that only
    they bind (a solution that uses the lesson's ``data``, say), or a cell does not parse: then
    they all run."""
    last = last_run_graded_id(source)
    ids = [nbgrader_meta(cell).get("grade_id") for cell in nb.cells]
    copy = nbformat.from_dict(nb)
    if last is not None and last in ids:
        cut = ids.index(last) + 1
        copy.cells = copy.cells[:cut] + [cell for cell in copy.cells[cut:] if cell.cell_type == "markdown"]
    if skip_lessons:
        lessons = lesson_cells(source)
        kept = [cell for cell in copy.cells if cell.cell_type != "code" or cell.get("id") not in lessons]
        skipped = [cell for cell in copy.cells if cell.cell_type == "code" and cell.get("id") in lessons]
        names = [_cell_names(cell.source) for cell in kept if cell.cell_type == "code"]
        skipped_names = [_cell_names(cell.source) for cell in skipped]
        if skipped and None not in names and None not in skipped_names:
            only_skipped = set().union(*(bound for bound, _ in skipped_names)) - set().union(*(b for b, _ in names))
            if not only_skipped & set().union(*(free for _, free in names)):
                copy.cells = kept
    return copy


def lesson_cells(source: nbformat.NotebookNode) -> set[str]:
    """The ids of ``source``'s lesson code cells that no graded cell needs: after the setup (the
    code cells up to the first one after the ``parameters`` cell), not an nbgrader cell, and
    binding no name that a later cell which grading runs reads (by the names each cell's code
    binds and reads, :func:`_cell_names`). Tables and figures, training and loading for the
    lesson: what a score never depends on, since the checks build their own inputs."""
    code = [cell for cell in source.cells if cell.cell_type == "code"]
    tagged = [i for i, cell in enumerate(code) if "parameters" in cell.get("metadata", {}).get("tags", [])]
    setup_end = tagged[0] + 1 if tagged else len(code)
    last = last_run_graded_id(source)
    graded_end = next((i for i, cell in enumerate(code) if nbgrader_meta(cell).get("grade_id") == last), len(code) - 1)
    names = [_cell_names(cell.source) for cell in code]
    if None in names or not all(cell.get("id") for cell in code):
        return set()
    candidates = {i for i in range(setup_end + 1, graded_end + 1) if not nbgrader_meta(code[i])}
    while True:  # a candidate that binds what a later kept cell reads is kept, until nothing changes
        kept = [k for k in range(graded_end + 1) if k not in candidates]
        needed = {i for i in candidates if any(names[i][0] & names[k][1] for k in kept if k > i)}
        if not needed:
            return {code[i]["id"] for i in candidates}
        candidates -= needed


def _cell_names(code: str) -> tuple[set[str], set[str]] | None:
    """(the names a cell binds, the names it reads without binding them itself), or None when the
    code does not parse (:mod:`~pneumocourse.teaching.cell_names`)."""
    tree = cell_tree(code)
    return None if tree is None else (bound_names(tree), free_names(tree))


def notebook_exercises(path: str | Path) -> list[Exercise]:
    """The graded cells of one notebook, in order."""
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    found, title = [], ""
    for cell in nb.cells:
        if cell.cell_type == "markdown" and (match := _HEADING.search(cell.source)):
            title = match.group(1).strip()
        meta = nbgrader_meta(cell)
        if meta.get("grade"):
            kind = "auto" if cell.cell_type == "code" else "written"
            found.append(Exercise(path.stem, meta["grade_id"], float(meta.get("points", 0)), kind, title))
    return found


def exercise_table(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Every exercise of ``paths``: notebook, exercise title, grade id, kind and points."""
    rows = [vars(e) for path in paths for e in notebook_exercises(path)]
    return pd.DataFrame(rows, columns=["notebook", "grade_id", "points", "kind", "title"])


def _marked_lines(source: str, begin: str, end: str) -> list[str]:
    """The non-blank lines of ``source`` between a ``begin`` and an ``end`` marker line."""
    lines, inside = [], False
    for line in source.splitlines():
        if line.strip() == begin:
            inside = True
        elif line.strip() == end:
            inside = False
        elif inside and line.strip():
            lines.append(line.strip())
    return lines


def solution_lines(path: str | Path) -> list[str]:
    """Every non-blank line between solution markers, and every line of a graded Markdown answer:
    what a student release must not contain."""
    nb = nbformat.read(Path(path), as_version=4)
    lines = []
    for cell in nb.cells:
        if not nbgrader_meta(cell).get("solution"):
            continue
        if cell.cell_type == "markdown":
            lines += [line.strip() for line in cell.source.splitlines() if line.strip()]
        else:
            lines += _marked_lines(cell.source, SOLUTION_BEGIN, SOLUTION_END)
    return lines


def hidden_test_lines(path: str | Path) -> list[str]:
    """Every non-blank line between hidden-test markers."""
    nb = nbformat.read(Path(path), as_version=4)
    return [line for cell in nb.cells for line in _marked_lines(cell.source, HIDDEN_BEGIN, HIDDEN_END)]


def exercise_markdown(table: pd.DataFrame) -> str:
    """The exercise table as Markdown: notebook, exercise, how it is graded, points, with totals."""
    lines = ["| notebook | exercise | graded | points |", "|---|---|---|---|"]
    for row in table.itertuples():
        title = row.title.split(":", 1)[1].split("(")[0].strip() if ":" in row.title else row.title
        number = row.title.split(":", 1)[0].replace("Exercise", "").replace("(written, graded by hand)", "").strip()
        graded = "auto (visible + hidden tests)" if row.kind == "auto" else "by hand (written)"
        lines.append(f"| {row.notebook} | {number} {title} | {graded} | {row.points:g} |")
    auto = table[table.kind == "auto"].points.sum()
    lines.append(f"| **all** | {len(table)} exercises | {auto:g} points auto, {table.points.sum() - auto:g} by hand | "
                 f"**{table.points.sum():g}** |")
    return "\n".join(lines) + "\n"
