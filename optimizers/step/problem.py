"""The problem a model sees in one optimizer step, rendered from a relevant subgraph.

The text has fixed sections, always in this order::

    header and the exact names the model may change ("You may change ONLY: a, b")
    ## Trainable parameters     name, kind, constraints, description, current value
    ## Program (in run order)   one line per node, ``name = op(arg=..., ...)  # = value``;
                                inputs and other parameters marked READ-ONLY
    ## What the ops do          the docstrings of the ops shown
    ## Outputs and their feedback   exceptions with their failing source line
    ## Tried before (do not propose these again)   history with scores, rejected values
    ## Your reply               the JSON shape, naming the parameters again

Everything is deterministic and the same in every process and under threads, so identical runs
send identical prompts (and a response cache hits on resume): nodes are ordered by the first fed
output they reach (outputs in the order of ``sub.outputs``, i.e. of the backward calls), then
by topological position; call, exception and constant nodes are shown under names local to the
problem as in every view of the graph (``answer_1``, ``answer_2``: see ``tracegraph.names``);
memory addresses are stripped from reprs.

The whole text stays within ``ProblemConfig.budget_chars``: long values are cut in the middle
with the visible ``...<+N chars>`` marker, and when the program is too long the nodes nearest to
the parameters and to the outputs are kept and the rest is summarised in one line, where the
first gap is (``… 19,812 nodes left out: add×19,800, getitem×12``). Rendering costs
O(nodes + edges) plus sorting and the text of the lines kept: about 0.1 s for a 20,000-node
graph on a 2-core machine (``benchmarks/problem.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from optimizers.step.listing import (
    ProblemConfig,
    _block,
    _clip,
    _json,
    _program,
    local_names,
    show_value,
)
from optimizers.step.replies import HistoryEntry, Rejection, SubgraphLike, same_value
from tracegraph.node import Node, NodeKind
from tracegraph.params import ParamType

__all__ = ["ProblemConfig", "SubgraphLike", "local_names", "render_problem", "show_value"]


# ----------------------------------------------------------------------------- the sections


def _param_section(
    trainable: Sequence[Node], config: ProblemConfig, hints: Mapping[str, str] | None = None
) -> str:
    # Parameters are never left out, so together they may take at most half of the budget.
    share = max(config.budget_chars // (2 * max(len(trainable), 1)) - 120, 80)
    out = []
    for p in trainable:
        assert p.spec is not None
        out.append(f"### {p.name} ({_clip(p.spec.describe(), 200)})")
        if p.spec.description:
            out.append(_clip(" ".join(p.spec.description.split()), 300))
        if p.spec.type is ParamType.CODE:
            out.append(
                "current code:\n" + _block(str(p.peek()), min(2 * config.param_chars, share))
            )
        elif p.spec.type is ParamType.TEXT:
            out.append("current value:\n" + _block(str(p.peek()), min(config.param_chars, share)))
        else:
            out.append(f"current value (JSON): {_json(p.peek(), min(config.param_chars, share))}")
        if hints and hints.get(p.name):
            out.append(_clip(hints[p.name], 200))
    return "\n".join(out)


def _docs(calls: Sequence[Node], budget: int, config: ProblemConfig) -> str:
    seen: dict[str, str] = {}
    for n in calls:
        doc = n.doc
        if n.op and doc and n.op not in seen:
            seen[n.op] = _clip(" ".join(doc.split()), config.doc_chars)
    lines: list[str] = []
    used = 0
    for op, doc in seen.items():
        line = f"{op}: {doc}"
        if used + len(line) + 1 > budget:
            lines.append(f"… {len(seen) - len(lines)} more ops not described")
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines)


def _outputs(sub: SubgraphLike, budget: int, config: ProblemConfig, names: dict[Node, str]) -> str:
    lines: list[str] = []
    used = 0
    # The first output is always shown, so its parts shrink with a small budget.
    vlim = max(min(config.value_chars, budget // 4), 20)
    flim = max(min(config.feedback_chars, budget // 2), 40)
    for i, (node, fb) in enumerate(sub.outputs):
        name = names.get(node, node.name)
        if node.kind is NodeKind.EXCEPTION:
            entry = f"{name} RAISED {_clip(' '.join(str(node.peek()).split()), vlim)}\n"
            where = getattr(node.peek(), "source", "")  # ExceptionInfo: the failing line marked
            if where:
                entry += "  " + _block(str(where), vlim * 2).replace("\n", "\n  ") + "\n"
            entry += "  feedback: "
        else:
            entry = f"{name} = {show_value(node.peek(), vlim)}\n  feedback: "
        entry += _clip(str(fb), flim).replace("\n", "\n  ")
        if used + len(entry) + 1 > budget and lines:
            lines.append(f"… {len(sub.outputs) - i} more outputs with feedback left out")
            break
        lines.append(entry)
        used += len(entry) + 1
    return "\n".join(lines) or "(no output received feedback)"


def _memory(
    history: Sequence[HistoryEntry],
    rejected: Sequence[Rejection],
    trainable: Sequence[Node],
    config: ProblemConfig,
) -> str:
    now = {p.name: p.peek() for p in trainable}
    lines = []
    shown = list(history)[-config.history_items :]
    scored = [h for h in history[: len(history) - len(shown)] if h.score is not None][-1:]
    for h in shown:
        vals = ", ".join(f"{k}={_json(v, 60)}" for k, v in h.values.items() if k in now)
        current = all(k in h.values and same_value(h.values[k], v) for k, v in now.items())
        score = "" if h.score is None else f" -> score {h.score:g}{_effect(h, scored)}"
        fb = f"; feedback: {_clip(' '.join(h.feedback.split()), 120)}" if h.feedback else ""
        lines.append(f"- step {h.step}: {vals}{' (current)' if current else ''}{score}{fb}")
        scored = [h] if h.score is not None else scored
    for r in list(rejected)[-config.rejected_items :]:
        lines.append(f"- REJECTED {r.param} = {_json(r.value, 60)}: {'; '.join(r.reasons)[:200]}")
    return "\n".join(lines)


def _effect(entry: HistoryEntry, before: Sequence[HistoryEntry]) -> str:
    """How the score moved since the values before, and what changed: the measured effect of
    that change ("learning_rate 0.01 -> 0.001: worse than -13.1 at step 0")."""
    if not before or before[0].score is None or entry.score is None:
        return ""
    was, old = before[0].score, before[0].values
    word = "better" if entry.score > was else "worse" if entry.score < was else "same"
    moved = [
        f"{k} {_json(old[k], 24)} -> {_json(v, 24)}"
        for k, v in entry.values.items()
        if k in old and not same_value(old[k], v)
    ]
    what = ", ".join(moved[:3]) + (f" and {len(moved) - 3} more" if len(moved) > 3 else "")
    return f" ({what + ': ' if what else ''}{word} than {was:g} at step {before[0].step})"


def _slot(node: Node) -> str:
    """What to write for one parameter in the reply's example."""
    assert node.spec is not None
    if node.spec.type is ParamType.CODE:
        return "<the complete new source of the function, as one JSON string>"
    if node.spec.type is ParamType.BOOL:
        return "<true or false>"
    if node.spec.type is ParamType.JSON:
        return "<a JSON value shaped like the current one>"
    return f"<{_clip(node.spec.describe(), 80)}>"


