"""The command line: thin over the modules. ``python -m pneumolib --help`` lists the commands.

Each command imports the stages it uses inside its handler: a measured start-up cost
(``import pneumolib`` takes about 1.1 s, the stages another 2.3 s on a 2-core machine), so that
``--help`` and the light commands answer at once."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import Sequence

from . import config as cfg
from .errors import ConfigError, PneumolibError
from .paths import REPLICATE_FOLDER, RESULTS_ENV_VAR, display_path, project_root, resolve_display_path


def _where(path: str | os.PathLike) -> str:
    """A path as a command prints it: where the file is, read from the working directory.

    :func:`~pneumolib.paths.display_path` writes results files as ``results/...`` whatever the
    results base is, and other files relative to the project root. That names the file only when
    the results base is the project's ``results/`` folder and the working directory is the project
    root; otherwise (``$PNEUMOLIB_RESULTS`` set elsewhere, another working directory, a file
    outside both) the absolute path is printed."""
    path = Path(path).resolve()
    shown = display_path(path)
    return shown if Path(shown).resolve() == path else str(path)


def _none_or(parse):
    """A flag parser where 'none' means None."""
    def parse_or_none(text: str):
        return None if text.strip().lower() == "none" else parse(text)
    parse_or_none.__name__ = getattr(parse, "__name__", "value")
    return parse_or_none


def _int_list(text: str) -> tuple[int, ...]:
    text = text.strip().lower()
    return () if text in ("", "linear") else tuple(int(v) for v in text.split(","))


def _float_list(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(","))


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value not in ("true", "false", "1", "0", "yes", "no"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return value in ("true", "1", "yes")


_FLAG_TYPES = {  # TrainConfig annotation -> how a flag's text becomes that type
    "str": str, "int": int, "float": float, "bool": _bool,
    "str | None": _none_or(str), "int | None": _none_or(int), "float | None": _none_or(float),
    "tuple[int, ...] | None": _none_or(_int_list), "tuple[float, ...] | None": _none_or(_float_list),
}


def add_config_flags(parser: argparse.ArgumentParser, config_class: type = cfg.TrainConfig) -> None:
    """One flag per field of ``config_class`` (:class:`~pneumolib.config.TrainConfig`, or a config
    of :func:`~pneumolib.config.option` fields), with the field's type, default, choices and help
    text: the dataclass is the only place they are written down."""
    groups = {}
    for option in dataclasses.fields(config_class):
        if option.name == "extra":
            continue
        meta = option.metadata
        if meta["group"] not in groups:
            groups[meta["group"]] = parser.add_argument_group(meta["group"])
        flag = "--" + option.name.replace("_", "-")
        groups[meta["group"]].add_argument(
            flag, dest=option.name, type=_FLAG_TYPES[str(option.type)], default=option.default,
            choices=meta.get("choices"), help=meta["help"])


def config_from_args(args: argparse.Namespace, config_class: type = cfg.TrainConfig):
    """The config the flags describe; the config itself validates it (one clear error per bad value)."""
    return config_class(**{f.name: getattr(args, f.name) for f in dataclasses.fields(config_class)
                           if f.name != "extra"})


def _add_train_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "train",
        help="train one model, pick its epoch and threshold on val, and report val/test metrics",
        description="Train one model on PneumoniaMNIST (or a NORMAL/PNEUMONIA folder dataset). The epoch and "
        "the threshold are selected on val; test is evaluated once. The run goes into the run store "
        "(results/store/<run id>/: record.json and model.pt); asking for a run the store holds loads it.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--data-dir", default=None, help="folder holding pneumoniamnist*.npz (default: $PNEUMOLIB_DATA, then data/)")
    p.add_argument("--folder", default=None, help="load a NORMAL/PNEUMONIA folder dataset instead of PneumoniaMNIST")
    p.add_argument("--no-download", action="store_true", help="never try to download a missing file")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    add_config_flags(p)
    p.set_defaults(handler=_cmd_train)


def _print_record(fields: dict) -> None:
    for split in ("val", "test"):
        m = fields[split]
        print(f"{split:>5}: auc {m['auc']:.4f}  acc {m['acc']:.4f}  bal_acc {m['balanced_accuracy']:.4f}  "
              f"sens {m['sensitivity']:.4f}  spec {m['specificity']:.4f}  f1 {m['f1']:.4f}")
    mm, tuned = fields["medmnist"]["test"], fields["tuned"]
    print(f"MedMNIST test AUC/ACC: {mm['auc']:.4f} / {mm['acc']:.4f}")
    print(f"threshold picked on val (Youden): {tuned['threshold']:.4f}; test ACC there {tuned['test']['acc']:.4f}")


def _cmd_train(args: argparse.Namespace) -> int:
    from .data import resolve_data_dir
    from .experiments.runner import ensure_run
    from .experiments.runs import DataSpec, RunSpec
    from .experiments.store import RunStore

    config = config_from_args(args)
    spec = DataSpec(str(resolve_data_dir(args.data_dir)) if args.folder is None else "", config.image_size,
                    folder=args.folder, split_seed=config.seed, download=not args.no_download)
    store = RunStore()
    record, how = ensure_run(RunSpec(config, key="train"), spec, store, progress=not args.no_progress)
    fields = record.fields
    print(f"data: {fields['data']['source']}")
    print(f"run {record.run_id}: {how}")
    print(f"selection: {fields['selection']}  ({fields['device']}, {fields['wall_seconds']} s)")
    _print_record(fields)
    print(f"run folder: {_where(store.folder(record.run_id))} (record.json, model.pt)")
    return 0


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
    from .data import resolve_data_dir
    from .experiments.best import load_decisions, train_best
    from .experiments.runs import DataSpec
    from .experiments.store import RunStore

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
    print(f"final record: {_where(RunStore().folder(best.record.run_id))}; student: {_where(best.student_path)} "
          f"(use it with `predict --model {_where(best.student_path)}` or `export`)")
    return 0


def _add_pretrain_parser(commands: argparse._SubParsersAction) -> None:
    from .training.ssl import PretrainConfig

    p = commands.add_parser(
        "pretrain",
        help="self-supervised (SimCLR) pretraining on the train images, without labels",
        description="In-domain SimCLR pretraining on the training split's images only (no labels, no val, "
        "no test). Writes an SSL checkpoint; train from it with --pretrained ssl:<checkpoint>.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--data-dir", default=None, help="folder holding pneumoniamnist*.npz (default: $PNEUMOLIB_DATA, then data/)")
    add_config_flags(p, PretrainConfig)
    p.add_argument("--out", default=None, help="checkpoint path (default results/ssl/<model>_<size>px_seed<seed>.pt)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing checkpoint at --out")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(handler=_cmd_pretrain)


def _cmd_pretrain(args: argparse.Namespace) -> int:
    from .data import load_pneumoniamnist
    from .experiments.runs import data_provenance
    from .training.ssl import PretrainConfig, pretrain, save_ssl_checkpoint

    config = config_from_args(args, PretrainConfig)
    data = load_pneumoniamnist(config.image_size, args.data_dir, download=False)
    size = config.input_size or config.image_size
    out = resolve_display_path(args.out or f"results/ssl/{config.model}_{size}px_seed{config.seed}.pt")
    if out.exists() and not args.overwrite:
        raise cfg.ConfigError(f"{_where(out)} exists already; pass --out elsewhere, or --overwrite to replace it.")
    encoder, history = pretrain(data.train, config, progress=not args.no_progress)
    save_ssl_checkpoint(out, encoder, config, history, data_provenance(data))
    seconds = sum(h["seconds"] for h in history)
    print(f"SimCLR on {len(data.train)} train images: loss {history[0]['loss']:.4f} -> {history[-1]['loss']:.4f} "
          f"in {len(history)} epochs ({seconds:.0f} s)")
    flag = display_path(out)  # a --pretrained value resolves results/... in $PNEUMOLIB_RESULTS, as here
    if resolve_display_path(flag).resolve() != out.resolve():  # outside the project and results: the path itself
        flag = str(out)
    print(f"wrote {_where(out)}; use it with --pretrained ssl:{flag}")
    return 0


def _add_leaderboard_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "leaderboard",
        help="collect every run's val/test numbers, next to the published results",
        description="Read the run store (results/store) for runs on the official split, one row per recipe, "
        "final model (one run, ensemble, with or without TTA, distilled), epochs and input size (mean and sd "
        "over seeds, ordered by val AUC), and add the published PneumoniaMNIST results, marked as taken from "
        "their papers. Writes results/metrics/leaderboard.csv.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--results", default=None, help="results folder (default: $PNEUMOLIB_RESULTS, then results/)")
    p.add_argument("--data-dir", default=None,
                   help="folder holding pneumoniamnist.npz, for the test labels of the bootstrap CIs "
                   "(default: $PNEUMOLIB_DATA, then data/)")
    p.set_defaults(handler=_cmd_leaderboard)


def _cmd_leaderboard(args: argparse.Namespace) -> int:
    from .data import load_pneumoniamnist
    from .errors import DatasetCorruptError, DatasetNotFoundError
    from .experiments.leaderboard import build_leaderboard
    from .experiments.store import RunStore
    from .paths import results_dir

    root = Path(args.results) if args.results else results_dir()
    try:
        y_test = load_pneumoniamnist(28, args.data_dir, download=False).test.labels
    except (DatasetNotFoundError, DatasetCorruptError) as exc:
        y_test = None
        print(f"Notice: no bootstrap CIs, the test labels could not be loaded ({str(exc).splitlines()[0]})")
    table = build_leaderboard(RunStore(root / "store"), y_test=y_test)
    out = root / "metrics" / "leaderboard.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False, float_format="%.6f")  # as the notebooks write tables
    ours = table[table.source.str.startswith("this repository")]
    print(f"{len(ours)} rows from {int(ours.runs.sum()) if len(ours) else 0} runs, "
          f"{len(table) - len(ours)} published results -> {_where(out)}")
    return 0


def _add_download_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "download",
        help="download PneumoniaMNIST files with medmnist (needs network)",
        description="Download pneumoniamnist[_SIZE].npz into the data folder.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--size", type=int, nargs="+", default=[28], choices=cfg.IMAGE_SIZES, help="image sizes to fetch")
    p.add_argument("--data-dir", default=None, help="target folder (default: $PNEUMOLIB_DATA, then data/)")
    p.set_defaults(handler=_cmd_download)


def _cmd_download(args: argparse.Namespace) -> int:
    from .data import download_pneumoniamnist, validate_npz

    for size in args.size:
        path = download_pneumoniamnist(size, args.data_dir)
        validate_npz(path, size)
        print(f"ok: {path}")
    return 0


def _add_notebooks_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "notebooks",
        help="execute the notebook suite headless with papermill",
        description="Notebook suite commands.",
    )
    sub = p.add_subparsers(title="commands", metavar="COMMAND")
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
    run.add_argument("--replicate", action="store_true",
                     help="retrain everything on this machine into results/replicate/ (or $PNEUMOLIB_RESULTS), "
                     "never over the reference; compare with `notebooks report`")
    run.set_defaults(handler=_cmd_notebooks_run)
    report = sub.add_parser(
        "report",
        help="the reproduction report: a replicate's numbers and decisions beside the reference",
        description="Compare a replicate (notebooks run --replicate) with the committed reference: every "
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
    p.set_defaults(handler=lambda args: (p.print_help(), 2)[1])


def _cmd_notebooks_times(args: argparse.Namespace) -> int:
    import nbformat

    from .notebooks.suite import notebook_paths
    from .notebooks.times import update_readme, update_time_line

    paths = notebook_paths()
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        update_time_line(nb, path.stem)
        nbformat.write(nb, path)
        print(f"{_where(path)}: {next(c for c in nb.cells if c.cell_type == 'markdown').source.split('**Time:**')[1].strip()[:100]}...")
    print(f"rewrote {_where(update_readme([p.stem for p in paths]))}")
    return 0


def _cmd_notebooks_run(args: argparse.Namespace) -> int:
    from .notebooks.suite import parse_value, run_suite

    parameters = {name: parse_value(value) for name, value in args.parameter}
    if args.replicate and args.write_back:
        raise ConfigError("--replicate and --update-reference exclude each other: a replicate never writes the reference.")
    if args.replicate and not os.environ.get(RESULTS_ENV_VAR):
        os.environ[RESULTS_ENV_VAR] = str(project_root() / REPLICATE_FOLDER)  # the kernels inherit it
        print(f"replicate: retraining into {REPLICATE_FOLDER}/ (the reference in results/ is not touched)")
    if args.replicate:
        os.environ["PNEUMOLIB_REFERENCE_URL"] = "off"  # a replicate retrains everything, it fetches nothing
    runs = run_suite(args.only, smoke=args.smoke, parameters=parameters, write_back=args.write_back)
    width = max(len(r.notebook) for r in runs)
    print(f"{'notebook':<{width}}  status  seconds  output")
    for r in runs:
        print(f"{r.notebook:<{width}}  {r.status:<6}  {r.seconds:7.1f}  {_where(r.output)}")
        if r.error:
            print(f"{'':<{width}}  -> {r.error}")
    failed = sum(r.status == "failed" for r in runs)
    print(f"{len(runs) - failed} passed, {failed} failed")
    return 1 if failed else 0


def _cmd_notebooks_report(args: argparse.Namespace) -> int:
    from .experiments.reproduction import decisions_compared, headline_numbers, report_markdown

    reference, replicate = project_root() / args.reference, project_root() / args.replicate  # absolute paths stay
    if not (replicate / "store").is_dir():
        raise ConfigError(f"No replicate at {args.replicate}/ (no store/ there); make one with "
                          "`python -m pneumolib notebooks run --replicate`.")
    numbers, decisions = headline_numbers(reference, replicate), decisions_compared(reference, replicate)
    text = report_markdown(numbers, decisions)
    (replicate / "metrics").mkdir(parents=True, exist_ok=True)
    numbers.to_csv(replicate / "metrics" / "reproduction_numbers.csv", index=False)
    (replicate / "reproduction_report.md").write_text(text)
    print(text)
    print(f"written: {args.replicate}/reproduction_report.md, {args.replicate}/metrics/reproduction_numbers.csv")
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
    grade.add_argument("--notebook-cpu", type=int, default=900,
                       help="CPU seconds each student's kernel may use for a whole notebook")
    grade.set_defaults(handler=_cmd_assignments_grade)
    p.set_defaults(handler=lambda args: (p.print_help(), 2)[1])


def _cmd_assignments_release(args: argparse.Namespace) -> int:
    from .notebooks.suite import notebook_paths
    from .teaching.release import release

    for path in release(notebook_paths(args.only), Path(args.out), publish_url=args.publish_url):
        print(f"wrote {path}")
    if not args.publish_url:
        print("The release has no 'Open in Colab' badges (the course's own would open the solutions); "
              "pass --publish-url with the GitHub folder where you publish it to add badges that open it there.")
    return 0


def _cmd_assignments_grade(args: argparse.Namespace) -> int:
    from .notebooks.suite import notebook_paths
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
                      sandbox=not args.no_sandbox, limits=limits, notebook_timeout=args.notebook_timeout or None)
    for line in report:
        print(f"  {line}")
    print(f"wrote {out / GRADES_FILE}, {out / SUMMARY_FILE}, {out / REPORT_FILE} and {out / 'feedback'}/")
    return 0


def _add_adapt_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "adapt",
        help="adapt a trained model to a folder of new, unlabeled images (dataset shift)",
        description="Write adapted pneumonia probabilities for a new cohort's unlabeled images: prior correction "
        "(BBSE or EM), AdaBN, or both, chosen on simulated shifts of the model's val split with --method auto. "
        "The images' labels are never needed.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--model", required=True, help="checkpoint (.pt) from `train` or the run store")
    p.add_argument("--images", nargs="+", required=True, help="image files or folders of the new cohort")
    p.add_argument("--method", default="auto", help="auto, or one of: " + ", ".join(repr(m) for m in _adapt_methods()))
    p.add_argument("--out", default="adapted.csv", help="CSV of file, probability, label, threshold (never overwritten)")
    p.add_argument("--data-dir", default=None, help="PneumoniaMNIST folder for the model's val split")
    p.set_defaults(handler=_cmd_adapt)


def _adapt_methods() -> tuple[str, ...]:
    from .shift.methods import METHODS

    return METHODS


def _cmd_adapt(args: argparse.Namespace) -> int:
    from .deploy.adapt import adapt_folder

    out = Path(args.out)
    if out.exists():
        raise cfg.ConfigError(f"{_where(out)} exists; adapt never overwrites results. Choose another --out.")
    table, info = adapt_folder(args.model, args.images, args.method, args.data_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    prior = "none" if info["estimated_prior"] is None else f"{info['estimated_prior']:.3f}"
    print(f"{info['images']} images, method {info['method']!r} ({info['chosen_by']}); estimated pneumonia share "
          f"{prior} (val: {info['source_prior']:.3f}); {int((table.label == 'pneumonia').sum())} called pneumonia")
    print(f"wrote {out}")
    return 0


def _add_predict_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "predict",
        help="predict pneumonia vs normal for image files or folders",
        description="Predict with a trained model (.pt checkpoint or .onnx export). Prints a table, or one "
        "JSON object per line with --json. Exit code 1 when any input failed; the others are still predicted.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", help="image files (PNG, JPEG, BMP, TIFF) or folders of them")
    p.add_argument("--model", required=True, help="checkpoint (.pt) from `train`, or an .onnx file from `export`")
    p.add_argument("--threshold", type=float, default=None, help="decision threshold (default: the one saved with the model, else 0.5)")
    p.add_argument("--json", action="store_true", help="print one JSON object per line")
    p.add_argument("--batch-size", type=int, default=64, help="images per forward pass")
    p.add_argument("--device", default="auto", choices=cfg.DEVICES, help="device for .pt models")
    p.set_defaults(handler=_cmd_predict)


def _cmd_predict(args: argparse.Namespace) -> int:
    import json

    from .images import find_images
    from .deploy.detector import PneumoniaDetector

    detector = PneumoniaDetector.load(args.model, threshold=args.threshold, device=args.device)
    files = find_images(args.inputs)
    if not files:
        print("error: no images found in the given folders", file=sys.stderr)
        return 1
    results = detector.predict([str(f) for f in files], batch_size=args.batch_size, errors="report")
    failed = 0
    width = max(len(r["input"]) for r in results)
    if not args.json:
        print(f"{'input':<{width}}  {'label':<9}  probability  threshold")
    for r in results:
        failed += "error" in r
        if args.json:
            print(json.dumps(r))
        elif "error" in r:
            print(f"{r['input']:<{width}}  error: {r['error']}")
        else:
            print(f"{r['input']:<{width}}  {r['label']:<9}  {r['probability']:11.4f}  {r['threshold']:9.4f}")
    if failed:
        print(f"{failed} of {len(results)} inputs failed", file=sys.stderr)
    return 1 if failed else 0


def _add_export_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "export",
        help="export a checkpoint to ONNX and verify it with onnxruntime",
        description="Export a checkpoint to ONNX (dynamic batch; raw 0-255 pixels in, probability out) and "
        "verify it on real test images: fails when onnxruntime and PyTorch differ by more than 1e-4.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--model", required=True, help="checkpoint (.pt) to export")
    p.add_argument("--onnx", required=True, help="output .onnx file")
    p.add_argument("--data-dir", default=None, help="PneumoniaMNIST folder for the verification images")
    p.add_argument("--verify-images", type=int, default=256, help="how many test images to verify on")
    p.set_defaults(handler=_cmd_export)


def _checkpoint_test_images(model_path: str, data_dir: str | None):
    """A checkpoint's config and the real test images at its trained size."""
    from .models.checkpoint import load_checkpoint
    from .data import load_pneumoniamnist

    config = cfg.TrainConfig.from_dict(load_checkpoint(model_path)["config"])
    return config, load_pneumoniamnist(config.image_size, data_dir).test.images


