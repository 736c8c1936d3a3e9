"""How long `python -m pneumolib assignments grade` takes for a class: N copies of the student
release (unmodified), graded in the smoke profile with the default workers.

    .venv/bin/python benchmarks/grading_time.py --students 30

Prints the wall time in all and per student, and writes nothing outside a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--workers", type=int, default=0, help="0 = one per CPU core")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pneumolib-grading-") as tmp:
        root = Path(tmp)
        subprocess.run([sys.executable, "-m", "pneumolib", "assignments", "release", "--out", str(root / "release")],
                       check=True, stdout=subprocess.DEVNULL)
        for i in range(args.students):
            shutil.copytree(root / "release", root / "submitted" / f"student{i:02d}" / "pneumolib")
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pneumolib", "assignments", "grade", str(root / "submitted"),
                        "--out", str(root / "grades"), "--workers", str(args.workers)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seconds = time.perf_counter() - started
        lines = (root / "grades" / "summary.csv").read_text().splitlines()
        notebooks = len(list((root / "release").glob("*.ipynb")))
    workers = args.workers or os.cpu_count()
    print(f"graded {len(lines) - 1} students ({notebooks} notebooks each, smoke profile, {workers} workers) in "
          f"{seconds / 60:.1f} min: {seconds / args.students:.0f} s per student")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
