"""The hidden verdicts of the auto-graded exercises, judged in the grader's process.

Each exercise has a :class:`Verdict`: ``ask`` runs in the student's kernel (through
:func:`~pneumocourse.teaching.hand_in.hand_in`) and returns the student's answers to the hidden
cases as plain data; ``judge`` runs where no student code runs, draws the same cases from the
grading's seed itself, computes what is expected with the library's reference implementations,
and raises :class:`Wrong` with the reason when an answer is wrong. The cases change with the seed
(one per grading, drawn by the grader), so a table of answers to the course's cases earns nothing.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from .checks import arrays_close, close
from .hand_in import outcome


class Wrong(AssertionError):
    """An answer that the judge refuses, with the reason."""


@dataclass(frozen=True)
class Verdict:
    """How one exercise's hidden cases are asked (in the kernel) and judged (in the grader)."""

    ask: Callable[[Sequence[Any], int], dict]
    judge: Callable[[dict, int], None]


VERDICTS: dict[str, Verdict] = {}


# --- reading answers (the judge's side: plain JSON data only) ----------------------------------------

def _shown(answer: Any) -> str:
    if isinstance(answer, dict) and "raised" in answer:
        return f"raised {answer['raised'][0]}"
    if isinstance(answer, dict) and "type" in answer:
        return f"returned a {answer['type']}"
    if isinstance(answer, dict) and answer:
        return f"returned a {next(iter(answer))}"
    return f"returned {type(answer).__name__}"


def number(answer: Any, what: str) -> float:
    """A float or int answer as a float."""
    if isinstance(answer, dict) and set(answer) == {"int"} and type(answer["int"]) is int:
        return float(answer["int"])
    if isinstance(answer, dict) and set(answer) == {"float"}:
        value = answer["float"]
        if type(value) in (int, float) or value in ("nan", "inf", "-inf"):
            return float(value)
    raise Wrong(f"{what}: a float expected, {_shown(answer)}")


def integer(answer: Any, what: str) -> int:
    if isinstance(answer, dict) and set(answer) == {"int"} and type(answer["int"]) is int:
        return answer["int"]
    raise Wrong(f"{what}: an int expected, {_shown(answer)}")


def boolean(answer: Any, what: str) -> bool:
    if type(answer) is bool:
        return answer
    raise Wrong(f"{what}: True or False expected, {_shown(answer)}")


def array(answer: Any, what: str) -> np.ndarray:
    if (isinstance(answer, dict) and set(answer) == {"array", "shape"} and isinstance(answer["array"], list)
            and isinstance(answer["shape"], list) and all(type(n) is int and n >= 0 for n in answer["shape"])
            and math.prod(answer["shape"]) == len(answer["array"])
            and all(type(v) in (int, float) or v in ("nan", "inf", "-inf") for v in answer["array"])):
        try:
            return np.asarray(answer["array"], dtype=np.float64).reshape(answer["shape"])
        except (TypeError, ValueError):
            pass
    raise Wrong(f"{what}: an array expected, {_shown(answer)}")


def items(answer: Any, kind: str, what: str) -> list:
    """The elements of a tuple (``kind="tuple"``) or the list of a list answer."""
    if kind == "tuple" and isinstance(answer, dict) and set(answer) == {"tuple"} and isinstance(answer["tuple"], list):
        return answer["tuple"]
    if kind == "list" and isinstance(answer, list):
        return answer
    raise Wrong(f"{what}: a {kind} expected, {_shown(answer)}")


def fields(answer: Any, what: str) -> dict:
    """The named parts of an answer that a case returned as a dict (``{"dict": [[name, value], ...]}``)."""
    if isinstance(answer, dict) and isinstance(answer.get("dict"), list):
        return {pair[0]: pair[1] for pair in answer["dict"] if isinstance(pair, list) and len(pair) == 2 and type(pair[0]) is str}
    raise Wrong(f"{what}: {_shown(answer)}")


def raised(answer: Any, error: str, what: str) -> None:
    if not (isinstance(answer, dict) and isinstance(answer.get("raised"), list) and error in answer["raised"]):
        raise Wrong(f"{what}: {error} expected, {_shown(answer)}")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise Wrong(message)


def _rng(seed: int, exercise: int) -> np.random.Generator:
    return np.random.default_rng([seed, exercise])


def _labels(rng: np.random.Generator, n: int, share: float) -> np.ndarray:
    labels = (rng.random(n) < share).astype(np.int64)
    labels[:2] = [0, 1]  # both classes, always
    return rng.permutation(labels).reshape(-1, 1)


# --- 01 ------------------------------------------------------------------------------------------------

def _weight_cases(seed):
    rng = _rng(seed, 1)
    cases = [_labels(rng, int(rng.integers(40, 400)), float(rng.uniform(0.2, 0.8))) for _ in range(4)]
    square = _labels(rng, 24, 0.4).reshape(4, 6)  # labels of any shape: count them, not len()
    return cases + [np.array([[1], [0], [0]]), square], [np.ones(5, dtype=np.int64), np.zeros(3, dtype=np.int64)]


def _ask_weight(objects, seed):
    (weight,) = objects
    cases, bad = _weight_cases(seed)
    return {"values": [outcome(weight, c) for c in cases], "bad": [outcome(weight, b) for b in bad]}


def _judge_weight(answers, seed):
    from pneumolib.data import pos_weight

    cases, bad = _weight_cases(seed)
    for i, labels in enumerate(cases):
        got = number(answers["values"][i], f"case {i}")
        _require(close(got, pos_weight(labels), 1e-9), f"case {i} ({int(labels.sum())} pneumonia of {len(labels)}): "
                                                         f"{pos_weight(labels):.6g} expected, got {got:.6g}")
    for answer in answers["bad"]:
        raised(answer, "ValueError", "labels with one class only")


