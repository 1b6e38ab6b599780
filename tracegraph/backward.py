"""Send feedback from an output back to every node it was computed from.

Backward is one loop in reverse topological order with an environment that accumulates the
feedback arriving at each node. How feedback passes through an op is a *rule* looked up by
the op's name (an op without a rule passes its feedback unchanged to every parent); how the
feedback arriving from several users of a node is merged is a *combine* function. Both can
be swapped per call. Backward does no I/O, no rendering and no model call.

>>> from tracegraph.node import Node, NodeKind
>>> p = Node(2, NodeKind.PARAMETER, "p")
>>> y = Node(3, NodeKind.CALL, "y", op="add", parents=(p,), arg_names=("x",))
>>> backward(y, "larger")
>>> p.received[0].feedback.text
'larger'
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping, Sequence

from tracegraph.errors import FeedbackError
from tracegraph.graph import ancestors, toposort
from tracegraph.node import Feedback, Node, NodeKind, Received, combine_feedback

__all__ = [
    "RULES",
    "Combine",
    "Rule",
    "backward",
    "combine_feedback",
    "default_rule",
    "register_rule",
    "zero_feedback",
]

#: A rule maps the feedback on a node to one feedback per parent (None: nothing goes there).
Rule = Callable[[Node, Feedback], Sequence["Feedback | str | float | None"]]
#: Merges the feedbacks that arrived at one node into one.
Combine = Callable[[Sequence[Feedback]], Feedback]

#: The rule table, keyed by op name. Like a table of derivative rules, it holds code, not graph
#: state: ops register their row once (``register_rule``); ``backward(rules=...)`` overrides
#: rows for one call without touching it.
RULES: dict[str, Rule] = {}


def default_rule(node: Node, feedback: Feedback) -> list[Feedback | str | float | None]:
    """Pass the same feedback to every parent: the rule of any op without its own."""
    return [feedback] * len(node.parents)


def register_rule(op: str, rule: Rule | None) -> Rule | None:
    """Set (or, with ``None``, remove) the feedback rule of an op; return the previous rule.

    >>> def only_first(node, fb):
    ...     return [fb] + [None] * (len(node.parents) - 1)
    >>> register_rule("pick", only_first) is None
    True
    >>> register_rule("pick", None) is only_first
    True
    """
    if not isinstance(op, str) or not op:
        raise TypeError(f"register_rule needs an op name (a non-empty str), got {op!r}")
    if rule is not None and not callable(rule):
        raise TypeError(f"the rule for op {op!r} must be callable(node, feedback), got {rule!r}")
    previous = RULES.pop(op, None)
    if rule is not None:
        RULES[op] = rule
    return previous


class _OutOfOrder(Exception):
    """A parent made after its child: the uid order cannot be used (rewired graph or cycle)."""


def backward(
    output: Node,
    feedback: Feedback | str | float,
    *,
    rules: Mapping[str, Rule] | None = None,
    combine: Combine | None = None,
) -> None:
    """Give feedback to ``output`` and pass it to every node it was computed from.

    The feedback is appended to ``output.feedback``; every parameter reached gets
    ``Received(output, feedback as it arrived there)`` appended to ``param.received``. Calls
    accumulate (a minibatch is several calls); :func:`zero_feedback` clears. Costs
    O(nodes + edges) of the part of the graph the feedback reaches.

    Args:
        output: the node the feedback is about.
        feedback: text, a number (a score), or a ``Feedback``.
        rules: rules for this call only, by op name, over the registered ``RULES``.
        combine: how feedback arriving at one node from several users is merged.

    Raises:
        FeedbackError: ``output`` is not a node, the feedback has a wrong type, or a rule
            returned something other than one feedback per parent.
        GraphError: the graph has a cycle.
    """
    if not isinstance(output, Node):
        raise FeedbackError(
            f"backward needs a traced Node, got {type(output).__name__}: {output!r:.80}",
            fix="call backward on the result of an op or operator (a Node), not on a plain value",
        )
    try:
        given = Feedback.coerce(feedback)
    except TypeError as exc:
        raise FeedbackError(
            str(exc), output, fix='out.backward("what was wrong") or out.backward(0.3)'
        ) from exc
    table = RULES if rules is None else {**RULES, **rules}
    merge = combine_feedback if combine is None else combine
    try:
        reached = _propagate(output, given, table, merge, None)
    except _OutOfOrder:  # rewired graph: rank by a checked topological order instead
        rank = {node: i for i, node in enumerate(toposort(output))}
        reached = _propagate(output, given, table, merge, rank)
    # Nothing is written before propagation succeeded, so an error leaves no half state.
    output.feedback.append(given)
    for param, arrived in reached:
        param.received.append(Received(output, arrived))


def _propagate(
    output: Node,
    given: Feedback,
    table: Mapping[str, Rule],
    merge: Combine,
    rank: dict[Node, int] | None,
) -> list[tuple[Node, Feedback]]:
    """The loop: pop nodes by decreasing rank (reverse topological order), apply their rule.

    The rank is ``uid`` unless ``rank`` is given. ``env`` holds the first feedback that
    reached a node and ``more`` the rest (rare outside fan-in), so the common path builds no
    list per node; this loop is the hot path of the library, hence its plain style.
    """
    param_kind = NodeKind.PARAMETER
    env: dict[Node, Feedback] = {output: given}
    more: dict[Node, list[Feedback]] = {}
    top = output.uid if rank is None else rank[output]
    heap: list[tuple[int, Node]] = [(-top, output)]  # ranks are unique: nodes never compared
    pop, push = heapq.heappop, heapq.heappush
    reached: list[tuple[Node, Feedback]] = []
    while heap:
        neg, node = pop(heap)
        here = env.pop(node)
        if more and node in more:
            here = merge([*reversed(more.pop(node)), here])  # children in topological order
        if node.kind is param_kind:
            reached.append((node, here))
        parents = node.parents
        if not parents:
            continue
        rule = table.get(node.op) if table and node.op is not None else None
        outs = (here,) * len(parents) if rule is None else _apply(rule, node, here)
        for i, parent in enumerate(parents):
            sent = outs[i]
            if sent is None or (not parent.parents and parent.kind is not param_kind):
                continue  # a constant or input leaf: nothing would read what reaches it
            if parent in env:
                more.setdefault(parent, []).append(sent)
                continue
            order = parent.uid if rank is None else rank[parent]
            if order >= -neg:
                raise _OutOfOrder
            env[parent] = sent
            push(heap, (-order, parent))
    return reached


def _apply(rule: Rule, node: Node, here: Feedback) -> list[Feedback | None]:
    """Run a registered rule and check it returned one feedback (or None) per parent."""
    try:
        outs = list(rule(node, here))
    except Exception as exc:  # name the node the user's rule failed on
        raise FeedbackError(
            f"the feedback rule for op {node.op!r} raised {type(exc).__name__}: {exc}",
            node,
            fix="fix the rule registered with register_rule (or passed as rules=)",
        ) from exc
    if len(outs) != len(node.parents):
        raise FeedbackError(
            f"the feedback rule for op {node.op!r} returned {len(outs)} feedbacks "
            f"for {len(node.parents)} parents",
            node,
            fix="return a list with one Feedback (or None) per parent, in parent order",
        )
    try:
        return [None if fb is None else Feedback.coerce(fb) for fb in outs]
    except TypeError as exc:
        raise FeedbackError(
            f"the feedback rule for op {node.op!r} returned a bad item: {exc}",
            node,
            fix="return Feedback, text, a number or None for each parent",
        ) from exc


def zero_feedback(*items: object) -> None:
    """Forget the feedback given to or received by the nodes and everything they came from.

    Accepts nodes, iterables of nodes (an optimizer's parameters) and objects with a
    ``parameters()`` method (a ``tg.Module``).
    """
    roots: list[Node] = []
    for item in items:
        if isinstance(item, Node):
            roots.append(item)
        elif callable(parameters := getattr(item, "parameters", None)):
            roots.extend(parameters())
        elif isinstance(item, Iterable):
            roots.extend(item)
        else:
            raise TypeError(
                f"zero_feedback takes nodes, iterables of nodes or modules, got {item!r:.80}"
            )
    for node in ancestors(roots):
        node.zero_feedback()
