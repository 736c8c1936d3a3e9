"""The reproduction report: a replicate (this machine's own runs, ``notebooks run --replicate``)
beside the reference (the committed results), number by number and decision by decision.

A replicate trained on another CPU or in another precision gets other numbers under the same run
ids. Whether it reproduces the reference is a question of noise: each headline number is judged
against the seed sd of its arm in the reference (the spread that the seed alone makes), and each
decision of notebook 06 must come out the same.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from pneumolib.evaluation.noise import NOISE_SDS  # within NOISE_SDS seed sds of the arm: within the noise
from pneumolib.experiments.store import RunStore

HEADLINE = {"val_auc": ("val", "auc"), "test_auc": ("test", "auc"), "test_acc": ("test", "acc")}
DECISION_KEYS = ("kept_components", "chosen_arm", "tta", "ensemble")


def _group(table: pd.DataFrame) -> pd.Series:
    """The arm of each run: its ``arm`` column, else its key without the seed."""
    if "arm" in table:
        return table["arm"].astype(str)
    return table["key"].astype(str).map(lambda key: re.sub(r"/?seed\d+", "", key))


def headline_numbers(reference: Path, replicate: Path) -> pd.DataFrame:
    """One row per run and headline metric that both hold: the notebook, the run, the reference
    value, the replicate's, the difference, the arm's seed sd in the reference and the verdict."""
    ref_store, rep_store = RunStore(reference / "store"), RunStore(replicate / "store")
    rows = []
    for table_path in sorted((reference / "metrics").glob("[0-9][0-9]_*_runs.csv")):
        table = pd.read_csv(table_path)
        if "run_id" not in table:
            continue
        table = table.assign(group=_group(table))
        for _, run in table.iterrows():
            ref, rep = ref_store.get(str(run.run_id)), rep_store.get(str(run.run_id))
            if ref is None or rep is None:
                continue
            arm = table[table.group == run.group]
            for metric, (split, name) in HEADLINE.items():
                sd = float(arm[metric].std(ddof=1)) if metric in arm and len(arm) > 1 else float("nan")
                a, b = float(ref.fields[split][name]), float(rep.fields[split][name])
                verdict = ("no seed sd" if np.isnan(sd) else
                           "within the noise" if abs(b - a) <= NOISE_SDS * sd else "outside the noise")
                rows.append({"notebook": table_path.stem[:2], "table": table_path.stem, "run_id": run.run_id,
                             "arm": run.group, "metric": metric, "reference": a, "replicate": b,
                             "difference": b - a, "seed_sd": sd, "verdict": verdict,
                             "replicate_precision": (rep.fields.get("formats") or {}).get("precision", "")})
    return pd.DataFrame(rows).drop_duplicates(["run_id", "metric"]).reset_index(drop=True)


def decisions_compared(reference: Path, replicate: Path) -> pd.DataFrame:
    """Each decision of notebook 06, in the reference and in the replicate, and whether it is the same."""
    name = "metrics/06_decisions.json"
    try:
        ref, rep = (json.loads((base / name).read_text()) for base in (reference, replicate))
    except (OSError, ValueError):
        return pd.DataFrame(columns=["decision", "reference", "replicate", "same"])
    rows = [{"decision": key, "reference": json.dumps(ref.get(key)), "replicate": json.dumps(rep.get(key)),
             "same": ref.get(key) == rep.get(key)} for key in DECISION_KEYS]
    return pd.DataFrame(rows)


def report_markdown(numbers: pd.DataFrame, decisions: pd.DataFrame) -> str:
    """The report as Markdown: the verdict counts, every number, every decision."""
    lines = ["# Reproduction report", ""]
    if numbers.empty:
        lines.append("The replicate holds none of the reference's runs yet.")
    else:
        counts = numbers.verdict.value_counts()
        lines.append(f"{len(numbers)} headline numbers of {numbers.run_id.nunique()} runs: "
                     + ", ".join(f"{n} {v}" for v, n in counts.items())
                     + f" (within the noise: at most {NOISE_SDS:g} seed sds of the arm in the reference).")
        lines += ["", "```", numbers.drop(columns="table").round(4).to_string(index=False), "```"]
    if not decisions.empty:
        same = int(decisions.same.sum())
        lines += ["", f"Decisions of 06: {same} of {len(decisions)} the same.", "",
                  "```", decisions.to_string(index=False), "```"]
    return "\n".join(lines) + "\n"