VERDICTS["ex01_class_weight_tests"] = Verdict(_ask_weight, _judge_weight)


def _image_cases(seed):
    rng = _rng(seed, 2)
    pool = rng.integers(0, 256, size=(60, 6, 6), dtype=np.uint8)
    a = pool[rng.integers(0, 40, 30)]  # repeats within a
    b = pool[rng.integers(25, 60, 30)]
    shuffled = np.stack([rng.permutation(i.ravel()).reshape(i.shape) for i in a[:10]])  # same pixels, other images
    flipped = a[10:20, ::-1]
    return [(a, b), (b, a), (a, a[:0]), (a, pool[40:]), (a, np.concatenate([shuffled, flipped, a[25:27]]))]


def _ask_images(objects, seed):
    (shared,) = objects
    return {"values": [outcome(shared, a, b) for a, b in _image_cases(seed)]}


def _judge_images(answers, seed):
    def digests(images):
        return {hashlib.sha1(np.ascontiguousarray(i).tobytes()).hexdigest() for i in images}

    for i, (a, b) in enumerate(_image_cases(seed)):
        expected = len(digests(a) & digests(b))
        got = integer(answers["values"][i], f"case {i}")
        _require(got == expected, f"case {i}: {expected} distinct images of images_a are in images_b, got {got} "
                                  "(an image present twice in images_a counts once)")


VERDICTS["ex01_shared_images_tests"] = Verdict(_ask_images, _judge_images)

_METRIC_KEYS = ("acc", "sensitivity", "specificity", "balanced_accuracy")


def _baseline_cases(seed):
    rng = _rng(seed, 3)
    return [_labels(rng, int(rng.integers(20, 700)), float(rng.uniform(0.1, 0.9))) for _ in range(3)]


def _ask_baseline(objects, seed):
    (metrics,) = objects
    return {"values": [outcome(metrics, labels) for labels in _baseline_cases(seed)]}


def _judge_baseline(answers, seed):
    from pneumolib.evaluation.metrics import binary_metrics

    for i, labels in enumerate(_baseline_cases(seed)):
        answer = answers["values"][i]
        _require(isinstance(answer, dict) and isinstance(answer.get("dict"), list), f"case {i}: a dict expected, {_shown(answer)}")
        got = {k: v for k, v in answer["dict"] if type(k) is str}
        _require(sorted(got) == sorted(_METRIC_KEYS), f"case {i}: the keys must be {sorted(_METRIC_KEYS)}, got {sorted(got)}")
        expected = binary_metrics(labels, np.ones(len(labels)))
        for key in _METRIC_KEYS:
            value = number(got[key], f"case {i}, {key}")
            _require(close(value, expected[key], 1e-9), f"case {i}: {key} {expected[key]:.6g} expected, got {value:.6g}")


VERDICTS["ex01_majority_baseline_tests"] = Verdict(_ask_baseline, _judge_baseline)


# --- 02 ------------------------------------------------------------------------------------------------

def _conv_cases(seed):
    import torch
    from torchvision.models import resnet18

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        resnet_conv = resnet18(weights=None).conv1
        biased = torch.nn.Conv2d(3, 4, kernel_size=3, stride=1, padding=2, dilation=2, bias=True)
        x = torch.rand(3, 1, 32, 32)
    return [resnet_conv, biased], x


def _ask_conv(objects, seed):
    (convert,) = objects
    convs, x = _conv_cases(seed)
    answers = []
    for conv in convs:
        def run(conv=conv):
            single = convert(conv)
            return {"exact_conv2d": type(single).__name__ == "Conv2d" and type(single).__module__.startswith("torch"),
                    "has_bias": getattr(single, "bias", None) is not None, "out": single(x), "weight_after": conv.weight}
        answer = outcome(run)
        answers.append(answer)
    return {"convs": answers}


def _judge_conv(answers, seed):
    import torch

    convs, x = _conv_cases(seed)
    for i, conv in enumerate(convs):
        got = fields(answers["convs"][i], f"conv {i}: conv_to_one_channel")
        _require(got.get("exact_conv2d") is True, f"conv {i}: return a torch.nn.Conv2d")
        _require(got.get("has_bias") is (conv.bias is not None), f"conv {i}: keep the bias (or its absence)")
        with torch.no_grad():
            expected = conv(x.repeat(1, 3, 1, 1)).double().numpy()
        _require(arrays_close(array(got.get("out"), f"conv {i} output"), expected, 1e-4),
                 f"conv {i}: on a 1-channel image the new conv must give what the old one gives on the image repeated "
                 "three times (sum the weights over the input channels)")
        _require(arrays_close(array(got.get("weight_after"), f"conv {i} weight"), conv.weight.detach().double().numpy(), 0.0),
                 f"conv {i}: the conv passed in was changed in place")


VERDICTS["ex02_one_channel_conv_tests"] = Verdict(_ask_conv, _judge_conv)


def torchvision_block(in_channels: int, out_channels: int, stride: int):
    """torchvision's BasicBlock with random batch-norm statistics, so that every part matters."""
    import torch
    from torch import nn
    from torchvision.models.resnet import BasicBlock

    shortcut = None
    if stride != 1 or in_channels != out_channels:
        shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels))
    block = BasicBlock(in_channels, out_channels, stride=stride, downsample=shortcut)
    with torch.no_grad():
        for module in block.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5), module.bias.normal_(0, 0.5)
                module.running_mean.normal_(0, 0.5), module.running_var.uniform_(0.5, 2.0)
    return block


_BLOCK_SHAPES = ((16, 16, 1), (8, 24, 1), (8, 8, 2))


