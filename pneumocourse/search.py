"""The search for the best honest recipe at 28 px, and the recipe it found.

Every decision uses val alone, in a fixed order, and every one applies the same rule
(:mod:`pneumolib.evaluation.noise`): a change is kept only when its **paired** val-AUC gain over
the simpler option (mean over the same seeds, seed by seed) is larger than two seed sds of the
simpler option's val AUC, the noise a re-run with other seeds or on another machine brings. Within the noise (or with a
single seed, where the noise cannot be estimated) the simpler option stays.

1. **Training components**: the base recipe, and the base plus each component alone. A
   component is *kept* when its arm beats the base beyond the noise.
2. **Combination**: the base plus every kept component (when two or more were kept). The
   training recipe is chosen among base, single additions (in the fixed order of
   :data:`TRAINING_COMPONENTS`) and combination, simplest first: a candidate replaces the current
   choice only when it beats it beyond the noise, so the base stays unless something is better.
3. **Test-time augmentation** is kept when the chosen recipe's runs with TTA beat the same runs
   without it beyond the noise (same runs, so the pairs are exact).
4. **Seed ensemble**: equal-weight mean of the members' probabilities (weights fixed in
   advance, not fitted), kept when each ensemble, paired with each of its own members, beats them
   beyond the noise (two seed sds of the single runs).
5. **Threshold**: Youden's J on the final model's val probabilities.
6. **Distillation** of the ensemble into one small CNN, reported as the cheap-inference model.

Test metrics are computed for every arm and written next to the val numbers, but no step reads
them. The decisions, with the gain and the noise behind each, are saved by
``notebooks/06_best_model.ipynb``; ``experiments.best`` reproduces the final model from that file.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from pneumolib.config import TrainConfig
from pneumolib.data import PneumoniaData
from pneumolib.evaluation.noise import RULES, SEED_NOISE, Decision, beyond_noise, choose_simplest
from pneumolib.paths import results_path
from pneumolib.training.ssl import PretrainConfig, load_or_pretrain
from pneumolib.experiments.runner import RunResults, run_many
from pneumolib.experiments.runs import DataSpec, RunRecord, RunSpec, data_fingerprint, data_provenance
from pneumolib.experiments.scoring import ScoredModel, ensemble, score_models, seed_mean_ci, single, val_auc_by_run
from pneumolib.experiments.store import RunStore

BASE_RECIPE = TrainConfig(model="small_cnn", epochs=10)  # the strongest plain recipe of 02/leaderboard
SSL_COMPONENT = "in-domain SSL init"

# name -> settings added to the base recipe (the SSL source is filled in by component_settings)
TRAINING_COMPONENTS: dict[str, dict[str, Any]] = {
    "strong augmentation": {"augment": "strong"},
    "mixup (alpha 0.2)": {"mixup_alpha": 0.2},
    "CutMix (alpha 1.0)": {"cutmix_alpha": 1.0},
    "EMA of weights (0.99)": {"ema_decay": 0.99},
    "warm-up (1 epoch)": {"warmup_epochs": 1},
    "horizontal flip": {"hflip": True},
    SSL_COMPONENT: {"pretrained": None},
}
BASE_ARM = "base"
COMBINED_ARM = "base + kept components"


def component_settings(ssl_source: str | None) -> dict[str, dict[str, Any]]:
    """:data:`TRAINING_COMPONENTS` with the SSL checkpoint filled in (left out when there is none)."""
    settings = {k: dict(v) for k, v in TRAINING_COMPONENTS.items() if k != SSL_COMPONENT}
    if ssl_source:
        settings[SSL_COMPONENT] = {"pretrained": ssl_source}
    return settings


def arm_slug(text: str) -> str:
    """An arm's part of a run key in the search and its final models (``components/<slug>/seed0``).
    The ablation study's keys (:mod:`pneumolib.experiments.studies`) spell "−" as "no" besides; the
    stored keys keep both rules, so they are not merged."""
    return "".join(ch if ch.isalnum() else "_" for ch in text).strip("_").lower()


def arm_specs(arms: dict[str, TrainConfig], seeds: list[int], prefix: str) -> list[RunSpec]:
    """One run per arm and seed (every record keeps its test-time-augmented probabilities too)."""
    return [RunSpec(replace(config, seed=seed), key=f"{prefix}/{arm_slug(arm)}/seed{seed}", labels={"arm": arm})
            for arm, config in arms.items() for seed in seeds]


def component_arms(base: TrainConfig, settings: dict[str, dict[str, Any]]) -> dict[str, TrainConfig]:
    """The base recipe and the base plus each component alone."""
    return {BASE_ARM: base, **{f"+ {name}": replace(base, **values) for name, values in settings.items()}}


def arm_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per arm: runs, mean and sd of val AUC (the selection number), then test AUC and ACC for reporting."""
    ran = table[table.status == "ran"]
    grouped = ran.groupby("arm", sort=False)
    return pd.DataFrame({
        "runs": grouped.size(),
        "val_auc_mean": grouped.val_auc.mean(),
        "val_auc_sd": grouped.val_auc.std(ddof=1),
        "test_auc_mean": grouped.test_auc.mean(),
        "test_auc_sd": grouped.test_auc.std(ddof=1),
        "test_acc_at_0.5_mean": grouped.test_acc.mean(),
    })


