"""One run, one record: a config (optionally a CV fold and a teacher) trained, its epoch and
threshold picked on val, then scored once on test, into one :class:`RunRecord`.

Every notebook, every CLI command and every sweep worker trains through :func:`train_run`, so
two-stage fine-tuning, distillation, the val-picked threshold and the test-time-augmented
probabilities are in every record. A run is identified by :meth:`RunSpec.identity`: its config
(without the device it ran on, and without options that are off), the fingerprint of the data,
the fold and the teachers.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..config import TrainConfig
from ..data.photometric import INTENSITY_PRESETS
from ..data import AUGMENT_PRESETS, PneumoniaData, class_counts, cv_fold, load_folder_dataset, load_pneumoniamnist, subsample
from ..devices import describe_device, resolve_device
from ..evaluation.metrics import binary_metrics, medmnist_auc_acc
from ..evaluation.thresholds import choose_threshold
from ..models import ProbabilityEnsemble, average_probabilities, build_model_from_config
from ..models.pretrained import read_ssl_description, ssl_checkpoint_path
from ..repro import package_versions, seed_everything
from ..models.inference import predict_probabilities
from ..training import fit
from ..models.formats import cpu_kind, describe_cpu
from ..training.ssl import ensure_ssl_weights
from ..training.tta import predict_tta

RECORD_FORMAT = "pneumolib-run-record"
RECORD_VERSION = 1
TUNED_CRITERION = "youden"  # the val-picked threshold stored with every run (and in its model.pt)
SPLITS_SCORED = ("val", "test")


@dataclass(frozen=True)
class DataSpec:
    """Which data a run sees, small and picklable so that a worker process can load it itself.

    PneumoniaMNIST at ``image_size`` from ``data_dir`` (or a NORMAL/PNEUMONIA ``folder``, split
    with ``split_seed``), optionally cut to a stratified ``subset`` (the smoke profile).
    """

    data_dir: str = ""
    image_size: int = 28
    subset: tuple[int, int] | None = None  # (n_train, n_eval) stratified subset
    subset_seed: int = 0
    folder: str | None = None
    split_seed: int = 0  # folder datasets only: the seeded val/test split
    download: bool = False

    def load(self) -> PneumoniaData:
        if self.folder is not None:
            data = load_folder_dataset(self.folder, image_size=self.image_size, seed=self.split_seed)
        else:
            data = load_pneumoniamnist(self.image_size, self.data_dir or None, download=self.download)
        if self.subset:
            data = subsample(data, n_train=self.subset[0], n_eval=self.subset[1], seed=self.subset_seed)
        return data


def data_fingerprint(data: PneumoniaData) -> str:
    """A short hash of every image and label of every split: what makes two datasets the same."""
    digest = hashlib.sha256()
    for name in ("train", "val", "test"):
        split = data.split(name)
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(split.images).tobytes())
        digest.update(np.ascontiguousarray(split.labels).astype(np.int64).tobytes())
    return digest.hexdigest()[:16]


def data_provenance(data: PneumoniaData) -> dict[str, Any]:
    """What a model was trained on, stored in its checkpoint: source and images per split."""
    return {"data_source": data.source, "images": {s: len(data.split(s)) for s in ("train", "val", "test")}}


def _pretrained_identity(source: str | None) -> str | None:
    """What the pretrained source contributes to a run's identity: for an SSL checkpoint, its own
    pretraining config and data (so a re-pretrained backbone is a different run)."""
    path = ssl_checkpoint_path(source)
    payload = read_ssl_description(path) if path is not None else None
    if payload is None:
        return None
    described = json.dumps({"config": payload.get("config"), "provenance": payload.get("provenance")}, sort_keys=True)
    return hashlib.sha256(described.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class RunSpec:
    """A run to train: a config, optionally a fold of a k-fold CV of train+val (``fold`` of
    ``n_folds``), and teachers (run ids of finished runs whose ensemble it distils).

    ``key`` and ``labels`` name the run in one sweep's table and logs; they are not part of its
    identity, so two notebooks asking for the same run share it.
    """

    config: TrainConfig
    key: str = ""
    labels: dict[str, Any] = field(default_factory=dict, compare=False)
    fold: int | None = None
    n_folds: int | None = None
    fold_seed: int = 0
    teacher: tuple[str, ...] = ()

    def identity(self, fingerprint: str) -> dict[str, Any]:
        """Everything that makes this run this run (the device it runs on does not)."""
        identity = {"config": self.config.identity_dict(), "data": fingerprint, "fold": self.fold, "n_folds": self.n_folds,
                    "fold_seed": self.fold_seed if self.fold is not None else None, "teacher": list(self.teacher),
                    # what the preset draws, not only its name: editing a preset makes new runs
                    "augmentation": AUGMENT_PRESETS[self.config.augment]}
        if self.config.intensity != "none":  # absent when off, so runs without it keep their ids
            identity["intensity_augmentation"] = INTENSITY_PRESETS[self.config.intensity]
        ssl = _pretrained_identity(self.config.pretrained)
        if ssl:
            identity["pretrained_checkpoint"] = ssl
        return json.loads(json.dumps(identity))  # as record.json stores it (tuples become lists)

    def run_id(self, fingerprint: str) -> str:
        """A readable, unique folder name: model, seed and a hash of the identity."""
        digest = hashlib.sha256(json.dumps(self.identity(fingerprint), sort_keys=True).encode()).hexdigest()[:12]
        return f"{self.config.model}-seed{self.config.seed}-{digest}"


@dataclass
class RunRecord:
    """What one run produced, as saved in ``record.json`` (``fields``), and the trained model when
    it is at hand. Ensembles of runs are records too (``kind == "ensemble"``)."""

    fields: dict[str, Any]
    model: nn.Module | None = None

    @property
    def run_id(self) -> str:
        return self.fields["run_id"]

    @property
    def config(self) -> TrainConfig:
        return TrainConfig.from_dict(self.fields["config"])

    @property
    def threshold(self) -> float:
        """The threshold picked on val (Youden's J)."""
        return float(self.fields["tuned"]["threshold"])

    def metrics(self, split: str) -> dict[str, Any]:
        return self.fields[split]

    def probabilities(self, split: str, tta: bool = False) -> np.ndarray:
        """Stored probabilities for ``split``, with or without test-time augmentation."""
        store = self.fields["tta_probabilities" if tta else "probabilities"]
        return np.asarray(store[split], dtype=np.float64)

    def history(self) -> pd.DataFrame:
        return pd.DataFrame.from_records(self.fields.get("history", []))

    def to_json(self) -> str:
        return json.dumps(self.fields, indent=1)


def round_probabilities(values) -> list[float]:
    """Probabilities as stored in records: plain floats, 6 decimals."""
    return [round(float(v), 6) for v in values]


def score(y_val: np.ndarray, p_val: np.ndarray, y_test: np.ndarray, p_test: np.ndarray) -> dict[str, Any]:
    """The scored part of a record: val and test metrics at 0.5, MedMNIST's pair on both, and the
    threshold picked on val (Youden's J) with the test metrics there. Test is read only here."""
    threshold = choose_threshold(y_val, p_val, TUNED_CRITERION)
    return {
        "val": binary_metrics(y_val, p_val), "test": binary_metrics(y_test, p_test),
        "medmnist": {"val": medmnist_auc_acc(y_val, p_val), "test": medmnist_auc_acc(y_test, p_test)},
        "tuned": {"criterion": TUNED_CRITERION, "threshold": threshold,
                  "test": binary_metrics(y_test, p_test, threshold)},
    }


def run_data(spec: RunSpec, data: PneumoniaData) -> PneumoniaData:
    """The data the run trains on: ``data`` itself, or its CV fold."""
    return cv_fold(data, spec.n_folds, spec.fold, spec.fold_seed) if spec.fold is not None else data


def train_run(
    spec: RunSpec, data: PneumoniaData, fingerprint: str | None = None, teacher: nn.Module | None = None,
    progress: bool = False,
) -> RunRecord:
    """Train ``spec`` on ``data``, pick the epoch and the threshold on val, score test once.

    ``teacher`` is the ensemble named by ``spec.teacher`` (the runner loads it from the store).
    The record keeps the val and test probabilities (plain and with test-time augmentation), so
    ensembles, thresholds and bootstrap CIs need no retraining.
    """
    if spec.teacher and teacher is None:
        raise ValueError(f"Run {spec.key or spec.config.model!r} distils teachers {list(spec.teacher)}; pass teacher=.")
    fingerprint = fingerprint or data_fingerprint(data)
    config = spec.config
    start = time.perf_counter()
    device = resolve_device(config.device)
    used = run_data(spec, data)
    ensure_ssl_weights(config.pretrained, data.train, data_provenance(data), progress=progress)
    seed_everything(config.seed)
    model = build_model_from_config(config)
    history = fit(model, used, config, progress=progress, teacher=teacher)  # two-stage when config.head_epochs
    run_config = replace(config, device=str(device))
    probs = {s: predict_probabilities(model, used.split(s).images, run_config, precision="run", device=device)
             for s in SPLITS_SCORED}
    tta = {s: predict_tta(model, used.split(s), run_config, device=device) for s in SPLITS_SCORED}
    fields = {
        "format": RECORD_FORMAT, "format_version": RECORD_VERSION, "kind": "training",
        "run_id": spec.run_id(fingerprint), "identity": spec.identity(fingerprint),
        "config": config.to_dict(), "seed": config.seed,
        "selection": f"epoch {history.best_epoch} of {len(history.records)}, best {config.monitor} on val",
        "best_epoch": history.best_epoch, "epochs_run": len(history.records), "stopped_early": history.stopped_early,
        **score(used.val.labels, probs["val"], used.test.labels, probs["test"]),
        "data": {"source": data.source, "image_size": data.image_size, "fingerprint": fingerprint,
                 "images": {s: len(used.split(s)) for s in ("train", "val", "test")},
                 "counts": {s: class_counts(used.split(s).labels) for s in ("train", "val", "test")}},
        "device": describe_device(device), "threads": torch.get_num_threads(),
        "formats": run_formats(history.formats, device),
        "wall_seconds": round(time.perf_counter() - start, 1), "versions": package_versions(),
        "history": json.loads(history.to_frame().to_json(orient="records", double_precision=6)),
        "probabilities": {s: round_probabilities(probs[s]) for s in SPLITS_SCORED},
        "tta_probabilities": {s: round_probabilities(tta[s]) for s in SPLITS_SCORED},
    }
    return RunRecord(fields, model.eval())


def run_formats(formats: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Where and how a run trained, for its record: the precision and memory format, and on a CPU
    the machine (its ISA, native bf16 or not, threads). Numbers from another machine or precision
    are a replicate, not this run."""
    described = {**formats, "precision": "bf16" if formats.get("bf16") else "fp32"}
    if device.type == "cpu":
        described.update(cpu=describe_cpu(), machine=cpu_kind(), denormals="flushed to zero")
    return described


def ensemble_record(name: str, members: list[RunRecord], tta: bool, y_val: np.ndarray, y_test: np.ndarray,
                    recipe: str) -> RunRecord:
    """An equal-weight ensemble of finished runs (probabilities averaged) as a record of its own,
    identified by its members; the leaderboard reads it like any run."""
    p_val = average_probabilities([m.probabilities("val", tta) for m in members])
    p_test = average_probabilities([m.probabilities("test", tta) for m in members])
    member_ids = [m.run_id for m in members]
    digest = hashlib.sha256(json.dumps({"members": member_ids, "tta": tta}).encode()).hexdigest()[:12]
    fields = {
        "format": RECORD_FORMAT, "format_version": RECORD_VERSION, "kind": "ensemble",
        "run_id": f"ensemble-{digest}", "identity": {"members": member_ids, "tta": tta},
        "name": name, "recipe": recipe, "config": members[0].fields["config"],
        "seed": " ".join(str(m.fields["seed"]) for m in members), "members": member_ids, "tta": tta,
        **score(y_val, p_val, y_test, p_test),
        "data": members[0].fields["data"],
        "probabilities": {"val": round_probabilities(p_val), "test": round_probabilities(p_test)},
    }
    return RunRecord(fields)


def adapted_record(base: RunRecord, method: str, p_test: np.ndarray, threshold: float, y_test: np.ndarray,
                   prior: float | None = None) -> RunRecord:
    """A transductive result as a record of its own: ``base`` (a run or an ensemble) adapted by
    ``method`` to the test cohort's unlabeled images, with the adapted test probabilities and the
    method's threshold. It is marked ``uses_test_images``, so the leaderboard never ranks it with
    inductive results. Val metrics are the base model's (the adaptation reads test images only)."""
    p_test = np.asarray(p_test, dtype=np.float64)
    digest = hashlib.sha256(json.dumps({"base": base.run_id, "method": method}).encode()).hexdigest()[:12]
    b = base.fields
    fields = {
        "format": RECORD_FORMAT, "format_version": RECORD_VERSION, "kind": "adapted", "uses_test_images": True,
        "run_id": f"adapted-{digest}", "identity": {"base": base.run_id, "method": method},
        "name": f"{b.get('name', base.run_id)} adapted by {method}", "recipe": b.get("recipe"), "method": method,
        "base": base.run_id, "config": b["config"], "seed": b.get("seed"), "members": b.get("members"),
        "tta": b.get("tta"), "estimated_prior": prior, "data": b["data"], "val": b["val"],
        "test": binary_metrics(y_test, p_test),
        "medmnist": {"val": b["medmnist"].get("val"), "test": medmnist_auc_acc(y_test, p_test)},
        "tuned": {"criterion": f"{method} (reads unlabeled test images)", "threshold": float(threshold),
                  "test": binary_metrics(y_test, p_test, threshold)},
        "probabilities": {"test": round_probabilities(p_test)},
    }
    return RunRecord(fields)


def teacher_ensemble(models: list[nn.Module]) -> nn.Module:
    """The equal-weight ensemble of teacher models, in eval mode."""
    return ProbabilityEnsemble(models).eval()
