"""Numbers in the notebooks' hand-written prose agree with their sources.

Verdicts and measured numbers are rendered from the results by code cells
(``pneumocourse.narrative``); what remains hand-written in Markdown is checked here:

* every decimal number in a Markdown cell is a literal of the same notebook's code, a published
  result or goal (``PUBLISHED``, ``GOAL``), a ``TrainConfig`` default, a swept
  threshold or a simulated prior of notebook 07;
* each notebook's "**Time:**" line, and the times table of ``notebooks/README.md``, are the ones
  rendered from ``results/metrics/suite_times.csv`` and its smoke-profile twin.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from pneumolib.config import TrainConfig
from pneumolib.evaluation.thresholds import SWEEP_THRESHOLDS
from pneumolib.experiments.leaderboard import PUBLISHED
from pneumocourse.goal import GOAL
from pneumolib.shift.select import SIMULATED_PRIORS
from tools.times import README_END, README_START, TIME_LINE, readme_table, time_line

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
DECIMAL = re.compile(r"(?<![\w.])\d+\.\d+(?![\w.])")
LICENCE = re.compile(r"CC BY \d+\.\d+")


def _cells(notebook: Path, kind: str) -> list[str]:
    return ["".join(c["source"]) for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == kind]


def _code_literals(notebook: Path) -> set[float]:
    values = set()
    for source in _cells(notebook, "code"):
        try:
            tree = ast.parse(source)
        except SyntaxError:  # IPython magics
            continue
        values |= {float(n.value) for n in ast.walk(tree) if isinstance(n, ast.Constant)
                   and isinstance(n.value, (int, float)) and not isinstance(n.value, bool)}
    return values


def _known_numbers(notebook: Path) -> set[float]:
    published = {float(v) for row in PUBLISHED for v in row[2:4]}
    goals = {float(v) for pair in GOAL.values() for v in pair} | {float(p) for p in SIMULATED_PRIORS}
    defaults = {float(v) for v in TrainConfig().to_dict().values() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    sweep = {round(float(t), 10) for t in SWEEP_THRESHOLDS}
    return _code_literals(notebook) | published | goals | defaults | sweep


def unexplained_numbers(notebook: Path) -> list[str]:
    """Decimal numbers in the notebook's Markdown that no source backs."""
    known = _known_numbers(notebook)
    found = []
    for text in _cells(notebook, "markdown"):
        for number in DECIMAL.findall(LICENCE.sub("", text)):
            if not any(abs(float(number) - k) < 1e-12 for k in known):
                found.append(number)
    return found


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_markdown_numbers_have_a_source(notebook):
    assert unexplained_numbers(notebook) == [], (
        f"{notebook.name}: these numbers in Markdown come from no code literal, published result, goal "
        "or default; render them from the results with pneumocourse.narrative instead")


def test_a_planted_mismatch_is_caught(tmp_path):
    """Changing a published AUC in 06's table by 0.01 is caught."""
    source = REPO / "notebooks" / "06_best_model.ipynb"
    planted = tmp_path / source.name
    text = source.read_text()
    assert "| 0.944 |" in text
    planted.write_text(text.replace("| 0.944 |", "| 0.954 |", 1))
    assert unexplained_numbers(planted) == ["0.954"]


def _times(profile_folder: Path) -> pd.DataFrame:
    path = profile_folder / "metrics" / "suite_times.csv"
    assert path.is_file(), f"{path} is missing: run `python -m tools.notebooks run` for that profile"
    return pd.read_csv(path)


def _fresh_times() -> pd.DataFrame:
    """Each notebook alone in a fresh runtime, as committed (the Colab-like install test measured it)."""
    return pd.read_csv(REPO / "results" / "metrics" / "fresh_runtime_times.csv")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_time_lines_are_the_measured_times(notebook):
    default, smoke = _times(REPO / "results"), _times(REPO / "results" / "smoke")
    intro = _cells(notebook, "markdown")[0]
    found = TIME_LINE.findall(intro)
    assert found == [time_line(notebook.stem, default, smoke, _fresh_times())], (
        f"{notebook.name}: the intro's **Time:** line differs from the measured times; "
        "`python -m tools.notebooks run --write-back` renders it")


def test_notebooks_readme_times_table_is_the_measured_one():
    default, smoke = _times(REPO / "results"), _times(REPO / "results" / "smoke")
    text = (REPO / "notebooks" / "README.md").read_text()
    table = text[text.index(README_START): text.index(README_END) + len(README_END)]
    assert table == readme_table([p.stem for p in NOTEBOOKS], default, smoke, _fresh_times())


def test_each_header_gives_the_student_time_of_the_notebooks_readme():
    """The student time (a planning estimate) sits in each notebook's header beside its compute
    time and what it needs, and agrees with the table of notebooks/README.md."""
    table = (REPO / "notebooks" / "README.md").read_text()
    planned = dict(re.findall(r"^\| \d \| \[(\d\d_\w+)\]\(\1\.ipynb\) \|.*\| (\d+) min \|$", table, re.M))
    notebooks = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert set(planned) == {p.stem for p in notebooks}
    for path in notebooks:
        intro = "".join(json.loads(path.read_text())["cells"][0]["source"])
        assert f"**Student time:** about {planned[path.stem]} min" in intro, path.name
        assert intro.index("**Needs:**") < intro.index("**Student time:**") < intro.index("**Time:**"), path.name
