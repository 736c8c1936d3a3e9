"""Every recipe we ran, with val and test numbers, next to the published PneumoniaMNIST results.

Rows are grouped by recipe (the run's config without its seed and device) and ordered by mean
val AUC, the only number a selection may use. Published rows are marked as taken from their
papers; nothing in them was run here.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

import pandas as pd

from .config import TrainConfig

PUBLISHED = [
    ("MedMNIST v2, ResNet-18 (28)", 28, 0.944, 0.854, "Yang et al., Scientific Data 2023"),
    ("MedMNIST v2, ResNet-50 (224, upsampled)", 224, 0.962, 0.884, "Yang et al., Scientific Data 2023"),
    ("MedMNIST v2, Google AutoML Vision", 28, 0.991, 0.946, "Yang et al., Scientific Data 2023"),
    ("MedMNIST+, best at 28 px (DINO ViT-B/16, linear probe)", 28, 0.973, 0.866, "Doerrich et al., MedMNIST+ 2024"),
    ("MedMNIST+, best at 224 px", 224, 0.989, 0.916, "Doerrich et al., MedMNIST+ 2024"),
]
_DEFAULTS = TrainConfig().to_dict()
_IGNORED = {"seed", "device", "extra"}


def recipe_name(config: dict[str, Any]) -> str:
    """A recipe as its model plus every setting that differs from :class:`TrainConfig`'s defaults."""
    known = {f.name for f in fields(TrainConfig)}
    changes = [f"{k}={v}" for k, v in config.items()
               if k in known and k not in _IGNORED and k != "model" and v != _DEFAULTS.get(k)]
    return " ".join([config["model"], *changes])


def _result_files(results: Path) -> list[Path]:
    runs = results / "runs"
    return sorted(runs.rglob("metrics.json")) + sorted(p for p in runs.glob("05_sweeps_*/**/*.json"))


def collect_runs(results: str | Path) -> pd.DataFrame:
    """One row per finished run on the official split (training runs and sweep runs; CV folds,
    which train on other data, are left out): recipe, seed, val AUC, test AUC and ACC."""
    results = Path(results)
    rows = []
    for path in _result_files(results):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if "config" not in record or "test" not in record or record.get("fold") is not None:
            continue
        config = record["config"]
        rows.append({
            "recipe": recipe_name(config), "seed": config.get("seed"), "where": str(path.parent.relative_to(results)),
            "input_px": config.get("input_size") or config.get("image_size"),
            "val_auc": record["val"]["auc"], "test_auc": record["medmnist"]["test"]["auc"],
            "test_acc_at_0.5": record["medmnist"]["test"]["acc"],
            "test_acc_val_threshold": record.get("tuned", {}).get("test", {}).get("acc"),
        })
    return pd.DataFrame(rows)


def build_leaderboard(results: str | Path) -> pd.DataFrame:
    """Our recipes (mean ± sd over seeds, ordered by val AUC) followed by the published results."""
    runs = collect_runs(results)
    rows = []
    if len(runs):
        runs = runs.drop_duplicates(["recipe", "seed", "val_auc", "test_auc"])  # a run saved twice counts once
        for recipe, group in runs.groupby("recipe"):
            row = {"result": recipe, "source": "this repository (run here)", "input_px": group.input_px.iloc[0],
                   "seeds": " ".join(str(s) for s in sorted(group.seed)), "runs": len(group),
                   "val_auc": group.val_auc.mean()}
            for column in ("test_auc", "test_acc_at_0.5", "test_acc_val_threshold"):
                values = group[column].dropna().astype(float)
                row[column] = values.mean() if len(values) else None
                row[f"{column}_sd"] = values.std(ddof=1) if len(values) > 1 else None
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

