"""No import cycles in the product (issue 22): app/, workers/ and schemas/, with the modules of
bin/ they reach, import one another in one direction only.

Every import counts, at the top of a module or inside a function (a cycle that works only because
an import was moved into a function is still a cycle: it decides the order modules can be loaded
in). Imports under `if TYPE_CHECKING:` are left out: they never run. Relative imports are
resolved; `from package import name` is an edge to the submodule `package.name` when there is
one, else to the package itself. Third-party and standard-library imports are not edges.
"""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKED = ("app", "workers", "schemas")  # a cycle through one of these fails the test
WALKED = (*CHECKED, "bin")  # bin/ is walked too: a cycle may leave the product and come back


def module_files() -> dict[str, Path]:
    """Every first-party module of the walked packages, by dotted name."""
    found: dict[str, Path] = {}
    for package in WALKED:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST):
    """Every Import/ImportFrom node, at any depth, except those under `if TYPE_CHECKING:`."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        if isinstance(node, ast.If) and _type_checking_only(node):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """The first-party module `name` is, or is inside (a.b.c where only a.b exists: a.b)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {imported module: line of the first such import}."""
    modules = module_files()
    graph: dict[str, dict[str, int]] = {}
    for module, path in modules.items():
        edges = graph.setdefault(module, {})
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in _imports(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                source = _resolve(module, path.name == "__init__.py", node)
                targets = [
                    f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source for alias in node.names
                ]
            for target in targets:
                known = _known(target, modules)
                if known is not None and known != module:
                    edges.setdefault(known, node.lineno)
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph.get(node, {}):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
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


def _one_loop(graph: dict[str, dict[str, int]], component: list[str]) -> list[str]:
    """A shortest way around the component from its first module back to it, with lines."""
    start, members = component[0], set(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for successor in sorted(graph[node]):
            if successor == start:
                path = paths[node] + [start]
                return [f"{a} (line {graph[a][b]}) -> {b}" for a, b in itertools.pairwise(path)]
            if successor in members and successor not in paths:
                paths[successor] = paths[node] + [successor]
                queue.append(successor)
    return []


def test_the_walk_sees_function_level_and_relative_imports():
    graph = import_graph()
    assert "app.orders.store" in graph and "workers.orders" in graph and "schemas.orders" in graph
    assert graph["app.cli"], "app/cli has imports inside functions: the walk must see them"
    tree = ast.parse("from . import x\nfrom ..b import y\n")
    first, second = tree.body
    assert isinstance(first, ast.ImportFrom) and isinstance(second, ast.ImportFrom)
    assert _resolve("app.orders.store", False, first) == "app.orders"
    assert _resolve("app.orders", True, second) == "app.b"


def test_no_import_cycle_in_app_workers_schemas():
    graph = import_graph()
    found = [c for c in cycles(graph) if any(m.split(".")[0] in CHECKED for m in c)]
    report = "\n".join(
        f"cycle between {', '.join(c)}:\n  e.g. "
        + "\n       ".join(_one_loop(graph, c))
        + "\n  its imports: "
        + "; ".join(f"{a}:{graph[a][b]} -> {b}" for a in c for b in sorted(graph[a]) if b in c)
        for c in found
    )
    assert not found, f"{len(found)} import cycle(s):\n{report}"
