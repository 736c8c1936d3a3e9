"""Verdicts rendered from numbers say only what the numbers support."""

import pytest

from pneumocourse.narrative import ci_verdict, mean_sd, seed_verdict


def test_ci_verdict_says_beats_only_outside_the_interval():
    assert ci_verdict("A", "B", 0.012, 0.004, 0.020).startswith("**A beats B**")
    assert ci_verdict("A", "B", -0.012, -0.020, -0.004).startswith("**B beats A**")
    level = ci_verdict("A", "B", 0.003, -0.002, 0.008)
    assert "about level" in level and "beats" not in level and "[-0.0020, +0.0080]" in level


def test_seed_verdict_needs_a_gap_beyond_the_seed_spread():
    assert "is ahead of" in seed_verdict("CNN", [0.970, 0.968, 0.972], "ResNet", [0.955, 0.957, 0.953])
    level = seed_verdict("CNN", [0.970, 0.960, 0.980], "ResNet", [0.965, 0.955, 0.975])
    assert "about level" in level and "ahead" not in level
    assert "no verdict" in seed_verdict("A", [0.9], "B", [0.8])


@pytest.mark.parametrize("values, shown", [([0.5], "0.5000"), ([0.9, 0.92, 0.94], "0.92 ± 0.02"), ([0.9704, 0.9712, 0.9690], "0.970 ± 0.001")])
def test_mean_sd(values, shown):
    assert mean_sd(values) == shown


def test_suite_times_keep_the_last_passing_run_of_each_notebook_and_kind(tmp_path):
    from pathlib import Path

    from tools.times import NotebookRun, record_times

    path = tmp_path / "metrics" / "suite_times.csv"
    record_times([NotebookRun("01_a", "passed", 3.21, Path("a")),
                  NotebookRun("02_b", "passed", 600.0, Path("b"), new_runs=6)], path)
    table = record_times([NotebookRun("02_b", "passed", 5.0, Path("b")), NotebookRun("01_a", "failed", 9.0, Path("a"))],
                         path)
    times = table.set_index(["notebook", "kind"]).seconds.to_dict()
    assert times == {("01_a", "from store"): 3.2, ("02_b", "from store"): 5.0, ("02_b", "trained"): 600.0}


def _ablation_verdicts(runs):
    """The verdicts notebook 05's cell gives the arms (its rule: test_notebook_05_shows_the_rule_its_findings_read)."""
    import pandas as pd

    from pneumolib.evaluation.noise import beyond_noise

    ran = runs[runs.status == "ran"]
    full_runs = ran[ran.arm == "full recipe"].set_index("seed")
    rows = []
    for arm, group in ran[ran.arm != "full recipe"].groupby("arm", sort=False):
        test, val = (beyond_noise(arm, group.set_index("seed")[m], "full recipe", full_runs[m]) for m in ("test_auc", "val_auc"))
        rows.append({"arm": arm, "Δ test AUC": test.gain, "noise": test.noise, "Δ val AUC": val.gain,
                     "verdict": "raises" if test.gain > test.noise else "lowers" if test.gain < -test.noise else "level"})
    return pd.DataFrame(rows).set_index("arm")


