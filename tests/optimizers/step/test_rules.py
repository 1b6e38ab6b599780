"""Rule edits of text parameters (optimizers/step/rules.py) inside GraphOptimizer steps."""

from __future__ import annotations

import json
from typing import Any

import pytest

import tracegraph as tg
from optimizers import GraphOptimizer, ScriptedClient
from optimizers.step.rules import EXAMPLE, examples_for, read_rule

REVIEWS = [("Great value.", "POS"), ("It broke.", "NEG")]


def labeller(instruction: str, text: str) -> str:
    """A stand-in task model: exact labels only when the instruction names them."""
    good = "POS" in instruction and "NEG" in instruction
    positive = "Great" in text
    if good:
        return "POS" if positive else "NEG"
    return "Positive" if positive else "Negative"


@tg.op
def answer(instruction: str, text: str) -> str:
    """Ask the task model: the instruction is its system prompt, the text its input."""
    return labeller(instruction, text)


def accuracy(values: dict[str, Any]) -> float:
    return sum(labeller(values["instruction"], t) == want for t, want in REVIEWS) / len(REVIEWS)


def run(instruction: tg.Node) -> float:
    right = 0
    for text, want in REVIEWS:
        got = answer(instruction, text)
        right += got.value == want
        if got.value != want:
            got.backward(f"expected exactly {want!r}, got {got.value!r}")
    return right / len(REVIEWS)


REWRITE = json.dumps({"reasoning": "", "updates": {"instruction": "Tell the sentiment."}})
RULE = json.dumps({"problem": "wrong labels", "add": "Reply with exactly POS or NEG."})


def test_the_examples_are_the_calls_that_read_the_text_with_their_feedback() -> None:
    instruction = tg.param("Classify the review.", name="instruction")
    run(instruction)
    from tracegraph.graph import relevant_subgraph

    examples = examples_for(instruction, relevant_subgraph([instruction]))
    assert [(e.op, e.inputs, e.returned) for e in examples] == [
        ("answer", "text='Great value.'", "'Positive'"),
        ("answer", "text='It broke.'", "'Negative'"),
    ]
    assert examples[0].feedback == "expected exactly 'POS', got 'Positive'"


def test_with_a_score_a_rewrite_that_does_not_help_is_followed_by_a_rule_edit() -> None:
    instruction = tg.param("Classify the review.", name="instruction")
    llm = ScriptedClient([REWRITE, RULE])  # the rewrite ties (0 of 2): the rule is asked
    opt = GraphOptimizer([instruction], llm=llm, evaluate=accuracy, max_reasks=1)
    run(instruction)
    report = opt.step()
    assert instruction.value == "Classify the review. Reply with exactly POS or NEG."
    assert run(instruction) == 1.0
    rule_question = llm.requests[1]["messages"][1]["content"]
    assert "text='It broke.'" in rule_question and "returned: 'Negative'" in rule_question
    assert "expected exactly 'NEG'" in rule_question
    assert any("rule edit" in n for n in report.notes)


def test_without_a_score_the_rule_edit_comes_once_steps_stop_improving() -> None:
    instruction = tg.param("Classify the review.", name="instruction")
    other = json.dumps({"reasoning": "", "updates": {"instruction": "Judge the review."}})
    llm = ScriptedClient([REWRITE, other, RULE])
    opt = GraphOptimizer([instruction], llm=llm)
    opt.record_score(run(instruction))
    opt.step()  # not stuck yet: the rewrite is applied, no rule question
    assert instruction.value == "Tell the sentiment." and len(llm.requests) == 1
    opt.zero_feedback()
    opt.record_score(run(instruction))  # no better
    opt.step()
    # the rule is added to the text its examples came from; it replaces the rewrite
    assert instruction.value == "Tell the sentiment. Reply with exactly POS or NEG."


