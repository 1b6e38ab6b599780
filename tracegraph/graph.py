"""Graph algorithms over nodes: pure, iterative functions found from the outputs.

Nothing here recurses (agent loops build graphs tens of thousands of nodes deep) and every
order is deterministic: the topological order is the one that puts parents first and, among
nodes free to go next, the one made first (smallest ``uid``). Nodes are kept in dicts and sets
keyed by identity; ``==`` on a node is a traced operator, so it is never used here.

>>> from tracegraph.node import Node, NodeKind
>>> a = Node(1, NodeKind.PARAMETER, "a")
>>> b = Node(2, NodeKind.CALL, "b", op="double", parents=(a,), arg_names=("x",))
>>> [n.name for n in toposort(b)]
['a', 'b']
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tracegraph.errors import GraphError
from tracegraph.node import Feedback, Node, NodeKind, combine_feedback
from tracegraph.shorten import short_repr

if TYPE_CHECKING:
    import networkx

__all__ = [
    "Subgraph",
    "ancestors",
    "check_graph",
    "descendants_within",
    "relevant_subgraph",
    "to_networkx",
    "toposort",
    "users",
]

_LEAF_KINDS = (NodeKind.PARAMETER, NodeKind.INPUT, NodeKind.CONSTANT)


def as_nodes(outputs: Node | Iterable[Node]) -> list[Node]:
    """One node or an iterable of nodes, as a list without repeats (first occurrence kept)."""
    if isinstance(outputs, Node):
        items: list[object] = [outputs]
    elif isinstance(outputs, Iterable):
        items = list(outputs)
    else:
        items = [outputs]  # reported below as not a node
    seen: set[Node] = set()
    out: list[Node] = []
    for item in items:
        if not isinstance(item, Node):
            raise GraphError(
                f"expected a tracegraph Node, got {type(item).__name__}: {item!r:.80}; "
                "fix: pass the traced result (a Node), not its .value"
            )
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def ancestors(outputs: Node | Iterable[Node]) -> set[Node]:
    """Every node the outputs were computed from, the outputs themselves included.

    The set is unordered; use :func:`toposort` for an order.
    """
    seen: set[Node] = set(as_nodes(outputs))
    stack = list(seen)
    add, push, pop = seen.add, stack.append, stack.pop
    while stack:
        for parent in pop().parents:
            if parent not in seen:
                add(parent)
                push(parent)
    return seen


def toposort(outputs: Node | Iterable[Node]) -> list[Node]:
    """The outputs and their ancestors, parents first; among free nodes, smallest ``uid`` first.

    Nodes are created after their parents, so sorting by ``uid`` is almost always the answer;
    it is checked edge by edge, and a graph whose parents were rewired after creation falls
    back to Kahn's algorithm with a heap, which also detects cycles.

    Raises:
        GraphError: the graph has a cycle.
    """
    return _order(ancestors(outputs))


def _order(members: set[Node]) -> list[Node]:
    """The topological order of a set of nodes (edges from outside the set are ignored)."""
    nodes = sorted(members, key=_uid)  # a key: two Nodes are never compared (``<`` is traced)
    for node in nodes:
        uid = node.uid
        for parent in node.parents:
            if parent.uid >= uid and parent in members:
                return _kahn(nodes, members)
    return nodes


def _uid(node: Node) -> int:
    return node.uid


def _kahn(nodes: list[Node], members: set[Node]) -> list[Node]:
    """Smallest-uid-first topological order of ``nodes`` (== ``members``); GraphError on a cycle."""
    waiting = {node: len(members.intersection(node.parents)) for node in nodes}
    children = users(nodes)
    # (uid, id, node): ids of live nodes differ, so a tie never compares two Nodes (traced <).
    ready = [(node.uid, id(node), node) for node, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order: list[Node] = []
    while ready:
        node = heapq.heappop(ready)[2]
        order.append(node)
        for child in children[node]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, (child.uid, id(child), child))
    if len(order) < len(nodes):
        stuck = min((n for n, c in waiting.items() if c > 0), key=_uid)
        raise GraphError(
            f"the graph has a cycle through node {stuck.name!r} ({stuck.kind.value}) "
            f"created at {stuck.location}; a node's parents must have been made before it: "
            "fix: do not assign node.parents after creation"
        )
    return order


def users(nodes: Iterable[Node]) -> dict[Node, list[Node]]:
    """The child map: for each of ``nodes``, the nodes among them that use it, each listed once.

    Children are listed in the order ``nodes`` is given (pass a topological order to get
    children in topological order).
    """
    nodes = list(nodes)
    children: dict[Node, list[Node]] = {node: [] for node in nodes}
    get = children.get
    for node in nodes:
        for parent in node.parents:
            kids = get(parent)
            # A repeated parent (``y + y``) would add the same child twice in a row.
            if kids is not None and (not kids or kids[-1] is not node):
                kids.append(node)
    return children


def descendants_within(
    sources: Node | Iterable[Node],
    allowed: Iterable[Node],
    *,
    children: dict[Node, list[Node]] | None = None,
) -> set[Node]:
    """The sources and every node reachable from them through users, staying inside ``allowed``.

    Args:
        sources: where to start (sources outside ``allowed`` are ignored).
        allowed: the nodes that may be visited.
        children: a child map of ``allowed`` from :func:`users`, to reuse one already built.
    """
    if children is None:
        children = users(allowed)
    seen = {node for node in as_nodes(sources) if node in children}
    stack = list(seen)
    while stack:
        for child in children[stack.pop()]:
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


def _between(outputs: list[Node], sources: set[Node]) -> set[Node]:
    """The outputs and their ancestors, leaving out leaves that are not among ``sources``.

    A leaf other than a source (a constant, an input, another parameter) is on no path from
    a source, so the subgraph search never needs it; in ``y = y + 1`` chains it is half the graph.
    """
    seen = set(outputs)
    stack = list(seen)
    while stack:
        for parent in stack.pop().parents:
            if parent not in seen and (parent.parents or parent in sources):
                seen.add(parent)
                stack.append(parent)
    return seen


def _reaching(targets: Iterable[Node], within: set[Node]) -> set[Node]:
    """Nodes of ``within`` from which some target can be reached staying inside ``within``."""
    seen = {node for node in targets if node in within}
    stack = list(seen)
    while stack:
        for parent in stack.pop().parents:
            if parent in within and parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return seen


@dataclass
class Subgraph:
    """What optimizers read: the part of the graph between some parameters and their feedback.

    Attributes:
        nodes: every node on a path from one of ``params`` to an output that gave feedback to
            it, in topological order.
        params: the given parameters that received feedback, in the given order.
        outputs: the distinct outputs (in order of first feedback) with their combined feedback.
        per_param: each parameter's own relevant nodes (a subset of ``nodes``, same order).
    """

    nodes: list[Node] = field(default_factory=list)
    params: list[Node] = field(default_factory=list)
    outputs: list[tuple[Node, Feedback]] = field(default_factory=list)
    per_param: dict[Node, list[Node]] = field(default_factory=dict)


def relevant_subgraph(
    params: Node | Iterable[Node],
    *,
    combine: Callable[[Sequence[Feedback]], Feedback] | None = None,
) -> Subgraph:
    """The relevant subgraph of parameters, read from what backward left in ``param.received``.

    Costs O(nodes + edges) over the ancestors of the fed outputs, plus the size of each
    parameter's own list: reachability is marked once per parameter, never copied per node.

    Args:
        params: the parameters (an optimizer's), in the order to report them.
        combine: how several feedbacks of one output are merged; defaults to
            :func:`tracegraph.backward.combine_feedback`.
    """
    if combine is None:
        combine = combine_feedback
    fed = [p for p in as_nodes(params) if p.received]
    outputs_of: dict[Node, list[Node]] = {}
    arrived: dict[Node, list[Feedback]] = {}  # output -> feedback, in order of first feedback
    for param in fed:
        mine: dict[Node, None] = {}
        for rec in param.received:
            mine[rec.output] = None
            arrived.setdefault(rec.output, []).append(rec.feedback)
        outputs_of[param] = list(mine)
    children = users(_between(list(arrived), set(fed)))  # only reachability is read from it
    keeps: dict[Node, set[Node]] = {}
    for param in fed:
        keep = descendants_within(param, (), children=children)
        if len(outputs_of[param]) < len(arrived):  # else every output fed it: all of `keep` counts
            keep = _reaching(outputs_of[param], keep)
        keeps[param] = keep
    nodes = _order(set().union(*keeps.values()))  # the subgraph's own order; checks for cycles
    rank = {node: i for i, node in enumerate(nodes)}
    per_param = {param: sorted(keep, key=rank.__getitem__) for param, keep in keeps.items()}
    outputs = [
        (out, combine(out.feedback or arrived[out]))
        for out in _first_feedback_order(list(outputs_of.values()))
    ]
    return Subgraph(nodes, fed, outputs, per_param)


def _first_feedback_order(histories: list[list[Node]]) -> list[Node]:
    """Merge each parameter's outputs (in the order their feedback came) into one order.

    Every history is a subsequence of the order backward was called in, so a topological
    sort of "came before" recovers what can be known of that order; ties go to the output
    made first (outputs of a minibatch are made and fed in turn), and histories that disagree
    (after a partial zero_feedback) are finished in order of first sight.
    """
    sight: dict[Node, int] = {}
    later: dict[Node, list[Node]] = {}
    waiting: dict[Node, int] = {}
    for history in histories:
        for out in history:
            if out not in sight:
                sight[out], later[out], waiting[out] = len(sight), [], 0
        for before, after in itertools.pairwise(history):
            later[before].append(after)
            waiting[after] += 1
    ready = [(out.uid, id(out), out) for out, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order: list[Node] = []
    while ready:
        out = heapq.heappop(ready)[2]
        order.append(out)
        for nxt in later[out]:
            waiting[nxt] -= 1
            if waiting[nxt] == 0:
                heapq.heappush(ready, (nxt.uid, id(nxt), nxt))
    placed = set(order)
    return order + [out for out in sight if out not in placed]


def check_graph(outputs: Node | Iterable[Node]) -> list[Node]:
    """Check the invariants of the graph below ``outputs``; return it in topological order.

    Checked: parents are Nodes held in a tuple, one arg name per parent, the kind is a
    NodeKind, parameters/inputs/constants have no parents, calls and exceptions name their op,
    feedback lists hold Feedback, and the graph is acyclic. Run it in tests, like a lint.

    Raises:
        GraphError: naming the first offending node and where it was created.
    """
    seen: set[Node] = set(as_nodes(outputs))
    stack = list(seen)
    while stack:
        node = stack.pop()
        _check_node(node)
        for parent in node.parents:
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return toposort(list(seen))


def _check_node(node: Node) -> None:
    def fail(problem: str, fix: str) -> GraphError:
        kind = getattr(node.kind, "value", node.kind)
        return GraphError(
            f"node {node.name!r} ({kind}) created at {node.location}: {problem}; fix: {fix}"
        )

    if not isinstance(node.kind, NodeKind):
        raise fail(f"kind is {node.kind!r}, not a NodeKind", "use a NodeKind member")
    if not isinstance(node.parents, tuple):
        raise fail(f"parents is a {type(node.parents).__name__}", "store parents as a tuple")
    for i, parent in enumerate(node.parents):
        if not isinstance(parent, Node):
            raise fail(
                f"parent {i} is {type(parent).__name__} {parent!r:.60}, not a Node",
                "wrap plain values with tg.node(...) before they become parents",
            )
    if len(node.arg_names) != len(node.parents):
        raise fail(
            f"{len(node.arg_names)} arg names for {len(node.parents)} parents",
            "give one arg name per parent",
        )
    if node.kind in _LEAF_KINDS and node.parents:
        raise fail(f"a {node.kind.value} has {len(node.parents)} parents", "leaves have none")
    if node.kind in (NodeKind.CALL, NodeKind.EXCEPTION) and not (
        isinstance(node.op, str) and node.op
    ):
        raise fail(f"a {node.kind.value} node has op {node.op!r}", "name the op that made it")
    if any(not isinstance(fb, Feedback) for fb in node.feedback):
        raise fail("feedback holds a non-Feedback", "give feedback through backward()")


def to_networkx(outputs: Node | Iterable[Node]) -> networkx.DiGraph:
    """The graph as a ``networkx.DiGraph`` keyed by ``uid`` (nodes are never compared).

    Node attributes: ``node`` (the Node), ``kind``, ``name``, ``op``, ``value`` (a truncated
    repr) and ``location``. Edges go parent -> child with ``args``: the arg names it fills.
    """
    import networkx as nx

    graph = nx.DiGraph()
    for node in toposort(outputs):
        graph.add_node(
            node.uid,
            node=node,
            kind=node.kind.value,
            name=node.name,
            op=node.op,
            value=short_repr(node._value, 200),
            location=str(node.location),
        )
        for parent, arg in zip(node.parents, node.arg_names, strict=False):
            if graph.has_edge(parent.uid, node.uid):
                graph.edges[parent.uid, node.uid]["args"].append(arg)
            else:
                graph.add_edge(parent.uid, node.uid, args=[arg])
    return graph
