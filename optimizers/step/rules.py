"""Rule edits for text and repairs for code: the easier question a small model answers well.

A small model asked to rewrite an instruction from feedback such as "expected exactly 'NEG',
got 'Positive'" reads it as "the review must be negative" and rewrites the instruction around
that. Asked an easier question (here are inputs, what the step that reads the text returned,
and the feedback: what is wrong, and which one or two sentences added to the text would fix
it?) the same model names the rule ("Reply with the exact word 'POS' or 'NEG'"). The edit keeps
the text and appends the rule: what was right stays, and the change is small and readable.

:func:`examples_for` collects, for one text parameter, the calls that read it on the way to
each output that got feedback (their other inputs and what they returned) with that feedback;
:func:`rule_messages` renders the question; :func:`read_rule` turns the reply into the new
value (or says why it cannot). For code the same examples (calls of the function, what they
returned or raised, the feedback) go into a repair question, answered the way code models answer
best: a sentence on what is wrong, then the whole function in a fenced block
(:func:`repair_messages`, :func:`read_code`). When a text's result is read by more code on the
way to the output (a model's reply read by a parser), the model is asked for the exact reply
that code needs (:mod:`optimizers.step.targets`); the text then shows it as an example,
checked by running that code on it: asked to describe the format, the local model wrote rules
about "the program" returning a dict; asked for the reply, it wrote the JSON.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, Field, WithJsonSchema

from optimizers.step.difference import difference, expected_for, expected_in
from optimizers.step.listing import show_value
from optimizers.step.replay import function_name
from optimizers.step.replies import SubgraphLike
from tracegraph.node import Node, NodeKind
from tracegraph.shorten import shorten

__all__ = [
    "EXAMPLE",
    "Example",
    "RuleReply",
    "answer_set",
    "example_rule",
    "examples_for",
    "label_rule",
    "read_code",
    "read_rule",
    "repair_messages",
    "rule_messages",
    "with_rule",
]

#: How an example reply is shown in a text (:mod:`optimizers.step.targets`).
EXAMPLE = "Reply in exactly this form and nothing else (no code fences, no other text), like: "
MAX_EXAMPLES = 6
RULE_CHARS = 300
MAX_LABELS = 8  # distinct expected answers that still read as a fixed set of labels
_LABEL = re.compile(  # "expected exactly 'NEG'", "the correct label is 'SPORT'", "Expected: A"
    r"\b(?i:expected|(?:correct|right) (?:answer|label|output|class) (?:is|was))"
    r"(?:\s+exactly)?:?\s+(?:(['\"])(.{1,40}?)\1|([A-Z][A-Z0-9_]{0,39})\b)"
)


@dataclass(frozen=True)
class Example:
    """One call that read the text: its other inputs, what it returned, the feedback."""

    op: str
    doc: str
    inputs: str
    returned: str
    feedback: str
    after: str = ""  # the call that reads what ``op`` returned, on the way to the output
    after_code: str = ""  # its code, when it runs a trainable function
    difference: str = ""  # what differs between the output and the value the feedback expects
    reader: Node | None = None  # the code parameter of ``after`` when it is the output itself
    expected: tuple[bool, Any] = (False, None)  # the whole output the feedback expects, if said


class RuleReply(BaseModel):
    """The reply's shape: the problem in short, and the sentences to add."""

    problem: Annotated[str, WithJsonSchema({"type": "string", "maxLength": RULE_CHARS})] = ""
    add: Annotated[str, WithJsonSchema({"type": "string", "maxLength": RULE_CHARS})] = Field(
        default=""
    )


def _reader(output: Node, value: Node, kinds: tuple[NodeKind, ...] = ()) -> Node | None:
    """The node nearest to ``output`` (itself included) that takes ``value`` as an argument,
    of one of ``kinds`` when given: the call that read a parameter, or what read a call's
    result on the way to the output."""
    seen: set[int] = set()
    todo = [output]
    while todo:
        node = todo.pop(0)
        if id(node) in seen:
            continue
        seen.add(id(node))
        if any(p is value for p in node.parents) and (not kinds or node.kind in kinds):
            return node
        todo.extend(node.parents)
    return None


