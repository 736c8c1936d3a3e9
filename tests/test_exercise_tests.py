"""The exercises' tests, run in this process as the grader runs them after a student's
cell: the course's solution passes visible and hidden tests, and trivial answers (zeros, constants,
the identity, a step left out, the non-nested shortcut) fail the visible tests already, so a student
learns from them and a trivial submission scores 0 on each of these exercises."""

from __future__ import annotations

import nbformat
import pytest

from pneumocourse.notebooks import notebook_paths
from pneumocourse.teaching.exercises import HIDDEN_BEGIN, nbgrader_meta

MECHANICS = ("ex02_residual_block", "ex02_epoch", "ex05_random_shift", "ex05_nested_cv", "ex06_keep_component")

_BLOCK_PARTS = """
import torch
from torch import nn


class ResidualBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(out_channels))

    def forward(self, x):
"""
_EPOCH = """
import torch


def train_one_epoch(model, batches, loss_fn, optimizer):
{epoch}


def choose_epoch(val_aucs):
{choose}
"""
_STEP = """    model.train()
    total = 0.0
    for x, y in batches:
        loss = loss_fn(model(x), y)
{zero}        loss.backward()
        optimizer.step()
        total += loss.item() * len(x)
    return total / 40"""
_GOOD_CHOOSE = "    import numpy as np\n    return int(np.argmax(val_aucs)) + 1"

TRIVIAL = {
    "ex02_residual_block": {
        "identity": _BLOCK_PARTS + "        return x\n",
        "zeros": _BLOCK_PARTS + "        return torch.zeros(x.shape[0], self.conv1.out_channels, *self.conv1(x).shape[2:])\n",
        "no shortcut": _BLOCK_PARTS + "        return torch.relu(self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))\n",
        "torchvision's block": "from torchvision.models.resnet import BasicBlock\n\n\nclass ResidualBlock(BasicBlock):\n"
                               "    pass\n",
    },
    "ex02_epoch": {
        "no training": _EPOCH.format(epoch="    return 0.7", choose=_GOOD_CHOOSE),
        "training mode, no step": _EPOCH.format(epoch="    model.train()\n    return 0.7", choose=_GOOD_CHOOSE),
        "never in training mode": _EPOCH.format(epoch=_STEP.format(zero="        optimizer.zero_grad()\n")
                                                .replace("    model.train()\n", ""), choose=_GOOD_CHOOSE),
        "the first epoch": _EPOCH.format(epoch=_STEP.format(zero="        optimizer.zero_grad()\n"), choose="    return 1"),
        "counting from 0": _EPOCH.format(epoch=_STEP.format(zero="        optimizer.zero_grad()\n"),
                                         choose="    import numpy as np\n    return int(np.argmax(val_aucs))"),
    },
    "ex05_random_shift": {
        "identity": "def random_shift(images, max_shift, generator=None):\n    return images.clone()\n",
        "zeros": "import torch\n\n\ndef random_shift(images, max_shift, generator=None):\n    return torch.zeros_like(images)\n",
        "a flip": "def random_shift(images, max_shift, generator=None):\n    return images.flip(-1)\n",
        "one shift for the batch": (
            "import torch\n\n\ndef random_shift(images, max_shift, generator=None):\n"
            "    dx = int(torch.randint(-max_shift, max_shift + 1, (1,), generator=generator))\n"
            "    out = torch.zeros_like(images)\n"
            "    if dx >= 0:\n        out[..., dx:] = images[..., :images.shape[-1] - dx]\n"
            "    else:\n        out[..., :dx] = images[..., -dx:]\n"
            "    return out\n"),
    },
    "ex05_nested_cv": {
        "zeros": "def nested_cv(folds, candidates, score):\n    return [(candidates[0], 0.0)] * len(set(folds))\n",
        "tuned on every fold (not nested)": (
            "import numpy as np\n\n\ndef nested_cv(folds, candidates, score):\n"
            "    folds = np.asarray(folds)\n    labels = sorted(set(folds.tolist()))\n"
            "    means = [np.mean([score(np.flatnonzero(folds != g), np.flatnonzero(folds == g), c) for g in labels])\n"
            "             for c in candidates]\n"
            "    chosen = candidates[int(np.argmax(means))]\n"
            "    return [(chosen, score(np.flatnonzero(folds != f), np.flatnonzero(folds == f), chosen)) for f in labels]\n"),
    },
    "ex06_keep_component": {
        "always": "def keep_component(base, arm):\n    return True\n",
        "never": "def keep_component(base, arm):\n    return False\n",
        "any gain counts": ("import numpy as np\n\n\ndef keep_component(base, arm):\n"
                            "    return bool(np.mean(np.asarray(arm) - np.asarray(base)) > 0)\n"),
    },
}


