"""Wrong answers to the 11 exercises whose visible checks are rewritten, each a complete replacement of the
exercise's solution cell (same function name and signature), and the part of the visible check's assertion
message that each one should get.

WRONG[grade_id][short name] -> source of the student's cell
EXPECTED_MESSAGE[grade_id][short name] -> a substring of the AssertionError message the new visible check raises
"""

# --------------------------------------------------------------------------------------------------- 01
_CLASS_WEIGHT = '''import numpy as np

def positive_class_weight(labels) -> float:
{body}
'''

_SHARED = '''import numpy as np
import hashlib


def shared_images(images_a, images_b) -> int:
{body}
'''

_MAJORITY = '''import numpy as np

def always_pneumonia_metrics(labels) -> dict:
{body}
'''

# --------------------------------------------------------------------------------------------------- 02
_BOOT = '''import numpy as np
from sklearn.metrics import roc_auc_score


def paired_auc_difference(y, p_a, p_b, n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
{body}
'''
_BOOT_LOOP = '''    y, p_a, p_b = (np.asarray(v).reshape(-1) for v in (y, p_a, p_b))
    rng = {rng}
    diffs = []
    while len(diffs) < {n}:
        index = rng.integers(0, len(y), len(y))
{skip}        diffs.append({resample})
    low, high = {interval}
    return float(roc_auc_score(y, p_a) - roc_auc_score(y, p_b)), float(low), float(high)'''
_SKIP = '''        if y[index].min() == y[index].max():
            continue
'''
_PAIRED = "roc_auc_score(y[index], p_a[index]) - roc_auc_score(y[index], p_b[index])"
_PERCENTILES = "np.percentile(diffs, [2.5, 97.5])"


def _boot(rng="np.random.default_rng(seed)", n="n_boot", skip=_SKIP, resample=_PAIRED, interval=_PERCENTILES):
    return _BOOT.format(body=_BOOT_LOOP.format(rng=rng, n=n, skip=skip, resample=resample, interval=interval))


_UNPAIRED = '''    y, p_a, p_b = (np.asarray(v).reshape(-1) for v in (y, p_a, p_b))
    rng = np.random.default_rng(seed)
    diffs = []
    while len(diffs) < n_boot:
        index_a, index_b = rng.integers(0, len(y), len(y)), rng.integers(0, len(y), len(y))
        if y[index_a].min() == y[index_a].max() or y[index_b].min() == y[index_b].max():
            continue
        diffs.append(roc_auc_score(y[index_a], p_a[index_a]) - roc_auc_score(y[index_b], p_b[index_b]))
    low, high = np.percentile(diffs, [2.5, 97.5])
    return float(roc_auc_score(y, p_a) - roc_auc_score(y, p_b)), float(low), float(high)'''

_BOOT_MEAN = '''    y, p_a, p_b = (np.asarray(v).reshape(-1) for v in (y, p_a, p_b))
    rng = np.random.default_rng(seed)
    diffs = []
    while len(diffs) < n_boot:
        index = rng.integers(0, len(y), len(y))
        if y[index].min() == y[index].max():
            continue
        diffs.append(roc_auc_score(y[index], p_a[index]) - roc_auc_score(y[index], p_b[index]))
    low, high = np.percentile(diffs, [2.5, 97.5])
    return float(np.mean(diffs)), float(low), float(high)'''

# --------------------------------------------------------------------------------------------------- 03
_YOUDEN = '''import numpy as np
from sklearn.metrics import roc_curve


def youden_threshold(y, p) -> float:
{body}
'''

_ECE = '''import numpy as np

def calibration_error(y, p, n_bins: int = 10) -> float:
{body}
'''
_ECE_LOOP = '''    y, p = np.asarray(y, dtype=float).reshape(-1), np.asarray(p, dtype=float).reshape(-1)
    bins = {bins}
    total = 0.0
    for b in range({n}):
        members = bins == b
        if members.any():
            total += {term}
    return float(total / len(p))'''


def _ece(bins="np.minimum((p * n_bins).astype(int), n_bins - 1)", n="n_bins",
         term="members.sum() * abs(p[members].mean() - y[members].mean())"):
    return _ECE.format(body=_ECE_LOOP.format(bins=bins, n=n, term=term))


