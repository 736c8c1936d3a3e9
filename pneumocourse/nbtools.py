"""Notebook support: parameter checks, the smoke profile, data for a notebook, saved tables.

Every notebook's setup cell calls its companion's ``setup`` (:mod:`pneumocourse.companions`), which
calls :func:`start` and the checks here with the notebook's papermill parameters. A bad value stops
there with a one-line error that names the parameter.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from pneumolib.config import IMAGE_SIZES
from pneumolib.data import PneumoniaData, load_pneumoniamnist, npz_filename, resolve_data_dir, subsample
from pneumolib.devices import resolve_device
from pneumolib.errors import ConfigError
from pneumolib.experiments.runs import DataSpec
from pneumolib.experiments.store import use_missing_file_source
from pneumolib.evaluation.precision import rounded_table
from pneumolib.paths import (CUSTOM_FOLDER, ResultsLocation, display_path, results_dir, results_location, results_path,
                             use_profile, use_results_location)
from .notebooks import checkout_root, notebook_defaults, use_checkout
from .plots import use_style
from .reference import fetch
from pneumolib.repro import seed_everything

SMOKE_ENV_VAR = "SMOKE_TEST"
SMOKE_SIZES = {"n_train": 384, "n_eval": 160}  # images per split in the smoke profile
# parameters that do not make a run custom: the headless switches a runner sets, and the profile
# (the smoke profile has its own folder already)
NOT_CUSTOM = ("progress", "interactive", "smoke")


@dataclass(frozen=True)
class NotebookSession:
    """Validated common parameters of a notebook run."""

    smoke: bool
    progress: bool
    seed: int
    device: torch.device
    data_dir: Path
    image_size: int

    @property
    def profile(self) -> str:
        return "smoke" if self.smoke else "default"


def smoke_requested(smoke: bool) -> bool:
    """The smoke profile is on when the parameter says so or ``SMOKE_TEST=1`` (nbval runs)."""
    return bool(smoke) or os.environ.get(SMOKE_ENV_VAR, "") == "1"


def check_type(name: str, value: Any, kind: type | tuple[type, ...]) -> None:
    """One-line ConfigError when a parameter has the wrong type (bool is not an int here)."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise ConfigError(f"parameter {name} must be {names}, got {value!r} ({type(value).__name__}).")


def check_min_int(name: str, value: Any, minimum: int) -> int:
    """An integer parameter of at least ``minimum``; one-line ConfigError otherwise."""
    check_type(name, value, int)
    if value < minimum:
        raise ConfigError(f"parameter {name} must be at least {minimum}, got {value}.")
    return value


def check_fraction(name: str, value: Any) -> float:
    """A number strictly between 0 and 1; one-line ConfigError otherwise."""
    check_type(name, value, (int, float))
    if not 0 < value < 1:
        raise ConfigError(f"parameter {name} must lie strictly between 0 and 1, got {value}.")
    return float(value)


def _one_of(value: Any, allowed: Sequence) -> bool:
    """``value`` is one of ``allowed`` (a list, dict or set never is: ``in`` may not be able to hash it)."""
    return not isinstance(value, (list, dict, set)) and value in allowed


def check_choice(name: str, value: Any, allowed: Sequence, why: str = "") -> Any:
    """A parameter that must be one of ``allowed``; one-line ConfigError otherwise (``why``, when
    given, says what the choices are for)."""
    if not _one_of(value, allowed):
        reason = f" ({why})" if why else ""
        raise ConfigError(f"parameter {name} must be one of {list(allowed)}{reason}, got {value!r}.")
    return value


def check_choices(name: str, values: Any, allowed: Sequence, required: Sequence = ()) -> list:
    """A non-empty list parameter whose items are all in ``allowed`` and that includes ``required``."""
    check_type(name, values, list)
    unknown = [v for v in values if not _one_of(v, allowed)]
    missing = [v for v in required if v not in values]
    if not values or unknown or missing:
        needs = f", including {missing}" if missing else ""
        raise ConfigError(f"parameter {name} must be a non-empty list from {list(allowed)}{needs}; got {values!r}"
                          + (f" (unknown: {unknown})." if unknown else "."))
    return list(values)


def check_positive_list(name: str, values: Any, kind: type) -> list:
    """A non-empty list of positive numbers of ``kind`` (int or float; a bool is neither)."""
    check_type(name, values, list)
    if not values or any(isinstance(v, bool) or not isinstance(v, kind) or v <= 0 for v in values):
        raise ConfigError(f"parameter {name} must be a non-empty list of positive {kind.__name__}s, got {values!r}.")
    return list(values)


def check_probabilities(name: str, values: Any) -> list[float]:
    """A list of floats strictly between 0 and 1 (target sensitivities and the like)."""
    check_type(name, values, list)
    for value in values:
        if isinstance(value, bool) or not isinstance(value, float) or not 0 < value < 1:
            raise ConfigError(f"parameter {name} must hold numbers strictly between 0 and 1, got {value!r}.")
    return list(values)


