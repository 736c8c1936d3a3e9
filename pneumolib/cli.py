"""The library's command line: thin over the modules. ``python -m pneumolib --help`` lists the
commands. The course's commands (``python -m pneumocourse``: assignments, best) and the
repository's tools (``python -m tools.notebooks``, ``python -m tools.bench``) reuse its helpers.

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
from .errors import PneumolibError
from .paths import display_path, resolve_display_path


def where(path: str | os.PathLike) -> str:
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
    print(f"run folder: {where(store.folder(record.run_id))} (record.json, model.pt)")
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
        raise cfg.ConfigError(f"{where(out)} exists already; pass --out elsewhere, or --overwrite to replace it.")
    encoder, history = pretrain(data.train, config, progress=not args.no_progress)
    save_ssl_checkpoint(out, encoder, config, history, data_provenance(data))
    seconds = sum(h["seconds"] for h in history)
    print(f"SimCLR on {len(data.train)} train images: loss {history[0]['loss']:.4f} -> {history[-1]['loss']:.4f} "
          f"in {len(history)} epochs ({seconds:.0f} s)")
    flag = display_path(out)  # a --pretrained value resolves results/... in $PNEUMOLIB_RESULTS, as here
    if resolve_display_path(flag).resolve() != out.resolve():  # outside the project and results: the path itself
        flag = str(out)
    print(f"wrote {where(out)}; use it with --pretrained ssl:{flag}")
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
          f"{len(table) - len(ours)} published results -> {where(out)}")
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
        raise cfg.ConfigError(f"{where(out)} exists; adapt never overwrites results. Choose another --out.")
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
    print(f"wrote {where(path)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pneumolib",
        description="pneumolib: pneumonia detection on chest X-rays (PneumoniaMNIST).",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    _add_train_parser(commands)
    _add_pretrain_parser(commands)
    _add_leaderboard_parser(commands)
    _add_download_parser(commands)
    _add_predict_parser(commands)
    _add_adapt_parser(commands)
    _add_export_parser(commands)
    _add_bench_inference_parser(commands)
    return parser


def run_parser(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` with ``parser`` and run the chosen command's handler; returns the exit code.
    Expected errors print one clear message, no traceback. The course's and the tools' command
    lines run through it too."""
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m pneumolib``; returns the exit code."""
    return run_parser(build_parser(), argv)