def test_a_rule_that_does_not_fit_replaces_the_text_and_a_known_one_is_skipped() -> None:
    p = tg.param("x" * 55, name="p", max_length=60)
    assert read_rule(p, {"add": "Say POS."}, 60) == ("Say POS.", "")
    # the example reply a parser was checked to read stays when the rest gives way
    shown = EXAMPLE + '{"name": "Ann"}'
    r = tg.param("Find the person named in the text. " + shown, name="r", max_length=140)
    assert read_rule(r, {"add": "Use the full name."}, 140) == (f"Use the full name. {shown}", "")
    long = ("Use the full name. " * 3).strip()  # with the example: too long, so alone
    assert read_rule(r, {"add": long}, 140)[0] == long
    q = tg.param("Say POS.", name="q")
    assert read_rule(q, {"add": "Say POS."}, None)[0] is None
    assert read_rule(q, {"problem": "?"}, None) == (None, "the model named no sentence to add")


@tg.trainable
def shout(word: str) -> str:
    """The word in capitals with one exclamation mark."""
    return word + "!"


CASES = [("hi", "HI!"), ("ok", "OK!")]


def passed(values: dict[str, Any]) -> float:
    namespace: dict[str, Any] = {}
    exec(values["shout"], namespace)  # the test's own stand-in evaluation
    return sum(namespace["shout"](w) == want for w, want in CASES) / len(CASES)


def test_with_a_score_code_that_does_not_help_is_followed_by_a_repair() -> None:
    code = tg.code_of(shout)
    code.set_value('def shout(word):\n    return word + "!"\n')
    bad = json.dumps({"reasoning": "", "updates": {"shout": "def shout(word):\n    return word\n"}})
    fixed = "def shout(word):\n    return word.upper() + '!'\n"
    repair = f"It does not capitalise the word.\n```python\n{fixed}```\nDone."
    llm = ScriptedClient([bad, repair])
    opt = GraphOptimizer([code], llm=llm, evaluate=passed, max_reasks=0)
    for word, want in CASES:
        out = shout(word)
        out.backward(f"expected {want!r}")
    report = opt.step()
    assert code.value == fixed and shout("yo").value == "YO!"
    question = llm.requests[1]["messages"][0]["content"]
    assert "shout(word='hi') returned 'hi!'; feedback: expected 'HI!'" in question
    assert "repair, the problem: It does not capitalise the word." in " ".join(report.notes)


def test_outputs_with_a_perfect_score_are_not_examples() -> None:
    from tracegraph.graph import relevant_subgraph

    instruction = tg.param("Classify.", name="instruction")
    answer(instruction, "Great value.").backward(tg.Feedback("correct", 1.0))
    answer(instruction, "It broke.").backward(tg.Feedback("expected 'NEG'", 0.0))
    examples = examples_for(instruction, relevant_subgraph([instruction]))
    assert [e.inputs for e in examples] == ["text='It broke.'"]


@tg.trainable
def parse(reply: str) -> str:
    """The label in the reply."""
    return reply


@tg.op
def ask_model(instruction: str, text: str) -> str:
    """Ask the task model."""
    return "```POS```" if "POS" in instruction else "Positive"


def test_a_rule_and_a_repair_that_only_help_together_are_scored_together() -> None:
    instruction = tg.param("Classify.", name="instruction")
    code = tg.code_of(parse)
    code.set_value("def parse(reply):\n    return reply\n")
    fixed = "def parse(reply):\n    return reply.strip('`')\n"

    def score(v: dict[str, Any]) -> float:
        namespace: dict[str, Any] = {}
        exec(v["parse"], namespace)
        reply = "```POS```" if "POS" in v["instruction"] else "Positive"
        return float(namespace["parse"](reply) == "POS")

    no_change = json.dumps({"reasoning": "", "updates": {}})
    target = "```\n```POS```\n```"  # the reply parse needs: shown as an example, ties alone
    repair = f"Strip the fences.\n```python\n{fixed}```"
    llm = ScriptedClient([no_change, target, RULE, repair])
    opt = GraphOptimizer([instruction, code], llm=llm, evaluate=score, max_reasks=0)
    parse(ask_model(instruction, "Great value.")).backward("expected exactly 'POS'")
    report = opt.step()
    assert code.value == fixed and "POS" in instruction.value, report.notes
    assert "like:" not in instruction.value  # the edits together won


@tg.trainable
def read_json(reply: str) -> Any:
    """The reply as data."""
    return json.loads(reply)


def json_model(instruction: str) -> str:
    """A stand-in task model: JSON only when the instruction shows it."""
    return '{"name": "Ann"}' if 'like: {"name": "Ann"}' in instruction else "The name is Ann."


