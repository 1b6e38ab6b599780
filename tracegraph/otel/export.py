"""Traced calls as OpenTelemetry spans (needs ``tracegraph[otel]``: ``opentelemetry-sdk``).

Two sources of spans, each following the OpenTelemetry GenAI semantic conventions where they
apply:

- :func:`trace_ops`: every traced op call inside the block becomes a span ``op NAME``
  (``tracegraph.op``, ``tracegraph.node``; the trainable parameters it read as
  ``tracegraph.param.NAME``; inputs and output as short text when ``capture_values``);
  a failing op sets the span's status to ERROR and records the exception.
- :func:`traced_client`: a model client whose calls become ``chat MODEL`` spans
  (``gen_ai.operation.name``, ``gen_ai.request.model``, ``gen_ai.usage.input_tokens``, ...;
  the messages as ``gen_ai.system_instructions``, ``gen_ai.input.messages`` and
  ``gen_ai.output.messages`` only with ``capture_content=True``).

Spans go to the tracer provider given, else OpenTelemetry's global one: configure exporters
there. Op spans are made current, so model calls made inside an op body are its children.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from typing import Any

from tracegraph.context import OBSERVER
from tracegraph.node import Node, NodeKind

__all__ = ["TracedClient", "trace_ops", "traced_client", "tracer_of"]

SCOPE = "tracegraph"
MAX_TEXT = 2000  # attribute values are cut here: spans are for looking, not for storage


def tracer_of(tracer_provider: Any = None) -> Any:
    """The tracer for tracegraph's spans, from ``tracer_provider`` or the global provider."""
    try:
        from opentelemetry import trace
    except ImportError as exc:
        raise ImportError(
            'OpenTelemetry export needs the SDK. Fix: pip install "tracegraph[otel]"'
        ) from exc
    return trace.get_tracer(SCOPE, tracer_provider=tracer_provider)


def short(value: Any) -> str:
    """A value as span text: strings as they are, others as JSON or repr, cut at MAX_TEXT."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=repr)
        except ValueError:  # a circular structure
            text = repr(value)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "…"


class _OpSpans:
    """The observer :mod:`tracegraph.tracing` tells of each op call (see ``context.OBSERVER``)."""

    def __init__(self, tracer: Any, capture_values: bool) -> None:
        self.tracer = tracer
        self.capture_values = capture_values

    def start(self, op_name: str, parents: Sequence[Node], labels: Sequence[str]) -> Any:
        from opentelemetry import context, trace

        attributes: dict[str, Any] = {"tracegraph.op": op_name}
        for parent, label in zip(parents, labels, strict=False):
            if parent.kind is NodeKind.PARAMETER:
                attributes[f"tracegraph.param.{parent.name}"] = short(parent.peek())
            elif self.capture_values:
                attributes[f"tracegraph.input.{label}"] = short(parent.peek())
        attributes["tracegraph.parents"] = [p.name for p in parents]
        span = self.tracer.start_span(f"op {op_name}", attributes=attributes)
        return span, context.attach(trace.set_span_in_context(span))

    def end(self, handle: Any, outcome: Node | Exception) -> None:
        from opentelemetry import context
        from opentelemetry.trace import Status, StatusCode

        span, token = handle
        context.detach(token)
        node = outcome if isinstance(outcome, Node) else getattr(outcome, "node", None)
        if node is not None:
            span.set_attribute("tracegraph.node", node.name)
        if isinstance(outcome, Exception):
            cause = outcome.__cause__ or outcome
            span.record_exception(cause)
            span.set_status(Status(StatusCode.ERROR, f"{type(cause).__name__}: {cause}"))
        elif self.capture_values and node is not None:
            span.set_attribute("tracegraph.output", short(node.peek()))
        span.end()


@contextlib.contextmanager
def trace_ops(tracer_provider: Any = None, *, capture_values: bool = True) -> Iterator[None]:
    """Inside the block, every traced op call is a span (see the module docstring).

    ``capture_values=False`` leaves the inputs and outputs out of the spans (the trainable
    parameters' values are always there: they are what is being optimized).
    """
    token = OBSERVER.set(_OpSpans(tracer_of(tracer_provider), capture_values))
    try:
        yield
    finally:
        OBSERVER.reset(token)


def _content(messages: Sequence[dict[str, Any]]) -> dict[str, str]:
    system = [{"type": "text", "content": str(m.get("content", ""))} for m in messages
              if m.get("role") == "system"]  # fmt: skip
    rest = [
        {"role": m.get("role", "user"), "parts": [{"type": "text", "content": m.get("content")}]}
        for m in messages
        if m.get("role") != "system"
    ]
    found = {"gen_ai.input.messages": json.dumps(rest, ensure_ascii=False)}
    if system:
        found["gen_ai.system_instructions"] = json.dumps(system, ensure_ascii=False)
    return found


class TracedClient:
    """A model client whose calls are ``chat`` spans; everything else is the wrapped client's.

    Build with :func:`traced_client`. ``inner`` is the wrapped client.
    """

    def __init__(self, inner: Any, tracer: Any, capture_content: bool) -> None:
        self.inner = inner
        self._tracer = tracer
        self._capture = capture_content

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _start(self, messages: Sequence[dict[str, Any]], options: dict[str, Any]) -> Any:
        model = str(getattr(self.inner, "model", "unknown"))
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",  # the wire protocol every client here speaks
            "gen_ai.request.model": model,
            "server.address": str(getattr(self.inner, "endpoint", "")),
        }
        for option in ("temperature", "max_tokens", "seed", "top_p"):
            if options.get(option) is not None:
                attributes[f"gen_ai.request.{option}"] = options[option]
        if self._capture:
            attributes.update(_content(messages))
        from opentelemetry.trace import SpanKind

        return self._tracer.start_as_current_span(
            f"chat {model}", kind=SpanKind.CLIENT, attributes=attributes
        )

    def _finish(self, span: Any, reply: Any) -> None:
        span.set_attribute("gen_ai.response.model", str(reply.model))
        if reply.finish_reason:
            span.set_attribute("gen_ai.response.finish_reasons", [str(reply.finish_reason)])
        span.set_attribute("gen_ai.usage.input_tokens", int(reply.usage.input_tokens))
        span.set_attribute("gen_ai.usage.output_tokens", int(reply.usage.output_tokens))
        span.set_attribute("tracegraph.cached", bool(reply.cached))
        if self._capture:
            out = [{"role": "assistant", "parts": [{"type": "text", "content": reply.text}]}]
            span.set_attribute("gen_ai.output.messages", json.dumps(out, ensure_ascii=False))

    def complete(self, messages: list[dict[str, Any]], **kwargs: Any) -> Any:
        """The wrapped client's ``complete``, in a ``chat`` span."""
        with self._start(messages, kwargs) as span:
            reply = self.inner.complete(messages, **kwargs)
            self._finish(span, reply)
            return reply

    async def acomplete(self, messages: list[dict[str, Any]], **kwargs: Any) -> Any:
        """The wrapped client's ``acomplete``, in a ``chat`` span."""
        with self._start(messages, kwargs) as span:
            reply = await self.inner.acomplete(messages, **kwargs)
            self._finish(span, reply)
            return reply


def traced_client(
    client: Any, tracer_provider: Any = None, *, capture_content: bool = False
) -> TracedClient:
    """``client`` (any client of ``optimizers.llm``) with its calls as GenAI ``chat`` spans.

    ``capture_content=True`` also records the messages and the reply text (off by default:
    prompts and answers may hold data that must not leave the process).
    """
    return TracedClient(client, tracer_of(tracer_provider), capture_content)
