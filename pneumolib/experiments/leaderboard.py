"""Every recipe we ran, with val and test numbers, next to the published PneumoniaMNIST results.

Rows are the run store's records on the official split, grouped by recipe (the run's config
without its seed and device) and ordered by mean val AUC, the only number a selection may use.
Published rows are marked as taken from their papers; nothing in them was run here.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import TrainConfig
from ..evaluation.metrics import bootstrap_seed_mean
from .store import RunStore

PUBLISHED = [
    ("MedMNIST v2, ResNet-18 (28)", 28, 0.944, 0.854, "Yang et al., Scientific Data 2023"),
    ("MedMNIST v2, ResNet-50 (224, upsampled)", 224, 0.962, 0.884, "Yang et al., Scientific Data 2023"),
    ("MedMNIST v2, Google AutoML Vision", 28, 0.991, 0.946, "Yang et al., Scientific Data 2023"),
    ("MedMNIST+, best at 28 px (DINO ViT-B/16, linear probe)", 28, 0.973, 0.866, "Doerrich et al., MedMNIST+ 2024"),
    ("MedMNIST+, best at 224 px", 224, 0.989, 0.916, "Doerrich et al., MedMNIST+ 2024"),
]
OFFICIAL_TEST_IMAGES = 624  # PneumoniaMNIST's official test split
_DEFAULTS = TrainConfig().to_dict()
_IGNORED = {"seed", "device", "extra"}


def recipe_name(config: dict[str, Any]) -> str:
    """A recipe as its model plus every setting that differs from :class:`TrainConfig`'s defaults."""
    known = {f.name for f in fields(TrainConfig)}
    changes = [f"{k}={v}" for k, v in config.items()
               if k in known and k not in _IGNORED and k != "model" and v != _DEFAULTS.get(k)]
    return " ".join([config["model"], *changes])


def _run_recipe_name(fields: dict[str, Any]) -> str:
    """A run's recipe name; a distilled run also names its teacher (an ensemble of stored runs)."""
    if fields.get("recipe"):
        return fields["recipe"]
    name = recipe_name(fields["config"])
    teacher = (fields.get("identity") or {}).get("teacher")
    return f"{name} (distilled from an ensemble of {len(teacher)})" if teacher else name


def _on_the_official_split(fields: dict[str, Any]) -> bool:
    """Not a CV fold, and scored on the full official test split (not a smoke-profile subset)."""
    if (fields.get("identity") or {}).get("fold") is not None:
        return False
    return (fields.get("data") or {}).get("images", {}).get("test") == OFFICIAL_TEST_IMAGES


def collect_runs(store: RunStore | str | Path) -> pd.DataFrame:
    """One row per stored run on the official split (training runs, and final models such as
    ensembles, which name their recipe): recipe, seed, run id, val AUC, test AUC and ACC, and the
    stored test probabilities and val-picked threshold. Each run is stored once, by its identity,
    so a run that two notebooks share counts once."""
    store = store if isinstance(store, RunStore) else RunStore(store)
    rows = []
    for record in store.records():
        r = record.fields
        if not _on_the_official_split(r):
            continue
        config = r["config"]
        rows.append({
            "recipe": _run_recipe_name(r), "seed": r.get("seed"), "run_id": record.run_id, "kind": r.get("kind"),
            "input_px": config.get("input_size") or config.get("image_size"),
            "val_auc": r["val"]["auc"], "test_auc": r["medmnist"]["test"]["auc"],
            "test_acc_at_0.5": r["medmnist"]["test"]["acc"],
            "test_acc_val_threshold": r["tuned"]["test"]["acc"], "threshold": r["tuned"]["threshold"],
            "p_test": r["probabilities"]["test"],
        })
    return pd.DataFrame(rows)


def _bootstrap_columns(group: pd.DataFrame, y_test: np.ndarray | None, n_boot: int) -> dict[str, Any]:
    """95 % bootstrap CI of the seed-mean test AUC and ACCs, when every run kept its probabilities."""
    if y_test is None or group.p_test.isna().any() or any(len(p) != len(y_test) for p in group.p_test):
        return {}
    thresholds = [0.5 if t is None or pd.isna(t) else float(t) for t in group.threshold]
    probs = [np.asarray(p, dtype=np.float64) for p in group.p_test]
    ci = bootstrap_seed_mean(y_test, probs, thresholds, n_boot=n_boot)
    columns = {"test_auc_ci": "auc", "test_acc_at_0.5_ci": "acc_at_0.5"}
    if group.test_acc_val_threshold.notna().all():
        columns["test_acc_val_threshold_ci"] = "acc_at_threshold"
    return {name: f"[{ci.loc[row, 'ci_low']:.4f}, {ci.loc[row, 'ci_high']:.4f}]" for name, row in columns.items()}


def build_leaderboard(store: RunStore | str | Path | None = None, y_test: np.ndarray | None = None,
                      n_boot: int = 2000) -> pd.DataFrame:
    """Our recipes (mean ± sd over seeds, ordered by val AUC) followed by the published results.

    With the official ``y_test`` labels, recipes whose runs stored their test probabilities get
    a bootstrap 95 % CI of the seed-mean test AUC and ACC (test images resampled within class).
    """
    runs = collect_runs(store if store is not None else RunStore())
    rows = []
    if len(runs):
        for recipe, group in runs.groupby("recipe"):
            row = {"result": recipe, "source": "this repository (run here)", "input_px": group.input_px.iloc[0],
                   "seeds": " ".join(str(s) for s in sorted(group.seed, key=str)), "runs": len(group),
                   "run_ids": " ".join(group.run_id),
                   "val_auc": group.val_auc.mean()}
            for column in ("test_auc", "test_acc_at_0.5", "test_acc_val_threshold"):
                values = group[column].dropna().astype(float)
                row[column] = values.mean() if len(values) else None
                row[f"{column}_sd"] = values.std(ddof=1) if len(values) > 1 else None
            row.update(_bootstrap_columns(group, y_test, n_boot))
            rows.append(row)
    ours = pd.DataFrame(rows)
    if len(ours):
        ours = ours.sort_values("val_auc", ascending=False)
    published = pd.DataFrame([{"result": name, "source": f"published: {source} (taken from the paper)",
                               "input_px": px, "test_auc": auc, "test_acc_at_0.5": acc}
                              for name, px, auc, acc, source in PUBLISHED])
    board = pd.concat([ours, published], ignore_index=True)
    for column in ("input_px", "runs"):
        if column in board:
            board[column] = board[column].astype("Int64")
    return board

