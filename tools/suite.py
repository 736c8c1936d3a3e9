"""Running the notebook suite headless with papermill, in order, with a pass/fail summary."""

from __future__ import annotations

import ast
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import nbformat

from pneumolib.data import DATA_ENV_VAR
from pneumolib.paths import (REFERENCE_ENV_VAR, RENDER_FOLDER, RESULTS_ENV_VAR, SHOWN_AS_ENV_VAR, display_path,
                             project_root, results_dir)
from pneumocourse.nbtools import SMOKE_ENV_VAR
from pneumocourse.notebooks import notebook_paths
from tools.compare import differing_files, differing_outputs, exceptions_listing
from tools.times import TIMES_FILE, NotebookRun, record_times, stored_runs, update_readme, update_time_line


HEADLESS = {"interactive": False}  # for notebooks that declare it: static views instead of widgets


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


@dataclass
class SuiteReport:
    """What a suite run did: each notebook's run, and for a render, what differs from the committed
    results by the comparison rule (:mod:`tools.compare`) and the rule's exceptions."""

    runs: list[NotebookRun]
    differing_files: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    render: Path | None = None


def run_suite(
    only: Sequence[str] = (),
    smoke: bool = False,
    parameters: dict[str, Any] | None = None,
    write_back: bool = False,
    render_into: str | os.PathLike = RENDER_FOLDER,
) -> SuiteReport:
    """Execute notebooks with papermill, in order, and say how each went.

    - A plain run of the default profile **renders** the reference: the kernels write everything
      into ``render_into`` (``results/render/``, emptied first: it belongs to this command; a relative
      folder is taken from the project folder) and read the committed
      ``results/`` (the run store, 06's decisions) without writing there. Each notebook's outputs,
      and then every table, record and figure's data it wrote, are compared with the committed
      ones by :mod:`tools.compare`'s rule; anything trained that the reference lacks is a failure.
    - The smoke profile writes to ``results/smoke/`` (or ``$PNEUMOLIB_RESULTS/smoke``).
    - ``parameters`` other than a notebook's defaults send its results to
      ``results/custom/<notebook>-<parameters>/`` (the kernel decides, :func:`pneumocourse.nbtools.start`).
    - ``write_back`` (``--update-reference``) writes the reference on purpose: the results, the
      committed times, each passing notebook over ``notebooks/<name>``, the store's checksums, the
      fetch manifest and the notebooks' packaged defaults.
    """
    import papermill as pm
    from nbclient.exceptions import DeadKernelError

    from pneumolib.experiments.store import MODEL_LOG_ENV, UPDATE_REFERENCE_ENV, RunStore
    from pneumocourse.nbtools import custom_location, custom_parameters

    parameters = dict(parameters or {})
    for name in (DATA_ENV_VAR, RESULTS_ENV_VAR):  # the kernels run in notebooks/: a relative folder means from here
        if os.environ.get(name):
            os.environ[name] = str(Path(os.environ[name]).expanduser().resolve())
    defaults = not parameters  # the notebooks' own parameters: their times are the ones the README shows
    whole_reference = defaults and not only  # the whole suite with its defaults
    if smoke:
        parameters["smoke"] = True
        os.environ[SMOKE_ENV_VAR] = "1"
    reference = (project_root() / "results").resolve()
    renders = not write_back and not smoke and not parameters and results_dir("default").resolve() == reference
    if renders:  # the kernels write into the render folder and read the committed results
        render = project_root() / render_into
        shutil.rmtree(render, ignore_errors=True)
        os.environ[RESULTS_ENV_VAR], os.environ[REFERENCE_ENV_VAR] = str(render), str(reference)
        os.environ[SHOWN_AS_ENV_VAR] = "results"  # it stands for the committed results: paths read the same
    parameters = {"progress": False, **parameters}  # nobody watches a headless run
    profile_dir = results_dir("smoke" if smoke else "default")
    model_log = None
    if write_back:
        os.environ[UPDATE_REFERENCE_ENV] = "1"  # the kernels inherit it
        if whole_reference and not smoke:  # the whole suite: note which models it loads
            model_log = profile_dir / "notebooks" / "models_loaded.txt"
            model_log.parent.mkdir(parents=True, exist_ok=True)
            model_log.write_text("")
            os.environ[MODEL_LOG_ENV] = str(model_log)
    store = profile_dir / "store"
    runs, paths = [], notebook_paths(only)
    for path in paths:
        declared = pm.inspect_notebook(str(path))
        headless = {name: value for name, value in HEADLESS.items() if name in declared}
        given = {name: value for name, value in parameters.items() if name in declared}
        changed = custom_parameters(path.stem, given)
        folder = custom_location(path.stem, changed).base if changed else profile_dir  # where the kernel will write
        out = folder / "notebooks" / path.name
        out.parent.mkdir(parents=True, exist_ok=True)
        stored_before = stored_runs(folder / "store")
        start = time.perf_counter()
        try:
            pm.execute_notebook(
                str(path), str(out), parameters={**headless, **given}, cwd=str(path.parent),
                kernel_name="python3", progress_bar=False, report_mode=False,
            )
            status, error = "passed", ""
        except pm.PapermillExecutionError as exc:
            status, error = "failed", f"{exc.ename}: {exc.evalue}".splitlines()[0]
        except DeadKernelError:  # killed (out of memory, or by hand): this notebook fails, the suite goes on
            status, error = "failed", "the kernel died (out of memory, or killed) before the notebook finished"
        run = NotebookRun(path.stem, status, time.perf_counter() - start, out, error,
                          stored_runs(folder / "store") - stored_before)
        runs.append(run)
        if run.status == "passed":
            strip_run_metadata(out)
            if renders:  # a render shows the committed numbers, and trains nothing
                differing = differing_outputs(out, path)
                if differing:
                    run.status = "failed"
                    run.error = (f"outputs differ from the committed notebook in {'; '.join(differing[:3])}"
                                 f"{' and more' if len(differing) > 3 else ''}")
                elif run.new_runs:
                    run.status = "failed"
                    run.error = f"trained {run.new_runs} run(s) that the committed store lacks"
        if run.status == "passed" and not changed:  # times with other parameters measure other work
            record_times([run], profile_dir / ("metrics" if write_back else "notebooks") / TIMES_FILE)
            if write_back:
                write_outputs_back(out, path)
    report = SuiteReport(runs)
    if renders:
        report.render = profile_dir
        report.differing_files = differing_files(profile_dir, reference)
        report.exceptions = exceptions_listing(paths)
    if write_back and defaults and not smoke:  # the README's table of times, as the Time lines now read
        update_readme([p.stem for p in notebook_paths()])
    if write_back:
        reference_store = RunStore(store)
        if model_log is not None and all(r.status == "passed" for r in runs):
            removed = reference_store.prune_models(set(model_log.read_text().split()))
            print(f"reference models: {len(list(store.glob('*/model.pt')))} loaded by the notebooks kept, "
                  f"{len(removed)} no notebook loads removed (their records stay)")
        reference_store.write_checksums()
        if not smoke and len(parameters) == 1:  # no parameter but the headless progress switch
            import pneumocourse
            from pneumocourse.notebooks import write_notebook_defaults
            from pneumocourse.reference import write_manifest

            package = Path(pneumocourse.__file__).resolve().parent
            manifest = write_manifest(store.parent, package)
            write_notebook_defaults(package)
            print(f"reference manifest: {display_path(manifest)} (the SHA-256 of each file a notebook may fetch)")
    return report


def write_outputs_back(executed: Path, notebook: Path) -> None:
    """Write an executed notebook over the committed one, without papermill's injected-parameters
    cell (the committed notebook keeps its defaults in its ``parameters`` cell), with its
    "**Time:**" line rendered from the measured times."""
    committed = nbformat.read(executed, as_version=4)
    committed.cells = [c for c in committed.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    renumber(committed)
    update_time_line(committed, notebook.stem)
    nbformat.write(committed, notebook)


def renumber(nb) -> None:
    """Execution counts 1, 2, 3, ... over the code cells that ran, as a reader running the notebook
    top to bottom sees them (papermill's removed parameters cell would leave a gap), results included."""
    ran = [c for c in nb.cells if c.cell_type == "code" and c.get("execution_count") is not None]
    for count, cell in enumerate(ran, start=1):
        cell.execution_count = count
        for output in cell.get("outputs", []):
            if output.get("output_type") == "execute_result":
                output["execution_count"] = count
