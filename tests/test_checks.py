"""What the exercise tests compare with (pneumocourse.teaching.checks): a student's return value as a
builtin type, and hostile objects refused with a line that says what to return."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pneumocourse.teaching.checks import (
    arrays_close, as_array, as_bool, as_float, as_float_dict, as_float_tuple, as_int, close,
)


class EqualsAnything(float):
    """What a gaming submission returns: a float that equals, and is close to, anything."""

    def __eq__(self, other):
        return True

    def __sub__(self, other):
        return 0.0

    def __abs__(self):
        return 0.0

    __hash__ = float.__hash__


class SneakyArray(np.ndarray):
    def __eq__(self, other):
        return np.ones(np.shape(self), dtype=bool)


class SneakyTensor(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return True


def test_builtin_and_numpy_numbers_are_converted():
    assert type(as_float(np.float32(0.5))) is float and as_float(np.float32(0.5)) == 0.5
    assert as_float(3) == 3.0 and type(as_int(np.int64(7))) is int
    assert as_bool(np.bool_(True)) is True and as_bool(False) is False
    assert as_float_tuple((0.1, np.float64(0.2), 1), 3) == (0.1, 0.2, 1.0)
    assert as_float_dict({"a": np.float64(1.0), "b": 2}, ["a", "b"]) == {"a": 1.0, "b": 2.0}


@pytest.mark.parametrize("call, message", [
    (lambda: as_float(EqualsAnything(0.3)), "return a float, got EqualsAnything"),
    (lambda: as_float("0.3"), "return a float, got str"),
    (lambda: as_int(True), "return an int, got bool"),
    (lambda: as_int(2.0), "return an int, got float"),
    (lambda: as_bool(1), "return True or False, got int"),
    (lambda: as_bool(np.array([True])), "return True or False, got ndarray"),
    (lambda: as_array([0.1, 0.2]), "return a numpy array, got list"),
    (lambda: as_array(np.zeros(3).view(SneakyArray)), "return a numpy array, got SneakyArray"),
    (lambda: as_array(torch.zeros(3).as_subclass(SneakyTensor)), "return a numpy array, got SneakyTensor"),
    (lambda: as_float_dict({"a": 1.0}, ["a", "b"]), "the keys must be ['a', 'b']"),
    (lambda: as_float_tuple([0.1, 0.2, 0.3], 3), "return a tuple of 3 floats, got list"),
    (lambda: as_float_tuple((0.1, EqualsAnything(0)), 2), "[1]: return a float, got EqualsAnything"),
])
def test_hostile_or_wrong_returns_are_refused_with_what_to_return(call, message):
    with pytest.raises(AssertionError) as error:
        call()
    assert message in str(error.value)


def test_comparisons_on_converted_values():
    assert close(0.1 + 0.2, 0.3) and not close(0.3, 0.31, 1e-3)
    assert close(math.nan, math.nan) and not close(math.nan, 0.0)
    plain = as_array(torch.tensor([0.25, 0.75]))
    assert type(plain) is np.ndarray and arrays_close(plain, [0.25, 0.75])
    assert not arrays_close(plain, [0.25, 0.75, 0.0]), "another shape is not close"
    assert not arrays_close(np.zeros(2), [0.0, 1e-3], 1e-6)


def test_every_exercise_test_calls_only_what_it_binds_itself_or_the_grader_guards():
    """A test cell reads only names it binds itself (its imports, builtins included), the
    functions the student writes, and course names whose rebinding the grader flags; and it
    compares through the checks."""
    import ast

    import nbformat

    from pneumocourse.notebooks import notebook_paths
    from pneumocourse.teaching.exercises import nbgrader_meta
    from pneumocourse.teaching.cell_names import bound_names
    from pneumocourse.teaching.integrity import protected_names

    for path in notebook_paths():
        nb = nbformat.read(path, as_version=4)
        solutions = set().union(*(bound_names(ast.parse(c.source)) for c in nb.cells
                                  if nbgrader_meta(c).get("solution") and c.cell_type == "code"))
        guarded = protected_names(nb)
        for cell in nb.cells:
            meta = nbgrader_meta(cell)
            if not meta.get("grade") or meta.get("solution") or cell.cell_type != "code":
                continue
            tree = ast.parse(cell.source)
            read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
            arguments = {a.arg for a in ast.walk(tree) if isinstance(a, ast.arg)}  # lambda and def parameters
            caught = {h.name for h in ast.walk(tree) if isinstance(h, ast.ExceptHandler) and h.name}  # except ... as e
            loose = read - bound_names(tree) - arguments - caught - solutions - guarded
            assert not loose, f"{path.stem} {meta['grade_id']} reads names a student's cell may rebind: {sorted(loose)}"
            assert "from pneumocourse.teaching.checks import" in cell.source, f"{meta['grade_id']} compares without the checks"