def check_seeds(seeds: Any, name: str = "seeds") -> list[int]:
    """A non-empty list of distinct non-negative integer seeds (the parameter ``name``)."""
    check_type(name, seeds, (list, tuple))
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ConfigError(f"parameter {name} must be a non-empty list of distinct integers >= 0, got {seeds!r}.")
    return list(seeds)


def check_seed_groups(groups: Any) -> list[list[int]]:
    """Groups of seeds (one ensemble each): equal-sized lists of distinct seeds, no seed in two groups."""
    check_type("seed_groups", groups, (list, tuple))
    if not groups or any(not isinstance(g, (list, tuple)) or not g for g in groups):
        raise ConfigError(f"parameter seed_groups must be a non-empty list of non-empty seed lists, got {groups!r}.")
    flat = [s for g in groups for s in g]
    if any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in flat) or len(set(flat)) != len(flat):
        raise ConfigError(f"parameter seed_groups must hold distinct integers >= 0, each in one group only, got {groups!r}.")
    if len({len(g) for g in groups}) != 1:
        raise ConfigError(f"parameter seed_groups must have groups of equal size (one ensemble each), got {groups!r}.")
    return [list(g) for g in groups]


def start(
    smoke: bool = False,
    seed: int = 0,
    device: str = "auto",
    data_dir: str = "",
    image_size: int = 28,
    progress: bool = True,
    notebook: str | None = None,
    parameters: dict[str, Any] | None = None,
) -> NotebookSession:
    """Check the common parameters, make the checkout's root (or the working directory outside a
    checkout) the project folder and the session's profile the active one, seed everything, set
    the plot style.

    The profile decides where results go (``results/`` or ``results/smoke/``, see
    :func:`pneumolib.paths.use_profile`), so a smoke run never overwrites the committed results.
    So do ``parameters`` (all of ``notebook``'s): where they differ from the notebook's committed
    defaults, the results go to a folder of their own (:func:`custom_location`), which reads the
    reference's runs and never writes the reference; the notebook says where.
    Progress bars are off in the smoke profile and in headless suite runs (``progress=False``).
    """
    use_checkout()  # results/ and data/ of the checkout, also from inside notebooks/
    check_type("smoke", smoke, bool)
    check_type("progress", progress, bool)
    check_type("seed", seed, int)
    if seed < 0:
        raise ConfigError(f"parameter seed must be >= 0, got {seed}.")
    check_type("device", device, str)
    check_type("data_dir", data_dir, str)
    check_type("image_size", image_size, int)
    if image_size not in IMAGE_SIZES:
        raise ConfigError(f"parameter image_size must be one of {list(IMAGE_SIZES)}, got {image_size}.")
    is_smoke = smoke_requested(smoke)
    session = NotebookSession(
        smoke=is_smoke,
        progress=progress and not is_smoke,
        seed=seed,
        device=resolve_device(device),
        data_dir=resolve_data_dir(data_dir or None),
        image_size=image_size,
    )
    use_results_location(None)  # the environment's (or the project's) results, unless the parameters are custom
    changed = custom_parameters(notebook, parameters) if notebook else {}
    if changed:
        location = custom_location(notebook, changed)
        use_results_location(location)
        print(f"parameters other than the notebook's defaults ({', '.join(f'{k}={v!r}' for k, v in changed.items())}): "
              f"this run's tables, figures and new runs go to {display_path(location.base)}/; the reference "
              f"results are read, never written")
    use_profile(session.profile)
    use_missing_file_source(fetch)  # the store fetches the published reference files it lacks, when fetching is on
    seed_everything(seed)
    use_style()
    return session


def custom_parameters(notebook: str, parameters: dict[str, Any] | None) -> dict[str, Any]:
    """The parameters of this run that differ from ``notebook``'s committed defaults, by name
    (:data:`NOT_CUSTOM` never counts); empty when the defaults are unknown."""
    defaults = notebook_defaults(notebook)
    if not defaults or not parameters:
        return {}
    return {name: parameters[name] for name in sorted(defaults)
            if name not in NOT_CUSTOM and name in parameters and parameters[name] != defaults[name]}


def _value_slug(value: Any) -> str:
    if isinstance(value, float):
        plain, scientific = f"{value:g}", f"{value:.0e}".replace("e-0", "e-").replace("e+0", "e")
        return scientific if float(scientific) == value and len(scientific) < len(plain) else plain
    if isinstance(value, (list, tuple)):
        return "_".join(_value_slug(v) for v in value)
    return "".join(ch if ch.isalnum() or ch in ".-" else "_" for ch in str(value))


