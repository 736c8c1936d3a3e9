"""Where results go: a run with other parameters than a notebook's defaults writes into a folder of
its own (results/custom/<notebook>-<parameters>/), reads the reference's runs and never writes
the reference; a render's store reads the committed store the same way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pneumolib import paths
from pneumolib.experiments.runs import RECORD_FORMAT, RunRecord
from pneumolib.experiments.store import RunStore
from pneumocourse import nbtools
from pneumocourse.notebooks import DEFAULTS_FILE, notebook_defaults, notebook_paths, parameters_cell

REPO = Path(__file__).resolve().parents[1]


def test_the_packaged_defaults_are_the_notebooks_parameters_cells():
    shipped = json.loads((REPO / "pneumocourse" / DEFAULTS_FILE).read_text())
    paths.use_project_folder(REPO)
    assert shipped == {p.stem: parameters_cell(p) for p in notebook_paths()}, (
        "pneumocourse/notebook_defaults.json is out of date: python -m tools.notebooks run --update-reference rewrites it")


def test_other_parameters_name_their_folder_and_headless_switches_do_not_count(monkeypatch):
    monkeypatch.chdir(REPO)
    defaults = notebook_defaults("02_transfer")
    assert nbtools.custom_parameters("02_transfer", {**defaults, "progress": False, "smoke": True}) == {}
    changed = nbtools.custom_parameters("02_transfer", {**defaults, "lr": 1e-4, "epochs": 3})
    assert changed == {"epochs": 3, "lr": 1e-4}
    assert nbtools.custom_folder_name("02_transfer", changed) == "02_transfer-epochs3-lr1e-4"
    assert nbtools.custom_folder_name("05_ablations", {"seeds": [0, 1]}) == "05_ablations-seeds0_1"
    long = nbtools.custom_folder_name("07_dataset_shift", {"methods": ["AdaBN + prior correction (EM)"] * 5})
    assert len(long) <= 100


def test_a_custom_run_writes_beside_the_reference_and_says_where(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(REPO / "notebooks")
    monkeypatch.setenv(paths.RESULTS_ENV_VAR, str(tmp_path / "results"))
    defaults = notebook_defaults("01_data_exploration")
    nbtools.start(**{k: v for k, v in defaults.items()}, notebook="01_data_exploration",
                  parameters={**defaults, "seed": 3})
    location = paths.results_location()
    assert location.base == tmp_path / "results" / "custom" / "01_data_exploration-seed3"
    assert location.reference == tmp_path / "results"
    assert paths.results_path("metrics", "x.csv").parent == location.base / "metrics"
    assert "go to results/custom/01_data_exploration-seed3/" in capsys.readouterr().out.replace(str(tmp_path) + "/", "")
    nbtools.start(**defaults, notebook="01_data_exploration", parameters=defaults)
    assert paths.results_location().base == tmp_path / "results"  # the defaults again: the results folder itself


def _record(run_id: str, auc: float) -> RunRecord:
    return RunRecord({"format": RECORD_FORMAT, "run_id": run_id, "val": {"auc": auc}, "test": {"auc": auc},
                      "tuned": {}, "probabilities": {}})


def test_a_store_reads_its_reference_and_never_writes_it(tmp_path):
    reference, own = RunStore(tmp_path / "reference"), tmp_path / "render"
    reference.save_record(_record("run-a", 0.97))
    before = {p: p.read_bytes() for p in reference.root.rglob("*") if p.is_file()}
    store = RunStore(own, reference=reference.root)
    assert store.get("run-a").fields["val"]["auc"] == 0.97
    store.save_record(_record("run-a", 0.97))  # the same numbers: nothing to write anywhere
    store.save_record(_record("run-b", 0.95))  # a new run: into the render's own store
    assert [r.run_id for r in store.records()] == ["run-a", "run-b"]
    assert not (own / "run-a").exists() and (own / "run-b" / "record.json").is_file()
    assert {p: p.read_bytes() for p in reference.root.rglob("*") if p.is_file()} == before
    with pytest.raises(Exception, match="holds other numbers"):
        store.save_record(_record("run-a", 0.96))


def test_in_the_smoke_profile_the_references_smoke_files_are_found(tmp_path, monkeypatch):
    """A grader's students read a store seeded from a smoke run: its SSL descriptions and 06's
    decisions sit under <reference>/smoke/, as the students' own results would."""
    from pneumocourse.final_model import DECISIONS_FILE, default_decisions

    reference = tmp_path / "seeded"
    for relative in ("smoke/ssl/02_x_simclr.json", f"smoke/metrics/{DECISIONS_FILE}"):
        (reference / relative).parent.mkdir(parents=True)
        (reference / relative).write_text("{}")
    monkeypatch.setattr(paths, "_active_profile", "smoke")
    paths.use_results_location(paths.ResultsLocation(tmp_path / "scratch", reference))
    try:
        own = paths.results_path("ssl", "02_x_simclr.json")
        assert paths.reference_counterpart(own) == reference / "smoke" / "ssl" / "02_x_simclr.json"
        assert paths.reference_counterpart(paths.results_path("ssl", "other.json")) is None
        assert default_decisions(log=lambda line: None) == reference / "smoke" / "metrics" / DECISIONS_FILE
        monkeypatch.setattr(paths, "_active_profile", "default")  # the default profile: the reference itself
        (reference / "ssl").mkdir()
        (reference / "ssl" / "02_x_simclr.json").write_text("{}")
        assert paths.reference_counterpart(paths.results_path("ssl", "02_x_simclr.json")) == reference / "ssl" / "02_x_simclr.json"
    finally:
        paths.use_results_location(None)
