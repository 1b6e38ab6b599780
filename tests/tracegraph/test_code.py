"""Trainable functions: the code is a parameter, calls run its current text, errors are nodes."""

from __future__ import annotations

import asyncio
import copy
import functools
from collections.abc import Callable
from typing import Any

import pytest

import tracegraph as tg
from tracegraph.code import function_source
from tracegraph.node import NodeKind
from tracegraph.params import ParamType

OFFSET = 10  # a module global the trainable code reads


def passthrough(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    return wrapper


@tg.trainable
def parse_answer(text: str) -> int:
    """Extract the final integer from the model's answer."""
    return int(text.strip().split()[-1])


def fresh_parse() -> Any:
    """A new trainable (tests change its code; the module-level one must stay as written)."""

    @tg.trainable
    def parse(text: str) -> int:
        """Read the last word as a number."""
        return int(text.split()[-1]) + OFFSET

    return parse


def test_the_source_is_a_code_parameter() -> None:
    code = parse_answer.code
    assert code is tg.code_of(parse_answer)
    assert code.kind is NodeKind.PARAMETER and code.name == "parse_answer" and code.trainable
    assert code.spec is not None and code.spec.type is ParamType.CODE
    assert code.value.startswith("def parse_answer(text: str) -> int:\n")
    assert "@tg.trainable" not in code.value
    assert code.spec.description == "Extract the final integer from the model's answer."


def test_decorators_are_stripped_and_methods_dedented() -> None:
    class Box:
        @passthrough
        def inner(self, x: int) -> int:
            return x

    text = function_source(Box.inner)
    assert text == "def inner(self, x: int) -> int:\n    return x\n"


def test_a_call_is_an_op_with_the_code_as_parent() -> None:
    reply = tg.node("the answer is 5", name="reply")
    out = parse_answer(reply)
    assert out.value == 5 and out.op == "parse_answer"
    assert out.parents[0] is reply and out.parents[1] is parse_answer.code
    assert out.arg_names == ("text", "<code>")
    assert out.code_param is parse_answer.code


def test_new_code_changes_the_next_call() -> None:
    parse = fresh_parse()
    assert parse(tg.node("x 4", name="t")).value == 14
    parse.code.set_value("def parse(text):\n    return int(text.split()[0]) * 2 + OFFSET\n")
    assert parse(tg.node("4 x", name="t")).value == 18
    # helpers and imports above the function are allowed
    parse.code.set_value(
        "import re\n\ndef digits(t):\n    return re.findall(r'\\d+', t)\n\n"
        "def parse(text):\n    return sum(int(d) for d in digits(text))\n"
    )
    assert parse(tg.node("1 and 2 and 30", name="t")).value == 33


def test_closures_see_current_values() -> None:
    def make() -> tuple[Any, Callable[[int], None]]:
        scale = 3

        @tg.trainable
        def scaled(x: int) -> int:
            return x * scale

        def set_scale(v: int) -> None:
            nonlocal scale
            scale = v

        return scaled, set_scale

    scaled, set_scale = make()
    assert scaled(tg.node(2, name="x")).value == 6
    scaled.code.set_value("def scaled(x):\n    return x * scale + 1\n")
    set_scale(10)
    assert scaled(tg.node(2, name="x")).value == 21


def test_bad_code_is_rejected_at_assignment() -> None:
    parse = fresh_parse()
    before = parse.code.value
    with pytest.raises(tg.ParameterError, match="does not parse"):
        parse.code.set_value("def parse(text:\n    return 1\n")
    with pytest.raises(tg.ParameterError, match="keep the function's name"):
        parse.code.set_value("def other(text):\n    return 1\n")
    assert parse.code.value == before


def test_an_exception_in_the_code_is_a_node_with_the_code_as_parent() -> None:
    parse = fresh_parse()
    parse.code.set_value("def parse(text):\n    words = text.split()\n    return int(words[5])\n")
    reply = tg.node("one two", name="reply")
    with pytest.raises(tg.OpError) as info:
        parse(reply)  # CALL-SITE
    err = info.value
    assert isinstance(err.__cause__, IndexError)
    node = err.node
    assert node is not None and node.kind is NodeKind.EXCEPTION
    assert node.parents[0] is reply and node.parents[1] is parse.code
    assert node.code_param is parse.code
    exc = node.meta["exception"]
    assert exc.type == "IndexError" and exc.line == 3 and "trainable" in exc.file
    marked = [line for line in exc.source.splitlines() if line.startswith(">>")]
    assert marked == [">>    3 |     return int(words[5])"]
    assert "test_code.py:" in str(err)  # the user's call site is named
    node.backward("words[5] does not exist: take the last word")
    assert [r.feedback.text for r in parse.code.received] == [
        "words[5] does not exist: take the last word"
    ]


def test_a_compile_error_is_a_node_with_the_code_as_parent() -> None:
    parse = fresh_parse()
    # `break` outside a loop parses (so the parameter accepts it) but does not compile
    parse.code.set_value("def parse(text):\n    return 1\nbreak\n")
    with pytest.raises(tg.OpError) as info:
        parse(tg.node("x", name="t"))
    err = info.value
    assert isinstance(err.__cause__, SyntaxError)
    assert err.node is not None and err.node.parents[-1] is parse.code
    exc = err.node.meta["exception"]
    assert exc.type == "SyntaxError" and exc.line == 3
    assert ">>    3 | break" in exc.source
    # code that bypassed the check (written straight into the value) fails the same way
    parse.code._value = "def parse(text:\n"
    with pytest.raises(tg.OpError) as info:
        parse(tg.node("x", name="t"))
    assert info.value.node is not None
    assert info.value.node.meta["exception"].type == "SyntaxError"


def test_code_outside_tracing_runs_plainly() -> None:
    parse = fresh_parse()
    with tg.no_trace():
        assert parse("a 1") == 11
    parse.code.set_value("def parse(text):\n    return -1\n")
    with tg.no_trace():
        assert parse("a 1") == -1


def test_named_trainable_and_inner_call() -> None:
    @tg.trainable(name="scorer", description="Score a text.")
    def score(text: str) -> int:
        return len(text)

    @tg.op
    def outer(text: str) -> int:
        return score(text) * 2  # runs plainly; the code is read, so it is a parent

    assert score.code.name == "scorer" and score.code.spec.description == "Score a text."
    out = outer(tg.node("abc", name="t"))
    assert out.value == 6
    assert out.parents[1] is score.code and out.arg_names == ("text", "<read>")


async def test_async_trainable() -> None:
    @tg.trainable
    async def fetch(x: int) -> int:
        await asyncio.sleep(0)
        return x + 1

    out = await fetch(tg.node(1, name="x"))
    assert out.value == 2 and out.parents[1] is fetch.code
    fetch.code.set_value("async def fetch(x):\n    return x * 100\n")
    assert (await fetch(tg.node(2, name="x"))).value == 200


class Reader:
    def __init__(self, bonus: int) -> None:
        self.bonus = bonus

    @tg.trainable
    def read(self, text: str) -> int:
        return len(text) + self.bonus


def test_each_instance_has_its_own_code() -> None:
    a, b = Reader(1), Reader(2)
    assert a.read.code is not b.read.code
    assert a.read.code is a.read.code  # stable per instance
    a.read.code.set_value("def read(self, text):\n    return -self.bonus\n")
    assert a.read(tg.node("xyz", name="t")).value == -1
    assert b.read(tg.node("xyz", name="t")).value == 5
    assert Reader.read.code.value.startswith("def read(self, text: str) -> int:")
    out = a.read(tg.node("xyz", name="t"))
    assert out.parents[1] is a.read.code  # self is not a parent


def test_deepcopy_of_an_instance_copies_its_code() -> None:
    a = Reader(1)
    a.read.code.set_value("def read(self, text):\n    return 7\n")
    b = copy.deepcopy(a)
    assert b.read.code is not a.read.code and b.read.code.value == a.read.code.value
    b.read.code.set_value("def read(self, text):\n    return 8\n")
    assert a.read(tg.node("", name="t")).value == 7 and b.read(tg.node("", name="t")).value == 8


def test_code_of_rejects_other_callables() -> None:
    with pytest.raises(tg.TracegraphError, match="not a trainable"):
        tg.code_of(len)


def test_a_lambda_cannot_be_trainable() -> None:
    with pytest.raises(tg.ParameterError, match="cannot"):
        tg.trainable(lambda x: x)


def test_a_decorator_below_trainable_is_dropped_from_the_code() -> None:
    scale = 2

    @tg.trainable
    @passthrough
    def wrapped(x: int) -> int:
        return x * scale

    assert wrapped.code.value == "def wrapped(x: int) -> int:\n    return x * scale\n"
    assert wrapped(tg.node(4, name="x")).value == 8
    wrapped.code.set_value("def wrapped(x):\n    return x - scale\n")
    assert wrapped(tg.node(4, name="x")).value == 2


def test_a_code_parameter_pickles_and_describes_its_check() -> None:
    import pickle

    code = pickle.loads(pickle.dumps(parse_answer.code))
    assert code.value == parse_answer.code.value and code.spec is not None
    assert code.spec.check("def other():\n    pass\n") != []
    assert "keeps the function's name" in code.spec.describe()
