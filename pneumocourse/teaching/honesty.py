"""The final project's honesty check: a student's whole procedure (training, every choice, the
threshold) is run on the data and again with the test labels permuted. An honest procedure reads
test images at most, never test labels, so it returns exactly the same choices and test
probabilities both times; anything that moves was chosen with the test labels.

A procedure is a function ``procedure(data: PneumoniaData) -> dict`` whose result holds at least
``test_probabilities`` (one per test image) and ``threshold``; every other key (the chosen
settings, say) is compared too. Fix every seed inside it: a third run on the true labels tells a
procedure that reads test labels from one that is not deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping

import numpy as np

from pneumolib.data.core import PneumoniaData, Split

REQUIRED = ("test_probabilities", "threshold")


@dataclass(frozen=True)
class HonestyReport:
    """What the check found: ``verdict`` is "honest", "reads the test labels" or "not deterministic"."""

    verdict: str
    changed: tuple[str, ...]  # the result keys that differ with the test labels permuted

    @property
    def passed(self) -> bool:
        return self.verdict == "honest"

    def describe(self) -> str:
        if self.passed:
            return "honest: permuting the test labels changed nothing the procedure returned."
        if self.verdict == "not deterministic":
            return (f"not deterministic: {', '.join(self.changed)} changed between two runs on the same data; fix every "
                    "seed inside the procedure, then run the check again.")
        return (f"reads the test labels: with the test labels permuted, {', '.join(self.changed)} changed. Every choice "
                "must use train and val only.")


def permuted_test_labels(data: PneumoniaData, seed: int = 0) -> PneumoniaData:
    """``data`` with the test labels shuffled (images untouched; train and val as they are)."""
    labels = np.random.default_rng(seed).permutation(data.test.labels)
    if np.array_equal(labels, data.test.labels):
        raise ValueError("permuting the test labels left them unchanged (a single class?); the check needs both classes.")
    return replace(data, test=Split(data.test.images, labels))


def _result(procedure: Callable[[PneumoniaData], Mapping[str, Any]], data: PneumoniaData) -> dict[str, Any]:
    result = dict(procedure(data))
    missing = [k for k in REQUIRED if k not in result]
    if missing:
        raise ValueError(f"the procedure must return a dict with {list(REQUIRED)}; missing {missing}.")
    probabilities = np.asarray(result["test_probabilities"], dtype=np.float64).reshape(-1)
    if probabilities.shape != (len(data.test),):
        raise ValueError(f"test_probabilities must hold one value per test image ({len(data.test)}), got "
                         f"{probabilities.size}.")
    result["test_probabilities"] = probabilities
    return result


def _differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> tuple[str, ...]:
    keys = sorted(set(a) | set(b))
    return tuple(k for k in keys if k not in a or k not in b
                 or not np.array_equal(np.asarray(a[k], dtype=object), np.asarray(b[k], dtype=object)))


def honesty_check(procedure: Callable[[PneumoniaData], Mapping[str, Any]], data: PneumoniaData,
                  seed: int = 0) -> HonestyReport:
    """Run ``procedure`` on ``data`` and on :func:`permuted_test_labels`; when the results differ,
    once more on ``data`` to tell a label-reading procedure from a non-deterministic one."""
    first = _result(procedure, data)
    changed = _differences(first, _result(procedure, permuted_test_labels(data, seed)))
    if not changed:
        return HonestyReport("honest", ())
    again = _differences(first, _result(procedure, data))
    return HonestyReport("not deterministic", again) if again else HonestyReport("reads the test labels", changed)
