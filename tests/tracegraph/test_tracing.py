"""Tracing: parameters, inputs, ops (arguments, implicit reads, nesting), errors, locations."""

from __future__ import annotations

import asyncio
import functools
import inspect

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tracegraph as tg
from tracegraph.node import NodeKind
from tracegraph.params import ParamType


def same(xs: tuple[tg.Node, ...] | list[tg.Node], ys: tuple[tg.Node, ...] | list[tg.Node]) -> bool:
    """Identity comparison of node sequences (``==`` on nodes is a traced operator)."""
    return len(xs) == len(ys) and all(x is y for x, y in zip(xs, ys, strict=True))


def _line_of(marker: str) -> int:
    """The line of this file that contains ``marker`` (so tests do not hard-code numbers)."""
    lines = inspect.getsource(inspect.getmodule(_line_of)).splitlines()  # type: ignore[arg-type]
    return next(i for i, text in enumerate(lines, 1) if marker in text and "_line_of" not in text)


# ------------------------------------------------------------------------------- param / node


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("text", ParamType.TEXT),
        (0.5, ParamType.NUMBER),
        (3, ParamType.INTEGER),
        (True, ParamType.BOOL),
        ({"k": [1, 2]}, ParamType.JSON),
    ],
)
def test_param_kind_follows_value(value: object, kind: ParamType) -> None:
    p = tg.param(value, name="p", description="d")
    assert p.kind is NodeKind.PARAMETER
    assert p.spec is not None and p.spec.type is kind
    assert p.value == value and p.trainable
    assert p.spec.description == "d"


def test_param_choices_and_fixed() -> None:
    p = tg.param("b", name="mode", choices=["a", "b"], trainable=False)
    assert p.spec is not None and p.spec.type is ParamType.CHOICE
    assert not p.trainable


