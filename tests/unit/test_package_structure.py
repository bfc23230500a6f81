"""The package's shape: no import cycle between its modules, and no module too long to read at once."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers.paths import ROOT

PACKAGE = ROOT / "include" / "mlops_provider"
MAX_LINES = 600

Graph = dict[str, set[str]]


def module_name(path: Path, source_root: Path) -> str:
    parts = list(path.relative_to(source_root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_type_checking(test: ast.expr) -> bool:
    """`if TYPE_CHECKING:` or `if typing.TYPE_CHECKING:`."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def runtime_imports(body: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
    """The imports that run when the module is imported: module level and in blocks there (`try`, `if`, `with`,
    class bodies), not in functions and not under `if TYPE_CHECKING:` (its `else:` does run)."""
    found: list[ast.Import | ast.ImportFrom] = []
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        elif isinstance(node, ast.If) and is_type_checking(node.test):
            found += runtime_imports(node.orelse)
        else:
            for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                for child in getattr(node, field, []):
                    found += runtime_imports(child.body if isinstance(child, ast.ExceptHandler | ast.match_case)
                                             else [child])
    return found


def imported_modules(node: ast.Import | ast.ImportFrom, importer: str, is_package: bool, modules: set[str]) -> set[str]:
    """The package modules `node` names: `from a import b` is `a.b` when that is a module, else `a`."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in modules}
    if node.level:
        base = importer.split(".")
        if not is_package:
            base.pop()
        base = base[:len(base) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    named = {f"{source}.{alias.name}" for alias in node.names}
    return {name for name in named if name in modules} | ({source} & modules if named - modules else set())


def import_graph(source_root: Path, package: str) -> Graph:
    """Module -> the package modules it imports at run time (import time, to be exact)."""
    paths = {module_name(path, source_root): path for path in sorted((source_root / package).rglob("*.py"))}
    graph: Graph = {}
    for name, path in paths.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        edges: set[str] = set()
        for node in runtime_imports(tree.body):
            edges |= imported_modules(node, name, path.name == "__init__.py", set(paths))
        graph[name] = edges - {name}
    return graph


def find_cycle(graph: Graph) -> list[str] | None:
    """One import cycle as `[a, b, ..., a]`, or None."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return path[path.index(module):] + [module]
        if module in done:
            return None
        for imported in sorted(graph[module]):
            if cycle := visit(imported, path + [module]):
                return cycle
        done.add(module)
        return None

    for module in sorted(graph):
        if cycle := visit(module, []):
            return cycle
    return None


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph(PACKAGE.parent, PACKAGE.name)
    assert "mlops_provider.config" in graph and any(graph.values()), "the import graph is empty: wrong folder?"
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_module_is_over_600_lines() -> None:
    lengths = {path.relative_to(ROOT).as_posix(): len(path.read_text().splitlines())
               for path in sorted(PACKAGE.rglob("*.py"))}
    too_long = {path: lines for path, lines in lengths.items() if lines > MAX_LINES}
    assert not too_long, f"modules over {MAX_LINES} lines: " + ", ".join(
        f"{path} ({lines})" for path, lines in sorted(too_long.items()))


@pytest.fixture
def toy_package(tmp_path: Path) -> Path:
    """`toy`: a -> b -> c -> a at run time; imports under TYPE_CHECKING and inside functions do not count."""
    files = {
        "__init__.py": "from toy.a import A\n",
        "a.py": "from . import b\nA = 1\n",
        "b.py": "import toy.c\n",
        "c.py": "try:\n    from .a import A\nexcept ImportError:\n    A = None\n",
        "typed.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from toy import lazy\nelse:\n"
                    "    import json\n",
        "lazy.py": "def f():\n    from toy import typed\n",
        "sub/__init__.py": "from ..lazy import f\nfrom . import leaf\n",
        "sub/leaf.py": "",
    }
    for name, text in files.items():
        (tmp_path / "toy" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "toy" / name).write_text(text)
    return tmp_path


def test_the_graph_counts_runtime_imports_only_and_finds_the_cycle(toy_package: Path) -> None:
    graph = import_graph(toy_package, "toy")
    assert graph == {
        "toy": {"toy.a"}, "toy.a": {"toy.b"}, "toy.b": {"toy.c"}, "toy.c": {"toy.a"},
        "toy.typed": set(), "toy.lazy": set(), "toy.sub": {"toy.lazy", "toy.sub.leaf"}, "toy.sub.leaf": set(),
    }
    assert find_cycle(graph) == ["toy.a", "toy.b", "toy.c", "toy.a"]
    del graph["toy.c"], graph["toy.b"]
    graph["toy.a"] = set()
    assert find_cycle(graph) is None
