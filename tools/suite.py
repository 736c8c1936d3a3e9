"""Running the notebook suite headless with papermill, in order, with a pass/fail summary."""

from __future__ import annotations

import ast
import os
import time
from pathlib import Path
from typing import Any, Sequence

import nbformat

from pneumolib.data import DATA_ENV_VAR
from pneumolib.paths import RESULTS_ENV_VAR, display_path, project_root, results_dir
from pneumocourse.nbtools import SMOKE_ENV_VAR
from pneumocourse.notebooks import notebook_paths
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


def run_suite(
    only: Sequence[str] = (),
    smoke: bool = False,
    parameters: dict[str, Any] | None = None,
    write_back: bool = False,
) -> list[NotebookRun]:
    """Execute notebooks with papermill into the profile's ``notebooks/`` folder: ``results/notebooks/``,
    or ``results/smoke/notebooks/`` for the smoke profile (where the kernels write their results too).

    Every notebook gets ``parameters`` (and ``smoke=True`` in the smoke profile). A plain run
    renders: the run store serves every run it holds, stored records are never replaced with other
    numbers, and the times go to ``<profile>/notebooks/suite_times.csv`` (not committed), so a fresh
    clone stays clean. With ``write_back`` (``--update-reference``), the run may replace reference
    records, writes the committed times, writes each passing notebook's outputs over
    ``notebooks/<name>``, and lists the store's files in its ``checksums.sha256``.
    """
    import papermill as pm
    from nbclient.exceptions import DeadKernelError

    from pneumolib.experiments.store import MODEL_LOG_ENV, UPDATE_REFERENCE_ENV, RunStore

    custom = bool(parameters)
    parameters = {"progress": False, **(parameters or {})}  # nobody watches a headless run
    for name in (DATA_ENV_VAR, RESULTS_ENV_VAR):  # the kernels run in notebooks/: a relative folder means from here
        if os.environ.get(name):
            os.environ[name] = str(Path(os.environ[name]).expanduser().resolve())
    if smoke:
        parameters["smoke"] = True
        os.environ[SMOKE_ENV_VAR] = "1"
    profile_dir = results_dir("smoke" if smoke else "default")
    model_log = None
    if write_back:
        os.environ[UPDATE_REFERENCE_ENV] = "1"  # the kernels inherit it
        if not only and not smoke and not custom:  # the whole suite: note which models it loads
            model_log = profile_dir / "notebooks" / "models_loaded.txt"
            model_log.parent.mkdir(parents=True, exist_ok=True)
            model_log.write_text("")
            os.environ[MODEL_LOG_ENV] = str(model_log)
    out_dir, store = profile_dir / "notebooks", profile_dir / "store"
    # a replicate (or any results folder of the user's own) is another measurement: no comparison
    renders_reference = profile_dir.resolve() == (project_root() / "results").resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = []
    for path in notebook_paths(only):
        out = out_dir / path.name
        stored_before = stored_runs(store)
        start = time.perf_counter()
        try:
            declared = pm.inspect_notebook(str(path))
            headless = {name: value for name, value in HEADLESS.items() if name in declared}
            pm.execute_notebook(
                str(path), str(out), parameters={**headless, **parameters}, cwd=str(path.parent),
                kernel_name="python3", progress_bar=False, report_mode=False,
            )
            status, error = "passed", ""
        except pm.PapermillExecutionError as exc:
            status, error = "failed", f"{exc.ename}: {exc.evalue}".splitlines()[0]
        except DeadKernelError:  # killed (out of memory, or by hand): this notebook fails, the suite goes on
            status, error = "failed", "the kernel died (out of memory, or killed) before the notebook finished"
        run = NotebookRun(path.stem, status, time.perf_counter() - start, out, error, stored_runs(store) - stored_before)
        runs.append(run)
        if run.status == "passed":
            strip_run_metadata(out)
            if not write_back and not custom and not smoke and renders_reference:  # a render shows the committed numbers
                differing = differing_outputs(out, path)
                if differing:
                    run.status = "failed"
                    run.error = (f"outputs differ from the committed notebook in {', '.join(differing[:5])}"
                                 f"{' and more' if len(differing) > 5 else ''}")
        if run.status == "passed":
            if not custom:  # times with other parameters measure other work
                times_folder = profile_dir / ("metrics" if write_back else "notebooks")
                record_times([run], times_folder / TIMES_FILE)
            if write_back:
                write_outputs_back(out, path)
    if write_back and not custom and not smoke:
        update_readme([p.stem for p in notebook_paths()])
    if write_back:
        reference = RunStore(store)
        if model_log is not None and all(r.status == "passed" for r in runs):
            removed = reference.prune_models(set(model_log.read_text().split()))
            print(f"reference models: {len(list(store.glob('*/model.pt')))} loaded by the notebooks kept, "
                  f"{len(removed)} no notebook loads removed (their records stay)")
        reference.write_checksums()
        if not smoke and not custom:
            import pneumocourse
            from pneumocourse.reference import write_manifest

            manifest = write_manifest(store.parent, Path(pneumocourse.__file__).resolve().parent)
            print(f"reference manifest: {display_path(manifest)} (the SHA-256 of each file a notebook may fetch)")
    return runs


