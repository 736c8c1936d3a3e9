"""Notebook 02 (scratch against transfer): its setup and its findings."""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

import pandas as pd

from pneumolib.config import MODEL_NAMES, TrainConfig
from pneumolib.experiments.leaderboard import PUBLISHED
from pneumolib.experiments.studies import ArmResults
from pneumolib.models import build_model, count_parameters

from .. import narrative, nbtools


NOTEBOOK = "02_transfer"  # the notebook this companion serves (its parameters cell holds the defaults)


class Setup(NamedTuple):
    session: nbtools.NotebookSession
    seeds: list[int]
    recipe: TrainConfig  # the scratch recipe
    transfer: TrainConfig  # ImageNet weights, fine-tuned end to end at transfer_lr
    two_stage: TrainConfig  # the same, after head_epochs of the head alone
    ssl_epochs: int


def setup(*, smoke: bool, seed: int, seeds: list[int], device: str, data_dir: str, image_size: int, model: str,
          baseline: str, epochs: int, batch_size: int, lr: float, transfer_lr: float, head_epochs: int,
          ssl_epochs: int, progress: bool) -> Setup:
    """Check 02's parameters, start the session, build the three recipes (TrainConfig checks their
    values) and print the profile line. The smoke profile keeps one seed and two epochs."""
    session = nbtools.start(smoke=smoke, seed=seed, device=device, data_dir=data_dir, image_size=image_size,
                            progress=progress, notebook=NOTEBOOK, parameters=locals())
    seeds = nbtools.check_seeds(seeds)
    nbtools.check_choice("model", model, [m for m in MODEL_NAMES if m.startswith("resnet")],
                         "a ResNet, for a transfer comparison")
    nbtools.check_choice("baseline", baseline, MODEL_NAMES)
    recipe = TrainConfig(model=model, epochs=epochs, batch_size=batch_size, lr=lr, device=str(session.device))
    transfer = replace(recipe, pretrained="imagenet", lr=transfer_lr)
    two_stage = replace(transfer, head_epochs=head_epochs)  # TrainConfig checks head_epochs against epochs
    nbtools.check_min_int("ssl_epochs", ssl_epochs, 1)
    if session.smoke:  # same code path, seconds of work: one seed, two epochs, a small subset
        seeds, recipe, transfer = seeds[:1], replace(recipe, epochs=2), replace(transfer, epochs=2)
        two_stage, ssl_epochs = replace(transfer, head_epochs=1), 1
    print(f"profile: {session.profile}; seeds {seeds}; {recipe.epochs} epochs")
    return Setup(session, seeds, recipe, transfer, two_stage, ssl_epochs)


def findings(results: ArmResults, differences: pd.DataFrame, *, model: str, baseline: str, other: str, first: int,
             input_px: int) -> str:
    """02's reading of its results as Markdown bullets: the small CNN against the scratch ResNet over
    seeds, the published numbers, val against test, and ``other`` (the transfer arm compared) against
    the scratch ResNet, paired on seed ``first`` (``differences``) and over seeds. ``input_px``: the
    size of the images the models saw."""
    scratch = f"{model} scratch"
    ran = results.table[results.table.status == "ran"]
    test_auc = ran.pivot(index="seed", columns="arm", values="test_auc")
    val_auc = ran.pivot(index="seed", columns="arm", values="val_auc")
    parameters = {name: count_parameters(build_model(name)) for name in (model, baseline)}
    published_name, _, published_auc, published_acc, _ = PUBLISHED[0]
    other_row = differences.set_index("a").loc[other]
    lines = [
        f"- {narrative.seed_verdict(f'{baseline} scratch', test_auc[f'{baseline} scratch'], scratch, test_auc[scratch])} "
        f"The small CNN has {parameters[baseline]:,} parameters, the {model} {parameters[model]:,}."
        + (" At this size the standard ResNet stem and its four stages shrink the image to 1×1 (notebook 04)."
           if input_px <= 32 else ""),
        f"- {published_name} reports test AUC {published_auc} and ACC {published_acc} (from the paper); our {scratch} "
        f"gives test AUC {narrative.mean_sd(test_auc[scratch])} and the {baseline} "
        f"{narrative.mean_sd(test_auc[f'{baseline} scratch'])}.",
    ]
    if (val_auc > test_auc).all().all():
        lines.append(f"- Val AUC is higher than test AUC for every arm and seed (val {val_auc.min().min():.4f}-"
                     f"{val_auc.max().max():.4f}, test {test_auc.min().min():.4f}-{test_auc.max().max():.4f}): partly "
                     "because test is a different draw of patients, partly because each run's epoch was picked on val "
                     "(notebook 03 shows what this does to thresholds).")
    lines.append(f"- {other} against {scratch}, seed {first}: "
                 + narrative.ci_verdict(other, scratch, other_row['diff'], other_row['low'], other_row['high'],
                                        metric=f"seed-{first} test AUC")
                 + f" Over seeds: {narrative.seed_verdict(other, test_auc[other], scratch, test_auc[scratch])}")
    if results.skipped:
        lines.append("- Without network the ImageNet arms are skipped; the in-domain SSL arm is the transfer comparison "
                     "that runs offline. Run on a machine with the ImageNet weights to fill those rows.")
    return "\n".join(lines)