@pytest.mark.parametrize("name", ["", "  ", " x", "a\nb", None, 3])
def test_param_needs_a_valid_name(name: object) -> None:
    with pytest.raises(tg.ParameterError, match="needs a name"):
        tg.param(1, name=name)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"value": 5.0, "bounds": (0.0, 2.0)}, "must be <= 2.0"),
        ({"value": 1.0, "bounds": (2.0, 0.0)}, "low <= high"),
        ({"value": 1.0, "bounds": (0.0,)}, "low <= high"),
        ({"value": "c", "choices": ["a", "b"]}, "must be one of"),
        ({"value": "a", "choices": []}, "choices is empty"),
        ({"value": "abc", "max_length": 2}, "at most 2 characters"),
        ({"value": "abc", "pattern": "["}, "bad pattern"),
        ({"value": "abc", "pattern": "x+"}, "must match"),
        ({"value": "abc", "must_contain": ["zz"]}, "must keep the phrase"),
        ({"value": 3, "predicate": lambda v: v % 2 == 0 or "must be even"}, "must be even"),
        ({"value": object()}, "cannot make a parameter"),
        ({"value": "text", "bounds": (0, 1)}, "bounds apply to numbers"),
        ({"value": 1.0, "bounds": (True, 2)}, "low <= high"),
        ({"value": 3, "pattern": "x"}, "apply to text"),
        ({"value": "abc", "max_length": -1}, "max_length must be"),
    ],
)
def test_param_rejects_a_bad_first_value(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(tg.ParameterError, match=message) as info:
        tg.param(name="p", **kwargs)  # type: ignore[arg-type]
    assert "test_tracing.py" in str(info.value)  # the message names where the param was made


def test_set_value_checks_and_keeps_old_value() -> None:
    p = tg.param(0.7, name="temperature", bounds=(0.0, 2.0))
    with pytest.raises(tg.ParameterError):
        p.set_value(3.0)
    assert p.value == 0.7
    p.set_value(1)
    assert p.value == 1.0 and isinstance(p.value, float)


def test_node_makes_inputs_and_passes_nodes_through() -> None:
    q = tg.node("What?", name="question")
    assert q.kind is NodeKind.INPUT and q.name == "question"
    assert tg.node(q) is q
    assert tg.node(1).name == "input"  # views number it: input_1


def test_location_is_the_users_line() -> None:
    p = tg.param(1, name="p")  # LOCATION-MARK
    assert p.location.file == __file__
    assert p.location.line == _line_of("LOCATION-MARK")
    assert "LOCATION-MARK" in p.location.code
    y = p + 1  # OPERATOR-MARK
    assert y.location.line == _line_of("OPERATOR-MARK")


# ------------------------------------------------------------------------------------- ops


D_DEFAULT = tg.node(10, name="d_default")


@tg.op
def signature_op(a, b=2, *args, c, d=D_DEFAULT, **kwargs):  # type: ignore[no-untyped-def]
    """Add everything up.

    Second paragraph, not shown to optimizers.
    """
    return a + b + sum(args) + c + d + sum(kwargs.values())


def test_op_parents_follow_the_signature() -> None:
    a = tg.param(1, name="a")
    out = signature_op(a, 3, 4, tg.node(5, name="five"), c=6, e=7)
    assert out.value == 1 + 3 + 4 + 5 + 6 + 10 + 7
    assert out.arg_names == ("a", "b", "args[0]", "args[1]", "c", "d", "e")
    kinds = [p.kind for p in out.parents]
    assert kinds == [
        NodeKind.PARAMETER,
        NodeKind.CONSTANT,
        NodeKind.CONSTANT,
        NodeKind.INPUT,
        NodeKind.CONSTANT,
        NodeKind.INPUT,
        NodeKind.CONSTANT,
    ]
    assert out.parents[0] is a
    assert out.parents[5].name == "d_default"  # a node default is a parent; b's plain 2 is not
    assert out.kind is NodeKind.CALL and out.op == "signature_op"
    assert out.doc == "Add everything up."


def test_op_bad_call_raises_type_error_like_python() -> None:
    with pytest.raises(TypeError):
        signature_op(1)  # c is missing


def test_op_body_gets_plain_values_and_containers_are_unwrapped() -> None:
    seen = []

    @tg.op(name="joiner", description="Join texts.")
    def join(parts: list[str], sep: str) -> str:
        seen.append((parts, sep))
        return sep.join(parts)

    a, b = tg.node("x", name="a"), tg.param("y", name="b")
    out = join([a, "mid", b], sep=tg.node("-", name="sep"))
    assert out.value == "x-mid-y"
    assert seen == [(["x", "mid", "y"], "-")]
    assert out.op == "joiner" and out.doc == "Join texts."
    assert out.arg_names == ("parts[0]", "parts[2]", "sep")
    assert [p.name for p in out.parents] == ["a", "b", "sep"]


def test_implicit_reads_are_parents() -> None:
    prompt = tg.param("Be brief.", name="prompt")

    class Holder:
        suffix = tg.node("!", name="suffix")

    @tg.op
    def build(question: str) -> str:
        return prompt.value + " " + question + Holder.suffix.value

    out = build("Why?")
    assert out.value == "Be brief. Why?!"
    assert out.parents[1] is prompt and out.parents[2] is Holder.suffix
    assert out.arg_names == ("question", "<read>", "<read>")
    assert same(out.meta["implicit"], (prompt, Holder.suffix))


def test_peek_reads_without_recording_and_restore_puts_back_unchecked() -> None:
    prompt = tg.param("Be brief.", name="prompt", max_length=20)

    @tg.op
    def build(question: str) -> str:
        return prompt.peek() + " " + question

    out = build("Why?")
    assert out.value == "Be brief. Why?"
    assert len(out.parents) == 1 and out.parents[0] is not prompt  # only the argument
    assert "implicit" not in out.meta
    prompt.restore("x" * 30)  # undoing a step: no check
    assert prompt.peek() == "x" * 30


def test_a_read_of_an_argument_is_not_repeated() -> None:
    p = tg.param(2, name="p")

    @tg.op
    def twice(x: int) -> int:
        return x + p.value

    out = twice(p)
    assert same(out.parents, (p,)) and out.value == 4


def test_a_node_returned_from_the_body_is_unwrapped_and_recorded() -> None:
    p = tg.param("hi", name="p")

    @tg.op
    def passthrough() -> object:
        return p

    out = passthrough()
    assert out.value == "hi" and same(out.parents, (p,))


def test_nested_ops_build_no_inner_nodes() -> None:
    inner_param = tg.param(100, name="inner_param")
    calls = []

    @tg.op
    def inner(x: int) -> int:
        calls.append(x)
        return x + inner_param.value

    @tg.op
    def outer(x: int) -> int:
        y = inner(x)
        assert isinstance(y, int)  # inside a body, ops return plain values
        return y * 2

    x = tg.param(1, name="x")
    out = outer(x)
    assert out.value == 202 and calls == [1]
    assert [p.name for p in out.parents] == ["x", "inner_param"]
    assert all(p.kind is not NodeKind.CALL for p in out.parents)


def test_methods_do_not_make_self_a_parent() -> None:
    class Agent:
        def __init__(self) -> None:
            self.prompt = tg.param("P", name="prompt")

        @tg.op
        def ask(self, q: str) -> str:
            return self.prompt.value + q

    agent = Agent()
    out = agent.ask(tg.node("?", name="q"))
    assert out.value == "P?"
    assert [p.name for p in out.parents] == ["q", "prompt"]
    assert out.arg_names == ("q", "<read>")


async def test_async_op() -> None:
    p = tg.param(3, name="p")

    @tg.op
    async def slow_add(x: int) -> int:
        await asyncio.sleep(0)
        return x + p.value

    out = await slow_add(tg.node(4, name="x"))
    assert out.value == 7
    assert [n.name for n in out.parents] == ["x", "p"]
    assert out.location.file == __file__


def test_no_trace_returns_plain_values() -> None:
    @tg.op
    def inc(x: int) -> int:
        return x + 1

    p = tg.param(1, name="p")
    with tg.no_trace():
        assert inc(p) == 2
        assert p + 1 == 2
        assert tg.node("ab").upper() == "AB"
    assert isinstance(inc(p), tg.Node)


# ------------------------------------------------------------------------------- exceptions


@tg.op
def divide(a: float, b: float) -> float:
    """Divide a by b."""
    ratio = a / b  # FAILING-LINE
    return ratio


def test_exception_becomes_a_node_and_op_error() -> None:
    a, b = tg.param(1.0, name="a"), tg.node(0.0, name="b")
    with pytest.raises(tg.OpError) as info:
        divide(a, b)  # CALL-LINE
    err = info.value
    assert isinstance(err.__cause__, ZeroDivisionError)
    node = err.node
    assert node is not None and node.kind is NodeKind.EXCEPTION and node.op == "divide"
    assert same(node.parents, (a, b))
    exc_info = node.meta["exception"]
    assert node.value is exc_info
    assert exc_info.type == "ZeroDivisionError" and "division by zero" in exc_info.message
    assert exc_info.file == __file__ and exc_info.line == _line_of("FAILING-LINE")
    marked = [line for line in exc_info.source.splitlines() if line.startswith(">>")]
    assert len(marked) == 1 and "FAILING-LINE" in marked[0]
    assert "def divide" in exc_info.source
    text = str(err)
    assert f"test_tracing.py:{_line_of('FAILING-LINE')}" in text
    assert f"test_tracing.py:{_line_of('CALL-LINE')}" in text
    assert node.location.line == _line_of("CALL-LINE")


def _logged(fn):  # type: ignore[no-untyped-def]
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        return fn(*args, **kwargs)

    return wrapper


@tg.op
@_logged
def wrapped_fail(x: int) -> int:
    return x // 0  # WRAPPED-FAIL


def test_the_failing_line_is_found_under_other_decorators() -> None:
    with pytest.raises(tg.OpError) as info:
        wrapped_fail(1)
    assert info.value.node is not None
    exc = info.value.node.meta["exception"]
    assert exc.line == _line_of("WRAPPED-FAIL") and "WRAPPED-FAIL" in exc.source


def test_exception_node_records_implicit_reads_and_takes_feedback() -> None:
    limit = tg.param(3, name="limit")

    @tg.op
    def check(x: int) -> int:
        if x > limit.value:
            raise ValueError(f"{x} is over the limit")
        return x

    with pytest.raises(tg.OpError) as info:
        check(tg.node(5, name="x"))
    node = info.value.node
    assert node is not None
    assert [p.name for p in node.parents] == ["x", "limit"]
    node.backward("raise the limit")
    assert [fb.text for fb in node.feedback] == ["raise the limit"]
    assert [r.feedback.text for r in limit.received] == ["raise the limit"]


async def test_async_exception_becomes_a_node() -> None:
    @tg.op
    async def boom(x: int) -> int:
        await asyncio.sleep(0)
        raise KeyError(x)

    with pytest.raises(tg.OpError) as info:
        await boom(tg.node(1, name="x"))
    assert info.value.node is not None
    assert info.value.node.meta["exception"].type == "KeyError"


def _reference(a, b=2, c=3, *args, d, e=5, **kwargs):  # type: ignore[no-untyped-def]
    return (a, b, c, args, d, e, kwargs)


_traced_reference = tg.op(_reference)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((1,), {"d": 4}),
        ((1,), {"c": 30, "d": 4}),  # b skipped: c must reach the body by keyword
        ((1, 20, 30, 40, 50), {"d": 4, "z": 9}),
        ((), {"a": 1, "b": 2, "d": 4, "e": 6}),
        ((1, 2), {"b": 3, "d": 4}),  # b twice
        ((), {"d": 4}),  # a missing
        ((1,), {}),  # d missing
        ((1,), {"d": 4, "a": 5}),  # a twice
    ],
)
def test_op_binding_matches_python(args: tuple[object, ...], kwargs: dict[str, object]) -> None:
    try:
        expected = _reference(*args, **kwargs)
    except TypeError:
        with pytest.raises(TypeError):
            _traced_reference(*args, **kwargs)
        return
    out = _traced_reference(*args, **kwargs)
    assert out.value == expected
    labels: list[str] = []  # the oracle: the standard library's binding, in signature order
    for name, value in inspect.signature(_reference).bind(*args, **kwargs).arguments.items():
        if name == "args":
            labels += [f"args[{i}]" for i in range(len(value))]
        elif name == "kwargs":
            labels += list(value)
        else:
            labels.append(name)
    assert list(out.arg_names) == labels


