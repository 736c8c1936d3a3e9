"""Every recipe we ran, with val and test numbers, next to the published PneumoniaMNIST results.

Rows are the run store's records on the official split, one row per recipe (the run's config
without its seed and device, in words), final model (one run, an ensemble with or without TTA, a
distilled student), epochs and input size, ordered by mean val AUC, the only number a selection
may use. A run that several notebooks share is stored once, so it counts once.
Transductive results (a final model adapted to the test cohort's unlabeled images)
form a section of their own, after the inductive rows and never ranked with them.
Published rows are marked as taken from their papers; nothing in them was run here.
"""

from __future__ import annotations

from dataclasses import fields as dataclass_fields
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
GROUP_BY = ["recipe", "final_model", "epochs", "input_px"]
INDUCTIVE = "inductive: train and val only (ranked by val AUC)"
TRANSDUCTIVE = "transductive: uses unlabeled test images (not ranked with the inductive rows)"
PUBLISHED_SECTION = "published (taken from the papers)"  # one row per recipe, final model, budget and size
_DEFAULTS = TrainConfig().to_dict()
_NOT_IN_RECIPE = {"seed", "device", "extra", "model", "epochs", "image_size", "input_size"}  # own columns
MODEL_LABELS = {"small_cnn": "small CNN", "resnet18": "ResNet-18", "resnet34": "ResNet-34", "resnet50": "ResNet-50"}
_SETTING_LABELS = {
    "augment": lambda v: f"{v} augmentation" if v != "none" else "no augmentation",
    "hflip": lambda v: "horizontal flip" if v else "no flip",
    "intensity": lambda v: f"{v} intensity augmentation",
    "sampler": lambda v: f"{v} sampler",
    "data_path": lambda v: f"{v} data path",
    "batch_norm": lambda v: "with BatchNorm" if v else "no BatchNorm",
    "head_hidden": lambda v: "MLP head " + "-".join(str(h) for h in v) if v else "linear head",
    "head_dropout": lambda v: "head dropout " + "/".join(str(d) for d in v) if v else "no head dropout",
    "head_epochs": lambda v: f"two-stage ({v} head epochs)",
    "head_lr": lambda v: f"head lr {v:g}",
    "lr": lambda v: f"lr {v:g}",
    "batch_size": lambda v: f"batch {v}",
    "weight_decay": lambda v: f"weight decay {v:g}",
    "class_weighting": lambda v: "pos_weight loss" if v == "pos_weight" else f"class weighting {v}",
    "label_smoothing": lambda v: f"label smoothing {v:g}",
    "mixup_alpha": lambda v: f"mixup α={v:g}",
    "cutmix_alpha": lambda v: f"CutMix α={v:g}",
    "ema_decay": lambda v: f"EMA {v:g}",
    "warmup_epochs": lambda v: f"warm-up {v} epoch" + ("s" if v != 1 else ""),
    "distill_weight": lambda v: f"distilled (weight {v:g})",
}


def _pretrained_label(source: str | None) -> str:
    if not source:
        return "scratch"
    if source == "imagenet":
        return "ImageNet init"
    if source.startswith("ssl:"):
        return f"SimCLR init ({Path(source[4:]).stem})"
    return f"init from {Path(source).name}"


def recipe_name(config: dict[str, Any]) -> str:
    """A recipe in words: the model, its initialisation, and every setting that differs from
    :class:`TrainConfig`'s defaults. Epochs, input size, seed and device are columns of their own."""
    known = {f.name for f in dataclass_fields(TrainConfig)}
    parts = [MODEL_LABELS.get(config["model"], config["model"]), _pretrained_label(config.get("pretrained"))]
    for key, value in config.items():
        if key in known and key not in _NOT_IN_RECIPE and key != "pretrained" and value != _DEFAULTS.get(key):
            parts.append(_SETTING_LABELS[key](value) if key in _SETTING_LABELS else f"{key}={value}")
    return ", ".join(parts)


def final_model_label(fields: dict[str, Any]) -> str:
    """What was scored: one run, an ensemble of N runs (with or without TTA), a distilled student,
    or one of those adapted to the test cohort's unlabeled images."""
    members = fields.get("members") or []
    what = f"ensemble of {len(members)}" if len(members) > 1 else "one run"  # one run is no ensemble
    if fields.get("kind") == "adapted":
        return f"{what}{' + TTA' if fields.get('tta') else ''}, adapted by {fields['method']}"
    if fields.get("kind") == "ensemble":  # of one run: a final model apart from the single runs it repeats
        return (what if len(members) > 1 else "one run, saved as a final model") + (" + TTA" if fields.get("tta") else "")
    teacher = (fields.get("identity") or {}).get("teacher")
    return f"one run, distilled from an ensemble of {len(teacher)}" if teacher else "one run"


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
            "section": TRANSDUCTIVE if r.get("uses_test_images") else INDUCTIVE,
            "recipe": recipe_name(config), "final_model": final_model_label(r), "epochs": config["epochs"],
            "seed": r.get("seed"), "run_id": record.run_id, "kind": r.get("kind"),
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
    """Our inductive recipes (mean ± sd over seeds, ordered by val AUC), then our transductive
    results in a section of their own (ordered by name: they are not ranked with the others), then
    the published results. The ``section`` column says which is which.

    With the official ``y_test`` labels, recipes whose runs stored their test probabilities get
    a bootstrap 95 % CI of the seed-mean test AUC and ACC (test images resampled within class).
    """
    runs = collect_runs(store if store is not None else RunStore())
    rows = []
    if len(runs):
        for (section, recipe, final, epochs, input_px), group in runs.groupby(["section", *GROUP_BY], sort=False):
            row = {"section": section, "result": recipe, "final_model": final, "epochs": epochs, "input_px": input_px,
                   "source": "this repository (run here)",
                   "seeds": ", ".join(str(s) for s in sorted(group.seed, key=str)), "runs": len(group),
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
        inductive = ours[ours.section == INDUCTIVE].sort_values("val_auc", ascending=False)
        transductive = ours[ours.section == TRANSDUCTIVE].sort_values(["result", "final_model"])
        ours = pd.concat([inductive, transductive])
    published = pd.DataFrame([{"section": PUBLISHED_SECTION, "result": name, "source": f"published: {source} (taken from the paper)",
                               "input_px": px, "test_auc": auc, "test_acc_at_0.5": acc}
                              for name, px, auc, acc, source in PUBLISHED])
    board = pd.concat([ours, published], ignore_index=True)
    for column in ("input_px", "runs", "epochs"):
        if column in board:
            board[column] = board[column].astype("Int64")
    return board

