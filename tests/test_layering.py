"""The package layering of ARCHITECTURE.md, checked on the source: no import cycle between
packages, and no package importing a layer above its own.

Every import counts, wherever it is written: at module level, inside a function (a lazy
import is still a dependency) or under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import omnihub

SRC = Path(omnihub.__file__).parent

# Top to bottom; a package may import its own layer's packages (without a cycle) and any
# layer below, never one above.
LAYERS: list[set[str]] = [
    # adapters, harnesses
    {"cli", "api", "console", "client", "scenario", "bench", "chaos", "redteam", "__main__"},
    {"runtime"},  # the composition root
    {"goals"},  # the application layer
    {"guard", "planning", "saga", "examples", "audit"},  # domain services (examples: a tool set)
    {
        "cache",
        "plans",
        "tools",
        "events",
        "embeddings",
        "entities",
        "auth",
        "servers",
        "crypto",
        "telemetry",
    },
    {"config", "errors", "omnihub"},  # ground floor ("omnihub": the root package's __init__)
]
LAYER_OF = {package: depth for depth, packages in enumerate(LAYERS) for package in packages}

# Upward imports that exist today in code other engineers own (issue 10 moves it); each goes
# when its owner's change is merged. (importer, imported): why.
KNOWN_UPWARD: dict[tuple[str, str], str] = {  # none left
}


def _package(path: Path) -> str:
    parts = path.relative_to(SRC).parts
    if len(parts) == 1:
        name = parts[0].removesuffix(".py")
        return "omnihub" if name == "__init__" else name
    return parts[0]


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """``(imported package, line, lazy)`` of every omnihub import in the file."""
    tree = ast.parse(path.read_text(), str(path))
    found: list[tuple[str, int, bool]] = []
    lazy_lines = {
        node.lineno
        for function in ast.walk(tree)
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
        for node in ast.walk(function)
        if isinstance(node, ast.Import | ast.ImportFrom)
    }
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "omnihub":
                names = [f"omnihub.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] != "omnihub":
                continue
            target = parts[1] if len(parts) > 1 else "omnihub"
            if target == "__version__":
                target = "omnihub"
            found.append((target, node.lineno, node.lineno in lazy_lines))
    return found


def package_graph() -> tuple[dict[str, set[str]], dict[tuple[str, str], list[str]], int]:
    """Package → packages it imports, where each edge is written, and how many are lazy."""
    graph: dict[str, set[str]] = defaultdict(set)
    where: dict[tuple[str, str], list[str]] = defaultdict(list)
    lazy = 0
    for path in sorted(SRC.rglob("*.py")):
        source = _package(path)
        for target, line, is_lazy in _imports(path):
            if target == source:
                continue
            graph[source].add(target)
            where[(source, target)].append(f"{path.relative_to(SRC)}:{line}")
            lazy += is_lazy
    return graph, where, lazy


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_package_has_a_layer() -> None:
    graph, _, _ = package_graph()
    packages = set(graph) | {t for targets in graph.values() for t in targets}
    assert packages - set(LAYER_OF) == set()


def test_packages_import_each_other_without_a_cycle() -> None:
    graph, where, _ = package_graph()
    # The known upward imports close cycles by definition; they are listed (and counted) above.
    for source, target in KNOWN_UPWARD:
        graph[source].discard(target)
    cycles = _cycles(graph)
    detail = {
        " <-> ".join(c): [w for a in c for b in c if (a, b) in where for w in where[(a, b)]]
        for c in cycles
    }
    assert cycles == [], detail


def test_no_package_imports_a_layer_above_its_own() -> None:
    _, where, _ = package_graph()
    upward = {
        edge: places
        for edge, places in where.items()
        if LAYER_OF[edge[1]] < LAYER_OF[edge[0]] and edge not in KNOWN_UPWARD
    }
    assert upward == {}


def test_known_upward_imports_still_exist() -> None:
    """An allowed exception that no longer occurs must leave the list (it only shrinks)."""
    _, where, _ = package_graph()
    assert [edge for edge in KNOWN_UPWARD if edge not in where] == []


def test_the_console_and_the_api_sit_side_by_side() -> None:
    graph, _, _ = package_graph()
    assert "api" not in graph["console"]
    assert "goals" in graph["console"]
    assert "goals" in graph["api"]


def test_the_walk_sees_lazy_imports() -> None:
    # The graph is only honest if imports inside functions count: there are many (for
    # optional backends and start-up cost), and the walk must find them.
    _, _, lazy = package_graph()
    assert lazy > 10
