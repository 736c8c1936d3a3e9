"""The one comparison rule of a render and of nbval (tools/compare.py): numbers within one unit of
their last printed digit, integers exactly, runtime lines listed with their reasons; it catches a
committed number moved by two units of its last digit and a flipped verdict."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from tools.compare import (differing_files, differing_outputs, exceptions, exceptions_listing, numbers_agree,
                           text_difference)

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("a, b, agree", [
    ("0.6032", "0.6031", True),  # one unit of the last digit: another CPU's BLAS
    ("0.6032", "0.6030", False),  # two units: a real change
    ("0.603", "0.604", True), ("0.603", "0.601", False),
    ("-0.0000", "0.0000", True), ("+0.0002", "-0.0001", False),
    ("624", "624", True), ("4", "5", False),  # counts are exact
    ("1e-4", "1e-4", True), ("0.97", "0.9712", True), ("0.97", "0.9850", False),
    ("6e8410", "6e8410", True), ("6e8410", "6e8411", False),  # digits of a run id's hash, not a number
])
def test_numbers_agree_within_one_unit_of_their_last_printed_digit(a, b, agree):
    assert numbers_agree(a, b) is agree


def test_text_agrees_only_when_its_words_are_the_same():
    assert text_difference("test AUC 0.9716 ± 0.0031", "test AUC 0.9715 ± 0.0031") is None
    assert text_difference("test AUC 0.9716", "test AUC 0.9714") == "0.9716 against 0.9714"
    assert text_difference("**A beats B** (CI above zero)", "**A and B are about level** (CI holds zero)")
    assert text_difference("4 of the training cohort's", "5 of the training cohort's") == "4 against 5"


def _notebook(path: Path, *texts: str, marked: str = "") -> Path:
    cells = [new_code_cell(f"{marked}show(x)", outputs=[new_output("stream", name="stdout", text=t)]) for t in texts]
    nbformat.write(new_notebook(cells=cells), path)
    return path


def test_a_render_catches_a_number_moved_by_two_units_and_a_flipped_verdict(tmp_path):
    committed = _notebook(tmp_path / "c.ipynb", "val AUC 0.9958\n", "**Keep it**: gain +0.0031 beyond 2 seed sds\n")
    assert differing_outputs(_notebook(tmp_path / "one.ipynb", "val AUC 0.9957\n",
                                       "**Keep it**: gain +0.0030 beyond 2 seed sds\n"), committed) == []
    moved = differing_outputs(_notebook(tmp_path / "two.ipynb", "val AUC 0.9956\n",
                                        "**Keep it**: gain +0.0031 beyond 2 seed sds\n"), committed)
    assert moved == ["code cell 1 (0.9956 against 0.9958)"]
    flipped = differing_outputs(_notebook(tmp_path / "flip.ipynb", "val AUC 0.9958\n",
                                          "**Drop it**: gain +0.0031 beyond 2 seed sds\n"), committed)
    assert len(flipped) == 1 and flipped[0].startswith("code cell 2")


def test_only_listed_runtime_lines_and_marked_cells_are_exceptions(tmp_path):
    rules = exceptions()
    assert rules and all(rule.reason for rule in rules), "every exception says why"
    committed = _notebook(tmp_path / "c.ipynb", "24 runs: 24 already in the store (results/store/), 0 to run\n")
    trained = _notebook(tmp_path / "t.ipynb", "24 runs: 0 already in the store (results/store/), 24 to run\n")
    assert differing_outputs(trained, committed) == []
    marked = _notebook(tmp_path / "m.ipynb", "CPU runtime, AVX2\n", marked="# NBVAL_IGNORE_OUTPUT\n# only the runtime found\n")
    other = _notebook(tmp_path / "o.ipynb", "CPU runtime, AVX512\n", marked="# NBVAL_IGNORE_OUTPUT\n# only the runtime found\n")
    assert differing_outputs(other, marked) == []
    assert exceptions_listing([marked])[-1] == "m code cell 1: only the runtime found"


def test_every_cell_the_committed_notebooks_skip_shows_only_the_runtime():
    listing = exceptions_listing(sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")))
    cells = [line for line in listing if not line.startswith("runtime line")]
    assert cells and all(": only " in line for line in cells), cells


def _move_last_digit(text: str, units: int) -> str:
    head, _, digits = text.rpartition(".")
    return f"{head}.{int(digits) + units:0{len(digits)}d}"


@pytest.mark.parametrize("name", ["07_domain_classifier.csv", "04_road.csv"])
def test_a_committed_table_with_a_number_moved_by_two_units_is_caught(tmp_path, name):
    reference = REPO / "results"
    produced = tmp_path / "render"
    (produced / "metrics").mkdir(parents=True)
    shutil.copy(reference / "metrics" / name, produced / "metrics" / name)
    assert differing_files(produced, reference) == []
    lines = (produced / "metrics" / name).read_text().splitlines()
    cells = lines[1].split(",")
    column = next(i for i, c in enumerate(cells) if "." in c and c.replace(".", "").replace("-", "").isdigit())
    for units, caught in ((1, False), (2, True)):
        moved = cells.copy()
        moved[column] = _move_last_digit(cells[column], units)
        (produced / "metrics" / name).write_text("\n".join([lines[0], ",".join(moved), *lines[2:]]) + "\n")
        assert bool(differing_files(produced, reference)) is caught, (units, moved[column])


def test_a_committed_decision_flipped_or_moved_is_caught(tmp_path):
    reference = REPO / "results"
    produced = tmp_path / "render"
    (produced / "metrics").mkdir(parents=True)
    decisions = json.loads((reference / "metrics" / "06_decisions.json").read_text())
    (produced / "metrics" / "06_decisions.json").write_text(json.dumps(decisions, indent=1, sort_keys=True) + "\n")
    assert differing_files(produced, reference) == []
    flipped = {**decisions, "tta": not decisions["tta"]}
    (produced / "metrics" / "06_decisions.json").write_text(json.dumps(flipped, indent=1, sort_keys=True) + "\n")
    assert differing_files(produced, reference) == [
        f"results/metrics/06_decisions.json: 06_decisions.json/tta: {flipped['tta']!r} against {decisions['tta']!r}"]


def test_a_figure_is_compared_by_its_data(tmp_path):
    reference = REPO / "results"
    figures = sorted((reference / "figures").glob("*.data.json"))
    assert len(figures) == len(list((reference / "figures").glob("*.png"))), "every figure has its data"
    produced = tmp_path / "render"
    (produced / "figures").mkdir(parents=True)
    source = next(p for p in figures if "lines" in p.read_text() and '"y":[0' in p.read_text())
    shutil.copy(source, produced / "figures" / source.name)
    assert differing_files(produced, reference) == []
    data = json.loads(source.read_text())
    line = next(line for ax in data["axes"] for line in ax["lines"] if len(line["y"]) > 1)
    line["y"][1] = (line["y"][1] or 0) + 0.5
    (produced / "figures" / source.name).write_text(json.dumps(data))
    assert differing_files(produced, reference)
