"""Flags for a human: submissions that may game the auto-grader. A flag is a report line and the
points stay; a person decides. Read statically (``ast``) from the submitted cells, never run:

- a solution that uses a name the exercise's hidden tests import from ``pneumolib`` as the
  reference (the package's own implementation of the exercise);
- a cell that rebinds a builtin (``len = ...``, ``def sum(...)``, ``builtins.x = ...``);
- a cell that installs IPython or interpreter hooks (``set_custom_exc``, ``events.register``,
  input or AST transformers, ``sys.excepthook``, ``sys.settrace``).
"""

from __future__ import annotations

import ast
import builtins
import re

import nbformat

from .exercises import nbgrader_meta

BUILTIN_NAMES = frozenset(n for n in dir(builtins) if not n.startswith("_"))
HOOKS = ("set_custom_exc", "register", "input_transformers_post", "input_transformers_cleanup", "ast_transformers",
         "excepthook", "settrace", "setprofile", "displayhook")
REFERENCE_IMPORT = re.compile(r"from\s+(pneumolib[\w.]*)\s+import\s+(\w+)(?:\s+as\s+\w+)?")


def reference_names(source: nbformat.NotebookNode) -> set[str]:
    """The names that the notebook's hidden tests import from pneumolib (the reference
    implementations its exercises are checked against)."""
    names = set()
    for cell in source.cells:
        if "BEGIN HIDDEN TESTS" in cell.source:
            names |= {m.group(2) for m in REFERENCE_IMPORT.finditer(cell.source)}
    return names


def _tree(text: str) -> ast.AST | None:
    lines = [line for line in text.splitlines() if not line.lstrip().startswith(("%", "!"))]  # magics
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def _rebound_builtins(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name in BUILTIN_NAMES:
            found.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            found |= {a.asname for a in node.names if a.asname in BUILTIN_NAMES}
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, ast.Name) and sub.id in BUILTIN_NAMES:
                    found.add(sub.id)
                elif isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) and \
                        sub.value.id in ("builtins", "__builtins__"):
                    found.add(sub.attr)
    return found


def _hooks(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in HOOKS:
            if node.attr != "register" or "events" in ast.unparse(node.value):
                found.add(node.attr)
    return found


def _imported_references(tree: ast.AST, references: set[str]) -> dict[str, str]:
    """Local name -> reference name, for each reference imported from pneumolib in ``tree``
    (``from pneumolib.x import ref [as alias]``; ``import pneumolib...`` makes every attribute
    access ``....ref`` count)."""
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pneumolib"):
            found |= {(a.asname or a.name): a.name for a in node.names if a.name in references}
    return found


def _uses(tree: ast.AST, imported: dict[str, str], references: set[str]) -> set[str]:
    used = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in imported:
            used.add(imported[node.id])
        elif isinstance(node, ast.Attribute) and node.attr in references:  # module.ref, whatever the module's alias
            used.add(node.attr)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pneumolib"):
            used |= {a.name for a in node.names if a.name in references}
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in references:
            used.add(node.value)  # getattr(module, "ref") or importlib tricks
    return used


def integrity_flags(submitted: nbformat.NotebookNode, source: nbformat.NotebookNode, name: str) -> list[str]:
    """One report line per suspicious construct in the submission (the points are kept)."""
    references = reference_names(source)
    trees = {i: _tree(c.source) for i, c in enumerate(submitted.cells) if c.cell_type == "code"}
    imported = {k: v for t in trees.values() if t is not None for k, v in _imported_references(t, references).items()}
    lines = []
    for index, cell in enumerate(submitted.cells):
        if cell.cell_type != "code":
            continue
        tree = trees[index]
        if tree is None:
            continue
        meta = nbgrader_meta(cell)
        where = meta.get("grade_id") or f"cell {index}"
        if meta.get("solution"):
            used = _uses(tree, imported, references)
            if used:
                lines.append(f"{name}: {where} uses the package's own implementation ({', '.join(sorted(used))}); "
                             "flagged for a human, points kept.")
        if meta.get("locked"):
            continue  # the course's own cells (restored from the source when graded)
        rebound = _rebound_builtins(tree)
        if rebound:
            lines.append(f"{name}: {where} rebinds builtins ({', '.join(sorted(rebound))}); flagged for a human, "
                         "points kept.")
        hooks = _hooks(tree)
        if hooks:
            lines.append(f"{name}: {where} installs interpreter or IPython hooks ({', '.join(sorted(hooks))}); "
                         "flagged for a human, points kept.")
    return lines