def examples_for(param: Node, sub: SubgraphLike) -> list[Example]:
    """The calls that read ``param`` on the way to each output with feedback (at most 6).

    Outputs whose feedback carries a score of 1 or more (a perfect match on the usual 0-1
    scale, e.g. the trainer's ``[score 1] correct``) are left out: nothing to fix there."""
    out: list[Example] = []
    for output, feedback in sub.outputs:
        call = _reader(output, param, (NodeKind.CALL, NodeKind.EXCEPTION))
        score = getattr(feedback, "score", None)
        if call is None or not str(feedback).strip() or (score is not None and score >= 1.0):
            continue
        names = call.arg_names or tuple(f"arg{i}" for i in range(len(call.parents)))
        inputs = ", ".join(
            f"{n}={show_value(p.peek(), 160)}"
            for n, p in zip(names, call.parents, strict=False)
            if p is not param and p.kind is not NodeKind.PARAMETER
        )
        returned = show_value(call.peek(), 200)
        if call.kind is NodeKind.EXCEPTION:
            returned = "RAISED " + shorten(" ".join(str(call.peek()).split()), 200)
        if output is not call:
            returned += f" (then the program's output: {show_value(output.peek(), 120)})"
        doc = " ".join(str(call.doc or "").split())
        after = _reader(output, call)
        found, want = expected_for(output.peek(), str(feedback))
        raised = output.kind is NodeKind.EXCEPTION
        differs = difference(output.peek(), want) if found and not raised else None
        args = [] if after is None else [q for q in after.parents if q is not after.code_param]
        reader = after.code_param if after is output and len(args) == 1 else None
        # the whole output the feedback expects (one field's feedback leaves the rest unknown)
        whole = (found, want) if found and expected_in(str(feedback)) == (True, want) else None
        out.append(
            Example(
                call.op or call.name,
                doc,
                inputs,
                returned,
                shorten(str(feedback), 240),
                "" if after is None else (after.op or after.name),
                "" if after is None or after.code_param is None else str(after.code_param.peek()),
                differs or "",
                reader if whole else None,
                whole or (False, None),
            )
        )
        if len(out) >= MAX_EXAMPLES:
            break
    return out


def answer_set(param: Node, sub: SubgraphLike) -> tuple[list[str], bool]:
    """The answers the feedback expects of the calls that read ``param``, when they read as a
    fixed set of labels, and whether a call returned something that is none of them (nor a word
    of the text: another label it names).

    Labels: strings of one line (at most 40 characters) that are not numbers, at most 8 of
    them, expected by twice as many outputs or more ("expected exactly 'NEG'" on several
    reviews). Sums answered as numbers ("expected '85'", "expected '93'") are no set: a list
    of them could not be the rule. ``([], False)`` when there is none."""
    wanted: list[str] = []
    returned: list[str] = []
    for output, feedback in sub.outputs:
        call = _reader(output, param, (NodeKind.CALL,))
        if call is None:
            continue
        want = _expected_label(str(feedback))
        if want is None:
            continue
        if not want.strip() or "\n" in want:
            return [], False
        wanted.append(want)
        returned.append(str(output.peek()).strip())
    labels = list(dict.fromkeys(wanted))
    numbers = all(re.fullmatch(r"[-+]?[\d.,]+", label) for label in labels)
    if numbers or len(labels) > MAX_LABELS or 2 * len(labels) > len(wanted):
        return [], False
    words = set(re.findall(r"[\w-]+", str(param.peek())))  # a label the text names is one
    return labels, any(r not in labels and r not in words for r in returned)


def label_rule(param: Node, labels: list[str], max_length: int | None) -> tuple[str | None, str]:
    """The text with a rule naming the labels added (or None), and what it does / why not.

    The labels come from the feedback itself, so no model call is needed; which label fits
    which input is left to the task model (the names usually say it) and to later edits."""
    current = str(param.peek()).rstrip()
    if all(label in current for label in labels):
        return None, "the text already names every expected answer"
    plain = all(re.fullmatch(r"[\w-]+", label) for label in labels)
    shown = ", ".join(label if plain else repr(label) for label in labels)
    rule = f"Answer with exactly one of these and nothing else: {shown}."
    new = with_rule(current, rule, max_length)
    if new is None:
        return None, f"the rule naming the answers is longer than {max_length} characters"
    return new, f"the feedback expects one of {len(labels)} exact answers: {shorten(shown, 120)}"


def example_rule(
    param: Node, sub: SubgraphLike, max_length: int | None, tried: set[str]
) -> tuple[str | None, str]:
    """The text with one or two inputs it got wrong shown with their expected answers (or
    None), and what it shows / why not: "Example: 'Sync stopped after the update.' -> TECHNICAL."

    For answers of the right words (each result is an expected answer or a word of the text)
    but wrong for their inputs (labels given to the wrong tickets), the local model's rule
    edits restated the label list; an input with its answer shows where the boundary is (the
    few-shot demonstration). Inputs of different expected answers first; a text in ``tried``
    (an earlier value) is skipped for the next choice."""
    cases: list[tuple[str, str]] = []
    results: list[str] = []
    for output, feedback in sub.outputs:
        call = _reader(output, param, (NodeKind.CALL,))
        want = _expected_label(str(feedback))
        others = [] if call is None else [q for q in call.parents if q is not param]
        if want is None or len(others) != 1 or not isinstance(others[0].peek(), str):
            continue
        results.append(str(output.peek()).strip())
        text = " ".join(str(others[0].peek()).split())
        cases.append((shorten(text, 70), want))
    current = str(param.peek()).rstrip()
    known = {want for _, want in cases}
    words = set(re.findall(r"[\w-]+", current))
    if not cases or any(r not in known and r not in words for r in results):
        return None, "a result is not one of the expected answers (its form is off)"
    first = list({want: (text, want) for text, want in reversed(cases)}.values())[::-1]
    order = first + [c for c in cases if c not in first]
    picks = [order[i : i + 2] for i in range(0, len(order), 2)] + [[c] for c in order]
    for pick in picks:
        rule = " ".join(f"Example: {text!r} -> {want}." for text, want in pick)
        if rule in current:
            continue
        new = f"{current} {rule}"
        if (max_length is not None and len(new) > max_length) or new in tried:
            continue
        return new, f"shows {len(pick)} input(s) with the expected answer: {shorten(rule, 140)}"
    return None, "no input with its expected answer fits or is new"


