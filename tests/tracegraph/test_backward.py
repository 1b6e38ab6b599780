"""backward(): accumulation, clearing, the rule table, the combine function, errors."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracegraph import backward as bw
from tracegraph.backward import (
    RULES,
    backward,
    combine_feedback,
    default_rule,
    register_rule,
    zero_feedback,
)
from tracegraph.errors import FeedbackError, GraphError
from tracegraph.graph import check_graph
from tracegraph.node import Feedback, Node, NodeKind, Received, SourceLocation


def param(name: str, value: object = 0) -> Node:
    return Node(value, NodeKind.PARAMETER, name, location=SourceLocation("model.py", 1))


def call(op: str, *parents: Node, name: str | None = None) -> Node:
    args = tuple(f"x{i}" for i in range(len(parents)))
    where = SourceLocation("model.py", 10)
    return Node(
        None, NodeKind.CALL, name or op, op=op, parents=parents, arg_names=args, location=where
    )


@pytest.fixture
def fresh_rules() -> Iterator[None]:
    """Restore the rule table after a test that registers rules."""
    saved = dict(RULES)
    yield
    RULES.clear()
    RULES.update(saved)


def test_calls_accumulate_like_a_minibatch() -> None:
    p = param("p")
    outs = [call("f", p, name=f"out{i}") for i in range(3)]
    for i, out in enumerate(outs):
        backward(out, f"case {i} wrong")
    backward(outs[0], 0.25)
    assert [(r.output.name, r.feedback) for r in p.received] == [
        ("out0", Feedback("case 0 wrong")),
        ("out1", Feedback("case 1 wrong")),
        ("out2", Feedback("case 2 wrong")),
        ("out0", Feedback(score=0.25)),
    ]
    assert outs[0].feedback == [Feedback("case 0 wrong"), Feedback(score=0.25)]
    check_graph(outs)


def test_node_backward_method_delegates() -> None:
    p = param("p")
    out = call("f", p)
    out.backward("shorter")
    assert p.received == [Received(out, Feedback("shorter"))]


def test_zero_feedback_clears_given_nodes_and_what_they_came_from() -> None:
    p, q = param("p"), param("q")
    out = call("f", p, call("g", q))
    backward(out, "no")
    zero_feedback(p)
    assert p.received == [] and q.received != [] and out.feedback != []
    zero_feedback(out)
    assert q.received == [] and out.feedback == []


def test_zero_feedback_takes_iterables_and_modules() -> None:
    p, q = param("p"), param("q")
    backward(call("f", p, q), "no")

    class Holder:
        def parameters(self) -> list[Node]:
            return [q]

    zero_feedback([p], Holder())
    assert p.received == [] and q.received == []
    with pytest.raises(TypeError, match="zero_feedback takes"):
        zero_feedback(3)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("too long", Feedback("too long")),
        (3, Feedback(score=3.0)),
        (0.5, Feedback(score=0.5)),
        (Feedback("ok", 1.0), Feedback("ok", 1.0)),
    ],
)
def test_feedback_types(given: object, expected: Feedback) -> None:
    p = param("p")
    backward(call("f", p), given)  # type: ignore[arg-type]
    assert p.received[0].feedback == expected


@pytest.mark.parametrize("bad", [None, True, ["a"], {"text": "a"}, b"bytes"])
def test_bad_feedback_is_a_feedback_error_naming_the_output(bad: object) -> None:
    p = param("p")
    out = call("f", p, name="answer")
    with pytest.raises(FeedbackError, match="feedback must be text") as info:
        backward(out, bad)  # type: ignore[arg-type]
    assert "'answer'" in str(info.value) and "model.py:10" in str(info.value)
    assert "fix:" in str(info.value) and info.value.node is out
    assert out.feedback == [] and p.received == []


def test_backward_on_a_plain_value_says_to_use_the_node() -> None:
    with pytest.raises(FeedbackError, match="not on a plain value"):
        backward(5, "x")  # type: ignore[arg-type]


def test_an_op_without_a_rule_passes_feedback_to_every_parent() -> None:
    a, b = param("a"), param("b")
    out = call("never_registered_op", a, b)
    backward(out, "x")
    assert a.received[0].feedback == b.received[0].feedback == Feedback("x")
    assert default_rule(out, Feedback("x")) == [Feedback("x")] * 2


def test_registered_rule_shapes_what_each_parent_gets(fresh_rules: None) -> None:
    def first_only(node: Node, fb: Feedback) -> Sequence[Feedback | str | None]:
        return [f"via {node.op}: {fb.text}"] + [None] * (len(node.parents) - 1)

    assert register_rule("pick", first_only) is None
    a, b, c = param("a"), param("b"), param("c")
    backward(call("pick", a, call("f", b)), "x")
    backward(call("f", c), "x")
    assert a.received[0].feedback == Feedback("via pick: x")
    assert b.received == [] and c.received != []
    assert register_rule("pick", None) is first_only and "pick" not in RULES


def test_per_call_rules_override_the_table_without_touching_it(fresh_rules: None) -> None:
    register_rule("f", lambda node, fb: [Feedback("table")])
    p = param("p")
    backward(call("f", p), "x", rules={"f": lambda node, fb: [Feedback("call")]})
    backward(call("f", p), "x")
    assert [r.feedback.text for r in p.received] == ["call", "table"]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (lambda node, fb: [fb, fb, fb], "returned 3 feedbacks for 2 parents"),
        (lambda node, fb: [fb, object()], "returned a bad item"),
        (lambda node, fb: [fb, fb.missing], "raised AttributeError"),
    ],
)
def test_a_broken_rule_is_named(rule: bw.Rule, message: str) -> None:
    p = param("p")
    out = call("custom", p, p, name="mid")
    with pytest.raises(FeedbackError, match=message) as info:
        backward(out, "x", rules={"custom": rule})
    assert "'custom'" in str(info.value) and "'mid'" in str(info.value)
    assert p.received == [] and out.feedback == []


def test_several_paths_arrive_once_combined() -> None:
    p = param("p")
    left, right = call("f", p, name="left"), call("g", p, name="right")
    top = call("h", left, right)
    backward(top, "x", rules={"f": lambda n, fb: [Feedback("from left")]})
    [rec] = p.received
    assert rec == Received(top, Feedback("from left\nx"))
    twice = call("add", p, p)  # `p + p`: both slots carry the same feedback
    backward(twice, Feedback("y", 1.0))
    assert p.received[-1].feedback == Feedback("y", 1.0)


def test_combine_is_swappable() -> None:
    p = param("p")
    out = call("h", call("f", p), call("g", p))
    seen: list[list[Feedback]] = []

    def keep_last(fbs: Sequence[Feedback]) -> Feedback:
        seen.append(list(fbs))
        return fbs[-1]

    backward(out, "x", combine=keep_last, rules={"g": lambda n, fb: [Feedback("g")]})
    assert seen and p.received[0].feedback == seen[0][-1]


def test_combine_feedback_alone() -> None:
    a, b = Feedback("too long", 0.0), Feedback("wrong number", 1.0)
    assert combine_feedback([a]) is a
    assert combine_feedback([a, a]) is a
    assert combine_feedback([a, b, a]) == Feedback("too long\nwrong number", 0.5)
    assert combine_feedback([Feedback("t"), Feedback("t", 2.0)]) == Feedback("t", 2.0)
    assert combine_feedback([Feedback(score=1.0), Feedback("", 3.0)]) == Feedback("", 2.0)
    assert combine_feedback([Feedback("a"), Feedback("b")]).score is None


@given(st.lists(st.builds(Feedback, st.text(max_size=5), st.none() | st.floats(-9, 9)), min_size=1))
def test_combine_feedback_properties(fbs: list[Feedback]) -> None:
    merged = combine_feedback(fbs)
    assert combine_feedback(fbs + fbs) == merged  # repeats change nothing
    for fb in fbs:
        assert fb.text in merged.text
    scores = [fb.score for fb in set(fbs) if fb.score is not None]
    if scores:
        assert merged.score is not None and min(scores) - 1e-9 <= merged.score <= max(scores) + 1e-9
    else:
        assert merged.score is None


def test_rewired_graph_still_goes_in_topological_order() -> None:
    late = param("late")
    mid = call("f", late)
    p = param("p")  # made after `mid`, then wired in below it: uid order no longer works
    mid.parents, mid.arg_names = (late, p), ("a", "b")
    top = call("g", mid)
    backward(top, "x")
    assert p.received == [Received(top, Feedback("x"))]


@pytest.mark.no_graph_check
def test_cycle_raises_and_writes_nothing() -> None:
    p = param("p")
    a = call("f", p)
    b = call("g", a)
    a.parents, a.arg_names = (p, b), ("x", "y")
    with pytest.raises(GraphError, match="cycle"):
        backward(b, "x")
    assert b.feedback == [] and p.received == []


def test_inputs_and_constants_get_nothing_and_a_parameter_output_gets_its_own() -> None:
    x = Node(1, NodeKind.INPUT, "x")
    c = Node(2, NodeKind.CONSTANT, "c")
    out = call("f", x, c)
    backward(out, "x")
    assert x.received == [] and x.feedback == [] and c.received == []
    p = param("p")
    backward(p, "direct")
    assert p.feedback == [Feedback("direct")] and p.received == [Received(p, Feedback("direct"))]
