"""Precision and memory-format decisions on the CPU: the fp32 switch, the cached probe, the
overrides, and that a run records what it used."""

from __future__ import annotations

import json

import pytest
import torch

from pneumolib.config import TrainConfig
from pneumolib.errors import ConfigError
from pneumolib.models import build_model
from pneumolib.training import formats
from pneumolib.training.formats import choose_formats, cpu_has_native_bf16, use_bf16

CPU = torch.device("cpu")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(formats.CACHE_ENV, str(tmp_path))
    monkeypatch.delenv(formats.MEMORY_FORMAT_ENV, raising=False)
    monkeypatch.setattr(formats, "_decisions", {})
    return tmp_path / "formats.json"


def test_the_fp32_switch_turns_bf16_off_for_cpu_training(cache, monkeypatch):
    monkeypatch.setattr(formats, "_onednn_bf16", lambda: True)
    monkeypatch.delenv(formats.FORCE_FP32_ENV, raising=False)
    monkeypatch.setattr(formats, "time_formats", lambda m, s, candidates, b, **k: {c: 0.01 if c[0] else 0.02 for c in candidates})
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


def _timings(table):
    """A fake probe: seconds per step for each (bf16, layout) candidate."""
    calls = []

    def timings(model, size, candidates, batch_size, **_):
        calls.append(list(candidates))
        return {c: table[c] for c in candidates}

    return timings, calls


def test_the_probe_picks_the_faster_format_and_caches_it(cache, monkeypatch):
    timings, calls = _timings({(False, "channels_last"): 0.010, (False, "contiguous"): 0.020})
    monkeypatch.setattr(formats, "time_formats", timings)
    config = TrainConfig(model="small_cnn", image_size=28, amp="off")
    first = choose_formats(CPU, config)
    assert first["memory_format"] == "channels_last" and not first["bf16"] and "fp32/channels_last" in first["chosen_by"]
    monkeypatch.setattr(formats, "_decisions", {})  # a new process: only the file remains
    assert choose_formats(CPU, config)["memory_format"] == "channels_last"
    assert len(calls) == 1, "the second decision must come from the cache file"
    stored = json.loads(cache.read_text())
    assert len(stored) == 1 and json.loads(next(iter(stored)))["model"] == "small_cnn"


def test_on_a_native_bf16_cpu_the_probe_also_chooses_the_precision(cache, monkeypatch):
    monkeypatch.setattr(formats, "_onednn_bf16", lambda: True)
    monkeypatch.delenv(formats.FORCE_FP32_ENV, raising=False)
    timings, calls = _timings({(False, "contiguous"): 0.010, (False, "channels_last"): 0.012,
                               (True, "contiguous"): 0.011, (True, "channels_last"): 0.013})
    monkeypatch.setattr(formats, "time_formats", timings)
    config = TrainConfig(model="resnet18", image_size=28)
    assert not use_bf16(CPU, config), "fp32 measured faster: the run trains in fp32"
    assert len(calls) == 1 and len(calls[0]) == 4, "native bf16: precision and layout are probed together"
    assert not use_bf16(CPU, config, training=False)
    monkeypatch.setenv(formats.FORCE_FP32_ENV, "1")
    assert choose_formats(CPU, config)["memory_format"] == "contiguous" and len(calls[-1]) == 2, \
        "forced fp32: only the layouts are probed"


def test_a_departure_from_fp32_contiguous_must_buy_five_percent():
    both, layouts = [False, True], list(formats.MEMORY_FORMATS)
    close = {(False, "contiguous"): 0.0100, (True, "contiguous"): 0.0099,
             (False, "channels_last"): 0.0098, (True, "channels_last"): 0.0097}
    assert formats.pick(close, both, layouts) == (False, "contiguous")
    clear = {**close, (True, "channels_last"): 0.0080}
    assert formats.pick(clear, both, layouts) == (True, "channels_last")
    assert formats.pick({(True, "contiguous"): 0.02, (True, "channels_last"): 0.0199}, [True], layouts) == (True, "contiguous")


def test_an_unreadable_cache_is_probed_again(cache, monkeypatch):
    cache.write_text("{not json")
    timings, _ = _timings({(False, "channels_last"): 0.03, (False, "contiguous"): 0.01})
    monkeypatch.setattr(formats, "time_formats", timings)
    assert choose_formats(CPU, TrainConfig(model="small_cnn", amp="off"))["memory_format"] == "contiguous"
    assert len(json.loads(cache.read_text())) == 1


def test_the_config_and_the_environment_override_the_probe(cache, monkeypatch):
    monkeypatch.setattr(formats, "time_formats", lambda *a, **k: pytest.fail("no probe when the format is set"))
    assert choose_formats(CPU, TrainConfig(memory_format="contiguous", amp="off"))["memory_format"] == "contiguous"
    monkeypatch.setenv(formats.MEMORY_FORMAT_ENV, "channels_last")
    assert choose_formats(CPU, TrainConfig(amp="off"))["memory_format"] == "channels_last"
    monkeypatch.setenv(formats.MEMORY_FORMAT_ENV, "nhwc")
    with pytest.raises(ConfigError, match="PNEUMOLIB_MEMORY_FORMAT='nhwc' is not valid"):
        choose_formats(CPU, TrainConfig(amp="off"))


def test_the_real_probe_times_every_candidate_without_touching_the_model():
    model = build_model("small_cnn")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    candidates = [(False, "contiguous"), (False, "channels_last"), (True, "contiguous")]
    seconds = formats.time_formats(model, 28, candidates, batch_size=8, rounds=1, steps=1)
    assert set(seconds) == set(candidates) and all(v > 0 for v in seconds.values())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert next(model.parameters()).is_contiguous()


def test_memory_format_is_not_part_of_the_run_identity_when_auto():
    assert "memory_format" not in TrainConfig().identity_dict()
    assert TrainConfig(memory_format="contiguous").identity_dict()["memory_format"] == "contiguous"
