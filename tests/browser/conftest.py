"""Layer 4's screenshots: one folder per run, named at the end of the run and on failure."""

from __future__ import annotations

from pathlib import Path

import pytest

_FOLDERS: list[Path] = []


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("screenshots")
    _FOLDERS.append(folder)
    return folder


def pytest_terminal_summary(terminalreporter) -> None:
    for folder in _FOLDERS:
        for path in sorted(folder.glob("*.png")):
            terminalreporter.write_line(f"screenshot: {path}")