@tg.op
def extractor(instruction: str, text: str) -> str:
    """Ask the task model: the instruction is its system prompt, the text its input."""
    return json_model(instruction)


def parser_raised(instruction: tg.Node, feedback: str) -> None:
    """Run extractor -> read_json; the parser must raise, and its exception gets ``feedback``."""
    try:
        read_json(extractor(instruction, "Ann came."))
    except tg.OpError as exc:
        assert exc.node is not None
        exc.node.backward(feedback)
    else:
        raise AssertionError("read_json was expected to raise")


def test_the_reply_the_code_downstream_needs_is_shown_as_an_example() -> None:
    instruction = tg.param("Find the name.", name="instruction")
    code = tg.code_of(read_json)
    start = code.value

    def score(v: dict[str, Any]) -> float:
        namespace: dict[str, Any] = {"json": json}
        exec(v["read_json"], namespace)
        reply = json_model(v["instruction"])
        try:
            return float(namespace["read_json"](reply) == {"name": "Ann"})
        except ValueError:
            return 0.0

    no_change = json.dumps({"reasoning": "", "updates": {}})
    rule = json.dumps({"problem": "not a dict", "add": "The program should return a dict."})
    swallow = "def read_json(reply):\n    return {}\n"  # scores no better
    target = "It needs:\n```python\n{'name': 'Ann'}\n```"  # as the feedback prints it
    llm = ScriptedClient([no_change, target, rule, f"Fix.\n```python\n{swallow}```"])
    opt = GraphOptimizer([instruction, code], llm=llm, evaluate=score, max_reasks=0)
    parser_raised(instruction, "read_json raised JSONDecodeError; expected {'name': 'Ann'}")
    report = opt.step()
    assert instruction.value.startswith("Find the name. Reply in exactly this form")
    assert instruction.value.endswith('like: {"name": "Ann"}'), report.notes
    assert code.value == start
    asked = llm.requests[1]["messages"][-1]["content"]  # the question shows the parser's code
    assert "json.loads(reply)" in asked and "read by read_json" in asked


def test_without_a_score_the_example_reply_is_applied_alone_when_stuck() -> None:
    instruction = tg.param("Find the name.", name="instruction")
    code = tg.code_of(read_json)
    start = code.value

    def feedback() -> None:
        parser_raised(instruction, "read_json raised JSONDecodeError; expected {'name': 'Ann'}")

    more = json.dumps({"reasoning": "", "updates": {"instruction": "Find the full name."}})
    target = "It needs:\n```python\n{'name': 'Ann'}\n```"
    llm = ScriptedClient([more, "no repair", more, target])
    opt = GraphOptimizer([instruction, code], llm=llm, max_reasks=0)
    opt.record_score(0.0)
    feedback()
    opt.step()  # the model's proposal (the parser's repair question got no code)
    assert instruction.value == "Find the full name."
    opt.record_score(0.0)  # no better: stuck
    opt.zero_feedback()
    feedback()
    report = opt.step()
    assert (
        instruction.value == "Find the full name. Reply in exactly this form and nothing "
        'else (no code fences, no other text), like: {"name": "Ann"}'
    ), report.notes
    assert code.value == start and len(llm.requests) == 4  # no rule question, no repair
    assert any("applied alone, in place of this step's proposal" in n for n in report.notes)


@pytest.mark.parametrize(
    ("parser", "shown"),
    [
        # json.loads: the model's prose does not parse; the expected dict as JSON does
        ("def read_json(reply):\n    return json.loads(reply)\n", '{"name": "Ann"}'),
        # a parser that reads "name: X": the model's reply is the one that works
        (
            "def read_json(reply):\n    return {'name': reply.split(': ')[1]}\n",
            "name: Ann",
        ),
        # nothing turns into the expected dict: the model's reply, said to be unchecked
        ("def read_json(reply):\n    return json.loads(reply) and {}\n", "Ann came on Monday."),
    ],
)
def test_the_example_reply_is_one_the_parser_is_run_on_and_turns_into_the_expected(
    parser: str, shown: str
) -> None:
    instruction = tg.param("Find the name.", name="instruction")
    code = tg.code_of(read_json)
    code.set_value(parser)
    prose = "name: Ann" if "split" in parser else "Ann came on Monday."
    more = json.dumps({"reasoning": "", "updates": {"instruction": "Find the full name."}})
    llm = ScriptedClient([more, "no repair", more, prose])
    opt = GraphOptimizer([instruction, code], llm=llm, max_reasks=0)
    for _ in range(2):  # the second step is stuck: the score did not improve
        opt.record_score(0.0)
        opt.zero_feedback()
        parser_raised(instruction, "read_json raised an error; expected {'name': 'Ann'}")
        report = opt.step()
    assert instruction.value.endswith(f"like: {shown}"), report.notes
    checked = [n for n in report.notes if "an example reply" in n]
    assert ("(unchecked" in checked[0]) == ("and {}" in parser), checked


