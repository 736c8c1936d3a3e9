"""Layer 5: the notebooks as students meet them, in JupyterLab driven by headless Chromium.

A JupyterLab server starts on 127.0.0.1 (a free port, a random token) over a temporary copy of
the notebooks; its kernels run in the smoke profile and write into a temporary results folder.
For each notebook the browser runs the cells up to the parameter check and reads the rendered
output from the page; a bad parameter must show the one-line error; a student release must run
its first visible test and show the student what is missing. A screenshot of every notebook is
saved, and its folder is named on failure and at the end of the run.

Needs Debian's ``chromium`` and ``chromium-driver`` (``make test`` skips this layer, with a line
saying how to enable it, when they are missing). Run it alone with ``pytest -m browser tests/browser``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import numpy as np
import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CHECK_CELL = 4  # Colab cell, "Parameters" heading, parameters, then the cell that checks them
TIMEOUT = 240  # seconds for one cell (the first one starts the kernel and imports torch)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_settings(folder: Path) -> None:
    """JupyterLab user settings: every cell in the page (no windowing), no news or update checks."""
    settings = {"@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
                "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                                   "checkForUpdates": False}}
    for name, values in settings.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


@pytest.fixture(scope="session")
def lab(tmp_path_factory, real_data_dir):
    """A JupyterLab server over a copy of the notebooks: (base URL, token, its root folder)."""
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(REPO / "notebooks", root / "notebooks")
    _write_settings(root / "settings")
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "SMOKE_TEST": "1", "PNEUMOLIB_RESULTS": str(root / "results"),
           "PNEUMOLIB_DATA": str(real_data_dir), "JUPYTERLAB_SETTINGS_DIR": str(root / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(root / "workspaces")}
    log = (root / "lab.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])],  # CI containers run as root
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.fail(f"JupyterLab did not start; its log: {root / 'lab.log'}")
        time.sleep(0.5)
    yield base, token, root
    server.terminate()
    try:
        server.wait(20)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


class Notebook:
    """One notebook open in JupyterLab: run cells with Shift+Enter and read their outputs."""

    def __init__(self, driver, base: str, token: str, path: str, screenshots: Path) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver, self.screenshots, self.name = driver, screenshots, Path(path).stem
        driver.get(f"{base}/lab/tree/{path}?reset&token={token}")
        WebDriverWait(driver, 90).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell"))
        time.sleep(1)  # let the panel settle before clicking into it

    def cells(self):
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell")

    def select(self, index: int) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys

        cell = self.cells()[index]
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", cell)
        cell.find_element(By.CSS_SELECTOR, ".jp-InputPrompt").click()
        cell.send_keys(Keys.ESCAPE)

    def _prompt(self, index: int) -> str:
        from selenium.webdriver.common.by import By

        prompts = self.cells()[index].find_elements(By.CSS_SELECTOR, ".jp-InputArea-prompt")
        return prompts[0].text if prompts else ""

    def run(self, first: int, last: int) -> None:
        """Select cell ``first`` and press Shift+Enter until cell ``last`` has run, waiting for
        each code cell to finish."""
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys
        from selenium.webdriver.support.ui import WebDriverWait

        self.select(first)
        for index in range(first, last + 1):
            is_code = "jp-CodeCell" in self.cells()[index].get_attribute("class")
            ActionChains(self.driver).key_down(Keys.SHIFT).send_keys(Keys.ENTER).key_up(Keys.SHIFT).perform()
            if is_code:
                WebDriverWait(self.driver, TIMEOUT).until(
                    lambda d: any(ch.isdigit() for ch in self._prompt(index)) and "*" not in self._prompt(index),
                    message=f"{self.name}: cell {index} did not finish in {TIMEOUT} s; screenshots in {self.screenshots}")

    def output(self, index: int) -> str:
        """The text of cell ``index``'s outputs. A widget that re-renders while it is read leaves
        stale elements behind; the read is then repeated on the new ones."""
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.common.by import By

        for attempt in range(5):
            try:
                outputs = self.cells()[index].find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output")
                return "\n".join(o.text for o in outputs)
            except StaleElementReferenceException:
                if attempt == 4:
                    raise
                time.sleep(0.5)
        raise AssertionError("unreachable")

    def append_line(self, index: int, line: str) -> None:
        """Type ``line`` on a new line at the end of cell ``index`` (as a student would)."""
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys

        editor = self.cells()[index].find_element(By.CSS_SELECTOR, ".cm-content")
        editor.click()
        ActionChains(self.driver).key_down(Keys.CONTROL).send_keys(Keys.END).key_up(Keys.CONTROL).perform()
        ActionChains(self.driver).send_keys(Keys.ENTER, line).perform()

    def screenshot(self, suffix: str = "") -> Path:
        path = self.screenshots / f"{self.name}{suffix}.png"
        self.driver.save_screenshot(str(path))
        return path


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_its_parameter_check_in_the_browser(lab, browser, screenshots, notebook):
    base, token, _ = lab
    page = Notebook(browser, base, token, f"notebooks/{notebook.name}", screenshots)
    try:
        page.run(0, CHECK_CELL)
        text = page.output(CHECK_CELL)
    finally:
        page.screenshot()
    assert "profile: smoke" in text, f"{notebook.stem}: the check cell showed {text!r}; screenshots in {screenshots}"
    assert "Traceback" not in text and "Error" not in text


def test_a_bad_parameter_shows_one_line_not_a_traceback(lab, browser, screenshots):
    base, token, _ = lab
    page = Notebook(browser, base, token, "notebooks/01_data_exploration.ipynb", screenshots)
    try:
        page.append_line(CHECK_CELL - 1, "image_size = 30")
        page.run(CHECK_CELL - 1, CHECK_CELL)
        text = page.output(CHECK_CELL)
    finally:
        page.screenshot("_bad_parameter")
    assert text.strip() == "ConfigError: parameter image_size must be one of [28, 64, 128, 224], got 30.", \
        f"the page showed {text!r}; screenshots in {screenshots}"


def test_a_student_release_runs_its_first_visible_test(lab, browser, screenshots):
    """The student version of 01: the first exercise's visible test fails with NotImplementedError
    (the student has not written the function yet), after every earlier cell has run."""
    from pneumocourse.teaching.exercises import notebook_exercises
    from pneumocourse.teaching.release import release

    base, token, root = lab
    released = release([REPO / "notebooks" / "01_data_exploration.ipynb"], root / "student")[0]
    first = next(e for e in notebook_exercises(released) if e.kind == "auto")
    cells = nbformat.read(released, as_version=4).cells
    test_cell = next(i for i, c in enumerate(cells) if c.metadata.get("nbgrader", {}).get("grade_id") == first.grade_id)
    page = Notebook(browser, base, token, f"student/{released.name}", screenshots)
    try:
        page.run(0, test_cell)
        text = page.output(test_cell)
    finally:
        page.screenshot("_student")
    assert "NotImplementedError" in text, f"the first visible test showed {text!r}; screenshots in {screenshots}"


def _stored_probabilities(results: Path, split: str, n: int) -> np.ndarray:
    """The ``split`` probabilities of the one small CNN the lab's kernels trained (03 and 04 share it)."""
    records = [json.loads(p.read_text()) for p in (results / "smoke" / "store").glob("*/record.json")]
    runs = [r for r in records if r.get("kind") == "training" and r["config"]["model"] == "small_cnn"
            and len(r["probabilities"][split]) == n]
    assert len(runs) == 1, f"expected the one small CNN that notebooks 03 and 04 share, found {len(runs)}"
    return np.asarray(runs[0]["probabilities"][split])


