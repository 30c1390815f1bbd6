"""``codehearth serve`` with a flight recorder: the real server, plus one JSON line per completion request.

Started as ``python -m benchmarks.latency.traced_server`` (same arguments as ``codehearth serve``). The recorder
wraps two methods of the completion service and writes, for every request, where the answer came from, the
server-side latency, the engine timings and the exact prompt pieces the engine was given, so that the
benchmark can replay the very same prompts through the baselines. It adds no work on the request path besides
one small file write after the answer. The file is named by ``CODEHEARTH_BENCH_TRACE``.
"""

from __future__ import annotations

import contextvars
import json
import os
import sys
import time
from typing import Any

from codehearth.complete import service
from codehearth.engine.base import SpecialToken

_pieces: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar("bench_pieces", default=None)


def encode_pieces(pieces: list[Any]) -> list[Any]:
    return [{"special": p.id, "text": p.text} if isinstance(p, SpecialToken) else p for p in pieces]


def decode_pieces(raw: list[Any]) -> list[Any]:
    return [SpecialToken(text=p["text"], id=int(p["special"])) if isinstance(p, dict) else p for p in raw]


def install(trace_path: str) -> None:
    out = open(trace_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives as long as the server
    original_start = service.CompletionService._start
    original_complete = service.CompletionService.complete

    def _start(self: Any, engine: Any, gen: Any, pieces: list[Any], *args: Any, **kwargs: Any) -> None:
        _pieces.set(encode_pieces(pieces))
        return original_start(self, engine, gen, pieces, *args, **kwargs)

    async def complete(self: Any, doc: Any, point: Any, arrived: float | None = None,
                       stream_token: str | None = None, **kwargs: Any) -> Any:
        _pieces.set(None)
        record: dict[str, Any] = {"uri": doc.uri, "row": point.row, "column": point.column,
                                  "arrived": arrived if arrived is not None else time.monotonic()}
        try:
            suggestion = await original_complete(self, doc, point, arrived, stream_token, **kwargs)
        except BaseException:
            record.update(source="cancelled", text="", latency_ms=(time.monotonic() - record["arrived"]) * 1000)
            record["pieces"] = _pieces.get()
            out.write(json.dumps(record) + "\n")
            raise
        t = suggestion.timings
        record.update(
            source=suggestion.source,
            text=suggestion.text,
            reason=suggestion.reason,
            plan=suggestion.plan,
            rung=getattr(suggestion, "rung", None),  # the shrink-ladder rung of its prompt (-1: not known)
            latency_ms=suggestion.latency_ms,
            timings=None if t is None else {
                "prompt_tokens": t.prompt_tokens, "tokens_evaluated": t.tokens_evaluated,
                "tokens_reused": t.tokens_reused, "tokens_generated": t.tokens_generated,
                "prefill_ms": t.prefill_ms, "decode_ms": t.decode_ms, "total_ms": t.total_ms,
            },
            pieces=_pieces.get(),
        )
        out.write(json.dumps(record) + "\n")
        return suggestion

    service.CompletionService._start = _start  # type: ignore[method-assign]
    service.CompletionService.complete = complete  # type: ignore[method-assign]


def main() -> int:
    trace = os.environ.get("CODEHEARTH_BENCH_TRACE")
    if trace:
        install(trace)
    from codehearth.cli import main as cli_main

    return cli_main(["serve", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
