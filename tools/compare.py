"""The one comparison rule of a render (``make run``) and of nbval (``tools/nbval_rule.py``).

- Text is equal when its words are equal and its numbers agree: a number with decimals within one
  unit of its last printed digit (0.6032 and 0.6031 agree, 0.6032 and 0.6030 do not), an integer
  (a count, a seed, an epoch) exactly.
- Tables (CSV) and records (JSON) are compared cell by cell, field by field, by the same rule on the
  numbers as the files print them (``pneumolib.evaluation.precision`` decides those digits).
- A figure is compared by its data (``<name>.data.json``, :mod:`pneumocourse.figure_data`).
- The only exceptions are runtime lines, listed with their reasons in ``tools/output_exceptions.cfg``
  (nbval reads the same file as its sanitizer), and the cells that say what runtime a kernel found
  (tagged ``nbval-ignore-output``, as nbval reads it; the older comment mark ``# NBVAL_IGNORE_OUTPUT``
  is read too).
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import nbformat

EXCEPTIONS_FILE = Path(__file__).with_name("output_exceptions.cfg")
IGNORE_MARK, IGNORE_TAG = "NBVAL_IGNORE_OUTPUT", "nbval-ignore-output"
CHECK_MARK, CHECK_TAG = "NBVAL_CHECK_OUTPUT", "nbval-check-output"  # the cells --nbval-lax compares
NUMBER = re.compile(r"(?<![\w.])[-+−]?(?:\d+\.\d+|\.\d+|\d+)(?:[eE][-+]?\d+)?(?!\w)|(?<=[A-Za-z_])\d+")


@dataclass(frozen=True)
class RuntimeLine:
    """A runtime line the comparison replaces on both sides before comparing, and why."""

    name: str
    regex: str
    replace: str
    reason: str


def exceptions(path: Path = EXCEPTIONS_FILE) -> list[RuntimeLine]:
    """The listed runtime lines: ``[name]`` sections with ``regex:``, ``replace:`` and ``reason:``
    lines (nbval's sanitizer format, which reads only the first two)."""
    found, name, fields = [], None, {}
    for line in path.read_text().splitlines() + ["[end]"]:
        if line.startswith("[") and line.rstrip().endswith("]"):
            if name is not None:
                found.append(RuntimeLine(name, fields["regex"], fields["replace"], fields.get("reason", "")))
            name, fields = line.strip()[1:-1], {}
        elif ":" in line and not line.startswith("#"):
            key, _, value = line.partition(":")
            fields[key.strip()] = value[1:] if value.startswith(" ") else value
    return found


def sanitized(text: str, rules: Iterable[RuntimeLine] | None = None) -> str:
    """``text`` with every listed runtime line replaced."""
    for rule in exceptions() if rules is None else rules:
        text = re.sub(rule.regex, rule.replace, text)
    return text


def _unit(token: str) -> float | None:
    """One unit of a number's last printed digit; None for an integer (compared exactly)."""
    mantissa, _, exponent = token.lower().partition("e")
    if "." not in mantissa:
        return None if not exponent else 10.0 ** int(exponent)
    decimals = len(mantissa.split(".")[1])
    return 10.0 ** (int(exponent or 0) - decimals)


def _value(token: str) -> float:
    return float(token.replace("−", "-"))


def numbers_agree(a: str, b: str) -> bool:
    """Two printed numbers agree: within one unit of the coarser last digit, or exactly when both are integers."""
    if a == b:
        return True
    try:
        unit_a, unit_b = _unit(a), _unit(b)
        if unit_a is None and unit_b is None:
            return _value(a) == _value(b)
        unit = max(u for u in (unit_a, unit_b) if u is not None)
        return abs(_value(a) - _value(b)) <= unit * (1 + 1e-9)
    except (OverflowError, ValueError):  # digits that only look like a number (a hash such as 6e8410)
        return False


def text_difference(a: str, b: str) -> str | None:
    """None when ``a`` and ``b`` agree by the rule, else the first difference in a few words."""
    words_a, words_b = NUMBER.split(a), NUMBER.split(b)
    if words_a != words_b:
        for x, y in zip(words_a, words_b):
            if x != y:
                return f"text {x.strip()[:60]!r} against {y.strip()[:60]!r}"
        return f"{len(words_a)} pieces of text against {len(words_b)}"
    for x, y in zip(NUMBER.findall(a), NUMBER.findall(b)):
        if not numbers_agree(x, y):
            return f"{x} against {y}"
    return None


def _marked(cell, tag: str, mark: str) -> bool:
    return tag in cell.get("metadata", {}).get("tags", []) or mark in cell.get("source", "")


def ignored(cell) -> bool:
    """A cell whose whole output is what this runtime found (device, threads), as nbval skips it."""
    return _marked(cell, IGNORE_TAG, IGNORE_MARK)


def checked(cell) -> bool:
    """A cell that ``--nbval-lax`` compares (tagged ``nbval-check-output``)."""
    return _marked(cell, CHECK_TAG, CHECK_MARK)


def text_outputs(cell) -> list[str]:
    """A code cell's text as a reader sees it: streams (consecutive parts of one stream joined),
    errors, Markdown (the rendered findings) and text/plain results; figures are compared by their
    data files, HTML tables by their text/plain twin."""
    texts: list[tuple[str, str]] = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":  # how a kernel splits a stream into outputs varies
            text = "".join(output.get("text", ""))
            if texts and texts[-1][0] == output.get("name"):
                texts[-1] = (texts[-1][0], texts[-1][1] + text)
            else:
                texts.append((output.get("name"), text))
        elif output.get("output_type") == "error":
            texts.append(("error", f"{output.get('ename')}: {output.get('evalue')}"))
        elif "text/markdown" in output.get("data", {}):
            texts.append(("markdown", "".join(output["data"]["text/markdown"])))
        elif "text/plain" in output.get("data", {}) and "image/png" not in output.get("data", {}):
            texts.append(("result", "".join(output["data"]["text/plain"])))
    return [text for _, text in texts]


def cell_difference(ran, kept, rules: list[RuntimeLine] | None = None) -> str | None:
    """How a cell's outputs differ from the committed ones by the rule, or None."""
    rules = exceptions() if rules is None else rules
    a, b = [sanitized(t, rules) for t in text_outputs(ran)], [sanitized(t, rules) for t in text_outputs(kept)]
    if len(a) != len(b):
        return f"{len(a)} outputs against {len(b)}"
    for x, y in zip(a, b):
        difference = text_difference(x, y)
        if difference:
            return difference
    return None


def differing_outputs(executed: Path, committed: Path, only_checked: bool = False) -> list[str]:
    """The code cells whose outputs differ between an executed notebook and the committed one, each
    with its first difference (ignored cells skipped; with ``only_checked``, only the cells tagged
    ``nbval-check-output`` are compared, as ``--nbval-lax`` compares them): empty when the run
    rendered the committed numbers."""
    ran = [c for c in nbformat.read(executed, as_version=4).cells
           if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])]
    kept = [c for c in nbformat.read(committed, as_version=4).cells if c.cell_type == "code"]
    if len(ran) != len(kept):
        return [f"{len(ran)} code cells, the committed notebook has {len(kept)}"]
    rules = exceptions()
    differing = []
    for i, (a, b) in enumerate(zip(ran, kept)):
        if (only_checked and not checked(b)) or (not only_checked and ignored(b)):
            continue
        difference = cell_difference(a, b, rules)
        if difference:
            differing.append(f"code cell {i + 1} ({difference})")
    return differing