def test_notebook_05_shows_the_rule_its_findings_read():
    import inspect
    import json
    from pathlib import Path

    cells = json.loads((Path(__file__).resolve().parents[1] / "notebooks" / "05_ablations.ipynb").read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    rule = inspect.getsource(_ablation_verdicts).split("rows = []\n", 1)[1].split("    return", 1)[0]
    for line in rule.strip().splitlines():
        assert line.strip() in code, f"notebook 05 no longer shows this line of the rule its findings read: {line.strip()}"


def test_ablation_findings_judge_arms_by_the_projects_noise_rule():
    """Paired seed by seed against two seed sds of the full recipe (06's rule), not one sd."""
    import pandas as pd

    from pneumolib.evaluation.noise import PAIRED_NOISE, beyond_noise
    from pneumocourse.companions.ablations import ablation_findings

    def arm(name, aucs, val=0.99):
        return [{"arm": name, "status": "ran", "seed": seed, "test_auc": a, "val_auc": val,
                 "tuned_test_balanced_accuracy": 0.85 + seed / 1000, "test_balanced_accuracy": 0.87,
                 "tuned_threshold": 0.2} for seed, a in enumerate(aucs)]

    # − dropout's mean gap (-0.0011) is beyond one seed sd of the full recipe (0.001) but within two
    runs = pd.DataFrame(arm("full recipe", [0.95, 0.951, 0.949]) + arm("− augmentation", [0.93, 0.931, 0.929], val=0.995)
                        + arm("− dropout", [0.9487, 0.9502, 0.9478]))
    grid = pd.DataFrame({"batch_size": [32, 64], "lr": [1e-3, 1e-3], "cv_auc_mean": [0.99, 0.98],
                         "cv_auc_sd": [0.001, 0.001]}).set_index(["batch_size", "lr"])
    folds = pd.DataFrame({"held-out fold AUC": [0.99, 0.001], "test AUC": [0.95, 0.002]}, index=["mean", "sd"])
    verdicts = _ablation_verdicts(runs)
    ahead = beyond_noise("batch_size 32, lr 0.001", [0.991, 0.990, 0.989], "batch_size 64, lr 0.001",
                         [0.981, 0.979, 0.98], PAIRED_NOISE)
    text = "\n".join(ablation_findings(verdicts, runs, grid, ahead, folds))
    assert "lowers test AUC beyond the noise** (the mean paired difference over the seeds, against two seed sds of " \
           "the full recipe): − augmentation (-0.0200)" in text
    assert "**Within the noise:** − dropout (-0.0011)" in text
    assert "*raises* val AUC" in text and "(not nested)" in text
    assert "against the runner-up, fold by fold: +0.0100 CV AUC against a noise of" in text and "weak" not in text
    assert "0.5 is ahead beyond the noise" in text  # balanced accuracy 0.851 ± 0.001 at Youden against 0.87 at 0.5
    close = beyond_noise("batch_size 32, lr 0.001", [0.990, 0.9895, 0.991], "batch_size 64, lr 0.001",
                         [0.9895, 0.990, 0.9893], PAIRED_NOISE)  # a gain within two sds of the fold differences
    text = "\n".join(ablation_findings(verdicts, runs, grid, close, folds))
    assert "within the noise, so the choice among the top cells is weak" in text
    with pytest.raises(ValueError, match="notebook 05's cell builds them"):
        ablation_findings(verdicts.drop(columns="verdict"), runs, grid, ahead, folds)


def test_threshold_shift_is_blamed_on_imbalance_corrections_only_when_removing_them_raises_it():
    import pandas as pd

    from pneumocourse.companions.ablations import _threshold_shift

    def runs(class_weighting, sampling):
        return pd.DataFrame({"arm": ["full recipe"] * 2 + ["− class weighting"] * 2 + ["− balanced sampling"] * 2,
                             "tuned_threshold": [0.08, 0.07, class_weighting, class_weighting, sampling, sampling]})

    table = runs(0.13, 0.18)
    text = _threshold_shift(table, table[table.arm == "full recipe"])
    assert "0.07 in the full recipe" in text or "0.08 in the full recipe" in text
    assert "− class weighting 0.13" in text and "down-weight pneumonia" in text
    table = runs(0.13, 0.05)  # removing balanced sampling lowers it: no causal sentence
    assert "down-weight" not in _threshold_shift(table, table[table.arm == "full recipe"])


def test_method_agreement_reads_the_median_rank_correlation():
    import numpy as np

    from pneumocourse.companions.gradcam import method_agreement_findings

    lines = method_agreement_findings({"a": np.array([0.95, 0.9, np.nan]), "b": np.array([0.1, -0.2, 0.05])},
                                      "gradcam++")
    assert "**nearly the same maps**" in lines[0] and "2 of 3 images" in lines[0] and "Grad-CAM++" in lines[0]
    assert "**different maps**" in lines[1]
    assert "cannot be compared" in method_agreement_findings({"c": np.array([np.nan])}, "gradcam++")[0]


def test_leaderboard_reading_ranks_the_top_val_row_on_test():
    import pandas as pd

    from pneumocourse.companions.best_model import leaderboard_findings

    board = pd.DataFrame({"result": ["A", "B", "C", "published"], "final_model": ["one run"] * 3 + [""],
                          "epochs": [4, 10, 10, None], "val_auc": [0.999, 0.995, 0.990, None],
                          "test_auc": [0.93, 0.97, 0.95, 0.96]})
    text = leaderboard_findings(board)
    assert "*A* (one run, 4 epochs), ranks 3 of 3 on test" in text and "*B*" in text and "ranks 2 of 3 by val" in text


def test_leaderboard_reading_survives_an_empty_board():
    import pandas as pd

    from pneumocourse.companions.best_model import leaderboard_findings

    assert "none of our rows" in leaderboard_findings(pd.DataFrame())
