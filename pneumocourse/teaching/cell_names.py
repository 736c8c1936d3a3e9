"""The names a notebook cell's code binds and reads, by its syntax tree: what the grading cut
(:mod:`~pneumocourse.teaching.exercises`) and the integrity flags
(:mod:`~pneumocourse.teaching.integrity`) both read."""

from __future__ import annotations

import ast


def cell_tree(code: str) -> ast.AST | None:
    """A code cell's syntax tree, IPython's ``%`` and ``!`` lines left out; None when it does not parse."""
    lines = [line for line in code.splitlines() if not line.lstrip().startswith(("%", "!"))]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def bound_names(tree: ast.AST, imports: bool = True) -> set[str]:
    """Global names a cell binds: assignments, definitions, loop and with targets, and imports
    (unless ``imports`` is False: a student's ``import torch`` binds what the course bound)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)) and imports:
            found |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            found.add(node.id)
    return found


def read_names(tree: ast.AST) -> set[str]:
    """Every name a cell reads."""
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}


def free_names(tree: ast.AST) -> set[str]:
    """The names a cell reads without binding them itself (a function's parameters are its own):
    what it needs from the cells before it."""
    parameters = {node.arg for node in ast.walk(tree) if isinstance(node, ast.arg)}
    return read_names(tree) - bound_names(tree) - parameters
