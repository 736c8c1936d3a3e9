"""Precision and memory-format decisions on the CPU: the fp32 switch, the rules, the overrides."""

from __future__ import annotations

import pytest
import torch

from pneumolib.config import TrainConfig
from pneumolib.errors import ConfigError
from pneumolib.models import formats
from pneumolib.models.formats import choose_formats, cpu_has_native_bf16, use_bf16

CPU = torch.device("cpu")


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv(formats.MEMORY_FORMAT_ENV, raising=False)
    monkeypatch.delenv(formats.FORCE_FP32_ENV, raising=False)


def test_the_fp32_switch_turns_bf16_off_for_cpu_training(no_env, monkeypatch):
    monkeypatch.setattr(formats, "_onednn_bf16", lambda: True)
    assert cpu_has_native_bf16() and use_bf16(CPU, TrainConfig(image_size=28))
    monkeypatch.setenv(formats.FORCE_FP32_ENV, "1")
    assert not cpu_has_native_bf16()
    assert not use_bf16(CPU, TrainConfig(image_size=28)), "forced fp32 must reach the training loop"
    assert use_bf16(CPU, TrainConfig(amp="bf16")), "an explicit amp='bf16' is still honoured"
    assert "fp32 forced" in formats.describe_cpu()


def test_a_bad_fp32_switch_value_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(formats.FORCE_FP32_ENV, "maybe")
    with pytest.raises(ConfigError, match="PNEUMOLIB_FP32='maybe'.*set it to 1"):
        formats.fp32_forced()


def test_without_native_bf16_cpu_training_is_fp32_below_128_px(monkeypatch):
    monkeypatch.setattr(formats, "_onednn_bf16", lambda: False)
    assert not use_bf16(CPU, TrainConfig(image_size=28))
    assert use_bf16(CPU, TrainConfig(image_size=28, input_size=128))
    assert not use_bf16(CPU, TrainConfig(image_size=28), training=False), "CPU evaluation stays fp32"


def test_precision_and_layout_are_rules_the_same_on_every_cpu_of_a_kind(no_env, monkeypatch):
    """No timing decides what a run's numbers depend on: the same config gets the same formats
    however fast or slow the machine is today (the timing functions are not even reachable)."""
    assert not hasattr(formats, "time_formats") and not hasattr(formats, "cpu_formats")
    monkeypatch.setattr(formats, "_onednn_bf16", lambda: True)
    small, resnet28, resnet64 = (TrainConfig(model="small_cnn"), TrainConfig(model="resnet18"),
                                 TrainConfig(model="resnet18", image_size=64))
    assert choose_formats(CPU, small) == {"bf16": True, "memory_format": "channels_last",
                                          "chosen_by": "CPU rule (native bf16, small_cnn at 28 px)"}
    assert choose_formats(CPU, resnet28)["memory_format"] == "contiguous"
    assert choose_formats(CPU, resnet64)["memory_format"] == "channels_last"
    assert not use_bf16(CPU, resnet28, training=False), "evaluation stays fp32"
    monkeypatch.setenv(formats.FORCE_FP32_ENV, "1")
    forced = choose_formats(CPU, small)
    assert not forced["bf16"] and forced["memory_format"] == "channels_last" and "fp32 forced" in forced["chosen_by"]
    monkeypatch.setattr(formats, "_onednn_bf16", lambda: False)
    monkeypatch.delenv(formats.FORCE_FP32_ENV)
    assert not choose_formats(CPU, resnet28)["bf16"]
    assert choose_formats(CPU, TrainConfig(model="resnet18", input_size=128))["bf16"], "emulated bf16 from 128 px"


def test_the_config_and_the_environment_override_the_rule(no_env, monkeypatch):
    assert choose_formats(CPU, TrainConfig(memory_format="contiguous", amp="off"))["memory_format"] == "contiguous"
    monkeypatch.setenv(formats.MEMORY_FORMAT_ENV, "contiguous")
    assert choose_formats(CPU, TrainConfig(amp="off"))["memory_format"] == "contiguous"
    monkeypatch.setenv(formats.MEMORY_FORMAT_ENV, "nhwc")
    with pytest.raises(ConfigError, match="PNEUMOLIB_MEMORY_FORMAT='nhwc' is not valid"):
        choose_formats(CPU, TrainConfig(amp="off"))


def test_memory_format_is_not_part_of_the_run_identity_when_auto():
    assert "memory_format" not in TrainConfig().identity_dict()
    assert TrainConfig(memory_format="contiguous").identity_dict()["memory_format"] == "contiguous"
