"""Keeps `python -m tools.bench` working (CI runs it in its smoke form); timings are not asserted."""

import os
from pathlib import Path

import pandas as pd
import pytest

from tools.bench import main, merge_bench
from pneumolib.models.formats import cpu_has_native_bf16


@pytest.mark.integration
def test_bench_smoke(real_data_dir, capsys):
    assert main(["--smoke", "--data-dir", str(real_data_dir)]) == 0
    out = capsys.readouterr().out
    assert "reference_img_s" in out and "synthetic_img_s" in out and "ratio_to_synthetic" in out
    table = pd.read_csv(Path(os.environ["PNEUMOLIB_RESULTS"]) / "metrics" / "bench_smoke.csv")
    assert set(table.phase) == {"train", "eval"}
    train = table[table.phase == "train"]
    assert set(train.precision) == ({"fp32", "bf16"} if cpu_has_native_bf16() else {"fp32"})
    assert set(train.memory_format) <= {"channels_last", "contiguous"}
    for column in ("reference_img_s", "pneumolib_img_s", "synthetic_img_s", "other_format_img_s", "ratio", "ratio_to_synthetic"):
        assert (train[column] > 0).all(), column
    assert (train.reference_peak_mib > 100).all() and (train.pneumolib_peak_mib > 100).all()  # whole processes
    assert "version_torch" in table and table.device.iloc[0].startswith("cpu") and table.machine.notna().all()


def test_bench_fp32_switch_times_only_fp32(real_data_dir, capsys, monkeypatch):
    monkeypatch.delenv("PNEUMOLIB_FP32", raising=False)
    assert main(["--smoke", "--fp32", "--no-memory", "--data-dir", str(real_data_dir)]) == 0
    monkeypatch.delenv("PNEUMOLIB_FP32", raising=False)  # the CLI set it for its process
    table = pd.read_csv(Path(os.environ["PNEUMOLIB_RESULTS"]) / "metrics" / "bench_smoke.csv")
    forced = table[table.machine.str.contains("fp32 forced|no native bf16")]
    assert set(forced[forced.phase == "train"].precision) == {"fp32"}


def test_a_new_bench_replaces_only_its_own_machine_rows():
    old = pd.DataFrame({"machine": ["A", "A", "B"], "ratio": [1.0, 1.1, 2.0]})
    new = pd.DataFrame({"machine": ["A"], "ratio": [1.5]})
    merged, replaced = merge_bench(old, new)
    assert replaced == 2 and sorted(merged.machine) == ["A", "B"] and merged.ratio.tolist() == [2.0, 1.5]


def test_profile_needs_model_at_size(real_data_dir, capsys):
    assert main(["--profile", "vgg@28", "--data-dir", str(real_data_dir)]) != 0
    assert "give MODEL@SIZE" in capsys.readouterr().err
