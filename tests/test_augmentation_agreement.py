"""The two training data paths draw augmentations from the same distribution, preset by preset.

The fast path (``BatchAugment`` in ``DeviceBatches``: one ``affine_grid`` + ``grid_sample`` per batch)
and the reference path (``augmentation_preset``: per-image ``transforms.v2``) each augment synthetic
images a few hundred times with fixed seeds. Per-image statistics that reveal the transform are
compared with two-sample Kolmogorov-Smirnov tests:

* a bright square at the centre: centroid (translation, crop position), mass (zoom, crop area),
  log(var_x / var_y) (aspect ratio; also sub-pixel blur, so whole-pixel translations show), spread;
* a bright square off the centre: centroid x (flips), y, distance from the centre (zoom), polar
  angle (rotation), spread;
* an all-white image: mean intensity (how much of the output lies outside the image, and how the
  border is filled).

``test_check_detects_stock_torchvision_pipeline`` shows the check has the power to tell: the stock
RandomResizedCrop (aspect ratio 0.9-1.1, whole-pixel crops) + RandomHorizontalFlip + RandomAffine
(whole-pixel translations, fill=0) pipeline the reference path used before fails it.

Not covered: with ``input_size`` above the image size the reference path upsamples before augmenting
(two bilinear resamplings, slightly more blur) where the fast path resamples once.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import ks_2samp
from torchvision.transforms import v2

from pneumolib.data import Split, augmentation_preset
from pneumolib.data.device_batches import BatchAugment, DeviceBatches

N = 1000  # augmented copies of each image per path
MIN_P = 1e-3  # every KS p-value must be above this (the seeds are fixed: the outcome is too)


@pytest.fixture(autouse=True)
def one_thread():
    """Per-image transforms of tiny images are far slower with threads fighting over 2 shared cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def synthetic_images(size: int) -> dict[str, torch.Tensor]:
    """(size, size) float images in [0, 1] whose per-image statistics reveal the augmentation."""
    k = round(size * 0.22)
    centre = torch.zeros(size, size)
    lo = (size - k) // 2
    centre[lo : lo + k, lo : lo + k] = 1.0
    off = torch.zeros(size, size)
    top, left = round(size * 0.22), round(size * 0.58)
    off[top : top + k, left : left + k] = 1.0
    return {"centre": centre, "off_centre": off, "white": torch.ones(size, size)}


def statistics(x: torch.Tensor, image: str) -> dict[str, np.ndarray]:
    """Per-image statistics of augmented copies x (N, S, S), in pixels from the image centre."""
    size = x.shape[-1]
    coord = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    x = x.double().clamp_min(0)
    mass = x.sum((1, 2))
    if image == "white":
        return {"mean": (mass / size**2).numpy()}
    px, py = x.sum(1), x.sum(2)  # marginals along x (columns) and y (rows)
    cx, cy = (px * coord).sum(1) / mass, (py * coord).sum(1) / mass
    vx = (px * coord**2).sum(1) / mass - cx**2
    vy = (py * coord**2).sum(1) / mass - cy**2
    out = {"cx": cx, "cy": cy, "spread": (vx + vy).sqrt()}
    if image == "centre":
        out |= {"mass": mass, "log_aspect": torch.log(vx / vy)}
    else:
        out |= {"radius": (cx**2 + cy**2).sqrt(), "angle": torch.atan2(cy, cx.abs())}
    return {k: v.numpy() for k, v in out.items()}


def fast_path(image: torch.Tensor, augment: BatchAugment, seed: int) -> torch.Tensor:
    uint8 = (image * 255).round().to(torch.uint8).numpy()
    split = Split(np.repeat(uint8[None], N, axis=0), np.zeros(N, np.int64))
    batches = DeviceBatches(split, torch.device("cpu"), mean=0.0, std=1.0, augment=augment)
    return batches.transform(batches.images, torch.Generator().manual_seed(seed), augment=True)[:, 0]


def reference_path(image: torch.Tensor, transform, seed: int) -> torch.Tensor:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return torch.stack([transform(image[None])[0] for _ in range(N)])


def ks_pvalues(preset: str, size: int, transform) -> dict[str, float]:
    """KS p-value of every statistic of every synthetic image, fast path against ``transform``."""
    pvalues = {}
    for i, (name, image) in enumerate(synthetic_images(size).items()):
        fast = statistics(fast_path(image, BatchAugment.preset(preset), seed=100 + i), name)
        ref = statistics(reference_path(image, transform, seed=200 + i), name)
        for stat in fast:
            pvalues[f"{name}.{stat}"] = ks_2samp(fast[stat], ref[stat]).pvalue
    return pvalues


