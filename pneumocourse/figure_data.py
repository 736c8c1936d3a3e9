"""What a figure plots, as data: saved beside each figure (``results/figures/<name>.data.json``) so
that a render compares a figure by the numbers it shows, by the same rule as every other number,
and never by the bytes of its PNG (which change with the fonts and the renderer, not the results)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

SIGNIFICANT_DIGITS = 4  # a plotted value is read off a figure to far fewer digits than this
DATA_SUFFIX = ".data.json"


def _number(value: float) -> float | int | None:
    if value is None or not math.isfinite(value):
        return None
    if float(value).is_integer() and abs(value) < 2**53:
        return int(value)
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def _array(values: Any) -> list:
    array = np.ma.filled(np.ma.asarray(values, dtype=float), np.nan)
    return np.vectorize(_number, otypes=[object])(array).tolist() if array.size else []


def axes_data(ax) -> dict[str, Any]:
    """The titles, labels, lines, point sets, bars, images and texts of one axes."""
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    return {
        "title": ax.get_title(), "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(),
        "lines": [{"label": str(line.get_label()), "x": _array(line.get_xdata()), "y": _array(line.get_ydata())}
                  for line in ax.get_lines()],
        "collections": [{"offsets": _array(c.get_offsets()),
                         "values": _array(c.get_array()) if c.get_array() is not None else []}
                        for c in ax.collections],
        "bars": [_array([b.get_x(), b.get_y(), b.get_width(), b.get_height()]) for b in bars],
        "images": [_array(image.get_array()) for image in ax.get_images()],
        "texts": [text.get_text() for text in ax.texts if text.get_text()],
    }


def figure_data(fig: Figure) -> dict[str, Any]:
    """Every axes' data (:func:`axes_data`), and the figure's own title."""
    title = fig._suptitle.get_text() if getattr(fig, "_suptitle", None) is not None else ""
    return {"title": title, "axes": [axes_data(ax) for ax in fig.axes if ax.get_visible()]}


def data_path(png: Path) -> Path:
    """The data file beside a figure's PNG."""
    return png.with_name(png.stem + DATA_SUFFIX)


def save_figure_data(fig: Figure, png: Path) -> Path:
    """Write :func:`figure_data` beside ``png``."""
    path = data_path(png)
    path.write_text(json.dumps(figure_data(fig), separators=(",", ":"), allow_nan=False) + "\n")
    return path
