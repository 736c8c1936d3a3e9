"""Explanation: Grad-CAM and friends through pytorch-grad-cam, target layers, outcome groups, and
the sanity checks (deletion curves, model randomisation)."""

from .cams import (
    CAM_METHODS,
    cam_maps,
    default_target_layer,
    deletion_area,
    deletion_curve,
    pick_outcomes,
    randomization_similarity,
    randomized_copy,
    spatial_sizes,
)

__all__ = [
    "CAM_METHODS", "cam_maps", "default_target_layer", "deletion_area", "deletion_curve", "pick_outcomes",
    "randomization_similarity", "randomized_copy", "spatial_sizes",
]
