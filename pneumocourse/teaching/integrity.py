"""Flags for a human: submissions that may game the auto-grader. A flag is a report line and the
points stay; a person decides. Read statically (``ast``) from the submitted cells, never run:

- a solution that uses a name the exercise's hidden tests import from ``pneumolib`` as the
  reference (the package's own implementation of the exercise);
- a cell that rebinds a builtin (``len = ...``, ``def sum(...)``, ``builtins.x = ...``);
- a cell that installs IPython or interpreter hooks (``set_custom_exc``, ``events.register``,
  input or AST transformers, ``sys.excepthook``, ``sys.settrace``);
- a cell that rebinds a name the tests read which the course's own cells define (``data = ...``,
  ``baseline = ...``), so the tests would check the student's work against the student's numbers;
- a cell that patches an imported module (``np.allclose = ...``, ``setattr(torch, ...)``), which
  the tests share.
"""

from __future__ import annotations

import ast
import builtins
import textwrap

import nbformat

from .cell_names import bound_names, cell_tree, read_names
from .exercises import nbgrader_meta

BUILTIN_NAMES = frozenset(n for n in dir(builtins) if not n.startswith("_"))
HOOKS = ("set_custom_exc", "register", "input_transformers_post", "input_transformers_cleanup", "ast_transformers",
         "excepthook", "settrace", "setprofile", "displayhook")


def reference_names(source: nbformat.NotebookNode) -> set[str]:
    """The reference implementations the notebook's exercises are judged against: what the judges
    of its test cells (:mod:`~pneumocourse.teaching.verdicts`), and the helpers they call, import
    from pneumolib."""
    import inspect

    from . import verdicts

    def imports(function, seen: set) -> set[str]:
        if function in seen:
            return set()
        seen.add(function)
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
        names = {a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                 and (node.module or "").startswith("pneumolib") for a in node.names}
        for node in ast.walk(tree):  # the module's own helpers that the judge calls
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                helper = getattr(verdicts, node.func.id, None)
                if inspect.isfunction(helper) and helper.__module__ == verdicts.__name__:
                    names |= imports(helper, seen)
        return names

    names: set[str] = set()
    for cell in source.cells:
        verdict = verdicts.VERDICTS.get(nbgrader_meta(cell).get("grade_id", ""))
        if verdict is not None:
            names |= imports(verdict.judge, set())
    return names


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


def protected_names(source: nbformat.NotebookNode) -> set[str]:
    """Names the test cells read that the course's own (locked, non-test) cells define: what a
    student's cell must not rebind."""
    tests, course, solutions, test_bound = set(), set(), set(), set()
    for cell in source.cells:
        tree = cell_tree(cell.source) if cell.cell_type == "code" else None
        if tree is None:
            continue
        meta = nbgrader_meta(cell)
        if meta.get("grade") and not meta.get("solution"):
            tests |= read_names(tree)
            test_bound |= bound_names(tree)
        elif meta.get("solution"):
            solutions |= bound_names(tree)
        else:
            course |= bound_names(tree)
    return (tests & course) - solutions - test_bound - BUILTIN_NAMES


def _patched_modules(tree: ast.AST, modules: set[str]) -> set[str]:
    """``module.attr = ...`` (at any depth) or ``setattr(module..., ...)`` on an imported module."""
    found = set()
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("setattr", "delattr") \
                and node.args:
            targets = [node.args[0]]
        for target in targets:
            base = target
            while isinstance(base, (ast.Attribute, ast.Subscript)):
                base = base.value
            if isinstance(target, ast.Attribute) and target.attr in HOOKS or \
                    isinstance(base, ast.Name) and base.id in ("builtins", "__builtins__"):
                continue  # reported as a hook or a rebound builtin
            if isinstance(base, ast.Name) and base.id in modules and base is not target:
                found.add(ast.unparse(target)[:60])
            elif isinstance(base, ast.Name) and base.id in modules and isinstance(node, ast.Call):
                found.add(f"setattr({base.id}, ...)")
    return found


def _imported_modules(trees) -> set[str]:
    """Names bound to modules by ``import x`` / ``import x as y`` / ``from x import submodule``."""
    found = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found |= {(a.asname or a.name).split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):  # from torch import nn, from pneumocourse.teaching import checks
                found |= {a.asname or a.name for a in node.names if a.name[:1].islower()}
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
    protected = protected_names(source)
    trees = {i: cell_tree(c.source) for i, c in enumerate(submitted.cells) if c.cell_type == "code"}
    modules = _imported_modules(t for t in trees.values() if t is not None)
    course_cells = {c.source.strip() for c in source.cells if c.cell_type == "code" and not nbgrader_meta(c)}
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
        shadowed = set() if cell.source.strip() in course_cells else bound_names(tree, imports=False) & protected
        if shadowed:
            lines.append(f"{name}: {where} rebinds names the tests read ({', '.join(sorted(shadowed))}); flagged for "
                         "a human, points kept.")
        patched = _patched_modules(tree, modules)
        if patched:
            lines.append(f"{name}: {where} patches imported modules ({', '.join(sorted(patched))}); flagged for a "
                         "human, points kept.")
    return lines
