"""Training runs as OpenTelemetry spans (needs ``tracegraph[otel]``).

One span ``train WORKFLOW`` per run (the trainer's settings as ``tracegraph.config.*``); in it,
one span ``step N`` per committed step (scores, whether it was accepted, its model usage as
``gen_ai.usage.*``; each applied update as an event ``tracegraph.update``; each judged example's
feedback as an event ``tracegraph.feedback`` when the run has a directory), every op call of the
workflow as ``op NAME`` (:func:`tracegraph.otel.trace_ops`) and every call of the optimizer's
model as a GenAI ``chat`` span (:func:`tracegraph.otel.traced_client`).
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from optimizers.callbacks.callback import Callback, StepScores

if TYPE_CHECKING:
    from optimizers.step.records import StepReport
    from optimizers.trainer.state import FitResult
    from optimizers.trainer.trainer import Trainer

__all__ = ["OTelCallback"]


def _attr(value: Any) -> Any:
    """A value OpenTelemetry accepts as an attribute (text for anything not plain)."""
    if isinstance(value, (str, bool, int, float)):
        return value
    from tracegraph.otel.export import short

    return short(value)


class OTelCallback(Callback):
    """Sends each training run to OpenTelemetry as spans (see the module docstring).

    Args:
        tracer_provider: where spans go; None: OpenTelemetry's global provider.
        capture_values: record op inputs and outputs on the op spans.
        capture_content: record the optimizer's prompts and replies on its ``chat`` spans.
    """

    def __init__(
        self,
        tracer_provider: Any = None,
        *,
        capture_values: bool = True,
        capture_content: bool = False,
    ) -> None:
        self.tracer_provider = tracer_provider
        self.capture_values = capture_values
        self.capture_content = capture_content
        self._run: Any = None
        self._tokens: list[Any] = []
        self._llm: Any = None

    def on_run_start(self, trainer: Trainer, *, resumed: bool) -> None:
        from opentelemetry import context, trace

        from tracegraph.context import OBSERVER
        from tracegraph.otel.export import _OpSpans, traced_client, tracer_of

        self._tracer = tracer_of(self.tracer_provider)
        name = getattr(trainer.workflow, "__qualname__", "workflow")
        attributes = {f"tracegraph.config.{k}": _attr(v) for k, v in trainer.config().items()
                      if v is not None}  # fmt: skip
        attributes["tracegraph.optimizer"] = type(trainer.optimizer).__name__
        attributes["tracegraph.resumed"] = resumed
        self._run = self._tracer.start_span(f"train {name}", attributes=attributes)
        # This runs in the fit's own context: what is attached here holds for the whole run.
        self._tokens = [
            context.attach(trace.set_span_in_context(self._run)),
            OBSERVER.set(_OpSpans(self._tracer, self.capture_values)),
        ]
        llm = getattr(trainer.optimizer, "llm", None)
        if llm is not None:
            self._llm = llm
            trainer.optimizer.llm = traced_client(
                llm, self.tracer_provider, capture_content=self.capture_content
            )

    def on_validation(self, trainer: Trainer, step: int, scores: list[float]) -> None:
        mean = sum(scores) / len(scores) if scores else None
        attributes: dict[str, Any] = {"tracegraph.step": step, "tracegraph.examples": len(scores)}
        if mean is not None:
            attributes["tracegraph.val_score"] = mean
        self._run.add_event("tracegraph.validation", attributes)

    def on_step_end(self, trainer: Trainer, report: StepReport | None, scores: StepScores) -> None:
        end = time.time_ns()
        seconds = float(scores.record.get("seconds") or 0.0)
        span = self._tracer.start_span(f"step {scores.step}", start_time=end - int(seconds * 1e9))
        span.set_attribute("tracegraph.step", scores.step)
        for key, value in scores.metrics().items():
            span.set_attribute(f"tracegraph.{key}", value)
        span.set_attribute("gen_ai.usage.input_tokens", scores.usage.input_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", scores.usage.output_tokens)
        span.set_attribute("tracegraph.decision", str(scores.record.get("decision", "")))
        for name, (old, new) in (getattr(report, "applied", None) or {}).items():
            event = {"tracegraph.param": name, "old": _attr(old), "new": _attr(new)}
            span.add_event("tracegraph.update", event)
        for row in self._feedback(trainer, scores.step):
            span.add_event("tracegraph.feedback", row)
        span.end(end_time=end)

    def _feedback(self, trainer: Trainer, step: int) -> list[dict[str, Any]]:
        if trainer.rundir is None:
            return []
        path = trainer.rundir.step_path(step) / "feedback.json"
        rows = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
        found = []
        for row in rows:
            event: dict[str, Any] = {"example": int(row.get("example", -1))}
            if row.get("score") is not None:
                event["score"] = float(row["score"])
            if row.get("text"):
                event["feedback"] = _attr(row["text"])
            found.append(event)
        return found

    def on_run_end(self, trainer: Trainer, result: FitResult) -> None:
        from opentelemetry import context

        from tracegraph.context import OBSERVER

        if self._llm is not None:
            trainer.optimizer.llm = self._llm
        run = self._run
        run.set_attribute("tracegraph.status", result.status)
        run.set_attribute("tracegraph.steps", result.steps)
        if result.best_score is not None:
            run.set_attribute("tracegraph.best_score", result.best_score)
        for name, value in result.best_params.items():
            run.set_attribute(f"tracegraph.param.{name}", _attr(value))
        run.set_attribute("gen_ai.usage.input_tokens", result.usage.input_tokens)
        run.set_attribute("gen_ai.usage.output_tokens", result.usage.output_tokens)
        attached, observer = self._tokens
        OBSERVER.reset(observer)
        context.detach(attached)
        run.end()