def _cmd_export(args: argparse.Namespace) -> int:
    from .deploy.export import export_onnx

    _, images = _checkpoint_test_images(args.model, args.data_dir)
    max_diff = export_onnx(args.model, args.onnx, images[: args.verify_images])
    n = min(args.verify_images, len(images))
    print(f"wrote {args.onnx}; verified on {n} test images: max |p_onnx - p_torch| = {max_diff:.2e} (tolerance 1e-4)")
    return 0


def _add_bench_inference_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "bench-inference",
        help="time single-image latency and batch throughput, PyTorch vs ONNX",
        description="Export the checkpoint to a temporary ONNX file and time both backends in one process on "
        "real test images: median single-image latency and batch throughput. Writes "
        "results/metrics/bench_inference.csv.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--model", required=True, help="checkpoint (.pt)")
    p.add_argument("--data-dir", default=None, help="PneumoniaMNIST folder (test images are used)")
    p.add_argument("--single-repeats", type=int, default=200, help="timed single-image calls per backend")
    p.add_argument("--batch-repeats", type=int, default=5, help="timed passes over the test set per backend")
    p.add_argument("--batch-size", type=int, default=64, help="batch size for the throughput pass")
    p.set_defaults(handler=_cmd_bench_inference)


def _cmd_bench_inference(args: argparse.Namespace) -> int:
    from .deploy.bench_inference import benchmark_inference
    from .paths import results_path

    config, images = _checkpoint_test_images(args.model, args.data_dir)
    table = benchmark_inference(args.model, images, args.single_repeats, args.batch_repeats, args.batch_size)
    path = results_path("metrics", "bench_inference.csv")
    table.to_csv(path, index=False, float_format="%.4f")
    print(f"model {config.model} at {config.model_input_size} px, {table.device[0]}, {len(images)} test images")
    print(table[["backend", "single_latency_ms_median", "single_latency_ms_p90", "batch_throughput_img_s"]]
          .to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    onnx, torch_row = table.set_index("backend").loc["onnxruntime"], table.set_index("backend").loc["pytorch"]
    print(f"onnxruntime / pytorch: latency x{torch_row.single_latency_ms_median / onnx.single_latency_ms_median:.2f} faster, "
          f"throughput x{onnx.batch_throughput_img_s / torch_row.batch_throughput_img_s:.2f}")
    print(f"wrote {_where(path)}")
    return 0


def _add_bench_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "bench",
        help="what training speed is made of here: data path, precision, memory format, against MedMNIST's pipeline",
        description="In one process, time the same model, batch size and steps on MedMNIST's reference pipeline "
        "(medmnist dataset + PIL transforms + DataLoader + plain fp32 loop), the reference loop on a batch in memory, "
        "and, for fp32 and (where the machine has it) bf16: pneumolib's default path, the same in the other memory "
        "format, and the same loop on a batch in memory (the synthetic limit). The configurations take turns in each "
        "repeat. Reports images/s, the ratios to the reference and to the synthetic loop, peak host memory, and "
        "merges the rows into results/metrics/bench.csv (bench_gpu.csv on a GPU), replacing only rows measured "
        "on the same machine.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--data-dir", default=None, help="folder holding pneumoniamnist.npz")
    p.add_argument("--device", default="auto", choices=cfg.DEVICES, help="device to time on")
    p.add_argument("--batch-size", type=int, default=64, help="batch size for every configuration")
    p.add_argument("--steps", type=int, default=20, help="timed steps per repeat")
    p.add_argument("--warmup", type=int, default=5, help="untimed warm-up steps")
    p.add_argument("--repeats", type=int, default=3, help="repeats; the median is reported")
    p.add_argument("--fp32", action="store_true",
                   help="force fp32 on the CPU (sets PNEUMOLIB_FP32=1): time only the fp32 rows, as a CPU without bf16 would")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement (child processes)")
    p.add_argument("--profile", metavar="MODEL@SIZE", default=None,
                   help="instead of timing, print a torch.profiler table of the default path's training steps "
                        "for one case, e.g. small_cnn@28 (fp32 unless the machine trains in bf16 and --fp32 is not given)")
    p.add_argument("--smoke", action="store_true",
                   help="a few steps of one case into bench_smoke.csv, to check the script works (no timings worth reading)")
    p.set_defaults(handler=_cmd_bench)


