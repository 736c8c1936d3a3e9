"""Interactive explorers (ipywidgets): a control a student moves, and the view it updates.

In a live notebook (JupyterLab, Jupyter Notebook, VS Code, Colab) each explorer shows its
controls; in a headless run it draws one static view in their place, so committed notebooks read
well on GitHub and nbval compares stable outputs. A run is headless when the notebook's
``interactive`` parameter is False (``notebooks run`` passes it), and also when no frontend is
there to move a control (:func:`live_frontend`): plain papermill with the default parameters never
waits on a widget.
"""

from __future__ import annotations

import os
import sys
from typing import Callable, Mapping

import numpy as np

from pneumolib.data.core import CLASS_NAMES
from pneumolib.evaluation.metrics import binary_metrics
from . import plots


def live_frontend() -> bool:
    """True when a frontend that shows widgets runs this kernel: Colab (``google.colab`` is loaded),
    or a Jupyter server (JupyterLab, Notebook 7, VS Code), which sets ``JPY_SESSION_NAME`` for each
    kernel it starts. papermill and nbclient set neither."""
    return "google.colab" in sys.modules or bool(os.environ.get("JPY_SESSION_NAME"))


def threshold_summary(y: np.ndarray, p: np.ndarray, threshold: float) -> str:
    """One line of the numbers the threshold explorer shows (what the browser test reads)."""
    m = binary_metrics(y, p, threshold)
    return (f"threshold {threshold:.4f}: sensitivity {m['sensitivity']:.4f}, specificity {m['specificity']:.4f}, "
            f"TP {m['tp']:.0f}, FN {m['fn']:.0f}, FP {m['fp']:.0f}, TN {m['tn']:.0f}")


def threshold_explorer(y: np.ndarray, p: np.ndarray, initial: float, interactive: bool,
                       save_as: str | None = "threshold_explorer") -> None:
    """A threshold slider (0.01-0.99 in steps of 0.01) that updates the confusion matrix,
    sensitivity, specificity and the operating point on the ROC curve of ``(y, p)``, starting at
    the step nearest ``initial``; headless, the view at ``initial`` itself."""

    def view(threshold: float, save: str | None = None) -> None:
        print(threshold_summary(y, p, threshold))
        plots.threshold_view(y, p, threshold, save_as=save)

    if not (interactive and live_frontend()):
        view(float(initial), save_as)
        return
    initial = float(np.clip(round(initial, 2), 0.01, 0.99))
    import ipywidgets as widgets
    from IPython.display import display

    slider = widgets.FloatSlider(value=initial, min=0.01, max=0.99, step=0.01, description="threshold",
                                 continuous_update=False, readout_format=".2f")
    display(widgets.VBox([slider, widgets.interactive_output(view, {"threshold": slider})]))


def cam_summary(index: int, label: int, probability: float, threshold: float) -> str:
    """One line of what the CAM explorer shows for test image ``index``."""
    predicted = CLASS_NAMES[int(probability >= threshold)]
    return (f"test image {index}: label {CLASS_NAMES[label]}, probability {probability:.4f}, predicted {predicted} "
            f"at threshold {threshold:.3f} (the maps explain {predicted})")


def cam_explorer(images: np.ndarray, labels: np.ndarray, probs: np.ndarray, threshold: float,
                 maps_for: Callable[[int], Mapping[str, np.ndarray]], interactive: bool, initial: int = 0,
                 save_as: str | None = "cam_explorer") -> None:
    """An image picker over ``images``: each pick shows the image, its label and probability, and
    one map per method (``maps_for(index)``: method name -> (H, W) map); headless, image ``initial``."""

    def view(index: int, save: str | None = None) -> None:
        print(cam_summary(index, int(labels[index]), float(probs[index]), threshold))
        plots.cam_methods_row(images[index], maps_for(index), f"Test image {index}: each method's map (jet, scaled "
                              "to [0, 1] per image)", save_as=save)

    if not (interactive and live_frontend()):
        view(initial, save_as)
        return
    import ipywidgets as widgets
    from IPython.display import display

    picker = widgets.IntSlider(value=initial, min=0, max=len(images) - 1, description="test image",
                               continuous_update=False)
    display(widgets.VBox([picker, widgets.interactive_output(view, {"index": picker})]))
