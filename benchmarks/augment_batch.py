"""Per-sample batched augmentation: pneumolib's hand-written BatchAugment against kornia.augmentation.

Times the augmentation of one uint8 batch (B, 1, S, S) into normalised float images, per-image
random parameters, for the "light" and "strong" presets at 28 and 64 px:

* ``pneumolib``: ``DeviceBatches.transform`` with ``BatchAugment.preset`` (one affine_grid + grid_sample);
* ``kornia``: ``RandomResizedCrop`` (strong only) + ``RandomHorizontalFlip`` + ``RandomAffine`` with the
  preset's ranges, ``same_on_batch=False`` (per-image parameters), same uint8 -> float -> normalise steps;
* ``loop`` (context): the per-image path's augmentation (``augmentation_preset``: the same
  augmentation on a batch of one) in a Python loop, which is what augmenting one image at a time
  costs (torchvision's ``transforms.v2`` draws one set of parameters per call, so on a batch it
  would give every image the same transform).

The three are timed interleaved in each repeat (the machine may be shared), after a warm-up;
the table shows the median of the repeats. Run:  .venv/bin/python benchmarks/augment_batch.py
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

import pneumolib  # noqa: F401  (torchvision import fix before anything imports torchvision)
from pneumolib.data import AUGMENT_PRESETS, Split, augmentation_preset
from pneumolib.data.device_batches import BatchAugment, DeviceBatches

MEAN, STD = 0.5, 0.5


def kornia_pipeline(size: int, hflip=False, rotation=0.0, translate=0.0, scale=None, resized_crop=None):
    import kornia.augmentation as K

    steps = []
    if resized_crop is not None:  # square crops as the fast path takes them
        steps.append(K.RandomResizedCrop((size, size), scale=resized_crop, ratio=(1.0, 1.0),
                                         cropping_mode="resample", align_corners=False))
    if hflip:
        steps.append(K.RandomHorizontalFlip(p=0.5))
    steps.append(K.RandomAffine(degrees=rotation, translate=(translate, translate) if translate else None,
                                scale=scale, p=1.0, align_corners=False, padding_mode="zeros"))
    return torch.nn.Sequential(*steps)


def time_calls(fn, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--sizes", type=int, nargs="+", default=[28, 64])
    parser.add_argument("--presets", nargs="+", default=["light", "strong"])
    parser.add_argument("--repeats", type=int, default=15, help="timed repeats; the median is reported")
    parser.add_argument("--calls", type=int, default=20, help="batches per timed repeat")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-loop", action="store_true", help="skip the per-image transforms.v2 loop")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    try:
        import kornia
    except ImportError:
        kornia = None
    print(f"torch {torch.__version__}, kornia {kornia.__version__ if kornia else 'not installed'}, "
          f"threads {torch.get_num_threads()}, batch {args.batch}, median of {args.repeats} x {args.calls} batches")
    rng = np.random.default_rng(0)
    header = f"{'px':>3} {'preset':>6} | {'pneumolib img/s':>15} | {'kornia img/s':>12} | {'pneumolib/kornia':>16} | {'tv-v2 loop img/s':>16}"
    print(header + "\n" + "-" * len(header))
    for size in args.sizes:
        images = rng.integers(0, 256, size=(args.batch, size, size), dtype=np.uint8)
        for preset in args.presets:
            fast = DeviceBatches(Split(images, np.zeros(args.batch, np.int64)), torch.device("cpu"), MEAN, STD,
                                 augment=BatchAugment.preset(preset))
            generator = torch.Generator().manual_seed(0)
            candidates = {"pneumolib": lambda: fast.transform(fast.images, generator, augment=True)}
            if kornia is not None:
                pipeline = kornia_pipeline(size, **AUGMENT_PRESETS[preset])

                def with_kornia(pipeline=pipeline, batch=fast.images):
                    x = pipeline(batch.to(torch.float32).div_(255.0))
                    return x.sub_(MEAN).div_(STD)

                candidates["kornia"] = with_kornia
            if not args.no_loop:
                per_image = augmentation_preset(preset, size)

                def tv_loop(per_image=per_image, batch=fast.images):
                    x = batch.to(torch.float32).div_(255.0)
                    return torch.stack([per_image(img) for img in x]).sub_(MEAN).div_(STD)

                candidates["loop"] = tv_loop
            with torch.inference_mode():
                for fn in candidates.values():  # warm-up
                    time_calls(fn, 3)
                times = {name: [] for name in candidates}
                for _ in range(args.repeats):
                    for name, fn in candidates.items():
                        calls = max(1, args.calls // 10) if name == "loop" else args.calls
                        times[name].append(args.batch * calls / time_calls(fn, calls))
            rate = {name: statistics.median(v) for name, v in times.items()}
            kornia_rate = rate.get("kornia", float("nan"))
            print(f"{size:>3} {preset:>6} | {rate['pneumolib']:>15,.0f} | {kornia_rate:>12,.0f} | "
                  f"{rate['pneumolib'] / kornia_rate:>15.2f}x | {rate.get('loop', float('nan')):>16,.0f}", flush=True)


if __name__ == "__main__":
    main()
