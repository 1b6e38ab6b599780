"""HistoryOptimizer: propose better values from the values tried so far and their scores.

This is the optimization-by-prompting setting: the model sees no program, only the
parameters (kind, constraints, description), the values tried before with their scores,
best first, and the latest feedback, and proposes values it expects to score higher. It needs
no graph: scores come from
:meth:`~optimizers.algorithms.optimizer.Optimizer.record_score` (the trainer and the search call
it) or from numeric feedback given to ``backward``; text feedback is shown too.

A proposal equal to a value already tried is rejected with that value's score, so the model
cannot stall by proposing the same thing again.

>>> import tracegraph as tg
>>> from optimizers.llm.scripted import ScriptedClient
>>> x = tg.param(1.0, name="x")
>>> opt = HistoryOptimizer([x], llm=ScriptedClient(['{"reasoning": "up", "updates": {"x": 4}}']))
>>> opt.record_score(0.2)
>>> opt.step().applied
{'x': (1.0, 4.0)}
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from optimizers.algorithms.optimizer import Message, Optimizer, StepContext
from optimizers.step.problem import (
    ProblemConfig,
    _clip,
    _json,
    _param_section,
    _reply_shape,
    local_names,
)
from optimizers.step.replies import HistoryEntry, Rejection, same_value
from tracegraph.graph import Subgraph
from tracegraph.node import Node

__all__ = ["HistoryOptimizer"]

SYSTEM = (
    "You search for parameter values that get a higher score. You see the values tried so "
    "far with their scores, best first. Propose new values that should score higher than all "
    "of them. Reply with one JSON object only."
)


def _key(values: Mapping[str, Any]) -> str:
    """A stable identity for a set of values (JSON where possible)."""
    try:
        return json.dumps(values, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(sorted(values.items()))


class HistoryOptimizer(Optimizer):
    """The history optimizer: past values with their scores, best first; no graph needed.

    Args:
        params: the parameters (or a ``tg.Module``).
        llm: the model client.
        top: how many of the best scored value sets are kept and shown (besides the latest).
        problem: sizes of the prompt (``budget_chars``, ``param_chars``, ``feedback_chars``).
        system: the system message.
        **config: see :class:`~optimizers.algorithms.optimizer.Optimizer`.
    """

    label = "optimizer:history"

    def __init__(
        self,
        params: Iterable[Node] | Any,
        *,
        top: int = 8,
        problem: ProblemConfig | None = None,
        system: str = SYSTEM,
        **config: Any,
    ) -> None:
        # Its prompt starts from the best values already (no steps going back to them), and
        # the model searches by the scores it sees, not by a direction the feedback gives.
        config.setdefault("patience", None)
        config.setdefault("number_steps", False)
        super().__init__(params, **config)
        self.top = top
        self.problem = problem or ProblemConfig()
        self.system = system
        # The best value sets survive the base's bounded, most-recent-first history.
        self.archive: list[HistoryEntry] = []

    # ------------------------------------------------------------------ hooks

    def select(self, sub: Subgraph) -> list[Node]:
        """Every parameter: scores alone are enough to propose, feedback is optional."""
        return list(self.params)

    def record_score(self, score: float) -> None:
        """As in the base; a score given before the first step is kept for the start values."""
        if not self.history:
            self.history.append(HistoryEntry(0, self.values()))
        super().record_score(score)
        self._archive()

    def build_messages(self, ctx: StepContext) -> list[Message]:
        self._archive()
        return [
            {"role": "system", "content": self.system},
            {"role": "user", "content": self.render(ctx)},
        ]

    def render(self, ctx: StepContext) -> str:
        """The user message: parameters, tried values best first, latest feedback, reply shape."""
        cfg = self.problem
        names = ", ".join(p.name for p in ctx.params)
        parts = [
            f"You may change ONLY: {names}",
            "## Parameters\n" + _param_section(ctx.params, cfg),
            "## Tried so far, best first (higher score is better)\n" + self._tried_lines(),
        ]
        shown = local_names(ctx.sub)  # the names of every view: same text in every run
        feedback = [
            f"{shown.get(o, o.name)}: {_clip(str(fb), cfg.feedback_chars)}"
            for o, fb in ctx.sub.outputs
        ]
        if feedback:
            parts.append("## Latest feedback on the current values\n" + "\n".join(feedback))
        parts.append(
            "## Your reply\nPropose values that are NOT in the list above and should score "
            "higher than the best one.\n" + _reply_shape(ctx.params)
        )
        return _clip("\n\n".join(parts), cfg.budget_chars)

    def validate(
        self, raw: Mapping[str, Any], ctx: StepContext
    ) -> tuple[dict[Node, Any], list[Rejection]]:
        """The base checks, then: a complete value set that was tried already is rejected."""
        accepted, rejected = super().validate(raw, ctx)
        if not accepted:
            return accepted, rejected
        proposal = {**self.values(), **{n.name: v for n, v in accepted.items()}}
        for entry in self._entries():
            if all(same_value(entry.values.get(k), v) for k, v in proposal.items()):
                score = "no score" if entry.score is None else f"score {entry.score:g}"
                reason = f"these values were tried at step {entry.step} ({score}): propose new ones"
                rejected += [Rejection(n.name, v, [reason]) for n, v in accepted.items()]
                return {}, rejected
        return accepted, rejected

    def state_dict(self) -> dict[str, Any]:
        """The base state plus the archive of the best value sets."""
        state = super().state_dict()
        state["archive"] = [
            {"step": h.step, "values": h.values, "feedback": h.feedback, "score": h.score}
            for h in self.archive
        ]
        return state

    def load_state_dict(self, d: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        super().load_state_dict(d)
        self.archive = [HistoryEntry(**h) for h in d.get("archive", [])]

    # ------------------------------------------------------------------ helpers

    def _entries(self) -> list[HistoryEntry]:
        """Archive and history, one entry per distinct value set (the later entry wins)."""
        seen: dict[str, HistoryEntry] = {}
        for h in [*self.archive, *self.history]:
            old = seen.get(_key(h.values))
            if old is None or h.score is not None or old.score is None:
                seen[_key(h.values)] = h
        return list(seen.values())

    def _archive(self) -> None:
        scored = [h for h in self._entries() if h.score is not None]
        scored.sort(key=lambda h: (-(h.score or 0.0), h.step))
        self.archive = scored[: self.top]

    def _tried_lines(self) -> str:
        entries = self._entries()
        ranked = sorted(
            entries,
            key=lambda h: (h.score is None, -(h.score or 0.0), -h.step),
        )[: self.top + 2]
        current = _key(self.values())
        lines = []
        for h in ranked:
            vals = ", ".join(f"{k}={_json(v, 80)}" for k, v in h.values.items())
            score = "not scored" if h.score is None else f"score {h.score:g}"
            mark = "  (current)" if _key(h.values) == current else ""
            fb = f"; feedback: {_clip(' '.join(h.feedback.split()), 160)}" if h.feedback else ""
            lines.append(f"- {vals} -> {score}{mark}{fb}")
        for r in self.rejected[-self.problem.rejected_items :]:
            lines.append(f"- REJECTED {r.param}={_json(r.value, 60)}: {r.reasons[0][:160]}")
        return "\n".join(lines) or "(nothing yet)"
