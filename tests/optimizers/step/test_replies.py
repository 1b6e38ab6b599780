"""The per-step reply model, entry-by-entry checks and all-or-nothing apply (updates.py)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizers.step.replies import (
    Rejection,
    apply_updates,
    build_reply_model,
    check_updates,
    read_reply,
    same_value,
)
from tests.optimizers.graphs import param, qa_graph
from tracegraph.errors import ParameterError
from tracegraph.node import Node
from tracegraph.params import ParamType


def _params() -> dict[str, Node]:
    params, _ = qa_graph()
    return params


def test_schema_types_each_parameter_by_its_kind() -> None:
    params = _params()
    schema = build_reply_model(list(params.values())).model_json_schema()
    assert schema["required"] == ["reasoning", "updates"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["reasoning"]["maxLength"] > 0
    ups = schema["properties"]["updates"]
    assert ups["additionalProperties"] is False
    props = ups["properties"]
    assert list(props) == list(params)  # keyed by the user's names, in order
    assert all(p["anyOf"][1] == {"type": "null"} for p in props.values())  # null: keep it
    props = {k: p["anyOf"][0] for k, p in props.items()}
    assert props["prompt"]["type"] == "string" and props["prompt"]["maxLength"] == 200
    assert (props["temperature"]["minimum"], props["temperature"]["maximum"]) == (0.0, 2.0)
    assert props["style"]["enum"] == ["plain", "markdown"]
    assert props["verbose"]["type"] == "boolean"
    assert props["shots"]["type"] == "integer"
    dec = props["decoding"]
    assert dec["required"] == ["stop", "top_k"] and dec["properties"]["stop"]["type"] == "array"
    assert "required" not in ups  # every update optional: {} is "no change"


def test_a_valid_update_of_each_kind_is_accepted_with_the_right_type() -> None:
    params = _params()
    raw = {
        "prompt": "Answer with the number only.",
        "temperature": 1,  # an int for a number: stored as a float
        "style": "markdown",
        "verbose": True,
        "shots": 4.0,  # an integral float for an integer: stored as an int
        "decoding": {"stop": ["."], "top_k": 3},
    }
    accepted, rejected = check_updates(raw, list(params.values()))
    assert rejected == []
    got = {n.name: v for n, v in accepted.items()}
    assert got == raw
    assert type(got["temperature"]) is float and type(got["shots"]) is int
    applied = apply_updates(accepted)
    assert params["temperature"].value == 1.0 and params["shots"].value == 4
    assert applied["verbose"] == (False, True)


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("verbose", "False", "true or false"),  # no bool("False")
        ("decoding", "[1, 2]", "must be an object"),  # no list("[1, 2]")
        ("temperature", "0.3", "must be a number"),  # a string is never parsed
        ("temperature", 2.5, "<= 2.0"),
        ("shots", 2.5, "must be an integer"),
        ("style", "fancy", "one of"),
        ("prompt", "x" * 201, "at most 200"),
        ("prompt", 42, "must be text"),
        ("decoding", {"stop": ["\n"]}, "lacks keys"),
    ],
)
def test_wrong_values_are_rejected_with_a_reason(name: str, value: Any, reason: str) -> None:
    params = _params()
    before = {n: p.peek() for n, p in params.items()}
    accepted, rejected = check_updates({name: value}, list(params.values()))
    assert accepted == {}
    assert [r.param for r in rejected] == [name]
    assert reason in "; ".join(rejected[0].reasons)
    assert {n: p.peek() for n, p in params.items()} == before


def test_unknown_names_get_the_closest_real_name_and_read_only_names_are_called_so() -> None:
    params = _params()
    readonly = {"question": "an input"}
    _, rejected = check_updates(
        {"temprature": 0.5, "Prompt": "hi", "question": "?", "zzz": 1},
        list(params.values()),
        readonly=readonly,
    )
    reasons = {r.param: r.reasons[0] for r in rejected}
    assert 'did you mean "temperature"' in reasons["temprature"]
    assert 'did you mean "prompt"' in reasons["Prompt"]
    assert "READ-ONLY" in reasons["question"] and "an input" in reasons["question"]
    assert "no trainable parameter" in reasons["zzz"]
    assert "You may change only: prompt, temperature" in reasons["zzz"]


def test_one_bad_update_does_not_sink_the_good_ones() -> None:
    params = _params()
    accepted, rejected = check_updates({"temperature": 0.1, "shots": -1}, list(params.values()))
    assert {n.name: v for n, v in accepted.items()} == {"temperature": 0.1}
    assert [r.param for r in rejected] == ["shots"]


def test_an_unchanged_value_or_null_is_neither_accepted_nor_rejected() -> None:
    params = _params()
    raw = {"temperature": 0.7, "shots": 2, "prompt": None}
    accepted, rejected = check_updates(raw, list(params.values()))
    assert accepted == {} and rejected == []


def test_apply_rolls_back_every_change_when_one_assignment_fails() -> None:
    a = param(1.0, "a", ParamType.NUMBER)
    b = param(1.0, "b", ParamType.NUMBER, bounds=(0.0, 2.0))
    with pytest.raises(ParameterError):
        apply_updates({a: 5.0, b: 9.0})  # b breaks its bounds after a was set
    assert (a.value, b.value) == (1.0, 1.0)


def test_read_reply_reports_keys_outside_updates_and_a_wrong_updates_type() -> None:
    reasoning, raw, problems = read_reply({"reasoning": "r", "temperature": 0.2, "updates": {}})
    assert (reasoning, raw) == ("r", {})
    assert 'the key "temperature" is outside "updates"' in problems[0]
    _, raw, problems = read_reply({"reasoning": "r", "updates": ["temperature", 0.2]})
    assert raw == {} and '"updates" must be an object' in problems[0]


def test_reply_model_parses_leniently_so_entries_are_judged_one_by_one() -> None:
    params = _params()
    model = build_reply_model(list(params.values()))
    parsed = model.model_validate_json('{"reasoning": "TERMINATE", "updates": {"verbose": "no"}}')
    reasoning, raw, problems = read_reply(parsed)
    assert reasoning == "TERMINATE" and raw == {"verbose": "no"} and problems == []


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(JSON_VALUES)
@settings(max_examples=200, deadline=None)
def test_check_accepts_exactly_what_the_spec_accepts(value: Any) -> None:
    """Differential: check_updates agrees with ParamSpec.check for every kind, never converts."""
    for p in _params().values():
        assert p.spec is not None
        accepted, rejected = check_updates({p.name: value}, [p])
        v = value
        if p.spec.type is ParamType.INTEGER and isinstance(v, float) and v.is_integer():
            v = int(v)  # the one lossless conversion
        if v is None:
            assert accepted == {} and rejected == []
        elif not p.spec.check(v):
            assert rejected == []
            if same_value(p.spec.normalize(v), p.peek()):
                assert accepted == {}
            else:
                assert accepted == {p: p.spec.normalize(v)}
        else:
            assert accepted == {} and len(rejected) == 1 and rejected[0].reasons


def test_rejection_prints_name_value_and_reasons() -> None:
    assert str(Rejection("t", 3.0, ["must be <= 2.0"])) == "t = 3.0: must be <= 2.0"
