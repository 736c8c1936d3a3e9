"""One kernel for all of a student's notebooks (pneumocourse.teaching.kernels): shared, reset
between notebooks, and replaced when a notebook leaves it unusable."""

from __future__ import annotations

import os

import nbformat
import pytest

pytest.importorskip("nbgrader")

from nbgrader.preprocessors import Execute  # noqa: E402

from pneumocourse.teaching.kernels import StudentKernel, shared_kernel_execute  # noqa: E402

pytestmark = pytest.mark.integration  # starts kernels


def _run(kernel: StudentKernel, folder, *sources: str, timeout: int = 30):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    shared_kernel_execute(Execute, kernel)(timeout=timeout, interrupt_on_timeout=True).preprocess(
        nb, {"metadata": {"path": str(folder)}})
    return nb


def _text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")


def test_the_notebooks_share_one_kernel_and_each_starts_as_if_alone(tmp_path):
    kernel = StudentKernel()
    try:
        first = _run(kernel, tmp_path, "import os; print(os.getpid())",
                     "secret = 42\nimport matplotlib\nmatplotlib.use('agg')\nimport matplotlib.pyplot as plt\n"
                     "plt.figure()\nos.makedirs('elsewhere', exist_ok=True)\nos.chdir('elsewhere')")
        second = _run(kernel, tmp_path, "import os; print(os.getpid())",
                      "print('secret' in dir(), os.getcwd())\nimport matplotlib.pyplot as plt\nprint(plt.get_fignums())")
        assert _text(first.cells[0]) == _text(second.cells[0]), "the second notebook ran in the same kernel"
        assert _text(second.cells[1]).split() == ["False", str(tmp_path), "[]"], "names, working folder and figures reset"
        assert [c.execution_count for c in second.cells] == [1, 2], "execution counts start again at 1"
        assert kernel.started == 1
    finally:
        kernel.shutdown()


def test_a_notebook_stopped_at_its_limit_or_breaking_the_reset_leaves_a_fresh_kernel_to_the_next(tmp_path):
    kernel = StudentKernel()
    try:
        stopped = _run(kernel, tmp_path, "import os; print(os.getpid())", "import time\ntime.sleep(60)", timeout=3)
        assert any(o.get("ename") == "CellTimeoutError" for o in stopped.cells[1].outputs)
        after = _run(kernel, tmp_path, "import os; print(os.getpid())",
                     "import sys\ndel sys._pneumocourse_start_folder\nget_ipython().reset = None")
        assert _text(after.cells[0]) != _text(stopped.cells[0]) and kernel.started == 2
        last = _run(kernel, tmp_path, "import os; print(os.getpid())", "print('secret' in dir())")
        assert _text(last.cells[0]) != _text(after.cells[0]) and kernel.started == 3, "a kernel that refused its reset"
        pid = int(_text(last.cells[0]))
    finally:
        kernel.shutdown()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
