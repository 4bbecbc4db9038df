"""The code's shape: lint, imports that point one way, files that stay small enough to read in one sitting."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "pages", "harness", "bench", "tests")
MAX_LINES = 450  # core/ and pages/; core/state.py, a table, is the one exception
LONG_TABLES = {"core/state.py"}
# What each part of the tree may import (besides itself): the arrows point one way.
MAY_IMPORT = {
    "core": set(),
    "pages": {"core"},
    "app": {"pages", "core"},
    "harness": {"core"},
    "bench": {"core", "harness"},
    "tests": {"core", "pages", "harness", "bench"},
}


def modules() -> dict[str, Path]:
    found = {"app": ROOT / "app.py"}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            found[name] = path
    return found


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The project modules `path` imports, at any depth of its code (a function's own imports too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        found |= {name for name in names if name in known}
    return found


def test_ruff_finds_nothing_and_the_code_is_formatted():
    for command in (["check", "."], ["format", "--check", "."]):
        result = subprocess.run([sys.executable, "-m", "ruff", *command], cwd=ROOT, capture_output=True, text=True)
        assert result.returncode == 0, f"ruff {' '.join(command)}:\n{result.stdout}{result.stderr}"


def test_imports_point_one_way_and_never_in_a_circle():
    found = modules()
    graph = {name: imports_of(path, set(found)) - {name} for name, path in found.items()}
    wrong = [
        f"{name} imports {target}"
        for name, targets in graph.items()
        for target in targets
        if target.split(".")[0] not in MAY_IMPORT[name.split(".")[0]] | {name.split(".")[0]}
    ]
    assert wrong == []
    seen, path = set(), []

    def visit(name: str) -> None:
        if name in path:
            raise AssertionError("an import circle: " + " -> ".join([*path[path.index(name) :], name]))
        if name in seen:
            return
        path.append(name)
        for target in sorted(graph[name]):
            visit(target)
        path.pop()
        seen.add(name)

    for name in sorted(graph):
        visit(name)


def test_core_imports_no_streamlit():
    for path in (ROOT / "core").glob("*.py"):
        tree = ast.parse(path.read_text())
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        assert not any(name.split(".")[0] == "streamlit" for name in imported), path.name


def test_no_file_in_core_or_pages_is_too_long_to_read_in_one_sitting():
    lengths = {
        path.relative_to(ROOT).as_posix(): len(path.read_text().splitlines())
        for folder in ("core", "pages")
        for path in (ROOT / folder).rglob("*.py")
    }
    assert {name: lines for name, lines in lengths.items() if lines > MAX_LINES and name not in LONG_TABLES} == {}
