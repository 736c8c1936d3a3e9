"""How many digits a number's uncertainty supports: one rule for every number a notebook prints, a
CSV stores or a finding states.

- A number with a spread of its own (an sd over folds, seeds or bootstrap draws) is given to the
  decimal of its spread's first significant digit, and so is the spread: an AUC of 0.60320 with a
  fold sd of 0.00929 is ``0.603 ± 0.009``.
- A number without one gets the digits of its kind (:data:`KIND_DECIMALS`): counts are exact; a
  metric on the 524 val or 624 test images (AUC, ACC, a rate, a probability, a threshold), whose
  bootstrap sd is 0.005 to 0.02, has four decimals, the last one below its noise but never more.

Decisions compare full-precision values; only their record is rounded (:func:`rounded_record`).
A rendered number therefore moves by at most one unit of its last digit from one CPU to another,
which is the tolerance the render check and nbval allow (``tools/compare.py``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

KIND_DECIMALS = {
    "count": 0,  # images, runs, folds: exact
    "metric": 4,  # AUC, ACC, sensitivity, probabilities, thresholds, differences of them
    "correlation": 3,  # rank correlations of maps: ties make their fourth decimal depend on the CPU's kernels
    "pixel": 2,  # intensity statistics on the 0-255 scale
    "seconds": 1,
}
SPREAD_MIN_DECIMALS = 1  # a spread of 20 still shows one decimal of the value it belongs to
SPREAD_MAX_DECIMALS = 6  # a spread of zero (one run, a constant) falls back to the value's kind


def spread_decimals(sd: float, kind: str = "metric") -> int:
    """Decimals that a value with spread ``sd`` supports: those of ``sd``'s first significant digit
    (0.0093 -> 3, 0.0208 -> 2); the kind's decimals when ``sd`` is zero, negative or not a number."""
    if sd is None or not np.isfinite(sd) or sd <= 0:
        return KIND_DECIMALS[kind]
    return int(min(SPREAD_MAX_DECIMALS, max(SPREAD_MIN_DECIMALS, -math.floor(math.log10(sd)))))


def decimals_of(kind: str = "metric", sd: float | None = None) -> int:
    """The decimals of a number of ``kind``, or of one with its own spread ``sd`` (see the module)."""
    if kind not in KIND_DECIMALS:
        raise ValueError(f"kind must be one of {sorted(KIND_DECIMALS)}, got {kind!r}.")
    return KIND_DECIMALS[kind] if sd is None else spread_decimals(sd, kind)


def format_decimals(value: float, decimals: int, signed: bool = False) -> str:
    """``value`` to ``decimals``; a rounded zero never shows a minus sign ("-0.0000")."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "nan"
    text = f"{value:{'+' if signed else ''}.{decimals}f}"
    if float(text) == 0:
        text = f"{0.0:{'+' if signed else ''}.{decimals}f}"
    return text


def format_number(value: float, kind: str = "metric", sd: float | None = None, signed: bool = False) -> str:
    """``value`` with the digits of its kind or of its spread ``sd``."""
    return format_decimals(value, decimals_of(kind, sd), signed)


def format_with_spread(value: float, sd: float, kind: str = "metric") -> str:
    """``value ± sd``, both to the decimal of the spread's first significant digit."""
    decimals = decimals_of(kind, sd)
    return f"{round_half_even(value, decimals):.{decimals}f} ± {round_half_even(sd, decimals):.{decimals}f}"


def round_half_even(value: float, decimals: int) -> float:
    """``value`` rounded to ``decimals`` (Python's rounding of the shortest repr; -0.0 becomes 0.0)."""
    rounded = round(float(value), decimals)
    return 0.0 if rounded == 0 else rounded


SPREAD_NAMES = ("sd", "sd over folds", "seed sd")  # a column of these names is the spread of the column before it
Z_95 = 1.959964  # a 95% interval spans about 2 x 1.96 sds
SETTINGS = ("lr", "transfer_lr", "head_lr", "weight_decay", "ema_decay", "mixup_alpha", "cutmix_alpha")  # exact, as set
# columns whose kind their name says (other floats are metrics)
KIND_BY_COLUMN = {"max": "correlation", "mean rho": "correlation", "pairwise r": "correlation",
                  "brightness": "pixel", "contrast": "pixel", "p5": "pixel", "p95": "pixel", "seconds": "seconds"}


def column_kind(name: Any, values: pd.Series) -> str | None:
    """The kind of a table column by its values and name: integers are counts, a name of
    :data:`KIND_BY_COLUMN` says its kind, other floats are metrics; None for text, booleans and
    other columns, which are written as they are."""
    if pd.api.types.is_bool_dtype(values):
        return None
    if pd.api.types.is_integer_dtype(values):
        return "count"
    if not pd.api.types.is_float_dtype(values) or str(name).lower() in SETTINGS:
        return None
    return KIND_BY_COLUMN.get(str(name).lower(), "metric")


