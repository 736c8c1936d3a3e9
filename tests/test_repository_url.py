"""The repository URL is set once, in pyproject.toml; every notebook's Colab badge and install cell use it."""

import json
import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _repository() -> str:
    urls = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["urls"]
    return urls["Repository"].rstrip("/")


def _sources(notebook: Path) -> str:
    return "\n".join("".join(c["source"]) for c in json.loads(notebook.read_text())["cells"])


def test_every_notebook_links_and_installs_from_the_project_repository():
    repository = _repository()
    owner_repo = repository.removeprefix("https://github.com/")
    assert NOTEBOOKS
    for notebook in NOTEBOOKS:
        text = _sources(notebook)
        badge = f"https://colab.research.google.com/github/{owner_repo}/blob/main/notebooks/{notebook.name}"
        assert badge in text, f"{notebook.name}: no Colab badge pointing at {badge}"
        assert f"pneumolib @ git+{repository}" in text, f"{notebook.name}: the install cell does not use {repository}"


def test_no_other_copy_of_the_repository_url():
    """A fork changes pyproject.toml and the notebooks' links; nothing else may name another repository."""
    owner_repo = _repository().removeprefix("https://github.com/")
    for path in [*NOTEBOOKS, REPO / "README.md"]:
        for found in re.findall(r"github\.com/([\w.-]+/[\w.-]+?)(?:\.git)?(?=[/)\s\"'#]|$)", path.read_text()):
            assert found == owner_repo or not found.startswith(owner_repo.split("/")[0] + "/"), \
                f"{path.name} names {found}, not {owner_repo}"


def test_every_install_cell_names_the_release_it_belongs_to():
    """A notebook opened from a course's copy installs the release it was written for, not whatever
    the default branch holds now: the git tag v<version> of pyproject.toml (tag each release so)."""
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    for notebook in NOTEBOOKS:
        install = "".join(json.loads(notebook.read_text())["cells"][1]["source"])
        assert f'pneumolib @ git+{_repository()}@v{version}"' in install, \
            f"{notebook.name}: the install cell must pin @v{version} (pyproject.toml's version)"
        assert f"install pneumolib {version}," in install
