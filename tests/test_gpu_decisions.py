"""The CUDA branch of every device decision, with CUDA mocked (this machine has no GPU): what a
GPU run would choose, checked where no GPU can run it."""

from __future__ import annotations

import os

import pytest
import torch

from pneumolib.config import TrainConfig
from pneumolib.experiments.runs import RunSpec


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Mock GPU")


def test_auto_and_cuda_resolve_to_the_gpu(two_gpus):
    from pneumolib.devices import describe_device, resolve_device

    assert resolve_device("auto") == torch.device("cuda") and resolve_device("cuda") == torch.device("cuda")
    assert describe_device(torch.device("cuda")) == "cuda (Mock GPU)"


def test_cuda_without_a_gpu_is_a_clear_error(monkeypatch):
    from pneumolib.devices import resolve_device
    from pneumolib.errors import DeviceUnavailableError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(DeviceUnavailableError, match="CUDA is not available"):
        resolve_device("cuda")


def test_training_on_cuda_uses_bf16_and_channels_last_at_every_size(two_gpus):
    from pneumolib.models.formats import choose_formats, use_bf16

    cuda = torch.device("cuda")
    for size in (28, 224):
        formats = choose_formats(cuda, TrainConfig(image_size=size))
        assert formats["memory_format"] == "channels_last" and formats["bf16"], formats
    assert use_bf16(cuda, TrainConfig()) and use_bf16(cuda, TrainConfig(), training=False)
    assert not use_bf16(cuda, TrainConfig(amp="off"))
    assert not use_bf16(cuda, TrainConfig(data_path="reference")), "the reference pipeline stays fp32 everywhere"


def test_sweeps_take_one_worker_per_gpu(two_gpus):
    from pneumolib.experiments.runner import default_workers, gpus_for

    on_gpu = [RunSpec(TrainConfig(seed=s, device="auto"), key=str(s)) for s in range(5)]
    on_cpu = [RunSpec(TrainConfig(seed=s, device="cpu"), key=str(s)) for s in range(5)]
    assert gpus_for(on_gpu) == 2 and default_workers(on_gpu) == 2
    assert gpus_for(on_cpu) == 0 and default_workers(on_cpu, threads_per_worker=1) == (os.cpu_count() or 1)


def _visible_gpu(_: int) -> str:
    import time

    time.sleep(1.0)  # long enough that both workers take a task
    return os.environ.get("CUDA_VISIBLE_DEVICES", "")


@pytest.mark.integration
def test_each_gpu_worker_sees_its_own_gpu():
    from pneumolib.experiments.executors import process_pool

    with process_pool(2, gpus=2) as pool:
        seen = set(pool.map(_visible_gpu, range(4)))
    assert seen == {"0", "1"}
    with pytest.raises(ValueError, match="at most 2"):
        process_pool(3, gpus=2)
