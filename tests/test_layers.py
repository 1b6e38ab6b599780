"""The import graph of both packages: no cycles, and no arrow from the core to the optimizers.

Every ``import`` statement counts, at module level or inside a function: an import hidden in a
function is still an arrow between two layers. Imports under ``if TYPE_CHECKING:`` are left out:
they never run, and a type named in an annotation (an error that holds a Node) is no layer.
Importing ``a.b.c`` runs ``a/__init__`` and ``a/b/__init__`` first; those implicit arrows are
not counted (a package's ``__init__`` re-exports its children by design).
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("tracegraph", "optimizers")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def _targets(node: ast.AST, here: str, is_package: bool, known: set[str]) -> list[str]:
    """The project modules one import statement names (``from a import b`` is ``a.b`` when
    ``b`` is a module, else ``a``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.split(".")[0] in PACKAGES]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:
        anchor = here.split(".") if is_package else here.split(".")[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    if base.split(".")[0] not in PACKAGES:
        return []
    found = []
    for alias in node.names:
        child = f"{base}.{alias.name}"
        found.append(child if child in known else base)
    return found


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of the tree except the bodies of ``if TYPE_CHECKING:`` blocks."""
    found, todo = [], [tree]
    while todo:
        node = todo.pop()
        found.append(node)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))
    return found


def import_graph() -> nx.DiGraph:
    modules = _modules()
    known = set(modules)
    graph = nx.DiGraph()
    graph.add_nodes_from(known)
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for node in _runtime_nodes(tree):
            for target in _targets(node, name, is_package, known):
                while target not in known and "." in target:
                    target = target.rsplit(".", 1)[0]
                if target in known and target != name:
                    graph.add_edge(name, target)
    return graph


def test_the_import_graph_is_found() -> None:
    graph = import_graph()
    assert graph.number_of_nodes() > 50
    assert graph.has_edge("optimizers", "tracegraph.node") or any(
        target.startswith("tracegraph") for _, target in graph.out_edges("optimizers.errors")
    )


def test_no_import_cycles() -> None:
    graph = import_graph()
    cycles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    assert not cycles, "import cycles (break them by moving the shared piece down a layer):\n" + (
        "\n".join(" <-> ".join(c) for c in cycles)
    )


def test_the_core_never_imports_the_optimizers() -> None:
    graph = import_graph()
    upward = [
        f"{a} -> {b}"
        for a, b in graph.edges
        if a.startswith("tracegraph") and b.startswith("optimizers")
    ]
    assert not upward, "tracegraph must not import optimizers:\n" + "\n".join(upward)


def test_the_map_in_the_docs_lists_every_module() -> None:
    text = (ROOT / "docs" / "internals.md").read_text(encoding="utf-8")
    missing = [
        str(path.relative_to(ROOT))
        for path in _modules().values()
        if f"`{path.relative_to(ROOT).as_posix()}`" not in text
    ]
    assert not missing, "add one line each to the module map in docs/internals.md:\n" + (
        "\n".join(missing)
    )