def seed_values(runs: pd.DataFrame, arm: str) -> pd.Series:
    """One arm's val AUC per seed (index: seed), from a run table (``arm``, ``seed``, ``val_auc``;
    runs whose ``status`` is not "ran" are left out)."""
    ran = runs[runs.status == "ran"] if "status" in runs else runs
    return ran[ran.arm == arm].set_index("seed").val_auc.astype(float).sort_index()


def _arms_in_order(runs: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(runs.arm))


def component_decisions(runs: pd.DataFrame) -> list[Decision]:
    """Each single-component arm (``+ name``) against the base, paired by seed, in the table's order."""
    base = seed_values(runs, BASE_ARM)
    return [beyond_noise(arm, seed_values(runs, arm), BASE_ARM, base, SEED_NOISE)
            for arm in _arms_in_order(runs) if arm.startswith("+ ")]


def kept_components(runs: pd.DataFrame, decisions: list[Decision] | None = None) -> list[str]:
    """Components whose arm beats the base beyond the noise (:mod:`pneumolib.evaluation.noise`),
    in the fixed order of the table (not by gain, so no within-noise reordering); ``decisions``:
    :func:`component_decisions` of ``runs`` when already at hand."""
    decisions = component_decisions(runs) if decisions is None else decisions
    return [d.option.removeprefix("+ ") for d in decisions if d.kept]


def combined_recipe(base: TrainConfig, settings: dict[str, dict[str, Any]], kept: list[str]) -> TrainConfig:
    """The base plus every kept component."""
    combined = base
    for name in kept:
        combined = replace(combined, **settings[name])
    return combined


def choose_arm(runs: pd.DataFrame) -> tuple[str, list[Decision]]:
    """The training recipe: the base, unless a candidate is better beyond the noise. Candidates are
    visited simplest first (base, single additions in the table's order, the combination last); each
    replaces the current choice only when it beats it by the rule of :mod:`pneumolib.evaluation.noise`.
    Returns the chosen arm and one decision per candidate visited."""
    arms = _arms_in_order(runs)
    singles = [a for a in arms if a.startswith("+ ")]
    candidates = [BASE_ARM] + singles + ([COMBINED_ARM] if COMBINED_ARM in arms else [])
    return choose_simplest(candidates, lambda arm: seed_values(runs, arm), SEED_NOISE)


def ensemble_decision(ensembles: pd.DataFrame, singles: pd.DataFrame) -> Decision:
    """The seed ensemble against single runs: each member's val AUC paired with its own ensemble's,
    the noise being two seed sds of the single runs (``ensembles``/``singles``: :func:`score_models`
    tables, the ensembles' ``members`` naming the singles' index)."""
    own = pd.Series({m: row.val_auc for _, row in ensembles.iterrows() for m in str(row.members).split()}, dtype=float)
    return beyond_noise("seed ensemble", own, "single runs", singles.val_auc.astype(float), SEED_NOISE)


# --- the whole search ----------------------------------------------------------------------------

