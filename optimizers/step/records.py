"""The records of one optimizer step: the report it returns, the requests it makes, its context.

They live apart from :mod:`optimizers.algorithms.optimizer` to keep that module to the pipeline
itself; import them from either place.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import BaseModel

from optimizers.llm.types import Usage
from optimizers.step.implied import implied_tests
from optimizers.step.replies import Rejection
from tracegraph.graph import Subgraph
from tracegraph.node import Node

__all__ = ["Ask", "Message", "StepContext", "StepReport", "jsonable"]

Message = dict[str, str]


def jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)


@dataclass
class StepReport:
    """What one step did: proposals, what was applied and rejected (and why), the exchange."""

    step: int
    proposed: dict[str, Any] = field(default_factory=dict)
    applied: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    rejected: list[Rejection] = field(default_factory=list)
    reasoning: str = ""
    prompts: list[list[dict[str, str]]] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    skipped: str | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)  # e.g. parameters no feedback reached

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (values that are not JSON are repr'd)."""
        return {
            "step": self.step,
            "proposed": {k: jsonable(v) for k, v in self.proposed.items()},
            "applied": {k: [jsonable(o), jsonable(n)] for k, (o, n) in self.applied.items()},
            "rejected": [
                {"param": r.param, "value": jsonable(r.value), "reasons": r.reasons}
                for r in self.rejected
            ],
            "reasoning": self.reasoning,
            "prompts": self.prompts,
            "replies": self.replies,
            "usage": asdict(self.usage),
            "skipped": self.skipped,
            "error": self.error,
            "notes": self.notes,
        }

    def _repr_html_(self) -> str:
        """In a notebook: what was applied (old -> new), rejected and why, the reasoning."""
        rows = [
            f"<tr><td>{_esc(name)}</td><td>applied</td><td><pre>{_esc(old)}</pre></td>"
            f"<td><pre>{_esc(new)}</pre></td></tr>"
            for name, (old, new) in self.applied.items()
        ]
        rows += [
            f"<tr><td>{_esc(r.param)}</td><td>rejected</td><td><pre>{_esc(r.value)}</pre></td>"
            f"<td>{_esc('; '.join(r.reasons))}</td></tr>"
            for r in self.rejected
        ]
        head = "<tr><th>parameter</th><th></th><th>before / proposed</th><th>after / why</th></tr>"
        table = f"<table>{head}{''.join(rows)}</table>" if rows else "<p>nothing applied</p>"
        extra = "".join(
            f"<p><b>{label}</b>: {_esc(text)}</p>"
            for label, text in (("skipped", self.skipped), ("error", self.error))
            if text
        ) + "".join(f"<p>note: {_esc(n)}</p>" for n in self.notes)
        return (
            f"<div><b>step {self.step}</b>: {len(self.applied)} applied, "
            f"{len(self.rejected)} rejected, {self.usage.calls} model call(s)"
            f"{table}{extra}<details><summary>reasoning</summary><pre>{_esc(self.reasoning)}"
            "</pre></details></div>"
        )


def _esc(value: Any) -> str:
    import html

    return html.escape(value if isinstance(value, str) else repr(value))


@dataclass
class Ask:
    """A request ``propose`` yields: the driver sends it and answers with the Reply."""

    messages: list[Message]
    schema: type[BaseModel] | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class StepContext:
    """Everything one step knows, handed to each hook."""

    step: int
    sub: Subgraph
    params: list[Node]
    report: StepReport
    schema: type[BaseModel] | None  # None: a free-text reply
    options: dict[str, Any]
    readonly: dict[str, str] = field(default_factory=dict)
    trials: dict[Any, Any] = field(default_factory=dict)  # proposed code -> its TrialResult
    tests: dict[int, list[tuple[Node, Any]]] = field(default_factory=dict)  # by id(code param)

    def implied(self, code_param: Node) -> list[tuple[Node, Any]]:
        """The tests this step's feedback implies for ``code_param`` (step/implied.py), worked
        out once a step: the trial, the format repair and the repair checks all read them."""
        if id(code_param) not in self.tests:
            self.tests[id(code_param)] = implied_tests(code_param, self.sub.outputs)
        return self.tests[id(code_param)]
