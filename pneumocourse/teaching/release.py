"""Student versions of the notebooks, written by nbgrader's ``generate_assignment``.

nbgrader replaces each solution with a stub, removes the hidden tests and clears the outputs;
this module then adds a short cell on how to check and submit, and copies the result out.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

import nbformat
from nbformat.v4 import new_markdown_cell

from pneumolib.errors import ConfigError
from pneumolib.paths import display_path
from .course import make_course, release_folder

HOW_TO = """**How to check and submit.** Each exercise below has a cell marked `# YOUR CODE HERE`
(or *YOUR ANSWER HERE* for a written question): replace the stub with your solution. The test
cell after it gives feedback at once; passing it is necessary, not sufficient, since the grader
also runs your code on inputs of its own, drawn anew for each grading, and judges the answers
outside your notebook. Do not edit or delete the test cells: they are restored
from the original when grading. Before you submit, restart the kernel and run all cells, then
hand in this `.ipynb` file as your course asks (with nbgrader's *Assignments* tab, or by upload)."""


# An "Open in Colab" badge: [![Open In Colab](...colab-badge.svg)](link), with the link captured.
BADGE = re.compile(r"\[!\[Open In Colab\]\([^)]*colab-badge\.svg\)\]\((?P<link>[^)]*)\)\n?")
GITHUB_FOLDER = re.compile(r"^https://github\.com/(?P<owner>[\w.-]+)/(?P<repo>[\w.-]+)/(?:tree|blob)/(?P<rest>[^?#]+?)/?$")
NO_URL_NOTE = ("*This student release has no \"Open in Colab\" badge: the course's badge opens the public "
               "notebook, which holds the solutions. Instructors: publish the student notebooks (for example "
               "in a GitHub repository of their own) and release again with "
               "`python -m pneumocourse assignments release --publish-url https://github.com/OWNER/REPO/tree/BRANCH/FOLDER`, "
               "which points each badge there.*")


def colab_link(publish_url: str, notebook: str) -> str:
    """The Colab link of ``notebook`` published in the GitHub folder ``publish_url``
    (``https://github.com/OWNER/REPO/tree/BRANCH[/FOLDER]``). Raises ConfigError for another URL."""
    match = GITHUB_FOLDER.match(publish_url.strip())
    if not match:
        raise ConfigError(f"--publish-url must be the GitHub folder where the student notebooks are published, "
                          f"https://github.com/OWNER/REPO/tree/BRANCH[/FOLDER] (Colab opens notebooks from "
                          f"GitHub), got {publish_url!r}.")
    return (f"https://colab.research.google.com/github/{match['owner']}/{match['repo']}/blob/"
            f"{match['rest']}/{notebook}")


def point_badges(path: Path, publish_url: str | None) -> int:
    """Point each "Open in Colab" badge of the notebook at ``path`` at its published student
    version, or, without ``publish_url``, remove the badges and say how to set one. Returns how
    many badges were changed."""
    nb = nbformat.read(path, as_version=4)
    changed = 0
    for cell in nb.cells:
        if cell.cell_type != "markdown" or not BADGE.search(cell.source):
            continue
        if publish_url:
            link = colab_link(publish_url, path.name)
            cell.source, n = BADGE.subn(lambda m: m.group(0).replace(m["link"], link), cell.source)
        else:
            cell.source, n = BADGE.subn("", cell.source)
            cell.source = cell.source.rstrip() + "\n\n" + NO_URL_NOTE if n else cell.source
        changed += n
    nbformat.write(nb, path)
    return changed


def add_how_to(path: Path) -> None:
    """Insert the how-to cell after the notebook's title cell (an ungraded, unlocked Markdown cell)."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(1, new_markdown_cell(HOW_TO, metadata={"tags": ["student-how-to"]}))
    nbformat.write(nb, path)


def release(notebooks: Sequence[Path], out: Path, cell_timeout: int = 300,
            publish_url: str | None = None) -> list[Path]:
    """Write the student version of each notebook into ``out`` (which must not hold notebooks
    already: a release never overwrites one), its "Open in Colab" badge pointed at
    ``publish_url`` (see :func:`point_badges`). Returns the written paths."""
    out = Path(out)
    if publish_url:
        colab_link(publish_url, "check.ipynb")  # a bad URL is refused before any work
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
            point_badges(target, publish_url)
            written.append(target)
    return written
