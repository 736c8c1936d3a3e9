"""Decisions that survive a replicate: notebook 06's search and notebook 07's method choice keep a
change only when its paired gain is beyond the noise (pneumolib.evaluation.noise), the noise being
two sds (NOISE_SDS). Gains that must not be kept sit between one and two sds where the point is
that two sds is the line (the one-sd rule this replaced would have kept them). Small tables made by
hand; nothing trains."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pneumolib.config import TrainConfig
from pneumolib.evaluation.noise import NOISE_SDS, PAIRED_NOISE, RULES, SEED_NOISE, beyond_noise, choose_simplest
from pneumocourse.companions import best_model as best
from pneumocourse import final_model, search as recipes
from pneumocourse.companions import dataset_shift
from pneumocourse.goal import decision_rows
from pneumolib.shift.select import method_choice

BASE = [0.9960, 0.9970, 0.9965]  # seed sd 0.0005, so a noise of 0.0010 (two seed sds)
SD = 0.0005


def _runs(val: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame([{"arm": arm, "seed": seed, "val_auc": v, "status": "ran"}
                         for arm, values in val.items() for seed, v in enumerate(values)])


def _old_rule_keeps(runs: pd.DataFrame, arm: str) -> bool:
    """The rule this replaced: any gain in mean val AUC counts."""
    means = runs.groupby("arm").val_auc.mean()
    return bool(means[arm] > means["base"])


def _one_sd_rule_keeps(runs: pd.DataFrame, arm: str) -> bool:
    """The rule before NOISE_SDS: a mean paired gain beyond one seed sd of the base."""
    values = runs.pivot_table(index="seed", columns="arm", values="val_auc")
    return bool((values[arm] - values["base"]).mean() > values["base"].std(ddof=1))


def test_the_line_is_two_sds():
    assert NOISE_SDS == 2
    assert "two seed sds" in RULES[SEED_NOISE] and "two sds of those paired differences" in RULES[PAIRED_NOISE]


@pytest.mark.parametrize("sds, kept", [(0.5, False), (1.5, False), (2.5, True)])
def test_a_gain_is_kept_only_beyond_two_seed_sds(sds, kept):
    """1.5 seed sds is beyond the one-sd line and still not kept; 2.5 is kept."""
    d = beyond_noise("+ mixup (alpha 0.2)", [v + sds * SD for v in BASE], "base", BASE, SEED_NOISE)
    assert d.gain == pytest.approx(sds * SD) and d.noise == pytest.approx(2 * SD) and d.pairs == 3
    assert d.kept is kept and d.verdict == ("beyond the noise" if kept else "within the noise")


@pytest.mark.parametrize("sds, kept", [(0.5, False), (1.5, False), (2.5, True)])
def test_a_paired_gain_is_kept_only_beyond_two_sds_of_the_differences(sds, kept):
    spread = 0.004  # the paired differences are gain + (-spread, 0, +spread): their sd is spread
    none = pd.Series([0.95, 0.96, 0.97], index=["shift 0", "shift 1", "shift 2"])
    method = none + sds * spread + pd.Series([-spread, 0.0, spread], index=none.index)
    d = beyond_noise("AdaBN", method, "none", none, PAIRED_NOISE)
    assert d.gain == pytest.approx(sds * spread) and d.noise == pytest.approx(2 * spread) and d.pairs == 3
    assert d.kept is kept


def test_a_gain_inside_the_seed_noise_is_not_kept():
    runs = _runs({"base": BASE, "+ warm-up (1 epoch)": [v + 1.5 * SD for v in BASE]})  # 1.5 seed sds
    assert _old_rule_keeps(runs, "+ warm-up (1 epoch)") and _one_sd_rule_keeps(runs, "+ warm-up (1 epoch)")
    assert recipes.kept_components(runs) == []
    chosen, steps = recipes.choose_arm(runs)
    assert chosen == "base"
    (step,) = steps
    assert step.gain == pytest.approx(0.00075) and step.noise == pytest.approx(0.0010) and step.pairs == 3
    assert step.verdict == "within the noise"
    assert step.describe(5) == "+0.00075 val AUC against a noise of 0.00100 (2 x the seed sd of base, 3 pairs): within the noise"


def test_a_gain_beyond_the_seed_noise_is_kept():
    runs = _runs({"base": BASE, "+ mixup (alpha 0.2)": [v + 0.0013 for v in BASE]})  # 2.6 seed sds
    assert recipes.kept_components(runs) == ["mixup (alpha 0.2)"]
    assert recipes.choose_arm(runs)[0] == "+ mixup (alpha 0.2)"
    (step,) = recipes.component_decisions(runs)
    assert step.describe() == "+0.0013 val AUC against a noise of 0.0010 (2 x the seed sd of base, 3 pairs): beyond the noise"


def test_the_gain_is_paired_seed_by_seed():
    # the arm's mean gain is +0.0012, beyond two seed sds of the base (0.0010), but only if seed i
    # is compared with seed i: rows are given in another order
    runs = _runs({"base": BASE, "+ EMA of weights (0.99)": [v + 0.0012 for v in BASE]}).sample(frac=1, random_state=0)
    (decision,) = recipes.component_decisions(runs)
    assert decision.kept and decision.gain == pytest.approx(0.0012) and decision.noise == pytest.approx(0.0010)
    # unpaired seeds do not count: only seeds both sides have are pairs
    d = beyond_noise("a", pd.Series([0.9, 0.95, 0.99], index=[0, 1, 7]), "b", pd.Series([0.8, 0.9, 0.5], index=[0, 1, 2]))
    assert d.pairs == 2 and d.gain == pytest.approx(0.075) and d.noise == pytest.approx(2 * np.std([0.8, 0.9], ddof=1))


def test_the_decision_does_not_flip_when_one_seed_moves_a_little():
    """fp32 instead of bf16 moved one run's val AUC by 0.0004 and flipped the old decision."""
    arm = [v + 0.0001 for v in BASE]
    decisions, old = set(), set()
    for moved in (-0.0004, 0.0, 0.0004):
        base = [BASE[0] + moved] + BASE[1:]
        runs = _runs({"base": base, "+ warm-up (1 epoch)": arm})
        old.add(_old_rule_keeps(runs, "+ warm-up (1 epoch)"))
        decisions.add((tuple(recipes.kept_components(runs)), recipes.choose_arm(runs)[0]))
    assert old == {True, False}  # the old rule flips
    assert decisions == {((), "base")}  # the new one does not


