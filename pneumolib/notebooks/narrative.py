"""Sentences built from numbers: the notebooks' verdicts are rendered from their results, never typed.

A verdict says only what its numbers support. A difference whose confidence interval holds zero,
or that lies inside the seed spread, is "about level", never "beats". Each function returns
Markdown; :func:`show` displays it in a notebook (and prints it elsewhere).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def fmt(value: float, digits: int = 4) -> str:
    """A number as the notebooks print it."""
    return f"{value:.{digits}f}"


def mean_sd(values: Sequence[float], digits: int = 4) -> str:
    """``mean ± sd`` over seeds (sample sd); one value is shown alone, since one seed has no spread."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return fmt(values[0], digits)
    return f"{fmt(values.mean(), digits)} ± {fmt(values.std(ddof=1), digits)}"


def ci_verdict(name_a: str, name_b: str, diff: float, low: float, high: float, metric: str = "test AUC",
               level: int = 95) -> str:
    """A paired difference ``a - b`` with its CI: "beats" only when the CI excludes zero."""
    numbers = f"{metric} difference {diff:+.4f}, {level}% CI [{low:+.4f}, {high:+.4f}]"
    if low > 0:
        return f"**{name_a} beats {name_b}** ({numbers}: the interval lies above zero)."
    if high < 0:
        return f"**{name_b} beats {name_a}** ({numbers}: the interval lies below zero)."
    return f"**{name_a} and {name_b} are about level** ({numbers}: the interval holds zero)."


def seed_verdict(name_a: str, values_a: Sequence[float], name_b: str, values_b: Sequence[float],
                 metric: str = "test AUC") -> str:
    """Two arms over seeds: "ahead" only when the gap in means exceeds both arms' seed spreads."""
    a, b = np.asarray(values_a, dtype=float), np.asarray(values_b, dtype=float)
    gap = a.mean() - b.mean()
    spread = max(a.std(ddof=1) if len(a) > 1 else 0.0, b.std(ddof=1) if len(b) > 1 else 0.0)
    numbers = f"{metric} {mean_sd(a)} vs {mean_sd(b)} over {len(a)} and {len(b)} seeds"
    if min(len(a), len(b)) < 2:
        return f"{name_a} vs {name_b}: {numbers}; one seed shows no spread, so no verdict."
    if abs(gap) > spread:
        ahead, behind = (name_a, name_b) if gap > 0 else (name_b, name_a)
        return f"**{ahead} is ahead of {behind}** ({numbers}: the gap {abs(gap):.4f} exceeds the seed sd)."
    return (f"**{name_a} and {name_b} are about level** ({numbers}: the gap {abs(gap):.4f} is within the "
            f"seed sd {spread:.4f}).")


def inside_ci(value: float, low: float, high: float) -> bool:
    return low <= value <= high


def class_balance(summary: pd.DataFrame) -> str:
    """Notebook 01: the pneumonia share per split (``split_summary``), and how the splits compare."""
    share = summary["pneumonia_share"]
    text = ", ".join(f"{split} {share[split]:.1%}" for split in share.index)
    same = abs(share["train"] - share["val"]) < 0.01
    sentence = f"Pneumonia share: {text}. "
    sentence += ("Train and val have the same share (val was split off the same source set). " if same
                 else f"Train and val differ by {abs(share['train'] - share['val']):.1%}. ")
    gap = share["test"] - share["train"]
    if abs(gap) >= 0.01:
        sentence += (f"Test has {'fewer' if gap < 0 else 'more'} pneumonia images: {share['test']:.1%} against "
                     f"{share['train']:.1%} in train, so a fixed threshold meets a different mix there.")
    return sentence


def duplicate_findings(duplicates: pd.DataFrame) -> str:
    """Notebook 01: what the exact-duplicate table (``exact_duplicates``) says, split by split."""
    table = duplicates.set_index("where")
    within = [f"{split} {int(table.loc[split, 'duplicate_images'])}" for split in ("train", "val", "test")
              if table.loc[split, "duplicate_images"]]
    conflicts = int(table["label_conflicts"].sum())
    parts = [f"Extra copies within a split: {', '.join(within)}." if within else "No split holds an image twice."]
    parts.append("None has conflicting labels." if not conflicts else f"{conflicts} carry conflicting labels.")
    shared_val = int(table.loc["train & val", "duplicate_images"])
    if shared_val:
        parts.append(f"Train and val share {shared_val} images: val is slightly optimistic, because these images "
                     "were also trained on.")
    shared_test = int(table.loc["train & test", "duplicate_images"] + table.loc["val & test", "duplicate_images"])
    parts.append("Test shares no image with train or val, so test numbers are free of this leak." if not shared_test
                 else f"Test shares {shared_test} images with train or val: test numbers are slightly optimistic.")
    return " ".join(parts)


