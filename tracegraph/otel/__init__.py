"""OpenTelemetry: optimize from recorded traces, and export traced runs as spans.

Reading spans (:func:`import_spans`) needs nothing beyond tracegraph; exporting
(:func:`trace_ops`, :func:`traced_client`) needs ``tracegraph[otel]``. See docs/integrations.md.
"""

from __future__ import annotations

from typing import Any

from tracegraph.otel.importer import Change, ImportedTrace, SpanRef, import_spans
from tracegraph.otel.spans import Span, SpanImportError, read_spans

__all__ = [
    "Change",
    "ImportedTrace",
    "Span",
    "SpanImportError",
    "SpanRef",
    "import_spans",
    "read_spans",
    "trace_ops",
    "traced_client",
]


def __getattr__(name: str) -> Any:
    # The exporters import opentelemetry when they run; keep even their module out until asked.
    if name in ("trace_ops", "traced_client"):
        from tracegraph.otel import export

        return getattr(export, name)
    raise AttributeError(f"module 'tracegraph.otel' has no attribute {name!r}")
