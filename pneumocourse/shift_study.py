"""Notebook 07's study of the val-to-test shift: 06's final models, adapted to the test cohort's
unlabeled images by every method of :mod:`pneumolib.shift`, and scored on test once.

The adaptation reads the test images only; test labels enter in :func:`score_methods` and
:func:`save_transductive_records` alone, after every method has produced its probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np
import pandas as pd
from torch import nn

from pneumolib.config import TrainConfig
from pneumolib.data import PneumoniaData
from pneumolib.evaluation.metrics import bootstrap_mean_table
from pneumolib.models import ProbabilityEnsemble
from pneumolib.models.inference import analysis_copy
from pneumolib.models.pretrained import ssl_checkpoint_path
from pneumolib.shift.methods import Adapted, SourceReference, adapt_methods, predict
from pneumolib.shift.priors import bbse_prior, bootstrap_prior, em_prior
from .best import recipe_name
from pneumolib.experiments.runner import run_many
from pneumolib.experiments.runs import DataSpec, RunRecord, RunSpec, adapted_record, ensemble_record
from .search import _slug, pretrain_small_cnn, require_all_ran
from pneumolib.experiments.store import RunStore


@dataclass
class FinalModel:
    """One of 06's final models: its record (an ensemble or a single run), the model itself (an
    ensemble is one module) and whether it predicts with test-time augmentation."""

    name: str
    record: RunRecord
    model: nn.Module
    config: TrainConfig
    tta: bool
    _predicted: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """The model's probabilities for ``images`` (with TTA when the model uses it), computed
        once per images array: the study's steps share them instead of predicting again. The
        cache keeps each array alive beside its probabilities, so its id cannot be reused."""
        if id(images) not in self._predicted:
            self._predicted[id(images)] = (images, predict(self.model, images, self.config, self.tta))
        return self._predicted[id(images)][1]

    def split_probabilities(self, split: str) -> np.ndarray:
        """The record's own probabilities for ``"val"`` or ``"test"`` (with TTA when the model uses
        it): the numbers 06 shows for this model, not a second prediction of them."""
        return self.record.probabilities(split, self.tta)


def final_config(decisions: dict[str, Any], data: PneumoniaData, device: str = "auto",
                 log: Callable[[str], None] = print) -> TrainConfig:
    """06's chosen recipe; its in-domain SSL checkpoint is the one 06 made when it is there, else
    made again the way 06 makes it."""
    config = replace(TrainConfig.from_dict(decisions["chosen_config"]), device=device)
    ssl_path = ssl_checkpoint_path(config.pretrained)
    if ssl_path is not None and not ssl_path.is_file():
        source, how = pretrain_small_cnn(data, progress=False)
        log(f"SSL initialisation: {how}")
        config = replace(config, pretrained=source)
    return config


def seed_groups(decisions: dict[str, Any], max_groups: int) -> list[list[int]]:
    """The seeds of each final model: 06's ensemble groups, or single seeds 0, 1, ... when 06
    chose no ensemble; at most ``max_groups`` of them."""
    if decisions["ensemble"]:
        groups = [[int(s.removeprefix("seed")) for s in group] for group in decisions["ensemble_groups"]]
    else:
        groups = [[s] for s in range(max_groups)]
    return groups[:max_groups]


def load_final_models(data_spec: DataSpec, decisions: dict[str, Any], config: TrainConfig, max_groups: int = 3,
                      store: RunStore | None = None, log: Callable[[str], None] | None = print,
                      **runner_options: Any) -> list[FinalModel]:
    """06's final models, their member runs loaded from the store (trained when missing), each an
    :func:`~pneumolib.models.inference.analysis_copy` (float64 on a CPU) for the study's analyses."""
    store = store or RunStore()
    data = data_spec.load()
    groups = seed_groups(decisions, max_groups)
    slug = _slug(decisions["chosen_arm"])
    specs = {s: RunSpec(replace(config, seed=s), key=f"members/{slug}/seed{s}") for group in groups for s in group}
    runs = require_all_ran(run_many(list(specs.values()), data_spec, store, need_models=True, log=log, **runner_options))
    finals = []
    for group in groups:
        members = [runs[specs[s].key] for s in group]
        models = [m.model if m.model is not None else store.load_model(m.run_id) for m in members]
        name = f"seeds {' '.join(str(s) for s in group)}"
        if len(members) > 1:
            record = ensemble_record(f"ensemble of {name}", members, decisions["tta"], data.val.labels,
                                     data.test.labels, recipe_name(decisions))
            if store.get(record.run_id) is None:  # 06 stored it already when it ran in this profile
                store.save_record(record)
            model: nn.Module = ProbabilityEnsemble(models).eval()
        else:
            record, model = members[0], models[0]
        finals.append(FinalModel(name, record, analysis_copy(model), config, bool(decisions["tta"])))
    return finals