# --------------------------------------------------------------------------------------------------- 04
_GRADCAM = '''import numpy as np
import torch
from torch.nn import functional as F


def grad_cam(model, layer, x) -> np.ndarray:
    kept = {{}}

    def forward_hook(module, inputs, output):
        kept["activations"] = output
        output.register_hook(lambda grad: kept.__setitem__("gradients", grad))

    handle = layer.register_forward_hook(forward_hook)
    try:
        model.eval()
        x = x.clone().requires_grad_(True)
        model.zero_grad()
        model(x).reshape(len(x), -1)[:, 0].{target}.backward()
    finally:
{remove}
    activations, gradients = kept["activations"].detach(), kept["gradients"].detach()
    weights = {weights}
    cam = {positive}((weights * activations).sum(dim=1))
{scale}
    cam = F.interpolate(cam[:, None], size={size}, mode="bilinear", align_corners=False)[:, 0]
    return cam.numpy().astype(np.float32)
'''
_PER_IMAGE = '''    low = cam.flatten(1).min(dim=1).values[:, None, None]
    cam = cam - low
    cam = cam / (cam.flatten(1).max(dim=1).values[:, None, None] + 1e-7)'''


def _gradcam(target="sum()", remove="        handle.remove()", weights="gradients.mean(dim=(2, 3), keepdim=True)",
             positive="torch.relu", scale=_PER_IMAGE, size="x.shape[-2:]"):
    return _GRADCAM.format(target=target, remove=remove, weights=weights, positive=positive, scale=scale, size=size)


# --------------------------------------------------------------------------------------------------- 05
_FOLDS = '''import numpy as np
import hashlib

import numpy as np
from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold


def duplicate_safe_folds(images, labels, k: int, seed: int = 0) -> np.ndarray:
{body}
'''
_FOLDS_BODY = '''    labels = np.asarray(labels).reshape(-1)
    digests = [hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest() for image in images]
    _, groups = np.unique(digests, return_inverse=True)
    folds = np.empty(len(labels), dtype=np.int64)
    splitter = {splitter}
    for fold, (train, held) in enumerate(splitter.split(np.zeros(len(labels)), labels, groups)):
        folds[{which}] = fold
    return folds'''


def _folds(splitter="StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)", which="held"):
    return _FOLDS.format(body=_FOLDS_BODY.format(splitter=splitter, which=which))


# --------------------------------------------------------------------------------------------------- 06
_TTA = '''import numpy as np
import torch


def tta_probabilities(model, x, views) -> np.ndarray:
{body}
'''

# --------------------------------------------------------------------------------------------------- 07
_PRIOR = '''import numpy as np


def correct_prior(p, source_prior: float, target_prior: float) -> np.ndarray:
    p = np.asarray(p, dtype=float)
{body}
'''

_EM = '''import numpy as np


def em_prior_estimate(p, source_prior: float, iterations: int = 1000) -> float:
{body}
'''
_EM_LOOP = '''    prior = source_prior
    for _ in range({n}):
        updated = float(np.mean({posteriors}))
        if abs(updated - prior) < 1e-8:
            return updated
        prior = updated
    return float(prior)'''


def _em(n="iterations", posteriors="correct_prior(p, source_prior, prior)"):
    return _EM.format(body=_EM_LOOP.format(n=n, posteriors=posteriors))