IGNORE_MARK = "NBVAL_IGNORE_OUTPUT"


def _text_outputs(cell) -> list[str]:
    """A code cell's text as a reader sees it: streams (consecutive parts of one stream joined),
    errors, Markdown (the rendered findings) and text/plain results (figures and
    HTML are left out: the figures are compared as files by ``git status`` after ``make run``)."""
    texts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":  # how a kernel splits a stream into outputs varies
            text = "".join(output.get("text", ""))
            if texts and texts[-1][0] == output.get("name"):
                texts[-1] = (texts[-1][0], texts[-1][1] + text)
            else:
                texts.append((output.get("name"), text))
        elif output.get("output_type") == "error":
            texts.append(("error", f"{output.get('ename')}: {output.get('evalue')}"))
        elif "text/markdown" in output.get("data", {}):  # a rendered finding: its text, not its repr
            texts.append(("markdown", "".join(output["data"]["text/markdown"])))
        elif "text/plain" in output.get("data", {}) and "image/png" not in output.get("data", {}):
            texts.append(("result", "".join(output["data"]["text/plain"])))
    return [text for _, text in texts]


def differing_outputs(executed: Path, committed: Path, only_marked: str | None = None) -> list[str]:
    """The code cells whose text outputs differ between an executed notebook and the committed one
    (cells marked ``# NBVAL_IGNORE_OUTPUT`` are skipped, as nbval skips them; with ``only_marked``,
    only the cells that carry that mark are compared, as ``--nbval-lax`` compares the cells marked
    ``NBVAL_CHECK_OUTPUT``): empty when the run rendered the committed numbers."""
    ran = [c for c in nbformat.read(executed, as_version=4).cells
           if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])]
    kept = [c for c in nbformat.read(committed, as_version=4).cells if c.cell_type == "code"]
    if len(ran) != len(kept):
        return [f"{len(ran)} code cells, the committed notebook has {len(kept)}"]

    def compared(cell) -> bool:
        return only_marked in cell.source if only_marked else IGNORE_MARK not in cell.source

    return [f"code cell {i + 1}" for i, (a, b) in enumerate(zip(ran, kept))
            if compared(b) and _text_outputs(a) != _text_outputs(b)]


def write_outputs_back(executed: Path, notebook: Path) -> None:
    """Write an executed notebook over the committed one, without papermill's injected-parameters
    cell (the committed notebook keeps its defaults in its ``parameters`` cell), with its
    "**Time:**" line rendered from the measured times."""
    committed = nbformat.read(executed, as_version=4)
    committed.cells = [c for c in committed.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    update_time_line(committed, notebook.stem)
    nbformat.write(committed, notebook)
