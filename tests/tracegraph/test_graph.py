"""Graph algorithms against networkx as the oracle, on random DAGs built with hypothesis.

Graphs are built with the Node constructor so these tests depend only on the graph layer.
Some graphs are "rewired": nodes are made first and parents assigned afterwards in a random
order, so creation order (uid) no longer agrees with the edges and the fallback paths run.
"""

from __future__ import annotations

import copy
import os
import pathlib
import pickle
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracegraph.backward import backward, zero_feedback
from tracegraph.errors import GraphError
from tracegraph.graph import (
    ancestors,
    check_graph,
    descendants_within,
    relevant_subgraph,
    to_networkx,
    toposort,
    users,
)
from tracegraph.node import Feedback, Node, NodeKind, SourceLocation

LEAVES = (NodeKind.PARAMETER, NodeKind.INPUT, NodeKind.CONSTANT)


@dataclass
class Dag:
    nodes: list[Node]  # index i is node i of the drawn structure
    nx: nx.DiGraph  # the same structure keyed by index (parallel edges collapsed)

    def index(self, node: Node) -> int:
        return next(i for i, n in enumerate(self.nodes) if n is node)

    def ids(self, nodes: Iterable[Node]) -> set[int]:
        return {self.index(n) for n in nodes}


@st.composite
def dags(draw: st.DrawFn, max_nodes: int = 25) -> Dag:
    """A random DAG: leaves of the three kinds, calls with 1-3 parents (repeats allowed)."""
    n = draw(st.integers(1, max_nodes))
    structure: list[tuple[NodeKind, list[int]]] = []
    for i in range(n):
        if i == 0 or draw(st.integers(0, 3)) == 0:
            structure.append((draw(st.sampled_from(LEAVES)), []))
        else:
            parents = draw(st.lists(st.integers(0, i - 1), min_size=1, max_size=3))
            structure.append((NodeKind.CALL, parents))
    rewired = draw(st.booleans())
    creation = draw(st.permutations(range(n))) if rewired else list(range(n))
    made: dict[int, Node] = {}
    for i in creation:
        kind, parents = structure[i]
        where = SourceLocation("dag.py", i + 1)
        op = "f" if kind is NodeKind.CALL else None
        made[i] = Node(i, kind, f"n{i}", op=op, location=where)
    graph = nx.DiGraph()
    graph.add_nodes_from(range(n))
    for i, (_, parents) in enumerate(structure):
        made[i].parents = tuple(made[p] for p in parents)
        made[i].arg_names = tuple(f"a{k}" for k in range(len(parents)))
        graph.add_edges_from((p, i) for p in parents)
    return Dag([made[i] for i in range(n)], graph)


def pick_outputs(draw: st.DrawFn, dag: Dag) -> list[int]:
    return draw(st.lists(st.integers(0, len(dag.nodes) - 1), min_size=1, max_size=4, unique=True))


@given(st.data())
def test_toposort_is_networkx_smallest_uid_first_order(data: st.DataObject) -> None:
    dag = data.draw(dags())
    outs = pick_outputs(data.draw, dag)
    order = toposort([dag.nodes[i] for i in outs])
    below = set(outs).union(*(nx.ancestors(dag.nx, i) for i in outs))
    oracle = list(
        nx.lexicographical_topological_sort(dag.nx.subgraph(below), key=lambda i: dag.nodes[i].uid)
    )
    assert [dag.index(n) for n in order] == oracle
    position = {n: k for k, n in enumerate(order)}
    assert all(position[p] < position[n] for n in order for p in n.parents)
    again = toposort([dag.nodes[i] for i in reversed(outs)])
    assert [n.uid for n in again] == [n.uid for n in order]
    check_graph([dag.nodes[i] for i in outs])


