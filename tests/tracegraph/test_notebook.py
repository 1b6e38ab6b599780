"""A Node and a traced graph display themselves in a notebook: their facts (escaped) and the
graph, as SVG when graphviz's ``dot`` is installed, else as the text view."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET

import pytest

import tracegraph as tg
from tracegraph import notebook


@tg.op
def join(prompt: str, question: str) -> str:
    """Put the prompt before the question."""
    return f"{prompt} {question}"


def traced() -> tuple[tg.Node, tg.Node]:
    prompt = tg.param("Answer <briefly>.", name="prompt")
    out = join(prompt, "2+2?")
    out.backward("too long & vague")
    return prompt, out


def svg_of(html: str) -> ET.Element:
    start, end = html.index("<svg"), html.index("</svg>") + len("</svg>")
    return ET.fromstring(html[start:end])


def test_a_node_shows_its_facts_escaped_and_its_graph() -> None:
    _, out = traced()
    bundle = out._repr_mimebundle_()  # type: ignore[attr-defined]
    assert bundle["text/plain"] == repr(out)
    page = bundle["text/html"]
    assert "Answer &lt;briefly&gt;. 2+2?" in page and "<briefly>" not in page
    assert "too long &amp; vague" in page and "test_notebook.py:" in page
    if shutil.which("dot"):
        labels = " ".join(
            t.text or "" for t in svg_of(page).iter("{http://www.w3.org/2000/svg}text")
        )
        assert "prompt" in labels and "join" in labels
    else:
        assert "<pre>" in page and "join(" in page


def test_without_dot_the_graph_is_the_text_view(monkeypatch: pytest.MonkeyPatch) -> None:
    _, out = traced()
    monkeypatch.setattr(notebook.shutil, "which", lambda name: None)
    page = notebook.graph_html(out)
    assert page.startswith("<pre>") and "join(prompt=prompt" in page


def test_a_traced_subgraph_shows_its_parameters_and_feedback() -> None:
    prompt, _ = traced()
    sub = tg.relevant_subgraph([prompt])
    page = sub._repr_html_()  # type: ignore[attr-defined]
    assert "between 1 parameter(s)" in page
    assert "prompt = &#x27;Answer &lt;briefly&gt;.&#x27;" in page
    assert "too long &amp; vague" in page
