"""Notebook 06 (the best honest model): its setup, its findings, and the best recipe reproduced
from the decisions that 06 saved (``results/metrics/06_decisions.json``): its member runs, TTA and
ensemble as decided, the threshold picked on val, and the ensemble distilled into one ordinary
checkpoint (``python -m pneumocourse best``). The search itself is :mod:`pneumocourse.search`."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, NamedTuple

import pandas as pd

from pneumolib.config import TrainConfig
from pneumolib.errors import ConfigError
from pneumolib.evaluation.precision import rounded_record
from pneumolib.paths import active_profile, display_path, reference_counterpart, reference_dir, results_dir, results_path
from pneumolib.experiments.runner import run_many
from ..reference import fetch, packaged
from pneumolib.experiments.runs import DataSpec, RunRecord, RunSpec, ensemble_record
from .. import narrative, nbtools, search
from ..narrative import mean_sd, seed_verdict
from ..search import SearchResult, arm_slug, pretrain_small_cnn, require_all_ran
from pneumolib.experiments.store import RunStore
from pneumolib.evaluation.noise import NOISE_SDS, RULES, SEED_NOISE
from pneumolib.experiments.leaderboard import INDUCTIVE, TRANSDUCTIVE

NOTEBOOK = "06_best_model"  # the notebook this companion serves (its parameters cell holds the defaults)
DECISIONS_FILE = "06_decisions.json"  # in results/metrics/
DISTILL_WEIGHT = 0.5  # 06's default: how far the student's targets move towards the ensemble
STUDENT_FILE = "student.pt"


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


def decisions_path() -> Path:
    return results_path("metrics", DECISIONS_FILE)


def save_decisions(result: SearchResult) -> Path:
    """Write the search's decisions to ``results/metrics/06_decisions.json`` (sorted keys). The
    decisions were taken on full-precision values; the record of their evidence (gains and noise)
    carries the digits of a metric (:func:`~pneumolib.evaluation.precision.rounded_record`)."""
    decisions = result.decisions()
    decisions["evidence"] = rounded_record(decisions["evidence"])
    path = decisions_path()
    path.write_text(json.dumps(decisions, indent=1, sort_keys=True) + "\n")
    return path


def default_decisions(log=print) -> Path:
    """Where 06's decisions are read from: this profile's file; when it is missing, the reference
    results' (the committed ones, read as they are by a render or a run with other parameters, or
    fetched where fetching is on, :mod:`~pneumocourse.reference`); in the smoke profile, the
    reference's smoke decisions (a grader's store seeded from a smoke run), else the default
    profile's decisions serve (a recipe, which smoke only trains for fewer steps), and the
    notebook says so."""
    path = decisions_path()
    if path.is_file():
        return path
    counterpart = reference_counterpart(path)  # the reference's, of this profile (a grader's seeded store too)
    if counterpart is not None:
        return counterpart
    relative = f"metrics/{DECISIONS_FILE}"
    reference = reference_dir("default")
    if active_profile() == "default":
        if fetch(relative, log) is not None:
            return path
        return _packaged_decisions(log) or path
    default = results_dir("default") / "metrics" / DECISIONS_FILE
    if not default.is_file() and reference is not None and (reference / relative).is_file():
        default = reference / relative
    if default.is_file() or fetch(relative, log, any_profile=True) is not None:
        log(f"no decisions of the {active_profile()} profile at {display_path(path)}: using the default "
            f"profile's, {display_path(default)}")
        return default
    return _packaged_decisions(log) or path


def _packaged_decisions(log) -> Path | None:
    """The reference decisions that ship with the package, when neither this folder nor a fetch has them."""
    shipped = packaged(f"metrics/{DECISIONS_FILE}")
    if shipped is not None:
        log(f"no decisions at {display_path(decisions_path())} and none fetched: using the reference decisions "
            "that ship with the package (06's default-profile run, SHA-256 checked)")
    return shipped


def load_decisions(path: str | Path | None = None) -> dict[str, Any]:
    """The decisions 06 saved; a clear error when there are none or they are not readable."""
    path = Path(path) if path else default_decisions()
    try:
        decisions = json.loads(path.read_text())
        TrainConfig.from_dict(decisions["chosen_config"])
        decisions["chosen_arm"], decisions["tta"], decisions["ensemble"], decisions["ensemble_groups"]
    except FileNotFoundError:
        raise ConfigError(f"No saved decisions at {display_path(path)}; run notebooks/06_best_model.ipynb "
                          "(default profile) first, or pass the file.") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{display_path(path)} is not a decisions file saved by notebook 06 ({exc}).") from None
    return decisions


def recipe_name(decisions: dict[str, Any]) -> str:
    """How the final model appears on the leaderboard."""
    what = f"ensemble of {len(decisions['ensemble_groups'][0])} x" if decisions["ensemble"] else "single"
    return f"best recipe (06): {what} small_cnn '{decisions['chosen_arm']}'" + (" + TTA" if decisions["tta"] else "")


def save_final_records(result: SearchResult, store: RunStore, y_val, y_test) -> list[RunRecord]:
    """One record per final model (an ensemble of stored runs, or a single run) in the store, where
    the leaderboard reads it like any run."""
    name = recipe_name(result.decisions())
    records = [ensemble_record(model.name, list(runs.values()), result.use_tta, y_val, y_test, name)
               for model, runs in zip(result.final, result.final_runs)]
    for record in records:
        store.save_record(record)
    return records


@dataclass
class BestModel:
    """What :func:`train_best` made: the final model's record, the runs, and the student checkpoint."""

    record: RunRecord
    runs: pd.DataFrame
    student: RunRecord | None
    student_path: Path | None


