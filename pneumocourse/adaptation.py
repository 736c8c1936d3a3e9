"""Notebook 07's adaptation study: label-shift estimates of the test cohort's pneumonia share,
the adaptation methods applied to 06's final models with the test images alone, and their scores
(the one place the test labels are read), and the transductive records for the leaderboard. The
notebook's setup and wording are its companion's; the methods themselves are
:mod:`pneumolib.shift`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pneumolib.data import PneumoniaData
from pneumolib.evaluation.metrics import bootstrap_mean_table
from pneumolib.experiments.runs import RunRecord, adapted_record
from pneumolib.experiments.store import RunStore
from pneumolib.shift.methods import Adapted, SourceReference, adapt_methods
from pneumolib.shift.priors import bbse_prior, bootstrap_prior, em_prior

from .final_model import FinalModel


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
