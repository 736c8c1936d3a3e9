"""How long each notebook takes, measured by ``notebooks run`` and rendered where readers look:
the "**Time:**" line of each notebook's introduction and the table in ``notebooks/README.md``.

``results/metrics/suite_times.csv`` (default profile) and ``results/smoke/metrics/suite_times.csv``
keep, per notebook, the last run that trained runs into the store and the last that trained none.
"""

from __future__ import annotations

import json

import re
import time
from pathlib import Path
from dataclasses import dataclass
from typing import Sequence

import pandas as pd

from pneumolib.devices import describe_device, resolve_device
from pneumolib.paths import project_root, results_dir
from pneumolib.repro import package_versions
from pneumolib.models.formats import describe_cpu

TIMES_FILE = "suite_times.csv"
FRESH_TIMES_FILE = "fresh_runtime_times.csv"  # each notebook alone in a fresh runtime (tests/install, --install-times)
TIME_LINE = re.compile(r"^\*\*Time:\*\*.*$", re.MULTILINE)
README_START, README_END = "<!-- times: rendered by notebooks run --write-back -->", "<!-- /times -->"


@dataclass
class NotebookRun:
    notebook: str
    status: str  # "passed" or "failed"
    seconds: float
    output: Path
    error: str = ""
    new_runs: int = 0  # runs this notebook added to the run store (0: it trained nothing, or loaded all)



def stored_runs(store: Path) -> int:
    """How many trained runs the store folder holds (records that only combine or adapt stored
    runs, such as ensembles and notebook 07's adapted models, train nothing and are not counted)."""
    count = 0
    for path in store.glob("*/record.json"):
        try:
            kind = json.loads(path.read_text()).get("kind")
        except (OSError, ValueError):  # a record being written: not a finished run
            continue
        count += kind not in ("ensemble", "adapted")
    return count


def record_times(runs: Sequence[NotebookRun], path: Path) -> pd.DataFrame:
    """Update the times table with the notebooks that passed: one row per notebook and kind of
    run, ``trained`` (it added runs to the store) or ``from store`` (it trained nothing)."""
    device = resolve_device("auto")
    device = describe_cpu() if device.type == "cpu" else describe_device(device)  # names the CPU and its bf16 case
    fresh = pd.DataFrame([{"notebook": r.notebook, "kind": "trained" if r.new_runs else "from store",
                           "new_runs": r.new_runs, "seconds": round(r.seconds, 1), "device": device,
                           "date": time.strftime("%Y-%m-%d"), "torch": package_versions().get("torch")}
                          for r in runs if r.status == "passed"])
    if path.is_file() and len(fresh):
        old = pd.read_csv(path)
        replaced = old.set_index(["notebook", "kind"]).index.isin(fresh.set_index(["notebook", "kind"]).index)
        fresh = pd.concat([old[~replaced], fresh], ignore_index=True)
    elif path.is_file():
        fresh = pd.read_csv(path)
    if len(fresh):
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = fresh.sort_values(["notebook", "kind"], ignore_index=True)
        fresh.to_csv(path, index=False)
    return fresh


def load_times(profile: str) -> pd.DataFrame:
    """The times table of a profile (empty when nothing was measured)."""
    path = results_dir(profile) / "metrics" / TIMES_FILE
    if path.is_file():
        return pd.read_csv(path)
    return pd.DataFrame(columns=["notebook", "kind", "new_runs", "seconds", "device"])


def load_fresh_times() -> pd.DataFrame:
    """Each notebook alone in a fresh runtime, default profile (the Colab-like install test with
    ``--install-times``): one row per notebook and reference mode (served, offline)."""
    path = results_dir("default") / "metrics" / FRESH_TIMES_FILE
    if path.is_file():
        return pd.read_csv(path)
    return pd.DataFrame(columns=["notebook", "profile", "reference", "case", "cpu", "threads", "seconds"])


def fresh_runtime_part(notebook: str, fresh: pd.DataFrame) -> str | None:
    """"alone in a fresh runtime ..." for the Time line, or None when it was not measured."""
    rows = fresh[(fresh.notebook == notebook) & (fresh.profile == "default")].set_index("reference")
    if rows.empty:
        return None
    threads = int(rows.threads.iloc[0])
    served = (f"{duration(rows.loc['served', 'seconds'])} with the reference results fetched" if "served" in rows.index
              else "not measured with the reference results fetched")
    offline = (f"{duration(rows.loc['offline', 'seconds'])} offline, training what it needs" if "offline" in rows.index
               else "not measured yet offline")
    return f"alone in a fresh runtime ({threads} CPU threads): {served}, {offline}"


def duration(seconds: float) -> str:
    """``40 s`` under 90 seconds, else whole minutes."""
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def time_line(notebook: str, default: pd.DataFrame | None = None, smoke: pd.DataFrame | None = None,
              fresh: pd.DataFrame | None = None) -> str:
    """The "**Time:**" sentence for one notebook, from the measured times."""
    default = load_times("default") if default is None else default
    smoke = load_times("smoke") if smoke is None else smoke
    fresh = load_fresh_times() if fresh is None else fresh
    rows = default[default.notebook == notebook].set_index("kind")
    parts = []
    if "trained" in rows.index:
        row = rows.loc["trained"]
        parts.append(f"{duration(row.seconds)} on {row.device} in a run that trained {int(row.new_runs)} new "
                     "runs into the store")
    if "from store" in rows.index:
        row = rows.loc["from store"]
        parts.append(f"{duration(row.seconds)} " + ("when the store already holds all its runs" if "trained" in rows.index
                                                    else f"on {row.device}"))
    alone = fresh_runtime_part(notebook, fresh)
    if alone:
        parts.append(alone)
    smoke_rows = smoke[smoke.notebook == notebook]
    if len(smoke_rows):
        parts.append(f"{duration(smoke_rows.seconds.max())} in the smoke profile")
    parts.append("on a Colab GPU: not measured yet")
    return "**Time:** " + "; ".join(parts) + "."


def update_time_line(nb, notebook: str) -> None:
    """Write the rendered "**Time:**" line into the notebook's first Markdown cell."""
    intro = next(c for c in nb.cells if c.cell_type == "markdown")
    line = time_line(notebook)
    if TIME_LINE.search(intro.source):
        intro.source = TIME_LINE.sub(lambda _: line, intro.source)
    else:
        intro.source = intro.source.rstrip() + "\n\n" + line


def readme_table(notebooks: Sequence[str], default: pd.DataFrame | None = None,
                 smoke: pd.DataFrame | None = None, fresh: pd.DataFrame | None = None) -> str:
    """The times table of ``notebooks/README.md`` for the named notebooks, between its markers."""
    lines = [README_START, "| notebook | time |", "|---|---|"]
    for name in notebooks:
        lines.append(f"| [{name}]({name}.ipynb) | {time_line(name, default, smoke, fresh).removeprefix('**Time:** ')} |")
    return "\n".join(lines + [README_END])


def update_readme(notebooks: Sequence[str]) -> Path:
    """Rewrite the times table of ``notebooks/README.md`` from the measured times."""
    path = project_root() / "notebooks" / "README.md"
    text = path.read_text()
    start, end = text.index(README_START), text.index(README_END) + len(README_END)
    path.write_text(text[:start] + readme_table(notebooks) + text[end:])
    return path
