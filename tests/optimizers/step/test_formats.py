"""Format repairs: fields with the right content in the wrong form, fixed by standard
conversions chosen from the tests the feedback implies, without a model call."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

import tracegraph as tg
from optimizers import GraphOptimizer, ScriptedClient
from optimizers.step.formats import CONVERSIONS, conversions, format_repair
from optimizers.step.replay import function_name
from tracegraph.node import Node, NodeKind

PEOPLE = [
    ("Jonas Berg", "jonas@berg.de", "030 1234 5678"),
    ("Ana Silva", "Ana.Silva@Example.com", "+1 (555) 010-2030"),
    ("Leo Martin", "leo@shop.fr", "33612345678"),
]


def right(person: tuple[str, str, str]) -> dict[str, str]:
    name, email, phone = person
    return {"name": name, "email": email.lower(), "phone": "".join(c for c in phone if c.isdigit())}


@tg.trainable
def read_contact(reply: str) -> dict[str, Any]:
    """The reply as a dict: "name", "email" (lowercase), "phone" (digits only)."""
    return dict(json.loads(reply))


PARSER = (  # the parser as written above: each test starts from it (the code parameter is shared)
    "def read_contact(reply: str) -> dict[str, Any]:\n"
    '    """The reply as a dict: "name", "email" (lowercase), "phone" (digits only)."""\n'
    "    return dict(json.loads(reply))\n"
)


def verdict(got: dict[str, Any], want: dict[str, str]) -> str | None:
    """The first problem only, as an extraction checker says it."""
    if got["email"] != got["email"].lower():
        return f"email {got['email']!r} is not in lowercase (expected {want['email']!r})"
    if not got["phone"].isdigit():
        return f"phone {got['phone']!r} is not digits only (expected {want['phone']!r})"
    return None if got == want else f"expected {want!r}, got {got!r}"


def run(code: tg.Node) -> int:
    correct = 0
    for person in PEOPLE:
        name, email, phone = person
        out = read_contact(json.dumps({"name": name, "email": email, "phone": phone}))
        said = verdict(out.value, right(person))
        correct += said is None
        out.backward(said or f"{out.value!r}: correct")
    return correct


def test_a_parser_with_fields_in_the_wrong_form_is_repaired_without_a_model_call() -> None:
    code = tg.code_of(read_contact)
    code.set_value(PARSER)
    llm = ScriptedClient([json.dumps({"reasoning": "", "updates": {}})])
    opt = GraphOptimizer([code], llm=llm, max_reasks=0)
    opt.zero_feedback()
    assert run(code) == 1
    report = opt.step()
    assert len(llm.requests) == 1, report.notes  # the proposal only: no repair question
    assert any("format repair" in n and "phone: digits" in n for n in report.notes), report.notes
    opt.zero_feedback()
    assert run(code) == 3, code.value  # the e-mail too: the one right result keeps it right


def test_a_parser_with_a_helper_before_it_is_repaired_where_it_is_called() -> None:
    """The format repair wraps the function the program calls (the one ``@tg.trainable`` keeps),
    not the helper defined first, and the trial checks that one."""
    code = tg.code_of(read_contact)
    helper = "def _fields(data: dict[str, Any]) -> dict[str, Any]:\n    return dict(data)\n\n\n"
    code.set_value(helper + PARSER.replace("dict(json.loads(reply))", "_fields(json.loads(reply))"))
    assert function_name(code.value, code) == "read_contact"
    assert function_name(code.value) == "_fields"  # without the parameter: the first def
    opt = GraphOptimizer([code], llm=ScriptedClient([json.dumps({"updates": {}})]), max_reasks=0)
    opt.zero_feedback()
    assert run(code) == 1
    report = opt.step()
    assert any("format repair" in n for n in report.notes), report.notes
    assert "def _read_contact_before_formats(" in code.value and "def _fields(" in code.value
    opt.zero_feedback()
    assert run(code) == 3, code.value
    code.set_value(PARSER)


def test_a_conversion_that_would_change_a_right_result_is_not_chosen() -> None:
    def call(value: dict[str, str]) -> Node:
        return Node(value, NodeKind.CALL, "c", op="read")

    done = {"name": "Ann Lee", "code": "ab-12"}
    tests = [(call({"name": "Bo", "code": "CD-34"}), {"name": "Bo", "code": "cd-34"})]
    assert conversions(tests) == {"code": "lowercase"}
    assert conversions([*tests, (call(done), done)]) == {"code": "lowercase"}
    upper = {"name": "Cy", "code": "EF-56"}  # right as it is: lowercase would break it
    assert conversions([*tests, (call(upper), upper)]) == {}
    assert (
        format_repair(Node("def read(r):\n    return r\n", NodeKind.PARAMETER, "read"), [])[0]
        is None
    )


@given(st.sampled_from(sorted(CONVERSIONS)), st.text(min_size=1, max_size=12))
def test_the_repaired_source_computes_what_the_conversion_was_chosen_for(
    name: str, value: str
) -> None:
    """Differential: the written function against the conversion run here."""
    from optimizers.step import formats

    want = formats._RUN[name](value)
    if want == value or not isinstance(want, (str, int, float)):
        return
    got = Node({"k": value}, NodeKind.CALL, "c", op="read")
    chosen = conversions([(got, {"k": want})])
    source, _ = format_repair(
        Node("def read(r):\n    return dict(r)\n", NodeKind.PARAMETER, "read"), [(got, {"k": want})]
    )
    assert source is not None and chosen
    space: dict[str, Any] = {}
    exec(source, space)
    assert space["read"]({"k": value}) == {"k": want}


def test_a_format_repair_tried_before_is_not_proposed_again() -> None:
    code = tg.code_of(read_contact)
    code.set_value(PARSER)
    start = code.value
    none = json.dumps({"reasoning": "", "updates": {}})
    llm = ScriptedClient([none, none, "no repair", "no repair", "no repair"])
    opt = GraphOptimizer([code], llm=llm, max_reasks=0)
    opt.zero_feedback()
    run(code)
    opt.step()
    repaired = code.value
    assert repaired != start
    code.set_value(start)  # back to the parser before the repair (as a user might)
    opt.zero_feedback()
    run(code)
    report = opt.step()
    assert code.value != repaired and len(llm.requests) > 2, report.notes  # the model's repairs
    assert not any("format repair" in n for n in report.notes)


def test_json_inside_a_fenced_reply_is_read_and_its_fields_converted() -> None:
    code = tg.code_of(read_contact)
    code.set_value(PARSER)
    llm = ScriptedClient([json.dumps({"reasoning": "", "updates": {}})])
    opt = GraphOptimizer([code], llm=llm, max_reasks=0)

    def feedback() -> int:
        correct = 0
        for person in PEOPLE:
            name, email, phone = person
            reply = json.dumps({"name": name, "email": email, "phone": phone})
            want = right(person)
            try:
                out = read_contact(f"Sure! Here it is:\n```json\n{reply}\n```")
            except tg.OpError as exc:
                assert exc.node is not None
                exc.node.backward(f"read_contact raised JSONDecodeError; expected {want!r}")
                continue
            said = verdict(out.value, want)
            correct += said is None
            out.backward(said or "correct")
        return correct

    opt.zero_feedback()
    assert feedback() == 0
    report = opt.step()
    assert any("the JSON inside the reply read" in n for n in report.notes), report.notes
    opt.zero_feedback()
    assert feedback() == 3, code.value
