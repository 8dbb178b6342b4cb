"""The geometry package imports without cycles: module-level and function-level imports
between its modules form a directed acyclic graph."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import caloforge.geometry

PACKAGE = "caloforge.geometry"


def _imports(path: Path) -> set[str]:
    """caloforge.geometry modules imported anywhere in a file (functions included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found |= {n for n in names if n.startswith(PACKAGE + ".")}
    return found


def test_no_import_cycle_in_geometry() -> None:
    folder = Path(caloforge.geometry.__file__).parent
    modules = {f"{PACKAGE}.{p.stem}": p for p in folder.glob("*.py") if p.stem != "__init__"}
    graph = {name: _imports(path) & modules.keys() for name, path in modules.items()}
    assert graph[f"{PACKAGE}.loader"] >= {f"{PACKAGE}.challenge", f"{PACKAGE}.detector"}
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        raise AssertionError(f"import cycle: {' -> '.join(exc.args[1])}") from None
    assert set(order) == set(modules)
