"""A tiny LLM app recorded with a real OpenTelemetry instrumentation of the openai client
(OpenInference's), talking to the fake OpenAI server: the spans the import tests read."""

from __future__ import annotations

from typing import Any

SYSTEM = "You answer questions about words. Use the lookup tool first."
TOOL_DESCRIPTION = "Look up a word in the dictionary; returns its definition."
TOOL = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": TOOL_DESCRIPTION,
        "parameters": {"type": "object", "properties": {"word": {"type": "string"}}},
    },
}
DICTIONARY = {"apple": "the round fruit of a tree of the rose family"}
COMPLAINT = "The answer must quote the dictionary's definition word for word."


def record(questions: list[str], replies: list[str]) -> tuple[list[Any], list[str]]:
    """Run the app on each question with the server answering ``replies`` in order; return the
    finished SDK spans and the trace ids (hex), one per question."""
    import openai
    from openinference.instrumentation.openai import OpenAIInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from optimizers.llm import FakeOpenAIServer

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    tracer = provider.get_tracer("word-app")
    traces = []
    try:
        with FakeOpenAIServer(replies) as server:
            client = openai.OpenAI(api_key="fake-key", base_url=server.url, max_retries=0)
            for question in questions:
                with tracer.start_as_current_span(
                    "answer_question", attributes={"openinference.span.kind": "CHAIN"}
                ) as root:
                    _answer(client, tracer, question)
                    root.add_event("feedback", {"score": 0.0, "text": COMPLAINT})
                    traces.append(f"{root.get_span_context().trace_id:032x}")
    finally:
        instrumentor.uninstrument()
    return list(exporter.get_finished_spans()), traces


def _answer(client: Any, tracer: Any, question: str) -> str:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": question},
    ]
    first = client.chat.completions.create(model="fake-model", messages=messages, tools=[TOOL])
    word = (first.choices[0].message.content or "").split()[-1]
    attributes = {
        "openinference.span.kind": "TOOL",
        "tool.name": "lookup",
        "tool.description": TOOL_DESCRIPTION,
        "input.value": word,
    }
    with tracer.start_as_current_span("lookup", attributes=attributes) as span:
        result = DICTIONARY.get(word, "no such word")
        span.set_attribute("output.value", result)
    messages += [
        {"role": "assistant", "content": first.choices[0].message.content},
        {"role": "user", "content": f"lookup({word}) = {result}"},
    ]
    second = client.chat.completions.create(model="fake-model", messages=messages, tools=[TOOL])
    return second.choices[0].message.content or ""


def otlp_json(spans: list[Any], *, hex_ids: bool = True) -> dict[str, Any]:
    """The spans as one OTLP/JSON document: hex ids as a collector's file exporter writes them,
    or base64 ids as protobuf's own JSON mapping does."""
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    doc = MessageToDict(encode_spans(spans))
    if hex_ids:
        import base64

        for resource in doc["resourceSpans"]:
            for scope in resource["scopeSpans"]:
                for span in scope["spans"]:
                    for key in ("traceId", "spanId", "parentSpanId"):
                        if key in span:
                            span[key] = base64.b64decode(span[key]).hex()
    return doc
