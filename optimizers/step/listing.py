"""How values, names and the program are shown in a problem, within a budget of characters.

Values are shown on one line (:func:`show_value`), long ones cut in the middle with a visible
``...<+N chars>`` marker (the one of :mod:`tracegraph.shorten`). Call, exception and constant
nodes are shown under the names of every view of the graph (``answer_1``, ``answer_2``:
:mod:`tracegraph.names`), so identical runs give identical text in every process and thread,
and the prompt names nodes as the text view does. The program listing keeps the nodes nearest
to the parameters and to the outputs and summarises the rest in one line where the first gap is.
:mod:`optimizers.step.problem` puts these pieces into the sections of the problem text.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from optimizers.step.replies import SubgraphLike
from tracegraph.names import display_names, view_names
from tracegraph.node import Node, NodeKind
from tracegraph.shorten import safe_repr, shorten

__all__ = ["ProblemConfig", "local_names", "show_value"]


@dataclass(frozen=True)
class ProblemConfig:
    """Sizes of the rendered problem, in characters (about 4 characters per token).

    The default budget leaves room for a reply within a 4k-token context (the local 1.5B model).
    """

    budget_chars: int = 6000
    value_chars: int = 160  # one value in the program listing
    param_chars: int = 1200  # a parameter's current value (code parameters get 2x)
    feedback_chars: int = 500
    doc_chars: int = 160
    history_items: int = 6
    rejected_items: int = 6


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def show_value(value: Any, limit: int) -> str:
    """A one-line repr of ``value`` of at most about ``limit`` characters, the same in every run.

    Sets are sorted and memory addresses dropped (prompts must not differ between identical
    runs); long reprs keep their head and tail around the one marker of cut text
    (:func:`tracegraph.shorten.shorten`).

    >>> show_value("x" * 50, 30)
    "'xxxxxxxxxx...<+36 chars>xxxx'"
    """
    if isinstance(value, (set, frozenset)):
        text = "{" + ", ".join(sorted(safe_repr(v) for v in value)) + "}"
    else:
        text = safe_repr(value)
    return shorten(_ADDRESS.sub("", text), limit, keep_tail=True)


def _json(value: Any, limit: int) -> str:
    """A value as the JSON the reply must use (``false``, not ``False``), cut to ``limit``."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return show_value(value, limit)
    return _clip(text, limit)


def _clip(text: str, limit: int) -> str:
    """Plain text (no repr quoting) cut in the middle with the marker."""
    return shorten(text, limit, keep_tail=True)


def _block(text: str, limit: int) -> str:
    """Multi-line text (code, a prompt) kept as lines, cut at the end with the marker."""
    return shorten(text.rstrip(), limit)


# ----------------------------------------------------------------------------- names and order


def _leaves(sub: SubgraphLike) -> list[Node]:
    """Parents from outside the subgraph (inputs, values computed elsewhere), constants left out."""
    in_sub = set(sub.nodes)
    found: dict[Node, None] = {}
    for n in sub.nodes:
        for p in n.parents:
            if p not in in_sub and p.kind is not NodeKind.CONSTANT:
                found[p] = None
    return sorted(found, key=lambda n: n.uid)


def _ordered(sub: SubgraphLike, leaves: Sequence[Node]) -> list[Node]:
    """Leaves and nodes ordered by (rank of the first fed output reached, topological position).

    Still topological: a parent reaches every output its child reaches, so its rank is no larger.
    The rank does not depend on ``uid``, which is racy when outputs are traced in threads.
    """
    everything = [*leaves, *sub.nodes]
    last = len(sub.outputs)
    rank: dict[Node, int] = {}
    for i, (out, _) in enumerate(sub.outputs):
        rank.setdefault(out, i)
    for n in reversed(sub.nodes):
        r = rank.get(n, last)
        for p in n.parents:
            if r < rank.get(p, last):
                rank[p] = r
    pos = {n: i for i, n in enumerate(everything)}
    return sorted(everything, key=lambda n: (rank.get(n, last), pos[n]))


def local_names(sub: SubgraphLike) -> dict[Node, str]:
    """The names nodes of ``sub`` (and their outside parents) are shown under in prompts.

    The names of every view (``tracegraph.names.view_names`` of the fed outputs, in their
    order): parameters and named inputs keep their names, calls, exceptions and constants are
    numbered per op over the whole graph below the outputs, so a prompt, the text view and the
    picture of the same outputs name each node alike, in every process and thread.
    """
    outputs = [out for out, _ in sub.outputs]
    if not outputs:  # nothing was fed: name what is shown, in the order it is shown
        return display_names(_ordered(sub, _leaves(sub)))
    return view_names(outputs)


# ----------------------------------------------------------------------------- the program