@given(st.data())
def test_ancestors_users_descendants_match_networkx(data: st.DataObject) -> None:
    dag = data.draw(dags())
    outs = pick_outputs(data.draw, dag)
    expected = set(outs).union(*(nx.ancestors(dag.nx, i) for i in outs))
    assert dag.ids(ancestors([dag.nodes[i] for i in outs])) == expected
    children = users(dag.nodes)
    for i, node in enumerate(dag.nodes):
        assert [dag.index(c) for c in children[node]] == sorted(dag.nx.successors(i))
    start = data.draw(st.integers(0, len(dag.nodes) - 1))
    allowed = [dag.nodes[i] for i in sorted(expected)]
    below = descendants_within(dag.nodes[start], allowed)
    oracle = (nx.descendants(dag.nx, start) | {start}) & expected if start in expected else set()
    assert dag.ids(below) == oracle


@given(st.data())
def test_backward_reaches_exactly_the_ancestor_parameters(data: st.DataObject) -> None:
    dag = data.draw(dags())
    out = data.draw(st.integers(0, len(dag.nodes) - 1))
    backward(dag.nodes[out], "more")
    reached = {i for i, n in enumerate(dag.nodes) if n.received}
    params = {i for i, n in enumerate(dag.nodes) if n.kind is NodeKind.PARAMETER}
    assert reached == params & (nx.ancestors(dag.nx, out) | {out})
    for i in reached:
        [rec] = dag.nodes[i].received  # one arrival per call, however many paths
        assert rec.output is dag.nodes[out] and rec.feedback == Feedback("more")
    assert dag.nodes[out].feedback == [Feedback("more")]


@settings(max_examples=150)
@given(st.data())
def test_relevant_subgraph_matches_path_oracle(data: st.DataObject) -> None:
    dag = data.draw(dags())
    outs = pick_outputs(data.draw, dag)
    for i in outs:
        backward(dag.nodes[i], f"feedback on n{i}")
    params = [i for i, n in enumerate(dag.nodes) if n.kind is NodeKind.PARAMETER]
    asked = data.draw(st.permutations(params))
    sub = relevant_subgraph([dag.nodes[i] for i in asked])

    def on_paths(p: int) -> set[int]:
        fed = [o for o in outs if o == p or nx.has_path(dag.nx, p, o)]
        up = set().union(*({o} | nx.ancestors(dag.nx, o) for o in fed))
        return up & ({p} | nx.descendants(dag.nx, p)) if fed else set()

    expected = {p: on_paths(p) for p in asked if on_paths(p)}
    assert [dag.index(p) for p in sub.params] == [p for p in asked if p in expected]
    got = {dag.index(p): nodes for p, nodes in sub.per_param.items()}
    assert {p: {dag.index(n) for n in nodes} for p, nodes in got.items()} == expected
    union = set().union(*expected.values())
    oracle = nx.lexicographical_topological_sort(
        dag.nx.subgraph(union), key=lambda i: dag.nodes[i].uid
    )
    assert [dag.index(n) for n in sub.nodes] == list(oracle)
    position = {n: k for k, n in enumerate(sub.nodes)}
    for nodes in sub.per_param.values():
        assert [position[n] for n in nodes] == sorted(position[n] for n in nodes)
    fed_outs = {o for p in expected for o in outs if o in expected[p]}
    shown = [dag.index(o) for o, _ in sub.outputs]
    assert sorted(shown) == sorted(fed_outs)
    for p in expected:  # each parameter sees its outputs in the order feedback was given
        mine = [o for o in outs if o in expected[p]]
        assert [o for o in shown if o in mine] == mine
    for out, fb in sub.outputs:
        assert fb == Feedback(f"feedback on {out.name}")


def test_relevant_subgraph_outputs_in_order_of_first_feedback() -> None:
    p = Node(1, NodeKind.PARAMETER, "p")
    a = Node(2, NodeKind.CALL, "a", op="f", parents=(p,), arg_names=("x",))
    b = Node(3, NodeKind.CALL, "b", op="f", parents=(p,), arg_names=("x",))
    backward(b, "first")
    backward(a, "second")
    backward(b, Feedback("first", 1.0))
    sub = relevant_subgraph(p)
    assert [(o.name, fb) for o, fb in sub.outputs] == [
        ("b", Feedback("first", 1.0)),
        ("a", Feedback("second")),
    ]
    assert [n.name for n in sub.nodes] == ["p", "a", "b"]
    zero_feedback(p)
    assert relevant_subgraph(p) == relevant_subgraph([])


