"""What every optimizer remembers between steps, and how it uses scores.

Against feedback friction an optimizer keeps (bounded, and in ``state_dict``):

* the **history** of value sets with their feedback and scores (``record_score``);
* recently **rejected** proposals with their reasons;
* a **stall** counter that raises the sampling temperature while steps change nothing or scores
  do not improve;
* the **best** values scored so far; with ``patience`` set, after that many steps in a row
  without improvement, while the current values score below the best, a step goes back to the
  best values (without a model call) and says so in its report;
* per number, the bracket and last move of :class:`~optimizers.step.numbers.NumberSteps`;
* with ``evaluate``, the :class:`~optimizers.step.gate.Gate` that scores each proposal (and
  the variants it tries) before anything is applied, and its cache of scored value sets.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from optimizers.algorithms.probing import Probing
from optimizers.errors import OptimizerError
from optimizers.step.checks import checked_direction, lone_output, numeric
from optimizers.step.gate import Gate, Verdict, rejections, said_scores
from optimizers.step.measure import implied_score
from optimizers.step.numbers import NumberSteps, context_key
from optimizers.step.probes import (
    LONGER,
    Probe,
    after_better,
    rebased,
)
from optimizers.step.problem import show_value
from optimizers.step.records import StepContext, StepReport, jsonable
from optimizers.step.replies import HistoryEntry, Rejection, same_value
from tracegraph.graph import Subgraph
from tracegraph.node import Node
from tracegraph.params import ParamType

__all__ = ["Memory"]

Bracket = tuple[float | None, float | None]


class Memory(Probing):
    """The bookkeeping half of :class:`~optimizers.algorithms.optimizer.Optimizer`."""

    params: list[Node]
    number_steps: bool = True
    gate: Gate | None = None
    verdict: Verdict | None = None  # the gate's last verdict

    def _init_memory(self, history_size: int, patience: int | None) -> None:
        self.history_size = history_size
        self.patience = patience
        self.history: list[HistoryEntry] = []
        self.rejected: list[Rejection] = []
        self.steps = 0
        self.stall = 0
        self.best_score: float | None = None
        self.best_values: dict[str, Any] | None = None
        self.best_step = 0
        self.numbers = NumberSteps()
        self.probes: list[Probe] = []  # without a gate: what to try after a worse step
        self.probe: Probe | None = None  # the probe the last step applied
        self.follow: Probe | None = None  # after a better probe: its move again, longer

    def values(self) -> dict[str, Any]:
        """The current value of every parameter, by name."""
        return {p.name: p.peek() for p in self.params}

    def record_score(self, score: float) -> None:
        """Tell the optimizer how the values after the last step scored (higher is better);
        before the first step, how the starting values scored."""
        if not self.history:
            self.history.append(HistoryEntry(0, self.values()))
        self.history[-1].score = float(score)
        now = self.values()
        for name, value in now.items():
            self.numbers.observe(name, value, float(score), context_key(now, name))
        if self.best_score is None or score > self.best_score:
            was = self.best_values
            # the probes still queued go on from the new best (after a probe), else none
            self.probes = rebased(self.probes, was or {}, now) if self.probe is not None else []
            tried = [h.values for h in self.history]
            ungated = self.gate is None
            grow = self.probe is not None and self.probe["origin"] == LONGER
            further = after_better(was, now, self.params, tried, grow) if was and ungated else []
            # after a probe: its move again, longer, or other scales; after a proposal that
            # switched a choice: other scales (a proposal's numbers are number steps' to size)
            if further and (self.probe is not None or further[0]["origin"] != LONGER):
                self.follow, self.probes = further[0], further[1:] + self.probes
            self.best_score = float(score)
            self.best_values = self.values()
            self.best_step = self.steps
            self.stall = 0
        else:
            self.stall += 1

    def restore_best(self) -> dict[str, tuple[Any, Any]]:
        """Set the parameters to the best-scoring values seen (``record_score``), and say what
        changed as ``{name: (old, new)}``. For the end of a loop: its last step may have scored
        below the best (a probe, or a rule that did not help)."""
        if self.best_values is None:
            return {}
        changed: dict[str, tuple[Any, Any]] = {}
        for p in self.params:
            if p.name in self.best_values and not same_value(p.peek(), self.best_values[p.name]):
                changed[p.name] = (p.peek(), self.best_values[p.name])
                p.set_value(self.best_values[p.name])
        if changed:  # steps after this one start from the best values, with their score
            self.history.append(HistoryEntry(self.steps, self.values(), score=self.best_score))
        return changed

    def state_dict(self) -> dict[str, Any]:
        """History, rejected values and the schedule's state, JSON-able."""
        return {
            "version": 1,
            "steps": self.steps,
            "stall": self.stall,
            "best_score": self.best_score,
            "best_step": self.best_step,
            "best_values": None
            if self.best_values is None
            else {k: jsonable(v) for k, v in self.best_values.items()},
            "numbers": self.numbers.state_dict(),
            "probes": [jsonable(p) for p in self.probes],
            "probe": jsonable(self.probe),
            "follow": jsonable(self.follow),
            "history": [
                {**asdict(h), "values": {k: jsonable(v) for k, v in h.values.items()}}
                for h in self.history
            ],
            "rejected": [
                {"param": r.param, "value": jsonable(r.value), "reasons": r.reasons}
                for r in self.rejected
            ],
        }

    def load_state_dict(self, d: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (parameter values are restored elsewhere)."""
        if d.get("version") != 1:
            raise OptimizerError(
                f"unknown optimizer state version {d.get('version')!r}; "
                "expected 1 (was it saved by a newer tracegraph?)"
            )
        self.steps = int(d["steps"])
        self.stall = int(d["stall"])
        self.best_score = d["best_score"]
        self.best_step = int(d.get("best_step", 0))
        self.best_values = d.get("best_values")
        self.numbers.load_state_dict(d.get("numbers", {}))
        self.probes = list(d.get("probes", []))
        self.probe, self.follow = d.get("probe"), d.get("follow")
        self.history = [HistoryEntry(**h) for h in d["history"]]
        self.rejected = [Rejection(**r) for r in d["rejected"]]

    def hints(self, params: list[Node]) -> dict[str, str]:
        """A line per parameter for the prompt: for a number, the range the proposals imply;
        for a choice, the options never tried yet (once two value sets were tried)."""
        out = {p.name: self.numbers.hint(p.name) for p in params}
        if len(self.history) < 2 and self.gate is None:
            return out
        for name, new in self.untried(params).items():
            shown = ", ".join(json.dumps(o) for o in new)[:200]
            out[name] = f"never tried yet: {shown}"
        return out

    def untried(self, params: list[Node]) -> dict[str, list[Any]]:
        """Per choice (or bool) parameter, the options no value set applied so far had (one
        rejected at one scale of the other parameters may still be right at another)."""
        seen = [h.values for h in self.history] + [self.values()]
        out: dict[str, list[Any]] = {}
        for p in params:
            spec = p.spec
            options = spec.choices if spec is not None and spec.type is ParamType.CHOICE else None
            if spec is not None and spec.type is ParamType.BOOL:
                options = (True, False)
            new = [o for o in options or () if not any(same_value(o, v.get(p.name)) for v in seen)]
            if new:
                out[p.name] = new
        return out

    # ------------------------------------------------------------------ used by the step

    def _step_size(self, node: Node, value: Any, ctx: StepContext) -> Any:
        """A proposed number as a direction: the size of the move comes from the history."""
        spec = node.spec
        if not numeric(node) or not _is_number(value) or not _is_number(node.peek()):
            return value
        assert spec is not None
        integer = spec.type is ParamType.INTEGER
        value = checked_direction(node, value, ctx, self.numbers, integer)
        now = self.values()
        new, why = self.numbers.adjust(
            node.name,
            node.peek(),
            value,
            spec.bounds,
            integer,
            context_key(now, node.name),
            context_key(now, node.name, numbers=False),
        )
        new = int(new) if integer else float(new)
        if not why or spec.check(new) or same_value(new, node.peek()):
            return value
        ctx.report.notes.append(
            f"{node.name}: the model proposed {value:g}, {new:g} is applied ({why})"
        )
        return new

    def _judge(
        self, accepted: dict[Node, Any], ctx: StepContext, brackets: dict[str, Bracket]
    ) -> tuple[dict[Node, Any], list[Rejection]]:
        """Let the gate score the proposal (and its variants): what to apply, and, when nothing
        beats the current values, the proposal's rejections with their scores (the re-ask and
        the next prompts show them). ``brackets``: the numbers' brackets before this proposal."""
        assert self.gate is not None
        last = {
            name: (t.last_from, t.last_to)
            for name, t in self.numbers.tracks.items()
            if t.last_from is not None and t.last_to is not None
        }
        verdict = self.gate.judge(self.params, accepted, self.untried(ctx.params), last)
        self.verdict = verdict
        now = self.values()
        if not self.history or self.history[-1].score is None:
            self.record_score(verdict.current)  # no score was recorded for the current values
        nodes = {p.name: p for p in self.params}
        proposed = {n.name: v for n, v in accepted.items()}
        for c in verdict.tried:  # every scored value set is evidence about each number in it
            for name, value in c.values.items():
                self.numbers.observe(name, value, c.score, context_key({**now, **c.values}, name))
        if verdict.values != proposed:  # the scores, not the model's direction, tell the bracket
            for name, t in self.numbers.tracks.items():
                t.low, t.high = brackets.get(name, (None, None))
            for c in verdict.tried:
                moved = [k for k, v in c.values.items() if not same_value(now[k], v)]
                if len(moved) == 1 and c.score != verdict.current:
                    name = moved[0]
                    self.numbers.scored_move(
                        name, now[name], c.values[name], c.score > verdict.current
                    )
        said = said_scores(verdict)
        if verdict.values:
            ctx.report.rejected.extend(rejections(verdict, skip=verdict.origin))
            if verdict.origin != "proposed":
                ctx.report.notes.append(f"{verdict.origin} is applied: it scored best ({said})")
            elif len(verdict.tried) > 1:
                ctx.report.notes.append(f"the proposal is applied: it scored best ({said})")
            return {nodes[k]: v for k, v in verdict.values.items()}, []
        ctx.report.notes.append(f"nothing scored better than the current values ({said})")
        ctx.report.rejected.extend(rejections(verdict, skip="proposed"))
        return {}, rejections(verdict, only="proposed")

    def _brackets(self) -> dict[str, Bracket]:
        """The numbers' brackets (low, high), for :meth:`_judge` to go back to."""
        return {name: (t.low, t.high) for name, t in self.numbers.tracks.items()}

    def _remember_feedback(self, sub: Subgraph) -> str:
        """Put the outputs and their feedback (about the current values) on the latest history
        entry: with the output values in view, a small model can see the trend across steps.
        Without a recorded score, the feedback's own scores, else the measurement every
        feedback text states ("final training loss: 0.0173": :mod:`optimizers.step.measure`),
        are the score of the current values; returns a note saying so ("" otherwise)."""
        texts = [f"output {show_value(o.peek(), 60)}: {fb}" for o, fb in sub.outputs if str(fb)]
        scores = [fb.score for _, fb in sub.outputs if fb.score is not None]
        if not self.history:
            self.history.append(HistoryEntry(0, self.values()))
        last = self.history[-1]
        last.feedback = " | ".join(texts)[:400]
        lone = lone_output(list(sub.outputs)) if self.number_steps else None
        if lone is not None:  # which way the output moves with each number (step/checks.py)
            now = self.values()
            for p in filter(numeric, self.params):
                self.numbers.saw(p.name, p.peek(), lone[0], context_key(now, p.name))
        if last.score is not None or not sub.outputs:
            return ""
        if scores:
            self.record_score(sum(scores) / len(scores))
            return ""
        implied = [implied_score(str(fb)) for _, fb in sub.outputs]
        if not all(v is not None for v in implied):
            return ""
        score = sum(v for v in implied if v is not None) / len(implied)
        self.record_score(score)
        return (
            f"the current values score {score:g}, read from the feedback "
            f"({str(sub.outputs[0][1])[:80]!r}; no score was recorded for them)"
        )

    def _after(self, report: StepReport, moved: bool = True) -> None:
        """Book a finished step; ``moved``: its changes came from proposals (not a return to
        the best values, which says nothing about the direction to go)."""
        self.rejected = (self.rejected + report.rejected)[-self.history_size :]
        for name, (old, new) in report.applied.items() if moved else ():
            self.numbers.record(name, old, new)
        if report.applied:
            self.history.append(HistoryEntry(report.step, self.values()))
            self.history = self.history[-self.history_size :]
            if self.best_score is None:
                self.stall = 0
        else:
            self.stall += 1


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)
