"""A plain `notebooks run` renders the reference: its outputs are compared with the committed
notebooks, cell by cell, as nbval does (cells marked NBVAL_IGNORE_OUTPUT are skipped)."""

from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output

from tools.compare import differing_outputs


def _notebook(path, *texts, ignored="12 s"):
    cells = [new_code_cell("print(x)", outputs=[new_output("stream", name="stdout", text=t)]) for t in texts]
    cells.append(new_code_cell("# NBVAL_IGNORE_OUTPUT\nprint(seconds)",
                               outputs=[new_output("stream", name="stdout", text=ignored)]))
    nbformat.write(new_notebook(cells=cells), path)
    return path


def test_a_render_with_other_numbers_is_caught_and_timings_are_not(tmp_path):
    committed = _notebook(tmp_path / "committed.ipynb", "val AUC 0.9958\n", "test AUC 0.9716\n")
    same = _notebook(tmp_path / "same.ipynb", "val AUC 0.9958\n", "test AUC 0.9716\n", ignored="40 s")
    other = _notebook(tmp_path / "other.ipynb", "val AUC 0.9958\n", "test AUC 0.9721\n")
    assert differing_outputs(same, committed) == []
    assert differing_outputs(other, committed) == ["code cell 2 (0.9721 against 0.9716)"]
    shorter = _notebook(tmp_path / "short.ipynb", "val AUC 0.9958\n")
    assert differing_outputs(shorter, committed) == ["2 code cells, the committed notebook has 3"]


def test_a_stream_split_into_other_chunks_is_the_same_output(tmp_path):
    """A kernel may send one cell's printout as one stream output or as several; a reader sees the same text."""
    one = tmp_path / "one.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("print(a); print(b)", outputs=[
        new_output("stream", name="stdout", text="resnet18 at 28 px\nsmall_cnn at 28 px\n")])]), one)
    two = tmp_path / "two.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("print(a); print(b)", outputs=[
        new_output("stream", name="stdout", text="resnet18 at 28 px\n"),
        new_output("stream", name="stdout", text="small_cnn at 28 px\n")])]), two)
    assert differing_outputs(one, two) == [] and differing_outputs(two, one) == []


def test_a_rendered_finding_with_another_number_is_caught(tmp_path):
    """The findings are Markdown displays, whose text/plain is only their repr: their Markdown is compared."""
    def finding(path, text):
        data = {"text/markdown": text, "text/plain": "<IPython.core.display.Markdown object>"}
        nbformat.write(new_notebook(cells=[new_code_cell("show(findings)", outputs=[
            new_output("display_data", data=data)])]), path)
        return path

    committed = finding(tmp_path / "committed.ipynb", "- test AUC 0.9716")
    assert differing_outputs(finding(tmp_path / "same.ipynb", "- test AUC 0.9716"), committed) == []
    assert differing_outputs(finding(tmp_path / "other.ipynb", "- test AUC 0.9721"), committed) == [
        "code cell 1 (0.9721 against 0.9716)"]


def test_relative_data_and_results_folders_mean_from_where_the_suite_starts(tmp_path, monkeypatch):
    """The kernels run inside notebooks/; a relative $PNEUMOLIB_DATA (make run's ../shared/data)
    names a folder seen from where the suite was started, so the suite hands them absolute paths."""
    import os

    from tools.suite import run_suite

    monkeypatch.chdir(tmp_path)  # no checkout here: no notebook to run, only the environment to prepare
    monkeypatch.setenv("PNEUMOLIB_DATA", "../shared/data")
    monkeypatch.setenv("PNEUMOLIB_RESULTS", "my-results")
    assert run_suite().runs == []
    assert os.environ["PNEUMOLIB_DATA"] == str((tmp_path / ".." / "shared" / "data").resolve())
    assert os.environ["PNEUMOLIB_RESULTS"] == str(tmp_path / "my-results")
