"""The reproduction report puts a replicate's numbers beside the reference's, judges each against
the arm's seed sd, and says whether each decision of 06 came out the same."""

from __future__ import annotations

import json

import pandas as pd

from tools.reproduction import decisions_compared, headline_numbers, report_markdown


def _record(run_id: str, val_auc: float, test_auc: float, test_acc: float) -> dict:
    return {"format": "pneumolib-run-record", "run_id": run_id, "kind": "training",
            "val": {"auc": val_auc}, "test": {"auc": test_auc, "acc": test_acc}, "formats": {"precision": "fp32"}}


def _results(base, records, decisions):
    for fields in records:
        folder = base / "store" / fields["run_id"]
        folder.mkdir(parents=True)
        (folder / "record.json").write_text(json.dumps(fields))
    (base / "metrics").mkdir(parents=True)
    (base / "metrics" / "06_decisions.json").write_text(json.dumps(decisions))


def test_each_number_is_judged_against_the_seed_sd_and_each_decision_compared(tmp_path):
    ids = ["small_cnn-seed0-a", "small_cnn-seed1-b", "small_cnn-seed2-c"]
    reference = [_record(i, v, t, a) for i, v, t, a in zip(ids, [0.990, 0.992, 0.994], [0.970, 0.972, 0.974],
                                                           [0.90, 0.91, 0.92])]
    replicate = [_record(ids[0], 0.9905, 0.9800, 0.905)]  # val and ACC inside 2 sd; test AUC 0.010 away, sd 0.002
    decided = {"kept_components": [], "chosen_arm": "base", "tta": False, "ensemble": False}
    _results(tmp_path / "ref", reference, decided)
    _results(tmp_path / "rep", replicate, {**decided, "tta": True})
    pd.DataFrame({"key": [f"base/seed{s}" for s in range(3)], "arm": ["base"] * 3, "run_id": ids,
                  "val_auc": [0.990, 0.992, 0.994], "test_auc": [0.970, 0.972, 0.974], "test_acc": [0.90, 0.91, 0.92]}
                 ).to_csv(tmp_path / "ref" / "metrics" / "02_transfer_runs.csv", index=False)
    numbers = headline_numbers(tmp_path / "ref", tmp_path / "rep").set_index("metric")
    assert list(numbers.run_id.unique()) == [ids[0]] and (numbers.notebook == "02").all()
    assert numbers.loc["val_auc", "verdict"] == "within the noise"
    assert numbers.loc["test_auc", "verdict"] == "outside the noise"
    assert abs(numbers.loc["test_auc", "seed_sd"] - 0.002) < 1e-9
    decisions = decisions_compared(tmp_path / "ref", tmp_path / "rep").set_index("decision")
    assert not decisions.loc["tta", "same"] and decisions.loc["chosen_arm", "same"]
    text = report_markdown(numbers.reset_index(), decisions.reset_index())
    assert "1 outside the noise" in text and "Decisions of 06: 3 of 4 the same." in text
