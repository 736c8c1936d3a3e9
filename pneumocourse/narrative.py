"""Sentences built from numbers, shared by the notebooks' findings (each notebook's own findings are
in its companion, :mod:`pneumocourse.companions`): verdicts are rendered from results, never typed.

A verdict says only what its numbers support. A difference whose confidence interval holds zero,
or that lies inside the seed spread, is "about level", never "beats". Each function returns
Markdown; :func:`show` displays it in a notebook (and prints it elsewhere).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from pneumolib.evaluation.precision import KIND_DECIMALS, format_decimals, format_number, format_with_spread



def fmt(value: float, digits: int = KIND_DECIMALS["metric"]) -> str:
    """A number as the notebooks print it (a metric's decimals, :mod:`pneumolib.evaluation.precision`)."""
    return format_decimals(value, digits)


def with_spread(value: float, sd: float) -> str:
    """``value ± sd`` to the decimal of the sd's first significant digit (one rule: :mod:`pneumolib.evaluation.precision`)."""
    return format_with_spread(value, sd)


def interval(low: float, high: float, sd: float) -> str:
    """``[low, high]`` with the decimals of the value whose sd is ``sd``."""
    return f"[{format_number(low, sd=sd)}, {format_number(high, sd=sd)}]"


def mean_sd(values: Sequence[float]) -> str:
    """``mean ± sd`` over seeds (sample sd), both to the decimal of the sd's first significant digit
    (:func:`~pneumolib.evaluation.precision.format_with_spread`); one value is shown alone, with a
    metric's decimals, since one seed has no spread."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return fmt(values[0])
    return format_with_spread(values.mean(), values.std(ddof=1))


def ci_verdict(name_a: str, name_b: str, diff: float, low: float, high: float, metric: str = "test AUC",
               level: int = 95) -> str:
    """A paired difference ``a - b`` with its CI: "beats" only when the CI excludes zero."""
    numbers = (f"{metric} difference {format_decimals(diff, 4, signed=True)}, {level}% CI "
               f"[{format_decimals(low, 4, signed=True)}, {format_decimals(high, 4, signed=True)}]")
    if low > 0:
        return f"**{name_a} beats {name_b}** ({numbers}: the interval lies above zero)."
    if high < 0:
        return f"**{name_b} beats {name_a}** ({numbers}: the interval lies below zero)."
    return f"**{name_a} and {name_b} are about level** ({numbers}: the interval holds zero)."


def seed_gap(values_a: Sequence[float], values_b: Sequence[float]) -> tuple[float, float]:
    """The gap between two arms' means over seeds, and the larger of their seed sds (NaN when an
    arm has one seed): the rule every "ahead" or "about level" here is judged by."""
    a, b = pd.Series(values_a, dtype=float), pd.Series(values_b, dtype=float)
    return a.mean() - b.mean(), max(a.std(ddof=1), b.std(ddof=1))


def seed_verdict(name_a: str, values_a: Sequence[float], name_b: str, values_b: Sequence[float],
                 metric: str = "test AUC") -> str:
    """Two arms over seeds: "ahead" only when the gap in means exceeds both arms' seed spreads."""
    a, b = np.asarray(values_a, dtype=float), np.asarray(values_b, dtype=float)
    gap, spread = seed_gap(a, b)
    numbers = f"{metric} {mean_sd(a)} vs {mean_sd(b)} over {len(a)} and {len(b)} seeds"
    if min(len(a), len(b)) < 2:
        return f"{name_a} vs {name_b}: {numbers}; one seed shows no spread, so no verdict."
    if abs(gap) > spread:
        ahead, behind = (name_a, name_b) if gap > 0 else (name_b, name_a)
        return f"**{ahead} is ahead of {behind}** ({numbers}: the gap {abs(gap):.4f} exceeds the seed sd)."
    return (f"**{name_a} and {name_b} are about level** ({numbers}: the gap {abs(gap):.4f} is within the "
            f"seed sd {spread:.4f}).")


def show(markdown: str) -> None:
    """Display Markdown in a notebook; print it anywhere else."""
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:  # IPython is optional outside notebooks
        print(markdown)
        return
    if get_ipython() is None:
        print(markdown)
    else:
        display(Markdown(markdown))


