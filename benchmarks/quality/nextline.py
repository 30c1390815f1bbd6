"""Repository-level next-line completion: our context vs in-file only, on the cross-file call sites of the
context benchmark (standard-library packages as repositories).

The line holding the call is taken out (its indentation stays, the cursor after it) and the model completes the
line through our prompt path (``ContextBuilder.build`` + ``fim_prompt`` + the embedded engine, greedy, at most
32 tokens, first line kept). In-file only: the same with a builder that has no workspace index (the file's own
window and nothing else). Scored by exact match and edit similarity against the real line.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from benchmarks.common import STDLIB, edit_similarity, summary
from benchmarks.context.recall import collect_sites
from codehearth.config import ContextSettings, EngineSettings
from codehearth.context.builder import ContextBuilder
from codehearth.context.document import Document, Point
from codehearth.context.index import WorkspaceIndex
from codehearth.engine.base import GenerationRequest
from codehearth.engine.llama import LlamaEngine
from codehearth.engine.templates import OtherFile, fim_prompt
from codehearth.models.registry import Registry

BUDGET = 512  # half the server's default: every task evaluates its whole prompt twice (~45 tokens/s here)


def _complete(engine: LlamaEngine, builder: ContextBuilder, doc: Document, point: Point) -> tuple[str, float]:
    ctx = builder.build(doc, point, BUDGET)
    pieces = fim_prompt(engine.info, prefix=ctx.prefix, suffix=ctx.suffix, middle_start=ctx.line_prefix,
                        path=ctx.path, language=ctx.language,
                        other_files=[OtherFile(s.path, s.text) for s in ctx.snippets])
    engine.forget_cache()
    t0 = time.monotonic()
    result = engine.generate(GenerationRequest(
        prompt=pieces, max_tokens=32, deadline=time.monotonic() + 300,
        should_stop=lambda text: "\n" in text.lstrip("\n")))
    return result.text.lstrip("\n").split("\n")[0].strip(), (time.monotonic() - t0) * 1000


def run_nextline(model_id: str, packages: list[str], sites_wanted: int, work: Path, box_s: float) -> dict[str, Any]:
    by_package = collect_sites(packages)
    per = max(1, sites_wanted // max(1, len(packages)))
    engine = LlamaEngine(Registry().resolve(model_id), EngineSettings())
    settings = ContextSettings(exclude=["test/", "tests/"], budget_tokens=BUDGET)
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    try:
        for package in packages:
            sites = by_package.get(package, [])
            if len(sites) > per:
                step = len(sites) / per
                sites = [sites[int(i * step)] for i in range(per)]
            root = STDLIB / package
            cache = work / f"nl-index-{package}"
            index = WorkspaceIndex([root], cache, settings)
            index.scan()
            ours = ContextBuilder(index, settings, engine.count_tokens)
            in_file = ContextBuilder(None, settings, engine.count_tokens)
            for file, row, _, name, _ in sites:
                if time.monotonic() - started > box_s:
                    break
                lines = file.read_bytes().decode("utf-8", "replace").split("\n")
                line = lines[row]
                indent = line[: len(line) - len(line.lstrip())]
                expected = line.strip()
                masked = "\n".join([*lines[:row], indent, *lines[row + 1 :]])
                doc = Document(file.as_uri(), masked, path=file)
                point = Point(row, len(indent.encode()))
                got_ours, ms_ours = _complete(engine, ours, doc, point)
                got_file, ms_file = _complete(engine, in_file, doc, point)
                rows.append({"site": f"{package}/{file.relative_to(root).as_posix()}:{row + 1}", "callee": name,
                             "expected": expected, "ours": got_ours, "in_file": got_file,
                             "ours_exact": got_ours == expected, "in_file_exact": got_file == expected,
                             "ours_es": round(edit_similarity(got_ours, expected), 4),
                             "in_file_es": round(edit_similarity(got_file, expected), 4),
                             "ours_ms": round(ms_ours, 1), "in_file_ms": round(ms_file, 1)})
            index.close()
            shutil.rmtree(cache, ignore_errors=True)
    finally:
        engine.close()
    n = len(rows)

    def mean(key: str) -> float | None:
        return round(sum(float(r[key]) for r in rows) / n, 4) if n else None

    return {"model": model_id, "tasks": n, "budget_tokens": BUDGET,
            "ours": {"exact_match": mean("ours_exact"), "edit_similarity": mean("ours_es"),
                     "ms": summary([r["ours_ms"] for r in rows])},
            "in_file": {"exact_match": mean("in_file_exact"), "edit_similarity": mean("in_file_es"),
                        "ms": summary([r["in_file_ms"] for r in rows])},
            "rows": rows}
