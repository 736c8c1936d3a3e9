"""The search for the best honest recipe at 28 px, and the recipe it found.

Every decision uses val alone (mean over seeds of the val AUC), in a fixed order:

1. **Training components**: the base recipe, and the base plus each component alone. A
   component is *kept* when it raises the mean val AUC above the base's.
2. **Combination**: the base plus every kept component (when two or more were kept). The
   training recipe is the candidate (base, single additions, combination) with the highest
   mean val AUC.
3. **Test-time augmentation** is kept when it raises the chosen recipe's mean val AUC.
4. **Seed ensemble**: equal-weight mean of the members' probabilities (weights fixed in
   advance, not fitted), kept when the ensemble's val AUC beats its members' mean.
5. **Threshold**: Youden's J on the final model's val probabilities.
6. **Distillation** of the ensemble into one small CNN, reported as the cheap-inference model
   (kept when its val AUC beats a single member's).

Test metrics are computed for every arm and written next to the val numbers, but no step reads
them. :data:`BEST_RECIPE` records what the search chose; a test checks it against the decisions
saved by ``notebooks/06_best_model.ipynb``.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import TrainConfig
from .ensemble import average_probabilities
from .metrics import binary_metrics, bootstrap_seed_mean, medmnist_auc_acc
from .sweeps import Task, load_results, round_probabilities, saved_model_path
from .thresholds import choose_threshold

BASE_RECIPE = TrainConfig(model="small_cnn", epochs=10)  # the strongest plain recipe of 02/leaderboard
SSL_COMPONENT = "in-domain SSL init"

# name -> settings added to the base recipe (the SSL source is filled in by component_settings)
TRAINING_COMPONENTS: dict[str, dict[str, Any]] = {
    "strong augmentation": {"augment": "strong"},
    "mixup (alpha 0.2)": {"mixup_alpha": 0.2},
    "CutMix (alpha 1.0)": {"cutmix_alpha": 1.0},
    "EMA of weights (0.99)": {"ema_decay": 0.99},
    "warm-up (1 epoch)": {"warmup_epochs": 1},
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


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in text).strip("_").lower()


def arm_tasks(arms: dict[str, TrainConfig], seeds: list[int], prefix: str, save_model: bool = False) -> list[Task]:
    """One task per arm and seed, with test-time-augmented probabilities stored too."""
    return [Task(f"{prefix}/{_slug(arm)}/seed{seed}", replace(config, seed=seed), labels={"arm": arm},
                 tta=True, save_model=save_model) for arm, config in arms.items() for seed in seeds]


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


def kept_components(arms: pd.DataFrame) -> list[str]:
    """Components whose arm beats the base's mean val AUC, best first."""
    base = arms.loc[BASE_ARM, "val_auc_mean"]
    gains = arms.val_auc_mean.drop(BASE_ARM) - base
    return [arm.removeprefix("+ ") for arm, gain in gains.sort_values(ascending=False).items() if gain > 0]


def combined_recipe(base: TrainConfig, settings: dict[str, dict[str, Any]], kept: list[str]) -> TrainConfig:
    """The base plus every kept component."""
    combined = base
    for name in kept:
        combined = replace(combined, **settings[name])
    return combined


def choose_arm(arms: pd.DataFrame) -> str:
    """The arm with the highest mean val AUC (ties: the earlier, simpler arm)."""
    return str(arms.val_auc_mean.idxmax())


# --- results with stored probabilities: TTA, ensembles, thresholds --------------------------------

def probabilities(result: dict[str, Any], split: str, tta: bool) -> np.ndarray:
    """A run's stored probabilities for ``split``, with or without test-time augmentation."""
    store = result["tta_probabilities" if tta else "probabilities"]
    return np.asarray(store[split], dtype=np.float64)


def tta_gain(results: list[dict[str, Any]], y_val: np.ndarray) -> float:
    """Mean over runs of val AUC with TTA minus without."""
    return float(np.mean([binary_metrics(y_val, probabilities(r, "val", True))["auc"]
                          - binary_metrics(y_val, probabilities(r, "val", False))["auc"] for r in results]))


