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
    g.add_argument("--pretrained", default="none",
                   help="none, imagenet, a path to a torchvision state dict, or ssl:<checkpoint> from `pretrain`")
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
    g.add_argument("--mixup-alpha", type=float, default=d.mixup_alpha, help="mixup Beta(alpha, alpha); 0 = off")
    g.add_argument("--cutmix-alpha", type=float, default=d.cutmix_alpha, help="CutMix Beta(alpha, alpha); 0 = off")
    g.add_argument("--ema-decay", type=_optional_float, default=d.ema_decay, help="keep an EMA of the weights (e.g. 0.99); none = off")
    g.add_argument("--warmup-epochs", type=int, default=d.warmup_epochs, help="linear lr warm-up epochs before the schedule")
    g.add_argument("--monitor", default=d.monitor, choices=cfg.MONITORS, help="val metric for epoch selection and early stopping")
    g.add_argument("--patience", type=_optional_int, default=d.patience, help="early-stopping patience in epochs; none = off")
    g = p.add_argument_group("run")
    g.add_argument("--device", default=d.device, choices=cfg.DEVICES, help="auto picks CUDA when available")
    g.add_argument("--amp", default=d.amp, choices=("auto", "off", "bf16"),
                   help="bf16 autocast; auto = on CUDA, and for CPU training where it pays (see README)")
    g.add_argument("--data-path", default=d.data_path, choices=cfg.DATA_PATHS,
                   help="auto/fast: device-resident batches with on-device augmentation; reference: DataLoader + per-image transforms, fp32")
    g.add_argument("--seed", type=int, default=d.seed, help="random seed (recorded with the results)")
    g.add_argument("--out", default=None, help="output folder (default results/runs/<model>_<size>px_seed<seed>)")
    g.add_argument("--no-progress", action="store_true", help="hide progress bars")
    g.add_argument("--recipe", default=None, choices=("best",),
                   help="best: reproduce the final model that notebooks/06_best_model chose (its members, TTA, "
                   "ensemble and val-picked threshold); the recipe fixes every training option")
    g.add_argument("--workers", type=int, default=0, help="--recipe best: parallel worker processes (0 = one per core)")
    p.set_defaults(handler=_cmd_train)


