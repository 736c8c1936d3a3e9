"""How the grader shares work among its pool's workers (pneumocourse.teaching.grade), without
starting any: the course's check dealt out to the workers, and a worker's exception always coming back."""

from __future__ import annotations

import pickle
from concurrent.futures import Future
from pathlib import Path

import pytest

pytest.importorskip("nbgrader")

from pneumocourse.teaching import grade as grade_module  # noqa: E402
from pneumocourse.teaching.grade import StudentResult, _course_check, _grade_in_worker  # noqa: E402


def test_the_course_check_deals_the_notebooks_to_the_workers_and_keeps_each_jobs_own_points():
    """The notebooks are dealt out to one job per worker (each job's kernel serves all of its
    notebooks); the gradebook gives a job 0 for the notebooks it was not given, which must not
    overwrite the points another job scored."""
    names = ("01_a.ipynb", "02_b.ipynb", "03_c.ipynb")
    submitted = []

    def submit(student, files):
        submitted.append((student, sorted(files)))
        future = Future()
        future.set_result(StudentResult(student, {(n, f"ex_{n[:2]}"): (2.0 if n in files else 0.0) for n in names},
                                        [f"{name}: a line" for name in files]))
        return future

    check = _course_check(submit, [Path(n) for n in names], workers=2)
    assert submitted == [("course-check-1", ["01_a.ipynb", "03_c.ipynb"]), ("course-check-2", ["02_b.ipynb"])]
    assert check.points == {("01_a.ipynb", "ex_01"): 2.0, ("02_b.ipynb", "ex_02"): 2.0, ("03_c.ipynb", "ex_03"): 2.0}
    assert check.problems == ["01_a.ipynb: a line", "03_c.ipynb: a line", "02_b.ipynb: a line"]
    check = _course_check(submit, [Path(n) for n in names[:1]], workers=4)
    assert submitted[-1] == ("course-check-1", ["01_a.ipynb"]) and len(submitted) == 3, "no job without a notebook"


def test_an_exception_that_cannot_be_pickled_still_comes_back_from_a_worker(monkeypatch):
    """A process pool drops a result it cannot pickle, and the grader would wait forever."""
    class Unpicklable(Exception):
        def __reduce__(self):
            raise TypeError("cannot pickle this")

    def broken(*args):
        raise Unpicklable("the gradebook's own error")

    monkeypatch.setattr(grade_module, "grade_student", broken)
    with pytest.raises(RuntimeError, match="Unpicklable: the gradebook's own error") as caught:
        _grade_in_worker("someone")
    assert "Traceback" in str(caught.value)
    pickle.loads(pickle.dumps(caught.value))


def test_a_kernel_socket_path_too_long_for_unix_is_refused_before_the_kernel_starts(tmp_path):
    """A kernel whose socket path is over 107 characters dies at start, and nbgrader waits for it
    forever; each student's runtime folder is a short one under /tmp instead."""
    from pneumocourse.teaching.sandbox import SOCKET_PATH_MAX, SandboxedKernelManager

    deep = tmp_path / ("x" * (SOCKET_PATH_MAX - len(str(tmp_path))))
    with pytest.raises(ValueError, match="longer than a Unix socket allows"):
        SandboxedKernelManager(runtime_folder=str(deep))
    assert len(SandboxedKernelManager(runtime_folder="/tmp/pneumocourse-abcdefgh").ip) < SOCKET_PATH_MAX
