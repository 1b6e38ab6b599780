"""Schema building and lenient JSON extraction, with hypothesis over random values and prose."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from optimizers.llm.structured import JSONNotFound, extract_json, json_schema_for

json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=6,
)
json_objects = st.dictionaries(st.text(max_size=8), json_values, min_size=1, max_size=4)
# Prose that holds no JSON value: no brackets, quotes or digits, and without the letters f, l,
# n and t it cannot spell true, false or null.
prose = st.text(alphabet="abcdeghijkmopqrsuvwxyz ,.:!?\n", max_size=40)


def _dump(value: Any, indent: int | None) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=False)


@settings(max_examples=150, deadline=None)
@given(
    json_objects, prose, prose, st.sampled_from([None, 2]), st.sampled_from(["json", "", "JSON"])
)
def test_an_object_is_found_in_any_wrapping(
    obj: dict[str, Any], before: str, after: str, indent: int | None, tag: str
) -> None:
    text = _dump(obj, indent)
    assert extract_json(text) == obj
    assert extract_json(f"{before}\n```{tag}\n{text}\n```\n{after}") == obj
    assert extract_json(f"{before} {text} {after}") == obj


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_either_parses_or_raises_jsonnotfound(text: str) -> None:
    try:
        value = extract_json(text)
    except JSONNotFound as exc:
        assert str(exc)
    else:  # whatever came back must really be JSON that occurs in the text
        assert json.dumps(value) is not None


# Flat objects whose strings hold no brackets: nothing complete is left once the end is cut.
flat_objects = st.dictionaries(
    st.text(alphabet="abc xyz", max_size=6),
    st.none() | st.booleans() | st.integers() | st.text(alphabet="abc xyz", max_size=10),
    max_size=5,
)


@settings(max_examples=100, deadline=None)
@given(flat_objects)
def test_a_cut_off_object_is_reported_as_cut_off(obj: dict[str, Any]) -> None:
    text = _dump({**obj, "tail": "x" * 10}, None)
    cut = text[: len(text) - 5]
    with pytest.raises(JSONNotFound, match="cut off"):
        extract_json(cut)


def test_objects_win_over_earlier_lists() -> None:
    assert extract_json('steps [1, 2] then {"a": 1}') == {"a": 1}
    assert extract_json("only [1, 2]") == [1, 2]


class Inner(BaseModel):
    note: str
    kind: str = "x"


class Outer(BaseModel):
    title: str
    items: list[Inner]
    score: float | None = None


def test_schema_is_strict_all_the_way_down() -> None:
    schema = json_schema_for(Outer, max_text_length=50)
    inner = schema["$defs"]["Inner"]
    for node in (schema, inner):
        assert node["additionalProperties"] is False
        assert node["required"] == list(node["properties"])
    assert inner["properties"]["note"]["maxLength"] == 50
    assert "default" not in json.dumps(schema).replace('"default"', "default-key-check")
    assert not _has_key(schema, "default")


def _has_key(node: Any, key: str) -> bool:
    if isinstance(node, dict):
        return key in node or any(_has_key(v, key) for v in node.values())
    if isinstance(node, list):
        return any(_has_key(v, key) for v in node)
    return False


# Replies small models write (each cost a re-ask before json-repair): issue 9, item 6.
NEARLY_JSON = [
    ('{"reasoning": "raise it", "updates": {"x": 3,},}', {"x": 3}),  # trailing commas
    ("{'reasoning': 'raise it', 'updates': {'x': 3}}", {"x": 3}),  # single quotes
    (  # raw newlines inside a string: a code proposal
        '```json\n{"reasoning": "fix", "updates": {"f": "def f(x):\n    return x + 1\n"}}\n```',
        {"f": "def f(x):\n    return x + 1\n"},
    ),
    (  # all three, after prose
        "Here you go:\n{'reasoning': 'both',\n"
        " 'updates': {'f': 'def f(x):\n    return {1: x}\n',},}",
        {"f": "def f(x):\n    return {1: x}\n"},
    ),
]


@pytest.mark.parametrize(("text", "updates"), NEARLY_JSON)
def test_nearly_json_replies_are_repaired(text: str, updates: dict[str, Any]) -> None:
    value = extract_json(text)
    assert value["reasoning"]
    # json-repair drops the whitespace that ends a string with a raw newline; lines inside stay
    assert {
        k: v.rstrip("\n") if isinstance(v, str) else v for k, v in value["updates"].items()
    } == {k: v.rstrip("\n") if isinstance(v, str) else v for k, v in updates.items()}


@pytest.mark.parametrize(
    "text",
    [
        '{"reasoning": "cut", "updates": {"x": 3,',  # cut off: repairing would invent a value
        "{'reasoning': 'cut', 'updates': {'f': 'def f(x):\n    return {1: x}",
    ],
)
def test_cut_off_replies_are_not_repaired(text: str) -> None:
    with pytest.raises(JSONNotFound, match="cut off"):
        extract_json(text)
