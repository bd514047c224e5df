"""Issue 9's structure, checked from the source: the top-level subpackages of callguard import
each other without a cycle (`calls` <-> `store` was one: store.db imported calls.records,
calls.blocking imported store), and policy/ stays pure (no I/O, no asyncio, no clock)."""

from __future__ import annotations

import ast
from pathlib import Path

import callguard

PACKAGE = Path(callguard.__file__).parent


def _unit(module: str) -> str | None:
    """`callguard.store.db` -> `store`; the root's own modules (cli, service...) are units too."""
    parts = module.split(".")
    if parts[0] != "callguard" or len(parts) < 2:
        return None
    return parts[1]


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, relative imports resolved, at any depth (a function-level
    import is an edge too: it fails the same way once called during import)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        source = _unit(_module_name(path))
        if source is None:
            continue
        targets = {_unit(m) for m in _imports(path)}
        graph.setdefault(source, set()).update(t for t in targets if t and t != source)
    # `from callguard.calls import records` names a submodule, not a unit: keep only real units
    units = set(graph)
    return {s: {t for t in ts if t in units} for s, ts in graph.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path [a, b, ..., a], or None (depth-first search, three colours)."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_sees_a_cycle_and_a_clean_graph() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_has_the_packages_it_should() -> None:
    graph = package_graph()
    assert {"calls", "store", "policy", "config"} <= set(graph)
    assert "policy" in graph["store"]  # store.db reads BlockEntry: the walk sees real edges


def test_no_import_cycle_between_callguard_subpackages() -> None:
    cycle = find_cycle(package_graph())
    assert cycle is None, "import cycle between callguard subpackages: " + " -> ".join(cycle or [])


# What a rule in policy/ may use: the standard library's pure parts, the configuration, policy.
POLICY_MAY_IMPORT = frozenset(
    {
        "__future__", "bisect", "collections", "dataclasses", "datetime", "decimal", "enum", "functools",
        "hashlib", "hmac", "itertools", "math", "re", "secrets", "types", "typing", "zoneinfo",
    }
)  # fmt: skip


def _clock_read(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr in ("now", "utcnow", "today", "monotonic", "time")
        and isinstance(node.value, ast.Name)
        and node.value.id in ("datetime", "date", "time")
    )


def impure_uses(path: Path) -> list[str]:
    """What in `path` reaches beyond a pure function: an import outside the allowed set, or a
    read of the clock (a rule is given its time)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""]
        for name in names:
            top = name.split(".")[0]
            if top not in POLICY_MAY_IMPORT and not name.startswith(("callguard.config", "callguard.policy")):
                found.append(f"import {name}")
        if _clock_read(node):
            assert isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            found.append(f"{node.value.id}.{node.attr}()")
    return found


def test_impure_uses_sees_io_and_the_clock(tmp_path: Path) -> None:
    module = tmp_path / "rule.py"
    module.write_text("import asyncio\nfrom datetime import datetime\nx = datetime.now()\n")
    assert impure_uses(module) == ["import asyncio", "datetime.now()"]


def test_policy_is_pure() -> None:
    """Rules live in policy/ as pure functions: no I/O, no asyncio, time passed in (issue 9)."""
    found = {str(p.relative_to(PACKAGE)): impure_uses(p) for p in (PACKAGE / "policy").rglob("*.py")}
    assert {path: uses for path, uses in found.items() if uses} == {}
