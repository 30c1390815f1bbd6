"""Cross-file definition recall per repository, ours vs in-file only vs a similarity-only retriever.

Repositories: packages of the CPython standard library on disk (asyncio, email, multiprocessing, distutils),
each indexed on its own as a workspace. Call sites and their ground truth (which file defines the callee) come
from Python's ``ast`` through the site collection of ``tests/context/test_context_recall.py``; the cursor is
put right after ``name(`` as the user types the arguments. A site counts as recalled when the assembled context
holds the callee's ``def``/``class`` from the defining file.

- ours: ``ContextBuilder.build`` at the budget (definitions of symbols near the cursor, imports, similar chunks).
- in-file only: the prompt's own file window (prefix/suffix), as a plain FIM client sends it; it never holds
  another file's text, so its recall is 0 by construction (measured all the same).
- similarity only: 20-line chunks (stride 10) of every other file in the workspace ranked by Jaccard
  similarity of identifier sets with the 20 lines above the cursor (the RepoCoder / "neighbouring tabs"
  retriever), filling the same repository share of the budget that ours gives its snippets.
"""

from __future__ import annotations

import re
import shutil
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, TypeVar

from benchmarks.common import ROOT, STDLIB, summary
from codehearth.config import ContextSettings
from codehearth.context.builder import ContextBuilder
from codehearth.context.document import Document, Point
from codehearth.context.index import ScanStats, WorkspaceIndex

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
CHUNK_LINES = 20
CHUNK_STRIDE = 10
BUDGETS = (512, 1024, 2048)
T = TypeVar("T")


def count_tokens(text: str) -> int:
    """The approximation the context tests use (≈3 characters per token for code)."""
    return len(text) // 3 + 1


def spread(items: list[T], limit: int) -> list[T]:
    """At most ``limit`` of ``items``, spread evenly over them (deterministic)."""
    if len(items) <= limit:
        return items
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]


def scanned_index(root: Path, cache: Path, settings: ContextSettings) -> tuple[WorkspaceIndex, ScanStats, float]:
    """A fresh index of ``root`` (its cache emptied first, so every run indexes cold), scanned: the index, the
    scan's stats and the seconds it took."""
    shutil.rmtree(cache, ignore_errors=True)
    index = WorkspaceIndex([root], cache, settings)
    started = time.perf_counter()
    stats = index.scan()
    return index, stats, time.perf_counter() - started


def collect_sites(packages: list[str]) -> dict[str, list[tuple[Path, int, int, str, Path]]]:
    sys.path.insert(0, str(ROOT / "tests" / "context"))
    try:
        import test_context_recall as ground_truth
    finally:
        sys.path.pop(0)
    out: dict[str, list[tuple[Path, int, int, str, Path]]] = defaultdict(list)
    for site in ground_truth.collect_sites():
        file, _, _, _, target = site
        a, b = file.relative_to(STDLIB).parts, target.relative_to(STDLIB).parts
        if len(a) > 1 and a[0] == b[0] and a[0] in packages:
            out[a[0]].append(site)
    return out


class SimilarityRetriever:
    def __init__(self, root: Path) -> None:
        self.chunks: list[tuple[str, str, frozenset[str]]] = []  # (relative path, text, identifier set)
        self.postings: dict[str, list[int]] = defaultdict(list)
        for file in sorted(root.rglob("*.py")):
            rel = file.relative_to(root).as_posix()
            lines = file.read_text(encoding="utf-8", errors="replace").split("\n")
            for start in range(0, max(1, len(lines) - CHUNK_LINES + CHUNK_STRIDE), CHUNK_STRIDE):
                text = "\n".join(lines[start : start + CHUNK_LINES])
                idents = frozenset(IDENT.findall(text))
                if not idents:
                    continue
                cid = len(self.chunks)
                self.chunks.append((rel, text, idents))
                for ident in idents:
                    self.postings[ident].append(cid)

    def retrieve(self, query: str, exclude: str, budget: int) -> list[tuple[str, str]]:
        q = frozenset(IDENT.findall(query))
        overlap: dict[int, int] = defaultdict(int)
        for ident in q:
            for cid in self.postings.get(ident, ()):
                overlap[cid] += 1
        scored = []
        for cid, inter in overlap.items():
            rel, _, idents = self.chunks[cid]
            if rel == exclude:
                continue
            scored.append((inter / (len(q) + len(idents) - inter), cid))
        scored.sort(reverse=True)
        chosen: list[tuple[str, str]] = []
        used = 0
        for _, cid in scored:
            rel, text, _ = self.chunks[cid]
            cost = count_tokens(text)
            if used + cost > budget:
                break  # no skipping ahead: a larger budget always holds what a smaller one held
            chosen.append((rel, text))
            used += cost
        return chosen


