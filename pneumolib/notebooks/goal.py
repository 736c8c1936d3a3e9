"""The goal that notebook 06 is measured against, and the table that says plainly whether it is met."""

from __future__ import annotations

import pandas as pd

from .narrative import mean_sd

GOALS = {  # metric -> (goal, stretch goal)
    "test_auc": (0.985, 0.991),
    "test_acc_val_threshold": (0.92, 0.946),
}


def goal_table(final: pd.DataFrame, ci: pd.DataFrame) -> pd.DataFrame:
    """The final models' mean ± sd and bootstrap CI next to the goal and the stretch goal, with
    whether the mean reaches each. ACC at 0.5 is shown alongside (it has no goal of its own)."""
    rows = []
    for metric in ("test_auc", "test_acc_val_threshold", "test_acc_at_0.5"):
        values = final[metric].astype(float)
        goal, stretch = GOALS.get(metric, (None, None))
        mean = values.mean()
        rows.append({
            "metric": metric, "mean": mean, "sd": values.std(ddof=1) if len(values) > 1 else float("nan"),
            "ci_low": ci.loc[metric, "ci_low"], "ci_high": ci.loc[metric, "ci_high"], "goal": goal,
            "goal_met": None if goal is None else bool(mean >= goal),
            "stretch_goal": stretch, "stretch_met": None if stretch is None else bool(mean >= stretch),
        })
    return pd.DataFrame(rows).set_index("metric")


def readme_tables(components: pd.DataFrame, decisions: dict, goal: pd.DataFrame, distilled: pd.DataFrame,
                  published: list[tuple]) -> str:
    """The README's summary of notebook 06, rendered from its saved tables (``06_components.csv``,
    ``06_goal.csv``, ``06_distilled.csv`` and ``06_decisions.json``)."""
    lines = ["| arm (seeds of the first group) | val AUC | test AUC | test ACC at 0.5 |", "|---|---|---|---|"]
    for _, row in components.iterrows():
        name = row.arm
        if row.arm == decisions["chosen_arm"]:
            combined = row.arm.startswith("base + ") and decisions["kept_components"]
            kept = f" ({' + '.join(decisions['kept_components'])})" if combined else ""
            name = f"**chosen:** {row.arm}{kept}"
        lines.append(f"| {name} | {row.val_auc_mean:.4f} ± {row.val_auc_sd:.4f} | {row.test_auc_mean:.4f} ± "
                     f"{row.test_auc_sd:.4f} | {row['test_acc_at_0.5_mean']:.4f} |")
    auc, acc, acc05 = (goal.loc[m] for m in ("test_auc", "test_acc_val_threshold", "test_acc_at_0.5"))

    def cell(row: pd.Series) -> str:
        return f"{row['mean']:.4f} ± {row['sd']:.4f} [{row.ci_low:.4f}, {row.ci_high:.4f}]"

    lines += ["", "| | test AUC | test ACC at val-picked threshold | test ACC at 0.5 |", "|---|---|---|---|",
              f"| goal (stretch) | ≥ {auc.goal:g} ({auc.stretch_goal:g}) | ≥ {acc.goal:g} ({acc.stretch_goal:g}) | |",
              f"| **ours: final model** ({'ensemble' if decisions['ensemble'] else 'one run'}"
              f"{' + TTA' if decisions['tta'] else ''}) | {cell(auc)} | {cell(acc)} | {cell(acc05)} |",
              f"| ours: distilled into one small CNN{' (scored with TTA)' if decisions['tta'] else ''} | "
              f"{mean_sd(distilled.test_auc)} "
              f"| {distilled.test_acc_val_threshold.mean():.4f} | |"]
    for name, px, pub_auc, pub_acc, _ in published:
        lines.append(f"| {name} (from the paper) | {pub_auc} | | {pub_acc} |")
    met = bool(auc.goal_met) and bool(acc.goal_met)
    verdict = "**The goal is met.**" if met else (
        f"**The goal is not met:** test AUC {auc.goal:g} lies {'above' if auc.goal > auc.ci_high else 'inside'} the CI "
        f"of the test AUC, and ACC {acc.goal:g} {'above' if acc.goal > acc.ci_high else 'inside'} the CI of the ACC at "
        "the val-picked threshold.")
    return "\n".join(lines) + "\n\n" + verdict + "\n"
