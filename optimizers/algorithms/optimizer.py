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

What the base remembers between steps (history, rejected proposals, the stall counter, the
best values and a return to them when stuck, brackets of numbers) is in
:mod:`optimizers.algorithms.memory`. A proposed number is taken as a direction and a first size
(:mod:`optimizers.step.numbers` chooses the step), and a step that changes nothing always says
why in its report's ``notes``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from optimizers.algorithms.collect import collect_params
from optimizers.algorithms.memory import Memory
from optimizers.errors import (
    APIStatusError,
    LLMError,
    ReplyParseError,
    too_long,
    unanswered,
)
from optimizers.llm.types import LLMClient, Reply
from optimizers.step.checks import halfway_past_bounds
from optimizers.step.gate import Evaluate, Gate
from optimizers.step.implied import regression
from optimizers.step.problem import show_value
from optimizers.step.records import Ask, Message, StepContext, StepReport
from optimizers.step.replies import (
    HistoryEntry,
    Rejection,
    apply_updates,
    build_reply_model,
    check_updates,
    read_reply,
    readonly_names,
)
from optimizers.step.trial import TrialConfig, code_trial
from tracegraph.errors import ParameterError
from tracegraph.graph import Subgraph, relevant_subgraph
from tracegraph.node import Node
from tracegraph.params import ParamType
from tracegraph.shorten import shorten

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


