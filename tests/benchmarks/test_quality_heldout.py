"""The held-out task families (offline, no model): they start unsolved, a known answer solves
them, their feedback says what it should, and their solved regions are as narrow as measured."""

from __future__ import annotations

import doctest
import itertools
import math
from typing import Any

import pytest

from benchmarks.quality import code_tasks, heldout_tasks
from benchmarks.quality import heldout_specs as hs
from benchmarks.quality.families import FAMILIES
from tracegraph.graph import ancestors, check_graph

HELD_OUT = ("number_b", "training_b", "pipeline", "code_b")

SOLUTIONS: dict[str, list[dict[str, Any]]] = {
    "number_b": [{"x": t * 1.01} for t, _ in hs.NUMBER_B_CASES],
    "training_b": [
        {"learning_rate": 0.1, "batch_size": 4, "weight_decay": 0.01, "schedule": "step_decay"}
    ]
    * 3,
    "pipeline": [{"window": 9, "threshold": 0.4}] * 3,
    "code_b": [
        {"roman_to_int": "def roman_to_int(numeral):\n"
         "    values = {'I': 1, 'V': 5, 'X': 10, 'L': 50, 'C': 100, 'D': 500, 'M': 1000}\n"
         "    total = 0\n"
         "    for c, nxt in zip(numeral, numeral[1:] + ' '):\n"
         "        v = values[c]\n"
         "        total += -v if v < values.get(nxt, 0) else v\n"
         "    return total\n"},
        {"chunk": "def chunk(items, size):\n"
         "    return [items[i : i + size] for i in range(0, len(items), size)]\n"},
        {"camel_to_snake": "import re\n\n\ndef camel_to_snake(name):\n"
         "    return re.sub(r'(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])', '_', name)"
         ".lower()\n"},
    ],
}  # fmt: skip


def test_the_held_out_families_are_registered_after_the_others() -> None:
    names = list(FAMILIES)
    assert names[-len(HELD_OUT) - 2 :] == [*HELD_OUT, "contact", "topics"]
    assert [FAMILIES[n].letter for n in HELD_OUT] == ["a", "b", "e", "c"]
    assert not any(FAMILIES[n].uses_model for n in HELD_OUT)


@pytest.mark.parametrize("name", HELD_OUT)
def test_each_seed_starts_unsolved_and_a_known_answer_solves_it(name: str) -> None:
    for seed, solution in enumerate(SOLUTIONS[name]):
        task = FAMILIES[name].make(seed, None)
        assert task.family == name
        episode = task.run()
        assert not episode.solved and episode.feedback, task.name
        start = {p.name: p.value for p in task.params}
        assert task.evaluate(start) == episode.score
        assert task.evaluate(solution) > episode.score
        for p in task.params:
            p.set_value(solution[p.name])
        solved = task.run()
        assert solved.solved and solved.score == task.evaluate(solution), (task.name, solution)


@pytest.mark.parametrize("seed", range(3))
def test_number_b_says_higher_or_lower_and_bounds_one_seed_only(seed: int) -> None:
    task = FAMILIES["number_b"].make(seed, None)
    target = task.info["target"]
    (x,) = task.params
    assert x.value == hs.NUMBER_B_CASES[seed][1]
    for value, said in ((target * 0.5, "higher"), (target * 1.5, "lower")):
        x.set_value(value)
        ((node, text),) = task.run().feedback
        assert text == said and node.value == value
    x.set_value(target * 0.99)
    assert task.run().feedback[0][1] == "right: keep it"
    assert x.spec is not None and (x.spec.bounds is None) == (seed == 0)
    assert (hs.number_b_case(seed)[1] > target) == (seed != 1)  # seeds 0 and 2 start above


def test_training_b_feedback_is_the_validation_loss_only() -> None:
    task = FAMILIES["training_b"].make(1, None)
    ((node, text),) = task.run().feedback
    assert text == f"validation loss: {node.value:.4g}" and node.value > 10 * hs.VAL_LOSS_SOLVED


def test_training_b_never_raises_and_diverges_to_inf() -> None:
    assert hs.train_b_loss(10.0, 1, 1.0, "constant") == math.inf  # decay overshoots
    assert (
        math.isfinite(hs.train_b_loss(10.0, 1, 0.0, "constant"))
        and hs.train_b_loss(10.0, 1, 0.0, "constant") > 20 * hs.VAL_LOSS_SOLVED
    )
    assert hs.train_b_loss(float("inf"), 0, -5.0, "no such schedule") == math.inf
    assert hs.train_b_loss("fast", 4, 0.0, "constant") == math.inf  # type: ignore[arg-type]
    assert hs.val_loss_judge(math.inf) == ("validation loss: inf", -1e12, False)


