"""Probes (optimizers/step/probes.py): without a gate, a worse step is followed by probes of
its change from the best values, not by a return that learns nothing."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from optimizers import GraphOptimizer, ScriptedClient
from optimizers.step.gate import values_key
from optimizers.step.lines import bisections
from optimizers.step.probes import (
    after_better,
    after_worse,
    far_moves,
    other_scales,
    small_move,
    untried_probe,
)
from optimizers.step.replies import apply_updates
from tests.optimizers.graphs import call, param
from tracegraph.backward import backward
from tracegraph.node import Node
from tracegraph.params import ParamType


def reply(updates: dict[str, Any]) -> str:
    return json.dumps({"reasoning": "try it", "updates": updates})


def hyper() -> list[Node]:
    return [
        param(0.01, "lr", ParamType.NUMBER, bounds=(1e-5, 2.0)),
        param(10, "epochs", ParamType.INTEGER, bounds=(1, 50)),
        param("sgd", "mode", ParamType.CHOICE, choices=["sgd", "momentum"]),
    ]


def step(opt: GraphOptimizer, params: list[Node], feedback: str = "loss") -> Any:
    opt.zero_feedback()
    backward(call("train", 1.0, "train_1", {p.name: p for p in params}), feedback)
    return opt.step()


def values(params: list[Node]) -> dict[str, Any]:
    return {p.name: p.value for p in params}


def test_a_worse_change_of_several_parameters_is_probed_one_change_at_a_time() -> None:
    params = hyper()
    replies = [reply({"lr": 0.5, "epochs": 20})]
    opt = GraphOptimizer(params, llm=ScriptedClient(replies))
    opt.record_score(-3.0)
    step(opt, params)
    opt.record_score(-9.0)  # worse: which of the two changes hurt?
    first = step(opt, params)
    assert first.prompts == [] and values(params) == {"lr": 0.5, "epochs": 10, "mode": "sgd"}
    assert "a probe, no model call this step" in first.notes[0]
    assert "lr changed alone (of the 2 changes)" in first.notes[0]
    opt.record_score(-5.0)  # lr alone is worse too
    second = step(opt, params)
    assert second.prompts == [] and values(params) == {"lr": 0.01, "epochs": 20, "mode": "sgd"}
    assert "epochs changed alone" in second.notes[0]


def test_a_better_probe_is_followed_by_the_same_move_longer() -> None:
    params = hyper()
    script = ScriptedClient([reply({"lr": 0.001}), reply({})])
    opt = GraphOptimizer(params, llm=script, number_steps=False)  # (else: lr's bracket steers)
    opt.record_score(-3.0)
    step(opt, params)
    opt.record_score(-4.0)  # 0.01 -> 0.001 was worse: the opposite move, 0.1, is probed
    step(opt, params)
    assert values(params)["lr"] == 0.1
    opt.record_score(-1.0)  # better: the same move again, longer (the factor squared)
    report = step(opt, params)
    assert report.prompts == [] and values(params)["lr"] == 1.0
    assert "the same move again, longer" in report.notes[0]
    opt.record_score(-0.5)  # better again: longer again, halfway to the bound it would pass
    report = step(opt, params)
    assert report.prompts == [] and values(params)["lr"] == 1.5


def test_with_a_gate_the_variants_are_scored_in_the_step_and_nothing_is_probed() -> None:
    params = hyper()
    replies = [reply({"lr": 0.5, "mode": "momentum"})] + [reply({})] * 4

    def evaluate(v: dict[str, Any]) -> float:
        return -abs(v["lr"] - 0.01)

    opt = GraphOptimizer(params, llm=ScriptedClient(replies), evaluate=evaluate)
    step(opt, params)
    report = step(opt, params)
    assert report.prompts and not any("a probe" in n for n in report.notes)


def test_the_queue_survives_a_state_round_trip() -> None:
    def run(resume: bool) -> list[dict[str, Any]]:
        params = hyper()
        opt = GraphOptimizer(params, llm=ScriptedClient([reply({"lr": 0.5, "epochs": 20})]))
        opt.record_score(-3.0)
        step(opt, params)
        opt.record_score(-9.0)
        step(opt, params)
        if resume:
            state = json.loads(json.dumps(opt.state_dict()))
            now = values(params)
            params = hyper()
            apply_updates({p: now[p.name] for p in params})
            opt = GraphOptimizer(params, llm=ScriptedClient([]))
            opt.load_state_dict(state)
        seen = []
        for score in (-8.0, -7.0):
            opt.record_score(score)
            step(opt, params)
            seen.append(values(params))
        return seen

    assert run(resume=True) == run(resume=False)


numbers = st.floats(min_value=0.01, max_value=100, allow_nan=False)


@given(best=numbers, worse=numbers)
def test_probes_move_only_from_the_best_values_and_repeat_nothing(
    best: float, worse: float
) -> None:
    params = hyper()
    base = {"lr": min(best, 2.0), "epochs": 10, "mode": "sgd"}
    bad = {**base, "lr": min(worse, 2.0), "epochs": 20}
    probes = after_worse(base, bad, params, {"mode": ["momentum"]})
    keys = [json.dumps(p["values"], sort_keys=True) for p in probes]
    assert len(keys) == len(set(keys)) and base not in [p["values"] for p in probes]
    spec = params[0].spec
    assert spec is not None
    for p in probes:
        assert set(p["values"]) == set(base) and not spec.check(p["values"]["lr"])
    tried = [p["values"] for p in probes]
    assert untried_probe(list(probes), tried) is None
    assert untried_probe(list(probes), tried[1:]) == (probes[0] if probes else None)


def test_a_longer_move_follows_numbers_and_other_scales_follow_a_choice() -> None:
    params = hyper()
    base = {"lr": 0.01, "epochs": 10, "mode": "sgd"}
    assert after_better(base, {**base, "lr": 0.1}, params)[0]["values"]["lr"] == 1.0
    assert after_better(base, {**base, "epochs": 12}, params)[0]["values"]["epochs"] == 14
    switched = {**base, "lr": 0.1, "mode": "momentum"}
    scales = [p["values"] for p in after_better(base, switched, params)]
    assert scales == [{**switched, "lr": 1.0}, {**switched, "lr": 0.01}]
    # rounded to half powers of ten: 0.0316 x10 is 0.316 (a power of ten would be 1.0)
    between = {**switched, "lr": 0.0316228}
    scales = [p["values"]["lr"] for p in after_better(base, between, params)]
    assert scales == [0.316228, 0.00316228]


def test_on_a_plateau_the_numbers_far_opposite_move_is_probed() -> None:
    params = hyper()[:2]
    replies = [reply({"lr": 0.02, "epochs": 12}), reply({"lr": 0.03, "epochs": 14})]
    opt = GraphOptimizer(params, llm=ScriptedClient(replies))
    opt.record_score(0.0)
    for _ in range(2):  # two small moves up, the score does not move
        step(opt, params)
        opt.record_score(0.0)
    report = step(opt, params)
    assert report.prompts == [] and "the score has stayed at 0 for 2 steps" in report.notes[0]
    # from the best values (the first to score 0): four times the move the other way (the
    # factor to the fourth for lr; epochs 10 - 16 is past the bound 1: halfway to it)
    assert values(params) == {"lr": float(f"{0.01 * (0.01 / 0.03) ** 4:.6g}"), "epochs": 6}


def test_a_better_choice_is_followed_by_the_real_numbers_at_other_scales() -> None:
    params = hyper()
    opt = GraphOptimizer(params, llm=ScriptedClient([reply({"mode": "momentum"})]))
    opt.record_score(-3.0)
    step(opt, params)
    opt.record_score(-2.0)  # the new choice is better: its learning rate may be another scale
    report = step(opt, params)
    assert report.prompts == [] and values(params) == {"lr": 0.1, "epochs": 10, "mode": "momentum"}
    assert "lr x10" in report.notes[0]
    opt.record_score(-2.5)  # worse: /10 is next, from the best values
    step(opt, params)
    assert values(params) == {"lr": 0.001, "epochs": 10, "mode": "momentum"}


def test_on_a_plateau_two_texts_changed_together_are_probed_alone() -> None:
    a, b = param("say hi", "instruction", ParamType.TEXT), param("x", "parser", ParamType.TEXT)
    replies = [reply({"instruction": f"say {i}", "parser": f"y{i}"}) for i in range(2)]
    opt = GraphOptimizer([a, b], llm=ScriptedClient(replies))
    opt.record_score(0.0)
    for _ in range(2):  # both change every step, the score stays 0
        step(opt, [a, b])
        opt.record_score(0.0)
    report = step(opt, [a, b])
    assert report.prompts == [] and values([a, b]) == {"instruction": "say 1", "parser": "x"}
    assert "instruction changed alone (of the 2 changes)" in report.notes[0]


def test_after_a_better_probe_the_rest_of_the_queue_goes_on_from_it() -> None:
    params = hyper()
    proposal = {"lr": 0.5, "epochs": 20, "mode": "momentum"}
    opt = GraphOptimizer(params, llm=ScriptedClient([reply(proposal)]), number_steps=False)
    opt.record_score(-3.0)
    step(opt, params)
    opt.record_score(-9.0)
    report = step(opt, params)  # the choice alone first
    assert "mode changed alone" in report.notes[0]
    assert values(params) == {"lr": 0.01, "epochs": 10, "mode": "momentum"}
    opt.record_score(-2.0)  # better: the rest of the queue goes on from mode = 'momentum'
    seen = []
    for _ in range(4):  # (the rates at other scales come first after a better choice)
        report = step(opt, params)
        seen.append((values(params), report.notes[0]))
        opt.record_score(-2.5)
    alone = [v for v, note in seen if "changed alone" in note]
    assert alone[:1] == [{"lr": 0.5, "epochs": 10, "mode": "momentum"}], seen


def test_a_worse_choice_probe_is_tried_again_at_other_scales() -> None:
    params = hyper()
    opt = GraphOptimizer(params, llm=ScriptedClient([reply({"lr": 0.02})]))
    opt.record_score(-3.0)
    step(opt, params)
    opt.record_score(-9.0)  # probes: the opposite, a shorter move, mode = 'momentum'
    seen = []
    for _ in range(4):
        step(opt, params)
        seen.append(values(params))
        opt.record_score(-8.0)
    i = seen.index({"lr": 0.01, "epochs": 10, "mode": "momentum"})
    assert seen[i + 1] == {"lr": 0.1, "epochs": 10, "mode": "momentum"}


def test_other_scales_skip_a_value_set_already_tried_to_the_next_along_the_line() -> None:
    params = hyper()
    base = {"lr": 1e-4, "epochs": 50, "mode": "sgd"}
    switched = {**base, "mode": "momentum"}
    fresh = [p["values"]["lr"] for p in other_scales(base, switched, params)]
    assert fresh == [0.001, 1e-5]
    # the model's proposal had gone x10 with that choice already: x100 is what is new
    tried = [{**switched, "lr": 0.001}]
    probes = other_scales(base, switched, params, tried)
    assert [p["values"]["lr"] for p in probes] == [0.01, 1e-5]
    assert "lr x100" in probes[0]["origin"]
    assert other_scales(base, {**base, "lr": 0.01}, params, tried) == []  # no choice switched


def test_other_scales_stop_where_the_line_turns_down() -> None:
    params = hyper()
    base = {"lr": 1.0, "epochs": 50, "mode": "sgd"}
    walked = {**base, "mode": "momentum", "lr": 0.001}  # walked /10 from 0.01 with the choice
    before = {**walked, "lr": 0.01}
    tried = [base, before, walked]
    scores = {values_key(before): -0.57, values_key(walked): -0.61}  # worse the further down
    lrs = [p["values"]["lr"] for p in other_scales(base, walked, params, tried, (), scores)]
    assert 0.0001 not in lrs  # /10 again is downhill
    assert lrs and all(v > 0.001 for v in lrs)
    # without the scores (or when the walk still improves), /10 goes on
    assert 0.0001 in [p["values"]["lr"] for p in other_scales(base, walked, params, tried)]
    better = {values_key(before): -0.65, values_key(walked): -0.61}
    assert 0.0001 in [
        p["values"]["lr"] for p in other_scales(base, walked, params, tried, (), better)
    ]


def test_a_better_probe_without_a_longer_move_goes_on_with_the_queue() -> None:
    params = [param(False, name, ParamType.BOOL) for name in ("a", "b", "c")]
    opt = GraphOptimizer(params, llm=ScriptedClient([reply({"a": True, "b": True, "c": True})]))
    opt.record_score(-3.0)
    step(opt, params)
    opt.record_score(-9.0)
    step(opt, params)
    assert values(params) == {"a": True, "b": False, "c": False}  # a alone
    opt.record_score(-1.0)  # better: b alone goes on from there, no model call
    report = step(opt, params)
    assert report.prompts == [] and values(params) == {"a": True, "b": True, "c": False}
    assert "the last probe scored best so far" in report.notes[0]


def test_a_probe_that_only_ties_the_best_hands_the_next_step_to_the_model() -> None:
    params = [param(False, name, ParamType.BOOL) for name in ("a", "b", "c")]
    script = ScriptedClient([reply({"a": True, "b": True, "c": True}), reply({})])
    opt = GraphOptimizer(params, llm=script)
    opt.record_score(-3.0)
    step(opt, params)
    opt.record_score(-9.0)
    step(opt, params)  # a alone
    opt.record_score(-3.0)  # the same as the best: no evidence to go on with
    assert len(step(opt, params).prompts) == 1


def test_bisections_halve_the_wider_gap_to_a_worse_neighbour() -> None:
    params = hyper()
    best = {"lr": 0.1, "epochs": 10, "mode": "sgd"}
    tried = [
        ({"lr": 0.01, "epochs": 10, "mode": "sgd"}, -7.0),  # slower: worse
        ({"lr": 1.0, "epochs": 10, "mode": "sgd"}, -44.0),  # divergent: worse
        ({"lr": 0.5, "epochs": 20, "mode": "sgd"}, -1.0),  # not on the line of lr
    ]
    (probe,) = bisections(best, -0.5, tried, params)
    # both gaps are a factor of 10; the tie goes to the larger neighbour (a factor's halfway)
    assert probe["values"] == {**best, "lr": 0.316228}
    assert "halfway to 1" in probe["origin"]
    # once the upper side is narrowed, the lower gap is the wider one
    tried.append(({"lr": 0.316228, "epochs": 10, "mode": "sgd"}, -0.9))
    (probe,) = bisections(best, -0.5, tried, params)
    assert probe["values"]["lr"] == 0.0316228


def test_bisections_skip_better_neighbours_gaps_too_small_and_adjacent_integers() -> None:
    params = hyper()
    best = {"lr": 0.1, "epochs": 10, "mode": "sgd"}
    assert bisections(best, -1.0, [({**best, "lr": 0.5}, 0.0)], params) == []  # better
    assert bisections(best, -1.0, [({**best, "lr": 0.1001}, -2.0)], params) == []  # too close
    assert bisections(best, -1.0, [({**best, "epochs": 11}, -2.0)], params) == []  # adjacent
    (probe,) = bisections(best, -1.0, [({**best, "epochs": 20}, -2.0)], params)
    assert probe["values"]["epochs"] == 14  # a factor of 2 apart: halfway as a factor
    (probe,) = bisections(best, -1.0, [({**best, "epochs": 16}, -2.0)], params)
    assert probe["values"]["epochs"] == 13


def test_a_worse_step_with_nothing_queued_bisects_instead_of_going_back() -> None:
    params = [param(0.7, "threshold", ParamType.NUMBER, bounds=(0.0, 1.0))]
    opt = GraphOptimizer(params, llm=ScriptedClient([reply({"threshold": 0.8})]))
    opt.record_score(0.86)
    step(opt, params, "F1 0.86")  # the model moves it up; F1 drops
    scores = {0.8: 0.8, 0.6: 0.5, 0.75: 0.8, 0.65: 0.6}
    seen = []
    for _ in range(4):
        opt.record_score(scores[params[0].value])
        report = step(opt, params, "F1")
        assert report.prompts == [] and "no model call" in report.notes[0]
        seen.append((params[0].value, report.notes[0]))
    # the opposite move, a shorter one, then halfway into the wider gap each time
    assert [v for v, _ in seen] == [0.6, 0.75, 0.65, 0.725]
    assert "halfway to 0.6 (scored 0.5): a bisection" in seen[2][1]


def test_far_moves_go_halfway_to_each_bound_the_farther_first() -> None:
    top_k = param(1, "top_k", ParamType.INTEGER, bounds=(1, 9))
    lr = param(0.001, "lr", ParamType.NUMBER, bounds=(1e-5, 2.0))
    free = param(3.0, "x", ParamType.NUMBER)
    assert far_moves(top_k, 1) == [5]  # the lower bound is where it is
    assert far_moves(top_k, 7) == [4, 8]
    assert far_moves(lr, 0.001) == [0.0447214, 0.0001]  # a range 10x or wider: factors
    assert far_moves(free, 3.0) == [12.0, 0.75]
    # a window of 1..31 samples at 2: x4 (halfway as a factor), not 16 (halfway in samples)
    window = param(2, "window", ParamType.INTEGER, bounds=(1, 31))
    assert far_moves(window, 2) == [8, 1]


def test_a_line_search_doubles_its_step_while_it_keeps_improving() -> None:
    params = hyper()
    base = {"lr": 0.01, "epochs": 10, "mode": "sgd"}
    # the first longer move repeats the step that helped; a longer move that helped again
    # is followed by one twice as long (a line search must not crawl: 10, 12, 14, 18, 26)
    assert after_better(base, {**base, "epochs": 12}, params)[0]["values"]["epochs"] == 14
    grown = after_better({**base, "epochs": 12}, {**base, "epochs": 14}, params, grow=True)
    assert grown[0]["values"]["epochs"] == 18
    grown = after_better(base, {**base, "lr": 0.02}, params, grow=True)
    assert grown[0]["values"]["lr"] == 0.08  # as factors: x2 then x4


def test_a_line_search_toward_a_bound_ends_on_it_within_a_thousandth_of_the_range() -> None:
    decay = [param(0.01, "decay", ParamType.NUMBER, bounds=(0.0, 1.0))]
    # /10 then /100 would be 1e-5: no score tells that from 0, the bound
    assert after_better({"decay": 0.1}, {"decay": 0.01}, decay, grow=True)[0]["values"] == {
        "decay": 0.0
    }
    assert after_better({"decay": 0.9}, {"decay": 0.5}, decay)[0]["values"] == {"decay": 0.1}
    # at the bound already: no longer move
    assert after_better({"decay": 0.01}, {"decay": 0.0}, decay, grow=True) == []


def test_on_a_plateau_the_numbers_the_proposal_left_alone_are_moved_far() -> None:
    params = [
        param(1, "top_k", ParamType.INTEGER, bounds=(1, 9)),
        param(0.75, "threshold", ParamType.NUMBER, bounds=(0.0, 1.0)),
    ]
    best = {"top_k": 1, "threshold": 0.75}
    probes = after_worse(best, {"top_k": 1, "threshold": 0.55}, params, {}, plateau=True)
    assert [p["values"] for p in probes] == [
        {"top_k": 1, "threshold": 0.875},  # far opposite: past the bound, so halfway to it
        {"top_k": 5, "threshold": 0.75},  # top_k moved far: the score did not follow threshold
        {"top_k": 5, "threshold": 0.375},  # both at once, each halfway to its farther bound
    ]
    assert probes[2]["origin"] == "every number moved far at once"
    assert "top_k moved far" in probes[1]["origin"]


def test_on_a_plateau_a_number_its_far_opposite_cannot_move_is_moved_far() -> None:
    params = [
        param(1, "top_k", ParamType.INTEGER, bounds=(1, 9)),
        param(0.95, "threshold", ParamType.NUMBER, bounds=(0.0, 1.0)),
    ]
    best = {"top_k": 1, "threshold": 0.95}
    probes = after_worse(best, {"top_k": 7, "threshold": 0.965}, params, {}, plateau=True)
    # top_k's far opposite is below its bound: it stays 1, so its own move was never tested;
    # the threshold moved by a sliver of its range (0.015 of 1): moved far as well
    assert probes[0]["values"] == {"top_k": 5, "threshold": 0.95}
    assert [p["values"]["threshold"] for p in probes[1:3]] == [0.475, 0.975]
    # moved by more, the threshold's far opposite comes first (four times the step back)
    probes = after_worse(best, {"top_k": 7, "threshold": 0.85}, params, {}, plateau=True)
    assert probes[0] == {
        "values": {"top_k": 1, "threshold": 0.975},
        "origin": "a far opposite move",
    }
    assert probes[1]["values"] == {"top_k": 5, "threshold": 0.95}


def test_a_small_move_of_a_number_is_not_probed_alone_but_searched_along_its_line() -> None:
    params = [
        param(10, "window", ParamType.INTEGER, bounds=(1, 31)),
        param(0.95, "threshold", ParamType.NUMBER, bounds=(0.0, 2.0)),
    ]
    best = {"window": 10, "threshold": 0.95}
    probes = after_worse(best, {"window": 15, "threshold": 0.98}, params, {})
    moved = [{k for k, v in p["values"].items() if v != best[k]} for p in probes]
    assert moved and all(m == {"window"} for m in moved), probes  # not the threshold's 0.03
    assert small_move(params[1], 0.95, 0.98) and not small_move(params[1], 0.95, 0.5)
    # a scale (a positive range 10x or wider) moves by factors: x10 is not small, x1.1 is
    lr = param(0.01, "lr", ParamType.NUMBER, bounds=(1e-5, 2.0))
    assert not small_move(lr, 0.01, 0.001) and small_move(lr, 0.01, 0.011)
    assert not small_move(param(5.0, "x", ParamType.NUMBER), 5.0, 5.01)  # no bounds: no range


def test_a_longer_move_that_only_ties_hands_over_to_the_rest_of_the_queue() -> None:
    params = [
        param(1, "top_k", ParamType.INTEGER, bounds=(1, 9)),
        param(0.95, "threshold", ParamType.NUMBER, bounds=(0.0, 1.0)),
    ]

    def f1(v: dict[str, Any]) -> float:  # top_k 1 caps it at 0.5; both must move
        if v["threshold"] > 0.9:
            return 0.0
        return 1.0 if v["top_k"] >= 4 and v["threshold"] <= 0.76 else 0.5

    proposals = [{"top_k": 5, "threshold": 0.98}, {"threshold": 1.0}, {"threshold": 0.97}]
    opt = GraphOptimizer(params, llm=ScriptedClient([reply(u) for u in proposals]))
    opt.record_score(0.0)
    notes = []
    for _ in range(8):
        notes.append(step(opt, params, "F1").notes)
        opt.record_score(f1(values(params)))
    # the threshold's slivers (0.95 -> 0.98, 1.0) are not probed: top_k far (3), the model
    # (4), the threshold far (5: 0.5, best), longer (6: ties), the rest of the queue from the
    # best: the threshold's other side (7), both far at once (8)
    assert "the longer move only tied" in notes[6][0], notes
    assert values(params) == {"top_k": 5, "threshold": 0.475}
    assert f1(values(params)) == 1.0


def test_a_bisection_goes_past_a_tie_to_the_first_worse_value() -> None:
    params = [param(0.445, "threshold", ParamType.NUMBER, bounds=(0.0, 1.0))]
    tried = [({"threshold": 0.6675}, 0.857), ({"threshold": 0.89}, 0.5)]
    (probe,) = bisections({"threshold": 0.445}, 0.857, tried, params)
    assert probe["values"] == {"threshold": 0.77875}  # between the tie and the worse value


def test_at_the_best_with_the_model_proposing_no_change_a_plateau_explores_far() -> None:
    params = hyper()[:2]
    same = reply({"lr": 0.01, "epochs": 10})  # the model proposes the current values
    opt = GraphOptimizer(params, llm=ScriptedClient([same] * 12))
    opt.record_score(0.5)
    report = step(opt, params)  # the model proposes no change, asked again twice
    assert len(report.prompts) == 3 and "(no change)" in report.notes[0]
    assert report.notes[-1].startswith("a probe in its place: the model proposed nothing new")
    assert values(params) != {"lr": 0.01, "epochs": 10}
    moved = [k for k, v in values(params).items() if v != {"lr": 0.01, "epochs": 10}[k]]
    assert len(moved) == 1 and "moved far" in report.notes[-1]  # one number, far


def test_explorations_switch_choices_before_moving_numbers_far() -> None:
    from optimizers.step.probes import explorations

    params = hyper()
    best = values(params)
    found = explorations(best, params, {"mode": ["momentum"]})
    assert found[0]["values"] == {**best, "mode": "momentum"}
    assert "never tried" in found[0]["origin"]
    assert [p["origin"] for p in found[1:5]] == ["lr moved far"] * 2 + ["epochs moved far"] * 2
    assert found[-1]["origin"] == "every number moved far at once"
    assert all(p["values"] != best for p in found)


def test_other_scales_move_each_real_number_alone() -> None:
    params = [
        param(0.01, "lr", ParamType.NUMBER, bounds=(1e-5, 2.0)),
        param(0.1, "decay", ParamType.NUMBER, bounds=(0.0, 1.0)),
        param("sgd", "mode", ParamType.CHOICE, choices=["sgd", "momentum"]),
    ]
    before = {"lr": 0.01, "decay": 0.1, "mode": "sgd"}
    after = {**before, "mode": "momentum"}
    found = [p["values"] for p in other_scales(before, after, params)]
    assert found == [
        {**after, "lr": 0.1},
        {**after, "lr": 0.001},
        {**after, "decay": 1.0},
        {**after, "decay": 0.01},
    ]


def test_a_better_choice_switch_undoes_each_count_it_changed_first() -> None:
    params = hyper()
    before = {"lr": 0.01, "epochs": 10, "mode": "sgd"}
    better = {"lr": 0.02, "epochs": 20, "mode": "momentum"}
    found = after_better(before, better, params)
    assert found[0]["values"] == {**better, "epochs": 10}
    assert found[0]["origin"] == "epochs back to 10 alone"
    assert [p["values"]["lr"] for p in found[1:3]] == [0.316228, 0.00316228]  # then scales


def test_a_step_whose_proposal_was_tried_before_explores_in_its_place() -> None:
    params = [
        param(5, "k", ParamType.INTEGER, bounds=(1, 9)),
        param(0.5, "t", ParamType.NUMBER, bounds=(0.0, 1.0)),
    ]
    # a model with one idea, on a flat score: without a probe in its place, every other step
    # was the same rejected proposal ("exactly these values were tried at step 1")
    opt = GraphOptimizer(params, llm=ScriptedClient([reply({"k": 9, "t": 0.9})] * 40))
    opt.record_score(0.5)
    seen = [values(params)]
    for _ in range(8):
        report = step(opt, params)
        opt.record_score(0.5)
        assert report.applied, report.notes  # every step tries a new value set
        seen.append(values(params))
        if report.prompts and values(params) != {"k": 9, "t": 0.9}:  # asked, then a probe
            assert any(n.startswith("a probe in its place") for n in report.notes), report.notes
    assert len({json.dumps(v, sort_keys=True) for v in seen}) == len(seen)


def test_a_scale_probe_that_scores_the_worst_yet_is_not_scaled_further() -> None:
    # a rate x10 that diverged was followed by x100 and x1000 (the local model's training run)
    params = hyper()
    opt = GraphOptimizer(params, llm=ScriptedClient([reply({"lr": 0.02})]))
    opt.record_score(-3.0)
    step(opt, params)
    opt.record_score(-9.0)
    seen = []
    for _ in range(6):
        report = step(opt, params)
        seen.append((values(params), report.notes[0] if report.notes else ""))
        diverged = "lr x10 (another choice" in seen[-1][1]
        opt.record_score(-1e12 if diverged else -8.0)
    lrs = [v["lr"] for v, note in seen if v["mode"] == "momentum" and "another choice" in note]
    assert lrs[0] == 0.1  # x10 with the choice (diverged: the worst score yet)
    assert 1.0 not in lrs  # not x100 after it


def test_a_choice_changed_with_numbers_is_probed_alone_first() -> None:
    # replayed local-model runs of the training families: 29 -> 32 of 42 solved with this order
    params = hyper()
    base = {"lr": 0.01, "epochs": 10, "mode": "sgd"}
    probes = after_worse(base, {"lr": 0.001, "epochs": 30, "mode": "momentum"}, params, {})
    assert [p["origin"].split()[0] for p in probes[:3]] == ["mode", "lr", "epochs"]
    assert probes[0]["values"] == {**base, "mode": "momentum"}
