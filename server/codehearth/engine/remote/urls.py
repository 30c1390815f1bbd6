"""Remote engine settings that need checking: the server's URL (https beyond loopback) and the API key."""

from __future__ import annotations

import ipaddress
import os
from urllib.parse import urlsplit

from codehearth.engine.base import EngineError


def _is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, allow_insecure_http: bool) -> str:
    """The server's base URL, normalised (no trailing ``/`` or ``/v1``); one-line errors for unusable ones."""
    url = url.strip()
    if not url:
        raise EngineError("engine.url is empty: set it to the inference server, e.g. http://127.0.0.1:8080")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EngineError(f"engine.url {url!r} is not an http(s) URL")
    if parts.scheme == "http" and not _is_loopback(parts.hostname) and not allow_insecure_http:
        raise EngineError(
            f"refusing plain http to {parts.hostname}: use https, or set engine.allowInsecureHttp "
            "for a trusted network"
        )
    base = url.rstrip("/")
    if base.endswith("/v1"):
        base = base[: -len("/v1")]
    return base


def read_api_key(env_name: str) -> str | None:
    """The API key from the environment variable the settings name (never from a file)."""
    if not env_name:
        return None
    value = os.environ.get(env_name, "").strip()
    if not value:
        raise EngineError(f"engine.apiKeyEnv names {env_name}, which is not set in the environment")
    return value
