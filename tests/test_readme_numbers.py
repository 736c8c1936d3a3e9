"""Numbers in the README are rendered from committed results (scripts/render_readme.py), and
checked against them here."""

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _renderer():
    spec = importlib.util.spec_from_file_location("render_readme", REPO / "scripts" / "render_readme.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["reference", "06", "bench", "exercises"])
def test_readme_blocks_are_rendered_from_the_results(name):
    renderer = _renderer()
    text = (REPO / "README.md").read_text()
    start, end = renderer.block(text, name)
    assert text[start:end] == renderer.BLOCKS[name](), \
        f"README's '{name}' block differs from the results; run scripts/render_readme.py"


def test_the_readme_says_what_06_decided_about_flips():
    import json

    decisions = json.loads((REPO / "results" / "metrics" / "06_decisions.json").read_text())
    assert "horizontal flip" not in decisions["kept_components"] and decisions["chosen_arm"] != "+ horizontal flip"
    assert "notebook 06 tests the flip as a component on val and does not keep it" in " ".join(
        (REPO / "README.md").read_text().split())
