"""Numbers in the guides are rendered from committed results (tools/render_docs.py), and checked
against them here; the README stays a front page."""

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _renderer():
    spec = importlib.util.spec_from_file_location("render_docs", REPO / "tools" / "render_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["reference", "06", "07", "bench", "exercises", "grading"])
def test_result_blocks_are_rendered_from_the_results(name):
    renderer = _renderer()
    path = renderer.block_file(name)
    text = path.read_text()
    start, end = renderer.block(text, name)
    assert text[start:end] == renderer.BLOCKS[name](), \
        f"{path.name}'s '{name}' block differs from the results; run tools/render_docs.py"


def test_the_researcher_guide_says_what_06_decided_about_flips():
    import json

    decisions = json.loads((REPO / "results" / "metrics" / "06_decisions.json").read_text())
    assert "horizontal flip" not in decisions["kept_components"] and decisions["chosen_arm"] != "+ horizontal flip"
    assert "notebook 06 tests the flip as a component on val and does not keep it" in " ".join(
        (REPO / "docs" / "researcher-guide.md").read_text().split())


def test_the_readme_is_a_front_page():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    assert "make run" in readme and "make test" in readme
    for guide in ("user-guide", "instructor-guide", "researcher-guide", "performance", "development", "api"):
        assert f"(docs/{guide}.md)" in readme and (REPO / "docs" / f"{guide}.md").is_file()
