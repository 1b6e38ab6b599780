"""Reading recorded spans: OTLP JSON (as a collector's file exporter writes it) or SDK spans.

Everything read here is untrusted input: it is parsed as JSON data only (nothing is imported,
evaluated or unpickled), checked for shape, and a bad file raises :class:`SpanImportError`
naming the file, the line and what was expected.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tracegraph.errors import TracegraphError

__all__ = ["Span", "SpanImportError", "read_spans"]

MAX_BYTES = 256 * 1024 * 1024  # one file; a bigger one is refused rather than read into memory


class SpanImportError(TracegraphError):
    """Recorded spans could not be read: not OTLP JSON, or not of the expected shape."""


@dataclass
class Span:
    """One span, in the plain form the importer works on (ids as lower-case hex)."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    start: int  # nanoseconds since the epoch
    end: int
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    error: bool = False


def _hex_id(raw: Any, size: int, where: str) -> str:
    """An OTLP id: hex (the OTLP/JSON form) or base64 (protobuf's JSON form), as hex."""
    if not isinstance(raw, str):
        raise SpanImportError(f"{where}: expected the id as a string, got {type(raw).__name__}")
    text = raw.strip()
    if len(text) == 2 * size:
        try:
            bytes.fromhex(text)
            return text.lower()
        except ValueError:
            pass
    try:
        decoded = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    if len(decoded) == size:
        return decoded.hex()
    raise SpanImportError(f"{where}: {raw!r:.60} is not a {size}-byte id in hex or base64")


