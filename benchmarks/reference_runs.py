"""The researcher guide's reference runs: ResNet-18 and the small CNN, 10 epochs at 28 px, seeds 0-2, on the
fast (default) and the reference data path, one after the other in this process, into the run
store. Writes results/metrics/reference_runs.csv, the table
that the guide's reference-run and data-path tables are checked against
(tests/test_docs_numbers.py). Runs the store already holds are loaded, not trained again.

Run:  make reference   (= .venv/bin/python benchmarks/reference_runs.py)
"""

from __future__ import annotations

import argparse

import pandas as pd

import pneumolib  # noqa: F401  (torchvision import fix before anything imports torchvision)
from pneumolib.config import TrainConfig
from pneumolib.data import resolve_data_dir
from pneumolib.experiments.executors import InProcessExecutor
from pneumolib.experiments.runner import run_many
from pneumolib.experiments.runs import DataSpec, RunSpec
from pneumocourse.narrative import mean_sd, seed_verdict
from pneumolib.paths import display_path, results_path

MODELS = ("resnet18", "small_cnn")
DATA_PATHS = {"auto": "fast", "reference": "reference"}  # config value -> the path it runs


def reference_specs(seeds: list[int], epochs: int) -> list[RunSpec]:
    """One run per model x data path x seed. The fast path is asked for as ``auto``, the default, so
    these are the very runs that ``python -m pneumolib train --model M --seed S`` stores."""
    return [RunSpec(TrainConfig(model=model, epochs=epochs, seed=seed, data_path=path),
                    key=f"reference/{model}/{name}/seed{seed}", labels={"model": model, "data_path": name})
            for model in MODELS for path, name in DATA_PATHS.items() for seed in seeds]


def reference_table(specs: list[RunSpec], results) -> pd.DataFrame:
    rows = []
    for spec in specs:
        fields = results[spec.key].fields
        test = fields["test"]
        rows.append({**spec.labels, "seed": spec.config.seed, "epochs": spec.config.epochs, "best_epoch": fields["best_epoch"],
                     "val_auc": fields["val"]["auc"], "test_auc": test["auc"], "test_acc": test["acc"],
                     "balanced_accuracy": test["balanced_accuracy"], "sensitivity": test["sensitivity"],
                     "specificity": test["specificity"], "wall_seconds": fields["wall_seconds"],
                     "device": fields["device"], "run_id": fields["run_id"]})
    return pd.DataFrame(rows)


def markdown_tables(table: pd.DataFrame) -> str:
    """The guide's two tables, rendered from the CSV: ResNet-18 on the fast path per seed, and
    every model x data path with test AUC per seed. Speed is `python -m tools.bench`'s job
    (both paths timed side by side in one process); runs loaded from the store keep the wall time
    of whatever machine state trained them."""
    runs = table[(table.model == "resnet18") & (table.data_path == "fast")].sort_values("seed")
    lines = ["| seed | picked epoch | val AUC | test AUC | test ACC @0.5 | balanced acc | sensitivity | specificity |",
             "|---|---|---|---|---|---|---|---|"]
    for r in runs.itertuples():
        lines.append(f"| {r.seed} | {r.best_epoch} | {r.val_auc:.4f} | {r.test_auc:.4f} | {r.test_acc:.4f} | "
                     f"{r.balanced_accuracy:.4f} | {r.sensitivity:.4f} | {r.specificity:.4f} |")
    lines.append(f"| mean ± sd | | | {mean_sd(runs.test_auc)} | {mean_sd(runs.test_acc)} | | | |")
    epochs = "/".join(str(e) for e in sorted(table.epochs.unique()))
    lines += ["", f"| model ({epochs} epochs) | data path | test AUC per seed | mean ± sd |", "|---|---|---|---|"]
    for (model, path), group in table.groupby(["model", "data_path"], sort=False):
        group = group.sort_values("seed")
        per_seed = ", ".join(f"{v:.4f}" for v in group.test_auc)
        lines.append(f"| {model} | {path} | {per_seed} | {mean_sd(group.test_auc)} |")
    lines.append("")
    for model, group in table.groupby("model", sort=False):
        by_path = {path: g.sort_values("seed").test_auc for path, g in group.groupby("data_path")}
        if {"fast", "reference"} <= set(by_path):
            lines.append(f"- {model}: " + seed_verdict("the fast path", by_path["fast"], "the reference path",
                                                       by_path["reference"]))
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    specs = reference_specs(args.seeds, args.epochs)
    results = run_many(specs, DataSpec(str(resolve_data_dir(args.data_dir))), executor=InProcessExecutor(),
                       threads_per_worker=None)
    if results.failures:
        raise SystemExit(f"failed runs: {sorted(results.failures)}")
    table = reference_table(specs, results)
    path = results_path("metrics", "reference_runs.csv")
    table.to_csv(path, index=False, float_format="%.6f")
    print(table.drop(columns=["device", "run_id"]).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"wrote {display_path(path)}\n\nfor docs/researcher-guide.md:\n")
    print(markdown_tables(table))


if __name__ == "__main__":
    main()