class Optimizer(Memory):
    """Base class: see the module docstring for the step pipeline and its hooks.

    Args:
        params: the parameters (or a ``tg.Module``); only trainable ones are optimized.
        llm: the model client; ``None`` uses ``default_client()`` (the configured endpoint,
            else the local model) from the first step on.
        max_reasks: how often one step re-asks with the reasons of rejected updates.
        history_size: how many past value sets are kept.
        temperatures: sampling temperature by number of steps without progress.
        trial: how proposed code is tried; ``code_check`` is a shortcut for ``trial.check``.
        patience: steps without a better score after which a step goes back to the best
            values scored so far, while the current ones score worse (default 1: the step
            after one that made the score worse goes back, without a model call, and the next
            proposal starts from the best; measured on the local model, a small model's
            proposals wander off the best and do not come back); None: never. Only with
            scores (``record_score``, scores on the feedback, or a measurement the feedback
            states); see :mod:`optimizers.algorithms.memory`.
        number_steps: let the history choose the size of numeric moves (the model's value
            gives the direction); see :mod:`optimizers.step.numbers`.
        evaluate: ``{name: value} -> score`` (higher is better): each proposal is scored before
            it is applied and applied only if it scores at least as well as the current values
            (else its opposite or a shorter move, or an untried choice, if one scores better);
            see :mod:`optimizers.step.gate`.
        max_evaluations: the most value sets ``evaluate`` scores in one step.
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
        patience: int | None = 1,
        number_steps: bool = True,
        evaluate: Evaluate | None = None,
        max_evaluations: int = 6,
    ) -> None:
        self.params = collect_params(params)
        self._init_memory(history_size, patience)
        self.gate = None if evaluate is None else Gate(evaluate, max_evaluations)
        self.number_steps = number_steps
        self.llm = llm
        self.max_reasks = max_reasks
        self.temperatures = tuple(temperatures) or (0.0,)
        trial = trial or TrialConfig()
        self.trial = trial if code_check is None else replace(trial, check=code_check)
        self.max_tokens = max_tokens

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

    # ------------------------------------------------------------------ the hooks

    def select(self, sub: Subgraph) -> list[Node]:
        """The parameters this step may change: by default those feedback reached."""
        return list(sub.params)

    def build_messages(self, ctx: StepContext) -> list[Message]:
        """The first request's messages. Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must define build_messages(ctx)")

    def propose(self, ctx: StepContext) -> Generator[Ask, Reply, dict[Node, Any]]:
        """Ask, check, and re-ask with the reasons of rejected updates (bounded)."""
        messages = base = self.build_messages(ctx)
        accepted: dict[Node, Any] = {}
        shorter = 0
        attempt = 0
        while attempt <= self.max_reasks:
            try:
                reply = yield from self.ask(ctx, messages)
            except (APIStatusError, ReplyParseError) as exc:
                if isinstance(exc, APIStatusError) and exc.status != 400:
                    raise
                if attempt == 0 and shorter < 2 and too_long(exc):
                    cut = self._shorter_messages(ctx, shorter + 1)
                    if cut is not None:  # the problem again, in half the space: same attempt
                        shorter += 1
                        messages = base = cut
                        ctx.report.notes.append(
                            "the request was longer than the server's context: the problem is "
                            f"shown again in 1/{2**shorter} of the space ({shorten(str(exc), 160)})"
                        )
                        continue
                first, later = unanswered(exc)
                if attempt == 0:  # nothing was accepted: the step fails and says why
                    ctx.report.error = first
                    return {}
                ctx.report.notes.append(later)
                break
            reasoning, raw, shape = self.parse(reply)
            ctx.report.reasoning = reasoning
            ctx.report.proposed.update(raw)
            now, rejected = self.validate(raw, ctx)
            accepted.update(now)
            ctx.report.rejected.extend(rejected)
            ctx.report.notes.extend(shape)  # e.g. updates put outside "updates": never applied
            problems = shape + [str(r) for r in rejected]
            same = _unchanged(raw, now, rejected, ctx.params)
            if same and not accepted and not problems:  # a small model restating the value
                problems = [
                    f"{n} = {show_value(v, 80)}: its current value, no change" for n, v in same
                ]
                ctx.report.notes.append(
                    "the model proposed the current value of "
                    + ", ".join(n for n, _ in same)
                    + " (no change)"
                )
            if not problems or attempt == self.max_reasks:
                break
            messages = [  # the problem and the last exchange only: re-asks do not pile up
                *base,
                {"role": "assistant", "content": reply.text},
                {"role": "user", "content": self.reask_text(problems, accepted, ctx)},
            ]
            attempt += 1
        return accepted

    def _shorter_messages(self, ctx: StepContext, times: int) -> list[Message] | None:
        """The step's messages with the problem in ``1 / 2**times`` of its budget, or None when
        this optimizer has no problem budget (``self.problem``) or it is small already."""
        config = getattr(self, "problem", None)
        budget = getattr(config, "budget_chars", None)
        if config is None or not isinstance(budget, int) or budget >> times < 1000:
            return None
        object.__setattr__(self, "problem", replace(config, budget_chars=budget >> times))
        try:
            return self.build_messages(ctx)
        finally:
            object.__setattr__(self, "problem", config)

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
            if node.spec is None or node.spec.type is not ParamType.CODE:
                return []
            # without a score, the feedback's expected results are the tests (step/implied.py)
            tests = ctx.implied(node) if self.gate is None else []
            result = code_trial(node, value, ctx.sub.nodes, self.trial, tests)
            ctx.trials[value] = result
            return result.reasons or regression(result, tests)

        if self.number_steps:  # past a bound: halfway to it (memory.py)
            raw, notes = halfway_past_bounds(raw, ctx.params)
            ctx.report.notes.extend(notes)
        accepted, rejected = check_updates(
            raw, ctx.params, readonly=ctx.readonly, extra_check=trial
        )
        brackets = self._brackets() if self.gate is not None else {}
        if self.number_steps:  # valid values only: a value past a bound is told to the model
            accepted = {n: self._step_size(n, v, ctx) for n, v in accepted.items()}
        if self.gate is not None and accepted:  # scored before anything is applied
            accepted, worse = self._judge(accepted, ctx, brackets)
            rejected = rejected + worse
        return accepted, rejected

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
            # a trial's output can be long: the re-ask must still fit the model's context
            + shorten("\n".join(f"- {shorten(p, 600, keep_tail=True)}" for p in problems), 2000)
            + f"\nAccepted so far (will be applied): {kept}.\nReply again with the same JSON "
            f'shape. In "updates" give corrected values using only these exact names: {names}; '
            "or send empty updates to give up on the rejected ones (or if the outputs are "
            "already right)."
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
        # the feedback is about the current values (and may state their score)
        scored = self._remember_feedback(sub) if params else ""
        if self._back_to_best(report):
            self._after(report, moved=False)
            report.notes += [scored] if scored else []
            return report
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
        if not (report.applied or report.rejected or report.error or report.notes):
            said = f": {report.reasoning[:200]}" if report.reasoning.strip() else ""
            report.notes.append(f"the model proposed no change (empty updates){said}")
        if not (report.applied or report.error) and self._nothing_new(report):
            self._after(report, moved=False)
            report.notes += [scored] if scored else []
            return report
        if scored:  # after the check above: it says nothing about why nothing changed
            report.notes.append(scored)
        self._after(report)
        return report

    def _options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "temperature": self.temperatures[min(self.stall, len(self.temperatures) - 1)]
        }
        if self.max_tokens is not None:
            options["max_tokens"] = self.max_tokens
        return options


def _unchanged(
    raw: Mapping[str, Any],
    accepted: Mapping[Node, Any],
    rejected: Sequence[Rejection],
    params: Sequence[Node],
) -> list[tuple[str, Any]]:
    """Proposals that were neither applied nor rejected: the parameter's current value."""
    known = {p.name for p in params}
    taken = {n.name for n in accepted} | {r.param for r in rejected}
    return [(k, v) for k, v in raw.items() if v is not None and k in known and k not in taken]


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
