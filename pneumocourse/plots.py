"""Every figure a notebook shows, one function each. Each saves ``results/figures/<save_as>.png``."""

from __future__ import annotations

import io
import textwrap

from typing import Mapping

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
import numpy as np
import pandas as pd
import seaborn as sns
from sklearn.metrics import average_precision_score

from pneumolib.evaluation.calibration import expected_calibration_error, reliability_table
from pneumolib.data import SPLITS, PneumoniaData, Split, class_counts
from pneumolib.data.core import CLASS_NAMES
from pneumolib.evaluation.metrics import binary_metrics, confusion, pr_curve_data, roc_curve_data
from pneumolib.paths import results_path

from .figure_data import save_figure_data

Predictions = Mapping[str, tuple[np.ndarray, np.ndarray]]  # name -> (y_true, y_prob)


def use_style() -> None:
    """The suite's plotting style (seaborn, readable on GitHub)."""
    sns.set_theme(context="notebook", style="whitegrid", palette="deep")
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 120, "savefig.bbox": "tight", "image.cmap": "gray"})


def _image_axes(ax: Axes) -> None:
    ax.set_xticks([]), ax.set_yticks([])
    ax.grid(False)


def _subplots(nrows: int = 1, ncols: int = 1, **kwargs):
    """A figure outside pyplot's state machine, so no backend shows it a second time."""
    fig = Figure(figsize=kwargs.pop("figsize", None))
    return fig, fig.subplots(nrows, ncols, **kwargs)


def _finish(fig: Figure, save_as: str | None) -> Figure:
    """Save the figure to results/figures/ and, in a notebook, show it exactly once as a PNG.

    Figures are built outside pyplot and shown explicitly, so the output is the same whichever
    way the kernel is driven (Jupyter, papermill, nbval). In a script nothing is shown.
    """
    fig.tight_layout()
    if save_as:
        png = results_path("figures", f"{save_as}.png")
        fig.savefig(png, metadata={"Software": None})
        save_figure_data(fig, png)  # what the figure shows, compared by a render as numbers
    if _in_notebook():
        from IPython.display import Image, display

        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", metadata={"Software": None})
        display(Image(buffer.getvalue()))
    return fig


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


def class_balance(data: PneumoniaData, save_as: str | None = "class_balance") -> Figure:
    """Images per class in each split, as grouped bars with counts."""
    rows = [{"split": s, "class": c, "images": n} for s in SPLITS for c, n in class_counts(data.split(s).labels).items()]
    fig, ax = _subplots(figsize=(6, 3.5))
    sns.barplot(pd.DataFrame(rows), x="split", y="images", hue="class", ax=ax)
    for container in ax.containers:
        ax.bar_label(container, fontsize=9)
    ax.set_title("Class balance per split")
    return _finish(fig, save_as)


def sample_grid(split: Split, n_per_class: int = 8, seed: int = 0, save_as: str | None = "samples") -> Figure:
    """``n_per_class`` random images of each class, one row per class."""
    rng = np.random.default_rng(seed)
    fig, axes = _subplots(2, n_per_class, figsize=(1.3 * n_per_class, 3.0))
    for label, name in enumerate(CLASS_NAMES):
        picks = rng.choice(np.flatnonzero(split.labels == label), n_per_class, replace=False)
        for ax, index in zip(axes[label], picks):
            ax.imshow(split.images[index], vmin=0, vmax=255)
            _image_axes(ax)
        axes[label][0].set_ylabel(name)
    fig.suptitle("Random training images")
    return _finish(fig, save_as)


def intensity_distributions(split: Split, save_as: str | None = "intensities") -> Figure:
    """Pixel-intensity histograms per class, and the per-image mean intensity per class."""
    fig, (left, right) = _subplots(1, 2, figsize=(10, 3.5))
    for label, name in enumerate(CLASS_NAMES):
        images = split.images[split.labels == label]
        left.hist(images.ravel(), bins=64, range=(0, 255), density=True, alpha=0.55, label=name)
        sns.kdeplot(images.reshape(len(images), -1).mean(axis=1), ax=right, label=name, fill=True)
    left.set(title="Pixel intensities", xlabel="intensity (0-255)", ylabel="density (share per unit)")
    right.set(title="Mean intensity per image", xlabel="mean intensity (0-255)", ylabel="density (share per unit)")
    left.legend(), right.legend()
    return _finish(fig, save_as)


