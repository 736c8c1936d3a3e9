"""An nbgrader course folder, laid out and driven through nbgrader's own API.

``<root>/source/pneumolib/NN_*.ipynb`` holds the complete notebooks, ``gradebook.db`` is nbgrader's
embedded sqlite gradebook (no server), and nbgrader writes ``release/``, ``submitted/``,
``autograded/`` and ``feedback/`` beside them, as in any nbgrader course.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Sequence

from pneumolib.errors import ConfigError
from . import ASSIGNMENT
from .kernels import StudentKernel


def nbgrader_api(root: Path, cell_timeout: int = 300, kernel_wrapper: list[str] | None = None,
                 runtime_folder: Path | None = None, max_output_chars: int = 100_000,
                 notebook_timeout: int | None = None, kernel: StudentKernel | None = None):
    """An ``NbGraderAPI`` for the course at ``root``: sqlite gradebook in the folder, each cell
    stopped after ``cell_timeout`` seconds and, with ``notebook_timeout``, each notebook's cells
    after that many seconds in all, deleted test cells added back at autograding, each
    cell's output cut at ``max_output_chars``. With ``kernel_wrapper`` (from
    :func:`~pneumocourse.teaching.sandbox.sandbox_command`) every kernel starts in the sandbox. With
    ``kernel``, the notebooks it autogrades share one kernel, reset between them
    (:mod:`~pneumocourse.teaching.kernels`); its caller shuts it down."""
    try:
        from nbgrader.apps import NbGraderAPI
        from traitlets.config import Config
    except ImportError as exc:
        raise ConfigError("assignments need nbgrader: pip install -c constraints.txt nbgrader==0.9.6 "
                          "(make install does it).") from exc
    # nbgrader runs `alembic` for its gradebook: make this interpreter's scripts findable
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    config = Config()
    config.CourseDirectory.root = str(root.resolve())
    config.CourseDirectory.db_url = f"sqlite:///{(root / 'gradebook.db').resolve()}"
    config.Execute.timeout = cell_timeout
    config.Execute.interrupt_on_timeout = True
    config.OverwriteCells.add_missing_cells = True
    config.Application.log_level = logging.WARNING
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import Execute

    from .kernels import shared_kernel_execute
    from .sandbox import SandboxedKernelManager, notebook_budget_execute, output_limit_preprocessor

    execute = notebook_budget_execute(notebook_timeout) if notebook_timeout else Execute
    ours = {"LimitOutput": output_limit_preprocessor(max_output_chars),
            "Execute": shared_kernel_execute(execute, kernel) if kernel is not None else execute}
    config.Autograde.autograde_preprocessors = [ours.get(p.__name__, p)
                                                for p in Autograde.class_traits()["autograde_preprocessors"].default()]
    config.LimitOutputSize.max_lines = 1000
    if kernel_wrapper is not None:
        config.Execute.kernel_manager_class = SandboxedKernelManager
        config.SandboxedKernelManager.wrapper = list(kernel_wrapper)
        config.SandboxedKernelManager.runtime_folder = str(runtime_folder)
    return NbGraderAPI(config=config)


def make_course(root: Path, notebooks: Sequence[Path], cell_timeout: int = 300):
    """Copy ``notebooks`` into ``root/source/pneumolib/`` and generate the assignment (release
    versions and gradebook). Returns the API. Fails with nbgrader's log when generation fails."""
    source = root / "source" / ASSIGNMENT
    source.mkdir(parents=True, exist_ok=True)
    for path in notebooks:
        shutil.copy2(path, source / path.name)
    api = nbgrader_api(root, cell_timeout)
    result = api.generate_assignment(ASSIGNMENT, force=True, create=True)
    if not result["success"]:
        raise ConfigError(f"nbgrader could not generate the assignment:\n{result.get('log', '')[-3000:]}")
    return api


def release_folder(root: Path) -> Path:
    """Where nbgrader wrote the student versions."""
    return root / "release" / ASSIGNMENT
