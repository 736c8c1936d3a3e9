"""The final model of notebook 06's search, as the notebooks, the command line and the grader
share it: the decisions 06 saved (``results/metrics/06_decisions.json``: where they are read from,
and how they are checked), the final models' records, and the best recipe reproduced from those
decisions (its member runs, TTA and ensemble as decided, the threshold picked on val, and the
ensemble distilled into one ordinary checkpoint: ``python -m pneumocourse best``), and the final
models loaded for the studies that build on them (notebook 07). The search that
makes the decisions is :mod:`pneumocourse.search`; notebook 06's setup and wording are its companion's."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from torch import nn

from pneumolib.config import TrainConfig
from pneumolib.data import PneumoniaData
from pneumolib.errors import ConfigError
from pneumolib.evaluation.precision import rounded_record
from pneumolib.experiments.runner import run_many
from pneumolib.experiments.runs import DataSpec, RunRecord, RunSpec, ensemble_record
from pneumolib.experiments.store import RunStore
from pneumolib.models import ProbabilityEnsemble
from pneumolib.models.inference import analysis_copy
from pneumolib.models.pretrained import ssl_checkpoint_path
from pneumolib.shift.methods import predict
from pneumolib.paths import active_profile, display_path, reference_counterpart, reference_dir, results_dir, results_path

from .reference import fetch, packaged
from .search import SearchResult, arm_slug, pretrain_small_cnn, require_all_ran

DECISIONS_FILE = "06_decisions.json"  # in results/metrics/
DISTILL_WEIGHT = 0.5  # 06's default: how far the student's targets move towards the ensemble
STUDENT_FILE = "student.pt"


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


# --- the final models, loaded for the studies that build on them (notebook 07) -------------------------

@dataclass
class FinalModel:
    """One of 06's final models: its record (an ensemble or a single run), the model itself (an
    ensemble is one module) and whether it predicts with test-time augmentation."""

    name: str
    record: RunRecord
    model: nn.Module
    config: TrainConfig
    tta: bool
    _predicted: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """The model's probabilities for ``images`` (with TTA when the model uses it), computed
        once per images array: the study's steps share them instead of predicting again. The
        cache keeps each array alive beside its probabilities, so its id cannot be reused."""
        if id(images) not in self._predicted:
            self._predicted[id(images)] = (images, predict(self.model, images, self.config, self.tta))
        return self._predicted[id(images)][1]

    def split_probabilities(self, split: str) -> np.ndarray:
        """The record's own probabilities for ``"val"`` or ``"test"`` (with TTA when the model uses
        it): the numbers 06 shows for this model, not a second prediction of them."""
        return self.record.probabilities(split, self.tta)


def final_config(decisions: dict[str, Any], data: PneumoniaData, device: str = "auto",
                 log: Callable[[str], None] = print) -> TrainConfig:
    """06's chosen recipe; its in-domain SSL checkpoint is the one 06 made when it is there, else
    made again the way 06 makes it."""
    config = replace(TrainConfig.from_dict(decisions["chosen_config"]), device=device)
    ssl_path = ssl_checkpoint_path(config.pretrained)
    if ssl_path is not None and not ssl_path.is_file():
        source, how = pretrain_small_cnn(data, progress=False)
        log(f"SSL initialisation: {how}")
        config = replace(config, pretrained=source)
    return config


def seed_groups(decisions: dict[str, Any], max_groups: int) -> list[list[int]]:
    """The seeds of each final model: 06's ensemble groups, or single seeds 0, 1, ... when 06
    chose no ensemble; at most ``max_groups`` of them."""
    if decisions["ensemble"]:
        groups = [[int(s.removeprefix("seed")) for s in group] for group in decisions["ensemble_groups"]]
    else:
        groups = [[s] for s in range(max_groups)]
    return groups[:max_groups]


def load_final_models(data_spec: DataSpec, decisions: dict[str, Any], config: TrainConfig, max_groups: int = 3,
                      store: RunStore | None = None, log: Callable[[str], None] | None = print,
                      **runner_options: Any) -> list[FinalModel]:
    """06's final models, their member runs loaded from the store (trained when missing), each an
    :func:`~pneumolib.models.inference.analysis_copy` (float64 on a CPU) for the study's analyses."""
    store = store or RunStore()
    data = data_spec.load()
    groups = seed_groups(decisions, max_groups)
    slug = arm_slug(decisions["chosen_arm"])
    specs = {s: RunSpec(replace(config, seed=s), key=f"members/{slug}/seed{s}") for group in groups for s in group}
    runs = require_all_ran(run_many(list(specs.values()), data_spec, store, need_models=True, log=log, **runner_options))
    finals = []
    for group in groups:
        members = [runs[specs[s].key] for s in group]
        models = [m.model if m.model is not None else store.load_model(m.run_id) for m in members]
        name = f"seeds {' '.join(str(s) for s in group)}"
        if len(members) > 1:
            record = ensemble_record(f"ensemble of {name}", members, decisions["tta"], data.val.labels,
                                     data.test.labels, recipe_name(decisions))
            if store.get(record.run_id) is None:  # 06 stored it already when it ran in this profile
                store.save_record(record)
            model: nn.Module = ProbabilityEnsemble(models).eval()
        else:
            record, model = members[0], models[0]
        finals.append(FinalModel(name, record, analysis_copy(model), config, bool(decisions["tta"])))
    return finals
