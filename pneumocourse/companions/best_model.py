"""Notebook 06 (the best honest model): its setup and its findings. The search is
:mod:`pneumocourse.search`; its decisions, final models and the best recipe reproduced from them
(``python -m pneumocourse best``) are :mod:`pneumocourse.final_model`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from typing import NamedTuple

import pandas as pd

from pneumolib.config import TrainConfig
from pneumolib.errors import ConfigError
from pneumolib.experiments.runs import DataSpec
from .. import narrative, nbtools, search
from ..narrative import mean_sd, seed_verdict
from pneumolib.evaluation.noise import NOISE_SDS, RULES, SEED_NOISE
from pneumolib.experiments.leaderboard import INDUCTIVE, TRANSDUCTIVE

NOTEBOOK = "06_best_model"  # the notebook this companion serves (its parameters cell holds the defaults)


class Setup(NamedTuple):
    session: nbtools.NotebookSession
    groups: list[list[int]]  # seed groups, one ensemble each
    base: TrainConfig  # the search's base recipe at 06's epochs
    ssl_epochs: int
    workers: int
    threads: int  # per worker
    spec: DataSpec


def setup(*, smoke: bool, seed: int, seed_groups: list[list[int]], epochs: int, ssl_epochs: int,
          distill_weight: float, device: str, data_dir: str, image_size: int, workers: int, progress: bool) -> Setup:
    """Check 06's parameters, start the session, set the base recipe, share the CPU cores among
    ``workers`` processes (0: one per core) and print the profile line. The goal is set at 28 px,
    so ``image_size`` must be 28. The smoke profile keeps one seed of two groups, two epochs and a
    small subset."""
    session = nbtools.start(smoke=smoke, seed=seed, device=device, data_dir=data_dir, image_size=image_size,
                            progress=progress, notebook=NOTEBOOK, parameters=locals())
    nbtools.check_choice("image_size", image_size, [28], "the goal is set at 28 px input data")
    groups = nbtools.check_seed_groups(seed_groups)
    nbtools.check_min_int("epochs", epochs, 1)
    nbtools.check_min_int("ssl_epochs", ssl_epochs, 1)
    nbtools.check_min_int("workers", workers, 0)
    nbtools.check_type("distill_weight", distill_weight, (int, float))
    if not 0 < distill_weight <= 1:
        raise ConfigError(f"parameter distill_weight must be in (0, 1], got {distill_weight}.")
    base = replace(search.BASE_RECIPE, epochs=epochs, device=str(session.device))
    workers = workers or os.cpu_count() or 1
    threads = max(1, (os.cpu_count() or 1) // workers)
    spec = DataSpec(str(session.data_dir), 28)
    if session.smoke:  # same code path, seconds of work: one seed per group, two epochs, a small subset
        groups, base, ssl_epochs = [g[:1] for g in groups[:2]], replace(base, epochs=2), 1
        spec = DataSpec(str(session.data_dir), 28, subset=(384, 160), subset_seed=seed)
    print(f"profile: {session.profile}; base recipe small_cnn, {base.epochs} epochs; seed groups {groups}; "
          f"{workers} workers x {threads} threads")
    return Setup(session, groups, base, ssl_epochs, workers, threads, spec)


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
                 f"{others.test_auc_mean.max():.4f} ({others.test_auc_mean.idxmax()}), against "
                 f"{narrative.with_spread(base.test_auc_mean, base.test_auc_sd)} for the base.")
    chosen = comp.loc[result.chosen_arm]
    steps = [d for d in result.arm_decisions if d.kept]
    why = (f"it beats {steps[-1].simpler} by {steps[-1].describe()}" if steps and steps[-1].option == result.chosen_arm
           else "the simplest candidate, as no other beats it beyond the noise")
    lines.append(f"- **Chosen recipe:** {result.chosen_arm} ({why}), val AUC "
                 f"{narrative.with_spread(chosen.val_auc_mean, chosen.val_auc_sd)}, test AUC "
                 f"{narrative.with_spread(chosen.test_auc_mean, chosen.test_auc_sd)} (base "
                 f"{narrative.with_spread(base.test_auc_mean, base.test_auc_sd)})"
                 + ("." if result.chosen_arm == "base" else
                    ": the gap on test exceeds the seed sd." if abs(chosen.test_auc_mean - base.test_auc_mean)
                    > max(chosen.test_auc_sd, base.test_auc_sd) else ": about level on test, within the seed sd."))

    tta, ens = result.tta_decision, result.ensemble_decision
    lines.append(f"- **TTA** {'kept' if result.use_tta else 'not kept'} "
                 f"({tta.describe() if tta else f'{result.tta_gain:+.5f} val AUC'}); the **seed ensemble** "
                 f"{'kept' if result.use_ensemble else 'not kept'} "
                 f"({ens.describe() if ens else f'{result.ensemble_gain:+.5f} val AUC'}). Each had to beat the simpler "
                 "option (the same runs without TTA; the single runs it averages) beyond the seed noise.")
    singles = result.singles
    final = result.ensembles if result.use_ensemble else singles
    if result.use_ensemble:
        lines.append(f"- The final model against the {len(singles)} single runs it averages (the chosen row above "
                     "covers seeds 0-2 only): " + seed_verdict("the ensembles", final.test_auc, "the single runs",
                                                               singles.test_auc))
    auc, acc = goal.loc["test_auc"], goal.loc["test_acc_val_threshold"]
    lines.append(f"- **Final model:** test AUC {narrative.with_spread(auc['mean'], auc['sd'])}, 95% CI "
                 f"{narrative.interval(auc.ci_low, auc.ci_high, auc['sd'])}; ACC at the val-picked threshold "
                 f"{narrative.with_spread(acc['mean'], acc['sd'])} {narrative.interval(acc.ci_low, acc.ci_high, acc['sd'])}.")
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
    lines.append(f"- **Distilled student** (one small CNN{', TTA' if result.use_tta else ''}): test AUC "
                 f"{mean_sd(dist.test_auc)} against {mean_sd(result.final_table.test_auc)} for the {len(result.final)} "
                 f"final models; ACC at its val-picked threshold {mean_sd(dist.test_acc_val_threshold)}.")
    return lines


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


