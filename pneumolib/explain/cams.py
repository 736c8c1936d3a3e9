"""Grad-CAM and friends through pytorch-grad-cam, for single-logit models.

Faithfulness: ROAD (:func:`road_scores`) is pytorch-grad-cam's own ``metrics.road.ROADCombined``,
whose noisy-linear imputation also solves the fill problem of plain deletion. The deletion test
(:func:`deletion_test`) stays our own: pytorch-grad-cam's perturbation metrics
(``RemoveMostRelevantFirst`` and the ``cam_mult_image`` confidence changes) score one map at a
time, while the sanity check needs the same deletion in many random orders beside the map's, a
gap with a bootstrap CI over images that can fail, ties broken at random (an empty map deletes
in a random order) and a fill chosen by :func:`fill_check` (mid-grey, blurred copy or donors).
The model-randomisation and image-dependence checks have no counterpart there.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr
from torch import nn

from ..data.core import CLASS_NAMES
from ..evaluation.bootstrap import bootstrap_indices, percentile_interval
from ..models.inference import as_model_input, model_dtype

# numpy 2 renamed trapz to trapezoid; the package supports numpy from 1.24.1 (tests/install)
_trapezoid = getattr(np, "trapezoid", None) or np.trapz

CAM_METHODS = ("gradcam", "gradcam++", "eigencam")


def spatial_sizes(model: nn.Module, input_size: int) -> dict[str, int]:
    """Output side length of each top-level block (``layer1``..``layer4``) at ``input_size`` px."""
    sizes: dict[str, int] = {}
    hooks = [
        module.register_forward_hook(lambda m, i, o, name=name: sizes.__setitem__(name, o.shape[-1]))
        for name, module in model.named_children()
        if name.startswith("layer")
    ]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(as_model_input(torch.zeros(1, 1, input_size, input_size), model))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    return sizes


def default_target_layer(model: nn.Module, input_size: int, min_side: int = 3) -> tuple[str, nn.Module]:
    """The deepest block whose feature map is at least ``min_side`` px wide: ``(name, module)``.

    The last block is the usual choice (its gradients are the most class-specific), but at 28 px
    a standard ResNet's layer4 is 1x1 and layer3 2x2, which make maps with little or no spatial
    information; the deepest block with at least 3x3 cells keeps some. Going shallower than
    needed costs class-specificity: the gradient-weighted sum of an early block can be negative
    everywhere, which Grad-CAM shows as an empty map.
    """
    sizes = spatial_sizes(model, input_size)
    usable = [name for name, side in sizes.items() if side >= min_side] or list(sizes)[:1]
    name = usable[-1]
    return name, getattr(model, name)


def _cam_class(method: str):
    from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus

    classes = {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus, "eigencam": EigenCAM}
    if method not in classes:
        raise ValueError(f"Unknown CAM method {method!r}; choose one of {list(classes)}.")
    return classes[method]


def predicted_classes(probs: np.ndarray, threshold: float) -> np.ndarray:
    """0 (normal) or 1 (pneumonia) per image at ``threshold``: the class a map should explain."""
    return (np.asarray(probs).reshape(-1) >= threshold).astype(np.int64)


def cam_maps(
    model: nn.Module,
    inputs: torch.Tensor,
    target_layer: nn.Module | None = None,
    method: str = "gradcam",
    target_class: int | Sequence[int] | np.ndarray = 1,
) -> np.ndarray:
    """Class-activation maps (N, H, W) in [0, 1] for a batch of normalised inputs (N, 1, H, W).

    ``target_class`` is one class for all images or one per image: 1 explains the pneumonia
    logit, 0 explains "normal" (the negated logit), via pytorch-grad-cam's
    ``BinaryClassifierOutputTarget``. Explain the *predicted* class (:func:`predicted_classes`):
    for an image the model calls normal, the pneumonia logit's gradient-weighted map is usually
    negative everywhere, and Grad-CAM's ReLU leaves nothing. pytorch-grad-cam scales each map to
    [0, 1] by its own min and max, so a map with no positive cell stays all zero
    (:func:`empty_maps`).
    """
    from pytorch_grad_cam.utils.model_targets import BinaryClassifierOutputTarget

    classes = np.broadcast_to(np.asarray(target_class, dtype=np.int64), (len(inputs),))
    if not np.isin(classes, (0, 1)).all():
        raise ValueError(f"target_class must be 0 (normal) or 1 (pneumonia), got {sorted(set(classes.tolist()))}.")
    if target_layer is None:
        target_layer = default_target_layer(model, inputs.shape[-1])[1]
    model.eval()
    with _activation_gradients_only(model), _cam_class(method)(model=model, target_layers=[target_layer]) as cam:
        maps = cam(input_tensor=inputs.detach().requires_grad_(True),
                   targets=[BinaryClassifierOutputTarget(int(c)) for c in classes])
    return np.asarray(maps, dtype=np.float32)


@contextmanager
def _activation_gradients_only(model: nn.Module) -> Iterator[None]:
    """The model's parameters frozen for the duration (and restored after): a backward pass then
    computes the gradients of the activations, which Grad-CAM reads, and skips the weights'
    gradients, about half of its cost. The inputs must require gradients for a graph to exist."""
    parameters = list(model.parameters())
    flags = [p.requires_grad for p in parameters]
    for parameter in parameters:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, flag in zip(parameters, flags):
            parameter.requires_grad_(flag)


def empty_maps(maps: np.ndarray) -> np.ndarray:
    """True per map (N, H, W) with no positive cell after Grad-CAM's ReLU and scaling (all zero):
    the map shows nothing, and a blank overlay must be labelled as such."""
    maps = np.asarray(maps)
    return maps.reshape(len(maps), -1).max(axis=1, initial=0.0) <= 0


def empty_map_table(maps_pneumonia: np.ndarray, maps_predicted: np.ndarray, predicted: np.ndarray) -> pd.DataFrame:
    """Share of empty maps per predicted class, when every map explains pneumonia and when each
    explains the predicted class (the maps of :func:`cam_maps` with ``target_class=1`` and with
    the predictions). Rows ``normal``/``pneumonia`` (predicted); columns images,
    ``empty, explaining pneumonia``, ``empty, explaining the prediction``."""
    predicted = np.asarray(predicted).reshape(-1)
    pneumonia, own = empty_maps(maps_pneumonia), empty_maps(maps_predicted)
    rows = [{"predicted": name, "images": int(mask.sum()),
             "empty, explaining pneumonia": float(pneumonia[mask].mean()) if mask.any() else np.nan,
             "empty, explaining the prediction": float(own[mask].mean()) if mask.any() else np.nan}
            for name, mask in (("normal", predicted == 0), ("pneumonia", predicted == 1))]
    return pd.DataFrame(rows).set_index("predicted")


def layer_contribution(model: nn.Module, inputs: torch.Tensor, target_layer: nn.Module) -> pd.DataFrame:
    """Split each image's pneumonia logit into the first-order term of ``target_layer``'s
    activations (sum of gradient x activation, what Grad-CAM's map adds up to when the channel
    gradients are uniform) and the rest (biases after the layer). For a network of ReLUs,
    pooling, linear layers and eval-mode batch norm the split is exact. Columns logit,
    ``layer term``, ``rest``.

    A negative layer term with a positive logit means that the layer's activations, taken
    together, argue against pneumonia, and Grad-CAM for pneumonia at that layer is mostly empty.
    """
    store: dict[str, torch.Tensor] = {}

    def keep(module, args, output):
        output.retain_grad()
        store["a"] = output

    model.eval()
    hook = target_layer.register_forward_hook(keep)
    try:
        with _activation_gradients_only(model):
            logits = model(inputs.detach().requires_grad_(True)).reshape(-1)
            logits.sum().backward()
    finally:
        hook.remove()
        model.zero_grad(set_to_none=True)
    activation = store["a"]
    term = (activation.grad * activation).detach().sum(dim=tuple(range(1, activation.dim())))
    logits = logits.detach()
    return pd.DataFrame({"logit": logits.cpu().numpy(), "layer term": term.cpu().numpy(),
                         "rest": (logits - term).cpu().numpy()})


# Fixed boxes on the image grid, as fractions of the side (rows, columns), drawn from the train
# mean image at 28 px: the dark lung fields left and right, the bright central strip
# (mediastinum, spine) between them, the diaphragm and abdomen below, and the edges. They are
# boxes, not a segmentation: anatomy moves from image to image.
REGIONS = ("lung fields", "central strip", "lower band", "edges")


def region_masks(side: int) -> dict[str, np.ndarray]:
    """Boolean (side, side) masks of :data:`REGIONS`, a partition of the image."""
    f = (np.arange(side) + 0.5) / side
    rows, cols = f[:, None], f[None, :]
    upper = rows < 0.75
    lower = ~upper & np.ones_like(cols, dtype=bool)
    central = upper & (cols >= 0.36) & (cols < 0.64)
    lungs = upper & (rows >= 0.1) & (((cols >= 0.07) & (cols < 0.36)) | ((cols >= 0.64) & (cols < 0.93)))
    edges = upper & ~central & ~lungs
    return {"lung fields": lungs, "central strip": central, "lower band": lower, "edges": edges}


def region_shares(maps: np.ndarray) -> pd.DataFrame:
    """Share of each map's mass (sum of its [0, 1] values) in each of :data:`REGIONS`, one row per
    map; NaN for an empty map. Row ``area`` of :func:`area_shares` is the share of a flat map."""
    maps = np.asarray(maps, dtype=np.float64)
    masks = region_masks(maps.shape[-1])
    total = maps.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = {name: np.where(total > 0, (maps * mask).sum(axis=(1, 2)) / total, np.nan)
                  for name, mask in masks.items()}
    return pd.DataFrame(shares)


def area_shares(side: int) -> pd.Series:
    """The share of the image each region covers: what a flat map would put there."""
    return pd.Series({name: float(mask.mean()) for name, mask in region_masks(side).items()}, name="area")


def _ranked_maps(maps: np.ndarray) -> np.ndarray:
    """The maps that can be correlated (non-empty and not constant), flattened: (n, cells)."""
    flat = np.asarray(maps, dtype=np.float64).reshape(len(maps), -1)
    flat = flat[flat.max(axis=1, initial=0.0) > 0]
    return flat[flat.std(axis=1) > 0]


def map_consistency(maps: np.ndarray) -> float:
    """Mean Pearson correlation between the non-empty maps of different images (NaN for fewer than
    two). Near 1: nearly the same map for every image, i.e. what the layer favours for the class in
    general rather than what is specific to an image."""
    flat = _ranked_maps(maps)
    if len(flat) < 2:
        return float("nan")
    r = np.corrcoef(flat)
    return float(r[np.triu_indices(len(flat), 1)].mean())


def map_dependence(maps: np.ndarray, n_boot: int = 1000, seed: int = 0) -> dict[str, float]:
    """Sanity check 3, image dependence: :func:`map_consistency` of ``maps`` (one per image) with a
    bootstrap 95% CI over images (each draw resamples the images; a pair of an image with its own
    copy is left out). A map that explains *this* image should differ from image to image; a high
    mean correlation says that the maps are largely one pattern, whatever the image."""
    flat = _ranked_maps(maps)
    n = len(flat)
    if n < 3:
        return {"maps": n, "pairwise r": float("nan"), "low": float("nan"), "high": float("nan")}
    r = np.corrcoef(flat)
    np.fill_diagonal(r, np.nan)
    draws = []
    for index in bootstrap_indices(n_boot, size=n, seed=seed):
        pairs = r[np.ix_(index, index)]
        pairs[index[:, None] == index[None, :]] = np.nan  # the same image drawn twice is not a pair
        draws.append(np.nanmean(pairs))
    low, high = percentile_interval(draws, 0.95)
    return {"maps": n, "pairwise r": float(np.nanmean(r)), "low": float(low), "high": float(high)}


def dependence_table(maps: np.ndarray, predicted: np.ndarray, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """:func:`map_dependence` of the maps of the images called normal and of those called pneumonia
    (each map explaining the predicted class), indexed by the predicted class."""
    predicted = np.asarray(predicted).reshape(-1)
    rows = {name: map_dependence(maps[predicted == label], n_boot, seed) for label, name in enumerate(CLASS_NAMES)}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("predicted")


def outcome_region_shares(maps: np.ndarray, labels: np.ndarray, probs: np.ndarray, threshold: float) -> pd.DataFrame:
    """Mean :func:`region_shares` of the non-empty maps of each outcome (true/false
    positive/negative at ``threshold``); column ``maps`` counts them and ``pairwise r`` is their
    :func:`map_consistency`. One map per image."""
    rows = []
    for outcome, index in pick_outcomes(labels, probs, threshold, n=len(maps)).items():
        shares = region_shares(maps[index]).dropna()
        rows.append({"outcome": outcome, **shares.mean().reindex(list(REGIONS)).to_dict(), "maps": len(shares),
                     "pairwise r": map_consistency(maps[index])})
    return pd.DataFrame(rows).set_index("outcome")


def _probabilities(model: nn.Module, inputs: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return torch.sigmoid(model(inputs).to(torch.float64)).reshape(-1).cpu().numpy()


def blurred(inputs: torch.Tensor, sigma: float = 4.0) -> torch.Tensor:
    """A Gaussian-blurred copy of normalised inputs (N, 1, H, W), ``sigma`` in pixels."""
    from scipy.ndimage import gaussian_filter

    array = gaussian_filter(inputs.detach().cpu().numpy(), sigma=(0, 0, sigma, sigma), mode="nearest")
    return torch.as_tensor(array, dtype=inputs.dtype, device=inputs.device)


def pick_donors(candidates: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` indices drawn reproducibly (with replacement) from ``candidates``, e.g. the train
    images labelled normal, whose pixels fill what the deletion test removes."""
    candidates = np.asarray(candidates).reshape(-1)
    if not len(candidates):
        raise ValueError("pick_donors needs at least one candidate image.")
    return candidates[np.random.default_rng(seed).integers(0, len(candidates), n)]