def _any_value(value: Any, where: str) -> Any:
    """An OTLP AnyValue as plain Python data."""
    if not isinstance(value, Mapping):
        raise SpanImportError(f"{where}: expected an AnyValue object, got {type(value).__name__}")
    if "stringValue" in value:
        return str(value["stringValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "intValue" in value:  # int64 is a JSON string in OTLP/JSON
        try:
            return int(value["intValue"])
        except (TypeError, ValueError):
            raise SpanImportError(
                f"{where}: intValue {value['intValue']!r:.40} is not an integer"
            ) from None
    if "doubleValue" in value:
        try:
            return float(value["doubleValue"])
        except (TypeError, ValueError):
            raise SpanImportError(
                f"{where}: doubleValue {value['doubleValue']!r:.40} is not a number"
            ) from None
    if "arrayValue" in value:
        items = (value["arrayValue"] or {}).get("values", [])
        return [_any_value(v, where) for v in _list(items, where)]
    if "kvlistValue" in value:
        return _attributes((value["kvlistValue"] or {}).get("values", []), where)
    if "bytesValue" in value:
        return str(value["bytesValue"])
    return None  # an empty AnyValue


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise SpanImportError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _attributes(items: Any, where: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in _list(items, where):
        if not isinstance(item, Mapping) or not isinstance(item.get("key"), str):
            raise SpanImportError(f"{where}: an attribute must be {{'key': str, 'value': ...}}")
        found[item["key"]] = _any_value(
            item.get("value", {}), f"{where}, attribute {item['key']!r}"
        )
    return found


def _nanos(value: Any, where: str) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        raise SpanImportError(
            f"{where}: time {value!r:.40} is not a number of nanoseconds"
        ) from None


def _otlp_span(raw: Any, where: str) -> Span:
    if not isinstance(raw, Mapping):
        raise SpanImportError(f"{where}: expected a span object, got {type(raw).__name__}")
    parent = raw.get("parentSpanId") or None
    events = []
    for i, event in enumerate(_list(raw.get("events"), where)):
        if not isinstance(event, Mapping):
            raise SpanImportError(f"{where}, event {i}: expected an object")
        events.append((str(event.get("name", "")), _attributes(event.get("attributes"), where)))
    status = raw.get("status") or {}
    code = status.get("code") if isinstance(status, Mapping) else None
    return Span(
        trace_id=_hex_id(raw.get("traceId"), 16, f"{where}, traceId"),
        span_id=_hex_id(raw.get("spanId"), 8, f"{where}, spanId"),
        parent_id=_hex_id(parent, 8, f"{where}, parentSpanId") if parent else None,
        name=str(raw.get("name", "")),
        start=_nanos(raw.get("startTimeUnixNano"), where),
        end=_nanos(raw.get("endTimeUnixNano"), where),
        attributes=_attributes(raw.get("attributes"), where),
        events=events,
        error=code in (2, "STATUS_CODE_ERROR"),
    )


def _from_document(doc: Any, where: str) -> list[Span]:
    """The spans of one ExportTraceServiceRequest-shaped JSON object."""
    if not isinstance(doc, Mapping) or "resourceSpans" not in doc:
        raise SpanImportError(
            f"{where}: not OTLP trace JSON (expected an object with 'resourceSpans'). Fix: "
            "export with a collector's file exporter or OTLP/JSON"
        )
    spans = []
    for r, resource in enumerate(_list(doc["resourceSpans"], where)):
        if not isinstance(resource, Mapping):
            raise SpanImportError(f"{where}, resourceSpans[{r}]: expected an object")
        scopes = resource.get("scopeSpans", resource.get("instrumentationLibrarySpans"))
        for s, scope in enumerate(_list(scopes, where)):
            if not isinstance(scope, Mapping):
                raise SpanImportError(f"{where}, resourceSpans[{r}].scopeSpans[{s}]: not an object")
            for i, raw in enumerate(_list(scope.get("spans"), where)):
                spans.append(
                    _otlp_span(raw, f"{where}, resourceSpans[{r}].scopeSpans[{s}].spans[{i}]")
                )
    return spans


def _read_file(path: Path) -> list[Span]:
    if not path.is_file():
        raise SpanImportError(f"no span file at {path}")
    if path.stat().st_size > MAX_BYTES:
        raise SpanImportError(f"{path} is over {MAX_BYTES // 2**20} MiB; split it")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SpanImportError(f"{path} is not UTF-8 text ({exc}); expected OTLP JSON") from None
    try:  # one JSON document ...
        return _from_document(json.loads(text), str(path))
    except json.JSONDecodeError:
        pass
    spans: list[Span] = []  # ... or JSON lines, one document each (the file exporter's form)
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SpanImportError(f"{path}:{number}: not JSON ({exc.msg})") from None
        spans.extend(_from_document(doc, f"{path}:{number}"))
    return spans


def _sdk_span(span: Any) -> Span:
    """A span of the OpenTelemetry SDK (``ReadableSpan``), read by its public attributes."""
    ctx = span.context
    parent = span.parent
    status = getattr(span, "status", None)
    return Span(
        trace_id=f"{ctx.trace_id:032x}",
        span_id=f"{ctx.span_id:016x}",
        parent_id=f"{parent.span_id:016x}" if parent is not None else None,
        name=str(span.name),
        start=int(span.start_time or 0),
        end=int(span.end_time or 0),
        attributes=dict(span.attributes or {}),
        events=[(str(e.name), dict(e.attributes or {})) for e in span.events],
        error=getattr(getattr(status, "status_code", None), "name", "") == "ERROR",
    )


def read_spans(source: Any) -> list[Span]:
    """The spans of ``source``: a path to OTLP JSON (one document or JSON lines), an OTLP
    JSON object, or a sequence of SDK spans (``InMemorySpanExporter.get_finished_spans()``)."""
    if isinstance(source, (str, os.PathLike)):
        return _read_file(Path(source))
    if isinstance(source, Mapping):
        return _from_document(source, "the OTLP object")
    if isinstance(source, Iterable) and not isinstance(source, (bytes, bytearray)):
        items: Sequence[Any] = list(source)
        if all(isinstance(s, Span) for s in items):
            return list(items)
        if all(hasattr(s, "context") and hasattr(s, "attributes") for s in items):
            return [_sdk_span(s) for s in items]
    raise SpanImportError(
        f"cannot read spans from a {type(source).__name__}. Fix: pass a path to OTLP JSON, an "
        "OTLP JSON object, or the SDK's finished spans"
    )
