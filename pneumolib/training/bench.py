"""``python -m pneumolib bench``: the training data path against MedMNIST's reference pipeline.

For each case (model, image size) and in one process, the same model, batch size, recipe and
number of steps are timed on

(a) **reference**: the way MedMNIST's experiments are written: ``medmnist.PneumoniaMNIST`` with
    PIL transforms (affine, ToTensor, Normalize), a ``DataLoader`` and a plain loop;
(b) **pneumolib**: the default path of :func:`pneumolib.train.fit` (device-resident uint8
    tensor, on-device batch augmentation and upsampling, bf16/channels_last where they pay).

Warm-up steps are excluded; each measurement is repeated and the median reported. Peak host
memory of each pipeline is measured in a fresh child process (its peak resident set size, VmHWM).
"""

from __future__ import annotations

import multiprocessing
import resource
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import transforms

from ..config import TrainConfig
from ..data import PneumoniaData, load_pneumoniamnist
from ..devices import describe_device, resolve_device
from ..models.zoo import build_model
from ..repro import package_versions, seed_everything
from .loop import BinaryLoss, RunBatches, _autocast, train_step


@dataclass(frozen=True)
class BenchCase:
    model: str
    size: int


CPU_CASES = [BenchCase("small_cnn", 28), BenchCase("resnet18", 28), BenchCase("resnet18", 64)]
GPU_CASES = CPU_CASES + [BenchCase("resnet18", 224)]


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


def _time_steps(step: Callable[[], int], steps: int, warmup: int, repeats: int) -> float:
    """Median images/second over ``repeats`` runs of ``steps`` calls, after ``warmup`` calls."""
    for _ in range(warmup):
        step()
    rates = []
    for _ in range(repeats):
        images = 0
        start = time.perf_counter()
        for _ in range(steps):
            images += step()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        rates.append(images / (time.perf_counter() - start))
    return statistics.median(rates)


def _reference_steps(case: BenchCase, data_dir, device, batch_size: int, train: bool) -> Callable[[], int]:
    model = build_model(case.model).to(device)
    loader = _cycle(lambda: iter(_reference_loader(case, data_dir, batch_size, train)))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = nn.BCEWithLogitsLoss()

    def step() -> int:
        x, y = next(loader)
        x, y = x.to(device), y.to(device).float()
        if train:
            model.train()
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
        else:
            model.eval()
            with torch.no_grad():
                torch.sigmoid(model(x))
        return len(x)

    return step


def _pneumolib_steps(case: BenchCase, data: PneumoniaData, device, batch_size: int, train: bool) -> Callable[[], int]:
    config = TrainConfig(model=case.model, batch_size=batch_size, image_size=28,
                         input_size=case.size if case.size != 28 else None, device=str(device))
    batches = RunBatches(data, config, device)
    model = batches.prepare_model(build_model(case.model))
    source = _cycle(batches.train if train else (lambda: iter(batches.evaluate("test"))))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = BinaryLoss()
    amp = _autocast(device, config, training=False)

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

    return step


def _synthetic_steps(case: BenchCase, device, batch_size: int) -> Callable[[], int]:
    """The practical limit: one fixed on-device batch, no data path at all (GPU only)."""
    model = build_model(case.model).to(device).to(memory_format=torch.channels_last).train()
    x = torch.randn(batch_size, 1, case.size, case.size, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (batch_size,), device=device).float()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = BinaryLoss()

    def step() -> int:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            logits = model(x)
        loss = criterion(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return batch_size

    return step


def _peak_rss_child(pipeline: str, case: BenchCase, data_dir: str, batch_size: int, steps: int, queue) -> None:
    torch.set_num_threads(torch.get_num_threads())
    device = resolve_device("cpu")
    if pipeline == "reference":
        step = _reference_steps(case, data_dir, device, batch_size, train=True)
    else:
        step = _pneumolib_steps(case, load_pneumoniamnist(28, data_dir, download=False), device, batch_size, train=True)
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


def peak_host_memory_mib(pipeline: str, case: BenchCase, data_dir: str, batch_size: int, steps: int) -> float:
    """Peak resident memory (MiB) of a fresh process that runs ``steps`` training steps of ``pipeline``."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_peak_rss_child, args=(pipeline, case, str(data_dir), batch_size, steps, queue))
    child.start()
    value = queue.get(timeout=600)
    child.join()
    return float(value)


def run_bench(
    data_dir, device: str = "auto", cases: list[BenchCase] | None = None, batch_size: int = 64,
    steps: int = 20, warmup: int = 5, repeats: int = 3, memory: bool = True, seed: int = 0,
) -> pd.DataFrame:
    """Time (a) and (b) side by side for every case; one row per case and phase (train / eval)."""
    dev = resolve_device(device)
    cases = cases or (GPU_CASES if dev.type == "cuda" else CPU_CASES)
    data = load_pneumoniamnist(28, data_dir, download=False)
    rows = []
    for case in cases:
        for phase, train in (("train", True), ("eval", False)):
            seed_everything(seed)
            reference = _time_steps(_reference_steps(case, data_dir, dev, batch_size, train), steps, warmup, repeats)
            seed_everything(seed)
            fast = _time_steps(_pneumolib_steps(case, data, dev, batch_size, train), steps, warmup, repeats)
            row = {"model": case.model, "size": case.size, "phase": phase, "batch_size": batch_size,
                   "steps": steps, "repeats": repeats, "reference_img_s": reference, "pneumolib_img_s": fast,
                   "ratio": fast / reference}
            if train and dev.type == "cuda":
                synthetic = _time_steps(_synthetic_steps(case, dev, batch_size), steps, warmup, repeats)
                row.update({"synthetic_img_s": synthetic, "share_of_synthetic": fast / synthetic})
            if train and memory and dev.type == "cpu":
                ref_mem = peak_host_memory_mib("reference", case, data_dir, batch_size, max(3, steps // 4))
                fast_mem = peak_host_memory_mib("pneumolib", case, data_dir, batch_size, max(3, steps // 4))
                row.update({"reference_peak_mib": ref_mem, "pneumolib_peak_mib": fast_mem, "memory_ratio": fast_mem / ref_mem})
            rows.append(row)
    table = pd.DataFrame(rows)
    table["device"] = describe_device(dev)
    for package, version in package_versions().items():
        table[f"version_{package}"] = version
    return table
