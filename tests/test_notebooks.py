"""Checks of the committed notebooks, and of parameters handling through papermill."""

import ast
import importlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from pneumolib.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ABSOLUTE_PATH = re.compile(r"(/(home|root|work|tmp|Users|var/folders)/|[A-Z]:\\\\)")


def test_suite_is_there():
    assert [p.stem[:2] for p in NOTEBOOKS][:6] == ["01", "02", "03", "04", "05", "06"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_one_parameters_cell_of_literals(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    for node in ast.parse(tagged[0].source).body:
        assert isinstance(node, ast.Assign), ast.dump(node)
        ast.literal_eval(node.value)  # raises unless a literal
    names = {n.targets[0].id for n in ast.parse(tagged[0].source).body}
    assert {"seed", "device", "data_dir", "smoke", "image_size"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_is_clean(path):
    text = path.read_text()
    assert not ABSOLUTE_PATH.search(text), ABSOLUTE_PATH.search(text).group(0)
    nb = nbformat.read(path, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert outputs, "committed notebooks carry the outputs of a default run"
    assert not [o for o in outputs if o.output_type == "error"]
    assert not [o for o in outputs if o.output_type == "stream" and o.name == "stderr"]
    assert "colab-badge.svg" in nb.cells[0].source
    assert "google.colab" in nb.cells[1].source
    assert any("nbval-check-output" in c.metadata.get("tags", []) for c in nb.cells)
    assert "NBVAL_" not in text, "nbval's tags, not comment marks, in what students open"
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), f"execution counts run 1, 2, 3, ... without a gap: {counts[:8]}"


def test_absolute_path_check_catches_paths():
    assert ABSOLUTE_PATH.search('"saved /home/student/results/x.png"')
    assert ABSOLUTE_PATH.search('"C:\\\\Users\\\\me"')
    assert not ABSOLUTE_PATH.search('"saved results/figures/x.png"')


def _papermill(args, cwd, tmp_path, data_dir):
    env = {**os.environ, "PNEUMOLIB_RESULTS": str(tmp_path / "results"), "PNEUMOLIB_DATA": str(data_dir)}
    return subprocess.run([sys.executable, "-m", "papermill", *args], cwd=cwd, env=env,
                          capture_output=True, text=True)


BAD_PARAMETERS = [
    ("02_transfer", {"lr": -1e-4}, "lr must be a positive number, got -0.0001."),
    ("02_transfer", {"model": "small_cnn"}, "parameter model must be one of ['resnet18', 'resnet34', 'resnet50']"),
    ("01_data_exploration", {"image_size": 30}, "parameter image_size must be one of [28, 64, 128, 224], got 30."),
    ("01_data_exploration", {"smoke": "yes"}, "parameter smoke must be bool, got 'yes' (str)."),
    ("03_thresholds", {"target_specificity": 1.5}, "parameter target_specificity must hold numbers strictly between 0 and 1"),
    ("04_gradcam", {"compare_method": "gradcam"}, "parameter compare_method must be one of ['gradcam++', 'eigencam']"),
    ("05_ablations", {"grid_lrs": [0.001, -1]}, "parameter grid_lrs must be a non-empty list of positive floats"),
    ("06_best_model", {"seed_groups": [[0, 1], [1, 2]]}, "parameter seed_groups must hold distinct integers >= 0, each in one group only"),
    ("06_best_model", {"image_size": 64}, "parameter image_size must be one of [28] (the goal is set at 28 px input data)"),
    ("07_dataset_shift", {"methods": ["none", "magic"]}, "(unknown: ['magic'])"),
    ("07_dataset_shift", {"methods": ["TENT"]}, "including ['none']"),
]


def _notebook_parameters(notebook: str) -> dict:
    """The values of a notebook's parameters cell, as papermill would inject over them."""
    cells = nbformat.read(REPO / "notebooks" / f"{notebook}.ipynb", as_version=4).cells
    values: dict = {}
    exec(next(c.source for c in cells if "parameters" in c.metadata.get("tags", [])), {}, values)
    return values


@pytest.mark.parametrize("notebook, changed, message", BAD_PARAMETERS)
def test_bad_parameter_stops_the_setup_in_one_line(notebook, changed, message):
    """Each notebook's setup is its companion's setup(), called with the parameters cell's values."""
    companion = importlib.import_module(f"pneumocourse.companions.{notebook.split('_', 1)[1]}")
    with pytest.raises(ConfigError) as caught:
        companion.setup(**{**_notebook_parameters(notebook), **changed})
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_every_setup_takes_its_notebooks_parameters_and_accepts_their_defaults(real_data_dir, monkeypatch):
    monkeypatch.setenv("PNEUMOLIB_DATA", str(real_data_dir))
    monkeypatch.delenv("SMOKE_TEST", raising=False)
    for notebook in sorted(p.stem for p in (REPO / "notebooks").glob("0[1-9]_*.ipynb")):
        companion = importlib.import_module(f"pneumocourse.companions.{notebook.split('_', 1)[1]}")
        settled = companion.setup(**_notebook_parameters(notebook))
        assert settled.session.profile == "default", notebook


@pytest.mark.integration
def test_bad_parameter_fails_early_in_one_line_under_papermill(real_data_dir, tmp_path):
    out = _papermill(["notebooks/07_dataset_shift.ipynb", str(tmp_path / "out.ipynb"), "-y", "methods: [none, magic]"],
                     REPO, tmp_path, real_data_dir)
    assert out.returncode != 0
    executed = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    errors = [(i, o) for i, c in enumerate(executed.cells) if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert len(errors) == 1
    index, error = errors[0]
    assert "companion.setup(" in executed.cells[index].source, "the error comes from the setup cell, before any work"
    assert f"{error.ename}: {error.evalue}".startswith("ConfigError: parameter methods must be a non-empty list from")


@pytest.mark.integration
def test_papermill_from_notebooks_folder(real_data_dir, tmp_path):
    out = _papermill(["01_data_exploration.ipynb", str(tmp_path / "out.ipynb"), "-p", "smoke", "True"],
                     REPO / "notebooks", tmp_path, real_data_dir)
    assert out.returncode == 0, out.stderr[-2000:]
    assert (tmp_path / "results" / "smoke" / "figures" / "01_class_balance.png").is_file()  # the smoke profile's place
    assert (tmp_path / "results" / "smoke" / "metrics" / "01_duplicates.csv").is_file()


@pytest.mark.integration
def test_nbval_lax_catches_a_changed_preprocessing(real_data_dir, tmp_path):
    """Layer 3 is live: a pneumolib whose normalisation changed fails the committed 01 notebook."""
    shadow = tmp_path / "shadow"
    shutil.copytree(REPO / "pneumolib", shadow / "pneumolib")
    config = shadow / "pneumolib" / "config.py"
    source = config.read_text()
    default = "norm_mean: float = option(0.5,"
    assert source.count(default) == 1, "the norm_mean default moved; update this test's edit"
    config.write_text(source.replace(default, "norm_mean: float = option(0.45,"))
    env = {**os.environ, "PYTHONPATH": str(shadow), "SMOKE_TEST": "1", "PNEUMOLIB_RESULTS": str(tmp_path / "r"),
           "PNEUMOLIB_DATA": str(real_data_dir)}
    args = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--nbval-lax", "--nbval-current-env",
            str(REPO / "notebooks" / "01_data_exploration.ipynb")]
    broken = subprocess.run(args, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert broken.returncode == 1 and "normalised train images" in broken.stdout
    env.pop("PYTHONPATH")
    intact = subprocess.run(args, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert intact.returncode == 0, intact.stdout[-2000:]


def test_check_min_int_names_the_parameter():
    from pneumolib.errors import ConfigError
    from pneumocourse.nbtools import check_min_int

    assert check_min_int("n_boot", 100, 100) == 100
    with pytest.raises(ConfigError, match=r"parameter n_boot must be at least 100, got 99\."):
        check_min_int("n_boot", 99, 100)
    with pytest.raises(ConfigError, match=r"parameter n_boot must be int, got 1.5 \(float\)\."):
        check_min_int("n_boot", 1.5, 1)
    with pytest.raises(ConfigError, match="must be int"):
        check_min_int("workers", True, 0)


def test_papermill_sees_every_parameter_of_every_notebook():
    """papermill's parser skips a parameter line it cannot read (an '=' in a comment does it):
    such a parameter would vanish from `papermill --help-notebook`."""
    import ast

    import nbformat
    import papermill

    from pneumocourse.notebooks import notebook_paths

    for path in notebook_paths():
        cell = next(c for c in nbformat.read(path, as_version=4).cells if "parameters" in c.metadata.get("tags", []))
        assigned = [t.id for node in ast.parse(cell.source).body if isinstance(node, ast.Assign) for t in node.targets]
        assert list(papermill.inspect_notebook(str(path))) == assigned, path.name


@pytest.mark.integration
def test_papermill_with_other_parameters_writes_beside_the_reference(real_data_dir, tmp_path):
    """`papermill 01_data_exploration.ipynb out.ipynb -p seed 3` from notebooks/, as a researcher types
    it (no $PNEUMOLIB_RESULTS): every committed file stays as it was, the results go to
    results/custom/01_data_exploration-seed3/, and the notebook says so."""
    import hashlib

    def committed() -> dict[str, str]:
        listed = subprocess.run(["git", "ls-files", "results", "notebooks"], cwd=REPO, capture_output=True, text=True)
        return {name: hashlib.sha256((REPO / name).read_bytes()).hexdigest() for name in listed.stdout.split()}

    if not (REPO / ".git").exists():
        pytest.skip("needs the git checkout: it checks that no committed file changes")
    folder = REPO / "results" / "custom" / "01_data_exploration-seed3"
    shutil.rmtree(folder, ignore_errors=True)
    before = committed()
    env = {k: v for k, v in os.environ.items() if k not in ("PNEUMOLIB_RESULTS", "SMOKE_TEST")}
    out = subprocess.run([sys.executable, "-m", "papermill", "01_data_exploration.ipynb", str(tmp_path / "out.ipynb"),
                          "-p", "seed", "3", "-p", "progress", "False"], cwd=REPO / "notebooks",
                         env={**env, "PNEUMOLIB_DATA": str(real_data_dir)}, capture_output=True, text=True)
    try:
        assert out.returncode == 0, out.stderr[-2000:]
        assert committed() == before
        assert (folder / "metrics" / "01_split_summary.csv").is_file() and (folder / "figures" / "01_samples.png").is_file()
        text = "".join(o.get("text", "") for c in nbformat.read(tmp_path / "out.ipynb", as_version=4).cells
                       if c.cell_type == "code" for o in c.outputs)
        assert "go to results/custom/01_data_exploration-seed3/" in text
    finally:
        shutil.rmtree(folder, ignore_errors=True)
