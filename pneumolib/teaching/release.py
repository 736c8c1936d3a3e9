"""Student versions of the notebooks, written by nbgrader's ``generate_assignment``.

nbgrader replaces each solution with a stub, removes the hidden tests and clears the outputs;
this module then adds a short cell on how to check and submit, and copies the result out.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Sequence

import nbformat
from nbformat.v4 import new_markdown_cell

from ..errors import ConfigError
from ..paths import display_path
from .course import make_course, release_folder

HOW_TO = """**How to check and submit.** Each exercise below has a cell marked `# YOUR CODE HERE`
(or *YOUR ANSWER HERE* for a written question): replace the stub with your solution. The test
cell after it gives feedback at once; passing it is necessary, not sufficient, since the grader
also runs hidden tests on other inputs. Do not edit or delete the test cells: they are restored
from the original when grading. Before you submit, restart the kernel and run all cells, then
hand in this `.ipynb` file as your course asks (with nbgrader's *Assignments* tab, or by upload)."""


def add_how_to(path: Path) -> None:
    """Insert the how-to cell after the notebook's title cell (an ungraded, unlocked Markdown cell)."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(1, new_markdown_cell(HOW_TO, metadata={"tags": ["student-how-to"]}))
    nbformat.write(nb, path)


def release(notebooks: Sequence[Path], out: Path, cell_timeout: int = 300) -> list[Path]:
    """Write the student version of each notebook into ``out`` (which must not hold notebooks
    already: a release never overwrites one). Returns the written paths."""
    out = Path(out)
    clashes = [out / p.name for p in notebooks if (out / p.name).exists()]
    if clashes:
        raise ConfigError(f"{display_path(clashes[0])} exists; a release never overwrites a notebook. "
                          "Choose an empty folder with --out, or remove the old release first.")
    with tempfile.TemporaryDirectory(prefix="pneumolib-release-") as tmp:
        make_course(Path(tmp), notebooks, cell_timeout)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for path in notebooks:
            target = out / path.name
            shutil.copy2(release_folder(Path(tmp)) / path.name, target)
            add_how_to(target)
            written.append(target)
    return written
