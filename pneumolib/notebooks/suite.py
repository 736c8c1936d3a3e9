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

TIMES_FILE = "suite_times.csv"  # in the profile's metrics/ folder: the last full-parameter run of each notebook


@dataclass
class NotebookRun:
    notebook: str
    status: str  # "passed" or "failed"
    seconds: float
    output: Path
    error: str = ""


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
    for path in notebook_paths(only):
        out = out_dir / path.name
        start = time.perf_counter()
        try:
            pm.execute_notebook(
                str(path), str(out), parameters=parameters, cwd=str(path.parent),
                kernel_name="python3", progress_bar=False, report_mode=False,
            )
            status, error = "passed", ""
        except pm.PapermillExecutionError as exc:
            status, error = "failed", f"{exc.ename}: {exc.evalue}".splitlines()[0]
        runs.append(NotebookRun(path.stem, status, time.perf_counter() - start, out, error))
        if status == "passed":
            strip_run_metadata(out)
            if write_back:
                write_outputs_back(out, path)
    if not custom:  # times with other parameters measure other work
        record_times(runs, results_dir("smoke" if smoke else "default") / "metrics" / TIMES_FILE)
    return runs


def record_times(runs: Sequence[NotebookRun], path: Path) -> pd.DataFrame:
    """Update the times table with the notebooks that passed (the others keep their last time)."""
    device = describe_device(resolve_device("auto"))
    fresh = pd.DataFrame([{"notebook": r.notebook, "seconds": round(r.seconds, 1), "device": device,
                           "date": time.strftime("%Y-%m-%d"), "torch": package_versions().get("torch")}
                          for r in runs if r.status == "passed"])
    if path.is_file():
        old = pd.read_csv(path)
        fresh = pd.concat([old[~old.notebook.isin(fresh.get("notebook", []))], fresh], ignore_index=True)
    if len(fresh):
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh.sort_values("notebook").to_csv(path, index=False)
    return fresh


def write_outputs_back(executed: Path, notebook: Path) -> None:
    """Write an executed notebook over the committed one, without papermill's injected-parameters
    cell: the committed notebook keeps its defaults in its ``parameters`` cell."""
    committed = nbformat.read(executed, as_version=4)
    committed.cells = [c for c in committed.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    nbformat.write(committed, notebook)