@dataclass
class ScoredModel:
    """Val and test probabilities of one final model (a run or an ensemble), scored at 0.5 and at
    the threshold picked on its val probabilities."""

    name: str
    p_val: np.ndarray
    p_test: np.ndarray
    members: list[str] = field(default_factory=list)

    def record(self, y_val: np.ndarray, y_test: np.ndarray) -> dict[str, Any]:
        """Val and test metrics (at 0.5), MedMNIST's test pair, and the val-picked threshold with
        the test metrics there: the fields of a sweep result."""
        threshold = choose_threshold(y_val, self.p_val, "youden")
        return {
            "val": binary_metrics(y_val, self.p_val), "test": binary_metrics(y_test, self.p_test),
            "medmnist": {"test": medmnist_auc_acc(y_test, self.p_test)},
            "tuned": {"criterion": "youden", "threshold": threshold,
                      "test": binary_metrics(y_test, self.p_test, threshold)},
        }

    def score(self, y_val: np.ndarray, y_test: np.ndarray) -> dict[str, Any]:
        """One table row: val AUC, the val-picked threshold, test AUC and ACC at 0.5 and at it."""
        r = self.record(y_val, y_test)
        tuned = r["tuned"]["test"]
        return {
            "model": self.name, "members": " ".join(self.members), "val_auc": r["val"]["auc"],
            "threshold": r["tuned"]["threshold"],
            "test_auc": r["medmnist"]["test"]["auc"], "test_acc_at_0.5": r["medmnist"]["test"]["acc"],
            "test_acc_val_threshold": tuned["acc"], "test_balanced_accuracy_val_threshold": tuned["balanced_accuracy"],
        }


def ensemble(name: str, results: list[dict[str, Any]], tta: bool) -> ScoredModel:
    """Equal-weight ensemble of runs (probabilities averaged)."""
    return ScoredModel(name, average_probabilities([probabilities(r, "val", tta) for r in results]),
                       average_probabilities([probabilities(r, "test", tta) for r in results]),
                       members=[r["key"].rsplit("/", 1)[-1] for r in results])


def single(result: dict[str, Any], tta: bool) -> ScoredModel:
    return ScoredModel(result["key"].rsplit("/", 1)[-1], probabilities(result, "val", tta),
                       probabilities(result, "test", tta))


def score_models(models: list[ScoredModel], y_val: np.ndarray, y_test: np.ndarray) -> pd.DataFrame:
    """One row per model: val AUC, val-picked threshold, test AUC and ACC at 0.5 and at the threshold."""
    return pd.DataFrame([m.score(y_val, y_test) for m in models]).set_index("model")


def seed_mean_ci(y_test: np.ndarray, models: list[ScoredModel], thresholds: list[float], n_boot: int = 2000,
                 seed: int = 0) -> pd.DataFrame:
    """Bootstrap 95% CI of the mean over ``models`` of test AUC, ACC at 0.5 and ACC at each model's
    val-picked threshold (rows named like the score columns)."""
    ci = bootstrap_seed_mean(y_test, [m.p_test for m in models], thresholds, n_boot=n_boot, seed=seed)
    return ci.rename(index={"auc": "test_auc", "acc_at_0.5": "test_acc_at_0.5", "acc_at_threshold": "test_acc_val_threshold"})


# --- the goal of issue 7 -------------------------------------------------------------------------

GOALS = {  # metric -> (goal, stretch goal)
    "test_auc": (0.985, 0.991),
    "test_acc_val_threshold": (0.92, 0.946),
}