def _block_cases(seed):
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return [(shape, torchvision_block(*shape), torch.randn(3, shape[0], 10, 10)) for shape in _BLOCK_SHAPES]


def _block_run(block, x):
    """Outputs, input gradients and the state after each mode (running statistics, then batch statistics)."""
    runs = []
    for training in (False, True):
        block.train(training)
        xin = x.clone().requires_grad_()
        out = block(xin)
        (out * out).sum().backward()
        runs.append({"out": out, "grad": xin.grad, "state": [v.float() for v in block.state_dict().values()]})
    return runs


def _ask_block(objects, seed):
    (block_class,) = objects
    answers = []
    for shape, theirs, x in _block_cases(seed):
        def run(shape=shape, theirs=theirs, x=x):
            mine = block_class(*shape)
            shortcut = getattr(mine, "downsample", None) is not None
            mine.load_state_dict(theirs.state_dict())
            return {"shortcut": shortcut, "runs": _block_run(mine, x)}
        answers.append(outcome(run))
    return {"blocks": answers}


def _judge_block(answers, seed):
    for (shape, theirs, x), answer in zip(_block_cases(seed), answers["blocks"]):
        got = fields(answer, f"ResidualBlock{shape} (built, given torchvision's weights, run forward and backward)")
        _require(got.get("shortcut") is (theirs.downsample is not None),
                 f"ResidualBlock{shape}: a shortcut conv (downsample) only when the shape changes")
        runs = items(got.get("runs"), "list", f"ResidualBlock{shape}")
        for mode, ours, mine in zip(("eval", "train"), _block_run(theirs, x), runs):
            mine = fields(mine, f"ResidualBlock{shape} in {mode} mode")
            _require(arrays_close(array(mine.get("out"), "output"), ours["out"].detach().double().numpy(), 1e-5),
                     f"ResidualBlock{shape} in {mode} mode: the output differs from torchvision's BasicBlock")
            _require(arrays_close(array(mine.get("grad"), "gradient"), ours["grad"].double().numpy(), 1e-4),
                     f"ResidualBlock{shape} in {mode} mode: the gradients differ")
            state = items(mine.get("state"), "list", "state")
            _require(len(state) == len(ours["state"]) and all(
                arrays_close(array(s, "state"), o.detach().double().numpy(), 1e-5) for s, o in zip(state, ours["state"])),
                f"ResidualBlock{shape} in {mode} mode: the running statistics differ")


VERDICTS["ex02_residual_block_tests"] = Verdict(_ask_block, _judge_block)


def _epoch_problem(seed):
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
        x = torch.randn(40, 6)
    y = (x[:, :1] + 0.5 * x[:, 1:2] > 0).float()
    return net.eval(), [(x[i:i + 16], y[i:i + 16]) for i in range(0, 40, 16)]


def _epoch_cases(seed):
    rng = _rng(seed, 6)
    curves = [[0.8, float("nan"), 0.85, 0.85], [float("nan"), 0.5], [0.7]]
    for _ in range(4):
        curve = np.round(rng.uniform(0.8, 0.95, int(rng.integers(2, 9))), 2).tolist()
        curve[int(rng.integers(0, len(curve)))] = float("nan")
        curves.append(curve)
    return (0.0, 0.9), curves


def _reference_epoch(net, batches, loss_fn, optimizer) -> float:
    net.train()
    total = 0.0
    for x, y in batches:
        loss = loss_fn(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * x.shape[0]
    return total / sum(x.shape[0] for x, _ in batches)


def _epochs(train, seed, momentum):
    import torch

    net, batches = _epoch_problem(seed)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05, momentum=momentum)
    losses = [train(net, batches, torch.nn.BCEWithLogitsLoss(), optimizer) for _ in range(2)]
    return {"losses": losses, "state": [v.float() for v in net.state_dict().values()]}


def _ask_epoch(objects, seed):
    train, choose = objects
    momenta, curves = _epoch_cases(seed)
    return {"training": [outcome(_epochs, train, seed, m) for m in momenta],
            "epochs": [outcome(choose, np.array(c) if i % 2 else c) for i, c in enumerate(curves)]}


def _judge_epoch(answers, seed):
    momenta, curves = _epoch_cases(seed)
    for momentum, answer in zip(momenta, answers["training"]):
        got = fields(answer, f"train_one_epoch with momentum {momentum}")
        ours = _epochs(_reference_epoch, seed, momentum)
        losses = [number(v, "train_one_epoch") for v in items(got.get("losses"), "list", "losses")]
        _require(len(losses) == 2 and all(abs(a - b) < 1e-5 for a, b in zip(losses, ours["losses"])),
                 f"momentum {momentum}: mean loss per image {ours['losses']} expected, got {losses} (zero the gradients "
                 "before each backward pass, and weigh each batch's loss by its size)")
        state = items(got.get("state"), "list", "state")
        _require(len(state) == len(ours["state"]) and all(
            arrays_close(array(s, "state"), o.double().numpy(), 1e-5) for s, o in zip(state, ours["state"])),
            f"momentum {momentum}: the weights after two epochs differ from the reference loop's")
    for curve, answer in zip(curves, answers["epochs"]):
        values = np.array(curve, dtype=np.float64)
        expected = int(np.nanargmax(values)) + 1
        got = integer(answer, f"choose_epoch({curve})")
        _require(got == expected, f"choose_epoch({curve}): epoch {expected} expected (counted from 1, nan skipped, the "
                                  f"earliest on a tie), got {got}")


VERDICTS["ex02_epoch_tests"] = Verdict(_ask_epoch, _judge_epoch)


