"""The rendered problem: sections, budget, truncation, determinism (problem.py).

Golden files live in tests/golden/optimizers/; regenerate with ``UPDATE_GOLDEN=1 pytest ...``
and review the diff.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from optimizers.step.problem import ProblemConfig, render_problem, show_value
from optimizers.step.replies import HistoryEntry, Rejection
from tests.optimizers.graphs import call, chain_graph, code_graph, golden, inp, param, qa_graph
from tracegraph.backward import backward
from tracegraph.graph import relevant_subgraph
from tracegraph.node import Node, NodeKind
from tracegraph.params import ParamType


def test_golden_problem_with_every_parameter_kind() -> None:
    params, _ = qa_graph()
    sub = relevant_subgraph(list(params.values()))
    golden("problem_qa.txt", render_problem(sub, sub.params))


def test_golden_problem_for_code_that_raised_with_history() -> None:
    code, _, _ = code_graph()
    sub = relevant_subgraph([code])
    history = [HistoryEntry(0, {"parse_answer": "def parse_answer(text): ..."}, "raised", 0.0)]
    rejected = [Rejection("parse_answer", "def parse(text): ...", ["do not rename it"])]
    text = render_problem(sub, sub.params, history=history, rejected=rejected)
    golden("problem_code.txt", text)


def test_trainable_names_are_listed_exactly_and_the_rest_is_read_only() -> None:
    params, _ = qa_graph()
    sub = relevant_subgraph(list(params.values()))
    text = render_problem(sub, sub.params)
    names = ", ".join(params)
    assert f"You may change ONLY: {names}" in text
    assert f"must be among these exact names: {names}" in text
    assert "question = 'What is 2+3?'  # input, READ-ONLY" in text
    for name in params:
        assert f"### {name} (" in text


def test_a_parameter_not_trained_here_is_shown_read_only() -> None:
    params, _ = qa_graph()
    sub = relevant_subgraph(list(params.values()))
    text = render_problem(sub, [params["prompt"]])
    assert "temperature = 0.7  # parameter, READ-ONLY here" in text
    assert "You may change ONLY: prompt\n" in text


def test_long_values_are_cut_with_a_visible_marker() -> None:
    assert show_value("x" * 10, 30) == repr("x" * 10)
    cut = show_value("y" * 5000, 100)
    assert len(cut) <= 100 and "...<+" in cut and " chars>" in cut  # the one marker
    p = param("z" * 20000, "prompt", ParamType.TEXT)
    out = call("echo", "w" * 20000, "echo_1", {"text": p})
    backward(out, "f" * 20000)
    text = render_problem(relevant_subgraph([p]), [p])
    assert len(text) <= ProblemConfig().budget_chars
    assert text.count("...<+") >= 3  # the parameter, the value, the feedback


def test_memory_addresses_are_not_shown() -> None:
    assert " at 0x" not in show_value(object(), 100)


def test_a_20000_node_graph_stays_within_budget_with_one_summary_line() -> None:
    x, _ = chain_graph(10_000)  # 20,001 nodes
    sub = relevant_subgraph([x])
    text = render_problem(sub, [x])
    assert len(text) <= ProblemConfig().budget_chars
    summary = [line for line in text.splitlines() if "left out" in line]
    assert len(summary) == 1
    shown = len(re.findall(r"^add_\d+ = add\(", text, re.M))
    assert summary[0] == f"… {10_000 - shown:,} nodes left out: add×{10_000 - shown:,}"
    # the nodes kept are those next to the parameter and next to the output
    # (shown under local names, numbered from 1 in rendering order)
    assert "add_1 = add(a=x, b=1)" in text and "add_10000 = add(a=add_9999, b=1)" in text
    assert text == render_problem(sub, [x])  # deterministic


def _fan(width: int, depth: int, value_len: int, n_params: int) -> tuple[list[Node], Node]:
    params = [param("p" * value_len, f"param_{i}", ParamType.TEXT) for i in range(n_params)]
    branches = []
    for b in range(width):
        node = params[b % n_params]
        for d in range(depth):
            node = call("step", "v" * value_len, f"step_{b}_{d}", {"x": node, "k": inp(d, "k")})
        branches.append(node)
    out = call("join", "o" * value_len, "join_1", {f"b{i}": n for i, n in enumerate(branches)})
    backward(out, "fb " * value_len)
    return params, out


@given(
    width=st.integers(1, 12),
    depth=st.integers(1, 12),
    value_len=st.integers(0, 3000),
    n_params=st.integers(1, 6),
    budget=st.integers(3000, 12000),
)
@settings(max_examples=40, deadline=None)
def test_any_graph_renders_within_budget(
    width: int, depth: int, value_len: int, n_params: int, budget: int
) -> None:
    params, _ = _fan(width, depth, value_len, n_params)
    sub = relevant_subgraph(params)
    text = render_problem(sub, sub.params, config=ProblemConfig(budget_chars=budget))
    assert len(text) <= budget
    assert f"You may change ONLY: {', '.join(p.name for p in sub.params)}" in text
    assert "## Your reply" in text


def test_exceptions_and_code_are_shown() -> None:
    code, _, err = code_graph()
    text = render_problem(relevant_subgraph([code]), [code])
    assert "RAISED ValueError: invalid literal" in text
    assert ">>   3 |     return int(text.split()[0])" in text
    assert "runs the code of parse_answer" in text
    assert "def parse_answer(text):" in text
    assert err.kind is NodeKind.EXCEPTION


# ----------------------------------------------------------------------------- reproducibility


def _minibatch_prompt(questions: list[str], order: list[int], threads: bool) -> str:
    """Trace one minibatch (outputs made in ``order``, in threads if asked), feed the outputs
    in question order, render the problem."""
    import threading

    import tracegraph as tg

    prompt = tg.param("Answer briefly.", name="prompt")

    @tg.op
    def answer(q: str, p: str) -> str:
        return f"{p} {q}".upper()

    @tg.op
    def check(a: str) -> int:
        return len(a)

    outs: dict[int, Node] = {}

    def run(i: int) -> None:
        q = tg.node(questions[i], name=f"q{i}")
        outs[i] = check(answer(q, prompt))

    if threads:
        workers = [threading.Thread(target=run, args=(i,)) for i in order]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    else:
        for i in order:
            run(i)
    for i in range(len(questions)):  # backward in the same order every time
        backward(outs[i], f"feedback on {i}")
    sub = relevant_subgraph([prompt])
    return render_problem(sub, sub.params)


def test_the_prompt_is_byte_identical_across_runs_counters_and_threads() -> None:
    questions = [f"question {i}?" for i in range(6)]
    first = _minibatch_prompt(questions, list(range(6)), threads=False)
    again = _minibatch_prompt(questions, list(range(6)), threads=False)  # counters advanced
    scrambled = _minibatch_prompt(questions, [4, 1, 5, 0, 3, 2], threads=False)
    threaded = _minibatch_prompt(questions, [5, 2, 0, 4, 1, 3], threads=True)
    assert first == again == scrambled == threaded
    # local names, numbered per op in rendering order (question order), never the counters
    assert re.search(r"^answer_1 = answer\(q=q0, p=prompt\)", first, re.M)
    assert re.search(r"^check_6 = check\(a=answer_6\)", first, re.M)
    assert first.index("q0 =") < first.index("answer_1 =") < first.index("q1 =")