def _reader(pool: list[tg.Node], indices: list[int]) -> tg.OpFunction:
    @tg.op
    def read() -> int:
        return sum(pool[i].value for i in indices)

    return read


@settings(max_examples=80, deadline=None)
@given(
    plan=st.lists(st.lists(st.integers(0, 5), max_size=4), max_size=4),
    explicit=st.lists(st.integers(0, 5), max_size=3),
)
def test_parents_are_the_arguments_then_every_read_in_first_read_order(
    plan: list[list[int]], explicit: list[int]
) -> None:
    pool = [tg.param(10**i, name=f"p{i}") for i in range(6)]
    inner = [_reader(pool, indices) for indices in plan]

    @tg.op
    def outer(*args: int) -> int:
        return sum(args) + sum(f() for f in inner)  # nested ops: plain, their reads count here

    out = outer(*[pool[i] for i in explicit])
    assert out.value == sum(10**i for i in explicit) + sum(10**i for r in plan for i in r)
    order = list(dict.fromkeys(i for r in plan for i in r if i not in explicit))
    expected = [pool[i] for i in explicit] + [pool[i] for i in order]
    assert same(out.parents, expected)
    assert list(out.arg_names) == [f"args[{k}]" for k in range(len(explicit))] + ["<read>"] * len(
        order
    )