def _interval_partner(label: str, columns: list[str]) -> str | None:
    """The high end of an interval whose low end is ``label`` (``low``/``high``, ``ci_low``/``ci_high``,
    ``<x> low``/``<x> high``), when the table has it."""
    for low, high in (("low", "high"), ("_low", "_high"), (" low", " high")):
        if label.endswith(low) and label[: len(label) - len(low)] + high in columns:
            return label[: len(label) - len(low)] + high
    return None


def spread_groups(columns: list[Any]) -> list[tuple[list[Any], Any, Any]]:
    """The columns that belong together in a table: ``(members, sd column, (low, high))`` for each
    value with a spread, found by name (see :func:`rounded_table`)."""
    labels = [str(c) for c in columns]
    groups: dict[Any, dict[str, Any]] = {}
    for i, label in enumerate(labels):
        if label in SPREAD_NAMES and i > 0:
            groups.setdefault(columns[i - 1], {})["sd"] = columns[i]
        elif label.endswith("_sd"):
            for candidate in (label[:-3], f"{label[:-3]}_mean"):
                if candidate in labels:
                    groups.setdefault(columns[labels.index(candidate)], {})["sd"] = columns[i]
    for i, label in enumerate(labels):
        high = _interval_partner(label, labels)
        if high is None or i == 0:
            continue
        stem = label[: -len("low")].rstrip(" _")
        if stem in labels and stem not in ("ci",):
            value = columns[labels.index(stem)]
        else:
            before = columns[i - 1]
            value = next((v for v, g in groups.items() if g.get("sd") == before), before)
            if str(value) in ("ci",) or _interval_partner(str(value), labels) or str(value).endswith("high"):
                value = columns[i]  # an interval of its own (no estimate beside it)
        groups.setdefault(value, {})["interval"] = (columns[i], columns[labels.index(high)])
    return [([v, *([g["sd"]] if "sd" in g else []), *g.get("interval", ())], g.get("sd"), g.get("interval"))
            for v, g in groups.items()]


def rounded_table(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every number rounded by the rule.

    A value with a spread of its own is found by name: an sd column (``sd``, ``sd over folds``,
    ``seed sd`` after it, or ``<name>_sd``) or a 95% interval (``low``/``high``, ``ci_low``/``ci_high``,
    ``<name> low``/``<name> high``, whose width is about 3.92 sds). The value, its sd and its interval
    get the decimals of the column's smallest spread, one decimal for the whole column so that its
    numbers line up (a row with a larger spread shows at most one digit more than it supports).
    Other float columns get the decimals of their kind (:func:`column_kind`); integers stay exact."""
    out = frame.copy()
    columns = list(out.columns)
    done = set()
    for members, sd, interval in spread_groups(columns):
        kind = column_kind(members[0], out[members[0]]) or "metric"
        if sd is not None and column_kind(sd, out[sd]) is not None:
            spreads = pd.to_numeric(out[sd], errors="coerce")
        elif interval is not None and all(column_kind(c, out[c]) is not None for c in interval):
            spreads = (pd.to_numeric(out[interval[1]]) - pd.to_numeric(out[interval[0]])) / (2 * Z_95)
        else:
            continue
        spreads = spreads[np.isfinite(spreads) & (spreads > 0)]
        places = spread_decimals(float(spreads.min()), kind if kind in KIND_DECIMALS else "metric") \
            if len(spreads) else KIND_DECIMALS.get(kind, KIND_DECIMALS["metric"])
        for name in members:
            if column_kind(name, out[name]) not in (None, "count"):
                out[name] = out[name].map(lambda v, d=places: v if pd.isna(v) else round_half_even(v, d))
                done.add(name)
    for name in columns:
        kind = column_kind(name, out[name])
        if name in done or kind is None or kind == "count":
            continue
        places = KIND_DECIMALS[kind]
        out[name] = out[name].map(lambda v, d=places: v if pd.isna(v) else round_half_even(v, d))
    return out


def rounded_record(value: Any, kind: str = "metric") -> Any:
    """A JSON-able structure with every float rounded to its kind's decimals (integers, text and
    booleans as they are): how a decision's evidence is recorded, never how it is decided."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if not math.isfinite(value) else round_half_even(value, KIND_DECIMALS[kind])
    if isinstance(value, dict):
        return {key: rounded_record(item, kind) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded_record(item, kind) for item in value]
    if isinstance(value, np.generic):
        return rounded_record(value.item(), kind)
    return value