def test_relevant_subgraph_of_a_fan_out_is_linear_and_shared() -> None:
    p = Node(0, NodeKind.PARAMETER, "p")
    q = Node(0, NodeKind.PARAMETER, "q")
    branches = [
        Node(i, NodeKind.CALL, f"b{i}", op="f", parents=(p,), arg_names=("x",)) for i in range(2000)
    ]
    total = Node(0, NodeKind.CALL, "sum", op="sum", parents=(*branches, q), arg_names=("x",) * 2001)
    backward(total, "smaller")
    sub = relevant_subgraph([p, q])
    assert len(sub.nodes) == 2003
    assert len(sub.per_param[p]) == 2002 and [n.name for n in sub.per_param[q]] == ["q", "sum"]
    # Each node object appears once: lists share nodes, no per-node subgraph copies.
    assert len({id(n) for n in sub.nodes}) == len(sub.nodes)


def test_deep_graphs_need_no_recursion() -> None:
    p = Node(0, NodeKind.PARAMETER, "p")
    y = p
    for i in range(50_000):
        c = Node(1, NodeKind.CONSTANT, "c")
        y = Node(i, NodeKind.CALL, f"add_{i}", op="add", parents=(y, c), arg_names=("a", "b"))
    assert len(check_graph(y)) == 100_001
    backward(y, "larger")
    assert len(relevant_subgraph(p).nodes) == 50_001
    assert len(to_networkx(y)) == 100_001


def test_to_networkx_keeps_structure_and_attributes() -> None:
    x = Node("x" * 500, NodeKind.INPUT, "x", location=SourceLocation("/a/b/demo.py", 3))
    y = Node(2, NodeKind.CALL, "y", op="cat", parents=(x, x), arg_names=("a", "b"))
    graph = to_networkx(y)
    assert set(graph.edges) == {(x.uid, y.uid)}
    assert graph.edges[x.uid, y.uid]["args"] == ["a", "b"]
    attrs = graph.nodes[x.uid]
    assert (attrs["kind"], attrs["name"], attrs["op"], attrs["node"]) == ("input", "x", None, x)
    assert attrs["location"] == "/a/b/demo.py:3" and "chars>" in attrs["value"]


# --- check_graph catches each broken invariant -------------------------------------------


def _pair() -> tuple[Node, Node]:
    a = Node(1, NodeKind.INPUT, "a", location=SourceLocation("lint.py", 1))
    b = Node(
        2,
        NodeKind.CALL,
        "b",
        op="f",
        parents=(a,),
        arg_names=("x",),
        location=SourceLocation("lint.py", 2),
    )
    return a, b


def _cycle(a: Node, b: Node) -> None:
    a.kind, a.op, a.parents, a.arg_names = NodeKind.CALL, "g", (b,), ("y",)


BREAKAGES = {
    "cycle": (_cycle, "cycle"),
    "non-node parent": (lambda a, b: setattr(b, "parents", (a, 3)), "not a Node"),
    "arg names": (lambda a, b: setattr(b, "arg_names", ()), "0 arg names for 1 parents"),
    "leaf with parents": (lambda a, b: setattr(b, "kind", NodeKind.INPUT), "has 1 parents"),
    "call without op": (lambda a, b: setattr(b, "op", None), "has op None"),
    "bad kind": (lambda a, b: setattr(b, "kind", "call"), "not a NodeKind"),
    "parents list": (lambda a, b: setattr(b, "parents", [a]), "parents is a list"),
    "bad feedback": (lambda a, b: b.feedback.append("text"), "non-Feedback"),
}


