# ruff: noqa: F811  (the fixtures imported from fixtures.py are used as test arguments)
"""The viewer in a real headless Chromium: pages load without console errors, a run going on in
another process updates the open page without a reload, a click on a curve point opens its
step, the lineage of a three-step run names the right steps, and report.html shows the same
pages offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from optimizers.view.export import write_report
from tests.optimizers.trainer.tasks import prompt_task
from tests.optimizers.view.fixtures import chromium, page, serve  # noqa: F401  (fixtures)
from tests.optimizers.view.runs import LINES, fit_in_thread, lineage_run

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding two finished runs: the prompt task and the three-step lineage run."""
    root = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRACEGRAPH_FSYNC", "0")
        fit_in_thread(prompt_task(root / "prompt")[0])
        fit_in_thread(lineage_run(root / "lineage"))
    return root


def rendered(page: Any, selector: str) -> None:
    page.wait_for_selector(selector, timeout=15_000)


def test_every_page_loads_without_console_errors(serve: Any, page: Any, finished: Path) -> None:
    url = serve(finished).url
    page.goto(url)
    rendered(page, "table a[href='#/run/prompt']")
    for hash_, selector in [
        ("#/run/prompt", "#learning-curve"),
        ("#/run/prompt/step/0", "#step-title"),
        ("#/run/prompt/step/2", "#trace-graph"),
        ("#/run/prompt/lineage", "table.blame"),
        ("#/compare/prompt/0/lineage/3", "#side-b"),
    ]:
        page.goto(url + hash_)
        rendered(page, selector)
    assert page.problems == []


def test_a_click_on_a_curve_point_opens_its_step(serve: Any, page: Any, finished: Path) -> None:
    page.goto(serve(finished).url + "#/run/prompt")
    rendered(page, "#learning-curve")
    steps = sorted((finished / "prompt" / "steps").iterdir())
    records = [json.loads((s / "step.json").read_text()) for s in steps]
    # the first candidate the trainer rejected: its point is drawn as a cross
    k, rows = next((k, r) for k, r in enumerate(records) if r["accepted"] is False)
    page.click(f"#learning-curve .rejected .pt[data-step='{k}']")
    page.wait_for_function(f"location.hash === '#/run/prompt/step/{k}'")
    rendered(page, "#step-title")
    assert page.inner_text("#step-title").startswith(f"Step {k}")
    assert page.inner_text("#why") == rows["decision"]
    assert page.problems == []


def test_the_lineage_of_a_three_step_run_names_the_right_steps(
    serve: Any, page: Any, finished: Path
) -> None:
    page.goto(serve(finished).url + "#/run/lineage/lineage")
    rendered(page, "table.blame[data-param='prompt']")
    lines = page.eval_on_selector_all(
        "table.blame tr", "rows => rows.map(r => [r.dataset.step, r.innerText])"
    )
    assert [(int(s), text.split("\t")[-1].strip()) for s, text in lines] == list(
        zip([0, 1, 2, 3], LINES, strict=True)
    )
    why = page.inner_text(".because[data-step='3']")
    assert "accepted" in why and "missing: gamma" in why  # the feedback that led to line 3
    page.click("table.blame tr[data-step='2'] a")
    rendered(page, "#step-title")
    assert page.inner_text("#step-title").startswith("Step 2")
    assert page.problems == []


def test_two_runs_side_by_side_and_the_picker(serve: Any, page: Any, finished: Path) -> None:
    url = serve(finished).url
    page.goto(url + "#/compare/prompt/1/lineage/3")
    rendered(page, "#side-b")
    assert page.inner_text("#side-a h2").startswith("prompt step 1")
    assert page.inner_text("#side-b h2").startswith("lineage step 3")
    page.select_option("#pick-b-run", "prompt")
    page.fill("#pick-b-step", "2")
    page.click("#pick-go")
    page.wait_for_function("location.hash === '#/compare/prompt/1/prompt/2'")
    page.wait_for_function(
        "document.querySelector('#side-b h2').innerText.startsWith('prompt step 2')"
    )
    assert page.problems == []


def test_a_run_in_another_process_updates_the_open_page(
    serve: Any, page: Any, tmp_path: Path
) -> None:
    run, gate = tmp_path / "live", tmp_path / "gate"
    page.goto(serve(tmp_path).url)  # an empty folder: the run starts after the page is open
    page.wait_for_selector("text=No run here yet", timeout=15_000)
    page.evaluate("window.__sameDocument = true")
    env = {**os.environ, "TRACEGRAPH_FSYNC": "0"}
    child = subprocess.Popen([sys.executable, str(HERE / "runs.py"), str(run), str(gate)], env=env)
    try:
        rendered(page, "#steps-done")  # the new run showed up, and its overview opened
        page.wait_for_function("document.querySelector('#steps-done .value').innerText === '1/6'")
        assert page.inner_text("#in-step").startswith("step 2 running")  # waiting at the gate
        assert "last change" in page.inner_text("#about")
        for step in range(2, 7):  # let the run take one step at a time; the page follows
            gate.write_text(str(step))
            page.wait_for_function(
                f"document.querySelector('#steps-done .value').innerText === '{step}/6'",
                timeout=30_000,
            )
        assert child.wait(60) == 0
        page.wait_for_function("document.querySelector('#status').innerText === 'finished'")
        points = page.eval_on_selector_all("#learning-curve .pt", "p => p.length")
        assert points >= 7  # train and validation points of six steps and the baseline
        assert page.evaluate("window.__sameDocument") is True  # never reloaded
        assert page.problems == []
    finally:
        child.kill()
        child.wait()


HOSTILE = (
    '<img src=x onerror="window.__pwned=1"></script><script>window.__pwned=2</script><b>bold</b>'
)


def test_model_text_is_shown_as_text_never_run(serve: Any, page: Any, tmp_path: Path) -> None:
    """Prompts, replies and outputs are untrusted: markup in them must show as text, in the
    live pages and in report.html (where the data sits inside a script element)."""
    fit_in_thread(lineage_run(tmp_path / "hostile", first=HOSTILE))
    report = write_report(tmp_path / "hostile")
    url = serve(tmp_path).url
    for target in (url + "#/run/hostile", report.as_uri() + "#/run/hostile"):
        for hash_, selector in [("/step/1", "#train-examples"), ("/lineage", "table.blame")]:
            page.goto(target + hash_)
            rendered(page, selector)
            assert page.evaluate("window.__pwned") is None
            assert (
                page.locator("main img").count() == 0
                and page.locator("main b:text('bold')").count() == 0
            )
        assert HOSTILE in page.inner_text("table.blame")  # shown, as text
    assert page.problems == []


def test_the_report_shows_the_same_pages_offline(page: Any, finished: Path) -> None:
    report = write_report(finished / "lineage")
    page.route("**/*", lambda route: route.abort() if not route.request.url.startswith("file:")
               else route.continue_())  # fmt: skip
    page.goto(report.as_uri())
    rendered(page, "#learning-curve")
    assert page.inner_text("#steps-done .value") == "3/3"
    page.click("#learning-curve .accepted .pt[data-step='2']")
    rendered(page, "#step-title")
    assert page.inner_text("#step-title").startswith("Step 2")
    page.goto(report.as_uri() + "#/run/lineage/lineage")
    rendered(page, "table.blame")
    assert page.eval_on_selector_all("table.blame tr", "r => r.map(x => x.dataset.step)") == [
        "0", "1", "2", "3",
    ]  # fmt: skip
    assert page.problems == []
