"""Sentences built from numbers: the notebooks' verdicts are rendered from their results, never typed.

A verdict says only what its numbers support. A difference whose confidence interval holds zero,
or that lies inside the seed spread, is "about level", never "beats". Each function returns
Markdown; :func:`show` displays it in a notebook (and prints it elsewhere).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def fmt(value: float, digits: int = 4) -> str:
    """A number as the notebooks print it."""
    return f"{value:.{digits}f}"


def mean_sd(values: Sequence[float], digits: int = 4) -> str:
    """``mean ± sd`` over seeds (sample sd); one value is shown alone, since one seed has no spread."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return fmt(values[0], digits)
    return f"{fmt(values.mean(), digits)} ± {fmt(values.std(ddof=1), digits)}"


def ci_verdict(name_a: str, name_b: str, diff: float, low: float, high: float, metric: str = "test AUC",
               level: int = 95) -> str:
    """A paired difference ``a - b`` with its CI: "beats" only when the CI excludes zero."""
    numbers = f"{metric} difference {diff:+.4f}, {level}% CI [{low:+.4f}, {high:+.4f}]"
    if low > 0:
        return f"**{name_a} beats {name_b}** ({numbers}: the interval lies above zero)."
    if high < 0:
        return f"**{name_b} beats {name_a}** ({numbers}: the interval lies below zero)."
    return f"**{name_a} and {name_b} are about level** ({numbers}: the interval holds zero)."


def seed_verdict(name_a: str, values_a: Sequence[float], name_b: str, values_b: Sequence[float],
                 metric: str = "test AUC") -> str:
    """Two arms over seeds: "ahead" only when the gap in means exceeds both arms' seed spreads."""
    a, b = np.asarray(values_a, dtype=float), np.asarray(values_b, dtype=float)
    gap = a.mean() - b.mean()
    spread = max(a.std(ddof=1) if len(a) > 1 else 0.0, b.std(ddof=1) if len(b) > 1 else 0.0)
    numbers = f"{metric} {mean_sd(a)} vs {mean_sd(b)} over {len(a)} and {len(b)} seeds"
    if min(len(a), len(b)) < 2:
        return f"{name_a} vs {name_b}: {numbers}; one seed shows no spread, so no verdict."
    if abs(gap) > spread:
        ahead, behind = (name_a, name_b) if gap > 0 else (name_b, name_a)
        return f"**{ahead} is ahead of {behind}** ({numbers}: the gap {abs(gap):.4f} exceeds the seed sd)."
    return (f"**{name_a} and {name_b} are about level** ({numbers}: the gap {abs(gap):.4f} is within the "
            f"seed sd {spread:.4f}).")


def inside_ci(value: float, low: float, high: float) -> bool:
    return low <= value <= high


def class_balance(summary: pd.DataFrame) -> str:
    """Notebook 01: the pneumonia share per split (``split_summary``), and how the splits compare."""
    share = summary["pneumonia_share"]
    text = ", ".join(f"{split} {share[split]:.1%}" for split in share.index)
    same = abs(share["train"] - share["val"]) < 0.01
    sentence = f"Pneumonia share: {text}. "
    sentence += ("Train and val have the same share (val was split off the same source set). " if same
                 else f"Train and val differ by {abs(share['train'] - share['val']):.1%}. ")
    gap = share["test"] - share["train"]
    if abs(gap) >= 0.01:
        sentence += (f"Test has {'fewer' if gap < 0 else 'more'} pneumonia images: {share['test']:.1%} against "
                     f"{share['train']:.1%} in train, so a fixed threshold meets a different mix there.")
    return sentence


def duplicate_findings(duplicates: pd.DataFrame) -> str:
    """Notebook 01: what the exact-duplicate table (``exact_duplicates``) says, split by split."""
    table = duplicates.set_index("where")
    within = [f"{split} {int(table.loc[split, 'duplicate_images'])}" for split in ("train", "val", "test")
              if table.loc[split, "duplicate_images"]]
    conflicts = int(table["label_conflicts"].sum())
    parts = [f"Extra copies within a split: {', '.join(within)}." if within else "No split holds an image twice."]
    parts.append("None has conflicting labels." if not conflicts else f"{conflicts} carry conflicting labels.")
    shared_val = int(table.loc["train & val", "duplicate_images"])
    if shared_val:
        parts.append(f"Train and val share {shared_val} images: val is slightly optimistic, because these images "
                     "were also trained on.")
    shared_test = int(table.loc["train & test", "duplicate_images"] + table.loc["val & test", "duplicate_images"])
    parts.append("Test shares no image with train or val, so test numbers are free of this leak." if not shared_test
                 else f"Test shares {shared_test} images with train or val: test numbers are slightly optimistic.")
    return " ".join(parts)


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
