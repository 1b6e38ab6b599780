"""The quality suite's instrument: its task families and its books (offline, scripted replies).

The bookkeeping is checked against a stand-in optimizer whose steps are known, so a miscount of
solved runs, steps, calls or silent no-ops fails here whatever the real optimizers do.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any, cast

import pytest

import tracegraph as tg
from benchmarks.quality import runner, specs
from benchmarks.quality.extract_tasks import (
    HANDWRITTEN_PARSER,
    parse_reply,
    read_contact,
    read_invoice,
)
from benchmarks.quality.families import FAMILIES
from benchmarks.quality.runner import run_task, silent, summarize
from optimizers import Rejection, ScriptedClient, StepReport
from optimizers.llm.types import LLMClient


class StandIn:
    """An optimizer whose step ``i`` makes one model call and sets ``x`` to ``plan[i]``.

    ``None`` in the plan changes nothing and says nothing; ``"reject"`` changes nothing and
    reports a rejection.
    """

    def __init__(self, params: list[tg.Node], llm: LLMClient, plan: list[Any]) -> None:
        self.x, self.llm, self.plan, self.i = params[0], llm, plan, 0
        self.scores: list[float] = []

    def zero_feedback(self) -> None:
        self.x.zero_feedback()

    def step(self) -> StepReport:
        report = StepReport(step=self.i + 1)
        self.llm.complete([{"role": "user", "content": "next x?"}])
        value = self.plan[self.i]
        self.i += 1
        if value == "crash":
            raise RuntimeError("the request exceeds the context size")
        if value == "reject":
            report.rejected.append(Rejection("x", -1.0, ["below the bounds"]))
        elif value is not None and value != self.x.value:  # as the optimizers: equal is no change
            old = self.x.value
            self.x.set_value(value)
            report.applied = {"x": (old, value)}
        return report

    def record_score(self, score: float) -> None:
        self.scores.append(score)


def test_run_books_steps_calls_and_silent_noops(monkeypatch: pytest.MonkeyPatch) -> None:
    plan = [2.0, None, "reject", 0.371]
    made: list[StandIn] = []

    def factory(task: Any, llm: LLMClient, gate: bool) -> StandIn:
        made.append(StandIn(task.params, llm, plan))
        return made[-1]

    monkeypatch.setitem(runner.OPTIMIZERS, "stand_in", factory)
    llm = ScriptedClient(["a", "b", "c", "d", "e"])
    task = FAMILIES["number"].make(0, None)  # target 0.37 from 5.0
    record = run_task(task, "stand_in", llm, steps=12)

    assert record["solved"] and record["steps"] == 4  # stops once solved, not at 12
    assert record["calls"] == record["optimizer_calls"] == 4 and record["student_calls"] == 0
    assert record["noop_steps"] == 2 and record["silent_noops"] == 1
    assert [r["silent_noop"] for r in record["rows"]] == [False, True, False, False]
    assert "below the bounds" in record["rows"][2]["reason"]
    # the start and every step's score are recorded
    assert made[0].scores == [record["score_before"]] + [r["score"] for r in record["rows"]]
    assert record["score_before"] < record["rows"][0]["score"] < 0 == record["score_after"]


def test_unsolved_run_uses_the_whole_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        runner.OPTIMIZERS, "stand_in", lambda t, llm, gate: StandIn(t.params, llm, [9.0] * 3)
    )
    record = run_task(FAMILIES["number"].make(0, None), "stand_in", ScriptedClient(["r"] * 3), 3)
    assert not record["solved"] and record["steps"] == 3 and record["noop_steps"] == 2
    assert record["silent_noops"] == 2  # set to the same value: changed nothing, said nothing


def test_a_crashing_step_ends_the_run_and_is_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        runner.OPTIMIZERS,
        "stand_in",
        lambda t, llm, gate: StandIn(t.params, llm, [2.0, "crash", 1.0]),
    )
    record = run_task(FAMILIES["number"].make(0, None), "stand_in", ScriptedClient(["r"] * 3), 3)
    assert not record["solved"] and record["steps"] == 1 and record["calls"] == 2
    assert record["crashed"] == "step 2 raised RuntimeError: the request exceeds the context size"
    assert summarize([record])["number/stand_in"]["crashed"] == 1


def test_summary_medians_count_solved_runs_only() -> None:
    base = {"family": "f", "optimizer": "o", "noop_steps": 1, "silent_noops": 0}
    runs = [
        {**base, "solved": True, "steps": 2, "calls": 4, "optimizer_calls": 2, "tokens": 10,
         "wall_seconds": 5.0},
        {**base, "solved": True, "steps": 4, "calls": 8, "optimizer_calls": 4, "tokens": 30,
         "wall_seconds": 9.0},
        {**base, "solved": False, "steps": 12, "calls": 99, "optimizer_calls": 12, "tokens": 999,
         "wall_seconds": 99.0, "silent_noops": 3},
    ]  # fmt: skip
    row = summarize(runs)["f/o"]
    assert (row["runs"], row["solved"], row["median_steps_solved"]) == (3, 2, 3)
    assert row["median_calls_solved"] == 6 and row["median_tokens_solved"] == 20
    assert (row["steps"], row["noop_steps"], row["silent_noops"]) == (18, 3, 3)


def test_silent_means_no_change_and_no_reason() -> None:
    assert silent(StepReport(step=1))
    assert not silent(StepReport(step=1, notes=["kept the current values: they scored best"]))
    assert not silent(StepReport(step=1, error="the model timed out"))
    assert not silent(StepReport(step=1, applied={"x": (1, 2)}))


SOLUTIONS: dict[str, list[dict[str, Any]]] = {
    "number": [{"x": t} for t, _ in specs.NUMBER_CASES],
    "training": [{"learning_rate": 0.3, "epochs": 20, "optimizer": "sgd", "normalize": "standard"}]
    * 3,
    "retrieval": [{"top_k": 4, "threshold": 0.75}] * 3,
    "code": [
        {"slugify": 'def slugify(title):\n    return "-".join("".join(c for c in title.lower()'
         ' if c.isalnum() or c == " ").split())\n'},
        {"is_leap_year": "def is_leap_year(year):\n    return year % 4 == 0 and (year % 100 != 0"
         " or year % 400 == 0)\n"},
        {"invert_mapping": "def invert_mapping(mapping):\n    out = {}\n"
         "    for k in sorted(mapping):\n        out.setdefault(mapping[k], []).append(k)\n"
         "    return out\n"},
    ],
    "code_more": [
        {"parse_duration": "def parse_duration(text):\n    h, _, m = text.rpartition('h')\n"
         "    return int(h or 0) * 60 + int(m.rstrip('m') or 0)\n"},
        {"dedupe": "def dedupe(items):\n    return list(dict.fromkeys(items))\n"},
        {"word_count": "def word_count(text):\n    counts = {}\n"
         "    for w in text.lower().split():\n        w = w.strip('.,!?')\n"
         "        counts[w] = counts.get(w, 0) + 1\n    return counts\n"},
    ],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(SOLUTIONS))
def test_each_seed_starts_unsolved_and_its_target_is_reachable(name: str) -> None:
    for seed, solution in enumerate(SOLUTIONS[name]):
        task = FAMILIES[name].make(seed, None)
        episode = task.run()
        assert not episode.solved and episode.feedback, task.name
        start = {p.name: p.value for p in task.params}
        assert task.evaluate(start) == episode.score
        assert task.evaluate(solution) > episode.score
        for p in task.params:
            p.set_value(solution[p.name])
        assert task.run().solved, (task.name, solution)


def test_prompt_family_scores_exact_labels_and_feeds_back_misses() -> None:
    student = ScriptedClient(["POS", "Positive", "POS", "POS", "NEG", "NEG", "negative", "NEG"])
    task = FAMILIES["labels"].make(0, student)
    episode = task.run()
    assert episode.score == 6 / 8 and not episode.solved
    assert [t for _, t in episode.feedback] == [
        "expected exactly 'POS' (nothing else), got 'Positive'",
        "expected exactly 'NEG' (nothing else), got 'negative'",
    ]
    assert task.evaluate({"instruction": task.params[0].value}) == 6 / 8  # memoised: no calls
    assert student.usage.total.calls == 8


def test_extract_family_needs_a_format_and_a_parser() -> None:
    fenced = ["```json\n" + json.dumps(want) + "\n```" for _, want in specs.EXTRACT_CASES]
    fenced[3] = '```json\n{"name": "Victor Stein", "date": "05/05/2021"}\n```'
    task = FAMILIES["extract"].make(0, ScriptedClient(fenced))
    episode = task.run()
    assert episode.score == 0 and len(episode.feedback) == 4  # json.loads of fenced JSON fails
    assert "parse_reply raised JSONDecodeError" in episode.feedback[0][1]
    handwritten = HANDWRITTEN_PARSER["extract"]
    values = {"instruction": task.params[0].value, "parse_reply": handwritten}
    assert task.evaluate(values) == 3 / 4
    tg.code_of(parse_reply).set_value(handwritten)
    episode = task.run()
    assert episode.score == 3 / 4
    assert "does not have the format YYYY-MM-DD" in episode.feedback[0][1]


def test_invoice_family_checks_keys_number_and_currency() -> None:
    replies = [json.dumps(want) for _, want in specs.INVOICE_CASES]
    replies[1] = '{"vendor": "Blue Harbor Ltd", "total": "89.99", "currency": "USD"}'
    replies[2] = '{"vendor": "Kessler Optics", "total": 3400, "currency": "Swiss francs"}'
    task = FAMILIES["invoice"].make(1, ScriptedClient(replies))
    assert task.params[1].name == "read_invoice" and "json.loads(reply)" in task.params[1].value
    episode = task.run()
    assert episode.score == 2 / 4 and not episode.solved
    assert [t for _, t in episode.feedback] == [
        "total '89.99' is not a number (expected 89.99)",
        "currency 'Swiss francs' is not a 3-letter code (expected 'CHF')",
    ]
    values = {"instruction": task.params[0].value, "read_invoice": HANDWRITTEN_PARSER["invoice"]}
    assert task.evaluate(values) == 2 / 4  # the fence-stripping parser reads plain JSON too
    assert read_invoice.__name__ == "read_invoice"


def test_contact_family_wants_lowercase_email_and_digits_only_phone() -> None:
    cases = specs.CONTACT_CASES
    replies = {text: json.dumps(want) for text, want in cases}
    replies[cases[0][0]] = json.dumps({**cases[0][1], "email": "Ana.Silva@Example.com"})
    replies[cases[3][0]] = json.dumps({**cases[3][1], "phone": "+33 6 12 34 56 78"})
    task = FAMILIES["contact"].make(2, cast(LLMClient, ByInput(replies)))
    assert [p.name for p in task.params] == ["instruction", "read_contact"]
    episode = task.run()  # the starting parser, json.loads, reads the plain JSON
    assert episode.score == 2 / 4 and not episode.solved
    assert [t for _, t in episode.feedback] == [
        "email 'Ana.Silva@Example.com' is not in lowercase (expected 'ana.silva@example.com')",
        "phone '+33 6 12 34 56 78' is not digits only (expected '33612345678')",
    ]
    tg.code_of(read_contact).set_value(HANDWRITTEN_PARSER["contact"])  # it normalizes both
    assert task.run().score == 1.0


class ByInput:
    """A task model that answers each input as given (whatever order threads ask in)."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers, self.calls = answers, 0

    def complete(self, messages: list[dict[str, str]], **_: Any) -> Any:
        self.calls += 1
        return SimpleNamespace(text=self.answers[messages[-1]["content"]])


