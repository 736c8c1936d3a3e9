"""The explorers show widgets only where a frontend can move them; elsewhere (plain papermill with
the default ``interactive = True``) they draw their static view and return, never waiting."""

from __future__ import annotations

import sys

import nbformat
import numpy as np
import pytest

from pneumocourse import explorers

Y = np.r_[np.zeros(40), np.ones(60)].astype(int)
P = np.linspace(0.0, 1.0, 100)


def test_headless_kernels_get_the_static_view(monkeypatch, capsys):
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert not explorers.live_frontend()
    explorers.threshold_explorer(Y, P, 0.3, interactive=True, save_as=None)
    assert capsys.readouterr().out.strip() == explorers.threshold_summary(Y, P, 0.3)
    explorers.threshold_explorer(Y, P, 0.1959, interactive=True, save_as=None)  # the view at the threshold itself
    out = capsys.readouterr().out.strip()
    assert out.startswith("threshold 0.1959: ") and out == explorers.threshold_summary(Y, P, 0.1959)


def test_a_jupyter_server_kernel_gets_the_slider(monkeypatch):
    pytest.importorskip("ipywidgets")
    shown = []
    monkeypatch.setenv("JPY_SESSION_NAME", "/course/03_thresholds.ipynb")
    monkeypatch.setattr("IPython.display.display", lambda *objects: shown.extend(objects))
    assert explorers.live_frontend()
    explorers.threshold_explorer(Y, P, 0.3, interactive=True, save_as=None)
    assert [type(w).__name__ for w in shown] == ["VBox"]
    assert type(shown[0].children[0]).__name__ == "FloatSlider" and shown[0].children[0].value == 0.3


@pytest.mark.integration
def test_plain_papermill_finishes_with_interactive_true(tmp_path):
    """A notebook that calls both explorers with ``interactive = True``, run by papermill as a
    researcher would (no parameters): it finishes, with the static views in its outputs."""
    papermill = pytest.importorskip("papermill")
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    nb.cells = [nbformat.v4.new_code_cell("interactive = True", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(
                    "import numpy as np\nfrom pneumocourse import explorers\n"
                    "y = np.r_[np.zeros(40), np.ones(60)].astype(int); p = np.linspace(0, 1, 100)\n"
                    "explorers.threshold_explorer(y, p, 0.3, interactive, save_as=None)\n"
                    "explorers.cam_explorer(np.zeros((3, 8, 8), np.uint8), y[:3], p[:3], 0.5,\n"
                    "                       lambda i: {'Grad-CAM': np.ones((8, 8))}, interactive, save_as=None)")]
    nbformat.write(nb, tmp_path / "explore.ipynb")
    papermill.execute_notebook(str(tmp_path / "explore.ipynb"), str(tmp_path / "out.ipynb"), progress_bar=False,
                               execution_timeout=120, cwd=str(tmp_path))
    text = "".join(o.get("text", "") for o in nbformat.read(tmp_path / "out.ipynb", 4).cells[1].outputs)
    assert "threshold 0.3000: sensitivity" in text and "test image 0: label" in text