# the student's 400 draws put each end of the 95% interval within about 0.001 (one sd) of where the
# judge's 5,000 draws put it (0.0004); mean +- sd, or fractions for percentiles, move an end by 0.007 or more.
# The judge allows 0.0045 (over 4 sds of the two together).
BOOTSTRAP_DRAWS, JUDGE_DRAWS, BOOTSTRAP_TOLERANCE = 400, 5_000, 0.0045


def _bootstrap_cases(seed):
    rng = _rng(seed, 7)
    y = rng.integers(0, 2, 400)
    shared = rng.random(400)  # both models see the same hard images: pairing narrows the interval
    a = (y * 0.3 + shared + 0.2 * rng.random(400)) / 1.5
    b = (y * 0.25 + shared + 0.2 * rng.random(400)) / 1.45
    small = (np.array([0, 0, 1, 1, 0, 1]), rng.random(6), rng.random(6))  # many resamples hold one class only
    return y, a, b, small


def _ask_bootstrap(objects, seed):
    (paired,) = objects
    y, a, b, (ys, as_, bs) = _bootstrap_cases(seed)
    return {"main": outcome(paired, y, a, b, n_boot=BOOTSTRAP_DRAWS, seed=1),
            "once": outcome(paired, y, a, b, n_boot=100, seed=4), "again": outcome(paired, y, a, b, n_boot=100, seed=4),
            "other": outcome(paired, y, a, b, n_boot=100, seed=5), "shorter": outcome(paired, y, a, b, n_boot=50, seed=4),
            "self": outcome(paired, y, a, a, n_boot=30, seed=2), "small": outcome(paired, ys, as_, bs, n_boot=100, seed=3)}


def _judge_bootstrap(answers, seed):
    from pneumolib.evaluation.metrics import paired_bootstrap_auc_diff

    y, a, b, (ys, as_, bs) = _bootstrap_cases(seed)

    def triple(answer, what):
        values = [number(v, what) for v in items(answer, "tuple", what)]
        _require(len(values) == 3, f"{what}: a tuple of 3 floats (diff, low, high) expected, got {len(values)}")
        return values

    diff, low, high = triple(answers["main"], "paired_auc_difference")
    ours = paired_bootstrap_auc_diff(y, a, b, n_boot=JUDGE_DRAWS, seed=1)
    _require(close(diff, ours["diff"], 1e-9), f"the AUC difference on all images is {ours['diff']:.6f}, got {diff:.6f}")
    _require(close(low, ours["low"], BOOTSTRAP_TOLERANCE) and close(high, ours["high"], BOOTSTRAP_TOLERANCE),
             f"the 95% interval should be near [{ours['low']:.4f}, {ours['high']:.4f}], got [{low:.4f}, {high:.4f}]: "
             "resample image indices with replacement, the same indices for both models, and take the 2.5th and 97.5th "
             "percentiles of the differences")
    once = triple(answers["once"], "again")
    _require(once == triple(answers["again"], "again"), "the same seed must give the same result")
    _require(once[1:] != triple(answers["other"], "another seed")[1:], "seeds 4 and 5 gave the same interval: use the seed argument")
    _require(once[1:] != triple(answers["shorter"], "n_boot=150")[1:], "n_boot 50 and 100 gave the same interval: use n_boot")
    _require(triple(answers["self"], "a model against itself") == [0.0, 0.0, 0.0],
             "a model against itself differs by exactly 0 on every resample when both are scored on the same images")
    small = triple(answers["small"], "6 images")
    _require(all(math.isfinite(v) for v in small), "6 images: resamples that hold one class only have no AUC; skip them")


VERDICTS["ex02_paired_bootstrap_tests"] = Verdict(_ask_bootstrap, _judge_bootstrap)


# --- 03 ------------------------------------------------------------------------------------------------

def _scored_cases(seed, exercise, sizes=(624, 400, 300)):
    rng = _rng(seed, exercise)
    cases = []
    for n in sizes:
        y = _labels(rng, n, float(rng.uniform(0.3, 0.7))).reshape(-1)
        p = np.clip(np.where(y == 1, rng.beta(4, 2, n), rng.beta(2, 4, n)), 0, 1)
        cases.append((y, p))
    return cases


def _youden_j(y, p, t):
    return float(((p >= t) & (y == 1)).sum() / (y == 1).sum() + ((p < t) & (y == 0)).sum() / (y == 0).sum() - 1)


def _youden_cases(seed):
    cases = _scored_cases(seed, 8)
    y, p = cases[-1]
    return cases + [(y, 1 - p)]  # pneumonia ranked below normal: no threshold beats J = 0, and inf is no answer


def _ask_youden(objects, seed):
    (youden,) = objects
    return {"values": [outcome(youden, y, p) for y, p in _youden_cases(seed)]}


def _judge_youden(answers, seed):
    from pneumolib.evaluation.thresholds import choose_threshold

    for i, (y, p) in enumerate(_youden_cases(seed)):
        t = number(answers["values"][i], f"case {i}")
        best = _youden_j(y, p, choose_threshold(y, p, "youden"))
        _require(math.isfinite(t) and _youden_j(y, p, t) >= best - 1e-12,
                 f"case {i}: the best J is {best:.4f}, your threshold {t:.4g} gives {_youden_j(y, p, t):.4f}")


VERDICTS["ex03_youden_tests"] = Verdict(_ask_youden, _judge_youden)


def _ece_cases(seed):
    edges = np.linspace(0, 1, 21)[1:-1]
    cases = []
    for y, p in _scored_cases(seed, 9, sizes=(624, 500)):
        p[:5], p[5:8] = 1.0, 0.0  # the ends belong to the first and last bins
        clear = np.abs(p[:, None] - edges[None, :]).min(axis=1) > 1e-9  # away from the inner bin edges
        cases.append((y[clear], p[clear]))
    return cases


