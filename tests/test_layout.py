"""The layout holds (docs/development.md): the library ``pneumolib`` imports flow down its stages
(foundation, data, evaluation, models, training, explain, shift, experiments, deploy, cli), the
course ``pneumocourse`` builds on the library and the library never imports it, the repository's
``tools`` build on both and neither imports them; no module imports itself back at import time."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE, COURSE, TOOLS = REPO / "pneumolib", REPO / "pneumocourse", REPO / "tools"
STAGES = ("foundation", "data", "evaluation", "models", "training", "explain", "shift", "experiments", "deploy", "cli")


def _module(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _stage(module: str) -> int:
    parts = module.split(".")
    head = parts[1] if len(parts) > 1 else ""
    return STAGES.index(head) if head in STAGES else (STAGES.index("cli") if head == "__main__" else 0)


def _imports(path: Path, root: Path, top_level_only: bool, own_only: bool = True) -> set[str]:
    """The modules ``path`` imports (everywhere, or only at import time): of its own package, or all."""
    name = _module(path, root)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            found |= {f"{base}.{a.name}" for a in node.names} if not node.module else {base}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {m for m in found if m.split(".")[0] == root.name} if own_only else found


def stage_violations(root: Path) -> list[tuple[str, str]]:
    """(importer, imported) pairs where a module imports from a later stage than its own."""
    return [(_module(p, root), m) for p in sorted(root.rglob("*.py")) for m in sorted(_imports(p, root, False))
            if _stage(m) > _stage(_module(p, root))]


def import_cycles(root: Path) -> list[list[str]]:
    """Cycles among the modules' import-time imports (a name imported from a package counts as that
    package's module when it is one, else as the package)."""
    modules = {_module(p, root): p for p in root.rglob("*.py")}

    def resolve(name: str) -> str:
        while name not in modules and "." in name:
            name = name.rsplit(".", 1)[0]
        return name

    graph = {m: {resolve(i) for i in _imports(p, root, True)} - {m} for m, p in modules.items()}
    cycles, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return cycles


def imports_of(root: Path, packages: tuple[str, ...]) -> list[tuple[str, str]]:
    """(importer, imported) pairs where a module of ``root`` imports one of ``packages``."""
    return [(_module(p, root), m) for p in sorted(root.rglob("*.py")) for m in sorted(_imports(p, root, False, False))
            if m.split(".")[0] in packages]


def test_imports_flow_down_the_stages():
    assert not stage_violations(PACKAGE)


def test_the_library_never_imports_the_course_or_the_tools_and_the_course_never_the_tools():
    assert imports_of(PACKAGE, ("pneumocourse", "tools")) == []
    assert imports_of(COURSE, ("tools",)) == []
    assert imports_of(COURSE, ("pneumolib",)) and imports_of(TOOLS, ("pneumolib", "pneumocourse")), "the check reads imports"


def test_the_library_names_no_notebook():
    numbered = re.compile(r"\b0[1-7]_[a-z]+|notebooks?/0[1-7]|\bnotebook 0[1-7]\b|\b0[1-7]'s\b")
    found = [f"{p.relative_to(REPO)}:{i}" for p in sorted(PACKAGE.rglob("*.py"))
             for i, line in enumerate(p.read_text().splitlines(), 1) if numbered.search(line)]
    assert found == [], found


def test_no_module_imports_itself_back_at_import_time():
    for root in (PACKAGE, COURSE):
        assert not import_cycles(root), root.name


def test_the_checks_catch_an_upward_import_and_a_cycle(tmp_path):
    root = tmp_path / "pneumolib"
    for folder in ("data", "models"):
        (root / folder).mkdir(parents=True)
        (root / folder / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "data" / "core.py").write_text("from ..models import zoo\n")  # data reaching up into models
    (root / "models" / "zoo.py").write_text("def build():\n    from ..data import core\n")
    (root / "models" / "a.py").write_text("from . import b\n")
    (root / "models" / "b.py").write_text("from .a import x\n")
    assert stage_violations(root) == [("pneumolib.data.core", "pneumolib.models")]
    assert ["pneumolib.models.a", "pneumolib.models.b", "pneumolib.models.a"] in import_cycles(root)


def _notebook_companions() -> dict[str, str]:
    """Each numbered notebook's stem and the companion module named after it (its name without the number)."""
    return {p.stem: p.stem.split("_", 1)[1] for p in sorted((REPO / "notebooks").glob("0[1-9]_*.ipynb"))}


def test_one_companion_per_notebook_and_its_setup_cell_calls_it():
    import importlib

    import nbformat

    pairs = _notebook_companions()
    assert len(pairs) == 7
    assert set(pairs.values()) == {p.stem for p in (COURSE / "companions").glob("*.py")} - {"__init__"}
    for stem, name in pairs.items():
        module = importlib.import_module(f"pneumocourse.companions.{name}")
        assert callable(module.setup), name
        cells = nbformat.read(REPO / "notebooks" / f"{stem}.ipynb", as_version=4).cells
        parameters = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
        setup = cells[parameters + 1].source
        assert f"from pneumocourse.companions import {name} as companion" in setup, stem
        assert "companion.setup(" in setup and "raise " not in setup, stem


def test_a_companion_is_imported_by_its_notebook_alone():
    """A companion holds one notebook's setup and wording: no module of the course, the tools or the
    benchmarks imports one (what several users share, such as 06's final model or 07's adaptation
    study, lives in its own module), and a notebook imports no other notebook's companion."""
    offenders = sorted({(importer, imported) for importer, imported in imports_of(COURSE, ("pneumocourse",))
                        if imported.startswith("pneumocourse.companions") and importer != "pneumocourse.companions"})
    for folder in ("tools", "benchmarks"):
        for path in sorted((REPO / folder).rglob("*.py")):
            offenders += [(str(path.relative_to(REPO)), m) for m in _imports(path, REPO / folder, False, False)
                          if m.startswith("pneumocourse.companions")]
    assert offenders == [], f"imports of a companion outside its notebook: {offenders}"
    import nbformat

    for stem, own in _notebook_companions().items():
        for cell in nbformat.read(REPO / "notebooks" / f"{stem}.ipynb", as_version=4).cells:
            named = set(re.findall(r"pneumocourse\.companions(?:\.(\w+)| import (\w+))", cell.source))
            others = {a or b for a, b in named} - {own}
            assert not others, f"{stem} imports the companion of another notebook: {others}"
