"""The course's checkout and its numbered notebooks (``notebooks/NN_*.ipynb``), in order."""

from __future__ import annotations

import ast
import json
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

from pneumolib.errors import ConfigError
from pneumolib.paths import use_project_folder

DEFAULTS_FILE = "notebook_defaults.json"  # package data: each notebook's parameters cell, for runs outside a checkout


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


def parameters_cell(path: Path) -> dict[str, Any]:
    """The literal assignments of a notebook's cell tagged ``parameters`` (papermill's defaults)."""
    cells = json.loads(Path(path).read_text(encoding="utf-8"))["cells"]  # plain JSON: nbformat costs a second to import
    cell = next((c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    if cell is None:
        return {}
    source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    values = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            values[node.targets[0].id] = ast.literal_eval(node.value)
    return values


def notebook_defaults(name: str) -> dict[str, Any] | None:
    """The committed defaults of notebook ``name`` (``02_transfer``): its parameters cell in the
    checkout, else the copy the package ships (:data:`DEFAULTS_FILE`); None when neither has it."""
    root = checkout_root()
    if root is not None and (root / "notebooks" / f"{name}.ipynb").is_file():
        return parameters_cell(root / "notebooks" / f"{name}.ipynb")
    try:
        shipped = json.loads(resources.files("pneumocourse").joinpath(DEFAULTS_FILE).read_text())
    except (FileNotFoundError, OSError, ValueError):
        return None
    return shipped.get(name)


def write_notebook_defaults(package: Path) -> Path:
    """Write every numbered notebook's parameters cell into the package's :data:`DEFAULTS_FILE`."""
    defaults = {path.stem: parameters_cell(path) for path in notebook_paths()}
    path = package / DEFAULTS_FILE
    path.write_text(json.dumps(defaults, indent=1, sort_keys=True) + "\n")
    return path
