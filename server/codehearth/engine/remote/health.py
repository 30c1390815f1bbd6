"""The gate in front of every request: while the circuit breaker is open, fail at once, except for the one request
in a while that probes the server (``/health`` or ``/v1/models``) and closes the breaker when it answers again.
"""

from __future__ import annotations

import httpx

from codehearth.engine.base import EngineUnavailable
from codehearth.engine.remote.breaker import CircuitBreaker
from codehearth.engine.remote.connection import PROBE_TIMEOUT_S, Connection, describe


def check_breaker(conn: Connection, breaker: CircuitBreaker) -> None:
    """Return when a request may go out; ``EngineUnavailable`` with the breaker's reason when it may not."""
    if not breaker.is_open:
        return
    if breaker.try_probe():
        try:
            path = "/health" if conn.kind == "llama-server" else "/v1/models"
            response = conn.client.get(path, timeout=PROBE_TIMEOUT_S)
            conn.raise_for_auth(response)
            if response.status_code >= 400:
                raise EngineUnavailable(
                    f"the inference server at {conn.base_url} answered HTTP {response.status_code}"
                )
        except httpx.TransportError as exc:
            breaker.failure(f"cannot reach the inference server at {conn.base_url} ({describe(exc)})")
        except EngineUnavailable as exc:
            breaker.failure(str(exc))
        else:
            breaker.success()
            return
    raise EngineUnavailable(breaker.reason or "the inference server is unavailable")
