"""Fixtures of the viewer's tests: the viewer served in a thread, and a page of a real headless
Chromium driven by Playwright (the system's Chromium, launched by its path; Playwright's own
browser download is not used). Without Playwright or Chromium the browser tests are skipped
with the reason; ``make browser`` (scripts/install_chromium.sh) installs both.

Test modules import them by name (a second conftest.py would clash with the trainer tests'
under --doctest-modules). A failing browser test leaves a screenshot of its page under its
tmp path and prints where.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.optimizers.view.helpers import Viewer, find_chromium

ROOT = Path(__file__).parents[3]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]  # fmt: skip


@pytest.fixture
def serve() -> Iterator[Any]:
    pytest.importorskip("starlette", reason="the viewer needs the `view` extra")
    started: list[Viewer] = []

    def start(root: Path) -> Viewer:
        viewer = Viewer(root)
        started.append(viewer)
        return viewer

    yield start
    for viewer in started:
        viewer.stop()


# Module scope: Playwright keeps an event loop running in this thread while it is open, and
# code that refuses to run inside one (Trainer.fit) must work again in later modules.
@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright is missing: pip install 'tracegraph[view,test]'"
    )
    path = find_chromium()
    if path is None:
        subprocess.run(["bash", str(ROOT / "scripts" / "install_chromium.sh")], timeout=900)
        path = find_chromium()
    if path is None:
        pytest.skip(
            "no Chromium here and scripts/install_chromium.sh could not install one (needs "
            "root or sudo and apt-get/dnf/brew): the viewer's browser tests are skipped"
        )
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A fresh page; ``page.problems`` collects console errors and uncaught exceptions."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    problems: list[str] = []
    pg.on("console", lambda m: problems.append(f"console.{m.type}: {m.text}")
          if m.type in ("error", "warning") else None)  # fmt: skip
    pg.on("pageerror", lambda e: problems.append(f"uncaught: {e}"))
    pg.problems = problems
    failed_before = request.session.testsfailed
    yield pg
    if request.session.testsfailed > failed_before:  # this test's call just failed
        shot = tmp_path / "failure.png"
        pg.screenshot(path=str(shot), full_page=True)
        print(f"screenshot of the failing page: {shot}")
    context.close()