WRONG = {
    "ex01_class_weight": {
        "the worked example's answer": _CLASS_WEIGHT.format(body="    return 1/3"),
        "upside down (pneumonia / normal)": _CLASS_WEIGHT.format(body=(
            "    labels = np.asarray(labels).reshape(-1)\n"
            "    n_pneumonia, n_normal = int((labels == 1).sum()), int((labels == 0).sum())\n"
            "    if n_pneumonia == 0 or n_normal == 0:\n        raise ValueError('both classes')\n"
            "    return n_pneumonia / n_normal")),
        "normal share of all images": _CLASS_WEIGHT.format(body=(
            "    labels = np.asarray(labels).reshape(-1)\n"
            "    n_pneumonia, n_normal = int((labels == 1).sum()), int((labels == 0).sum())\n"
            "    if n_pneumonia == 0 or n_normal == 0:\n        raise ValueError('both classes')\n"
            "    return n_normal / len(labels)")),
        "bincount on an (N, 1) column": _CLASS_WEIGHT.format(body=(
            "    n_normal, n_pneumonia = np.bincount(labels, minlength=2)\n"
            "    if n_pneumonia == 0 or n_normal == 0:\n        raise ValueError('both classes')\n"
            "    return float(n_normal / n_pneumonia)")),
        "len() of a 2-D array": _CLASS_WEIGHT.format(body=(
            "    labels = np.asarray(labels)\n"
            "    n_pneumonia = int(labels.sum())\n"
            "    n_normal = len(labels) - n_pneumonia\n"
            "    if n_pneumonia == 0 or n_normal == 0:\n        raise ValueError('both classes')\n"
            "    return n_normal / n_pneumonia")),
        "only guards the division by zero": _CLASS_WEIGHT.format(body=(
            "    labels = np.asarray(labels).reshape(-1)\n"
            "    n_pneumonia, n_normal = int((labels == 1).sum()), int((labels == 0).sum())\n"
            "    if n_pneumonia == 0:\n        raise ValueError('no pneumonia image')\n"
            "    return n_normal / n_pneumonia")),
        "no ValueError at all": _CLASS_WEIGHT.format(body=(
            "    labels = np.asarray(labels).reshape(-1)\n"
            "    return int((labels == 0).sum()) / int((labels == 1).sum())")),
    },
    "ex01_shared_images": {
        "the worked example's answer": _SHARED.format(body="    return 2"),
        "counts images of a with a copy (repeats twice)": _SHARED.format(body=(
            "    in_b = {hashlib.sha1(image.tobytes()).hexdigest() for image in images_b}\n"
            "    return sum(hashlib.sha1(image.tobytes()).hexdigest() in in_b for image in images_a)")),
        "counts matching pairs": _SHARED.format(body=(
            "    return int(sum(np.array_equal(a, b) for a in images_a for b in images_b))")),
        "hashes the pixel sum": _SHARED.format(body=(
            "    return len({int(image.sum()) for image in images_a} & {int(image.sum()) for image in images_b})")),
        "hashes the sorted pixels": _SHARED.format(body=(
            "    def digests(images):\n"
            "        return {hashlib.sha1(np.sort(image, axis=None).tobytes()).hexdigest() for image in images}\n"
            "    return len(digests(images_a) & digests(images_b))")),
        "union instead of intersection": _SHARED.format(body=(
            "    def digests(images):\n"
            "        return {hashlib.sha1(image.tobytes()).hexdigest() for image in images}\n"
            "    return len(digests(images_a) | digests(images_b))")),
    },
    "ex01_majority_baseline": {
        "a constant dict": _MAJORITY.format(body=(
            '    return {"acc": 0.75, "sensitivity": 1.0, "specificity": 0.0, "balanced_accuracy": 0.5}')),
        "an (N,) prediction against (N, 1) labels": _MAJORITY.format(body=(
            "    labels = np.asarray(labels)\n"
            "    predicted = np.ones(len(labels))\n"
            "    tp = int(((predicted == 1) & (labels == 1)).sum())\n"
            "    tn = int(((predicted == 0) & (labels == 0)).sum())\n"
            "    fp = int(((predicted == 1) & (labels == 0)).sum())\n"
            "    fn = int(((predicted == 0) & (labels == 1)).sum())\n"
            "    sensitivity, specificity = tp / (tp + fn), tn / (tn + fp)\n"
            '    return {"acc": (tp + tn) / len(labels), "sensitivity": sensitivity, "specificity": specificity,\n'
            '            "balanced_accuracy": (sensitivity + specificity) / 2}')),
        "precision taken for sensitivity": _MAJORITY.format(body=(
            "    labels = np.asarray(labels).reshape(-1)\n"
            "    tp, fp = int((labels == 1).sum()), int((labels == 0).sum())\n"
            "    sensitivity, specificity = tp / (tp + fp), 0.0\n"
            '    return {"acc": tp / len(labels), "sensitivity": sensitivity, "specificity": specificity,\n'
            '            "balanced_accuracy": 0.5}')),
        "balanced accuracy = accuracy": _MAJORITY.format(body=(
            "    labels = np.asarray(labels).reshape(-1)\n"
            "    acc = float((labels == 1).mean())\n"
            '    return {"acc": acc, "sensitivity": 1.0, "specificity": 0.0, "balanced_accuracy": acc}')),
        "the share of normal images as accuracy": _MAJORITY.format(body=(
            "    labels = np.asarray(labels).reshape(-1)\n"
            '    return {"acc": float((labels == 0).mean()), "sensitivity": 1.0, "specificity": 0.0,\n'
            '            "balanced_accuracy": 0.5}')),
    },
    "ex02_paired_bootstrap": {
        "(diff, diff, diff)": _BOOT.format(body=(
            "    diff = float(roc_auc_score(y, p_a) - roc_auc_score(y, p_b))\n    return diff, diff, diff")),
        "resamples never used (AUC on all images each time)": _boot(
            resample="roc_auc_score(y, p_a) - roc_auc_score(y, p_b)"),
        "unpaired (a and b on different resamples)": _BOOT.format(body=_UNPAIRED),
        "percentiles given as fractions": _boot(interval="np.percentile(diffs, [0.025, 0.975])"),
        "mean +- one standard deviation": _boot(
            interval="(np.mean(diffs) - np.std(diffs), np.mean(diffs) + np.std(diffs))"),
        "diff = mean of the resamples": _BOOT.format(body=_BOOT_MEAN),
        "one-class resamples kept": _boot(skip=""),
        "one-class resamples kept, own AUC that raises on them": _boot(skip="", resample=(
            "(lambda i: (_ for _ in ()).throw(ValueError('Only one class present in y_true')) "
            "if y[i].min() == y[i].max() else "
            "roc_auc_score(y[i], p_a[i]) - roc_auc_score(y[i], p_b[i]))(index)")),
        "seed ignored (always 0)": _boot(rng="np.random.default_rng(0)"),
        "seed ignored (unseeded)": _boot(rng="np.random.default_rng()"),
        "n_boot ignored": _boot(n="100"),
    },
    "ex03_youden": {
        "the median of p": _YOUDEN.format(body="    return float(np.median(p))"),
        "p[best] instead of thresholds[best]": _YOUDEN.format(body=(
            "    fpr, tpr, thresholds = roc_curve(y, p)\n"
            "    return float(np.asarray(p)[np.argmax(tpr - fpr)])")),
        "the most accurate threshold": _YOUDEN.format(body=(
            "    y, p = np.asarray(y).reshape(-1), np.asarray(p).reshape(-1)\n"
            "    candidates = np.unique(p)\n"
            "    accuracy = [((p >= t) == (y == 1)).mean() for t in candidates]\n"
            "    return float(candidates[np.argmax(accuracy)])")),
        "the '>' rule": _YOUDEN.format(body=(
            "    y, p = np.asarray(y).reshape(-1), np.asarray(p).reshape(-1)\n"
            "    candidates = np.unique(p)\n"
            "    j = [((p > t) & (y == 1)).sum() / (y == 1).sum() + ((p <= t) & (y == 0)).sum() / (y == 0).sum() - 1\n"
            "         for t in candidates]\n"
            "    return float(candidates[np.argmax(j)])")),
        "the infinite threshold kept": _YOUDEN.format(body=(
            "    fpr, tpr, thresholds = roc_curve(y, p)\n"
            "    return float(thresholds[np.argmax(tpr - fpr)])")),
    },
    "ex03_ece": {
        "|mean(p) - mean(y)|": _ECE.format(body=(
            "    return float(abs(np.mean(p) - np.mean(y)))")),
        "bins not weighted by size": _ECE.format(body=(
            "    y, p = np.asarray(y, dtype=float).reshape(-1), np.asarray(p, dtype=float).reshape(-1)\n"
            "    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)\n"
            "    gaps = [abs(p[bins == b].mean() - y[bins == b].mean()) for b in range(n_bins) if (bins == b).any()]\n"
            "    return float(np.mean(gaps))")),
        "signed gaps": _ece(term="members.sum() * (p[members].mean() - y[members].mean())"),
        "p = 1.0 dropped": _ece(bins="(p * n_bins).astype(int)"),
        "bin centres instead of mean probabilities": _ece(
            term="members.sum() * abs((b + 0.5) / n_bins - y[members].mean())"),
        "n_bins ignored": _ece(bins="np.minimum((p * 10).astype(int), 9)", n="10"),
    },
    "ex04_gradcam": {
        "the min-max-scaled input": (
            "import numpy as np\n\n\ndef grad_cam(model, layer, x) -> np.ndarray:\n"
            "    images = x[:, 0].detach().numpy().astype(np.float32)\n"
            "    low = images.min(axis=(1, 2), keepdims=True)\n"
            "    high = images.max(axis=(1, 2), keepdims=True)\n"
            "    return (images - low) / (high - low + 1e-7)\n"),
        "no ReLU": _gradcam(positive=""),
        "absolute value instead of ReLU": _gradcam(positive="torch.abs"),
        "the other class (the negated logit)": _gradcam(target="sum().neg()"),
        "channel weights averaged over channels, not the map": _gradcam(weights="gradients.mean(dim=1, keepdim=True)"),
        "gradient x activation, no averaging": _gradcam(weights="gradients"),
        "scaled over the whole batch": _gradcam(scale=(
            "    cam = cam - cam.min()\n    cam = cam / (cam.max() + 1e-7)")),
        "minimum not subtracted": _gradcam(scale=(
            "    cam = cam / (cam.flatten(1).max(dim=1).values[:, None, None] + 1e-7)")),
        "no 1e-7 in the division": _gradcam(scale=_PER_IMAGE.replace(" + 1e-7", "")),
        "not resized": _gradcam(size="cam.shape[-2:]"),
        "hook left in place": _gradcam(remove="        pass"),
    },
    "ex05_grouped_folds": {
        "contiguous blocks": _FOLDS.format(body="    n = len(labels)\n    return np.arange(n) * k // n"),
        "StratifiedKFold: duplicates ignored": _folds(splitter="StratifiedKFold(n_splits=k, shuffle=True, "
                                                               "random_state=seed)"),
        "GroupKFold: labels ignored": _folds(splitter="GroupKFold(n_splits=k)"),
        "KFold in file order": _folds(splitter="KFold(n_splits=k)"),
        "the training indices numbered": _folds(which="train"),
        "seed ignored (no shuffle)": _folds(splitter="StratifiedGroupKFold(n_splits=k)"),
    },
    "ex06_tta": {
        "views ignored": _TTA.format(body=(
            "    model.eval()\n    with torch.no_grad():\n"
            "        return torch.sigmoid(model(x).reshape(len(x))).numpy()")),
        "sigmoid of the mean logit": _TTA.format(body=(
            "    model.eval()\n    with torch.no_grad():\n"
            "        logits = torch.stack([model(view(x)).reshape(len(x)) for view in views]).mean(dim=0)\n"
            "    return torch.sigmoid(logits).numpy()")),
        "eval mode forgotten": _TTA.format(body=(
            "    with torch.no_grad():\n"
            "        probabilities = [torch.sigmoid(model(view(x)).reshape(len(x))) for view in views]\n"
            "    return torch.stack(probabilities).mean(dim=0).numpy()")),
        "the last view only (overwritten in the loop)": _TTA.format(body=(
            "    model.eval()\n    with torch.no_grad():\n"
            "        for view in views:\n"
            "            probabilities = torch.sigmoid(model(view(x)).reshape(len(x)))\n"
            "    return probabilities.numpy()")),
        "logits, no sigmoid": _TTA.format(body=(
            "    model.eval()\n    with torch.no_grad():\n"
            "        return torch.stack([model(view(x)).reshape(len(x)) for view in views]).mean(dim=0).numpy()")),
        "mean over the images, not the views": _TTA.format(body=(
            "    model.eval()\n    with torch.no_grad():\n"
            "        probabilities = [torch.sigmoid(model(view(x)).reshape(len(x))) for view in views]\n"
            "    return torch.stack(probabilities).mean(dim=1).numpy()")),
        "shape (N, 1)": _TTA.format(body=(
            "    model.eval()\n    with torch.no_grad():\n"
            "        probabilities = [torch.sigmoid(model(view(x))) for view in views]\n"
            "    return torch.stack(probabilities).mean(dim=0).numpy()")),
    },
    "ex07_prior_correction": {
        "p * target / source": _PRIOR.format(body="    return p * target_prior / source_prior"),
        "clipped, not renormalised": _PRIOR.format(body="    return np.clip(p * target_prior / source_prior, 0, 1)"),
        "normal posterior not re-weighted": _PRIOR.format(body=(
            "    pneumonia = p * target_prior / source_prior\n"
            "    return pneumonia / (pneumonia + (1 - p))")),
        "source prior not divided out": _PRIOR.format(body=(
            "    pneumonia = p * target_prior\n    normal = (1 - p) * (1 - target_prior)\n"
            "    return pneumonia / (pneumonia + normal)")),
        "priors swapped": _PRIOR.format(body=(
            "    pneumonia = p * source_prior / target_prior\n"
            "    normal = (1 - p) * (1 - source_prior) / (1 - target_prior)\n"
            "    return pneumonia / (pneumonia + normal)")),
        "renormalised over the batch": _PRIOR.format(body=(
            "    pneumonia = p * target_prior / source_prior\n"
            "    return pneumonia / pneumonia.sum() * p.sum()")),
    },
    "ex07_em_prior": {
        "mean(p)": _EM.format(body="    return float(np.mean(p))"),
        "one step only": _em(n="1"),
        "p overwritten in the loop (corrected again and again)": _EM.format(body=(
            "    prior = source_prior\n"
            "    for _ in range(iterations):\n"
            "        p = correct_prior(p, source_prior, prior)\n"
            "        updated = float(np.mean(p))\n"
            "        if abs(updated - prior) < 1e-8:\n"
            "            return updated\n"
            "        prior = updated\n"
            "    return float(prior)")),
        "corrected from the current prior to the source": _em(posteriors="correct_prior(p, prior, source_prior)"),
        "source prior taken as 0.5": _em(posteriors="correct_prior(p, 0.5, prior)"),
        "classify and count (share above 0.5)": _em(posteriors="correct_prior(p, source_prior, prior) > 0.5"),
        "iterations ignored": _em(n="1000"),
    },
}

