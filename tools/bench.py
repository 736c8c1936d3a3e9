"""``python -m tools.bench`` (a repository tool; run it from the project root): what the training
loop's speed is made of, on the machine at hand.

For each case (model, image size), in one process, with the same model, batch size and steps:

* **reference**: the way MedMNIST's experiments are written: ``medmnist.PneumoniaMNIST`` with PIL
  transforms (affine, ToTensor, Normalize), a ``DataLoader``, a plain fp32 loop with torch's
  default Adam, contiguous tensors;
* **reference, synthetic**: the reference's model, format and optimizer on one batch already in
  memory (no data work): what the reference would reach with a free data path;
* for each precision (fp32 always; bf16 on CUDA and on CPUs with native bf16), set explicitly
  (``amp="off"`` / ``"bf16"``), with the memory format the rule picks for it:

  * **pneumolib**: the default path of :func:`pneumolib.train.fit` (device-resident uint8
    tensor, on-device augmentation, the memory format :mod:`.formats` chooses, fit's own step);
  * **other format**: the same, in the other memory format;
  * **synthetic**: the same model, precision, format and optimizer on one batch in memory, with
    fit's step: the limit of the default path on this machine.

  A row's ``mode`` says whether the default policy trains that case in that precision here
  ("default"), or whether the row shows the forced fp32 case (``PNEUMOLIB_FP32=1``, or
  ``--amp off``) of a CPU whose default is bf16 ("forced").

All configurations of a case take turns within each repeat, so that a change of load hits them
alike; warm-up steps are excluded and the median of the repeats is reported. Peak host memory of
the reference and of the default path is measured in fresh child processes (VmHWM).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import transforms

from pneumolib import config as cfg
from pneumolib.cli import run_parser, where
from pneumocourse.notebooks import use_checkout
from pneumolib.config import TrainConfig
from pneumolib.data import PneumoniaData, load_pneumoniamnist
from pneumolib.devices import describe_device, resolve_device
from pneumolib.models.zoo import build_model
from pneumolib.repro import package_versions, seed_everything
from pneumolib.models.formats import cpu_has_native_bf16, describe_cpu, use_bf16
from pneumolib.training.loop import BinaryLoss, RunBatches, build_optimizer, precision_context, train_step


@dataclass(frozen=True)
class BenchCase:
    model: str
    size: int


CPU_CASES = [BenchCase("small_cnn", 28), BenchCase("resnet18", 28), BenchCase("resnet18", 64)]
GPU_CASES = CPU_CASES + [BenchCase("resnet18", 224)]
Step = Callable[[], int]


def precisions_to_time(device: torch.device) -> list[str]:
    """fp32 everywhere; bf16 too where the default policy trains in it (CUDA, native-bf16 CPUs)."""
    if device.type == "cuda" or cpu_has_native_bf16():
        return ["fp32", "bf16"]
    return ["fp32"]


def _reference_loader(case: BenchCase, data_dir, batch_size: int, train: bool):
    """MedMNIST's own pattern: the medmnist dataset class, PIL transforms, a DataLoader."""
    import medmnist  # a measured start-up cost (about 3 s on 2 cores); only the reference pipeline needs it

    steps = [transforms.Resize(case.size)] if case.size != 28 else []
    if train:
        steps += [transforms.RandomAffine(10, translate=(0.05, 0.05), scale=(0.95, 1.05))]  # the light preset
    steps += [transforms.ToTensor(), transforms.Normalize(mean=[0.5], std=[0.5])]
    dataset = medmnist.PneumoniaMNIST(split="train" if train else "test", transform=transforms.Compose(steps),
                                      download=False, root=str(data_dir), size=28)
    return DataLoader(dataset, batch_size=batch_size, shuffle=train, num_workers=0)


def _cycle(make: Callable[[], Iterator]) -> Iterator:
    while True:
        yield from make()