@dataclass
class SearchResult:
    """Everything the search decided, and the tables it decided from."""

    components: pd.DataFrame  # per arm: val (decides) and test (reports)
    kept: list[str]
    chosen_arm: str
    chosen_config: TrainConfig
    tta_gain: float
    use_tta: bool
    ensembles: pd.DataFrame  # one row per ensemble (independent seed groups)
    singles: pd.DataFrame  # the chosen recipe's single runs
    ensemble_gain: float
    use_ensemble: bool
    distilled: pd.DataFrame
    ci: pd.DataFrame  # bootstrap CI of the mean over the final models
    final: list[ScoredModel]
    final_runs: list[dict[str, RunRecord]]  # the members of each final model, by key
    runs: pd.DataFrame  # every run of the search
    reused: list[str]  # keys of runs loaded from the store
    component_decisions: list[Decision] = field(default_factory=list)  # each component against the base
    arm_decisions: list[Decision] = field(default_factory=list)  # the recipe choice, step by step
    tta_decision: Decision | None = None
    ensemble_decision: Decision | None = None

    @property
    def final_table(self) -> pd.DataFrame:
        """The scores of the final models (:func:`final_scores`)."""
        return final_scores(self.ensembles, self.singles, self.use_ensemble, len(self.final))

    def decisions(self) -> dict[str, Any]:
        """The choices, as saved to ``results/metrics/06_decisions.json``: what was chosen, the rule,
        and for each decision its paired gain and the noise it had to exceed (``evidence``)."""
        return {"kept_components": self.kept, "chosen_arm": self.chosen_arm,
                "chosen_config": {k: v for k, v in self.chosen_config.to_dict().items() if k not in ("seed", "device")},
                "tta": self.use_tta, "ensemble": self.use_ensemble,
                "ensemble_groups": [m.members for m in self.final] if self.use_ensemble else None,
                "rule": RULES[SEED_NOISE],
                "evidence": {"components": [d.to_dict() for d in self.component_decisions],
                             "recipe": [d.to_dict() for d in self.arm_decisions],
                             "tta": self.tta_decision.to_dict() if self.tta_decision else None,
                             "ensemble": self.ensemble_decision.to_dict() if self.ensemble_decision else None}}


def require_all_ran(result: RunResults) -> RunResults:
    """Stop the search on a failed run: every decision needs all of its seeds."""
    table = result.table
    failed = table[table.status == "failed"] if "status" in table else table.iloc[:0]
    if len(failed):
        raise RuntimeError(f"{len(failed)} run(s) of the search failed, e.g. {failed.key.iloc[0]}: "
                           f"{failed.error.iloc[0]}. Fix the cause and run again; finished runs are kept.")
    return result


def final_scores(ensembles: pd.DataFrame, singles: pd.DataFrame, use_ensemble: bool, count: int) -> pd.DataFrame:
    """The scores of the final models: the ensembles when the search kept them, else the first
    seed group's ``count`` single runs."""
    return ensembles if use_ensemble else singles.iloc[:count]


