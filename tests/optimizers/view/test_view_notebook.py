"""A StepReport and a finished run display themselves in a notebook."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import tracegraph as tg
from optimizers import GraphOptimizer, ScriptedClient
from tests.optimizers.view.runs import lineage_run

SVG = "{http://www.w3.org/2000/svg}"


def test_a_step_report_shows_what_was_applied_and_rejected_and_why() -> None:
    x = tg.param(1, name="x", description="a small number")
    y = tg.param("<b>", name="tag", description="a tag")
    out = (x + 1) * 2
    out.backward("x should be 4")
    tag = y + "!"
    tag.backward("shorter")
    reply = {"reasoning": "x <must> grow", "updates": {"x": 4, "tag": 7}}
    llm = ScriptedClient([json.dumps(reply)])
    report = GraphOptimizer([x, y], llm=llm, max_reasks=0).step()
    page = report._repr_html_()
    assert "1 applied, 1 rejected" in page
    assert "<td>x</td><td>applied</td><td><pre>1</pre></td><td><pre>4</pre></td>" in page
    assert "<td>tag</td><td>rejected</td>" in page and "must be text" in page
    assert "x &lt;must&gt; grow" in page and "<must>" not in page


def test_a_finished_run_shows_its_outcome_and_learning_curve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACEGRAPH_FSYNC", "0")
    result = lineage_run(tmp_path / "run").fit()
    page = result._repr_html_()
    assert "<b>finished</b>" in page and "best score <b>1</b> at step 3" in page
    assert f"tracegraph view {tmp_path / 'run'}" in page
    svg = ET.fromstring(page[page.index("<svg") : page.index("</svg>") + 6])
    dots = svg.findall(f"{SVG}circle")
    assert len(dots) == 4  # the baseline and three steps
    assert [d.get("fill") for d in dots] == ["#6f42c1", "#1a7f37", "#1a7f37", "#1a7f37"]
    heights = [float(d.get("cy", 0)) for d in dots]
    assert heights == sorted(heights, reverse=True)  # every step scored higher (drawn higher)