def show(markdown: str) -> None:
    """Display Markdown in a notebook; print it anywhere else."""
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:  # IPython is optional outside notebooks
        print(markdown)
        return
    if get_ipython() is None:
        print(markdown)
    else:
        display(Markdown(markdown))


def _against_ci(value: float, low: float, high: float) -> str:
    if value < low:
        return "below our CI"
    if value > high:
        return "above our CI"
    return "inside our CI (about level)"


def search_findings(result, goal: pd.DataFrame, published: Sequence[tuple]) -> list[str]:
    """Notebook 06: what the search decided and what the final model reaches, as Markdown bullets.

    ``result`` is :class:`pneumolib.experiments.search.SearchResult`, ``goal`` the
    :func:`pneumolib.notebooks.goal.goal_table`, ``published`` the leaderboard's published rows.
    """
    comp = result.components.set_index("arm")
    base = comp.loc["base"]
    others = comp.drop(index="base")
    kept = [f"{arm} ({comp.loc[arm, 'val_auc_mean'] - base.val_auc_mean:+.4f} val AUC)" for arm in result.kept]
    dropped = [arm for arm in others.index if arm not in result.kept and arm != result.chosen_arm]
    lines = [f"- **Components kept on val:** {', '.join(kept) if kept else 'none'}; the seed sd of the base's val "
             f"AUC is {base.val_auc_sd:.4f}, so gains below it are ties in practice. Not kept: {', '.join(dropped)}."]
    worst = others.test_auc_mean.idxmin()
    lines.append(f"- On test, the arms range from {others.test_auc_mean.min():.4f} ({worst}) to "
                 f"{others.test_auc_mean.max():.4f} ({others.test_auc_mean.idxmax()}), against {base.test_auc_mean:.4f} "
                 f"± {base.test_auc_sd:.4f} for the base.")
    chosen = comp.loc[result.chosen_arm]
    lines.append(f"- **Chosen recipe:** {result.chosen_arm}, val AUC {chosen.val_auc_mean:.4f} ± {chosen.val_auc_sd:.4f}, "
                 f"test AUC {chosen.test_auc_mean:.4f} ± {chosen.test_auc_sd:.4f} (base {base.test_auc_mean:.4f} ± "
                 f"{base.test_auc_sd:.4f}): " + ("the gap on test exceeds the seed sd."
                                                  if abs(chosen.test_auc_mean - base.test_auc_mean) > max(chosen.test_auc_sd, base.test_auc_sd)
                                                  else "about level on test, within the seed sd."))
    lines.append(f"- **TTA** {'kept' if result.use_tta else 'not kept'} ({result.tta_gain:+.4f} val AUC), the **seed "
                 f"ensemble** {'kept' if result.use_ensemble else 'not kept'} ({result.ensemble_gain:+.4f} val AUC).")
    auc, acc = goal.loc["test_auc"], goal.loc["test_acc_val_threshold"]
    lines.append(f"- **Final model:** test AUC {auc['mean']:.4f} ± {auc['sd']:.4f}, 95% CI [{auc.ci_low:.4f}, "
                 f"{auc.ci_high:.4f}]; ACC at the val-picked threshold {acc['mean']:.4f} ± {acc['sd']:.4f} "
                 f"[{acc.ci_low:.4f}, {acc.ci_high:.4f}].")
    met = bool(auc.goal_met) and bool(acc.goal_met)
    lines.append("- **The goal is met.**" if met else
                 f"- **The goal is not met:** test AUC {auc.goal} is {_against_ci(auc.goal, auc.ci_low, auc.ci_high)}, "
                 f"ACC {acc.goal} is {_against_ci(acc.goal, acc.ci_low, acc.ci_high)}.")
    for name, px, pub_auc, pub_acc, _ in published:
        lines.append(f"  - {name} ({px} px, from the paper): AUC {pub_auc} is {_against_ci(pub_auc, auc.ci_low, auc.ci_high)}.")
    runs = result.runs
    lines.append(f"- Across every run of the search, val AUC spans {runs.val_auc.min():.4f}-{runs.val_auc.max():.4f} and "
                 f"test AUC {runs.test_auc.min():.4f}-{runs.test_auc.max():.4f}: val comes from the training cohort, "
                 "test does not, so val separates the best recipes only weakly.")
    dist = result.distilled
    lines.append(f"- **Distilled student** (one small CNN, TTA): test AUC {mean_sd(dist.test_auc)} against "
                 f"{mean_sd(result.ensembles.test_auc if result.use_ensemble else result.singles.test_auc)} for the "
                 f"final models; ACC at its val-picked threshold {mean_sd(dist.test_acc_val_threshold)}.")
    return lines


