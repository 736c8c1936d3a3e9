"""Numeric precision and memory format of the training loop, chosen for the machine at hand.

Which of bf16 autocast / fp32 and channels_last / contiguous trains fastest depends on the model,
the input size, the thread count and the CPU (``python -m pneumolib bench`` shows it: on one
native-bf16 CPU, bf16 speeds the small CNN up and not ResNet-18 at 28 px; channels_last helps the
small CNN and slows ResNet-18 at 28 px). So:

* **Rules** where the answer does not depend on the machine: ``amp="off"``/``"bf16"`` and
  ``memory_format`` set in the config decide; CUDA trains in bf16 and channels_last; the
  reference data path trains in fp32, contiguous; CPU evaluation stays fp32 (probabilities,
  thresholds and ONNX parity carry no bf16 rounding). On a CPU without native bf16, training uses
  emulated bf16 only from 128 px (where it still paid, about 2.4x at 224 px).
* **A probe** for the rest, on the CPU: at first use, a few training steps of the model on a
  synthetic batch in each candidate (fp32 or bf16 where the CPU runs bf16 natively; each memory
  format), taking turns so that a change of load hits all alike. The fastest wins, where each
  departure from plain fp32 / contiguous must buy at least 5 %. The decision is cached per machine
  (CPU, ISA, threads, torch version) in ``~/.cache/pneumolib/formats.json`` and recorded in every
  run record, next to its results.

Switches (environment variables, read at each decision):

* ``PNEUMOLIB_FP32=1`` forces fp32 on any CPU: the machine is treated as one without native bf16,
  so a bf16 machine can show the fp32 case.
* ``PNEUMOLIB_MEMORY_FORMAT=channels_last`` or ``contiguous`` fixes the layout (no probe for it).
* ``PNEUMOLIB_CACHE`` moves the cache folder.

On a CPU, every training and evaluation step also flushes denormal floats to zero
(:func:`flush_denormals`).
"""

from __future__ import annotations

import copy
import functools
import json
import os
import platform
import tempfile
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

from ..config import TrainConfig
from ..errors import ConfigError
from ..models.zoo import build_model

FORCE_FP32_ENV = "PNEUMOLIB_FP32"
MEMORY_FORMAT_ENV = "PNEUMOLIB_MEMORY_FORMAT"
CACHE_ENV = "PNEUMOLIB_CACHE"
MEMORY_FORMATS = ("channels_last", "contiguous")

CPU_EMULATED_BF16_MIN_SIZE = 128  # without native bf16, autocast pays only for large inputs (README, bench)
MIN_GAIN = 1.05  # bf16 or channels_last must be this much faster than fp32 / contiguous to be chosen
PROBE_ROUNDS = 5
PROBE_STEPS = 3


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


def _precision_rule(device: torch.device, config: TrainConfig, training: bool) -> bool | None:
    """bf16 or not where a rule decides; None where the probe does (auto, training on a native-bf16 CPU)."""
    if config.amp != "auto":
        return config.amp == "bf16"
    if config.data_path == "reference":  # the reference pipeline trains in plain fp32
        return False
    if device.type == "cuda":
        return True
    if not training:
        return False
    if cpu_has_native_bf16():
        return None
    return config.model_input_size >= CPU_EMULATED_BF16_MIN_SIZE


def use_bf16(device: torch.device, config: TrainConfig, training: bool = True) -> bool:
    """Whether a training step (or, ``training=False``, evaluation) runs under bf16 autocast."""
    rule = _precision_rule(device, config, training)
    return choose_formats(device, config)["bf16"] if rule is None else rule


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


def _cache_file() -> Path:
    root = os.environ.get(CACHE_ENV) or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pneumolib"
    return Path(root).expanduser() / "formats.json"


def _read_cache(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # no cache yet, or one we cannot read: probe again and rewrite it
    return value if isinstance(value, dict) else {}


def _write_cache(path: Path, key: str, entry: dict[str, Any]) -> None:
    """Add one decision; re-read first and replace atomically, so parallel workers lose nothing."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        cache = _read_cache(path)
        cache[key] = entry
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as handle:
            json.dump(cache, handle, indent=1, sort_keys=True)
        os.replace(handle.name, path)
    except OSError:
        pass  # a read-only home: the decision still holds for this process (in-memory cache below)


@contextmanager
def _probe_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on the cache (POSIX); without one, each process may probe for itself."""
    try:
        import fcntl

        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path.with_suffix(".lock"), "w")
    except (ImportError, OSError):
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def probe_batch_size(batch_size: int, size: int) -> int:
    """The probe's batch: the run's up to 64 px, then capped so that one probe step costs about
    what a 64-image step at 64 px does (a probe of ResNet-50 at 224 px stays in seconds)."""
    return max(2, min(batch_size, max(8, int(64 * (64 / size) ** 2))))


