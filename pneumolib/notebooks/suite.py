"""Running the notebook suite headless with papermill, in order, with a pass/fail summary."""

from __future__ import annotations

import ast
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import nbformat
import pandas as pd

from ..devices import describe_device, resolve_device
from ..errors import ConfigError
from ..paths import project_root, results_dir
from ..repro import package_versions
from .nbtools import SMOKE_ENV_VAR

TIMES_FILE = "suite_times.csv"  # in the profile's metrics/ folder: per notebook, the last run that trained
# runs into the store and the last run that trained none (both with the default parameters)


@dataclass
class NotebookRun:
    notebook: str
    status: str  # "passed" or "failed"
    seconds: float
    output: Path
    error: str = ""
    new_runs: int = 0  # runs this notebook added to the run store (0: it trained nothing, or loaded all)


def notebook_paths(only: Sequence[str] = ()) -> list[Path]:
    """The numbered notebooks in ``notebooks/``, in order; ``only`` filters by prefix (``02``) or name."""
    folder = project_root() / "notebooks"
    paths = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if only:
        chosen = [p for p in paths if any(p.stem.startswith(key) or p.name == key for key in only)]
        if not chosen:
            raise ConfigError(f"--only {list(only)} matches no notebook; have {[p.stem for p in paths]}.")
        paths = chosen
    return paths


def parse_value(text: str) -> Any:
    """A ``-p name value`` value as a Python literal when it is one (1e-4, True, [0, 1]), else a string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def strip_run_metadata(path: Path) -> None:
    """Remove papermill's per-cell timings and run metadata, so committed notebooks diff cleanly."""
    nb = nbformat.read(path, as_version=4)
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)


def run_suite(
    only: Sequence[str] = (),
    smoke: bool = False,
    parameters: dict[str, Any] | None = None,
    write_back: bool = False,
) -> list[NotebookRun]:
    """Execute notebooks with papermill into the profile's ``notebooks/`` folder: ``results/notebooks/``,
    or ``results/smoke/notebooks/`` for the smoke profile (where the kernels write their results too).

    Every notebook gets ``parameters`` (and ``smoke=True`` in the smoke profile). With
    ``write_back``, a passing notebook's outputs are also written over ``notebooks/<name>``.
    """
    import papermill as pm

    custom = bool(parameters)
    parameters = {"progress": False, **(parameters or {})}  # nobody watches a headless run
    if smoke:
        parameters["smoke"] = True
        os.environ[SMOKE_ENV_VAR] = "1"
    out_dir = results_dir("smoke" if smoke else "default") / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = []
    store = results_dir("smoke" if smoke else "default") / "store"
    for path in notebook_paths(only):
        out = out_dir / path.name
        stored_before = _stored_runs(store)
        start = time.perf_counter()
        try:
            pm.execute_notebook(
                str(path), str(out), parameters=parameters, cwd=str(path.parent),
                kernel_name="python3", progress_bar=False, report_mode=False,
            )
            status, error = "passed", ""
        except pm.PapermillExecutionError as exc:
            status, error = "failed", f"{exc.ename}: {exc.evalue}".splitlines()[0]
        runs.append(NotebookRun(path.stem, status, time.perf_counter() - start, out, error,
                                _stored_runs(store) - stored_before))
        if status == "passed":
            strip_run_metadata(out)
            if write_back:
                write_outputs_back(out, path)
    if not custom:  # times with other parameters measure other work
        record_times(runs, results_dir("smoke" if smoke else "default") / "metrics" / TIMES_FILE)
    return runs


def _stored_runs(store: Path) -> int:
    return sum(1 for _ in store.glob("*/record.json"))


def record_times(runs: Sequence[NotebookRun], path: Path) -> pd.DataFrame:
    """Update the times table with the notebooks that passed: one row per notebook and kind of
    run, ``trained`` (it added runs to the store) or ``from store`` (it trained nothing)."""
    device = describe_device(resolve_device("auto"))
    fresh = pd.DataFrame([{"notebook": r.notebook, "kind": "trained" if r.new_runs else "from store",
                           "new_runs": r.new_runs, "seconds": round(r.seconds, 1), "device": device,
                           "date": time.strftime("%Y-%m-%d"), "torch": package_versions().get("torch")}
                          for r in runs if r.status == "passed"])
    if path.is_file() and len(fresh):
        old = pd.read_csv(path)
        replaced = old.set_index(["notebook", "kind"]).index.isin(fresh.set_index(["notebook", "kind"]).index)
        fresh = pd.concat([old[~replaced], fresh], ignore_index=True)
    elif path.is_file():
        fresh = pd.read_csv(path)
    if len(fresh):
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = fresh.sort_values(["notebook", "kind"], ignore_index=True)
        fresh.to_csv(path, index=False)
    return fresh
