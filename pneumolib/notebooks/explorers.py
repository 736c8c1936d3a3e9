"""Interactive explorers (ipywidgets): a control a student moves, and the view it updates.

In a live notebook (JupyterLab, Colab) each explorer shows its controls; in a headless run
(papermill, nbval: the notebook's ``interactive`` parameter is False) it draws one static view in
their place, so committed notebooks read well on GitHub and nbval compares stable outputs.
"""

from __future__ import annotations

import numpy as np

from ..evaluation.metrics import binary_metrics
from . import plots


def threshold_summary(y: np.ndarray, p: np.ndarray, threshold: float) -> str:
    """One line of the numbers the threshold explorer shows (what the browser test reads)."""
    m = binary_metrics(y, p, threshold)
    return (f"threshold {threshold:.2f}: sensitivity {m['sensitivity']:.4f}, specificity {m['specificity']:.4f}, "
            f"TP {m['tp']:.0f}, FN {m['fn']:.0f}, FP {m['fp']:.0f}, TN {m['tn']:.0f}")


def threshold_explorer(y: np.ndarray, p: np.ndarray, initial: float, interactive: bool,
                       save_as: str | None = "threshold_explorer") -> None:
    """A threshold slider (0.01-0.99) that updates the confusion matrix, sensitivity, specificity
    and the operating point on the ROC curve of ``(y, p)``; headless, the view at ``initial``."""
    initial = float(np.clip(round(initial, 2), 0.01, 0.99))

    def view(threshold: float, save: str | None = None) -> None:
        print(threshold_summary(y, p, threshold))
        plots.threshold_view(y, p, threshold, save_as=save)

    if not interactive:
        view(initial, save_as)
        return
    import ipywidgets as widgets
    from IPython.display import display

    slider = widgets.FloatSlider(value=initial, min=0.01, max=0.99, step=0.01, description="threshold",
                                 continuous_update=False, readout_format=".2f")
    display(widgets.VBox([slider, widgets.interactive_output(view, {"threshold": slider})]))
