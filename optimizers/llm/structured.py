"""Structured replies: schemas for the server, lenient JSON extraction, validation and re-asks.

Shared by every client so a scripted reply goes through exactly what a real one does. The
re-ask loop is a generator (:func:`dialogue`) that yields the messages to send and receives the
raw replies, so the sync and async clients drive the same logic.
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from optimizers.errors import ReplyParseError
from optimizers.llm.types import Message, RawReply

__all__ = [
    "MODES",
    "JSONNotFound",
    "Mode",
    "Outcome",
    "dialogue",
    "extract_json",
    "json_schema_for",
    "messages_for_mode",
    "parse_structured",
    "response_format",
]

Mode = Literal["json_schema", "json_schema_unbounded", "json_object", "text"]
#: From the most to the least help the server gives; a client falls back along this order.
#: ``json_schema_unbounded`` is the strict schema without the ``maxLength`` bounds, for servers
#: (OpenAI among them, at times) that refuse length keywords in strict schemas.
MODES: tuple[Mode, ...] = ("json_schema", "json_schema_unbounded", "json_object", "text")
DEFAULT_MAX_TEXT_LENGTH = 4000
_FENCE = re.compile(r"```[ \t]*(?:json|JSON|json5)?[ \t]*\n?(.*?)```", re.DOTALL)
_MAX_SCAN_STARTS = 200  # bounds the work on long replies full of braces


class JSONNotFound(ValueError):
    """No JSON value could be found in a reply text."""


def json_schema_for(
    model: type[BaseModel], *, max_text_length: int | None = DEFAULT_MAX_TEXT_LENGTH
) -> dict[str, Any]:
    """A strict JSON schema for ``model``: closed objects, every field required, bounded strings.

    Free-text fields get a ``maxLength`` because small models otherwise loop inside a string until
    ``max_tokens`` cuts them off (see docs on the local model).

    >>> class Step(BaseModel):
    ...     reason: str
    ...     value: int
    >>> s = json_schema_for(Step, max_text_length=100)
    >>> s["properties"]["reason"]["maxLength"], s["required"], s["additionalProperties"]
    (100, ['reason', 'value'], False)
    """
    schema = model.model_json_schema()
    stack: list[Any] = [schema]
    while stack:  # iterative: nested models can be deep
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        node.pop("default", None)  # strict mode rejects defaults; pydantic still applies them
        if node.get("type") == "object" and "properties" in node:
            node["additionalProperties"] = False
            node["required"] = list(node["properties"])
        bounded = {"enum", "const", "maxLength"} & node.keys()
        if max_text_length is not None and node.get("type") == "string" and not bounded:
            node["maxLength"] = max_text_length
        stack.extend(node.values())
    return schema


def response_format(mode: Mode, schema: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The ``response_format`` request field for ``mode`` (None for plain text)."""
    if mode in ("json_schema", "json_schema_unbounded"):
        safe = re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64] or "reply"
        return {
            "type": "json_schema",
            "json_schema": {"name": safe, "schema": schema, "strict": True},
        }
    if mode == "json_object":
        return {"type": "json_object"}
    return None


def messages_for_mode(
    messages: list[Message], mode: Mode, schema: dict[str, Any]
) -> tuple[Message, ...]:
    """Add the schema to the system message when the server will not enforce it itself.

    The instruction goes into the first system message (or a new one in front) because several
    chat templates refuse a system message anywhere but first.
    """
    if mode in ("json_schema", "json_schema_unbounded"):
        return tuple(dict(m) for m in messages)
    instruction = (
        "Answer with one JSON object and nothing else (no prose, no code fence). "
        f"It must match this JSON schema:\n{json.dumps(schema, separators=(',', ':'))}"
    )
    out = [dict(m) for m in messages]
    if out and out[0].get("role") == "system":
        out[0]["content"] = f"{out[0].get('content', '')}\n\n{instruction}"
    else:
        out.insert(0, {"role": "system", "content": instruction})
    return tuple(out)


def extract_json(text: str) -> Any:
    """Find the JSON value in a reply: the whole text, a fenced block, or one after prose.

    Objects are preferred over other values because structured replies are objects.

    >>> extract_json('Sure! Here it is:\\n```json\\n{"a": 1}\\n```')
    {'a': 1}
    >>> extract_json('The answer is {"a": [1, 2]} as asked.')
    {'a': [1, 2]}

    Raises:
        JSONNotFound: when no JSON value is in the text.
    """
    stripped = text.strip()
    candidates = [stripped, *(block.strip() for block in _FENCE.findall(text))]
    found: list[Any] = []
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
        found.append(value)
    decoder = json.JSONDecoder()
    starts = [i for i, ch in enumerate(text) if ch in "{["][:_MAX_SCAN_STARTS]
    for start in starts:
        try:
            value, _ = decoder.raw_decode(text, start)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
        found.append(value)
    repaired = _repaired(text)
    if repaired is not None:
        return repaired
    if found:
        return found[0]
    raise JSONNotFound(_why_no_json(stripped))


