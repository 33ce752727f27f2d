# Licensed under a 3-clause BSD style license - see LICENSE
"""The package's modules import each other one way only (design.md: layers import only those below)."""
import ast
from pathlib import Path

import xrtprods_astro

PACKAGE = Path(xrtprods_astro.__file__).parent
NAME = "xrtprods_astro"


def _module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module, node):
    """The package modules one import statement names (function-level imports included)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.startswith(NAME)]
    if node.level:
        base = module.split(".")
        is_package = (PACKAGE.parent / Path(*base) / "__init__.py").exists()
        base = base[:len(base) - node.level + (1 if is_package else 0)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if not target.startswith(NAME):
        return []
    # "from . import params" names the module params; "from .core import XRTProducts" names core.
    out = set()
    folder = PACKAGE.parent / Path(*target.split("."))
    for alias in node.names:
        if (folder / f"{alias.name}.py").exists() or (folder / alias.name / "__init__.py").exists():
            out.add(f"{target}.{alias.name}")
        else:
            out.add(target)
    return sorted(out)


def import_graph(exclude=()):
    """Module -> the package modules it imports, excluding the package root's ``conf``."""
    graph = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        if module.startswith(tuple(exclude)):
            continue
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in _resolve(module, node):
                    # Reading conf from the package root is allowed (astropy's pattern).
                    if target == NAME and isinstance(node, ast.ImportFrom) and \
                            {a.name for a in node.names} <= {"conf", "log"}:
                        continue
                    if target != module:
                        edges.add(target)
        graph[module] = edges
    return graph


def find_cycles(graph):
    """Every elementary cycle's smallest representative found by depth-first search, as lists."""
    cycles, state, stack = [], {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_between_the_package_modules():
    # The whole package, the local service (server/) included.
    graph = import_graph()
    # The parser sees module-level, function-level and "from . import module" imports.
    assert {"xrtprods_astro.core", "xrtprods_astro.params"} <= graph["xrtprods_astro.batch"]
    assert "xrtprods_astro.version" in graph[NAME]  # the root imports the rest lazily (importlib)
    assert find_cycles(graph) == []


def test_job_uses_only_the_clients_public_api():
    tree = ast.parse((PACKAGE / "job.py").read_text(encoding="utf-8"))
    private = sorted({node.attr for node in ast.walk(tree)
                      if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
                      and node.value.attr == "_client" and node.attr.startswith("_")})
    assert private == []