def test_the_decision_does_not_flip_when_one_seed_moves_a_little_where_one_sd_did():
    """A gain of 0.6 seed sds: moving seed 1 of the base by 0.0004 (less than a seed sd) shrinks
    the base's sd enough for the one-sd rule to keep the arm; two sds still do not."""
    arm = [v + 0.0003 for v in BASE]
    decisions, one_sd = set(), set()
    for moved in (-0.0004, 0.0, 0.0004):
        base = [BASE[0], BASE[1] + moved, BASE[2]]
        runs = _runs({"base": base, "+ warm-up (1 epoch)": arm})
        one_sd.add(_one_sd_rule_keeps(runs, "+ warm-up (1 epoch)"))
        decisions.add((tuple(recipes.kept_components(runs)), recipes.choose_arm(runs)[0]))
    assert one_sd == {True, False}  # one sd flips
    assert decisions == {((), "base")}  # two sds do not


def test_one_seed_gives_no_noise_estimate_so_the_simpler_option_stays():
    runs = _runs({"base": [0.99], "+ mixup (alpha 0.2)": [0.999]})
    (decision,) = recipes.component_decisions(runs)
    assert not decision.kept and decision.to_dict()["noise"] is None
    assert recipes.choose_arm(runs)[0] == "base"


def test_choose_arm_keeps_the_simplest_unless_another_is_better_beyond_the_noise():
    a = [v + 0.0015 for v in BASE]  # beyond the base (3 seed sds)
    b = [v + 0.0022 for v in BASE]  # beyond the base too, and above a by 1.4 of a's seed sds: within a's noise
    runs = _runs({"base": BASE, "+ mixup (alpha 0.2)": a, "+ EMA of weights (0.99)": b,
                  recipes.COMBINED_ARM: [v + 0.0024 for v in BASE]})  # above a by 1.8 seed sds: within too
    assert recipes.kept_components(runs) == ["mixup (alpha 0.2)", "EMA of weights (0.99)"]
    chosen, steps = recipes.choose_arm(runs)
    assert chosen == "+ mixup (alpha 0.2)"  # the old rule took the highest mean, the combination
    assert [(d.option, d.simpler, d.kept) for d in steps] == [
        ("+ mixup (alpha 0.2)", "base", True), ("+ EMA of weights (0.99)", "+ mixup (alpha 0.2)", False),
        (recipes.COMBINED_ARM, "+ mixup (alpha 0.2)", False)]
    runs = _runs({"base": BASE, "+ mixup (alpha 0.2)": a, "+ EMA of weights (0.99)": b,
                  recipes.COMBINED_ARM: [v + 0.0030 for v in BASE]})  # above a by 3 seed sds
    assert recipes.choose_arm(runs)[0] == recipes.COMBINED_ARM


