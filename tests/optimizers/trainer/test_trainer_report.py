"""The HTML report opens in headless Chromium without console errors, and draws its figures.

Chromium comes from the system package manager: the fixture runs scripts/install_chromium.sh
when no browser is found (it does nothing where it cannot install), and skips with the reason
when there is still none. The page itself has no script; the test adds a small probe to a copy
to check that every figure parsed and has a size, and reads the browser's console log.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from optimizers.trainer.report import render_report
from optimizers.trainer.rundir import RunDir
from tests.optimizers.trainer.tasks import prompt_task

ROOT = Path(__file__).parents[3]
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
PROBE = """<script>
const figs = [...document.querySelectorAll("svg")];
for (const s of figs) { const b = s.getBBox(); if (!(b.width > 0 && b.height > 0))
  console.error("figure without size"); }
console.log("PROBE figures=" + figs.length + " rows=" + document.querySelectorAll("tr").length);
</script></body>"""


def find_browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def browser() -> str:
    found = find_browser()
    if found is None:
        subprocess.run(["bash", str(ROOT / "scripts" / "install_chromium.sh")], timeout=900)
        found = find_browser()
    if found is None:
        pytest.skip(
            "no Chromium here and scripts/install_chromium.sh could not install one "
            "(needs root or sudo and apt-get/dnf/brew): the report's browser check is skipped"
        )
    return found


def console_lines(browser: str, page: Path) -> tuple[list[str], str]:
    done = subprocess.run(
        [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
         "--v=0", "--log-level=0", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return [ln for ln in done.stderr.splitlines() if ":CONSOLE" in ln], done.stdout


@pytest.fixture(scope="module")
def report_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("report") / "run"
    trainer, _, _ = prompt_task(run_dir)
    trainer.fit()
    page = run_dir / "report.html"
    page.write_text(render_report(RunDir(run_dir)))
    return page


def test_the_report_opens_without_console_errors_and_draws_its_figures(
    browser: str, report_page: Path
) -> None:
    # The page has no script of its own, so the probe's line must be the only console line.
    probed = report_page.with_name("probed.html")
    probed.write_text(report_page.read_text().replace("</body>", PROBE))
    lines, dom = console_lines(browser, probed)
    steps = len(RunDir(report_page.parent).step_numbers())
    assert len(lines) == 1, lines
    assert f'"PROBE figures=2 rows={steps + 1}"' in lines[0]  # table header + one row per step
    assert "Learning curve" in dom and "Parameter history" in dom


def test_the_console_check_catches_a_broken_page(browser: str, tmp_path: Path) -> None:
    broken = tmp_path / "broken.html"
    broken.write_text("<html><body><script>throw new Error('kaboom')</script></body></html>")
    lines, _ = console_lines(browser, broken)
    assert any("kaboom" in ln for ln in lines)