def _repaired(text: str) -> dict[str, Any] | None:
    """The object of a nearly-JSON reply, repaired by ``json-repair``, or None.

    Small models often write trailing commas, single quotes, or raw newlines inside strings
    (code proposals); each would cost a re-ask. Only a *closed* object is repaired: a reply cut
    off mid-object must stay an error (and a re-ask), not become a plausible, wrong value.
    """
    from json_repair import repair_json  # lazily: only replies that are not JSON pay for it

    candidates = [block.strip() for block in _FENCE.findall(text)]
    first, last = text.find("{"), text.rfind("}")
    if 0 <= first < last:
        candidates.append(text[first : last + 1])
    for candidate in candidates:
        if not candidate.startswith("{") or not _closed(candidate):
            continue
        try:
            value = repair_json(candidate, return_objects=True, skip_json_loads=True)
        except Exception:  # the repairer is best effort: any failure means "not JSON"
            continue
        if isinstance(value, dict) and value:
            return value
    return None


def _closed(text: str) -> bool:
    """True when every ``{`` and ``[`` outside strings ('...' or "...") is closed, in order."""
    depth = 0
    quote = ""
    escaped = False
    for ch in text:
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0 and not quote


def _why_no_json(text: str) -> str:
    if not text:
        return "the reply is empty"
    if "{" in text and text.count("{") > text.count("}"):
        return "the JSON object is not closed (the reply looks cut off)"
    return "no JSON object found in the reply"


def parse_structured(text: str, schema: type[BaseModel]) -> BaseModel:
    """Extract JSON from ``text`` and validate it as ``schema``.

    Raises:
        JSONNotFound: when there is no JSON in the text.
        pydantic.ValidationError: when the JSON does not fit the schema.
    """
    return schema.model_validate(extract_json(text))


@dataclass(frozen=True)
class Outcome:
    """What a dialogue ended with."""

    raw: RawReply
    parsed: BaseModel | None
    attempts: int


def describe_problem(exc: Exception) -> str:
    """One short line for the model (and the error) about what was wrong."""
    if isinstance(exc, ValidationError):
        lines = [f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors()]
        return "the JSON does not match the schema: " + "; ".join(lines[:8])
    return str(exc)


def _problem_with(raw: RawReply, schema: type[BaseModel]) -> tuple[BaseModel | None, str]:
    if raw.refusal:
        return None, f"the model refused: {raw.refusal}"
    if raw.text is None:
        return None, f"the reply has no text (finish_reason={raw.finish_reason})"
    try:
        return parse_structured(raw.text, schema), ""
    except (JSONNotFound, ValidationError) as exc:
        problem = describe_problem(exc)
    if raw.finish_reason == "length":
        problem += " (the reply was cut off at the token limit)"
    return None, problem


def _reask(raw: RawReply, problem: str) -> list[Message]:
    shorter = " Keep every text field short." if raw.finish_reason == "length" else ""
    return [
        {"role": "assistant", "content": raw.text or ""},
        {
            "role": "user",
            "content": f"That reply could not be used: {problem}. Reply again with only the "
            f"corrected JSON object.{shorter}",
        },
    ]


def _text_outcome(raw: RawReply, attempt: int) -> Outcome:
    if raw.text is None:
        raise ReplyParseError(
            f"the reply has no text (finish_reason={raw.finish_reason}, refusal={raw.refusal!r})",
            raw=None,
            model=raw.model,
            fix="check the messages; a refusal or a tool call carries no text",
        )
    return Outcome(raw, None, attempt)


def dialogue(
    messages: list[Message], schema: type[BaseModel] | None, max_reasks: int
) -> Generator[list[Message], RawReply, Outcome]:
    """Yield the messages to send; receive each raw reply; return the validated outcome.

    Without a schema the first reply with text is the outcome. With one, each invalid reply is
    shown back to the model with the problem, at most ``max_reasks`` times.

    Raises:
        ReplyParseError: when the last allowed attempt is still unusable; quotes the raw reply.
    """
    convo = list(messages)
    problems: list[str] = []
    raw: RawReply | None = None
    for attempt in range(1, max_reasks + 2):
        raw = yield convo
        if schema is None:
            return _text_outcome(raw, attempt)
        parsed, problem = _problem_with(raw, schema)
        if parsed is not None:
            return Outcome(raw, parsed, attempt)
        problems.append(problem)
        convo = convo + _reask(raw, problem)
    assert raw is not None  # the loop runs at least once
    name = schema.__name__ if schema is not None else "text"
    raise ReplyParseError(
        f"no valid {name} after {len(problems)} attempt(s)",
        raw=raw.text,
        problems=problems,
        model=raw.model,
        fix="raise max_tokens if the reply was cut off, simplify the schema, "
        "or allow more re-asks (max_reasks=...)",
    )
