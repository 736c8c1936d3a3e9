"""The documentation site in headless Chromium: built offline (mkdocs, as ``make docs`` does), served
on 127.0.0.1, every page loads without a failed request, and every link inside the site opens a
page that exists, down to its #anchor. Links out of the site cannot be followed offline; they must
at least be absolute http(s) or mailto URLs (or inline data).

Needs Debian's ``chromium`` and ``chromium-driver``, and the docs tools (``requirements-docs.txt``,
which ``make docs`` and ``make test`` install)."""

from __future__ import annotations

import functools
import html
import os
import re
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("docs") / "site"
    build = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)], cwd=REPO,
                           capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert build.returncode == 0, f"mkdocs build --strict failed (pip install -r requirements-docs.txt?):\n{build.stderr}"
    return out


@pytest.fixture(scope="module")
def served(site):
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _pages(site: Path) -> list[str]:
    return sorted(str(p.relative_to(site)) for p in site.rglob("*.html") if p.name != "404.html")


def _anchors(page: Path) -> set[str]:
    return {html.unescape(m) for m in re.findall(r'\bid="([^"]+)"', page.read_text(errors="replace"))}


def test_the_site_has_the_guides_the_notebooks_and_the_api(site):
    pages = _pages(site)
    for expected in ("index.html", "user-guide.html", "instructor-guide.html", "researcher-guide.html", "api.html",
                     "notebooks/index.html", "notebooks/final_project.html"):
        assert expected in pages
    notebooks = [p for p in pages if re.match(r"notebooks/0\d_.*\.html$", p)]
    assert len(notebooks) == len(list((REPO / "notebooks").glob("0[0-9]_*.ipynb")))
    assert "data:image/png;base64" in (site / "notebooks" / "04_gradcam.html").read_text(), "figures come with the outputs"
    assert "map_dependence" in (site / "api.html").read_text(), "the API page is rendered from the docstrings"


def test_every_page_loads_and_every_link_in_the_site_resolves(site, served, browser):
    from selenium.webdriver.support.ui import WebDriverWait

    broken, failed_requests = [], []
    for page in _pages(site):
        browser.get(f"{served}/{page}")
        WebDriverWait(browser, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")
        assert browser.title and "404" not in browser.title, page
        failed_requests += [f"{page}: {e['message']}" for e in browser.get_log("browser")
                            if e["level"] == "SEVERE" and served in e["message"]]
        targets = browser.execute_script(
            "return Array.from(document.querySelectorAll('a[href], img[src], link[href], script[src]'))"
            ".map(e => e.href || e.src)")
        for target in targets:
            url = urlparse(target)
            if not target.startswith(served):
                if url.scheme not in ("http", "https", "mailto", "data"):
                    broken.append(f"{page} -> {target[:120]} (not an absolute URL)")
                continue
            path = site / unquote(url.path).lstrip("/")
            if path.is_dir():
                path = path / "index.html"
            if not path.is_file():
                broken.append(f"{page} -> {url.path} (no such file)")
            elif url.fragment and path.suffix == ".html" and unquote(url.fragment) not in _anchors(path):
                broken.append(f"{page} -> {url.path}#{url.fragment} (no such anchor)")
    assert not failed_requests, failed_requests[:10]
    assert not sorted(set(broken)), sorted(set(broken))[:20]
