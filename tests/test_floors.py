"""The floors of the house, checked by walking every import statement (module level and inside
functions) of SkipBench's packages with ``ast``: no import runs up a floor, no import cycle, and no
private name (``_x``) is imported from another module.

Run alone: ``.venv/bin/python -m pytest -q tests/test_floors.py``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# package -> the packages of ours it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "skipbench": set(),  # the floor: settings, errors, config, registry, records
    "methods": {"skipbench"},
    "db": {"skipbench"},
    "harness": {"skipbench", "methods", "db"},
    "workers": {"skipbench", "methods", "harness", "db"},
    "leaderboard": {"skipbench", "db", "harness"},  # harness: suite declarations only, below
    "cli": {"skipbench", "methods", "harness", "db", "workers", "leaderboard"},  # the roof
}
# the leaderboard may read the suites' torch-free declarations and nothing else of harness
LEADERBOARD_HARNESS_OK = ("harness.suites.declarations", "harness.suites.base_declarations")


def is_declaration(module: str) -> bool:
    return module in LEADERBOARD_HARNESS_OK or (
        module.startswith("harness.suites.") and module.endswith(".declaration")
    )


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def our_modules() -> dict[str, Path]:
    found = {}
    for package in ALLOWED:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts and "versions" in path.parts:
                continue
            found[module_name(path)] = path
    return found


def imports_of(module: str, path: Path) -> Iterator[tuple[str, list[str], int]]:
    """(imported module, imported names, line) for every import statement in the file."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.module == "__future__":
                continue
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base, [a.name for a in node.names], node.lineno


MODULES = our_modules()


def resolve(target: str, names: list[str]) -> list[str]:
    """The modules of ours an import statement loads (``from pkg import sub`` loads pkg.sub)."""
    found = []
    for name in names:
        if f"{target}.{name}" in MODULES:
            found.append(f"{target}.{name}")
    if target in MODULES and len(found) < max(1, len(names)):
        found.append(target)
    return found


def edges() -> Iterator[tuple[str, str, list[str], int]]:
    for module, path in MODULES.items():
        for target, names, line in imports_of(module, path):
            for dest in resolve(target, names):
                yield module, dest, names, line


def test_the_walk_sees_the_packages() -> None:
    # a walk that finds nothing would pass every check below
    assert len(MODULES) > 80
    assert {m.split(".")[0] for m in MODULES} == set(ALLOWED)
    assert any(
        dest.startswith("methods.") for src, dest, *_ in edges() if src.startswith("harness")
    )


def test_no_import_runs_up_a_floor() -> None:
    wrong = []
    for src, dest, _names, line in edges():
        a, b = src.split(".")[0], dest.split(".")[0]
        if a == b:
            continue
        if b not in ALLOWED[a]:
            wrong.append(f"{MODULES[src].relative_to(ROOT)}:{line} imports {dest}")
        elif (
            a == "leaderboard"
            and b == "harness"
            and not is_declaration(dest)
            and dest not in ("harness", "harness.suites")
        ):
            wrong.append(f"{MODULES[src].relative_to(ROOT)}:{line} imports {dest} (torch side)")
    assert not wrong, "imports that run up a floor:\n" + "\n".join(wrong)


def test_no_import_cycle() -> None:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for src, dest, _names, _line in edges():
        if src != dest:
            graph[src].add(dest)
    cycles = strongly_connected(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(sorted(c)) for c in cycles)


def test_no_private_name_imported_from_another_module() -> None:
    wrong = []
    for module, path in MODULES.items():
        for target, names, line in imports_of(module, path):
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private and target != module and target.split(".")[0] in ALLOWED:
                wrong.append(f"{path.relative_to(ROOT)}:{line} from {target} import {private}")
    assert not wrong, "private names imported across modules:\n" + "\n".join(wrong)


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm; returns the components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.add(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in graph:
        if node not in index:
            visit(node)
    return found


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"a"}, "c": set()}, [{"a", "b"}]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, [{"a", "b", "c"}]),
    ],
)
def test_cycle_finder_on_hand_made_graphs(graph, expected) -> None:
    assert strongly_connected(graph) == expected
