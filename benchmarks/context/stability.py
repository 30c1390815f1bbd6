"""Prompt stability: the prompt tokens the engine evaluates per request on a keystroke replay, without a model run.

The engine keeps the longest common token prefix of consecutive prompts in its KV cache (engine/llama.py). This
replays typing the way the latency benchmark does (``benchmarks.latency.replay.plan``: a block of lines of a
standard-library file taken out and typed back in, a request after every word and every Enter), builds the
context at each request, lays it out as Qwen2.5-Coder's FIM prompt and counts the tokens that differ from the
previous prompt's: what llama.cpp would evaluate. Only the tokenizer is needed (``--vocab``: any GGUF, loaded
vocab-only); without one, a word-level stand-in.

    PYTHONPATH=server:. .venv/bin/python -m benchmarks.context.stability [--vocab MODEL.gguf] [--builder OLD.py]

``--engine MODEL.gguf`` runs the model too (one generated token per request, default engine settings) and reports
the engine's own count of evaluated prompt tokens (``evaluated_engine``) next to the computed one.
``--builder`` loads another version of the builder (a single-file module from git, e.g. ``git show
REV:server/codehearth/context/builder.py``) in place of the current one, for a before/after comparison.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import STDLIB
from benchmarks.latency.replay import plan
from codehearth.config import ContextSettings
from codehearth.context.document import Document, Point
from codehearth.context.index import WorkspaceIndex
from codehearth.engine.base import ModelInfo, SpecialToken, common_prefix_length
from codehearth.engine.templates import OtherFile, fim_prompt

QWEN = ModelInfo(
    name="qwen2.5-coder",
    family="qwen2",
    architecture="qwen2",
    fim_style="psm",
    fim_prefix=SpecialToken("<|fim_prefix|>", -1),
    fim_suffix=SpecialToken("<|fim_suffix|>", -2),
    fim_middle=SpecialToken("<|fim_middle|>", -3),
    file_sep=SpecialToken("<|file_sep|>", -4),
)
# (file, first line typed, lines typed): real code nobody here wrote, typed in its middle
SITES = (("fnmatch.py", 95, 14), ("textwrap.py", 250, 14), ("shlex.py", 135, 14))
NEIGHBOURS = ("posixpath.py", "genericpath.py", "functools.py", "os.py")


def tokenizer(vocab: Path | None) -> Callable[[str], list[int]]:
    if vocab is None:
        words: dict[str, int] = {}
        pattern = re.compile(r"\w+|\s|[^\w\s]")
        return lambda text: [words.setdefault(t, len(words)) for t in pattern.findall(text)]
    from llama_cpp import Llama

    llm = Llama(str(vocab), vocab_only=True, verbose=False)
    return lambda text: llm.tokenize(text.encode("utf-8"), add_bos=False, special=False) if text else []


def load_builder(path: Path | None) -> Any:
    if path is None:
        from codehearth.context.builder import ContextBuilder

        return ContextBuilder
    spec = importlib.util.spec_from_file_location("codehearth.context._compared_builder", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.ContextBuilder


def layout(ctx: Any, info: ModelInfo) -> list[Any]:
    return fim_prompt(
        info,
        prefix=ctx.prefix,
        suffix=ctx.suffix,
        middle_start=ctx.line_prefix,
        path=ctx.path,
        language=ctx.language,
        other_files=[OtherFile(s.path, s.text) for s in ctx.snippets],
    )


def prompt_tokens(pieces: list[Any], tokenize: Callable[[str], list[int]]) -> tuple[list[int], int]:
    """The laid-out prompt's tokens (pieces tokenized one by one, as the engine does) and the front's length."""
    out: list[int] = []
    front = 0
    for piece in pieces:
        if isinstance(piece, SpecialToken) and piece.text == "<|fim_suffix|>":
            front = len(out)
        out += [piece.id] if isinstance(piece, SpecialToken) else tokenize(piece)
    return out, front




def replay(
    builder_cls: Any,
    tokenize: Callable[[str], list[int]],
    root: Path,
    budget: int,
    info: ModelInfo = QWEN,
    run: Callable[[list[Any]], int] | None = None,
    sites: int = len(SITES),
) -> dict[str, Any]:
    settings = ContextSettings(index_workers=1)
    index = WorkspaceIndex([root], root.parent / "cache", settings)
    index.scan()
    count = lambda text: len(tokenize(text))  # noqa: E731
    rows: list[dict[str, Any]] = []
    try:
        for name, start, n_lines in SITES[:sites]:
            path = root / name
            builder = builder_cls(index, settings, count)
            initial, units = plan(path.read_text(), start, n_lines)
            doc = Document(path.as_uri(), initial, "python", path=path)
            builder.note_document(doc)
            row, col = start, 0
            previous: list[int] = []
            previous_front = 0
            for kind, chars in units:
                doc.apply_edit(Point(row, col), Point(row, col), chars)
                if "\n" in chars:
                    row += chars.count("\n")
                    col = len(chars.rsplit("\n", 1)[1].encode())
                else:
                    col += len(chars.encode())
                ctx = builder.build(doc, Point(row, col), budget)
                pieces = layout(ctx, info)
                tokens, front = prompt_tokens(pieces, tokenize)
                kept = common_prefix_length(previous, tokens)
                # everything in front of the previous prompt's cursor line survived (snippets, path, window), but
                # for a token where the window's end meets the line added by Enter (a blank line merges "\n\n")
                front_kept = bool(previous) and kept >= previous_front - 2
                rows.append(
                    {
                        "file": name,
                        "kind": kind,
                        "prompt": len(tokens),
                        "evaluated": max(1, len(tokens) - kept) if previous else len(tokens),
                        "front_kept": front_kept,
                        "cold": not previous,
                    }
                )
                if run is not None:
                    rows[-1]["evaluated_engine"] = run(pieces)
                previous, previous_front = tokens, front
    finally:
        index.close()
    measured = [r for r in rows if not r["cold"]]  # the first request of a file has nothing cached

    def summary(items: list[dict[str, Any]]) -> dict[str, Any]:
        ev = [r["evaluated"] for r in items]
        return {
            "requests": len(items),
            "prompt_tokens_mean": round(statistics.mean(r["prompt"] for r in items), 1),
            "evaluated_mean": round(statistics.mean(ev), 1),
            "evaluated_p50": statistics.median(ev),
            "evaluated_max": max(ev),
            "front_kept_share": round(sum(r["front_kept"] for r in items) / len(items), 3),
            **(
                {"evaluated_engine_mean": round(statistics.mean(r["evaluated_engine"] for r in items), 1)}
                if items and "evaluated_engine" in items[0]
                else {}
            ),
        }

    return {
        "all": summary(measured),
        "word": summary([r for r in measured if r["kind"] == "word"]),
        "enter": summary([r for r in measured if r["kind"] == "enter"]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vocab", type=Path, help="a GGUF model whose tokenizer counts (vocab-only load)")
    parser.add_argument("--builder", type=Path, help="another builder module to measure instead")
    parser.add_argument("--engine", type=Path, help="a GGUF FIM model to run on every prompt (1 token each)")
    parser.add_argument("--sites", type=int, default=len(SITES), help="how many of the files to type in")
    parser.add_argument("--budget", type=int, default=1024)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    tokenize = tokenizer(args.vocab)
    info, run, engine = QWEN, None, None
    if args.engine is not None:
        engine, run = _engine(args.engine)
        info, tokenize = engine.info, engine.tokenize
    try:
        result = _replay_in_copy(args, tokenize, info, run)
    finally:
        if engine is not None:
            engine.close()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for kind, s in result.items():
            print(f"{kind:6} " + "  ".join(f"{k}={v}" for k, v in s.items()))
    return 0


def _engine(path: Path) -> tuple[Any, Callable[[list[Any]], int]]:
    import time

    from codehearth.config import EngineSettings
    from codehearth.engine.base import GenerationRequest
    from codehearth.engine.llama import LlamaEngine

    engine = LlamaEngine(path, EngineSettings())

    def run(pieces: list[Any]) -> int:
        request = GenerationRequest(prompt=pieces, max_tokens=1, deadline=time.monotonic() + 600)
        return int(engine.generate(request).timings.tokens_evaluated)

    return engine, run


def _replay_in_copy(
    args: argparse.Namespace, tokenize: Callable[[str], list[int]], info: ModelInfo, run: Any
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "lib"
        root.mkdir()
        for name in {s[0] for s in SITES} | set(NEIGHBOURS):
            shutil.copy(STDLIB / name, root / name)
        return replay(load_builder(args.builder), tokenize, root, args.budget, info, run, args.sites)


if __name__ == "__main__":
    raise SystemExit(main())
