"""Text and DOT views: golden files, truncation, exception marking, rendering with and without dot.

Golden files live in tests/golden/. After an intended change of the views, regenerate them with
``UPDATE_GOLDEN=1 pytest tests/tracegraph/test_views.py`` and review the diff.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tracegraph import dot as dot_module
from tracegraph.backward import backward
from tracegraph.dot import DotNotFoundError, render, to_dot
from tracegraph.node import Node, NodeKind
from tracegraph.text import format_graph, short_repr

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
    assert path.exists(), f"missing golden file {path}: run with UPDATE_GOLDEN=1"
    assert text + "\n" == path.read_text(encoding="utf-8")


WORKFLOW = """\
import tracegraph as tg

prompt = tg.param("You are a careful assistant. Answer with one number at the end. " * 2,
                  name="prompt")
temperature = tg.param(0.7, name="temperature", trainable=False)
question = tg.node("What is 2+3?", name="question")

@tg.op
def build_messages(question, prompt):
    return [{"role": "system", "content": "You are..."}, {"role": "user", "content": "What?"}]

@tg.op
def complete(messages, temperature):
    return "The answer is\\n4"

@tg.op
def parse_answer(text):
    return lines.value + int(text.split(" ", 2)[2])  # reads lines: an implicit parent

reply = complete(build_messages(question, prompt), temperature)
lines = reply.count("\\n") + 1
try:
    parse_answer(reply)
except tg.OpError as err:
    failed = err.node
"""


def _line(marker: str) -> int:
    return next(i for i, text in enumerate(WORKFLOW.splitlines(), 1) if marker in text)


def sample_graph() -> Node:
    """A small traced workflow with every kind of node, a long value, numbered names, an
    exception and feedback. It runs from a file far from here: views show its base name."""
    scope: dict[str, Any] = {}
    exec(compile(WORKFLOW, f"{Path.cwd()}/deep/dir/workflow.py", "exec"), scope)
    failed: Node = scope["failed"]
    backward(failed, "the reply must end with the number alone")
    backward(failed, 0.0)
    return failed


def test_format_graph_golden() -> None:
    check_golden("format_graph_sample.txt", format_graph(sample_graph()))


def test_format_graph_is_stable_and_cuts_long_values() -> None:
    out = sample_graph()
    text = format_graph(out, max_value=20)
    assert text == format_graph(out, max_value=20)
    assert (
        "...<+" in text
        and "/deep/dir" not in text
        and f"workflow.py:{_line('reply = complete(')}" in text
    )
    assert all(len(line) < 200 for line in text.splitlines())
    assert "add_1 = add(left=count_1, right=const_2)" in text  # names numbered in the view
    assert "!! raised ValueError" in text


def test_exception_objects_and_broken_reprs_are_shown() -> None:
    class Loud:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    x = Node(Loud(), NodeKind.INPUT, "x")
    err = Node(KeyError("k"), NodeKind.EXCEPTION, "boom", op="f", parents=(x,), arg_names=("a",))
    assert format_graph(err) == (
        "x: input = <Loud: repr raised RuntimeError>\nf_1 = f(a=x) !! raised KeyError: 'k'"
    )


def test_user_names_that_repeat_are_told_apart_and_numbers_skip_them() -> None:
    a = Node(1, NodeKind.PARAMETER, "x")
    b = Node(2, NodeKind.INPUT, "x")
    c = Node(3, NodeKind.INPUT, "add_1")  # a user's name that looks like a number
    d = Node(4, NodeKind.CALL, "add", op="add", parents=(a, b), arg_names=("left", "right"))
    e = Node(5, NodeKind.CALL, "add", op="add", parents=(d, c), arg_names=("left", "right"))
    assert format_graph(e).splitlines()[3:] == [
        "add_2 = add(left=x, right=x~2) -> 4",
        "add_3 = add(left=add_2, right=add_1) -> 5",
    ]


def test_short_repr() -> None:
    assert short_repr("abc", 10) == "'abc'"
    assert short_repr("x" * 100, 10) == "'xxxxxxxxx...<+92 chars>"
    assert short_repr(list(range(5)), 5) == "[0, 1...<+10 chars>"


def test_dot_golden() -> None:
    check_golden("to_dot_sample.dot", to_dot(sample_graph()).source.rstrip("\n"))


def test_dot_marks_kinds() -> None:
    source = to_dot(sample_graph(), max_value=15).source
    assert "shape=box" in source  # parameters
    assert "color=red" in source  # the exception
    assert "shape=note" in source and "the reply must" in source  # feedback note
    assert "...<+" in source


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz's dot is not installed")
def test_render_svg_with_dot(tmp_path: Path) -> None:
    picture = render(sample_graph(), tmp_path / "trace", format="svg")
    assert picture == tmp_path / "trace.svg"
    assert picture.read_text().lstrip().startswith(("<?xml", "<svg"))
    assert "parse_answer" in picture.read_text()
    assert (tmp_path / "trace.dot").read_text().startswith("digraph")
    direct = to_dot(sample_graph()).render(tmp_path / "direct", format="svg")
    assert Path(direct).exists()


def test_render_without_dot_says_how_to_install_and_keeps_the_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dot_module.shutil, "which", lambda name: None)
    with pytest.raises(DotNotFoundError) as info:
        render(sample_graph(), tmp_path / "sub" / "trace.dot")
    message = str(info.value)
    assert "apt-get install graphviz" in message and "brew install graphviz" in message
    source = tmp_path / "sub" / "trace.dot"
    assert str(source) in message and source.read_text().startswith("digraph")
    assert not (tmp_path / "sub" / "trace.svg").exists()
