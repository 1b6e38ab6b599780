"""The reply an optimizer asks for, and the checks every proposed update goes through.

A step asks the model for one JSON object::

    {"reasoning": "...", "updates": {"prompt": "new text", "temperature": 0.4}}

``updates`` is keyed by the parameters' own names (the ``name=`` the user gave) and every entry is
optional: an empty ``updates`` means "no change", and so does ``null`` for one parameter (for
clients whose strict schemas make every key required); no word in a reply means anything special.

The JSON schema sent to the model is typed per parameter (bounds, the choices, the structure of
a JSON value, length limits), so a server with constrained decoding cannot produce a wrong type.
Validation on our side is deliberately *lenient in parsing and strict in checking*: the pydantic
model accepts any ``updates`` object so that one bad entry does not throw away the good ones, and
:func:`check_updates` then judges each entry on its own, with a reason the model can act on.
Nothing is ever converted by calling the old value's type (``"False"`` is not a bool and
``"[1, 2]"`` is not a list).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, create_model

from tracegraph.node import Feedback, Node, NodeKind
from tracegraph.params import ParamSpec, ParamType
from tracegraph.shorten import short_repr

__all__ = [
    "HistoryEntry",
    "Rejection",
    "apply_updates",
    "build_reply_model",
    "check_updates",
    "json_schema_of_value",
    "read_reply",
    "readonly_names",
    "same_value",
]


class SubgraphLike(Protocol):
    """What is read from ``tracegraph.graph.Subgraph``."""

    nodes: list[Node]
    outputs: list[tuple[Node, Feedback]]


#: Limits on free text in a reply when the parameter sets none: they keep a small model from
#: looping inside a string until ``max_tokens`` (see LOCAL_MODEL.md).
DEFAULT_REASONING_CHARS = 600
DEFAULT_TEXT_CHARS = 2000
DEFAULT_CODE_CHARS = 4000


@dataclass
class Rejection:
    """One proposed update that was not applied, and why."""

    param: str
    value: Any
    reasons: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.param} = {short_repr(self.value, 120)}: " + "; ".join(self.reasons)


@dataclass
class HistoryEntry:
    """One set of parameter values an optimizer tried, what feedback it got, and its score.

    An entry is appended when a step applies new values; the feedback of the next step (and a
    score given by ``Optimizer.record_score``) is then filled in on it.
    """

    step: int
    values: dict[str, Any]
    feedback: str = ""
    score: float | None = None


def json_schema_of_value(example: Any) -> dict[str, Any]:
    """A JSON schema that accepts values with the same structure as ``example``.

    >>> json_schema_of_value({"k": [1]})["properties"]["k"]
    {'type': 'array', 'items': {'type': 'integer'}}
    """
    if isinstance(example, dict):
        return {
            "type": "object",
            "properties": {str(k): json_schema_of_value(v) for k, v in example.items()},
            "required": [str(k) for k in example],
            "additionalProperties": False,
        }
    if isinstance(example, list):
        return (
            {"type": "array", "items": json_schema_of_value(example[0])}
            if example
            else {"type": "array"}
        )
    if isinstance(example, bool):
        return {"type": "boolean"}
    if isinstance(example, int):
        return {"type": "integer"}
    if isinstance(example, float):
        return {"type": "number"}
    if isinstance(example, str):
        return {"type": "string"}
    return {}  # None (or anything else): any JSON value


def _param_schema(spec: ParamSpec, text_chars: int, code_chars: int) -> dict[str, Any]:
    """The JSON schema of one parameter's update."""
    t = spec.type
    schema: dict[str, Any]
    if t is ParamType.CHOICE:
        schema = {"enum": list(spec.choices or ())}
    elif t in (ParamType.NUMBER, ParamType.INTEGER):
        schema = {"type": "number" if t is ParamType.NUMBER else "integer"}
        lo, hi = spec.bounds or (None, None)
        if lo is not None:
            schema["minimum"] = lo
        if hi is not None:
            schema["maximum"] = hi
    elif t is ParamType.BOOL:
        schema = {"type": "boolean"}
    elif t is ParamType.JSON:
        schema = json_schema_of_value(spec.example)
    else:
        limit = code_chars if t is ParamType.CODE else text_chars
        if spec.max_length is not None:
            limit = min(limit, spec.max_length)
        schema = {"type": "string", "maxLength": limit}
    # null means "keep the current value": clients that make every property required (strict
    # structured outputs) still let the model leave a parameter alone.
    out: dict[str, Any] = {"anyOf": [schema, {"type": "null"}]}
    if spec.description:
        out["description"] = spec.description[:200]
    return out