def train_best(
    data_spec: DataSpec, decisions: dict[str, Any], store: RunStore | None = None, device: str = "auto",
    distill: bool = True, out: str | Path | None = None, log: Callable[[str], None] | None = print,
    **runner_options: Any,
) -> BestModel:
    """Reproduce the final model of the search from its ``decisions``: train (or reuse) its members
    (seeds of the first ensemble group), apply TTA and the ensemble as decided, pick the threshold
    on val, and store the final record. With ``distill``, also train the distilled student and copy
    its checkpoint (with its val-picked threshold) to ``out/student.pt`` for the detector,
    ``predict`` and ONNX export."""
    store = store or RunStore()
    data = data_spec.load()
    config = replace(TrainConfig.from_dict(decisions["chosen_config"]), device=device)
    if config.pretrained and config.pretrained.startswith("ssl:"):
        source, how = pretrain_small_cnn(data, progress=False)
        (log or (lambda m: None))(f"SSL initialisation: {how}")
        config = replace(config, pretrained=source)
    seeds = [int(s.removeprefix("seed")) for s in decisions["ensemble_groups"][0]] if decisions["ensemble"] else [0]
    specs = [RunSpec(replace(config, seed=s), key=f"members/{arm_slug(decisions['chosen_arm'])}/seed{s}") for s in seeds]
    # the members teach the distilled student, which needs their models, not only their records
    members = require_all_ran(run_many(specs, data_spec, store, need_models=distill, log=log, **runner_options))
    runs = [members[s.key] for s in specs]
    record = ensemble_record("final", runs, decisions["tta"], data.val.labels, data.test.labels, recipe_name(decisions))
    store.save_record(record)
    table, student, student_path = members.table, None, None
    if distill:
        spec = RunSpec(replace(config, distill_weight=DISTILL_WEIGHT, seed=seeds[0]),
                       key=f"distilled/{arm_slug(decisions['chosen_arm'])}/seed{seeds[0]}", labels={"arm": "distilled"},
                       teacher=tuple(r.run_id for r in runs))
        students = require_all_ran(run_many([spec], data_spec, store, need_models=True, log=log, **runner_options))
        student = students[spec.key]
        if out is not None:
            student_path = Path(out) / STUDENT_FILE
            student_path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(store.model_path(student.run_id), student_path)
        else:
            student_path = store.model_path(student.run_id)
        table = pd.concat([table, students.table], ignore_index=True)
    return BestModel(record, table, student, student_path)


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