def _cmd_bench(args: argparse.Namespace) -> int:
    import os

    import pandas as pd

    from .data import resolve_data_dir
    from .paths import results_path
    from .training.bench import BenchCase, merge_bench, profile_default_path, run_bench
    from .models.formats import FORCE_FP32_ENV, cpu_has_native_bf16

    if args.fp32:
        os.environ[FORCE_FP32_ENV] = "1"
    if args.profile:
        model, _, size = args.profile.partition("@")
        if model not in cfg.MODEL_NAMES or not size.isdigit():
            raise cfg.ConfigError(f"--profile {args.profile!r}: give MODEL@SIZE with MODEL one of {list(cfg.MODEL_NAMES)}, "
                              "e.g. small_cnn@28.")
        print(profile_default_path(BenchCase(model, int(size)), resolve_data_dir(args.data_dir),
                                   "cpu" if args.device == "auto" else args.device, args.batch_size,
                                   fp32=not cpu_has_native_bf16()))
        return 0
    options = dict(batch_size=args.batch_size, steps=args.steps, warmup=args.warmup, repeats=args.repeats,
                   memory=not args.no_memory)
    cases = None
    if args.smoke:
        options.update(steps=2, warmup=1, repeats=1)
        cases = [BenchCase("small_cnn", 28)]
    table = run_bench(resolve_data_dir(args.data_dir), args.device, cases, **options)
    on_gpu = not table.device[0].lower().startswith("cpu")
    name = "bench" + ("_gpu" if on_gpu else "") + ("_smoke" if args.smoke else "")
    path = results_path("metrics", f"{name}.csv")  # CPU and GPU figures live side by side
    existing = pd.read_csv(path) if path.is_file() else None
    merged, replaced = merge_bench(existing, table)
    merged.to_csv(path, index=False, float_format="%.4f")
    shown = [c for c in ("model", "size", "phase", "precision", "memory_format", "mode", "reference_img_s",
                         "reference_synthetic_img_s", "pneumolib_img_s", "other_format_img_s", "synthetic_img_s",
                         "ratio", "ratio_to_synthetic", "reference_peak_mib", "pneumolib_peak_mib") if c in table]
    print(f"machine: {table.machine[0]}; batch {args.batch_size}; median of {options['repeats']} x {options['steps']} "
          f"steps after {options['warmup']} warm-up steps; configurations interleaved")
    print(table[shown].to_string(index=False, float_format=lambda v: f"{v:.2f}", na_rep=""))
    kept = len(merged) - len(table)
    note = f"; replaced {replaced} earlier rows of this machine" if replaced else ""
    print(f"wrote {_where(path)} ({len(table)} rows{note}; kept {kept} rows of other machines)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pneumolib",
        description="pneumolib: pneumonia detection on chest X-rays (PneumoniaMNIST).",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    _add_train_parser(commands)
    _add_best_parser(commands)
    _add_pretrain_parser(commands)
    _add_leaderboard_parser(commands)
    _add_download_parser(commands)
    _add_notebooks_parser(commands)
    _add_assignments_parser(commands)
    _add_predict_parser(commands)
    _add_adapt_parser(commands)
    _add_export_parser(commands)
    _add_bench_inference_parser(commands)
    _add_bench_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code. Expected errors print one clear message, no traceback."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    try:
        return args.handler(args)
    except PneumolibError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
