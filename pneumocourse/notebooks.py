"""The course's checkout and its numbered notebooks (``notebooks/NN_*.ipynb``), in order."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from pneumolib.errors import ConfigError
from pneumolib.paths import use_project_folder


def checkout_root(start: Path | None = None) -> Path | None:
    """The nearest folder at or above ``start`` (default: the working directory) holding
    ``pneumolib/`` and ``notebooks/``: the course's checkout, or None outside one (a fresh Colab
    runtime after ``pip install``)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pneumolib").is_dir() and (folder / "notebooks").is_dir():
            return folder
    return None


def project_folder() -> Path:
    """Where the course's results and data live: the checkout's root, else the working directory."""
    return checkout_root() or Path.cwd().resolve()


def use_checkout() -> None:
    """Make :func:`project_folder` the library's project folder for this process, so that results and
    data are the checkout's wherever the command or the notebook runs from inside it."""
    use_project_folder(project_folder())


def notebook_paths(only: Sequence[str] = ()) -> list[Path]:
    """The numbered notebooks in ``notebooks/``, in order; ``only`` filters by prefix (``02``) or name."""
    folder = project_folder() / "notebooks"
    paths = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if only:
        chosen = [p for p in paths if any(p.stem.startswith(key) or p.name == key for key in only)]
        if not chosen:
            raise ConfigError(f"--only {list(only)} matches no notebook; have {[p.stem for p in paths]}.")
        paths = chosen
    return paths