def _reply_shape(trainable: Sequence[Node]) -> str:
    example = ", ".join(f'"{p.name}": {_slot(p)}' for p in trainable)
    names = ", ".join(p.name for p in trainable)
    return (
        "Answer with ONE JSON object and nothing else:\n"
        f'{{"reasoning": "<short: what the outputs should be, why the current parameters '
        f'do not give that, what you change>", '
        f'"updates": {{{example}}}}}\n'
        f'Keys of "updates" must be among these exact names: {names}. Give a complete new '
        "value for each parameter you change; leave the others out (or null). Empty updates "
        "({}) mean no change."
        + (  # measured: a small model changing all four at once never learned which one helped
            " Change one or two parameters at a time, so that the scores show what each change did."
            if len(trainable) >= 3
            else ""
        )
    )


def render_problem(
    sub: SubgraphLike,
    trainable: Sequence[Node],
    *,
    history: Sequence[HistoryEntry] = (),
    rejected: Sequence[Rejection] = (),
    config: ProblemConfig | None = None,
    hints: Mapping[str, str] | None = None,
) -> str:
    """The problem text for one step: see the module docstring for its sections.

    Args:
        sub: the relevant subgraph (nodes in topological order and fed outputs).
        trainable: the parameters the model may change in this step, in order.
        history: past values with their feedback and scores, oldest first.
        rejected: recently rejected proposals with their reasons.
        config: sizes; the default fits a 4k-token context with room for the reply.
        hints: a line per parameter name shown under its current value (e.g. the range the
            feedback so far implies for a number).
    """
    config = config or ProblemConfig()
    names = ", ".join(p.name for p in trainable)
    head = (
        "You improve a program by changing its trainable parameters so that its outputs get "
        f"better feedback.\nYou may change ONLY: {names}\n"
        "Everything else (inputs, intermediate values, outputs) is READ-ONLY: never put it in "
        '"updates". The feedback judges the outputs: what they should have been, or how good '
        "they are (a number such as a loss is a measurement to improve, not a value to "
        "reproduce). Change the parameters so that the program itself produces better outputs."
    )
    fixed = [head, "## Trainable parameters\n" + _param_section(trainable, config, hints)]
    tail = "## Your reply\n" + _reply_shape(trainable)
    left = config.budget_chars - sum(len(s) + 2 for s in [*fixed, tail]) - 120
    outputs = "## Outputs and their feedback\n" + _outputs(
        sub, max(left // 3, 0), config, local_names(sub)
    )
    left -= len(outputs) + 2
    memory = _memory(history, rejected, trainable, config)
    if memory:
        memory = "## Tried before (do not propose these again)\n" + _block(
            memory, max(left // 3, 0)
        )
        left -= len(memory) + 2
    program, calls = _program(sub, trainable, max(left * 5 // 6, 0), config)
    left -= len(program)
    docs = _docs(calls, max(left, 0), config)
    sections = [*fixed, "## Program (in run order)\n" + program]
    if docs:
        sections.append("## What the ops do\n" + docs)
    sections.append(outputs)
    if memory:
        sections.append(memory)
    sections.append(tail)
    return "\n\n".join(sections)
