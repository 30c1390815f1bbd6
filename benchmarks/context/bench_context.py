"""Context engine benchmark on the CPython standard library on disk.

Measures: index time and symbols cold (empty cache) and warm (restart, nothing changed), the
prompt-assembly latency per keystroke-like request, and the cross-file definition recall (the
same sites as ``tests/context/test_context_recall.py``). Writes JSON and markdown next to itself
under ``results/``.

    PYTHONPATH=server .venv/bin/python -m benchmarks.context.bench_context [--workers N] [--full]

``--full`` indexes the whole library including ``test/`` (the closing-note figure); the default
leaves out test/, idlelib/ and lib2to3/ like the recall test.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import add_allow_dirty, begin_results, write_results_file
from codehearth.config import ContextSettings
from codehearth.context.builder import ContextBuilder
from codehearth.context.document import Document, Point
from codehearth.context.index import WorkspaceIndex

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def count_tokens(text: str) -> int:
    return len(text) // 3 + 1


def bench_index(stdlib: Path, settings: ContextSettings, cache: Path) -> dict:
    out: dict = {}
    for run in ("cold", "warm"):
        index = WorkspaceIndex([stdlib], cache, settings)
        stats = index.scan()
        index.close()
        out[run] = {
            "files": stats.files,
            "symbols": stats.symbols,
            "parsed": stats.parsed,
            "seconds": stats.seconds,
        }
        print(
            f"index {run}: {stats.files} files, {stats.symbols} symbols, {stats.parsed} parsed, {stats.seconds:.2f}s"
        )
    return out


def bench_build(stdlib: Path, index: WorkspaceIndex) -> dict:
    builder = ContextBuilder(index, index.settings, count_tokens)
    timings: list[float] = []
    for rel in (
        "asyncio/base_events.py",
        "json/decoder.py",
        "email/message.py",
        "typing.py",
        "_pydecimal.py",
    ):
        path = stdlib / rel
        if not path.is_file():
            continue
        doc = Document(path.as_uri(), path.read_text(encoding="utf-8", errors="replace"), path=path)
        builder.note_document(doc)
        for row in range(20, min(doc.line_count, 1200), 37):
            line = doc.line(row)
            col = len(line.encode()) // 2
            doc.apply_edit(Point(row, col), Point(row, col), "x")  # a keystroke, then the request
            started = time.perf_counter()
            builder.build(doc, Point(row, col + 1), 1024)
            timings.append((time.perf_counter() - started) * 1000)
            doc.apply_edit(Point(row, col), Point(row, col + 1), "")
    timings.sort()
    result = {
        "requests": len(timings),
        "p50_ms": statistics.median(timings),
        "p95_ms": timings[int(len(timings) * 0.95) - 1],
        "max_ms": timings[-1],
    }
    print(
        f"build: {result['requests']} requests, p50 {result['p50_ms']:.1f} ms, p95 {result['p95_ms']:.1f} ms"
    )
    return result


def bench_recall(index: WorkspaceIndex) -> dict:
    sys.path.insert(0, str(ROOT / "tests" / "context"))
    import test_context_recall as recall  # the test's site collection (ground truth from `ast`)

    sites = recall.collect_sites()
    sites = sites[:: max(1, len(sites) // 300)]
    out = {"sites": len(sites)}
    for where in ("call", "next line"):
        value, misses = recall._measure(index, sites, where)
        out[where] = value
        print(f"recall ({where}): {value:.1%} of {len(sites)} sites; misses: {misses[:5]}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=0, help="index processes (0: one per core)")
    parser.add_argument("--full", action="store_true", help="index test/, idlelib/, lib2to3/ too")
    add_allow_dirty(parser)
    args = parser.parse_args()
    begin_results(args.allow_dirty)
    import sysconfig

    stdlib = Path(sysconfig.get_paths()["stdlib"])
    exclude = [] if args.full else ["test/", "idlelib/", "lib2to3/"]
    settings = ContextSettings(exclude=exclude, index_workers=args.workers)
    cache = Path(tempfile.mkdtemp(prefix="codehearth-bench-"))
    try:
        results = {
            "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
            "stdlib": str(stdlib),
            "full": args.full,
            "index_workers": args.workers,
            "index": bench_index(stdlib, settings, cache),
        }
        index = WorkspaceIndex([stdlib], cache, settings)
        index.scan()
        results["build"] = bench_build(stdlib, index)
        results["recall"] = bench_recall(index) if not args.full else None
        index.close()
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    name = "context-full" if args.full else "context"
    write_results_file(out_dir / f"{name}.json", results)
    idx = results["index"]
    lines = [
        f"# Context engine on the CPython {platform.python_version()} standard library",
        "",
        f"{'whole library (test/ included)' if args.full else 'test/, idlelib/, lib2to3/ left out'}; "
        f"{results['machine']['cpus']} CPUs, index workers {args.workers or 'auto'} "
        "(a shared machine: other jobs were running).",
        "",
        "| | files | symbols | parsed | seconds |",
        "|---|---:|---:|---:|---:|",
    ]
    for run in ("cold", "warm"):
        r = idx[run]
        lines.append(f"| index {run} | {r['files']} | {r['symbols']} | {r['parsed']} | {r['seconds']:.2f} |")
    b = results["build"]
    lines += [
        "",
        f"Prompt assembly (1024-token budget): p50 {b['p50_ms']:.1f} ms, p95 {b['p95_ms']:.1f} ms "
        f"over {b['requests']} requests.",
    ]
    if results["recall"]:
        r = results["recall"]
        lines += [
            "",
            f"Cross-file definition recall over {r['sites']} call sites: {r['call']:.1%} with the cursor "
            f"in the call, {r['next line']:.1%} on the line after it.",
        ]
    write_results_file(out_dir / f"{name}.md", "\n".join(lines) + "\n")
    print(f"wrote {out_dir / name}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
