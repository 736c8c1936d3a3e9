"""Dataset shift between the training cohort and a new one: measure it, estimate the new
cohort's pneumonia prior from unlabeled images, and adapt a model's outputs without labels.

Every function here reads images or predictions of the new cohort, never its labels.
"""

from .adapt import adabn, batch_norm_layers
from .measure import domain_classifier, intensity_statistics, split_statistics
from .priors import MIN_IMAGES, bbse_prior, bootstrap_prior, em_prior, prior_corrected

__all__ = ["MIN_IMAGES", "adabn", "batch_norm_layers", "bbse_prior", "bootstrap_prior", "domain_classifier",
           "em_prior", "intensity_statistics", "prior_corrected", "split_statistics"]