def goal_table(final: pd.DataFrame, ci: pd.DataFrame) -> pd.DataFrame:
    """The final models' mean ± sd and bootstrap CI next to the goal and the stretch goal, with
    whether the mean reaches each. ACC at 0.5 is shown alongside (it has no goal of its own)."""
    rows = []
    for metric in ("test_auc", "test_acc_val_threshold", "test_acc_at_0.5"):
        values = final[metric].astype(float)
        goal, stretch = GOALS.get(metric, (None, None))
        mean = values.mean()
        rows.append({
            "metric": metric, "mean": mean, "sd": values.std(ddof=1) if len(values) > 1 else float("nan"),
            "ci_low": ci.loc[metric, "ci_low"], "ci_high": ci.loc[metric, "ci_high"], "goal": goal,
            "goal_met": None if goal is None else bool(mean >= goal),
            "stretch_goal": stretch, "stretch_met": None if stretch is None else bool(mean >= stretch),
        })
    return pd.DataFrame(rows).set_index("metric")


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
    runs: pd.DataFrame  # every run of the search

    def decisions(self) -> dict[str, Any]:
        """The choices, as saved to ``results/metrics/06_decisions.json``."""
        return {"kept_components": self.kept, "chosen_arm": self.chosen_arm,
                "chosen_config": {k: v for k, v in self.chosen_config.to_dict().items() if k not in ("seed", "device")},
                "tta": self.use_tta, "ensemble": self.use_ensemble,
                "ensemble_groups": [m.members for m in self.final] if self.use_ensemble else None}


def _require_all_ran(table: pd.DataFrame) -> pd.DataFrame:
    """Stop the search on a failed run: every decision needs all of its seeds."""
    failed = table[table.status == "failed"] if "status" in table else table.iloc[:0]
    if len(failed):
        raise RuntimeError(f"{len(failed)} run(s) of the search failed, e.g. {failed.key.iloc[0]}: "
                           f"{failed.error.iloc[0]}. Fix the cause and run again; finished runs are kept.")
    return table


def run_search(
    data_spec, out_dir: str | Path, ssl_source: str | None, seed_groups: list[list[int]],
    distill_weight: float = 0.5, base: TrainConfig = BASE_RECIPE, log=print, **sweep_options,
) -> SearchResult:
    """Run the whole search (see the module docstring) as resumable sweeps under ``out_dir``.

    ``seed_groups[0]`` are the seeds of every arm; each further group trains one more
    independent ensemble of the chosen recipe, so the final model has a mean and sd over groups.
    """
    from .sweeps import run_sweep

    data = data_spec.load()
    y_val, y_test = data.val.labels, data.test.labels
    settings = component_settings(ssl_source)
    arms = component_arms(base, settings)
    first = seed_groups[0]
    table = _require_all_ran(run_sweep(arm_tasks(arms, first, "components", save_model=True), data_spec, out_dir,
                                       log=log, **sweep_options))
    components = arm_table(table)
    kept = kept_components(components)
    if len(kept) >= 2:
        arms[COMBINED_ARM] = combined_recipe(base, settings, kept)
        combined = _require_all_ran(run_sweep(arm_tasks({COMBINED_ARM: arms[COMBINED_ARM]}, first, "components",
                                                        save_model=True), data_spec, out_dir, log=log, **sweep_options))
        table = pd.concat([table, combined], ignore_index=True)
        components = arm_table(table)
    chosen = choose_arm(components)
    config = arms[chosen]
    first_keys = [f"components/{_slug(chosen)}/seed{s}" for s in first]
    first_runs = load_results(out_dir, first_keys)
    gain = tta_gain(first_runs, y_val)
    use_tta = gain > 0

    extra = [s for group in seed_groups[1:] for s in group]
    member_table = _require_all_ran(run_sweep(arm_tasks({chosen: config}, extra, "members"), data_spec, out_dir,
                                              log=log, **sweep_options)) if extra else pd.DataFrame()
    groups = [first_runs] + [load_results(out_dir, [f"members/{_slug(chosen)}/seed{s}" for s in g]) for g in seed_groups[1:]]
    ensembles = [ensemble(f"ensemble of seeds {' '.join(map(str, g))}", runs, use_tta) for g, runs in zip(seed_groups, groups)]
    singles = [single(r, use_tta) for runs in groups for r in runs]
    ensemble_table = score_models(ensembles, y_val, y_test)
    single_table = score_models(singles, y_val, y_test)
    ens_gain = float(ensemble_table.val_auc.mean() - single_table.val_auc.mean())
    use_ensemble = ens_gain > 0
    final = ensembles if use_ensemble else singles[: len(first)]
    final_table = ensemble_table if use_ensemble else single_table.iloc[: len(first)]
    ci = seed_mean_ci(y_test, final, list(final_table.threshold))

    student = replace(config, distill_weight=distill_weight)
    student_tasks = [Task(f"distilled/{_slug(chosen)}/seed{s}", replace(student, seed=s), labels={"arm": "distilled"},
                          tta=True, teacher=tuple(first_keys)) for s in first]
    distill_table = _require_all_ran(run_sweep(student_tasks, data_spec, out_dir, log=log, **sweep_options))
    distilled = score_models([single(r, use_tta) for r in load_results(out_dir, [t.key for t in student_tasks])], y_val, y_test)
    runs = pd.concat([table, member_table, distill_table], ignore_index=True)
    return SearchResult(components, kept, chosen, config, gain, use_tta, ensemble_table, single_table, ens_gain,
                        use_ensemble, distilled, ci, final, runs)