def time_formats(model: nn.Module, size: int, candidates: list[tuple[bool, str]], batch_size: int,
                 rounds: int = PROBE_ROUNDS, steps: int = PROBE_STEPS) -> dict[tuple[bool, str], float]:
    """Seconds per training step of ``model`` (copies; the original is not touched) on the CPU for
    each candidate ``(bf16, memory_format)``: forward, backward and a (fused) Adam step on a
    synthetic batch. The candidates take turns; the fastest round of each is kept."""
    cpu = torch.device("cpu")
    x = torch.randn(batch_size, 1, size, size, generator=torch.Generator().manual_seed(0))
    setups = {}
    for candidate in candidates:
        layout = torch.channels_last if candidate[1] == "channels_last" else torch.contiguous_format
        net = copy.deepcopy(model).cpu().train().to(memory_format=layout)
        params = [p for p in net.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(params, lr=1e-4, fused=fused_optimizer(cpu)) if params else None
        setups[candidate] = (net, optimizer, x.contiguous(memory_format=layout))

    def step(candidate: tuple[bool, str]) -> None:
        net, optimizer, batch = setups[candidate]
        flush_denormals(cpu)
        with autocast(cpu, candidate[0]):
            output = net(batch)
        loss = output.float().square().mean()  # any scalar: only the time of the step matters
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    best = {candidate: float("inf") for candidate in candidates}
    for candidate in candidates:
        step(candidate)  # warm-up: oneDNN primitive creation, allocator
    for _ in range(rounds):
        for candidate in candidates:
            start = time.perf_counter()
            for _ in range(steps):
                step(candidate)
            best[candidate] = min(best[candidate], (time.perf_counter() - start) / steps)
    return best


def _label(candidate: tuple[bool, str]) -> str:
    return f"{'bf16' if candidate[0] else 'fp32'}/{candidate[1]}"


def pick(seconds: dict[tuple[bool, str], float], bf16_choices: list[bool], formats: list[str]) -> tuple[bool, str]:
    """The fastest candidate, where bf16 (when fp32 is a choice too) and channels_last (when
    contiguous is too) each count 5 % slower: a departure from plain fp32/contiguous must pay."""
    def cost(candidate: tuple[bool, str]) -> float:
        bf16, layout = candidate
        departures = (bf16 and len(bf16_choices) > 1) + (layout == "channels_last" and len(formats) > 1)
        return seconds[candidate] * MIN_GAIN ** departures
    return min(seconds, key=cost)


_decisions: dict[str, dict[str, Any]] = {}


def cpu_formats(model: nn.Module, model_name: str, size: int, bf16_choices: list[bool], formats: list[str],
                batch_size: int) -> dict[str, Any]:
    """The fastest of ``bf16_choices`` x ``formats`` for training ``model`` on this CPU:
    ``{"bf16", "memory_format", "chosen_by", "step_seconds"}``; probed once, cached (module doc)."""
    candidates = [(bf16, layout) for bf16 in bf16_choices for layout in formats]
    if len(candidates) == 1:
        return {"bf16": candidates[0][0], "memory_format": candidates[0][1], "chosen_by": "the only candidate"}
    kind = cpu_kind()
    batch = probe_batch_size(batch_size, size)
    key = json.dumps({**kind, "model": model_name, "size": size, "batch": batch,
                      "candidates": [_label(c) for c in candidates]}, sort_keys=True)
    if key in _decisions:
        return _decisions[key]
    path = _cache_file()
    with _probe_lock(path):  # parallel workers: one probes, the others read its decision
        entry = _read_cache(path).get(key)
        if not (isinstance(entry, dict) and entry.get("memory_format") in MEMORY_FORMATS and "bf16" in entry):
            seconds = time_formats(model, size, candidates, batch)
            bf16, layout = pick(seconds, bf16_choices, formats)
            timings = ", ".join(f"{_label(c)} {batch / t:.0f} img/s" for c, t in seconds.items())
            entry = {"bf16": bf16, "memory_format": layout,
                     "step_seconds": {_label(c): round(t, 6) for c, t in seconds.items()},
                     "chosen_by": f"probe ({batch} images, {kind['threads']} threads): {timings}"}
            _write_cache(path, key, entry)
    _decisions[key] = entry
    return entry


def _layouts(config: TrainConfig) -> list[str]:
    forced = os.environ.get(MEMORY_FORMAT_ENV, "").strip().lower()
    if forced and forced != "probe":
        if forced not in MEMORY_FORMATS:
            raise ConfigError(f"{MEMORY_FORMAT_ENV}={forced!r} is not valid; choose one of "
                              f"{list(MEMORY_FORMATS) + ['probe']}.")
        return [forced]
    return list(MEMORY_FORMATS) if config.memory_format == "auto" else [config.memory_format]


def choose_formats(device: torch.device, config: TrainConfig, model: nn.Module | None = None) -> dict[str, Any]:
    """Precision and memory format of training steps on ``device``: ``{"bf16", "memory_format",
    "chosen_by"}``, by the rules and the probe of the module doc (``model`` is probed; built from
    the config when not given)."""
    rule = _precision_rule(device, config, training=True)
    if device.type == "cuda":
        layout = "channels_last" if config.memory_format == "auto" else config.memory_format
        return {"bf16": bool(rule), "memory_format": layout, "chosen_by": "CUDA rule"}
    bf16_choices = [False, True] if rule is None else [rule]
    layouts = _layouts(config)
    if len(bf16_choices) * len(layouts) == 1:
        return {"bf16": bf16_choices[0], "memory_format": layouts[0], "chosen_by": "set by the config or the environment"}
    if model is None:
        model = build_model(config.model, stem=config.stem, batch_norm=config.batch_norm)
    name = config.model if config.stem == "standard" else f"{config.model} ({config.stem} stem)"
    return cpu_formats(model, name, config.model_input_size, bf16_choices, layouts, config.batch_size)
