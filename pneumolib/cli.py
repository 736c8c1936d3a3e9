"""The command line: thin over the modules. ``python -m pneumolib --help`` lists the commands."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Sequence

from . import config as cfg
from .errors import PneumolibError

DEFAULTS = cfg.TrainConfig()


def _int_list(text: str) -> tuple[int, ...]:
    text = text.strip().lower()
    return () if text in ("", "none", "linear") else tuple(int(v) for v in text.split(","))


def _float_list(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(","))


def _optional_float(text: str) -> float | None:
    return None if text.lower() == "none" else float(text)


def _optional_int(text: str) -> int | None:
    return None if text.lower() == "none" else int(text)


def _add_train_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "train",
        help="train one model, pick its epoch on val, and report val/test metrics",
        description="Train one model on PneumoniaMNIST (or a NORMAL/PNEUMONIA folder dataset). The epoch "
        "is selected on val; test is evaluated once. Writes metrics.json, history.csv, config.json and "
        "model.pt to --out.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    d = DEFAULTS
    g = p.add_argument_group("data")
    g.add_argument("--data-dir", default=None, help="folder holding pneumoniamnist*.npz (default: $PNEUMOLIB_DATA, then data/)")
    g.add_argument("--folder", default=None, help="load a NORMAL/PNEUMONIA folder dataset instead of PneumoniaMNIST")
    g.add_argument("--image-size", type=int, default=d.image_size, choices=cfg.IMAGE_SIZES, help="which PneumoniaMNIST file to load (px)")
    g.add_argument("--input-size", type=_optional_int, default=d.input_size, help="upsample to this model input size (px); none = image size")
    g.add_argument("--no-download", action="store_true", help="never try to download a missing file")
    g.add_argument("--augment", default=d.augment, choices=cfg.AUGMENT_PRESETS, help="augmentation preset for training images")
    g.add_argument("--sampler", default=d.sampler, choices=cfg.SAMPLERS, help="shuffle, or class-balanced WeightedRandomSampler")
    g.add_argument("--num-workers", type=int, default=d.num_workers, help="DataLoader worker processes")
    g = p.add_argument_group("model")
    g.add_argument("--model", default=d.model, choices=cfg.MODEL_NAMES, help="architecture")
    g.add_argument("--pretrained", default="none", help="none, imagenet, or a path to a torchvision state dict")
    g.add_argument("--stem", default=d.stem, choices=cfg.STEMS, help="ResNet stem: standard, or small (3x3 stride 1, no max-pool)")
    g.add_argument("--head-hidden", type=_int_list, default=None, help="hidden widths of the MLP head, e.g. 256 or 512,256; 'linear' for none (default: model's own)")
    g.add_argument("--head-dropout", type=_float_list, default=None, help="dropout before each head layer, e.g. 0.5,0.3")
    g.add_argument("--freeze", default=d.freeze, choices=cfg.FREEZE_POLICIES, help="which layers to freeze")
    g.add_argument("--head-epochs", type=int, default=0, help="two-stage fine-tuning: first train only the head for this many epochs")
    g.add_argument("--head-lr", type=float, default=None, help="learning rate of the head-only stage (default 10 x lr)")
    g = p.add_argument_group("optimisation")
    g.add_argument("--epochs", type=int, default=d.epochs, help="training epochs")
    g.add_argument("--batch-size", type=int, default=d.batch_size, help="batch size")
    g.add_argument("--lr", type=float, default=d.lr, help="learning rate")
    g.add_argument("--optimizer", default=d.optimizer, choices=cfg.OPTIMIZERS, help="optimiser")
    g.add_argument("--weight-decay", type=float, default=d.weight_decay, help="weight decay")
    g.add_argument("--scheduler", default=d.scheduler, choices=cfg.SCHEDULERS, help="learning-rate schedule (per epoch)")
    g.add_argument("--grad-clip", type=_optional_float, default=d.grad_clip, help="clip gradient norm to this value; none = off")
    g.add_argument("--class-weighting", default=d.class_weighting, choices=cfg.CLASS_WEIGHTING, help="pos_weight = n_normal/n_pneumonia in the BCE loss")
    g.add_argument("--label-smoothing", type=float, default=d.label_smoothing, help="binary label smoothing epsilon")
    g.add_argument("--monitor", default=d.monitor, choices=cfg.MONITORS, help="val metric for epoch selection and early stopping")
    g.add_argument("--patience", type=_optional_int, default=d.patience, help="early-stopping patience in epochs; none = off")
    g = p.add_argument_group("run")
    g.add_argument("--device", default=d.device, choices=cfg.DEVICES, help="auto picks CUDA when available")
    g.add_argument("--amp", default=d.amp, choices=("auto", "off", "bf16"), help="bf16 autocast; auto = on CUDA only")
    g.add_argument("--seed", type=int, default=d.seed, help="random seed (recorded with the results)")
    g.add_argument("--out", default=None, help="output folder (default results/runs/<model>_<size>px_seed<seed>)")
    g.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(handler=_cmd_train)


def _cmd_train(args: argparse.Namespace) -> int:
    from .runs import load_data, run_training

    fields = {f.name for f in dataclasses.fields(cfg.TrainConfig)}
    values = {k: v for k, v in vars(args).items() if k in fields}
    values["pretrained"] = None if args.pretrained.lower() == "none" else args.pretrained
    config = cfg.TrainConfig(**values)
    data = load_data(config, args.data_dir, args.folder, download=not args.no_download)
    out = Path(args.out or f"results/runs/{config.model}_{config.model_input_size}px_seed{config.seed}")
    result = run_training(config, out, data, head_epochs=args.head_epochs, head_lr=args.head_lr,
                          progress=not args.no_progress).metrics
    print(f"data: {data.source}")
    print(f"selection: {result['selection']}  ({result['device']}, {result['wall_seconds']} s)")
    for split in ("val", "test"):
        m = result[split]
        print(
            f"{split:>5}: auc {m['auc']:.4f}  acc {m['acc']:.4f}  bal_acc {m['balanced_accuracy']:.4f}  "
            f"sens {m['sensitivity']:.4f}  spec {m['specificity']:.4f}  f1 {m['f1']:.4f}"
        )
    mm = result["medmnist"]["test"]
    print(f"MedMNIST test AUC/ACC: {mm['auc']:.4f} / {mm['acc']:.4f}")
    print(f"wrote {out}/metrics.json, history.csv, config.json, model.pt")
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
        "results/notebooks/ (results/notebooks/smoke/ with --smoke), and print pass/fail and time per notebook.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    run.add_argument("--smoke", action="store_true", help="smoke profile: a few batches and one epoch (also sets SMOKE_TEST=1)")
    run.add_argument("--only", nargs="+", default=[], help="run only these notebooks, by number or name prefix (e.g. 02)")
    run.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                     help="override a parameter in every selected notebook (value parsed as a Python literal)")
    run.add_argument("--write-back", action="store_true",
                     help="also write each passing notebook's outputs back into notebooks/ (to commit a default run)")
    run.set_defaults(handler=_cmd_notebooks_run)
    p.set_defaults(handler=lambda args: (p.print_help(), 2)[1])


def _cmd_notebooks_run(args: argparse.Namespace) -> int:
    from .paths import display_path
    from .suite import parse_value, run_suite

    parameters = {name: parse_value(value) for name, value in args.parameter}
    runs = run_suite(args.only, smoke=args.smoke, parameters=parameters, write_back=args.write_back)
    width = max(len(r.notebook) for r in runs)
    print(f"{'notebook':<{width}}  status  seconds  output")
    for r in runs:
        print(f"{r.notebook:<{width}}  {r.status:<6}  {r.seconds:7.1f}  {display_path(r.output)}")
        if r.error:
            print(f"{'':<{width}}  -> {r.error}")
    failed = sum(r.status == "failed" for r in runs)
    print(f"{len(runs) - failed} passed, {failed} failed")
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pneumolib",
        description="pneumolib: pneumonia detection on chest X-rays (PneumoniaMNIST).",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    _add_train_parser(commands)
    _add_download_parser(commands)
    _add_notebooks_parser(commands)
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
