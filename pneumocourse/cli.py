"""The course's command line: ``python -m pneumocourse --help`` lists the commands (the student
release and autograding of the notebooks' exercises, and the final model of notebook 06). Built
on the library's command-line helpers."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Sequence

from pneumolib import config as cfg
from pneumolib.cli import run_parser, where
from pneumolib.paths import resolve_display_path

from .notebooks import use_checkout


def _add_best_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "best",
        help="reproduce the final model that notebooks/06_best_model chose",
        description="Read the decisions that notebook 06 saved (results/metrics/06_decisions.json), train or "
        "reuse its member runs, apply TTA and the ensemble as decided, pick the threshold on val, and distil "
        "the ensemble into one small CNN (student.pt, an ordinary checkpoint for predict and export).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--decisions", default=None, help="decisions file (default: results/metrics/06_decisions.json)")
    p.add_argument("--data-dir", default=None, help="folder holding pneumoniamnist.npz (default: $PNEUMOLIB_DATA, then data/)")
    p.add_argument("--device", default="auto", choices=cfg.DEVICES, help="device for the member and student runs")
    p.add_argument("--workers", type=int, default=0, help="parallel worker processes (0 = one per core)")
    p.add_argument("--out", default="results/best", help="folder for student.pt")
    p.set_defaults(handler=_cmd_best)


def _cmd_best(args: argparse.Namespace) -> int:
    from pneumolib.data import resolve_data_dir
    from pneumolib.experiments.runs import DataSpec
    from pneumolib.experiments.store import RunStore, use_missing_file_source

    from .final_model import load_decisions, train_best
    from .reference import fetch

    use_missing_file_source(fetch)  # member runs the store lacks come from the reference results, when fetching is on
    if args.workers < 0:
        raise cfg.ConfigError(f"--workers must be >= 0, got {args.workers}.")
    decisions = load_decisions(args.decisions)
    workers = args.workers or os.cpu_count() or 1
    spec = DataSpec(str(resolve_data_dir(args.data_dir)), 28)
    best = train_best(spec, decisions, device=args.device, out=resolve_display_path(args.out), workers=workers,
                      threads_per_worker=max(1, (os.cpu_count() or 1) // workers))
    record = best.record.fields
    tuned = record["tuned"]
    print(f"{record['recipe']} (members: seeds {record['seed']})")
    print(f"val AUC {record['val']['auc']:.4f}; threshold picked on val (Youden): {tuned['threshold']:.4f}")
    print(f"MedMNIST test AUC/ACC (0.5): {record['medmnist']['test']['auc']:.4f} / {record['medmnist']['test']['acc']:.4f}; "
          f"test ACC at the val-picked threshold: {tuned['test']['acc']:.4f}")
    student = best.student.fields
    print(f"distilled student (one small CNN, no TTA): val AUC {student['val']['auc']:.4f}, test AUC "
          f"{student['test']['auc']:.4f}, test ACC at its val-picked threshold {student['tuned']['test']['acc']:.4f}")
    print(f"final record: {where(RunStore().folder(best.record.run_id))}; student: {where(best.student_path)} "
          f"(use it with `predict --model {where(best.student_path)}` or `export`)")
    return 0


def _add_assignments_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "assignments",
        help="student releases and autograding of the notebooks' exercises (nbgrader)",
        description="Teaching commands: the notebooks' graded exercises through nbgrader.",
    )
    sub = p.add_subparsers(title="commands", metavar="COMMAND")
    release = sub.add_parser(
        "release",
        help="write the student versions of the notebooks",
        description="Write the student versions with nbgrader's generate_assignment: solutions replaced by "
        "stubs, hidden tests removed, outputs cleared, and a cell on how to check and submit.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    release.add_argument("--out", default="build/student", help="folder for the student notebooks (must not hold them)")
    release.add_argument("--only", nargs="+", default=[], help="only these notebooks, by number or name prefix")
    release.add_argument("--publish-url", default=None,
                         help="the GitHub folder where you publish the student notebooks "
                         "(https://github.com/OWNER/REPO/tree/BRANCH/FOLDER): each 'Open in Colab' badge opens the "
                         "student version there; without it the badges are removed (the course's badge opens the "
                         "notebook with the solutions)")
    release.set_defaults(handler=_cmd_assignments_release)
    grade = sub.add_parser(
        "grade",
        help="autograde a folder of submissions, one subfolder per student",
        description="Autograde SUBMISSIONS (SUBMISSIONS/<student>/pneumolib/NN_*.ipynb, nbgrader's layout, or "
        "SUBMISSIONS/<student>/NN_*.ipynb) with nbgrader's autograde and an embedded sqlite gradebook. Writes "
        "grades.csv, summary.csv, report.txt and feedback/<student>/*.html into --out.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    grade.add_argument("submissions", help="the class folder: one subfolder per student")
    grade.add_argument("--out", default="build/grades", help="folder for the grades, report and feedback")
    grade.add_argument("--only", nargs="+", default=[], help="only these notebooks, by number or name prefix")
    grade.add_argument("--profile", choices=("smoke", "default"), default="smoke",
                       help="the profile each notebook runs in while it is graded")
    grade.add_argument("--workers", type=int, default=0, help="students graded in parallel; 0 = one per CPU core")
    grade.add_argument("--cell-timeout", type=int, default=300, help="seconds before a cell is stopped (graded 0)")
    grade.add_argument("--notebook-timeout", type=int, default=1800,
                       help="wall-clock seconds for all of a notebook's cells; then the rest is stopped (graded 0 "
                       "unless it finishes in a second); 0 = no limit")
    grade.add_argument("--no-sandbox", action="store_true",
                       help="run the students' code without the bubblewrap sandbox, with your own rights "
                       "(only for code you trust)")
    grade.add_argument("--memory-gb", type=float, default=3.0, help="memory each student's kernel may use")
    grade.add_argument("--seed-from", default=None, metavar="RESULTS",
                       help="start the graders' run store from this results folder of an earlier run of the "
                       "course's notebooks in the grading profile (e.g. results/smoke after a smoke run) instead of "
                       "this checkout's, and do not run the course's notebooks again; only copied, never written")
    grade.add_argument("--hidden-seed", type=int, default=None, metavar="N",
                       help="draw the hidden tests' cases from this seed (default: a new random one, written to "
                       "grading.json in --out; pass it again to grade with the same cases)")
    grade.add_argument("--notebook-cpu", type=int, default=900,
                       help="CPU seconds each student's kernel may use for a whole notebook")
    grade.set_defaults(handler=_cmd_assignments_grade)
    p.set_defaults(handler=lambda args: (p.print_help(), 2)[1])


def _cmd_assignments_release(args: argparse.Namespace) -> int:
    from .notebooks import notebook_paths
    from .teaching.release import release

    for path in release(notebook_paths(args.only), Path(args.out), publish_url=args.publish_url):
        print(f"wrote {path}")
    if not args.publish_url:
        print("The release has no 'Open in Colab' badges (the course's own would open the solutions); "
              "pass --publish-url with the GitHub folder where you publish it to add badges that open it there.")
    return 0


def _cmd_assignments_grade(args: argparse.Namespace) -> int:
    from .notebooks import notebook_paths
    from .teaching.grade import GRADES_FILE, REPORT_FILE, SUMMARY_FILE, grade
    from .teaching.sandbox import Limits

    if args.workers < 0 or args.cell_timeout < 1 or args.notebook_timeout < 0:
        raise cfg.ConfigError("--workers must be >= 0, --cell-timeout >= 1 and --notebook-timeout >= 0.")
    if args.memory_gb <= 0 or args.notebook_cpu < 1:
        raise cfg.ConfigError("--memory-gb must be > 0 and --notebook-cpu >= 1.")
    out = Path(args.out)
    limits = Limits(memory_bytes=int(args.memory_gb * 2**30), cpu_seconds=args.notebook_cpu)
    _, report = grade(Path(args.submissions), notebook_paths(args.only), out, smoke=args.profile == "smoke",
                      workers=args.workers, cell_timeout=args.cell_timeout, say=lambda line: print(line, flush=True),
                      sandbox=not args.no_sandbox, limits=limits, notebook_timeout=args.notebook_timeout or None,
                      seed_from=resolve_display_path(args.seed_from) if args.seed_from else None,
                      hidden_seed=args.hidden_seed)
    for line in report:
        print(f"  {line}")
    print(f"wrote {out / GRADES_FILE}, {out / SUMMARY_FILE}, {out / REPORT_FILE} and {out / 'feedback'}/")
    return 0




def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pneumocourse",
        description="pneumocourse: the pneumolib course's notebooks as nbgrader assignments, and notebook 06's final model.",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    _add_assignments_parser(commands)
    _add_best_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m pneumocourse``; returns the exit code. Results and data are the
    checkout's (found from the working directory), or the working directory's outside one."""
    use_checkout()
    return run_parser(build_parser(), argv)