# --- the recipe the search chose (06_best_model.ipynb, default run) --------------------------------

SSL_PRETRAINING = {"model": "small_cnn", "epochs": 20}  # 06's SimCLR run (other PretrainConfig fields default)
SSL_CHECKPOINT = "06_small_cnn_simclr.pt"  # in results/ssl/

def _decided_recipe() -> dict[str, Any]:
    """What 06's default run decided (results/metrics/06_decisions.json; a test keeps the two equal)."""
    kept = [SSL_COMPONENT, "warm-up (1 epoch)"]
    config = combined_recipe(BASE_RECIPE, component_settings(f"ssl:results/ssl/{SSL_CHECKPOINT}"), kept)
    return {
        "kept_components": kept,
        "chosen_arm": COMBINED_ARM,
        "chosen_config": {k: v for k, v in config.to_dict().items() if k not in ("seed", "device")},
        "tta": True,
        "ensemble": True,
        "ensemble_groups": [[f"seed{s}" for s in group] for group in ([0, 1, 2], [3, 4, 5], [6, 7, 8])],
    }


BEST_RECIPE: dict[str, Any] | None = _decided_recipe()


def final_record(model: ScoredModel, y_val: np.ndarray, y_test: np.ndarray, recipe: str, config: TrainConfig,
                 seed: str) -> dict[str, Any]:
    """A final model (e.g. an ensemble) as a run record that the leaderboard reads like any run."""
    return {
        "recipe": recipe, "seed": seed, "members": model.members, "config": config.to_dict(),
        **model.record(y_val, y_test),
        "data": {"images": {"val": len(y_val), "test": len(y_test)}},
        "probabilities": {"val": round_probabilities(model.p_val), "test": round_probabilities(model.p_test)},
    }


def best_recipe_name(decisions: dict[str, Any]) -> str:
    """How the final model appears on the leaderboard."""
    what = f"ensemble of {len(decisions['ensemble_groups'][0])} x" if decisions["ensemble"] else "single"
    return f"best recipe (06): {what} small_cnn '{decisions['chosen_arm']}'" + (" + TTA" if decisions["tta"] else "")


def pretrain_small_cnn(data, epochs: int = SSL_PRETRAINING["epochs"], progress: bool = True) -> tuple[str, str]:
    """The in-domain SimCLR checkpoint of the SSL component (train images only, no labels):
    reused when results/ssl/ already holds exactly this pretraining. Returns ``(source, how)``."""
    from .paths import results_path
    from .runs import data_provenance
    from .ssl import PretrainConfig, load_or_pretrain

    pretraining = PretrainConfig(**{**SSL_PRETRAINING, "epochs": epochs}, image_size=data.image_size, seed=0)
    return load_or_pretrain(pretraining, data.train, results_path("ssl", SSL_CHECKPOINT), data_provenance(data),
                            progress=progress)