def mean_images(split: Split, save_as: str | None = "mean_images") -> Figure:
    """Mean image per class and their difference (pneumonia - normal)."""
    means = [split.images[split.labels == c].astype(np.float64).mean(axis=0) for c in (0, 1)]
    diff = means[1] - means[0]
    fig, axes = _subplots(1, 3, figsize=(9, 3.2))
    for ax, img, title in zip(axes[:2], means, CLASS_NAMES):
        ax.imshow(img, vmin=0, vmax=255)
        ax.set_title(f"mean {title}")
    limit = np.abs(diff).max()
    shown = axes[2].imshow(diff, cmap="coolwarm", vmin=-limit, vmax=limit)
    axes[2].set_title("pneumonia - normal")
    fig.colorbar(shown, ax=axes[2], fraction=0.046).set_label("difference in mean intensity (0-255 scale)", fontsize=8)
    for ax in axes:
        _image_axes(ax)
    return _finish(fig, save_as)


def augmentation_examples(
    image: np.ndarray, views: Mapping[str, np.ndarray], save_as: str | None = "augmentations",
) -> Figure:
    """The original uint8 image, then each named row of augmented views ((n, H, W) in [0, 1])."""
    n = max(len(v) for v in views.values())
    fig, axes = _subplots(len(views), n + 1, figsize=(1.4 * (n + 1), 1.5 * len(views)), squeeze=False)
    for row, (name, images) in zip(axes, views.items()):
        row[0].imshow(image, vmin=0, vmax=255)
        row[0].set_ylabel(textwrap.fill(name, 26), rotation=0, ha="right", va="center", fontsize=8)
        for ax, view in zip(row[1:], images):
            ax.imshow(view, vmin=0, vmax=1)
        for ax in row:
            _image_axes(ax)
    axes[0][0].set_title("original")
    return _finish(fig, save_as)


def learning_curves(histories: Mapping[str, pd.DataFrame], picked_epochs: Mapping[str, int] | None = None,
                    title: str | None = None, save_as: str | None = "learning_curves") -> Figure:
    """Train loss, val loss and val AUC per epoch for each named history; a ring marks each
    run's picked epoch (``picked_epochs``, by name) on the val AUC panel."""
    fig, axes = _subplots(1, 3, figsize=(13, 3.8))
    for name, frame in histories.items():
        for ax, column in zip(axes, ("train_loss", "val_loss", "val_auc")):
            line, = ax.plot(frame["epoch"], frame[column], marker="o", ms=3, label=name)
        if picked_epochs and name in picked_epochs:
            row = frame[frame["epoch"] == picked_epochs[name]]
            axes[2].plot(row["epoch"], row["val_auc"], "o", ms=10, mfc="none", color=line.get_color())
    labels = ("loss (training objective)", "loss (training objective)", "AUC")
    for ax, panel, ylabel in zip(axes, ("train loss", "val loss", "val AUC (ring: picked epoch)"), labels):
        ax.set(title=panel, xlabel="epoch", ylabel=ylabel)
    axes[2].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _finish(fig, save_as)


def confusion_matrices(predictions: Predictions, threshold: float = 0.5, title: str | None = None,
                       save_as: str | None = "confusion") -> Figure:
    """One confusion matrix per model (rows truth, columns prediction) at ``threshold``."""
    fig, axes = _subplots(1, len(predictions), figsize=(3.6 * len(predictions), 3.3), squeeze=False)
    for ax, (name, (y, p)) in zip(axes[0], predictions.items()):
        matrix = confusion(y, (p >= threshold).astype(int))
        sns.heatmap(matrix, annot=True, fmt="d", cbar=False, cmap="Blues", ax=ax,
                    xticklabels=CLASS_NAMES, yticklabels=CLASS_NAMES)
        ax.set(title=name, xlabel="predicted", ylabel="true")
    fig.suptitle(title or f"test, threshold {threshold:g}")
    return _finish(fig, save_as)