def test_a_rule_that_contradicts_the_text_is_tried_in_its_place() -> None:
    instruction = tg.param("Explain every step.", name="instruction")

    def score(v: dict[str, Any]) -> float:  # "explain" wins over any rule added to it
        text = v["instruction"]
        return float("POS" in text and "Explain" not in text)

    llm = ScriptedClient([json.dumps({"reasoning": "", "updates": {}}), RULE])
    opt = GraphOptimizer([instruction], llm=llm, evaluate=score, max_reasks=0)
    run(instruction)
    opt.step()
    assert instruction.value == "Reply with exactly POS or NEG."


def test_a_tie_that_changes_code_gives_way_to_a_tie_that_does_not() -> None:
    instruction = tg.param("Classify.", name="instruction")
    code = tg.code_of(parse)
    start = code.value
    proposal = {"reasoning": "", "updates": {"parse": "def parse(reply):\n    return 'x'\n"}}
    repair = "Fix.\n```python\ndef parse(reply):\n    return reply.upper()\n```"
    llm = ScriptedClient([json.dumps(proposal), "POS", RULE, repair])
    opt = GraphOptimizer([instruction, code], llm=llm, evaluate=lambda v: 0.0, max_reasks=0)
    parse(ask_model(instruction, "Great value.")).backward("expected exactly 'POS'")
    report = opt.step()
    assert code.value == start, report.notes  # every candidate tied at 0
    assert instruction.value.endswith("like: POS")  # the first tie that leaves the code alone


def test_the_repair_question_says_what_differs_from_the_expected_value() -> None:
    code = tg.code_of(shout)
    code.set_value('def shout(word):\n    return word + "!"\n')
    bad = json.dumps({"reasoning": "", "updates": {"shout": "def shout(word):\n    return word\n"}})
    fixed = "def shout(word):\n    return word.upper() + '!'\n"
    llm = ScriptedClient([bad, f"Capitals.\n```python\n{fixed}```"])
    opt = GraphOptimizer([code], llm=llm, evaluate=passed, max_reasks=0)
    shout("hi").backward("shout('hi') returned 'hi!', expected 'HI!'")
    opt.step()
    question = llm.requests[1]["messages"][0]["content"]
    assert "\n  what differs: the same letters in another case\n" in question + "\n"


def test_with_a_score_more_repairs_are_sampled_until_one_scores_better() -> None:
    code = tg.code_of(shout)
    code.set_value('def shout(word):\n    return word + "!"\n')
    bad = json.dumps({"reasoning": "", "updates": {"shout": "def shout(word):\n    return word\n"}})
    wrong = "Two marks.\n```python\ndef shout(word):\n    return word + '!!'\n```"
    fixed = "def shout(word):\n    return word.upper() + '!'\n"
    llm = ScriptedClient([bad, wrong, f"Capitals.\n```python\n{fixed}```", "never asked"])
    opt = GraphOptimizer([code], llm=llm, evaluate=passed, max_reasks=0)
    for word, want in CASES:
        shout(word).backward(f"expected {want!r}")
    report = opt.step()
    assert code.value == fixed, report.notes
    assert llm.remaining == 1  # the third sample was not needed
    assert "shout: repair 2 of 3, the problem: Capitals." in report.notes
    first, second = (llm.requests[i]["temperature"] for i in (1, 2))
    assert first != second  # sampled hotter: the same request at the same seed repeats itself


