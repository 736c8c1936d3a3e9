"""Installing the package as Colab does, beside a torch it did not pin, and running every notebook
alone, as a student opens it in a fresh runtime.

Each case builds a fresh virtual environment, installs torch first (Colab's own; here the one CPU
build this project can reach, 2.13.0), then installs a wheel built from this checkout exactly as
the notebooks' install cell installs the package (no constraints file), plus papermill and a kernel
to run the notebooks headless. ``lower-bounds`` holds every other dependency at the lowest version
that ``pyproject.toml`` allows, as scikit-learn's minimum-versions job does. Then each notebook runs
in the smoke profile on its own, in an empty folder with no checkout beside it and an empty
``results/``; a local HTTP server on 127.0.0.1 serves this checkout's ``results/`` as the published
reference files (07 fetches 06's decisions from it).

Minutes each, and it needs the package index: run it with ``pytest -m install tests/install``.
On demand, the default profile (``--install-profile default``), with the reference files served or
with nothing to fetch (``--install-reference offline``); ``--install-times FILE`` writes each
notebook's wall-clock seconds as CSV, the figures a student plans with; ``--install-notebooks 02 05``
runs only those notebooks (each still alone).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.install

REPO = Path(__file__).resolve().parents[2]
COLAB_TORCH = ["torch==2.13.0", "torchvision==0.28.0"]
RUNNER = ["papermill", "ipykernel"]  # what runs the notebooks headless (Colab has its own kernel)


def install_cell_requirement(wheel: Path) -> str:
    """The requirement the notebooks' install cell passes to pip, pointed at a wheel of this checkout."""
    cell = "".join(json.loads((REPO / "notebooks" / "01_data_exploration.ipynb").read_text())["cells"][1]["source"])
    requirement = re.search(r'"(pneumolib[^"]* @ git\+[^"]+)"', cell).group(1)
    return re.sub(r"@ git\+\S+", f"@ {wheel.as_uri()}", requirement)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from this checkout, as a release would publish it."""
    out = tmp_path_factory.mktemp("wheel")
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--disable-pip-version-check", "-w", out, REPO])
    return next(out.glob("pneumolib-*.whl"))


@pytest.fixture(scope="module")
def reference_site(serve_folder):
    """This checkout's results/ over HTTP on 127.0.0.1, standing in for the published repository."""
    return serve_folder(REPO / "results")


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


def _runtime_row(python: Path, env: dict) -> dict:
    """What the notebooks' runtime notice reads: device, threads, bf16 (from the venv's torch)."""
    code = ("import json, torch; from pneumolib.models.formats import cpu_has_native_bf16, describe_cpu; "
            "print(json.dumps({'device': 'cuda' if torch.cuda.is_available() else 'cpu', 'cpu': describe_cpu(), "
            "'threads': torch.get_num_threads(), 'native_bf16': cpu_has_native_bf16()}))")
    return json.loads(_run([python, "-c", code], env=env).stdout.strip().splitlines()[-1])


def _write_times(path: Path, seconds: dict, row: dict) -> None:
    """Replace this profile/reference/case's rows of ``path`` for the notebooks timed so far."""
    frame = pd.DataFrame([{"notebook": name, **row, "seconds": s} for name, s in seconds.items()])
    old = pd.read_csv(path) if path.is_file() else None
    if old is not None:
        same = ((old["profile"] == row["profile"]) & (old["reference"] == row["reference"]) & (old["case"] == row["case"])
                & old["notebook"].isin(list(seconds)))
        frame = pd.concat([old[~same], frame])
    frame.to_csv(path, index=False)


def _run(args: list, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{' '.join(map(str, args))[:300]} failed:\n{(result.stdout + result.stderr)[-3000:]}"
    return result


@pytest.mark.parametrize("case", ["colab", "lower-bounds"])
def test_install_beside_a_preinstalled_torch_then_run_each_notebook_alone(case, tmp_path, real_data_dir, wheel,
                                                                         reference_site, request):
    profile = request.config.getoption("--install-profile")
    offline = request.config.getoption("--install-reference") == "offline"
    smoke = profile == "smoke"
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
    _run([*pip, *constraints, install_cell_requirement(wheel), *RUNNER])
    versions = _run([python, "-m", "pip", "list", "--format=json"]).stdout
    installed = {p["name"].lower(): p["version"] for p in json.loads(versions)}
    assert installed["torch"].startswith("2.13.0"), "installing the package replaced the preinstalled torch"
    if case == "lower-bounds":
        for pin in lower_bounds():
            name, version = pin.split("==")
            if name.lower() in installed:
                assert installed[name.lower()].startswith(version), (pin, installed[name.lower()])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PNEUMOLIB_", "JPY_"))}
    env.update({"PNEUMOLIB_DATA": str(real_data_dir), "PNEUMOLIB_REFERENCE_URL": "off" if offline else reference_site,
                "PYTHONPATH": "", "JUPYTER_PATH": str(venv / "share" / "jupyter")})  # the venv's kernel
    if smoke:
        env["SMOKE_TEST"] = "1"
    seconds = {}
    times = request.config.getoption("--install-times")
    runtime = _runtime_row(python, env) if times else {}
    only = request.config.getoption("--install-notebooks")
    notebooks = [n for n in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")) if not only or n.stem[:2] in only]
    # smoke runs without timing go two at a time, one thread each (each in its own empty folder, so
    # they share nothing); timed runs go one by one, with the runtime's threads, as a student's would
    parallel = smoke and not times
    run_env = {**env, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"} if parallel else env

    def run_alone(notebook: Path) -> int:
        folder = tmp_path / "runtimes" / notebook.stem  # a fresh runtime: the notebook, nothing else
        folder.mkdir(parents=True)
        shutil.copy2(notebook, folder / notebook.name)
        start = time.perf_counter()
        _run([python, "-m", "papermill", notebook.name, "executed.ipynb", "-p", "smoke", str(smoke), "-p", "progress",
              "False", "--kernel", "python3", "--execution-timeout", "600" if smoke else "7200"], env=run_env, cwd=folder)
        return round(time.perf_counter() - start)

    if parallel:
        with ThreadPoolExecutor(max_workers=2) as pool:
            seconds = dict(zip((n.stem for n in notebooks), pool.map(run_alone, notebooks)))
    for notebook in notebooks if not parallel else []:
        seconds[notebook.stem] = run_alone(notebook)
        if times:  # written after each notebook, so a long run that stops keeps what it measured
            _write_times(Path(times), seconds, {"profile": profile, "reference": "offline" if offline else "served",
                                                "case": case, **runtime})
    for notebook in notebooks:
        folder = tmp_path / "runtimes" / notebook.stem
        if smoke:
            assert not (folder / "results" / "store").exists(), "a smoke run wrote into the default profile's store"
        if notebook.stem.startswith("07"):
            text = (folder / "executed.ipynb").read_text()
            source = ("reference decisions that ship with the package" if offline
                      else "fetched results/metrics/06_decisions.json")
            assert source in text and (not smoke or "using the default profile" in text or offline)
    print(f"{case} ({profile} profile, reference {'offline' if offline else 'served'}): each notebook alone, "
          f"seconds: {seconds}")
    print(f"{case}: " + ", ".join(f"{n} {installed[n]}" for n in sorted(installed) if n in
                                   {"torch", "numpy", "pandas", "scikit-learn", "scipy", "matplotlib", "grad-cam"}))
