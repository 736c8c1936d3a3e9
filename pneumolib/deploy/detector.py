"""Using a trained model on new images: :class:`PneumoniaDetector`, from a checkpoint or an ONNX file.

Preprocessing is derived from the run's saved configuration, never re-typed: images are read as
grayscale, center-cropped and resized to the trained size (:func:`pneumolib.images.read_image`),
then normalised (and upsampled, if the model was trained so) exactly as in training.

The ONNX path needs only numpy, pillow and onnxruntime: no torch.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import CheckpointError, ConfigError
from ..images import ImageInputError, read_image

CLASS_LABELS = ("normal", "pneumonia")
ONNX_METADATA_KEY = "pneumolib"


def _check_threshold(threshold: float) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 < threshold < 1.0:
        raise ConfigError(f"threshold must be a number strictly between 0 and 1, got {threshold!r}.")
    return float(threshold)


class PneumoniaDetector:
    """Predicts pneumonia vs normal for files, PIL images, arrays, or lists of them.

    Build it with :meth:`from_checkpoint` (PyTorch) or :meth:`from_onnx` (onnxruntime), or
    :meth:`load` for either by file suffix.
    """

    def __init__(
        self,
        probabilities: Callable[[np.ndarray], np.ndarray],
        image_size: int,
        threshold: float,
        model_name: str,
        explainer: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    ) -> None:
        self._probabilities = probabilities  # uint8 (N, S, S) -> float (N,)
        self._explainer = explainer  # uint8 (N, S, S) and classes (N,) -> float maps (N, H, W)
        self.image_size = image_size
        self.threshold = _check_threshold(threshold)
        self.model_name = model_name

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, threshold: float | None = None, device: str = "auto") -> "PneumoniaDetector":
        """A detector running the PyTorch model of a pneumolib checkpoint (loaded with weights_only=True)."""
        # torch is imported here, not at the top, so that the ONNX detector runs without torch installed
        from ..models.zoo import load_model
        from ..data import model_inputs
        from ..devices import resolve_device
        from ..explain.cams import cam_maps, predicted_classes
        from ..models.inference import predict_probabilities

        model, config, payload = load_model(path)
        config = replace(config, device=str(resolve_device(device)))
        model.to(config.device)

        def probabilities(images: np.ndarray) -> np.ndarray:
            return predict_probabilities(model, images, config, precision="run", device=config.device)

        chosen = payload.get("threshold", 0.5) if threshold is None else threshold

        def explainer(images: np.ndarray, probs: np.ndarray) -> np.ndarray:
            """Grad-CAM of the predicted class: the pneumonia map for a pneumonia call, the normal map otherwise."""
            inputs = model_inputs(images, config.norm_mean, config.norm_std, config.input_size)
            return cam_maps(model, inputs.to(config.device), target_class=predicted_classes(probs, chosen))

        return cls(probabilities, config.image_size, chosen, config.model, explainer)

    @classmethod
    def from_onnx(cls, path: str | os.PathLike, threshold: float | None = None) -> "PneumoniaDetector":
        """A detector running an ONNX export (``python -m pneumolib export``) with onnxruntime only."""
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"ONNX model '{path}' does not exist.")
        try:
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise CheckpointError(f"'{path}' is not a loadable ONNX model ({str(exc).splitlines()[0]}).") from None
        raw = session.get_modelmeta().custom_metadata_map.get(ONNX_METADATA_KEY)
        if raw is None:
            raise CheckpointError(f"'{path}' is an ONNX model but not a pneumolib export (no '{ONNX_METADATA_KEY}' metadata).")
        meta = json.loads(raw)
        input_name = session.get_inputs()[0].name

        def probabilities(images: np.ndarray) -> np.ndarray:
            pixels = images.astype(np.float32)[:, None, :, :]
            return session.run(None, {input_name: pixels})[0].reshape(-1).astype(np.float64)

        chosen = meta.get("threshold", 0.5) if threshold is None else threshold
        return cls(probabilities, int(meta["image_size"]), chosen, meta["model"])

    @classmethod
    def load(cls, path: str | os.PathLike, threshold: float | None = None, device: str = "auto") -> "PneumoniaDetector":
        """:meth:`from_onnx` for ``.onnx`` files, else :meth:`from_checkpoint`."""
        if Path(path).suffix.lower() == ".onnx":
            return cls.from_onnx(path, threshold)
        return cls.from_checkpoint(path, threshold, device)

    # -- prediction ---------------------------------------------------------------------------
    def preprocess(self, source: Any, name: str | None = None) -> np.ndarray:
        """One input as the uint8 (S, S) grayscale image the model was trained on."""
        return read_image(source, self.image_size, name)

    def _result(self, probability: float) -> dict[str, Any]:
        label = CLASS_LABELS[int(probability >= self.threshold)]
        return {"label": label, "probability": float(probability), "threshold": self.threshold, "model": self.model_name}

    def predict(
        self, x: Any, batch_size: int = 64, explain: bool = False, errors: str = "raise"
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """Predict one input (returns a dict) or a list of inputs (returns a list of dicts).

        Each dict: ``label`` ("pneumonia"/"normal"), ``probability``, ``threshold``, ``model``,
        and ``cam`` (a Grad-CAM map) with ``explain=True``. With ``errors="report"``, an input
        that cannot be read gives ``{"input": ..., "error": message}`` instead of raising.
        """
        if errors not in ("raise", "report"):
            raise ValueError(f"errors must be 'raise' or 'report', got {errors!r}.")
        if explain and self._explainer is None:
            raise ConfigError("explain=True needs the PyTorch checkpoint; an ONNX detector cannot compute Grad-CAM.")
        single = not isinstance(x, (list, tuple))
        sources: Sequence[Any] = [x] if single else x
        results: list[dict[str, Any] | None] = [None] * len(sources)
        images, positions = [], []
        for i, source in enumerate(sources):
            name = str(source) if isinstance(source, (str, os.PathLike)) else None
            try:
                images.append(self.preprocess(source, name))
                positions.append(i)
            except ImageInputError as exc:
                if errors == "raise":
                    raise
                results[i] = {"input": name or f"input {i}", "error": str(exc)}
        for start in range(0, len(images), batch_size):
            batch = np.stack(images[start : start + batch_size])
            probs = self._probabilities(batch)
            maps = self._explainer(batch, probs) if explain else None
            for j, probability in enumerate(probs):
                result = self._result(probability)
                if maps is not None:
                    result["cam"] = maps[j]
                index = positions[start + j]
                if isinstance(sources[index], (str, os.PathLike)):
                    result = {"input": str(sources[index]), **result}
                results[index] = result
        return results[0] if single else results  # type: ignore[return-value]
