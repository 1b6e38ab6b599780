"""Module: finding parameters, independent copies, and all-or-nothing save/load."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tracegraph as tg
from tracegraph.module import FORMAT, VERSION


class Reader(tg.Module):
    def __init__(self) -> None:
        self.prompt = tg.param("Read carefully.", name="reader_prompt")

    @tg.trainable
    def clean(self, text: str) -> str:
        return text.strip()


class Agent(tg.Module):
    def __init__(self) -> None:
        self.prompt = tg.param("Answer briefly.", name="prompt", max_length=100)
        self.temperature = tg.param(0.7, name="temperature", bounds=(0.0, 2.0))
        self.model = tg.param("small", name="model", choices=["small", "large"], trainable=False)
        self.reader = Reader()
        self.steps = [tg.param(1, name="step0"), tg.param({"k": [1]}, name="step1")]
        self.extra = {"flag": tg.param(True, name="flag")}
        self.note = "not a parameter"
        self.question = tg.node("fixed input", name="question")

    @tg.trainable
    def answer(self, question: str) -> str:
        return question.upper()


TRAINABLE_NAMES = [
    "prompt",
    "temperature",
    "reader.prompt",
    "reader.clean",
    "steps.0",
    "steps.1",
    "extra.flag",
    "answer",
]


def test_named_parameters_are_found_everywhere() -> None:
    agent = Agent()
    assert [name for name, _ in agent.named_parameters()] == TRAINABLE_NAMES
    all_names = [name for name, _ in agent.named_parameters(include_fixed=True)]
    assert all_names == [*TRAINABLE_NAMES[:2], "model", *TRAINABLE_NAMES[2:]]
    params = agent.parameters()
    assert params[0] is agent.prompt and params[-1] is agent.answer.code
    assert params[3] is agent.reader.clean.code


def test_a_trainable_function_in_an_attribute_counts_with_its_code() -> None:
    @tg.trainable
    def helper(x: int) -> int:
        return x

    class Holder(tg.Module):
        def __init__(self) -> None:
            self.helper = helper
            self.bound = Reader().clean

    holder = Holder()
    named = holder.named_parameters()
    assert [n for n, _ in named] == ["helper", "bound"]
    assert named[0][1] is helper.code and named[1][1] is holder.bound.code


def test_a_shared_parameter_is_listed_once() -> None:
    agent = Agent()
    agent.alias = agent.prompt  # type: ignore[attr-defined]
    agent.cycle = agent  # type: ignore[attr-defined]
    names = [name for name, _ in agent.named_parameters()]
    assert names == TRAINABLE_NAMES


def test_instances_are_independent() -> None:
    a, b = Agent(), Agent()
    assert all(p is not q for p, q in zip(a.parameters(), b.parameters(), strict=True))
    a.answer.code.set_value("def answer(self, question):\n    return 'a'\n")
    assert b.answer(tg.node("q", name="q")).value == "Q"


def test_deepcopy_gives_fresh_parameters() -> None:
    a = Agent()
    a.prompt.set_value("Changed.")
    out = a.answer(a.prompt)
    out.backward("too loud")
    assert a.prompt.received
    b = copy.deepcopy(a)
    pa, pb = a.named_parameters(include_fixed=True), b.named_parameters(include_fixed=True)
    assert [n for n, _ in pa] == [n for n, _ in pb]
    for (_, p), (_, q) in zip(pa, pb, strict=True):
        assert p is not q and p.uid != q.uid
        assert p.value == q.value and p.spec is q.spec
        assert not q.received and not q.feedback
    b.prompt.set_value("Other.")
    b.steps[1].set_value({"k": [2, 3]})
    assert a.prompt.value == "Changed." and a.steps[1].value == {"k": [1]}
    assert b.reader is not a.reader and b.note == a.note


def test_save_load_round_trip(tmp_path: Path) -> None:
    a = Agent()
    a.prompt.set_value("Saved prompt.")
    a.temperature.set_value(1.25)
    a.reader.clean.code.set_value("def clean(self, text):\n    return text.lower()\n")
    path = tmp_path / "agent.json"
    a.save(path)
    doc = json.loads(path.read_text())
    assert doc["format"] == FORMAT and doc["version"] == VERSION
    assert doc["class"].endswith("Agent")
    assert doc["parameters"]["reader.clean"] == {
        "type": "code",
        "value": "def clean(self, text):\n    return text.lower()\n",
    }
    b = Agent()
    b.load(path, allow_code=True)  # the file holds code we wrote above
    assert b.state_dict() == a.state_dict()
    assert b.reader.clean(tg.node("ABC", name="t")).value == "abc"
    assert not list(tmp_path.glob(".agent.json.*"))  # no temporary file left behind


def _saved(tmp_path: Path, edit: Any) -> Path:
    path = tmp_path / "agent.json"
    Agent().save(path)
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    return path


BAD_EDITS = [
    (lambda d: d.update(format="other"), "format"),
    (lambda d: d.update(version=99), "version 99"),
    (lambda d: d.update({"class": "x.Other"}), "x.Other"),
    (lambda d: d["parameters"].pop("prompt"), "missing parameter 'prompt'"),
    (lambda d: d["parameters"].update(ghost={"type": "text", "value": ""}), "unknown parameter"),
    (lambda d: d["parameters"]["temperature"].update(type="text"), "saved as 'text'"),
    (lambda d: d["parameters"]["temperature"].update(value=5.0), "must be <= 2.0"),
    (lambda d: d["parameters"]["steps.1"].update(value={"j": 1}), "lacks keys"),
    (lambda d: d["parameters"]["answer"].update(value="def nope(:"), "does not parse"),
    (lambda d: d["parameters"].update(prompt="bare"), "expected"),
    (lambda d: d.update(parameters=[]), "'parameters' must be an object"),
]


@pytest.mark.parametrize(("edit", "message"), BAD_EDITS)
def test_a_mismatched_file_changes_nothing(tmp_path: Path, edit: Any, message: str) -> None:
    def edit_and_change_prompt(doc: dict[str, Any]) -> None:
        if isinstance(doc["parameters"].get("prompt"), dict):
            doc["parameters"]["prompt"]["value"] = "would be applied"
        edit(doc)

    path = _saved(tmp_path, edit_and_change_prompt)
    agent = Agent()
    before = agent.state_dict()
    with pytest.raises(tg.PersistenceError, match=message):
        agent.load(path)
    assert agent.state_dict() == before


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "not valid JSON"), ("[1, 2]", "expected a JSON object"), ("", "not valid")],
)
def test_a_corrupt_file_is_an_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "agent.json"
    path.write_text(content)
    with pytest.raises(tg.PersistenceError, match=message):
        Agent().load(path)


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(tg.PersistenceError, match="cannot read"):
        Agent().load(tmp_path / "absent.json")


def test_an_unsavable_value_leaves_the_old_file(tmp_path: Path) -> None:
    class Odd(tg.Module):
        def __init__(self) -> None:
            self.mode = tg.param((1, 2), name="mode", choices=[(1, 2), float("nan")])

    path = tmp_path / "odd.json"
    path.write_text("old")
    odd = Odd()
    odd.mode._value = float("nan")  # not JSON (allow_nan=False)
    with pytest.raises(tg.PersistenceError, match="not JSON"):
        odd.save(path)
    assert path.read_text() == "old"


class Values(tg.Module):
    def __init__(self, text: str, number: float, count: int, flag: bool, data: Any) -> None:
        self.text = tg.param(text, name="text")
        self.number = tg.param(number, name="number")
        self.count = tg.param(count, name="count")
        self.flag = tg.param(flag, name="flag")
        self.data = tg.param(data, name="data")


# JSON parameters keep their first value's shape, so lists here hold one kind of item.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=20)
    | st.lists(st.integers(), max_size=3)
    | st.lists(st.text(max_size=3), max_size=3),
    lambda sub: st.dictionaries(st.text(max_size=5), sub, max_size=3),
    max_leaves=8,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.text(),
    number=st.floats(allow_nan=False, allow_infinity=False),
    count=st.integers(),
    flag=st.booleans(),
    data=st.dictionaries(st.text(max_size=5), json_values, max_size=4),
)
def test_round_trip_of_any_values(
    tmp_path: Path, text: str, number: float, count: int, flag: bool, data: Any
) -> None:
    saved = Values(text, number, count, flag, data)
    path = tmp_path / "values.json"
    saved.save(path)
    loaded = Values("", 0.0, 0, False, {k: v for k, v in data.items()})
    loaded.load(path)
    assert loaded.text.value == text and loaded.count.value == count
    assert loaded.number.value == number and isinstance(loaded.number.value, float)
    assert loaded.flag.value is flag and loaded.data.value == data
