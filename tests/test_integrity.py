"""The grader's flags for a human (pneumocourse.teaching.integrity): each kind on a submission of our
own, and none on the course's own notebooks."""

from __future__ import annotations

import copy

import nbformat
import pytest

from pneumocourse.notebooks import notebook_paths
from pneumocourse.teaching.exercises import nbgrader_meta
from pneumocourse.teaching.integrity import integrity_flags, reference_names

NOTEBOOKS = notebook_paths()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_course_notebooks_raise_no_flag(path):
    source = nbformat.read(path, as_version=4)
    assert integrity_flags(source, source, path.name) == []


def _with(path, solution: str | None = None, extra: str | None = None):
    source = nbformat.read(path, as_version=4)
    submitted = copy.deepcopy(source)
    if solution is not None:
        next(c for c in submitted.cells if nbgrader_meta(c).get("solution") and c.cell_type == "code").source = solution
    if extra is not None:
        submitted.cells.append(nbformat.v4.new_code_cell(extra))
    return integrity_flags(submitted, source, path.name)


def test_calling_the_reference_implementation_is_flagged_however_it_is_imported():
    path = notebook_paths(["07"])[0]
    assert reference_names(nbformat.read(path, as_version=4)) == {"em_prior", "prior_corrected"}
    direct = "from pneumolib.shift.priors import prior_corrected\ndef correct_prior(p, s, t):\n    return prior_corrected(p, s, t)"
    aliased_elsewhere = "def correct_prior(p, s, t):\n    return pc(p, s, t)"
    module = "import pneumolib.shift.priors as pr\ndef correct_prior(p, s, t):\n    return pr.prior_corrected(p, s, t)"
    by_name = "import importlib\ndef correct_prior(p, s, t):\n    return getattr(importlib.import_module('pneumolib.shift.priors'), 'prior_corrected')(p, s, t)"
    assert any("prior_corrected" in line for line in _with(path, direct))
    assert any("prior_corrected" in line for line in _with(path, aliased_elsewhere,
                                                         "from pneumolib.shift.priors import prior_corrected as pc"))
    assert any("prior_corrected" in line for line in _with(path, module))
    assert any("prior_corrected" in line for line in _with(path, by_name))
    own = "import numpy as np\ndef correct_prior(p, s, t):\n    p = np.asarray(p)\n    return p * t / s / (p * t / s + (1 - p) * (1 - t) / (1 - s))"
    assert _with(path, own) == []


@pytest.mark.parametrize("code, word", [
    ("len = lambda x: 1", "rebinds builtins (len)"),
    ("def sum(values):\n    return 0", "rebinds builtins (sum)"),
    ("import builtins\nbuiltins.float = int", "rebinds builtins (float)"),
    ("get_ipython().set_custom_exc((Exception,), lambda *a: None)", "hooks (set_custom_exc)"),
    ("get_ipython().events.register('post_run_cell', print)", "hooks (register)"),
    ("import sys\nsys.excepthook = print", "hooks (excepthook)"),
    ("import numpy as np\nnp.allclose = lambda *a, **k: True", "patches imported modules (np.allclose)"),
    ("import torch\ntorch.Tensor.numpy = lambda self: 0", "patches imported modules (torch.Tensor.numpy)"),
    ("from pneumocourse.teaching import checks\nsetattr(checks, 'close', lambda *a: True)", "setattr(checks, ...)"),
])
def test_each_way_of_gaming_is_flagged_once_for_a_human(code, word):
    lines = _with(NOTEBOOKS[0], extra=code)
    assert len(lines) == 1 and word in lines[0] and "points kept" in lines[0], lines


def test_the_names_the_tests_read_from_the_course_are_protected():
    from pneumocourse.teaching.integrity import protected_names

    # the hidden verdicts read nothing of a notebook's state (their cases are the grader's own), so
    # only what a visible test reads from the course's cells is left to protect: 02's seed
    protected = {p.stem[:2]: protected_names(nbformat.read(p, as_version=4)) for p in NOTEBOOKS}
    assert protected == {**{p.stem[:2]: set() for p in NOTEBOOKS}, "02": {"seed"}}, protected
    for code in ("seed = 5", "for seed in range(3):\n    pass"):
        lines = _with(NOTEBOOKS[1], extra=code)
        assert len(lines) == 1 and "rebinds names the tests read (seed)" in lines[0], lines
    # a benign edit of the parameters cell is not flagged: no test reads its names
    source = nbformat.read(NOTEBOOKS[0], as_version=4)
    submitted = copy.deepcopy(source)
    parameters = next(c for c in submitted.cells if "parameters" in c.metadata.get("tags", []))
    parameters.source = parameters.source.replace("seed = 0", "seed = 1")
    assert integrity_flags(submitted, source, NOTEBOOKS[0].name) == []
