"""The hidden part of an exercise's test cell, on the student's side: run the student's code on the
exercise's hidden cases and hand in what it returned, as plain data.

Nothing here decides a grade. In grading (:mod:`~pneumocourse.teaching.grade` sets :data:`SEED_ENV`),
the answers leave the kernel as an output of the test cell (MIME type :data:`HAND_IN_MIME`, which no
viewer renders), and the grader's own process judges them after the kernel has stopped
(:mod:`~pneumocourse.teaching.verdicts`): a student's code can patch this module, fake any object or
print such an output, but it cannot change the judge, the reference implementations it calls, or
the cases the grader draws for itself from a seed of its own.
Outside grading (the course's own runs of its complete notebooks), the answers are judged here and
now, so a course notebook whose solution is wrong fails as it always did.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

SEED_ENV = "PNEUMOCOURSE_HAND_IN_SEED"  # the grading's seed for the hidden cases (set by the grader only)
HAND_IN_MIME = "application/vnd.pneumocourse.hand-in+json"
COURSE_SEED = 0  # the seed of the course's own runs


def plain(value: Any) -> Any:
    """``value`` as JSON data that keeps its type: builtins stay builtins, an array or tensor
    becomes ``{"array": [...], "shape": [...]}`` (NaN and infinities as the text "nan", "inf", "-inf"), a tuple ``{"tuple": [...]}``, a dict
    ``{"dict": [[key, value], ...]}``; any other object ``{"type": name}``."""
    import numpy as np

    kind = type(value)
    if value is None or kind in (bool, str):
        return value
    if kind is np.bool_:
        return bool(value)
    if kind is int or (isinstance(value, np.integer) and kind.__module__ == "numpy"):
        return {"int": int(value)}
    if kind is float or (isinstance(value, np.floating) and kind.__module__ == "numpy"):
        return {"float": _finite_or_text(float(value))}
    if kind is np.ndarray:
        array = np.asarray(value, dtype=np.float64).ravel()
        values = array.tolist() if np.isfinite(array).all() else [_finite_or_text(v) for v in array.tolist()]
        return {"array": values, "shape": list(np.shape(value))}
    if kind.__module__.startswith("torch") and kind.__name__ in ("Tensor", "Parameter"):
        return plain(value.detach().to("cpu").double().numpy())
    if kind is tuple:
        return {"tuple": [plain(v) for v in value]}
    if kind is list:
        return [plain(v) for v in value]
    if kind is dict:
        return {"dict": [[plain(k), plain(v)] for k, v in value.items()]}
    return {"type": kind.__name__}


def _finite_or_text(number: float) -> float | str:
    """A float as JSON allows it (Jupyter's messages refuse NaN and infinity): "nan", "inf" or
    "-inf" as text."""
    return number if math.isfinite(number) else str(number)


def outcome(function: Any, *args: Any, **kwargs: Any) -> Any:
    """What ``function(*args, **kwargs)`` returned, as :func:`plain` data, or the exception it raised
    (``{"raised": [its class and base classes' names]}``)."""
    try:
        return plain(function(*args, **kwargs))
    except Exception as exc:  # the student's code: any exception is an answer
        return {"raised": [c.__name__ for c in type(exc).__mro__]}


def hand_in(grade_id: str, *objects: Any) -> None:
    """Run the hidden cases of exercise ``grade_id`` on the student's ``objects`` (functions or
    classes, in the order the exercise names them) and hand in the answers."""
    from .verdicts import VERDICTS

    grading = os.environ.get(SEED_ENV)
    seed = int(grading) if grading else COURSE_SEED
    verdict = VERDICTS[grade_id]
    answers = json.loads(json.dumps(verdict.ask(objects, seed), allow_nan=False))  # strict JSON, as a Jupyter message
    if grading:
        from IPython.display import display

        display({HAND_IN_MIME: {"grade_id": grade_id, "answers": answers},
                 "text/plain": f"{grade_id}: your answers to the grader's cases are handed in"}, raw=True)
    else:
        verdict.judge(answers, seed)


__all__ = ["HAND_IN_MIME", "SEED_ENV", "hand_in", "outcome", "plain"]