@pytest.mark.parametrize("size", [28, 64])
@pytest.mark.parametrize("preset", ["light", "strong"])
def test_paths_agree_in_distribution(preset, size):
    pvalues = ks_pvalues(preset, size, augmentation_preset(preset, size))
    low = {k: f"{p:.2g}" for k, p in pvalues.items() if p <= MIN_P}
    assert not low, f"{preset} at {size} px: the two paths differ in {low}"


def stock_torchvision(size: int, hflip=False, rotation=0.0, translate=0.0, scale=None, resized_crop=None):
    """The reference pipeline as it was: stock v2 classes, each with its own conventions."""
    steps = []
    if resized_crop is not None:
        steps.append(v2.RandomResizedCrop(size, scale=resized_crop, ratio=(0.9, 1.1), antialias=True))
    if hflip:
        steps.append(v2.RandomHorizontalFlip())
    steps.append(v2.RandomAffine(rotation, (translate, translate), scale, interpolation=v2.InterpolationMode.BILINEAR))
    return v2.Compose(steps)


@pytest.mark.parametrize("preset", ["light", "strong"])
def test_check_detects_stock_torchvision_pipeline(preset):
    from pneumolib.data import AUGMENT_PRESETS

    pvalues = ks_pvalues(preset, 28, stock_torchvision(28, **AUGMENT_PRESETS[preset]))
    assert min(pvalues.values()) < 1e-8, pvalues


def test_augmented_views_are_what_training_draws():
    """Notebook 01's figure: each flip view is the image or its mirror, and both occur."""
    from pneumolib.data.device_batches import BatchAugment, augmented_views

    image = np.arange(28 * 28, dtype=np.uint8).reshape(28, 28)
    views = augmented_views(image, BatchAugment(hflip=True), n=12, seed=0)
    plain, mirror = image / 255.0, image[:, ::-1] / 255.0
    same = [np.allclose(v, plain, atol=1e-5) for v in views]
    flipped = [np.allclose(v, mirror, atol=1e-5) for v in views]
    assert views.shape == (12, 28, 28) and all(a or b for a, b in zip(same, flipped)) and any(same) and any(flipped)


def photometric_statistics(x: torch.Tensor) -> dict[str, np.ndarray]:
    """Per-image mean (brightness, gamma), sd (contrast) and mean squared neighbour difference
    (blur lowers it, noise raises it) of images x (N, S, S)."""
    x = x.double()
    rough = ((x[:, 1:] - x[:, :-1]) ** 2).mean((1, 2)) + ((x[:, :, 1:] - x[:, :, :-1]) ** 2).mean((1, 2))
    return {"mean": x.mean((1, 2)).numpy(), "sd": x.std((1, 2)).numpy(), "roughness": rough.numpy()}


def photometric_pvalues(photometric_fast, photometric_reference, size: int = 28) -> dict[str, float]:
    """KS p-values of the photometric statistics of a textured image, fast path against reference."""
    from pneumolib.data import build_augmentation

    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    # a ramp (gamma, contrast, brightness) with stripes 4 px apart (blur, noise): every change shows
    image = 0.2 + 0.4 * xx + 0.15 * torch.sin(2 * torch.pi * yy * (size - 1) / 4)
    uint8 = (image * 255).round().to(torch.uint8).numpy()
    split = Split(np.repeat(uint8[None], N, axis=0), np.zeros(N, np.int64))
    batches = DeviceBatches(split, torch.device("cpu"), mean=0.0, std=1.0, photometric=photometric_fast)
    fast = batches.transform(batches.images, torch.Generator().manual_seed(5), augment=True)[:, 0]
    ref = reference_path(torch.from_numpy(uint8).float() / 255, build_augmentation(size, photometric=photometric_reference), 6)
    a, b = photometric_statistics(fast), photometric_statistics(ref)
    return {k: ks_2samp(a[k], b[k]).pvalue for k in a}


def test_photometric_paths_agree_in_distribution():
    from pneumolib.data.photometric import Photometric

    robust = Photometric.preset("robust")
    pvalues = photometric_pvalues(robust, robust)
    assert min(pvalues.values()) > MIN_P, pvalues


def test_photometric_check_detects_a_different_range():
    """The same check tells a doubled noise sd, a missing blur, a missing gamma or a narrower
    contrast range apart."""
    from dataclasses import replace

    from pneumolib.data.photometric import Photometric

    robust = Photometric.preset("robust")
    for changed in (replace(robust, noise=0.06), replace(robust, blur=None), replace(robust, gamma=None),
                    replace(robust, contrast=(0.9, 1.1))):
        assert min(photometric_pvalues(robust, changed).values()) < 1e-6, changed


def test_photometric_presets_match_the_config_choices():
    from pneumolib.config import INTENSITY_PRESETS as choices
    from pneumolib.data.photometric import INTENSITY_PRESETS

    assert tuple(INTENSITY_PRESETS) == choices