def _reference_step(model: nn.Module, batches: Iterator, device, train: bool) -> Step:
    """The reference's plain loop: fp32, torch's default Adam, BCE on the logits."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = nn.BCEWithLogitsLoss()

    def step() -> int:
        torch.set_flush_denormal(False)  # MedMNIST's loop leaves the CPU's denormal handling as it is
        x, y = next(batches)
        x, y = x.to(device), y.to(device).float()
        if train:
            model.train()
            optimizer.zero_grad()
            loss = criterion(model(x).reshape(-1), y.reshape(-1))
            loss.backward()
            optimizer.step()
        else:
            model.eval()
            with torch.no_grad():
                torch.sigmoid(model(x))
        return len(x)

    return step


def reference_steps(case: BenchCase, data_dir, device, batch_size: int, train: bool) -> Step:
    loader = _cycle(lambda: iter(_reference_loader(case, data_dir, batch_size, train)))
    return _reference_step(build_model(case.model).to(device), loader, device, train)


def reference_synthetic_steps(case: BenchCase, device, batch_size: int, train: bool) -> Step:
    """The reference's model, format and optimizer on one batch in memory: no data work."""
    x = torch.randn(batch_size, 1, case.size, case.size, device=device)
    y = torch.randint(0, 2, (batch_size, 1), device=device)
    return _reference_step(build_model(case.model).to(device), _cycle(lambda: iter([(x, y)])), device, train)


def _config(case: BenchCase, device, batch_size: int, memory_format: str = "auto", amp: str = "auto") -> TrainConfig:
    return TrainConfig(model=case.model, batch_size=batch_size, image_size=28, memory_format=memory_format, amp=amp,
                       input_size=case.size if case.size != 28 else None, device=str(device))


def pneumolib_steps(case: BenchCase, data: PneumoniaData, device, batch_size: int, train: bool,
                    memory_format: str = "auto", synthetic: bool = False, amp: str = "auto") -> tuple[Step, str]:
    """fit's own step on the default path (or, ``synthetic``, on one batch of the default path's
    shape and layout kept in memory); returns the step and the memory format it runs in."""
    config = _config(case, device, batch_size, memory_format, amp)
    batches = RunBatches(data, config, device)
    model = batches.prepare_model(build_model(case.model))
    if synthetic:
        x, y = next(iter(batches.train() if train else batches.evaluate("test")))
        x = torch.randn_like(x)  # same shape, dtype and memory format as a real batch
        source = _cycle(lambda: iter([(x, y)]))
    else:
        source = _cycle(batches.train if train else (lambda: iter(batches.evaluate("test"))))
    optimizer = build_optimizer(model.parameters(), config)
    criterion = BinaryLoss().to(device)
    amp = precision_context(device, config, training=False)

    def step() -> int:
        x, y = next(source)
        if train:
            model.train()
            train_step(model, x, y, criterion, optimizer, device, config)  # exactly fit's step
        else:
            model.eval()
            with torch.no_grad(), amp:
                torch.sigmoid(model(x).float())
        return len(x)

    return step, batches.formats["memory_format"]


