"""Transductive adaptation: every method behind one function that reads the new cohort's images,
never its labels (``tests/test_shift_honesty.py`` permutes the labels and checks nothing moves).

A method returns calibrated pneumonia posteriors for the new images and the threshold that goes
with them: the val-picked threshold for the unadapted model, 0.5 on posteriors that a method has
corrected to its estimate of the new cohort's prior (the accuracy-optimal cut-off under that prior).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import nn

from ..config import TrainConfig
from ..evaluation.calibration import TemperatureScaler
from ..evaluation.thresholds import choose_threshold
from ..models.inference import in_inference_dtype, model_device, model_dtype, predict_probabilities, preprocess
from ..training.tta import TTA_VIEWS
from .adapt import adabn
from .priors import bbse_prior, em_prior, prior_corrected
from .tent import tent

METHODS = ("none", "prior correction (BBSE)", "prior correction (EM)", "AdaBN", "AdaBN + prior correction (EM)",
           "TENT")
MODEL_METHODS = ("AdaBN", "TENT")  # methods that change the model (the others change its outputs)


@dataclass(frozen=True)
class SourceReference:
    """What the labelled source cohort (val) tells a method: labels, the model's probabilities,
    the temperature that calibrates them, and the val-picked (Youden) threshold."""

    y_val: np.ndarray
    p_val: np.ndarray
    scaler: TemperatureScaler
    threshold: float

    @classmethod
    def fit(cls, y_val: np.ndarray, p_val: np.ndarray) -> "SourceReference":
        y_val, p_val = np.asarray(y_val).reshape(-1), np.asarray(p_val, dtype=np.float64).reshape(-1)
        return cls(y_val, p_val, TemperatureScaler.fit(y_val, p_val), choose_threshold(y_val, p_val, "youden"))

    @property
    def prior(self) -> float:
        """The pneumonia share of val (the prior the calibrated posteriors carry)."""
        return float(np.mean(self.y_val))


@dataclass(frozen=True)
class Adapted:
    """A method's output for the new images."""

    method: str
    probabilities: np.ndarray  # calibrated (and, for prior methods, prior-corrected) posteriors
    threshold: float
    prior: float | None  # the method's estimate of the new cohort's pneumonia share, if it makes one

    def predictions(self) -> np.ndarray:
        return (self.probabilities >= self.threshold).astype(np.int64)


def predict(model: nn.Module, images: np.ndarray, config: TrainConfig, tta: bool = False) -> np.ndarray:
    """The model's pneumonia probabilities for unlabeled ``images``, with or without test-time
    augmentation, in :mod:`~pneumolib.models.inference`'s precision (float64 on a CPU, so that
    every CPU renders the same numbers)."""
    return predict_probabilities(model, images, config, list(TTA_VIEWS.values()) if tta else None)


def _check(methods: tuple[str, ...] | list[str]) -> None:
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"Unknown adaptation method {unknown[0]!r}; choose one of {list(METHODS)}.")


def _correct(method: str, source: SourceReference, calibrated: np.ndarray) -> Adapted:
    """A method's output from calibrated posteriors of the (possibly adapted) model."""
    if method in ("none", *MODEL_METHODS):
        # AdaBN and TENT change the model's features, so the val-picked threshold and calibration
        # still apply only approximately; the threshold is the one val picked for the source model
        threshold = source.scaler(np.array([source.threshold]))[0]
        return Adapted(method, calibrated, float(threshold), None)
    if method.endswith("(BBSE)"):
        prior = bbse_prior(source.y_val, source.scaler(source.p_val), calibrated)
    else:
        prior = em_prior(calibrated, source.prior)
    prior = float(np.clip(prior, 0.01, 0.99))
    return Adapted(method, prior_corrected(calibrated, source.prior, prior), 0.5, prior)


def adapt_methods(methods: tuple[str, ...] | list[str], model: nn.Module, config: TrainConfig, source: SourceReference,
                  images: np.ndarray, tta: bool = False, seed: int = 0,
                  base_probabilities: np.ndarray | None = None) -> tuple[dict[str, Adapted], dict[str, str]]:
    """:func:`adapt` for several methods at once, each model change made once: the methods that
    only change outputs share one prediction (``base_probabilities``, the unadapted model's
    probabilities for ``images``, when the caller has them), AdaBN and AdaBN + EM share one
    adapted model. Returns ``(adapted, errors)``: a method that fails (ValueError) is in
    ``errors`` with its message, not in ``adapted``."""
    _check(methods)
    model = in_inference_dtype(model)
    by_model: dict[str, list[str]] = {}
    for method in methods:
        by_model.setdefault(method.split(" ")[0] if method.split(" ")[0] in MODEL_METHODS else "", []).append(method)
    adapted, errors = {}, {}
    for change, group in by_model.items():
        if change:
            inputs = preprocess(images, config, model_dtype(model), model_device(model))
            try:
                changed = adabn(model, inputs) if change == "AdaBN" else tent(model, inputs, seed=seed)
            except ValueError as exc:  # e.g. TENT on a model without batch norm
                errors.update({method: str(exc) for method in group})
                continue
            probabilities = predict(changed, images, config, tta)
        else:
            probabilities = predict(model, images, config, tta) if base_probabilities is None else base_probabilities
        calibrated = source.scaler(probabilities)
        for method in group:
            try:
                adapted[method] = _correct(method, source, calibrated)
            except ValueError as exc:  # e.g. BBSE's confusion matrix is singular for this model
                errors[method] = str(exc)
    return {m: adapted[m] for m in methods if m in adapted}, errors


def adapt(method: str, model: nn.Module, config: TrainConfig, source: SourceReference, images: np.ndarray,
          tta: bool = False, seed: int = 0) -> Adapted:
    """Apply ``method`` (one of :data:`METHODS`) to the new cohort's ``images`` (uint8 (N, H, W)).
    ``tta`` must match how ``source`` was fitted (with or without test-time augmentation)."""
    adapted, errors = adapt_methods((method,), model, config, source, images, tta, seed)
    if errors:
        raise ValueError(errors[method])
    return adapted[method]
