"""The exact reply the code downstream needs, shown in a text as an example.

A text read by a model whose reply goes through code (a parser) to the output: the model is
not asked to phrase a rule about "the output" but to write one reply that the code turns into
what the feedback expects (a coder model writes ``{"name": ...}`` for ``json.loads`` at once).
When the code can be run on a candidate reply (in the sandbox, :func:`optimizers.step.trial.
turns_into`), the reply shown is one it is checked to turn into the expected result: the local
model wrote prose ("Dana Whitfield signed the lease on 2024-03-03.") for ``json.loads``.
"""

from __future__ import annotations

import ast
import contextlib
import json
import re
from collections.abc import Callable

from optimizers.step.rules import EXAMPLE, Example, with_rule
from tracegraph.node import Node
from tracegraph.shorten import shorten

__all__ = ["read_target", "target_messages"]


def target_messages(param: Node, example: Example) -> list[dict[str, str]]:
    """The question when what reads the text's result is more code: the exact result needed.

    A text read by a model whose reply goes through code (a parser) to the output: the model
    is not asked to phrase a rule about "the output" but to write one reply that the code
    turns into what the feedback expects (a coder model writes ``{"name": ...}`` for
    ``json.loads`` at once); that reply becomes the example in the rule (:func:`read_target`)."""
    e = example
    about = f" ({shorten(e.doc, 160)})" if e.doc else ""
    code = f":\n```python\n{e.after_code.rstrip()}\n```" if e.after_code else "."
    text = (
        f"The program gives the text {param.name!r} to {e.op}{about}. What {e.op} returns is "
        f"read by {e.after}{code}\n\n"
        f"One call: {e.op}({e.inputs or ''}) returned {e.returned}\n"
        f"Feedback on the program's output: {e.feedback}\n\n"
        f"Write the exact text that {e.op} should have returned here, so that {e.after} turns "
        "it into exactly what the feedback expects. Reply with that text only."
    )
    return [{"role": "user", "content": text}]


def read_target(
    param: Node,
    example: Example,
    text: str,
    max_length: int | None,
    works: Callable[[str], bool] | None = None,
) -> tuple[str | None, str]:
    """The text with a rule that shows the needed reply as an example (or None), and what it
    says / why not. ``works(reply)``: whether the code that reads the reply turns it into the
    expected result; then the first reply that works of the expected result as JSON (a dict
    or list), the model's and the expected string itself is shown (the local model wrote
    prose for ``json.loads``), and the model's unchecked when none does."""
    blocks = re.findall(r"```[\w-]*[ \t]*\n(.*?)```", text, flags=re.DOTALL)
    target = " ".join((blocks[0] if blocks else text).split())
    if not target:
        return None, "the model wrote no reply to show"
    if example.after_code and "json" in example.after_code:
        target = _as_json(target)  # the feedback shows {'k': 'v'}: JSON readers need "k"
    checked = ""
    if works is not None and example.expected[0]:
        target, checked = _checked(target, example, works)
    rule = EXAMPLE + target
    current = str(param.peek()).rstrip()
    if rule in current:
        return None, "the text already shows that reply"
    new = with_rule(current, rule, max_length)
    if new is None:
        return None, f"the reply to show is longer than {max_length} characters"
    return new, f"the reply needed: {shorten(target, 120)}{checked}"


def _checked(target: str, example: Example, works: Callable[[str], bool]) -> tuple[str, str]:
    """The first reply ``works`` accepts of the expected result as JSON, the model's and the
    expected string; the model's when none is (and a note saying so)."""
    want = example.expected[1]
    options: list[str] = []
    if isinstance(want, (dict, list)):
        with contextlib.suppress(TypeError, ValueError):
            options.append(json.dumps(want, ensure_ascii=False))
    options += [target] + ([want] if isinstance(want, str) else [])
    for option in dict.fromkeys(" ".join(o.split()) for o in options if o.strip()):
        if works(option):
            return option, f" (checked: {example.after} turns it into the expected result)"
    return target, f" (unchecked: {example.after} turns none of the replies tried into it)"


def _as_json(text: str) -> str:
    """A Python literal of a dict or list (as feedback prints them) written as JSON; else as is."""
    try:
        json.loads(text)
        return text
    except ValueError:
        pass
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text
    return json.dumps(value) if isinstance(value, (dict, list)) else text