def time_interleaved(steps: dict[str, Step], count: int, warmup: int, repeats: int) -> dict[str, float]:
    """Median images/second of each step function over ``repeats`` runs of ``count`` calls, after
    ``warmup`` calls; within each repeat the functions take turns."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    rates: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            images = 0
            start = time.perf_counter()
            for _ in range(count):
                images += step()
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            rates[name].append(images / (time.perf_counter() - start))
    return {name: statistics.median(values) for name, values in rates.items()}


def _peak_rss_child(pipeline: str, case: BenchCase, data_dir: str, batch_size: int, steps: int,
                    amp: str, queue) -> None:
    device = resolve_device("cpu")
    if pipeline == "reference":
        step = reference_steps(case, data_dir, device, batch_size, train=True)
    else:
        step, _ = pneumolib_steps(case, load_pneumoniamnist(28, data_dir, download=False), device, batch_size, True,
                                  amp=amp)
    for _ in range(steps):
        step()
    queue.put(_peak_rss_mib())


def _peak_rss_mib() -> float:
    """This process's peak resident memory. VmHWM (Linux) starts afresh at exec, unlike
    ru_maxrss, which a spawned child inherits from the parent it was forked from."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_host_memory_mib(pipeline: str, case: BenchCase, data_dir: str, batch_size: int, steps: int,
                         amp: str = "auto") -> float:
    """Peak resident memory (MiB) of a fresh process that runs ``steps`` training steps of ``pipeline``."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_peak_rss_child, args=(pipeline, case, str(data_dir), batch_size, steps, amp, queue))
    child.start()
    value = queue.get(timeout=600)
    child.join()
    return float(value)


def _other(memory_format: str) -> str:
    return "contiguous" if memory_format == "channels_last" else "channels_last"


AMP = {"fp32": "off", "bf16": "bf16"}


def _mode(name: str, default_precision: str, device) -> str:
    if name == default_precision:
        return "default"
    return "forced" if name == "fp32" and device.type == "cpu" else "not the default"


def _bench_train(case: BenchCase, data: PneumoniaData, data_dir, dev, batch_size: int, timing: dict,
                 precisions: list[str]) -> list[dict]:
    default_precision = "bf16" if use_bf16(dev, _config(case, dev, batch_size)) else "fp32"
    steps: dict[str, Step] = {
        "reference": reference_steps(case, data_dir, dev, batch_size, True),
        "reference_synthetic": reference_synthetic_steps(case, dev, batch_size, True),
    }
    formats = {}
    for name in precisions:
        amp = AMP[name]
        steps[f"{name}/default"], formats[name] = pneumolib_steps(case, data, dev, batch_size, True, amp=amp)
        other = _other(formats[name])
        steps[f"{name}/other_format"], _ = pneumolib_steps(case, data, dev, batch_size, True, other, amp=amp)
        steps[f"{name}/synthetic"], _ = pneumolib_steps(case, data, dev, batch_size, True, formats[name], True, amp)
    rates = time_interleaved(steps, **timing)
    rows = []
    for name in precisions:
        default = rates[f"{name}/default"]
        rows.append({
            "precision": name, "memory_format": formats[name], "mode": _mode(name, default_precision, dev),
            "reference_img_s": rates["reference"], "reference_synthetic_img_s": rates["reference_synthetic"],
            "pneumolib_img_s": default, "other_format_img_s": rates[f"{name}/other_format"],
            "synthetic_img_s": rates[f"{name}/synthetic"],
            "ratio": default / rates["reference"], "ratio_to_synthetic": default / rates[f"{name}/synthetic"],
            "format_gain": default / rates[f"{name}/other_format"],
        })
    return rows


def _bench_eval(case: BenchCase, data: PneumoniaData, data_dir, dev, batch_size: int, timing: dict) -> dict:
    """Evaluation is fp32 on a CPU (and bf16 on CUDA) whatever the training precision."""
    default, memory_format = pneumolib_steps(case, data, dev, batch_size, False)
    synthetic, _ = pneumolib_steps(case, data, dev, batch_size, False, memory_format, synthetic=True)
    rates = time_interleaved({"reference": reference_steps(case, data_dir, dev, batch_size, False),
                              "reference_synthetic": reference_synthetic_steps(case, dev, batch_size, False),
                              "default": default, "synthetic": synthetic}, **timing)
    precision_ = "bf16" if dev.type == "cuda" else "fp32"
    return {"precision": precision_, "memory_format": memory_format, "mode": "default",
            "reference_img_s": rates["reference"], "reference_synthetic_img_s": rates["reference_synthetic"],
            "pneumolib_img_s": rates["default"], "synthetic_img_s": rates["synthetic"],
            "ratio": rates["default"] / rates["reference"], "ratio_to_synthetic": rates["default"] / rates["synthetic"]}


def run_bench(
    data_dir, device: str = "auto", cases: list[BenchCase] | None = None, batch_size: int = 64,
    steps: int = 20, warmup: int = 5, repeats: int = 3, memory: bool = True, seed: int = 0,
    precisions: list[str] | None = None,
) -> pd.DataFrame:
    """Every case's train rows (one per precision) and eval row; see the module doc."""
    dev = resolve_device(device)
    cases = cases or (GPU_CASES if dev.type == "cuda" else CPU_CASES)
    precisions = precisions or precisions_to_time(dev)
    data = load_pneumoniamnist(28, data_dir, download=False)
    timing = dict(count=steps, warmup=warmup, repeats=repeats)
    memory_steps = max(3, steps // 4)
    rows = []
    for case in cases:
        seed_everything(seed)
        train_rows = _bench_train(case, data, data_dir, dev, batch_size, timing, precisions)
        if memory and dev.type == "cpu":
            reference = peak_host_memory_mib("reference", case, data_dir, batch_size, memory_steps)
            for row in train_rows:
                fast = peak_host_memory_mib("pneumolib", case, data_dir, batch_size, memory_steps, AMP[row["precision"]])
                row.update({"reference_peak_mib": reference, "pneumolib_peak_mib": fast, "memory_ratio": fast / reference})
        rows += [{"model": case.model, "size": case.size, "phase": "train", **row} for row in train_rows]
        seed_everything(seed)
        rows.append({"model": case.model, "size": case.size, "phase": "eval",
                     **_bench_eval(case, data, data_dir, dev, batch_size, timing)})
    table = pd.DataFrame(rows)
    table.insert(3, "batch_size", batch_size)
    table["steps"], table["repeats"] = steps, repeats
    table["device"] = describe_device(dev)
    table["machine"] = describe_cpu() if dev.type == "cpu" else describe_device(dev)
    table["date"] = time.strftime("%Y-%m-%d")
    for package, version in package_versions().items():
        table[f"version_{package}"] = version
    return table


def profile_default_path(case: BenchCase, data_dir, device: str = "cpu", batch_size: int = 64, steps: int = 30,
                         fp32: bool = True, rows: int = 15) -> str:
    """A ``torch.profiler`` table (self CPU time) of ``steps`` training steps of the default path,
    in forced fp32 unless ``fp32=False``: where the time goes, data path included."""
    from torch.profiler import ProfilerActivity, profile

    dev = resolve_device(device)
    data = load_pneumoniamnist(28, data_dir, download=False)
    step, memory_format = pneumolib_steps(case, data, dev, batch_size, True, amp="off" if fp32 else "auto")
    for _ in range(5):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    title = (f"{case.model} @ {case.size} px, {steps} training steps of batch {batch_size}, "
             f"{'fp32' if fp32 else 'default precision'}, {memory_format}, on {describe_cpu()}")
    return title + "\n" + prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def merge_bench(existing: pd.DataFrame | None, new: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """``new`` in place of the rows ``existing`` holds for the same machine (and fp32 mode); rows
    measured on other machines are kept. Returns the table and how many rows were replaced."""
    if existing is None or "machine" not in existing:
        return new, 0 if existing is None else len(existing)
    same = existing.machine.isin(set(new.machine))
    return pd.concat([existing[~same], new], ignore_index=True), int(same.sum())


def build_parser() -> argparse.ArgumentParser:
    """The bench's command line: what training speed is made of here (data path, precision, memory
    format), against MedMNIST's pipeline."""
    p = argparse.ArgumentParser(
        prog="python -m tools.bench",
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
    return p


def _cmd_bench(args: argparse.Namespace) -> int:
    import pandas as pd

    from pneumolib.data import resolve_data_dir
    from pneumolib.paths import results_path
    from pneumolib.models.formats import FORCE_FP32_ENV, cpu_has_native_bf16

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
    print(f"wrote {where(path)} ({len(table)} rows{note}; kept {kept} rows of other machines)")
    return 0




def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tools.bench``: see ``--help``."""
    use_checkout()
    return run_parser(build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
