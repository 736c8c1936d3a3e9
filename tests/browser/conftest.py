"""Layer 5: headless Chromium, and its screenshots (one folder per run, named at the end of the
run and on failure)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

_FOLDERS: list[Path] = []


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("screenshots")
    _FOLDERS.append(folder)
    return folder


@pytest.fixture(scope="session")
def browser():
    """Debian's headless Chromium through chromedriver, shared by the layer's tests."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = shutil.which("chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=shutil.which("chromedriver")))
    yield driver
    driver.quit()


def pytest_terminal_summary(terminalreporter) -> None:
    for folder in _FOLDERS:
        for path in sorted(folder.glob("*.png")):
            terminalreporter.write_line(f"screenshot: {path}")
