"""The hidden verdicts, judged outside the students' kernels (pneumocourse.teaching.verdicts,
hand_in and judge): the course's solutions pass on any grading's cases, every wrong answer of
tests/exercise_wrong_answers.py is refused by the judge as well as by the visible checks, and
what a kernel hands in is data the judge reads, never code it runs."""

from __future__ import annotations

import json

import nbformat
import pytest

from pneumocourse.notebooks import notebook_paths
from pneumocourse.teaching.exercises import HIDDEN_BEGIN, HIDDEN_END, nbgrader_meta
from pneumocourse.teaching.hand_in import HAND_IN_MIME, SEED_ENV, hand_in, outcome, plain
from pneumocourse.teaching.judge import NOT_HANDED_IN, judge_notebook
from pneumocourse.teaching.verdicts import VERDICTS, judge

from exercise_wrong_answers import WRONG
from test_exercise_tests import TRIVIAL

# the visible checks' wrong answers and the mechanics exercises' trivial ones
REFUSED = {g: {**WRONG.get(g, {}), **{f"trivial: {k}": v for k, v in TRIVIAL.get(g, {}).items()}} for g in {*WRONG, *TRIVIAL}}

SEEDS = (0, 20261207, 4242)


def _test_cells() -> dict[str, tuple[str, str]]:
    """grade id of each auto-graded test cell -> (its notebook, its source)."""
    cells = {}
    for path in notebook_paths():
        for cell in nbformat.read(path, as_version=4).cells:
            meta = nbgrader_meta(cell)
            if cell.cell_type == "code" and meta.get("grade") and meta.get("points"):
                cells[meta["grade_id"]] = (path.name, cell.source)
    return cells


def _objects(grade_id: str) -> list[str]:
    """The names the test cell hands to the judge: ``_hand_in("<id>", name, ...)`` in its hidden part."""
    hidden = _test_cells()[grade_id][1].split(HIDDEN_BEGIN, 1)[1].split(HIDDEN_END, 1)[0]
    call = next(line for line in hidden.splitlines() if line.startswith("_hand_in("))
    return [name.strip() for name in call[len("_hand_in("):-1].split(",")[1:]]


