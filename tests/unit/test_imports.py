"""The import direction of DESIGN.md §1: only lsp/ may import pygls or lsprotocol."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "server" / "codehearth"
PROTOCOL_LIBS = ("pygls", "lsprotocol")
PROTOCOL_FREE = ("context", "engine", "models", "complete", "explain", "feedback")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_domain_code_does_not_know_lsp() -> None:
    offenders = []
    for folder in PROTOCOL_FREE:
        for path in (PACKAGE / folder).rglob("*.py"):
            for name in imported_modules(path):
                if name.split(".")[0] in PROTOCOL_LIBS or name.startswith("codehearth.lsp"):
                    offenders.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert offenders == []


def test_services_do_not_import_upwards() -> None:
    for folder in ("context", "engine", "models"):
        for path in (PACKAGE / folder).rglob("*.py"):
            for name in imported_modules(path):
                assert not name.startswith(("codehearth.complete", "codehearth.explain", "codehearth.app")), path


def test_engine_does_not_import_models() -> None:
    # models/ reads the engine's speed figures and cache, so the engine must not import models/ (no cycle).
    offenders = [f"{path.relative_to(PACKAGE)} imports {name}"
                 for path in (PACKAGE / "engine").rglob("*.py")
                 for name in imported_modules(path) if name.startswith("codehearth.models")]
    assert offenders == []
