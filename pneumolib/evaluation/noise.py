"""When a difference is a finding: the one rule behind every keep-or-drop decision of the
best-recipe search and the choice of an adaptation method (the course's search and shift study).

A change (a training component, a combined recipe, test-time augmentation, a seed ensemble, an
adaptation method) is compared with the **simpler option** it would replace, *paired*: on the
same seeds (06) or the same simulated shifts (07), one difference per pair. It is kept only when

    mean over pairs of (change - simpler option)  >  noise

where the noise (always >= 0, so the gain must also be positive) is ``NOISE_SDS`` (two) times

* ``SEED_NOISE`` (06): the seed sd (ddof 1) of the simpler option's values over the paired
  seeds: how far val AUC moves when nothing but the seed changes. A gain smaller than two such
  sds is what re-running with other seeds (or on another machine, in fp32 instead of bf16) can
  undo: with one sd, three of the reference's kept decisions sat within 30 % of the line and
  flipped between two renders of the same results.
* ``PAIRED_NOISE`` (07): the sd (ddof 1) of the paired differences over the simulated shifts:
  how much the advantage itself varies from one shift to the next (there are no seeds there,
  one model is adapted).

Two sds is also where the reproduction report (:mod:`tools.reproduction`) puts
the line between "within the noise" and "outside the noise": one definition for the project.

Otherwise the simpler option stays: a tie, a loss, a gain inside the noise, and a comparison
whose noise cannot be estimated (fewer than two pairs, e.g. a single seed) all keep it. Values
given as :class:`pandas.Series` are paired by their index (seed or shift name), and only keys
both sides have count as pairs; plain sequences are paired by position.

Among several candidates, :func:`choose_simplest` visits them from the simplest on (the order
given), and a candidate replaces the current choice only when it beats that choice by this rule,
so the simplest option wins unless another is better beyond the noise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from .precision import spread_decimals

NOISE_SDS = 2.0  # the noise is this many sds (module doc)
SEED_NOISE = "seed sd of the simpler option"
PAIRED_NOISE = "sd of the paired differences"
NOISE_BASES = (SEED_NOISE, PAIRED_NOISE)

RULE = ("kept only when the mean paired gain over the simpler option (same seeds, or same simulated shifts) "
        "is larger than the noise; otherwise the simpler option stays")
RULES = {
    SEED_NOISE: "a change is kept only when its mean paired val-AUC gain over the simpler option, seed by seed on "
                "the same seeds, is larger than two seed sds of the simpler option's val AUC; otherwise (within the "
                "noise, or one seed only) the simpler option stays",
    PAIRED_NOISE: "a method is chosen over the simpler one only when its mean paired gain across the simulated "
                  "shifts is larger than two sds of those paired differences; otherwise the simpler one stays",
}


@dataclass(frozen=True)
class Decision:
    """One paired comparison of ``option`` with the ``simpler`` option it would replace."""

    option: str
    simpler: str
    gain: float  # mean over the pairs of option - simpler (NaN without a pair)
    noise: float  # the threshold the gain must exceed (NaN when it cannot be estimated)
    pairs: int
    noise_basis: str  # SEED_NOISE or PAIRED_NOISE
    kept: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN becomes None), as saved in the search's decisions file."""
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in asdict(self).items()}

    @property
    def verdict(self) -> str:
        """"beyond the noise" (kept), "within the noise", "a loss beyond the noise", or why there is no
        verdict (no pair, or one pair: no noise estimate); only the first keeps the option."""
        if self.pairs == 0:
            return "no pair to compare"
        if not np.isfinite(self.noise):
            return "one pair shows no noise"
        if self.kept:
            return "beyond the noise"
        return "a loss beyond the noise" if self.gain < -self.noise else "within the noise"

    def describe(self, digits: int | None = None, unit: str = "val AUC") -> str:
        """e.g. ``+0.0007 val AUC against a noise of 0.0010 (seed sd of base, 3 pairs): within the noise``;
        ``digits`` default to those the seed sd behind the noise supports
        (:func:`~pneumolib.evaluation.precision.spread_decimals`)."""
        if digits is None:
            digits = spread_decimals(self.noise / NOISE_SDS if np.isfinite(self.noise) else float("nan"))
        if self.pairs == 0:
            return f"no pair to compare {self.option} with {self.simpler}, so {self.simpler} stays"
        gain = f"{self.gain:+.{digits}f} {unit}".rstrip()
        if not np.isfinite(self.noise):
            return f"{gain} over {self.pairs} pair; one pair shows no noise, so {self.simpler} stays"
        basis = (f"{NOISE_SDS:g} x the seed sd of {self.simpler}" if self.noise_basis == SEED_NOISE
                 else f"{NOISE_SDS:g} x the {self.noise_basis}")
        return f"{gain} against a noise of {self.noise:.{digits}f} ({basis}, {self.pairs} pairs): {self.verdict}"


def _paired(option: Sequence[float] | pd.Series, simpler: Sequence[float] | pd.Series) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(option, pd.Series) and isinstance(simpler, pd.Series):
        common = [k for k in simpler.index if k in set(option.index)]
        return option.loc[common].to_numpy(float), simpler.loc[common].to_numpy(float)
    a, b = np.asarray(option, dtype=float).reshape(-1), np.asarray(simpler, dtype=float).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same length, got {a.size} and {b.size}.")
    return a, b


def beyond_noise(option: str, option_values: Sequence[float] | pd.Series, simpler: str,
                 simpler_values: Sequence[float] | pd.Series, noise_basis: str = SEED_NOISE) -> Decision:
    """The rule of this module: is ``option`` better than ``simpler`` beyond the noise? ``*_values``
    are one number per pair (per seed, or per simulated shift), paired by index or position."""
    if noise_basis not in NOISE_BASES:
        raise ValueError(f"noise_basis must be one of {NOISE_BASES}, got {noise_basis!r}.")
    a, b = _paired(option_values, simpler_values)
    diff = a - b
    pairs = int(len(diff))
    gain = float(diff.mean()) if pairs else float("nan")
    spread = b if noise_basis == SEED_NOISE else diff
    noise = NOISE_SDS * float(np.std(spread, ddof=1)) if pairs >= 2 else float("nan")
    kept = bool(pairs >= 2 and np.isfinite(noise) and gain > noise)
    return Decision(option, simpler, gain, noise, pairs, noise_basis, kept)


def choose_simplest(candidates: Sequence[str], values: Mapping[str, Sequence[float] | pd.Series]
                    | Callable[[str], Sequence[float] | pd.Series],
                    noise_basis: str = SEED_NOISE) -> tuple[str, list[Decision]]:
    """The first candidate (the simplest), unless a later one beats the current choice beyond the
    noise; candidates are visited in the order given. Returns the choice and one decision per
    later candidate, each against the choice current when it was visited."""
    if not candidates:
        raise ValueError("no candidate to choose from.")
    get = values if callable(values) else values.__getitem__
    current, steps = candidates[0], []
    for candidate in candidates[1:]:
        step = beyond_noise(candidate, get(candidate), current, get(current), noise_basis)
        steps.append(step)
        if step.kept:
            current = candidate
    return current, steps