TICKETS = [
    ("I was charged twice.", "BILLING"),
    ("Refund my order.", "BILLING"),
    ("The app crashes.", "TECHNICAL"),
    ("Error 500 at login.", "TECHNICAL"),
    ("My parcel is late.", "SHIPPING"),
    ("The box never came.", "SHIPPING"),
]


def router(instruction: str, text: str) -> str:
    """A stand-in task model: the exact label when the instruction names every label."""
    want = dict(TICKETS)[text]
    if all(label in instruction for label in ("BILLING", "TECHNICAL", "SHIPPING")):
        return want
    return f"This is about {want.lower()}."


@tg.op
def route(instruction: str, text: str) -> str:
    """Ask the task model which team handles the ticket."""
    return router(instruction, text)


def route_all(instruction: tg.Node, say: str = "expected exactly {want!r}, got {got!r}") -> float:
    right = 0
    for text, want in TICKETS:
        got = route(instruction, text)
        right += got.value == want
        if got.value != want:
            got.backward(say.format(want=want, got=got.value))
    return right / len(TICKETS)


def test_labels_the_feedback_expects_are_named_in_a_rule_without_a_model_call() -> None:
    from tracegraph.graph import relevant_subgraph

    instruction = tg.param("Route the ticket.", name="instruction", max_length=300)
    route_all(instruction)
    sub = relevant_subgraph([instruction])
    from optimizers.step.rules import answer_set

    assert answer_set(instruction, sub) == (["BILLING", "TECHNICAL", "SHIPPING"], True)
    # the model's proposal does not name the labels: the rule is applied in its place
    llm = ScriptedClient([REWRITE])
    opt = GraphOptimizer([instruction], llm=llm)
    opt.record_score(0.0)
    report = opt.step()
    assert instruction.value == (
        "Route the ticket. Answer with exactly one of these and nothing else: "
        "BILLING, TECHNICAL, SHIPPING."
    )
    assert len(llm.requests) == 1 and any("naming the answers" in n for n in report.notes)
    opt.zero_feedback()
    assert route_all(instruction) == 1.0


def test_other_wordings_of_the_expected_label_are_read_too() -> None:
    from optimizers.step.rules import answer_set
    from tracegraph.graph import relevant_subgraph

    for say in ("wrong: the correct label is {want!r}", "Expected: {want}"):
        instruction = tg.param("Route the ticket.", name="instruction")
        route_all(instruction, say)
        labels, off = answer_set(instruction, relevant_subgraph([instruction]))
        assert (labels, off) == (["BILLING", "TECHNICAL", "SHIPPING"], True), say


def test_answers_that_are_all_different_or_numbers_or_already_labels_are_no_rule() -> None:
    from optimizers.step.rules import answer_set, label_rule
    from tracegraph.graph import relevant_subgraph

    def subgraph(pairs: list[tuple[str, str]]) -> tuple[tg.Node, Any]:
        p = tg.param("Answer.", name="p")
        for got, want in pairs:
            node = echo(p, got)
            node.backward(f"expected exactly {want!r}, got {got!r}")
        return p, relevant_subgraph([p])

    p, sub = subgraph([("x", "85"), ("y", "93"), ("z", "93"), ("w", "71")])
    assert answer_set(p, sub) == ([], False)  # numbers (sums), however often one repeats
    p, sub = subgraph([("a", "cat"), ("b", "dog"), ("c", "cow")])
    assert answer_set(p, sub) == ([], False)  # every answer differs: no set of labels
    p, sub = subgraph([("NEG", "POS"), ("POS", "NEG"), ("NEG", "POS"), ("POS", "NEG")])
    assert answer_set(p, sub) == (["POS", "NEG"], False)  # labels already: the mapping is off
    q = tg.param("Say POS or NEG.", name="q")
    assert label_rule(q, ["POS", "NEG"], None)[0] is None
    assert label_rule(q, ["very good", "bad"], None)[0] == (
        "Say POS or NEG. Answer with exactly one of these and nothing else: 'very good', 'bad'."
    )


@tg.op
def echo(prompt: str, reply: str) -> str:
    """A stand-in task model that returns the given reply."""
    return reply