def test_tta_and_ensemble_are_kept_only_beyond_the_noise():
    without = pd.Series(BASE, index=["s0", "s1", "s2"])
    assert not beyond_noise("TTA", without + 0.0007, "no TTA", without).kept  # 1.4 seed sds: the one-sd rule kept it
    assert beyond_noise("TTA", without + 0.0012, "no TTA", without).kept
    singles = pd.DataFrame({"val_auc": BASE + [v + 0.0002 for v in BASE]},
                           index=pd.Index(["seed0", "seed1", "seed2", "seed3", "seed4", "seed5"], name="model"))
    sd = singles.val_auc.std(ddof=1)

    def ensembles(gain: float) -> pd.DataFrame:
        return pd.DataFrame({"val_auc": [np.mean(BASE) + gain, np.mean(BASE) + 0.0002 + gain],
                             "members": ["seed0 seed1 seed2", "seed3 seed4 seed5"]},
                            index=pd.Index(["ensemble a", "ensemble b"], name="model"))

    small = recipes.ensemble_decision(ensembles(1.5 * sd), singles)  # 1.5 seed sds of the single runs
    assert small.gain == pytest.approx(1.5 * sd) and small.noise == pytest.approx(2 * sd) and small.pairs == 6
    assert not small.kept
    assert recipes.ensemble_decision(ensembles(2 * sd + 0.0001), singles).kept


def _result(**choices) -> recipes.SearchResult:
    runs = _runs({"base": BASE, "+ warm-up (1 epoch)": [v + 0.0007 for v in BASE]})  # 1.4 seed sds
    components = recipes.arm_table(runs.assign(test_auc=0.97, test_acc=0.9))
    chosen, steps = recipes.choose_arm(runs)
    without = pd.Series(BASE)
    tta = beyond_noise("TTA", without + 0.0007, "no TTA", without)  # 1.4 seed sds
    ens = beyond_noise("seed ensemble", without + 0.0001, "single runs", without)
    singles = pd.DataFrame({"val_auc": BASE, "test_auc": [0.97, 0.971, 0.969]}, index=["seed0", "seed1", "seed2"])
    return recipes.SearchResult(
        components, recipes.kept_components(runs), chosen, TrainConfig(model="small_cnn"), tta.gain, tta.kept,
        singles, singles, ens.gain, ens.kept, pd.DataFrame({"test_auc": [0.96], "test_acc_val_threshold": [0.9]}),
        pd.DataFrame(), [None] * 3, [{}] * 3, runs.assign(test_auc=0.97), [], component_decisions=recipes.component_decisions(runs),
        arm_decisions=steps, tta_decision=tta, ensemble_decision=ens, **choices)


def test_saved_decisions_record_the_rule_the_gain_and_the_noise(tmp_path):
    result = _result()
    decisions = result.decisions()
    assert decisions["chosen_arm"] == "base" and decisions["tta"] is False and decisions["ensemble"] is False
    assert decisions["rule"] == RULES[SEED_NOISE] and "two seed sds" in decisions["rule"]
    tta = decisions["evidence"]["tta"]
    assert tta["gain"] == pytest.approx(0.0007) and tta["noise"] == pytest.approx(0.0010) and not tta["kept"]
    (component,) = decisions["evidence"]["components"]
    assert component["option"] == "+ warm-up (1 epoch)" and component["noise_basis"] == SEED_NOISE
    path = tmp_path / "06_decisions.json"
    path.write_text(json.dumps(decisions))
    assert final_model.load_decisions(path)["chosen_arm"] == "base"  # the keys best.py needs are all there
    rows = "\n".join(decision_rows(decisions))
    assert "| + warm-up (1 epoch) | base | +0.00070 | 0.00100 | 3 | no |" in rows and "| TTA | no TTA |" in rows
    assert decision_rows({k: v for k, v in decisions.items() if k not in ("rule", "evidence")}) == []


def test_06_reading_states_the_rule_not_any_gain():
    result = _result()
    goal = pd.DataFrame({"mean": [0.97, 0.9], "sd": [0.001, 0.01], "ci_low": [0.96, 0.88], "ci_high": [0.98, 0.92],
                         "goal": [0.985, 0.92], "goal_met": [False, False]}, index=["test_auc", "test_acc_val_threshold"])
    text = "\n".join(best.search_findings(result, goal, []))
    assert "any positive change" not in text and "any gain" not in text
    assert "two seed sds" in text and "warm-up (1 epoch) (+0.00070, within the noise)" in text
    assert "against the noise of 0.00100, two seed sds of the base): none." in text
    assert "**Chosen recipe:** base (the simplest candidate" in text
    assert ("**TTA** not kept (+0.0007 val AUC against a noise of 0.0010 (2 x the seed sd of no TTA, 3 pairs): "
            "within the noise)") in text