def _ask_ece(objects, seed):
    (ece,) = objects
    return {"values": [[outcome(ece, y, p, bins) for bins in (10, 20)] for y, p in _ece_cases(seed)]}


def _judge_ece(answers, seed):
    from pneumolib.evaluation.calibration import expected_calibration_error

    for i, (y, p) in enumerate(_ece_cases(seed)):
        for bins, answer in zip((10, 20), answers["values"][i]):
            got, ours = number(answer, f"case {i}, {bins} bins"), expected_calibration_error(y, p, bins)
            _require(close(got, ours, 1e-9), f"case {i}, {bins} bins: ECE {ours:.6f} expected, got {got:.6f}")


VERDICTS["ex03_ece_tests"] = Verdict(_ask_ece, _judge_ece)


# --- 04 ------------------------------------------------------------------------------------------------

def _cam_cases(seed):
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                                    torch.nn.Conv2d(4, 8, 3, stride=2, padding=1), torch.nn.ReLU(),
                                    torch.nn.Flatten(), torch.nn.Linear(8 * 8 * 8, 1))  # weights that vary over the map
        x = torch.rand(24, 1, 16, 16)
    x[0] = 0.5  # a flat image: a flat map, all 0 after scaling (0 / (0 + 1e-7))
    # a model whose every map cell is positive on bright images: the minimum must be subtracted
    bright = torch.nn.Sequential(torch.nn.Conv2d(1, 2, kernel_size=2, stride=2), torch.nn.Flatten(),
                                 torch.nn.Linear(2 * 8 * 8, 1, bias=False))
    with torch.no_grad():
        bright[0].weight.copy_(torch.tensor([0.25, 0.0])[:, None, None, None].expand(2, 1, 2, 2))
        bright[0].bias.copy_(torch.tensor([0.0, 1.0]))
        bright[2].weight.copy_(torch.cat([torch.full((64,), 1 / 64), torch.full((64,), -1 / 128)])[None])
    return [(model.eval(), model[2], x), (bright.eval(), bright[0], 0.6 + 0.4 * x[:6])]


def _ask_cam(objects, seed):
    (grad_cam,) = objects
    def hooks(module):
        return any(getattr(module, name, None) for name in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks",
                                                             "_backward_pre_hooks"))
    answers = []
    for model, layer, x in _cam_cases(seed):
        maps = outcome(grad_cam, model, layer, x)
        answers.append({"maps": maps, "hooks_left": hooks(model) or hooks(layer)})
    return {"cases": answers}


def _cam_recipe(model, layer, x) -> np.ndarray:
    """The exercise's Grad-CAM, as its prompt defines it: channel weights = the gradient's mean over the
    map, ReLU of the weighted sum, each map scaled by its own min and max (+ 1e-7), resized bilinearly."""
    import torch
    from torch.nn import functional as F

    kept = {}
    handle = layer.register_forward_hook(lambda module, inputs, output: kept.__setitem__("a", output))
    try:
        x = x.clone().requires_grad_(True)
        logits = model(x).reshape(len(x), -1)[:, 0]
        activations = kept["a"]
        gradients, = torch.autograd.grad(logits.sum(), activations)
    finally:
        handle.remove()
    cam = torch.relu((gradients.mean(dim=(2, 3), keepdim=True) * activations).sum(dim=1)).detach()
    cam = cam - cam.flatten(1).min(dim=1).values[:, None, None]
    cam = cam / (cam.flatten(1).max(dim=1).values[:, None, None] + 1e-7)
    return F.interpolate(cam[:, None], size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0].double().numpy()


def _judge_cam(answers, seed):
    for (model, layer, x), answer in zip(_cam_cases(seed), answers["cases"]):
        _judge_maps(answer, model, layer, x)


def _judge_maps(answers, model, layer, x):
    from pneumolib.explain import cam_maps, empty_maps

    expected = _cam_recipe(model, layer, x)
    ours = cam_maps(model, x, layer, "gradcam", target_class=1)  # pytorch-grad-cam, which scales after resizing
    mine = array(answers["maps"], "grad_cam")
    _require(mine.shape == expected.shape, f"maps of shape {expected.shape} expected, got {mine.shape}")
    _require(answers["hooks_left"] is False, "remove your hooks before returning (handle.remove())")
    _require(bool(np.isfinite(mine).all()), "maps must be finite: a map with no positive evidence is 0 / (0 + 1e-7) = 0")
    for i in np.flatnonzero(~empty_maps(ours)):
        r = np.corrcoef(mine[i].ravel(), ours[i].ravel())[0, 1]
        _require(np.isfinite(r) and r >= 0.99, f"image {i}: your map agrees with pytorch-grad-cam's at r = {r:.3f} (0.99 wanted)")
    worst = int(np.abs(mine - expected).reshape(len(mine), -1).max(axis=1).argmax())
    _require(np.allclose(mine, expected, atol=1e-4),
             f"image {worst}: values in [{mine[worst].min():.3f}, {mine[worst].max():.3f}], expected in "
             f"[{expected[worst].min():.3f}, {expected[worst].max():.3f}]: scale each map by its own minimum and maximum "
             "(+ 1e-7) before resizing, and a map with no positive evidence is all 0")


VERDICTS["ex04_gradcam_tests"] = Verdict(_ask_cam, _judge_cam)


def _rank_cases(seed):
    rng = _rng(seed, 10)
    a, b = rng.random((6, 7, 7)), rng.random((6, 7, 7))
    b[3] = 0.0
    return a, b


def _ask_rank(objects, seed):
    (rank,) = objects
    a, b = _rank_cases(seed)
    return {"values": [outcome(rank, a[i], b[i]) for i in range(6)], "opposite": outcome(rank, a[0], -a[0])}


