"""How long `python -m pneumocourse assignments grade` takes for a class: N students, each submitting
every notebook, graded in the smoke profile with the default workers, in the sandbox and without
it, one after the other in one run (the machine may be noisy: compare the two rows of one run).

    .venv/bin/python benchmarks/grading_time.py --students 30 --csv results/metrics/grading_time.csv

The graders' store is seeded as the instructor guide says: from one smoke run of the course's
notebooks (``python -m tools.notebooks run --smoke``, made first and timed apart, in the column
``seed_run_seconds``), passed with ``--seed-from``; or from ``--seed-from`` given here.

``--submission complete`` (the default) submits the course's complete notebooks, so every cell
runs to the end, the slowest honest class; ``release`` submits the unmodified student release.
Prints the wall time in all and per student; with ``--csv``, adds each row (with the commit and the
date) after the rows already in that file, never over them.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def grade_class(root: Path, students: int, workers: int, submission: str, sandbox: bool, seed_from: Path) -> dict:
    """Grade ``students`` copies of ``submission`` in ``root``; the row of the table."""
    source = root / ("release" if submission == "release" else "complete")
    for i in range(students):
        target = root / "submitted" / f"student{i:02d}" / "pneumolib"
        if not target.exists():
            shutil.copytree(source, target)
    out = root / f"grades-{'sandbox' if sandbox else 'no-sandbox'}"
    command = [sys.executable, "-m", "pneumocourse", "assignments", "grade", str(root / "submitted"), "--out", str(out),
               "--workers", str(workers), "--seed-from", str(seed_from)] + ([] if sandbox else ["--no-sandbox"])
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    summary = pd.read_csv(out / "summary.csv")
    return {"students": len(summary), "notebooks": len(list(source.glob("*.ipynb"))), "submission": submission,
            "sandbox": sandbox, "workers": workers or os.cpu_count(), "cpu_cores": os.cpu_count(),
            "seconds": round(seconds), "seconds_per_student": round(seconds / students, 1),
            "mean_points": round(float(summary["total"].mean()), 2), "max_points": float(summary["max_total"].iloc[0]),
            "machine": platform.processor() or platform.machine(), "commit": _commit(),
            "date": time.strftime("%Y-%m-%d")}


def _commit() -> str:
    """The checkout's commit (with "+changes" when the work tree differs from it), or "" outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "pneumolib", "pneumocourse", "notebooks"], cwd=REPO,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""
    return head.stdout.strip() + ("+changes" if dirty else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--workers", type=int, default=0, help="0 = one per CPU core")
    parser.add_argument("--submission", choices=("complete", "release"), default="complete")
    parser.add_argument("--modes", nargs="+", choices=("sandbox", "no-sandbox"), default=["sandbox", "no-sandbox"])
    parser.add_argument("--csv", default="", help="write the table here as well")
    parser.add_argument("--seed-from", default="", help="a smoke results folder to seed from (default: make one)")
    args = parser.parse_args()
    earlier = pd.read_csv(args.csv) if args.csv and Path(args.csv).is_file() else pd.DataFrame()
    rows = []
    with tempfile.TemporaryDirectory(prefix="pneumolib-grading-") as tmp:
        root = Path(tmp)
        subprocess.run([sys.executable, "-m", "pneumocourse", "assignments", "release", "--out", str(root / "release")],
                       check=True, stdout=subprocess.DEVNULL)
        (root / "complete").mkdir()
        for path in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")):
            shutil.copy2(path, root / "complete" / path.name)
        seed_from, seed_seconds = Path(args.seed_from) if args.seed_from else root / "seed" / "smoke", None
        if not args.seed_from:  # one smoke run of the course's notebooks, as the instructor guide says
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "tools.notebooks", "run", "--smoke"], cwd=REPO, check=True,
                           env={**os.environ, "PNEUMOLIB_RESULTS": str(root / "seed")}, stdout=subprocess.DEVNULL)
            seed_seconds = round(time.perf_counter() - started)
            print(f"the graders' store: one smoke run of the course's notebooks ({seed_seconds} s, not in the times below)")
        for mode in args.modes:
            rows.append({**grade_class(root, args.students, args.workers, args.submission, mode == "sandbox", seed_from),
                         "seed_run_seconds": seed_seconds})
            row = rows[-1]
            print(f"{'sandbox' if row['sandbox'] else 'no sandbox'}: graded {row['students']} students "
                  f"({row['notebooks']} notebooks each, {args.submission}, smoke profile, {row['workers']} workers) in "
                  f"{row['seconds'] / 60:.1f} min: {row['seconds_per_student']:.0f} s per student; mean "
                  f"{row['mean_points']:g} of {row['max_points']:g} points", flush=True)
            if args.csv:  # each row as soon as it is measured, after the rows of earlier runs (never over them)
                pd.concat([earlier, pd.DataFrame(rows)], ignore_index=True).to_csv(args.csv, index=False)
    if args.csv:
        print(f"added {len(rows)} row(s) to {args.csv}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