def source_reference(final: FinalModel, data: PneumoniaData) -> SourceReference:
    """What val tells the methods about ``final`` (val labels and its val probabilities)."""
    return SourceReference.fit(data.val.labels, final.split_probabilities("val"))


def prior_estimates(finals: list[FinalModel], data: PneumoniaData, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """BBSE and EM estimates of the test cohort's pneumonia share for each final model, with a
    bootstrap CI (val and test images resampled), and the error when an estimator cannot give
    one. Reads test images, never test labels."""
    rows = []
    for final in finals:
        source = source_reference(final, data)
        p_val = source.scaler(source.p_val)
        p_test = source.scaler(final.split_probabilities("test"))
        estimators = {"BBSE": lambda y, p, q: bbse_prior(y, p, q),
                      "EM": lambda y, p, q: em_prior(q, float(np.mean(y)))}
        for name, estimate in estimators.items():
            try:
                ci = bootstrap_prior(estimate, data.val.labels, p_val, p_test, n_boot=n_boot, seed=seed)
            except ValueError as exc:  # e.g. BBSE with a model that predicts one class: recorded, not hidden
                ci = {"estimate": np.nan, "low": np.nan, "high": np.nan, "error": str(exc)}
            rows.append({"final model": final.name, "estimator": name, "estimate": ci["estimate"],
                         "low": ci["low"], "high": ci["high"], "error": ci.get("error", "")})
    return pd.DataFrame(rows).set_index(["estimator", "final model"]).sort_index()


def adapt_all(finals: list[FinalModel], data: PneumoniaData, methods: tuple[str, ...],
              seed: int = 0) -> tuple[dict[str, list[Adapted]], dict[str, str]]:
    """Every method applied to every final model on the test images: ``(adapted, errors)``, with
    method -> one :class:`Adapted` per final model, and method -> the error of a method that
    failed on some final model (left out of ``adapted``, not hidden). Only ``data.test.images``
    is read from test."""
    adapted: dict[str, list[Adapted]] = {m: [] for m in methods}
    errors: dict[str, str] = {}
    for final in finals:
        outputs, failed = adapt_methods([m for m in methods if m not in errors], final.model, final.config,
                                        source_reference(final, data), data.test.images, final.tta, seed,
                                        base_probabilities=final.split_probabilities("test"))
        for method, output in outputs.items():
            adapted[method].append(output)
        errors.update({method: f"{final.name}: {error}" for method, error in failed.items()})
    return {m: out for m, out in adapted.items() if m not in errors}, errors


def score_methods(adapted: dict[str, list[Adapted]], y_test: np.ndarray, n_boot: int = 2000,
                  seed: int = 0) -> pd.DataFrame:
    """Mean over the final models of AUC, ACC, balanced accuracy, sensitivity and specificity on
    test, each method at its own threshold, with a bootstrap 95 % CI: rows (method, metric).
    The only place test labels are read."""
    return pd.concat({method: bootstrap_mean_table(y_test, [a.probabilities for a in outputs],
                                                   [a.threshold for a in outputs], n_boot=n_boot, seed=seed)
                      for method, outputs in adapted.items()}, names=["method", "metric"])


def save_transductive_records(finals: list[FinalModel], adapted: dict[str, list[Adapted]], y_test: np.ndarray,
                              store: RunStore | None = None, skip: tuple[str, ...] = ("none",)) -> list[RunRecord]:
    """One record per final model and method (except ``skip``) in the store, marked as using
    the test cohort's unlabeled images, for the leaderboard's transductive section."""
    store = store or RunStore()
    records = []
    for method, outputs in adapted.items():
        if method in skip:
            continue
        for final, output in zip(finals, outputs):
            record = adapted_record(final.record, method, output.probabilities, output.threshold, y_test, output.prior)
            store.save_record(record)
            records.append(record)
    return records
