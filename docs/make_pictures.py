"""Regenerate the pictures of the docs: ``python docs/make_pictures.py``.

Writes ``docs/trace.svg`` (and ``docs/trace.dot``, the graphviz source) from a small real
trace: the workflow of the README with a stand-in for the model call, after feedback.
Needs graphviz's ``dot`` program on the PATH.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))  # run from a checkout

import tracegraph as tg  # noqa: E402  (after the path is set)


@tg.op
def build_messages(question: str, prompt: str) -> list[dict[str, str]]:
    """Put the system prompt and the question into chat messages."""
    return [{"role": "system", "content": prompt}, {"role": "user", "content": question}]


@tg.op
def answer(messages: list[dict[str, str]], temperature: float) -> str:
    """Stand-in for the model call: a fixed reply, so the picture never changes."""
    return "2 + 3 = 4"


@tg.trainable
def parse_answer(text: str) -> int:
    """Extract the final integer from the model's answer."""
    return int(text.strip().split()[-1])


def trace() -> tg.Node:
    """Run the workflow once and give its output feedback."""
    prompt = tg.param("Answer briefly.", name="prompt", description="system prompt")
    temperature = tg.param(0.7, name="temperature", bounds=(0.0, 2.0))
    out = parse_answer(answer(build_messages("What is 2+3?", prompt), temperature))
    out.backward("expected 5, got 4")
    return out


def main() -> int:
    """Write docs/trace.svg and docs/trace.dot."""
    dot = tg.to_dot(trace())
    dot.render(str(DOCS / "trace"), format="svg", cleanup=False)
    (DOCS / "trace").rename(DOCS / "trace.dot")
    print(f"wrote {DOCS / 'trace.svg'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
