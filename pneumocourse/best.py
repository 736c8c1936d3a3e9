"""The best honest recipe, reproduced from the decisions that notebook 06 saved
(``results/metrics/06_decisions.json``): its member runs, TTA and ensemble as decided, the
threshold picked on val, and the ensemble distilled into one ordinary checkpoint."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from pneumolib.config import TrainConfig
from pneumolib.errors import ConfigError
from pneumolib.paths import active_profile, display_path, results_dir, results_path
from pneumolib.experiments.runner import run_many
from .reference import fetch, packaged
from pneumolib.experiments.runs import DataSpec, RunRecord, RunSpec, ensemble_record
from .search import SearchResult, _slug, pretrain_small_cnn, require_all_ran
from pneumolib.experiments.store import RunStore

DECISIONS_FILE = "06_decisions.json"  # in results/metrics/
DISTILL_WEIGHT = 0.5  # 06's default: how far the student's targets move towards the ensemble
STUDENT_FILE = "student.pt"


def decisions_path() -> Path:
    return results_path("metrics", DECISIONS_FILE)


def save_decisions(result: SearchResult) -> Path:
    """Write the search's decisions to ``results/metrics/06_decisions.json`` (sorted keys)."""
    path = decisions_path()
    path.write_text(json.dumps(result.decisions(), indent=1, sort_keys=True) + "\n")
    return path


def default_decisions(log=print) -> Path:
    """Where 06's decisions are read from: this profile's file; when it is missing, the file is
    fetched from the reference results (:mod:`~pneumocourse.reference`) where fetching is
    on; in the smoke profile, the default profile's decisions serve (a recipe, which smoke only
    trains for fewer steps), and the notebook says so."""
    path = decisions_path()
    if path.is_file():
        return path
    relative = f"metrics/{DECISIONS_FILE}"
    if active_profile() == "default":
        if fetch(relative, log) is not None:
            return path
        return _packaged_decisions(log) or path
    default = results_dir("default") / "metrics" / DECISIONS_FILE
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
    specs = [RunSpec(replace(config, seed=s), key=f"members/{_slug(decisions['chosen_arm'])}/seed{s}") for s in seeds]
    # the members teach the distilled student, which needs their models, not only their records
    members = require_all_ran(run_many(specs, data_spec, store, need_models=distill, log=log, **runner_options))
    runs = [members[s.key] for s in specs]
    record = ensemble_record("final", runs, decisions["tta"], data.val.labels, data.test.labels, recipe_name(decisions))
    store.save_record(record)
    table, student, student_path = members.table, None, None
    if distill:
        spec = RunSpec(replace(config, distill_weight=DISTILL_WEIGHT, seed=seeds[0]),
                       key=f"distilled/{_slug(decisions['chosen_arm'])}/seed{seeds[0]}", labels={"arm": "distilled"},
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