def roc_pr_curves(predictions: Predictions, save_as: str | None = "roc_pr") -> Figure:
    """ROC curves (AUC in the legend) and precision-recall curves (average precision in the legend,
    and the prevalence: the precision of a model that cannot tell the classes apart)."""
    fig, (roc_ax, pr_ax) = _subplots(1, 2, figsize=(10, 4))
    prevalence = None
    for name, (y, p) in predictions.items():
        roc = roc_curve_data(y, p)
        roc_ax.plot(roc.fpr, roc.tpr, label=f"{name} (AUC {binary_metrics(y, p)['auc']:.3f})")
        pr = pr_curve_data(y, p)
        pr_ax.plot(pr.recall, pr.precision, label=f"{name} (AP {average_precision_score(y, p):.3f})")
        prevalence = float(np.mean(y))
    roc_ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="chance")
    if prevalence is not None:
        pr_ax.axhline(prevalence, ls="--", color="grey", lw=1, label=f"prevalence ({prevalence:.3f})")
    roc_ax.set(title="ROC", xlabel="1 - specificity (false positive rate)", ylabel="sensitivity (true positive rate)")
    pr_ax.set(title="Precision-recall", xlabel="recall (sensitivity)", ylabel="precision", ylim=(0, 1.02))
    roc_ax.legend(fontsize=8), pr_ax.legend(fontsize=8)
    return _finish(fig, save_as)


def threshold_curves(
    sweeps: Mapping[str, pd.DataFrame], chosen: Mapping[str, float] | None = None, save_as: str | None = "thresholds"
) -> Figure:
    """Sensitivity, specificity and balanced accuracy against the threshold, one panel per split.

    ``sweeps`` maps a split name to :func:`pneumolib.thresholds.threshold_sweep` output; chosen
    thresholds are drawn as vertical lines.
    """
    fig, axes = _subplots(1, len(sweeps), figsize=(5.5 * len(sweeps), 3.8), squeeze=False, sharey=True)
    for ax, (split, sweep) in zip(axes[0], sweeps.items()):
        for column in ("sensitivity", "specificity", "balanced_accuracy"):
            ax.plot(sweep.index, sweep[column], marker="o", ms=3, label=column.replace("_", " "))
        for i, (name, t) in enumerate((chosen or {}).items()):
            ax.axvline(t, color=f"C{(i + 3) % 10}", ls=":", lw=1.2, label=f"{name} ({t:.2f})")
        ax.set(title=f"{split}", xlabel="threshold", ylim=(0, 1.02))
    axes[0][0].set_ylabel("metric value")
    axes[0][-1].legend(fontsize=7, loc="lower left")
    return _finish(fig, save_as)


def reliability_diagrams(predictions: Predictions, n_bins: int = 10, save_as: str | None = "reliability",
                         few: int = 10) -> Figure:
    """Reliability diagram (observed pneumonia rate against mean predicted probability per bin)
    with the ECE in the title, and a histogram of the probabilities below, per set of predictions.
    Bins with fewer than ``few`` images are drawn as open circles: their rate is noise."""
    fig = Figure(figsize=(4.2 * len(predictions), 5.2))
    grid = fig.add_gridspec(2, len(predictions), height_ratios=(3, 1))
    for col, (name, (y, p)) in enumerate(predictions.items()):
        top, bottom = fig.add_subplot(grid[0, col]), fig.add_subplot(grid[1, col])
        table = reliability_table(y, p, n_bins).dropna()
        top.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect calibration")
        line, = top.plot(table.mean_predicted, table.observed_rate, marker="o", label="model")
        sparse = table[table["count"] < few]
        if len(sparse):
            top.plot(sparse.mean_predicted, sparse.observed_rate, "o", mfc="white", color=line.get_color(),
                     label=f"bin of < {few} images")
        top.set(title=f"{name}\nECE {expected_calibration_error(y, p, n_bins):.3f}",
                xlim=(0, 1), ylim=(0, 1), ylabel="observed pneumonia rate")
        top.legend(fontsize=8, loc="upper left")
        bottom.hist(p, bins=n_bins, range=(0, 1), color="C0", alpha=0.7)
        bottom.set(xlim=(0, 1), xlabel="predicted probability", ylabel="images")
    return _finish(fig, save_as)


def _overlay(ax: Axes, image: np.ndarray, cam: np.ndarray, alpha: float) -> bool:
    """Draw the uint8 ``image`` with ``cam`` (in [0, 1]) over it in jet; an all-zero map is not
    drawn. Returns whether a map was drawn, so the caller can label an empty one."""
    ax.imshow(image, vmin=0, vmax=255)
    if np.max(cam, initial=0.0) <= 0:
        return False
    ax.imshow(cam, cmap="jet", alpha=alpha, vmin=0, vmax=1,
              extent=(-0.5, image.shape[1] - 0.5, image.shape[0] - 0.5, -0.5))
    return True


