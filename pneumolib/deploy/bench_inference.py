"""Inference speed: single-image latency and batch throughput, PyTorch vs ONNX, side by side."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch

from ..devices import describe_device, resolve_device
from .export import export_onnx
from .detector import PneumoniaDetector
from ..repro import package_versions


def _timings(call: Callable[[], object], repeats: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        call()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        out.append(time.perf_counter() - start)
    return out


def benchmark_inference(
    checkpoint: str | Path, images: np.ndarray, single_repeats: int = 200, batch_repeats: int = 5, batch_size: int = 64
) -> pd.DataFrame:
    """Median single-image latency (ms) and batch throughput (img/s) for both backends, one process.

    ``images`` are uint8 (N, S, S) test images; times include preprocessing from arrays.
    """
    device = resolve_device("cpu")
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / "model.onnx"
        export_onnx(checkpoint, onnx_path, images[:64])
        backends = {
            "pytorch": PneumoniaDetector.from_checkpoint(checkpoint, device="cpu"),
            "onnxruntime": PneumoniaDetector.from_onnx(onnx_path),
        }
        one = images[0]
        batch = list(images)
        rows = []
        for name, detector in backends.items():
            single = _timings(lambda: detector.predict(one), single_repeats, warmup=20)
            many = _timings(lambda: detector.predict(batch, batch_size=batch_size), batch_repeats, warmup=1)
            rows.append({
                "backend": name,
                "single_latency_ms_median": 1000 * statistics.median(single),
                "single_latency_ms_p90": 1000 * float(np.quantile(single, 0.9)),
                "batch_images": len(batch),
                "batch_size": batch_size,
                "batch_throughput_img_s": len(batch) / statistics.median(many),
            })
    table = pd.DataFrame(rows)
    table["device"] = describe_device(device)
    table["torch_threads"] = torch.get_num_threads()
    for package, version in package_versions().items():
        table[f"version_{package}"] = version
    return table
