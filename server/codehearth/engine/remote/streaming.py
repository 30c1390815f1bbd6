"""One streamed generation over HTTP: POST the body, read the event stream, and stop the way the embedded engine does.

``on_text`` after every chunk, ``stop``/``should_stop``/cancellation/deadline checked after every chunk; the watchdog
closes the socket at once when a request is cancelled or expires while the server is still silent (prefill). What
goes wrong on the server's side (unreachable, timed out, cut short, 5xx, not an event stream) opens the circuit
breaker and becomes ``EngineUnavailable``; our own hang-up (cancel, deadline) is an ordinary result, not a failure.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from codehearth.engine.base import (
    EngineError,
    EngineUnavailable,
    GenerationRequest,
    GenerationResult,
    StopReason,
    Timings,
)
from codehearth.engine.remote.breaker import CircuitBreaker
from codehearth.engine.remote.connection import Connection, describe
from codehearth.engine.remote.watchdog import _Watchdog
from codehearth.engine.remote.wire import (
    Dialect,
    StreamCheck,
    _error_message,
    _finish_to_reason,
    _json_or_text,
    _sse_events,
    parse_event,
)


class Streamer:
    """Streams generations from one server; owns the watchdog thread that hangs up on silent streams."""

    def __init__(self, conn: Connection, breaker: CircuitBreaker) -> None:
        self.conn = conn
        self.breaker = breaker
        self._watchdog = _Watchdog()

    def run(
        self,
        path: str,
        body: dict[str, Any],
        dialect: Dialect,
        request: GenerationRequest,
        start: float,
    ) -> GenerationResult:
        base_url = self.conn.base_url
        timings = Timings()
        text = ""
        chunks = 0
        reason: StopReason | None = None
        first_chunk_at: float | None = None
        usage: dict[str, Any] = {}
        stops = [s for s in request.stop if s]
        check = StreamCheck()
        with self._watchdog.watch(request) as watched:
            try:
                with self.conn.client.stream("POST", path, json=body, timeout=self._timeout(request),
                                             headers={"Accept": "text/event-stream"}) as response:
                    watched.response = response
                    if response.status_code >= 400:
                        response.read()
                        self._fail_status(response, path)
                    for data in _sse_events(response, check):
                        try:
                            delta = parse_event(data, dialect)
                        except (AttributeError, TypeError, ValueError, KeyError, IndexError):
                            check.note_bad(json.dumps(data)[:80])  # JSON, but not the shape of an event
                            continue
                        usage.update(delta.usage)
                        if delta.text:
                            if first_chunk_at is None:
                                first_chunk_at = time.monotonic()
                            chunks += 1
                            text += delta.text
                            text, stopped = request.check_text(text, stops)
                            if stopped:
                                reason = "stop"
                                break
                        if delta.finish is not None:
                            # Read on to the end (usage may follow): a drained stream keeps its connection.
                            reason = _finish_to_reason(delta.finish)
                            continue
                        interrupted = request.interruption()
                        if interrupted is not None:
                            reason = interrupted
                            break
            except httpx.TimeoutException as exc:
                reason = watched.reason or ("deadline" if request.expired() else None)
                if reason is None:
                    self.breaker.failure(f"the inference server at {base_url} did not answer in time "
                                         f"({describe(exc)})")
                    raise EngineUnavailable(self.breaker.reason or "timeout") from exc
            except httpx.TransportError as exc:
                reason = watched.reason
                if reason is None and (request.cancelled() or request.expired()):
                    reason = "cancelled" if request.cancelled() else "deadline"
                if reason is None:
                    what = "closed the stream mid-generation" if chunks else "cannot be reached"
                    self.breaker.failure(f"the inference server at {base_url} {what} ({describe(exc)})")
                    raise EngineUnavailable(self.breaker.reason or "unavailable") from exc
            if watched.reason is not None and reason is None:
                reason = watched.reason
        if check.bad and not chunks and reason is None:
            # A proxy's login page, a wrong endpoint, a server speaking another protocol: not an inference server.
            self.breaker.failure(f"the inference server at {base_url} answered {path} with something that is "
                                 f"not an event stream ({check.sample!r})")
            raise EngineUnavailable(self.breaker.reason or "garbage")
        self.breaker.success()
        end = time.monotonic()
        timings.prompt_tokens = int(usage.get("prompt_tokens", 0))
        timings.tokens_evaluated = int(usage.get("tokens_evaluated", timings.prompt_tokens))
        timings.tokens_reused = int(usage.get("tokens_reused", 0))
        timings.tokens_generated = int(usage.get("completion_tokens", 0)) or chunks
        timings.prefill_ms = ((first_chunk_at or end) - start) * 1000
        timings.decode_ms = (end - (first_chunk_at or end)) * 1000
        timings.total_ms = (end - start) * 1000
        return GenerationResult(text=text, stop_reason=reason or "eos", timings=timings)

    def _timeout(self, request: GenerationRequest) -> httpx.Timeout:
        timeout_s = self.conn.timeout_s
        if request.deadline is None:
            return httpx.Timeout(timeout_s)
        remaining = max(0.05, request.deadline - time.monotonic())
        return httpx.Timeout(connect=min(remaining, timeout_s), read=remaining, write=remaining, pool=remaining)

    def _fail_status(self, response: httpx.Response, path: str) -> None:
        try:
            self.conn.raise_for_auth(response)
        except EngineUnavailable as exc:
            self.breaker.failure(str(exc))  # a rejected key mid-session: say so until it is fixed
            raise
        message = _error_message(_json_or_text(response))
        if response.status_code in (502, 503, 504):
            self.breaker.failure(f"the inference server at {self.conn.base_url} is unavailable "
                                 f"(HTTP {response.status_code}: {message})")
            raise EngineUnavailable(self.breaker.reason or message)
        raise EngineError(f"the inference server answered {path} with HTTP {response.status_code}: {message}")

    def close(self) -> None:
        self._watchdog.close()
