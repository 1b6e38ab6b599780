"""GraphOptimizer: one model call per step proposes updates for every parameter at once.

The model sees the rendered problem (:mod:`optimizers.step.problem`): the program around the
parameters, the outputs with their feedback, and the history of tried and rejected values.

>>> import tracegraph.params as tp
>>> from tracegraph.backward import backward
>>> from tracegraph.node import Node, NodeKind
>>> from optimizers.llm.scripted import ScriptedClient
>>> x = Node(1.0, NodeKind.PARAMETER, "x", spec=tp.ParamSpec(tp.ParamType.NUMBER))
>>> y = Node(2.0, NodeKind.CALL, "double_1", op="double", parents=(x,), arg_names=("v",))
>>> backward(y, "should be larger")
>>> opt = GraphOptimizer([x], llm=ScriptedClient(['{"reasoning": "go up", "updates": {"x": 3}}']))
>>> opt.step().applied
{'x': (1.0, 3.0)}
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Mapping
from dataclasses import replace
from typing import Any

from optimizers.algorithms.optimizer import Message, Optimizer, StepContext
from optimizers.errors import LLMError
from optimizers.llm.structured import JSONNotFound, extract_json
from optimizers.llm.types import Reply
from optimizers.step.formats import format_repair
from optimizers.step.implied import any_failing, improves
from optimizers.step.problem import ProblemConfig, render_problem
from optimizers.step.records import Ask
from optimizers.step.replies import Rejection, same_value
from optimizers.step.rules import (
    Example,
    RuleReply,
    answer_set,
    example_rule,
    examples_for,
    label_rule,
    read_code,
    read_rule,
    repair_messages,
    rule_messages,
)
from optimizers.step.targets import read_target, target_messages
from optimizers.step.trial import turns_into
from tracegraph.node import Node
from tracegraph.params import ParamType

__all__ = ["GraphOptimizer"]

_EDIT = {ParamType.TEXT: "rule edit", ParamType.CODE: "repair"}
MAX_EXAMPLE_EDITS = 2  # inputs-with-answers edits of one text before the model's rule edit
SAMPLE_TEMPERATURES = (0.7, 1.0, 0.9, 0.6, 0.8)  # the repairs after the first, with a score

SYSTEM = (
    "You tune the parameters of a program from feedback on its outputs. Read the program, "
    "the feedback and what was tried before, then propose new values for the parameters you "
    "may change. Reply with one JSON object only."
)


class GraphOptimizer(Optimizer):
    """The graph-aware optimizer: the whole relevant subgraph in one prompt, one call per step.

    Args:
        params: the parameters (or a ``tg.Module``).
        llm: the model client.
        problem: sizes of the rendered problem (the default fits a 4k-token context).
        system: the system message.
        allow_repeats: accept a proposal that brings back a set of values tried before
            (off by default: going back and forth is how a small model wastes steps).
        rule_edits: for a text or code parameter whose rewrite did not help (with
            ``evaluate``: it did not score better; without: the last step did not improve the
            score), ask one more, easier question about the calls that read it, their results
            and feedback: which sentences to add to the text, or the repaired function
            (:mod:`optimizers.step.rules`). For a text whose result more code reads (a reply
            a parser reads), first the exact reply that code needs, shown in the text as an
            example (one the code was run on and turned into the expected result, when it
            can be checked); without ``evaluate`` that text is applied alone, the code left as
            it is. A function whose dict results have fields in the wrong form is first
            repaired by standard conversions, no model call (:mod:`optimizers.step.formats`).
        repair_samples: with ``evaluate``, how many repairs of a stuck function to ask for
            and score, one after another until one scores better (sampled hotter each time:
            the local model wrote a passing repair in about 3 of 4 samples, not every time).
        **config: see :class:`~optimizers.algorithms.optimizer.Optimizer`.
    """

    label = "optimizer:graph"

    def __init__(
        self,
        params: Iterable[Node] | Any,
        *,
        problem: ProblemConfig | None = None,
        system: str = SYSTEM,
        allow_repeats: bool = False,
        rule_edits: bool = True,
        repair_samples: int = 3,
        **config: Any,
    ) -> None:
        super().__init__(params, **config)
        self.problem = problem or ProblemConfig()
        self.system = system
        self.allow_repeats = allow_repeats
        self.rule_edits = rule_edits
        self.repair_samples = max(1, repair_samples)

    def propose(self, ctx: StepContext) -> Generator[Ask, Reply, dict[Node, Any]]:
        """The whole proposal; then a rule edit for each text parameter it did not help."""
        self.verdict = None
        accepted = yield from super().propose(ctx)
        if not self.rule_edits or ctx.report.error is not None:
            return accepted
        stuck = self.stall >= 1 and any(h.score is not None for h in self.history)
        if self.gate is not None:  # stuck: the proposal did not score better than before
            v = self.verdict
            stuck = v is None or not v.values or v.score is None or v.score <= v.current
        edits: dict[str, str] = {}
        repairs: list[tuple[Node, list[Example]]] = []  # code: more samples when none wins
        forms: list[dict[str, str]] = []  # the needed reply shown as an example (with a score)
        nodes = {p.name: p for p in ctx.params}
        for p in ctx.params:
            kind = p.spec.type if p.spec is not None else None
            if kind is ParamType.TEXT and (stuck or self.gate is None):
                rule = self._labels(p, accepted.get(p), stuck, ctx)
                if rule is not None:
                    edits[p.name] = rule
                    continue
            if kind not in (ParamType.TEXT, ParamType.CODE):
                continue
            if not (stuck or (kind is ParamType.CODE and self._fails_tests(p, accepted, ctx))):
                continue
            examples = examples_for(p, ctx.sub)
            if not examples:
                continue
            if kind is ParamType.CODE:
                repairs.append((p, examples))
            if kind is ParamType.TEXT and examples[0].after:  # one whose whole result is known
                known = next((e for e in examples if e.expected[0]), examples[0])
                form, said = yield from self._target(p, known, ctx)
                ctx.report.notes.append(
                    f"{p.name}: {'an example reply' if form else 'no example reply'} ({said[:200]})"
                )
                if form is not None and self.gate is not None:
                    forms.append({p.name: form})
                elif form is not None:  # without a score: the example reply alone, this step
                    now, rejected = self.validate({p.name: form}, ctx)
                    ctx.report.rejected.extend(rejected)
                    if now:
                        ctx.report.notes.append(
                            f"{p.name}: the text with the example reply is applied alone, in "
                            "place of this step's proposal (the code that reads the reply stays "
                            "as it is: the reply was written for it)"
                        )
                        return now
            if kind is ParamType.CODE:  # fields in the wrong form: standard conversions first
                fixed, how = format_repair(p, ctx.implied(p))
                tried = [h.values.get(p.name) for h in self.history]
                tried += [r.value for r in self.rejected if r.param == p.name]
                if fixed is not None and fixed not in tried:  # once: then the model's repairs
                    ctx.report.notes.append(f"{p.name}: format repair, {how}")
                    edits[p.name] = fixed
                    continue
            value, said = yield from self._easier(p, kind, examples, ctx)
            if value is None:
                ctx.report.notes.append(f"{p.name}: no {_EDIT[kind]} ({said})")
                continue
            ctx.report.notes.append(f"{p.name}: {_EDIT[kind]}, the problem: {said[:200]}")
            edits[p.name] = value
        # together first (an instruction for JSON and a parser for fenced JSON only help
        # together); with a score, each alone too when together they do not help, and a
        # rule in place of the text it was added to ("Explain how..." + "Reply with the
        # number only" contradicts itself)
        tries = [edits] if len(edits) < 2 else [edits, *({k: v} for k, v in edits.items())]
        tries[1:1] = forms  # after the edits together, before each alone
        for name, value in edits.items():  # a rule that contradicts the text: the rule alone
            current = str(nodes[name].peek()).rstrip()
            if value.startswith(current + " ") and len(value) > len(current) + 1:
                tries.append({**edits, name: value[len(current) + 1 :]})
        ties: list[dict[Node, Any]] = []  # with a score: the edits that only tie
        for edit in [t for t in tries if t]:
            now, rejected = self.validate(edit, ctx)
            ctx.report.rejected.extend(rejected)
            if self.gate is None:  # the repairs are judged by the tests the feedback implies
                accepted.update(now)
                won, more = yield from self._more_repairs(repairs, edits, ctx)
                accepted.update(won or next((t for t in more if not set(t) & set(accepted)), {}))
                return accepted
            if now and self._won():  # scored against the current values: applied alone, not merged
                return now
            ties += [now] if now else []
        if self.gate is not None:
            won, more = yield from self._more_repairs(repairs, edits, ctx)
            if won:
                return won
            ties += more
        # each tie was scored alone: keep one (an edit before the proposal it followed), code
        # only when no tie leaves the code alone (a repair that turns the error into a
        # placeholder ties at 0 and hides the error)
        ties += [accepted] if accepted else []
        return next((t for t in ties if not any(_is_code(n) for n in t)), ties[0] if ties else {})

    def _labels(self, p: Node, proposed: Any, stuck: bool, ctx: StepContext) -> str | None:
        """The text with a rule naming the exact answers the feedback expects, when results are
        none of them and neither the text nor the proposal names them all; when stuck with the
        right words given to the wrong inputs, with inputs and their answers (no model call)."""
        labels, off = answer_set(p, ctx.sub)
        assert p.spec is not None
        tried = {str(h.values.get(p.name)) for h in self.history}
        base = str(p.peek()).rstrip() + " Example: "
        if stuck and not off and sum(t.startswith(base) for t in tried) < MAX_EXAMPLE_EDITS:
            value, said = example_rule(p, ctx.sub, p.spec.max_length, tried)
            if value is not None:  # short answers, wrong for these inputs: show them
                ctx.report.notes.append(f"{p.name}: examples ({said[:200]})")
                return value
        if not off or (proposed is not None and all(x in str(proposed) for x in labels)):
            return None
        value, said = label_rule(p, labels, p.spec.max_length)
        ctx.report.notes.append(
            f"{p.name}: {'a' if value else 'no'} rule naming the answers ({said[:200]})"
        )
        return value

    def _more_repairs(
        self, repairs: list[tuple[Node, list[Example]]], edits: dict[str, str], ctx: StepContext
    ) -> Generator[Ask, Reply, tuple[dict[Node, Any], list[dict[Node, Any]]]]:
        """With a score: more repairs of each stuck function, hotter each time, each scored
        alone; the first that scores better (or nothing), and those that tie."""
        ties: list[dict[Node, Any]] = []
        for p, examples in repairs:
            first = edits.get(p.name)
            tried = {first}
            if self.gate is None and (
                improves(ctx.trials.get(first)) or not any_failing(ctx.implied(p))
            ):
                continue  # without a score: only while the tests the feedback implies fail
            for i, temperature in enumerate(SAMPLE_TEMPERATURES[: self.repair_samples - 1]):
                hotter = replace(ctx, options={**ctx.options, "temperature": temperature})
                value, said = yield from self._easier(p, ParamType.CODE, examples, hotter)
                label = f"{p.name}: repair {i + 2} of {self.repair_samples}"
                if value is None or value in tried:
                    ctx.report.notes.append(f"{label}: none ({said[:200] or 'the same repair'})")
                    continue
                tried.add(value)
                ctx.report.notes.append(f"{label}, the problem: {said[:200]}")
                now, rejected = self.validate({p.name: value}, ctx)
                ctx.report.rejected.extend(rejected)
                if now and (self._won() if self.gate else improves(ctx.trials.get(value))):
                    return now, ties
                ties += [now] if now else []
        return {}, ties

    def _fails_tests(self, p: Node, accepted: Mapping[Node, Any], ctx: StepContext) -> bool:
        """Without a score: the feedback names results the function does not return, and the
        proposal did not fix more of them."""
        if self.gate is not None or improves(ctx.trials.get(accepted.get(p))):
            return False
        return any_failing(ctx.implied(p))

    def _won(self) -> bool:
        """Whether the gate's last verdict scored better than the current values."""
        v = self.verdict
        return v is not None and v.score is not None and v.score > v.current

    def build_messages(self, ctx: StepContext) -> list[Message]:
        text = render_problem(
            ctx.sub,
            ctx.params,
            # a lone entry is the current state, already shown in full above
            history=self.history if len(self.history) > 1 else [],
            rejected=self.rejected,
            config=self.problem,
            hints=self.hints(ctx.params),
        )
        return [{"role": "system", "content": self.system}, {"role": "user", "content": text}]

    def _easier(
        self, p: Node, kind: ParamType, examples: list[Example], ctx: StepContext
    ) -> Generator[Ask, Reply, tuple[str | None, str]]:
        """Ask the rule question (text) or the repair question (code); the new value or why not."""
        code = kind is ParamType.CODE
        messages = repair_messages(p, examples) if code else rule_messages(p, examples)
        try:
            reply = yield from self.ask(replace(ctx, schema=None if code else RuleReply), messages)
        except LLMError as exc:
            return None, f"the question failed: {str(exc)[:200]}"
        if code:
            return read_code(p, reply.text)
        data = reply.parsed if reply.parsed is not None else _json(reply.text)
        assert p.spec is not None
        return read_rule(p, data, p.spec.max_length)

    def _target(
        self, p: Node, example: Example, ctx: StepContext
    ) -> Generator[Ask, Reply, tuple[str | None, str]]:
        """Ask for the exact reply the code downstream needs; the text with it as an example."""
        try:
            reply = yield from self.ask(replace(ctx, schema=None), target_messages(p, example))
        except LLMError as exc:
            return None, f"the question failed: {str(exc)[:200]}"
        assert p.spec is not None
        reader, (_, want) = example.reader, example.expected

        def works(text: str) -> bool:
            return reader is not None and turns_into(reader, text, want, self.trial)

        return read_target(p, example, reply.text, p.spec.max_length, works)

    def validate(
        self, raw: Mapping[str, Any], ctx: StepContext
    ) -> tuple[dict[Node, Any], list[Rejection]]:
        """The base checks, then: values that bring back an earlier set are rejected."""
        accepted, rejected = super().validate(raw, ctx)
        if not accepted or self.allow_repeats:
            return accepted, rejected
        proposal = {**self.values(), **{n.name: v for n, v in accepted.items()}}
        for entry in self.history[:-1]:  # the last entry holds the current values
            if all(same_value(entry.values.get(k), v) for k, v in proposal.items()):
                said = f"; feedback then: {entry.feedback[:150]}" if entry.feedback else ""
                score = "" if entry.score is None else f" (score {entry.score:g})"
                reason = f"exactly these values were tried at step {entry.step}{score}{said}"
                rejected += [Rejection(n.name, v, [reason]) for n, v in accepted.items()]
                return {}, rejected
        return accepted, rejected


def _is_code(node: Node) -> bool:
    return node.spec is not None and node.spec.type is ParamType.CODE


def _json(text: str) -> Any:
    try:
        return extract_json(text)
    except JSONNotFound:
        return None
