"""Keeps `python -m pneumolib bench` working (CI runs it in its smoke form); timings are not asserted."""

import os
from pathlib import Path

import pandas as pd

from pneumolib.cli import main


def test_bench_smoke(real_data_dir, capsys):
    assert main(["bench", "--smoke", "--data-dir", str(real_data_dir)]) == 0
    out = capsys.readouterr().out
    assert "reference_img_s" in out and "pneumolib_img_s" in out
    table = pd.read_csv(Path(os.environ["PNEUMOLIB_RESULTS"]) / "metrics" / "bench_smoke.csv")
    assert set(table.phase) == {"train", "eval"}
    assert (table.reference_img_s > 0).all() and (table.pneumolib_img_s > 0).all()
    train = table[table.phase == "train"].iloc[0]
    assert train.reference_peak_mib > 100 and train.pneumolib_peak_mib > 100  # whole processes with torch
    assert "version_torch" in table and table.device.iloc[0].startswith("cpu")