def test_training_b_starts_are_far_from_a_narrow_solved_region() -> None:
    for start in hs.TRAIN_B_STARTS:
        assert hs.train_b_loss(*start) > 1.25 * hs.VAL_LOSS_SOLVED, start
    rates = [10 ** (k / 3) for k in range(-15, 4)]  # 1e-5 .. 10, the bounds
    grid = list(
        itertools.product(
            rates, [1, 2, 4, 8, 16, 32, 64], [0, 1e-3, 1e-2, 0.1, 1], hs.SCHEDULE_CHOICES
        )
    )
    solved = [c for c in grid if hs.train_b_loss(*c) <= hs.VAL_LOSS_SOLVED]
    assert 0.03 <= len(solved) / len(grid) <= 0.15  # measured: 116 of 1995
    assert {c[3] for c in solved} == set(hs.SCHEDULE_CHOICES)
    assert max(c[2] for c in solved) < 1  # heavy weight decay never solves


def test_pipeline_has_an_intermediate_node_and_hides_the_events() -> None:
    task = FAMILIES["pipeline"].make(0, None)
    ((events, text),) = task.run().feedback
    assert text == "precision 0.45, recall 1.00, F1 0.62; found 11 events, expected 5"
    window, threshold = task.params
    (smoothed,) = [p for p in events.parents if p is not threshold]
    assert events.name.startswith("detect") and smoothed.name.startswith("smooth")
    assert window in smoothed.parents and window in ancestors(events)
    assert len(smoothed.value) == len(hs.PIPE_SIGNAL) and check_graph(events) is not None
    assert not any(str(pos) in text for pos, _ in hs.PIPE_EVENTS)


def test_pipeline_solves_only_in_a_band() -> None:
    solved = [
        (w, t / 20)
        for w in range(1, 32)
        for t in range(41)
        if hs.events_judge(hs.detect_events(hs.smooth_signal(hs.PIPE_SIGNAL, w), t / 20))[1] == 1
    ]
    assert 0.02 <= len(solved) / (31 * 41) <= 0.06  # measured: 46 of 1271
    assert {w for w, _ in solved} == set(range(5, 18))
    assert min(t for _, t in solved) == 0.25 and max(t for _, t in solved) == 0.5
    for w, t in heldout_tasks.PIPELINE_STARTS:
        assert hs.events_judge(hs.detect_events(hs.smooth_signal(hs.PIPE_SIGNAL, w), t))[1] < 0.7


@pytest.mark.parametrize("seed", range(3))
def test_code_b_bug_fails_some_tests_and_a_fix_passes_all(seed: int) -> None:
    name = hs.CODE_B_ORDER[seed]
    buggy = code_tasks.compile_source(name, FAMILIES["code_b"].make(seed, None).params[0].value)
    assert 0 < heldout_tasks.passed_fraction_b(name, buggy) < 1
    fixed = SOLUTIONS["code_b"][seed][name]
    fn = code_tasks.compile_source(name, fixed, vars(heldout_tasks))
    assert heldout_tasks.passed_fraction_b(name, fn) == 1.0
    assert FAMILIES["code_b"].make(seed, None).evaluate({name: "x = 1\n"}) == 0.0


def test_code_b_resets_to_the_bug_and_reports_each_case() -> None:
    task = FAMILIES["code_b"].make(1, None)
    task.params[0].set_value(SOLUTIONS["code_b"][1]["chunk"])
    task = FAMILIES["code_b"].make(1, None)
    assert task.params[0].value == hs.CHUNK_BUGGY
    texts = [t for _, t in task.run().feedback]
    assert texts[1] == "chunk([1, 2, 3, 4, 5], 2) returned [[1, 2], [3, 4]], expected " + (
        "[[1, 2], [3, 4], [5]]"
    )
    assert texts[0].endswith(": correct") and len(texts) == 4


def test_roman_bug_raises_become_feedback() -> None:
    task = FAMILIES["code_b"].make(0, None)
    task.params[0].set_value(hs.ROMAN_BUGGY.replace("values[c]", "values[c.lower()]"))
    episode = task.run()
    assert episode.score == 0 and "raised KeyError" in episode.feedback[0][1]


def test_the_judges_doctests_pass() -> None:
    result = doctest.testmod(hs)
    assert result.attempted >= 8 and result.failed == 0
