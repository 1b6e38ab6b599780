"""Small graphs built with the Node constructor, shared by the optimizer tests.

They do not need tracing: each helper wires CALL nodes by hand, gives feedback with
``tracegraph.backward.backward`` and returns the parameters and outputs.
"""

from __future__ import annotations

from typing import Any

from tracegraph.backward import backward
from tracegraph.node import Node, NodeKind, SourceLocation
from tracegraph.params import ParamSpec, ParamType
from tracegraph.sites import ExceptionInfo


def param(value: Any, name: str, kind: ParamType, **spec: Any) -> Node:
    """A trainable parameter node with a spec of ``kind``."""
    if kind is ParamType.JSON:
        spec.setdefault("example", value)
    where = SourceLocation("model.py", 10 + len(name), "<module>", f"{name} = tg.param(...)")
    return Node(value, NodeKind.PARAMETER, name, location=where, spec=ParamSpec(kind, **spec))


def call(op: str, value: Any, name: str, parents: dict[str, Node], doc: str = "") -> Node:
    """A CALL node made by ``op`` from labelled parents."""
    return Node(
        value,
        NodeKind.CALL,
        name,
        op=op,
        parents=tuple(parents.values()),
        arg_names=tuple(parents),
        doc=doc,
    )


def inp(value: Any, name: str) -> Node:
    return Node(value, NodeKind.INPUT, name)


def qa_graph() -> tuple[dict[str, Node], Node]:
    """A prompt, a temperature and a choice feeding a pretend LLM call; feedback on the answer."""
    prompt = param(
        "Answer briefly.",
        "prompt",
        ParamType.TEXT,
        max_length=200,
        description="system prompt of the answerer",
    )
    temp = param(0.7, "temperature", ParamType.NUMBER, bounds=(0.0, 2.0))
    style = param("plain", "style", ParamType.CHOICE, choices=("plain", "markdown"))
    verbose = param(False, "verbose", ParamType.BOOL)
    shots = param(2, "shots", ParamType.INTEGER, bounds=(0, 8))
    cfg = param({"stop": ["\n"], "top_k": 5}, "decoding", ParamType.JSON)
    question = inp("What is 2+3?", "question")
    msgs = call(
        "build_messages",
        [{"role": "system", "content": "Answer briefly."}],
        "build_messages_1",
        {"question": question, "prompt": prompt, "style": style},
        doc="Put the system prompt and the question into chat messages.",
    )
    text = call(
        "chat",
        "The answer is 4",
        "chat_2",
        {
            "messages": msgs,
            "temperature": temp,
            "verbose": verbose,
            "shots": shots,
            "decoding": cfg,
        },
        doc="Ask the model.",
    )
    answer = call(
        "parse_answer",
        4,
        "parse_answer_3",
        {"text": text},
        doc="Extract the final integer from the model's answer.",
    )
    backward(answer, "expected 5, got 4: the answer must end with the number")
    params = {p.name: p for p in (prompt, temp, style, verbose, shots, cfg)}
    return params, answer


def chain_graph(n: int) -> tuple[Node, Node]:
    """``y = x + 1`` repeated ``n`` times from one number parameter (2n + 1 nodes)."""
    x = param(1.0, "x", ParamType.NUMBER)
    y = x
    for i in range(n):
        one = Node(1, NodeKind.CONSTANT, f"const_{i}")
        y = call("add", y.peek() + 1, f"add_{i}", {"a": y, "b": one}, doc="a + b")
    backward(y, "the result should be larger")
    return x, y


BUGGY = (
    'def parse_answer(text):\n    """Extract the final integer."""\n'
    "    return int(text.split()[0])\n"
)


def code_graph() -> tuple[Node, Node, Node]:
    """A trainable ``parse_answer`` whose call raised on its traced input; feedback on it.

    Returns the code parameter, the input and the exception node.
    """
    code = param(BUGGY, "parse_answer", ParamType.CODE, description="parses the model's answer")
    text = inp("The answer is 5", "reply_text")
    info = ExceptionInfo(
        "ValueError",
        "invalid literal for int() with base 10: 'The'",
        "model.py",
        3,
        "     1 | def parse_answer(text):\n>>   3 |     return int(text.split()[0])",
    )
    err = Node(
        info,
        NodeKind.EXCEPTION,
        "parse_answer_1",
        op="parse_answer",
        parents=(text, code),
        arg_names=("text", "<code>"),
        doc="Extract the final integer.",
        code_param=code,
    )
    backward(err, "parse_answer raised: it must return 5 for 'The answer is 5'")
    return code, text, err


def golden(name: str, text: str) -> None:
    """Compare ``text`` with tests/golden/optimizers/NAME; ``UPDATE_GOLDEN=1`` rewrites the file."""
    import os
    from pathlib import Path

    path = Path(__file__).parent.parent / "golden" / "optimizers" / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"{path} is missing: run the test with UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text(), f"{path} differs (UPDATE_GOLDEN=1 to accept the new text)"