def _cmd_train_best(args: argparse.Namespace, changed: list[str]) -> int:
    import os

    from .data import resolve_data_dir
    from .experiments.search import train_best
    from .experiments.runner import DataSpec

    if changed:
        raise cfg.ConfigError(f"--recipe best fixes the training configuration; drop {', '.join(changed)}.")
    if args.folder is not None or args.image_size != 28:
        raise cfg.ConfigError("--recipe best is the 28 px PneumoniaMNIST recipe; drop --folder/--image-size.")
    out = Path(args.out or "results/runs/best_recipe")
    workers = args.workers or os.cpu_count() or 1
    spec = DataSpec(str(resolve_data_dir(args.data_dir)), 28)
    record, table = train_best(spec, out, device=args.device, workers=workers, threads_per_worker=max(1, (os.cpu_count() or 1) // workers))
    tuned = record["tuned"]
    print(f"{record['recipe']} (members: seeds {record['seed']})")
    print(f"val AUC {record['val']['auc']:.4f}; threshold picked on val (Youden): {tuned['threshold']:.4f}")
    print(f"MedMNIST test AUC/ACC (0.5): {record['medmnist']['test']['auc']:.4f} / {record['medmnist']['test']['acc']:.4f}; "
          f"test ACC at the val-picked threshold: {tuned['test']['acc']:.4f}")
    student = table[table.key.str.startswith("distilled/")].iloc[0]
    print(f"distilled student (one small CNN, no TTA): val AUC {student.val_auc:.4f}, test AUC {student.test_auc:.4f}, "
          f"test ACC at its val-picked threshold {student.tuned_test_acc:.4f}")
    print(f"wrote {out}/final.json, the member models in {out}/members/, and {out}/student.pt "
          f"(use it with `predict --model {out}/student.pt` or `export`)")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from .experiments.runs import load_data, run_training

    fields = {f.name for f in dataclasses.fields(cfg.TrainConfig)}
    if args.recipe:
        defaults = {**{k: getattr(DEFAULTS, k) for k in fields}, "pretrained": "none"}
        changed = [f"--{k.replace('_', '-')}" for k, v in vars(args).items()  # only --device is passed on
                   if k in fields and k not in ("device", "image_size") and v != defaults[k]]
        changed += ["--head-epochs"] if args.head_epochs else []
        return _cmd_train_best(args, changed)
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


def _add_pretrain_parser(commands: argparse._SubParsersAction) -> None:
    from .training.ssl import PretrainConfig

    d = PretrainConfig()
    p = commands.add_parser(
        "pretrain",
        help="self-supervised (SimCLR) pretraining on the train images, without labels",
        description="In-domain SimCLR pretraining on the training split's images only (no labels, no val, "
        "no test). Writes an SSL checkpoint; train from it with --pretrained ssl:<checkpoint>.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--data-dir", default=None, help="folder holding pneumoniamnist*.npz (default: $PNEUMOLIB_DATA, then data/)")
    p.add_argument("--image-size", type=int, default=d.image_size, choices=cfg.IMAGE_SIZES, help="which PneumoniaMNIST file to load (px)")
    p.add_argument("--input-size", type=_optional_int, default=d.input_size, help="upsample to this model input size (px); none = image size")
    p.add_argument("--model", default=d.model, choices=cfg.MODEL_NAMES, help="backbone architecture")
    p.add_argument("--stem", default=d.stem, choices=cfg.STEMS, help="ResNet stem (must match the later supervised run)")
    p.add_argument("--epochs", type=int, default=d.epochs, help="pretraining epochs")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="images per batch (2 views each)")
    p.add_argument("--lr", type=float, default=d.lr, help="AdamW learning rate (cosine schedule)")
    p.add_argument("--temperature", type=float, default=d.temperature, help="NT-Xent temperature")
    p.add_argument("--device", default=d.device, choices=cfg.DEVICES, help="auto picks CUDA when available")
    p.add_argument("--seed", type=int, default=d.seed, help="random seed (recorded in the checkpoint)")
    p.add_argument("--out", default=None, help="checkpoint path (default results/ssl/<model>_<size>px_seed<seed>.pt)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(handler=_cmd_pretrain)


def _cmd_pretrain(args: argparse.Namespace) -> int:
    from .data import load_pneumoniamnist
    from .experiments.runs import data_provenance
    from .training.ssl import PretrainConfig, pretrain, save_ssl_checkpoint

    fields = {f.name for f in dataclasses.fields(PretrainConfig)}
    config = PretrainConfig(**{k: v for k, v in vars(args).items() if k in fields})
    data = load_pneumoniamnist(config.image_size, args.data_dir, download=False)
    size = config.input_size or config.image_size
    out = Path(args.out or f"results/ssl/{config.model}_{size}px_seed{config.seed}.pt")
    encoder, history = pretrain(data.train, config, progress=not args.no_progress)
    save_ssl_checkpoint(out, encoder, config, history, data_provenance(data))
    seconds = sum(h["seconds"] for h in history)
    print(f"SimCLR on {len(data.train)} train images: loss {history[0]['loss']:.4f} -> {history[-1]['loss']:.4f} "
          f"in {len(history)} epochs ({seconds:.0f} s)")
    print(f"wrote {out}; use it with --pretrained ssl:{out}")
    return 0


def _add_leaderboard_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "leaderboard",
        help="collect every run's val/test numbers, next to the published results",
        description="Scan results/runs for finished runs (training runs and sweep runs on the official split), "
        "group them by recipe (mean and sd over seeds, ordered by val AUC) and add the published "
        "PneumoniaMNIST results, marked as taken from their papers. Writes results/metrics/leaderboard.csv.",
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
    from .paths import display_path, results_dir

    root = Path(args.results) if args.results else results_dir()
    try:
        y_test = load_pneumoniamnist(28, args.data_dir, download=False).test.labels
    except (DatasetNotFoundError, DatasetCorruptError) as exc:
        y_test = None
        print(f"Notice: no bootstrap CIs, the test labels could not be loaded ({str(exc).splitlines()[0]})")
    table = build_leaderboard(root, y_test=y_test)
    out = root / "metrics" / "leaderboard.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False, float_format="%.6f")  # as the notebooks write tables
    ours = table[table.source.str.startswith("this repository")]
    print(f"{len(ours)} recipes from {int(ours.runs.sum()) if len(ours) else 0} runs, "
          f"{len(table) - len(ours)} published results -> {display_path(out)}")
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
    from .notebooks.suite import parse_value, run_suite

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
    from .paths import display_path, results_path

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
    print(f"wrote {display_path(path)}")
    return 0


def _add_bench_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "bench",
        help="time pneumolib's training data path against MedMNIST's reference pipeline",
        description="In one process, time the same model, batch size, recipe and steps on (a) a reference "
        "pipeline written as MedMNIST's experiments are (medmnist dataset + PIL transforms + DataLoader + plain "
        "loop) and (b) pneumolib's default path; report images/s and the ratio for training and evaluation, "
        "peak host memory, and write results/metrics/bench.csv with the device and package versions.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--data-dir", default=None, help="folder holding pneumoniamnist.npz")
    p.add_argument("--device", default="auto", choices=cfg.DEVICES, help="device to time on")
    p.add_argument("--batch-size", type=int, default=64, help="batch size for both pipelines")
    p.add_argument("--steps", type=int, default=20, help="timed steps per repeat")
    p.add_argument("--warmup", type=int, default=5, help="untimed warm-up steps")
    p.add_argument("--repeats", type=int, default=3, help="repeats; the median is reported")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement (child processes)")
    p.add_argument("--smoke", action="store_true", help="a few steps of one case, to check the script works (no timings worth reading)")
    p.set_defaults(handler=_cmd_bench)


def _cmd_bench(args: argparse.Namespace) -> int:
    from .training.bench import BenchCase, run_bench
    from .data import resolve_data_dir
    from .paths import display_path, results_path

    options = dict(batch_size=args.batch_size, steps=args.steps, warmup=args.warmup, repeats=args.repeats,
                   memory=not args.no_memory)
    cases = None
    if args.smoke:
        options.update(steps=2, warmup=1, repeats=1)
        cases = [BenchCase("small_cnn", 28)]
    table = run_bench(resolve_data_dir(args.data_dir), args.device, cases, **options)
    path = results_path("metrics", "bench_smoke.csv" if args.smoke else "bench.csv")
    table.to_csv(path, index=False, float_format="%.4f")
    shown = [c for c in ("model", "size", "phase", "reference_img_s", "pneumolib_img_s", "ratio", "synthetic_img_s",
                         "share_of_synthetic", "reference_peak_mib", "pneumolib_peak_mib", "memory_ratio") if c in table]
    print(f"device: {table.device[0]}; batch {args.batch_size}; median of {options['repeats']} x {options['steps']} steps "
          f"after {options['warmup']} warm-up steps")
    print(table[shown].to_string(index=False, float_format=lambda v: f"{v:.2f}", na_rep=""))
    print(f"wrote {display_path(path)}")
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
    _add_notebooks_parser(commands)
    _add_predict_parser(commands)
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