def run_search(
    data_spec: DataSpec, store: RunStore | str | Path | None, ssl_source: str | None, seed_groups: list[list[int]],
    distill_weight: float = 0.5, base: TrainConfig = BASE_RECIPE, log: Callable[[str], None] | None = print,
    **runner_options: Any,
) -> SearchResult:
    """Run the whole search (see the module docstring) through the runner, so runs the store holds
    are reused. ``seed_groups[0]`` are the seeds of every arm; each further group trains one more
    independent ensemble of the chosen recipe, so the final model has a mean and sd over groups."""
    store = store if isinstance(store, RunStore) else RunStore(store)
    data = data_spec.load()
    y_val, y_test = data.val.labels, data.test.labels
    settings = component_settings(ssl_source)
    arms = component_arms(base, settings)
    first = seed_groups[0]
    runs = require_all_ran(run_many(arm_specs(arms, first, "components"), data_spec, store, log=log, **runner_options))
    results = [runs]
    arm_runs = runs.table
    per_component = component_decisions(arm_runs)
    kept = kept_components(arm_runs, per_component)
    if len(kept) >= 2:
        arms[COMBINED_ARM] = combined_recipe(base, settings, kept)
        combined = require_all_ran(run_many(arm_specs({COMBINED_ARM: arms[COMBINED_ARM]}, first, "components"),
                                            data_spec, store, log=log, **runner_options))
        results.append(combined)
        arm_runs = pd.concat([runs.table, combined.table], ignore_index=True)
    components = arm_table(arm_runs)
    chosen, arm_steps = choose_arm(arm_runs)
    config = arms[chosen]
    records = {k: v for r in results for k, v in r.records.items()}
    first_runs = {f"components/{arm_slug(chosen)}/seed{s}": records[f"components/{arm_slug(chosen)}/seed{s}"] for s in first}
    tta = beyond_noise("TTA", val_auc_by_run(first_runs, y_val, True), "runs without TTA",
                       val_auc_by_run(first_runs, y_val, False), SEED_NOISE)
    gain, use_tta = tta.gain, tta.kept

    extra = [s for group in seed_groups[1:] for s in group]
    members = require_all_ran(run_many(arm_specs({chosen: config}, extra, "members"), data_spec, store, log=log,
                                       **runner_options)) if extra else None
    if members is not None:
        results.append(members)
    groups = [first_runs] + [{f"members/{arm_slug(chosen)}/seed{s}": members[f"members/{arm_slug(chosen)}/seed{s}"] for s in g}
                             for g in seed_groups[1:]]
    ensembles = [ensemble(f"ensemble of seeds {' '.join(map(str, g))}", runs_, use_tta)
                 for g, runs_ in zip(seed_groups, groups)]
    singles = [single(key, run, use_tta) for group in groups for key, run in group.items()]
    ensemble_table = score_models(ensembles, y_val, y_test)
    single_table = score_models(singles, y_val, y_test)
    ens = ensemble_decision(ensemble_table, single_table)
    ens_gain, use_ensemble = ens.gain, ens.kept
    final = ensembles if use_ensemble else singles[: len(first)]
    final_runs = groups if use_ensemble else [{k: v} for k, v in list(first_runs.items())]
    final_table = final_scores(ensemble_table, single_table, use_ensemble, len(first))
    ci = seed_mean_ci(y_test, final, list(final_table.threshold))

    teacher_ids = tuple(r.run_id for r in first_runs.values())
    student_specs = [RunSpec(replace(config, distill_weight=distill_weight, seed=s), key=f"distilled/{arm_slug(chosen)}/seed{s}",
                             labels={"arm": "distilled"}, teacher=teacher_ids) for s in first]
    fingerprint = data_fingerprint(data_spec.load())
    if any(store.find(spec, fingerprint) is None for spec in student_specs):
        # a student to train needs its teachers' models, which a stored record alone does not give
        require_all_ran(run_many(arm_specs({chosen: config}, first, "components"), data_spec, store,
                                 need_models=True, log=log, **runner_options))
    students = require_all_ran(run_many(student_specs, data_spec, store, log=log, **runner_options))
    results.append(students)
    distilled = score_models([single(key, run, use_tta) for key, run in students.records.items()], y_val, y_test)
    table = pd.concat([r.table for r in results], ignore_index=True)
    reused = [k for r in results for k in r.reused]
    return SearchResult(components, kept, chosen, config, gain, use_tta, ensemble_table, single_table, ens_gain,
                        use_ensemble, distilled, ci, final, final_runs, table, reused,
                        component_decisions=per_component, arm_decisions=arm_steps, tta_decision=tta,
                        ensemble_decision=ens)


# --- the SSL component's backbone ----------------------------------------------------------------

SSL_PRETRAINING = {"model": "small_cnn", "epochs": 20}  # 06's SimCLR run (other PretrainConfig fields default)
SSL_CHECKPOINT = "06_small_cnn_simclr.pt"  # in results/ssl/


def pretrain_small_cnn(data: PneumoniaData, epochs: int = SSL_PRETRAINING["epochs"], progress: bool = True) -> tuple[str, str]:
    """The in-domain SimCLR checkpoint of the SSL component (train images only, no labels):
    reused when results/ssl/ already holds exactly this pretraining. Returns ``(source, how)``."""
    pretraining = PretrainConfig(**{**SSL_PRETRAINING, "epochs": epochs}, image_size=data.image_size, seed=0)
    return load_or_pretrain(pretraining, data.train, results_path("ssl", SSL_CHECKPOINT), data_provenance(data),
                            progress=progress)
