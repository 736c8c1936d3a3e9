"""Where things live: the project folder, the data folder, and the results folder.

The project folder holds ``results/`` and ``data/`` by default: the working directory, unless the
caller names another with :func:`use_project_folder` (the course's notebooks, which run inside
``notebooks/``, name their checkout's root). ``$PNEUMOLIB_RESULTS`` and ``$PNEUMOLIB_DATA`` point
elsewhere.

Profiles never overwrite each other: the results of the default profile are committed, so a
smoke run (seconds of work on a small subset) writes the same layout one folder down, in
``results/smoke/``. A notebook session picks its profile with :func:`use_profile`; everything
else asks :func:`results_dir`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, Callable

RESULTS_ENV_VAR = "PNEUMOLIB_RESULTS"
REPLICATE_FOLDER = "results/replicate"  # a replicate: this machine's own runs, never the reference (not committed)
PROFILES = ("default", "smoke")  # the default profile writes to the base folder, the others below it
_active_profile = "default"


_project_folder: Path | None = None


def use_project_folder(folder: str | os.PathLike | None) -> None:
    """Make ``folder`` this process's project folder (None: the working directory)."""
    global _project_folder
    _project_folder = None if folder is None else Path(folder).resolve()


def project_root() -> Path:
    """The project folder: the one :func:`use_project_folder` named, else the working directory."""
    return _project_folder or Path.cwd().resolve()


def use_profile(name: str) -> None:
    """Make ``name`` (``default`` or ``smoke``) the active profile of this process.

    A smoke run must not replace the committed numbers and figures of the default profile
    without a word, so each profile has its own results folder (see :func:`results_dir`).
    """
    global _active_profile
    _active_profile = _checked_profile(name)


def active_profile() -> str:
    """The profile that :func:`results_dir` writes for: ``default`` unless :func:`use_profile` said otherwise."""
    return _active_profile


def results_base() -> Path:
    """``$PNEUMOLIB_RESULTS`` when set (tests use a temporary folder), else ``<project>/results``."""
    env = os.environ.get(RESULTS_ENV_VAR)
    return Path(env).expanduser() if env else project_root() / "results"


def results_dir(profile: str | None = None) -> Path:
    """The results folder of ``profile`` (default: the active one): :func:`results_base` for the
    default profile, ``<base>/<profile>`` (``results/smoke``) for the others."""
    profile = _checked_profile(profile or _active_profile)
    return results_base() if profile == "default" else results_base() / profile


def _checked_profile(name: str) -> str:
    if name not in PROFILES:
        raise ValueError(f"profile must be one of {list(PROFILES)}, got {name!r}.")
    return name


def results_path(kind: str, name: str) -> Path:
    """``results/<kind>/<name>`` in the active profile's folder, creating the folder: kinds are
    figures, metrics, models, notebooks, runs, ssl."""
    folder = results_dir() / kind
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def display_path(path: Path) -> str:
    """A path as a reader should see it: relative to the project (or results) folder when possible.

    Results paths start with ``results/`` whatever the profile: a smoke file reads
    ``results/smoke/...``, so the two profiles' files never look alike."""
    path = Path(path).resolve()
    for base, prefix in ((results_base().resolve(), "results"), (project_root(), "")):
        try:
            rel = path.relative_to(base)
        except ValueError:
            continue
        return str(Path(prefix) / rel) if prefix else str(rel)
    return path.name


def resolve_display_path(text: str | os.PathLike) -> Path:
    """The inverse of :func:`display_path`: ``results/...`` lives in :func:`results_base`
    (``results/smoke/...`` in its smoke folder), whatever the active profile; other relative
    paths are taken from the working directory when they exist there, else from the project
    root. Absolute paths are returned as they are."""
    path = Path(text).expanduser()
    if path.is_absolute() or path.exists():
        return path
    if path.parts and path.parts[0] == "results":
        return results_base().joinpath(*path.parts[1:])
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
