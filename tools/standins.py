"""Stand-ins for other machines: ``python -m tools.standins`` renders the notebooks that compute at
render time under other kernels, as a user's CPU would run them, and each render must pass
(``make run``'s comparison) with ``git status`` as before.

- ``OPENBLAS_CORETYPE`` picks another OpenBLAS kernel for numpy, scipy and scikit-learn (Prescott:
  SSE3 only; Haswell: AVX2), as most laptops and many servers have;
- ``ATEN_CPU_CAPABILITY=default`` with ``PNEUMOLIB_FP32=1``: torch without vector kernels and
  without bf16;
- ``OMP_NUM_THREADS=1``: another reduction order.

Renders run side by side, one thread each: ``--jobs`` processes share the notebooks of each stand-in
(``make test`` renders the Prescott stand-in, the furthest from the developers' CPU, in two halves).
What no stand-in here reaches: an ARM CPU (other instructions, other libm) and a GPU.
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
from typing import Sequence

from pneumocourse.notebooks import use_checkout
from pneumolib.paths import project_root

STAND_INS = {
    "prescott-novector-fp32": {"OPENBLAS_CORETYPE": "Prescott", "ATEN_CPU_CAPABILITY": "default",
                               "PNEUMOLIB_FP32": "1", "OMP_NUM_THREADS": "1"},
    "haswell": {"OPENBLAS_CORETYPE": "Haswell", "OMP_NUM_THREADS": "1"},
}
COMPUTING_NOTEBOOKS = ("02", "04", "05", "06", "07")  # computing at render time: try-it training, CAM checks, scoring, shift
# seconds each took under the Prescott stand-in, one thread (02 and 05 measured with their try-it cells): how the halves are balanced
RENDER_SECONDS = {"02": 45, "04": 263, "05": 20, "06": 50, "07": 245}


def shares(notebooks: Sequence[str], jobs: int) -> list[list[str]]:
    """``notebooks`` split into at most ``jobs`` groups of about equal render time (longest first,
    each to the group with the least so far)."""
    groups: list[list[str]] = [[] for _ in range(max(1, min(jobs, len(notebooks))))]
    seconds = [0] * len(groups)
    for notebook in sorted(notebooks, key=lambda n: -RENDER_SECONDS.get(n, 100)):
        least = seconds.index(min(seconds))
        groups[least].append(notebook)
        seconds[least] += RENDER_SECONDS.get(notebook, 100)
    return [sorted(group) for group in groups if group]


def _git_status() -> str:
    out = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, cwd=project_root())
    return out.stdout if out.returncode == 0 else ""


def main(argv: Sequence[str] | None = None) -> int:
    """Render :data:`COMPUTING_NOTEBOOKS` under each stand-in, side by side; 0 when all pass and
    ``git status`` is as before."""
    parser = argparse.ArgumentParser(prog="python -m tools.standins", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", default=list(COMPUTING_NOTEBOOKS), help="notebooks to render")
    parser.add_argument("--stand-in", nargs="+", choices=sorted(STAND_INS), default=sorted(STAND_INS))
    parser.add_argument("--jobs", type=int, default=1, help="processes per stand-in, each rendering a share of the notebooks")
    args = parser.parse_args(argv)
    use_checkout()
    before = _git_status()
    folder = Path(tempfile.mkdtemp(prefix="standins-"))
    started = {}
    for name in args.stand_in:
        for share in shares(args.only, args.jobs):
            label = f"{name} {' '.join(share)}"
            log = folder / f"{name}-{'-'.join(share)}.log"
            command = [sys.executable, "-m", "tools.notebooks", "run", "--only", *share,
                       "--render-into", str(folder / name / "-".join(share))]
            env = {**os.environ, **STAND_INS[name]}
            for variable in ("PNEUMOLIB_RESULTS", "SMOKE_TEST", "PNEUMOLIB_REFERENCE_RESULTS"):
                env.pop(variable, None)  # a render of the committed results, whatever the caller had set
            started[label] = (subprocess.Popen(command, cwd=project_root(), env=env, stdout=log.open("w"),
                                               stderr=subprocess.STDOUT), log, time.perf_counter(), name)
    failed = []
    for label, (process, log, start, name) in started.items():
        code = process.wait()
        settings = " ".join(f"{k}={v}" for k, v in STAND_INS[name].items())
        print(f"== {label} ({settings}): exit {code} after {time.perf_counter() - start:.0f} s")
        print("\n".join(line for line in log.read_text().splitlines() if "WARNING | Kernel" not in line))
        if code:
            failed.append(label)
    after = _git_status()
    if after != before:
        print(f"git status changed:\n{after}")
        failed.append("git status")
    print(f"stand-ins: {len(started) - len(failed) + ('git status' in failed)} of {len(started)} renders passed"
          + (f"; failed: {', '.join(failed)} (renders and logs kept in {folder})" if failed else "; git status as before"))
    if not failed:
        shutil.rmtree(folder, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
