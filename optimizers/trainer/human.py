"""A person as the judge: show a case in the terminal, read a score and a remark.

The remark can be attached to an intermediate node (``at="retrieve"``: the node of that name or
op among the output's ancestors), so the optimizer learns which step went wrong, not only that
the end result was poor. The streams are injectable, so tests feed answers from a string.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import IO

from optimizers.trainer.cases import Case, Verdict
from tracegraph.errors import FeedbackError
from tracegraph.node import Feedback, Node
from tracegraph.shorten import short_text

__all__ = ["HumanFeedback", "find_node"]


def find_node(output: Node, name: str) -> Node | None:
    """The last-made ancestor of ``output`` (itself included) whose name or op is ``name``."""
    from tracegraph.graph import ancestors  # lazily: keeps this module importable on its own

    found = [n for n in ancestors(output) if n.name == name or n.op == name]
    return max(found, key=lambda n: n.uid) if found else None


class HumanFeedback:
    """Ask a person for feedback on each case, one case at a time.

    Args:
        input: where answers are read from (default: ``sys.stdin``).
        output: where questions are written (default: ``sys.stderr``, so stdout stays clean).
        at: attach the remark to this intermediate node: a node name / op name, or a function
            ``case -> Node``. The output still gets the score.
        default_score: the score when the person just presses enter.

    Example:
        >>> import io
        >>> from optimizers.trainer.cases import Example
        >>> human = HumanFeedback(input=io.StringIO("0.5\\ntoo vague\\n"), output=io.StringIO())
        >>> v = human(Case(0, Example("q"), None, plain="an answer"))
        >>> (v.score, v.text)
        (0.5, 'too vague')
    """

    def __init__(
        self,
        *,
        input: IO[str] | None = None,
        output: IO[str] | None = None,
        at: str | Callable[[Case], Node] | None = None,
        default_score: float | None = None,
    ) -> None:
        self.input = input
        self.output = output
        self.at = at
        self.default_score = default_score
        self._lock = threading.Lock()  # one question at a time, even with concurrent cases
        self.__name__ = "HumanFeedback"

    def _target_node(self, case: Case) -> Node | None:
        if self.at is None or case.output is None:
            return None
        if callable(self.at):
            return self.at(case)
        node = find_node(case.output, self.at)
        if node is None:
            raise FeedbackError(
                f"HumanFeedback(at={self.at!r}): no node or op of that name among the ancestors "
                f"of the output of example {case.index}",
                case.output,
                fix="pass the name= of an op or input the workflow used, or a function case->node",
            )
        return node

    def _ask(self, prompt: str) -> str:
        out = self.output or sys.stderr
        # A whole line: while the progress bar is live, rich passes stderr through line by line,
        # so a prompt without its newline would stay hidden while we wait for the answer.
        out.write(prompt.rstrip() + "\n")
        out.flush()
        line = (self.input or sys.stdin).readline()
        if line == "":
            raise FeedbackError(
                "HumanFeedback: the input stream ended before an answer was given",
                fix="answer in the terminal, or pass input=io.StringIO('...') in scripts",
            )
        return line.strip()

    def _read_score(self) -> float | None:
        while True:
            answer = self._ask("score from 0 to 1 (enter to skip): ")
            if answer == "":
                return self.default_score
            try:
                score = float(answer)
            except ValueError:
                score = -1.0
            if 0.0 <= score <= 1.0:
                return score
            (self.output or sys.stderr).write(f"  {answer!r} is not a number from 0 to 1\n")

    def __call__(self, case: Case) -> Verdict:
        node = self._target_node(case)
        with self._lock:
            out = self.output or sys.stderr
            out.write(f"\n--- example {case.index} ---\ninput:  {short_text(case.input, 500)}\n")
            out.write(f"output: {short_text(case.value, 1000)}\n")
            if node is not None:
                out.write(f"step {node.name!r}: {short_text(node.peek(), 1000)}\n")
            score = self._read_score()
            where = f" about {node.name!r}" if node is not None else ""
            text = self._ask(f"feedback{where} (one line, enter for none): ")
        if node is None:
            return Verdict(score=score, text=text)
        extra = [(node, Feedback(text=text))] if text else []
        # The node's own name is its op ("retrieve"); views number it (retrieve_2), so the
        # note names the op and the remark itself sits on that node in every view.
        note = f"a person commented on the {node.name!r} step (the remark is on that step)"
        note = note if text else ""
        return Verdict(score=score, text=note, extra=extra)
