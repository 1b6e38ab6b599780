"""Without a score, the feedback's expected results are tests: a proposal that breaks one the
current code passes is rejected, and repairs are sampled until one passes more."""

from __future__ import annotations

import json

import pytest

import tracegraph as tg
from optimizers import GraphOptimizer, ScriptedClient
from optimizers.step.implied import implied_tests, passed
from optimizers.step.trial import TrialConfig, code_trial
from tracegraph.graph import relevant_subgraph


@tg.trainable
def shout(word: str) -> str:
    """The word in capitals with one exclamation mark."""
    return word + "!"


START = 'def shout(word):\n    return word + "!"\n'
FIXED = "def shout(word):\n    return word.upper() + '!'\n"


def run(words: list[str], wants: list[str]) -> list[tg.Node]:
    outs = []
    for word, want in zip(words, wants, strict=True):
        out = shout(word)
        said = "correct" if out.value == want else f"returned {out.value!r}, expected {want!r}"
        out.backward(f"shout({word!r}) {said}")
        outs.append(out)
    return outs


def test_the_trial_counts_the_expected_results_a_proposal_returns() -> None:
    code = tg.code_of(shout)
    code.set_value(START)
    GraphOptimizer([code], llm=ScriptedClient([])).zero_feedback()
    outs = run(["hi", "ok", "YO"], ["HI!", "OK!", "YO!"])
    tests = implied_tests(code, relevant_subgraph([code]).outputs)
    # "correct": the result it returned is the expected one (what works must keep working)
    assert [w for _, w in tests] == ["HI!", "OK!", "YO!"]
    result = code_trial(code, FIXED, outs, TrialConfig(), tests)
    assert (result.reasons, result.passed, result.baseline) == ([], 3, 1)
    worse = code_trial(code, "def shout(word):\n    return word\n", outs, TrialConfig(), tests)
    assert worse.passed == 0 and worse.failed[0] == "shout('hi') returned 'hi', expected 'HI!'"


def test_without_a_score_a_proposal_that_breaks_a_passing_case_is_rejected() -> None:
    code = tg.code_of(shout)
    code.set_value("def shout(word):\n    return word.upper() + '!' if word == 'hi' else word\n")
    breaks = {"reasoning": "", "updates": {"shout": "def shout(word):\n    return word\n"}}
    llm = ScriptedClient([json.dumps(breaks), "Sorry.", "Sorry.", "Sorry."])
    opt = GraphOptimizer([code], llm=llm, max_reasks=0)
    opt.zero_feedback()
    outs = [shout("hi"), shout("ok")]
    outs[0].backward("shout('hi') = 'HI!'; expected 'HI!'")
    outs[1].backward("shout('ok') returned 'ok', expected 'OK!'")
    report = opt.step()
    assert not report.applied
    (reason,) = report.rejected[0].reasons
    assert "for 0 of the 2 calls whose feedback names one, the current code for 1" in reason
    assert "shout('hi') returned 'hi', expected 'HI!'" in reason


def test_without_a_score_repairs_are_sampled_until_one_passes_more_tests() -> None:
    code = tg.code_of(shout)
    code.set_value(START)
    same = {"reasoning": "", "updates": {"shout": "def shout(word):\n    return word + '!' \n"}}
    wrong = "Two marks.\n```python\ndef shout(word):\n    return word + '!!'\n```"
    llm = ScriptedClient([json.dumps(same), wrong, f"Capitals.\n```python\n{FIXED}```", "spare"])
    opt = GraphOptimizer([code], llm=llm, max_reasks=0)
    opt.zero_feedback()
    run(["hi", "ok"], ["HI!", "OK!"])
    report = opt.step()  # no score recorded: the failing tests alone call for the repair
    assert code.value == FIXED, report.notes
    assert llm.remaining == 1
    question = llm.requests[1]["messages"][0]["content"]
    assert "what differs: the same letters in another case" in question


@tg.trainable
def read(reply: str) -> dict[str, str]:
    """The reply as a dict."""
    return dict(json.loads(reply))