def cam_grid(
    images: Mapping[str, np.ndarray],
    maps: Mapping[str, np.ndarray],
    captions: Mapping[str, list[str]] | None = None,
    alpha: float = 0.45,
    save_as: str | None = "cam_grid",
    title: str | None = None,
    colorbar_label: str = "map value (scaled to [0, 1] per image)",
) -> Figure:
    """One row per group (e.g. TP, TN, FP, FN): each uint8 image with its map overlaid (jet), a
    shared colour bar and an optional ``title``. An all-zero map is not drawn: its panel says
    "map empty", so a blank overlay is never mistaken for a map."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    n_cols = max((len(v) for v in images.values()), default=1)
    fig = Figure(figsize=(1.6 * n_cols + 0.9, 1.8 * len(images) + (0.4 if title else 0)))
    grid = fig.add_gridspec(len(images), n_cols + 1, width_ratios=[1] * n_cols + [0.08])
    for r, (group, group_images) in enumerate(images.items()):
        for i in range(n_cols):
            ax = fig.add_subplot(grid[r, i])
            _image_axes(ax)
            if i == 0:
                ax.set_ylabel(group, rotation=0, ha="right", va="center")
            if i >= len(group_images):
                ax.axis("off")
                continue
            caption = captions[group][i] if captions else ""
            if not _overlay(ax, group_images[i], maps[group][i], alpha):
                caption = f"{caption}\nmap empty" if caption else "map empty"
            if caption:
                ax.set_title(caption, fontsize=8)
    bar = fig.colorbar(ScalarMappable(Normalize(0, 1), cmap="jet"), cax=fig.add_subplot(grid[:, -1]))
    bar.set_label(colorbar_label, fontsize=8)
    if title:
        fig.suptitle(title)
    return _finish(fig, save_as)


def deletion_curves(curves: Mapping[str, pd.DataFrame], save_as: str | None = "deletion",
                    title: str | None = None) -> Figure:
    """Mean pneumonia probability as pixels are removed in CAM order and at random, per model;
    with columns ``random_low``/``random_high`` the spread over random orders is shaded."""
    fig, axes = _subplots(1, len(curves), figsize=(4.5 * len(curves), 3.7), squeeze=False, sharey=True)
    for ax, (name, curve) in zip(axes[0], curves.items()):
        ax.plot(curve.fraction, curve.cam, marker="o", ms=3, label="most salient first (Grad-CAM)")
        ax.plot(curve.fraction, curve.random, marker="o", ms=3, label="random order (mean)")
        if {"random_low", "random_high"} <= set(curve.columns):
            ax.fill_between(curve.fraction, curve.random_low, curve.random_high, color="C1", alpha=0.25,
                            label="random orders, 2.5-97.5%")
        ax.set(title=name, xlabel="fraction of pixels removed", ylim=(0, 1.02))
    axes[0][0].set_ylabel("mean pneumonia probability")
    axes[0][0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _finish(fig, save_as)


def grid_heatmap(table: pd.DataFrame, value: str, rows: str, cols: str, title: str,
                 save_as: str | None = "grid") -> Figure:
    """Heatmap of ``value`` over a two-parameter grid (e.g. mean CV AUC for batch size x lr)."""
    fig, ax = _subplots(figsize=(1.6 * table[cols].nunique() + 2, 0.7 * table[rows].nunique() + 1.5))
    pivot = table.pivot_table(index=rows, columns=cols, values=value)
    sns.heatmap(pivot, annot=True, fmt=".4f", cmap="viridis", ax=ax, cbar_kws={"label": title})
    ax.set(title=title, xlabel=cols.replace("_", " ").replace("lr", "learning rate"), ylabel=rows.replace("_", " "))
    return _finish(fig, save_as)


def val_vs_test(runs: pd.DataFrame, hue: str = "arm", save_as: str | None = "val_vs_test",
                title: str = "val and test AUC of every run") -> Figure:
    """Each run's val AUC (what selection sees) against its test AUC (what it is judged on)."""
    fig, ax = _subplots(figsize=(7, 4.5))
    sns.scatterplot(data=runs, x="val_auc", y="test_auc", hue=hue, style=hue, s=70, ax=ax)
    ax.set_xlabel("val AUC (selection)")
    ax.set_ylabel("test AUC (reported)")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
    ax.set_title(title)
    return _finish(fig, save_as)


