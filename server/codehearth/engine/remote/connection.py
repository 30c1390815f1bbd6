"""One inference server's HTTP client: headers and key, TLS and proxy policy, timeouts, and the one-line messages its
failures become. Start-up discovery, the breaker's probe and streamed generation all go through it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx

from codehearth.config import EngineSettings
from codehearth.engine.base import EngineUnavailable
from codehearth.engine.remote.urls import _is_loopback, check_url, read_api_key
from codehearth.engine.remote.wire import RemoteKind, _error_message, _json_or_text

PROBE_TIMEOUT_S = 2.0  # best-effort calls (tokenizer, model list, breaker probe): never the full request timeout


class Connection:
    """The httpx client for one server (connections reused) and the facts its error messages name."""

    def __init__(self, settings: EngineSettings, kind: RemoteKind, transport: httpx.BaseTransport | None) -> None:
        self.kind = kind
        self.base_url = check_url(settings.url, settings.allow_insecure_http)
        self.api_key_env = settings.api_key_env
        api_key = read_api_key(settings.api_key_env)
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        host = urlsplit(self.base_url).hostname or ""
        self.timeout_s = max(0.1, settings.timeout_ms / 1000)
        self.client = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(self.timeout_s),
            limits=httpx.Limits(max_connections=8, max_keepalive_connections=4, keepalive_expiry=30),
            verify=True,  # TLS verification is never turned off
            trust_env=not _is_loopback(host),  # no proxy between us and a server on this machine
            transport=transport,
            follow_redirects=False,
        )

    def raise_for_auth(self, response: httpx.Response) -> None:
        if response.status_code in (401, 403):
            where = (f"the key from ${self.api_key_env}" if self.api_key_env
                     else "no key (set engine.apiKeyEnv to the environment variable holding it)")
            raise EngineUnavailable(
                f"the server rejected the API key: {self.base_url} answered HTTP {response.status_code} "
                f"to {where}"
            )

    def get_with_retries(self, path: str, delays: Sequence[float]) -> httpx.Response:
        """GET an idempotent start-up endpoint, retrying with back-off while the server starts or loads."""
        deadline = time.monotonic() + self.timeout_s
        last = ""
        for delay in (*delays, None):
            try:
                response = self.client.get(path)
            except httpx.TransportError as exc:
                last = f"cannot reach the inference server at {self.base_url} ({describe(exc)})"
            else:
                self.raise_for_auth(response)
                if response.status_code == 503:
                    last = f"the inference server at {self.base_url} is still loading its model"
                elif response.status_code >= 400:
                    raise EngineUnavailable(
                        f"the inference server at {self.base_url} answered {path} with HTTP "
                        f"{response.status_code}: {_error_message(_json_or_text(response))} "
                        f"(is engine.kind {self.kind!r} right?)"
                    )
                else:
                    return response
            if delay is None or time.monotonic() + delay > deadline:
                break
            time.sleep(delay)
        raise EngineUnavailable(last)

    def get_json(self, path: str, delays: Sequence[float]) -> dict[str, Any]:
        response = self.get_with_retries(path, delays)
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise EngineUnavailable(
                f"{self.base_url}{path} did not answer with a JSON object: is engine.url an inference server?"
            )
        return data

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()


def describe(exc: BaseException) -> str:
    """An httpx error in one short line, for messages the user reads."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]
