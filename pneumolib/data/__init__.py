"""Data: PneumoniaMNIST files and folder datasets, splits, weights, tensors and loaders."""

from .core import CLASS_NAMES, SPLITS, PneumoniaData, Split
from ..images import center_crop_resize
from .folder import load_folder_dataset
from .medmnist_files import (
    DATA_ENV_VAR,
    download_pneumoniamnist,
    load_pneumoniamnist,
    npz_filename,
    resolve_data_dir,
    validate_npz,
)
from .quality import exact_duplicates
from .splits import (
    class_counts,
    class_weights,
    cv_fold,
    cv_pool,
    pos_weight,
    sample_weights,
    stratified_kfold,
    stratified_split,
    split_summary,
    subsample,
)
from .augment import AUGMENT_PRESETS, ImageAugment, augmentation_preset
from .tensors import TensorImageDataset, make_loader, model_inputs, to_float_tensor

__all__ = [
    "AUGMENT_PRESETS", "CLASS_NAMES", "DATA_ENV_VAR", "SPLITS", "PneumoniaData", "Split",
    "ImageAugment", "TensorImageDataset", "augmentation_preset", "center_crop_resize",
    "class_counts", "class_weights", "cv_fold", "cv_pool", "download_pneumoniamnist", "exact_duplicates", "load_folder_dataset",
    "load_pneumoniamnist", "make_loader", "model_inputs", "npz_filename", "pos_weight", "resolve_data_dir",
    "sample_weights", "split_summary", "stratified_kfold", "stratified_split", "subsample", "to_float_tensor", "validate_npz",
]
