"""nbval with the render's comparison rule: ``python -m pytest -p tools.nbval_rule --nbval ...``.

nbval compares a re-executed cell's outputs with the stored ones as strings, after its sanitizer.
This plugin makes it compare them as ``make run`` compares a render with the committed notebooks
(:func:`tools.compare.cell_difference`: numbers within one unit of their last printed digit,
integers exactly, the runtime lines of ``tools/output_exceptions.cfg`` replaced), so that the two
checks cannot disagree. Cells tagged or marked to be ignored stay nbval's own business.
"""

from __future__ import annotations

import pytest

from tools.compare import cell_difference


def _compare_outputs(self, test, ref, skip_compare=None) -> bool:
    """nbval's ``IPyNbCell.compare_outputs``, by the rule of :mod:`tools.compare`."""
    self.comparison_traceback = []
    difference = cell_difference({"outputs": test}, {"outputs": ref})
    if difference is None:
        return True
    self.comparison_traceback.append(
        f"the outputs differ by the rule of tools/compare.py (numbers within one unit of their last "
        f"printed digit): {difference}")
    return False


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config) -> None:
    from nbval.plugin import IPyNbCell

    IPyNbCell.compare_outputs = _compare_outputs