def fill_check(
    model: nn.Module, inputs: torch.Tensor, fills: Mapping[str, float | torch.Tensor], threshold: float,
) -> pd.DataFrame:
    """What each deletion fill does on its own: the mean pneumonia probability of the inputs and
    of the same inputs with *every* pixel replaced, and the share then called pneumonia at
    ``threshold``. A neutral fill must not raise the probability. ``fills`` maps a name to a
    value (in normalised units) or a tensor shaped like ``inputs`` (or one image, broadcast)."""
    before = _probabilities(model, inputs)
    rows = []
    for name, fill in fills.items():
        filled = (fill.to(inputs.device, inputs.dtype).expand_as(inputs) if torch.is_tensor(fill)
                  else torch.full_like(inputs, fill))
        after = _probabilities(model, filled)
        rows.append({"fill": name, "images": len(inputs), "mean probability, original": float(before.mean()),
                     "mean probability, fully filled": float(after.mean()),
                     "share called pneumonia, fully filled": float((after >= threshold).mean())})
    return pd.DataFrame(rows).set_index("fill")


def bootstrap_mean_ci(values: np.ndarray, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> dict[str, float]:
    """Mean of ``values`` (NaN dropped) with a percentile bootstrap CI over them: mean, low, high, n."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    if not len(values):
        return {"mean": np.nan, "low": np.nan, "high": np.nan, "n": 0}
    draws = values[bootstrap_indices(n_boot, size=len(values), seed=seed)].mean(axis=1)
    low, high = percentile_interval(draws, level)
    return {"mean": float(values.mean()), "low": float(low), "high": float(high), "n": int(len(values))}


@dataclass(frozen=True)
class DeletionTest:
    """Deletion test results: the pneumonia probability of each image as pixels go, in the map's
    order (``cam``, shape (N, F)) and in ``n_random`` random orders (``random``, (R, N, F)), at
    the ``fractions`` (F,) of pixels removed."""

    fractions: np.ndarray
    cam: np.ndarray
    random: np.ndarray

    def curve(self) -> pd.DataFrame:
        """Mean curves: fraction, cam, random (mean over orders), and random_low/random_high (2.5th
        and 97.5th percentiles over the random orders of their mean curve)."""
        per_order = self.random.mean(axis=1)
        low, high = np.quantile(per_order, [0.025, 0.975], axis=0)
        return pd.DataFrame({"fraction": self.fractions, "cam": self.cam.mean(axis=0),
                             "random": per_order.mean(axis=0), "random_low": low, "random_high": high})

    def areas(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-image area under the curve (trapezoid): map order (N,), random orders (R, N)."""
        return _trapezoid(self.cam, self.fractions, axis=-1), _trapezoid(self.random, self.fractions, axis=-1)

    def gap(self, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> dict[str, float]:
        """Deletion area in random order minus in map order (positive: the map's order removes the
        evidence faster), averaged over images, with a bootstrap CI over images (each image's
        random area is its mean over the random orders); ``order_low``/``order_high`` give the
        2.5-97.5 percentile range of the gap over the single random orders."""
        cam, random = self.areas()
        result = bootstrap_mean_ci(random.mean(axis=0) - cam, n_boot, level, seed)
        per_order = random.mean(axis=1) - cam.mean()
        order_low, order_high = np.quantile(per_order, [0.025, 0.975])
        return {**result, "order_low": float(order_low), "order_high": float(order_high)}


def deletion_test(
    model: nn.Module, inputs: torch.Tensor, maps: np.ndarray, steps: int = 10,
    fill: float | torch.Tensor = 0.0, n_random: int = 20, seed: int = 0,
) -> DeletionTest:
    """Deletion test: remove the most salient pixels first and watch the pneumonia probability.

    For fractions 0, 1/steps, ..., 1 of the pixels, the top-ranked pixels of each map are
    replaced by ``fill`` (a value in normalised units, 0 = mid-grey, or a tensor shaped like
    ``inputs``: a blurred copy, or donor images), and the same fractions are replaced in
    ``n_random`` random orders for comparison. A map that points at what the model uses makes the
    probability fall faster than random deletion. Ties (empty or upsampled maps) are broken at
    random, so an empty map deletes in a random order.
    """
    model.eval()
    n, _, h, w = inputs.shape
    if maps.shape != (n, h, w):
        raise ValueError(f"maps must have shape {(n, h, w)} to match the inputs, got {maps.shape}.")
    rng = np.random.default_rng(seed)
    jitter = rng.random(maps.shape) * 1e-6  # break ties of upsampled maps reproducibly
    orders = [np.argsort(-(maps + jitter).reshape(n, -1), axis=1)]
    orders += [np.argsort(rng.random((n, h * w)), axis=1) for _ in range(n_random)]
    flat = inputs.reshape(n, -1)
    fill_flat = (fill.to(inputs.device, inputs.dtype) if torch.is_tensor(fill) else torch.full_like(inputs, fill)).reshape(n, -1)
    if fill_flat.shape != flat.shape:
        raise ValueError(f"fill must be a number or a tensor shaped like the inputs {tuple(inputs.shape)}.")
    fractions = np.linspace(0.0, 1.0, steps + 1)
    probs = np.empty((len(orders), n, len(fractions)), dtype=np.float64)
    for j, fraction in enumerate(fractions):
        k = int(round(fraction * h * w))
        if k in (0, h * w):  # nothing or everything removed: the order does not matter
            probs[:, :, j] = _probabilities(model, (flat if k == 0 else fill_flat).reshape(inputs.shape))
            continue
        masked = []
        for order in orders:
            index = torch.as_tensor(order[:, :k], device=inputs.device)
            masked.append(flat.clone().scatter_(1, index, fill_flat.gather(1, index)))
        probs[:, :, j] = _probabilities(model, torch.cat(masked).reshape(-1, *inputs.shape[1:])).reshape(len(orders), n)
    return DeletionTest(fractions, probs[0], probs[1:])


def deletion_summary(test: DeletionTest, maps: np.ndarray, n_boot: int = 2000, seed: int = 0) -> dict[str, float]:
    """One table row for a deletion test: images, empty maps, the mean areas in Grad-CAM and
    random order, and the gap (random - Grad-CAM) with its bootstrap CI over images and its range
    over the single random orders (:meth:`DeletionTest.gap`)."""
    cam, random = test.areas()
    gap = test.gap(n_boot=n_boot, seed=seed)
    return {"images": len(cam), "empty maps": int(empty_maps(maps).sum()), "area Grad-CAM": float(cam.mean()),
            "area random": float(random.mean()), "orders": len(random), "gap": gap["mean"], "gap low": gap["low"],
            "gap high": gap["high"], "single-order gap low": gap["order_low"],
            "single-order gap high": gap["order_high"]}


ROAD_PERCENTILES = (20, 40, 60, 80)


def road_scores(model: nn.Module, inputs: torch.Tensor, maps: np.ndarray,
                percentiles: Sequence[int] = ROAD_PERCENTILES, seed: int = 0) -> np.ndarray:
    """ROAD (Rong et al., 2022) through ``pytorch_grad_cam.metrics.road.ROADCombined``, per image:
    the pneumonia logit's change when the *least* relevant pixels of the map are removed, minus its
    change when the *most* relevant are removed, halved and averaged over ``percentiles``. Removed
    pixels are filled by noisy linear imputation from their neighbours (the fill adds no evidence of
    its own). Positive: the map ranks pixels the model needs first. NaN for an empty map (no ranking)."""
    from pytorch_grad_cam.metrics.road import ROADCombined
    from pytorch_grad_cam.utils.model_targets import BinaryClassifierOutputTarget

    maps = np.asarray(maps, dtype=np.float32)
    scores = np.full(len(maps), np.nan)
    ranked = np.flatnonzero(~empty_maps(maps))
    if len(ranked):
        torch.manual_seed(seed)  # the imputation's noise
        x = inputs[ranked].to(device="cpu", dtype=torch.float32)  # pytorch-grad-cam imputes in float32 on the CPU
        road = ROADCombined(percentiles=list(percentiles))
        with warnings.catch_warnings():  # its np.float32(tensor < threshold) trips NumPy 2's __array_wrap__ notice
            warnings.filterwarnings("ignore", message="__array_wrap__ must accept context", category=DeprecationWarning)
            scores[ranked] = np.asarray(road(x, maps[ranked], [BinaryClassifierOutputTarget(1)] * len(ranked),
                                             _InModelDtype(model)), dtype=np.float64).reshape(-1)
    return scores


class _InModelDtype(nn.Module):
    """``model`` fed in its own dtype and device (a float64 analysis copy keeps computing in float64)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(as_model_input(x, self.model)).cpu()


def road_summary(scores: np.ndarray, n_boot: int = 2000, seed: int = 0) -> dict[str, float]:
    """One table row for ROAD: images, ranked (non-empty maps), the mean score with its bootstrap CI."""
    ci = bootstrap_mean_ci(scores, n_boot, seed=seed)
    return {"images": len(scores), "ranked": ci["n"], "mean ROAD": ci["mean"], "low": ci["low"], "high": ci["high"]}


def deletion_curve(
    model: nn.Module, inputs: torch.Tensor, maps: np.ndarray, steps: int = 10,
    fill: float | torch.Tensor = 0.0, seed: int = 0,
) -> pd.DataFrame:
    """:func:`deletion_test` with one random order, as mean curves: columns fraction, cam, random."""
    curve = deletion_test(model, inputs, maps, steps, fill, n_random=1, seed=seed).curve()
    return curve[["fraction", "cam", "random"]]


def deletion_area(curve: pd.DataFrame) -> dict[str, float]:
    """Area under the deletion curves (trapezoid over the fraction removed); lower falls faster."""
    return {name: float(_trapezoid(curve[name], curve["fraction"])) for name in ("cam", "random")}


def randomized_copy(model: nn.Module, seed: int = 0) -> nn.Module:
    """A copy of ``model`` with every layer re-initialised (the model-randomisation test's control)."""
    dtype = model_dtype(model)
    torch.manual_seed(seed)
    clone = copy.deepcopy(model).float()  # drawn in float32, so every precision gets the same control
    for module in clone.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
        if hasattr(module, "reset_running_stats"):
            module.reset_running_stats()
    return clone.to(dtype).eval()


def randomization_similarity(
    model: nn.Module, inputs: torch.Tensor, layer_name: str, method: str = "gradcam", seed: int = 0,
    target_class: int | Sequence[int] | np.ndarray = 1, constant: float = 0.0,
) -> np.ndarray:
    """Model-randomisation test (Adebayo et al., 2018): Spearman correlation, per image, between
    the maps of the trained model and of a re-initialised copy at the same layer, both
    explaining ``target_class`` (use the trained model's prediction).

    Values near 1 would mean the map does not depend on what the model learned. A constant map
    (e.g. empty after the ReLU) has no ranking: its value is ``constant``; pass NaN to leave
    such images out rather than count them as "unrelated" (0).
    """
    trained = cam_maps(model, inputs, getattr(model, layer_name), method, target_class)
    control = randomized_copy(model, seed)
    random_maps = cam_maps(control, inputs, getattr(control, layer_name), method, target_class)
    return rank_agreement(trained, random_maps, constant)


def rank_agreement(maps_a: np.ndarray, maps_b: np.ndarray, constant: float = np.nan) -> np.ndarray:
    """Spearman correlation, per image, between two sets of maps of the same images (N, H, W).
    A constant map has no ranking: such an image gets ``constant`` (NaN leaves it out)."""
    rho = [constant if np.ptp(a) == 0 or np.ptp(b) == 0 else spearmanr(a.ravel(), b.ravel()).statistic
           for a, b in zip(maps_a, maps_b)]
    return np.asarray(rho, dtype=np.float64)


def randomisation_summary(rho: np.ndarray, n_boot: int = 2000, seed: int = 0) -> dict[str, float]:
    """One table row for the randomisation test: images, compared (rho not NaN), mean rho with a
    bootstrap CI over the compared images, and the largest rho."""
    rho = np.asarray(rho, dtype=np.float64)
    ci = bootstrap_mean_ci(rho, n_boot, seed=seed)
    return {"images": len(rho), "compared": ci["n"], "mean rho": ci["mean"], "low": ci["low"], "high": ci["high"],
            "max": float(np.nanmax(rho)) if ci["n"] else np.nan}


OUTCOMES = ("true positive", "true negative", "false positive", "false negative")


def pick_outcomes(labels: np.ndarray, probs: np.ndarray, threshold: float, n: int = 6) -> dict[str, np.ndarray]:
    """Indices of up to ``n`` images per outcome at ``threshold``, most confident first
    (for errors: the most confidently wrong)."""
    labels, probs = np.asarray(labels).reshape(-1), np.asarray(probs).reshape(-1)
    predicted = probs >= threshold
    masks = {
        "true positive": predicted & (labels == 1), "true negative": ~predicted & (labels == 0),
        "false positive": predicted & (labels == 0), "false negative": ~predicted & (labels == 1),
    }
    confidence = np.abs(probs - threshold)
    return {name: (idx := np.flatnonzero(mask))[np.argsort(-confidence[idx], kind="stable")][:n]
            for name, mask in masks.items()}


def method_maps(model: nn.Module, inputs: torch.Tensor, target_layer: nn.Module,
                target_class: int | Sequence[int] | np.ndarray = 1,
                methods: Sequence[str] = CAM_METHODS) -> dict[str, np.ndarray]:
    """:func:`cam_maps` of the same inputs under each of ``methods``: method -> (N, H, W)."""
    return {method: cam_maps(model, inputs, target_layer, method, target_class) for method in methods}