def test_06_reading_states_two_seed_sds_when_no_component_was_tried():
    result = _result()
    result.component_decisions = []
    goal = pd.DataFrame({"mean": [0.97, 0.9], "sd": [0.001, 0.01], "ci_low": [0.96, 0.88], "ci_high": [0.98, 0.92],
                         "goal": [0.985, 0.92], "goal_met": [False, False]}, index=["test_auc", "test_acc_val_threshold"])
    text = "\n".join(best.search_findings(result, goal, []))
    assert "against the noise of 0.00100, two seed sds of the base): none. Not kept: none." in text


def _shift_table(gains: dict[str, list[float]], failed: tuple[str, ...] = ()) -> pd.DataFrame:
    none = [0.958, 0.969, 0.954, 0.954, 0.985, 0.977, 0.962, 0.966]
    rows = [{"shift": f"shift {i}", "method": "none", "acc": v, "error": ""} for i, v in enumerate(none)]
    for method, gain in gains.items():
        rows += [{"shift": f"shift {i}", "method": method, "acc": v + g, "error": ""} for i, (v, g) in enumerate(zip(none, gain))]
    rows += [{"shift": "shift 0", "method": m, "acc": np.nan, "error": "singular"} for m in failed]
    return pd.DataFrame(rows)


def test_07_keeps_no_adaptation_for_an_advantage_within_the_noise():
    noisy = [0.021, 0.010, 0.033, 0.018, 0.002, 0.006, 0.025, 0.0]  # mean +0.0144, sd of the differences 0.0117
    assert np.std(noisy, ddof=1) < np.mean(noisy) < 2 * np.std(noisy, ddof=1)  # the one-sd rule adapted
    table = _shift_table({"AdaBN": noisy})
    means = table.groupby("method").acc.mean()
    assert means.idxmax() == "AdaBN"  # the old rule: the best mean
    chosen, (decision,) = method_choice(table, "acc")
    assert chosen == "none" and not decision.kept
    assert decision.noise_basis == PAIRED_NOISE and decision.pairs == 8
    assert decision.gain == pytest.approx(np.mean(noisy)) and decision.noise == pytest.approx(2 * np.std(noisy, ddof=1))
    text = dataset_shift.method_choice_findings(chosen, [decision])
    assert "**none** (no adaptation) is kept" in text and "larger than two sds of those paired differences" in text
    assert "AdaBN against none: +0.01 acc against a noise of 0.02 (2 x the sd of the paired differences, 8 pairs): within the noise" in text


def test_07_adapts_when_a_method_beats_none_beyond_the_noise_and_skips_failed_methods():
    steady = [0.008, 0.010, 0.012, 0.009, 0.011, 0.010, 0.009, 0.011]  # mean +0.01, sd 0.0013
    table = _shift_table({"prior correction (EM)": steady, "AdaBN": [g + 0.001 for g in steady],
                          "prior correction (BBSE)": [0.05] * 8}, failed=("prior correction (BBSE)",))
    table = table[~((table.method == "prior correction (BBSE)") & (table.error == "") & (table["shift"] == "shift 0"))]
    chosen, decisions = method_choice(table, "acc")
    # AdaBN is higher than EM, but by a constant 0.001: paired, that is beyond the noise of their differences
    assert chosen == "AdaBN"
    assert [(d.option, d.simpler, d.kept) for d in decisions] == [("prior correction (EM)", "none", True),
                                                                  ("AdaBN", "prior correction (EM)", True)]
    chosen, decisions = method_choice(_shift_table({"prior correction (EM)": steady, "AdaBN": [g + 0.001 + (-1) ** i * 0.0007
                                                                                                for i, g in enumerate(steady)]}), "acc")
    assert chosen == "prior correction (EM)"  # AdaBN's extra 0.001 is 1.3 sds of its differences: inside the noise now
    (step,) = [d for d in decisions if d.option == "AdaBN"]
    assert step.simpler == "prior correction (EM)" and step.noise / 2 < step.gain < step.noise


def test_choose_simplest_needs_a_candidate():
    with pytest.raises(ValueError):
        choose_simplest([], {})
    assert choose_simplest(["only"], {"only": [1.0, 2.0]}) == ("only", [])
