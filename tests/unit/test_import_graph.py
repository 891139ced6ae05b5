"""The import graph: ``shared/`` has no cycle, and a service imports only ``shared`` and itself.

Every ``import`` statement counts, those under ``TYPE_CHECKING`` too: a cycle hidden from
the interpreter is still two modules that cannot be understood one without the other.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every project module this file imports (``from a.b import c`` names ``a.b`` or ``a.b.c``)."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def graph(package: str) -> dict[str, set[str]]:
    files = {module_name(p): p for p in (ROOT / package).rglob("*.py")}
    return {name: {m for m in imports_of(path) if m in files and m != name} for name, path in files.items()}


def test_shared_has_no_import_cycle() -> None:
    edges = graph("shared")
    assert "shared.kit.workflow" in edges and "shared.kit.store" in edges
    try:
        list(TopologicalSorter(edges).static_order())
    except CycleError as exc:
        raise AssertionError(f"import cycle in shared/: {' -> '.join(exc.args[1])}") from None


def test_a_service_imports_shared_and_itself_only() -> None:
    for path in (ROOT / "services").rglob("*.py"):
        service = path.relative_to(ROOT / "services").parts[0]
        if service.endswith(".py"):
            continue
        others = {m for m in imports_of(path) if m.startswith("services.") and not m.startswith(f"services.{service}")}
        assert not others, f"{path.relative_to(ROOT)} imports another service: {sorted(others)}"
        assert not {m for m in imports_of(path) if m.startswith(("casework", "tests", "bench"))}, path