@pytest.mark.no_graph_check
@pytest.mark.parametrize("name", sorted(BREAKAGES))
def test_check_graph_names_the_broken_node(name: str) -> None:
    a, b = _pair()
    assert [n.name for n in check_graph(b)] == ["a", "b"]
    breakage, message = BREAKAGES[name]
    breakage(a, b)
    with pytest.raises(GraphError, match=message) as info:
        check_graph(b)
    assert "lint.py:" in str(info.value) and "fix" in str(info.value)
    assert "'a'" in str(info.value) or "'b'" in str(info.value)


@pytest.mark.no_graph_check
def test_cycle_is_refused_by_every_traversal_that_orders() -> None:
    a, b = _pair()
    _cycle(a, b)
    with pytest.raises(GraphError, match="cycle"):
        toposort(b)
    with pytest.raises(GraphError, match="cycle"):
        backward(b, "x")
    assert b.feedback == [] and a.received == []  # a refused backward wrote nothing
    with pytest.raises(GraphError, match="cycle"):
        _fed_cycle(a, b)


def _fed_cycle(a: Node, b: Node) -> None:
    from tracegraph.node import Received

    p = Node(0, NodeKind.PARAMETER, "p")
    a.parents, a.arg_names = (*a.parents, p), (*a.arg_names, "p")  # p feeds the cycle
    p.received.append(Received(b, Feedback("x")))
    relevant_subgraph(p)


def test_non_nodes_are_refused_with_a_fix() -> None:
    with pytest.raises(GraphError, match=r"not its \.value"):
        toposort([3])  # type: ignore[list-item]
    with pytest.raises(GraphError, match="got int: 3"):
        ancestors(3)  # type: ignore[arg-type]


@given(st.data())
def test_format_graph_lists_each_node_once_after_its_parents(data: st.DataObject) -> None:
    from tracegraph.names import view_names, view_order
    from tracegraph.text import format_graph

    dag = data.draw(dags())
    outs = [dag.nodes[i] for i in pick_outputs(data.draw, dag)]
    lines = format_graph(outs).splitlines()
    order = view_order(outs)  # grouped by first output reached, still parents first
    assert {id(n) for n in order} == {id(n) for n in toposort(outs)}
    names = view_names(outs)
    assert len(lines) == len(order)  # no feedback given: one line per node, nothing else
    defined: set[str] = set()
    for node, line in zip(order, lines, strict=True):
        name = line.split(" ")[0].rstrip(":")
        assert name == names[node] and name not in defined  # one name per node in a view
        if node.parents:
            args = line[line.index("(") + 1 : line.index(")")].split(", ")
            assert all(arg.split("=")[1] in defined for arg in args)
        defined.add(name)


def test_nodes_unpickled_in_a_fresh_process_sort_with_the_nodes_made_there(
    tmp_path: pathlib.Path,
) -> None:
    """Issue 10 bug 7(a): pickled uids collided with new ones and toposort compared Nodes."""
    import tracegraph as tg

    params = [tg.param(1, name="a"), tg.param(2, name="b")]
    (tmp_path / "params.pkl").write_bytes(pickle.dumps(params))
    script = (
        "import pickle, sys\n"
        "import tracegraph as tg\n"
        "from tracegraph.graph import toposort\n"
        "a, b = pickle.loads(open(sys.argv[1], 'rb').read())\n"
        "@tg.op\n"
        "def add(x, y):\n"
        "    return x + y\n"
        "out = add(add(a, b), 1)\n"
        "print([n.name for n in toposort(out)], out.value)\n"
    )
    root = pathlib.Path(tg.__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "params.pkl")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['a', 'b', 'add', 'const', 'add'] 4"


def test_a_copied_node_gets_its_own_uid() -> None:
    a = Node(1, NodeKind.PARAMETER, "a")
    b = Node(2, NodeKind.CALL, "f", op="f", parents=(a,), arg_names=("x",))
    twin = copy.deepcopy(b)
    assert twin.uid != b.uid and twin.parents[0].uid != a.uid
    assert twin.parents[0].uid < twin.uid  # parents keep coming first
    assert [n.name for n in toposort([b, twin])] == ["a", "f", "a", "f"]