def _cells(grade_id: str) -> tuple[str, str]:
    """The solution cell and the test cell of an exercise, from its course notebook."""
    path = notebook_paths([grade_id[2:4]])[0]  # exNN_...: the notebook's number
    cells = {nbgrader_meta(c).get("grade_id"): c.source for c in nbformat.read(path, as_version=4).cells}
    return cells[grade_id], cells[f"{grade_id}_tests"]


def _run(solution: str, tests: str) -> None:
    namespace: dict = {}
    exec(compile(solution, "<student cell>", "exec"), namespace)
    exec(compile(tests, "<test cell>", "exec"), namespace)


@pytest.mark.parametrize("grade_id", sorted(MECHANICS))
def test_the_course_solution_passes_visible_and_hidden_tests(grade_id):
    _run(*_cells(grade_id))


@pytest.mark.parametrize("grade_id, answer", [(g, a) for g in sorted(TRIVIAL) for a in TRIVIAL[g]])
def test_a_trivial_answer_fails_the_visible_tests(grade_id, answer):
    _, tests = _cells(grade_id)
    visible = tests.split(HIDDEN_BEGIN, 1)[0]
    with pytest.raises(AssertionError):
        _run(TRIVIAL[grade_id][answer], visible)


def test_every_mechanics_exercise_has_trivial_answers():
    assert set(TRIVIAL) == set(MECHANICS)


# --- the visible checks that teach: every wrong answer of tests/exercise_wrong_answers.py fails the
# visible part of its exercise's test cell, with the message a student can act on -----------------

from exercise_wrong_answers import EXPECTED_MESSAGE, WRONG  # noqa: E402

# an exercise whose solution builds on the notebook's previous exercise: that exercise's course solution first
BUILDS_ON = {"ex07_em_prior": "ex07_prior_correction"}


def _visible(grade_id: str) -> str:
    return _cells(grade_id)[1].split(HIDDEN_BEGIN, 1)[0]


def _with_earlier(grade_id: str, answer: str) -> str:
    earlier = BUILDS_ON.get(grade_id)
    return (_cells(earlier)[0] + "\n\n" + answer) if earlier else answer


@pytest.mark.parametrize("grade_id", sorted(WRONG))
def test_the_course_solution_passes_the_visible_check(grade_id):
    _run(_with_earlier(grade_id, _cells(grade_id)[0]), _visible(grade_id))


@pytest.mark.parametrize("grade_id, answer", [(g, a) for g in sorted(WRONG) for a in WRONG[g]])
def test_a_wrong_answer_fails_the_visible_check_and_says_why(grade_id, answer):
    with pytest.raises(AssertionError) as failure:
        _run(_with_earlier(grade_id, WRONG[grade_id][answer]), _visible(grade_id))
    assert EXPECTED_MESSAGE[grade_id][answer] in str(failure.value), str(failure.value)


def test_the_trivial_answers_students_found_are_among_them():
    assert len(WRONG) == 11 and all(len(answers) >= 3 for answers in WRONG.values())
