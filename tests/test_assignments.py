"""Student releases and autograding through nbgrader, on the real notebooks (smoke profile)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlparse

import nbformat
import pytest

pytest.importorskip("nbgrader")

from pneumocourse.notebooks import notebook_paths  # noqa: E402
from pneumocourse.teaching.exercises import (  # noqa: E402
    HIDDEN_BEGIN, exercise_table, hidden_test_lines, nbgrader_meta, notebook_exercises, solution_lines,
)
from pneumocourse.teaching.grade import grade  # noqa: E402
from pneumocourse.teaching.release import HOW_TO, NO_URL_NOTE, release  # noqa: E402
from pneumocourse.teaching.sandbox import bwrap_path  # noqa: E402

pytestmark = pytest.mark.integration  # starts processes: the integration layer

SANDBOX = bwrap_path() is not None  # our own submissions: sandboxed where bubblewrap is installed (CI installs it)

NOTEBOOKS = notebook_paths()
FIRST = NOTEBOOKS[0]  # 01: its cells take seconds, so the bad-submission class grades only it
PARTIAL = {"ex01_class_weight": FIRST.name, "ex03_ece": notebook_paths(["03"])[0].name}
COMPLETE = {"complete": NOTEBOOKS[:4], "complete2": NOTEBOOKS[4:]}  # every notebook solved, by one of two students
BLANK = notebook_paths(["01", "04", "07"])  # the unmodified release: the first, a middle and the last notebook
BAD_CELL_TIMEOUT = 15  # seconds a cell of the bad-submission class may take (01's cells take about one)


PUBLISHED = "https://github.com/a-course/student-notebooks/tree/main/week-1"  # where an instructor publishes


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("release")
    release(NOTEBOOKS, out, publish_url=PUBLISHED)
    return out


LINK = re.compile(r"\]\(([^)\s]+)\)|href=[\"']([^\"']+)[\"']|(https?://[^\s)\"'<>]+)")


def _release_links(folder: Path) -> list[tuple[str, str]]:
    """(notebook, link) for every Markdown link, HTML href and bare URL in a release."""
    found = []
    for path in sorted(folder.glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            found += [(path.name, next(g for g in m.groups() if g)) for m in LINK.finditer(cell.source)]
    return found


def _follow(link: str, folder: Path) -> Path | None:
    """The release file a link opens: a relative link, or a link into the published folder (which
    holds this release); None for a link that opens no notebook."""
    if not urlparse(link).scheme:
        return folder / link.split("#")[0]
    published = "https://colab.research.google.com/github/a-course/student-notebooks/blob/main/week-1/"
    if link.startswith(published):
        return folder / link.removeprefix(published)
    assert ".ipynb" not in link and "nbviewer" not in link, f"a release links to a notebook outside it: {link}"
    return None


def test_every_link_in_a_release_opens_a_student_version(released):
    course_notebooks = [link for _, link in _release_links(released) if "pneumolib/pneumolib" in link and ".ipynb" in link]
    assert not course_notebooks, f"links to the course's own notebooks: {course_notebooks}"
    badges = 0
    for notebook, link in _release_links(released):
        target = _follow(link, released)
        if target is None:
            continue
        assert target.is_file(), f"{notebook}: {link} opens nothing in the release"
        text = target.read_text()
        assert HOW_TO.splitlines()[0] in text and "BEGIN HIDDEN TESTS" not in text and "### BEGIN SOLUTION" not in text
        badges += "colab.research.google.com" in link
    assert badges == len(NOTEBOOKS), "each released notebook keeps one badge, pointed at its published copy"


def test_without_a_publish_url_the_badges_go_and_the_release_says_how(tmp_path):
    from pneumolib.errors import ConfigError

    release(NOTEBOOKS[:1], tmp_path)
    text = (tmp_path / NOTEBOOKS[0].name).read_text()
    assert "colab.research.google.com" not in text and "colab-badge" not in text
    assert "--publish-url" in NO_URL_NOTE and json.dumps(NO_URL_NOTE)[1:40] in text
    with pytest.raises(ConfigError, match="GitHub folder"):
        release(NOTEBOOKS[:1], tmp_path / "other", publish_url="https://example.org/notebooks/")
    assert not (tmp_path / "other").exists(), "a bad URL is refused before anything is written"


def _cell(nb, grade_id):
    return next(c for c in nb.cells if nbgrader_meta(c).get("grade_id") == grade_id)


def _write(folder: Path, nb) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f"{nb.metadata['_name']}")


def _read(path: Path):
    nb = nbformat.read(path, as_version=4)
    nb.metadata["_name"] = path.name
    return nb


def _points(grades, student):
    rows = grades[(grades.student == student) & (grades.kind == "auto")]
    return dict(zip(rows.exercise, rows.points)), dict(zip(rows.exercise, rows.max_points))


def test_every_notebook_has_two_to_four_auto_graded_exercises_and_a_written_one():
    table = exercise_table(NOTEBOOKS)
    for path in NOTEBOOKS:
        kinds = table[table.notebook == path.stem].kind.value_counts()
        assert 2 <= kinds.get("auto", 0) <= 4 and 1 <= kinds.get("written", 0) <= 2, (path.stem, kinds.to_dict())
    assert table.grade_id.is_unique and (table.points > 0).all() and table.title.str.startswith("Exercise").all()


def test_the_student_release_holds_no_solution_line_and_no_hidden_test(released):
    for path in NOTEBOOKS:
        source = nbformat.read(path, as_version=4)
        student = nbformat.read(released / path.name, as_version=4)
        text = "\n".join(line.strip() for cell in student.cells for line in cell.source.splitlines())
        outside = {line.strip() for cell in source.cells if not nbgrader_meta(cell).get("solution")
                   for line in cell.source.splitlines()}  # lines the notebook shows anyway
        leaked = [line for line in solution_lines(path) if line not in outside and line in text.splitlines()]
        assert not leaked, (path.name, leaked[:3])
        shown = {line.strip() for cell in source.cells for line in cell.source.split(HIDDEN_BEGIN, 1)[0].splitlines()}
        hidden = [line for line in hidden_test_lines(path) if line not in shown]  # "try:" may be visible as well
        assert not [line for line in hidden if line in text.splitlines()], path.name
        assert "YOUR CODE HERE" in text and HOW_TO.splitlines()[0] in text
        assert not any(cell.get("outputs") for cell in student.cells if cell.cell_type == "code"), "outputs cleared"
        assert {e.grade_id for e in notebook_exercises(released / path.name)} == {e.grade_id for e in notebook_exercises(path)}


def test_the_release_shows_each_written_questions_criteria(released):
    from pneumocourse.teaching.rubrics import RUBRICS
    from tests.test_rubrics import prompts_with_criteria

    assert prompts_with_criteria(released) == len(RUBRICS)


def test_a_release_never_overwrites_one(released):
    from pneumolib.errors import ConfigError

    with pytest.raises(ConfigError, match="never overwrites"):
        release(NOTEBOOKS[:1], released)


@pytest.fixture(scope="module")
def class_grades(tmp_path_factory, released):
    """Complete notebooks, the unmodified release, and a partial submission, graded together."""
    root = tmp_path_factory.mktemp("class")
    submissions = root / "submitted"
    for student, paths in COMPLETE.items():  # two students, so that the two workers share the complete notebooks
        (submissions / student / "pneumolib").mkdir(parents=True, exist_ok=True)
        for path in paths:
            shutil.copy2(path, submissions / student / "pneumolib" / path.name)
    for path in BLANK:  # the unmodified release of three notebooks; the other four are missing
        (submissions / "blank").mkdir(parents=True, exist_ok=True)
        shutil.copy2(released / path.name, submissions / "blank" / path.name)
    for grade_id, name in PARTIAL.items():  # the partial student solves one exercise in each of two notebooks
        student = _read(released / name)
        _cell(student, grade_id).source = _cell(nbformat.read(FIRST.parent / name, as_version=4), grade_id).source
        _write(submissions / "partial", student)
    # make test runs this layer after the smoke execution of layer 1 and seeds the graders' store from it
    # (as an instructor's earlier smoke run would); alone, the course's notebooks train what the store lacks
    seed = os.environ.get("PNEUMOLIB_TEST_SEED_RESULTS")
    said = []
    grades, report = grade(submissions, NOTEBOOKS, root / "out", smoke=True, workers=2, cell_timeout=300,
                           say=said.append, sandbox=SANDBOX, seed_from=Path(seed) if seed else None)
    seeding = [line for line in said if "ran once to seed the store" in line]
    assert len(seeding) == (0 if seed else len(NOTEBOOKS)), said  # seeded from a run of them: not run again
    return grades, report, root / "out"


def test_complete_notebooks_score_full_marks(class_grades):
    grades, report, out = class_grades
    solved = 0
    for student, paths in COMPLETE.items():
        points, maximum = _points(grades, student)
        numbers = {path.name[:2] for path in paths}
        mine = {exercise for exercise in maximum if exercise[2:4] in numbers}  # grade ids start "ex01_", ...
        assert mine and all(points[e] == maximum[e] for e in mine), (student, points)
        solved += len(mine)
        lines = [line for line in report if line.startswith(f"{student}:")]
        assert all("missing" in line for line in lines), lines  # only the other student's notebooks
        assert list((out / "feedback" / student).glob("*.html")), "nbgrader's feedback HTML"
    assert solved == len(maximum) and sum(maximum.values()) > 0, "between them, every exercise"
    assert (out / "summary.csv").read_text().count("\n") == 5  # header and four students
    settings = json.loads((out / "grading.json").read_text())  # what grading again with the same cases needs
    assert type(settings["hidden_seed"]) is int and settings["profile"] == "smoke"


def test_the_unmodified_release_scores_zero_and_the_grader_goes_on(class_grades):
    grades, report, _ = class_grades
    points, _ = _points(grades, "blank")
    assert set(points.values()) == {0.0}
    assert any("not attempted" in line for line in report if line.startswith("blank:"))
    assert not any("crashed" in line or "autograding failed" in line for line in report)


def test_a_partial_submission_scores_exactly_what_it_solves(class_grades):
    grades, _, _ = class_grades
    points, maximum = _points(grades, "partial")
    solved = {f"{grade_id}_tests" for grade_id in PARTIAL}
    assert {k: v for k, v in points.items() if v} == {k: maximum[k] for k in solved}


@pytest.fixture(scope="module")
def bad_class(tmp_path_factory, released):
    root = tmp_path_factory.mktemp("bad")
    subs = root / "submitted"
    complete, student = _read(FIRST), _read(released / FIRST.name)
    (subs / "notjson").mkdir(parents=True)
    (subs / "notjson" / FIRST.name).write_text("{ this is not json")
    (subs / "notnotebook").mkdir()
    (subs / "notnotebook" / FIRST.name).write_text(json.dumps({"answer": 42}))
    (subs / "missing").mkdir()
    edited = _read(released / FIRST.name)  # stubs, and a test cell rewritten to pass
    _cell(edited, "ex01_class_weight_tests").source = "assert True"
    _write(subs / "edited", edited)
    deleted = _read(FIRST)  # complete, with one test cell deleted
    deleted.cells = [c for c in deleted.cells if nbgrader_meta(c).get("grade_id") != "ex01_shared_images_tests"]
    _write(subs / "deleted", deleted)
    looping = _read(FIRST)
    _cell(looping, "ex01_majority_baseline").source = "while True:\n    pass"
    _write(subs / "looping", looping)
    raising = _read(FIRST)
    _cell(raising, "ex01_class_weight").source = "raise ValueError('my code is broken')"
    _write(subs / "raising", raising)
    gaming = _read(released / FIRST.name)  # passes the visible test only
    _cell(gaming, "ex01_class_weight").source = "import numpy as np\n\ndef positive_class_weight(labels):\n    return 1 / 3"
    _write(subs / "gaming", gaming)
    (subs / "..hidden; rm -rf").mkdir()
    del complete, student
    seed = os.environ.get("PNEUMOLIB_TEST_SEED_RESULTS")  # as for the class above
    grades, report = grade(subs, [FIRST], root / "out", smoke=True, workers=2, cell_timeout=BAD_CELL_TIMEOUT, say=lambda line: None,
                           sandbox=SANDBOX, seed_from=Path(seed) if seed else None)
    return grades, report


@pytest.mark.parametrize("student, expected", [
    ("notjson", "not valid JSON"), ("notnotebook", "not a Jupyter notebook"), ("missing", "missing"),
    ("edited", "ex01_class_weight_tests was edited; restored"), ("deleted", "ex01_shared_images_tests was deleted; restored"),
    ("looping", f"did not finish within {BAD_CELL_TIMEOUT} s"), ("raising", "ex01_class_weight raised ValueError: my code is broken"),
])
def test_each_bad_submission_gets_its_own_report_line(bad_class, student, expected):
    _, report = bad_class
    assert [line for line in report if line.startswith(f"{student}:") and expected in line], report


def test_bad_submissions_are_graded_as_far_as_they_can_be(bad_class):
    grades, report = bad_class
    scores = {s: _points(grades, s)[0] for s in ("notjson", "edited", "deleted", "looping", "raising", "gaming")}
    assert set(scores["notjson"].values()) == {0.0}
    assert scores["edited"]["ex01_class_weight_tests"] == 0, "the restored test cell still tests the stub"
    assert scores["deleted"] == _points(grades, "deleted")[1], "a deleted test cell is restored and graded"
    assert scores["looping"]["ex01_majority_baseline_tests"] == 0 and scores["looping"]["ex01_class_weight_tests"] > 0
    assert scores["raising"]["ex01_class_weight_tests"] == 0 and scores["raising"]["ex01_shared_images_tests"] > 0
    assert any("not a valid student id" in line for line in report)
    assert _points(grades, "gaming")[0]["ex01_class_weight_tests"] == 0, "hidden tests are restored at grading"


def test_the_notebooks_readme_counts_the_exercises_there_are():
    import re

    table = exercise_table(NOTEBOOKS)
    readme = (NOTEBOOKS[0].parent / "README.md").read_text()
    for path in NOTEBOOKS:
        counts = table[table.notebook == path.stem].kind.value_counts()
        row = next(line for line in readme.splitlines() if line.startswith("| ") and f"[{path.stem}]" in line)
        auto, written = map(int, re.search(r"\| (\d+) auto-graded, (\d+) written \|", row).groups())
        assert (auto, written) == (counts.get("auto", 0), counts.get("written", 0)), path.stem