def test_a_sentence_about_the_text_instead_of_for_it_is_not_added() -> None:
    p = tg.param("Route the ticket.", name="instruction")
    add = "The instruction should explicitly state that billing goes to the billing team."
    value, said = read_rule(p, {"add": add}, None)
    assert value is None and "describes the text" in said
    assert read_rule(p, {"add": "Billing questions are BILLING."}, None)[0] is not None


@tg.op
def route_one(instruction: str, text: str) -> str:
    """A stand-in task model that knows the labels but sends every ticket to TECHNICAL,
    unless the instruction shows the ticket with its answer."""
    for line in instruction.split("Example: ")[1:]:
        if repr(text) in line:
            return line.split("-> ")[1].rstrip(". ")
    return "TECHNICAL"


def test_when_stuck_with_the_right_labels_on_wrong_inputs_inputs_with_answers_are_shown() -> None:
    from optimizers.step.rules import example_rule
    from tracegraph.graph import relevant_subgraph

    start = "Route the ticket. Answer with one of: BILLING, TECHNICAL, SHIPPING."
    instruction = tg.param(start, name="instruction", max_length=300)

    def feedback() -> float:
        right = 0
        for text, want in TICKETS:
            got = route_one(instruction, text)
            right += got.value == want
            if got.value != want:
                got.backward(f"expected exactly {want!r}, got {got.value!r}")
        return right / len(TICKETS)

    feedback()
    value, said = example_rule(instruction, relevant_subgraph([instruction]), 300, set())
    # one input of each expected answer first (BILLING, then SHIPPING), two at a time
    assert value == (
        f"{start} Example: 'I was charged twice.' -> BILLING. "
        "Example: 'My parcel is late.' -> SHIPPING."
    ), said
    assert example_rule(instruction, relevant_subgraph([instruction]), 300, {value})[0] == (
        f"{start} Example: 'Refund my order.' -> BILLING. "
        "Example: 'The box never came.' -> SHIPPING."
    )  # the one tried is skipped
    assert example_rule(instruction, relevant_subgraph([instruction]), 100, set())[0] is None
    # in a step: not stuck, the model's (unchanged) proposal; stuck, the examples in its place
    same = json.dumps({"reasoning": "", "updates": {"instruction": start}})
    llm = ScriptedClient([same] * 12)
    opt = GraphOptimizer([instruction], llm=llm)
    opt.zero_feedback()
    opt.record_score(feedback())
    opt.step()
    opt.zero_feedback()
    opt.record_score(feedback())
    report = opt.step()
    assert instruction.value == value, report.notes
    assert any(n.startswith("instruction: examples (shows 2 input(s)") for n in report.notes)
    opt.zero_feedback()
    assert feedback() > 2 / 6


def test_results_in_other_words_than_the_answers_get_no_examples() -> None:
    from optimizers.step.rules import example_rule
    from tracegraph.graph import relevant_subgraph

    instruction = tg.param("Classify the review.", name="instruction")
    run(instruction)  # 'Positive' where 'POS' is expected: the form is off, not the inputs
    value, said = example_rule(instruction, relevant_subgraph([instruction]), None, set())
    assert value is None and "form is off" in said


def test_only_feedback_on_the_whole_result_gives_the_example_reply_its_target() -> None:
    from tracegraph.graph import relevant_subgraph

    instruction = tg.param('Reply like: {"name": "Ann"}', name="instruction")
    code = tg.code_of(read_json)
    code.set_value("def read_json(reply):\n    return json.loads(reply)\n")
    out = read_json(extractor(instruction, "Ann Lee came."))  # '{"name": "Ann"}'
    out.backward("name 'Ann' is not the full name (expected 'Ann Lee')")  # one field only
    assert out.value == {"name": "Ann"}
    examples = examples_for(instruction, relevant_subgraph([instruction]))
    assert examples[0].expected == (False, None) and examples[0].reader is None
    assert "at key 'name'" in examples[0].difference  # still said to the model
    GraphOptimizer([instruction], llm=ScriptedClient([])).zero_feedback()
    out = read_json(extractor(instruction, "Ann Lee came."))
    out.backward("expected {'name': 'Ann Lee'}, got {'name': 'Ann'}")
    (example,) = examples_for(instruction, relevant_subgraph([instruction]))
    assert example.expected == (True, {"name": "Ann Lee"}) and example.reader is code
