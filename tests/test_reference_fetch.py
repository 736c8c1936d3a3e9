"""Reference files by URL (pneumocourse.reference): a local HTTP server on 127.0.0.1
stands in for the published repository, as a fresh Colab runtime would reach it."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from pneumocourse import reference
from pneumocourse.final_model import load_decisions
from pneumolib.experiments import store as store_module
from pneumolib.experiments.store import RunStore
from pneumolib.paths import use_profile

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "results"
RUN = "small_cnn-seed0-8abe5904c769"  # 02's small CNN, which 03 and 04 load
FILES = [f"store/{RUN}/record.json", f"store/{RUN}/model.pt", "metrics/06_decisions.json"]


@pytest.fixture
def site(tmp_path, serve_folder):
    """A folder served over HTTP like the published results/, holding a few reference files."""
    root = tmp_path / "site"
    for name in FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(RESULTS / name, root / name)
    return root, serve_folder(root)


@pytest.fixture
def fresh_runtime(tmp_path, monkeypatch):
    """An empty results folder, as in a fresh runtime, where a course notebook has started (it
    makes the store fetch the reference files it lacks)."""
    results = tmp_path / "runtime" / "results"
    monkeypatch.setenv("PNEUMOLIB_RESULTS", str(results))
    monkeypatch.setattr(store_module, "_missing_file_source", None)
    store_module.use_missing_file_source(reference.fetch)
    return results


def test_the_library_alone_fetches_nothing(site, fresh_runtime, monkeypatch):
    monkeypatch.setenv(reference.REFERENCE_URL_ENV, site[1])
    store_module.use_missing_file_source(None)  # the library without the course: a missing file is missing
    assert RunStore().get(RUN) is None and not (fresh_runtime / "store").exists()
    store_module.use_missing_file_source(reference.fetch)
    assert RunStore().get(RUN) is not None


def test_the_manifest_lists_every_reference_file_with_its_checksum():
    listed = reference.manifest()
    shipped = {p.relative_to(RESULTS).as_posix() for p in [*RESULTS.glob("store/*/record.json"),
                                                          *RESULTS.glob("store/*/model.pt")]}
    assert shipped | {"metrics/06_decisions.json"} == set(listed)
    for name, digest in listed.items():
        assert hashlib.sha256((RESULTS / name).read_bytes()).hexdigest() == digest, f"{name} changed since the manifest"


def test_a_fresh_runtime_fetches_a_run_and_its_model(site, fresh_runtime, monkeypatch, capsys):
    _, url = site
    monkeypatch.setenv(reference.REFERENCE_URL_ENV, url)
    record = RunStore().get(RUN)
    assert record is not None and record.fields == RunStore(RESULTS / "store").get(RUN).fields
    model = RunStore().load_model(RUN)
    assert sum(p.numel() for p in model.parameters()) > 0
    out = capsys.readouterr().out
    assert f"fetched results/store/{RUN}/record.json from {url}" in out and "model.pt" in out and "SHA-256 checked" in out
    assert RunStore().get("small_cnn-seed9-000000000000") is None  # not a reference file: nothing to fetch


def test_a_changed_file_is_not_used(site, fresh_runtime, monkeypatch, capsys):
    root, url = site
    (root / f"store/{RUN}/record.json").write_text('{"format": "tampered"}')
    monkeypatch.setenv(reference.REFERENCE_URL_ENV, url)
    assert RunStore().get(RUN) is None
    assert "does not match the SHA-256" in capsys.readouterr().out
    assert not (fresh_runtime / "store" / RUN / "record.json").exists()


def test_an_unreachable_site_or_fetching_off_makes_it_here(fresh_runtime, monkeypatch, capsys):
    monkeypatch.setenv(reference.REFERENCE_URL_ENV, "http://127.0.0.1:9/")  # nothing listens on port 9
    assert RunStore().get(RUN) is None
    assert "could not fetch" in capsys.readouterr().out
    monkeypatch.setenv(reference.REFERENCE_URL_ENV, "off")
    assert reference.reference_url() is None and RunStore().get(RUN) is None
    assert capsys.readouterr().out == ""


def test_07_alone_gets_06s_decisions(site, fresh_runtime, monkeypatch, capsys):
    _, url = site
    monkeypatch.setenv(reference.REFERENCE_URL_ENV, url)
    use_profile("smoke")
    try:  # smoke: the default profile's decisions serve, fetched, and the notebook says so
        decisions = load_decisions()
    finally:
        use_profile("default")
    assert decisions == load_decisions(RESULTS / "metrics" / "06_decisions.json")
    out = capsys.readouterr().out
    assert "fetched results/metrics/06_decisions.json" in out and "using the default profile's" in out


def test_07_offline_uses_the_decisions_the_package_ships(fresh_runtime, monkeypatch, capsys, tmp_path):
    """Nothing can be fetched: 06's reference decisions come with the installed package, checked
    against the manifest; a package copy that does not match is not used."""
    monkeypatch.setenv(reference.REFERENCE_URL_ENV, "off")
    shipped = reference.packaged("metrics/06_decisions.json")
    assert shipped is not None and shipped.read_bytes() == (RESULTS / "metrics" / "06_decisions.json").read_bytes()
    assert load_decisions() == load_decisions(RESULTS / "metrics" / "06_decisions.json")
    assert "reference decisions that ship with the package" in capsys.readouterr().out
    package = tmp_path / "package"
    package.mkdir()
    (package / "reference_decisions.json").write_text('{"chosen_arm": "tampered"}')
    monkeypatch.setattr(reference.resources, "files", lambda name: package)
    assert reference.packaged("metrics/06_decisions.json") is None
