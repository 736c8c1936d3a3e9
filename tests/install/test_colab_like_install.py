"""Installing the package as Colab does, beside a torch it did not pin, and running the smoke suite.

Each case builds a fresh virtual environment, installs torch first (Colab's own; here the one CPU
build this project can reach, 2.13.0), then installs the package from this checkout exactly as the
notebooks' install cell does (no constraints file), plus papermill and a kernel to run the
notebooks headless. ``lower-bounds`` holds every other dependency at the lowest version that
``pyproject.toml`` allows, as scikit-learn's minimum-versions job does. Then every notebook runs in
the smoke profile from this checkout's ``notebooks/``.

Minutes each, and it needs the package index: run it with ``pytest -m install tests/install``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.install

REPO = Path(__file__).resolve().parents[2]
COLAB_TORCH = ["torch==2.13.0", "torchvision==0.28.0"]
RUNNER = ["papermill", "ipykernel"]  # what runs the notebooks headless (Colab has its own kernel)


def install_cell_requirement() -> str:
    """The requirement the notebooks' install cell passes to pip, pointed at this checkout."""
    cell = "".join(json.loads((REPO / "notebooks" / "01_data_exploration.ipynb").read_text())["cells"][1]["source"])
    requirement = re.search(r'"(pneumolib[^"]* @ git\+[^"]+)"', cell).group(1)
    return re.sub(r"@ git\+\S+", f"@ {REPO.as_uri()}", requirement)


def lower_bounds() -> list[str]:
    """``name==lowest`` for every dependency of the package and of its ``notebooks`` extra (what
    runs them headless) with a ``>=`` bound in pyproject.toml; torch aside, as Colab has its own."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"]) + list(project["optional-dependencies"]["notebooks"])
    pins = {}
    for spec in specs:
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?>=([0-9][^,;\s]*)", spec.strip())
        if match and match.group(1) not in ("torch", "torchvision"):
            pins[match.group(1)] = f"{match.group(1)}=={match.group(3)}"
    return sorted(pins.values())


def _run(args: list, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{' '.join(map(str, args))[:300]} failed:\n{(result.stdout + result.stderr)[-3000:]}"
    return result


@pytest.mark.parametrize("case", ["colab", "lower-bounds"])
def test_install_beside_a_preinstalled_torch_then_run_the_smoke_suite(case, tmp_path, real_data_dir):
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv])
    python = venv / "bin" / "python"
    pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    _run([*pip, *COLAB_TORCH])
    constraints = []
    if case == "lower-bounds":
        (tmp_path / "lower.txt").write_text("\n".join(lower_bounds() + COLAB_TORCH) + "\n")
        constraints = ["-c", tmp_path / "lower.txt"]
    else:
        (tmp_path / "torch.txt").write_text("\n".join(COLAB_TORCH) + "\n")  # pip must keep Colab's torch
        constraints = ["-c", tmp_path / "torch.txt"]
    _run([*pip, *constraints, install_cell_requirement(), *RUNNER])
    versions = _run([python, "-m", "pip", "list", "--format=json"]).stdout
    installed = {p["name"].lower(): p["version"] for p in json.loads(versions)}
    assert installed["torch"].startswith("2.13.0"), "installing the package replaced the preinstalled torch"
    if case == "lower-bounds":
        for pin in lower_bounds():
            name, version = pin.split("==")
            if name.lower() in installed:
                assert installed[name.lower()].startswith(version), (pin, installed[name.lower()])
    env = {**os.environ, "PNEUMOLIB_RESULTS": str(tmp_path / "results"), "PNEUMOLIB_DATA": str(real_data_dir),
           "SMOKE_TEST": "1", "PYTHONPATH": "", "JUPYTER_PATH": str(venv / "share" / "jupyter")}  # the venv's kernel
    for notebook in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        _run([python, "-m", "papermill", notebook, tmp_path / notebook.name, "-p", "smoke", "True", "-p", "progress",
              "False", "--kernel", "python3", "--execution-timeout", "600"], env=env, cwd=REPO / "notebooks")
    print(f"{case}: " + ", ".join(f"{n} {installed[n]}" for n in sorted(installed) if n in
                                   {"torch", "numpy", "pandas", "scikit-learn", "scipy", "matplotlib", "grad-cam"}))