def build_reply_model(
    params: Sequence[Node],
    *,
    reasoning_chars: int = DEFAULT_REASONING_CHARS,
    text_chars: int = DEFAULT_TEXT_CHARS,
    code_chars: int = DEFAULT_CODE_CHARS,
    model_name: str = "StepReply",
) -> type[BaseModel]:
    """The pydantic model of this step's reply, with a JSON schema typed per parameter.

    The schema lists every parameter under ``updates`` by its own name, each optional, and
    forbids other keys. Validation itself only requires the two fields' outer types (a string
    and an object); :func:`read_reply` and :func:`check_updates` judge the rest entry by entry.

    >>> import tracegraph.params as p
    >>> from tracegraph.node import NodeKind
    >>> t = Node(0.5, NodeKind.PARAMETER, "t", spec=p.ParamSpec(p.ParamType.NUMBER, bounds=(0, 1)))
    >>> schema = build_reply_model([t]).model_json_schema()["properties"]["updates"]
    >>> schema["properties"]["t"]["anyOf"][0] == {"type": "number", "minimum": 0, "maximum": 1}
    True
    """
    updates_schema = {
        "type": "object",
        "properties": {p.name: _param_schema(_spec(p), text_chars, code_chars) for p in params},
        "additionalProperties": False,
    }

    def finish(schema: dict[str, Any]) -> None:
        schema["required"] = ["reasoning", "updates"]
        schema["additionalProperties"] = False

    fields: dict[str, Any] = {
        "reasoning": (
            Annotated[str, WithJsonSchema({"type": "string", "maxLength": reasoning_chars})],
            "",
        ),
        "updates": (
            Annotated[dict[str, Any], WithJsonSchema(updates_schema)],
            Field(default_factory=dict),
        ),
    }
    config = ConfigDict(extra="allow", json_schema_extra=finish)
    model: type[BaseModel] = create_model(model_name, __config__=config, **fields)
    return model


def _spec(node: Node) -> ParamSpec:
    assert node.spec is not None, f"{node.name} is not a parameter"
    return node.spec


def read_reply(parsed: BaseModel | Mapping[str, Any]) -> tuple[str, dict[str, Any], list[str]]:
    """The reasoning, the raw updates and complaints about the reply's outer shape.

    Keys outside ``reasoning`` and ``updates`` are reported (a small model often puts updates
    at the top level): they are never applied.
    """
    data = parsed.model_dump() if isinstance(parsed, BaseModel) else dict(parsed)
    reasoning = data.pop("reasoning", "")
    updates = data.pop("updates", {})
    problems = []
    if not isinstance(reasoning, str):
        problems.append(f'"reasoning" must be text, got {type(reasoning).__name__}')
        reasoning = str(reasoning)
    if not isinstance(updates, dict):
        problems.append(
            f'"updates" must be an object {{NAME: VALUE}}, got {short_repr(updates, 120)}'
        )
        updates = {}
    for key in data:
        problems.append(
            f'the key "{key}" is outside "updates" and was ignored: put every change inside '
            '"updates" as {"NAME": VALUE}'
        )
    return reasoning, updates, problems


def _coerce_lossless(spec: ParamSpec, value: Any) -> Any:
    """The one conversion we make: an integral float for an integer (3.0 -> 3), which loses
    nothing; strings are never parsed into other types."""
    if (
        spec.type is ParamType.INTEGER
        and isinstance(value, float)
        and math.isfinite(value)
        and value.is_integer()
    ):
        return int(value)
    return value


