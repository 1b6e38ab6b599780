"""Build a tracegraph graph from spans recorded from an LLM application.

Model calls and tool calls become CALL nodes in their real order (within a trace, each call
depends on the call before it at the same nesting level and on the calls nested inside it);
system prompts and tool descriptions become trainable text parameters; feedback recorded on a
span, or given for a trace, becomes feedback on that node. Both the OpenTelemetry GenAI
conventions (``gen_ai.*``) and OpenInference's (``llm.*``, ``tool.*``) are read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tracegraph.backward import backward
from tracegraph.node import Feedback, Node, NodeKind
from tracegraph.otel.spans import Span, SpanImportError, read_spans
from tracegraph.tracing import node as input_node
from tracegraph.tracing import param

__all__ = ["Change", "ImportedTrace", "SpanRef", "import_spans"]

_MODEL_OPS = {"chat", "text_completion", "generate_content"}
_TEXT_KEYS = ("feedback", "user.feedback", "tracegraph.feedback", "feedback.text",
              "feedback.comment", "comment", "text", "gen_ai.evaluation.explanation")  # fmt: skip
_SCORE_KEYS = ("feedback.score", "user.score", "tracegraph.score", "score",
               "gen_ai.evaluation.score.value", "value")  # fmt: skip
_FEEDBACK_EVENTS = {"feedback", "user_feedback", "user.feedback", "tracegraph.feedback",
                    "gen_ai.evaluation.result"}  # fmt: skip
_INDEXED = re.compile(r"^llm\.input_messages\.(\d+)\.message\.(role|content)$")


@dataclass(frozen=True)
class SpanRef:
    """Where something was found: a span of a trace."""

    trace_id: str
    span_id: str
    name: str

    def __str__(self) -> str:
        return f"{self.name} (trace {self.trace_id[:8]}, span {self.span_id[:8]})"


@dataclass(frozen=True)
class Change:
    """A parameter an optimizer step changed, and the spans where it is used."""

    param: str
    old: Any
    new: Any
    used_in: tuple[SpanRef, ...]

    def __str__(self) -> str:
        where = ", ".join(str(s) for s in self.used_in)
        return f"{self.param}: {self.old!r:.80} -> {self.new!r:.80}; used in {where}"


@dataclass
class ImportedTrace:
    """What :func:`import_spans` built.

    ``params``: the trainable text parameters by name; ``uses``: for each, the spans it came
    from; ``nodes``: the CALL node of each model/tool span, by span id; ``outputs``: each
    trace's last top-level call, traces in the order they started; ``feedback``: the
    feedback applied (span, feedback); ``notes``: what was skipped and why.
    """

    params: dict[str, Node] = field(default_factory=dict)
    uses: dict[str, list[SpanRef]] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)
    outputs: list[Node] = field(default_factory=list)
    feedback: list[tuple[SpanRef, Feedback]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def parameters(self) -> list[Node]:
        """The trainable parameters, for an optimizer: ``GraphOptimizer(t.parameters(), ...)``."""
        return list(self.params.values())

    def changes(self, report: Any) -> list[Change]:
        """The parameters an optimizer's StepReport changed, with where each is used."""
        applied: Mapping[str, tuple[Any, Any]] = getattr(report, "applied", {}) or {}
        return [
            Change(name, old, new, tuple(self.uses.get(name, ())))
            for name, (old, new) in applied.items()
            if name in self.params
        ]


# -- what a span is and holds -------------------------------------------------------------------
def _kind(span: Span) -> str | None:
    a = span.attributes
    op = a.get("gen_ai.operation.name")
    oi = str(a.get("openinference.span.kind", "")).upper()
    if op == "execute_tool" or oi == "TOOL":
        return "tool"
    if op in _MODEL_OPS or oi == "LLM" or ("gen_ai.request.model" in a and op is None):
        return "model"
    return None


