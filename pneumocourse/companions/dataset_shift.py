"""Notebook 07 (the val-to-test cohort shift): its setup, its findings, and its study: 06's final
models, adapted to the test cohort's unlabeled images by every method of :mod:`pneumolib.shift`,
and scored on test once.

The adaptation reads the test images only; test labels enter in :func:`score_methods` and
:func:`save_transductive_records` alone, after every method has produced its probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from pneumolib.config import INTENSITY_PRESETS
from pneumolib.data import PneumoniaData, split_summary
from pneumolib.data.photometric import Photometric
from pneumolib.evaluation.metrics import binary_metrics
from pneumolib.evaluation.noise import NOISE_SDS, PAIRED_NOISE, RULES, Decision
from pneumolib.shift.methods import METHODS, Adapted
from .. import narrative, nbtools
from ..adaptation import source_reference
from ..final_model import FinalModel
from ..goal import goal_verdict



NOTEBOOK = "07_dataset_shift"  # the notebook this companion serves (its parameters cell holds the defaults)


class Setup(NamedTuple):
    session: nbtools.NotebookSession
    max_models: int
    robust_seeds: list[int]
    n_boot: int
    n_typical: int


def setup(*, smoke: bool, seed: int, device: str, data_dir: str, image_size: int, max_models: int,
          robust_seeds: list[int], intensity: str, methods: list[str], selection_metric: str, domain_folds: int,
          n_typical: int, n_boot: int, progress: bool) -> Setup:
    """Check 07's parameters, start the session and print the profile line. 06's final models are
    28 px models, so ``image_size`` must be 28; ``methods`` must include "none", the unadapted model
    every method is compared with. The smoke profile keeps one model, one robustness seed and a few
    typical images."""
    session = nbtools.start(smoke=smoke, seed=seed, device=device, data_dir=data_dir, image_size=image_size,
                            progress=progress, notebook=NOTEBOOK, parameters=locals())
    nbtools.check_choice("image_size", image_size, [28], "06's final models are 28 px models")
    nbtools.check_min_int("max_models", max_models, 1)
    nbtools.check_min_int("domain_folds", domain_folds, 2)
    nbtools.check_min_int("n_typical", n_typical, 1)
    nbtools.check_min_int("n_boot", n_boot, 100)
    robust_seeds = nbtools.check_seeds(robust_seeds, "robust_seeds")
    nbtools.check_choices("methods", methods, list(METHODS), required=["none"])
    nbtools.check_choice("intensity", intensity, [p for p in INTENSITY_PRESETS if p != "none"],
                         "a photometric preset other than 'none'")
    nbtools.check_choice("selection_metric", selection_metric, ["acc", "balanced_accuracy", "auc"])
    if session.smoke:  # same code path, seconds of work
        max_models, robust_seeds, n_boot, n_typical = 1, robust_seeds[:1], 200, 4
    print(f"profile: {session.profile}; up to {max_models} final model(s), robustness seeds {robust_seeds}")
    return Setup(session, max_models, robust_seeds, n_boot, n_typical)


def method_choice_findings(chosen: str, decisions: Sequence, metric: str = "acc") -> str:
    """Notebook 07: the adaptation method chosen on val's simulated shifts, with the rule and, per
    candidate, its mean paired gain over the choice current when it was visited and the noise (the
    two sds of the paired per-shift differences), as one Markdown bullet. ``decisions``: the second item
    of :func:`pneumolib.shift.select.method_choice`."""
    rule = RULES[PAIRED_NOISE]
    numbers = "; ".join(f"{d.option} against {d.simpler}: {d.describe(unit=metric)}" for d in decisions)
    verdict = ("no method beats no adaptation beyond the noise, so **none** (no adaptation) is kept"
               if chosen == "none" else f"**{chosen}** is chosen")
    return f"- **Choice on val's simulated shifts:** {verdict}. The rule: {rule}. " + (numbers + "." if numbers else "")


def findings(*, data: PneumoniaData, finals: list[FinalModel], domain: pd.DataFrame, within: pd.DataFrame,
             typical_pneumonia: dict[str, int], n_typical: int, intensity_table: pd.DataFrame, gap: pd.Series,
             prior_check: pd.DataFrame, true_prior: float, scores: pd.DataFrame, adapted: dict[str, list[Adapted]],
             simulated_table: pd.DataFrame, chosen_method: str, method_steps: Sequence, selection_metric: str,
             photometric: Photometric, intensity: str, robust_table: pd.DataFrame, robust_keep: Decision,
             goal: pd.DataFrame) -> str:
    """07's reading of its results as Markdown bullets, each built from the tables of the notebook's
    cells named by the arguments: the class shares, how the cohorts' images differ (domain
    classifiers, typical images, within-class separation), the prior estimates, the unadapted and
    adapted models on test, the method chosen on val's simulated shifts, robustness training (as
    the notebook's cell decided it, ``robust_keep``) and the goal."""
    raw_test, raw_control = domain.loc[("raw pixels", "train vs test"), "auc"], domain.loc[("raw pixels", "train vs val (control)"), "auc"]
    out_test = domain.loc[("model output only", "train vs test"), "auc"]
    feat_test, feat_control = domain.loc[("model features", "train vs test"), "auc"], domain.loc[("model features", "train vs val (control)"), "auc"]
    shares = split_summary(data)["pneumonia_share"]
    within_test, within_control = within.loc["train vs test", "auc"], within.loc["train vs val (control)", "auc"]
    within_gap = within_test - within_control
    within_noise = NOISE_SDS * domain["sd over folds"].max()  # the project's noise rule: two sds
    means = scores.xs("estimate", axis=1).unstack("metric")
    none, best_acc = means.loc["none"], means.acc.idxmax()
    max_change = np.abs(means.acc - none.acc).max()
    ci_width = (scores.xs("acc", level="metric").high - scores.xs("acc", level="metric").low).mean()
    chosen_ci = scores.loc[chosen_method]
    scored = list(adapted)
    val_specificity = np.mean([binary_metrics(data.val.labels, r.p_val, r.threshold)["specificity"]
                               for r in (source_reference(f, data) for f in finals)])
    predicted_gain = simulated_table.loc["mean over the simulated shifts", chosen_method] - simulated_table.loc["mean over the simulated shifts", "none"]
    n_normal, n_pneumonia = int((data.test.labels == 0).sum()), int((data.test.labels == 1).sum())
    false_alarms, misses = (1 - none.specificity) * n_normal, (1 - none.sensitivity) * n_pneumonia
    contrast_ratio = intensity_table.loc["test", "contrast"] / intensity_table.loc["train", "contrast"]
    covered = (abs(gap.brightness / 255) <= photometric.brightness
               and photometric.contrast[0] <= contrast_ratio <= photometric.contrast[1])
    robust_runs = robust_table[robust_table.key.str.startswith("robust")]
    recipe_runs = robust_table[robust_table.key.str.startswith("base")]  # 06's recipe, the same seeds where it has them
    lines = [
        f"- **The cohorts differ in their class shares:** pneumonia is {shares['train']:.1%} of train, {shares['val']:.1%} "
        f"of val and {shares['test']:.1%} of test.",
        f"- **And in how their images look, though barely in grey levels:** test's mean brightness is "
        f"{intensity_table.loc['test', 'brightness']:.1f} against train's {intensity_table.loc['train', 'brightness']:.1f}, "
        f"its contrast {intensity_table.loc['test', 'contrast']:.1f} against {intensity_table.loc['train', 'contrast']:.1f}. "
        f"A domain classifier tells test-cohort from training-cohort images with cross-validated AUC {raw_test:.3f} on raw "
        f"pixels and {feat_test:.3f} on the model's features; on the control, train against val, it reaches "
        f"{raw_control:.3f} and {feat_control:.3f}. The model's pneumonia probability alone, which carries the class mix, "
        f"separates the cohorts with AUC {out_test:.3f}; "
        + (f"the features go {feat_test - out_test:+.3f} beyond it." if feat_test > out_test + domain["sd over folds"].max()
           else "the features add no more than the fold sd beyond it."),
        f"- **What the typical images show:** among the {n_typical} images most typical of the training cohort, "
        f"{typical_pneumonia['training']} show pneumonia; among those most typical of the test cohort, "
        f"{typical_pneumonia['test']}"
        + (", so the unmatched rows of the figure also differ in their class mix; the class-matched rows do not. "
           if abs(typical_pneumonia["training"] - typical_pneumonia["test"]) >= n_typical // 2 else ". ")
        + f"Within one class the same held-out scores separate the cohorts with AUC {within_test['normal']:.3f} (normal) "
        f"and {within_test['pneumonia']:.3f} (pneumonia), {within_gap['normal']:+.3f} and {within_gap['pneumonia']:+.3f} "
        f"over the control (train against val), against a noise of {within_noise:.3f} (two fold sds): "
        + (f"so within each class the images look different in the two cohorts, the {within_gap.idxmax()} images most, "
           "beyond how many show pneumonia." if (within_gap > within_noise).all() else
           f"so the {within_gap.idxmax()} images look different in the two cohorts, and the "
           f"{within_gap.idxmin()} images no more than the noise." if within_gap.max() > within_noise else
           "so within a class the cohorts are barely told apart, and most of what separates them is the class mix."),
        ("- **Label shift is only part of the story:** " if not prior_check.covers.any() else "- **The prior estimates:** ")
        + "BBSE estimates the test share at "
        + ", ".join(f"{r.estimate:.3f}" for r in prior_check.loc["BBSE"].itertuples())
        + " and EM at " + ", ".join(f"{r.estimate:.3f}" for r in prior_check.loc["EM"].itertuples())
        + f" for the {len(finals)} final model(s), against the true {true_prior:.3f}; "
        + f"{int(prior_check.covers.sum())} of {len(prior_check)} CIs cover it. "
        + (f"Both overestimate it. The model's specificity at its val-picked threshold is {val_specificity:.4f} on val "
           f"and {none.specificity:.4f} on test: more of the test cohort's normal images get high pneumonia "
           "probabilities, which a label-shift estimator can only read as more pneumonia."
           if (prior_check.error > 0).all() and none.specificity < val_specificity else
           "The estimates do not all overestimate it."),
        f"- **Unadapted**, 06's final models score test AUC {none.auc:.4f} and ACC {none.acc:.4f} (sensitivity "
        f"{none.sensitivity:.4f}, specificity {none.specificity:.4f}): about {false_alarms:.0f} normal images are called "
        f"pneumonia and {misses:.0f} pneumonia images missed, per model.",
        "- **Adaptation moves test ACC by " + ", ".join(f"{m} {means.loc[m, 'acc'] - none.acc:+.4f}" for m in scored if m != "none")
        + f"** and test AUC by at most {np.abs(means.auc.drop('none') - none.auc).max():.4f}. The largest change in ACC, "
        + f"{np.abs(means.acc - none.acc).max():.4f}, is about {np.abs(means.acc - none.acc).max() * len(data.test.labels):.0f} "
        + f"of {len(data.test.labels)} test images, and "
        + f"{max_change / ci_width:.0%}"
        + " of a CI's mean width: "
        + ("well inside the CIs, and a paired test would be needed to call any of it real." if max_change < 0.5 * ci_width
           else "as large as the CIs themselves; a paired test should check it before anyone relies on it."
           if max_change >= ci_width else
           "more than half a CI's width, less than a whole one; a paired test should check it before anyone relies on it."),
        method_choice_findings(chosen_method, method_steps, selection_metric),
        f"- **The method chosen on val's simulated shifts is {chosen_method}** (mean {selection_metric} "
        f"{simulated_table.loc['mean over the simulated shifts', chosen_method]:.4f} there); on test it scores ACC "
        f"{chosen_ci.loc['acc', 'estimate']:.4f} [{chosen_ci.loc['acc', 'low']:.4f}, {chosen_ci.loc['acc', 'high']:.4f}]. "
        + f"The simulated shifts promised {predicted_gain:+.4f} ACC over no adaptation; on test it changed ACC by "
        + f"{means.loc[chosen_method, 'acc'] - none.acc:+.4f}. "
        + ("Shifts of the class mix and the grey levels alone do not reproduce this cohort change. " if predicted_gain > 0 >= means.loc[chosen_method, 'acc'] - none.acc else "")
        + ("It also has the highest mean test ACC." if best_acc == chosen_method else
           f"{best_acc[0].upper() + best_acc[1:]} has the highest mean test ACC ({means.loc[best_acc, 'acc']:.4f}), about "
           f"{(means.loc[best_acc, 'acc'] - means.loc[chosen_method, 'acc']) * len(data.test.labels):.0f} images more; choosing "
           "it for that would be picking on test."),
        f"- **Robustness training** ({photometric.describe()}): "
        + narrative.seed_verdict("06's recipe", recipe_runs.val_auc,
                                 f"+ {intensity} intensity", robust_runs.val_auc, "val AUC")
        + f" By 06's rule, paired seed by seed ({robust_keep.describe()}), selection on val "
        + ("would keep it." if robust_keep.kept else "does not keep it.")
        + " The augmented runs score test AUC " + narrative.mean_sd(robust_runs.test_auc)
        + " (± seed sd) against " + narrative.mean_sd(recipe_runs.test_auc)
        + " for 06's recipe"
        + (". The measured grey-level shift lies well inside the augmentation's brightness and contrast ranges, so the "
           "augmentation covers it; what separates the cohorts lies elsewhere." if covered else
           ". The measured grey-level shift lies outside the augmentation's ranges."),
    ]
    for (name, metric), row in goal.iterrows():
        lines.append(f"- **Goal, {row.section}, {name}:** {metric.upper()} {row['mean']:.4f} [{row.ci_low:.4f}, {row.ci_high:.4f}] "
                     f"against {row.goal:g}: {goal_verdict(row)}.")
    return "\n".join(lines)
