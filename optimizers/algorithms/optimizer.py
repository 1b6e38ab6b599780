"""The base every optimizer shares: parameters, history, the step pipeline and its report.

A step is a short pipeline of methods; a subclass overrides one at a time:

``select(sub)``
    The parameters this step may change (default: those that received feedback).
``build_messages(ctx)``
    The messages of the first request (GraphOptimizer renders the problem). Required.
``propose(ctx)``
    A generator that talks to the model: it yields :class:`Ask` and receives each
    :class:`~optimizers.llm.types.Reply` (or has the client's :class:`LLMError` thrown in), and
    returns the accepted values. The default asks once and re-asks, at most ``max_reasks``
    times, with the reasons of every rejected update. An optimizer that needs several calls
    (one per node, one per parameter) overrides this and uses ``yield from self.ask(...)``.
``parse(reply)``
    The reasoning, the raw updates and complaints about the reply's shape.
``validate(raw, ctx)``
    Accepted values and :class:`Rejection` s (spec checks, trial runs of code).
``apply(accepted)``
    Sets all accepted values together, or none.

Because ``propose`` only *yields* requests, ``step`` and ``astep`` share every line of logic:
``step`` answers with ``llm.complete``, ``astep`` with ``await llm.acomplete`` and runs the rest
of the step in a worker thread, so trial runs of code never block the event loop.

Against feedback friction the base keeps (bounded, and in ``state_dict``): the history of
values with their feedback and scores, recently rejected proposals, and a stall counter that
raises the sampling temperature along ``temperatures`` while steps change nothing or scores
(``record_score``) do not improve.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import asdict, replace
from typing import Any

from optimizers.errors import DuplicateParameterName, LLMError, OptimizerError, ReplyParseError
from optimizers.llm.types import LLMClient, Reply
from optimizers.step.problem import show_value
from optimizers.step.records import Ask, Message, StepContext, StepReport, jsonable
from optimizers.step.replies import (
    HistoryEntry,
    Rejection,
    apply_updates,
    build_reply_model,
    check_updates,
    read_reply,
    readonly_names,
)
from optimizers.step.trial import TrialConfig, code_check
from tracegraph.errors import ParameterError
from tracegraph.graph import Subgraph, relevant_subgraph
from tracegraph.node import Node, NodeKind
from tracegraph.params import ParamType

__all__ = [
    "Ask",
    "HistoryEntry",
    "Message",
    "Optimizer",
    "Rejection",
    "StepContext",
    "StepReport",
]

log = logging.getLogger("optimizers")


def _collect(params: Iterable[Node] | Any) -> list[Node]:
    """The trainable parameters among ``params`` (a Module or an iterable of nodes)."""
    if hasattr(params, "parameters") and callable(params.parameters):
        params = params.parameters()
    nodes = list(params)
    for p in nodes:
        if not isinstance(p, Node) or p.kind is not NodeKind.PARAMETER:
            raise OptimizerError(
                f"optimizers take parameters; got {p!r:.80}: create trainable values with "
                "tg.param(value, name=...) or @tg.trainable and pass those"
            )
    found = [p for p in nodes if p.trainable]
    if not found:
        raise OptimizerError("no trainable parameters were given (all are trainable=False?)")
    seen: dict[str, Node] = {}
    for p in found:
        other = seen.setdefault(p.name, p)
        if other is not p:
            raise DuplicateParameterName(
                f"two trainable parameters are both named {p.name!r}: one created at "
                f"{other.location}, the other at {p.location}; updates are keyed by name, so "
                f'names must be distinct. Fix: tg.param(..., name="{p.name}_2") on one of them'
            )
    return list(dict.fromkeys(found))


class Optimizer:
    """Base class: see the module docstring for the step pipeline and its hooks.

    Args:
        params: the parameters (or a ``tg.Module``); only trainable ones are optimized.
        llm: the model client; ``None`` uses ``default_client()`` (the configured endpoint,
            else the local model) from the first step on.
        max_reasks: how often one step re-asks with the reasons of rejected updates.
        history_size: how many past value sets are kept.
        temperatures: sampling temperature by number of steps without progress.
        trial: how proposed code is tried; ``code_check`` is a shortcut for ``trial.check``.
    """

    label = "optimizer"

    def __init__(
        self,
        params: Iterable[Node] | Any,
        *,
        llm: LLMClient | None = None,
        max_reasks: int = 2,
        history_size: int = 20,
        temperatures: Sequence[float] = (0.0, 0.4, 0.8, 1.1),
        trial: TrialConfig | None = None,
        code_check: Callable[[Callable[..., Any]], Any] | None = None,
        max_tokens: int | None = None,
    ) -> None:
        self.params = _collect(params)
        self.llm = llm
        self.max_reasks = max_reasks
        self.history_size = history_size
        self.temperatures = tuple(temperatures) or (0.0,)
        trial = trial or TrialConfig()
        self.trial = trial if code_check is None else replace(trial, check=code_check)
        self.max_tokens = max_tokens
        self.history: list[HistoryEntry] = []
        self.rejected: list[Rejection] = []
        self.steps = 0
        self.stall = 0
        self.best_score: float | None = None

    # ------------------------------------------------------------------ public surface

    def zero_feedback(self) -> None:
        """Forget feedback on every parameter (call before each backward of a new batch)."""
        for p in self.params:
            p.zero_feedback()

    def step(self) -> StepReport:
        """Run one step: ask the model, check the proposals, apply those accepted."""
        gen = self._run()
        reply: Reply | None = None
        error: LLMError | None = None
        while True:
            ask, report = _advance(gen, reply, error)
            if report is not None:
                return report
            assert ask is not None
            reply, error = None, None
            try:
                reply = self._client().complete(
                    ask.messages, schema=ask.schema, label=self.label, **ask.options
                )
            except LLMError as exc:
                error = exc

    async def astep(self) -> StepReport:
        """:meth:`step` for async code; the model call is awaited, the rest runs in a thread."""
        gen = self._run()
        reply: Reply | None = None
        error: LLMError | None = None
        while True:
            ask, report = await asyncio.to_thread(_advance, gen, reply, error)
            if report is not None:
                return report
            assert ask is not None
            reply, error = None, None
            try:
                reply = await self._client().acomplete(
                    ask.messages, schema=ask.schema, label=self.label, **ask.options
                )
            except LLMError as exc:
                error = exc

    def record_score(self, score: float) -> None:
        """Tell the optimizer how the values after the last step scored (higher is better)."""
        if self.history:
            self.history[-1].score = float(score)
        if self.best_score is None or score > self.best_score:
            self.best_score = float(score)
            self.stall = 0
        else:
            self.stall += 1

    def values(self) -> dict[str, Any]:
        """The current value of every parameter, by name."""
        return {p.name: p.peek() for p in self.params}

    def state_dict(self) -> dict[str, Any]:
        """History, rejected values and the schedule's state, JSON-able."""
        return {
            "version": 1,
            "steps": self.steps,
            "stall": self.stall,
            "best_score": self.best_score,
            "history": [
                {**asdict(h), "values": {k: jsonable(v) for k, v in h.values.items()}}
                for h in self.history
            ],
            "rejected": [
                {"param": r.param, "value": jsonable(r.value), "reasons": r.reasons}
                for r in self.rejected
            ],
        }

    def load_state_dict(self, d: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (parameter values are restored elsewhere)."""
        if d.get("version") != 1:
            raise OptimizerError(
                f"unknown optimizer state version {d.get('version')!r}; "
                "expected 1 (was it saved by a newer tracegraph?)"
            )
        self.steps = int(d["steps"])
        self.stall = int(d["stall"])
        self.best_score = d["best_score"]
        self.history = [HistoryEntry(**h) for h in d["history"]]
        self.rejected = [Rejection(**r) for r in d["rejected"]]

    # ------------------------------------------------------------------ the hooks

    def select(self, sub: Subgraph) -> list[Node]:
        """The parameters this step may change: by default those feedback reached."""
        return list(sub.params)

    def build_messages(self, ctx: StepContext) -> list[Message]:
        """The first request's messages. Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must define build_messages(ctx)")

    def propose(self, ctx: StepContext) -> Generator[Ask, Reply, dict[Node, Any]]:
        """Ask, check, and re-ask with the reasons of rejected updates (bounded)."""
        messages = self.build_messages(ctx)
        accepted: dict[Node, Any] = {}
        for attempt in range(1 + self.max_reasks):
            try:
                reply = yield from self.ask(ctx, messages)
            except ReplyParseError as exc:
                if attempt == 0:
                    ctx.report.error = f"the reply could not be read, nothing changed: {exc}"
                    return {}
                ctx.report.notes.append(
                    f"a re-ask could not be read ({exc.problems[-1:]}); "
                    "the updates accepted before it are applied"
                )
                break
            reasoning, raw, shape = self.parse(reply)
            ctx.report.reasoning = reasoning
            ctx.report.proposed.update(raw)
            now, rejected = self.validate(raw, ctx)
            accepted.update(now)
            ctx.report.rejected.extend(rejected)
            ctx.report.notes.extend(shape)  # e.g. updates put outside "updates": never applied
            problems = shape + [str(r) for r in rejected]
            if not problems or attempt == self.max_reasks:
                break
            messages = [
                *messages,
                {"role": "assistant", "content": reply.text},
                {"role": "user", "content": self.reask_text(problems, accepted, ctx)},
            ]
        return accepted

    def ask(self, ctx: StepContext, messages: list[Message]) -> Generator[Ask, Reply, Reply]:
        """Send ``messages`` with this step's schema and options; record the exchange."""
        ctx.report.prompts.append(messages)
        reply = yield Ask(messages, ctx.schema, dict(ctx.options))
        ctx.report.replies.append(reply.text)
        ctx.report.usage = ctx.report.usage + reply.usage
        return reply

    def parse(self, reply: Reply) -> tuple[str, dict[str, Any], list[str]]:
        """Reasoning, raw updates and shape problems of a reply."""
        if reply.parsed is not None:
            return read_reply(reply.parsed)
        try:
            data = json.loads(reply.text)
        except ValueError:
            return "", {}, ["the reply is not a JSON object: answer with JSON only"]
        if not isinstance(data, dict):
            return "", {}, ["the reply must be a JSON object"]
        return read_reply(data)

    def validate(
        self, raw: Mapping[str, Any], ctx: StepContext
    ) -> tuple[dict[Node, Any], list[Rejection]]:
        """Check each update against its spec, and code by a trial run in a child process."""

        def trial(node: Node, value: Any) -> list[str]:
            if node.spec is not None and node.spec.type is ParamType.CODE:
                return code_check(node, value, ctx.sub.nodes, self.trial)
            return []

        return check_updates(raw, ctx.params, readonly=ctx.readonly, extra_check=trial)

    def apply(self, accepted: Mapping[Node, Any]) -> dict[str, tuple[Any, Any]]:
        """Set every accepted value together (rolled back if one fails)."""
        return apply_updates(accepted)

    def reask_text(
        self, problems: list[str], accepted: Mapping[Node, Any], ctx: StepContext
    ) -> str:
        """The follow-up message listing why updates were rejected."""
        kept = ", ".join(n.name for n in accepted) or "none"
        names = ", ".join(p.name for p in ctx.params)
        return (
            "These parts of your reply were REJECTED and will not be applied:\n"
            + "\n".join(f"- {p}" for p in problems)
            + f"\nAccepted so far (will be applied): {kept}.\nReply again with the same JSON "
            f'shape. In "updates" give corrected values using only these exact names: {names}; '
            "or send empty updates to give up on the rejected ones."
        )

    # ------------------------------------------------------------------ the step itself

    def _client(self) -> LLMClient:
        if self.llm is None:
            from optimizers.llm import default_client

            self.llm = default_client()
        return self.llm

    def _run(self) -> Generator[Ask, Reply, StepReport]:
        self.steps += 1
        report = StepReport(step=self.steps)
        sub = relevant_subgraph(self.params)
        params = self.select(sub)
        chosen = set(params)
        for p in self.params:
            if p not in chosen:
                note = (
                    f"no feedback reached {p.name!r}: is it used in the traced call whose "
                    "output got feedback (and was backward called after zero_feedback)?"
                )
                report.notes.append(note)
                log.warning(note)
        if not params:
            report.skipped = "no feedback reached any parameter: " + "; ".join(report.notes)
            return report
        self._remember_feedback(sub)
        ctx = StepContext(
            self.steps,
            sub,
            params,
            report,
            build_reply_model(params),
            self._options(),
            readonly_names(sub, chosen),
        )
        accepted = yield from self.propose(ctx)
        if report.error is None:
            try:
                report.applied = self.apply(accepted)
            except ParameterError as exc:
                report.error = f"applying the updates failed, nothing changed: {exc}"
        self._after(report)
        return report

    def _options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "temperature": self.temperatures[min(self.stall, len(self.temperatures) - 1)]
        }
        if self.max_tokens is not None:
            options["max_tokens"] = self.max_tokens
        return options

    def _remember_feedback(self, sub: Subgraph) -> None:
        """Put the outputs and their feedback (about the current values) on the latest history
        entry: with the output values in view, a small model can see the trend across steps."""
        texts = [f"output {show_value(o.peek(), 60)}: {fb}" for o, fb in sub.outputs if str(fb)]
        scores = [fb.score for _, fb in sub.outputs if fb.score is not None]
        if not self.history:
            self.history.append(HistoryEntry(0, self.values()))
        last = self.history[-1]
        last.feedback = " | ".join(texts)[:400]
        if last.score is None and scores:
            last.score = sum(scores) / len(scores)

    def _after(self, report: StepReport) -> None:
        self.rejected = (self.rejected + report.rejected)[-self.history_size :]
        if report.applied:
            self.history.append(HistoryEntry(report.step, self.values()))
            self.history = self.history[-self.history_size :]
            if self.best_score is None:
                self.stall = 0
        else:
            self.stall += 1


def _advance(
    gen: Generator[Ask, Reply, StepReport], reply: Reply | None, error: LLMError | None
) -> tuple[Ask | None, StepReport | None]:
    """Resume the step with a reply (or the client's error): the next request, or the report.

    StopIteration is caught here because it cannot cross a thread's future (astep).
    """
    try:
        if error is not None:
            return gen.throw(error), None
        return gen.send(reply), None  # type: ignore[arg-type]  # None only starts it
    except StopIteration as stop:
        return None, stop.value
