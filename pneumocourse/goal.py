"""The project's one goal for a detector on the official test split, and the tables that say plainly
whether it is met: notebook 06 measures its final model against it, notebook 07 every inductive and
transductive result, and the README renders both from their saved tables."""

from __future__ import annotations

import pandas as pd

from .narrative import interval, mean_sd, with_spread

GOAL = {  # metric -> (goal, stretch goal); the stretch goal is Google AutoML Vision's published 0.991 / 0.946
    "auc": (0.985, 0.991),
    "acc": (0.92, 0.946),  # ACC at the threshold picked on val
}
GOALS = {"test_auc": GOAL["auc"], "test_acc_val_threshold": GOAL["acc"]}  # the same goal, by 06's column names
SECTIONS = ("inductive", "transductive")  # how 07 ranks its results: apart, against the same goal


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


def decision_rows(decisions: dict) -> list[str]:
    """The rule and, per decision, its paired val-AUC gain and the noise it had to exceed, as
    Markdown lines (from the ``rule`` and ``evidence`` of ``06_decisions.json``; none when a file
    saved before them lacks them)."""
    evidence = decisions.get("evidence")
    if not evidence:
        return []

    def number(value) -> str:
        return "n/a" if value is None else f"{value:+.5f}"

    lines = ["", f"Rule: {decisions['rule']}.", "",
             "| decision (on val) | against | mean paired gain | noise | pairs | kept |", "|---|---|---|---|---|---|"]
    shown = set()
    steps = evidence.get("components", []) + evidence.get("recipe", []) + [evidence.get("tta"), evidence.get("ensemble")]
    for d in steps:
        if not d or (d["option"], d["simpler"]) in shown:
            continue
        shown.add((d["option"], d["simpler"]))
        noise = "n/a" if d["noise"] is None else f"{d['noise']:.5f}"
        lines.append(f"| {d['option']} | {d['simpler']} | {number(d['gain'])} | {noise} | {d['pairs']} | "
                     f"{'**yes**' if d['kept'] else 'no'} |")
    return lines


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
        lines.append(f"| {name} | {with_spread(row.val_auc_mean, row.val_auc_sd)} | "
                     f"{with_spread(row.test_auc_mean, row.test_auc_sd)} | {row['test_acc_at_0.5_mean']:.4f} |")
    lines += decision_rows(decisions)
    auc, acc, acc05 = (goal.loc[m] for m in ("test_auc", "test_acc_val_threshold", "test_acc_at_0.5"))

    def cell(row: pd.Series) -> str:
        return f"{with_spread(row['mean'], row['sd'])} {interval(row.ci_low, row.ci_high, row['sd'])}"

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


def shift_goal_table(results: dict[str, tuple[str, pd.DataFrame]]) -> pd.DataFrame:
    """Notebook 07's goal table: for each named result, its section ("inductive" or
    "transductive") and its scores (:func:`~pneumolib.evaluation.metrics.bootstrap_mean_table`,
    rows auc and acc), the project's goal (:data:`GOAL`, the same for both sections), whether the
    mean reaches it, and where the goal lies against the CI."""
    rows = []
    for name, (section, scores) in results.items():
        if section not in SECTIONS:
            raise ValueError(f"section must be one of {list(SECTIONS)}, got {section!r}.")
        for metric, (goal, _) in GOAL.items():
            row = scores.loc[metric]
            where = "above the CI" if goal > row.high else "below the CI" if goal < row.low else "inside the CI"
            rows.append({"result": name, "section": section, "metric": metric, "mean": row.estimate, "sd": row.sd,
                         "ci_low": row.low, "ci_high": row.high, "goal": goal, "met": bool(row.estimate >= goal),
                         "goal_vs_ci": where})
    return pd.DataFrame(rows).set_index(["result", "metric"])


def shift_readme_tables(domain: pd.DataFrame, prior_check: pd.DataFrame, scores: pd.DataFrame,
                        goal: pd.DataFrame) -> str:
    """The README's summary of notebook 07, rendered from its saved tables
    (``07_domain_classifier.csv``, ``07_prior_check.csv``, ``07_adaptation_scores.csv``, ``07_goal.csv``)."""
    lines = ["| domain classifier (cross-validated AUC) | train vs test | train vs val (control) |", "|---|---|---|"]
    for inputs in dict.fromkeys(domain["inputs"]):
        rows = domain[domain["inputs"] == inputs].set_index("cohorts")["auc"]
        lines.append(f"| {inputs} | {rows['train vs test']:.3f} | {rows['train vs val (control)']:.3f} |")
    lines += ["", "| test prior estimate (true share " + f"{prior_check['true'].iloc[0]:.3f}) | estimate [95% CI] |",
              "|---|---|"]
    for _, row in prior_check.iterrows():
        lines.append(f"| {row.estimator}, {row['final model']} | {row.estimate:.3f} [{row.low:.3f}, {row.high:.3f}] |")
    lines += ["", "| method (transductive except none) | test AUC | test ACC | sensitivity | specificity |",
              "|---|---|---|---|---|"]
    for method in dict.fromkeys(scores["method"]):
        rows = scores[scores["method"] == method].set_index("metric")

        def cell(metric: str) -> str:
            r = rows.loc[metric]
            return f"{r.estimate:.4f} [{r.low:.4f}, {r.high:.4f}]"

        lines.append(f"| {method} | {cell('auc')} | {cell('acc')} | {cell('sensitivity')} | {cell('specificity')} |")
    lines += ["", "| goal row | metric | ours, mean [95% CI] | goal | verdict |", "|---|---|---|---|---|"]
    for _, row in goal.iterrows():
        lines.append(f"| {row.section}: {row.result} | {row.metric.upper()} | {row['mean']:.4f} [{row.ci_low:.4f}, "
                     f"{row.ci_high:.4f}] | ≥ {row.goal:g} | {goal_verdict(row)} |")
    return "\n".join(lines) + "\n"


def goal_verdict(row: pd.Series) -> str:
    """One row of :func:`shift_goal_table` in words: whether the mean reaches the goal, and whether
    the CI establishes or excludes it."""
    if row.goal_vs_ci == "below the CI":
        return "**met**, and the whole CI lies above the goal"
    if row.goal_vs_ci == "above the CI":
        return "**not met**, and the whole CI lies below the goal"
    return ("**met by the mean**, but the CI also holds values below the goal, so it is not established" if row.met
            else "**not met by the mean**, though the CI does not exclude the goal")
