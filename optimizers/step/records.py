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
    schema: type[BaseModel]
    options: dict[str, Any]
    readonly: dict[str, str] = field(default_factory=dict)
