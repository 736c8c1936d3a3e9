"""Profiles never overwrite each other: the smoke profile writes below ``results/smoke/``."""

from __future__ import annotations

import shutil
from pathlib import Path

import matplotlib
import nbformat
import pytest

from pneumolib import paths

REPO = Path(__file__).resolve().parents[1]
# what notebook 01 writes (its committed copies are in results/)
NOTEBOOK_01_OUTPUTS = [
    "metrics/01_split_summary.csv", "metrics/01_duplicates.csv", "metrics/01_always_pneumonia.csv",
    "figures/01_class_balance.png", "figures/01_samples.png", "figures/01_intensities.png",
    "figures/01_mean_images.png", "figures/01_augmentations.png",
]


@pytest.fixture
def default_profile_after():
    """Whatever a test switches to, the other tests find the default profile."""
    yield
    paths.use_profile("default")


@pytest.fixture
def results_base(tmp_path, monkeypatch) -> Path:
    base = tmp_path / "results"
    monkeypatch.setenv(paths.RESULTS_ENV_VAR, str(base))
    return base


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file below ``folder``: its bytes and its modification time. Notebook 01 uses the full
    data in the smoke profile too, so an overwrite can leave the bytes equal: the time shows it."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_each_profile_has_its_own_results_dir(results_base, default_profile_after):
    assert paths.active_profile() == "default"
    assert paths.results_dir() == results_base
    assert paths.results_path("metrics", "x.csv") == results_base / "metrics" / "x.csv"

    paths.use_profile("smoke")
    assert paths.active_profile() == "smoke"
    assert paths.results_dir() == results_base / "smoke"
    smoke_csv = paths.results_path("metrics", "x.csv")
    assert smoke_csv == results_base / "smoke" / "metrics" / "x.csv"
    assert paths.results_dir("default") == results_base  # asked for explicitly, whatever is active
    # shown and resolved the same way in every profile: results/ is the base folder
    assert paths.display_path(smoke_csv) == "results/smoke/metrics/x.csv"
    assert paths.resolve_display_path("results/smoke/metrics/x.csv") == smoke_csv
    assert paths.resolve_display_path("results/ssl/a.pt") == results_base / "ssl" / "a.pt"

    paths.use_profile("default")
    assert paths.results_dir() == results_base
    assert paths.display_path(results_base / "metrics" / "x.csv") == "results/metrics/x.csv"
    with pytest.raises(ValueError, match="profile must be one of"):
        paths.use_profile("quick")
    assert paths.active_profile() == "default"


def test_start_switches_the_profile_silently(results_base, tmp_path, monkeypatch, capsys, default_profile_after):
    from pneumocourse import nbtools

    monkeypatch.delenv(nbtools.SMOKE_ENV_VAR, raising=False)
    with matplotlib.rc_context():  # start() sets the plot style; leave other tests' style alone
        assert nbtools.start(smoke=True, data_dir=str(tmp_path)).profile == "smoke"
        assert paths.results_dir() == results_base / "smoke"
        nbtools.start(data_dir=str(tmp_path))
        assert paths.active_profile() == "default" and paths.results_dir() == results_base
        monkeypatch.setenv(nbtools.SMOKE_ENV_VAR, "1")
        nbtools.start(data_dir=str(tmp_path))
        assert paths.active_profile() == "smoke"
    assert capsys.readouterr() == ("", "")


@pytest.mark.integration
def test_smoke_notebook_leaves_the_default_results_alone(real_data_dir, results_base, monkeypatch):
    """A real smoke run of notebook 01 over a copy of the committed results changes none of them."""
    import papermill as pm

    for kind in ("metrics", "figures"):
        shutil.copytree(REPO / "results" / kind, results_base / kind)
    assert all((results_base / name).is_file() for name in NOTEBOOK_01_OUTPUTS)
    before = snapshot(results_base)
    monkeypatch.setenv("PNEUMOLIB_DATA", str(real_data_dir))  # the kernel inherits os.environ
    monkeypatch.delenv("SMOKE_TEST", raising=False)

    out = results_base.parent / "01_smoke.ipynb"
    pm.execute_notebook(str(REPO / "notebooks" / "01_data_exploration.ipynb"), str(out),
                        parameters={"smoke": True, "progress": False}, cwd=str(REPO / "notebooks"),
                        kernel_name="python3", progress_bar=False)

    after = snapshot(results_base)
    changed = [name for name in before if after.get(name) != before[name]]
    assert not changed, f"the smoke run rewrote committed results: {changed}"
    new = sorted(set(after) - set(before))
    assert new and all(name.startswith("smoke/") for name in new), new
    assert {f"smoke/{name}" for name in NOTEBOOK_01_OUTPUTS} <= set(new), new
    executed = nbformat.read(out, as_version=4)
    assert any("profile: smoke" in o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs)