def _has_def(text: str, name: str) -> bool:
    return f"def {name}(" in text or f"class {name}(" in text or f"class {name}:" in text


def measure_package(package: str, sites: list[tuple[Path, int, int, str, Path]], work: Path) -> dict[str, Any]:
    root = STDLIB / package
    settings = ContextSettings(exclude=["test/", "tests/"])
    cache = work / f"index-{package}"
    index, stats, index_s = scanned_index(root, cache, settings)
    builder = ContextBuilder(index, settings, count_tokens)
    t0 = time.perf_counter()
    similar = SimilarityRetriever(root)
    similar_index_s = time.perf_counter() - t0
    hits = {(kind, b): 0 for kind in ("ours", "in_file", "similarity") for b in BUDGETS}
    build_ms: dict[int, list[float]] = {b: [] for b in BUDGETS}
    similar_ms: list[float] = []
    misses: list[str] = []
    docs: dict[Path, Document] = {}
    for file, row, col, name, target in sites:
        doc = docs.get(file)
        if doc is None:
            doc = Document(file.as_uri(), file.read_bytes().decode("utf-8", "replace"), path=file)
            docs[file] = doc
        want = target.relative_to(root).as_posix()
        here = file.relative_to(root).as_posix()
        point = Point(row, col)
        lines = doc.text.split("\n")
        query = "\n".join([*lines[max(0, row - CHUNK_LINES + 1):row], lines[row][:col]])
        for budget in BUDGETS:
            t = time.perf_counter()
            ctx = builder.build(doc, point, budget)
            build_ms[budget].append((time.perf_counter() - t) * 1000)
            if any(s.path == want and _has_def(s.text, name) for s in ctx.snippets):
                hits[("ours", budget)] += 1
            elif budget == 1024:
                misses.append(f"{package}/{here}:{row + 1} {name} -> {want}")
            in_file = ctx.prefix + ctx.line_prefix + ctx.suffix
            if here == want and _has_def(in_file, name):  # never true: the callee is in another file
                hits[("in_file", budget)] += 1
            t = time.perf_counter()
            chosen = similar.retrieve(query, here, int(budget * settings.repo_share))
            similar_ms.append((time.perf_counter() - t) * 1000)
            if any(rel == want and _has_def(text, name) for rel, text in chosen):
                hits[("similarity", budget)] += 1
    index.close()
    shutil.rmtree(cache, ignore_errors=True)
    n = len(sites)
    return {
        "package": package,
        "sites": n,
        "files": stats.files,
        "symbols": stats.symbols,
        "index_s": round(index_s, 2),
        "similarity_index_s": round(similar_index_s, 2),
        "recall": {kind: {str(b): round(hits[(kind, b)] / n, 4) if n else None for b in BUDGETS}
                   for kind in ("ours", "in_file", "similarity")},
        "hits": {kind: {str(b): hits[(kind, b)] for b in BUDGETS} for kind in ("ours", "in_file", "similarity")},
        "build_ms": {str(b): summary(build_ms[b]) for b in BUDGETS},
        "similarity_ms": summary(similar_ms),
        "misses_1024": misses[:15],
    }


def run_recall(packages: list[str], work: Path, max_sites_per_package: int | None = None) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    by_package = collect_sites(packages)
    results = []
    for package in packages:
        sites = by_package.get(package, [])
        if max_sites_per_package is not None:
            sites = spread(sites, max_sites_per_package)
        if not sites:
            continue
        print(f"[context] {package}: {len(sites)} call sites", flush=True)
        results.append(measure_package(package, sites, work))
    total = sum(r["sites"] for r in results)
    overall: dict[str, dict[str, float | None]] = {}
    for kind in ("ours", "in_file", "similarity"):
        overall[kind] = {
            str(b): round(sum(r["hits"][kind][str(b)] for r in results) / total, 4) if total else None
            for b in BUDGETS
        }
    return {"sites": total, "repositories": [r["package"] for r in results], "recall": overall,
            "per_repository": results, "token_count": "len(text) // 3 + 1 (as the context tests)",
            "budgets": list(BUDGETS)}
