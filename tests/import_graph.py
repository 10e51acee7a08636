"""The project's import graph, read from the source (every import: top-level, lazy inside functions, and under
TYPE_CHECKING), and its layers. `python -m tests.import_graph` prints the README's layer diagram."""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("isabelle_env", "generators", "agent", "expert_iteration", "benchmarks", "cli")

#: lowest first; a module may import its own group and the groups of lower layers, nothing else
LAYERS: tuple[tuple[str, ...], ...] = (
    ("isabelle_env",),
    ("benchmarks.data", "generators"),
    ("agent",),
    ("expert_iteration",),
    ("benchmarks.report",),
    ("benchmarks.perf", "benchmarks.expert_switch"),
    ("cli",),
)
WHAT = {
    "isabelle_env": "Isabelle: text, protocol, processes, sessions, checking; nothing of models or Ray",
    "benchmarks.data": "problem sets, names, pass@k, published results",
    "generators": "models, prompts, experts; Isabelle text only through isabelle_env.syntax",
    "agent": "proof search: store, checker actors, the driver",
    "expert_iteration": "the SubgoalXL loop, driving agent",
    "benchmarks.report": "reports read from the run store",
    "benchmarks.perf": "performance benchmarks, driving the real scheduler",
    "benchmarks.expert_switch": "the expert-switch benchmark",
    "cli": "the subgoalxl command line",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """module -> the project modules it imports (for `from x import y`, `x.y` when that is a module, else `x`)."""
    modules = {module_name(p): p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base]).strip(".")
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for target in targets:
                if target.split(".")[0] in PACKAGES and target != name:
                    graph[name].add(target)
    return dict(graph)


def group(module: str) -> str:
    names = [g for layer in LAYERS for g in layer]
    return max((g for g in names if module == g or module.startswith(g + ".")), key=len, default=module)


def layer_of(module: str) -> int:
    g = group(module)
    return next(k for k, layer in enumerate(LAYERS) if g in layer)


def violations(graph: dict[str, set[str]]) -> list[str]:
    """Imports of a higher layer, or of another group of the same layer."""
    bad = []
    for source, targets in sorted(graph.items()):
        for target in sorted(targets):
            if group(source) == group(target):
                continue
            if layer_of(target) >= layer_of(source):
                bad.append(
                    f"{source} (layer {layer_of(source)}, {group(source)}) imports {target} "
                    f"(layer {layer_of(target)}, {group(target)})"
                )
    return bad


def mutual(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Module pairs that import each other (lazily or not)."""
    return sorted({tuple(sorted((a, b))) for a, bs in graph.items() for b in bs if a in graph.get(b, set())})


def group_edges(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for source, targets in graph.items():
        for target in targets:
            if group(source) != group(target):
                edges[group(source)].add(group(target))
    return edges


def diagram(graph: dict[str, set[str]]) -> str:
    """The layers top down, each group with what it imports directly (from the imports as they are)."""
    edges = group_edges(graph)
    lines = []
    for k in range(len(LAYERS) - 1, -1, -1):
        for g in LAYERS[k]:
            below = ", ".join(sorted(edges.get(g, ()), key=lambda x: (-layer_of(x), x))) or "nothing of the project"
            lines.append(f"{k}  {g:<26} -> {below}")
            lines.append(f"   {'':<26}    ({WHAT[g]})")
    return "\n".join(lines)


if __name__ == "__main__":
    print(diagram(imports()))
    sys.exit(0)
