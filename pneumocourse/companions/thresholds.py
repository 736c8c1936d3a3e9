"""Notebook 03 (thresholds and calibration): its setup and its findings."""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

import numpy as np
import pandas as pd

from pneumolib.config import TrainConfig
from pneumolib.evaluation.calibration import TemperatureScaler
from pneumolib.evaluation.metrics import paired_bootstrap_threshold_diff
from pneumolib.evaluation.thresholds import val_test_table

from .. import narrative, nbtools


NOTEBOOK = "03_thresholds"  # the notebook this companion serves (its parameters cell holds the defaults)


class Setup(NamedTuple):
    session: nbtools.NotebookSession
    config: TrainConfig
    n_boot: int


def setup(*, smoke: bool, seed: int, device: str, data_dir: str, image_size: int, model: str, epochs: int,
          batch_size: int, lr: float, target_sensitivities: list[float], target_specificity: float, n_bins: int,
          n_boot: int, progress: bool, interactive: bool) -> Setup:
    """Check 03's parameters, start the session, build the recipe and print the profile line. The
    smoke profile trains two epochs and draws 200 bootstrap samples."""
    session = nbtools.start(smoke=smoke, seed=seed, device=device, data_dir=data_dir, image_size=image_size,
                            progress=progress, notebook=NOTEBOOK, parameters=locals())
    config = TrainConfig(model=model, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device=str(session.device))
    nbtools.check_probabilities("target_sensitivities", target_sensitivities)
    nbtools.check_probabilities("target_specificity", [target_specificity])
    nbtools.check_type("interactive", interactive, bool)
    nbtools.check_min_int("n_bins", n_bins, 2)
    nbtools.check_min_int("n_boot", n_boot, 100)
    if session.smoke:  # same code path, seconds of work
        config, n_boot = replace(config, epochs=2), 200
    print(f"profile: {session.profile}; {config.model}, {config.epochs} epochs, seed {config.seed}")
    return Setup(session, config, n_boot)


def findings(applied: pd.DataFrame, intervals: pd.DataFrame, honest: pd.DataFrame, calibration: pd.DataFrame,
             scaler: TemperatureScaler, chosen: dict[str, float], y_test: np.ndarray, p_test: np.ndarray, *,
             n_boot: int, seed: int) -> str:
    """03's reading of its results as Markdown bullets: the val-picked thresholds and how they move
    from val to test (``applied``), 0.5 against Youden's threshold on test (``intervals``, and a paired
    bootstrap of ``n_boot`` draws), the optimism of picking on test (``honest``), and what temperature
    scaling did (``calibration``)."""
    table = val_test_table(applied, ("balanced_accuracy", "sensitivity", "specificity"))
    rules = table.drop(index="default 0.5")
    low, high = rules["threshold (picked on val)"].idxmin(), rules["threshold (picked on val)"].idxmax()
    sens_up = int((table["shift sensitivity"] > 0).sum())
    spec_down = int((table["shift specificity"] < 0).sum())
    ba = table["balanced_accuracy (test)"]
    ci = intervals.xs("balanced_accuracy", level="metric")
    honest_ba, leaky_ba = honest.loc["youden on val", "balanced_accuracy"], honest.loc["youden on test (leakage)", "balanced_accuracy"]
    cal = calibration

    def ece_word(split: str) -> str:
        return "worse" if cal.loc[f"{split}, after", "ece"] > cal.loc[f"{split}, before", "ece"] else "better"

    paired = paired_bootstrap_threshold_diff(y_test, p_test, 0.5, chosen["youden"], n_boot=n_boot, seed=seed)
    lines = [
        f"- The val-picked thresholds range from {table.loc[low, 'threshold (picked on val)']:.4f} ({low}) to "
        f"{table.loc[high, 'threshold (picked on val)']:.4f} ({high}). Which rule to use is a clinical decision "
        "(missing pneumonia costs more than a false alarm), not a statistical one.",
        f"- From val to test, sensitivity rises for {sens_up} of {len(table)} thresholds and specificity falls for "
        f"{spec_down} of {len(table)}: the test cohort's normal images look more like pneumonia to this model.",
        f"- On test, the default 0.5 reaches balanced accuracy {ba['default 0.5']:.4f} "
        f"[{ci.loc['default 0.5', 'low']:.4f}, {ci.loc['default 0.5', 'high']:.4f}], the val-picked Youden threshold "
        f"({chosen['youden']:.4f}) {ba['youden']:.4f} [{ci.loc['youden', 'low']:.4f}, {ci.loc['youden', 'high']:.4f}]"
        + (f"; the best val-picked rule on test is {ba.drop('default 0.5').idxmax()} ({ba.drop('default 0.5').max():.4f})."
           if ba.drop("default 0.5").max() < ba["default 0.5"] else ".")
        + (" 0.5 has the highest point estimate on test. Paired on the same test images, 0.5 against Youden: "
           + narrative.ci_verdict("0.5", "Youden's threshold", paired["diff"], paired["low"], paired["high"],
                                  "balanced accuracy")
           + " The model still keeps the Youden threshold: switching to 0.5 *because* it scores better on test "
           "would be picking on test."
           if ba.drop("default 0.5").max() < ba["default 0.5"] else ""),
        f"- Picking Youden's threshold on test would report balanced accuracy {leaky_ba:.4f} instead of the honest "
        f"{honest_ba:.4f} ({leaky_ba - honest_ba:+.4f}): the optimism that leakage buys.",
        f"- Temperature scaling (T = {scaler.temperature:.3f}) never changes AUC. It changes the negative "
        f"log-likelihood on val from {cal.loc['val, before', 'nll']:.4f} to {cal.loc['val, after', 'nll']:.4f} and on "
        f"test from {cal.loc['test, before', 'nll']:.4f} to {cal.loc['test, after', 'nll']:.4f}; ECE, a coarser binned "
        f"measure, goes from {cal.loc['val, before', 'ece']:.4f} to {cal.loc['val, after', 'ece']:.4f} on val "
        f"({ece_word('val')}) and from {cal.loc['test, before', 'ece']:.4f} to {cal.loc['test, after', 'ece']:.4f} on "
        f"test ({ece_word('test')}). Scaling fits the likelihood, not the bins, so it can leave ECE worse.",
    ]
    return "\n".join(lines)
