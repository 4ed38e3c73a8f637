"""The house rules of ``src/fluidstack`` (ARCHITECTURE.md): no import circles, no
hand-written file over 600 lines, and the SDK and the emulator meet only at HTTP.

The import graph is read from the source with :mod:`ast`, so every import counts: those
at the top of a module, those inside functions (lazy imports) and those under
``TYPE_CHECKING``. A circle is a set of modules each of which reaches the others; any
circle fails the test with its members named.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "fluidstack"
MAX_LINES = 600
GENERATED_MARK = "# Generated from "


def _module_name(path: Path) -> Tuple[str, List[str]]:
    """``fluidstack.a.b`` for ``src/fluidstack/a/b.py``, and the package its relative
    imports start from."""
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
        return ".".join(parts), parts
    return ".".join(parts), parts[:-1]


def _modules() -> Dict[str, Tuple[Path, List[str]]]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name, package = _module_name(path)
        found[name] = (path, package)
    return found


def _imports(path: Path, package: List[str], known: Set[str]) -> Set[str]:
    """The modules of this package that ``path`` imports, wherever the import stands."""
    targets: Set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                # ``from pkg import mod`` imports the module ``pkg.mod`` when there is one.
                candidate = f"{module}.{alias.name}"
                targets.add(candidate if candidate in known else module)
    resolved = set()
    for target in targets:
        # ``import fluidstack.a.b`` also runs ``fluidstack.a``; the edge that matters is
        # to the deepest module that exists.
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target:
            resolved.add(target)
    return resolved


def _graph() -> Dict[str, Set[str]]:
    modules = _modules()
    known = set(modules)
    return {
        name: _imports(path, package, known) - {name} for name, (path, package) in modules.items()
    }


def _circles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(graph)))
    try:
        for node in sorted(graph):
            if node not in index:
                visit(node)
    finally:
        sys.setrecursionlimit(limit)
    return found


ROOT = SRC.parent
CHECKED_TREES = ("src/fluidstack", "tests", "bench", "scripts", "examples")
"""Every tree of Python we write by hand: the rule is the house's, not only the package's."""


def _hand_written() -> Iterator[Tuple[Path, int]]:
    for path in sorted(p for tree in CHECKED_TREES for p in (ROOT / tree).rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if text.startswith(GENERATED_MARK):
            continue
        yield path, text.count("\n")


def test_no_import_circle_anywhere_in_src() -> None:
    circles = _circles(_graph())
    assert circles == [], "import circles:\n" + "\n".join(" <-> ".join(c) for c in circles)


def test_the_circle_finder_finds_a_circle() -> None:
    # The check above is only worth something if a circle is seen when there is one.
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _circles(graph) == [["a", "b", "c"]]


def test_no_hand_written_file_over_600_lines() -> None:
    too_long = [
        f"{path.relative_to(ROOT)}: {lines}" for path, lines in _hand_written() if lines > MAX_LINES
    ]
    assert too_long == [], "split these files:\n" + "\n".join(too_long)


def test_generated_files_name_their_hand_written_source() -> None:
    # The 600-line rule skips generated files: each must come from a source that exists.
    for path in PACKAGE.rglob("_sync/*.py"):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        if not first.startswith(GENERATED_MARK):
            continue  # hand-written on both sides (``_io.py``)
        twin = Path(str(path).replace("/_sync/", "/_async/"))
        assert twin.exists(), f"{path.relative_to(SRC)} has no source {twin.relative_to(SRC)}"


@pytest.mark.parametrize(
    ("side", "other"),
    [
        (sdk, server)
        for api in ("fluidstack.core", "fluidstack.platform", "fluidstack.atlas")
        for sdk, server in ((api, "fluidstack.emulator"), ("fluidstack.emulator", api))
    ],
)
def test_the_sdk_and_the_emulator_meet_only_at_http(side: str, other: str) -> None:
    graph = _graph()
    crossing = sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        if module == side or module.startswith(side + ".")
        for target in targets
        if target == other or target.startswith(other + ".")
    )
    assert crossing == []