def test_without_a_score_a_placeholder_for_an_error_is_rejected_a_fix_is_not() -> None:
    code = tg.code_of(read)
    start = code.value
    hide = "def read(reply):\n    try:\n        return json.loads(reply)\n    except ValueError:\n"
    hide += "        return {'name': 'Unknown'}\n"
    fix = "def read(reply):\n    return json.loads(reply.strip('`'))\n"

    def attempt(proposal: str) -> tuple[str, list[str]]:
        code.set_value(start)
        update = {"reasoning": "", "updates": {"read": proposal}}
        llm = ScriptedClient([json.dumps(update)])
        opt = GraphOptimizer([code], llm=llm, rule_edits=False, max_reasks=0)
        opt.zero_feedback()
        try:
            read('`{"name": "Ann"}`')
        except tg.OpError as exc:
            assert exc.node is not None
            exc.node.backward("read raised JSONDecodeError; expected {'name': 'Ann'}")
        report = opt.step()
        return code.value, [r for rej in report.rejected for r in rej.reasons]

    value, reasons = attempt(hide)
    assert value == start
    assert "returns a wrong result where the current code raised" in reasons[0], reasons
    assert "read('`{\"name\": \"Ann\"}`') returned {'name': 'Unknown'}" in reasons[0]
    value, reasons = attempt(fix)
    assert value == fix and reasons == []


def test_a_case_the_feedback_calls_correct_is_kept_by_the_next_repair() -> None:
    code = tg.code_of(shout)
    code.set_value("def shout(word):\n    return word + '!'\n")
    # fixes nothing ('hi' still fails) and breaks 'YO!', which the feedback called correct
    breaks = "def shout(word):\n    return word.lower() + '!'\n"
    update = {"reasoning": "", "updates": {"shout": breaks}}
    llm = ScriptedClient([json.dumps(update), "Sorry.", "Sorry.", "Sorry."])
    opt = GraphOptimizer([code], llm=llm, max_reasks=0)
    opt.zero_feedback()
    run(["hi", "YO"], ["HI!", "YO!"])
    report = opt.step()
    assert not report.applied and code.value.endswith("word + '!'\n")
    (reason,) = report.rejected[0].reasons
    assert "for 0 of the 2 calls whose feedback names one, the current code for 1" in reason
    assert "shout('YO') returned 'yo!', expected 'YO!'" in reason


@pytest.mark.parametrize(
    ("feedback", "right"),
    [
        ("f({}) = {}: correct", True),
        ("The result is correct.", True),
        ("test passed", True),
        ("OK", True),
        ("not correct", False),
        ("Correct the capitalization", False),
        ("looks right but a key is missing", False),
        ("f(1) returned 2, expected 3", False),
        ("wrong", False),
    ],
)
def test_only_a_plain_verdict_that_the_result_is_right_is_a_passing_case(
    feedback: str, right: bool
) -> None:
    assert passed(feedback) is right


@tg.trainable
def read_phone(reply: str) -> dict[str, str]:
    """The reply as a dict with a digits-only "phone"."""
    return dict(json.loads(reply))


def test_feedback_on_one_field_of_a_dict_is_a_test_a_normalizing_repair_passes() -> None:
    code = tg.code_of(read_phone)
    code.set_value("def read_phone(reply):\n    return dict(json.loads(reply))\n")
    GraphOptimizer([code], llm=ScriptedClient([])).zero_feedback()
    outs = [read_phone('{"name": "Jo", "phone": "030 12"}'), read_phone('{"name": "Al"}')]
    outs[0].backward("phone '030 12' is not digits only (expected '03012')")
    outs[1].backward("expected exactly the keys 'name' and 'phone'")  # no expected value
    tests = implied_tests(code, relevant_subgraph([code]).outputs)
    assert [w for _, w in tests] == [{"name": "Jo", "phone": "03012"}]
    fixed = (
        "def read_phone(reply):\n    d = dict(json.loads(reply))\n"
        "    d['phone'] = ''.join(c for c in d['phone'] if c.isdigit())\n    return d\n"
    )
    result = code_trial(code, fixed, outs[:1], TrialConfig(), tests)
    assert (result.reasons, result.passed, result.baseline) == ([], 1, 0)
