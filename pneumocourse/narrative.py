"""Sentences built from numbers: the notebooks' verdicts are rendered from their results, never typed.

A verdict says only what its numbers support. A difference whose confidence interval holds zero,
or that lies inside the seed spread, is "about level", never "beats". Each function returns
Markdown; :func:`show` displays it in a notebook (and prints it elsewhere).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from pneumolib.evaluation.noise import NOISE_SDS, PAIRED_NOISE, RULES, SEED_NOISE
from pneumolib.experiments.leaderboard import INDUCTIVE, TRANSDUCTIVE


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


def seed_gap(values_a: Sequence[float], values_b: Sequence[float]) -> tuple[float, float]:
    """The gap between two arms' means over seeds, and the larger of their seed sds (NaN when an
    arm has one seed): the rule every "ahead" or "about level" here is judged by."""
    a, b = pd.Series(values_a, dtype=float), pd.Series(values_b, dtype=float)
    return a.mean() - b.mean(), max(a.std(ddof=1), b.std(ddof=1))


def seed_verdict(name_a: str, values_a: Sequence[float], name_b: str, values_b: Sequence[float],
                 metric: str = "test AUC") -> str:
    """Two arms over seeds: "ahead" only when the gap in means exceeds both arms' seed spreads."""
    a, b = np.asarray(values_a, dtype=float), np.asarray(values_b, dtype=float)
    gap, spread = seed_gap(a, b)
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

    ``result`` is :class:`pneumocourse.search.SearchResult`, ``goal`` the
    :func:`pneumocourse.goal.goal_table`, ``published`` the leaderboard's published rows.
    """
    comp = result.components if result.components.index.name == "arm" else result.components.set_index("arm")
    base = comp.loc["base"]
    others = comp.drop(index="base")
    lines = [f"- **The rule:** {RULES[SEED_NOISE]}."]
    per_component = result.component_decisions
    kept = [f"{d.option.removeprefix('+ ')} ({d.gain:+.5f})" for d in per_component if d.kept]
    dropped = [f"{d.option.removeprefix('+ ')} ({d.gain:+.5f}, {d.verdict})" for d in per_component if not d.kept]
    noise = per_component[0].noise if per_component else NOISE_SDS * base.val_auc_sd
    lines.append(f"- **Components kept on val** (mean paired val-AUC gain over the base, seed by seed, against the "
                 f"noise of {noise:.5f}, two seed sds of the base): {', '.join(kept) if kept else 'none'}. Not kept: "
                 f"{', '.join(dropped) if dropped else 'none'}.")
    worst = others.test_auc_mean.idxmin()
    lines.append(f"- On test, the arms range from {others.test_auc_mean.min():.4f} ({worst}) to "
                 f"{others.test_auc_mean.max():.4f} ({others.test_auc_mean.idxmax()}), against {base.test_auc_mean:.4f} "
                 f"± {base.test_auc_sd:.4f} for the base.")
    chosen = comp.loc[result.chosen_arm]
    steps = [d for d in result.arm_decisions if d.kept]
    why = (f"it beats {steps[-1].simpler} by {steps[-1].describe(5)}" if steps and steps[-1].option == result.chosen_arm
           else "the simplest candidate, as no other beats it beyond the noise")
    lines.append(f"- **Chosen recipe:** {result.chosen_arm} ({why}), val AUC {chosen.val_auc_mean:.4f} ± "
                 f"{chosen.val_auc_sd:.4f}, test AUC {chosen.test_auc_mean:.4f} ± {chosen.test_auc_sd:.4f} (base "
                 f"{base.test_auc_mean:.4f} ± {base.test_auc_sd:.4f})"
                 + ("." if result.chosen_arm == "base" else
                    ": the gap on test exceeds the seed sd." if abs(chosen.test_auc_mean - base.test_auc_mean)
                    > max(chosen.test_auc_sd, base.test_auc_sd) else ": about level on test, within the seed sd."))

    tta, ens = result.tta_decision, result.ensemble_decision
    lines.append(f"- **TTA** {'kept' if result.use_tta else 'not kept'} "
                 f"({tta.describe(5) if tta else f'{result.tta_gain:+.5f} val AUC'}); the **seed ensemble** "
                 f"{'kept' if result.use_ensemble else 'not kept'} "
                 f"({ens.describe(5) if ens else f'{result.ensemble_gain:+.5f} val AUC'}). Each had to beat the simpler "
                 "option (the same runs without TTA; the single runs it averages) beyond the seed noise.")
    singles = result.singles
    final = result.ensembles if result.use_ensemble else singles
    if result.use_ensemble:
        lines.append(f"- The final model against the {len(singles)} single runs it averages (the chosen row above "
                     "covers seeds 0-2 only): " + seed_verdict("the ensembles", final.test_auc, "the single runs",
                                                               singles.test_auc))
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


def method_choice_findings(chosen: str, decisions: Sequence, metric: str = "acc") -> str:
    """Notebook 07: the adaptation method chosen on val's simulated shifts, with the rule and, per
    candidate, its mean paired gain over the choice current when it was visited and the noise (the
    two sds of the paired per-shift differences), as one Markdown bullet. ``decisions``: the second item
    of :func:`pneumolib.shift.select.method_choice`."""
    rule = RULES[PAIRED_NOISE]
    numbers = "; ".join(f"{d.option} against {d.simpler}: {d.describe(4, metric)}" for d in decisions)
    verdict = ("no method beats no adaptation beyond the noise, so **none** (no adaptation) is kept"
               if chosen == "none" else f"**{chosen}** is chosen")
    return f"- **Choice on val's simulated shifts:** {verdict}. The rule: {rule}. " + (numbers + "." if numbers else "")


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


def leaderboard_findings(board: pd.DataFrame) -> str:
    """Notebook 06: where the leaderboard's top row by val AUC lands on test, and where the best
    row on test sits by val, as one Markdown bullet (``board`` is ordered by val AUC)."""
    if not {"val_auc", "test_auc"} <= set(board.columns):
        return "- The leaderboard holds none of our rows yet, so there is no ranking to read."
    inductive = board.section == INDUCTIVE if "section" in board else True
    ours = board[inductive & board.val_auc.notna() & board.test_auc.notna()].reset_index(drop=True)
    if len(ours) < 2:
        return "- The leaderboard holds fewer than two of our inductive rows, so there is no ranking to read."
    test_rank = ours.test_auc.rank(ascending=False, method="min").astype(int)
    top, best = ours.iloc[0], ours.test_auc.idxmax()
    return (f"- The top row by val AUC, *{top.result}* ({top.final_model}, {int(top.epochs)} epochs), ranks {test_rank.iloc[0]} of {len(ours)} on test (test AUC {top.test_auc:.4f}). The best row on "
            f"test, *{ours.loc[best, 'result']}* ({ours.loc[best, 'final_model']}, test AUC "
            f"{ours.loc[best, 'test_auc']:.4f}), ranks {best + 1} of {len(ours)} by val. Rows are ordered by val because "
            "that is what selection may read." + _transductive_note(board))


def _transductive_note(board: pd.DataFrame) -> str:
    if "section" not in board:
        return ""
    n = int((board.section == TRANSDUCTIVE).sum())
    return (f" The {n} transductive row{'s' if n != 1 else ''} (notebook 07, which read{'' if n != 1 else 's'} the test "
            "cohort's unlabeled images) sit in a section of their own and are left out of this ranking." if n else "")


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
        gap, spread = seed_gap(group.test_auc, full.test_auc)
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
    gap, spread = seed_gap(tuned, plain)
    verdict = ("about level, within the seed sd" if abs(gap) <= spread
               else "0.5 is ahead beyond the seed sd" if gap < 0 else "the val-picked threshold is ahead beyond the seed sd")
    lines.append(f"- **Threshold rule:** on test, the full recipe's balanced accuracy is {mean_sd(tuned)} at the "
                 f"val-picked Youden threshold and {mean_sd(plain)} at 0.5: {verdict}." + _threshold_shift(ran, full))
    ordered = grid.sort_values("cv_auc_mean", ascending=False)
    best, second, worst = ordered.iloc[0], ordered.iloc[1], ordered.iloc[-1]
    gap = best.cv_auc_mean - second.cv_auc_mean
    lines.append(f"- **Grid search:** the best cell, {', '.join(f'{k} {v:g}' for k, v in zip(grid.index.names, ordered.index[0]))}, "
                 f"reaches CV AUC {best.cv_auc_mean:.4f} ± {best.cv_auc_sd:.4f}; the runner-up is {gap:.4f} behind, "
                 + (f"within the larger fold sd of the two ({max(best.cv_auc_sd, second.cv_auc_sd):.4f}), so the "
                    "choice among the top cells is weak" if gap <= max(best.cv_auc_sd, second.cv_auc_sd)
                    else "more than either cell's fold sd")
                 + f". The worst cell, {', '.join(f'{k} {v:g}' for k, v in zip(grid.index.names, ordered.index[-1]))}, "
                 f"reaches {worst.cv_auc_mean:.4f}.")
    fold_auc, test_auc = folds.loc["mean", "held-out fold AUC"], folds.loc["mean", "test AUC"]
    lines.append(f"- **Cross-validation:** held-out fold AUC {fold_auc:.4f} ± {folds.loc['sd', 'held-out fold AUC']:.4f}, "
                 f"test AUC {test_auc:.4f} ± {folds.loc['sd', 'test AUC']:.4f}"
                 + (": CV on train+val measures the training cohort, not the test cohort." if fold_auc > test_auc else "."))
    return lines


# --- notebook 04: Grad-CAM -------------------------------------------------------------------

CAM_METHOD_TEXT = {
    "gradcam": "Grad-CAM weights each channel of the layer by the mean gradient of the target over the map, "
               "sums the weighted channels and keeps the positive part.",
    "gradcam++": "Grad-CAM++ (Chattopadhay et al., 2018) weights each channel by the sum of its *positive* "
                 "gradients only, each scaled by a factor built from second- and third-order gradient terms: it "
                 "still depends on the target class, but negative gradients do not count, so its channel weights "
                 "are almost never negative.",
    "eigencam": "EigenCAM takes the first principal component of the layer's activations and uses no gradients "
                "at all, so its map does not depend on the target class.",
}


def cam_method_description(method: str) -> str:
    """Notebook 04: one sentence on how a pytorch-grad-cam method builds its map."""
    if method not in CAM_METHOD_TEXT:
        raise ValueError(f"No description for CAM method {method!r}; known: {list(CAM_METHOD_TEXT)}.")
    return CAM_METHOD_TEXT[method]


CAM_METHOD_NAMES = {"gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "eigencam": "EigenCAM"}


def method_agreement_findings(rho: Mapping[str, np.ndarray], method: str, strong: float = 0.8,
                              weak: float = 0.3) -> list[str]:
    """Notebook 04: how closely Grad-CAM and ``method`` rank the same cells, per model, from the
    per-image Spearman ρ (NaN where a map is empty), as Markdown bullets."""
    other = CAM_METHOD_NAMES.get(method, method)
    lines = []
    for model, values in rho.items():
        values = np.asarray(values, dtype=float)
        kept = values[~np.isnan(values)]
        if not len(kept):
            lines.append(f"- {model}: every image has an empty map under one of the methods, so they cannot be compared.")
            continue
        median = float(np.median(kept))
        verdict = ("nearly the same maps" if median >= strong else "different maps" if median < weak
                   else "partly similar maps")
        lines.append(f"- {model}: Grad-CAM and {other} give **{verdict}** (median Spearman ρ {median:+.2f} over "
                     f"{len(kept)} of {len(values)} images, range {kept.min():+.2f} to {kept.max():+.2f}).")
    return lines


def _pct(value: float) -> str:
    return "n/a" if pd.isna(value) else f"{value:.0%}"


def empty_map_findings(empty: pd.DataFrame, contribution: pd.DataFrame) -> list[str]:
    """Notebook 04: how often the maps are empty, explaining pneumonia or the predicted class, and
    why (the layer's first-order term against the logit), as Markdown bullets.

    ``empty``: :func:`pneumolib.explain.empty_map_table` per model, index (model, predicted);
    ``contribution``: per model (index) the columns layer, images, mean logit, mean layer term,
    share layer term < 0, over the images the model calls pneumonia.
    """
    lines = []
    for model in empty.index.get_level_values(0).unique():
        table, c = empty.loc[model], contribution.loc[model]
        normal, pneumonia = table.loc["normal"], table.loc["pneumonia"]
        line = (f"- **{model}** ({c['layer']}): explaining the pneumonia logit, {_pct(normal['empty, explaining pneumonia'])} "
                f"of the maps of the {int(normal.images)} test images it calls normal are empty, and "
                f"{_pct(pneumonia['empty, explaining pneumonia'])} of the {int(pneumonia.images)} it calls pneumonia. "
                f"Explaining the predicted class: {_pct(normal['empty, explaining the prediction'])} and "
                f"{_pct(pneumonia['empty, explaining the prediction'])}.")
        if c["share layer term < 0"] > 0.5:
            line += (f" On the images it calls pneumonia, the layer's first-order term (gradient × activation, "
                     f"summed) is negative for {_pct(c['share layer term < 0'])} of them (mean {c['mean layer term']:+.2f} "
                     f"against a mean logit of {c['mean logit']:+.2f}): the activations at this layer, taken together, "
                     "argue *against* pneumonia, and the positive logit comes from the biases after the layer; "
                     f"{_pct(pneumonia['empty, explaining the prediction'])} of their Grad-CAM maps for pneumonia "
                     "are empty.")
        else:
            line += (f" The layer's first-order term is negative for only {_pct(c['share layer term < 0'])} of the images "
                     f"it calls pneumonia (mean {c['mean layer term']:+.2f}, mean logit {c['mean logit']:+.2f}).")
        lines.append(line)
    return lines


def location_findings(shares: pd.DataFrame, area: pd.Series, margin: float = 0.02) -> list[str]:
    """Notebook 04: where the map mass lies per model and outcome (fixed boxes, not anatomy), as
    Markdown lines. ``shares``: index (model, outcome), one column per region (mean share of the
    mass over the non-empty maps), ``maps`` (how many) and ``pairwise r``
    (:func:`pneumolib.explain.map_consistency`); ``area``: each region's area share. A share
    within ``margin`` of the area share is "about" what a flat map puts there. Whether the maps
    differ from image to image is sanity check 3 (:func:`dependence_findings`)."""
    regions = list(area.index)
    lines = [f"Share of the map mass in the {' / '.join(regions)} boxes (a flat map: "
             f"{' / '.join(f'{area[r]:.0%}' for r in regions)}):"]
    for model in shares.index.get_level_values(0).unique():
        table = shares.loc[model]
        parts = [f"{outcome} ({int(row.maps)} maps) " + " / ".join(f"{row[r]:.0%}" for r in regions) if row.maps
                 else f"{outcome}: no non-empty map" for outcome, row in table.iterrows()]
        line = f"- **{model}**: " + "; ".join(parts) + "."
        if "true positive" in table.index and table.loc["true positive", "maps"]:
            tp = table.loc["true positive"]
            lung, flat = tp["lung fields"], area["lung fields"]
            versus = "about as much as" if abs(lung - flat) <= margin else "more than" if lung > flat else "less than"
            above = [f"{r} ({tp[r]:.0%} against {area[r]:.0%})" for r in regions if tp[r] > area[r] + margin]
            line += (f" On true positives the lung-field boxes hold {lung:.0%} of the mass, {versus} a flat map "
                     f"({flat:.0%})" + (": these maps do not concentrate on the lung fields" if lung < flat - margin else "")
                     + (f"; above their area share: {', '.join(above)}." if above else "."))
        lines.append(line)
    return lines


def fill_findings(check: pd.DataFrame, chosen: str) -> str:
    """Notebook 04: what each deletion fill does alone and whether the chosen one is neutral.
    ``check``: :func:`pneumolib.explain.fill_check` per model, index (model, fill)."""
    models = check.index.get_level_values(0).unique()
    others = [f for f in check.index.get_level_values(1).unique() if f != chosen]
    raising = [f for f in others if all(check.loc[(m, f), "mean probability, fully filled"]
                                         > check.loc[(m, f), "mean probability, original"] for m in models)]
    numbers = "; ".join(f"{m}: original {check.loc[(m, chosen), 'mean probability, original']:.2f}, " +
                        ", ".join(f"{f} {check.loc[(m, f), 'mean probability, fully filled']:.2f}" for f in check.loc[m].index)
                        for m in models)
    text = f"Mean pneumonia probability of the test images, original and with every pixel replaced ({numbers}). "
    if raising:
        names = ", ".join(f"the {f}" for f in raising[:-1]) + (" and " if len(raising) > 1 else "") + f"the {raising[-1]}"
        text += (f"{names[0].upper() + names[1:]} raise{'s' if len(raising) == 1 else ''} the probability for both "
                 "models: a featureless or smoothed patch reads as an opacity, so deleting with "
                 f"{'it' if len(raising) == 1 else 'them'} adds pneumonia evidence. ")
    neutral = all(check.loc[(m, chosen), "mean probability, fully filled"] <= check.loc[(m, chosen), "mean probability, original"]
                  for m in models)
    text += (f"**The {chosen} fill does not push towards pneumonia** for either model, so it is the one used below." if neutral
             else f"**The {chosen} fill also raises the probability** for at least one model: read the deletion curves "
                  "with that in mind.")
    return text


def _deletion_verdict(row: pd.Series) -> tuple[str, str]:
    numbers = (f"gap {row.gap:+.3f}, 95% CI [{row['gap low']:+.3f}, {row['gap high']:+.3f}] over {int(row.images)} "
               "images")
    if row["gap low"] > 0:
        return "Grad-CAM order removes the pneumonia evidence faster than random order", numbers + ": above zero"
    if row["gap high"] < 0:
        return "random order removes the pneumonia evidence faster than Grad-CAM order", numbers + ": below zero"
    return "Grad-CAM order and random order are about level", numbers + ": the interval holds zero"


def deletion_findings(table: pd.DataFrame) -> list[str]:
    """Notebook 04: the deletion gap (random - Grad-CAM area) per model, judged by its CI, as
    Markdown bullets. ``table`` (index model): images, empty maps, area Grad-CAM, area random,
    orders, gap, gap low, gap high (:func:`pneumolib.explain.deletion_summary`)."""
    lines = []
    for model, row in table.iterrows():
        verdict, numbers = _deletion_verdict(row)
        line = (f"- {model}: **{verdict}** (area {row['area Grad-CAM']:.3f} in Grad-CAM order, {row['area random']:.3f} "
                f"in random order, mean of {int(row['orders'])} orders; {numbers}).")
        if row["empty maps"]:
            line += (f" {int(row['empty maps'])} of the {int(row.images)} maps are empty; their pixels go in a random "
                     "order, which pulls the gap towards zero.")
        lines.append(line)
    return lines


def _road_verdict(row: pd.Series) -> tuple[str, str]:
    numbers = (f"mean ROAD score {row['mean ROAD']:+.4f}, 95% CI [{row.low:+.4f}, {row.high:+.4f}] over "
               f"{int(row.ranked)} of {int(row.images)} images")
    if row.low > 0:
        return "passes", f"{numbers}: removing the pixels the map ranks first lowers the pneumonia logit more"
    if row.high < 0:
        return "fails", f"{numbers}: removing the pixels the map ranks *last* lowers the pneumonia logit more"
    return "about level", f"{numbers}: the interval holds zero"


def road_findings(table: pd.DataFrame) -> list[str]:
    """Notebook 04: ROAD per model (:func:`pneumolib.explain.road_summary`, index model), judged by
    the CI of the mean score: "passes" above zero, "fails" below, "about level" otherwise."""
    lines = []
    for model, row in table.iterrows():
        if not row.ranked:
            lines.append(f"- {model}: no image has a non-empty map, so ROAD says nothing.")
            continue
        verdict, numbers = _road_verdict(row)
        lines.append(f"- {model}: **{verdict}** ({numbers}).")
    return lines


def _randomisation_verdict(row: pd.Series, cutoff: float) -> tuple[str, str]:
    numbers = (f"mean Spearman ρ {row['mean rho']:+.3f}, 95% CI [{row.low:+.3f}, {row.high:+.3f}] over "
               f"{int(row.compared)} of {int(row.images)} images")
    if -cutoff < row.low and row.high < cutoff:
        weak = ("a weak inverse correlation remains (the interval lies below zero)" if row.high < 0
                else "a weak resemblance remains (the interval lies above zero)" if row.low > 0
                else "the interval holds zero")
        return ("passes", f"{numbers}: within ±{cutoff}, so the maps do not strongly resemble those of the "
                          f"re-initialised copy; {weak}")
    if row.low > cutoff:
        return "fails", f"{numbers}: above {cutoff}, the maps resemble those of the re-initialised copy"
    if row.high < -cutoff:
        return "fails", f"{numbers}: below -{cutoff}, the maps mirror those of the re-initialised copy"
    return "inconclusive", f"{numbers}: the interval reaches beyond ±{cutoff}"


def randomisation_findings(table: pd.DataFrame, cutoff: float = 0.5) -> list[str]:
    """Notebook 04: the model-randomisation test per model, judged by the CI of the mean Spearman
    rho: "passes" only when it lies within ±``cutoff`` (a strongly negative rho, a mirrored map,
    depends on the random weights too). Markdown bullets. ``table`` (index model): images,
    compared (images where neither map is empty), mean rho, low, high
    (:func:`pneumolib.explain.randomisation_summary`)."""
    lines = []
    for model, row in table.iterrows():
        if not row.compared:
            lines.append(f"- {model}: no image has a non-empty map from both the trained and the re-initialised "
                         "model, so the test says nothing.")
            continue
        verdict, numbers = _randomisation_verdict(row, cutoff)
        line = f"- {model}: **{verdict}** ({numbers})."
        if row.compared < row.images:
            line += (f" Only {int(row.compared)} of {int(row.images)} images count: on the others one of the two maps "
                     "is empty, has no ranking, and is left out, so the test covers only those images.")
        lines.append(line)
    return lines


def _dependence_verdict(row: pd.Series, cutoff: float) -> tuple[str, str]:
    numbers = f"mean pairwise r {row['pairwise r']:+.2f}, 95% CI [{row.low:+.2f}, {row.high:+.2f}] over {int(row.maps)} maps"
    if row.low > cutoff:
        return "fails", f"{numbers}: above {cutoff}"
    if row.high < cutoff:
        return "passes", f"{numbers}: below {cutoff}"
    return "inconclusive", f"{numbers}: the interval reaches {cutoff}"


def dependence_findings(table: pd.DataFrame, cutoff: float = 0.5) -> list[str]:
    """Notebook 04, sanity check 3: do the maps depend on the image? Per model and predicted class,
    the mean correlation between the maps of different images (:func:`pneumolib.explain.dependence_table`,
    index (model, predicted)) "fails" when its CI lies above ``cutoff``, "passes" when it lies below,
    and is "inconclusive" otherwise. Markdown bullets."""
    lines = []
    for (model, called), row in table.iterrows():
        if not row.maps or not np.isfinite(row["pairwise r"]):
            lines.append(f"- {model}, images called {called}: fewer than three non-empty maps, no verdict.")
            continue
        verdict, numbers = _dependence_verdict(row, cutoff)
        meaning = {
            "fails": ("these maps are largely **one pattern for every image**, what the layer favours for the class in "
                      "general: a map in the figures above says little about that image, and a hotspot that recurs "
                      "across images is the pattern, not a finding in each of them."),
            "passes": "the maps change from image to image, as a map of one image's evidence should.",
            "inconclusive": "the data cannot tell whether the maps are one pattern or image-specific.",
        }[verdict]
        lines.append(f"- {model}, images called {called}: **{verdict}** ({numbers}): {meaning}")
    return lines


def gradcam_summary(empty: pd.DataFrame, deletion: pd.DataFrame, randomisation: pd.DataFrame,
                    cutoff: float = 0.5, dependence: pd.DataFrame | None = None,
                    road: pd.DataFrame | None = None) -> list[str]:
    """Notebook 04: one Markdown bullet per model with its empty maps, deletion verdict,
    ROAD verdict, randomisation verdict and image-dependence verdicts (ROAD and image dependence when given; the
    tables of :func:`empty_map_findings`, :func:`deletion_findings`, :func:`road_findings`,
    :func:`randomisation_findings` and :func:`dependence_findings`)."""
    lines = []
    for model in deletion.index:
        table = empty.loc[model, "empty, explaining the prediction"]
        deleted, _ = _deletion_verdict(deletion.loc[model])
        d = deletion.loc[model]
        r = randomisation.loc[model]
        randomised = (_randomisation_verdict(r, cutoff)[0] if r.compared else "says nothing (no comparable maps)")
        lines.append(f"- **{model}**: empty maps (explaining the prediction) for {_pct(table.get('normal', np.nan))} of the "
                     f"images it calls normal and {_pct(table.get('pneumonia', np.nan))} of those it calls pneumonia. "
                     f"Deletion: {deleted} (gap {d.gap:+.3f}, 95% CI [{d['gap low']:+.3f}, "
                     f"{d['gap high']:+.3f}])."
                     + ("" if road is None or not road.loc[model, "ranked"] else
                        f" ROAD: {_road_verdict(road.loc[model])[0]} (score {road.loc[model, 'mean ROAD']:+.4f}, 95% CI "
                        f"[{road.loc[model, 'low']:+.4f}, {road.loc[model, 'high']:+.4f}]).")
                     + f" Model randomisation: {randomised} (ρ {r['mean rho']:+.3f} on "
                     f"{int(r.compared)} of {int(r.images)} images)."
                     + ("" if dependence is None else " Image dependence: " + "; ".join(
                         f"{_dependence_verdict(row, cutoff)[0] if np.isfinite(row['pairwise r']) else 'no verdict'} "
                         f"for the images called {called} (r {row['pairwise r']:+.2f})"
                         for called, row in dependence.loc[model].iterrows()) + "."))
    return lines
