"""The grader's side of the hidden tests: read the answers that each test cell handed in (an output
of MIME type :data:`~pneumocourse.teaching.hand_in.HAND_IN_MIME` in the autograded notebook), judge
them in this process with :mod:`~pneumocourse.teaching.verdicts`, and take them out of the notebook
before its feedback is written. Runs after the student's kernel has stopped, never inside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat

from .exercises import nbgrader_meta
from .hand_in import HAND_IN_MIME
from .verdicts import VERDICTS, judge

NOT_HANDED_IN = "no answers to the grader's cases were handed in (the cell stopped before its hidden part)"


def handed_in(cell: nbformat.NotebookNode) -> Any:
    """The answers that a test cell handed in: the last hand-in output that names this cell's
    grade id, or None."""
    grade_id = nbgrader_meta(cell).get("grade_id")
    found = None
    for output in cell.get("outputs", []):
        bundle = output.get("data", {}).get(HAND_IN_MIME) if output.get("output_type") in ("display_data", "execute_result") else None
        if isinstance(bundle, dict) and bundle.get("grade_id") == grade_id:
            found = bundle.get("answers")
    return found


def judge_notebook(autograded: Path, seed: int) -> dict[str, str | None]:
    """For each auto-graded test cell of the autograded notebook: None when its handed-in answers
    are right, else why not. The hand-in outputs are removed from the file (the feedback shows the
    cell's text line only)."""
    nb = nbformat.read(autograded, as_version=4)
    verdicts: dict[str, str | None] = {}
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type != "code" or not meta.get("grade") or not meta.get("points"):
            continue
        grade_id = meta["grade_id"]
        answers = handed_in(cell)
        if grade_id not in VERDICTS:
            verdicts[grade_id] = f"the course has no verdict for {grade_id}"
        elif answers is None:
            verdicts[grade_id] = NOT_HANDED_IN
        else:
            verdicts[grade_id] = judge(grade_id, answers, seed)
        for output in cell.get("outputs", []):
            output.get("data", {}).pop(HAND_IN_MIME, None)
    nbformat.write(nb, autograded)
    return verdicts


__all__ = ["NOT_HANDED_IN", "handed_in", "judge_notebook"]
