"""Whole optimizer steps, offline, with the ScriptedClient (base.py + graph_optimizer.py).

Golden prompts live in tests/golden/optimizers/; regenerate with ``UPDATE_GOLDEN=1``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizers import DuplicateParameterName, GraphOptimizer, OptimizerError, ScriptedClient
from optimizers.errors import APIStatusError, BudgetExceeded
from optimizers.llm.budget import Budget
from optimizers.step.trial import TrialConfig
from tests.optimizers.graphs import BUGGY, call, code_graph, golden, param, qa_graph
from tracegraph.backward import backward
from tracegraph.node import Node
from tracegraph.params import ParamType


def reply(updates: dict[str, Any], reasoning: str = "because") -> str:
    return json.dumps({"reasoning": reasoning, "updates": updates})


def opt_for(replies: list[str], **config: Any) -> tuple[GraphOptimizer, dict[str, Node]]:
    params, _ = qa_graph()
    return GraphOptimizer(list(params.values()), llm=ScriptedClient(replies), **config), params


def test_golden_prompt_and_schema_of_a_step() -> None:
    opt, _ = opt_for([reply({})])
    report = opt.step()
    (messages,) = report.prompts
    schema = opt.llm.requests[0]["response_format"]  # type: ignore[union-attr]
    text = "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)
    golden("graph_step_prompt.txt", text + "\n\n[schema]\n" + json.dumps(schema, indent=1))


def test_a_valid_reply_updates_every_kind_with_the_right_type() -> None:
    updates = {
        "prompt": "End with the number.",
        "temperature": 0,
        "style": "markdown",
        "verbose": True,
        "shots": 3,
        "decoding": {"stop": [], "top_k": 1},
    }
    opt, params = opt_for([reply(updates, "TERMINATE: def is just a word here")])
    report = opt.step()
    assert report.error is None and report.rejected == []
    assert {k: new for k, (_, new) in report.applied.items()} == {**updates, "temperature": 0.0}
    assert params["temperature"].value == 0.0 and type(params["temperature"].value) is float
    assert params["verbose"].value is True and params["decoding"].value["top_k"] == 1
    assert report.reasoning.startswith("TERMINATE")
    assert report.applied["shots"] == (2, 3)
    assert len(report.prompts) == len(report.replies) == 1 and report.usage.calls == 1
    json.dumps(report.to_dict())  # JSON-able


def test_empty_updates_mean_no_change_and_count_as_a_stall() -> None:
    opt, params = opt_for([reply({}), reply({})])
    before = {k: p.value for k, p in params.items()}
    assert opt.step().applied == {}
    assert {k: p.value for k, p in params.items()} == before
    assert opt.stall == 1
    opt.step()
    temps = [r["temperature"] for r in opt.llm.requests]  # type: ignore[union-attr]
    assert temps[0] < temps[1]  # no progress: the schedule raised the temperature


def test_rejected_updates_are_asked_again_with_reasons_and_good_ones_kept() -> None:
    first = reply({"temperature": 3.0, "prompt": "Be exact.", "question": "?"})
    second = reply({"temperature": 1.5})
    opt, params = opt_for([first, second], number_steps=False)  # else 3.0 -> halfway to 2.0
    report = opt.step()
    assert params["prompt"].value == "Be exact." and params["temperature"].value == 1.5
    assert [r.param for r in report.rejected] == ["temperature", "question"]
    reask = report.prompts[1][-1]["content"]
    assert "temperature = 3.0: must be <= 2.0" in reask
    assert '"question" is an input and is READ-ONLY' in reask
    assert "Accepted so far (will be applied): prompt" in reask
    assert len(report.prompts) == 2


def test_re_asks_are_bounded_and_a_stubborn_model_changes_nothing() -> None:
    bad = reply({"temperature": 9.0})
    opt, params = opt_for([bad] * 10, max_reasks=2, number_steps=False)
    report = opt.step()
    assert params["temperature"].value == 0.7 and report.applied == {}
    assert len(report.prompts) == 3 and len(report.rejected) == 3
    assert opt.rejected[-1].value == 9.0  # remembered and shown next time
    assert "REJECTED temperature = 9.0" in opt.step().prompts[0][-1]["content"]


def test_prose_that_mentions_terminate_or_def_is_not_an_answer() -> None:
    prose = "TERMINATE. I would def change the prompt, but here is no JSON."
    opt, params = opt_for([prose] * 3)
    report = opt.step()
    assert report.error is not None and "nothing changed" in report.error
    assert report.applied == {} and params["prompt"].value == "Answer briefly."


@given(st.floats(2.0, 1e300, exclude_min=True) | st.floats(-1e300, 0.0, exclude_max=True))
@settings(max_examples=40, deadline=None)
def test_a_number_past_a_bound_moves_halfway_to_it_or_with_number_steps_off_is_rejected(
    value: float,
) -> None:
    opt, params = opt_for([reply({"temperature": value})])
    report = opt.step()  # temperature: 0.7, bounds (0.0, 2.0)
    new = params["temperature"].value
    bound = 2.0 if value > 2.0 else 0.0
    assert new == (0.7 + bound) / 2 and report.rejected == []
    assert any("past the bound" in n and "halfway" in n for n in report.notes), report.notes
    off, kept = opt_for([reply({"temperature": value})] * 3, number_steps=False)
    assert off.step().applied == {} and kept["temperature"].value == 0.7


def _invalid_replies() -> st.SearchStrategy[str]:
    """Replies that must not change any parameter of qa_graph."""
    names = ["prompt", "temperature", "style", "verbose", "shots", "decoding"]
    wrong = {
        "prompt": st.integers() | st.text(min_size=201, max_size=220),
        # (a number past a bound is moved halfway to it: test_a_number_past_a_bound_...)
        "temperature": st.text() | st.booleans() | st.just(float("nan")),
        "style": st.text().filter(lambda s: s not in ("plain", "markdown")) | st.integers(),
        "verbose": st.sampled_from(["False", "true", "no", 0, 1, "TERMINATE"]),
        "shots": st.floats(0.1, 0.9) | st.just("3"),
        "decoding": st.sampled_from(["[1, 2]", '{"stop": []}', [1, 2], {"stop": ["x"]}]),
    }
    wrong_types = st.fixed_dictionaries({}, optional=wrong)
    unknown = st.dictionaries(
        st.text(min_size=1).filter(lambda s: s not in names),
        st.integers() | st.text(),
        min_size=1,
        max_size=3,
    )
    good = json.dumps({"reasoning": "x", "updates": {"temperature": 0.1}})
    truncated = st.integers(1, len(good) - 1).map(lambda i: good[:i])
    prose = st.text(alphabet=st.characters(blacklist_characters="{}[]")).map(
        lambda t: f"def TERMINATE {t}"
    )
    wrong_shape = st.sampled_from(
        [
            '{"reasoning": "r", "temperature": 0.1}',  # outside "updates"
            '{"reasoning": "r", "updates": [["temperature", 0.1]]}',
            '["temperature", 0.1]',
            "null",
        ]
    )
    as_reply = st.tuples(st.text(max_size=20), wrong_types | unknown).map(
        lambda t: json.dumps({"reasoning": t[0], "updates": t[1]})
    )
    return as_reply | truncated | prose | wrong_shape


@given(
    st.lists(_invalid_replies(), min_size=9, max_size=9),
    st.sampled_from(["json_schema", "text"]),  # "text": the lenient extraction path
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_malformed_replies_never_change_a_parameter(replies: list[str], mode: Any) -> None:
    params, _ = qa_graph()
    opt = GraphOptimizer(list(params.values()), llm=ScriptedClient(replies, mode=mode))
    before = {k: p.value for k, p in params.items()}
    report = opt.step()
    assert {k: p.value for k, p in params.items()} == before
    assert report.applied == {}
    assert all(r.reasons for r in report.rejected)  # every rejection says why
    # whatever was proposed was rejected (or the reply could not be read at all)
    assert report.error is not None or {r.param for r in report.rejected} == set(report.proposed)


def test_code_is_applied_only_after_its_trial_run() -> None:
    fixed = "def parse_answer(text):\n    return int(text.split()[-1])\n"
    renamed = "def parse(text):\n    return 5\n"
    syntax = "def parse_answer(text):\n    return int(text.split()[-1]\n"
    loop = "def parse_answer(text):\n    while True:\n        pass\n"
    raises = "def parse_answer(text):\n    return int(text)\n"
    replies = [reply({"parse_answer": c}) for c in (renamed, syntax, loop)]
    replies += [reply({"parse_answer": raises}), reply({"parse_answer": fixed})]
    code, _, _ = code_graph()
    llm = ScriptedClient(replies)
    opt = GraphOptimizer([code], llm=llm, trial=TrialConfig(timeout=1.0), max_reasks=2)
    report = opt.step()  # renamed, syntax error, endless loop: all rejected
    assert code.value == BUGGY and report.applied == {}
    reasons = [r.reasons[0] for r in report.rejected]
    assert "do not rename it" in reasons[0]
    assert "does not parse" in reasons[1]
    assert "did not finish within 1 s" in reasons[2]
    code.zero_feedback()
    code2, _, _ = code_graph()  # a fresh trace of the same function
    code2.set_value(BUGGY)
    opt2 = GraphOptimizer([code2], llm=llm, trial=TrialConfig(timeout=2.0))
    report = opt2.step()  # raises on the traced input, then the fix
    assert "ValueError" in report.rejected[0].reasons[0]
    assert "'The answer is 5'" in report.rejected[0].reasons[0]
    assert code2.value == fixed and report.applied["parse_answer"] == (BUGGY, fixed)


def test_duplicate_trainable_names_are_refused_naming_both() -> None:
    a = param(1.0, "lr", ParamType.NUMBER)
    b = param(2.0, "lr", ParamType.NUMBER)
    with pytest.raises(DuplicateParameterName, match="both named 'lr'") as info:
        GraphOptimizer([a, b], llm=ScriptedClient([]))
    assert str(a.location) in str(info.value) and "name=" in str(info.value)


def test_non_parameters_are_refused() -> None:
    with pytest.raises(OptimizerError, match="optimizers take parameters"):
        GraphOptimizer([call("f", 1, "f_1", {})], llm=ScriptedClient([]))


def test_a_parameter_no_feedback_reached_is_reported_not_silent() -> None:
    params, _ = qa_graph()
    unused = param(1.0, "unused", ParamType.NUMBER)
    opt = GraphOptimizer([*params.values(), unused], llm=ScriptedClient([reply({})]))
    report = opt.step()
    assert any("no feedback reached 'unused'" in n for n in report.notes)
    lonely = GraphOptimizer([param(1.0, "alone", ParamType.NUMBER)], llm=ScriptedClient([]))
    report = lonely.step()
    assert report.skipped is not None and "no feedback reached 'alone'" in report.skipped
    assert report.prompts == []


def test_history_scores_and_state_round_trip() -> None:
    opt, params = opt_for([reply({"temperature": 0.2}), reply({"temperature": 0.3})])
    opt.step()
    opt.record_score(0.5)
    for p in params.values():
        p.zero_feedback()
    out = call("score", 0.5, "score_1", {"t": params["temperature"]})
    backward(out, "a bit higher")
    report = opt.step()
    assert report.applied == {"temperature": (0.2, 0.3)}
    assert [h.values["temperature"] for h in opt.history] == [0.7, 0.2, 0.3]
    assert opt.history[1].score == 0.5 and opt.history[1].feedback == "output 0.5: a bit higher"
    shown = report.prompts[0][-1]["content"]  # history in view, with scores
    assert "- step 0: temperature=0.7" in shown
    line = "- step 1: temperature=0.2 (current) -> score 0.5; feedback: output 0.5: a bit higher"
    assert line in shown
    state = json.loads(json.dumps(opt.state_dict()))
    other, _ = opt_for([])
    other.load_state_dict(state)
    assert other.state_dict() == opt.state_dict()
    with pytest.raises(OptimizerError, match="version"):
        other.load_state_dict({**state, "version": 99})


def test_zero_feedback_clears_what_the_parameters_received() -> None:
    opt, params = opt_for([])
    assert params["prompt"].received
    opt.zero_feedback()
    assert all(not p.received for p in params.values())
    assert opt.step().skipped is not None


async def test_astep_runs_the_same_pipeline() -> None:
    opt, params = opt_for([reply({"temperature": "hot"}), reply({"temperature": 1.0})])
    report = await opt.astep()
    assert params["temperature"].value == 1.0 and len(report.prompts) == 2


def test_a_budget_stop_propagates_and_changes_nothing() -> None:
    params, _ = qa_graph()
    llm = ScriptedClient([reply({"temperature": 0.1})], budget=Budget(max_calls=0))
    opt = GraphOptimizer(list(params.values()), llm=llm)
    with pytest.raises(BudgetExceeded):
        opt.step()
    assert params["temperature"].value == 0.7


def test_updates_outside_the_updates_object_are_reported_and_asked_again() -> None:
    stray = json.dumps({"reasoning": "r", "temperature": 0.1, "updates": {}})
    opt, params = opt_for([stray, reply({"temperature": 0.1})])
    report = opt.step()
    assert any('"temperature" is outside "updates"' in n for n in report.notes)
    assert 'is outside "updates"' in report.prompts[1][-1]["content"]
    assert params["temperature"].value == 0.1


def _oscillate(**config: Any) -> tuple[GraphOptimizer, Node]:
    x = param(10.0, "x", ParamType.NUMBER)
    replies = [reply({"x": 20}), reply({"x": 10}), reply({"x": 15})]
    config.setdefault("number_steps", False)  # else the bracket [10, 20] is bisected first
    opt = GraphOptimizer([x], llm=ScriptedClient(replies), **config)
    backward(call("f", 10.0, "f_1", {"x": x}), "too small")
    assert opt.step().applied == {"x": (10.0, 20.0)}
    opt.zero_feedback()
    backward(call("f", 20.0, "f_2", {"x": x}), "too large")
    return opt, x


def test_going_back_to_values_tried_before_is_rejected_with_what_they_got() -> None:
    opt, _ = _oscillate()
    report = opt.step()  # proposes 10 again (oscillation), then 15 when told
    assert "tried at step 0; feedback then: output 10.0: too small" in report.rejected[0].reasons[0]
    assert report.applied == {"x": (20.0, 15.0)}
    opt, _ = _oscillate(allow_repeats=True)
    assert opt.step().applied == {"x": (20.0, 10.0)}


def test_a_step_that_changes_nothing_always_says_why() -> None:
    """Issue 11: a proposal equal to the current value was dropped without a word."""
    opt, _ = opt_for([reply({"temperature": 0.7}), reply({"temperature": 0.7}), reply({})])
    report = opt.step()  # the current value, asked again (twice), then nothing
    assert report.applied == {} and len(report.prompts) == 3
    assert "temperature = 0.7: its current value, no change" in report.prompts[1][-1]["content"]
    assert any("proposed the current value of temperature" in n for n in report.notes)
    opt.llm = ScriptedClient([reply({}, reasoning="all outputs are right")])
    report = opt.step()
    assert report.notes[-1] == "the model proposed no change (empty updates): all outputs are right"


def test_patience_goes_back_to_the_best_values_without_a_model_call() -> None:
    # a text has no probes (no opposite, no shorter move): the step is a plain return
    p = param("a", "p", ParamType.TEXT)
    replies = [reply({"p": v}) for v in ("b", "c", "d")]
    opt = GraphOptimizer([p], llm=ScriptedClient(replies), patience=2)
    opt.record_score(0.0)
    for score in (0.5, 0.2, 0.1):  # "b" is best, then two steps without improvement
        backward(call("f", p.value, "f_1", {"p": p}), "more")
        opt.step()
        opt.record_score(score)
        opt.zero_feedback()
    backward(call("f", p.value, "f_1", {"p": p}), "more")
    report = opt.step()
    assert report.applied == {"p": ("d", "b")} and report.prompts == []
    assert "went back to the best values so far (scored 0.5 after step 1)" in report.notes[0]


def test_the_history_shows_the_measured_effect_of_each_change() -> None:
    x = param(1.0, "x", ParamType.NUMBER)
    opt = GraphOptimizer([x], llm=ScriptedClient([reply({"x": 5.0}), reply({})]), patience=None)
    opt.record_score(-3.0)
    backward(call("f", 1.0, "f_1", {"x": x}), "too small")
    opt.step()
    opt.record_score(-7.0)
    opt.zero_feedback()
    backward(call("f", 5.0, "f_2", {"x": x}), "too large")
    shown = opt.step().prompts[0][-1]["content"]
    assert "- step 1: x=5.0 (current) -> score -7 (x 1.0 -> 5.0: worse than -3 at step 0)" in shown
    assert "from the feedback so far, the best value is above 1" in shown


def test_choices_never_tried_are_named_once_values_were_tried() -> None:
    mode = param("sgd", "mode", ParamType.CHOICE, choices=["sgd", "momentum", "adam"])
    script = ScriptedClient([reply({"mode": "momentum"}), reply({})])
    opt = GraphOptimizer([mode], llm=script, patience=None)  # (else: back to "sgd", 3.2 < 4.0)
    backward(call("f", 1.0, "f_1", {"mode": mode}), "loss 3.2")
    assert "never tried" not in opt.step().prompts[0][-1]["content"]
    opt.zero_feedback()
    backward(call("f", 2.0, "f_2", {"mode": mode}), "loss 4.0")
    assert 'never tried yet: "adam"' in opt.step().prompts[0][-1]["content"]


def _too_long() -> APIStatusError:
    body = "the request exceeds the available context size (4152 > 4096 tokens)"
    return APIStatusError("the endpoint refused the request", status=400, body=body)


def test_a_refused_re_ask_keeps_what_was_accepted_and_says_why() -> None:
    first = reply({"temperature": "hot", "prompt": "Be exact."})
    opt, params = opt_for([first, _too_long()])  # type: ignore[list-item]
    report = opt.step()  # raised APIStatusError before: the whole step was lost
    assert params["prompt"].value == "Be exact." and params["temperature"].value == 0.7
    assert report.error is None and "refused a re-ask" in " ".join(report.notes)
    assert "4152 > 4096" in " ".join(report.notes)


def test_a_refused_first_request_is_a_failed_step_not_an_exception() -> None:
    opt, params = opt_for([_too_long()] * 3)  # type: ignore[list-item]
    report = opt.step()
    assert report.applied == {} and params["temperature"].value == 0.7
    assert report.error is not None and "refused the request" in report.error
    # sent again twice, in half and a quarter of the space, before the step gives up
    assert sum("longer than the server's context" in n for n in report.notes) == 2
    assert len(report.prompts) == 3


def test_other_server_errors_still_reach_the_caller() -> None:
    down = APIStatusError("the endpoint failed", status=503, body="busy")
    opt, _ = opt_for([down])  # type: ignore[list-item]
    with pytest.raises(APIStatusError):
        opt.step()


def test_a_long_trial_output_is_cut_in_the_re_ask() -> None:
    opt, params = opt_for([])
    ctx_params = list(params.values())

    class Ctx:
        params = ctx_params

    text = opt.reask_text(["temperature: " + "trace line\n" * 2000], {}, Ctx())  # type: ignore[arg-type]
    assert len(text) < 3000 and "chars>" in text
