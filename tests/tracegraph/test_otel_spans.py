"""Reading OTLP JSON is stdlib-only and treats files as untrusted: shapes are checked and a bad
file gets an error that names where and what."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tracegraph.otel import SpanImportError, import_spans, read_spans

TRACE = "0af7651916cd43dd8448eb211c80319c"


def _span(span_id: str, name: str, parent: str | None = None, **attrs: Any) -> dict[str, Any]:
    start = int(span_id, 16)  # ids are chosen in time order
    span: dict[str, Any] = {
        "traceId": TRACE,
        "spanId": span_id,
        "name": name,
        "startTimeUnixNano": str(start * 10),
        "endTimeUnixNano": str(start * 10 + 5),
        "attributes": [{"key": k, "value": _value(v)} for k, v in attrs.items()],
    }
    if parent:
        span["parentSpanId"] = parent
    return span


def _value(v: Any) -> dict[str, Any]:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    return {"stringValue": v}


def _doc(*spans: dict[str, Any]) -> dict[str, Any]:
    return {"resourceSpans": [{"scopeSpans": [{"spans": list(spans)}]}]}


def _chat(span_id: str, system: str, answer: str, **more: Any) -> dict[str, Any]:
    """A model call in the OpenTelemetry GenAI conventions' attributes."""
    return _span(
        span_id,
        "chat m",
        **{
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "m",
            "gen_ai.system_instructions": json.dumps([{"type": "text", "content": system}]),
            "gen_ai.input.messages": json.dumps(
                [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]
            ),
            "gen_ai.output.messages": json.dumps(
                [{"role": "assistant", "parts": [{"type": "text", "content": answer}]}]
            ),
            **more,
        },
    )


def test_genai_attributes_and_a_score_attribute() -> None:
    doc = _doc(
        _chat("0000000000000001", "Be brief.", "hello", **{"gen_ai.agent.name": "greeter"}),
        _chat("0000000000000002", "Be brief.", "bye", **{"feedback.score": 0.25}),
    )
    imported = import_spans(doc)
    assert list(imported.params) == ["greeter_instructions"]  # one prompt, used twice
    assert len(imported.uses["greeter_instructions"]) == 2
    assert [n.value for n in imported.nodes.values()] == ["hello", "bye"]
    assert imported.feedback[0][1].score == 0.25


def test_a_file_of_json_lines_with_a_broken_line_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    path.write_text(json.dumps(_doc(_chat("0000000000000001", "s", "a"))) + "\n{oops\n")
    with pytest.raises(SpanImportError, match=r"spans\.jsonl:2: not JSON"):
        read_spans(path)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"spans": []}, "resourceSpans"),
        ({"resourceSpans": "x"}, "expected a list"),
        (_doc({**_span("0000000000000001", "a"), "spanId": "xyz"}), "not a 8-byte id"),
        (_doc({**_span("0000000000000001", "a"), "attributes": [{"value": {}}]}), "'key'"),
        (
            _doc(
                _span("0000000000000001", "a", **{"n": 1})
                | {"attributes": [{"key": "n", "value": {"intValue": "1e99x"}}]}
            ),
            "not an integer",
        ),
        (_doc(_span("0000000000000001", "plain")), "none of the 1 spans"),
    ],
)
def test_bad_documents_are_refused_with_a_reason(doc: Any, message: str) -> None:
    with pytest.raises(SpanImportError, match=message):
        import_spans(doc)


def test_a_parent_cycle_in_bad_input_does_not_hang() -> None:
    a = _chat("0000000000000001", "s", "x")
    a["parentSpanId"] = "0000000000000002"
    b = _span("0000000000000002", "loop", "0000000000000001", feedback="bad")
    imported = import_spans(_doc(a, b))
    assert list(imported.nodes) == ["0000000000000001"]


def test_other_sources_are_refused() -> None:
    with pytest.raises(SpanImportError, match="cannot read spans from a int"):
        read_spans(42)
    with pytest.raises(SpanImportError, match="no span file"):
        read_spans("/nonexistent/spans.json")
