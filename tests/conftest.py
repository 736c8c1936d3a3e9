"""Shared fixtures: small generated PneumoniaMNIST-format files and the real data file."""

from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path

import numpy as np
import pytest

import pneumolib  # noqa: F401  (applies the torchvision import fix before any test imports it)
from pneumolib.data import npz_filename

REPO = Path(__file__).resolve().parents[1]
REAL_DATA_CANDIDATES = [os.environ.get("PNEUMOLIB_DATA"), str(REPO.parent / "shared" / "data")]


def synthetic_split(n: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Learnable images: pneumonia (label 1) has a bright blob in the centre, normal does not."""
    labels = np.array([i % 3 != 0 for i in range(n)], dtype=np.uint8)  # 2:1 imbalance like the real data
    images = rng.integers(0, 80, size=(n, size, size), dtype=np.uint8)
    c, r = size // 2, max(2, size // 5)
    images[labels == 1, c - r : c + r, c - r : c + r] += 120
    return images, labels.reshape(-1, 1)


def write_fake_npz(folder: Path, size: int = 28, counts=(60, 30, 30), seed: int = 0) -> Path:
    """A PneumoniaMNIST-format file with the official keys, dtypes and shapes."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in zip(("train", "val", "test"), counts):
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = synthetic_split(n, size, rng)
    path = folder / npz_filename(size)
    np.savez_compressed(path, **arrays)
    return path


@pytest.fixture(scope="session")
def serve_folder():
    """``serve_folder(path) -> URL``: the folder over HTTP on 127.0.0.1, as a download site or a
    published release would serve it (every server stops at the end of the session)."""
    servers = []

    def serve(folder: Path) -> str:
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
        handler.log_message = lambda *args: None
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield serve
    for server in servers:
        server.shutdown()


@pytest.fixture
def fake_data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    write_fake_npz(folder, 28, counts=(240, 60, 60))
    return folder


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The real PneumoniaMNIST (28 px). In CI $PNEUMOLIB_DATA is set, so a missing file fails."""
    for candidate in REAL_DATA_CANDIDATES:
        if candidate and (Path(candidate) / "pneumoniamnist.npz").is_file():
            return Path(candidate).resolve()
    if os.environ.get("PNEUMOLIB_DATA"):
        pytest.fail(f"$PNEUMOLIB_DATA={os.environ['PNEUMOLIB_DATA']} holds no pneumoniamnist.npz")
    pytest.skip("real PneumoniaMNIST not found: set PNEUMOLIB_DATA or place ../shared/data beside the repo")


@pytest.fixture(scope="session")
def real_data(real_data_dir):
    from pneumolib.data import load_pneumoniamnist

    return load_pneumoniamnist(28, real_data_dir, download=False)


@pytest.fixture(autouse=True, scope="session")
def _results_in_temp(tmp_path_factory):
    """Tests never write into the committed results/ folder."""
    previous = os.environ.get("PNEUMOLIB_RESULTS")
    os.environ["PNEUMOLIB_RESULTS"] = str(tmp_path_factory.mktemp("results"))
    yield
    if previous is None:
        os.environ.pop("PNEUMOLIB_RESULTS", None)
    else:
        os.environ["PNEUMOLIB_RESULTS"] = previous


@pytest.fixture(autouse=True)
def _project_folder_per_test():
    """A notebook session names its checkout as the project folder (process-wide, as in a kernel);
    each test starts from the working directory again."""
    from pneumolib import paths

    yield
    paths.use_project_folder(None)
    paths.use_results_location(None)


def pytest_addoption(parser):
    group = parser.getgroup("install", "the Colab-like install test (tests/install, -m install)")
    group.addoption("--install-profile", choices=("smoke", "default"), default="smoke",
                    help="the profile each notebook runs in (default: minutes to an hour each on 2 cores)")
    group.addoption("--install-reference", choices=("served", "offline"), default="served",
                    help="reference files served on 127.0.0.1, or nothing to fetch")
    group.addoption("--install-times", default="", help="append each notebook's seconds to this CSV")
    group.addoption("--install-notebooks", nargs="*", default=[],
                    help="only these notebooks (number prefixes, e.g. 02 05); default: all")


def pytest_collection_modifyitems(config, items):
    """The install and browser tests are integration tests too (they run notebooks in kernels)."""
    for item in items:
        if item.get_closest_marker("install") or item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def _unit_tests_start_no_process(request, monkeypatch):
    """The unit layer starts no process: no subprocess, no kernel, no worker pool. A test that
    needs one is marked ``integration`` (the second layer of make test)."""
    if request.node.get_closest_marker("integration"):
        return
    import multiprocessing.process
    import subprocess

    def refuse(*args, **kwargs):
        raise RuntimeError(f"{request.node.nodeid} starts a process: mark it @pytest.mark.integration")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", refuse)
