"""Explanation: Grad-CAM and friends through pytorch-grad-cam, target layers, outcome groups, and
the sanity checks (deletion curves, model randomisation, image dependence)."""

from .cams import (
    CAM_METHODS,
    REGIONS,
    DeletionTest,
    area_shares,
    blurred,
    bootstrap_mean_ci,
    cam_maps,
    default_target_layer,
    dependence_table,
    deletion_area,
    deletion_curve,
    deletion_summary,
    deletion_test,
    empty_map_table,
    empty_maps,
    fill_check,
    layer_contribution,
    map_consistency,
    map_dependence,
    method_maps,
    outcome_region_shares,
    pick_donors,
    pick_outcomes,
    predicted_classes,
    randomisation_summary,
    randomization_similarity,
    rank_agreement,
    randomized_copy,
    region_masks,
    region_shares,
    spatial_sizes,
)

__all__ = [
    "CAM_METHODS", "REGIONS", "DeletionTest", "area_shares", "blurred", "bootstrap_mean_ci", "cam_maps",
    "default_target_layer", "dependence_table", "deletion_area", "deletion_curve", "deletion_summary", "deletion_test",
    "empty_map_table", "empty_maps", "fill_check", "layer_contribution", "map_consistency", "map_dependence", "method_maps",
    "outcome_region_shares", "pick_donors", "pick_outcomes", "predicted_classes", "randomisation_summary",
    "randomization_similarity", "rank_agreement", "randomized_copy", "region_masks", "region_shares", "spatial_sizes",
]
