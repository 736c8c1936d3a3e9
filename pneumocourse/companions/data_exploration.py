"""Notebook 01 (data exploration): its setup and its findings on class balance and duplicates."""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd

from .. import nbtools


NOTEBOOK = "01_data_exploration"  # the notebook this companion serves (its parameters cell holds the defaults)


class Setup(NamedTuple):
    session: nbtools.NotebookSession


def setup(*, smoke: bool, seed: int, device: str, data_dir: str, image_size: int, progress: bool) -> Setup:
    """Check 01's parameters, start the session and print the profile line."""
    session = nbtools.start(smoke=smoke, seed=seed, device=device, data_dir=data_dir, image_size=image_size,
                            progress=progress, notebook=NOTEBOOK, parameters=locals())
    print(f"profile: {session.profile}, seed {session.seed}, image size {session.image_size} px")
    return Setup(session)


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