def _judge_rank(answers, seed):
    from pneumolib.explain import rank_agreement

    a, b = _rank_cases(seed)
    expected = rank_agreement(a, b)
    for i in range(6):
        got = number(answers["values"][i], f"map {i}")
        _require(close(got, float(expected[i]), 1e-12), f"map {i}: {float(expected[i]):.6g} expected, got {got:.6g}"
                 + (" (a constant map has no ranks: nan)" if i == 3 else ""))
    _require(close(number(answers["opposite"], "a map and its negative"), -1.0, 1e-12), "a map and its negative: -1 expected")


VERDICTS["ex04_rank_correlation_tests"] = Verdict(_ask_rank, _judge_rank)


# --- 05 ------------------------------------------------------------------------------------------------

def coded_batch(n: int, height: int, width: int):
    """Images whose every pixel holds its own position: (row * width + col + 1) / (height * width + 1)."""
    import torch

    codes = (torch.arange(height * width, dtype=torch.float32) + 1) / (height * width + 1)
    return codes.reshape(1, 1, height, width).repeat(n, 1, 1, 1)


def shifts_of(batch: np.ndarray, out: np.ndarray, max_shift: int) -> list[tuple[int, int]]:
    """The (dx, dy) that turns each input image into its output; :class:`Wrong` for anything but a pure shift."""
    n, _, height, width = batch.shape
    _require(out.shape == batch.shape, f"the batch's shape {tuple(batch.shape)} expected, got {out.shape}")
    found = []
    for i in range(n):
        image = out[i, 0]
        filled = image > 0
        _require(filled.any(), f"image {i} came out empty")
        index = np.rint(image * (height * width + 1)).astype(np.int64) - 1
        rows, cols = np.nonzero(filled)
        dy, dx = set((rows - index[filled] // width).tolist()), set((cols - index[filled] % width).tolist())
        _require(len(dy) == 1 and len(dx) == 1, f"image {i} is not a pure shift of its input (flipped, or mixed up)")
        dx, dy = dx.pop(), dy.pop()
        _require(abs(dx) <= max_shift and abs(dy) <= max_shift, f"image {i} moved by ({dx}, {dy}), beyond {max_shift}")
        _require(filled.sum() == (height - abs(dy)) * (width - abs(dx)), f"image {i}: the uncovered pixels must be 0")
        found.append((dx, dy))
    return found


def _ask_shift(objects, seed):
    import torch

    (shift,) = objects
    batch, wide = coded_batch(64, 12, 12), coded_batch(500, 9, 14)
    return {"out": outcome(shift, batch, 2, torch.Generator().manual_seed(seed)),
            "again": outcome(shift, batch, 2, torch.Generator().manual_seed(seed)),
            "other": outcome(shift, batch, 2, torch.Generator().manual_seed(seed + 1)),
            "wide": outcome(shift, wide, 3, torch.Generator().manual_seed(seed + 2)),
            "single": outcome(shift, coded_batch(1, 5, 7), 1, torch.Generator().manual_seed(seed + 3))}


def _judge_shift(answers, seed):
    batch = coded_batch(64, 12, 12).numpy()
    out = array(answers["out"], "random_shift")
    shifts_of(batch, out, 2)
    _require(arrays_close(array(answers["again"], "random_shift"), out, 0.0), "the same generator seed must give the same batch")
    _require(not arrays_close(array(answers["other"], "random_shift"), out, 0.0), "another seed must give another batch")
    counts: dict = {}
    for move in shifts_of(coded_batch(500, 9, 14).numpy(), array(answers["wide"], "random_shift"), 3):
        counts[move] = counts.get(move, 0) + 1
    _require(len(counts) == 49, f"every shift in -3..3 x -3..3 should occur in 500 draws, got {len(counts)}")
    dxs = np.array([k[0] for k, c in counts.items() for _ in range(c)])
    _require(abs(dxs.mean()) < 0.4 and abs(dxs.std() - 2.0) < 0.3, "dx uniform on -3..3 (mean 0, sd 2)")
    shifts_of(coded_batch(1, 5, 7).numpy(), array(answers["single"], "random_shift"), 1)


VERDICTS["ex05_random_shift_tests"] = Verdict(_ask_shift, _judge_shift)


def _fold_cases(seed):
    rng = _rng(seed, 11)
    n = 600
    images = rng.integers(0, 256, size=(n, 5, 5), dtype=np.uint8)
    labels = _labels(rng, n, float(rng.uniform(0.25, 0.75))).reshape(-1)
    for _ in range(40):  # sets of byte-identical images, each within one class
        first = int(rng.integers(0, n))
        same = np.flatnonzero(labels == labels[first])
        images[rng.choice(same, int(rng.integers(1, 3)), replace=False)] = images[first]
    return images, labels, int(rng.integers(0, 1000))


def _ask_folds(objects, seed):
    (folds,) = objects
    images, labels, fold_seed = _fold_cases(seed)
    return {"folds": outcome(folds, images, labels, 5, seed=fold_seed),
            "again": outcome(folds, images, labels, 5, seed=fold_seed),
            "other": outcome(folds, images, labels, 5, seed=fold_seed + 1)}


def _judge_folds(answers, seed):
    images, labels, _ = _fold_cases(seed)
    folds = array(answers["folds"], "duplicate_safe_folds")
    _require(folds.shape == labels.shape and set(np.unique(folds).tolist()) == {0, 1, 2, 3, 4},
             f"one fold in 0..4 per image expected, got shape {folds.shape} and folds {sorted(set(np.unique(folds).tolist()))[:8]}")
    fold_of: dict = {}
    for image, fold in zip(images, folds.tolist()):
        digest = hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()
        _require(fold_of.setdefault(digest, fold) == fold, "a set of identical images was split across folds")
    share = labels.mean()
    for fold in range(5):
        held = labels[folds == fold]
        _require(abs(held.mean() - share) < 0.05, f"fold {fold} holds {held.mean():.2f} pneumonia, the whole set {share:.2f}: "
                                                  "keep the class balance (StratifiedGroupKFold)")
    _require(arrays_close(array(answers["again"], "duplicate_safe_folds"), folds, 0.0), "the same seed must give the same folds")
    _require(not arrays_close(array(answers["other"], "duplicate_safe_folds"), folds, 0.0), "another seed must give other folds")


VERDICTS["ex05_grouped_folds_tests"] = Verdict(_ask_folds, _judge_folds)


def _nested_cases(seed):
    rng = _rng(seed, 12)
    cases = []
    for k in (3, 4):
        folds = rng.permutation(np.arange(40) % k)
        values = {c: rng.random(40) for c in ("x", "y", "z")}
        values["w"] = values["x"].copy()  # a tie with x: x is listed first
        cases.append((folds, values))
    # y is perfect on one fold and 0 elsewhere, x flat below 1 / k: tuned on every fold at once, y wins
    # everywhere; nested, the outer fold that y is perfect on is chosen without it, and x wins there
    k = int(rng.integers(3, 6))
    folds = rng.permutation(np.arange(40) % k)
    flat = float(rng.uniform(0.05, 1 / k - 0.02))
    values = {"x": np.full(40, flat), "y": (folds == int(rng.integers(0, k))).astype(float),
              "z": 0.05 * rng.random(40)}
    values["w"] = values["x"].copy()
    cases.append((folds, values))
    return cases, ["x", "w", "y", "z"]


def _scorer(values):
    def score(fit_on, scored, candidate):
        fit_on, scored = np.asarray(fit_on), np.asarray(scored)
        if np.intersect1d(fit_on, scored).size:
            raise ValueError("a fold was scored by a model fitted on it")
        return float(values[candidate][scored].mean() + 0.001 * len(fit_on) / 40)  # the training set matters too
    return score


def _reference_nested(folds, candidates, score):
    out = []
    names = sorted(set(folds.tolist()))
    for f in names:
        rest = [g for g in names if g != f]
        means = [np.mean([score(np.flatnonzero(np.isin(folds, [h for h in rest if h != g])), np.flatnonzero(folds == g), c)
                          for g in rest]) for c in candidates]
        chosen = candidates[int(np.argmax(means))]
        out.append((chosen, score(np.flatnonzero(folds != f), np.flatnonzero(folds == f), chosen)))
    return out


def _ask_nested(objects, seed):
    (nested,) = objects
    cases, candidates = _nested_cases(seed)
    return {"values": [outcome(lambda f=f, v=v: list(nested(f, list(candidates), _scorer(v)))) for f, v in cases]}


def _judge_nested(answers, seed):
    cases, candidates = _nested_cases(seed)
    for (folds, values), answer in zip(cases, answers["values"]):
        k = len(set(folds.tolist()))
        if isinstance(answer, dict) and "raised" in answer:
            raise Wrong(f"{k} folds: nested_cv {_shown(answer)}")
        ours = _reference_nested(folds, candidates, _scorer(values))
        mine = items(answer, "list", f"{k} folds")
        _require(len(mine) == len(ours), f"{k} folds: one (candidate, estimate) per outer fold expected, got {len(mine)}")
        for i, ((chosen, estimate), pair) in enumerate(zip(ours, mine)):
            got = pair if isinstance(pair, list) else items(pair, "tuple", f"outer fold {i}")
            _require(len(got) == 2 and type(got[0]) is str, f"outer fold {i}: a (candidate, estimate) pair expected")
            _require(got[0] == chosen, f"{k} folds, outer fold {i}: the inner folds choose {chosen!r}, got {got[0]!r} "
                                       "(choose on the inner folds only; the first on a tie)")
            _require(close(number(got[1], "estimate"), estimate, 1e-12),
                     f"{k} folds, outer fold {i}: the estimate is the chosen candidate refitted on all other folds and "
                     f"scored on this one, {estimate:.6f}")


VERDICTS["ex05_nested_cv_tests"] = Verdict(_ask_nested, _judge_nested)


# --- 06 ------------------------------------------------------------------------------------------------

def _keep_cases(seed):
    rng = _rng(seed, 13)
    cases = []
    for _ in range(200):
        seeds = int(rng.integers(2, 6))
        base = 0.98 + 0.01 * rng.random(seeds)
        cases.append((base, base + rng.normal(0.004, 0.006, seeds)))
    cases.append((np.array([0.980, 0.990, 0.970]), np.array([0.985, 0.995, 0.975])))  # equal gains: the noise is the base's sd
    return cases


def _ask_keep(objects, seed):
    (keep,) = objects
    return {"values": [outcome(keep, base, arm) for base, arm in _keep_cases(seed)],
            "unequal": outcome(keep, [0.99, 0.98], [0.99])}


def _judge_keep(answers, seed):
    from pneumolib.evaluation.noise import beyond_noise

    for i, (base, arm) in enumerate(_keep_cases(seed)):
        expected = beyond_noise("arm", arm, "base", base).kept
        got = boolean(answers["values"][i], f"case {i}")
        _require(got is expected, f"base {np.round(base, 4).tolist()}, arm {np.round(arm, 4).tolist()}: "
                                  f"{'keep' if expected else 'do not keep'} expected (a mean gain beyond two of the base's seed sds)")
    raised(answers["unequal"], "ValueError", "base and arm of different lengths")


VERDICTS["ex06_keep_component_tests"] = Verdict(_ask_keep, _judge_keep)


def _average_cases(seed):
    rng = _rng(seed, 14)
    return [[rng.random(50) for _ in range(int(rng.integers(2, 6)))], [np.array([[0.1], [0.9]])]]


def _ask_average(objects, seed):
    (average,) = objects
    return {"values": [outcome(average, members) for members in _average_cases(seed)],
            "bad": [outcome(average, []), outcome(average, [np.zeros(3), np.zeros(4)])]}


def _judge_average(answers, seed):
    for i, members in enumerate(_average_cases(seed)):
        expected = np.mean([np.asarray(m).reshape(-1) for m in members], axis=0)
        _require(arrays_close(array(answers["values"][i], "average_probabilities"), expected, 1e-9),
                 f"case {i}: the mean of the members' probabilities, one per image (shape {expected.shape}), expected")
    for answer in answers["bad"]:
        raised(answer, "ValueError", "an empty list or members of unequal length")


VERDICTS["ex06_average_tests"] = Verdict(_ask_average, _judge_average)


def _tta_cases(seed):
    import torch
    from torchvision.transforms.v2 import functional as tvf

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Dropout(0.3), torch.nn.Linear(64, 1))
        x = torch.rand(7, 1, 8, 8)
    views = [lambda b: b, lambda b: tvf.rotate(b, 5.0), lambda b: tvf.rotate(b, -5.0), lambda b: torch.flip(b, dims=[-1])]
    return model, x, views


def _ask_tta(objects, seed):
    (tta,) = objects
    model, x, views = _tta_cases(seed)
    model.train()

    def run():
        probs = tta(model, x, views)
        return {"probs": probs, "training": model.training}
    return {"value": outcome(run)}


def _judge_tta(answers, seed):
    import torch

    model, x, views = _tta_cases(seed)
    got = fields(answers["value"], "tta_probabilities")
    _require(got.get("training") is False, "put the model in eval mode (model.eval())")
    model.eval()
    with torch.no_grad():
        expected = np.mean([torch.sigmoid(model(v(x))).double().numpy().reshape(-1) for v in views], axis=0)
    _require(arrays_close(array(got.get("probs"), "tta_probabilities"), expected, 1e-6),
             "the mean over the views of each view's probabilities (the sigmoid of its logits), one per image, expected")


VERDICTS["ex06_tta_tests"] = Verdict(_ask_tta, _judge_tta)


# --- 07 ------------------------------------------------------------------------------------------------

def _prior_cases(seed):
    rng = _rng(seed, 15)
    probabilities = [rng.beta(2, 2, 300), rng.random(200), np.clip(rng.beta(5, 1, 100), 1e-6, 1 - 1e-6)]
    priors = [(float(rng.uniform(0.2, 0.8)), float(rng.uniform(0.2, 0.8))) for _ in range(2)] + [(0.5, 0.9)]
    return probabilities, priors


def _ask_prior(objects, seed):
    (correct,) = objects
    probabilities, priors = _prior_cases(seed)
    return {"values": [[outcome(correct, p, s, t) for s, t in priors] for p in probabilities]}


def _judge_prior(answers, seed):
    from pneumolib.shift.priors import prior_corrected

    probabilities, priors = _prior_cases(seed)
    for i, p in enumerate(probabilities):
        for (source, target), answer in zip(priors, answers["values"][i]):
            _require(arrays_close(array(answer, "correct_prior"), prior_corrected(p, source, target), 1e-9),
                     f"set {i}, priors {source:.3f} -> {target:.3f}: reweigh each class by target / source and renormalise")


VERDICTS["ex07_prior_correction_tests"] = Verdict(_ask_prior, _judge_prior)


def _em_cases(seed):
    rng = _rng(seed, 16)
    return [(rng.beta(2, 5, 400), 0.4), (rng.beta(5, 2, 500), float(rng.uniform(0.3, 0.7))), (rng.beta(2, 2, 300), 0.6)]


def _ask_em(objects, seed):
    (em,) = objects
    p, prior = _em_cases(seed)[1]
    return {"values": [outcome(em, p, prior) for p, prior in _em_cases(seed)], "three": outcome(em, p, prior, iterations=3)}


def _judge_em(answers, seed):
    from pneumolib.shift.priors import em_prior

    for i, (p, prior) in enumerate(_em_cases(seed)):
        got, ours = number(answers["values"][i], f"case {i}"), em_prior(p, prior)
        _require(close(got, ours, 1e-4), f"case {i} (source prior {prior:.3f}): the EM estimate is {ours:.4f}, got {got:.4f}")
    p, prior = _em_cases(seed)[1]
    three = em_prior(p, prior, max_iter=3)
    _require(close(number(answers["three"], "3 iterations"), three, 1e-6), f"iterations=3: stop after 3 updates ({three:.5f})")


VERDICTS["ex07_em_prior_tests"] = Verdict(_ask_em, _judge_em)


def judge(grade_id: str, answers: Any, seed: int) -> str | None:
    """None when the handed-in ``answers`` to exercise ``grade_id`` are right, else the reason."""
    if not isinstance(answers, dict):
        return "the hand-in is not a JSON object"
    try:
        VERDICTS[grade_id].judge(answers, seed)
    except Wrong as exc:
        return str(exc)
    except (KeyError, IndexError, TypeError, ValueError) as exc:  # a hand-in that lacks or garbles answers
        return f"the hand-in is incomplete or malformed ({type(exc).__name__}: {str(exc)[:80]})"
    return None


__all__ = ["VERDICTS", "Verdict", "Wrong", "coded_batch", "judge", "shifts_of", "torchvision_block"]