def _move_slider(browser, page: Notebook, cell: int, pattern) -> tuple[str, str]:
    """Press the right arrow on cell ``cell``'s slider; the summary line before and after."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 120).until(lambda d: pattern.search(page.output(cell)))
    before = pattern.search(page.output(cell)).group(0)
    page.cells()[cell].find_element(By.CSS_SELECTOR, ".noUi-handle").send_keys(Keys.ARROW_RIGHT)
    WebDriverWait(browser, 120).until(lambda d: (m := pattern.search(page.output(cell))) and m.group(0) != before)
    return before, pattern.search(page.output(cell)).group(0)


def _explore(lab, browser, screenshots, notebook: str, call: str, pattern, suffix: str):
    """Open ``notebook``, run it down to the cell that calls ``call``, move its slider one step:
    ``(page, cell, summary before, summary after, images in the cell's output)``."""
    from selenium.webdriver.common.by import By

    base, token, _ = lab
    cells = nbformat.read(REPO / "notebooks" / notebook, as_version=4).cells
    cell = next(i for i, c in enumerate(cells) if call in c.source)
    page = Notebook(browser, base, token, f"notebooks/{notebook}", screenshots)
    try:
        page.run(0, cell)
        before, after = _move_slider(browser, page, cell, pattern)
        images = page.cells()[cell].find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output img")
    finally:
        page.screenshot(suffix)
    return before, after, images


def _smoke_data(real_data_dir: Path):
    from pneumolib.data import load_pneumoniamnist, subsample
    from pneumocourse.nbtools import SMOKE_SIZES

    return subsample(load_pneumoniamnist(28, real_data_dir), seed=0, **SMOKE_SIZES)


def test_the_threshold_explorer_moves_with_its_slider(lab, browser, screenshots, real_data_dir):
    """03's slider: one step right raises the threshold by 0.01, and the numbers shown are the
    val metrics at the new threshold (recomputed here from the stored run)."""
    import re

    from pneumocourse.explorers import threshold_summary

    pattern = re.compile(r"threshold (\d\.\d{4}): .*")
    before, after, _ = _explore(lab, browser, screenshots, "03_thresholds.ipynb", "threshold_explorer(", pattern, "_explorer")
    data = _smoke_data(real_data_dir)
    p_val = _stored_probabilities(lab[2] / "results", "val", len(data.val.labels))
    old, new = float(pattern.match(before).group(1)), float(pattern.match(after).group(1))
    assert round(new - old, 2) == 0.01, (before, after)
    assert before == threshold_summary(data.val.labels, p_val, old)
    assert after == threshold_summary(data.val.labels, p_val, new), "the numbers shown are not the val metrics there"


def test_the_cam_explorer_shows_the_picked_image(lab, browser, screenshots, real_data_dir):
    """04's picker: one step right shows test image 1, with its label and the small CNN's stored
    probability, and one map per method."""
    import re

    from pneumolib.data.core import CLASS_NAMES

    pattern = re.compile(r"test image (\d+): label (\w+), probability (\d\.\d{4})")
    before, after, figures = _explore(lab, browser, screenshots, "04_gradcam.ipynb", "cam_explorer(", pattern,
                                      "_cam_explorer")
    data = _smoke_data(real_data_dir)
    p_test = _stored_probabilities(lab[2] / "results", "test", len(data.test.labels))
    index, label, probability = pattern.match(after).groups()
    assert pattern.match(before).group(1) == "0" and index == "1", (before, after)
    assert label == CLASS_NAMES[int(data.test.labels[1])] and probability == f"{p_test[1]:.4f}", after
    assert len(figures) == 1, "one figure (a row per method) for the picked image"
