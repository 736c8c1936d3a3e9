"""Where things live: the project folder, the data folder, and the results folder.

The project folder holds ``results/`` and ``data/`` by default: the working directory, unless the
caller names another with :func:`use_project_folder` (the course's notebooks, which run inside
``notebooks/``, name their checkout's root). ``$PNEUMOLIB_RESULTS`` and ``$PNEUMOLIB_DATA`` point
elsewhere.

A results folder may read what it lacks from a **reference** folder, read-only: a render of the
committed results (``make run``) writes into ``results/render/`` and a run with other parameters
into ``results/custom/<name>-<parameters>/``, and both read the committed ``results/`` (its
run store, the decisions a study saved) without ever writing there. :class:`ResultsLocation` holds the pair;
``$PNEUMOLIB_REFERENCE_RESULTS`` names the reference for the kernels a suite starts.

Profiles never overwrite each other: the results of the default profile are committed, so a
smoke run (seconds of work on a small subset) writes the same layout one folder down, in
``results/smoke/``. A notebook session picks its profile with :func:`use_profile`; everything
else asks :func:`results_dir`.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable

RESULTS_ENV_VAR = "PNEUMOLIB_RESULTS"
REFERENCE_ENV_VAR = "PNEUMOLIB_REFERENCE_RESULTS"  # a read-only results folder to read what the results lack
RENDER_FOLDER = "results/render"  # make run: the committed results rendered again, compared, never written back
CUSTOM_FOLDER = "results/custom"  # runs with other parameters than a notebook's committed defaults
SHOWN_AS_ENV_VAR = "PNEUMOLIB_RESULTS_SHOWN_AS"  # how the kernels a render starts show its folder ("results")
REPLICATE_FOLDER = "results/replicate"  # a replicate: this machine's own runs, never the reference (not committed)
PROFILES = ("default", "smoke")  # the default profile writes to the base folder, the others below it
_active_profile = "default"


_project_folder: Path | None = None


@dataclass(frozen=True)
class ResultsLocation:
    """Where a process writes its results (``base``, the default profile's folder; other profiles
    one folder down), the read-only ``reference`` folder it reads what it lacks from (None: none),
    and how ``base`` is shown to a reader (``shown_as``: a render shows its paths as the
    ``results/`` it stands for; None: the path itself)."""

    base: Path
    reference: Path | None = None
    shown_as: str | None = None


_location: ResultsLocation | None = None


def use_results_location(location: ResultsLocation | None) -> None:
    """Make ``location`` this process's results location (None: ``$PNEUMOLIB_RESULTS`` or
    ``<project>/results``, with ``$PNEUMOLIB_REFERENCE_RESULTS`` as its reference)."""
    global _location
    _location = location


def results_location() -> ResultsLocation:
    """The results location in force: the one :func:`use_results_location` set, else the one the
    environment and the project folder give."""
    if _location is not None:
        return _location
    env, reference = os.environ.get(RESULTS_ENV_VAR), os.environ.get(REFERENCE_ENV_VAR)
    base = Path(env).expanduser() if env else project_root() / "results"
    return ResultsLocation(base, Path(reference).expanduser() if reference else None,
                           os.environ.get(SHOWN_AS_ENV_VAR) or None)


def reference_dir(profile: str | None = None) -> Path | None:
    """The read-only reference folder of ``profile`` (default: the active one): the reference
    itself for the default profile, ``<reference>/<profile>`` for the others; None when there is
    none (a folder is never its own reference)."""
    location = results_location()
    if location.reference is None or location.reference.resolve() == location.base.resolve():
        return None
    profile = _checked_profile(profile or _active_profile)
    return location.reference if profile == "default" else location.reference / profile


def use_project_folder(folder: str | os.PathLike | None) -> None:
    """Make ``folder`` this process's project folder (None: the working directory)."""
    global _project_folder
    _project_folder = None if folder is None else Path(folder).resolve()


def project_root() -> Path:
    """The project folder: the one :func:`use_project_folder` named, else the working directory."""
    return _project_folder or Path.cwd().resolve()


def reference_counterpart(path: str | os.PathLike) -> Path | None:
    """The reference's copy of ``path`` (a file of the active results folder): the same path under
    :func:`reference_dir`, when there is a reference and it holds that file; else None."""
    reference = reference_dir()
    if reference is None:
        return None
    try:
        relative = Path(path).resolve().relative_to(results_dir().resolve())  # within the profile's folder
    except ValueError:
        return None
    counterpart = reference / relative
    return counterpart if counterpart.is_file() else None


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
    """The base of the results location: ``$PNEUMOLIB_RESULTS`` when set (tests use a temporary
    folder), else ``<project>/results``, unless :func:`use_results_location` named another."""
    return results_location().base


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
    shown_as = results_location().shown_as
    if shown_as is None:  # a results folder inside the project shows as its path there (results/custom/...)
        try:
            shown_as = results_base().resolve().relative_to(project_root()).as_posix()
        except ValueError:
            shown_as = "results"
    for base, prefix in ((results_base().resolve(), shown_as), (project_root(), "")):
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
