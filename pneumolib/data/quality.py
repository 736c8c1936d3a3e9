"""Data checks: exact duplicate images within and across splits (leakage)."""

from __future__ import annotations

import hashlib
from collections import Counter
from itertools import combinations

import pandas as pd

from .core import SPLITS, PneumoniaData


def _hashes(images) -> list[str]:
    return [hashlib.sha1(img.tobytes()).hexdigest() for img in images]


def exact_duplicates(data: PneumoniaData) -> pd.DataFrame:
    """Byte-identical images, within each split and shared across each pair of splits.

    Columns: ``where`` (``train`` or ``train & test``), ``duplicate_images`` (extra copies
    within a split, or distinct images present in both splits), and ``label_conflicts``
    (duplicates whose copies carry different labels).
    """
    hashes = {s: _hashes(data.split(s).images) for s in SPLITS}
    labels = {s: data.split(s).labels for s in SPLITS}
    rows = []
    for split in SPLITS:
        counts = Counter(hashes[split])
        seen: dict[str, set[int]] = {}
        for h, y in zip(hashes[split], labels[split]):
            seen.setdefault(h, set()).add(int(y))
        rows.append({
            "where": split,
            "duplicate_images": sum(n - 1 for n in counts.values()),
            "label_conflicts": sum(1 for h, n in counts.items() if n > 1 and len(seen[h]) > 1),
        })
    for a, b in combinations(SPLITS, 2):
        label_a = dict(zip(hashes[a], labels[a]))
        label_b = dict(zip(hashes[b], labels[b]))
        shared = set(label_a) & set(label_b)
        rows.append({
            "where": f"{a} & {b}",
            "duplicate_images": len(shared),
            "label_conflicts": sum(1 for h in shared if label_a[h] != label_b[h]),
        })
    return pd.DataFrame(rows)
