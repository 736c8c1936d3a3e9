"""Training: the one loop (``fit``) for CPU and GPU with its batches;
mixup/CutMix and distillation targets; test-time augmentation; SimCLR pretraining; the
training-speed benchmark.

Imports ``data``, ``models`` and ``evaluation.metrics`` (for the val score of each epoch).
"""

from .loop import History, fit, fit_two_stage

__all__ = ["History", "fit", "fit_two_stage"]
