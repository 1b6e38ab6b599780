"""TextualGradientOptimizer: feedback written backward through the graph, then one update each.

A step has two phases:

1. **Text backward.** The ops on a path from a trainable parameter to an output that got
   feedback are grouped by *level* (the longest distance to an output): the ops of one level
   depend only on feedback from lower levels, so they are sent together, in batches of at most
   ``batch_chars`` characters. For each op the model sees what it does, its inputs, its output
   and the feedback on that output, and writes feedback for each input on the path ("how should
   this input change?"). Pieces of feedback that reach one node from several users are combined
   into at most ``gradient_chars`` characters, each piece cut in proportion with a visible
   marker. When the graph needs more calls than ``max_calls`` allows, the text backward is
   replaced by one call per parameter that reads the rendered program (the same budgeted text
   the graph-aware optimizer sees) and writes the feedback for that parameter.
2. **Update.** One call per parameter: its kind, constraints and current value, the combined
   feedback on it, what was tried before, and the reply shape typed for that one parameter. The
   checks, re-asks and the all-or-nothing apply are the base class's.

A gradient reply that cannot be read, or that writes nothing for an input, passes the op's
feedback on to its inputs unchanged and says so in the report's notes (never silently), so one
bad reply never silences the rest of the step.

>>> import tracegraph.params as tp
>>> from tracegraph.backward import backward
>>> from tracegraph.node import Node, NodeKind
>>> from optimizers.llm.scripted import ScriptedClient
>>> x = Node(1.0, NodeKind.PARAMETER, "x", spec=tp.ParamSpec(tp.ParamType.NUMBER))
>>> y = Node(2.0, NodeKind.CALL, "double_1", op="double", parents=(x,), arg_names=("v",))
>>> backward(y, "should be larger")
>>> llm = ScriptedClient([
...     '{"reasoning": "", "feedback": {"x": "x is too small"}}',
...     '{"reasoning": "", "updates": {"x": 3}}',
... ])
>>> TextualGradientOptimizer([x], llm=llm).step().applied
{'x': (1.0, 3.0)}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator, Iterable, Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, create_model

from optimizers.algorithms.optimizer import Ask, Message, Optimizer, StepContext
from optimizers.errors import ReplyParseError
from optimizers.llm.types import Reply
from optimizers.step.problem import (
    ProblemConfig,
    _clip,
    _json,
    _param_section,
    _reply_shape,
    local_names,
    render_problem,
    show_value,
)
from optimizers.step.replies import build_reply_model
from tracegraph.node import Node, NodeKind

__all__ = ["TextualGradientOptimizer"]

GRADIENT_SYSTEM = (
    "You critique one step of a program at a time. Given the feedback on a step's output, say "
    "for each of its inputs how that input should change so the output gets better feedback. "
    "Be concrete and short. Reply with one JSON object only."
)
UPDATE_SYSTEM = (
    "You improve one parameter of a program. Read the feedback about it and propose a better "
    "value. Reply with one JSON object only."
)

Step = Generator[Ask, Reply, Any]
_ROLES = {
    NodeKind.PARAMETER: "parameter, read-only",
    NodeKind.INPUT: "input",
    NodeKind.CALL: "intermediate value",
    NodeKind.EXCEPTION: "raised an exception",
}


@dataclasses.dataclass
class _ParamContext(StepContext):
    """A step context narrowed to one parameter, with the feedback written for it."""

    gradient: str = ""


def _combine(pieces: Sequence[str], limit: int) -> str:
    """Distinct pieces of feedback joined, each cut in proportion to fit ``limit`` characters.

    >>> _combine(["a" * 30, "b" * 30, "a" * 30], 70)
    '- aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\\n- bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb'
    >>> len(_combine(["a" * 300, "b" * 300], 100)) <= 100
    True
    """
    distinct = list(dict.fromkeys(p.strip() for p in pieces if p.strip()))
    if not distinct:
        return ""
    share = max(limit // len(distinct) - 3, 20)
    return "\n".join(f"- {_clip(' '.join(p.split()), share)}" for p in distinct)


def _levels(nodes: Sequence[Node]) -> dict[Node, int]:
    """Longest distance (in edges) from each node to a node with no user among ``nodes``."""
    inside = set(nodes)
    level: dict[Node, int] = {}
    for n in reversed(nodes):  # users come after their parents in topological order
        level.setdefault(n, 0)
        for p in n.parents:
            if p in inside:
                level[p] = max(level.get(p, 0), level[n] + 1)
    return level


def _gradient_model(names: Sequence[str], chars: int) -> type[BaseModel]:
    """The reply of a gradient call: ``{"reasoning": ..., "feedback": {NAME: TEXT}}``."""
    text = {"type": "string", "maxLength": chars}
    schema = {
        "type": "object",
        "properties": {n: text for n in names},
        "required": list(names),
        "additionalProperties": False,
    }

    def finish(s: dict[str, Any]) -> None:
        s["required"] = ["reasoning", "feedback"]
        s["additionalProperties"] = False

    fields: dict[str, Any] = {
        "reasoning": (Annotated[str, WithJsonSchema({"type": "string", "maxLength": 300})], ""),
        "feedback": (
            Annotated[dict[str, Any], WithJsonSchema(schema)],
            Field(default_factory=dict),
        ),
    }
    config = ConfigDict(extra="allow", json_schema_extra=finish)
    model: type[BaseModel] = create_model("GradientReply", __config__=config, **fields)
    return model


class TextualGradientOptimizer(Optimizer):
    """The textual-gradient optimizer: feedback per input, backward, then one update per parameter.

    Args:
        params: the parameters (or a ``tg.Module``).
        llm: the model client.
        max_calls: the most model calls of the text backward in one step (re-asks of updates
            not counted); over it, one call per parameter reads the rendered program instead.
        batch_chars: the most characters of ops shown in one gradient call.
        gradient_chars: the most characters of combined feedback on one node.
        problem: sizes of the rendered texts (values, feedback, history).
        **config: see :class:`~optimizers.algorithms.optimizer.Optimizer`.
    """

    label = "optimizer:textgrad"

    def __init__(
        self,
        params: Iterable[Node] | Any,
        *,
        max_calls: int = 12,
        batch_chars: int = 3000,
        gradient_chars: int = 800,
        problem: ProblemConfig | None = None,
        **config: Any,
    ) -> None:
        super().__init__(params, **config)
        self.max_calls = max_calls
        self.batch_chars = batch_chars
        self.gradient_chars = gradient_chars
        self.problem = problem or ProblemConfig()

    # ------------------------------------------------------------------ the step

    def propose(self, ctx: StepContext) -> Step:
        """Write feedback backward, then ask for each parameter's update on its own."""
        gradients = yield from self.text_backward(ctx)
        accepted: dict[Node, Any] = {}
        reasons: list[str] = []
        for p in ctx.params:
            pctx = _ParamContext(
                ctx.step,
                ctx.sub,
                [p],
                ctx.report,
                build_reply_model([p]),
                ctx.options,
                ctx.readonly,
                gradient=gradients.get(p, ""),
            )
            got = yield from super().propose(pctx)
            if ctx.report.error is not None:  # one unreadable update does not sink the others
                ctx.report.notes.append(f"{p.name}: {ctx.report.error}")
                ctx.report.error = None
            if ctx.report.reasoning:
                reasons.append(f"{p.name}: {ctx.report.reasoning}")
            accepted.update(got)
        ctx.report.reasoning = "\n".join(reasons)
        return accepted

    def build_messages(self, ctx: StepContext) -> list[Message]:
        """The update request for the one parameter of a narrowed context."""
        gradient = ctx.gradient if isinstance(ctx, _ParamContext) else ""
        (p,) = ctx.params
        cfg = self.problem
        names = local_names(ctx.sub)  # the names the rendered program uses: stable across runs
        outputs = "\n".join(
            f"{names.get(o, o.name)} = {show_value(o.peek(), cfg.value_chars)}; feedback: "
            + _clip(str(fb), cfg.feedback_chars)
            for o, fb in ctx.sub.outputs[:4]
        )
        parts = [
            f"You may change ONLY: {p.name}",
            "## The parameter\n" + _param_section([p], cfg, self.hints([p])),
            "## Feedback about it\n" + (gradient or "(none was written)"),
            "## Outputs of the program and their feedback\n" + outputs,
        ]
        memory = self._memory_of(p)
        if memory:
            parts.append("## Tried before (do not propose these again)\n" + memory)
        parts.append("## Your reply\n" + _reply_shape([p]))
        return [
            {"role": "system", "content": UPDATE_SYSTEM},
            {"role": "user", "content": "\n\n".join(parts)},
        ]

    def _memory_of(self, p: Node) -> str:
        """Past values of ``p`` with their scores and feedback, and its rejected proposals."""
        lines = []
        past = self.history if len(self.history) > 1 else []  # a lone entry is the current one
        for h in past[-self.problem.history_items :]:
            if p.name not in h.values:
                continue
            score = "" if h.score is None else f" -> score {h.score:g}"
            fb = f"; feedback: {_clip(' '.join(h.feedback.split()), 120)}" if h.feedback else ""
            lines.append(f"- step {h.step}: {_json(h.values[p.name], 80)}{score}{fb}")
        mine = [r for r in self.rejected if r.param == p.name]
        for r in mine[-self.problem.rejected_items :]:
            lines.append(f"- REJECTED {_json(r.value, 80)}: {'; '.join(r.reasons)[:200]}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ text backward

    def text_backward(self, ctx: StepContext) -> Generator[Ask, Reply, dict[Node, str]]:
        """Feedback for each parameter of ``ctx``: written op by op, or from the whole program."""
        names = local_names(ctx.sub)  # the names of every view: stable across processes and threads
        batches = self._plan(ctx, names)
        if batches is None:
            ctx.report.notes.append(
                f"the program needs more than max_calls={self.max_calls} feedback calls: "
                "feedback was written per parameter from the rendered program"
            )
            return (yield from self._shortcut(ctx))
        env: dict[Node, list[str]] = {}
        for o, fb in ctx.sub.outputs:
            env.setdefault(o, []).append(str(fb))
        for batch in batches:
            yield from self._gradient_call(ctx, batch, env, names)
        return {p: _combine(env.get(p, []), self.gradient_chars) for p in ctx.params}

    def _targets(self, ctx: StepContext, op: Node) -> list[Node]:
        """The inputs of ``op`` that lead back to a parameter this step changes."""
        wanted = set(ctx.params)
        inside = set(ctx.sub.nodes)
        out: list[Node] = []
        for p in op.parents:
            if p in inside and (p in wanted or p.op is not None) and p not in out:
                out.append(p)
        return out

    def _plan(self, ctx: StepContext, names: dict[Node, str]) -> list[list[Node]] | None:
        """Batches of ops in the order they are asked, or None when over ``max_calls``."""
        level = _levels(ctx.sub.nodes)
        # In rendering order (``names`` keeps it), not uid order, which threads make racy.
        ops = [n for n in names if n in level and n.op is not None and self._targets(ctx, n)]
        if len(ops) > self.max_calls:
            return None
        batches: list[list[Node]] = []
        for lv in sorted({level[n] for n in ops}):
            batch: list[Node] = []
            used = 0
            for n in (n for n in ops if level[n] == lv):
                size = len(self._render_op(ctx, n, {}, names))
                if batch and used + size > self.batch_chars:
                    batches.append(batch)
                    batch, used = [], 0
                batch.append(n)
                used += size
            batches.append(batch)
        return batches if len(batches) <= self.max_calls else None

    def _render_op(
        self, ctx: StepContext, op: Node, env: dict[Node, list[str]], names: dict[Node, str]
    ) -> str:
        cfg = self.problem
        wanted = set(ctx.params)
        lines = [f"### {names.get(op, op.name)} = {op.op}(...)"]
        doc = op.doc
        if doc:
            lines.append("what it does: " + _clip(" ".join(doc.split()), cfg.doc_chars))
        lines.append("inputs:")
        for parent, label in zip(op.parents, op.arg_names, strict=False):
            if parent.kind is NodeKind.CONSTANT:
                continue
            value = show_value(parent.peek(), cfg.value_chars)
            if op.code_param is parent:
                what = "the code of this function; trainable parameter"
            else:
                what = f"argument {label}; {_ROLES.get(parent.kind, parent.kind.value)}"
                if parent in wanted:
                    what = f"argument {label}; trainable parameter"
            lines.append(f"  {names.get(parent, parent.name)} ({what}) = {value}")
        shown = "RAISED " if op.kind is NodeKind.EXCEPTION else ""
        lines.append(f"output: {shown}{show_value(op.peek(), cfg.value_chars)}")
        fb = _combine(env.get(op, []), self.gradient_chars) or "(none)"
        lines.append("feedback on the output:\n" + fb)
        return "\n".join(lines)

    def _gradient_call(
        self,
        ctx: StepContext,
        batch: list[Node],
        env: dict[Node, list[str]],
        shown: dict[Node, str],
    ) -> Generator[Ask, Reply, None]:
        targets = list(dict.fromkeys(t for op in batch for t in self._targets(ctx, op)))
        names = list(dict.fromkeys(shown.get(t, t.name) for t in targets))
        body = "\n\n".join(self._render_op(ctx, op, env, shown) for op in batch)
        shape = ", ".join(f'"{n}": "<how {n} should change>"' for n in names)
        user = (
            "Steps of a program, with the feedback on their outputs:\n\n"
            f"{body}\n\n## Your reply\nAnswer with ONE JSON object and nothing else:\n"
            f'{{"reasoning": "<short>", "feedback": {{{shape}}}}}\n'
            f"Write feedback for exactly these inputs: {', '.join(names)}."
        )
        messages = [
            {"role": "system", "content": GRADIENT_SYSTEM},
            {"role": "user", "content": user},
        ]
        gctx = dataclasses.replace(ctx, schema=_gradient_model(names, self.gradient_chars // 2))
        written: dict[str, Any] = {}
        unreadable = False
        try:
            reply = yield from self.ask(gctx, messages)
            written = dict(getattr(reply.parsed, "feedback", None) or {})
        except ReplyParseError as exc:
            unreadable = True
            ctx.report.notes.append(
                f"the feedback for {', '.join(names)} could not be read ({exc.problems[-1:]}); "
                "the feedback on the outputs was passed on unchanged"
            )
        missing: list[str] = []
        for op in batch:
            for t in self._targets(ctx, op):
                text = written.get(shown.get(t, t.name))
                if isinstance(text, str) and text.strip():
                    env.setdefault(t, []).append(text)
                else:
                    env.setdefault(t, []).extend(env.get(op, []))
                    missing.append(shown.get(t, t.name))
        if missing and not unreadable:  # (an unreadable reply has its note above)
            ctx.report.notes.append(
                f"the feedback reply wrote nothing usable for {', '.join(dict.fromkeys(missing))}; "
                "the feedback on its output was passed on unchanged"
            )

    def _shortcut(self, ctx: StepContext) -> Generator[Ask, Reply, dict[Node, str]]:
        """One call per parameter: feedback for it, written from the rendered program."""
        out: dict[Node, str] = {}
        for p in ctx.params:
            program = render_problem(ctx.sub, [p], config=self.problem)
            program = program.split("## Your reply")[0].rstrip()
            user = (
                f"{program}\n\n## Your reply\nDo not propose a value. Write feedback for "
                f"{p.name} only: how should it change? Answer with ONE JSON object: "
                f'{{"reasoning": "<short>", "feedback": {{"{p.name}": "<how it should change>"}}}}'
            )
            messages = [
                {"role": "system", "content": GRADIENT_SYSTEM},
                {"role": "user", "content": user},
            ]
            gctx = dataclasses.replace(
                ctx, schema=_gradient_model([p.name], self.gradient_chars // 2)
            )
            why = "wrote nothing for it"
            try:
                reply = yield from self.ask(gctx, messages)
                text = (getattr(reply.parsed, "feedback", None) or {}).get(p.name, "")
            except ReplyParseError as exc:
                text, why = "", f"could not be read ({exc.problems[-1:]})"
            if not (isinstance(text, str) and text.strip()):
                text = ""
                ctx.report.notes.append(
                    f"the feedback reply for {p.name} {why}; "
                    "the feedback on the outputs was used instead"
                )
            fallback = [str(fb) for _, fb in ctx.sub.outputs]
            out[p] = _combine([text] if text else fallback, self.gradient_chars)
        return out