def typical_images(cohorts: Mapping[str, np.ndarray], title: str, save_as: str | None = "typical_images") -> Figure:
    """One row of images per cohort (e.g. each cohort's most typical images by a domain classifier)."""
    n = max(len(images) for images in cohorts.values())
    fig, axes = _subplots(len(cohorts), n, figsize=(1.3 * n, 1.5 * len(cohorts) + 0.4), squeeze=False)
    for row, (name, images) in zip(axes, cohorts.items()):
        for ax, image in zip(row, images):
            ax.imshow(image, vmin=0, vmax=255)
        for ax in row:
            _image_axes(ax)
            ax.set_frame_on(False)
        row[0].set_ylabel("\n".join(textwrap.wrap(name, 14)), fontsize=9)
    fig.suptitle(title)
    return _finish(fig, save_as)


def metric_intervals(table: pd.DataFrame, metrics: tuple[str, ...], title: str,
                     save_as: str | None = "metric_intervals") -> Figure:
    """Point estimates with their 95 % CIs, one panel per metric, one row per method. ``table`` is
    indexed by (method, metric) with columns estimate, low, high."""
    methods = list(dict.fromkeys(table.index.get_level_values(0)))
    fig, axes = _subplots(1, len(metrics), figsize=(3.2 * len(metrics) + 2.0, 0.45 * len(methods) + 1.4),
                          sharey=True, squeeze=False)
    y = np.arange(len(methods))[::-1]
    for ax, metric in zip(axes[0], metrics):
        rows = table.xs(metric, level=1).loc[methods]
        ax.errorbar(rows.estimate, y, xerr=[rows.estimate - rows.low, rows.high - rows.estimate], fmt="o", capsize=3)
        ax.axvline(rows.estimate.iloc[0], color="0.6", linestyle="--", linewidth=1)
        ax.set(title=metric.replace("_", " "), xlabel="test (95% CI)")
    axes[0][0].set_yticks(y, methods)
    fig.suptitle(title)
    return _finish(fig, save_as)


def threshold_view(y: np.ndarray, p: np.ndarray, threshold: float, save_as: str | None = "threshold_view") -> Figure:
    """The confusion matrix at ``threshold`` and the ROC curve with that threshold's operating point."""
    m = binary_metrics(y, p, threshold)
    roc = roc_curve_data(y, p)
    fig, (left, right) = _subplots(1, 2, figsize=(9, 3.8))
    matrix = np.array([[m["tn"], m["fp"]], [m["fn"], m["tp"]]])
    sns.heatmap(matrix, annot=True, fmt=".0f", cbar=False, cmap="Blues", ax=left,
                xticklabels=[f"pred {c}" for c in CLASS_NAMES], yticklabels=[f"true {c}" for c in CLASS_NAMES])
    left.set_title(f"Confusion matrix at threshold {threshold:.2f}")
    right.plot(roc.fpr, roc.tpr, label=f"ROC (AUC {m['auc']:.4f})")
    right.plot([1 - m["specificity"]], [m["sensitivity"]], "o", color="C3", markersize=9,
               label=f"threshold {threshold:.2f}: sens {m['sensitivity']:.3f}, spec {m['specificity']:.3f}")
    right.plot([0, 1], [0, 1], ":", color="0.6")
    right.set(xlabel="1 - specificity", ylabel="sensitivity", title="Operating point on the ROC curve")
    right.legend(loc="lower right", fontsize=8)
    return _finish(fig, save_as)


def cam_methods_row(image: np.ndarray, maps: Mapping[str, np.ndarray], title: str, alpha: float = 0.45,
                    save_as: str | None = "cam_methods_row") -> Figure:
    """One image, then its map under each method overlaid (jet), side by side; an all-zero map is
    labelled "map empty" instead of drawn."""
    fig, axes = _subplots(1, len(maps) + 1, figsize=(2.6 * (len(maps) + 1), 3.0))
    axes[0].imshow(image, vmin=0, vmax=255)
    axes[0].set_title("image", fontsize=10)
    for ax, (name, cam) in zip(axes[1:], maps.items()):
        ax.set_title(name if _overlay(ax, image, cam, alpha) else f"{name}\nmap empty", fontsize=10)
    for ax in axes:
        _image_axes(ax)
    fig.suptitle(title)
    return _finish(fig, save_as)
