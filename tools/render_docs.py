"""Render the guides' result blocks (docs/*.md) from the committed results (run after re-running a
notebook or `make reference`):  .venv/bin/python -m tools.render_docs

Each block sits between ``<!-- name ... -->`` and ``<!-- /name -->`` in one of the guides;
tests/test_docs_numbers.py fails when a block differs from what this script renders.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pandas as pd

import pneumolib  # noqa: F401  (torchvision import fix)
from pneumolib.experiments.leaderboard import PUBLISHED
from pneumocourse.goal import readme_tables, shift_readme_tables

REPO = Path(__file__).resolve().parents[1]
METRICS = REPO / "results" / "metrics"


def reference_tables() -> str:
    spec = importlib.util.spec_from_file_location("reference_runs", REPO / "benchmarks" / "reference_runs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.markdown_tables(pd.read_csv(METRICS / "reference_runs.csv"))


def best_model_tables() -> str:
    return readme_tables(pd.read_csv(METRICS / "06_components.csv"), json.loads((METRICS / "06_decisions.json").read_text()),
                         pd.read_csv(METRICS / "06_goal.csv").set_index("metric"),
                         pd.read_csv(METRICS / "06_distilled.csv"), PUBLISHED)


def shift_tables() -> str:
    return shift_readme_tables(pd.read_csv(METRICS / "07_domain_classifier.csv"), pd.read_csv(METRICS / "07_prior_check.csv"),
                               pd.read_csv(METRICS / "07_adaptation_scores.csv"), pd.read_csv(METRICS / "07_goal.csv"))


def bench_table() -> str:
    """`python -m tools.bench`'s CPU figures (results/metrics/bench.csv), one table per machine."""
    bench = pd.read_csv(METRICS / "bench.csv")

    def mib(value: float) -> str:
        return "" if pd.isna(value) else f"{value:.0f}"

    def rate(value: float) -> str:
        return "" if pd.isna(value) else f"{value:.0f}"

    lines = []
    for machine, rows in bench.groupby("machine", sort=False):
        first = rows.iloc[0]
        lines += [f"**{machine}** (`python -m tools.bench`, {first.date}, batch {first.batch_size}, median of "
                  f"{first.repeats} x {first.steps} steps, configurations interleaved):", "",
                  "| model | size | phase | precision | mode | memory format | reference img/s | pneumolib img/s "
                  "| synthetic img/s | vs reference | vs synthetic | vs other format | peak MiB reference / pneumolib |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for _, r in rows.iterrows():
            gain = "" if pd.isna(r.get("format_gain")) else f"{r.format_gain:.2f}"
            peak = "" if pd.isna(r.get("reference_peak_mib")) else f"{mib(r.reference_peak_mib)} / {mib(r.pneumolib_peak_mib)}"
            lines.append(f"| {r.model} | {r['size']} | {r.phase} | {r.precision} | {r['mode']} | {r.memory_format} | "
                         f"{rate(r.reference_img_s)} | {rate(r.pneumolib_img_s)} | {rate(r.synthetic_img_s)} | "
                         f"**{r.ratio:.2f}** | {r.ratio_to_synthetic:.2f} | {gain} | {peak} |")
        lines.append("")
    return "\n".join(lines + bench_goals(bench))


# Issue "Fast on every machine": goals for the training ratios (2 cores, measured side by side).
FP32_GOAL, SYNTHETIC_GOAL = 1.3, 0.9
BF16_BEFORE = {("small_cnn", 28): 1.58, ("resnet18", 28): 1.41, ("resnet18", 64): 1.87}  # bench.csv before the issue


def bench_goals(bench: pd.DataFrame) -> list[str]:
    """The goal table of the speed work, each verdict computed from bench.csv."""
    lines = ["| goal | machine | measured | met |", "|---|---|---|---|"]
    train = bench[bench.phase == "train"]
    for machine, rows in train.groupby("machine", sort=False):
        for model in ("small_cnn", "resnet18"):
            fp32 = rows[(rows.model == model) & (rows["size"] == 28) & (rows.precision == "fp32")]
            for _, r in fp32.iterrows():
                lines.append(f"| default vs reference, {model} @28 train, fp32 ({r['mode']}) >= {FP32_GOAL} | {machine} | "
                             f"{r.ratio:.2f} | {'yes' if r.ratio >= FP32_GOAL else 'no'} |")
        for precision, group in rows.groupby("precision", sort=False):
            worst = group.ratio_to_synthetic.min()
            lines.append(f"| default vs synthetic loop, training, {precision} >= {SYNTHETIC_GOAL} (lowest case) | {machine} | "
                         f"{worst:.2f} | {'yes' if worst >= SYNTHETIC_GOAL else 'no'} |")
        if not (rows.precision == "bf16").any():
            continue  # the goal below is for CPUs with native bf16
        for (model, size), before in BF16_BEFORE.items():
            default = rows[(rows.model == model) & (rows["size"] == size) & (rows["mode"] == "default")]
            for _, r in default.iterrows():
                lines.append(f"| native-bf16 CPU, default vs reference, {model} @{size} train ({r.precision}), no lower "
                             f"than {before} | {machine} | {r.ratio:.2f} | {'yes' if r.ratio >= before else 'no'} |")
    return lines + [""]


def exercises_table() -> str:
    """The notebooks' graded exercises, read from their nbgrader metadata."""
    from pneumocourse.notebooks import notebook_paths
    from pneumocourse.teaching.exercises import exercise_markdown, exercise_table

    return exercise_markdown(exercise_table(notebook_paths()))


GRADING_GOAL_STUDENTS, GRADING_GOAL_MINUTES = 30, 10  # a class graded sandboxed, smoke profile, on 2 cores


def grading_table() -> str:
    """`benchmarks/grading_time.py`'s last run (results/metrics/grading_time.csv): its rows, measured
    side by side, and whether the sandboxed class of 30 took at most the goal's minutes."""
    times = pd.read_csv(METRICS / "grading_time.csv")
    last = times[(times.commit == times.commit.iloc[-1]) & (times.date == times.date.iloc[-1])]
    first = last.iloc[0]
    seeded = ("; the graders' store seeded from an earlier smoke run of the course's notebooks (--seed-from)"
              if pd.isna(first.get("seed_run_seconds")) else
              f"; the graders' store seeded from one smoke run of the course's notebooks, "
              f"{first.seed_run_seconds:.0f} s, made first and not counted")
    lines = [f"The last run (commit {first.commit}, {first.date}, {first.cpu_cores} cores, {first.workers} workers, "
             f"every student submitting the {first.notebooks} {first.submission} notebooks, smoke profile{seeded}):", "",
             "| sandbox | students | minutes | seconds per student | mean points scored (auto-graded; written answers "
             "are graded by hand) | of all points |", "|---|---|---|---|---|---|"]
    for _, r in last.iterrows():
        lines.append(f"| {'yes' if r.sandbox else 'no'} | {r.students} | {r.seconds / 60:.1f} | {r.seconds_per_student:.1f} "
                     f"| {r.mean_points:g} | {r.max_points:g} |")
    sandboxed = last[last.sandbox.astype(bool)]
    if len(sandboxed):
        minutes = sandboxed.seconds.iloc[-1] / 60
        met = "met" if minutes <= GRADING_GOAL_MINUTES and sandboxed.students.iloc[-1] >= GRADING_GOAL_STUDENTS else "not met"
        lines += ["", f"Goal, a class of {GRADING_GOAL_STUDENTS} sandboxed in at most {GRADING_GOAL_MINUTES} minutes: {met} "
                      f"({minutes:.1f} min for {sandboxed.students.iloc[-1]} students)."]
    return "\n".join(lines) + "\n"


BLOCKS = {"reference": reference_tables, "06": best_model_tables, "07": shift_tables, "bench": bench_table,
          "exercises": exercises_table, "grading": grading_table}


def block(text: str, name: str) -> tuple[int, int]:
    """Start and end offsets of a rendered block's body."""
    start = text.index("-->", text.index(f"<!-- {name}")) + len("-->\n")
    return start, text.index(f"<!-- /{name} -->")


def block_file(name: str) -> Path:
    """The guide that holds the block ``name``."""
    holding = [p for p in sorted((REPO / "docs").glob("*.md")) if f"<!-- {name}" in p.read_text()]
    if len(holding) != 1:
        raise ValueError(f"block {name!r} must sit in exactly one guide under docs/, found {holding}.")
    return holding[0]


def main() -> None:
    for name, render in BLOCKS.items():
        path = block_file(name)
        text = path.read_text()
        start, end = block(text, name)
        path.write_text(text[:start] + render() + text[end:])
        print(f"rendered {name} into {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