def test_topics_family_feeds_back_the_exact_label_of_each_miss() -> None:
    from benchmarks.quality.prompt_data import TOPIC_TRAIN

    answers = {text: want for text, want in TOPIC_TRAIN}
    answers[TOPIC_TRAIN[1][0]] = "Billing."
    for text, _ in TOPIC_TRAIN[6:]:
        answers[text] = "TECHNICAL"
    student = ByInput(answers)
    task = FAMILIES["topics"].make(1, cast(LLMClient, student))
    assert task.params[0].value == "Route the support ticket."
    episode = task.run()
    assert episode.score == 5 / 9 and not episode.solved and student.calls == 9
    said = [t for _, t in episode.feedback]
    assert said[0] == "expected exactly 'BILLING' (nothing else), got 'Billing.'"
    assert said[1:] == ["expected exactly 'SHIPPING' (nothing else), got 'TECHNICAL'"] * 3


@pytest.mark.local_model
def test_smoke_run_on_the_local_model(tmp_path: Any) -> None:
    from benchmarks.quality.__main__ import main

    out = tmp_path / "smoke.json"
    assert main(["--smoke", "--steps", "1", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    (record,) = doc["records"]
    assert record["steps"] == 1 and record["optimizer_calls"] >= 1 and doc["conditions"]["cores"]


def test_demo_promise_counts_solved_runs_and_calls(capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks import demo_promise

    def reply(x: float) -> str:
        return json.dumps({"reasoning": "", "updates": {"x": x}})

    # one call per step: 10, then 14 solves (3 * 14 + 5 = 47); the second run never gets
    # past x = 10 in its 10 steps (each repeat of the current value is asked again twice)
    llm = ScriptedClient([reply(10), reply(14)] + [reply(10)] * 28)
    assert demo_promise.main(["--seeds", "2"], llm=llm) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["solved"], doc["runs"]) == (1, 2) and doc["promise_kept"] is False
    assert [r["calls"] for r in doc["details"]] == [2, 28]
    assert [r["steps"] for r in doc["details"]] == [2, 10]
    assert any(line.startswith("start:  x = 0   output 5") for line in doc["details"][0]["story"])


def test_command_line_writes_results_with_conditions(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import benchmarks.optimize
    from benchmarks.quality.__main__ import main

    def reply(x: float) -> str:
        return json.dumps({"reasoning": "", "updates": {"x": x}})

    llm = ScriptedClient([reply(2.0), reply(1.0)])
    monkeypatch.setattr(benchmarks.optimize, "endpoint", lambda args: (llm, {}, None))
    out = tmp_path / "r.json"
    assert main(["--family", "number", "--seeds", "1", "--steps", "2", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    (record,) = doc["records"]
    assert record["steps"] == 2 and record["calls"] == 2 and not record["solved"]
    assert doc["summary"]["number/graph"]["steps"] == 2 and "in_flight" not in doc
    assert doc["conditions"]["cores"] and doc["conditions"]["model"] == "scripted"


def test_unseen_extraction_sentences_are_scored_with_the_final_values() -> None:
    from benchmarks.quality.unseen_extract import UNSEEN, unseen_accuracy

    first = json.dumps(UNSEEN["invoice"][0][1])
    llm = ScriptedClient([first] * 4)  # every sentence gets the first one's answer
    values = {"instruction": "Read it.", "read_invoice": HANDWRITTEN_PARSER["invoice"]}
    assert unseen_accuracy(llm, "invoice", values) == 1 / 4
    assert all(t not in dict(specs.INVOICE_CASES) for t, _ in UNSEEN["invoice"])