def _parse(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def _part_text(content: Any) -> str:
    """Text of a message's content: a string, or GenAI/OpenAI parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(_part_text(p.get("content", p.get("text", ""))) if isinstance(p, dict)
                         else str(p) for p in content)  # fmt: skip
    return "" if content is None else str(content)


def _messages(span: Span) -> list[tuple[str, str]]:
    """(role, text) of a model call's input messages, in order."""
    a = span.attributes
    found: list[tuple[str, str]] = []
    system = _parse(a.get("gen_ai.system_instructions"))
    if isinstance(system, list):
        found.append(("system", _part_text(system)))
    for key in ("gen_ai.input.messages",):
        parsed = _parse(a.get(key))
        for m in parsed if isinstance(parsed, list) else []:
            if isinstance(m, dict):
                found.append(
                    (str(m.get("role", "user")), _part_text(m.get("parts", m.get("content"))))
                )
    indexed: dict[int, dict[str, str]] = {}
    for key, value in a.items():
        match = _INDEXED.match(key) or re.match(r"^gen_ai\.prompt\.(\d+)\.(role|content)$", key)
        if match:
            indexed.setdefault(int(match.group(1)), {})[match.group(2)] = str(value)
    found += [(m.get("role", "user"), m.get("content", "")) for _, m in sorted(indexed.items())]
    if not found:  # OpenInference without flattened messages: the request body
        body = _parse(a.get("input.value"))
        for m in body.get("messages", []) if isinstance(body, dict) else []:
            if isinstance(m, dict):
                found.append((str(m.get("role", "user")), _part_text(m.get("content"))))
    return found


def _output(span: Span) -> str:
    a = span.attributes
    if span.attributes.get("gen_ai.tool.call.result") is not None:
        return str(a["gen_ai.tool.call.result"])
    parsed = _parse(a.get("gen_ai.output.messages"))
    if isinstance(parsed, list) and parsed and isinstance(parsed[0], dict):
        return _part_text(parsed[0].get("parts", parsed[0].get("content")))
    for key in ("llm.output_messages.0.message.content", "gen_ai.completion.0.content"):
        if a.get(key) is not None:
            return str(a[key])
    return str(a.get("output.value", ""))


def _tools(span: Span) -> dict[str, str]:
    """Tool name -> description, for the tools a model call offered or a tool span ran."""
    a = span.attributes
    found: dict[str, str] = {}
    name = a.get("gen_ai.tool.name", a.get("tool.name"))
    if name is not None:
        found[str(name)] = str(a.get("gen_ai.tool.description", a.get("tool.description", "")))
    schemas = [_parse(v) for k, v in sorted(a.items()) if k.startswith("llm.tools.")]
    definitions = _parse(a.get("gen_ai.tool.definitions"))
    schemas += definitions if isinstance(definitions, list) else []
    for schema in schemas:
        fn = schema.get("function", schema) if isinstance(schema, dict) else None
        if isinstance(fn, dict) and fn.get("name"):
            found[str(fn["name"])] = str(fn.get("description", ""))
    return {k: v for k, v in found.items() if v}


def _feedback_of(span: Span) -> Feedback | None:
    found = [span.attributes] + [attrs for name, attrs in span.events if name in _FEEDBACK_EVENTS]
    texts: list[str] = []
    scores: list[float] = []
    for i, attrs in enumerate(found):
        keys_text = _TEXT_KEYS if i else _TEXT_KEYS[:5]  # plain 'text'/'score' only in events
        keys_score = _SCORE_KEYS if i else _SCORE_KEYS[:3]
        texts += [str(attrs[k]) for k in keys_text if isinstance(attrs.get(k), str)]
        numbers = [attrs.get(k) for k in keys_score]
        scores += [float(v) for v in numbers if isinstance(v, (int, float)) and v is not True
                   and v is not False]  # fmt: skip
    if not texts and not scores:
        return None
    return Feedback("\n".join(texts), sum(scores) / len(scores) if scores else None)


# -- building the graph -------------------------------------------------------------------------
def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_") or "x"


class _Builder:
    def __init__(self, spans: list[Span]) -> None:
        self.spans = spans
        self.by_id = {s.span_id: s for s in spans}
        self.out = ImportedTrace()
        self.param_of: dict[tuple[str, str], Node] = {}  # (role, text) -> parameter
        self.inputs: dict[tuple[str, str], Node] = {}  # (trace, text) -> input node
        self.counts: dict[str, int] = {}

    def ancestors(self, span: Span) -> list[Span]:
        """The span's ancestors, nearest first (a cycle in bad input stops the walk)."""
        found, seen, parent = [], {span.span_id}, span.parent_id
        while parent is not None and parent in self.by_id and parent not in seen:
            seen.add(parent)
            found.append(self.by_id[parent])
            parent = self.by_id[parent].parent_id
        return found

    def ref(self, span: Span) -> SpanRef:
        return SpanRef(span.trace_id, span.span_id, span.name)

    def text_param(self, role: str, base: str, text: str, span: Span, what: str) -> Node:
        key = (role, text)
        if key not in self.param_of:
            name, i = base, 2
            while name in self.out.params:
                name, i = f"{base}_{i}", i + 1
            self.param_of[key] = self.out.params[name] = param(text, name=name, description=what)
            self.out.uses[name] = []
        node = self.param_of[key]
        if self.ref(span) not in self.out.uses[node.name]:
            self.out.uses[node.name].append(self.ref(span))
        return node

    def agent(self, span: Span) -> str | None:
        for s in (span, *self.ancestors(span)):
            name = s.attributes.get("gen_ai.agent.name", s.attributes.get("agent.name"))
            if name:
                return _slug(str(name))
        return None

    def inputs_of(self, span: Span, kind: str) -> list[tuple[str, Node]]:
        found: list[tuple[str, Node]] = []
        tools = _tools(span)
        if kind == "model":
            messages = _messages(span)
            system = "\n".join(t for r, t in messages if r in ("system", "developer") and t)
            if system:
                agent = self.agent(span)
                base = f"{agent}_instructions" if agent else "system_prompt"
                what = "system prompt of the model calls" + (f" of agent {agent}" if agent else "")
                found.append(("system", self.text_param("system", base, system, span, what)))
            users = [t for r, t in messages if r == "user" and t]
            if users:
                key = (span.trace_id, users[-1])
                if key not in self.inputs:
                    self.inputs[key] = input_node(
                        users[-1], name=f"user_input_{len(self.inputs) + 1}"
                    )
                found.append(("input", self.inputs[key]))
        for tool, description in sorted(tools.items()):
            what = f"description of the tool {tool!r}, as the model reads it"
            node = self.text_param(
                f"tool:{tool}", f"{_slug(tool)}_description", description, span, what
            )
            found.append((f"tool:{tool}", node))
        return found

    def build(self) -> ImportedTrace:
        calls = [s for s in self.spans if _kind(s) is not None]
        calls.sort(key=lambda s: (s.trace_id, s.end, s.start, s.span_id))
        ids = {s.span_id for s in calls}
        scope = {s.span_id: next((a.span_id for a in self.ancestors(s) if a.span_id in ids), None)
                 for s in calls}  # fmt: skip
        done: list[Span] = []
        for span in calls:
            kind = _kind(span) or "model"
            parents = self.inputs_of(span, kind)
            before = [d for d in done if d.trace_id == span.trace_id and d.end <= span.start
                      and scope[d.span_id] == scope[span.span_id]]  # fmt: skip
            if before:
                parents.append(("previous", self.out.nodes[before[-1].span_id]))
            parents += [("nested", self.out.nodes[d.span_id]) for d in done
                        if scope[d.span_id] == span.span_id]  # fmt: skip
            self.out.nodes[span.span_id] = self.call(span, kind, parents)
            done.append(span)
        by_start = sorted(calls, key=lambda s: (s.start, s.trace_id))
        for trace in dict.fromkeys(s.trace_id for s in by_start):  # traces in the order they ran
            top = [s for s in calls if s.trace_id == trace and scope[s.span_id] is None]
            self.out.outputs.append(self.out.nodes[top[-1].span_id])
        return self.out

    def call(self, span: Span, kind: str, parents: list[tuple[str, Node]]) -> Node:
        a = span.attributes
        if kind == "model":
            model = a.get("gen_ai.request.model", a.get("llm.model_name", "a model"))
            op, doc = "chat", f"a call of {model} recorded as span {span.name!r}"
        else:
            tool = str(a.get("gen_ai.tool.name", a.get("tool.name", span.name)))
            op, doc = f"tool_{_slug(tool)}", f"the tool {tool!r} recorded as span {span.name!r}"
        self.counts[op] = self.counts.get(op, 0) + 1
        return Node(
            _output(span),
            NodeKind.EXCEPTION if span.error else NodeKind.CALL,
            f"{op}_{self.counts[op]}",
            op=op,
            parents=tuple(n for _, n in parents),
            arg_names=tuple(label for label, _ in parents),
            meta={"span": self.ref(span)},
            doc=doc,
        )

    def target(self, span: Span) -> Node | None:
        """The node feedback on ``span`` lands on: its own call, or the last call inside it."""
        if span.span_id in self.out.nodes:
            return self.out.nodes[span.span_id]
        inside = [s for s in self.spans if s.span_id in self.out.nodes
                  and span in self.ancestors(s)]  # fmt: skip
        return self.out.nodes[max(inside, key=lambda s: s.end).span_id] if inside else None

    def give(self, where: Span | str, feedback: Feedback) -> None:
        """Backward ``feedback`` from the node of a span, or of a trace (its output)."""
        node: Node | None
        if isinstance(where, str):  # a trace id
            node = next(n for n in self.out.outputs if n.meta["span"].trace_id == where)
            ref = SpanRef(where, node.meta["span"].span_id, f"trace {where[:8]}")
        else:
            node, ref = self.target(where), self.ref(where)
        if node is None:
            self.out.notes.append(f"feedback on span {ref.name!r} reached no model or tool call")
            return
        backward(node, feedback)
        self.out.feedback.append((ref, feedback))


def import_spans(
    source: Any, *, feedback: Mapping[str, Any] | None = None, apply_feedback: bool = True
) -> ImportedTrace:
    """Build a graph from recorded spans; see the module docstring.

    Args:
        source: a path to OTLP JSON (a collector's file exporter output: JSON lines), an OTLP
            JSON object, or the OpenTelemetry SDK's finished spans.
        feedback: more feedback, keyed by trace id (lands on the trace's last top-level call)
            or span id (hex): text, a score, or ``tg.Feedback``.
        apply_feedback: run ``backward`` for the feedback found (default), so an optimizer
            can ``step()`` right away.

    Raises:
        SpanImportError: the source is not readable as spans, or holds no model/tool call.
    """
    spans = read_spans(source)
    builder = _Builder(spans)
    result = builder.build()
    if not result.nodes:
        raise SpanImportError(
            f"none of the {len(spans)} spans is a model or tool call (no gen_ai.operation.name, "
            "openinference.span.kind LLM/TOOL or gen_ai.request.model attribute). Fix: record "
            "the app with a GenAI instrumentation (OpenInference or the OpenTelemetry one)"
        )
    given: list[tuple[Span | str, Feedback]] = []
    for span in spans:
        found = _feedback_of(span)
        if found is not None:
            given.append((span, found))
    traces = {n.meta["span"].trace_id for n in result.outputs}
    for key, value in (feedback or {}).items():
        target = builder.by_id.get(key) or (key if key in traces else None)
        if target is None:
            raise SpanImportError(f"feedback for {key!r}: no span or trace with that id")
        given.append((target, Feedback.coerce(value)))
    if apply_feedback:
        for where, fb in given:
            builder.give(where, fb)
    return result
