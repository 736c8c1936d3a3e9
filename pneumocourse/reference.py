"""The reference results by URL: where no checkout is beside a notebook (a fresh Colab runtime),
the run records, models and decisions that earlier notebooks made are fetched from the published
repository instead of trained again, and each file is checked against the SHA-256 that the
installed course package ships (``pneumocourse/reference.sha256``, written by ``python -m tools.notebooks run
--update-reference``), so a changed or damaged file is never used.

When fetching is on: ``$PNEUMOLIB_REFERENCE_URL`` is set (a release, or a local server in tests),
or the results folder is not inside a checkout (``results/`` of the working directory, as in
Colab) and then the project's own URL is used. ``PNEUMOLIB_REFERENCE_URL=off`` turns it off;
``python -m tools.notebooks run --replicate`` does, since a replicate retrains everything. Only the default
profile has reference results. A file that cannot be fetched is trained (or made) here instead,
and the notebook says so.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from functools import lru_cache
from importlib import resources
from pathlib import Path

from pneumolib.experiments.checksums import sha256_of
from pneumolib.paths import active_profile, display_path, results_base

from .notebooks import checkout_root

REFERENCE_URL_ENV = "PNEUMOLIB_REFERENCE_URL"
PROJECT_REFERENCE_URL = "https://raw.githubusercontent.com/pneumolib/pneumolib/main/results/"
MANIFEST = "reference.sha256"  # package data: "sha256  path relative to results/" per line
PACKAGED = {"metrics/06_decisions.json": "reference_decisions.json"}  # small reference files the package ships
TIMEOUT_S = 30


@lru_cache(maxsize=1)
def manifest() -> dict[str, str]:
    """``{path relative to results/: sha256}`` of every reference file, as the package ships it."""
    try:
        text = resources.files("pneumocourse").joinpath(MANIFEST).read_text()
    except (FileNotFoundError, OSError):
        return {}
    return {name.strip(): digest for digest, name in (line.split(maxsplit=1) for line in text.splitlines() if line.strip())}


def reference_url() -> str | None:
    """The base URL reference files are fetched from, or None when fetching is off."""
    env = os.environ.get(REFERENCE_URL_ENV, "").strip()
    if env.lower() in ("off", "0", "none"):
        return None
    if env:
        return env if env.endswith("/") else env + "/"
    return None if checkout_root() is not None or os.environ.get("PNEUMOLIB_RESULTS") else PROJECT_REFERENCE_URL


def fetch(relative: str, log=print, any_profile: bool = False) -> Path | None:
    """Make ``results/<relative>`` (a path of the manifest) present by fetching it, checked
    against its SHA-256; returns its path, or None (with a line saying why) when fetching is off,
    the file is not a reference file, the profile is not the default, or the download fails or
    does not match. An existing file is left as it is. ``any_profile``: fetch in the smoke profile
    too (a default-profile file that a smoke run may use, such as 06's decisions)."""
    target = results_base() / relative
    if target.is_file():
        return target
    url, expected = reference_url(), manifest().get(relative)
    if url is None or expected is None or (active_profile() != "default" and not any_profile):
        return None
    source = url + relative
    try:
        with urllib.request.urlopen(source, timeout=TIMEOUT_S) as response:
            payload = response.read()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        log(f"could not fetch {relative} from {url} ({getattr(exc, 'reason', exc)}); making it here instead")
        return None
    if hashlib.sha256(payload).hexdigest() != expected:
        log(f"{source} does not match the SHA-256 this package ships for it: not used, making it here instead "
            "(reinstall the package at the version of the published results, or set PNEUMOLIB_REFERENCE_URL)")
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as handle:
        handle.write(payload)
    os.replace(handle.name, target)
    log(f"fetched {display_path(target)} from {url} ({len(payload) / 1e6:.1f} MB, SHA-256 checked)")
    return target


def packaged(relative: str) -> Path | None:
    """The copy of reference file ``relative`` that the installed package ships (06's decisions, a
    recipe of a few hundred bytes, so that 07 runs offline in a fresh runtime), checked against the
    manifest; None when the package ships none or it does not match."""
    name, expected = PACKAGED.get(relative), manifest().get(relative)
    if name is None or expected is None:
        return None
    path = Path(str(resources.files("pneumocourse").joinpath(name)))
    if not path.is_file():
        return None
    return path if sha256_of(path) == expected else None


def write_manifest(results: Path, package: Path) -> Path:
    """Write ``package/reference.sha256`` from the reference files under ``results``: every record and
    model of the store and 06's decisions (``--update-reference``), and the package's copies of the
    small files it ships (:data:`PACKAGED`)."""
    files = sorted([*results.glob("store/*/record.json"), *results.glob("store/*/model.pt"),
                    *results.glob("metrics/06_decisions.json")])
    lines = [f"{sha256_of(p)}  {p.relative_to(results).as_posix()}" for p in files]
    path = package / MANIFEST
    path.write_text("\n".join(lines) + "\n")
    for relative, name in PACKAGED.items():
        if (results / relative).is_file():
            (package / name).write_bytes((results / relative).read_bytes())
    manifest.cache_clear()
    return path