def _solutions() -> dict:
    """Every course solution of every notebook, defined in one namespace."""
    namespace: dict = {}
    for path in notebook_paths():
        for cell in nbformat.read(path, as_version=4).cells:
            if nbgrader_meta(cell).get("solution") and cell.cell_type == "code":
                exec(compile(cell.source, nbgrader_meta(cell)["grade_id"], "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def solutions():
    return _solutions()


def _answers(grade_id: str, namespace: dict, seed: int) -> dict:
    return json.loads(json.dumps(VERDICTS[grade_id].ask([namespace[n] for n in _objects(grade_id)], seed)))


def test_every_auto_graded_test_cell_hands_in_to_a_verdict_and_asserts_nothing_hidden():
    cells = _test_cells()
    assert set(cells) == set(VERDICTS), "one verdict per auto-graded test cell, and no other"
    for grade_id, (_, source) in cells.items():
        hidden = source.split(HIDDEN_BEGIN, 1)[1].split(HIDDEN_END, 1)[0]
        assert f"_hand_in({grade_id!r}," in hidden, grade_id
        assert "assert" not in hidden, f"{grade_id}: a hidden assert would decide in the student's kernel"


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("grade_id", sorted(VERDICTS))
def test_the_course_solution_is_accepted_on_any_gradings_cases(grade_id, seed, solutions):
    assert judge(grade_id, _answers(grade_id, solutions, seed), seed) is None


@pytest.mark.parametrize("grade_id, label", [(g, label) for g in sorted(REFUSED) for label in REFUSED[g]])
def test_every_wrong_answer_is_refused_by_the_judge_too(grade_id, label, solutions):
    namespace = dict(solutions)
    exec(compile(REFUSED[grade_id][label], grade_id, "exec"), namespace)
    reason = judge(f"{grade_id}_tests", _answers(f"{grade_id}_tests", namespace, 99), 99)
    assert reason, f"{grade_id}: the judge accepted the wrong answer {label!r}"


def test_answers_for_one_seed_are_refused_for_another(solutions):
    """A table of answers to one grading's cases (or the course's own) earns nothing in another."""
    answers = _answers("ex03_ece_tests", solutions, 0)
    assert judge("ex03_ece_tests", answers, 0) is None
    assert "expected" in judge("ex03_ece_tests", answers, 1)


@pytest.mark.parametrize("answers, expected", [
    ({}, "incomplete or malformed"),
    ({"values": "0.5"}, "a float expected, returned str"),
    ({"values": [{"type": "Anything"}] * 6, "bad": []}, "a float expected, returned a Anything"),
    ({"values": [{"raised": ["ZeroDivisionError", "ArithmeticError"]}] * 6, "bad": []}, "raised ZeroDivisionError"),
    ([1, 2], "not a JSON object"),
])
def test_malformed_or_faked_hand_ins_are_refused_with_the_reason(answers, expected):
    assert expected in judge("ex01_class_weight_tests", answers, 0)


def test_plain_keeps_types_and_never_keeps_an_object():
    import numpy as np
    import torch

    class Anything(float):
        def __eq__(self, other):
            return True

    assert plain(1) == {"int": 1} and plain(np.float32(0.5)) == {"float": 0.5} and plain(True) is True
    assert plain(Anything(0.0)) == {"type": "Anything"}
    assert plain(torch.ones(2, 1)) == {"array": [1.0, 1.0], "shape": [2, 1]}
    assert plain((1, "x")) == {"tuple": [{"int": 1}, "x"]}
    assert outcome(lambda: 1 / 0)["raised"][:2] == ["ZeroDivisionError", "ArithmeticError"]


def test_outside_grading_a_wrong_answer_fails_at_once(monkeypatch):
    monkeypatch.delenv(SEED_ENV, raising=False)
    with pytest.raises(AssertionError, match="expected"):
        hand_in("ex06_average_tests", lambda members: members[0])


def test_in_grading_the_answers_leave_as_an_output_and_the_judge_reads_and_strips_them(tmp_path, monkeypatch, solutions):
    """The kernel's side displays the answers (grading's seed); the grader's side judges the
    autograded notebook's outputs, refuses a cell with no hand-in, and removes the bundles."""
    shown = []
    monkeypatch.setenv(SEED_ENV, "77")
    monkeypatch.setattr("IPython.display.display", lambda bundle, raw=False: shown.append(bundle))
    hand_in("ex06_average_tests", solutions["average_probabilities"])
    assert shown and shown[0][HAND_IN_MIME]["grade_id"] == "ex06_average_tests"
    meta = {"grade": True, "points": 2, "solution": False, "locked": True, "schema_version": 3}
    right = nbformat.v4.new_code_cell("", metadata={"nbgrader": {**meta, "grade_id": "ex06_average_tests"}})
    right.outputs = [nbformat.v4.new_output("display_data", data={HAND_IN_MIME: shown[0][HAND_IN_MIME], "text/plain": "x"})]
    silent = nbformat.v4.new_code_cell("", metadata={"nbgrader": {**meta, "grade_id": "ex06_tta_tests"}})
    stolen = nbformat.v4.new_code_cell("", metadata={"nbgrader": {**meta, "grade_id": "ex06_keep_component_tests"}})
    stolen.outputs = list(right.outputs)  # another cell's hand-in, printed here, does not count for this one
    path = tmp_path / "06.ipynb"
    nb = nbformat.v4.new_notebook(cells=[right, silent, stolen])
    nbformat.write(nb, path)
    other = judge_notebook(path, 78)["ex06_average_tests"]
    assert other and other != NOT_HANDED_IN, "another grading's seed draws other cases"
    assert HAND_IN_MIME not in path.read_text(), "the bundles are taken out before the feedback is written"
    nbformat.write(nb, path)
    assert judge_notebook(path, 77) == {"ex06_average_tests": None, "ex06_tta_tests": NOT_HANDED_IN,
                                        "ex06_keep_component_tests": NOT_HANDED_IN}
