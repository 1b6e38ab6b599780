"""Traced operators give the same values as plain Python (differential), and record the graph."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tracegraph as tg
from tracegraph.names import view_names
from tracegraph.node import NodeKind
from tracegraph.operators import OPERATORS


class Mat:
    """A value that supports ``@`` (no numpy needed)."""

    def __init__(self, v: int) -> None:
        self.v = v

    def __matmul__(self, other: Any) -> Any:
        if isinstance(other, Mat):
            return self.v * other.v
        return self.v * other if type(other) is int else NotImplemented

    def __rmatmul__(self, other: Any) -> Any:
        return other * self.v if type(other) is int else NotImplemented


BINARY: list[tuple[str, Callable[[Any, Any], Any], Any, Any]] = [
    ("add", operator.add, 3, 4),
    ("add", operator.add, "ab", "cd"),
    ("add", operator.add, [1], [2, 3]),
    ("sub", operator.sub, 10, 4.5),
    ("mul", operator.mul, 6, 7),
    ("mul", operator.mul, "ab", 3),
    ("truediv", operator.truediv, 7, 2),
    ("floordiv", operator.floordiv, -7, 2),
    ("mod", operator.mod, -7, 3),
    ("pow", operator.pow, 2, 10),
    ("matmul", operator.matmul, Mat(3), Mat(4)),
    ("matmul", operator.matmul, 5, Mat(4)),
    ("and", operator.and_, 12, 10),
    ("and", operator.and_, {1, 2}, {2, 3}),
    ("or", operator.or_, 12, 3),
    ("or", operator.or_, {"a": 1}, {"b": 2}),
    ("xor", operator.xor, True, False),
    ("lshift", operator.lshift, 3, 4),
    ("rshift", operator.rshift, 256, 3),
    ("eq", operator.eq, 3, 3),
    ("eq", operator.eq, "a", "b"),
    ("ne", operator.ne, [1], [1]),
    ("lt", operator.lt, "abc", "abd"),
    ("le", operator.le, 2, 2),
    ("gt", operator.gt, 2.5, 2),
    ("ge", operator.ge, (1, 2), (1, 3)),
]


MIRRORED = {"eq": "eq", "ne": "ne", "lt": "gt", "gt": "lt", "le": "ge", "ge": "le"}


def same(xs: Any, ys: Any) -> bool:
    """Identity comparison of node sequences (``==`` on nodes is a traced operator)."""
    return len(xs) == len(ys) and all(x is y for x, y in zip(xs, ys, strict=True))


@pytest.mark.parametrize(("name", "fn", "a", "b"), BINARY)
@pytest.mark.parametrize("traced", ["left", "right", "both"])
def test_binary_operators_match_plain_python(
    name: str, fn: Callable[[Any, Any], Any], a: Any, b: Any, traced: str
) -> None:
    left = tg.node(a, name="a") if traced in ("left", "both") else a
    right = tg.node(b, name="b") if traced in ("right", "both") else b
    out = fn(left, right)
    assert isinstance(out, tg.Node)
    assert out.value == fn(a, b)
    operands = [(a, left), (b, right)]
    if traced == "right" and name in MIRRORED:  # Python asks the node for the mirrored compare
        name, operands = MIRRORED[name], operands[::-1]
    assert out.op == name and out.kind is NodeKind.CALL
    assert out.arg_names == ("left", "right")
    assert [p.value for p in out.parents] == [v for v, _ in operands]
    for p, (_, was) in zip(out.parents, operands, strict=True):
        assert p is was if isinstance(was, tg.Node) else p.kind is NodeKind.CONSTANT


@pytest.mark.parametrize(
    ("name", "fn", "value"),
    [
        ("neg", operator.neg, 5),
        ("pos", operator.pos, -2.5),
        ("abs", abs, -3),
        ("invert", operator.invert, 6),
        ("round", round, 2.675),
    ],
)
def test_unary_operators_match_plain_python(
    name: str, fn: Callable[[Any], Any], value: Any
) -> None:
    out = fn(tg.node(value, name="x"))
    assert out.value == fn(value) and out.op == name


def test_round_with_digits() -> None:
    out = round(tg.node(2.675, name="x"), 2)
    assert out.value == round(2.675, 2)
    assert out.arg_names == ("number", "ndigits")


def test_every_row_of_the_table_is_documented() -> None:
    for name, rule in OPERATORS.items():
        assert rule.doc and rule.labels, name


# --------------------------------------------------------------- random expressions (hypothesis)

OPS2 = [operator.add, operator.sub, operator.mul, operator.floordiv, operator.mod, operator.lt]
OPS1 = [operator.neg, abs, operator.pos]


def expressions() -> st.SearchStrategy[Any]:
    """Random expression trees: ("leaf", value, traced?) / ("un", op, e) / ("bin", op, e, e)."""
    leaf = st.tuples(st.just("leaf"), st.integers(-20, 20), st.booleans())
    return st.recursive(
        leaf,
        lambda sub: st.one_of(
            st.tuples(st.just("un"), st.sampled_from(OPS1), sub),
            st.tuples(st.just("bin"), st.sampled_from(OPS2), sub, sub),
        ),
        max_leaves=12,
    )


def evaluate(expr: Any, traced: bool) -> Any:
    if expr[0] == "leaf":
        return tg.param(expr[1], name="leaf") if traced and expr[2] else expr[1]
    if expr[0] == "un":
        return expr[1](evaluate(expr[2], traced))
    return expr[1](evaluate(expr[2], traced), evaluate(expr[3], traced))


def outcome(expr: Any, traced: bool) -> tuple[str, Any]:
    try:
        value = evaluate(expr, traced)
    except tg.OpError as err:
        return "raised", type(err.__cause__).__name__
    except Exception as err:
        return "raised", type(err).__name__
    return "value", value.value if isinstance(value, tg.Node) else value


@settings(max_examples=300, deadline=None)
@given(expressions())
def test_random_expressions_match_plain_python(expr: Any) -> None:
    assert outcome(expr, traced=True) == outcome(expr, traced=False)


@settings(max_examples=100, deadline=None)
@given(expressions())
def test_random_expressions_are_plain_under_no_trace(expr: Any) -> None:
    with tg.no_trace():
        got = outcome(expr, traced=True)
    assert got == outcome(expr, traced=False)


# --------------------------------------------------- items, attributes, methods, calls, iteration


def test_getitem_with_plain_and_traced_keys() -> None:
    d = tg.node({"a": [10, 20]}, name="d")
    key = tg.param("a", name="key")
    out = d[key][1]
    assert out.value == 20 and out.op == "getitem"
    assert out.parents[0].parents[1] is key
    assert d["a"].arg_names == ("obj", "key")


def test_string_methods_are_traced_calls() -> None:
    s = tg.node("  Hello World ", name="s")
    up = s.strip().upper()
    assert up.value == "HELLO WORLD" and up.op == "call_method:upper"
    words = up.split()
    assert words.value == ["HELLO", "WORLD"] and words.op == "call_method:split"
    template = tg.param("{greeting}, {who}!", name="template")
    who = tg.node("you", name="who")
    text = template.format(greeting="Hi", who=who)
    assert text.value == "Hi, you!"
    assert text.arg_names == ("obj", "greeting", "who")
    assert text.parents[0] is template and text.parents[2] is who
    replaced = s.replace("World", who)
    assert replaced.value == "  Hello you " and replaced.arg_names == ("obj", "args[0]", "args[1]")


def test_attributes_of_the_value() -> None:
    class Point:
        def __init__(self) -> None:
            self.x = 3
            self.name = "p"

    p = tg.node(Point(), name="point")
    x = p.x
    assert x.value == 3 and x.op == "getattr"
    assert x.parents[1].value == "x"
    assert p.name == "point"  # the node's own attribute wins...
    assert tg.operators.getattr_(p, "name").value == "p"  # ...getattr_ reaches the value's
    assert tg.node(3 + 4j, name="c").imag.value == 4.0
    assert not hasattr(p, "missing")
    with pytest.raises(AttributeError, match="missing"):
        _ = p.missing
    with pytest.raises(AttributeError):
        _ = p._private


def test_calling_a_node() -> None:
    f = tg.node(max, name="f")
    out = f(3, tg.param(5, name="five"), key=abs)
    assert out.value == 5 and out.op == "call"
    assert out.arg_names == ("fn", "args[0]", "args[1]", "key")


@pytest.mark.parametrize(
    ("value", "op_name"),
    [
        ([1, 2, 3], "getitem"),
        ("abc", "getitem"),
        ({"k": 1, "j": 2}, "iter_item"),
        ({5}, "iter_item"),
    ],
)
def test_iteration_yields_traced_items(value: Any, op_name: str) -> None:
    n = tg.node(value, name="n")
    items = list(n)
    assert [i.value for i in items] == list(value)
    assert all(i.op == op_name and i.parents[0] is n for i in items)


def test_plain_protocols_return_plain_values() -> None:
    s = tg.node("abc", name="s")
    assert len(s) == 3 and type(len(s)) is int
    assert tg.len_(s).value == 3 and s.len().op == "len"
    assert tg.len_("plain") == 5
    assert bool(s) is True and bool(tg.node("", name="e")) is False
    assert "b" in s and tg.node("b", name="b") in s
    with pytest.warns(tg.TraceLostWarning):  # text outside an op body: the trace stops
        assert str(s) == "abc" and f"[{s:>5}]" == "[  abc]"
    assert int(tg.node("7", name="i")) == 7 and float(tg.node(2, name="f")) == 2.0


def test_nodes_hash_by_identity() -> None:
    a, b = tg.node(1, name="a"), tg.node(1, name="b")
    table = {a: "a", b: "b"}
    assert table[a] == "a" and table[b] == "b" and len({a, b}) == 2
    assert (a == b).value is True  # == is traced and compares values


def test_operators_inside_an_op_body_are_plain_and_recorded_as_reads() -> None:
    y = tg.param(2, name="y")
    text = tg.node("hi", name="text")

    @tg.op
    def body() -> Any:
        total = y * 10 + 1
        shout = text.upper()
        assert isinstance(total, int) and isinstance(shout, str)
        return shout * (total // 21)

    out = body()
    assert out.value == "HI"
    assert same(out.parents, (y, text))


def test_a_failing_operator_makes_an_exception_node() -> None:
    n = tg.param(1, name="n")
    with pytest.raises(tg.OpError) as info:
        n + "x"  # FAILS-HERE
    err = info.value
    assert isinstance(err.__cause__, TypeError)
    assert err.node is not None and err.node.kind is NodeKind.EXCEPTION
    assert err.node.op == "add" and err.node.parents[0] is n
    exc = err.node.meta["exception"]
    assert exc.file == __file__ and "FAILS-HERE" in exc.source


def test_a_repeated_literal_at_one_site_is_one_constant() -> None:
    y = tg.param(0, name="y")
    for _ in range(5):
        y = y + 1
    assert y.value == 5
    constants = []
    node = y
    while node.parents:
        constants.append(node.parents[1])
        node = node.parents[0]
    assert all(c is constants[0] for c in constants) and constants[0].value == 1
    z = tg.param(0, name="z")
    for step in (1, 2):
        z = z + step  # a different value at the same site is a different constant
    assert z.parents[1].value == 2 and z.parents[0].parents[1].value == 1


def test_method_call_nodes_are_named_after_the_method() -> None:
    out = tg.node("a b", name="s").split()
    assert out.op == "call_method:split"
    assert out.name == "split" and ":" not in out.name
    assert view_names(out)[out] == "split_1"  # every view numbers it the same way