def _unknown_name_reason(name: str, trainable: Sequence[str], readonly: Mapping[str, str]) -> str:
    allowed = ", ".join(trainable) or "(none)"
    if name in readonly:
        return f'"{name}" is {readonly[name]} and is READ-ONLY; you may change only: {allowed}'
    close = difflib.get_close_matches(name, list(trainable), n=1, cutoff=0.5)
    lowered = {t.lower(): t for t in trainable}
    if name.lower() in lowered:
        close = [lowered[name.lower()]]
    hint = f'; did you mean "{close[0]}"?' if close else ""
    return f'there is no trainable parameter named "{name}"{hint} You may change only: {allowed}'


def check_updates(
    raw: Mapping[str, Any],
    params: Sequence[Node],
    *,
    readonly: Mapping[str, str] | None = None,
    extra_check: Callable[[Node, Any], list[str]] | None = None,
) -> tuple[dict[Node, Any], list[Rejection]]:
    """Judge each proposed update on its own.

    Args:
        raw: the ``updates`` object of a reply, NAME -> VALUE.
        params: the parameters this step may change.
        readonly: names of other things in the problem (inputs, intermediate values) with a
            few words on what each is, so a proposal for one gets a pointed reason.
        extra_check: called on values that pass the spec (e.g. code trial runs); returns
            reasons to reject.

    Returns:
        The accepted values by node (normalised, and only those that differ from the current
        value) and the rejected updates with their reasons.
    """
    by_name = {p.name: p for p in params}
    names = [p.name for p in params]
    accepted: dict[Node, Any] = {}
    rejected: list[Rejection] = []
    for name, value in raw.items():
        node = by_name.get(name)
        if value is None:  # null: keep the current value (see _param_schema); no proposal
            continue
        if node is None:
            reason = _unknown_name_reason(name, names, readonly or {})
            rejected.append(Rejection(name, value, [reason]))
            continue
        spec = _spec(node)
        value = _coerce_lossless(spec, value)
        problems = spec.check(value)
        if not problems and extra_check is not None and not same_value(value, node.peek()):
            problems = extra_check(node, value)
        if problems:
            rejected.append(Rejection(name, value, problems))
        elif not same_value(spec.normalize(value), node.peek()):
            accepted[node] = spec.normalize(value)
    return accepted, rejected


def same_value(a: Any, b: Any) -> bool:
    """Equal and of the same JSON type (``1 == True`` in Python, but not here)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def apply_updates(accepted: Mapping[Node, Any]) -> dict[str, tuple[Any, Any]]:
    """Set all accepted values together: if one assignment fails, restore every one already made.

    Returns:
        name -> (old, new) for every parameter changed.

    Raises:
        ParameterError: from the failing ``set_value``, after the rollback.
    """
    old = {node: node.peek() for node in accepted}
    done: list[Node] = []
    try:
        for node, value in accepted.items():
            node.set_value(value)
            done.append(node)
    except Exception:
        for node in reversed(done):
            node.restore(old[node])  # the old value was valid; restore it exactly, unchecked
        raise
    return {node.name: (old[node], node.peek()) for node in accepted}


def readonly_names(sub: SubgraphLike, trainable: set[Node]) -> dict[str, str]:
    """Names in the problem the model might mistake for parameters, with what each really is.

    Passed to :func:`check_updates` so an update of one gets a pointed reason.
    """
    out: dict[str, str] = {}
    outputs = {o for o, _ in sub.outputs}
    for n in sub.nodes:
        for p in (n, *n.parents):
            if p in trainable or p.name in out:
                continue
            if p.kind is NodeKind.INPUT:
                out[p.name] = "an input"
            elif p.kind is NodeKind.PARAMETER:
                out[p.name] = "a parameter that this optimizer does not train"
            elif p in outputs:
                out[p.name] = "an output"
            elif p.kind in (NodeKind.CALL, NodeKind.EXCEPTION):
                out[p.name] = f"an intermediate value (the result of {p.op})"
    return out
