"""One complete training run: data -> model -> fit -> metrics, written to an output folder."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .checkpoint import load_checkpoint, load_weights, save_checkpoint
from .config import TrainConfig
from .data import PneumoniaData, class_counts, load_folder_dataset, load_pneumoniamnist
from .devices import describe_device, resolve_device
from .errors import CheckpointError
from .metrics import binary_metrics, medmnist_auc_acc
from .models import build_model_from_config
from .repro import package_versions, seed_everything
from .train import History, fit, fit_two_stage, predict_split


@dataclass
class RunResult:
    """What one run produced: metrics (as written to metrics.json), history, model, probabilities."""

    config: TrainConfig
    metrics: dict[str, Any]
    history: History
    model: torch.nn.Module
    probabilities: dict[str, np.ndarray]  # "val", "test"


def load_data(config: TrainConfig, data_dir: str | Path | None = None, folder: str | Path | None = None,
              download: bool = True) -> PneumoniaData:
    """PneumoniaMNIST at ``config.image_size``, or a NORMAL/PNEUMONIA folder dataset."""
    if folder is not None:
        return load_folder_dataset(folder, image_size=config.image_size, seed=config.seed)
    return load_pneumoniamnist(config.image_size, data_dir, download=download)


def evaluate(
    model: torch.nn.Module, data: PneumoniaData, config: TrainConfig, threshold: float = 0.5
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Val and test metrics at ``threshold`` plus MedMNIST's AUC/ACC pair, and the probabilities."""
    probs = {split: predict_split(model, data.split(split), config, config.device) for split in ("val", "test")}
    metrics = {split: binary_metrics(data.split(split).labels, probs[split], threshold) for split in probs}
    metrics["medmnist"] = {split: medmnist_auc_acc(data.split(split).labels, probs[split]) for split in probs}
    return metrics, probs


def data_provenance(data: PneumoniaData) -> dict[str, Any]:
    """What a model was trained on, stored in its checkpoint: source and images per split."""
    return {"data_source": data.source, "images": {s: len(data.split(s)) for s in ("train", "val", "test")}}


def same_recipe(a: TrainConfig, b: TrainConfig) -> bool:
    """Equal configs apart from the device they ran on."""
    return replace(a, device="auto").to_dict() == replace(b, device="auto").to_dict()


def load_or_train(
    config: TrainConfig, checkpoint: str | Path, data: PneumoniaData, runs_dir: str | Path, progress: bool = True
) -> tuple[torch.nn.Module, str]:
    """The model ``config`` gives on ``data``: loaded from ``checkpoint`` when that file holds
    exactly this recipe trained on this data, otherwise trained now (into ``runs_dir``) and saved
    to ``checkpoint``. Returns ``(model, how)`` where ``how`` says which happened and why.
    """
    checkpoint = Path(checkpoint)
    reason = "no saved model"
    if checkpoint.is_file():
        try:
            payload = load_checkpoint(checkpoint)
            saved = TrainConfig.from_dict(payload["config"])
        except (CheckpointError, KeyError, ValueError) as exc:
            reason = f"saved model unreadable ({str(exc).splitlines()[0]})"
        else:
            if not same_recipe(saved, config):
                reason = "saved model has a different recipe"
            elif payload.get("provenance") != data_provenance(data):
                reason = "saved model was trained on different data"
            else:
                model = load_weights(build_model_from_config(replace(config, pretrained=None)), payload, config.model)
                return model.to(resolve_device(config.device)).eval(), f"loaded {checkpoint.name} (same recipe and data)"
    run = run_training(config, runs_dir, data, progress=progress)
    save_checkpoint(checkpoint, run.model, config, metrics=run.metrics["test"], provenance=data_provenance(data))
    return run.model.eval(), f"trained now ({reason}); saved to {checkpoint.name}"


def run_training(
    config: TrainConfig,
    out_dir: str | Path,
    data: PneumoniaData,
    head_epochs: int = 0,
    head_lr: float | None = None,
    progress: bool = True,
) -> RunResult:
    """Train, select the epoch on val, evaluate once on test, and write the run folder.

    Writes ``metrics.json`` (metrics, config, seed, versions), ``history.csv``, ``config.json``
    and ``model.pt``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(config.device)
    start = time.perf_counter()
    seed_everything(config.seed)
    model = build_model_from_config(config)
    if head_epochs:
        history = fit_two_stage(model, data, config, head_epochs=head_epochs, head_lr=head_lr, progress=progress)
    else:
        history = fit(model, data, config, progress=progress)
    result, probabilities = evaluate(model, data, replace(config, device=str(device)))
    result.update(
        {
            "selection": f"epoch {history.best_epoch} of {len(history.records)}, best {config.monitor} on val",
            "best_epoch": history.best_epoch,
            "epochs_run": len(history.records),
            "stopped_early": history.stopped_early,
            "two_stage": {"head_epochs": head_epochs, "head_lr": head_lr} if head_epochs else None,
            "data": {
                "source": data.source,
                "image_size": data.image_size,
                "counts": {s: class_counts(data.split(s).labels) for s in ("train", "val", "test")},
            },
            "config": config.to_dict(),
            "seed": config.seed,
            "device": describe_device(device),
            "wall_seconds": round(time.perf_counter() - start, 1),
            "versions": package_versions(),
        }
    )
    history.to_frame().to_csv(out_dir / "history.csv", index=False, float_format="%.6f")
    config.save(out_dir / "config.json")
    save_checkpoint(out_dir / "model.pt", model, config, threshold=0.5, metrics=result["test"],
                    provenance=data_provenance(data))
    (out_dir / "metrics.json").write_text(json.dumps(result, indent=2, sort_keys=False) + "\n")
    return RunResult(config, result, history, model, probabilities)