def test_a_node_made_into_text_while_tracing_warns_at_the_users_line() -> None:
    """Issue 10 bug 7(c): an f-string of a node silently dropped the trace."""
    name = tg.param("Ada", name="user_name")
    with pytest.warns(tg.TraceLostWarning, match="'user_name'") as seen:
        greeting = f"Hello {name}!"  # LOST-MARK
    assert greeting == "Hello Ada!"  # behaviour kept: the text is made
    message = str(seen[0].message)
    assert "tg.op" in message and "peek()" in message
    assert seen[0].filename == __file__ and seen[0].lineno == _line_of("LOST-MARK")
    with pytest.warns(tg.TraceLostWarning, match="str"):
        str(name)


def test_text_of_a_node_inside_an_op_or_untraced_or_peeked_is_quiet() -> None:
    import warnings

    name = tg.param("Ada", name="user_name")

    @tg.op
    def greet(n: str) -> str:
        return f"Hello {name}, {n}!"  # a read inside an op body: traced

    with warnings.catch_warnings():
        warnings.simplefilter("error", tg.TraceLostWarning)
        out = greet("Bob")
        with tg.no_trace():
            plain = f"{name}"
        peeked = f"{name.peek()}"
    assert out.value == "Hello Ada, Bob!" and any(p is name for p in out.parents)
    assert plain == peeked == "Ada"
