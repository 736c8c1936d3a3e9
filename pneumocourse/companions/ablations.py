"""Notebook 05 (ablations, grid search and cross-validation): its setup and its findings."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import NamedTuple

import pandas as pd

from pneumolib.config import MODEL_NAMES, TrainConfig
from pneumolib.data import PneumoniaData
from pneumolib.errors import ConfigError
from pneumolib.experiments.runs import DataSpec
from pneumolib.evaluation.noise import Decision, beyond_noise
from pneumolib.experiments.studies import full_recipe

from .. import narrative, nbtools
from ..narrative import mean_sd


NOTEBOOK = "05_ablations"  # the notebook this companion serves (its parameters cell holds the defaults)


class Setup(NamedTuple):
    session: nbtools.NotebookSession
    seeds: list[int]
    full: TrainConfig  # the full recipe every ablation arm removes one part of
    grid_batch_sizes: list[int]
    grid_lrs: list[float]
    workers: int
    threads: int  # per worker
    spec: DataSpec


def setup(*, smoke: bool, seed: int, seeds: list[int], device: str, data_dir: str, image_size: int, recipe: str,
          epochs: int, grid_batch_sizes: list[int], grid_lrs: list[float], grid_folds: int, cv_folds: int,
          workers: int, progress: bool) -> Setup:
    """Check 05's parameters, start the session, build the full recipe, share the CPU cores among
    ``workers`` processes (0: one per core) and print the profile line. The smoke profile keeps one
    seed, one epoch, a 2 × 1 grid and a small subset."""
    session = nbtools.start(smoke=smoke, seed=seed, device=device, data_dir=data_dir, image_size=image_size,
                            progress=progress, notebook=NOTEBOOK, parameters=locals())
    seeds = nbtools.check_seeds(seeds)
    nbtools.check_choice("recipe", recipe, MODEL_NAMES)
    grid_batch_sizes = nbtools.check_positive_list("grid_batch_sizes", grid_batch_sizes, int)
    grid_lrs = nbtools.check_positive_list("grid_lrs", grid_lrs, float)
    nbtools.check_min_int("grid_folds", grid_folds, 2)
    nbtools.check_min_int("cv_folds", cv_folds, 2)
    nbtools.check_min_int("workers", workers, 0)
    full = full_recipe(recipe, epochs=epochs, seed=seed, device=str(session.device))
    workers = workers or os.cpu_count() or 1
    threads = max(1, (os.cpu_count() or 1) // workers)
    spec = DataSpec(str(session.data_dir), image_size)
    if session.smoke:  # same code path, seconds of work: one seed, one epoch, a 2x1 grid, a small subset
        seeds, full = seeds[:1], replace(full, epochs=1)
        grid_batch_sizes, grid_lrs = grid_batch_sizes[:2], grid_lrs[:1]
        spec = DataSpec(str(session.data_dir), image_size, subset=(384, 160), subset_seed=seed)
    print(f"profile: {session.profile}; recipe {recipe}, {full.epochs} epochs; seeds {seeds}; "
          f"{workers} workers x {threads} threads")
    return Setup(session, seeds, full, grid_batch_sizes, grid_lrs, workers, threads, spec)


IMBALANCE_ARMS = ("− class weighting", "− balanced sampling")


def _threshold_shift(ran: pd.DataFrame, full: pd.DataFrame) -> str:
    """Where the val-picked thresholds sit, and how removing each imbalance correction moves them."""
    mean = ran.groupby("arm", sort=False).tuned_threshold.mean()
    text = f" The val-picked thresholds average {full.tuned_threshold.mean():.2f} in the full recipe"
    moved = [f"{arm} {mean[arm]:.2f}" for arm in IMBALANCE_ARMS if arm in mean.index]
    if moved and all(mean[arm] > full.tuned_threshold.mean() for arm in IMBALANCE_ARMS if arm in mean.index):
        text += (f" and rise when an imbalance correction is removed ({', '.join(moved)}): class weighting and "
                 "balanced sampling both down-weight pneumonia, the majority class, which pushes the predicted "
                 "probabilities down, so the best cut-off sits below 0.5")
    return text + "."


def ablation_findings(verdicts: pd.DataFrame, runs: pd.DataFrame, grid: pd.DataFrame, grid_choice: Decision,
                      folds: pd.DataFrame, full_arm: str = "full recipe") -> list[str]:
    """Notebook 05, as Markdown bullets: the ablation arms in words, with the verdicts the notebook's
    cell gave them by the project's noise rule (``verdicts``, index arm: ``Δ test AUC``, ``noise``,
    ``Δ val AUC``, ``verdict`` "raises", "lowers" or "level"); the threshold rule (by the same
    rule, :func:`~pneumolib.evaluation.noise.beyond_noise`); the grid's choice, with the best cell
    against the runner-up as the notebook's cell judged it (``grid_choice``); and cross-validation."""
    missing = {"Δ test AUC", "Δ val AUC", "verdict"} - set(verdicts.columns)
    if missing:
        raise ValueError(f"the ablation verdicts lack {sorted(missing)}: notebook 05's cell builds them by the rule it "
                         "shows, before the findings are written")
    ran = runs[runs.status == "ran"]
    full = ran[ran.arm == full_arm]
    groups: dict[str, list[str]] = {"lowers": [], "level": [], "raises": []}
    lines = []
    for arm, row in verdicts.iterrows():
        groups[row.verdict].append(f"{arm} ({row['Δ test AUC']:+.4f})")
        if row.verdict == "lowers" and row["Δ val AUC"] > 0:
            lines.append(f"- {arm} *raises* val AUC ({row['Δ val AUC']:+.4f}) while it lowers test AUC "
                         f"({row['Δ test AUC']:+.4f}): the model fits the training cohort better and transfers worse to "
                         "the test cohort.")
    rule = "the mean paired difference over the seeds, against two seed sds of the full recipe"
    summary = [f"- **Removing a component lowers test AUC beyond the noise** ({rule}): {', '.join(groups['lowers']) or 'none'}.",
               f"- **Within the noise:** {', '.join(groups['level']) or 'none'}."]
    if groups["raises"]:
        summary.append(f"- **Removing these raises test AUC beyond the noise:** {', '.join(groups['raises'])}.")
    lines = summary + lines
    tuned, plain = full.tuned_test_balanced_accuracy, full.test_balanced_accuracy
    decision = beyond_noise("the val-picked threshold", full.set_index("seed").tuned_test_balanced_accuracy, "the 0.5 threshold",
                            full.set_index("seed").test_balanced_accuracy)
    verdict = ("the val-picked threshold is ahead beyond the noise" if decision.kept else
               "0.5 is ahead beyond the noise" if decision.verdict == "a loss beyond the noise" else
               "level, within the noise")
    lines.append(f"- **Threshold rule:** on test, the full recipe's balanced accuracy is {mean_sd(tuned)} at the "
                 f"val-picked Youden threshold and {mean_sd(plain)} at 0.5: {verdict} "
                 f"({decision.describe(unit='balanced accuracy')})." + _threshold_shift(ran, full))
    ordered = grid.sort_values("cv_auc_mean", ascending=False)
    best, worst = ordered.iloc[0], ordered.iloc[-1]
    lines.append(f"- **Grid search:** the best cell, {', '.join(f'{k} {v:g}' for k, v in zip(grid.index.names, ordered.index[0]))}, "
                 f"reaches CV AUC {narrative.with_spread(best.cv_auc_mean, best.cv_auc_sd)}; against the runner-up, fold by "
                 f"fold: {grid_choice.describe(4, 'CV AUC')}"
                 + (", so the choice among the top cells is weak" if not grid_choice.kept else "")
                 + f". The worst cell, {', '.join(f'{k} {v:g}' for k, v in zip(grid.index.names, ordered.index[-1]))}, "
                 f"reaches {worst.cv_auc_mean:.4f}. The best cell was picked on the very folds that score it (not nested), "
                 "so its CV AUC is optimistic; nested cross-validation (the exercise above) scores the choice honestly.")
    fold_auc, test_auc = folds.loc["mean", "held-out fold AUC"], folds.loc["mean", "test AUC"]
    lines.append(f"- **Cross-validation:** held-out fold AUC "
                 f"{narrative.with_spread(fold_auc, folds.loc['sd', 'held-out fold AUC'])}, "
                 f"test AUC {narrative.with_spread(test_auc, folds.loc['sd', 'test AUC'])}"
                 + (": CV on train+val measures the training cohort, not the test cohort." if fold_auc > test_auc else "."))
    return lines


# --- notebook 04: Grad-CAM -------------------------------------------------------------------



def load_data(session: nbtools.NotebookSession) -> PneumoniaData:
    """The session's data, at the size its file holds: 05's worker processes each load that file
    themselves, so a size made by upsampling another file is refused."""
    data, input_size = nbtools.load_notebook_data(session)
    if input_size is not None:
        raise ConfigError(f"05 runs in worker processes that load the {session.image_size} px file itself; "
                          f"put pneumoniamnist_{session.image_size}.npz in the data folder or use image_size 28.")
    return data