def custom_folder_name(notebook: str, changed: dict[str, Any]) -> str:
    """``<notebook>-<name><value>-...`` (``02_transfer-lr1e-4-epochs3``); long names end in a hash."""
    name = "-".join([notebook, *(f"{key}{_value_slug(value)}" for key, value in changed.items())])
    if len(name) > 100:
        import hashlib

        name = f"{name[:80]}-{hashlib.sha256(name.encode()).hexdigest()[:10]}"
    return name


def custom_location(notebook: str, changed: dict[str, Any]) -> ResultsLocation:
    """The results location of a run with ``changed`` parameters: ``<results>/custom/<name>/``,
    reading what it lacks from the results folder it sits in (the committed reference, or the
    folder ``$PNEUMOLIB_RESULTS`` names)."""
    base, name = results_location().base, custom_folder_name(notebook, changed)
    folder = base / CUSTOM_FOLDER.split("/", 1)[1] / name
    return ResultsLocation(folder, reference=base, shown_as=f"{display_path(base)}/custom/{name}")


def load_notebook_data(session: NotebookSession, image_size: int | None = None) -> tuple[PneumoniaData, int | None]:
    """PneumoniaMNIST for a notebook: ``(data, input_size)``.

    When the file for a larger ``image_size`` is missing, the 28 px file is loaded and
    ``input_size`` is returned so that the data path upsamples explicitly; a notice says so.
    """
    size = image_size or session.image_size
    if size != 28 and not (session.data_dir / npz_filename(size)).is_file():
        print(f"Notice: {npz_filename(size)} is not in the data folder; using the 28 px images "
              f"upsampled to {size} px in the data path (a different input than native {size} px).")
        return load_pneumoniamnist(28, session.data_dir, download=False), size
    return load_pneumoniamnist(size, session.data_dir), None


def smoke_subset(data: PneumoniaData, session: NotebookSession) -> PneumoniaData:
    """In the smoke profile, a small stratified subset (same code path); otherwise ``data`` itself."""
    return subsample(data, seed=session.seed, **SMOKE_SIZES) if session.smoke else data


def data_spec(session: NotebookSession, data: PneumoniaData) -> DataSpec:
    """The :class:`DataSpec` of a notebook's data (the file ``data`` came from, and the smoke
    subset in the smoke profile), so that runs go through the runner and the run store."""
    subset = (SMOKE_SIZES["n_train"], SMOKE_SIZES["n_eval"]) if session.smoke else None
    return DataSpec(str(session.data_dir), data.image_size, subset=subset, subset_seed=session.seed)


def save_table(frame: pd.DataFrame, name: str, index: bool = True) -> pd.DataFrame:
    """Write a results table to ``results/metrics/<name>.csv`` with the digits its numbers support
    (:func:`~pneumolib.evaluation.precision.rounded_table`), and return that rounded table: what
    the notebook shows is what the file holds."""
    table = rounded_table(frame)
    table.to_csv(results_path("metrics", f"{name}.csv"), index=index)
    return table


__all__ = [
    "NotebookSession", "check_min_int", "data_spec", "check_seed_groups", "check_seeds", "check_type", "display_path", "load_notebook_data",
    "results_dir", "save_table", "smoke_requested", "smoke_subset", "start",
]


def runtime_notice(session: NotebookSession) -> str:
    """What a student should know before the long work starts: the runtime this kernel found (GPU,
    or CPU with its threads and whether it trains in bf16), where the earlier notebooks' results
    come from here, and how to go faster. The measured times are the notebook's Time line."""
    from .reference import reference_url
    from pneumolib.models.formats import cpu_has_native_bf16, describe_cpu, fp32_forced

    if session.smoke:
        return "Smoke profile: a few batches per run, seconds to a minute for the whole notebook."
    if session.device.type == "cuda":
        runtime = f"GPU runtime ({torch.cuda.get_device_name(session.device)}): training is much faster than the CPU times"
    else:
        bf16 = cpu_has_native_bf16() and not fp32_forced()
        runtime = (f"CPU runtime, {describe_cpu()}: training runs in {'bf16' if bf16 else 'fp32'}"
                   + ("" if bf16 else ", slower than the Time line's CPU with native bf16"))
    in_checkout = checkout_root() is not None
    url = reference_url()
    if in_checkout and not os.environ.get("PNEUMOLIB_RESULTS"):
        source = "the checkout's run store holds the reference results: only what is missing is trained"
    elif url:
        source = f"the reference results are fetched from {url} when needed (each checked by SHA-256)"
    else:
        source = "nothing is fetched (PNEUMOLIB_REFERENCE_URL=off, or a results folder of your own): all is trained here"
    return (f"{runtime}.\nEarlier results: {source}. The Time line at the top gives the measured times, "
            "alone in a fresh runtime too.\n"
            "To go faster: a GPU runtime (Colab: Runtime > Change runtime type > GPU), or the smoke profile "
            "(smoke = True in the parameters cell).")