def save_final_records(result: "SearchResult", out_dir: str | Path, y_val: np.ndarray, y_test: np.ndarray) -> list[Path]:
    """One leaderboard record per final model: ``<out_dir>/final/<name>.json``."""
    from .paths import write_atomically

    decisions = result.decisions()
    name = best_recipe_name(decisions)
    paths = []
    for model in result.final:
        seeds = " ".join(m.removeprefix("seed") for m in model.members)
        record = final_record(model, y_val, y_test, name, result.chosen_config, seeds)
        path = Path(out_dir) / "final" / f"{_slug(model.name)}.json"
        write_atomically(path, lambda handle: json.dump(record, handle, indent=1))
        paths.append(path)
    return paths


DECISIONS_FILE = "06_decisions.json"  # in results/metrics/


def save_decisions(result: "SearchResult") -> Path:
    """Write the search's decisions to ``results/metrics/06_decisions.json`` (sorted keys)."""
    from .paths import results_path

    path = results_path("metrics", DECISIONS_FILE)
    path.write_text(json.dumps(result.decisions(), indent=1, sort_keys=True) + "\n")
    return path


DISTILL_WEIGHT = 0.5  # 06's default: how far the student's targets move towards the ensemble
STUDENT_FILE = "student.pt"


def train_best(
    data_spec, out_dir: str | Path, decisions: dict[str, Any] | None = None, device: str = "auto", log=print,
    distill: bool = True, **sweep_options,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Reproduce the final model of the search: train its members (seeds of the first ensemble
    group), apply TTA and the ensemble as decided, pick the threshold on val, and write
    ``<out_dir>/final.json`` (read by the leaderboard). With ``distill``, also train the distilled
    student and copy it to ``<out_dir>/student.pt``: one ordinary checkpoint, with its val-picked
    threshold, for the detector, ``predict`` and ONNX export. Returns ``(record, run table)``."""
    from .paths import write_atomically
    from .sweeps import run_sweep

    decisions = decisions or BEST_RECIPE
    if decisions is None:
        raise RuntimeError("No best recipe is recorded yet; run notebooks/06_best_model.ipynb first.")
    data = data_spec.load()
    config = replace(TrainConfig.from_dict(decisions["chosen_config"]), device=device)
    if config.pretrained and config.pretrained.startswith("ssl:"):
        source, how = pretrain_small_cnn(data, progress=False)
        (log or (lambda m: None))(f"SSL initialisation: {how}")
        config = replace(config, pretrained=source)
    seeds = [int(s.removeprefix("seed")) for s in decisions["ensemble_groups"][0]] if decisions["ensemble"] else [0, 1, 2]
    tasks = arm_tasks({decisions["chosen_arm"]: config}, seeds, "members", save_model=True)
    table = _require_all_ran(run_sweep(tasks, data_spec, out_dir, log=log, **sweep_options))
    runs = load_results(out_dir, [t.key for t in tasks])
    model = ensemble("final", runs, decisions["tta"]) if decisions["ensemble"] else single(runs[0], decisions["tta"])
    record = final_record(model, data.val.labels, data.test.labels, best_recipe_name(decisions), config,
                          " ".join(map(str, seeds)))
    write_atomically(Path(out_dir) / "final.json", lambda handle: json.dump(record, handle, indent=1))
    if distill:
        student = Task(f"distilled/{_slug(decisions['chosen_arm'])}/seed{seeds[0]}",
                       replace(config, distill_weight=DISTILL_WEIGHT, seed=seeds[0]), labels={"arm": "distilled"},
                       save_model=True, teacher=tuple(t.key for t in tasks))
        student_table = _require_all_ran(run_sweep([student], data_spec, out_dir, log=log, **sweep_options))
        shutil.copyfile(saved_model_path(out_dir, student.key), Path(out_dir) / STUDENT_FILE)
        table = pd.concat([table, student_table], ignore_index=True)
    return record, table
