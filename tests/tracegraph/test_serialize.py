"""export_graph / import_graph: a graph rebuilt from its data reads exactly like the original.

Differential: random traced programs (numbers, text, tuples, exceptions, implicit reads,
trainable code) are traced here; the same outputs are exported, sent through JSON, imported
onto the same parameters, and both copies must print the same ``format_graph`` text and, after
the same feedback, give the same relevant subgraphs.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tracegraph as tg
from tracegraph.graph import check_graph, relevant_subgraph
from tracegraph.node import Feedback, Node
from tracegraph.serialize import GraphDataError, Opaque, export_graph, import_graph


@tg.op
def scale(x: float, k: float) -> float:
    """Multiply by a factor."""
    return x * k


@tg.op
def pair(x: float, y: float) -> tuple[float, float]:
    """Pack two numbers (a tuple is not JSON: it travels as its repr)."""
    return (x, y)


@tg.op
def label(x: float) -> str:
    """Say the number in words."""
    return f"value {x:.3f}"


@tg.op
def boom(x: float) -> float:
    """Fail on purpose."""
    return x / 0


@tg.trainable
def shift(x: float) -> float:
    """Add one."""
    return x + 1


# One step of a random program: (operation, first operand, second operand) by index.
STEPS = st.lists(
    st.tuples(st.sampled_from(["add", "scale", "pair", "label", "boom", "read", "shift"]),
              st.integers(0, 50), st.integers(0, 50)),
    min_size=1, max_size=14,
)  # fmt: skip


def run_program(steps: list[tuple[str, int, int]], params: list[Node]) -> list[Node]:
    """Trace ``steps`` over ``params`` and an input; return every node made.

    Numeric results go back into the pool and are reused; text, tuples and exception nodes
    are terminal.
    """
    pool: list[Node] = [*params, tg.node(1.5, name="x")]
    made: list[Node] = []
    for what, i, j in steps:
        a, b = pool[i % len(pool)], pool[j % len(pool)]
        if what in ("add", "scale", "shift", "read"):
            new = _numeric(what, a, b)
            pool.append(new)
        elif what == "pair":
            new = pair(a, b)
        else:
            try:
                new = label(a) if what == "label" else boom(a)
            except tg.OpError as exc:
                assert exc.node is not None
                new = exc.node
        made.append(new)
    return made


def _numeric(what: str, a: Node, b: Node) -> Node:
    if what == "add":
        return a + b
    if what == "scale":
        return scale(a, 2)
    if what == "shift":
        return shift(a)
    return _reader(b)(a)


def _reader(hidden: Node) -> Any:
    @tg.op
    def add_hidden(x: float) -> float:
        """Add a value read from the enclosing scope (an implicit parent)."""
        return x + hidden.value

    return add_hidden


def subgraph_view(params: list[Node]) -> dict[str, Any]:
    """The relevant subgraph as plain data (names and feedback), for comparison."""
    sub = relevant_subgraph(params)
    return {
        "nodes": [n.name for n in sub.nodes],
        "params": [id(p) for p in sub.params],
        "outputs": [(n.name, str(fb)) for n, fb in sub.outputs],
        "per_param": {p.name: [n.name for n in ns] for p, ns in sub.per_param.items()},
    }


def feed(outputs: list[Node]) -> None:
    for k, out in enumerate(outputs):
        out.backward(Feedback(text=f"feedback {k}", score=float(k)))


# Parameters outlive every trace (as in a training run): made once, before any constant.
PARAMS = [tg.param(0.5, name="p0"), tg.param(2.0, name="p1"), tg.code_of(shift)]


@settings(max_examples=60, deadline=None)
@given(steps=STEPS, picks=st.lists(st.integers(0, 50), min_size=1, max_size=4))
def test_imported_graph_reads_like_the_original(
    steps: list[tuple[str, int, int]], picks: list[int]
) -> None:
    params = PARAMS
    made = run_program(steps, params[:2])
    outputs = list(dict.fromkeys(made[k % len(made)] for k in picks))
    data = json.loads(json.dumps(export_graph(outputs)))  # must be plain JSON
    copies = import_graph(data, {p.name: p for p in params})
    check_graph(copies)
    assert tg.format_graph(copies) == tg.format_graph(outputs)

    feed(outputs)
    local_text, local_sub = tg.format_graph(outputs), subgraph_view(params)
    tg.zero_feedback(params)
    feed(copies)
    assert tg.format_graph(copies) == local_text
    assert subgraph_view(params) == local_sub
    tg.zero_feedback(params)


def test_values_keep_json_and_show_the_rest_by_repr() -> None:
    p = tg.param({"k": [1, 2]}, name="cfg")
    out = pair(p, tg.node(float("nan"), name="n"))
    (copy,) = import_graph(export_graph(out), {"cfg": p})
    assert isinstance(copy.value, Opaque) and repr(copy.value) == repr(out.value)
    assert copy.parents[0] is p
    assert isinstance(copy.parents[1].value, Opaque)  # NaN is not JSON


def test_exception_nodes_keep_their_info_and_backward_reaches_the_code() -> None:
    code = tg.code_of(shift)
    with pytest.raises(tg.OpError) as caught:
        shift(tg.node("text", name="s"))
    err = caught.value.node
    assert err is not None
    (copy,) = import_graph(export_graph(err), {code.name: code})
    assert copy.value == err.value and copy.meta["exception"] == err.meta["exception"]
    assert any(parent is code for parent in copy.parents)
    copy.backward("do not add text to numbers")
    assert [str(r.feedback) for r in code.received] == ["do not add text to numbers"]
    code.zero_feedback()


def test_a_parameter_the_driver_lacks_is_named() -> None:
    out = tg.param(1.0, name="mystery") + 1
    with pytest.raises(GraphDataError, match="'mystery'"):
        import_graph(export_graph(out), {})
    (copy,) = import_graph(export_graph(out), {}, strict=False)
    assert copy.parents[0].name == "mystery" and copy.parents[0].spec is not None


def test_a_parameter_of_another_type_is_refused() -> None:
    out = tg.param(1.0, name="p") + 1
    with pytest.raises(GraphDataError, match=r"type number .* text"):
        import_graph(export_graph(out), {"p": tg.param("x", name="p")})


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda d: d.update(format="other"),
        lambda d: d.update(version=99),
        lambda d: d["nodes"][-1].update(parents=[len(d["nodes"])]),
        lambda d: d["nodes"][-1].update(kind="weird"),
    ],
)
def test_foreign_or_corrupt_data_is_refused(corrupt: Any) -> None:
    p = tg.param(1.0, name="p")
    data = export_graph(scale(p, 3))
    corrupt(data)
    with pytest.raises(GraphDataError):
        import_graph(data, {"p": p})
