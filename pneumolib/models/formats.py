"""Numeric precision and memory format of a model's batches (training, evaluation, prediction),
decided by rules, never by timing.

What a run's numbers depend on must not change with the load of the machine on a given day, so
every decision here is a rule that every CPU of a kind applies the same way, and each run record
says what was used (``formats`` in ``record.json``):

* ``amp="off"``/``"bf16"`` and ``memory_format`` set in the config decide.
* CUDA trains in bf16 and channels_last.
* The reference data path trains in fp32, contiguous.
* Evaluation and prediction run in fp32 on a CPU (probabilities, thresholds and ONNX parity carry
  no bf16 rounding); they never train and never time anything.
* CPU training in bf16 autocast where the CPU runs bf16 natively (oneDNN says so: AVX-512 BF16
  or AMX); without native bf16, only from 128 px, where emulated bf16 still paid (about 2.4x at
  224 px in ``python -m tools.bench``).
* Memory format on a CPU: channels_last, except ResNets below 64 px, where contiguous was faster
  on every machine the bench measured (``results/metrics/bench.csv``).

Switches (environment variables, read at each decision):

* ``PNEUMOLIB_FP32=1`` forces fp32 on any CPU: the machine is treated as one without native bf16,
  so a bf16 machine can show the fp32 case (and train as a CPU without native bf16 does).
* ``PNEUMOLIB_MEMORY_FORMAT=channels_last`` or ``contiguous`` fixes the layout.

On a CPU, every training and evaluation step also flushes denormal floats to zero
(:func:`flush_denormals`).
"""

from __future__ import annotations

import functools
import os
import platform
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch

from ..config import TrainConfig
from ..errors import ConfigError

FORCE_FP32_ENV = "PNEUMOLIB_FP32"
MEMORY_FORMAT_ENV = "PNEUMOLIB_MEMORY_FORMAT"
MEMORY_FORMATS = ("channels_last", "contiguous")

CPU_EMULATED_BF16_MIN_SIZE = 128  # without native bf16, autocast pays only for large inputs (README, bench)
RESNET_CHANNELS_LAST_MIN_SIZE = 64  # ResNets below this input size train faster contiguous (bench.csv)


def fp32_forced() -> bool:
    """Whether ``PNEUMOLIB_FP32`` asks for fp32 on the CPU."""
    value = os.environ.get(FORCE_FP32_ENV, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{FORCE_FP32_ENV}={value!r} is not understood; set it to 1 (force fp32 on the CPU) or 0.")


@functools.lru_cache(maxsize=1)
def _onednn_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def cpu_has_native_bf16() -> bool:
    """Whether oneDNN runs bf16 natively on this CPU (and fp32 is not forced)."""
    return _onednn_bf16() and not fp32_forced()


def _precision_rule(device: torch.device, config: TrainConfig, training: bool) -> bool:
    """Whether a training step (or evaluation, ``training=False``) runs in bf16, by the module's rules."""
    if config.amp != "auto":
        return config.amp == "bf16"
    if config.data_path == "reference":  # the reference pipeline trains in plain fp32
        return False
    if device.type == "cuda":
        return True
    if not training:
        return False
    if cpu_has_native_bf16():
        return True
    return config.model_input_size >= CPU_EMULATED_BF16_MIN_SIZE


def use_bf16(device: torch.device, config: TrainConfig, training: bool = True) -> bool:
    """Whether a training step (or, ``training=False``, evaluation) runs under bf16 autocast."""
    return _precision_rule(device, config, training)


def flush_denormals(device: torch.device) -> None:
    """Flush denormal floats to zero on the CPU (FTZ/DAZ) for the calling thread. Training on real
    images produces denormal values that x86 CPUs handle in slow microcode: measured on the 2-core
    CPU, a ResNet-18 epoch at 28 px in fp32 took several times longer without this. Values below
    1.2e-38 become 0; nothing a model computes depends on them. Called by every training and
    evaluation step, so that it holds whatever else ran in the thread before."""
    if device.type == "cpu":
        torch.set_flush_denormal(True)


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast on ``device`` when ``enabled``, else a no-op context."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if enabled else nullcontext()


def fused_optimizer(device: torch.device) -> bool | None:
    """``fused=True`` for torch's Adam/AdamW/SGD where it has fused kernels for ``device`` (CUDA;
    the CPU from torch 2.4), else None (torch's default, the multi-tensor path)."""
    if device.type == "cuda":
        return True
    if device.type == "cpu" and tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2]) >= (2, 4):
        return True
    return None


