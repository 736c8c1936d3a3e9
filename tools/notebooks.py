"""The notebook suite from the command line: ``python -m tools.notebooks run|report|times`` (from
the project's root; ``make run`` and ``make reproduce`` call it). A repository tool, not installed."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Sequence

from pneumolib.cli import run_parser, where
from pneumocourse.notebooks import use_checkout
from pneumolib.errors import ConfigError
from pneumolib.paths import RENDER_FOLDER, REPLICATE_FOLDER, RESULTS_ENV_VAR, project_root


def _add_suite_commands(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser(
        "run",
        help="execute the notebooks in order into results/notebooks/",
        description="Execute notebooks/NN_*.ipynb in order with papermill, writing executed copies to "
        "results/notebooks/ (results/smoke/notebooks/ with --smoke), and print pass/fail and time per notebook.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    run.add_argument("--smoke", action="store_true", help="smoke profile: a few batches and one epoch (also sets SMOKE_TEST=1)")
    run.add_argument("--only", nargs="+", default=[], help="run only these notebooks, by number or name prefix (e.g. 02)")
    run.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                     help="override a parameter in every selected notebook (value parsed as a Python literal)")
    run.add_argument("--update-reference", "--write-back", dest="write_back", action="store_true",
                     help="make new reference results on purpose: may replace stored records, writes each passing "
                     "notebook back into notebooks/, the committed times and the store's checksums (to commit)")
    run.add_argument("--render-into", default=RENDER_FOLDER, metavar="FOLDER",
                     help="where a plain run renders the committed results (emptied first; the committed "
                     "results/ are read, never written)")
    run.add_argument("--replicate", action="store_true",
                     help="retrain everything on this machine into results/replicate/ (or $PNEUMOLIB_RESULTS), "
                     "never over the reference; compare with `report`")
    run.set_defaults(handler=_cmd_notebooks_run)
    report = sub.add_parser(
        "report",
        help="the reproduction report: a replicate's numbers and decisions beside the reference",
        description="Compare a replicate (run --replicate) with the committed reference: every "
        "headline number with the arm's seed sd and a verdict, and each decision of notebook 06.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    report.add_argument("--replicate", default=REPLICATE_FOLDER, help="the replicate's results folder")
    report.add_argument("--reference", default="results", help="the reference results folder")
    report.set_defaults(handler=_cmd_notebooks_report)
    times = sub.add_parser(
        "times",
        help="re-render each notebook's Time line and the notebooks README's table, without running",
        description="Rewrite the **Time:** line of each committed notebook and the times table of "
        "notebooks/README.md from the measured times (results/metrics/suite_times.csv, the smoke profile's, "
        "and results/metrics/fresh_runtime_times.csv from the Colab-like install test). Nothing is executed.",
    )
    times.set_defaults(handler=_cmd_notebooks_times)


def _cmd_notebooks_times(args: argparse.Namespace) -> int:
    import nbformat

    from pneumocourse.notebooks import notebook_paths
    from tools.times import update_readme, update_time_line

    paths = notebook_paths()
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        update_time_line(nb, path.stem)
        nbformat.write(nb, path)
        print(f"{where(path)}: {next(c for c in nb.cells if c.cell_type == 'markdown').source.split('**Time:**')[1].strip()[:100]}...")
    print(f"rewrote {where(update_readme([p.stem for p in paths]))}")
    return 0


def _cmd_notebooks_run(args: argparse.Namespace) -> int:
    from tools.suite import parse_value, run_suite

    parameters = {name: parse_value(value) for name, value in args.parameter}
    if args.replicate and args.write_back:
        raise ConfigError("--replicate and --update-reference exclude each other: a replicate never writes the reference.")
    if args.replicate and not os.environ.get(RESULTS_ENV_VAR):
        os.environ[RESULTS_ENV_VAR] = str(project_root() / REPLICATE_FOLDER)  # the kernels inherit it
        print(f"replicate: retraining into {REPLICATE_FOLDER}/ (the reference in results/ is not touched)")
    if args.replicate:
        os.environ["PNEUMOLIB_REFERENCE_URL"] = "off"  # a replicate retrains everything, it fetches nothing
    report = run_suite(args.only, smoke=args.smoke, parameters=parameters, write_back=args.write_back,
                       render_into=args.render_into)
    runs = report.runs
    width = max([len(r.notebook) for r in runs] + [8])
    print(f"{'notebook':<{width}}  status  seconds  output")
    for r in runs:
        print(f"{r.notebook:<{width}}  {r.status:<6}  {r.seconds:7.1f}  {_shown(r.output)}")
        if r.error:
            print(f"{'':<{width}}  -> {r.error}")
    failed = sum(r.status == "failed" for r in runs)
    print(f"{len(runs) - failed} passed, {failed} failed")
    if report.render is not None:
        print(f"\nThe render ({_shown(report.render)}/) against the committed results, by the rule of tools/compare.py "
              "(numbers within one unit of their last printed digit, integers exactly, figures by their data):")
        print(f"{len(report.differing_files)} differing table(s), record(s) or figure(s)"
              + "".join(f"\n  {line}" for line in report.differing_files))
        print(f"{len(report.exceptions)} exception(s), each a runtime line or a cell that shows only the runtime:"
              + "".join(f"\n  {line}" for line in report.exceptions))
    return 1 if failed or report.differing_files else 0


def _shown(path: Path) -> str:
    """A path as seen from the working directory when it lies below it (results/render/...), else as
    :func:`~pneumolib.cli.where` shows it."""
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return where(path)


def _cmd_notebooks_report(args: argparse.Namespace) -> int:
    from tools.reproduction import decisions_compared, headline_numbers, report_markdown

    reference, replicate = project_root() / args.reference, project_root() / args.replicate  # absolute paths stay
    if not (replicate / "store").is_dir():
        raise ConfigError(f"No replicate at {args.replicate}/ (no store/ there); make one with "
                          "`python -m tools.notebooks run --replicate`.")
    numbers, decisions = headline_numbers(reference, replicate), decisions_compared(reference, replicate)
    text = report_markdown(numbers, decisions)
    (replicate / "metrics").mkdir(parents=True, exist_ok=True)
    numbers.to_csv(replicate / "metrics" / "reproduction_numbers.csv", index=False)
    (replicate / "reproduction_report.md").write_text(text)
    print(text)
    print(f"written: {args.replicate}/reproduction_report.md, {args.replicate}/metrics/reproduction_numbers.csv")
    return 0




def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.notebooks", description="The notebook suite: run, report, times.")
    _add_suite_commands(parser.add_subparsers(title="commands", metavar="COMMAND"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tools.notebooks run|report|times``; see ``--help``."""
    use_checkout()
    return run_parser(build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
