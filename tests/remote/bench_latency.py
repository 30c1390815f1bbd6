"""Latency of the embedded engine vs the remote engine, same model, loopback, one run.

    PYTHONPATH=server .venv/bin/python -m tests.remote.bench_latency [--requests 30] [--json out.json]

Starts llama-cpp-python's server on 127.0.0.1 with the default model (same thread count as the embedded engine),
then types through a real source file word by word and asks both engines, alternately, for a single-line completion
at each position (same prompt, greedy, at most 16 tokens, stopped at the end of the line). Alternating keeps both
under the same machine load. Times are wall-clock per engine.generate() call, as the completion service sees them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from codehearth.config import EngineSettings
from codehearth.engine.base import Engine, GenerationRequest
from codehearth.engine.llama import LlamaEngine, default_threads
from codehearth.engine.remote import make_remote_engine
from codehearth.models.registry import Registry

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "server" / "codehearth" / "config.py"
PREFIX_CHARS = 1500


def positions(text: str, count: int, start_line: int = 40) -> list[int]:
    """Cursor offsets after each word, typing on from ``start_line``."""
    offset = sum(len(line) + 1 for line in text.split("\n")[:start_line])
    found: list[int] = []
    while len(found) < count and offset < len(text):
        nxt = offset + 1
        while nxt < len(text) and not text[nxt].isspace():
            nxt += 1
        if text[offset:nxt].strip():
            found.append(nxt)
        offset = nxt
    return found


def request_at(text: str, start: int, cursor: int) -> GenerationRequest:
    """The prompt starts at a fixed offset, as the context builder keeps stable parts first: typing appends."""
    prompt = "# Path: codehearth/config.py\n" + text[start:cursor]
    return GenerationRequest(
        prompt=[prompt],
        max_tokens=16,
        should_stop=lambda generated: "\n" in generated.lstrip("\n"),
        deadline=time.monotonic() + 60,
    )


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))], 1)


def summary(times: list[float], tokens: list[int]) -> dict[str, Any]:
    return {"count": len(times), "p50_ms": pct(times, 0.5), "p95_ms": pct(times, 0.95),
            "mean_ms": round(statistics.fmean(times), 1), "tokens_generated_mean": round(statistics.fmean(tokens), 1)}


def main(argv: list[str] | None = None) -> int:
    from tests.remote.server import llama_cpp_server

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    model = Registry().pull("default")
    text = SOURCE.read_text()
    cursors = positions(text, args.requests)
    start = max(0, cursors[0] - PREFIX_CHARS)
    threads = default_threads()
    results: dict[str, dict[str, list[Any]]] = {"embedded": {"ms": [], "tokens": [], "texts": []},
                                                "remote": {"ms": [], "tokens": [], "texts": []}}
    with tempfile.TemporaryDirectory() as tmp, llama_cpp_server(model, Path(tmp), n_threads=threads) as server:
        embedded = LlamaEngine(model, EngineSettings(n_ctx=2048, n_threads=threads))
        # The embedded engine samples greedily with no repeat penalty; ask the server for the same.
        remote = make_remote_engine(EngineSettings(kind="openai", url=server.url, timeout_ms=60000,
                                                   extra_body={"repeat_penalty": 1.0, "top_k": 1}))
        engines: dict[str, Engine] = {"embedded": embedded, "remote": remote}
        # One warm-up each (first decode, connection set-up), not counted.
        for engine in engines.values():
            engine.generate(request_at(text, start, cursors[0] - 5))
        for cursor in cursors:
            for name, engine in engines.items():
                started = time.monotonic()
                result = engine.generate(request_at(text, start, cursor))
                results[name]["ms"].append((time.monotonic() - started) * 1000)
                results[name]["tokens"].append(result.timings.tokens_generated)
                results[name]["texts"].append(result.text)
        embedded.close()
        remote.close()
    report = {
        "model": model.name,
        "threads": threads,
        "requests": len(cursors),
        "prompt": f"{PREFIX_CHARS} chars of {SOURCE.relative_to(ROOT)} before line 40, then typed on word by word",
        **{name: summary(r["ms"], r["tokens"]) for name, r in results.items()},
        "same_text": sum(a == b for a, b in zip(results["embedded"]["texts"], results["remote"]["texts"],
                                                strict=True)),
    }
    out = json.dumps(report, indent=2)
    if args.json:
        args.json.write_text(out + "\n")
    sys.stdout.write(out + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