@functools.lru_cache(maxsize=1)
def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_kind() -> dict[str, Any]:
    """What the CPU decisions depend on: the CPU, its vector ISA as torch uses it, native bf16,
    whether fp32 is forced, the thread count and the torch version."""
    return {
        "cpu": cpu_name(),
        "isa": torch.backends.cpu.get_cpu_capability(),
        "onednn_max_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", ""),
        "native_bf16": _onednn_bf16(),
        "fp32_forced": fp32_forced(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


def describe_cpu() -> str:
    """One line for tables, e.g. ``AMD EPYC (AVX512, native bf16), 2 threads``."""
    kind = cpu_kind()
    bf16 = "native bf16" if kind["native_bf16"] else "no native bf16"
    if kind["native_bf16"] and kind["fp32_forced"]:
        bf16 = "native bf16, fp32 forced"
    limit = f", oneDNN limited to {kind['onednn_max_isa']}" if kind["onednn_max_isa"] else ""
    return f"{kind['cpu']} ({kind['isa']}{limit}, {bf16}), {kind['threads']} threads"


def _layouts(config: TrainConfig) -> list[str]:
    forced = os.environ.get(MEMORY_FORMAT_ENV, "").strip().lower()
    if forced:
        if forced not in MEMORY_FORMATS:
            raise ConfigError(f"{MEMORY_FORMAT_ENV}={forced!r} is not valid; choose one of "
                              f"{list(MEMORY_FORMATS)}.")
        return [forced]
    return list(MEMORY_FORMATS) if config.memory_format == "auto" else [config.memory_format]


def memory_format_rule(device: torch.device, config: TrainConfig) -> str:
    """The layout of training (and evaluation) batches on ``device`` when the config leaves it to ``auto``."""
    if device.type == "cuda":
        return "channels_last"
    if config.model.startswith("resnet") and config.model_input_size < RESNET_CHANNELS_LAST_MIN_SIZE:
        return "contiguous"
    return "channels_last"


def choose_formats(device: torch.device, config: TrainConfig) -> dict[str, Any]:
    """Precision and memory format of training steps on ``device``: ``{"bf16", "memory_format",
    "chosen_by"}``, by the rules of the module doc (no timing, so the same on every CPU of a kind)."""
    bf16 = _precision_rule(device, config, training=True)
    layouts = _layouts(config)
    if len(layouts) == 1:
        return {"bf16": bf16, "memory_format": layouts[0], "chosen_by": "set by the config or the environment"}
    layout = memory_format_rule(device, config)
    if device.type == "cuda":
        return {"bf16": bf16, "memory_format": layout, "chosen_by": "CUDA rule"}
    bf16_case = "native bf16" if _onednn_bf16() and not fp32_forced() else (
        "fp32 forced" if fp32_forced() else "no native bf16")
    return {"bf16": bf16, "memory_format": layout, "chosen_by": f"CPU rule ({bf16_case}, {config.model} at {config.model_input_size} px)"}


def batch_formats(device: torch.device, config: TrainConfig) -> dict[str, Any]:
    """The formats a run's batches come in: :func:`choose_formats` on the fast data path; fp32
    inputs in the contiguous layout on the reference path (bf16 autocast as the rule says)."""
    if config.data_path in ("auto", "fast"):
        return choose_formats(device, config)
    return {"bf16": use_bf16(device, config), "memory_format": "contiguous", "chosen_by": "reference path"}
