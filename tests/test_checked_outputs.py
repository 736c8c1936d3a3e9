"""Layer 3 of ``make test``: every committed notebook's checked cells (tagged ``nbval-check-output``) show,
in the smoke run that layer 1 has just executed from the committed notebooks, what the committed
notebook shows. This is what ``pytest --nbval-lax notebooks`` checks, read from layer 1's
executions instead of a third execution of every notebook (``tests/test_notebooks.py`` runs
nbval-lax itself on 01 and checks that it catches a changed preprocessing).

``PNEUMOLIB_CHECK_NOTEBOOKS`` names the folder of the executed copies; without it the comparison
is skipped (the unit layer), and only the check's own test runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from tools.compare import CHECK_TAG, checked, differing_outputs

REPO = Path(__file__).resolve().parents[1]
EXECUTED = os.environ.get("PNEUMOLIB_CHECK_NOTEBOOKS")
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.skipif(not EXECUTED, reason="set PNEUMOLIB_CHECK_NOTEBOOKS to layer 1's executed notebooks")
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_checked_cells_show_the_committed_outputs(notebook):
    assert differing_outputs(Path(EXECUTED) / notebook.name, notebook, only_checked=True) == []


def test_there_are_checked_cells_and_a_changed_one_is_caught(tmp_path):
    assert sum(checked(c) for p in NOTEBOOKS for c in nbformat.read(p, as_version=4).cells) >= 7

    def notebook(name: str, text: str, tag: str = CHECK_TAG) -> Path:
        nbformat.write(new_notebook(cells=[new_code_cell("summary", metadata={"tags": [tag]}, outputs=[
            new_output("execute_result", data={"text/plain": text}, execution_count=1)])]), tmp_path / name)
        return tmp_path / name

    def differing(a: Path, b: Path) -> list[str]:
        return differing_outputs(a, b, only_checked=True)

    assert differing(notebook("a", "train 4708"), notebook("b", "train 4708")) == []
    assert differing(notebook("c", "train 4707"), notebook("d", "train 4708")) == ["code cell 1 (4707 against 4708)"]
    assert differing(notebook("e", "12 s", "nbval-ignore-output"), notebook("f", "40 s", "nbval-ignore-output")) == []
