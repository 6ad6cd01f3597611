"""The architecture as floors: asc's import graph has no circle and never imports from a lower floor up.

Floors, lowest first: core < data < frontend < nets < training < prune < deploy < report < pipeline < app; a
module's floor is its sub-package (asc/<floor>/...; asc/__init__.py and asc/__main__.py are the app floor).
Every import counts: at a module's top, inside a function (a deferred import is still an edge) and under
``if TYPE_CHECKING:`` (a type-only import too: move the type down instead)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "asc"
FLOORS = ("core", "data", "frontend", "nets", "training", "prune", "deploy", "report", "pipeline", "app")
TOP = ("asc", "asc.__main__")  # the package itself and ``python -m asc``: the app floor


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent)
        if "conf" in rel.parts[1:2]:
            continue
        out[".".join(rel.with_suffix("").parts).removesuffix(".__init__")] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The asc modules ``name`` imports (``from asc.x import y`` names module asc.x.y when that is a module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(
                    parts[: len(parts) - (node.level - 1)] + ([node.module] if node.module else [])
                )
            else:
                base = node.module or ""
            found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names}
    edges = set()
    for m in found:
        while m not in modules and "." in m:
            m = m.rpartition(".")[0]
        if m in modules and m != name:  # `from asc import X` is an edge to the package (the app floor) too
            edges.add(m)
    return edges


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def floor(module: str) -> int:
    """The floor index of a dotted module name; ValueError for a module outside every floor."""
    if module in TOP:
        return FLOORS.index("app")
    parts = module.split(".")
    if len(parts) < 2 or parts[1] not in FLOORS:
        raise ValueError(f"{module} is not on a floor: move it into asc/<floor>/ ({', '.join(FLOORS)})")
    return FLOORS.index(parts[1])


def test_every_module_is_on_a_floor() -> None:
    off = [
        m for m in sorted(_modules()) if m not in TOP and m.split(".")[1:2] and m.split(".")[1] not in FLOORS
    ]
    assert not off, f"modules outside every floor (move each into asc/<floor>/): {off}"


def test_no_import_runs_from_a_lower_floor_up() -> None:
    graph = _graph()
    upward = [
        f"{m} ({FLOORS[floor(m)]}) -> {d} ({FLOORS[floor(d)]})"
        for m in sorted(graph)
        for d in sorted(graph[m])
        if floor(m) is not None and floor(d) is not None and floor(d) > floor(m)
    ]
    assert not upward, "imports from a lower floor up:\n" + "\n".join(upward)


def test_the_import_graph_has_no_circle() -> None:
    graph = _graph()
    circles = []

    def visit(node: str, stack: list[str], done: set[str]) -> None:
        if node in stack:
            circles.append(" -> ".join(stack[stack.index(node) :] + [node]))
            return
        if node in done:
            return
        for nxt in sorted(graph[node]):
            visit(nxt, [*stack, node], done)
        done.add(node)

    done: set[str] = set()
    for name in sorted(graph):
        visit(name, [], done)
    assert not circles, f"{len(circles)} import circle(s), the first ones:\n" + "\n".join(circles[:20])