def _distances(nodes: list[Node], starts: Iterable[Node], ends: Iterable[Node]) -> dict[Node, int]:
    """For each node of ``nodes`` (in topological order) and its parents: the fewest hops to
    a parameter (going forward) or to a fed output (going backward), whichever is nearer.

    Two linear passes over the topological order; no queue, no users map.
    """
    far = len(nodes) + 1
    inside = set(nodes)
    fwd: dict[Node, int] = dict.fromkeys(starts, 0)
    for n in nodes:
        if n not in fwd:
            fwd[n] = min((fwd.get(p, far) for p in n.parents if p in inside), default=far) + 1
    back: dict[Node, int] = dict.fromkeys(ends, 0)
    dist: dict[Node, int] = {}
    for n in reversed(nodes):
        d = back.get(n, far)
        dist[n] = min(d, fwd[n])
        for p in n.parents:  # parents outside the subgraph (inputs) sit one hop beyond
            if d + 1 < back.get(p, far):
                back[p] = d + 1
            if p not in inside and dist[n] + 1 < dist.get(p, far):
                dist[p] = dist[n] + 1
    return dist


class _Lister:
    """Renders one line per node; knows which names the model may change."""

    def __init__(self, trainable: set[Node], config: ProblemConfig, names: dict[Node, str]) -> None:
        self.trainable = trainable
        self.config = config
        self.names = names

    def name(self, node: Node) -> str:
        return self.names.get(node, node.name)

    def ref(self, node: Node) -> str:
        if node.kind is NodeKind.CONSTANT:
            return show_value(node.peek(), 40)
        return self.name(node)

    def line(self, node: Node, leaf: bool) -> str:
        limit = self.config.value_chars
        name = self.name(node)
        if node in self.trainable:
            return f"{name} = <trainable parameter, see above>"
        if node.kind is NodeKind.PARAMETER:
            return f"{name} = {show_value(node.peek(), limit)}  # parameter, READ-ONLY here"
        if leaf or node.kind is NodeKind.INPUT or node.op is None:
            what = "input" if node.kind is NodeKind.INPUT else "value computed elsewhere"
            return f"{name} = {show_value(node.peek(), limit)}  # {what}, READ-ONLY"
        args, reads, code = [], [], None
        for parent, label in zip(node.parents, node.arg_names, strict=False):
            if node.code_param is parent:
                code = self.name(parent)
            elif label.startswith("<"):
                reads.append(self.ref(parent))
            elif label.isidentifier():
                args.append(f"{label}={self.ref(parent)}")
            else:
                args.append(self.ref(parent))
        text = f"{name} = {node.op}({', '.join(args)})"
        notes = []
        if reads:
            notes.append(f"also reads {', '.join(reads)}")
        if code is not None:
            notes.append(f"runs the code of {code}")
        if node.kind is NodeKind.EXCEPTION:
            notes.append(f"RAISED {_clip(' '.join(str(node.peek()).split()), limit)}")
        else:
            notes.append(f"= {show_value(node.peek(), limit)}")
        return f"{text}  # {'; '.join(notes)}"


def _program(
    sub: SubgraphLike, trainable: Sequence[Node], budget: int, config: ProblemConfig
) -> tuple[str, list[Node]]:
    """The listing within ``budget`` characters, and the call nodes it shows (in order)."""
    leaf_list = _leaves(sub)
    leaves = set(leaf_list)
    everything = _ordered(sub, leaf_list)
    pos = {n: i for i, n in enumerate(everything)}
    dist = _distances(sub.nodes, trainable, (o for o, _ in sub.outputs))
    order = sorted(everything, key=lambda n: (dist.get(n, len(everything)), pos[n]))
    lister = _Lister(set(trainable), config, local_names(sub))
    kept = _fill(order, lambda n: lister.line(n, n in leaves), budget - 120)  # 120: the summary
    summary = _summary(n for n in everything if n not in kept)
    lines = []
    for n in everything:  # the one summary line stands where the first gap is
        if n in kept:
            lines.append(kept[n])
        elif summary:
            lines.append(summary)
            summary = ""
    calls = [n for n in everything if n in kept and n.op is not None and n not in leaves]
    return "\n".join(lines), calls


def _fill(order: Iterable[Node], line: Callable[[Node], str], budget: int) -> dict[Node, str]:
    """Lines of the nodes, nearest first, while they fit in ``budget`` characters."""
    kept: dict[Node, str] = {}
    misses = 0
    for n in order:
        text = line(n)
        if len(text) + 1 <= budget:
            kept[n] = text
            budget -= len(text) + 1
        else:
            misses += 1
            if misses > 50 or budget < 40:  # the rest will not fit either: stop looking
                break
    return kept


def _summary(left_out: Iterable[Node]) -> str:
    """One line: how many nodes of which ops were left out (empty when none)."""
    count = Counter(
        (n.op or "?") if n.kind in (NodeKind.CALL, NodeKind.EXCEPTION) else n.kind.value
        for n in left_out
    )
    if not count:
        return ""
    parts = ", ".join(f"{op}×{k:,}" for op, k in sorted(count.items(), key=lambda x: (-x[1], x[0])))
    return f"… {sum(count.values()):,} nodes left out: {parts}"