# --- files: tables, records, figure data -------------------------------------------------------


def _csv_rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


def table_difference(a: Path, b: Path) -> str | None:
    """How two CSV files differ by the rule, or None."""
    rows_a, rows_b = _csv_rows(a), _csv_rows(b)
    if len(rows_a) != len(rows_b):
        return f"{len(rows_a)} rows against {len(rows_b)}"
    for i, (x, y) in enumerate(zip(rows_a, rows_b)):
        if len(x) != len(y):
            return f"row {i}: {len(x)} cells against {len(y)}"
        for j, (u, v) in enumerate(zip(x, y)):
            difference = text_difference(u, v)
            if difference:
                return f"row {i}, column {rows_a[0][j] if j < len(rows_a[0]) else j}: {difference}"
    return None


def _walk_difference(a: Any, b: Any, where: str) -> str | None:
    if isinstance(a, tuple) and isinstance(b, tuple):  # numbers as printed
        return None if numbers_agree(a[1], b[1]) else f"{where}: {a[1]} against {b[1]}"
    if isinstance(a, dict) and isinstance(b, dict):
        if sorted(a) != sorted(b):
            return f"{where}: keys {sorted(set(a) ^ set(b))[:5]} on one side only"
        for key in a:
            found = _walk_difference(a[key], b[key], f"{where}/{key}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{where}: {len(a)} items against {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            found = _walk_difference(x, y, f"{where}/{i}")
            if found:
                return found
        return None
    if isinstance(a, str) and isinstance(b, str):
        found = text_difference(a, b)
        return f"{where}: {found}" if found else None
    return None if a == b else f"{where}: {a!r} against {b!r}"


def record_difference(a: Path, b: Path) -> str | None:
    """How two JSON files differ by the rule (numbers as the files print them), or None."""
    def load(path: Path) -> Any:  # numbers kept as printed, ("number", "0.0021"), to know their last digit
        return json.loads(path.read_text(), parse_float=lambda text: ("number", text),
                          parse_int=lambda text: ("number", text))

    return _walk_difference(load(a), load(b), a.name)


def file_difference(a: Path, b: Path) -> str | None:
    """How a produced table (CSV) or record (JSON) differs from its committed counterpart by the rule, or None."""
    return table_difference(a, b) if a.suffix == ".csv" else record_difference(a, b)


COMPARED = ("metrics/*.csv", "metrics/*.json", "figures/*.data.json")  # PNGs: their data files stand for them


def differing_files(produced: Path, reference: Path) -> list[str]:
    """The tables, records and figure data a render produced that differ from the committed ones,
    or that the reference does not have."""
    differing = []
    for pattern in COMPARED:
        for path in sorted(produced.glob(pattern)):
            relative = path.relative_to(produced).as_posix()
            counterpart = reference / relative
            if not counterpart.is_file():
                differing.append(f"results/{relative}: not in the committed results")
                continue
            difference = file_difference(path, counterpart)
            if difference:
                differing.append(f"results/{relative}: {difference}")
    return differing


def exceptions_listing(notebooks: Iterable[Path]) -> list[str]:
    """Each exception of the rule, with its reason: the runtime lines, and the cells skipped whole."""
    lines = [f"runtime line [{rule.name}]: {rule.reason}" for rule in exceptions()]
    for path in notebooks:
        code = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
        for i, cell in enumerate(code):
            if ignored(cell):
                lines.append(f"{path.stem} code cell {i + 1}: {cell_reason(cell)}")
    return lines


def cell_reason(cell) -> str:
    """Why a cell is skipped whole: its first comment line (``# only the runtime ...``), after the
    mark where it has one."""
    lines = [line.strip() for line in cell.source.splitlines() if IGNORE_MARK not in line]
    first = lines[0] if lines else ""
    return first.lstrip("# ").strip() if first.startswith("#") else "tagged nbval-ignore-output, without a reason"