EXPECTED_MESSAGE = {
    "ex01_class_weight": {
        "the worked example's answer": "3 normal and 2 pneumonia labels in an array of shape (5, 1): 3 / 2 = 1.5, got 0.3333",
        "upside down (pneumonia / normal)": "upside down",
        "normal share of all images": "not / n_pneumonia",
        "bincount on an (N, 1) column": "flatten them first",
        "len() of a 2-D array": "5 normal and 3 pneumonia labels in an array of shape (2, 4): 5 / 3 = 1.667, got -0.3333",
        "only guards the division by zero": "6 pneumonia and no normal image: raise a ValueError",
        "no ValueError at all": "6 pneumonia and no normal image: raise a ValueError",
    },
    "ex01_shared_images": {
        "the worked example's answer": "none of a[2:] is in b",
        "counts images of a with a copy (repeats twice)": "count each distinct image once",
        "counts matching pairs": "that counts matching pairs",
        "hashes the pixel sum": "hash the bytes of each whole image",
        "hashes the sorted pixels": "hash the bytes of each whole image",
        "union instead of intersection": "the other three are not: 2 expected, got 8",
    },
    "ex01_majority_baseline": {
        "a constant dict": "acc should be 0.625, got 0.75",
        "an (N,) prediction against (N, 1) labels": "acc should be 0.625, got 5",
        "precision taken for sensitivity": "sensitivity should be 1, got 0.75",
        "balanced accuracy = accuracy": "balanced_accuracy should be 0.5, got 0.75",
        "the share of normal images as accuracy": "acc should be 0.75, got 0.25",
    },
    "ex02_paired_bootstrap": {
        "(diff, diff, diff)": "every resample gave the same difference",
        "resamples never used (AUC on all images each time)": "score both models on the resampled images",
        "unpaired (a and b on different resamples)": "(paired)",
        "percentiles given as fractions": "2.5th and 97.5th percentiles (in percent)",
        "mean +- one standard deviation": "2.5th and 97.5th percentiles (in percent)",
        "diff = mean of the resamples": "not a mean over resamples",
        "one-class resamples kept": "some resamples hold one class only",
        "one-class resamples kept, own AUC that raises on them": "their AUC fails (ValueError('Only one class",
        "seed ignored (always 0)": "seeds 1 and 2 gave the same CI",
        "seed ignored (unseeded)": "the same seed must give the same result",
        "n_boot ignored": "use the n_boot argument",
    },
    "ex03_youden": {
        "the median of p": "your t = 0.5 gives J = 0.238",
        "p[best] instead of thresholds[best]": "not p[best]",
        "the most accurate threshold": "your t = 0.9 gives J = 0.333",
        "the '>' rule": "calling p >= t pneumonia), got t = 0.3",
        "the infinite threshold kept": "is reached at a finite threshold too: drop inf",
    },
    "ex03_ece": {
        "|mean(p) - mean(y)|": "= 0.2725, got 0.0375",
        "bins not weighted by size": "weight it by the bin's share of images",
        "signed gaps": "take the absolute gap",
        "p = 1.0 dropped": "counting p = 1.0 in the last bin",
        "bin centres instead of mean probabilities": "not its centre",
        "n_bins ignored": "use n_bins",
    },
    "ex04_gradcam": {
        "the min-max-scaled input": "the input images scaled to [0, 1], not Grad-CAM",
        "no ReLU": "Grad-CAM is 0, got up to 0.333",
        "absolute value instead of ReLU": "(not its absolute value)",
        "the other class (the negated logit)": "for the pneumonia logit itself",
        "channel weights averaged over channels, not the map": "the mean of its gradient over the map (dims 2 and 3)",
        "gradient x activation, no averaging": "weight each channel by one number",
        "scaled over the whole batch": "scaled by its own maximum",
        "minimum not subtracted": "subtract each map's minimum",
        "no 1e-7 in the division": "divide by max + 1e-7",
        "not resized": "resized to the input's 8 x 8",
        "hook left in place": "remove your hooks",
    },
    "ex05_grouped_folds": {
        "contiguous blocks": "not by position or groups alone",
        "StratifiedKFold: duplicates ignored": "are identical but sit in folds",
        "GroupKFold: labels ignored": "stratify by label",
        "KFold in file order": "holds 0 pneumonia images out of 16",
        "the training indices numbered": "folds 0, 1 and 2 expected",
        "seed ignored (no shuffle)": "seeds 0 and 1 gave the same folds",
    },
    "ex06_tta": {
        "views ignored": "0.7 expected for each image",
        "sigmoid of the mean logit": "got [0.75 0.75 0.75 0.75 0.75]",
        "eval mode forgotten": "put the model in eval mode",
        "the last view only (overwritten in the loop)": "got [0.9 0.9 0.9 0.9 0.9]",
        "logits, no sigmoid": "the model's own probabilities (the sigmoid of its logits)",
        "mean over the images, not the views": "one probability per image: shape (5,) expected, got (1,)",
        "shape (N, 1)": "shape (5,) expected, got (5, 1)",
    },
    "ex07_prior_correction": {
        "p * target / source": "become [0.0667, 0.3, 0.72], got [0.1  0.3  0.45]",
        "clipped, not renormalised": "then divide each by the sum of the two",
        "normal posterior not re-weighted": "renormalised 0.4 / 0.5 = 0.8, got [0.6154]",
        "source prior not divided out": "[0.1, 0.5, 0.9] expected, got [0.2403 0.74   0.9624]",
        "priors swapped": "renormalised 0.4 / 0.5 = 0.8, got [0.2]",
        "renormalised over the batch": "renormalised 0.4 / 0.5 = 0.8, got [0.5]",
    },
    "ex07_em_prior": {
        "mean(p)": "(the mean of p: one step only",
        "one step only": "(the mean of p: one step only",
        "p overwritten in the loop (corrected again and again)": "correct the original p (not the last corrected one)",
        "corrected from the current prior to the source": "EM converges to 0.25",
        "source prior taken as 0.5": "correct from source_prior, the argument",
        "classify and count (share above 0.5)": "EM converges to 0.25",
        "iterations ignored": "stop after `iterations` steps",
    },
}