def ablation_findings(runs: pd.DataFrame, grid: pd.DataFrame, folds: pd.DataFrame,
                      full_arm: str = "full recipe") -> list[str]:
    """Notebook 05: the ablation arms against the full recipe (beyond the seed sd or not), the
    threshold rule, the grid's choice and cross-validation, as Markdown bullets."""
    ran = runs[runs.status == "ran"]
    full = ran[ran.arm == full_arm]
    groups: dict[str, list[str]] = {"worse": [], "level": [], "better": []}
    lines = []
    for arm, group in ran.groupby("arm", sort=False):
        if arm == full_arm:
            continue
        gap = group.test_auc.mean() - full.test_auc.mean()
        spread = max(group.test_auc.std(ddof=1), full.test_auc.std(ddof=1))
        kind = "worse" if gap < -spread else "better" if gap > spread else "level"
        groups[kind].append(f"{arm} ({gap:+.4f})")
        val_gap = group.val_auc.mean() - full.val_auc.mean()
        if kind == "worse" and val_gap > 0:
            lines.append(f"- {arm} *raises* val AUC ({val_gap:+.4f}) while it lowers test AUC ({gap:+.4f}): the "
                         "model fits the training cohort better and transfers worse to the test cohort.")
    summary = [f"- **Beyond the seed sd, removing a component lowers test AUC:** {', '.join(groups['worse']) or 'none'}.",
               f"- **About level (within the seed sd):** {', '.join(groups['level']) or 'none'}."]
    if groups["better"]:
        summary.append(f"- **Removing these raises test AUC beyond the seed sd:** {', '.join(groups['better'])}.")
    lines = summary + lines
    tuned, plain = full.tuned_test_balanced_accuracy, full.test_balanced_accuracy
    gap, spread = tuned.mean() - plain.mean(), max(tuned.std(ddof=1), plain.std(ddof=1))
    verdict = ("about level, within the seed sd" if abs(gap) <= spread
               else "0.5 is ahead beyond the seed sd" if gap < 0 else "the val-picked threshold is ahead beyond the seed sd")
    lines.append(f"- **Threshold rule:** on test, the full recipe's balanced accuracy is {mean_sd(tuned)} at the "
                 f"val-picked Youden threshold and {mean_sd(plain)} at 0.5: {verdict}."
                 + (f" The val-picked thresholds average {full.tuned_threshold.mean():.2f}, below 0.5: val comes from "
                    "the training cohort, where the model is more confident (notebook 03 shows the shift)."
                    if full.tuned_threshold.mean() < 0.5 else ""))
    ordered = grid.sort_values("cv_auc_mean", ascending=False)
    best, second, worst = ordered.iloc[0], ordered.iloc[1], ordered.iloc[-1]
    gap = best.cv_auc_mean - second.cv_auc_mean
    lines.append(f"- **Grid search:** the best cell, {', '.join(f'{k} {v:g}' for k, v in zip(grid.index.names, ordered.index[0]))}, "
                 f"reaches CV AUC {best.cv_auc_mean:.4f} ± {best.cv_auc_sd:.4f}; the runner-up is {gap:.4f} behind, "
                 + ("less than one fold sd, so the choice among the top cells is weak" if gap < best.cv_auc_sd
                    else "more than one fold sd")
                 + f". The worst cell, {', '.join(f'{k} {v:g}' for k, v in zip(grid.index.names, ordered.index[-1]))}, "
                 f"reaches {worst.cv_auc_mean:.4f}.")
    fold_auc, test_auc = folds.loc["mean", "held-out fold AUC"], folds.loc["mean", "test AUC"]
    lines.append(f"- **Cross-validation:** held-out fold AUC {fold_auc:.4f} ± {folds.loc['sd', 'held-out fold AUC']:.4f}, "
                 f"test AUC {test_auc:.4f} ± {folds.loc['sd', 'test AUC']:.4f}"
                 + (": CV on train+val measures the training cohort, not the test cohort." if fold_auc > test_auc else "."))
    return lines