def rule_messages(param: Node, examples: list[Example]) -> list[dict[str, str]]:
    """The question: what is wrong with the results, and which sentences to add."""
    op, doc = examples[0].op, examples[0].doc
    about = f" ({shorten(doc, 200)})" if doc else ""
    rows = "\n".join(
        f"- inputs: {e.inputs or '(none)'}\n  returned: {e.returned}\n  feedback: {e.feedback}"
        for e in examples
    )
    text = (
        f"The program gives the text {param.name!r} to {op}{about}.\n"
        f"Current {param.name}: {json.dumps(str(param.peek()))}\n\n"
        f"Some calls of {op}, what they returned, and the feedback on the results:\n{rows}\n\n"
        "What is wrong with what was returned, compared with what the feedback expects (the "
        "exact words, format, length)? Then write ONE or TWO short sentences to ADD to "
        f"{param.name} so that every result becomes exactly what the feedback expects.\n"
        'Answer with JSON: {"problem": "<short>", "add": "<the sentences to add>"}'
    )
    return [
        {"role": "system", "content": "You improve texts from feedback. Reply with JSON only."},
        {"role": "user", "content": text},
    ]


def read_rule(param: Node, reply: Any, max_length: int | None) -> tuple[str | None, str]:
    """The text with the rule added (or None), and the problem the model named / why not."""
    data = reply if isinstance(reply, dict) else {}
    if isinstance(reply, BaseModel):
        data = reply.model_dump()
    add = " ".join(str(data.get("add") or "").split())
    problem = " ".join(str(data.get("problem") or "").split())
    if not add:
        return None, "the model named no sentence to add"
    about = rf"^(?:the|this|your)\s+(?:instruction|text|prompt|{re.escape(param.name)})\b"
    if re.match(about + r"[^.]*\b(?:should|must|needs?)\b", add, flags=re.IGNORECASE):
        return None, f"the sentence describes the text instead of adding to it: {add[:80]!r}"
    current = str(param.peek()).rstrip()
    if add in current:
        return None, f"the text already says {shorten(add, 80)!r}"
    new = with_rule(current, add, max_length)
    if new is None:
        return None, f"the sentence to add is longer than {max_length} characters"
    return new, problem


def repair_messages(param: Node, examples: list[Example]) -> list[dict[str, str]]:
    """The repair question for a code parameter: its calls, their results and feedback."""
    name = function_name(str(param.peek()), param) or param.name
    rows = "\n".join(
        f"- {name}({e.inputs}) returned {e.returned}; feedback: {e.feedback}"
        + (f"\n  what differs: {e.difference}" if e.difference else "")
        for e in examples
    )
    text = (
        f"The program calls the function `{name}`. Its current code:\n"
        f"```python\n{str(param.peek()).rstrip()}\n```\n"
        f"Calls, what they returned, and the feedback:\n{rows}\n\n"
        "First say in one sentence what is wrong. Then give the complete corrected function in "
        "one ```python block, so that every call gets what the feedback expects."
    )
    return [{"role": "user", "content": text}]


def read_code(param: Node, text: str) -> tuple[str | None, str]:
    """The fenced block of the reply that defines the function (or None), and the sentence on
    what is wrong (or why nothing could be read)."""
    name = function_name(str(param.peek()), param)
    blocks = re.findall(r"```(?:python|py)?[ \t]*\n(.*?)```", text, flags=re.DOTALL)
    if not blocks and text.lstrip().startswith(("def ", "import ", "from ")):
        blocks = [text]
    wanted = f"def {name}(" if name else "def "
    found = [b for b in blocks if wanted in b]
    problem = " ".join(text.split("```")[0].split())[:200]
    if not found:
        return None, f"the reply has no code block that defines {name or 'the function'}"
    code = found[0].strip() + "\n"
    if code.strip() == str(param.peek()).strip():
        return None, "the repair repeats the current code"
    return code, problem


def _expected_label(feedback: str) -> str | None:
    """The last label the feedback says is expected ("expected exactly 'NEG'"), or None."""
    found = list(_LABEL.finditer(feedback[:2000]))
    return (found[-1].group(2) or found[-1].group(3)) if found else None


def with_rule(current: str, rule: str, max_length: int | None) -> str | None:
    """The text with ``rule`` appended; when that is longer than ``max_length``, the rule and
    the text's example reply (:data:`EXAMPLE` on), else the rule alone, rather than a text cut
    short; None when the rule alone is too long."""
    new = f"{current} {rule}" if current else rule
    if max_length is None or len(new) <= max_length:
        return new
    at = current.find(EXAMPLE)
    if at > 0 and rule and len(rule) + 1 + len(current) - at <= max_length:
        return f"{rule} {current[at:]}"  # the example the parser was checked to read, kept
    return None if len(rule) > max_length else rule
