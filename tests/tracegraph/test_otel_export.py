"""Traced calls and training runs as OpenTelemetry spans: the SDK's in-memory exporter, and an
OTLP/HTTP exporter sending to a real receiver started in the test."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import tracegraph as tg
from optimizers import ScriptedClient
from tests.optimizers.trainer.tasks import numeric_task, updates
from tracegraph.otel import import_spans, trace_ops, traced_client

pytest.importorskip("opentelemetry.sdk", reason="needs the [otel] extra")
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)

SYSTEM = "Answer in one word."


@pytest.fixture
def memory() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def _workflow(llm: Any) -> tuple[Any, Any]:
    prompt = tg.param(SYSTEM, name="prompt", description="system prompt")

    @tg.op
    def ask(system: str, question: str) -> str:
        """Ask the model."""
        messages = [{"role": "system", "content": system}, {"role": "user", "content": question}]
        return llm.complete(messages, temperature=0.0).text

    @tg.op
    def shout(text: str) -> str:
        """Upper-case the answer."""
        if not text:
            raise ValueError("empty answer")
        return text.upper()

    return prompt, lambda q: shout(ask(prompt, q))


def test_ops_and_model_calls_become_nested_genai_spans(memory: Any) -> None:
    provider, exporter = memory
    llm = traced_client(ScriptedClient(["paris", "", "rome"]), provider, capture_content=True)
    _prompt, run = _workflow(llm)
    with trace_ops(provider):
        out = run("capital of France?")
        with pytest.raises(tg.OpError):
            run("again?")
    assert out.value == "PARIS"
    spans = exporter.get_finished_spans()
    by_name: dict[str, list[Any]] = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(span)
    ask, chat, shout = by_name["op ask"][0], by_name["chat scripted"][0], by_name["op shout"][0]
    assert chat.parent is not None and chat.parent.span_id == ask.context.span_id  # nested
    assert chat.attributes["gen_ai.operation.name"] == "chat"
    assert chat.attributes["gen_ai.request.model"] == "scripted"
    assert chat.attributes["gen_ai.request.temperature"] == 0.0
    assert chat.attributes["gen_ai.usage.output_tokens"] >= 1
    system = json.loads(chat.attributes["gen_ai.system_instructions"])
    assert system == [{"type": "text", "content": SYSTEM}]
    assert ask.attributes["tracegraph.param.prompt"] == SYSTEM
    assert ask.attributes["tracegraph.input.question"] == "capital of France?"
    assert shout.attributes["tracegraph.output"] == "PARIS"
    assert shout.attributes["tracegraph.node"] == out.name
    failed = by_name["op shout"][1]
    assert failed.status.status_code.name == "ERROR" and "empty answer" in failed.status.description
    # Outside the block nothing is recorded.
    before = len(exporter.get_finished_spans())
    run("not traced")
    assert len(exporter.get_finished_spans()) == before + 1  # the client's own chat span only


def test_exported_spans_import_back_as_a_graph(memory: Any) -> None:
    provider, exporter = memory
    llm = traced_client(ScriptedClient(["paris"]), provider, capture_content=True)
    _, run = _workflow(llm)
    with trace_ops(provider):
        run("capital of France?")
    imported = import_spans(exporter.get_finished_spans())
    assert imported.params["system_prompt"].value == SYSTEM
    assert [n.value for n in imported.nodes.values()] == ["paris"]


def test_a_training_run_is_a_span_tree(memory: Any, tmp_path: Path) -> None:
    from optimizers.callbacks.otel import OTelCallback

    provider, exporter = memory
    llm = ScriptedClient([updates({"x": 5.0}), updates({"x": 4.0})])
    trainer = numeric_task(
        llm, run_dir=tmp_path / "run", epochs=1, callbacks=[OTelCallback(provider)]
    )
    result = trainer.fit()
    assert trainer.optimizer.llm is llm  # the traced wrapper is gone after the run
    spans = exporter.get_finished_spans()
    (run,) = [s for s in spans if s.name.startswith("train ")]
    steps = sorted((s for s in spans if s.name.startswith("step ")), key=lambda s: s.name)
    assert [s.name for s in steps] == ["step 0", "step 1", "step 2"]
    assert all(s.parent is not None and s.parent.span_id == run.context.span_id for s in steps)
    assert run.attributes["tracegraph.config.batch_size"] == 1
    assert run.attributes["tracegraph.status"] == result.status
    assert run.attributes["tracegraph.param.x"] == 5.0
    update = [e for e in steps[1].events if e.name == "tracegraph.update"]
    assert update[0].attributes["tracegraph.param"] == "x" and update[0].attributes["new"] == 5.0
    feedback = [e for e in steps[1].events if e.name == "tracegraph.feedback"]
    assert len(feedback) == 1 and "score" in feedback[0].attributes
    ops = [s for s in spans if s.name == "op scale"]
    assert ops and all(s.context.trace_id == run.context.trace_id for s in ops)
    chats = [s for s in spans if s.name.startswith("chat ")]
    assert len(chats) == 2 and all(c.attributes["gen_ai.usage.input_tokens"] > 0 for c in chats)
    assert [e.name for e in run.events].count("tracegraph.validation") == 3


class _Receiver(BaseHTTPRequestHandler):
    """An OTLP/HTTP trace receiver: decodes each protobuf body it is sent."""

    def do_POST(self) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest.FromString(body)
        self.server.received.append((self.path, self.headers["Content-Type"], request))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_spans_reach_a_real_otlp_http_receiver() -> None:
    exporter_module = pytest.importorskip("opentelemetry.exporter.otlp.proto.http.trace_exporter")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter_module.OTLPSpanExporter(url)))
        llm = traced_client(ScriptedClient(["paris"]), provider)
        _, run = _workflow(llm)
        with trace_ops(provider):
            run("capital of France?")
        provider.shutdown()
    finally:
        server.shutdown()
        server.server_close()
    received = server.received  # type: ignore[attr-defined]
    assert {(path, kind) for path, kind, _ in received} == {
        ("/v1/traces", "application/x-protobuf")
    }
    spans = [s for _, _, r in received for rs in r.resource_spans for ss in rs.scope_spans
             for s in ss.spans]  # fmt: skip
    assert sorted(s.name for s in spans) == ["chat scripted", "op ask", "op shout"]
    chat = next(s for s in spans if s.name == "chat scripted")
    attrs = {a.key: a.value for a in chat.attributes}
    assert attrs["gen_ai.request.model"].string_value == "scripted"
    assert "gen_ai.input.messages" not in attrs  # content is opt-in
