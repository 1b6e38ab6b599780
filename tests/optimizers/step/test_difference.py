"""What differs between a result and the expected value: unit cases and properties."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import assume, given
from hypothesis import strategies as st

from optimizers.step.difference import difference, expected_for, expected_in

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=8), st.floats(allow_nan=False)
)


def nested(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=4), inner, max_size=4)
        ),
        max_leaves=12,
    )


values = nested(scalars)
literals = nested(  # what repr writes as a Python literal (inf and nan are not)
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8), st.floats(0, 1e9))
)


@given(values)
def test_a_value_does_not_differ_from_itself(v: Any) -> None:
    assert difference(v, v) is None


@given(values, values)
def test_different_values_always_get_a_short_sentence(a: Any, b: Any) -> None:
    said = difference(a, b)
    if a == b and type(a) is type(b):
        assert said is None
    elif said is not None:
        assert 0 < len(said) <= 300


@given(st.lists(st.integers(), min_size=2, max_size=8, unique=True), st.randoms())
def test_a_permutation_is_told_as_another_order(items: list[int], rng: random.Random) -> None:
    shuffled = items[:]
    rng.shuffle(shuffled)
    if shuffled == items:
        return
    said = difference(shuffled, items)
    assert said is not None and said.startswith("the same items in another order")
    assert ("(expected: sorted)" in said) == (items == sorted(items))


@given(literals)
def test_the_expected_literal_is_read_back_from_the_feedback(v: Any) -> None:
    assert expected_in(f"f(1) returned None, expected {v!r}") == (True, v)


def test_nested_differences_name_the_key_and_the_kind() -> None:
    assert difference({1: ["b", "a"], 2: ["c"]}, {1: ["a", "b"], 2: ["c"]}) == (
        "at key 1: the same items in another order (expected: sorted)"
    )
    assert difference({"a": 1}, {"a": 1, "b": 2}) == "missing keys 'b'"
    assert difference([1, 2], [1, 2, 3]) == "2 items where 3 expected: missing 3"
    assert difference(3, 2.5) == "3 is too large by 0.5"
    assert difference(True, False) == "True where False is expected"
    assert difference(None, 3) == "a NoneType (None) where a int is expected"


def test_strings_are_compared_by_their_edits() -> None:
    assert difference("hello--world", "hello-world") == "extra '-' at character 6"
    assert difference("tracegraph:-a-guide", "tracegraph-a-guide") == "extra ':' at character 10"
    assert difference("Hello", "hello") == "the same letters in another case"
    assert difference(" hi ", "hi") == "the same text with other spaces around it"
    assert difference("abc", "abXc") == "missing 'X' at character 2"


def test_feedback_without_an_expected_literal_gives_nothing() -> None:
    assert expected_in("the answer is too long") == (False, None)
    assert expected_in("expected exactly 'NEG', got 'Positive'") == (False, None)
    assert expected_in("f() raised KeyError; expected 'x'. Try again.") == (True, "x")
    assert expected_in("assert f(2) == 4") == (True, 4)


def test_long_texts_are_compared_by_size_and_first_difference() -> None:
    got, want = "a" * 5000 + "b", "a" * 5000 + "c" * 2000
    assert (
        difference(got, want)
        == "5001 characters where 7000 expected; the first difference at character 5000"
    )


keys = st.text(alphabet="abcdefghij_", min_size=2, max_size=8)
field_values = st.text(alphabet="ABCdef 0123()+-.@", min_size=1, max_size=12)


@given(st.dictionaries(keys, field_values, min_size=1, max_size=4), st.data())
def test_feedback_on_one_field_expects_the_dict_with_that_field_replaced(
    result: dict[str, str], data: st.DataObject
) -> None:
    key = data.draw(st.sampled_from(sorted(result)))
    want = data.draw(field_values.filter(lambda w: w != result[key]))
    # no other field quoted in the same words, the key nowhere inside a value
    assume(all(repr(v) not in repr(result[key]) for k, v in result.items() if k != key))
    assume(all(key not in repr(v) for v in result.values()))
    said = f"{key} {result[key]!r} is not in the format asked (expected {want!r})"
    assert expected_for(result, said) == (True, {**result, key: want})
    unnamed = f"the value {result[key]!r} is wrong (expected {want!r})"
    assert expected_for(result, unnamed) != (True, {**result, key: want})


def test_field_feedback_needs_the_key_named_and_the_value_quoted() -> None:
    got = {"name": "Jonas Berg", "phone": "030 1234 5678"}
    said = "phone '030 1234 5678' is not digits only (expected '03012345678')"
    assert expected_for(got, said) == (True, {"name": "Jonas Berg", "phone": "03012345678"})
    assert expected_in(said) == (False, None)  # a bare ")" after it: no whole-result literal
    assert expected_for(got, "phone is not digits only (expected '03012345678')") == (False, None)
    quoted = "field 'phone': got '030 1234 5678', expected '03012345678'"  # the key quoted
    assert expected_for(got, quoted) == (True, {"name": "Jonas Berg", "phone": "03012345678"})
    printed = f"read returned {got!r}, expected '03012345678'"  # the whole result printed
    assert expected_for(got, printed) == (True, "03012345678")
    # a whole dict expected wins over any field; a non-dict result is read as before
    whole = "expected {'name': 'J', 'phone': '1'}, got {'name': 'Jonas Berg'}"
    assert expected_for(got, whole) == (True, {"name": "J", "phone": "1"})
    assert expected_for("030 1234", "returned '030 1234', expected '0301234'") == (True, "0301234")
