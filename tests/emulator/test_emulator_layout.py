"""The emulator's source stays in files a reader can take in at once, with no import
circles: issue 21 split two 1,300-line state files and a 613-line router, and ended the
``atlas.state <-> atlas.users`` and ``platform.ledger <-> platform.state`` circles. These
checks keep it so. Every import counts (``TYPE_CHECKING`` and function-level ones too):
a circle hidden from the interpreter is still one a reader must untangle."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set

SRC = Path(__file__).resolve().parents[2] / "src"
EMULATOR = SRC / "fluidstack" / "emulator"
MAX_LINES = 600
SSH_PACKAGE = "fluidstack.emulator.ssh"
"""Its circle with ``runtime`` is another change's to end (issue 21's SSH part)."""


def _modules() -> Dict[str, Path]:
    modules: Dict[str, Path] = {}
    for path in EMULATOR.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _imports(name: str, path: Path, modules: Dict[str, Path]) -> Set[str]:
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: Set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                full = f"{module}.{alias.name}"
                found.add(full if full in modules else module)
    return {m for m in found if m in modules and m != name}


def _circles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circles_in_the_emulator() -> None:
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    circles = [c for c in _circles(graph) if not any(m.startswith(SSH_PACKAGE + ".") for m in c)]
    assert circles == []


def test_no_emulator_file_over_600_lines() -> None:
    long = {
        str(path.relative_to(SRC)): n
        for path in EMULATOR.rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}
