"""Cross-file recall on real code nobody here wrote: the CPython standard library on disk.

For call sites (in every stdlib module outside tests, idlelib and lib2to3) of functions and classes
imported from another stdlib module, the cursor is put right
after ``name(`` and the context builder must put the called definition (from the right file) in the
prompt. Ground truth comes from Python's own ``ast`` module, not from tree-sitter. The test reports
the recall over at least 100 sites and fails under 80%.
"""

from __future__ import annotations

import ast
import sys
import sysconfig
from pathlib import Path

import pytest

from codehearth.config import ContextSettings
from codehearth.context.builder import ContextBuilder
from codehearth.context.document import Document, Point
from codehearth.context.index import WorkspaceIndex

STDLIB = Path(sysconfig.get_paths()["stdlib"])
SKIP_TOP = {"test", "idlelib", "lib2to3", "site-packages", "dist-packages"}
EXCLUDE = [
    "test/",
    "idlelib/",
    "lib2to3/",
    "tkinter/test/",
    "ctypes/test/",
    "unittest/test/",
    "sqlite3/test/",
]
MIN_SITES = 100
MIN_RECALL = 0.80


def count_tokens(text: str) -> int:
    return len(text) // 3 + 1


def _module_file(module: str) -> Path | None:
    base = STDLIB.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _top_level_names(path: Path, cache: dict[Path, set[str]]) -> set[str]:
    if path not in cache:
        try:
            tree = ast.parse(path.read_bytes())
        except (SyntaxError, ValueError):
            cache[path] = set()
        else:
            cache[path] = {
                node.name
                for node in tree.body
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            }
    return cache[path]


def _resolve_from(file: Path, module: str | None, level: int) -> str | None:
    if level == 0:
        return module
    package = file.parent.relative_to(STDLIB).parts
    if level > 1:
        package = package[: len(package) - (level - 1)]
    parts = list(package) + (module.split(".") if module else [])
    return ".".join(parts)


def stdlib_files() -> list[Path]:
    """Every stdlib module outside the excluded folders (tests, idlelib, lib2to3, site-packages)."""
    out = []
    for file in sorted(STDLIB.rglob("*.py")):
        parts = file.relative_to(STDLIB).parts
        if parts[0] in SKIP_TOP or "test" in parts or "tests" in parts:
            continue
        out.append(file)
    return out


def collect_sites() -> list[tuple[Path, int, int, str, Path]]:
    """(file, row, byte column after ``name(``, name, defining file), one per (file, name)."""
    defs_cache: dict[Path, set[str]] = {}
    sites: list[tuple[Path, int, int, str, Path]] = []
    for file in stdlib_files():
        try:
            source = file.read_bytes()
            tree = ast.parse(source)
        except (SyntaxError, ValueError, OSError):
            continue
        lines = source.decode("utf-8", "replace").splitlines()
        local_names: dict[str, tuple[str, Path]] = {}  # local name -> (defined name, file)
        module_aliases: dict[str, Path] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                mod = _resolve_from(file, node.module, node.level)
                if not mod:
                    continue
                target = _module_file(mod)
                for alias in node.names:
                    sub = _module_file(f"{mod}.{alias.name}")
                    if sub is not None:
                        module_aliases[alias.asname or alias.name] = sub
                    elif (
                        target is not None
                        and target != file
                        and alias.name in _top_level_names(target, defs_cache)
                    ):
                        local_names[alias.asname or alias.name] = (alias.name, target)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    target = _module_file(alias.name)
                    if target is not None and target != file and (alias.asname or "." not in alias.name):
                        module_aliases[alias.asname or alias.name] = target
        seen: set[str] = set()
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name: str | None = None
            target = None
            if isinstance(func, ast.Name) and func.id in local_names:
                name, target = local_names[func.id]
                if func.id != name:
                    continue  # aliased: the call site spells another name
            elif (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and func.value.id in module_aliases
            ):
                candidate = module_aliases[func.value.id]
                if candidate != file and func.attr in _top_level_names(candidate, defs_cache):
                    name, target = func.attr, candidate
            if name is None or target is None or name in seen:
                continue
            if target.relative_to(STDLIB).parts[0] in SKIP_TOP:
                continue  # defined in a folder the index leaves out
            row = func.end_lineno - 1 if func.end_lineno else node.lineno - 1
            line = lines[row] if row < len(lines) else ""
            col_chars = func.end_col_offset  # ast columns are UTF-8 byte offsets
            if col_chars is None or line.encode()[col_chars : col_chars + 1] != b"(":
                continue
            seen.add(name)
            sites.append((file, row, col_chars + 1, name, target))
    return sites


@pytest.fixture(scope="module")
def stdlib_index(tmp_path_factory: pytest.TempPathFactory) -> WorkspaceIndex:
    if not (STDLIB / "json" / "__init__.py").is_file():
        pytest.skip("the CPython standard library sources are not on disk")
    settings = ContextSettings(exclude=EXCLUDE)
    index = WorkspaceIndex([STDLIB], tmp_path_factory.mktemp("stdlib-index"), settings)
    stats = index.scan()
    assert stats.files > 300 and stats.symbols > 5000
    yield index
    index.close()


def _measure(
    index: WorkspaceIndex, sites: list[tuple[Path, int, int, str, Path]], where: str
) -> tuple[float, list[str]]:
    builder = ContextBuilder(index, index.settings, count_tokens)
    hits = 0
    misses: list[str] = []
    docs: dict[Path, Document] = {}
    for file, row, col, name, target in sites:
        doc = docs.get(file)
        if doc is None:
            doc = Document(file.as_uri(), file.read_bytes().decode("utf-8", "replace"), path=file)
            docs[file] = doc
        # "call": typing the arguments, right after `name(`; "next line": the call is in the prefix
        point = Point(row, col) if where == "call" else Point(min(row + 1, doc.line_count - 1), 0)
        ctx = builder.build(doc, point, 1024)
        assert sum(s.tokens for s in ctx.sections) <= 1024
        want_path = target.relative_to(STDLIB).as_posix()
        found = any(
            s.path == want_path and (f"def {name}" in s.text or f"class {name}" in s.text)
            for s in ctx.snippets
        )
        if found:
            hits += 1
        else:
            misses.append(f"{file.relative_to(STDLIB)}:{row + 1} {name} -> {want_path}")
    return hits / len(sites), misses


def test_cross_file_definitions_recall(stdlib_index: WorkspaceIndex, record_property) -> None:
    sites = collect_sites()
    assert len(sites) >= MIN_SITES, f"only {len(sites)} cross-file call sites found"
    step = max(1, len(sites) // 300)  # spread over the whole library, deterministic
    sites = sites[::step]
    assert len(sites) >= MIN_SITES
    for where in ("call", "next line"):
        recall, misses = _measure(stdlib_index, sites, where)
        record_property(f"recall ({where})", recall)
        sys.stdout.write(
            f"\ncross-file definition recall, cursor at the {where}: {recall:.1%} of {len(sites)} sites\n"
        )
        if misses:
            sys.stdout.write("misses (first 10):\n  " + "\n  ".join(misses[:10]) + "\n")
        assert recall >= MIN_RECALL, (
            f"recall {recall:.1%} under {MIN_RECALL:.0%} ({where}); misses: {misses[:10]}"
        )
