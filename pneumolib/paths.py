"""Where things live: the project root, the data folder, and the results folder.

Notebooks run with their working directory at the repository root (papermill from the root)
or in ``notebooks/`` (Jupyter, nbval), so relative defaults are resolved against the project
root, found by walking up from the working directory.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, Callable

RESULTS_ENV_VAR = "PNEUMOLIB_RESULTS"


def project_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: cwd) holding ``pneumolib/`` and ``notebooks/``.

    Outside a checkout (for example in Colab after ``pip install``), it is the working directory.
    """
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pneumolib").is_dir() and (folder / "notebooks").is_dir():
            return folder
    return here


def results_dir() -> Path:
    """``$PNEUMOLIB_RESULTS`` when set (tests use a temporary folder), else ``<project>/results``."""
    env = os.environ.get(RESULTS_ENV_VAR)
    return Path(env).expanduser() if env else project_root() / "results"


def results_path(kind: str, name: str) -> Path:
    """``results/<kind>/<name>``, creating the folder: kinds are figures, metrics, models, notebooks, runs."""
    folder = results_dir() / kind
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def display_path(path: Path) -> str:
    """A path as a reader should see it: relative to the project (or results) folder when possible."""
    path = Path(path).resolve()
    for base, prefix in ((results_dir().resolve(), "results"), (project_root(), "")):
        try:
            rel = path.relative_to(base)
        except ValueError:
            continue
        return str(Path(prefix) / rel) if prefix else str(rel)
    return path.name


def resolve_display_path(text: str | os.PathLike) -> Path:
    """The inverse of :func:`display_path`: ``results/...`` lives in :func:`results_dir`, other
    relative paths are taken from the working directory when they exist there, else from the
    project root. Absolute paths are returned as they are."""
    path = Path(text).expanduser()
    if path.is_absolute() or path.exists():
        return path
    if path.parts and path.parts[0] == "results":
        return results_dir().joinpath(*path.parts[1:])
    return project_root() / path


def write_atomically(path: str | os.PathLike, write: Callable[[IO], None], binary: bool = False) -> Path:
    """Call ``write(handle)`` on a temporary file beside ``path``, then rename it into place, so a
    reader (or a resumed run) never sees a half-written file. The folder is created if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if binary else "w") as handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
